//! The convolutional front end over (time, mel): 3 × 3 int8 kernels per
//! channel, int32 biases, per-channel multipliers, output grid.

use alloc::vec::Vec;

use crate::fixed_point::QuantizedMultiplier;
use crate::format::codec::{Reader, Writer};
use crate::format::FormatError;
use crate::layers::IntMelConv;

impl Writer {
    pub(in crate::format) fn conv(&mut self, c: &IntMelConv) {
        self.u32(c.mels as u32);
        let ch = c.channels() as u32;
        self.tensor_i8(&[ch, 3, 3], &c.weights);
        self.tensor_i32(&[ch], &c.bias);
        let mant: Vec<i32> = c.multipliers.iter().map(|m| m.mantissa).collect();
        let shift: Vec<i32> = c.multipliers.iter().map(|m| m.shift).collect();
        self.tensor_i32(&[ch], &mant);
        self.tensor_i32(&[ch], &shift);
        self.i32(c.output_zero_point);
    }
}

impl Reader<'_> {
    /// The convolution reading the feature grid of `input_zero_point`.
    pub(in crate::format) fn conv(
        &mut self,
        input_zero_point: i32,
    ) -> Result<IntMelConv, FormatError> {
        let mels = self.dim("convolution mel filters")?;
        let (dims, weights) = self.i8s("convolution weights", &[0, 3, 3])?;
        let ch = dims[0];
        let bias = self.i32s("convolution bias", &[ch])?;
        let mant = self.i32s("convolution multiplier mantissas", &[ch])?;
        let shift = self.i32s("convolution multiplier shifts", &[ch])?;
        let multipliers = mant
            .iter()
            .zip(&shift)
            .map(|(&m, &s)| QuantizedMultiplier::new(m, s))
            .collect::<Result<Vec<_>, _>>()?;
        let conv = IntMelConv {
            mels: mels as usize,
            weights,
            bias,
            multipliers,
            input_zero_point,
            output_zero_point: self.i32("convolution output zero point")?,
        };
        conv.validate()?;
        Ok(conv)
    }
}
