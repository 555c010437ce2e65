//! Transcription with the integer model: greedy or prefix-beam CTC
//! decoding of its int32 scores, and the attention decoder's search
//! ([`beam`]).

pub mod beam;
pub mod stream;

use irnn_runtime::speech::IntSpeechModel;
use irnn_runtime::Isa;
use rayon::prelude::*;

use crate::asr::export::{integer_logits, mel_config, quantize_features};
use crate::audio::LogMel;
use crate::nn::ctc::prefix_beam_search;
use crate::quant::export::logit_scale;

/// Unit ids from the integer model's int32 scores: with `beam` ≤ 1 greedy
/// decoding (an integer argmax per step, the runtime's own), else CTC prefix
/// beam search over the scores' log-softmax (`beam` prefixes kept).
pub fn decode(model: &IntSpeechModel, logits: &[i32], beam: usize) -> Vec<u32> {
    let classes = if beam <= 1 {
        model.greedy_decode(logits)
    } else {
        let unit = logit_scale(model.output.logit_scale);
        let scores: Vec<f64> = logits.iter().map(|&l| l as f64 * unit).collect();
        prefix_beam_search(&scores, model.classes(), beam)
    };
    classes.into_iter().map(|k| (k - 1) as u32).collect()
}

/// The transcript (unit ids) of normalised features by the integer model,
/// decoded as [`decode`] does.
pub fn integer_transcribe(
    model: &IntSpeechModel,
    isa: Isa,
    features: &[f32],
    beam: usize,
) -> Result<Vec<u32>, irnn_runtime::Error> {
    Ok(decode(model, &integer_logits(model, isa, features)?, beam))
}

/// The attention decoder's greedy transcript (unit ids) of normalised
/// features; `None` for a model without a decoder.
pub fn integer_attention_transcribe(
    model: &IntSpeechModel,
    isa: Isa,
    features: &[f32],
) -> Result<Option<Vec<u32>>, irnn_runtime::Error> {
    let labels = model.attention_greedy(isa, &quantize_features(model, features))?;
    Ok(labels.map(|l| l.into_iter().map(|k| (k - 1) as u32).collect()))
}

/// The attention decoder's transcript (unit ids) of normalised features as
/// `config` asks (greedy: the runtime's own loop); `None` for a model
/// without a decoder.
pub fn attention_transcribe(
    model: &IntSpeechModel,
    isa: Isa,
    features: &[f32],
    config: beam::BeamConfig,
) -> Result<Option<Vec<u32>>, irnn_runtime::Error> {
    if config.beam <= 1 && config.ctc_weight == 0.0 {
        return integer_attention_transcribe(model, isa, features);
    }
    Ok(beam::attention_beam_search(model, isa, features, config)?.map(|(labels, _)| labels))
}

/// The attention decoder's transcripts of every utterance (in parallel);
/// `None` for a model without a decoder.
pub fn integer_attention_transcripts(
    model: &IntSpeechModel,
    features: &[Vec<f32>],
) -> Result<Option<Vec<Vec<u32>>>, irnn_runtime::Error> {
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
) -> Result<Vec<Vec<u32>>, irnn_runtime::Error> {
    let isa = Isa::detect();
    features
        .par_iter()
        .map(|f| integer_transcribe(model, isa, f, 1))
        .collect()
}

/// How a transcript is searched for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decoding {
    /// CTC: greedy with a beam of 1, else prefix beam search over this many
    /// prefixes.
    Ctc {
        /// Prefixes kept (1: greedy).
        beam: usize,
    },
    /// The attention decoder: greedy with a beam of 1 and no CTC weight,
    /// else beam search, jointly with the CTC head when its weight is > 0.
    Attention(beam::BeamConfig),
}

/// Samples in, text out: the one path from audio to a transcript that the
/// CLI, the C API and the Python module share, so that they cannot drift.
/// The front end (log-mel features, per-utterance normalisation) is the one
/// the model was trained with and runs in float; from the int8 features on,
/// everything is the integer runtime.
pub struct Transcriber<'m> {
    model: &'m IntSpeechModel,
    front: LogMel,
    isa: Isa,
}

/// Why samples could not be transcribed.
#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    /// The audio could not be brought to the model's rate.
    #[error(transparent)]
    Resample(#[from] crate::audio::ResampleError),
    /// No samples at all.
    #[error("the audio holds no samples")]
    Empty,
    /// The attention decoder was asked of a model without one.
    #[error("the model has no attention decoder")]
    NoDecoder,
    /// The runtime refused.
    #[error(transparent)]
    Runtime(#[from] irnn_runtime::Error),
    /// A file could not be read.
    #[error(transparent)]
    Audio(#[from] crate::audio::AudioError),
    /// Streaming was asked of a front end that needs the whole utterance.
    #[error("the model's front end needs the whole utterance (per-utterance normalisation or range); it cannot stream")]
    NotStreamable,
}

impl<'m> Transcriber<'m> {
    /// A transcriber for `model` (validated, as every reader of the model
    /// format does), on the kernels `isa`.
    pub fn new(model: &'m IntSpeechModel, isa: Isa) -> Self {
        Transcriber {
            model,
            front: LogMel::new(mel_config(&model.front_end)),
            isa,
        }
    }

    /// Normalised features of mono samples in `[−1, 1)` at the model's rate.
    pub fn features(&self, samples: &[f32]) -> Vec<f32> {
        self.front.features(samples)
    }

    /// The class labels (without blank) of mono samples at `rate` Hz
    /// (resampled to the model's rate when it is another).
    pub fn labels(
        &self,
        samples: &[f32],
        rate: u32,
        decoding: Decoding,
    ) -> Result<Vec<usize>, TranscribeError> {
        let samples = &crate::audio::resample(samples, rate, self.model.front_end.sample_rate)?;
        if samples.is_empty() {
            return Err(TranscribeError::Empty);
        }
        let f = self.features(samples);
        let units = match decoding {
            Decoding::Ctc { beam } => integer_transcribe(self.model, self.isa, &f, beam)?,
            Decoding::Attention(c) => attention_transcribe(self.model, self.isa, &f, c)?
                .ok_or(TranscribeError::NoDecoder)?,
        };
        Ok(units.into_iter().map(|d| d as usize + 1).collect())
    }

    /// The transcript of mono samples at `rate` Hz: labels joined by the
    /// model's separator.
    pub fn text(
        &self,
        samples: &[f32],
        rate: u32,
        decoding: Decoding,
    ) -> Result<String, TranscribeError> {
        Ok(self
            .model
            .transcript(&self.labels(samples, rate, decoding)?))
    }

    /// The transcript of the WAV file at `path`, read and transcribed in
    /// segments of at most `max_seconds` (cut in pauses,
    /// [`crate::audio::segment`]): memory stays at about one segment
    /// however long the file. Segments' transcripts are joined by a space;
    /// a file shorter than a segment is transcribed whole, as
    /// [`text`](Self::text) would.
    pub fn file_text(
        &self,
        path: &std::path::Path,
        max_seconds: f64,
        decoding: Decoding,
    ) -> Result<String, TranscribeError> {
        let rate = self.model.front_end.sample_rate;
        let mut segments = crate::audio::segment::Segments::open(path, rate, max_seconds)?;
        let mut parts: Vec<String> = Vec::new();
        while let Some(samples) = segments.next_segment(path)? {
            let text = self.text(&samples, rate, decoding)?;
            if !text.is_empty() {
                parts.push(text);
            }
        }
        Ok(parts.join(" "))
    }
}
