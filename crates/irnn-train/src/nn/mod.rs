//! The float training engine: hand-written forward and backward passes on
//! `gemm`, generic over f32 (training) and f64 (gradient checks).
//!
//! Layout conventions: sequences are time-major, one row per (t, b):
//! row `t·B + b`. Weights use PyTorch's layout (`[out × in]`, gates stacked
//! i, f, g, o for LSTM and r, z, n for GRU), so checkpoints carry PyTorch's
//! parameter names and shapes.

pub mod dropout;
pub mod gru;
pub mod linear;
pub mod loss;
pub mod lstm;
pub mod ops;
pub mod optim;
pub mod param;
pub mod rng;

pub use param::Param;

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
}

impl Real for f32 {}
impl Real for f64 {}

/// Logistic function.
#[inline]
pub fn sigmoid<T: Real>(x: T) -> T {
    T::one() / (T::one() + (-x).exp())
}
