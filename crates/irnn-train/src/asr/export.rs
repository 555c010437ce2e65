//! Export: the float acoustic model and its ranges → the runtime's
//! [`IntSpeechModel`].
//!
//! The feature grid is the first layer's input grid; its scale is rounded
//! to the fixed-point multiplier the file stores *before* the first layer
//! is converted, so a model read back from a file quantizes features
//! exactly as the in-memory one does.

use irnn_runtime::kernels::WeightBits;
use irnn_runtime::layers::{Activation, IntEmbedding, IntEncoderLayer, IntMelConv};
use irnn_runtime::speech::{EncoderLayers, FrontEnd, IntAttentionDecoder, IntSpeechModel};
use irnn_runtime::Isa;

use super::attention::{eos, sos, AttentionDecoder};
use super::model::AsrModel;
use super::units::Units;
use crate::audio::MelConfig;
use crate::nn::conv::MelConv;
use crate::quant::cells::lstm_params;
use crate::quant::cells::{
    attention_params, convert_attention, convert_lstm, quantize_rows, AffineQuant, ConvertError,
};
use crate::quant::export::{convert_output, logit_scale, ExportError};
use crate::quant::pwl_fit::PwlFitter;
use crate::quant::pwl_fit::Q15;
use crate::quant::quantize_multiplier;
use crate::quant::ranges::{snap_range, snapped, MinMax};

use super::calibrate::{AsrRanges, DecoderRanges, EncoderLayerRanges};

/// The grid of the convolution's outputs (after its ReLU, so from 0).
fn conv_grid(r: MinMax) -> AffineQuant {
    AffineQuant::int8_from_range(0.0, r.max)
}

/// The h grid both directions of an encoder layer share, at `bits` bits
/// (int16 grids are symmetric).
fn h_grid(r: &EncoderLayerRanges, bits: u32) -> AffineQuant {
    match bits {
        16 => AffineQuant::from_range::<i16>(r.h.min, r.h.max),
        _ => AffineQuant::int8_from_range(r.h.min, r.h.max),
    }
}

/// The grid on which the first encoder layer reads the int8 frames of
/// grid `frames`: the same, or at 16 bits the same scale with zero point 0
/// (the runtime widens `q` to `q − z`).
fn first_input_grid(frames: AffineQuant, bits: u32) -> AffineQuant {
    match bits {
        16 => AffineQuant {
            scale: frames.scale,
            zero_point: 0,
        },
        _ => frames,
    }
}

/// The int8 grid of the features `model` reads (its stored scale).
pub fn feature_grid(model: &IntSpeechModel) -> AffineQuant {
    AffineQuant {
        scale: logit_scale(model.input_scale),
        zero_point: model.input_zero_point,
    }
}

/// The grid of each encoder layer's input, bottom first, then of the top
/// layer's output: the grids [`integer_model_at`] built `model` with from
/// `ranges`, for reading its activations (int8, or int16 at 16 bits) back
/// as reals (QAT).
pub fn encoder_grids(model: &IntSpeechModel, ranges: &AsrRanges) -> Vec<AffineQuant> {
    let bits = model.layers.activation_bits();
    let first = match (&model.conv, ranges.conv) {
        (Some(_), Some(r)) => conv_grid(r),
        _ => feature_grid(model),
    };
    std::iter::once(first_input_grid(first, bits))
        .chain(ranges.layers.iter().map(|r| h_grid(r, bits)))
        .collect()
}

/// The activation widths a speech encoder can be exported at
/// (`--activation-bits`).
pub const ACTIVATION_BITS: [u32; 2] = [8, 16];

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
        norm: mel.norm.clone(),
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
        norm: f.norm.clone(),
    }
}

/// The integer model of `model` under `ranges`, with tables from `pwl`
/// (8-bit activations).
pub fn integer_model(
    model: &AsrModel<f32>,
    mel: &MelConfig,
    units: &Units,
    ranges: &AsrRanges,
    pwl: &mut PwlFitter,
) -> Result<IntSpeechModel, ExportError> {
    integer_model_at(model, mel, units, ranges, 8, pwl)
}

