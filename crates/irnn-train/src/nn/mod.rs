//! The float training engine: hand-written forward and backward passes on
//! `gemm`, generic over f32 (training) and f64 (gradient checks).
//!
//! Layout conventions: sequences are time-major, one row per (t, b):
//! row `t·B + b`. Weights use PyTorch's layout (`[out × in]`, gates stacked
//! i, f, g, o for LSTM and r, z, n for GRU), so checkpoints carry PyTorch's
//! parameter names and shapes.

pub mod attention;
pub mod conv;
pub mod ctc;
pub mod dropout;
pub mod gradcheck;
pub mod gru;
pub mod linear;
pub mod loss;
pub mod lstm;
pub mod ops;
pub mod optim;
pub mod param;
pub mod recurrent;
pub mod rng;

pub use param::{Param, RecurrentWeights};
pub use recurrent::Recurrent;

/// The float types the engine runs on.
pub trait Real:
    num_traits::Float
    + num_traits::FromPrimitive
    + Default
    + Send
    + Sync
    + std::fmt::Debug
    + std::iter::Sum
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + 'static
{
    /// `v` as this type.
    fn of(v: f64) -> Self {
        Self::from_f64(v).expect("finite constant")
    }

    /// `exp(x)` for `x ≤ 0` (the softmax's shifted logits). f32 uses a
    /// branch-free polynomial the compiler vectorises; f64 (gradient checks)
    /// the exact libm function.
    fn exp_nonpositive(x: Self) -> Self {
        x.exp()
    }

    /// Logistic function (f32: on [`fast_exp_f32`]).
    fn sigmoid(x: Self) -> Self {
        Self::one() / (Self::one() + (-x).exp())
    }

    /// tanh (f32: `1 − 2/(e^{2x} + 1)` on [`fast_exp_f32`], absolute error < 1e−6).
    fn tanh(x: Self) -> Self {
        num_traits::Float::tanh(x)
    }
}

impl Real for f32 {
    #[inline]
    fn exp_nonpositive(x: f32) -> f32 {
        fast_exp_f32(x)
    }

    #[inline]
    fn sigmoid(x: f32) -> f32 {
        1.0 / (1.0 + fast_exp_f32(-x))
    }

    #[inline]
    fn tanh(x: f32) -> f32 {
        1.0 - 2.0 / (fast_exp_f32(2.0 * x) + 1.0)
    }
}
impl Real for f64 {}

/// `exp(x)` for f32 with relative error below 4e−7 on `[−87, 88]`
/// (checked in the tests), returning 0 below −87: Cody–Waite reduction
/// `x = n·ln2 + r`, `|r| ≤ ln2/2`, a degree-6 Taylor polynomial for `e^r`,
/// and `2^n` built in the exponent bits.
#[inline]
pub fn fast_exp_f32(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let xc = x.clamp(-87.0, 88.0);
    // Round to nearest with the 1.5·2^23 trick: plain adds, which vectorise
    // on baseline x86-64 (floor would be a libm call without SSE4.1).
    const ROUND: f32 = 12_582_912.0;
    let t = xc * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    // n as an integer, read from t's mantissa bits (no float→int conversion,
    // whose saturation logic would stop vectorisation).
    let n_int = t.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits((n_int.wrapping_add(127) as u32) << 23);
    let y = p * scale;
    if x < -87.0 {
        0.0
    } else {
        y
    }
}

/// Logistic function.
#[inline]
pub fn sigmoid<T: Real>(x: T) -> T {
    T::sigmoid(x)
}

/// tanh.
#[inline]
pub fn tanh<T: Real>(x: T) -> T {
    <T as Real>::tanh(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_is_accurate() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x <= 88.0 {
            let exact = (x as f64).exp();
            let rel = ((fast_exp_f32(x) as f64 - exact) / exact).abs();
            worst = worst.max(rel);
            x += 0.001_3;
        }
        assert!(worst < 4e-7, "relative error {worst}");
        assert_eq!(fast_exp_f32(-100.0), 0.0);
        assert_eq!(fast_exp_f32(0.0), 1.0);
        let mut x = -20.0f32;
        while x < 20.0 {
            assert!(
                (<f32 as Real>::tanh(x) as f64 - (x as f64).tanh()).abs() < 1e-6,
                "tanh {x}"
            );
            assert!(
                (<f32 as Real>::sigmoid(x) as f64 - 1.0 / (1.0 + (-x as f64).exp())).abs() < 1e-6
            );
            x += 0.01;
        }
    }
}
