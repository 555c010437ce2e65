//! Quantization-aware training of the acoustic model.
//!
//! The forward pass is the integer model itself: before every update the
//! float weights are exported under the current ranges ([`integer_model_at`])
//! and each utterance is run by the runtime, step by step, recording every
//! encoder layer's inputs (int8, or int16 with 16-bit activations) and,
//! per direction, its activated gates,
//! cells and hidden states ([`run_encoder`]). The CTC loss (and the
//! attention decoder's cross-entropy, teacher-forced) is the loss of the
//! int32 scores the deployed model produces, and the backward pass is the
//! float encoder's evaluated *at those recorded integer activations*,
//! dequantized ([`AsrModel::cache_from_values`]; LayerNorm statistics
//! recomputed from the recorded inputs and states) — the estimator the
//! language models' QAT uses: each rounding and PWL segment is treated as
//! the identity, but the derivatives are taken where the deployed model
//! is, not where the float one would be. The attention decoder's backward
//! pass runs at its float activations over the recorded (integer) encoder
//! output.
//!
//! Ranges move: after each minibatch's forward pass the float model's
//! ranges on that minibatch ([`calibrate`]) are blended into them by an
//! exponential moving average, until a final fraction of the updates runs
//! with frozen ranges; PWL tables are refitted whenever a moving range
//! changes a (snapped) grid. Transcripts of the model QAT ends with and of
//! the `.irnn` written from it are the same by construction (same export,
//! same runtime, the final ranges saved) and tested to be.

use std::time::Instant;

use irnn_runtime::layers::{IntEncoderLayer, IntLstmCell};
use irnn_runtime::speech::{EncoderLayers, EncoderWidth, IntSpeechModel};
use irnn_runtime::Isa;
use rand::seq::SliceRandom;

use super::attention::{decoder_inputs, decoder_targets};
use super::calibrate::{calibrate, AsrRanges};
use super::data::{featurize, Corpus, CorpusError, DigitSets};
use super::eval::{ErrorCounts, Transcripts};
use super::export::{encoder_grids, integer_model_at, quantize_features};
use super::model::{AsrModel, DirectionValues, LayerValues};
use super::train::{
    augmented, minibatch_update, over_minibatches, AsrData, SeededMasks, SpecAugment,
};
use super::units::Units;
use crate::audio::{LogMel, MelConfig};
use crate::nn::ctc::{ctc_loss, log_softmax};
use crate::nn::optim::cosine_lr;
use crate::nn::optim::Optimizer;
use crate::nn::rng::TrainRng;
use crate::quant::cells::AffineQuant;
use crate::quant::export::{logit_scale, ExportError};
use crate::quant::pwl_fit::PwlFitter;
use crate::train::{fewer_beyond_noise, KeepBest, Observer, PairedDifference, ValidationScore};

/// Summed softmax cross-entropy of `logits` rows against `targets`, and
/// its gradient with respect to the logits (f64).
fn cross_entropy(logits: &[f64], classes: usize, targets: &[u32]) -> (f64, Vec<f64>) {
    let lp = log_softmax(logits, classes);
    let mut grad: Vec<f64> = lp.iter().map(|v| v.exp()).collect();
    let mut loss = 0.0;
    for (t, &k) in targets.iter().enumerate() {
        loss -= lp[t * classes + k as usize];
        grad[t * classes + k as usize] -= 1.0;
    }
    (loss, grad)
}

/// The top encoder layer's output, of the model's activation width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Top {
    /// int8 outputs (every model's default).
    Int8(Vec<i8>),
    /// int16 outputs (16-bit activations).
    Int16(Vec<i16>),
}

impl From<Vec<i8>> for Top {
    fn from(v: Vec<i8>) -> Self {
        Top::Int8(v)
    }
}

impl From<Vec<i16>> for Top {
    fn from(v: Vec<i16>) -> Self {
        Top::Int16(v)
    }
}

