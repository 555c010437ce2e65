//! The acoustic model on integers: calibration of its activation ranges,
//! export to the runtime's [`IntSpeechModel`], and transcription with it.
//!
//! The same pieces as the language model's ([`crate::lm`]), arranged
//! for a bidirectional stack: both directions of a layer share one int8 h
//! grid (the union of their ranges), so the layer's output is their
//! concatenation with no requantization; each direction keeps its own gate
//! and cell grids. The feature grid is the first layer's input grid; its
//! scale is rounded to the fixed-point multiplier the file stores *before*
//! the first layer is converted, so a model read back from a file quantizes
//! features exactly as the in-memory one does.

use irnn_runtime::layers::{IntBiLstm, IntEmbedding, IntMelConv};
use irnn_runtime::speech::{FrontEnd, IntAttentionDecoder, IntSpeechModel};
use irnn_runtime::Isa;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::attention::{
    decoder_inputs, AttentionDecoder, DECODER_CLASSES, DECODER_VOCAB, EOS, SOS,
};
use super::model::{stack_frames, AsrModel, DIGIT_CLASSES};
use crate::audio::MelConfig;
use crate::nn::conv::MelConv;
use crate::nn::ctc::{align, edit_distance, prefix_beam_search, EditOp};
use crate::quant::cells::lstm_params;
use crate::quant::cells::{
    convert_attention, convert_lstm, quantize_rows, AffineQuant, ConvertError, Ranges,
};
use crate::quant::export::{convert_output, logit_scale, ExportError};
use crate::quant::pwl_fit::PwlFitter;
use crate::quant::pwl_fit::Q15;
use crate::quant::quantize_multiplier;
use crate::quant::ranges::{snap_range, snapped, MinMax};
use crate::quant::reference::AttentionParams;

/// Ranges of one bidirectional layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BiLstmRanges {
    /// Gate and cell ranges of the left-to-right cell.
    pub forward: Ranges,
    /// Gate and cell ranges of the right-to-left cell.
    pub backward: Ranges,
    /// h of both directions (one shared grid).
    pub h: MinMax,
}

/// Ranges of the attention decoder (teacher-forced on the calibration
/// transcripts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecoderRanges {
    /// The label embedding table.
    pub embedding: MinMax,
    /// Gate and cell ranges of the decoder LSTM.
    pub cell: Ranges,
    /// The decoder's h.
    pub h: MinMax,
    /// max |·| of the attention's keys, projected queries and their sums.
    pub attention: f64,
}

/// Ranges of a whole acoustic model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AsrRanges {
    /// The normalised features.
    pub input: MinMax,
    /// Per bidirectional layer, bottom first.
    pub layers: Vec<BiLstmRanges>,
    /// The attention decoder's, if the model has one.
    #[serde(default)]
    pub decoder: Option<DecoderRanges>,
    /// The convolution's outputs, if the model has one.
    #[serde(default)]
    pub conv: Option<MinMax>,
}

impl AsrRanges {
    fn empty(model: &AsrModel<f32>) -> Self {
        Self {
            input: MinMax::default(),
            layers: (0..model.layers.len())
                .map(|_| BiLstmRanges {
                    forward: Ranges::new(4),
                    backward: Ranges::new(4),
                    h: MinMax::default(),
                })
                .collect(),
            decoder: model.decoder.as_ref().map(|d| DecoderRanges {
                embedding: MinMax::of(d.embedding.weight.value.iter().map(|&v| v as f64)),
                cell: Ranges::new(4),
                h: MinMax::default(),
                attention: 0.0,
            }),
            conv: model.conv.as_ref().map(|_| MinMax::default()),
        }
    }

    fn widen(&mut self, other: &AsrRanges) {
        self.input.widen(other.input);
        if let (Some(a), Some(b)) = (&mut self.conv, other.conv) {
            a.widen(b);
        }
        for (a, b) in self.layers.iter_mut().zip(&other.layers) {
            widen_cell(&mut a.forward, &b.forward);
            widen_cell(&mut a.backward, &b.backward);
            a.h.widen(b.h);
        }
        if let (Some(a), Some(b)) = (&mut self.decoder, &other.decoder) {
            widen_cell(&mut a.cell, &b.cell);
            a.h.widen(b.h);
            a.attention = a.attention.max(b.attention);
        }
    }
}

