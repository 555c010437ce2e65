//! The convolutional front end of the acoustic model: one 3 × 3
//! convolution over (time, mel) with one input channel, `channels` output
//! channels, stride 2 along the mel axis, zero padding 1, then ReLU.
//!
//! Why: a filter that slides along frequency responds to a formant pattern
//! wherever it sits, so a voice whose formants are a little higher or lower
//! than the training speakers' still lights the same channels — the kind of
//! invariance a model trained on four speakers lacks. Output per frame:
//! `channels × ⌈mels / 2⌉` values, channel-major.
//!
//! Direct loops: a few hundred thousand multiply-adds per utterance.

use rand::Rng;

use super::{Param, Real};

/// Kernel size along time and along mel.
pub const KERNEL: usize = 3;
/// Stride along mel.
pub const MEL_STRIDE: usize = 2;

/// A 3 × 3 convolution (+ ReLU) over `frames × mels` features.
#[derive(Debug, Clone)]
pub struct MelConv<T> {
    /// [channels × 3 × 3] (time, mel).
    pub weight: Param<T>,
    /// `[channels]`.
    pub bias: Param<T>,
    /// Mel filters in.
    pub mels: usize,
}

/// Output mel positions for `mels` inputs.
pub fn conv_bins(mels: usize) -> usize {
    mels.div_ceil(MEL_STRIDE)
}

impl<T: Real> MelConv<T> {
    /// PyTorch's `nn.Conv2d` initialisation: `U(−1/√9, 1/√9)`.
    pub fn new(prefix: &str, mels: usize, channels: usize, rng: &mut impl Rng) -> Self {
        let k = 1.0 / ((KERNEL * KERNEL) as f64).sqrt();
        Self {
            weight: Param::uniform(
                format!("{prefix}.weight"),
                &[channels, 1, KERNEL, KERNEL],
                k,
                rng,
            ),
            bias: Param::uniform(format!("{prefix}.bias"), &[channels], k, rng),
            mels,
        }
    }

    /// Output channels.
    pub fn channels(&self) -> usize {
        self.bias.len()
    }

    /// Values per output frame.
    pub fn output_dim(&self) -> usize {
        self.channels() * conv_bins(self.mels)
    }

    /// The input at (t + dt − 1, f·2 + df − 1), or 0 in the padding.
    fn tap(x: &[T], frames: usize, mels: usize, t: usize, f: usize, dt: usize, df: usize) -> T {
        let (tt, ff) = (t + dt, MEL_STRIDE * f + df);
        if tt == 0 || tt > frames || ff == 0 || ff > mels {
            T::zero()
        } else {
            x[(tt - 1) * mels + ff - 1]
        }
    }

    /// ReLU(conv(x)) for `frames × mels` features: `frames × output_dim`.
    pub fn forward(&self, x: &[T]) -> Vec<T> {
        let (m, c) = (self.mels, self.channels());
        let frames = x.len() / m;
        let bins = conv_bins(m);
        let mut y = vec![T::zero(); frames * c * bins];
        for t in 0..frames {
            for ch in 0..c {
                let w = &self.weight.value[ch * 9..(ch + 1) * 9];
                for f in 0..bins {
                    let mut acc = self.bias.value[ch];
                    for dt in 0..KERNEL {
                        for df in 0..KERNEL {
                            acc += w[dt * 3 + df] * Self::tap(x, frames, m, t, f, dt, df);
                        }
                    }
                    y[(t * c + ch) * bins + f] = acc.max(T::zero());
                }
            }
        }
        y
    }

    /// Accumulates weight and bias gradients from `dy` (the gradient of
    /// the ReLU's output `y`). The features need no gradient.
    pub fn backward(&mut self, x: &[T], y: &[T], dy: &[T]) {
        let (m, c) = (self.mels, self.channels());
        let frames = x.len() / m;
        let bins = conv_bins(m);
        for t in 0..frames {
            for ch in 0..c {
                for f in 0..bins {
                    let i = (t * c + ch) * bins + f;
                    if y[i] <= T::zero() {
                        continue;
                    }
                    let g = dy[i];
                    self.bias.grad[ch] += g;
                    for dt in 0..KERNEL {
                        for df in 0..KERNEL {
                            self.weight.grad[ch * 9 + dt * 3 + df] +=
                                g * Self::tap(x, frames, m, t, f, dt, df);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::gradcheck::check_params;
    use crate::nn::rng::TrainRng;

    #[test]
    fn gradients_match_finite_differences() {
        let (mels, frames) = (7, 5);
        let mut conv = MelConv::<f64>::new("conv", mels, 3, &mut TrainRng::seed(4));
        let x: Vec<f64> = (0..frames * mels)
            .map(|i| ((i * 11 % 17) as f64 - 8.0) / 5.0)
            .collect();
        let r: Vec<f64> = (0..frames * conv.output_dim())
            .map(|i| ((i * 5 % 9) as f64 - 4.0) / 3.0)
            .collect();
        let loss = |c: &MelConv<f64>| {
            c.forward(&x)
                .iter()
                .zip(&r)
                .map(|(a, b)| a * b)
                .sum::<f64>()
        };
        let y = conv.forward(&x);
        assert_eq!(y.len(), frames * 3 * 4);
        conv.backward(&x, &y, &r);
        fn params(c: &mut MelConv<f64>) -> Vec<&mut Param<f64>> {
            vec![&mut c.weight, &mut c.bias]
        }
        let analytic = vec![conv.weight.grad.clone(), conv.bias.grad.clone()];
        check_params(
            "convolution",
            &mut conv,
            params,
            &analytic,
            usize::MAX,
            |c| loss(c),
            |analytic, numeric| (numeric - analytic).abs() <= 1e-7 * (1.0 + numeric.abs()),
        );
    }

    #[test]
    fn a_shifted_pattern_moves_with_the_bins() {
        // The invariance that motivates the layer: a pattern two mel bins
        // higher gives the same channel responses one output bin higher.
        let conv = MelConv::<f64>::new("conv", 12, 2, &mut TrainRng::seed(1));
        let mut a = vec![0.0; 3 * 12];
        let mut b = vec![0.0; 3 * 12];
        for t in 0..3 {
            a[t * 12 + 4] = 1.0;
            a[t * 12 + 5] = -0.5;
            b[t * 12 + 6] = 1.0;
            b[t * 12 + 7] = -0.5;
        }
        let (ya, yb) = (conv.forward(&a), conv.forward(&b));
        let bins = 6;
        for t in 0..3 {
            for ch in 0..2 {
                for f in 1..4 {
                    let i = (t * 2 + ch) * bins + f;
                    assert!((ya[i] - yb[i + 1]).abs() < 1e-12);
                }
            }
        }
    }
}
