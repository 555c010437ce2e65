//! Optimizers, gradient clipping and learning-rate schedules.

use super::{Param, Real};

/// Scales all gradients so their global L2 norm is at most `max_norm`;
/// returns the norm before clipping.
pub fn clip_grad_norm<T: Real>(params: &mut [&mut Param<T>], max_norm: f64) -> f64 {
    // Per tensor: sixteen partial sums in T (vectorised), then f64.
    let sq: f64 = params
        .iter()
        .map(|p| {
            let mut lanes = [T::zero(); 16];
            let mut chunks = p.grad.chunks_exact(16);
            for c in &mut chunks {
                for (l, &g) in lanes.iter_mut().zip(c) {
                    *l += g * g;
                }
            }
            let tail: T = chunks.remainder().iter().map(|&g| g * g).sum();
            lanes.iter().map(|l| l.to_f64().unwrap_or(0.0)).sum::<f64>()
                + tail.to_f64().unwrap_or(0.0)
        })
        .sum();
    let norm = sq.sqrt();
    if max_norm > 0.0 && norm > max_norm {
        let s = T::of(max_norm / (norm + 1e-6));
        for p in params.iter_mut() {
            p.grad.iter_mut().for_each(|g| *g *= s);
        }
    }
    norm
}

/// The optimizer kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Plain SGD.
    Sgd,
    /// Adam (Kingma & Ba), PyTorch's defaults β = (0.9, 0.999), ε = 1e−8.
    Adam,
}

/// Optimizer state (Adam's moments; empty for SGD).
#[derive(Debug, Clone, Default)]
pub struct Optimizer {
    /// First moments, one vector per parameter.
    pub m: Vec<Vec<f32>>,
    /// Second moments.
    pub v: Vec<Vec<f32>>,
    /// Steps taken.
    pub t: u64,
}

impl Optimizer {
    /// One update with learning rate `lr`.
    pub fn step(&mut self, kind: OptimizerKind, params: &mut [&mut Param<f32>], lr: f64) {
        match kind {
            OptimizerKind::Sgd => {
                let lr = lr as f32;
                for p in params.iter_mut() {
                    let Param { value, grad, .. } = &mut **p;
                    for (w, g) in value.iter_mut().zip(grad.iter()) {
                        *w -= lr * g;
                    }
                }
            }
            OptimizerKind::Adam => {
                let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f32);
                if self.m.len() != params.len() {
                    self.m = params.iter().map(|p| vec![0.0; p.len()]).collect();
                    self.v = params.iter().map(|p| vec![0.0; p.len()]).collect();
                }
                self.t += 1;
                let c1 = 1.0 - b1.powi(self.t as i32);
                let c2 = 1.0 - b2.powi(self.t as i32);
                let step = (lr * c2.sqrt() / c1) as f32;
                let (b1, b2) = (b1 as f32, b2 as f32);
                for ((p, m), v) in params.iter_mut().zip(&mut self.m).zip(&mut self.v) {
                    let Param { value, grad, .. } = &mut **p;
                    for i in 0..value.len() {
                        let g = grad[i];
                        m[i] = b1 * m[i] + (1.0 - b1) * g;
                        v[i] = b2 * v[i] + (1.0 - b2) * g * g;
                        value[i] -= step * m[i] / (v[i].sqrt() + eps);
                    }
                }
            }
        }
    }
}

/// Learning-rate schedules, applied once per epoch.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Schedule {
    /// Constant.
    Constant,
    /// Multiply by `factor` after every epoch from `start` on (Zaremba et al.).
    Step {
        /// First epoch (1-based) whose end decays the rate.
        start: usize,
        /// Decay factor.
        factor: f64,
    },
    /// Multiply by `factor` when validation loss has not improved for
    /// `patience` epochs.
    Plateau {
        /// Decay factor.
        factor: f64,
        /// Epochs without improvement tolerated.
        patience: usize,
    },
    /// Cosine from the initial rate to `min_lr` over `epochs` epochs.
    Cosine {
        /// Epochs of the schedule.
        epochs: usize,
        /// Final rate.
        min_lr: f64,
    },
}

/// Schedule bookkeeping carried in checkpoints.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScheduleState {
    /// Current rate.
    pub lr: f64,
    /// Initial rate.
    pub initial_lr: f64,
    /// Best validation loss seen (None before the first; JSON has no ∞).
    pub best: Option<f64>,
    /// Epochs since the best.
    pub bad_epochs: usize,
}

impl ScheduleState {
    /// Starts at `lr`.
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            initial_lr: lr,
            best: None,
            bad_epochs: 0,
        }
    }

    /// Updates the rate after epoch `epoch` (1-based) with its validation loss.
    pub fn end_epoch(&mut self, schedule: Schedule, epoch: usize, valid_loss: f64) {
        match schedule {
            Schedule::Constant => {}
            Schedule::Step { start, factor } => {
                if epoch >= start {
                    self.lr *= factor;
                }
            }
            Schedule::Plateau { factor, patience } => {
                if self.best.is_none_or(|b| valid_loss < b) {
                    self.best = Some(valid_loss);
                    self.bad_epochs = 0;
                } else {
                    self.bad_epochs += 1;
                    if self.bad_epochs > patience {
                        self.lr *= factor;
                        self.bad_epochs = 0;
                    }
                }
            }
            Schedule::Cosine { epochs, min_lr } => {
                self.lr = cosine_lr(self.initial_lr, min_lr, epoch, epochs);
            }
        }
    }
}

/// The cosine schedule's rate after `done` of `epochs` epochs: `initial`
/// before the first, `min` after the last. The one formula every trainer
/// uses.
pub fn cosine_lr(initial: f64, min: f64, done: usize, epochs: usize) -> f64 {
    let progress = (done as f64 / epochs.max(1) as f64).min(1.0);
    min + 0.5 * (initial - min) * (1.0 + (std::f64::consts::PI * progress).cos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        let mut s = ScheduleState::new(1.0);
        for e in 1..=6 {
            s.end_epoch(
                Schedule::Step {
                    start: 4,
                    factor: 0.5,
                },
                e,
                0.0,
            );
        }
        assert_eq!(s.lr, 0.125);
        let mut p = ScheduleState::new(1.0);
        for (e, loss) in [3.0, 2.0, 2.5, 2.6].iter().enumerate() {
            p.end_epoch(
                Schedule::Plateau {
                    factor: 0.1,
                    patience: 1,
                },
                e + 1,
                *loss,
            );
        }
        assert!((p.lr - 0.1).abs() < 1e-12);
        let mut c = ScheduleState::new(1.0);
        c.end_epoch(
            Schedule::Cosine {
                epochs: 2,
                min_lr: 0.0,
            },
            1,
            0.0,
        );
        assert!((c.lr - 0.5).abs() < 1e-12);
    }

    #[test]
    fn clipping_bounds_the_norm() {
        let mut a = Param::<f64>::zeros("a", &[2]);
        a.grad = vec![3.0, 4.0];
        let norm = clip_grad_norm(&mut [&mut a], 1.0);
        assert_eq!(norm, 5.0);
        let clipped = (a.grad[0].powi(2) + a.grad[1].powi(2)).sqrt();
        assert!((clipped - 1.0).abs() < 1e-5);
    }

    #[test]
    fn adam_moves_against_the_gradient() {
        let mut p = Param::<f32>::zeros("p", &[1]);
        p.grad = vec![2.0];
        let mut opt = Optimizer::default();
        opt.step(OptimizerKind::Adam, &mut [&mut p], 0.1);
        assert!((p.value[0] + 0.1).abs() < 1e-4);
    }
}
