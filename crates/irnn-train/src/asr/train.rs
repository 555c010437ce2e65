//! Training and scoring the CTC acoustic model on any corpus: the
//! minibatch update (utterances in parallel, gradients summed), the epoch,
//! and the whole recipe (per-epoch rebuilt and perturbed training sets,
//! cosine schedule, weight averaging) that `irnn train asr` runs.

use std::path::Path;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::Rng;
use rayon::prelude::*;

use super::checkpoint;
use super::data::{Corpus, CorpusError, DigitSets, Split, Utterance};
use super::eval::ErrorCounts;
use super::model::AsrModel;
use super::units::Units;
pub use crate::asr::data::{featurize, featurize_each, AsrData};
use crate::audio::perturb::Perturbation;
use crate::audio::{FeatureNorm, LogMel, MelConfig, NormStats};
use crate::checkpoint::CheckpointError;
use crate::nn::optim::cosine_lr;
use crate::nn::optim::{clip_grad_norm, Optimizer, OptimizerKind};
use crate::nn::rng::TrainRng;
use crate::train::Observer;

/// SpecAugment-style masking (Park et al., 2019) of normalised features
/// (`frames × dim`): `masks` frequency bands of up to `max_band` filters and
/// `masks` time spans of up to `max_span` frames set to 0 (the mean).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SpecAugment {
    /// Masks of each kind.
    pub masks: usize,
    /// Widest frequency band.
    pub max_band: usize,
    /// Longest time span.
    pub max_span: usize,
}

impl SpecAugment {
    /// Applies the masks to a copy of `features`.
    pub fn apply(&self, features: &[f32], dim: usize, rng: &mut impl rand::Rng) -> Vec<f32> {
        let mut f = features.to_vec();
        let frames = f.len() / dim.max(1);
        for _ in 0..self.masks {
            let band = rng.gen_range(0..=self.max_band.min(dim));
            let start = rng.gen_range(0..=dim - band);
            for row in f.chunks_exact_mut(dim) {
                row[start..start + band].iter_mut().for_each(|v| *v = 0.0);
            }
            let span = rng.gen_range(0..=self.max_span.min(frames));
            let t0 = rng.gen_range(0..=frames - span);
            f[t0 * dim..(t0 + span) * dim]
                .iter_mut()
                .for_each(|v| *v = 0.0);
        }
        f
    }
}

/// One optimizer update from the utterances `chunk`: `utterance(copy, i)`
/// accumulates utterance `i`'s gradients into a copy of the model and
/// returns its loss (`None` skips it). Copies work in parallel; their
/// gradients are summed, averaged, clipped and applied. Returns the summed
/// loss and the number of utterances that counted.
pub fn minibatch_update(
    model: &mut AsrModel<f32>,
    chunk: &[usize],
    optimizer: &mut Optimizer,
    lr: f64,
    clip: f64,
    utterance: impl Fn(&mut AsrModel<f32>, usize) -> Option<f64> + Sync,
) -> (f64, usize) {
    let tasks = rayon::current_num_threads().max(1);
    let per_task = chunk.len().div_ceil(tasks).max(1);
    let results: Vec<(AsrModel<f32>, f64, usize)> = chunk
        .par_chunks(per_task)
        .map(|part| {
            let mut m = model.clone();
            m.zero_grad();
            let (mut loss, mut n) = (0.0, 0);
            for &i in part {
                if let Some(l) = utterance(&mut m, i) {
                    loss += l;
                    n += 1;
                }
            }
            (m, loss, n)
        })
        .collect();
    model.zero_grad();
    let n: usize = results.iter().map(|r| r.2).sum();
    if n == 0 {
        return (0.0, 0);
    }
    let mut total = 0.0;
    for (m, loss, _) in &results {
        total += loss;
        for (p, q) in model.params_mut().into_iter().zip(m.params()) {
            for (g, &h) in p.grad.iter_mut().zip(&q.grad) {
                *g += h / n as f32;
            }
        }
    }
    let mut params = model.params_mut();
    clip_grad_norm(&mut params, clip);
    optimizer.step(OptimizerKind::Adam, &mut params, lr);
    (total, n)
}

