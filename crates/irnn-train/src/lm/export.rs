//! Export: a float language model and its ranges → the integer model.
//!
//! QAT calls this once per training window (its forward pass runs the
//! result), so it must be cheap: quantizing and packing weights is linear in
//! their size, and PWL tables are refitted only when an input grid moves
//! (grids are snapped to steps of 2^(1/4), and [`PwlFitter`] remembers
//! every table it fitted).

use irnn_runtime::kernels::WeightBits;
use irnn_runtime::layers::{IntEmbedding, QuantizedAdd};
use irnn_runtime::model::{IntLanguageModel, RecurrentCell, StackedLayer};
use irnn_runtime::{TokenLevel, Vocabulary};

use super::calibrate::QuantRanges;
use crate::lm::data::{Level, Vocab};
use crate::lm::{LanguageModel, Rnn};
use crate::quant::cells::{
    convert_gru_with_steps, convert_lstm_with_steps, AffineQuant, CellSteps, ConvertError,
};
use crate::quant::cells::{gru_params, lstm_params};
use crate::quant::export::{convert_output_bits, part, quant_multiplier, ExportError};
use crate::quant::pwl_fit::PwlFitter;
use crate::quant::ranges::snapped;

/// The width of each weight table of a language model. Most runs give one
/// width to all (`From<WeightBits>`); at 4 bits the issue of which tables
/// may stay at 8 is the user's: for a character model the output layer and
/// the embedding are a few percent of the weights but hold much of 4 bits'
/// loss, while for a word model they are most of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableBits {
    /// The recurrent layers' matrices.
    pub recurrent: WeightBits,
    /// The output layer's matrix.
    pub output: WeightBits,
    /// The embedding table.
    pub embedding: WeightBits,
}

impl TableBits {
    /// Every table at `bits`.
    pub const fn uniform(bits: WeightBits) -> Self {
        Self {
            recurrent: bits,
            output: bits,
            embedding: bits,
        }
    }
}

impl From<WeightBits> for TableBits {
    fn from(bits: WeightBits) -> Self {
        Self::uniform(bits)
    }
}

impl std::fmt::Display for TableBits {
    /// "4-bit weight tables", or "4-bit recurrent, 8-bit output, 4-bit
    /// embedding tables" when they differ.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if *self == Self::uniform(self.recurrent) {
            write!(f, "{}-bit weight tables", self.recurrent.bits())
        } else {
            write!(
                f,
                "{}-bit recurrent, {}-bit output, {}-bit embedding tables",
                self.recurrent.bits(),
                self.output.bits(),
                self.embedding.bits()
            )
        }
    }
}

/// 4-bit embedding rows on the int8 grid `x`: row `t`'s values are
/// `z + k_t · q` with `q ∈ [−7, 7]` and an integer factor `k_t ≥ 1` (kept
/// within int8), searched like the weights' scales.
fn four_bit_rows(table: &[f32], dim: usize, x: AffineQuant) -> (Vec<i8>, Vec<i32>) {
    let z = x.zero_point;
    // Largest k with z ± 7k inside int8.
    let room = ((127 - z).min(z + 128) / 7).max(1);
    let mut codes = Vec::with_capacity(table.len());
    let mut factors = Vec::with_capacity(table.len() / dim.max(1));
    for row in table.chunks(dim.max(1)) {
        // On the grid, about the zero point: the row's value `g` becomes
        // `z + k·q`. The factor with the least rounding error (sum of
        // squares) among those up to the one covering the largest value.
        let grid: Vec<f64> = row.iter().map(|&v| v as f64 / x.scale).collect();
        let max = grid.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let code = |g: f64, k: i32| {
            let lim = ((127 - z) / k).min((z + 128) / k).min(7);
            (g / k as f64).round().clamp(-lim as f64, lim as f64) as i8
        };
        let error = |k: i32| -> f64 {
            grid.iter()
                .map(|&g| (g - (k * code(g, k) as i32) as f64).powi(2))
                .sum()
        };
        let cover = ((max / 7.0).ceil() as i32).clamp(1, room);
        let k = (1..=cover)
            .map(|k| (error(k), k))
            .fold(
                (f64::INFINITY, cover),
                |best, c| if c.0 < best.0 { c } else { best },
            )
            .1;
        codes.extend(grid.iter().map(|&g| code(g, k)));
        factors.push(k);
    }
    (codes, factors)
}

