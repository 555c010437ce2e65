//! The float language model: embedding → stacked LSTM/GRU (dropout between
//! layers, optional residual connections) → linear decoder, trained with
//! truncated BPTT. Parameter names follow PyTorch's word_language_model
//! (`encoder.weight`, `rnn.weight_ih_l0`, …, `decoder.weight`).

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::lm::data::Level;
use crate::nn::dropout::DropoutMask;
use crate::nn::gru::{Gru, GruCache};
use crate::nn::linear::{Embedding, Linear};
use crate::nn::loss::softmax_cross_entropy;
use crate::nn::lstm::{Lstm, LstmCache};
use crate::nn::{Param, Real, Recurrent};

/// Recurrent cell kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// LSTM.
    Lstm,
    /// GRU.
    Gru,
}

impl std::str::FromStr for CellKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lstm" => Ok(CellKind::Lstm),
            "gru" => Ok(CellKind::Gru),
            o => Err(format!("unknown cell '{o}' (expected 'lstm' or 'gru')")),
        }
    }
}

/// Everything that defines the model's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmConfig {
    /// Token granularity of the data.
    pub level: Level,
    /// Vocabulary size.
    pub vocab: usize,
    /// Cell kind.
    pub cell: CellKind,
    /// Number of recurrent layers.
    pub layers: usize,
    /// Hidden size.
    pub hidden: usize,
    /// Embedding size.
    pub embedding: usize,
    /// Dropout probability (embedding, between layers, before the decoder).
    pub dropout: f64,
    /// Reuse one dropout mask across the time steps of a window.
    pub locked_dropout: bool,
    /// LSTM: `c = f⊙c + min(i, 1 − f)⊙g`.
    pub capped_input_gate: bool,
    /// GRU: reset before the recurrent product.
    pub reset_before: bool,
    /// LSTM: LayerNorm on the gate pre-activations and on the cell.
    #[serde(default)]
    pub layer_norm: bool,
    /// Add each layer's input to its output (sizes must match).
    pub residual: bool,
}

impl LmConfig {
    /// Parameters of the model this configuration builds (computed without
    /// building it).
    pub fn parameter_count(&self) -> u64 {
        let (v, e, h) = (self.vocab as u64, self.embedding as u64, self.hidden as u64);
        let gates = match self.cell {
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        };
        let norms = if self.layer_norm { 4 * gates * h } else { 0 };
        let layers: u64 = (0..self.layers as u64)
            .map(|l| {
                let input = if l == 0 { e } else { h };
                gates * h * (input + h) + 2 * gates * h + norms
            })
            .sum();
        v * e + layers + h * v + v
    }

    /// An upper estimate of the memory training needs, in bytes: every
    /// parameter four times (value, gradient, two Adam moments) and one
    /// window's activations kept for the backward pass.
    pub fn training_bytes(&self, batch: usize, bptt: usize) -> u64 {
        let rows = batch as u64 * bptt as u64;
        let per_row = self.layers as u64 * self.hidden as u64 * 16
            + 3 * self.vocab as u64
            + 2 * self.embedding as u64;
        4 * (4 * self.parameter_count() + rows * per_row)
    }
}

/// One recurrent layer.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // a handful per model
pub enum Rnn<T> {
    /// LSTM.
    Lstm(Lstm<T>),
    /// GRU.
    Gru(Gru<T>),
}

/// The float language model.
#[derive(Debug, Clone)]
pub struct LanguageModel<T> {
    /// Its configuration.
    pub config: LmConfig,
    /// Token embedding.
    pub encoder: Embedding<T>,
    /// Recurrent layers, bottom first.
    pub rnns: Vec<Rnn<T>>,
    /// Output projection.
    pub decoder: Linear<T>,
}

/// Hidden state carried from window to window: per layer `h` and `c`
/// (`batch × H`; `c` unused by GRU).
#[derive(Debug, Clone, PartialEq)]
pub struct LmState<T> {
    /// Hidden states.
    pub h: Vec<Vec<T>>,
    /// Cell states.
    pub c: Vec<Vec<T>>,
}

/// Runs `$body` with `$cell` bound to the layer inside an [`Rnn`] — the
/// one place, with [`Cache`], that lists the cell kinds.
macro_rules! with_rnn {
    ($rnn:expr, |$cell:ident| $body:expr) => {
        match $rnn {
            Rnn::Lstm($cell) => $body,
            Rnn::Gru($cell) => $body,
        }
    };
}