/// SpecAugment masks with the seed they are drawn from: utterance `i`'s
/// masks depend on (`seed`, `i`) only, whatever the thread split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeededMasks {
    /// The masks' shape.
    pub spec: SpecAugment,
    /// The seed of the epoch.
    pub seed: u64,
}

/// Dropout with the seed its masks are drawn from (per utterance, as
/// [`SeededMasks`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SeededDropout {
    /// Probability of dropping a value (0: none).
    pub p: f64,
    /// The seed of the epoch.
    pub seed: u64,
}

/// Utterance `i`'s features, masked by `augment` (a generator per
/// (seed, utterance): the same masks whatever the thread split).
pub fn augmented<'a>(
    data: &'a AsrData,
    i: usize,
    dim: usize,
    augment: Option<SeededMasks>,
) -> std::borrow::Cow<'a, [f32]> {
    match augment {
        Some(SeededMasks { spec, seed }) => {
            let mut rng = crate::nn::rng::TrainRng::seed(seed ^ (i as u64 * 0x9E37_79B9));
            std::borrow::Cow::Owned(spec.apply(&data.features[i], dim, &mut rng))
        }
        None => std::borrow::Cow::Borrowed(&data.features[i]),
    }
}

/// One pass over `order` (indices into `data`) in minibatches of `batch`
/// utterances ([`minibatch_update`]). Returns the mean CTC loss per
/// utterance.
#[allow(clippy::too_many_arguments)]
pub fn train_epoch(
    model: &mut AsrModel<f32>,
    data: &AsrData,
    order: &[usize],
    batch: usize,
    optimizer: &mut Optimizer,
    lr: f64,
    clip: f64,
    augment: Option<SeededMasks>,
    dropout: SeededDropout,
    on_batch: impl FnMut(usize, f64),
) -> f64 {
    let dim = model.config.features;
    let Ok::<f64, std::convert::Infallible>(loss) =
        over_minibatches(order, batch, on_batch, |chunk| {
            Ok(minibatch_update(
                model,
                chunk,
                optimizer,
                lr,
                clip,
                |m, i| {
                    let features = augmented(data, i, dim, augment);
                    let mut rng = crate::nn::rng::TrainRng::seed(
                        dropout.seed ^ (i as u64).wrapping_mul(0x2545_F491),
                    );
                    m.train_utterance_with_dropout(
                        &features,
                        &data.targets[i],
                        dropout.p,
                        Some(&mut rng),
                    )
                },
            ))
        });
    loss
}

/// Runs `update` on each minibatch of `order` (it returns the summed loss
/// and the utterances that counted), reports the running mean loss after
/// each, and returns the epoch's mean loss per utterance.
pub fn over_minibatches<E>(
    order: &[usize],
    batch: usize,
    mut on_batch: impl FnMut(usize, f64),
    mut update: impl FnMut(&[usize]) -> Result<(f64, usize), E>,
) -> Result<f64, E> {
    let (mut total, mut count) = (0.0, 0usize);
    for (bi, chunk) in order.chunks(batch.max(1)).enumerate() {
        let (loss, n) = update(chunk)?;
        if n == 0 {
            continue;
        }
        total += loss;
        count += n;
        on_batch(bi + 1, total / count as f64);
    }
    Ok(total / count.max(1) as f64)
}

/// Word error rate of greedy transcripts, in percent, and the number of
/// reference words.
pub fn word_error_rate(model: &AsrModel<f32>, data: &AsrData, units: &Units) -> (f64, usize) {
    let e = error_counts(data, units, |f| model.transcribe(f));
    (e.wer(), e.words)
}