impl Top {
    /// The CTC head's int32 scores of these outputs.
    fn ctc_logits(&self, int: &IntSpeechModel, isa: Isa) -> Result<Vec<i32>, irnn_runtime::Error> {
        match self {
            Top::Int8(x) => int.ctc_logits(isa, x),
            Top::Int16(x) => int.ctc_logits(isa, x),
        }
    }
}

/// What the integer encoder computed for one utterance: the values its
/// float twin's backward pass reads (dequantized), and its output.
pub struct EncoderRun {
    /// Per layer, bottom first.
    pub layers: Vec<LayerValues<f32>>,
    /// The convolution's output (frames × frame_dim; empty without one).
    pub conv_out: Vec<f32>,
    /// The top layer's output [T × width]: the CTC head's and (int8) the
    /// decoder's input.
    pub top: Top,
    /// `top` dequantized.
    pub top_real: Vec<f32>,
}

/// One direction of one layer over `xs` (`steps × input`), step by step
/// (identical to the runtime's sequence path), right to left if
/// `reverse`: its values dequantized (`h` on `h_grid`) and its h of each
/// step, in time order.
fn run_direction<A: EncoderWidth>(
    cell: &IntLstmCell<A>,
    isa: Isa,
    xs: &[A],
    reverse: bool,
    h_grid: AffineQuant,
) -> Result<(DirectionValues<f32>, Vec<A>), irnn_runtime::Error> {
    let (input, n) = (cell.input, cell.hidden);
    let steps = xs.len() / input.max(1);
    let cell_unit = (-(cell.cell_fraction_bits as f64)).exp2() as f32;
    let mut state = cell.zero_state();
    let mut scratch = cell.step_scratch();
    let mut v = DirectionValues {
        gates: Vec::with_capacity(steps * 4 * n),
        c: Vec::with_capacity((steps + 1) * n),
        h: Vec::with_capacity((steps + 1) * n),
    };
    let mut hs = vec![A::default(); steps * n];
    let keep = |v: &mut DirectionValues<f32>, h: &[A], c: &[i16]| {
        v.c.extend(c.iter().map(|&q| q as f32 * cell_unit));
        v.h.extend(h.iter().map(|&q| h_grid.value_of(q) as f32));
    };
    keep(&mut v, &state.h, &state.c);
    for k in 0..steps {
        let t = if reverse { steps - 1 - k } else { k };
        cell.step(
            isa,
            &xs[t * input..(t + 1) * input],
            &mut state,
            &mut scratch,
        )?;
        let gates = scratch.activated_gates();
        v.gates.extend(gates.iter().map(|&q| q as f32 / 32768.0));
        keep(&mut v, &state.h, &state.c);
        hs[t * n..(t + 1) * n].copy_from_slice(&state.h);
    }
    Ok((v, hs))
}

/// Runs the integer encoder of `int` over int8 features (`frames ×
/// features`), recording what [`AsrModel::cache_from_values`] needs;
/// `grids` are [`encoder_grids`] of `int`. Its `top` is what
/// [`IntSpeechModel::encode`] returns (tested).
pub fn run_encoder(
    int: &IntSpeechModel,
    isa: Isa,
    grids: &[AffineQuant],
    features: &[i8],
) -> Result<EncoderRun, irnn_runtime::Error> {
    // One grid per layer input and one for the top: a caller's other
    // grids would index past the end.
    if grids.len() != int.layers.len() + 1 {
        return Err(irnn_runtime::Error::ShapeMismatch {
            what: "encoder grids (one per layer input, then the top's)",
            expected: int.layers.len() + 1,
            found: grids.len(),
        });
    }
    let frames = features.len() / int.features().max(1);
    let steps = int.steps(frames);
    let (mut x, pad) = match &int.conv {
        Some(c) => {
            let mut out = Vec::new();
            c.run_into(features, &mut out)?;
            (out, c.output_zero_point)
        }
        None => (features.to_vec(), int.input_zero_point),
    };
    // The convolution's outputs as reals: `q − z` on the first grid's
    // scale (the first layer reads them so at either width).
    let conv_out = match &int.conv {
        Some(_) => x
            .iter()
            .map(|&q| (grids[0].scale * (q as i32 - pad) as f64) as f32)
            .collect(),
        None => Vec::new(),
    };
    x.resize(steps * int.stack * int.frame_dim(), pad as i8);
    match &int.layers {
        EncoderLayers::Int8(l) => record_layers(l, isa, grids, &x, pad, conv_out),
        EncoderLayers::Int16(l) => record_layers(l, isa, grids, &x, pad, conv_out),
    }
}