fn widen_cell(a: &mut Ranges, b: &Ranges) {
    let widen = |x: &mut [f64], y: &[f64]| x.iter_mut().zip(y).for_each(|(p, &q)| *p = p.max(q));
    widen(&mut a.pre, &b.pre);
    widen(&mut a.pre_normed, &b.pre_normed);
    a.cell = a.cell.max(b.cell);
    a.cell_in = a.cell_in.max(b.cell_in);
}

/// Post-training calibration: the f64 reference of `model` over the
/// utterances' features (in parallel; the decoder, if any, teacher-forced
/// on their `digits`); the largest ranges seen.
pub fn calibrate(model: &AsrModel<f32>, features: &[Vec<f32>], digits: &[Vec<u8>]) -> AsrRanges {
    features
        .par_iter()
        .enumerate()
        .map(|(i, f)| calibrate_utterance(model, f, digits.get(i).map_or(&[][..], |d| d)))
        .reduce(
            || AsrRanges::empty(model),
            |mut a, b| {
                a.widen(&b);
                a
            },
        )
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// The f64 reference of the decoder's attention.
fn attention_params(d: &AttentionDecoder<f32>) -> AttentionParams {
    let a = &d.attention;
    AttentionParams::Additive {
        attn: a.attn(),
        w_key: f64s(&a.key.weight.value),
        b_key: f64s(&a.key.bias.value),
        w_query: f64s(&a.query.value),
        v: f64s(&a.v.value),
    }
}

fn calibrate_utterance(model: &AsrModel<f32>, features: &[f32], digits: &[u8]) -> AsrRanges {
    let c = model.config;
    let mut ranges = AsrRanges::empty(model);
    ranges.input = MinMax::of(features.iter().map(|&v| v as f64));
    let conv_out;
    let frames_in = match &model.conv {
        Some(conv) => {
            conv_out = conv.forward(features);
            ranges.conv = Some(MinMax::of(conv_out.iter().map(|&v| v as f64)));
            &conv_out
        }
        None => features,
    };
    let mut x: Vec<f64> = stack_frames(frames_in, c.frame_dim(), c.stack)
        .iter()
        .map(|&v| v as f64)
        .collect();
    let steps = x.len() / (c.frame_dim() * c.stack);
    let n = c.hidden;
    for (layer, r) in model.layers.iter().zip(&mut ranges.layers) {
        let width = x.len() / steps;
        let mut y = vec![0.0; steps * 2 * n];
        for (dir, (cell, cell_ranges)) in [
            (&layer.forward, &mut r.forward),
            (&layer.backward, &mut r.backward),
        ]
        .into_iter()
        .enumerate()
        {
            let p = lstm_params(cell);
            let (mut h, mut cs) = (vec![0.0; n], vec![0.0; n]);
            for k in 0..steps {
                let t = if dir == 0 { k } else { steps - 1 - k };
                let trace = p.step(&x[t * width..(t + 1) * width], &mut h, &mut cs);
                cell_ranges.observe(&trace, &cs);
                r.h.widen(MinMax::of(h.iter().copied()));
                y[t * 2 * n + dir * n..t * 2 * n + (dir + 1) * n].copy_from_slice(&h);
            }
        }
        x = y;
    }
    if let (Some(d), Some(r)) = (&model.decoder, &mut ranges.decoder) {
        let p = lstm_params(&d.cell);
        let att = attention_params(d);
        let e = d.config.embedding;
        let (mut h, mut cs) = (vec![0.0; p.hidden], vec![0.0; p.hidden]);
        let maxabs = |v: &[f64]| v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        for t in decoder_inputs(digits) {
            let row = f64s(&d.embedding.weight.value[t as usize * e..(t as usize + 1) * e]);
            let trace = p.step(&row, &mut h, &mut cs);
            r.cell.observe(&trace, &cs);
            r.h.widen(MinMax::of(h.iter().copied()));
            let a = att.attend(&x, 2 * n, &h);
            r.attention = r
                .attention
                .max(maxabs(&a.pre))
                .max(maxabs(&a.keys))
                .max(maxabs(&a.query));
        }
    }
    ranges
}

/// Class names of the digit models: the blank, then "0" … "9".
pub fn digit_labels() -> Vec<String> {
    std::iter::once("<blank>".to_string())
        .chain((0..10).map(|d| d.to_string()))
        .collect()
}

/// The runtime's record of a front end (Hz rounded to integers).
pub fn front_end(mel: &MelConfig) -> FrontEnd {
    FrontEnd {
        sample_rate: mel.sample_rate,
        frame: mel.frame as u32,
        hop: mel.hop as u32,
        fft: mel.fft as u32,
        mels: mel.mels as u32,
        low_hz: mel.low_hz.round() as u32,
        high_hz: mel.high_hz.round() as u32,
        range_db: mel.range_db,
    }
}

/// The front end a model file describes.
pub fn mel_config(f: &FrontEnd) -> MelConfig {
    MelConfig {
        sample_rate: f.sample_rate,
        frame: f.frame as usize,
        hop: f.hop as usize,
        fft: f.fft as usize,
        mels: f.mels as usize,
        low_hz: f.low_hz as f32,
        high_hz: f.high_hz as f32,
        range_db: f.range_db,
    }
}

/// The integer model of `model` under `ranges`, with tables from `pwl`.
pub fn integer_model(
    model: &AsrModel<f32>,
    mel: &MelConfig,
    ranges: &AsrRanges,
    pwl: &mut PwlFitter,
) -> Result<IntSpeechModel, ExportError> {
    if ranges.layers.len() != model.layers.len() {
        return Err(ExportError::RangesMismatch {
            ranges: ranges.layers.len(),
            model: model.layers.len(),
        });
    }
    if mel.mels != model.config.features {
        return Err(ExportError::FrontEnd {
            mels: mel.mels,
            features: model.config.features,
        });
    }
    let part = |what| move |source| ExportError::Part { what, source };
    let raw = AffineQuant::int8_from_range(ranges.input.min, ranges.input.max);
    let input_scale = quantize_multiplier(raw.scale)
        .map_err(ConvertError::from)
        .map_err(part("feature grid"))?;
    let features = AffineQuant {
        scale: logit_scale(input_scale),
        zero_point: raw.zero_point,
    };
    let (conv, mut input) = match (&model.conv, ranges.conv) {
        (Some(c), Some(r)) => {
            let out = AffineQuant::int8_from_range(0.0, r.max);
            let conv = integer_conv(c, features, out).map_err(part("convolution"))?;
            (Some(conv), out)
        }
        (None, _) => (None, features),
        (Some(_), None) => {
            return Err(ExportError::RangesMismatch {
                ranges: ranges.layers.len(),
                model: model.layers.len(),
            })
        }
    };
    let mut layers = Vec::with_capacity(model.layers.len());
    for (l, (layer, r)) in model.layers.iter().zip(&ranges.layers).enumerate() {
        let err = |source| ExportError::Layer { layer: l, source };
        let h = AffineQuant::int8_from_range(r.h.min, r.h.max);
        let mut direction = |cell, ranges| {
            convert_lstm(&lstm_params(cell), &snapped(ranges), input, h, pwl).map_err(err)
        };
        layers.push(IntBiLstm {
            forward: direction(&layer.forward, &r.forward)?,
            backward: direction(&layer.backward, &r.backward)?,
        });
        input = h;
    }
    let output = convert_output(
        &model.output.weight.value,
        &model.output.bias.value,
        DIGIT_CLASSES,
        input,
    )
    .map_err(part("output layer"))?;
    let top_h = ranges.layers.last().map(|r| r.h);
    let decoder = match (&model.decoder, &ranges.decoder) {
        (Some(d), Some(r)) => Some(
            integer_decoder(d, r, input, top_h.unwrap_or(ranges.input), pwl)
                .map_err(part("attention decoder"))?,
        ),
        (None, _) => None,
        (Some(_), None) => {
            return Err(ExportError::RangesMismatch {
                ranges: ranges.layers.len(),
                model: model.layers.len(),
            })
        }
    };
    let int = IntSpeechModel {
        conv,
        decoder,
        front_end: front_end(mel),
        stack: model.config.stack,
        input_scale,
        input_zero_point: raw.zero_point,
        layers,
        output,
        labels: digit_labels(),
    };
    int.validate()
        .map_err(|e| part("model (validation)")(e.into()))?;
    Ok(int)
}

/// The integer convolution: weights symmetric per channel, biases in
/// accumulator units, ReLU onto the grid `out` (whose zero point is 0.0).
fn integer_conv(
    c: &MelConv<f32>,
    x: AffineQuant,
    out: AffineQuant,
) -> Result<IntMelConv, ConvertError> {
    let w: Vec<f64> = c.weight.value.iter().map(|&v| v as f64).collect();
    let (weights, scales) = quantize_rows(&w, c.channels(), 9);
    let bias = c
        .bias
        .value
        .iter()
        .zip(&scales)
        .map(|(&b, &s)| {
            (b as f64 / (s * x.scale))
                .round()
                .clamp(i32::MIN as f64, i32::MAX as f64) as i32
        })
        .collect();
    let multipliers = scales
        .iter()
        .map(|&s| quantize_multiplier(s * x.scale / out.scale))
        .collect::<Result<Vec<_>, _>>()?;
    let conv = IntMelConv {
        mels: c.mels,
        weights,
        bias,
        multipliers,
        input_zero_point: x.zero_point,
        output_zero_point: out.zero_point,
    };
    conv.validate()?;
    Ok(conv)
}

/// The integer decoder over a memory on the grid `memory` (whose float
/// range is `memory_range`). The decoder's h grid covers the memory's
/// range too: the context (a convex combination of memory rows) is written
/// on it, so `[h; context]` is one vector on one grid.
fn integer_decoder(
    d: &AttentionDecoder<f32>,
    r: &DecoderRanges,
    memory: AffineQuant,
    memory_range: MinMax,
    pwl: &mut PwlFitter,
) -> Result<IntAttentionDecoder, ConvertError> {
    let e = AffineQuant::int8_from_range(r.embedding.min, r.embedding.max);
    let table: Vec<i8> = d
        .embedding
        .weight
        .value
        .iter()
        .map(|&v| e.quantize(v as f64))
        .collect();
    let embedding = IntEmbedding::new(DECODER_VOCAB, d.config.embedding, table)?;
    let mut joint = r.h;
    joint.widen(memory_range);
    let h = AffineQuant::int8_from_range(joint.min, joint.max);
    let cell = convert_lstm(&lstm_params(&d.cell), &snapped(&r.cell), e, h, pwl)?;
    let mut attention = convert_attention(
        &attention_params(d),
        d.attention.memory_dim(),
        d.config.hidden,
        memory,
        h,
        snap_range(r.attention),
        pwl,
    )?;
    attention.context_multiplier = quantize_multiplier(Q15 * memory.scale / h.scale)?;
    attention.context_zero_point = h.zero_point;
    let output = convert_output(
        &d.output.weight.value,
        &d.output.bias.value,
        DECODER_CLASSES,
        h,
    )?;
    Ok(IntAttentionDecoder {
        embedding,
        cell,
        attention,
        output,
        start: SOS,
        end: EOS,
    })
}

/// Normalised features (`frames × mels`) → the model's int8 feature grid.
pub fn quantize_features(model: &IntSpeechModel, features: &[f32]) -> Vec<i8> {
    let q = AffineQuant {
        scale: logit_scale(model.input_scale),
        zero_point: model.input_zero_point,
    };
    features.iter().map(|&v| q.quantize(v as f64)).collect()
}

/// The integer model's int32 class scores (`steps × classes`) for
/// normalised features.
pub fn integer_logits(
    model: &IntSpeechModel,
    isa: Isa,
    features: &[f32],
) -> Result<Vec<i32>, irnn_runtime::Error> {
    model.logits(isa, &quantize_features(model, features))
}

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

/// Digit and character error counts of a set of transcripts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    /// Edit distance between digit sequences, summed.
    pub word_errors: usize,
    /// Reference digits.
    pub words: usize,
    /// Edit distance between the spelled-out transcripts ("one two"),
    /// summed.
    pub char_errors: usize,
    /// Reference characters.
    pub chars: usize,
}

