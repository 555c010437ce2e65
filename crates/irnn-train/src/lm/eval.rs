//! Scoring the integer model. The runtime stops at int32 logits; the
//! negative log-likelihood of the next token is computed here, in f64, from
//! those logits and the model's logit unit. QAT's evaluation and
//! `irnn eval` both go through [`NllSum`], so they sum the same numbers in
//! the same order and report the same metric to the last bit.

use irnn_runtime::layers::SEQUENCE_CHUNK;
use irnn_runtime::model::{IntLanguageModel, LmState};
use irnn_runtime::Isa;
use rayon::prelude::*;

use crate::quant::export::logit_scale;

/// −log p(target) in nats, from int32 logits whose unit is `scale`.
pub fn token_nll(logits: &[i32], scale: f64, target: u32) -> f64 {
    let max = logits.iter().copied().max().unwrap_or(0);
    let sum: f64 = logits
        .iter()
        .map(|&l| ((l as i64 - max as i64) as f64 * scale).exp())
        .sum();
    sum.ln() - (logits[target as usize] as i64 - max as i64) as f64 * scale
}

/// Per-stream NLL totals, summed in a fixed order.
#[derive(Debug, Clone, PartialEq)]
pub struct NllSum {
    streams: Vec<f64>,
    tokens: usize,
}

impl NllSum {
    /// Zero totals for `streams` streams.
    pub fn new(streams: usize) -> Self {
        Self {
            streams: vec![0.0; streams],
            tokens: 0,
        }
    }

    /// Adds stream `b`'s next token.
    pub fn add(&mut self, b: usize, nll: f64) {
        self.streams[b] += nll;
        self.tokens += 1;
    }

    /// Mean NLL (nats per token); NaN with no tokens.
    pub fn mean(&self) -> f64 {
        if self.tokens == 0 {
            return f64::NAN;
        }
        self.streams.iter().sum::<f64>() / self.tokens as f64
    }

    /// Tokens scored.
    pub fn tokens(&self) -> usize {
        self.tokens
    }
}

/// Mean NLL of `model` on `tokens`, cut into `streams` parallel streams as
/// the float evaluation does (each stream runs from the zero state; the
/// remainder of the division is dropped). Streams run in parallel.
pub fn evaluate(
    model: &IntLanguageModel,
    isa: Isa,
    tokens: &[u32],
    streams: usize,
) -> Result<NllSum, irnn_runtime::Error> {
    let batches = crate::lm::data::Batches::new(tokens, streams);
    let (n, len) = (batches.batch(), batches.stream_len());
    let scale = logit_scale(model.output.logit_scale);
    let per_stream: Vec<Result<Vec<f64>, irnn_runtime::Error>> = (0..n)
        .into_par_iter()
        .map(|b| {
            let stream = &tokens[b * len..(b + 1) * len];
            let mut state: LmState = model.zero_state();
            let classes = model.classes();
            let mut logits = vec![0; SEQUENCE_CHUNK * classes];
            let mut out = Vec::with_capacity(len.saturating_sub(1));
            // Token t predicts token t + 1; `run` over a chunk is stepping
            // token by token with each layer's input product batched.
            let (inputs, targets) = (
                &stream[..len.saturating_sub(1)],
                stream.get(1..).unwrap_or(&[]),
            );
            for (chunk, next) in inputs
                .chunks(SEQUENCE_CHUNK)
                .zip(targets.chunks(SEQUENCE_CHUNK))
            {
                let logits = &mut logits[..chunk.len() * classes];
                model.run(isa, chunk, &mut state, logits)?;
                for (l, &target) in logits.chunks_exact(classes).zip(next) {
                    out.push(token_nll(l, scale, target));
                }
            }
            Ok(out)
        })
        .collect();
    let mut sum = NllSum::new(n);
    for (b, nlls) in per_stream.into_iter().enumerate() {
        for nll in nlls? {
            sum.add(b, nll);
        }
    }
    Ok(sum)
}
