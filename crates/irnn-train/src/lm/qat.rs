//! Quantization-aware training.
//!
//! The forward pass is not an imitation of the integer model: it *is* the
//! integer model. Every window, the current float weights and ranges are
//! exported ([`super::integer_model`]) and the runtime runs the window with its own
//! kernels, recording the integer gates, cells, hidden states and logits.
//! Those values, dequantized, are what the loss and the backward pass see;
//! the backward pass is the float LSTM's, with straight-through estimates
//! (each rounding is treated as the identity, each PWL table as the function
//! it approximates). So the metric QAT reports is, by construction, the
//! metric of the deployed model (docs/ARCHITECTURE.md: "QAT trains exactly
//! what is deployed"), and a test holds it to that.
//!
//! Ranges move by an exponential moving average of what a float "shadow" of
//! each step — the same inputs, float arithmetic, nothing saturated — would
//! have needed; they can be frozen for the last part of training so the
//! model settles on fixed grids.
//!
//! Scope: LSTM layers (plain, with the capped input gate, with LayerNorm)
//! and GRU layers (reset after or before the recurrent product), with or
//! without residual connections. For LayerNorm, the statistics the float
//! backward pass needs are those of the recorded inputs, states and cells
//! ([`LstmCache::with_layer_norm`]). GRUs with LayerNorm convert and
//! calibrate (post-training quantization) but do not train here yet. Dropout (the float model's rate by default) acts on the int8 inputs
//! of each layer and of the output layer: dropped values become the grid's
//! zero point, kept ones are scaled by `1/(1 − p)` on the grid.

use std::time::Instant;

use irnn_runtime::kernels::WeightBits;
use irnn_runtime::model::{CellState, IntLanguageModel, LmState, RecurrentCell};
use irnn_runtime::Isa;
use rayon::prelude::*;

use super::calibrate::QuantRanges;
use super::eval::{token_nll, NllSum};
use super::export::{integer_model_with_steps, TableBits};
use crate::lm::data::{Batches, Corpus, Vocab};
use crate::lm::train::{EpochReport, Observer, EVAL_BATCH};
use crate::lm::{CellKind, LanguageModel, Rnn};
use crate::nn::dropout::DropoutMask;
use crate::nn::gru::GruCache;
use crate::nn::loss::{distillation_cross_entropy, softmax_cross_entropy};
use crate::nn::lstm::LstmCache;
use crate::nn::optim::{cosine_lr, Optimizer, OptimizerKind, Schedule, ScheduleState};
use crate::quant::cells::{f64s, gru_params, lstm_params, AffineQuant};
use crate::quant::export::{logit_scale, ExportError};
use crate::quant::lsq::{LearnedSteps, WeightsAndGrad};
use crate::quant::pwl_fit::PwlFitter;
use crate::quant::ranges::MinMax;
use crate::quant::reference::{GruParams, LstmParams};
use crate::train::KeepBest;