const DIGIT_WORDS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

impl std::ops::Add for ErrorCounts {
    type Output = Self;

    fn add(self, o: Self) -> Self {
        Self {
            word_errors: self.word_errors + o.word_errors,
            words: self.words + o.words,
            char_errors: self.char_errors + o.char_errors,
            chars: self.chars + o.chars,
        }
    }
}

/// The digits spelled out, space-separated.
pub fn spelled(digits: &[u8]) -> Vec<char> {
    let words: Vec<&str> = digits.iter().map(|&d| DIGIT_WORDS[d as usize]).collect();
    words.join(" ").chars().collect()
}

impl ErrorCounts {
    /// Counts for one transcript against its reference.
    pub fn of(hypothesis: &[u8], reference: &[u8]) -> Self {
        let (h, r) = (spelled(hypothesis), spelled(reference));
        Self {
            word_errors: edit_distance(hypothesis, reference),
            words: reference.len(),
            char_errors: edit_distance(&h, &r),
            chars: r.len(),
        }
    }

    /// Word error rate in percent.
    pub fn wer(&self) -> f64 {
        100.0 * self.word_errors as f64 / self.words.max(1) as f64
    }

    /// Character error rate in percent.
    pub fn cer(&self) -> f64 {
        100.0 * self.char_errors as f64 / self.chars.max(1) as f64
    }
}

