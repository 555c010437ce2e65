//! Named parameters with their gradients.

use rand::Rng;

use super::Real;

/// A parameter tensor, its gradient, and its PyTorch name and shape.
#[derive(Debug, Clone)]
pub struct Param<T> {
    /// PyTorch-style name, e.g. `rnn.weight_ih_l0`.
    pub name: String,
    /// Shape, PyTorch's.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub value: Vec<T>,
    /// Gradient, same shape.
    pub grad: Vec<T>,
}

impl<T: Real> Param<T> {
    /// A zero parameter.
    pub fn zeros(name: impl Into<String>, shape: &[usize]) -> Self {
        let n = shape.iter().product();
        Self {
            name: name.into(),
            shape: shape.to_vec(),
            value: vec![T::zero(); n],
            grad: vec![T::zero(); n],
        }
    }

    /// A parameter drawn from `U(−bound, bound)`, as PyTorch initialises
    /// recurrent and linear layers (`bound = 1/√fan`).
    pub fn uniform(
        name: impl Into<String>,
        shape: &[usize],
        bound: f64,
        rng: &mut impl Rng,
    ) -> Self {
        let mut p = Self::zeros(name, shape);
        for v in &mut p.value {
            *v = T::of(rng.gen_range(-bound..=bound));
        }
        p
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.value.len()
    }

    /// True for an empty tensor.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    /// Sets the gradient to zero.
    pub fn zero_grad(&mut self) {
        self.grad.iter_mut().for_each(|g| *g = T::zero());
    }
}