/// QAT failures.
#[derive(Debug, thiserror::Error)]
pub enum QatError {
    /// The model has a part QAT does not handle.
    #[error("QAT does not support {0} yet (post-training quantization does: `irnn convert`)")]
    Unsupported(&'static str),
    /// Export failed.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The runtime rejected an input.
    #[error("integer runtime: {0}")]
    Runtime(#[from] irnn_runtime::Error),
    /// The loss stopped being finite.
    #[error(transparent)]
    Diverged(#[from] crate::train::Diverged),
}

/// Knowledge distillation: a float model run beside the integer one over the
/// same windows, its own state carried from window to window.
struct Teacher {
    model: LanguageModel<f32>,
    /// The teacher's share α of the target (the data's token keeps 1 − α).
    weight: f64,
    /// The carried state; `None` at the start of an epoch.
    state: Option<crate::lm::LmState<f32>>,
}

/// What one stream recorded for one layer over a window (integer values).
#[derive(Debug, Default)]
struct LayerRecord {
    /// i, f, g, o after activation, Q0.15: [T × 4H].
    gates: Vec<i16>,
    /// c_0 … c_T: [(T+1) × H].
    c: Vec<i16>,
    /// h_0 … h_T: [(T+1) × H].
    h: Vec<i8>,
}

/// What the backward pass of one layer reads.
enum LayerCache {
    Lstm(LstmCache<f32>),
    Gru(GruCache<f32>),
}

/// What one stream produced over a window.
#[derive(Debug, Default)]
struct StreamRecord {
    layers: Vec<LayerRecord>,
    /// The input each layer read (after dropout), then the output layer's:
    /// `layers + 1` entries of [T × width].
    inputs: Vec<Vec<i8>>,
    /// [T × classes].
    logits: Vec<i32>,
}

/// Dropout of one window on the int8 grids: per boundary (each layer's
/// input, then the output layer's) a mask and the grid's zero point.
struct IntDropout<'a> {
    masks: &'a [DropoutMask<f32>],
    zero_points: &'a [i32],
    batch: usize,
}

impl IntDropout<'_> {
    /// Inverted dropout of stream `b`'s input at step `t`, boundary `l`:
    /// dropped values become the zero point (real 0), kept ones are scaled
    /// by `1/(1 − p)` about it and rounded back onto the grid.
    fn apply(&self, l: usize, t: usize, b: usize, x: &mut [i8]) {
        let w = x.len();
        let row = (t * self.batch + b) * w;
        let zp = self.zero_points[l];
        for (v, &m) in x.iter_mut().zip(&self.masks[l].values()[row..row + w]) {
            *v = if m == 0.0 {
                zp as i8
            } else {
                (zp as f32 + (*v as i32 - zp) as f32 * m)
                    .round()
                    .clamp(-128.0, 127.0) as i8
            };
        }
    }
}

/// Layer `l`'s h, cell (empty for a GRU) and activated gates after a step.
fn layer_values(state: &LmState, l: usize) -> (&[i8], &[i16], &[i16]) {
    match &state.layers[l] {
        CellState::Lstm(s, scratch) => (&s.h, &s.c, scratch.activated_gates()),
        CellState::Gru(s, scratch) => (&s.h, &[], scratch.activated_gates()),
    }
}

/// Runs one stream's tokens through the integer model, from and into
/// `state`. When `record`, keeps every layer's values and inputs, applying
/// `dropout` (if any) to the inputs; otherwise runs the runtime's plain
/// `step`.
fn run_stream(
    model: &IntLanguageModel,
    isa: Isa,
    tokens: impl Iterator<Item = u32>,
    state: &mut LmState,
    record: bool,
    dropout: Option<(&IntDropout, usize)>,
) -> Result<StreamRecord, irnn_runtime::Error> {
    let classes = model.classes();
    let mut rec = StreamRecord {
        layers: (0..model.layers.len())
            .map(|_| LayerRecord::default())
            .collect(),
        inputs: vec![Vec::new(); model.layers.len() + 1],
        logits: Vec::new(),
    };
    if record {
        for (l, r) in rec.layers.iter_mut().enumerate() {
            let (h, c, _) = layer_values(state, l);
            r.h.extend_from_slice(h);
            r.c.extend_from_slice(c);
        }
    }
    for (t, token) in tokens.enumerate() {
        let at = rec.logits.len();
        rec.logits.resize(at + classes, 0);
        if !record {
            model.step(isa, token, state, &mut rec.logits[at..])?;
            continue;
        }
        let inputs = &mut rec.inputs;
        model.step_with(isa, token, state, &mut rec.logits[at..], &mut |l, x| {
            if let Some((d, b)) = dropout {
                d.apply(l, t, b, x);
            }
            inputs[l].extend_from_slice(x);
        })?;
        for (l, r) in rec.layers.iter_mut().enumerate() {
            let (h, c, gates) = layer_values(state, l);
            r.gates.extend_from_slice(gates);
            r.c.extend_from_slice(c);
            r.h.extend_from_slice(h);
        }
    }
    Ok(rec)
}

/// Runs a window (`steps × batch` tokens, time-major) of parallel streams.
fn run_window(
    model: &IntLanguageModel,
    isa: Isa,
    x: &[u32],
    steps: usize,
    states: &mut [LmState],
    record: bool,
    dropout: Option<&IntDropout>,
) -> Result<Vec<StreamRecord>, irnn_runtime::Error> {
    let batch = states.len();
    states
        .par_iter_mut()
        .enumerate()
        .map(|(b, st)| {
            let tokens = (0..steps).map(|t| x[t * batch + b]);
            run_stream(model, isa, tokens, st, record, dropout.map(|d| (d, b)))
        })
        .collect()
}

/// Gathers stream-major records into time-major rows (`row = t·batch + b`),
/// dequantized by `f`.
fn time_major<Q: Copy>(
    per_stream: &[&[Q]],
    steps: usize,
    width: usize,
    f: impl Fn(Q) -> f32,
) -> Vec<f32> {
    let batch = per_stream.len();
    let mut out = Vec::with_capacity(steps * batch * width);
    for t in 0..steps {
        for s in per_stream {
            out.extend(s[t * width..(t + 1) * width].iter().map(|&q| f(q)));
        }
    }
    out
}

fn maxabs(v: impl Iterator<Item = f32>) -> f64 {
    v.fold(0.0f32, |m, x| m.max(x.abs())) as f64
}

/// A model under quantization-aware training.
pub struct Qat {
    /// The float weights being trained.
    pub model: LanguageModel<f32>,
    /// Its vocabulary.
    pub vocab: Vocab,
    /// The activation ranges (moving until frozen).
    pub ranges: QuantRanges,
    /// Ranges no longer move.
    pub frozen: bool,
    /// EMA momentum of the ranges, per window.
    pub momentum: f64,
    /// Dropout on each layer's int8 input and the output layer's during
    /// training (default: the float model's).
    pub dropout: f64,
    /// One mask per window and stream, reused across time steps.
    pub locked_dropout: bool,
    /// Bits of each weight table in the exported model (the forward pass
    /// runs them; the backward pass updates the float weights straight
    /// through the rounding).
    pub bits: TableBits,
    /// Each recurrent weight row's scale learned with the weights (LSQ,
    /// [`Qat::learn_steps`]); `None`: searched at every export.
    pub learned_steps: Option<LearnedSteps>,
    /// A float model whose distribution joins the data's tokens as the
    /// target ([`Qat::distill_from`]).
    teacher: Option<Teacher>,
    rng: crate::nn::rng::TrainRng,
    pwl: PwlFitter,
    isa: Isa,
}

fn matrix(p: &crate::nn::Param<f32>) -> WeightsAndGrad<'_> {
    let cols = p.shape.get(1).copied().unwrap_or(1);
    WeightsAndGrad {
        rows: p.len() / cols.max(1),
        cols,
        value: &p.value,
        grad: &p.grad,
    }
}

