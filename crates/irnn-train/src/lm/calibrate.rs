//! Quantization ranges of every activation tensor of a language model.
//!
//! Weights need no observer: their per-row ranges are read off the weights
//! at export. Activations do: the int8 grids of the embedding, of each
//! layer's h and output (after a residual add), and the int16 grids of the
//! gate pre-activations and the cell. [`calibrate`] sets them from a float
//! run over data (post-training quantization); QAT then moves them by an
//! exponential moving average ([`QuantRanges::blend`]) and freezes them
//! near the end.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::lm::{LanguageModel, Rnn};
use crate::quant::cells::{f64s, gru_params, lstm_params, Ranges};
use crate::quant::ranges::MinMax;
use crate::quant::reference::{GruParams, LstmParams};

/// Ranges of one recurrent layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerRanges {
    /// The cell's gate, cell-state and (GRU) recurrent ranges.
    pub cell: Ranges,
    /// The hidden state h.
    pub h: MinMax,
    /// The layer's output: h ⊕ input with a residual connection, else h.
    pub out: MinMax,
}

/// Ranges of a whole language model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantRanges {
    /// The embedding table (and so the first layer's input).
    pub embedding: MinMax,
    /// Per recurrent layer, bottom first.
    pub layers: Vec<LayerRanges>,
}

impl QuantRanges {
    /// All-zero ranges for `model`'s shape.
    pub fn empty(model: &LanguageModel<f32>) -> Self {
        let gates = match model.config.cell {
            crate::lm::CellKind::Lstm => 4,
            crate::lm::CellKind::Gru => 3,
        };
        Self {
            embedding: MinMax::default(),
            layers: (0..model.rnns.len())
                .map(|_| LayerRanges {
                    cell: Ranges::new(gates),
                    h: MinMax::default(),
                    out: MinMax::default(),
                })
                .collect(),
        }
    }

    /// Widens every range to cover `other`'s.
    pub fn widen(&mut self, other: &QuantRanges) {
        self.embedding.widen(other.embedding);
        for (a, b) in self.layers.iter_mut().zip(&other.layers) {
            a.cell.widen(&b.cell);
            a.h.widen(b.h);
            a.out.widen(b.out);
        }
    }

    /// Exponential moving average towards `seen` with momentum `m`.
    pub fn blend(&mut self, seen: &QuantRanges, m: f64) {
        self.embedding = seen.embedding;
        for (a, b) in self.layers.iter_mut().zip(&seen.layers) {
            a.cell.blend(&b.cell, m);
            a.h.blend(b.h, m);
            a.out.blend(b.out, m);
        }
    }
}

/// A layer's reference cell and its state.
enum RefCell {
    Lstm(LstmParams, Vec<f64>, Vec<f64>),
    Gru(GruParams, Vec<f64>),
}

/// Post-training calibration: runs the f64 reference of `model` over
/// `tokens` (cut into independent streams by [`TOKENS_PER_STREAM`], run in
/// parallel) and returns the largest ranges seen.
pub fn calibrate(model: &LanguageModel<f32>, tokens: &[u32]) -> QuantRanges {
    let parts = over_streams(tokens, |part| calibrate_stream(model, part));
    let mut all = QuantRanges::empty(model);
    for p in &parts {
        all.widen(p);
    }
    all.embedding = MinMax::of(model.encoder.weight.value.iter().map(|&v| v as f64));
    all
}

/// Calibration tokens per independent stream: the number of streams
/// depends on the tokens only, never on the thread count, so a model
/// calibrates (and GPTQ rounds) the same on every machine.
pub const TOKENS_PER_STREAM: usize = 100_000;

/// Runs `f` over `tokens` cut into `⌈len / TOKENS_PER_STREAM⌉` (at most 8)
/// equal streams, in parallel; results in stream order.
pub(crate) fn over_streams<T: Send>(tokens: &[u32], f: impl Fn(&[u32]) -> T + Sync) -> Vec<T> {
    let streams = tokens.len().div_ceil(TOKENS_PER_STREAM).clamp(1, 8);
    let len = tokens.len() / streams;
    (0..streams)
        .into_par_iter()
        .map(|s| f(&tokens[s * len..(s + 1) * len]))
        .collect()
}

fn calibrate_stream(model: &LanguageModel<f32>, tokens: &[u32]) -> QuantRanges {
    let mut ranges = QuantRanges::empty(model);
    run_reference(model, tokens, |l, step| {
        let r = &mut ranges.layers[l];
        r.cell.observe(step.trace, step.c);
        r.h.widen(MinMax::of(step.h.iter().copied()));
        r.out.widen(MinMax::of(step.out.iter().copied()));
    });
    ranges
}

/// One layer's step of the f64 reference, as [`run_reference`] shows it.
pub struct ReferenceStep<'a> {
    /// The layer's input.
    pub x: &'a [f64],
    /// h before the step.
    pub h_before: &'a [f64],
    /// The step's gate values.
    pub trace: &'a crate::quant::reference::StepTrace,
    /// h after the step.
    pub h: &'a [f64],
    /// The cell after the step (empty for GRU).
    pub c: &'a [f64],
    /// The layer's output (h, plus the input with a residual connection).
    pub out: &'a [f64],
}

/// Runs the f64 reference of `model` over `tokens` (one stream, state
/// carried), showing `visit` every layer's step (layer index, step).
pub fn run_reference(
    model: &LanguageModel<f32>,
    tokens: &[u32],
    mut visit: impl FnMut(usize, ReferenceStep<'_>),
) {
    let dim = model.config.embedding;
    let mut cells: Vec<RefCell> = model
        .rnns
        .iter()
        .map(|r| match r {
            Rnn::Lstm(c) => RefCell::Lstm(lstm_params(c), vec![0.0; c.hidden], vec![0.0; c.hidden]),
            Rnn::Gru(c) => RefCell::Gru(gru_params(c), vec![0.0; c.hidden]),
        })
        .collect();
    for &t in tokens {
        let row = &model.encoder.weight.value[t as usize * dim..(t as usize + 1) * dim];
        let mut x = f64s(row);
        for (l, cell) in cells.iter_mut().enumerate() {
            let (trace, h_before, h, c): (_, Vec<f64>, &[f64], &[f64]) = match cell {
                RefCell::Lstm(p, h, c) => {
                    let before = h.clone();
                    let tr = p.step(&x, h, c);
                    (tr, before, h, c)
                }
                RefCell::Gru(p, h) => {
                    let before = h.clone();
                    let tr = p.step(&x, h);
                    (tr, before, h, &[])
                }
            };
            let out: Vec<f64> = if model.config.residual && x.len() == h.len() {
                h.iter().zip(&x).map(|(a, b)| a + b).collect()
            } else {
                h.to_vec()
            };
            visit(
                l,
                ReferenceStep {
                    x: &x,
                    h_before: &h_before,
                    trace: &trace,
                    h,
                    c,
                    out: &out,
                },
            );
            x = out;
        }
    }
}
