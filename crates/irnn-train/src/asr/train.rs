//! Training and scoring the CTC acoustic model on connected digits.

use rayon::prelude::*;

use super::model::AsrModel;
use crate::asr::data::fsdd::Utterance;
use crate::audio::{normalize, LogMel};
use crate::nn::ctc::edit_distance;
use crate::nn::optim::{clip_grad_norm, Optimizer, OptimizerKind};

/// Features and transcripts.
#[derive(Debug, Clone, Default)]
pub struct AsrData {
    /// Per utterance: `frames × mels`, normalised.
    pub features: Vec<Vec<f32>>,
    /// Per utterance: the digits.
    pub digits: Vec<Vec<u8>>,
}

/// Log-mel features of every utterance (in parallel), normalised per
/// utterance.
pub fn featurize(utterances: &[Utterance], mel: &LogMel) -> AsrData {
    featurize_each(utterances, |_| mel)
}

/// [`featurize`] with a front end per utterance (`front(i)` for utterance
/// `i`; all with the same number of filters), e.g. a warped one each.
pub fn featurize_each<'a>(
    utterances: &[Utterance],
    front: impl Fn(usize) -> &'a LogMel + Sync,
) -> AsrData {
    let features = utterances
        .par_iter()
        .enumerate()
        .map(|(i, u)| {
            let mel = front(i);
            let mut f = mel.compute(&u.samples);
            normalize(&mut f, mel.config().mels);
            f
        })
        .collect();
    AsrData {
        features,
        digits: utterances.iter().map(|u| u.digits.clone()).collect(),
    }
}

/// SpecAugment-style masking (Park et al., 2019) of normalised features
/// (`frames × dim`): `masks` frequency bands of up to `max_band` filters and
/// `masks` time spans of up to `max_span` frames set to 0 (the mean).
#[derive(Debug, Clone, Copy, PartialEq)]
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

/// Utterance `i`'s features, masked by `augment` (a generator per
/// (seed, utterance): the same masks whatever the thread split).
pub fn augmented<'a>(
    data: &'a AsrData,
    i: usize,
    dim: usize,
    augment: Option<(SpecAugment, u64)>,
) -> std::borrow::Cow<'a, [f32]> {
    match augment {
        Some((aug, seed)) => {
            let mut rng = crate::nn::rng::TrainRng::seed(seed ^ (i as u64 * 0x9E37_79B9));
            std::borrow::Cow::Owned(aug.apply(&data.features[i], dim, &mut rng))
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
    augment: Option<(SpecAugment, u64)>,
    dropout: (f64, u64),
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
                        dropout.1 ^ (i as u64).wrapping_mul(0x2545_F491),
                    );
                    m.train_utterance_with_dropout(
                        &features,
                        &data.digits[i],
                        dropout.0,
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

/// Word (digit) error rate of greedy transcripts, in percent, and the
/// number of reference digits.
pub fn word_error_rate(model: &AsrModel<f32>, data: &AsrData) -> (f64, usize) {
    let (errors, words) = data
        .features
        .par_iter()
        .zip(&data.digits)
        .map(|(f, d)| (edit_distance(&model.transcribe(f), d), d.len()))
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    (100.0 * errors as f64 / words.max(1) as f64, words)
}

/// Word error rate of the attention decoder's greedy transcripts (`None`
/// for a model without one).
pub fn attention_word_error_rate(model: &AsrModel<f32>, data: &AsrData) -> Option<(f64, usize)> {
    model.decoder.as_ref()?;
    let (errors, words) = data
        .features
        .par_iter()
        .zip(&data.digits)
        .map(|(f, d)| {
            let t = model.transcribe_attention(f).unwrap_or_default();
            (edit_distance(&t, d), d.len())
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    Some((100.0 * errors as f64 / words.max(1) as f64, words))
}