/// What each layer's forward pass kept for its backward pass.
enum Cache<T> {
    Lstm(LstmCache<T>),
    Gru(GruCache<T>),
}

/// What a forward pass produced: the logits, the top layer's output, and
/// for the backward pass the dropout masks and layer caches.
struct Forward<T> {
    logits: Vec<T>,
    top: Vec<T>,
    masks: Vec<DropoutMask<T>>,
    caches: Vec<Cache<T>>,
}

/// One layer's input window.
struct Window<'a, T> {
    x: &'a [T],
    steps: usize,
    batch: usize,
    train: bool,
}

impl<T: Real> Window<'_, T> {
    /// `cell`'s outputs over the window from `h`, `c`, and its cache
    /// (empty unless training), wrapped by `wrap`.
    fn forward<C: Recurrent<T>>(
        &self,
        cell: &C,
        h: &mut [T],
        c: &mut [T],
        wrap: fn(C::Cache) -> Cache<T>,
    ) -> (Vec<T>, Cache<T>) {
        let mut cache = C::Cache::default();
        let cached = self.train.then_some(&mut cache);
        let out = cell.forward(self.x, self.steps, self.batch, h, c, cached);
        (out, wrap(cache))
    }
}

impl<T: Real> LanguageModel<T> {
    /// A freshly initialised model.
    pub fn new(config: LmConfig, rng: &mut impl RngCore) -> Self {
        let mut rnns = Vec::new();
        for l in 0..config.layers {
            let input = if l == 0 {
                config.embedding
            } else {
                config.hidden
            };
            rnns.push(match config.cell {
                CellKind::Lstm => Rnn::Lstm(Lstm::new(
                    l,
                    input,
                    config.hidden,
                    config.capped_input_gate,
                    config.layer_norm,
                    rng,
                )),
                CellKind::Gru => {
                    Rnn::Gru(Gru::new(l, input, config.hidden, config.reset_before, rng))
                }
            });
        }
        let mut decoder = Linear::new("decoder", config.hidden, config.vocab, rng);
        // As PyTorch's word_language_model: decoder U(−0.1, 0.1), bias 0.
        for v in &mut decoder.weight.value {
            *v = T::of(rand::Rng::gen_range(rng, -0.1..=0.1));
        }
        decoder.bias.value.iter_mut().for_each(|b| *b = T::zero());
        Self {
            encoder: Embedding::new("encoder.weight", config.vocab, config.embedding, rng),
            rnns,
            decoder,
            config,
        }
    }

    /// All parameters, in a fixed order.
    pub fn params(&self) -> Vec<&Param<T>> {
        let mut out = vec![&self.encoder.weight];
        for r in &self.rnns {
            out.extend(with_rnn!(r, |cell| Recurrent::params(cell)));
        }
        out.push(&self.decoder.weight);
        out.push(&self.decoder.bias);
        out
    }