/// [`integer_model`] with the encoder's inputs and h at `activation_bits`
/// bits: 8, or 16 (TFLite's 16×8 mode: symmetric int16 grids, 8-bit
/// weights; CTC models only — the attention decoder reads int8).
pub fn integer_model_at(
    model: &AsrModel<f32>,
    mel: &MelConfig,
    units: &Units,
    ranges: &AsrRanges,
    activation_bits: u32,
    pwl: &mut PwlFitter,
) -> Result<IntSpeechModel, ExportError> {
    if !ACTIVATION_BITS.contains(&activation_bits) {
        return Err(ExportError::Unsupported(
            "a speech encoder's activations are 8 or 16 bits",
        ));
    }
    if activation_bits == 16 && model.decoder.is_some() {
        return Err(ExportError::Unsupported(
            "16-bit activations are for CTC models: this model has an attention decoder, which reads int8 encoder outputs",
        ));
    }
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
    let (conv, input) = match (&model.conv, ranges.conv) {
        (Some(c), Some(r)) => {
            let out = conv_grid(r);
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
    let input = first_input_grid(input, activation_bits);
    let (layers, input) = match activation_bits {
        16 => encoder::<i16>(model, ranges, input, pwl)?,
        _ => encoder::<i8>(model, ranges, input, pwl)?,
    };
    let output = convert_output(
        &model.output.weight.value,
        &model.output.bias.value,
        model.classes(),
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
        labels: units.class_labels(),
        separator: units.kind.separator().to_string(),
    };
    int.validate()
        .map_err(|e| part("model (validation)")(e.into()))?;
    Ok(int)
}

/// The encoder layers at width `A`, the first reading the grid `input`;
/// and the top layer's h grid.
fn encoder<A: Activation>(
    model: &AsrModel<f32>,
    ranges: &AsrRanges,
    mut input: AffineQuant,
    pwl: &mut PwlFitter,
) -> Result<(EncoderLayers, AffineQuant), ExportError>
where
    EncoderLayers: From<Vec<IntEncoderLayer<A>>>,
{
    let mut layers = Vec::with_capacity(model.layers.len());
    for (l, (layer, r)) in model.layers.iter().zip(&ranges.layers).enumerate() {
        let err = |source| ExportError::Layer { layer: l, source };
        let h = h_grid(r, A::BITS);
        let mut direction = |cell, ranges| {
            convert_lstm::<A>(
                &lstm_params(cell),
                &snapped(ranges),
                input,
                h,
                WeightBits::Eight,
                pwl,
            )
            .map_err(err)
        };
        let backward = match (&layer.backward, &r.backward) {
            (Some(cell), Some(ranges)) => Some(direction(cell, ranges)?),
            (None, None) => None,
            _ => {
                return Err(ExportError::RangesMismatch {
                    ranges: ranges.layers.len(),
                    model: model.layers.len(),
                })
            }
        };
        layers.push(IntEncoderLayer {
            forward: direction(&layer.forward, &r.forward)?,
            backward,
        });
        input = h;
    }
    Ok((layers.into(), input))
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
    let embedding = IntEmbedding::new(d.units + 2, d.config.embedding, table)?;
    let mut joint = r.h;
    joint.widen(memory_range);
    let h = AffineQuant::int8_from_range(joint.min, joint.max);
    let cell = convert_lstm(
        &lstm_params(&d.cell),
        &snapped(&r.cell),
        e,
        h,
        WeightBits::Eight,
        pwl,
    )?;
    let mut attention = convert_attention(
        &attention_params(&d.attention),
        d.attention.memory_dim(),
        d.config.hidden,
        memory,
        h,
        snap_range(r.attention),
        pwl,
    )?;
    attention.context_multiplier = quantize_multiplier(Q15 * memory.scale / h.scale)?;
    attention.context_zero_point = h.zero_point;
    let output = convert_output(&d.output.weight.value, &d.output.bias.value, d.units + 1, h)?;
    Ok(IntAttentionDecoder {
        embedding,
        cell,
        attention,
        output,
        start: sos(d.units),
        end: eos(d.units),
    })
}

/// Normalised features (`frames × mels`) → the model's int8 feature grid.
pub fn quantize_features(model: &IntSpeechModel, features: &[f32]) -> Vec<i8> {
    let q = feature_grid(model);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asr::attention::decoder_inputs;
    use crate::asr::calibrate::calibrate;
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
        // Bidirectional without and with LayerNorm; unidirectional with.
        for (layer_norm, unidirectional) in [(false, false), (true, false), (true, true)] {
            let config = AsrConfig {
                features: 8,
                stack: 2,
                layers: 2,
                hidden: 16,
                unidirectional,
                layer_norm,
                // With LayerNorm, also an attention decoder.
                decoder: layer_norm.then_some(crate::asr::attention::DecoderConfig {
                    embedding: 8,
                    hidden: 16,
                    attention: 12,
                    ctc_weight: 0.5,
                }),
                conv_channels: if layer_norm { 3 } else { 0 },
                units: 10,
            };
            let model = AsrModel::<f32>::new(config, &mut TrainRng::seed(3));
            let data: Vec<Vec<f32>> = (0..6).map(|s| features(s, 21, 8)).collect();
            let digits: Vec<Vec<u32>> = (0..6u32).map(|s| vec![s, (s * 3) % 10, 7]).collect();
            let ranges = calibrate(&model, &data, &digits);
            let units = crate::asr::data::fsdd::digit_units();
            let mel = MelConfig {
                mels: 8,
                ..MelConfig::default()
            };
            let int =
                integer_model(&model, &mel, &units, &ranges, &mut PwlFitter::new(32)).unwrap();
            assert!(integer_model(
                &model,
                &MelConfig::default(),
                &units,
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
                    let inputs = decoder_inputs(d, 10);
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
}
