//! Fully connected layer `y = x Wᵀ + b` and the embedding lookup.

use rand::Rng;

use super::ops::{add_rows, matmul};
use super::{Param, Real};

/// A linear layer, PyTorch layout `W: [out × in]`.
#[derive(Debug, Clone)]
pub struct Linear<T> {
    /// [out × in].
    pub weight: Param<T>,
    /// `[out]`.
    pub bias: Param<T>,
}

impl<T: Real> Linear<T> {
    /// PyTorch's `nn.Linear` initialisation: `U(−1/√in, 1/√in)`.
    pub fn new(prefix: &str, input: usize, output: usize, rng: &mut impl Rng) -> Self {
        let k = 1.0 / (input as f64).sqrt();
        Self {
            weight: Param::uniform(format!("{prefix}.weight"), &[output, input], k, rng),
            bias: Param::uniform(format!("{prefix}.bias"), &[output], k, rng),
        }
    }

    /// Input size.
    pub fn input(&self) -> usize {
        self.weight.shape[1]
    }

    /// Output size.
    pub fn output(&self) -> usize {
        self.weight.shape[0]
    }

    /// `rows × out` from `rows × in`.
    pub fn forward(&self, x: &[T], rows: usize) -> Vec<T> {
        let (i, o) = (self.input(), self.output());
        let mut y = vec![T::zero(); rows * o];
        for row in y.chunks_exact_mut(o) {
            row.copy_from_slice(&self.bias.value);
        }
        matmul(&mut y, x, &self.weight.value, rows, i, o, false, true, true);
        y
    }

    /// Accumulates dW, db; returns dx.
    pub fn backward(&mut self, x: &[T], dy: &[T], rows: usize) -> Vec<T> {
        let (i, o) = (self.input(), self.output());
        matmul(&mut self.weight.grad, dy, x, o, rows, i, true, false, true);
        add_rows(&mut self.bias.grad, dy, o);
        let mut dx = vec![T::zero(); rows * i];
        matmul(
            &mut dx,
            dy,
            &self.weight.value,
            rows,
            o,
            i,
            false,
            false,
            false,
        );
        dx
    }
}

/// Token embedding `[vocab × dim]`.
#[derive(Debug, Clone)]
pub struct Embedding<T> {
    /// The table.
    pub weight: Param<T>,
}

impl<T: Real> Embedding<T> {
    /// `U(−0.1, 0.1)`, as PyTorch's word_language_model initialises it.
    pub fn new(name: &str, vocab: usize, dim: usize, rng: &mut impl Rng) -> Self {
        Self {
            weight: Param::uniform(name, &[vocab, dim], 0.1, rng),
        }
    }

    /// Embedding size.
    pub fn dim(&self) -> usize {
        self.weight.shape[1]
    }

    /// Looks up every token.
    pub fn forward(&self, tokens: &[u32]) -> Vec<T> {
        let d = self.dim();
        let mut out = Vec::with_capacity(tokens.len() * d);
        for &t in tokens {
            out.extend_from_slice(&self.weight.value[t as usize * d..(t as usize + 1) * d]);
        }
        out
    }

    /// Scatters the gradient into the rows that were used.
    pub fn backward(&mut self, tokens: &[u32], dy: &[T]) {
        let d = self.dim();
        for (&t, g) in tokens.iter().zip(dy.chunks_exact(d)) {
            for (w, &v) in self.weight.grad[t as usize * d..(t as usize + 1) * d]
                .iter_mut()
                .zip(g)
            {
                *w += v;
            }
        }
    }
}