/// Each recurrent layer's W_x and W_h with their gradients, as
/// [`LearnedSteps`] reads them.
fn recurrent_weights(model: &LanguageModel<f32>) -> Vec<[WeightsAndGrad<'_>; 2]> {
    model
        .rnns
        .iter()
        .map(|rnn| {
            let w = match rnn {
                Rnn::Lstm(c) => &c.weights,
                Rnn::Gru(c) => &c.weights,
            };
            [matrix(&w.w_ih), matrix(&w.w_hh)]
        })
        .collect()
}

impl Qat {
    /// Starts QAT from a float model and its calibrated ranges, with
    /// `knots` knots per PWL table.
    pub fn new(
        model: LanguageModel<f32>,
        vocab: Vocab,
        ranges: QuantRanges,
        knots: usize,
    ) -> Result<Self, QatError> {
        if model.config.layer_norm && model.config.cell == CellKind::Gru {
            return Err(QatError::Unsupported("LayerNorm in GRU layers"));
        }
        Ok(Self {
            dropout: model.config.dropout,
            locked_dropout: model.config.locked_dropout,
            rng: crate::nn::rng::TrainRng::seed(0x0A7_5EED),
            model,
            vocab,
            ranges,
            frozen: false,
            momentum: 0.95,
            bits: TableBits::uniform(WeightBits::Eight),
            learned_steps: None,
            teacher: None,
            pwl: PwlFitter::new(knots),
            isa: Isa::detect(),
        })
    }

