//! Transcription with the integer model: greedy or prefix-beam CTC
//! decoding of its int32 scores, and the attention decoder's search
//! ([`beam`]).

pub mod beam;

use irnn_runtime::speech::IntSpeechModel;
use irnn_runtime::Isa;
use rayon::prelude::*;

use crate::asr::export::{integer_logits, quantize_features};
use crate::nn::ctc::prefix_beam_search;
use crate::quant::export::logit_scale;

/// Digits from the integer model's int32 scores: with `beam` ≤ 1 greedy
/// decoding (an integer argmax per step, the runtime's own), else CTC prefix
/// beam search over the scores' log-softmax (`beam` prefixes kept).
pub fn decode(model: &IntSpeechModel, logits: &[i32], beam: usize) -> Vec<u8> {
    let classes = if beam <= 1 {
        model.greedy_decode(logits)
    } else {
        let unit = logit_scale(model.output.logit_scale);
        let scores: Vec<f64> = logits.iter().map(|&l| l as f64 * unit).collect();
        prefix_beam_search(&scores, model.classes(), beam)
    };
    classes.into_iter().map(|k| (k - 1) as u8).collect()
}

/// The transcript (digits) of normalised features by the integer model,
/// decoded as [`decode`] does.
pub fn integer_transcribe(
    model: &IntSpeechModel,
    isa: Isa,
    features: &[f32],
    beam: usize,
) -> Result<Vec<u8>, irnn_runtime::Error> {
    Ok(decode(model, &integer_logits(model, isa, features)?, beam))
}

/// The attention decoder's greedy transcript (digits) of normalised
/// features; `None` for a model without a decoder.
pub fn integer_attention_transcribe(
    model: &IntSpeechModel,
    isa: Isa,
    features: &[f32],
) -> Result<Option<Vec<u8>>, irnn_runtime::Error> {
    let labels = model.attention_greedy(isa, &quantize_features(model, features))?;
    Ok(labels.map(|l| l.into_iter().map(|k| (k - 1) as u8).collect()))
}

/// The attention decoder's transcripts of every utterance (in parallel);
/// `None` for a model without a decoder.
pub fn integer_attention_transcripts(
    model: &IntSpeechModel,
    features: &[Vec<f32>],
) -> Result<Option<Vec<Vec<u8>>>, irnn_runtime::Error> {
    if model.decoder.is_none() {
        return Ok(None);
    }
    let isa = Isa::detect();
    features
        .par_iter()
        .map(|f| Ok(integer_attention_transcribe(model, isa, f)?.unwrap_or_default()))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Transcribes every utterance with the integer model (in parallel, greedy
/// decoding); returns the transcripts in order.
pub fn integer_transcripts(
    model: &IntSpeechModel,
    features: &[Vec<f32>],
) -> Result<Vec<Vec<u8>>, irnn_runtime::Error> {
    let isa = Isa::detect();
    features
        .par_iter()
        .map(|f| integer_transcribe(model, isa, f, 1))
        .collect()
}
