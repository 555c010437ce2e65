//! The training loop: truncated BPTT over parallel streams, clipping, the
//! optimizer, a validation pass and a checkpoint per epoch, and exact
//! resumption. Progress goes to an [`Observer`] (the CLI draws bars with it).
//! The update rule and the observer are the ones every task shares
//! ([`crate::train`]).

use std::path::Path;
use std::time::Instant;

use crate::checkpoint::CheckpointError;
use crate::lm::checkpoint::{self, TrainProgress, TrainSettings};
use crate::lm::data::{Batches, Corpus};
use crate::lm::{LanguageModel, LmState};
use crate::nn::optim::{Optimizer, ScheduleState};
use crate::nn::rng::TrainRng;
use crate::train::{check_finite, Diverged};
pub use crate::train::{Observer, Silent};

/// Batch size used for validation and test evaluation (as PyTorch's
/// word_language_model).
pub const EVAL_BATCH: usize = 10;

/// One epoch's outcome.
#[derive(Debug, Clone)]
pub struct EpochReport {
    /// Epoch number (1-based).
    pub epoch: usize,
    /// Mean training loss (nats per token).
    pub train_loss: f64,
    /// Validation loss (nats per token), NaN without validation data.
    pub valid_loss: f64,
    /// Learning rate used during the epoch.
    pub lr: f64,
    /// Wall time of the epoch's training part.
    pub seconds: f64,
    /// Training tokens per second.
    pub tokens_per_second: f64,
}

impl EpochReport {
    /// The report of an epoch that saw `tokens` training tokens with summed
    /// loss `loss_sum` in `seconds`.
    pub fn new(
        epoch: usize,
        loss_sum: f64,
        tokens: usize,
        valid_loss: f64,
        lr: f64,
        seconds: f64,
    ) -> Self {
        Self {
            epoch,
            train_loss: loss_sum / tokens.max(1) as f64,
            valid_loss,
            lr,
            seconds,
            tokens_per_second: tokens as f64 / seconds.max(1e-9),
        }
    }
}

/// How a run should stop and save.
#[derive(Debug, Clone, Default)]
pub struct RunOptions<'a> {
    /// Where to save checkpoints (end of every epoch, and every
    /// `checkpoint_every` windows if set).
    pub checkpoint: Option<&'a Path>,
    /// Save mid-epoch every this many windows.
    pub checkpoint_every: Option<usize>,
    /// Stop after this many windows in total (for timing runs and tests).
    pub max_windows: Option<usize>,
}

/// Why a language-model training run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A checkpoint could not be saved.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The loss stopped being finite.
    #[error(transparent)]
    Diverged(#[from] Diverged),
}

/// Fresh training progress.
pub fn fresh_progress(settings: TrainSettings, lr: f64) -> TrainProgress {
    TrainProgress {
        rng: TrainRng::seed(settings.seed),
        settings,
        epoch: 0,
        window: 0,
        schedule: ScheduleState::new(lr),
        optimizer_steps: 0,
        valid_history: Vec::new(),
    }
}

