//! Dropout. With `locked`, one mask per sequence position in the batch is
//! drawn per window and reused at every time step (variational / "locked"
//! dropout, the same mask across time); otherwise every element is
//! independent.

use rand::Rng;

use super::Real;

/// A dropout mask, already scaled by `1/(1 − p)`.
#[derive(Debug, Clone, Default)]
pub struct DropoutMask<T> {
    mask: Vec<T>,
}

impl<T: Real> DropoutMask<T> {
    /// Draws a mask for `rows × width` values, `rows = steps·batch`.
    pub fn sample(
        p: f64,
        steps: usize,
        batch: usize,
        width: usize,
        locked: bool,
        rng: &mut dyn rand::RngCore,
    ) -> Self {
        let keep = T::of(1.0 / (1.0 - p));
        let draw = |rng: &mut dyn rand::RngCore| {
            if rng.gen::<f64>() < p {
                T::zero()
            } else {
                keep
            }
        };
        let mask = if locked {
            let one: Vec<T> = (0..batch * width).map(|_| draw(rng)).collect();
            (0..steps).flat_map(|_| one.iter().copied()).collect()
        } else {
            (0..steps * batch * width).map(|_| draw(rng)).collect()
        };
        Self { mask }
    }

    /// The mask values (0 or `1/(1 − p)`), `rows × width`.
    pub fn values(&self) -> &[T] {
        &self.mask
    }

    /// `x ⊙ mask` in place (also the backward pass, for the gradient).
    pub fn apply(&self, x: &mut [T]) {
        for (v, &m) in x.iter_mut().zip(&self.mask) {
            *v *= m;
        }
    }
}