/// [`run_encoder`]'s layers at width `A` over the stacked int8 `frames`
/// (grid zero point `zero_point`).
fn record_layers<A: EncoderWidth>(
    layers: &[IntEncoderLayer<A>],
    isa: Isa,
    grids: &[AffineQuant],
    frames: &[i8],
    zero_point: i32,
    conv_out: Vec<f32>,
) -> Result<EncoderRun, irnn_runtime::Error>
where
    Top: From<Vec<A>>,
{
    let mut x: Vec<A> = frames
        .iter()
        .map(|&q| A::from_frame(q, zero_point))
        .collect();
    let mut values = Vec::with_capacity(layers.len());
    for (l, layer) in layers.iter().enumerate() {
        let (g_in, g_h) = (grids[l], grids[l + 1]);
        let n = layer.forward.hidden;
        let width = layer.output_width();
        let steps = x.len() / layer.input().max(1);
        let (forward, hf) = run_direction(&layer.forward, isa, &x, false, g_h)?;
        let mut out = vec![A::default(); steps * width];
        for (row, h) in out.chunks_exact_mut(width).zip(hf.chunks_exact(n)) {
            row[..n].copy_from_slice(h);
        }
        let backward = match &layer.backward {
            Some(cell) => {
                let (v, hb) = run_direction(cell, isa, &x, true, g_h)?;
                for (row, h) in out.chunks_exact_mut(width).zip(hb.chunks_exact(n)) {
                    row[n..].copy_from_slice(h);
                }
                Some(v)
            }
            None => None,
        };
        let input = x.iter().map(|&q| g_in.value_of(q) as f32).collect();
        values.push(LayerValues {
            input,
            forward,
            backward,
        });
        x = out;
    }
    let top_grid = grids[layers.len()];
    Ok(EncoderRun {
        layers: values,
        conv_out,
        top_real: x.iter().map(|&q| top_grid.value_of(q) as f32).collect(),
        top: x.into(),
    })
}

/// The integer model's loss of one utterance — CTC, and with an attention
/// decoder `λ·CTC + (1 − λ)·cross-entropy` of its teacher-forced scores —
/// with the gradient of the float network at the integer model's
/// activations ([`run_encoder`]) accumulated into `model`; `grids` are
/// [`encoder_grids`] of `int`. `None` if the utterance is too short for
/// its units.
pub fn qat_utterance(
    model: &mut AsrModel<f32>,
    int: &IntSpeechModel,
    grids: &[AffineQuant],
    features: &[f32],
    targets: &[u32],
) -> Option<f64> {
    let isa = Isa::detect();
    let run = run_encoder(int, isa, grids, &quantize_features(int, features)).ok()?;
    let logits = run.top.ctc_logits(int, isa).ok()?;
    let unit = logit_scale(int.output.logit_scale);
    let scores: Vec<f64> = logits.iter().map(|&l| l as f64 * unit).collect();
    let target: Vec<usize> = targets.iter().map(|&d| d as usize + 1).collect();
    let (ctc, grad) = ctc_loss(&scores, model.classes(), &target)?;
    let memory_real = run.top_real.clone();
    let cache = model.cache_from_values(features, run.conv_out, run.layers, run.top_real);
    let (Some(int_decoder), Some(decoder)) = (&int.decoder, &mut model.decoder) else {
        let grad: Vec<f32> = grad.iter().map(|&g| g as f32).collect();
        model.backward(&cache, &grad);
        return Some(ctc);
    };
    let lambda = decoder.config.ctc_weight;
    let units = model.config.units;
    let inputs = decoder_inputs(targets, units);
    // Validation allows a decoder over int8 outputs only.
    let Top::Int8(top) = &run.top else {
        return None;
    };
    let memory = int_decoder.prepare(isa, top).ok()?;
    let forced = int_decoder.run_forced(isa, &memory, &inputs).ok()?;
    let unit = logit_scale(int_decoder.output.logit_scale);
    let forced: Vec<f64> = forced.iter().map(|&l| l as f64 * unit).collect();
    let (ce, d_logits) = cross_entropy(&forced, units + 1, &decoder_targets(targets, units));
    let (_, dc) = decoder.forward(&memory_real, &inputs);
    let d_logits: Vec<f32> = d_logits
        .iter()
        .map(|&g| (g * (1.0 - lambda)) as f32)
        .collect();
    let d_memory = decoder.backward(&dc, &memory_real, &d_logits);
    let grad: Vec<f32> = grad.iter().map(|&g| (g * lambda) as f32).collect();
    model.backward_with_memory(&cache, &grad, Some(&d_memory));
    Some(lambda * ctc + (1.0 - lambda) * ce)
}

