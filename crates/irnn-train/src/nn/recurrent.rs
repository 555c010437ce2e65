//! The shape every float recurrent layer shares: a window of `steps ×
//! batch` inputs forward from a carried state, keeping what the backward
//! pass needs, and the backward pass from the outputs' gradient. Models
//! (the language model's stack) are written once against it; the integer
//! side has the same idea in `irnn_runtime::layers::IntCell`.

use super::gru::{Gru, GruCache};
use super::lstm::{Lstm, LstmCache};
use super::{Param, Real};

/// A float recurrent layer with a hand-written backward pass.
pub trait Recurrent<T: Real> {
    /// What the forward pass keeps for the backward pass.
    type Cache: Default;

    /// Hidden size.
    fn hidden(&self) -> usize;
    /// The layer's parameters, in a fixed order.
    fn params(&self) -> Vec<&Param<T>>;
    /// The same, mutable.
    fn params_mut(&mut self) -> Vec<&mut Param<T>>;
    /// Runs `steps` steps on `x` (`steps·batch × input`) from `h` and `c`
    /// (`batch × H`; `c` is ignored by cells without a cell state),
    /// updating them; returns the outputs (`steps·batch × H`) and, with a
    /// cache, keeps what [`backward`](Self::backward) needs.
    fn forward(
        &self,
        x: &[T],
        steps: usize,
        batch: usize,
        h: &mut [T],
        c: &mut [T],
        cache: Option<&mut Self::Cache>,
    ) -> Vec<T>;
    /// Accumulates the parameters' gradients from `dy`, the outputs'
    /// gradient; returns the inputs' gradient.
    fn backward(&mut self, cache: &Self::Cache, dy: &[T]) -> Vec<T>;
}

impl<T: Real> Recurrent<T> for Lstm<T> {
    type Cache = LstmCache<T>;
    fn hidden(&self) -> usize {
        self.hidden
    }
    fn params(&self) -> Vec<&Param<T>> {
        Lstm::params(self)
    }
    fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        Lstm::params_mut(self)
    }
    fn forward(
        &self,
        x: &[T],
        steps: usize,
        batch: usize,
        h: &mut [T],
        c: &mut [T],
        cache: Option<&mut LstmCache<T>>,
    ) -> Vec<T> {
        Lstm::forward(self, x, steps, batch, h, c, cache)
    }
    fn backward(&mut self, cache: &LstmCache<T>, dy: &[T]) -> Vec<T> {
        Lstm::backward(self, cache, dy)
    }
}

impl<T: Real> Recurrent<T> for Gru<T> {
    type Cache = GruCache<T>;
    fn hidden(&self) -> usize {
        self.hidden
    }
    fn params(&self) -> Vec<&Param<T>> {
        Gru::params(self)
    }
    fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        Gru::params_mut(self)
    }
    fn forward(
        &self,
        x: &[T],
        steps: usize,
        batch: usize,
        h: &mut [T],
        _c: &mut [T],
        cache: Option<&mut GruCache<T>>,
    ) -> Vec<T> {
        Gru::forward(self, x, steps, batch, h, cache)
    }
    fn backward(&mut self, cache: &GruCache<T>, dy: &[T]) -> Vec<T> {
        Gru::backward(self, cache, dy)
    }
}