    /// Knots per PWL table.
    pub fn knots(&self) -> usize {
        self.pwl.knots()
    }

    /// PWL tables fitted so far (refits happen when a range moves a grid).
    pub fn pwl_fits(&self) -> usize {
        self.pwl.fits()
    }

    /// From now on, each recurrent weight row's scale is a parameter
    /// trained with the weights (LSQ), starting at the searched scale of
    /// the current weights at the recurrent tables' [`Qat::bits`] (so the exported model
    /// does not change until the first update), at `lr_factor` times the
    /// weights' rate.
    pub fn learn_steps(&mut self, lr_factor: f64) {
        let weights = recurrent_weights(&self.model);
        self.learned_steps = Some(LearnedSteps::new(self.bits.recurrent, &weights, lr_factor));
    }

    /// From now on the loss is the cross-entropy against
    /// `(1 − weight)·onehot(token) + weight·softmax(teacher)`, the teacher
    /// being `model` in float arithmetic (usually the float model QAT
    /// started from) over the same windows: the low-bit student learns the
    /// whole distribution it is losing, not one token per step. The
    /// reported training loss stays the data's.
    pub fn distill_from(&mut self, model: LanguageModel<f32>, weight: f64) {
        self.teacher = Some(Teacher {
            model,
            weight,
            state: None,
        });
    }

    /// Starts the teacher's carried state afresh (with the streams').
    fn restart_teacher(&mut self) {
        if let Some(t) = &mut self.teacher {
            t.state = None;
        }
    }

    /// The integer model of the current weights and ranges.
    pub fn export(&mut self) -> Result<IntLanguageModel, ExportError> {
        let steps = self.learned_steps.as_ref().map(|s| s.cell_steps());
        integer_model_with_steps(
            &self.model,
            &self.vocab,
            &self.ranges,
            self.bits,
            steps.as_deref(),
            &mut self.pwl,
        )
    }