/// The default EMA momentum of the ranges per minibatch (the language
/// models' QAT uses the same per window).
pub const RANGE_MOMENTUM: f64 = 0.95;

/// How QAT's ranges move: an exponential moving average per minibatch,
/// frozen from update `freeze_at` on.
#[derive(Debug, Clone, Copy)]
pub struct MovingRanges {
    /// EMA momentum per minibatch.
    pub momentum: f64,
    /// The first update with frozen ranges.
    pub freeze_at: usize,
    /// Updates so far.
    pub done: usize,
}

impl MovingRanges {
    /// Whether the next update moves the ranges (and counts it).
    fn next(&mut self) -> bool {
        self.done += 1;
        self.done <= self.freeze_at
    }
}

/// One QAT pass over `order`: an export per minibatch, then
/// [`qat_utterance`] for each of its utterances, in parallel, then (while
/// `moving` says so) the ranges blended towards the float model's on the
/// minibatch. Returns the mean integer-model loss.
#[allow(clippy::too_many_arguments)]
pub fn qat_epoch(
    model: &mut AsrModel<f32>,
    mel: &MelConfig,
    units: &Units,
    ranges: &mut AsrRanges,
    moving: &mut MovingRanges,
    pwl: &mut PwlFitter,
    activation_bits: u32,
    data: &AsrData,
    order: &[usize],
    batch: usize,
    optimizer: &mut Optimizer,
    lr: f64,
    clip: f64,
    augment: Option<SeededMasks>,
    on_batch: impl FnMut(usize, f64),
) -> Result<f64, ExportError> {
    let dim = model.config.features;
    over_minibatches(order, batch, on_batch, |chunk| {
        let int = integer_model_at(model, mel, units, ranges, activation_bits, pwl)?;
        let grids = encoder_grids(&int, ranges);
        let features: Vec<Vec<f32>> = chunk
            .iter()
            .map(|&i| augmented(data, i, dim, augment).into_owned())
            .collect();
        // The ranges this minibatch needs, before the update (as the
        // forward pass saw it).
        let seen = moving.next().then(|| {
            let targets: Vec<Vec<u32>> = chunk.iter().map(|&i| data.targets[i].clone()).collect();
            calibrate(model, &features, &targets)
        });
        let result = minibatch_update(model, chunk, optimizer, lr, clip, |m, i| {
            let k = chunk.iter().position(|&j| j == i)?;
            qat_utterance(m, &int, &grids, &features[k], &data.targets[i])
        });
        if let Some(seen) = seen {
            ranges.blend(&seen, moving.momentum);
        }
        Ok(result)
    })
}