/// Where digit errors come from: substitutions (by reference and
/// recognised digit), deletions and insertions (by digit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBreakdown {
    /// `substituted[r][h]`: digit `r` recognised as `h`.
    pub substituted: [[usize; 10]; 10],
    /// Digits missed.
    pub deleted: [usize; 10],
    /// Digits recognised where none was said.
    pub inserted: [usize; 10],
}

impl ErrorBreakdown {
    /// The breakdown of `hypotheses` against `references` (minimum-cost
    /// alignments).
    pub fn of(hypotheses: &[Vec<u8>], references: &[Vec<u8>]) -> Self {
        let mut b = Self::default();
        for (h, r) in hypotheses.iter().zip(references) {
            for op in align(h, r) {
                match op {
                    EditOp::Match(_) => {}
                    EditOp::Substitution {
                        reference,
                        hypothesis,
                    } => b.substituted[reference as usize][hypothesis as usize] += 1,
                    EditOp::Deletion(d) => b.deleted[d as usize] += 1,
                    EditOp::Insertion(d) => b.inserted[d as usize] += 1,
                }
            }
        }
        b
    }

    /// Total substitutions, deletions and insertions.
    pub fn totals(&self) -> (usize, usize, usize) {
        let s = self.substituted.iter().flatten().sum();
        (s, self.deleted.iter().sum(), self.inserted.iter().sum())
    }