    /// Trains on one window: integer forward pass, float backward pass
    /// (gradients accumulate in the model's parameters), and, unless
    /// frozen, a range update. `states` carries each stream's integer state
    /// from window to window. Returns the mean loss in nats.
    pub fn train_window(
        &mut self,
        x: &[u32],
        y: &[u32],
        steps: usize,
        states: &mut [LmState],
    ) -> Result<f64, QatError> {
        let int = self.export()?;
        let batch = states.len();
        let rows = steps * batch;
        let layers = int.layers.len();
        // The int8 grid of every boundary: layer 0's input (the embedding),
        // each layer's output (the next one's input), the output layer's input.
        let e = self.ranges.embedding;
        let mut grids = vec![AffineQuant::int8_from_range(e.min, e.max)];
        for (layer, r) in int.layers.iter().zip(&self.ranges.layers) {
            let hq = AffineQuant::int8_from_range(r.h.min, r.h.max);
            grids.push(if layer.residual.is_some() {
                AffineQuant::int8_from_range(r.out.min, r.out.max)
            } else {
                hq
            });
        }
        let widths: Vec<usize> = std::iter::once(self.model.config.embedding)
            .chain(int.layers.iter().map(|l| l.cell.hidden()))
            .collect();
        let masks: Vec<DropoutMask<f32>> = if self.dropout > 0.0 {
            let (p, locked) = (self.dropout, self.locked_dropout);
            widths
                .iter()
                .map(|&w| DropoutMask::sample(p, steps, batch, w, locked, &mut self.rng))
                .collect()
        } else {
            Vec::new()
        };
        let zero_points: Vec<i32> = grids.iter().map(|g| g.zero_point).collect();
        let dropout = IntDropout {
            masks: &masks,
            zero_points: &zero_points,
            batch,
        };
        let dropout = (!masks.is_empty()).then_some(&dropout);
        let recs = run_window(&int, self.isa, x, steps, states, true, dropout)?;
        let mut seen = QuantRanges::empty(&self.model);
        let inputs_of = |l: usize| -> Vec<f32> {
            let per_stream: Vec<&[i8]> = recs.iter().map(|s| &s.inputs[l][..]).collect();
            let g = grids[l];
            time_major(&per_stream, steps, widths[l], |q| g.dequantize(q) as f32)
        };

        let mut caches = Vec::with_capacity(layers);
        for (l, layer) in int.layers.iter().enumerate() {
            let n = layer.cell.hidden();
            let r = &self.ranges.layers[l];
            let hq = AffineQuant::int8_from_range(r.h.min, r.h.max);
            let take = |f: fn(&LayerRecord) -> &[i16]| -> Vec<&[i16]> {
                recs.iter().map(|s| f(&s.layers[l])).collect()
            };
            let input = inputs_of(l);
            let h_rec: Vec<&[i8]> = recs.iter().map(|s| &s.layers[l].h[..]).collect();
            let h = time_major(&h_rec, steps + 1, n, |q| hq.dequantize(q) as f32);
            let cache = match &layer.cell {
                RecurrentCell::Lstm(cell) => {
                    let cell_unit = (-(cell.cell_fraction_bits as f64)).exp2() as f32;
                    let gates =
                        time_major(&take(|r| &r.gates), steps, 4 * n, |q| q as f32 / 32768.0);
                    let c = time_major(&take(|r| &r.c), steps + 1, n, |q| q as f32 * cell_unit);
                    let Rnn::Lstm(float) = &self.model.rnns[l] else {
                        unreachable!("the integer model is the float model's export");
                    };
                    if !self.frozen {
                        if float.norm.is_some() {
                            self.observe_reference(l, &input, &h, &c, rows, &mut seen);
                        } else {
                            self.observe(l, &input, &gates, &c, &h, rows, &mut seen);
                        }
                    }
                    let cache = LstmCache::from_values(steps, batch, input, gates, c, h);
                    LayerCache::Lstm(cache.with_layer_norm(float))
                }
                RecurrentCell::Gru(_) => {
                    let gates =
                        time_major(&take(|r| &r.gates), steps, 3 * n, |q| q as f32 / 32768.0);
                    if !self.frozen {
                        self.observe_reference(l, &input, &h, &[], rows, &mut seen);
                    }
                    let Rnn::Gru(cell) = &self.model.rnns[l] else {
                        unreachable!("the integer model is the float model's export");
                    };
                    let hn = cell.recurrent_n_term(&gates, &h[..rows * n]);
                    LayerCache::Gru(GruCache::from_values(steps, batch, input, gates, hn, h))
                }
            };
            caches.push(cache);
        }
        let input = inputs_of(layers);

        // Loss on the integer logits (their real values), then backward.
        let classes = int.classes();
        let scale = logit_scale(int.output.logit_scale);
        let mut logits = time_major(
            &recs.iter().map(|s| &s.logits[..]).collect::<Vec<_>>(),
            steps,
            classes,
            |q| (q as f64 * scale) as f32,
        );
        let loss = match &mut self.teacher {
            Some(t) => {
                let state = t.state.get_or_insert_with(|| t.model.zero_state(batch));
                let soft = t.model.logits(x, steps, batch, state);
                distillation_cross_entropy(&mut logits, &soft, y, t.weight, classes, true).hard
            }
            None => softmax_cross_entropy(&mut logits, y, classes, true),
        };
        let mut d = self.model.decoder.backward(&input, &logits, rows);
        if let Some(m) = masks.get(layers) {
            m.apply(&mut d);
        }
        for l in (0..layers).rev() {
            let mut dx = match (&mut self.model.rnns[l], &caches[l]) {
                (Rnn::Lstm(cell), LayerCache::Lstm(cache)) => cell.backward(cache, &d),
                (Rnn::Gru(cell), LayerCache::Gru(cache)) => cell.backward(cache, &d),
                _ => unreachable!("the integer model is the float model's export"),
            };
            if int.layers[l].residual.is_some() {
                for (a, &b) in dx.iter_mut().zip(&d) {
                    *a += b;
                }
            }
            if let Some(m) = masks.get(l) {
                m.apply(&mut dx);
            }
            d = dx;
        }
        self.model.encoder.backward(x, &d);

        if !self.frozen {
            seen.embedding = MinMax::of(self.model.encoder.weight.value.iter().map(|&v| v as f64));
            self.ranges.blend(&seen, self.momentum);
        }
        Ok(loss)
    }

