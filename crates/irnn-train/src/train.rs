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

/// The best state of a run by a validation score (lower is better):
/// offered the calibrated start as epoch 0 and each epoch's end, it keeps a
/// copy only when the score is strictly lower than every earlier one, so a
/// tie keeps the earlier state (the start before any QAT epoch). QAT uses it
/// so that validation decides whether its updates are kept.
#[derive(Debug, Clone)]
pub struct KeepBest<S, M> {
    best: Option<(S, usize, M)>,
}

impl<S: PartialOrd, M> Default for KeepBest<S, M> {
    fn default() -> Self {
        Self { best: None }
    }
}

impl<S: PartialOrd, M> KeepBest<S, M> {
    /// Offers `epoch`'s state with `score`; `state` is only called (to
    /// copy it) when it is the best so far. Unordered scores (NaN) never win.
    pub fn offer(&mut self, score: S, epoch: usize, state: impl FnOnce() -> M) {
        let better = match &self.best {
            None => score.partial_cmp(&score).is_some(),
            Some((b, _, _)) => score < *b,
        };
        if better {
            self.best = Some((score, epoch, state()));
        }
    }

    /// The best epoch so far and its score.
    pub fn best(&self) -> Option<(&S, usize)> {
        self.best.as_ref().map(|(s, e, _)| (s, *e))
    }

    /// The kept state if it is not `last`'s (the run's own end needs no
    /// copy back), with its epoch.
    pub fn unless_last(self, last: usize) -> Option<(usize, M)> {
        self.best
            .and_then(|(_, e, m)| (e != last).then_some((e, m)))
    }
}

#[cfg(test)]
mod tests {
    use super::KeepBest;

    #[test]
    fn keeps_the_strictly_best_and_the_earlier_on_ties() {
        let mut k = KeepBest::default();
        k.offer(2.0, 0, || "start");
        k.offer(3.0, 1, || "one");
        k.offer(2.0, 2, || "two (tie)");
        assert_eq!(k.best(), Some((&2.0, 0)));
        assert_eq!(k.clone().unless_last(2), Some((0, "start")));
        k.offer(1.5, 3, || "three");
        assert_eq!(k.clone().unless_last(3), None, "the last is the best");
        assert_eq!(k.unless_last(4), Some((3, "three")));
    }

    #[test]
    fn copies_only_improvements_and_never_a_nan() {
        let mut copies = 0;
        let mut k = KeepBest::default();
        k.offer(f64::NAN, 0, || {
            copies += 1;
        });
        assert_eq!(k.best(), None);
        k.offer(1.0, 1, || copies += 1);
        k.offer(f64::NAN, 2, || copies += 1);
        k.offer(1.0, 3, || copies += 1);
        assert_eq!(copies, 1);
        assert_eq!(k.best().map(|b| b.1), Some(1));
        // Tuples order lexicographically: (WER, CER).
        let mut k = KeepBest::default();
        k.offer((10.0, 5.0), 0, || ());
        k.offer((10.0, 4.0), 1, || ());
        k.offer((9.0, 9.0), 2, || ());
        assert_eq!(k.best().map(|b| b.1), Some(2));
    }
}
