//! Integer 3 × 3 convolution over (time, mel) with ReLU: the speech
//! model's front end (NUMERICS.md §4.6).
//!
//! One int8 input channel (the features, zero point `z_x`), `channels`
//! outputs, stride 2 along mel, zero padding 1. Taps that fall in the
//! padding are skipped, which is what a real 0.0 contributes:
//!
//! ```text
//! acc[t,c,f] = bias[c] + Σ_{taps inside} w[c,dt,df] · (x[t+dt−1, 2f+df−1] − z_x)
//! y[t,c,f]   = clamp(multiplier[c].apply(acc) + z_y, z_y, 127)      (ReLU)
//! ```
//!
//! The loops are direct (9 multiply-adds per output): the layer is a few
//! percent of the model's work, so it has only this scalar definition.

use alloc::vec::Vec;

use crate::error::{check_len, Error};
use crate::fixed_point::QuantizedMultiplier;

/// Kernel size along time and mel.
pub const CONV_KERNEL: usize = 3;
/// Stride along mel.
pub const CONV_MEL_STRIDE: usize = 2;

/// The integer convolution front end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntMelConv {
    /// Mel filters in.
    pub mels: usize,
    /// Weights, `channels × 3 × 3` (time, mel), int8 with one scale per
    /// channel.
    pub weights: Vec<i8>,
    /// Bias per channel, in accumulator units.
    pub bias: Vec<i32>,
    /// Accumulator → output grid, per channel.
    pub multipliers: Vec<QuantizedMultiplier>,
    /// The input's zero point.
    pub input_zero_point: i32,
    /// The output's zero point (the int8 image of 0.0, where ReLU clamps).
    pub output_zero_point: i32,
}

impl IntMelConv {
    /// Output channels.
    pub fn channels(&self) -> usize {
        self.bias.len()
    }

    /// Output mel positions.
    pub fn bins(&self) -> usize {
        self.mels.div_ceil(CONV_MEL_STRIDE)
    }

    /// Values per output frame.
    pub fn output_dim(&self) -> usize {
        self.channels() * self.bins()
    }

    /// Checks sizes and zero points.
    pub fn validate(&self) -> Result<(), Error> {
        if self.mels == 0 || self.channels() == 0 {
            return Err(Error::InvalidParameter {
                what: "a convolution needs at least one mel filter and one channel",
            });
        }
        check_len(
            "convolution weights",
            self.channels() * CONV_KERNEL * CONV_KERNEL,
            self.weights.len(),
        )?;
        check_len(
            "convolution multipliers",
            self.channels(),
            self.multipliers.len(),
        )?;
        let int8 = -128..=127;
        if !int8.contains(&self.input_zero_point) || !int8.contains(&self.output_zero_point) {
            return Err(Error::InvalidParameter {
                what: "convolution zero points must be in the int8 range",
            });
        }
        Ok(())
    }

    /// `frames × mels` int8 features → `frames × output_dim` int8 outputs.
    pub fn run(&self, x: &[i8]) -> Result<Vec<i8>, Error> {
        let mut y = Vec::new();
        self.run_into(x, &mut y)?;
        Ok(y)
    }

    /// [`run`](Self::run) into `y` (resized; no allocation when its
    /// capacity suffices).
    pub fn run_into(&self, x: &[i8], y: &mut Vec<i8>) -> Result<(), Error> {
        let m = self.mels;
        if !x.len().is_multiple_of(m) {
            return Err(Error::ShapeMismatch {
                what: "convolution input (a whole number of frames)",
                expected: m,
                found: x.len(),
            });
        }
        let frames = x.len() / m;
        let (c, bins) = (self.channels(), self.bins());
        let zx = self.input_zero_point;
        y.clear();
        y.resize(frames * c * bins, 0);
        for t in 0..frames {
            for ch in 0..c {
                let w = &self.weights[ch * 9..(ch + 1) * 9];
                for f in 0..bins {
                    let mut acc = self.bias[ch] as i64;
                    for dt in 0..CONV_KERNEL {
                        let tt = t + dt;
                        if tt == 0 || tt > frames {
                            continue;
                        }
                        for df in 0..CONV_KERNEL {
                            let ff = CONV_MEL_STRIDE * f + df;
                            if ff == 0 || ff > m {
                                continue;
                            }
                            let v = x[(tt - 1) * m + ff - 1] as i32 - zx;
                            acc += w[dt * 3 + df] as i64 * v as i64;
                        }
                    }
                    let acc = acc.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
                    let out = self.multipliers[ch]
                        .apply(acc)
                        .saturating_add(self.output_zero_point);
                    y[(t * c + ch) * bins + f] = out.clamp(self.output_zero_point, 127) as i8;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn conv() -> IntMelConv {
        IntMelConv {
            mels: 5,
            // Channel 0: the centre tap only; channel 1: minus the centre.
            weights: [[0, 0, 0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 0, -1, 0, 0, 0, 0]].concat(),
            bias: vec![0, 0],
            // ×1 exactly: mantissa 2^30, shift 1 → 2^30 · 2 / 2^31.
            multipliers: vec![QuantizedMultiplier::new(1 << 30, 1).unwrap(); 2],
            input_zero_point: 3,
            output_zero_point: -128,
        }
    }

    #[test]
    fn relu_clamps_at_the_zero_point_and_stride_picks_every_other_bin() {
        let c = conv();
        c.validate().unwrap();
        // One frame: x − z_x = [−2, 0, 5, 1, 9]; bins read mels 0, 2, 4.
        let x = [1i8, 3, 8, 4, 12];
        let y = c.run(&x).unwrap();
        assert_eq!(c.output_dim(), 6);
        assert_eq!(y, [-128, -123, -119, -126, -128, -128]);
        assert!(c.run(&x[..4]).is_err());
        let mut bad = conv();
        bad.weights.pop();
        assert!(bad.validate().is_err());
    }

    #[test]
    fn padding_contributes_nothing() {
        // An all-ones kernel over an input of z_x everywhere but one value:
        // every output sees only that value (or nothing), never the border.
        let c = IntMelConv {
            weights: vec![1; 9],
            bias: vec![0],
            multipliers: vec![QuantizedMultiplier::new(1 << 30, 1).unwrap()],
            ..conv()
        };
        let mut x = vec![3i8; 3 * 5];
        x[5] = 10; // frame 1, mel 0 → 7 above the zero point
        let y = c.run(&x).unwrap();
        // Bin 0 (mels −1, 0, 1) of frames 0, 1, 2 sees it; bins 1, 2 do not.
        assert_eq!(y, [-121, -128, -128, -121, -128, -128, -121, -128, -128]);
    }
}