    /// The `n` most frequent confusions, most frequent first:
    /// `(said, recognised, count)`.
    pub fn top_confusions(&self, n: usize) -> Vec<(u8, u8, usize)> {
        let mut all: Vec<(u8, u8, usize)> = (0..10u8)
            .flat_map(|r| (0..10u8).map(move |h| (r, h)))
            .map(|(r, h)| (r, h, self.substituted[r as usize][h as usize]))
            .filter(|c| c.2 > 0)
            .collect();
        all.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        all.truncate(n);
        all
    }
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

/// Error counts of `hypotheses` against `references`.
pub fn score(hypotheses: &[Vec<u8>], references: &[Vec<u8>]) -> ErrorCounts {
    hypotheses
        .iter()
        .zip(references)
        .map(|(h, r)| ErrorCounts::of(h, r))
        .fold(ErrorCounts::default(), |a, b| a + b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asr::AsrConfig;
    use crate::nn::rng::TrainRng;

    fn features(seed: u64, frames: usize, dim: usize) -> Vec<f32> {
        let mut s = seed;
        (0..frames * dim)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
            })
            .collect()
    }

    /// Integer scores (times their unit) within 5 % of the float scores'
    /// largest magnitude (+ 0.02).
    fn close(float: &[f32], ints: &[i32], unit: f64, what: &str) {
        assert_eq!(float.len(), ints.len(), "{what}");
        let spread = float.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
        let worst = float
            .iter()
            .zip(ints)
            .map(|(&a, &b)| (a as f64 - b as f64 * unit).abs())
            .fold(0.0, f64::max);
        assert!(
            worst < 0.05 * spread + 0.02,
            "{what}: worst {worst} of {spread}"
        );
    }