/// The integer model of `model` under `ranges`, with its weight tables at
/// `bits` — the recurrent matrices, the output layer (row factors at
/// 4 bits) and the embedding (4-bit codes with a factor per row, expanded
/// to int8 when loaded) — and PWL tables from `pwl`.
pub fn integer_model(
    model: &LanguageModel<f32>,
    vocab: &Vocab,
    ranges: &QuantRanges,
    bits: impl Into<TableBits>,
    pwl: &mut PwlFitter,
) -> Result<IntLanguageModel, ExportError> {
    integer_model_with_steps(model, vocab, ranges, bits, None, pwl)
}

/// [`integer_model`] with each recurrent layer's weight rows quantized at
/// the scales `steps[l]` (QAT's learned step sizes) instead of searched ones.
pub fn integer_model_with_steps(
    model: &LanguageModel<f32>,
    vocab: &Vocab,
    ranges: &QuantRanges,
    bits: impl Into<TableBits>,
    steps: Option<&[CellSteps]>,
    pwl: &mut PwlFitter,
) -> Result<IntLanguageModel, ExportError> {
    let bits = bits.into();
    if ranges.layers.len() != model.rnns.len() {
        return Err(ExportError::RangesMismatch {
            ranges: ranges.layers.len(),
            model: model.rnns.len(),
        });
    }
    if steps.is_some_and(|s| s.len() != model.rnns.len()) {
        return Err(part("recurrent layers' learned row scales")(
            ConvertError::Invalid("one set of learned row scales per recurrent layer is needed"),
        ));
    }
    // Embedding: the first layer's input grid.
    let e = ranges.embedding;
    let mut input = AffineQuant::int8_from_range(e.min, e.max);
    let (tokens, dim) = (model.config.vocab, model.config.embedding);
    let weights = &model.encoder.weight.value;
    let embedding = match bits.embedding {
        WeightBits::Eight => {
            let table: Vec<i8> = weights.iter().map(|&v| input.quantize(v as f64)).collect();
            IntEmbedding::new(tokens, dim, table)
        }
        WeightBits::Four => {
            let (codes, factors) = four_bit_rows(weights, dim, input);
            IntEmbedding::from_four_bit(tokens, dim, &codes, factors, input.zero_point)
        }
    }
    .map_err(|e| part("embedding")(e.into()))?;

    let mut layers = Vec::with_capacity(model.rnns.len());
    for (l, (rnn, r)) in model.rnns.iter().zip(&ranges.layers).enumerate() {
        let h = AffineQuant::int8_from_range(r.h.min, r.h.max);
        let cell_ranges = snapped(&r.cell);
        let layer = |source| ExportError::Layer { layer: l, source };
        let (st, width) = (steps.and_then(|s| s.get(l)), bits.recurrent);
        let cell = match rnn {
            Rnn::Lstm(c) => RecurrentCell::Lstm(Box::new(
                convert_lstm_with_steps(&lstm_params(c), &cell_ranges, input, h, width, st, pwl)
                    .map_err(layer)?,
            )),
            Rnn::Gru(c) => RecurrentCell::Gru(Box::new(
                convert_gru_with_steps(&gru_params(c), &cell_ranges, input, h, width, st, pwl)
                    .map_err(layer)?,
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

    let output = convert_output_bits(
        &model.decoder.weight.value,
        &model.decoder.bias.value,
        model.decoder.output(),
        input,
        bits.output,
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