/// A speech QAT run's settings.
#[derive(Debug, Clone)]
pub struct AsrQatSettings {
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
    /// New training utterances every epoch after the first.
    pub fresh_utterances: bool,
    /// SpecAugment masks during QAT.
    pub spec_augment: SpecAugment,
    /// Fraction of the updates, at the end, with frozen ranges (1: the
    /// calibrated ranges never move).
    pub freeze_fraction: f64,
    /// EMA momentum of the ranges per minibatch.
    pub range_momentum: f64,
    /// End with the weights and ranges whose integer model validation
    /// prefers — CTC head's word errors, see `keep_z` — among the calibrated
    /// start (PTQ) and each epoch's end (ties keep the earlier); with
    /// `false`, the last epoch's.
    pub keep_best: bool,
    /// How much fewer an epoch's validation word errors must be to replace
    /// the kept state: more than `keep_z` standard errors of the paired
    /// per-utterance difference ([`fewer_beyond_noise`]); 0: any lower
    /// (WER, CER).
    pub keep_z: f64,
    /// Bits of the encoder's activations: 8, or 16 (CTC models).
    pub activation_bits: u32,
}

/// What a speech QAT run did.
#[derive(Debug, Clone, PartialEq)]
pub struct AsrQatRun {
    /// The calibrated start's validation errors of the CTC head, when
    /// `keep_best` scored it.
    pub start_valid: Option<ErrorCounts>,
    /// The epoch whose weights and ranges the model ends with: 0 for the
    /// calibrated start.
    pub kept_epoch: usize,
    /// Epochs run.
    pub epochs: usize,
}

/// The CTC head's validation errors of integer transcripts, per utterance,
/// as [`KeepBest`] ranks them: with `z > 0` an epoch must have fewer word
/// errors beyond the noise of the paired difference
/// ([`fewer_beyond_noise`]), with `z = 0` any lower (WER, CER).
#[derive(Debug, Clone)]
struct ValidationErrors {
    per_utterance: Vec<ErrorCounts>,
    z: f64,
}

impl ValidationErrors {
    fn of(units: &Units, t: &Transcripts, valid: &AsrData, z: f64) -> Self {
        let per_utterance = t
            .ctc
            .iter()
            .zip(&valid.targets)
            .map(|(h, r)| ErrorCounts::of(units, h, r))
            .collect();
        Self { per_utterance, z }
    }

    fn total(&self) -> ErrorCounts {
        self.per_utterance
            .iter()
            .fold(ErrorCounts::default(), |a, &b| a + b)
    }

    fn word_errors(&self) -> Vec<usize> {
        self.per_utterance.iter().map(|e| e.word_errors).collect()
    }
}

impl ValidationScore for ValidationErrors {
    fn beats(&self, kept: Option<&Self>) -> bool {
        let Some(kept) = kept else { return true };
        if self.z > 0.0 {
            return fewer_beyond_noise(&self.word_errors(), &kept.word_errors(), self.z);
        }
        let key = |e: ErrorCounts| (e.wer(), e.cer());
        key(self.total()).beats(Some(&key(kept.total())))
    }
}

/// One epoch of speech QAT.
#[derive(Debug, Clone)]
pub struct QatEpochReport {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Learning rate of the epoch.
    pub lr: f64,
    /// Wall time of the epoch, validation included.
    pub seconds: f64,
    /// Mean integer-model loss per utterance.
    pub train_loss: f64,
    /// The integer model's validation transcripts.
    pub valid: Transcripts,
    /// With `keep_best`: the state kept before this epoch (0: the
    /// calibrated start) and this epoch's validation word errors against
    /// it.
    pub against_kept: Option<(usize, PairedDifference)>,
}

