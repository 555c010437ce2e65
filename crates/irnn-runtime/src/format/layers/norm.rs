//! Integer LayerNorm: ε, per-element γ multipliers with their signs, β.

use alloc::vec::Vec;

use crate::fixed_point::QuantizedMultiplier;
use crate::format::codec::DType;
use crate::layers::IntLayerNorm;

use crate::format::codec::{invalid, Reader, Writer};
use crate::format::FormatError;

impl Writer {
    pub(in crate::format) fn norm(&mut self, n: &IntLayerNorm) {
        let (eps, gamma, negative, beta) = n.parts();
        let len = [gamma.len() as u32];
        self.u64(eps);
        let mant: Vec<i32> = gamma.iter().map(|g| g.mantissa).collect();
        let shift: Vec<i32> = gamma.iter().map(|g| g.shift).collect();
        self.tensor_i32(&len, &mant);
        self.tensor_i32(&len, &shift);
        let neg: Vec<u8> = negative.iter().map(|&b| b as u8).collect();
        self.tensor_u8(&len, &neg);
        self.tensor_i32(&len, beta);
    }
}

impl Reader<'_> {
    pub(in crate::format) fn norm(
        &mut self,
        what: &str,
        len: u32,
    ) -> Result<IntLayerNorm, FormatError> {
        if !cfg!(feature = "layer-norm") {
            return Err(invalid(alloc::format!(
                "{what}: this build of the runtime reads no LayerNorm (feature `layer-norm`)"
            )));
        }
        let eps = self.u64(what)?;
        let mant = self.i32s(what, &[len])?;
        let shift = self.i32s(what, &[len])?;
        let (_, neg) = self.tensor(what, DType::U8, &[len])?;
        let negative = neg
            .iter()
            .map(|&b| match b {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(invalid(alloc::format!(
                    "{what}: a gamma sign must be 0 or 1"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let beta = self.i32s(what, &[len])?;
        let gamma = mant
            .iter()
            .zip(&shift)
            .map(|(&m, &s)| QuantizedMultiplier::new(m, s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(IntLayerNorm::new(eps, gamma, negative, beta)?)
    }
}