/// Trains `model` on `corpus` from `progress` (fresh or resumed) to the end
/// of its epochs, or to `max_windows`. Returns the reports of the epochs run.
#[allow(clippy::too_many_arguments)]
pub fn train(
    model: &mut LanguageModel<f32>,
    corpus: &Corpus,
    progress: &mut TrainProgress,
    optimizer: &mut Optimizer,
    resumed_state: Option<LmState<f32>>,
    options: &RunOptions,
    observer: &mut dyn Observer<EpochReport>,
) -> Result<Vec<EpochReport>, TrainError> {
    let s = progress.settings.clone();
    let batches = Batches::new(&corpus.train, s.batch);
    let windows = batches.windows(s.bptt);
    let mut state = resumed_state.unwrap_or_else(|| model.zero_state(s.batch));
    let mut reports = Vec::new();
    let mut windows_run = 0usize;
    while progress.epoch < s.epochs {
        let epoch = progress.epoch + 1;
        observer.epoch_start(epoch, windows, windows * s.bptt * s.batch);
        let start = Instant::now();
        let (mut loss_sum, mut tokens) = (0.0, 0usize);
        // A mid-epoch checkpoint is written one window late: only once the
        // next window's loss, computed with the weights it would hold, is
        // finite — so a diverging run keeps a checkpoint that is still good.
        // It holds exactly what it would have held when it was due.
        let mut due: Option<(TrainProgress, LmState<f32>)> = None;
        let save_due = |due: &mut Option<(TrainProgress, LmState<f32>)>,
                        model: &LanguageModel<f32>,
                        optimizer: &Optimizer|
         -> Result<(), TrainError> {
            if let (Some((p, st)), Some(path)) = (due.take(), options.checkpoint) {
                checkpoint::save(path, model, &corpus.vocab, Some(&p), optimizer, Some(&st))?;
            }
            Ok(())
        };
        while progress.window < windows {
            if options.max_windows.is_some_and(|m| windows_run >= m) {
                save_due(&mut due, model, optimizer)?;
                return Ok(reports);
            }
            let (x, y, steps) = batches.window(progress.window, s.bptt);
            model.zero_grad();
            let loss = model.window(&x, &y, steps, s.batch, &mut state, Some(&mut progress.rng));
            check_finite(loss, epoch, progress.window + 1)?;
            save_due(&mut due, model, optimizer)?;
            s.update_rule().apply(
                &mut model.params_mut(),
                steps,
                optimizer,
                progress.schedule.lr,
            );
            progress.optimizer_steps = optimizer.t;
            progress.window += 1;
            windows_run += 1;
            loss_sum += loss * (steps * s.batch) as f64;
            tokens += steps * s.batch;
            observer.update_done(progress.window, tokens, loss, progress.schedule.lr);
            if let (Some(_), Some(every)) = (options.checkpoint, options.checkpoint_every) {
                if progress.window.is_multiple_of(every) && progress.window < windows {
                    due = Some((progress.clone(), state.clone()));
                }
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        let valid_loss = if corpus.valid.len() > EVAL_BATCH + 1 {
            let loss = model.evaluate(&corpus.valid, EVAL_BATCH, s.bptt);
            // Weights that give a non-finite validation loss are not saved.
            check_finite(loss, epoch, windows)?;
            loss
        } else {
            f64::NAN
        };
        let lr = progress.schedule.lr;
        progress.schedule.end_epoch(s.schedule, epoch, valid_loss);
        progress
            .valid_history
            .push(valid_loss.is_finite().then_some(valid_loss));
        progress.epoch = epoch;
        progress.window = 0;
        state = model.zero_state(s.batch);
        let report = EpochReport::new(epoch, loss_sum, tokens, valid_loss, lr, seconds);
        observer.epoch_end(&report);
        reports.push(report);
        if let Some(path) = options.checkpoint {
            checkpoint::save(path, model, &corpus.vocab, Some(progress), optimizer, None)?;
        }
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::data::Level;
    use crate::lm::{CellKind, LmConfig};
    use crate::nn::optim::{OptimizerKind, Schedule};

    fn setup(optimizer: OptimizerKind) -> (LanguageModel<f32>, Corpus, TrainProgress) {
        let text = "the cat sat on the mat\nthe dog sat on the log\na cat and a dog\n".repeat(20);
        let corpus = Corpus::from_text(&text, Level::Word, Path::new("mem")).unwrap();
        let config = LmConfig {
            level: Level::Word,
            vocab: corpus.vocab.len(),
            cell: CellKind::Lstm,
            layers: 2,
            hidden: 12,
            embedding: 12,
            dropout: 0.2,
            locked_dropout: false,
            capped_input_gate: false,
            reset_before: false,
            residual: false,
            layer_norm: false,
        };
        let settings = TrainSettings {
            epochs: 3,
            batch: 4,
            bptt: 5,
            optimizer,
            clip: 5.0,
            schedule: Schedule::Step {
                start: 2,
                factor: 0.5,
            },
            seed: 3,
            sum_over_time: optimizer == OptimizerKind::Sgd,
        };
        let model = LanguageModel::new(config, &mut TrainRng::seed(9));
        (
            model,
            corpus,
            fresh_progress(
                settings,
                if optimizer == OptimizerKind::Sgd {
                    1.0
                } else {
                    0.01
                },
            ),
        )
    }

    fn params(m: &LanguageModel<f32>) -> Vec<Vec<f32>> {
        m.params().iter().map(|p| p.value.clone()).collect()
    }

    #[test]
    fn resume_continues_exactly() {
        for kind in [OptimizerKind::Sgd, OptimizerKind::Adam] {
            let dir =
                std::env::temp_dir().join(format!("irnn-resume-{}-{kind:?}", std::process::id()));
            let path = dir.join("ckpt.safetensors");
            // Straight through.
            let (mut a, corpus, mut pa) = setup(kind);
            let mut oa = Optimizer::default();
            train(
                &mut a,
                &corpus,
                &mut pa,
                &mut oa,
                None,
                &RunOptions::default(),
                &mut Silent,
            )
            .unwrap();
            // Stopped mid-epoch 2 (after a mid-epoch save), then resumed from the file.
            let (mut b, corpus, mut pb) = setup(kind);
            let mut ob = Optimizer::default();
            let windows = Batches::new(&corpus.train, 4).windows(5);
            let opts = RunOptions {
                checkpoint: Some(&path),
                checkpoint_every: Some(3),
                max_windows: Some(windows + 4),
            };
            train(&mut b, &corpus, &mut pb, &mut ob, None, &opts, &mut Silent).unwrap();
            let ck = checkpoint::load(&path).unwrap();
            let mut progress = ck.progress.unwrap();
            assert_eq!((progress.epoch, progress.window), (1, 3));
            let (mut model, mut opt) = (ck.model, ck.optimizer);
            train(
                &mut model,
                &corpus,
                &mut progress,
                &mut opt,
                ck.state,
                &RunOptions::default(),
                &mut Silent,
            )
            .unwrap();
            assert_eq!(params(&model), params(&a), "{kind:?}: resumed run differs");
            assert_eq!(progress, pa);
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn checkpoint_round_trips_and_a_failed_save_keeps_the_old_file() {
        let (model, corpus, progress) = setup(OptimizerKind::Sgd);
        let dir = std::env::temp_dir().join(format!("irnn-ckpt-{}", std::process::id()));
        let path = dir.join("m.safetensors");
        checkpoint::save(
            &path,
            &model,
            &corpus.vocab,
            Some(&progress),
            &Optimizer::default(),
            None,
        )
        .unwrap();
        let good = std::fs::read(&path).unwrap();
        let back = checkpoint::load(&path).unwrap();
        assert_eq!(params(&back.model), params(&model));
        assert_eq!(back.vocab.tokens, corpus.vocab.tokens);
        assert_eq!(back.model.config, model.config);
        // A save that fails part-way (here: the temporary file cannot be
        // created because a directory sits in its place) leaves the last
        // good checkpoint intact.
        let blocker = dir.join(format!(".m.safetensors.tmp.{}", std::process::id()));
        std::fs::create_dir_all(&blocker).unwrap();
        assert!(checkpoint::save(
            &path,
            &model,
            &corpus.vocab,
            None,
            &Optimizer::default(),
            None
        )
        .is_err());
        assert_eq!(std::fs::read(&path).unwrap(), good);
        // Truncated and garbage files are named errors, not panics.
        std::fs::write(dir.join("t.safetensors"), &good[..good.len() / 2]).unwrap();
        let err = checkpoint::load(&dir.join("t.safetensors")).err().unwrap();
        assert!(err.to_string().contains("t.safetensors"), "{err}");
        assert!(checkpoint::load(&dir.join("missing.safetensors")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