/// Speech QAT failures.
#[derive(Debug, thiserror::Error)]
pub enum AsrQatError {
    /// Building utterances failed.
    #[error(transparent)]
    Data(#[from] CorpusError),
    /// The model could not be exported.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The integer model failed to run.
    #[error(transparent)]
    Runtime(#[from] irnn_runtime::Error),
    /// The loss stopped being finite.
    #[error(transparent)]
    Diverged(#[from] crate::train::Diverged),
}

/// QAT of `model` from the calibrated `ranges` for the settings' epochs
/// (the ranges move, then freeze, as the settings say; `ranges` ends as
/// the final model's): `train` holds the first epoch's features (rebuilt
/// from `corpus` each epoch with fresh utterances), `valid` is scored by
/// the integer model after each epoch and reported to `observer`.
#[allow(clippy::too_many_arguments)]
pub fn train_qat(
    model: &mut AsrModel<f32>,
    mel: &MelConfig,
    units: &Units,
    ranges: &mut AsrRanges,
    pwl: &mut PwlFitter,
    corpus: &Corpus,
    mut train: AsrData,
    valid: &AsrData,
    s: &AsrQatSettings,
    observer: &mut dyn Observer<QatEpochReport>,
) -> Result<AsrQatRun, AsrQatError> {
    let front = LogMel::new(mel.clone());
    let mut optimizer = Optimizer::default();
    let mut order: Vec<usize> = (0..train.features.len()).collect();
    let mut rng = TrainRng::seed(s.sets.seed);
    let updates = s.epochs * order.len().div_ceil(s.batch.max(1));
    let mut moving = MovingRanges {
        momentum: s.range_momentum,
        freeze_at: ((1.0 - s.freeze_fraction.clamp(0.0, 1.0)) * updates as f64).round() as usize,
        done: 0,
    };
    let mut best = KeepBest::default();
    let mut start_valid = None;
    if s.keep_best {
        let int = integer_model_at(model, mel, units, ranges, s.activation_bits, pwl)?;
        let errors =
            ValidationErrors::of(units, &Transcripts::integer(&int, valid)?, valid, s.keep_z);
        start_valid = Some(errors.total());
        best.offer(errors, 0, || (model.clone(), ranges.clone()));
    }
    for epoch in 1..=s.epochs {
        if s.fresh_utterances && epoch > 1 {
            train = featurize(&corpus.train_for_epoch(epoch)?, &front, units)?;
        }
        order.shuffle(&mut rng);
        let lr = cosine_lr(s.lr, 0.0, epoch - 1, s.epochs);
        observer.epoch_start(epoch, order.len().div_ceil(s.batch), order.len());
        let t = Instant::now();
        let train_loss = qat_epoch(
            model,
            mel,
            units,
            ranges,
            &mut moving,
            pwl,
            s.activation_bits,
            &train,
            &order,
            s.batch,
            &mut optimizer,
            lr,
            s.clip,
            s.sets.masks_for_epoch(s.spec_augment, epoch),
            |b, l| observer.update_done(b, (b * s.batch).min(order.len()), l, lr),
        )?;
        crate::train::check_finite(train_loss, epoch, order.len().div_ceil(s.batch))?;
        let int = integer_model_at(model, mel, units, ranges, s.activation_bits, pwl)?;
        let transcripts = Transcripts::integer(&int, valid)?;
        let mut against_kept = None;
        if s.keep_best {
            let errors = ValidationErrors::of(units, &transcripts, valid, s.keep_z);
            against_kept = best.best().map(|(kept, e)| {
                let d = PairedDifference::of(&errors.word_errors(), &kept.word_errors());
                (e, d)
            });
            best.offer(errors, epoch, || (model.clone(), ranges.clone()));
        }
        observer.epoch_end(&QatEpochReport {
            epoch,
            lr,
            seconds: t.elapsed().as_secs_f64(),
            train_loss,
            valid: transcripts,
            against_kept,
        });
    }
    let kept_epoch = match best.unless_last(s.epochs) {
        Some((epoch, (m, r))) => {
            *model = m;
            *ranges = r;
            epoch
        }
        None => s.epochs,
    };
    Ok(AsrQatRun {
        start_valid,
        kept_epoch,
        epochs: s.epochs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asr::calibrate::calibrate;
    use crate::asr::AsrConfig;
    use crate::nn::rng::TrainRng;

    /// Two "words": a rising and a falling ramp over 4 features.
    fn data() -> AsrData {
        let mut features = Vec::new();
        let mut targets = Vec::new();
        for k in 0..8u32 {
            let d = k % 2;
            let f: Vec<f32> = (0..12 * 4)
                .map(|i| {
                    let (t, j) = ((i / 4) as f32, (i % 4) as f32);
                    let v = if d == 0 { j - 1.5 } else { 1.5 - j };
                    v * (1.0 + 0.1 * (t + k as f32).sin())
                })
                .collect();
            features.push(f);
            targets.push(vec![d]);
        }
        AsrData { features, targets }
    }

    /// Validation errors of `hypotheses` against three-digit references
    /// "1 2 3", scored as `keep_best` scores them.
    fn errors(hypotheses: &[Vec<u32>], z: f64) -> ValidationErrors {
        let units = crate::asr::data::fsdd::digit_units();
        let valid = AsrData {
            features: vec![Vec::new(); hypotheses.len()],
            targets: vec![vec![1, 2, 3]; hypotheses.len()],
        };
        let t = Transcripts {
            ctc: hypotheses.to_vec(),
            attention: None,
        };
        ValidationErrors::of(&units, &t, &valid, z)
    }

    #[test]
    fn an_epoch_replaces_the_kept_state_only_beyond_the_noise() {
        let right = vec![1, 2, 3];
        let wrong = vec![1, 2, 4];
        // The kept state: 10 of 100 utterances with one wrong word.
        let kept: Vec<Vec<u32>> = (0..100)
            .map(|i| if i < 10 { wrong.clone() } else { right.clone() })
            .collect();
        // Two fewer errors in total, but six utterances changed.
        let shuffled: Vec<Vec<u32>> = (0..100)
            .map(|i| {
                if (4..12).contains(&i) {
                    wrong.clone()
                } else {
                    right.clone()
                }
            })
            .collect();
        // Four fewer, nothing else changed.
        let fixed: Vec<Vec<u32>> = (0..100)
            .map(|i| if i < 6 { wrong.clone() } else { right.clone() })
            .collect();
        for z in [0.0, 2.0] {
            assert!(errors(&kept, z).beats(None), "anything beats nothing");
            assert!(!errors(&kept, z).beats(Some(&errors(&kept, z))), "a tie");
        }
        assert!(errors(&shuffled, 0.0).beats(Some(&errors(&kept, 0.0))));
        assert!(!errors(&shuffled, 2.0).beats(Some(&errors(&kept, 2.0))));
        assert!(errors(&fixed, 2.0).beats(Some(&errors(&kept, 2.0))));
        // z = 0 breaks a WER tie by CER: "four" for "three" is 4 letters
        // off, "one" for "three" 3.
        let closer: Vec<Vec<u32>> = (0..100)
            .map(|i| if i < 10 { vec![1, 2, 1] } else { right.clone() })
            .collect();
        assert!(errors(&closer, 0.0).beats(Some(&errors(&kept, 0.0))));
        assert!(!errors(&closer, 2.0).beats(Some(&errors(&kept, 2.0))));
    }

    /// The step-by-step recording is the runtime's encoder: same output
    /// (int8, or int16 with 16-bit activations), and values of the shapes
    /// the backward pass reads.
    #[test]
    fn the_recorded_encoder_is_the_runtimes() {
        for (layer_norm, unidirectional, conv_channels, bits) in [
            (true, false, 0, 8),
            (false, true, 0, 8),
            (true, false, 2, 8),
            (true, false, 0, 16),
            (false, true, 2, 16),
        ] {
            let config = AsrConfig {
                features: 4,
                stack: 2,
                layers: 2,
                hidden: 8,
                unidirectional,
                layer_norm,
                decoder: None,
                conv_channels,
                units: 10,
            };
            let mel = MelConfig {
                mels: 4,
                ..MelConfig::default()
            };
            let model = AsrModel::<f32>::new(config, &mut TrainRng::seed(3));
            let data = data();
            let ranges = calibrate(&model, &data.features, &data.targets);
            let units = crate::asr::data::fsdd::digit_units();
            let int =
                integer_model_at(&model, &mel, &units, &ranges, bits, &mut PwlFitter::new(16))
                    .unwrap();
            assert_eq!(int.layers.activation_bits(), bits);
            let grids = encoder_grids(&int, &ranges);
            let isa = Isa::detect();
            for f in &data.features {
                let q = quantize_features(&int, f);
                let run = run_encoder(&int, isa, &grids, &q).unwrap();
                let top: Top = match bits {
                    8 => int.encode::<i8>(isa, &q).unwrap().into(),
                    _ => int.encode::<i16>(isa, &q).unwrap().into(),
                };
                assert_eq!(run.top, top);
                // The reals the backward pass reads are the outputs' values.
                if let (Top::Int16(t), Some(g)) = (&run.top, grids.last()) {
                    assert!(t
                        .iter()
                        .zip(&run.top_real)
                        .all(|(&q, &r)| r == g.value_of(q) as f32));
                }
                let steps = int.steps(f.len() / 4);
                let inputs: Vec<usize> = match &int.layers {
                    EncoderLayers::Int8(l) => l.iter().map(|l| l.input()).collect(),
                    EncoderLayers::Int16(l) => l.iter().map(|l| l.input()).collect(),
                };
                assert_eq!(run.layers.len(), inputs.len());
                for (values, input) in run.layers.iter().zip(inputs) {
                    assert_eq!(values.input.len(), steps * input);
                    for d in std::iter::once(&values.forward).chain(&values.backward) {
                        assert_eq!(d.gates.len(), steps * 32);
                        assert_eq!((d.c.len(), d.h.len()), ((steps + 1) * 8, (steps + 1) * 8));
                        assert!(d.gates.iter().all(|g| (-1.0..=1.0).contains(g)));
                    }
                    assert_eq!(values.backward.is_some(), !unidirectional);
                }
                assert_eq!(run.conv_out.is_empty(), conv_channels == 0);
            }
            // Grids of another shape are an error, not an out-of-bounds index.
            let q = quantize_features(&int, &data.features[0]);
            assert!(run_encoder(&int, isa, &grids[1..], &q).is_err());
        }
    }

    #[test]
    fn qat_lowers_the_integer_models_loss() {
        let config = AsrConfig {
            features: 4,
            stack: 2,
            layers: 1,
            hidden: 8,
            unidirectional: false,
            layer_norm: true,
            decoder: Some(crate::asr::attention::DecoderConfig {
                embedding: 4,
                hidden: 8,
                attention: 6,
                ctc_weight: 0.5,
            }),
            conv_channels: 0,
            units: 10,
        };
        let mel = MelConfig {
            mels: 4,
            ..MelConfig::default()
        };
        let mut model = AsrModel::<f32>::new(config, &mut TrainRng::seed(2));
        let data = data();
        let calibrated = calibrate(&model, &data.features, &data.targets);
        let mut ranges = calibrated.clone();
        let units = crate::asr::data::fsdd::digit_units();
        let mut pwl = PwlFitter::new(16);
        let order: Vec<usize> = (0..data.features.len()).collect();
        let mut opt = Optimizer::default();
        let mut losses = Vec::new();
        // Ranges move for the first 8 epochs (2 updates each), then freeze.
        let mut moving = MovingRanges {
            momentum: 0.8,
            freeze_at: 16,
            done: 0,
        };
        let mut frozen_at = None;
        for epoch in 0..16 {
            let loss = qat_epoch(
                &mut model,
                &mel,
                &units,
                &mut ranges,
                &mut moving,
                &mut pwl,
                8,
                &data,
                &order,
                4,
                &mut opt,
                1e-2,
                5.0,
                None,
                |_, _| {},
            )
            .unwrap();
            losses.push(loss);
            if epoch == 7 {
                frozen_at = Some(ranges.clone());
            }
        }
        let (first, last) = (losses[0], losses[15]);
        assert!(last < 0.5 * first, "integer CTC loss {first} → {last}");
        assert_ne!(ranges, calibrated, "the ranges never moved");
        assert_eq!(Some(ranges), frozen_at, "the ranges moved after the freeze");
    }
}
