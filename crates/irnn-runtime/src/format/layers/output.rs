//! The output layer: int8 weights with one scale, int32 biases, the logit
//! unit.

use crate::layers::IntOutputLayer;

use crate::format::codec::{Reader, Writer};
use crate::format::FormatError;

impl Writer {
    pub(in crate::format) fn output(&mut self, o: &IntOutputLayer) {
        self.matrix(&o.weights);
        self.tensor_i32(&[o.bias.len() as u32], &o.bias);
        self.multiplier(o.logit_scale);
    }
}

impl Reader<'_> {
    pub(in crate::format) fn output(&mut self) -> Result<IntOutputLayer, FormatError> {
        let weights = self.matrix("output weights", 0, 0)?;
        let bias = self.i32_slab("output bias", &[weights.rows() as u32])?;
        let logit_scale = self.multiplier("logit scale")?;
        Ok(IntOutputLayer {
            weights,
            bias,
            logit_scale,
        })
    }
}