    /// Records what the float shadow of layer `l` needed over the window:
    /// gate pre-activations from the same (dequantized) inputs
    /// ([`crate::nn::lstm::Lstm::gate_preactivations`]), the cell
    /// before saturation, h and the layer output.
    #[allow(clippy::too_many_arguments)]
    fn observe(
        &self,
        l: usize,
        x: &[f32],
        gates: &[f32],
        c: &[f32],
        h: &[f32],
        rows: usize,
        seen: &mut QuantRanges,
    ) {
        let Rnn::Lstm(cell) = &self.model.rnns[l] else {
            return;
        };
        let n = cell.hidden;
        let pre = cell.gate_preactivations(x, &h[..rows * n]);
        let s = &mut seen.layers[l];
        for k in 0..4 {
            s.cell.pre[k] = maxabs(
                pre.chunks_exact(4 * n)
                    .flat_map(|row| row[k * n..(k + 1) * n].iter().copied()),
            );
        }
        let (mut cell_max, mut hr, mut outr) = (0.0f64, MinMax::default(), MinMax::default());
        for r in 0..rows {
            let g = &gates[r * 4 * n..(r + 1) * 4 * n];
            for u in 0..n {
                let (i, f, cand, o) = (g[u], g[n + u], g[2 * n + u], g[3 * n + u]);
                let i = if cell.capped_input_gate {
                    i.min(1.0 - f)
                } else {
                    i
                };
                let cf = f * c[r * n + u] + i * cand;
                cell_max = cell_max.max(cf.abs() as f64);
                let hv = (o * cf.tanh()) as f64;
                hr.widen(MinMax { min: hv, max: hv });
                let ov = if self.model.config.residual && cell.input == n {
                    hv + x[r * n + u] as f64
                } else {
                    hv
                };
                outr.widen(MinMax { min: ov, max: ov });
            }
        }
        s.cell.cell = cell_max;
        s.cell.cell_in = cell_max;
        s.h = hr;
        s.out = outr;
    }

    /// [`observe`](Self::observe) through the f64 reference cell, for GRU
    /// and LayerNorm LSTM layers: each row's step from the same
    /// (dequantized) input, h and (LSTM) cell, the ranges calibration
    /// records.
    fn observe_reference(
        &self,
        l: usize,
        x: &[f32],
        h: &[f32],
        c: &[f32],
        rows: usize,
        seen: &mut QuantRanges,
    ) {
        enum Reference {
            Lstm(LstmParams),
            Gru(GruParams),
        }
        let (reference, n, width) = match &self.model.rnns[l] {
            Rnn::Lstm(cell) => (Reference::Lstm(lstm_params(cell)), cell.hidden, cell.input),
            Rnn::Gru(cell) => (Reference::Gru(gru_params(cell)), cell.hidden, cell.input),
        };
        let residual = self.model.config.residual && width == n;
        let part = (0..rows)
            .into_par_iter()
            .fold(
                || QuantRanges::empty(&self.model),
                |mut all, row| {
                    let r = &mut all.layers[l];
                    let xr = f64s(&x[row * width..(row + 1) * width]);
                    let mut hr = f64s(&h[row * n..(row + 1) * n]);
                    match &reference {
                        Reference::Lstm(p) => {
                            let mut cr = f64s(&c[row * n..(row + 1) * n]);
                            let trace = p.step(&xr, &mut hr, &mut cr);
                            r.cell.observe(&trace, &cr);
                        }
                        Reference::Gru(p) => {
                            let trace = p.step(&xr, &mut hr);
                            r.cell.observe(&trace, &[]);
                        }
                    }
                    r.h.widen(MinMax::of(hr.iter().copied()));
                    let out = hr
                        .iter()
                        .zip(&xr)
                        .map(|(a, b)| if residual { a + b } else { *a });
                    r.out.widen(MinMax::of(out));
                    all
                },
            )
            .reduce_with(|mut a, b| {
                a.widen(&b);
                a
            });
        if let Some(mut all) = part {
            seen.layers[l] = all.layers.swap_remove(l);
        }
    }