/// Errors of `transcribe` over `data` (in parallel).
fn error_counts(
    data: &AsrData,
    units: &Units,
    transcribe: impl Fn(&[f32]) -> Vec<u32> + Sync,
) -> ErrorCounts {
    data.features
        .par_iter()
        .zip(&data.targets)
        .map(|(f, r)| ErrorCounts::of(units, &transcribe(f), r))
        .reduce(ErrorCounts::default, |a, b| a + b)
}

/// A speech training run's settings, besides the model's shape.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AsrTrainSettings {
    /// Which utterances, and the run's seed.
    pub sets: DigitSets,
    /// Epochs.
    pub epochs: usize,
    /// Utterances per update.
    pub batch: usize,
    /// Adam's learning rate (cosine-decayed to 0).
    pub lr: f64,
    /// Gradient-norm clip.
    pub clip: f64,
    /// Dropout on the inputs of layers after the first and of the output.
    pub dropout: f64,
    /// New training utterances every epoch.
    pub fresh_utterances: bool,
    /// Speed, level and noise perturbation of training utterances.
    pub perturbation: Perturbation,
    /// Vocal tract length perturbation: warp factors in [1 − W, 1 + W].
    pub vtlp: f64,
    /// Save the mean of the weights of the last N epochs (1: the last).
    pub average_last: usize,
    /// SpecAugment masks of the training utterances.
    pub spec_augment: SpecAugment,
    /// Normalise features with fixed statistics of the training set
    /// (computed when the run starts, stored in the front end) instead of
    /// per utterance; what a streaming model needs.
    #[serde(default)]
    pub global_norm: bool,
}

/// Where a speech training run stands (saved with every epoch's
/// checkpoint as `irnn.asr_progress`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AsrProgress {
    /// The run's settings.
    pub settings: AsrTrainSettings,
    /// Epochs completed.
    pub epochs_done: usize,
    /// The shuffling generator after the last completed epoch.
    pub rng: TrainRng,
    /// The utterance order (shuffled in place every epoch).
    pub order: Vec<usize>,
}

/// Everything a run needs to continue exactly where it stopped.
#[derive(Debug, Clone)]
pub struct RunState {
    /// Position, settings and generators.
    pub progress: AsrProgress,
    /// Adam's moments and step count.
    pub optimizer: Optimizer,
    /// Running sum of the weights of the epochs averaged so far (one vector
    /// per parameter; empty before the averaging window).
    pub weight_sum: Vec<Vec<f64>>,
}

/// One epoch of speech training.
#[derive(Debug, Clone)]
pub struct EpochReport {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Learning rate of the epoch.
    pub lr: f64,
    /// Wall time of the epoch's training.
    pub seconds: f64,
    /// Mean loss per utterance.
    pub train_loss: f64,
    /// Validation errors of the CTC head, greedy.
    pub valid: ErrorCounts,
    /// Validation errors of the attention decoder, if any.
    pub valid_attention: Option<ErrorCounts>,
}

