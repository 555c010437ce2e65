//! Quantization-aware training of the acoustic model.
//!
//! The forward pass is the integer model itself: before every update the
//! float weights are exported under the calibrated ranges
//! ([`integer_model`]) and each utterance is run by the runtime, so the CTC
//! loss (and the attention decoder's cross-entropy, teacher-forced) is the
//! loss of the int32 scores the deployed model will produce.
//! The gradient of that loss with respect to the (dequantized) scores is
//! then carried back through the float network evaluated at its own float
//! activations — a straight-through estimate that treats every rounding,
//! saturation and PWL segment as the identity. (The language models' QAT
//! goes further and evaluates the backward pass at the integer activations;
//! for the bidirectional stack with LayerNorm this simpler estimate is the
//! one implemented.)
//!
//! The ranges stay those of the calibration the run starts from, so the
//! PWL tables are fitted once; QAT moves the weights only. Transcripts of
//! the model QAT ends with and of the `.irnn` written from it are the same
//! by construction (same export, same runtime) and tested to be.

use std::time::Instant;

use irnn_runtime::speech::IntSpeechModel;
use irnn_runtime::Isa;
use rand::seq::SliceRandom;

use super::attention::{decoder_inputs, decoder_targets};
use super::calibrate::AsrRanges;
use super::data::{featurize, Corpus, CorpusError, DigitSets};
use super::eval::Transcripts;
use super::export::{integer_model, quantize_features};
use super::model::AsrModel;
use super::train::{
    augmented, minibatch_update, over_minibatches, AsrData, SeededMasks, SpecAugment,
};
use super::units::Units;
use crate::audio::{LogMel, MelConfig};
use crate::nn::ctc::{ctc_loss, log_softmax};
use crate::nn::optim::cosine_lr;
use crate::nn::optim::Optimizer;
use crate::nn::rng::TrainRng;
use crate::quant::export::{logit_scale, ExportError};
use crate::quant::pwl_fit::PwlFitter;
use crate::train::Observer;

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

/// The integer model's loss of one utterance — CTC, and with an attention
/// decoder `λ·CTC + (1 − λ)·cross-entropy` of its teacher-forced scores —
/// with the gradient of the float network (straight-through) accumulated
/// into `model`; `None` if the utterance is too short for its units.
pub fn qat_utterance(
    model: &mut AsrModel<f32>,
    int: &IntSpeechModel,
    features: &[f32],
    targets: &[u32],
) -> Option<f64> {
    let isa = Isa::detect();
    let encoded = int.encode(isa, &quantize_features(int, features)).ok()?;
    let logits = int.ctc_logits(isa, &encoded).ok()?;
    let unit = logit_scale(int.output.logit_scale);
    let scores: Vec<f64> = logits.iter().map(|&l| l as f64 * unit).collect();
    let target: Vec<usize> = targets.iter().map(|&d| d as usize + 1).collect();
    let (ctc, grad) = ctc_loss(&scores, model.classes(), &target)?;
    let (_, cache) = model.forward(features);
    let float_memory = model.encoder_output(&cache).to_vec();
    let (Some(int_decoder), Some(decoder)) = (&int.decoder, &mut model.decoder) else {
        let grad: Vec<f32> = grad.iter().map(|&g| g as f32).collect();
        model.backward(&cache, &grad);
        return Some(ctc);
    };
    let lambda = decoder.config.ctc_weight;
    let units = model.config.units;
    let inputs = decoder_inputs(targets, units);
    let memory = int_decoder.prepare(isa, &encoded).ok()?;
    let forced = int_decoder.run_forced(isa, &memory, &inputs).ok()?;
    let unit = logit_scale(int_decoder.output.logit_scale);
    let forced: Vec<f64> = forced.iter().map(|&l| l as f64 * unit).collect();
    let (ce, d_logits) = cross_entropy(&forced, units + 1, &decoder_targets(targets, units));
    let (_, dc) = decoder.forward(&float_memory, &inputs);
    let d_logits: Vec<f32> = d_logits
        .iter()
        .map(|&g| (g * (1.0 - lambda)) as f32)
        .collect();
    let d_memory = decoder.backward(&dc, &float_memory, &d_logits);
    let grad: Vec<f32> = grad.iter().map(|&g| (g * lambda) as f32).collect();
    model.backward_with_memory(&cache, &grad, Some(&d_memory));
    Some(lambda * ctc + (1.0 - lambda) * ce)
}

/// One QAT pass over `order`: an export per minibatch, then
/// [`qat_utterance`] for each of its utterances, in parallel. Returns the
/// mean integer-model CTC loss.
#[allow(clippy::too_many_arguments)]
pub fn qat_epoch(
    model: &mut AsrModel<f32>,
    mel: &MelConfig,
    units: &Units,
    ranges: &AsrRanges,
    pwl: &mut PwlFitter,
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
        let int = integer_model(model, mel, units, ranges, pwl)?;
        Ok(minibatch_update(
            model,
            chunk,
            optimizer,
            lr,
            clip,
            |m, i| qat_utterance(m, &int, &augmented(data, i, dim, augment), &data.targets[i]),
        ))
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

/// QAT of `model` under the fixed `ranges` for the settings' epochs:
/// `train` holds the first epoch's features (rebuilt from `corpus` each
/// epoch with fresh utterances), `valid` is scored by the integer model
/// after each epoch and reported to `observer`.
#[allow(clippy::too_many_arguments)]
pub fn train_qat(
    model: &mut AsrModel<f32>,
    mel: &MelConfig,
    units: &Units,
    ranges: &AsrRanges,
    pwl: &mut PwlFitter,
    corpus: &Corpus,
    mut train: AsrData,
    valid: &AsrData,
    s: &AsrQatSettings,
    observer: &mut dyn Observer<QatEpochReport>,
) -> Result<(), AsrQatError> {
    let front = LogMel::new(mel.clone());
    let mut optimizer = Optimizer::default();
    let mut order: Vec<usize> = (0..train.features.len()).collect();
    let mut rng = TrainRng::seed(s.sets.seed);
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
            pwl,
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
        let int = integer_model(model, mel, units, ranges, pwl)?;
        let valid = Transcripts::integer(&int, valid)?;
        observer.epoch_end(&QatEpochReport {
            epoch,
            lr,
            seconds: t.elapsed().as_secs_f64(),
            train_loss,
            valid,
        });
    }
    Ok(())
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
        let ranges = calibrate(&model, &data.features, &data.targets);
        let units = crate::asr::data::fsdd::digit_units();
        let mut pwl = PwlFitter::new(16);
        let order: Vec<usize> = (0..data.features.len()).collect();
        let mut opt = Optimizer::default();
        let mut losses = Vec::new();
        for _ in 0..16 {
            let loss = qat_epoch(
                &mut model,
                &mel,
                &units,
                &ranges,
                &mut pwl,
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
        }
        let (first, last) = (losses[0], losses[15]);
        assert!(last < 0.5 * first, "integer CTC loss {first} → {last}");
        // Only the tables of the calibrated grids were ever fitted.
        assert!(pwl.fits() <= 10, "{} fits", pwl.fits());
    }
}