    /// QAT-mode evaluation: the exported integer model over `tokens` in
    /// `streams` streams, window by window as training runs it. Returns the
    /// NLL totals and, when `keep_logits`, every stream's logits in order.
    pub fn evaluate(
        &mut self,
        tokens: &[u32],
        streams: usize,
        bptt: usize,
        keep_logits: bool,
    ) -> Result<(NllSum, Vec<Vec<i32>>), QatError> {
        let int = self.export()?;
        let batches = Batches::new(tokens, streams);
        let batch = batches.batch();
        let scale = logit_scale(int.output.logit_scale);
        let classes = int.classes();
        let mut states: Vec<LmState> = (0..batch).map(|_| int.zero_state()).collect();
        let mut sum = NllSum::new(batch);
        let mut kept = vec![Vec::new(); if keep_logits { batch } else { 0 }];
        for w in 0..batches.windows(bptt) {
            let (x, y, steps) = batches.window(w, bptt);
            let recs = run_window(&int, self.isa, &x, steps, &mut states, false, None)?;
            for (b, rec) in recs.iter().enumerate() {
                for t in 0..steps {
                    let logits = &rec.logits[t * classes..(t + 1) * classes];
                    sum.add(b, token_nll(logits, scale, y[t * batch + b]));
                }
                if keep_logits {
                    kept[b].extend_from_slice(&rec.logits);
                }
            }
        }
        Ok((sum, kept))
    }
}

/// Hyper-parameters of a QAT run.
#[derive(Debug, Clone)]
pub struct QatSettings {
    /// Epochs over the training data.
    pub epochs: usize,
    /// Parallel streams.
    pub batch: usize,
    /// Window length.
    pub bptt: usize,
    /// Optimizer.
    pub optimizer: OptimizerKind,
    /// Initial learning rate.
    pub lr: f64,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Gradient-norm clip (0: none).
    pub clip: f64,
    /// Loss summed over the window's steps (Zaremba) instead of averaged.
    pub sum_over_time: bool,
    /// Fraction of the windows, at the end, trained with frozen ranges.
    pub freeze_fraction: f64,
    /// Stop after this many windows in total.
    pub max_windows: Option<usize>,
    /// End with the weights and ranges of the lowest validation loss among
    /// the calibrated start (PTQ) and each epoch's end, so validation
    /// decides whether QAT's updates are kept; with `false`, the last
    /// epoch's. Without a validation split the last epoch's are kept.
    pub keep_best: bool,
    /// The rate follows a cosine from `lr` to 0 over the run's updates (all
    /// of them, `max_windows` included) instead of `schedule`'s per-epoch
    /// steps, so even a run shorter than an epoch ends annealed.
    pub anneal_per_update: bool,
}

/// What [`train_qat`] did.
#[derive(Debug, Clone)]
pub struct QatRun {
    /// One report per epoch run.
    pub reports: Vec<EpochReport>,
    /// The calibrated start's validation loss (NaN without a validation split).
    pub start_valid: f64,
    /// The epoch whose weights and ranges the model ends with: 0 for the
    /// calibrated start, when no epoch beat it on validation.
    pub kept_epoch: usize,
}

