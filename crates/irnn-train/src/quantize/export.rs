//! Export: a float language model and its ranges → the integer model.
//!
//! QAT calls this once per training window (its forward pass runs the
//! result), so it must be cheap: quantizing and packing weights is linear in
//! their size, and PWL tables are refitted only when an input grid moves
//! (grids are snapped to steps of 2^(1/4), and [`PwlFitter`] remembers
//! every table it fitted).

use irnn_runtime::layers::{IntEmbedding, IntOutputLayer, QuantizedAdd};
use irnn_runtime::model::{IntLanguageModel, RecurrentCell, StackedLayer};
use irnn_runtime::{PackedMatrix, QuantizedMultiplier, TokenLevel, Vocabulary};

use super::ranges::{gru_params, lstm_params, QuantRanges};
use crate::convert::{convert_gru, convert_lstm, AffineQuant, ConvertError, Ranges};
use crate::data::{Level, Vocab};
use crate::lm::{LanguageModel, Rnn};
use crate::pwl_fit::PwlFitter;
use crate::quant::quantize_multiplier;

/// Export failures.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A layer could not be converted.
    #[error("converting layer {layer}: {source}")]
    Layer {
        /// Which layer (0 = bottom).
        layer: usize,
        /// Why.
        source: ConvertError,
    },
    /// The embedding, residual or output layer could not be converted.
    #[error("converting the {what}: {source}")]
    Part {
        /// Which part.
        what: &'static str,
        /// Why.
        source: ConvertError,
    },
    /// The front end does not produce the features the model reads.
    #[error("the front end computes {mels} mel features per frame, the model reads {features}")]
    FrontEnd {
        /// Features the front end computes.
        mels: usize,
        /// Features the model reads.
        features: usize,
    },
    /// The ranges do not belong to this model.
    #[error("the quantization ranges describe {ranges} layers, the model has {model}")]
    RangesMismatch {
        /// Layers in the ranges.
        ranges: usize,
        /// Layers in the model.
        model: usize,
    },
}

/// Rounds a range up to the next power of 2^(1/4), so that small moves of a
/// range during QAT do not change the grid (and do not refit its table).
pub fn snap_range(maxabs: f64) -> f64 {
    if maxabs <= 0.0 {
        return maxabs;
    }
    ((maxabs.log2() * 4.0).ceil() / 4.0).exp2()
}

/// `r` with every range snapped ([`snap_range`]).
pub fn snapped(r: &Ranges) -> Ranges {
    let s = |v: &[f64]| v.iter().map(|&m| snap_range(m)).collect();
    Ranges {
        pre: s(&r.pre),
        pre_normed: s(&r.pre_normed),
        recurrent: s(&r.recurrent),
        cell: r.cell,
        cell_in: snap_range(r.cell_in),
    }
}

/// The real value of one logit unit of an exported model.
pub fn logit_scale(m: QuantizedMultiplier) -> f64 {
    m.mantissa as f64 * ((m.shift - 31) as f64).exp2()
}

fn part(what: &'static str) -> impl Fn(ConvertError) -> ExportError {
    move |source| ExportError::Part { what, source }
}

fn quant_multiplier(real: f64) -> Result<QuantizedMultiplier, ConvertError> {
    Ok(quantize_multiplier(real)?)
}

/// The output layer: `classes` rows of weights (row-major) with **one**
/// scale, biases in logit units with the input zero point folded in, int32
/// logits (the paper, appendix A.1).
pub fn convert_output(
    weight: &[f32],
    bias: &[f32],
    classes: usize,
    input: AffineQuant,
) -> Result<IntOutputLayer, ConvertError> {
    let cols = weight.len() / classes.max(1);
    let max = weight.iter().fold(0.0f64, |m, &v| m.max((v as f64).abs()));
    let s_w = if max > 0.0 { max / 127.0 } else { 1.0 };
    let q: Vec<i8> = weight
        .iter()
        .map(|&v| (v as f64 / s_w).round().clamp(-127.0, 127.0) as i8)
        .collect();
    let logit_unit = s_w * input.scale;
    let bias = (0..classes)
        .map(|r| {
            let row_sum: i64 = q[r * cols..(r + 1) * cols].iter().map(|&v| v as i64).sum();
            let b = bias[r] as f64 / logit_unit - (input.zero_point as i64 * row_sum) as f64;
            b.round().clamp(i32::MIN as f64, i32::MAX as f64) as i32
        })
        .collect();
    Ok(IntOutputLayer {
        weights: PackedMatrix::from_row_major(classes, cols, &q)?,
        bias,
        logit_scale: quant_multiplier(logit_unit)?,
    })
}

/// The integer model of `model` under `ranges`, with tables from `pwl`.
pub fn integer_model(
    model: &LanguageModel<f32>,
    vocab: &Vocab,
    ranges: &QuantRanges,
    pwl: &mut PwlFitter,
) -> Result<IntLanguageModel, ExportError> {
    if ranges.layers.len() != model.rnns.len() {
        return Err(ExportError::RangesMismatch {
            ranges: ranges.layers.len(),
            model: model.rnns.len(),
        });
    }
    // Embedding: the first layer's input grid.
    let e = ranges.embedding;
    let mut input = AffineQuant::int8_from_range(e.min, e.max);
    let table: Vec<i8> = model
        .encoder
        .weight
        .value
        .iter()
        .map(|&v| input.quantize(v as f64))
        .collect();
    let embedding = IntEmbedding::new(model.config.vocab, model.config.embedding, table)
        .map_err(|e| part("embedding")(e.into()))?;

    let mut layers = Vec::with_capacity(model.rnns.len());
    for (l, (rnn, r)) in model.rnns.iter().zip(&ranges.layers).enumerate() {
        let h = AffineQuant::int8_from_range(r.h.min, r.h.max);
        let cell_ranges = snapped(&r.cell);
        let layer = |source| ExportError::Layer { layer: l, source };
        let cell = match rnn {
            Rnn::Lstm(c) => RecurrentCell::Lstm(Box::new(
                convert_lstm(&lstm_params(c), &cell_ranges, input, h, pwl).map_err(layer)?,
            )),
            Rnn::Gru(c) => RecurrentCell::Gru(Box::new(
                convert_gru(&gru_params(c), &cell_ranges, input, h, pwl).map_err(layer)?,
            )),
        };
        let residual = if model.config.residual && cell.input() == cell.hidden() {
            let out = AffineQuant::int8_from_range(r.out.min, r.out.max);
            let add = QuantizedAdd {
                multiplier_a: quant_multiplier(h.scale / out.scale).map_err(layer)?,
                multiplier_b: quant_multiplier(input.scale / out.scale).map_err(layer)?,
                zero_point_a: h.zero_point,
                zero_point_b: input.zero_point,
                zero_point_out: out.zero_point,
            };
            input = out;
            Some(add)
        } else {
            input = h;
            None
        };
        layers.push(StackedLayer { cell, residual });
    }

    let output = convert_output(
        &model.decoder.weight.value,
        &model.decoder.bias.value,
        model.decoder.output(),
        input,
    )
    .map_err(part("output layer"))?;
    let int = IntLanguageModel {
        embedding,
        layers,
        output,
        vocabulary: Vocabulary {
            level: match model.config.level {
                Level::Word => TokenLevel::Word,
                Level::Char => TokenLevel::Char,
            },
            tokens: vocab.tokens.clone(),
        },
    };
    int.validate()
        .map_err(|e| part("model (validation)")(e.into()))?;
    Ok(int)
}
