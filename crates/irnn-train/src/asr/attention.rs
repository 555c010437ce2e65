//! The attention decoder (ESPRESSO's recipe, made small): the previous
//! label's embedding drives an LSTM; its state is the query of additive
//! attention over the encoder's outputs; `[h_t; context_t]` → linear → the
//! next label (a unit or end of sentence).
//!
//! The decoder's input is the previous label only (no "input feeding" of
//! the previous context), so with teacher forcing every LSTM input is known
//! in advance: the LSTM runs over the whole label sequence in one call and
//! attention takes all queries at once. Trained jointly with the CTC head
//! (`λ·CTC + (1 − λ)·cross-entropy`, both summed over the utterance).

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::nn::attention::{AdditiveAttention, AttentionCache};
use crate::nn::linear::{Embedding, Linear};
use crate::nn::loss::softmax_cross_entropy;
use crate::nn::lstm::{Lstm, LstmCache};
use crate::nn::{Param, Real};

/// End of sentence for `units` units: the output class after them.
pub fn eos(units: usize) -> u32 {
    units as u32
}

/// Start of sentence (a decoder input only): the input after end of
/// sentence.
pub fn sos(units: usize) -> u32 {
    units as u32 + 1
}

/// The decoder's shape and its share of the training loss.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DecoderConfig {
    /// Label embedding size.
    pub embedding: usize,
    /// Decoder LSTM hidden size.
    pub hidden: usize,
    /// Attention width.
    pub attention: usize,
    /// λ: the CTC loss's weight in training (the decoder's is 1 − λ).
    pub ctc_weight: f64,
}

/// The decoder's parameters.
#[derive(Debug, Clone)]
pub struct AttentionDecoder<T> {
    /// Its shape.
    pub config: DecoderConfig,
    /// Output units (end of sentence is class `units`).
    pub units: usize,
    /// Label embeddings, [(units + 2) × E]: the units, end and start of
    /// sentence.
    pub embedding: Embedding<T>,
    /// The decoder LSTM (E → H).
    pub cell: Lstm<T>,
    /// Additive attention over the encoder outputs, queried by h.
    pub attention: AdditiveAttention<T>,
    /// `[h; context]` → the units and end of sentence.
    pub output: Linear<T>,
}

/// What a teacher-forced forward pass keeps.
pub struct DecoderCache<T> {
    inputs: Vec<u32>,
    lstm: LstmCache<T>,
    hs: Vec<T>,
    attention: AttentionCache<T>,
    joined: Vec<T>,
}

/// `[SOS, u1 … uU]`: the teacher-forced inputs of `targets` (unit ids of
/// a model with `units` units).
pub fn decoder_inputs(targets: &[u32], units: usize) -> Vec<u32> {
    std::iter::once(sos(units))
        .chain(targets.iter().copied())
        .collect()
}

/// `[u1 … uU, EOS]`: the targets.
pub fn decoder_targets(targets: &[u32], units: usize) -> Vec<u32> {
    targets
        .iter()
        .copied()
        .chain(std::iter::once(eos(units)))
        .collect()
}

impl<T: Real> AttentionDecoder<T> {
    /// A decoder over encoder outputs of `memory` values per step, for
    /// `units` output units.
    pub fn new(config: DecoderConfig, memory: usize, units: usize, rng: &mut impl Rng) -> Self {
        let mut cell = Lstm::new(0, config.embedding, config.hidden, false, false, rng);
        for p in cell.params_mut() {
            p.name = format!("decoder.{}", p.name);
        }
        Self {
            embedding: Embedding::new("decoder.embedding.weight", units + 2, config.embedding, rng),
            cell,
            attention: AdditiveAttention::new(
                "decoder.attention",
                memory,
                config.hidden,
                config.attention,
                rng,
            ),
            output: Linear::new("decoder.output", config.hidden + memory, units + 1, rng),
            units,
            config,
        }
    }

    /// All parameters, in a fixed order.
    pub fn params(&self) -> Vec<&Param<T>> {
        let mut v = vec![&self.embedding.weight];
        v.extend(self.cell.params());
        v.extend(self.attention.params());
        v.extend([&self.output.weight, &self.output.bias]);
        v
    }