/// Runs QAT. Each epoch ends with a QAT-mode validation pass (the integer
/// model's own metric); with [`QatSettings::keep_best`] the model ends as
/// the best of those and the calibrated start.
pub fn train_qat(
    qat: &mut Qat,
    corpus: &Corpus,
    s: &QatSettings,
    observer: &mut dyn Observer<EpochReport>,
) -> Result<QatRun, QatError> {
    let batches = Batches::new(&corpus.train, s.batch);
    let windows = batches.windows(s.bptt);
    let total = s
        .max_windows
        .map_or(windows * s.epochs, |m| m.min(windows * s.epochs));
    let freeze_at = ((1.0 - s.freeze_fraction.clamp(0.0, 1.0)) * total as f64) as usize;
    let mut optimizer = Optimizer::default();
    let mut schedule = ScheduleState::new(s.lr);
    let mut reports = Vec::new();
    let mut done = 0usize;
    let validate = |qat: &mut Qat| -> Result<f64, QatError> {
        Ok(if corpus.valid.len() > EVAL_BATCH + 1 {
            qat.evaluate(&corpus.valid, EVAL_BATCH, s.bptt, false)?
                .0
                .mean()
        } else {
            f64::NAN
        })
    };
    let start_valid = if s.keep_best {
        validate(qat)?
    } else {
        f64::NAN
    };
    // The best state so far by validation: weights and ranges.
    let mut best = KeepBest::default();
    let snapshot = |qat: &Qat| {
        (
            qat.model.clone(),
            qat.ranges.clone(),
            qat.learned_steps.clone(),
        )
    };
    if s.keep_best {
        best.offer(start_valid, 0, || snapshot(qat));
    }
    for epoch in 1..=s.epochs {
        if done >= total {
            break;
        }
        let int = qat.export()?;
        let mut states: Vec<LmState> = (0..batches.batch()).map(|_| int.zero_state()).collect();
        qat.restart_teacher();
        observer.epoch_start(epoch, windows, windows * s.bptt * s.batch);
        let start = Instant::now();
        let (mut loss_sum, mut tokens) = (0.0, 0usize);
        for w in 0..windows {
            if done >= total {
                break;
            }
            if done >= freeze_at {
                qat.frozen = true;
            }
            if s.anneal_per_update {
                schedule.lr = cosine_lr(s.lr, 0.0, done, total);
            }
            let (x, y, steps) = batches.window(w, s.bptt);
            qat.model.zero_grad();
            let loss = qat.train_window(&x, &y, steps, &mut states)?;
            crate::train::check_finite(loss, epoch, w + 1)?;
            // Before the update rule scales and clips the weights' gradients.
            if let Some(learned) = &mut qat.learned_steps {
                learned.set_gradients(&recurrent_weights(&qat.model));
            }
            let rule = crate::train::UpdateRule {
                sum_over_time: s.sum_over_time,
                clip: s.clip,
                optimizer: s.optimizer,
            };
            rule.apply(
                &mut qat.model.params_mut(),
                steps,
                &mut optimizer,
                schedule.lr,
            );
            if let Some(learned) = &mut qat.learned_steps {
                learned.update(s.optimizer, schedule.lr);
            }
            done += 1;
            loss_sum += loss * (steps * s.batch) as f64;
            tokens += steps * s.batch;
            observer.update_done(w + 1, tokens, loss, schedule.lr);
        }
        let seconds = start.elapsed().as_secs_f64();
        let valid_loss = validate(qat)?;
        if s.keep_best {
            best.offer(valid_loss, epoch, || snapshot(qat));
        }
        let lr = schedule.lr;
        schedule.end_epoch(s.schedule, epoch, valid_loss);
        let report = EpochReport::new(epoch, loss_sum, tokens, valid_loss, lr, seconds);
        observer.epoch_end(&report);
        reports.push(report);
    }
    let last = reports.last().map_or(0, |r| r.epoch);
    let kept_epoch = match best.unless_last(last) {
        Some((epoch, (model, ranges, learned_steps))) => {
            qat.model = model;
            qat.ranges = ranges;
            qat.learned_steps = learned_steps;
            epoch
        }
        None => last,
    };
    Ok(QatRun {
        reports,
        start_valid,
        kept_epoch,
    })
}
