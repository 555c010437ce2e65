//! What every task's export shares: its errors, the output layer and the
//! real value of a logit unit.

use irnn_runtime::kernels::WeightBits;
use irnn_runtime::layers::IntOutputLayer;
use irnn_runtime::{PackedMatrix, QuantizedMultiplier};

use super::cells::{row_scale, AffineQuant, ConvertError};
use super::multiplier::quantize_multiplier;

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
    /// The model has a part the chosen quantization cannot convert.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The ranges do not belong to this model.
    #[error("the quantization ranges describe {ranges} layers, the model has {model}")]
    RangesMismatch {
        /// Layers in the ranges.
        ranges: usize,
        /// Layers in the model.
        model: usize,
    },
}

/// The real value of one logit unit of an exported model.
pub fn logit_scale(m: QuantizedMultiplier) -> f64 {
    m.mantissa as f64 * ((m.shift - 31) as f64).exp2()
}

pub(crate) fn part(what: &'static str) -> impl Fn(ConvertError) -> ExportError {
    move |source| ExportError::Part { what, source }
}

pub(crate) fn quant_multiplier(real: f64) -> Result<QuantizedMultiplier, ConvertError> {
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
    convert_output_bits(weight, bias, classes, input, WeightBits::Eight)
}

/// [`convert_output`] at `bits` bits. At 4 bits each row gets its own
/// scale as an integer multiple `k_r · s` of one unit `s` (the runtime's
/// row factors), so logits stay on one grid: `s` is the largest row scale
/// over the largest factor that keeps `k_r · W_r · h` within int32 (at
/// most 127), `k_r = round(s_r / s)`, and the row is quantized at `k_r · s`.
pub fn convert_output_bits(
    weight: &[f32],
    bias: &[f32],
    classes: usize,
    input: AffineQuant,
    bits: WeightBits,
) -> Result<IntOutputLayer, ConvertError> {
    let cols = weight.len() / classes.max(1);
    let top = bits.max_symmetric() as f64;
    let max = weight.iter().fold(0.0f64, |m, &v| m.max((v as f64).abs()));
    let positive = |s: f64| if s > 0.0 { s } else { 1.0 };
    let (s_w, factors): (f64, Option<Vec<i32>>) = match bits {
        WeightBits::Eight => (positive(max / top), None),
        WeightBits::Four => {
            // Each row's searched scale, as a multiple of one unit.
            let row_scales: Vec<f64> = weight
                .chunks(cols.max(1))
                .map(|row| row_scale(&row.iter().map(|&v| v as f64).collect::<Vec<_>>(), bits))
                .collect();
            let largest = ((1i64 << 31) / (cols.max(1) as i64 * 8 * 128) - 1).clamp(1, 127);
            let s_max = row_scales.iter().fold(0.0f64, |m, &v| m.max(v));
            let s = positive(s_max / largest as f64);
            let k = row_scales
                .iter()
                .map(|&r| ((r / s).round() as i64).clamp(1, largest) as i32)
                .collect();
            (s, Some(k))
        }
    };
    let row_scale = |r: usize| s_w * factors.as_ref().map_or(1.0, |k| k[r] as f64);
    let q: Vec<i8> = weight
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            (v as f64 / row_scale(i / cols.max(1)))
                .round()
                .clamp(-top, top) as i8
        })
        .collect();
    let logit_unit = s_w * input.scale;
    let bias = (0..classes)
        .map(|r| {
            let k = factors.as_ref().map_or(1, |k| k[r]) as i64;
            let row_sum: i64 = q[r * cols..(r + 1) * cols].iter().map(|&v| v as i64).sum();
            let b = bias[r] as f64 / logit_unit - (k * input.zero_point as i64 * row_sum) as f64;
            b.round().clamp(i32::MIN as f64, i32::MAX as f64) as i32
        })
        .collect();
    Ok(IntOutputLayer {
        weights: PackedMatrix::from_row_major_bits(bits, classes, cols, &q)?,
        bias,
        logit_scale: quant_multiplier(logit_unit)?,
        row_factors: factors.map(Into::into),
    })
}