    /// The same, mutable.
    pub fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        let mut v = vec![&mut self.embedding.weight];
        v.extend(self.cell.params_mut());
        v.extend(self.attention.params_mut());
        v.extend([&mut self.output.weight, &mut self.output.bias]);
        v
    }

    /// Teacher-forced logits (`inputs.len() × (units + 1)`) over `memory`.
    pub fn forward(&self, memory: &[T], inputs: &[u32]) -> (Vec<T>, DecoderCache<T>) {
        let n = self.config.hidden;
        let rows = inputs.len();
        let emb = self.embedding.forward(inputs);
        let (mut h, mut c) = (vec![T::zero(); n], vec![T::zero(); n]);
        let mut lstm = LstmCache::default();
        let hs = self
            .cell
            .forward(&emb, rows, 1, &mut h, &mut c, Some(&mut lstm));
        let (ctx, attention) = self.attention.forward(memory, &hs);
        let d = self.attention.memory_dim();
        let mut joined = Vec::with_capacity(rows * (n + d));
        for t in 0..rows {
            joined.extend_from_slice(&hs[t * n..(t + 1) * n]);
            joined.extend_from_slice(&ctx[t * d..(t + 1) * d]);
        }
        let logits = self.output.forward(&joined, rows);
        (
            logits,
            DecoderCache {
                inputs: inputs.to_vec(),
                lstm,
                hs,
                attention,
                joined,
            },
        )
    }

    /// Accumulates gradients from `d_logits`; returns the memory's gradient.
    pub fn backward(&mut self, cache: &DecoderCache<T>, memory: &[T], d_logits: &[T]) -> Vec<T> {
        let n = self.config.hidden;
        let d = self.attention.memory_dim();
        let rows = cache.inputs.len();
        let d_joined = self.output.backward(&cache.joined, d_logits, rows);
        let mut d_h = Vec::with_capacity(rows * n);
        let mut d_ctx = Vec::with_capacity(rows * d);
        for row in d_joined.chunks_exact(n + d) {
            d_h.extend_from_slice(&row[..n]);
            d_ctx.extend_from_slice(&row[n..]);
        }
        let (d_memory, d_query) =
            self.attention
                .backward(&cache.attention, memory, &cache.hs, &d_ctx);
        for (a, b) in d_h.iter_mut().zip(&d_query) {
            *a += *b;
        }
        let d_emb = self.cell.backward(&cache.lstm, &d_h);
        self.embedding.backward(&cache.inputs, &d_emb);
        d_memory
    }

    /// Cross-entropy of the unit ids `targets` (summed over the labels and
    /// end of sentence) and its gradient with respect to the logits.
    pub fn loss(&self, memory: &[T], targets: &[u32]) -> (f64, Vec<T>, DecoderCache<T>) {
        let inputs = decoder_inputs(targets, self.units);
        let targets = decoder_targets(targets, self.units);
        let (mut logits, cache) = self.forward(memory, &inputs);
        let rows = targets.len();
        let mean = softmax_cross_entropy(&mut logits, &targets, self.units + 1, true);
        // The gradient is of the mean; the loss used is the sum.
        let k = T::of(rows as f64);
        logits.iter_mut().for_each(|g| *g *= k);
        (mean * rows as f64, logits, cache)
    }

    /// Greedy decoding: the most likely label at each step, fed back, until
    /// end of sentence or `max_len` labels.
    pub fn greedy(&self, memory: &[T], max_len: usize) -> Vec<u32> {
        let n = self.config.hidden;
        let (mut h, mut c) = (vec![T::zero(); n], vec![T::zero(); n]);
        let mut out = Vec::new();
        let mut prev = sos(self.units);
        while out.len() < max_len {
            let emb = self.embedding.forward(&[prev]);
            let hs = self.cell.forward(&emb, 1, 1, &mut h, &mut c, None);
            let (ctx, _) = self.attention.forward(memory, &hs);
            let mut joined = hs.clone();
            joined.extend_from_slice(&ctx);
            let logits = self.output.forward(&joined, 1);
            let mut best = 0;
            for k in 1..=self.units {
                if logits[k] > logits[best] {
                    best = k;
                }
            }
            let best = best as u32;
            if best == eos(self.units) {
                break;
            }
            out.push(best);
            prev = best;
        }
        out
    }
}
