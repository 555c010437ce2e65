//! The output layer: int8 weights with one scale, int32 biases, the logit
//! unit.

use crate::layers::IntOutputLayer;

use crate::format::codec::{invalid, Reader, Writer};
use crate::format::{holds, FormatError, Needs};

impl Writer {
    pub(in crate::format) fn output(&mut self, o: &IntOutputLayer) {
        self.matrix(&o.weights);
        self.tensor_i32(&[o.bias.len() as u32], &o.bias);
        self.multiplier(o.logit_scale);
        // Row factors exist from version 9 on.
        self.saw_four_bit |= o.row_factors.is_some() && !self.matrix_bits;
        if self.matrix_bits {
            match &o.row_factors {
                None => self.u8(0),
                Some(k) => {
                    self.u8(1);
                    self.tensor_i32(&[k.len() as u32], k);
                }
            }
        }
    }
}

impl Reader<'_> {
    pub(in crate::format) fn output(&mut self) -> Result<IntOutputLayer, FormatError> {
        let weights = self.matrix("output weights", 0, 0)?;
        let bias = self.i32_slab("output bias", &[weights.rows() as u32])?;
        let logit_scale = self.multiplier("logit scale")?;
        let row_factors = if holds(self.version(), Needs::WeightBits) {
            match self.u8("output row factors flag")? {
                0 => None,
                1 => Some(self.i32_slab("output row factors", &[weights.rows() as u32])?),
                f => {
                    return Err(invalid(alloc::format!(
                        "output row factors flag {f} (0 = none, 1 = present)"
                    )))
                }
            }
        } else {
            None
        };
        Ok(IntOutputLayer {
            weights,
            bias,
            logit_scale,
            row_factors,
        })
    }
}
