//! What every task's training loop shares: how progress is reported (an
//! [`Observer`], so the CLI can draw bars and tests can stay silent) and how
//! one optimizer update is made from accumulated gradients ([`UpdateRule`]).
//! The loops themselves live with their task ([`crate::lm::train`],
//! [`crate::asr::train`]), because what an epoch walks over differs: windows
//! of parallel token streams, or minibatches of utterances.

use crate::nn::optim::{clip_grad_norm, Optimizer, OptimizerKind};
use crate::nn::Param;

/// Receives a training run's progress; `Report` is the task's epoch report.
pub trait Observer<Report> {
    /// An epoch starts: its number (1-based), its updates, and the units
    /// (tokens, utterances) they cover.
    fn epoch_start(&mut self, _epoch: usize, _updates: usize, _units: usize) {}
    /// An update finished: updates done in the epoch, units done, its loss
    /// and learning rate.
    fn update_done(&mut self, _done: usize, _units: usize, _loss: f64, _lr: f64) {}
    /// An epoch ended.
    fn epoch_end(&mut self, _report: &Report) {}
}

/// A non-finite training loss: training stops with this error, and the
/// checkpoints saved before it are kept.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "training diverged: the loss is {loss} in epoch {epoch}, update {update}; the last \
     checkpoint saved before it is kept (try a smaller learning rate or a tighter clip)"
)]
pub struct Diverged {
    /// The epoch (1-based).
    pub epoch: usize,
    /// The update within the epoch (1-based).
    pub update: usize,
    /// The loss.
    pub loss: f64,
}

/// `Ok` for a finite `loss`, else [`Diverged`].
pub fn check_finite(loss: f64, epoch: usize, update: usize) -> Result<(), Diverged> {
    if loss.is_finite() {
        Ok(())
    } else {
        Err(Diverged {
            epoch,
            update,
            loss,
        })
    }
}

/// An observer that ignores everything.
pub struct Silent;
impl<R> Observer<R> for Silent {}

/// How accumulated gradients become one optimizer update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdateRule {
    /// Scale the gradient by the window length (a loss summed over time, as
    /// Zaremba et al.) before clipping.
    pub sum_over_time: bool,
    /// Gradient-norm clip (0: none).
    pub clip: f64,
    /// The optimizer.
    pub optimizer: OptimizerKind,
}

impl UpdateRule {
    /// One update from the gradients of a window of `steps` steps: scaled
    /// (if summed over time), clipped, applied at rate `lr`.
    pub fn apply(
        &self,
        params: &mut [&mut Param<f32>],
        steps: usize,
        optimizer: &mut Optimizer,
        lr: f64,
    ) {
        if self.sum_over_time {
            let k = steps as f32;
            for p in params.iter_mut() {
                p.grad.iter_mut().for_each(|g| *g *= k);
            }
        }
        clip_grad_norm(params, self.clip);
        optimizer.step(self.optimizer, params, lr);
    }
}