/// Speech training failures.
#[derive(Debug, thiserror::Error)]
pub enum AsrTrainError {
    /// Building utterances failed.
    #[error(transparent)]
    Data(#[from] CorpusError),
    /// Saving a checkpoint failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The loss stopped being finite.
    #[error(transparent)]
    Diverged(#[from] crate::train::Diverged),
}

/// Fixed normalisation statistics of the training utterances' features
/// under the front end `mel` (its own normalisation aside).
fn training_norm(utterances: &[Utterance], mel: &MelConfig) -> FeatureNorm {
    let plain = LogMel::new(MelConfig {
        norm: FeatureNorm::PerUtterance,
        ..mel.clone()
    });
    // Summed in utterance order whatever the threads did, so that a run
    // is repeatable to the last bit.
    let each: Vec<NormStats> = utterances
        .par_iter()
        .map(|u| {
            let mut stats = NormStats::new(mel.mels);
            stats.add(&plain.compute(&u.samples));
            stats
        })
        .collect();
    each.iter()
        .fold(NormStats::new(mel.mels), |a, b| a.merge(b))
        .norm()
}

/// The utterances of a training run: the training set (rebuilt every epoch
/// when utterances are fresh or perturbed), validation and test features.
pub struct TrainData<'a> {
    corpus: &'a Corpus,
    /// The units transcripts are written in.
    pub units: Units,
    settings: AsrTrainSettings,
    front: LogMel,
    /// The VTLP front ends: factors 1 − W … 1 + W in 21 steps (none: `front`).
    warped: Vec<LogMel>,
    base: Vec<Utterance>,
    /// The current epoch's training features.
    pub train: AsrData,
    /// Validation features.
    pub valid: AsrData,
    /// Test features.
    pub test: AsrData,
}

impl<'a> TrainData<'a> {
    /// Builds and featurizes the sets of `corpus` (the test set only if
    /// it has one) in `units`.
    pub fn new(
        corpus: &'a Corpus,
        units: Units,
        mel: MelConfig,
        settings: &AsrTrainSettings,
    ) -> Result<Self, CorpusError> {
        let base = corpus.utterances(Split::Train)?;
        let mut mel = mel;
        if settings.global_norm && !mel.norm.is_causal() {
            mel.norm = training_norm(&base, &mel);
        }
        let front = LogMel::new(mel.clone());
        let warped: Vec<LogMel> = if settings.vtlp > 0.0 {
            (0..=20)
                .map(|k| {
                    let alpha = 1.0 + settings.vtlp * (k as f64 - 10.0) / 10.0;
                    LogMel::warped(mel.clone(), alpha as f32)
                })
                .collect()
        } else {
            Vec::new()
        };
        let valid = featurize(&corpus.utterances(Split::Valid)?, &front, &units)?;
        let test = if corpus.has(Split::Test) {
            featurize(&corpus.utterances(Split::Test)?, &front, &units)?
        } else {
            AsrData::default()
        };
        let mut data = Self {
            corpus,
            units,
            settings: settings.clone(),
            front,
            warped,
            base,
            train: AsrData::default(),
            valid,
            test,
        };
        data.train = if data.perturbed() {
            data.rebuilt(1)?
        } else {
            featurize(&data.base, &data.front, &data.units)?
        };
        Ok(data)
    }

    /// The front end the run's features are computed with (with the
    /// statistics of the training set when normalisation is global): what
    /// the model is saved with.
    pub fn mel(&self) -> &MelConfig {
        self.front.config()
    }

    fn perturbed(&self) -> bool {
        self.settings.perturbation.is_on() || self.settings.vtlp > 0.0
    }