    #[test]
    fn integer_scores_follow_the_float_model() {
        for layer_norm in [false, true] {
            let config = AsrConfig {
                features: 8,
                stack: 2,
                layers: 2,
                hidden: 16,
                layer_norm,
                // With LayerNorm, also an attention decoder.
                decoder: layer_norm.then_some(crate::asr::attention::DecoderConfig {
                    embedding: 8,
                    hidden: 16,
                    attention: 12,
                    ctc_weight: 0.5,
                }),
                conv_channels: if layer_norm { 3 } else { 0 },
            };
            let model = AsrModel::<f32>::new(config, &mut TrainRng::seed(3));
            let data: Vec<Vec<f32>> = (0..6).map(|s| features(s, 21, 8)).collect();
            let digits: Vec<Vec<u8>> = (0..6u8).map(|s| vec![s, (s * 3) % 10, 7]).collect();
            let ranges = calibrate(&model, &data, &digits);
            let mel = MelConfig {
                mels: 8,
                ..MelConfig::default()
            };
            let int = integer_model(&model, &mel, &ranges, &mut PwlFitter::new(32)).unwrap();
            assert!(integer_model(
                &model,
                &MelConfig::default(),
                &ranges,
                &mut PwlFitter::new(32)
            )
            .unwrap_err()
            .to_string()
            .contains("40 mel features"));
            let unit = logit_scale(int.output.logit_scale);
            for f in &data {
                let (float, _) = model.forward(f);
                let ints = integer_logits(&int, Isa::detect(), f).unwrap();
                close(&float, &ints, unit, "CTC scores");
                // Every ISA gives the same scores.
                assert_eq!(integer_logits(&int, Isa::Scalar, f).unwrap(), ints);
            }
            // The decoder, teacher-forced, against its float self.
            if let (Some(fd), Some(id)) = (&model.decoder, &int.decoder) {
                let unit = logit_scale(id.output.logit_scale);
                for (f, d) in data.iter().zip(&digits) {
                    let (_, cache) = model.forward(f);
                    let inputs = decoder_inputs(d);
                    let (float, _) = fd.forward(model.encoder_output(&cache), &inputs);
                    let isa = Isa::detect();
                    let encoded = int.encode(isa, &quantize_features(&int, f)).unwrap();
                    let memory = id.prepare(isa, &encoded).unwrap();
                    let ints = id.run_forced(isa, &memory, &inputs).unwrap();
                    close(&float, &ints, unit, "decoder scores");
                }
            }
        }
    }

    #[test]
    fn error_rates_count_digits_and_letters() {
        let e = ErrorCounts::of(&[1, 2], &[1, 3]);
        assert_eq!((e.word_errors, e.words), (1, 2));
        // "one two" vs "one three": "two" → "three" is 4 edits.
        assert_eq!(spelled(&[1, 3]).iter().collect::<String>(), "one three");
        assert_eq!((e.char_errors, e.chars), (4, 9));
        let b = ErrorBreakdown::of(
            &[vec![1, 2], vec![], vec![5]],
            &[vec![1, 3], vec![0], vec![]],
        );
        assert_eq!(b.totals(), (1, 1, 1));
        assert_eq!(b.substituted[3][2], 1);
        assert_eq!((b.deleted[0], b.inserted[5]), (1, 1));
        assert_eq!(b.top_confusions(3), [(3, 2, 1)]);
        let total = score(&[vec![1, 2], vec![]], &[vec![1, 3], vec![0]]);
        assert_eq!((total.word_errors, total.words), (2, 3));
        assert!((total.wer() - 200.0 / 3.0).abs() < 1e-9);
    }
}
