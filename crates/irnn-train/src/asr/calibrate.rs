//! Calibration of the acoustic model: the f64 reference run over the
//! utterances' features (the decoder, if any, teacher-forced on their
//! transcripts), keeping the largest range of every activation.
//!
//! Both directions of a bidirectional layer share one int8 h grid (the
//! union of their ranges), so the layer's output is their concatenation
//! with no requantization; each direction keeps its own gate and cell
//! grids.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::attention::decoder_inputs;
use super::model::{stack_frames, AsrModel};
use crate::quant::cells::lstm_params;
use crate::quant::cells::{attention_params, f64s, Ranges};
use crate::quant::ranges::MinMax;

/// Ranges of one encoder layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderLayerRanges {
    /// Gate and cell ranges of the left-to-right cell.
    pub forward: Ranges,
    /// Gate and cell ranges of the right-to-left cell (`None` for a
    /// unidirectional layer).
    pub backward: Option<Ranges>,
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
    /// Per encoder layer, bottom first.
    pub layers: Vec<EncoderLayerRanges>,
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
            layers: model
                .layers
                .iter()
                .map(|l| EncoderLayerRanges {
                    forward: Ranges::new(4),
                    backward: l.backward.as_ref().map(|_| Ranges::new(4)),
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
            a.forward.widen(&b.forward);
            if let (Some(a), Some(b)) = (&mut a.backward, &b.backward) {
                a.widen(b);
            }
            a.h.widen(b.h);
        }
        if let (Some(a), Some(b)) = (&mut self.decoder, &other.decoder) {
            a.cell.widen(&b.cell);
            a.h.widen(b.h);
            a.attention = a.attention.max(b.attention);
        }
    }

    /// Exponential moving average towards `seen` (the ranges of one QAT
    /// minibatch) with momentum `m`; the decoder's label embedding takes
    /// `seen`'s, the range of its weights now.
    pub fn blend(&mut self, seen: &AsrRanges, m: f64) {
        self.input.blend(seen.input, m);
        if let (Some(a), Some(b)) = (&mut self.conv, seen.conv) {
            a.blend(b, m);
        }
        for (a, b) in self.layers.iter_mut().zip(&seen.layers) {
            a.forward.blend(&b.forward, m);
            if let (Some(a), Some(b)) = (&mut a.backward, &b.backward) {
                a.blend(b, m);
            }
            a.h.blend(b.h, m);
        }
        if let (Some(a), Some(b)) = (&mut self.decoder, &seen.decoder) {
            a.embedding = b.embedding;
            a.cell.blend(&b.cell, m);
            a.h.blend(b.h, m);
            a.attention = m * a.attention + (1.0 - m) * b.attention;
        }
    }
}

/// Post-training calibration: the f64 reference of `model` over the
/// utterances' features (in parallel; the decoder, if any, teacher-forced
/// on their `targets`, unit ids); the largest ranges seen.
pub fn calibrate(model: &AsrModel<f32>, features: &[Vec<f32>], targets: &[Vec<u32>]) -> AsrRanges {
    features
        .par_iter()
        .enumerate()
        .map(|(i, f)| calibrate_utterance(model, f, targets.get(i).map_or(&[][..], |d| d)))
        .reduce(
            || AsrRanges::empty(model),
            |mut a, b| {
                a.widen(&b);
                a
            },
        )
}

fn calibrate_utterance(model: &AsrModel<f32>, features: &[f32], targets: &[u32]) -> AsrRanges {
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
    let out = c.encoder_width();
    for (layer, r) in model.layers.iter().zip(&mut ranges.layers) {
        let width = x.len() / steps;
        let mut y = vec![0.0; steps * out];
        let backward = layer.backward.as_ref().zip(r.backward.as_mut());
        for (dir, (cell, cell_ranges)) in [(&layer.forward, &mut r.forward)]
            .into_iter()
            .chain(backward)
            .enumerate()
        {
            let p = lstm_params(cell);
            let (mut h, mut cs) = (vec![0.0; n], vec![0.0; n]);
            for k in 0..steps {
                let t = if dir == 0 { k } else { steps - 1 - k };
                let trace = p.step(&x[t * width..(t + 1) * width], &mut h, &mut cs);
                cell_ranges.observe(&trace, &cs);
                r.h.widen(MinMax::of(h.iter().copied()));
                y[t * out + dir * n..t * out + (dir + 1) * n].copy_from_slice(&h);
            }
        }
        x = y;
    }
    if let (Some(d), Some(r)) = (&model.decoder, &mut ranges.decoder) {
        let p = lstm_params(&d.cell);
        let att = attention_params(&d.attention);
        let e = d.config.embedding;
        let (mut h, mut cs) = (vec![0.0; p.hidden], vec![0.0; p.hidden]);
        let maxabs = |v: &[f64]| v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        for t in decoder_inputs(targets, d.units) {
            let row = f64s(&d.embedding.weight.value[t as usize * e..(t as usize + 1) * e]);
            let trace = p.step(&row, &mut h, &mut cs);
            r.cell.observe(&trace, &cs);
            r.h.widen(MinMax::of(h.iter().copied()));
            let a = att.attend(&x, out, &h);
            r.attention = r
                .attention
                .max(maxabs(&a.pre))
                .max(maxabs(&a.keys))
                .max(maxabs(&a.query));
        }
    }
    ranges
}