    /// The training set of `epoch`: new digit strings (the digit source) from the same
    /// recordings (fresh utterances), a new speed, level, noise or warp per
    /// utterance (perturbation), all from seeded generators.
    fn rebuilt(&self, epoch: u64) -> Result<AsrData, CorpusError> {
        let s = &self.settings;
        let utts: Vec<Utterance> = if s.fresh_utterances {
            self.corpus.train_for_epoch(epoch as usize)?
        } else {
            self.base.clone()
        };
        let mut rng = TrainRng::seed(s.sets.seed ^ 0x5EED ^ epoch.wrapping_mul(0x9E37));
        let mut warp = Vec::with_capacity(utts.len());
        let utts: Vec<_> = utts
            .into_iter()
            .map(|mut u| {
                u.samples = s.perturbation.apply(&u.samples, &mut rng);
                warp.push((!self.warped.is_empty()).then(|| rng.gen_range(0..self.warped.len())));
                u
            })
            .collect();
        featurize_each(
            &utts,
            |i| warp[i].map_or(&self.front, |k| &self.warped[k]),
            &self.units,
        )
    }
}

/// Trains `model` over `data` for the settings' epochs (shuffling with
/// `rng`), or continues the run `resume` saved, saving the model and the
/// run's state to `out` with front end `mel` after every epoch. With
/// `average_last` > 1 the saved model is, at the end, the mean of the last
/// epochs' weights; its validation WER is returned. `stop_after` ends the
/// run early after that epoch, as an interruption would. A resumed run ends
/// with the same weights, bit for bit, as one that was never stopped.
#[allow(clippy::too_many_arguments)]
pub fn train(
    model: &mut AsrModel<f32>,
    data: &mut TrainData,
    rng: &mut TrainRng,
    resume: Option<RunState>,
    stop_after: Option<usize>,
    out: &Path,
    mel: &MelConfig,
    observer: &mut dyn Observer<EpochReport>,
) -> Result<Option<f64>, AsrTrainError> {
    let s = data.settings.clone();
    let mut run = resume.unwrap_or_else(|| RunState {
        progress: AsrProgress {
            settings: s.clone(),
            epochs_done: 0,
            rng: rng.clone(),
            order: (0..data.train.features.len()).collect(),
        },
        optimizer: Optimizer::default(),
        weight_sum: Vec::new(),
    });
    let first = run.progress.epochs_done + 1;
    let last = stop_after.map_or(s.epochs, |n| n.min(s.epochs));
    for epoch in first..=last {
        if epoch > 1 && (data.perturbed() || s.fresh_utterances) {
            data.train = data.rebuilt(epoch as u64)?;
        }
        let RunState {
            progress,
            optimizer,
            ..
        } = &mut run;
        progress.order.shuffle(&mut progress.rng);
        let order = &progress.order;
        let lr = cosine_lr(s.lr, 0.0, epoch - 1, s.epochs);
        observer.epoch_start(epoch, order.len().div_ceil(s.batch), order.len());
        let t = Instant::now();
        let augment = s.sets.masks_for_epoch(s.spec_augment, epoch);
        let dropout = SeededDropout {
            p: s.dropout,
            seed: s.sets.seed.wrapping_mul(7919).wrapping_add(epoch as u64),
        };
        let train_loss = train_epoch(
            model,
            &data.train,
            order,
            s.batch,
            optimizer,
            lr,
            s.clip,
            augment,
            dropout,
            |b, l| observer.update_done(b, (b * s.batch).min(order.len()), l, lr),
        );
        // The epoch's mean loss: one non-finite update makes it non-finite.
        // Nothing of this epoch is saved then.
        let updates = order.len().div_ceil(s.batch);
        crate::train::check_finite(train_loss, epoch, updates)?;
        let seconds = t.elapsed().as_secs_f64();
        observer.epoch_end(&EpochReport {
            epoch,
            lr,
            seconds,
            train_loss,
            valid: error_counts(&data.valid, &data.units, |f| model.transcribe(f)),
            valid_attention: model.decoder.as_ref().map(|_| {
                error_counts(&data.valid, &data.units, |f| {
                    model.transcribe_attention(f).unwrap_or_default()
                })
            }),
        });
        if s.average_last > 1 && epoch + s.average_last > s.epochs {
            add_weights(&mut run.weight_sum, model);
        }
        run.progress.epochs_done = epoch;
        checkpoint::save_run(out, model, mel, &data.units, &run)?;
    }
    *rng = run.progress.rng.clone();
    if s.average_last <= 1 || last < s.epochs {
        return Ok(None);
    }
    let mut averaged = model.clone();
    for (p, sum) in averaged.params_mut().into_iter().zip(&run.weight_sum) {
        for (v, total) in p.value.iter_mut().zip(sum) {
            *v = (total / s.average_last as f64) as f32;
        }
    }
    *model = averaged;
    checkpoint::save_run(out, model, mel, &data.units, &run)?;
    Ok(Some(word_error_rate(model, &data.valid, &data.units).0))
}

/// Adds `model`'s weights to `sum` (one vector per parameter, created on
/// the first call).
fn add_weights(sum: &mut Vec<Vec<f64>>, model: &AsrModel<f32>) {
    let params = model.params();
    if sum.is_empty() {
        *sum = params.iter().map(|p| vec![0.0; p.len()]).collect();
    }
    for (s, p) in sum.iter_mut().zip(params) {
        for (a, &v) in s.iter_mut().zip(&p.value) {
            *a += v as f64;
        }
    }
}
