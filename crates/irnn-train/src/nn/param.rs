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

/// The four tensors every PyTorch recurrent layer has, for `gates` gates:
/// `weight_ih` [gates·H × input], `weight_hh` [gates·H × H], `bias_ih`,
/// `bias_hh` [gates·H], named `rnn.<tensor>_l<layer>`.
#[derive(Debug, Clone)]
pub struct RecurrentWeights<T> {
    /// Input weights.
    pub w_ih: Param<T>,
    /// Recurrent weights.
    pub w_hh: Param<T>,
    /// Input bias.
    pub b_ih: Param<T>,
    /// Recurrent bias.
    pub b_hh: Param<T>,
}

impl<T: Real> RecurrentWeights<T> {
    /// PyTorch's initialisation: every tensor `U(−1/√H, 1/√H)`.
    pub fn new(
        layer: usize,
        gates: usize,
        input: usize,
        hidden: usize,
        rng: &mut impl Rng,
    ) -> Self {
        let k = 1.0 / (hidden as f64).sqrt();
        let g = gates * hidden;
        Self {
            w_ih: Param::uniform(format!("rnn.weight_ih_l{layer}"), &[g, input], k, rng),
            w_hh: Param::uniform(format!("rnn.weight_hh_l{layer}"), &[g, hidden], k, rng),
            b_ih: Param::uniform(format!("rnn.bias_ih_l{layer}"), &[g], k, rng),
            b_hh: Param::uniform(format!("rnn.bias_hh_l{layer}"), &[g], k, rng),
        }
    }

    /// The tensors, in PyTorch's order.
    pub fn params(&self) -> Vec<&Param<T>> {
        vec![&self.w_ih, &self.w_hh, &self.b_ih, &self.b_hh]
    }

    /// The tensors, mutable, in PyTorch's order.
    pub fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        vec![
            &mut self.w_ih,
            &mut self.w_hh,
            &mut self.b_ih,
            &mut self.b_hh,
        ]
    }
}