    /// All parameters, mutable, in the same order.
    pub fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        let mut out = vec![&mut self.encoder.weight];
        for r in &mut self.rnns {
            out.extend(with_rnn!(r, |cell| Recurrent::params_mut(cell)));
        }
        out.push(&mut self.decoder.weight);
        out.push(&mut self.decoder.bias);
        out
    }

    /// Zeroes every gradient.
    pub fn zero_grad(&mut self) {
        for p in self.params_mut() {
            p.zero_grad();
        }
    }

    /// The zero state for `batch` streams.
    pub fn zero_state(&self, batch: usize) -> LmState<T> {
        let n = self.config.layers;
        LmState {
            h: vec![vec![T::zero(); batch * self.config.hidden]; n],
            c: vec![vec![T::zero(); batch * self.config.hidden]; n],
        }
    }

    /// The int-free float forward pass of one window for inference: the
    /// logits (`steps × batch × vocab`, row-major by step then stream) from
    /// `state`, which is updated. What `window` computes before its loss,
    /// without dropout.
    pub fn logits(&self, x: &[u32], steps: usize, batch: usize, state: &mut LmState<T>) -> Vec<T> {
        self.forward(x, steps, batch, state, None).logits
    }

    /// Forward over one window; with `rng`, training mode (dropout masks
    /// drawn, layer caches kept for the backward pass).
    fn forward(
        &self,
        x: &[u32],
        steps: usize,
        batch: usize,
        state: &mut LmState<T>,
        mut rng: Option<&mut dyn RngCore>,
    ) -> Forward<T> {
        let rows = steps * batch;
        let train = rng.is_some();
        let p = self.config.dropout;
        let use_dropout = train && p > 0.0;
        let mut masks = Vec::new();
        let mut caches = Vec::new();

        let mut h = self.encoder.forward(x);
        for l in 0..=self.rnns.len() {
            if use_dropout {
                let width = if l == 0 {
                    self.config.embedding
                } else {
                    self.config.hidden
                };
                let rng = rng.as_deref_mut().expect("training has an rng");
                let m =
                    DropoutMask::sample(p, steps, batch, width, self.config.locked_dropout, rng);
                m.apply(&mut h);
                masks.push(m);
            }
            if l == self.rnns.len() {
                break;
            }
            let (hs, cs) = (&mut state.h[l], &mut state.c[l]);
            let window = Window {
                x: &h,
                steps,
                batch,
                train,
            };
            let (mut out, cache) = match &self.rnns[l] {
                Rnn::Lstm(cell) => window.forward(cell, hs, cs, Cache::Lstm),
                Rnn::Gru(cell) => window.forward(cell, hs, cs, Cache::Gru),
            };
            caches.push(cache);
            if self.config.residual && out.len() == h.len() {
                for (o, &i) in out.iter_mut().zip(&h) {
                    *o += i;
                }
            }
            h = out;
        }
        let logits = self.decoder.forward(&h, rows);
        Forward {
            logits,
            top: h,
            masks,
            caches,
        }
    }

    /// Forward (and, when `rng` is given, training-mode dropout and the
    /// backward pass, accumulating gradients) over one window of `steps ×
    /// batch` tokens. Returns the mean cross-entropy in nats.
    pub fn window(
        &mut self,
        x: &[u32],
        y: &[u32],
        steps: usize,
        batch: usize,
        state: &mut LmState<T>,
        rng: Option<&mut dyn RngCore>,
    ) -> f64 {
        let rows = steps * batch;
        let train = rng.is_some();
        let use_dropout = train && self.config.dropout > 0.0;
        let Forward {
            mut logits,
            top: h,
            masks,
            caches,
        } = self.forward(x, steps, batch, state, rng);
        let loss = softmax_cross_entropy(&mut logits, y, self.config.vocab, train);
        if !train {
            return loss;
        }

        // Backward.
        let mut d = self.decoder.backward(&h, &logits, rows);
        for l in (0..self.rnns.len()).rev() {
            if use_dropout {
                masks[l + 1].apply(&mut d);
            }
            let mut dx = match (&mut self.rnns[l], &caches[l]) {
                (Rnn::Lstm(cell), Cache::Lstm(c)) => Recurrent::backward(cell, c, &d),
                (Rnn::Gru(cell), Cache::Gru(c)) => Recurrent::backward(cell, c, &d),
                _ => unreachable!("caches follow the layers"),
            };
            if self.config.residual && dx.len() == d.len() {
                for (a, &b) in dx.iter_mut().zip(&d) {
                    *a += b;
                }
            }
            d = dx;
        }
        if use_dropout {
            masks[0].apply(&mut d);
        }
        self.encoder.backward(x, &d);
        loss
    }

    /// Mean cross-entropy (nats per token) over a token sequence, evaluated
    /// in `batch` parallel streams of `bptt`-step windows.
    pub fn evaluate(&mut self, tokens: &[u32], batch: usize, bptt: usize) -> f64 {
        let batches = crate::lm::data::Batches::new(tokens, batch);
        let mut state = self.zero_state(batches.batch());
        let (mut total, mut count) = (0.0, 0usize);
        for w in 0..batches.windows(bptt) {
            let (x, y, steps) = batches.window(w, bptt);
            let loss = self.window(&x, &y, steps, batches.batch(), &mut state, None);
            total += loss * (steps * batches.batch()) as f64;
            count += steps * batches.batch();
        }
        if count == 0 {
            f64::NAN
        } else {
            total / count as f64
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
