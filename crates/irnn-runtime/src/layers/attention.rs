//! Integer attention over an encoder memory (NUMERICS.md §4.5).
//!
//! Scores are additive (Bahdanau: `e_j = v · tanh(W_k m_j + W_q q)`) or
//! dot-product (Luong: `e_j = (q − z_q) · (m_j − z_m)`), held in i64. The
//! softmax is integer-only:
//!
//! ```text
//! d_j = clamp_i32(e_j − max_k e_k)                     (≤ 0)
//! x_j = clamp_i16(score_to_exp.apply(d_j))             (exp's input grid)
//! p_j = max(exp_pwl(x_j), 0)                           (Q0.15)
//! S   = Σ p_j;  1/S = mant / 2^sh                      (fixed_point::reciprocal)
//! α_j = round(p_j · mant / 2^(sh − 15))                (Q0.15, ties away from zero)
//! ```
//!
//! and the context `c_i = Σ_j α_j (m_ji − z_m)` is accumulated exactly (i64),
//! then requantized to int8: `clamp_i8(context_multiplier.apply(clamp_i32(c_i)) + z_c)`.

use alloc::vec::Vec;

use crate::error::{check_len, Error};
use crate::fixed_point::{
    reciprocal, rounding_divide_by_pot_i64, saturate_i32_to_i16, saturate_i32_to_i8,
    saturate_i64_to_i32, QuantizedMultiplier,
};
use crate::kernels::{Isa, PackedMatrix, RowRequant};
use crate::pwl::PwlTable;

/// Largest memory width for dot-product scores (keeps `Σ (q − z)(m − z)` exact in i32 per term sums).
pub const MAX_MEMORY_DIM: usize = 32_768;

/// How a query is scored against each memory step.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one per model; boxing buys nothing
pub enum AttentionScore {
    /// Bahdanau: `e_j = v · tanh(W_k m_j + b + W_q q)`.
    Additive {
        /// Key projection, [A × memory_dim].
        w_key: PackedMatrix,
        /// Keys → the int16 attention grid (bias and z_m folded in).
        key_requant: RowRequant,
        /// Query projection, [A × query_dim].
        w_query: PackedMatrix,
        /// Query → the same int16 grid (z_q folded in).
        query_requant: RowRequant,
        /// tanh on the attention grid, output Q0.15.
        tanh: PwlTable,
        /// The scoring vector, int8 with one scale.
        v: Vec<i8>,
    },
    /// Luong: `e_j = (q − z_q) · (m_j − z_m)`; the query has the memory's width.
    Dot {
        /// The query's zero point.
        query_zero_point: i32,
    },
}

/// An integer attention layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntAttention {
    /// Scoring function.
    pub score: AttentionScore,
    /// Width of each memory step.
    pub memory_dim: usize,
    /// The memory's zero point.
    pub memory_zero_point: i32,
    /// Score units → exp's int16 input grid.
    pub score_to_exp: QuantizedMultiplier,
    /// exp on its input grid (inputs ≤ 0), output Q0.15.
    pub exp: PwlTable,
    /// `2^−15 · s_m / s_c`: context units → the context's int8 grid.
    pub context_multiplier: QuantizedMultiplier,
    /// The context's zero point.
    pub context_zero_point: i32,
}

/// A memory prepared for attention: the int8 memory and, for additive
/// scores, its projected keys.
#[derive(Debug, Clone, Default)]
pub struct AttentionMemory {
    steps: usize,
    memory: Vec<i8>,
    keys: Vec<i16>,
    /// The key product's int32 sums (kept so a reused memory allocates
    /// nothing).
    acc: Vec<i32>,
}

/// Buffers one attention step uses, kept by the caller so that attending
/// allocates nothing once they have grown to the memory's length.
#[derive(Debug, Clone, Default)]
pub struct AttentionScratch {
    scores: Vec<i64>,
    acc: Vec<i32>,
    q: Vec<i16>,
    pre: Vec<i16>,
    act: Vec<i16>,
    exps: Vec<i16>,
    inputs: Vec<i16>,
}

impl AttentionMemory {
    /// Number of memory steps.
    pub fn steps(&self) -> usize {
        self.steps
    }
}

impl IntAttention {
    /// Checks sizes and ranges.
    pub fn validate(&self) -> Result<(), Error> {
        if self.memory_dim == 0 || self.memory_dim > MAX_MEMORY_DIM {
            return Err(Error::DimensionTooLarge {
                what: "attention memory width (1..=32768)",
                value: self.memory_dim,
                max: MAX_MEMORY_DIM,
            });
        }
        let int8 = -128..=127;
        if !int8.contains(&self.memory_zero_point) || !int8.contains(&self.context_zero_point) {
            return Err(Error::InvalidParameter {
                what: "attention zero points must be in the int8 range",
            });
        }
        match &self.score {
            AttentionScore::Additive {
                w_key,
                key_requant,
                w_query,
                query_requant,
                v,
                ..
            } => {
                let a = v.len();
                check_len("attention key rows", a, w_key.rows())?;
                check_len("attention key columns", self.memory_dim, w_key.cols())?;
                check_len("attention key requantization", a, key_requant.rows())?;
                check_len("attention query rows", a, w_query.rows())?;
                check_len("attention query requantization", a, query_requant.rows())?;
            }
            AttentionScore::Dot { query_zero_point } => {
                if !int8.contains(query_zero_point) {
                    return Err(Error::InvalidParameter {
                        what: "attention query zero point must be in the int8 range",
                    });
                }
            }
        }
        Ok(())
    }

    /// Prepares a memory of `steps × memory_dim` int8 values.
    pub fn prepare(&self, isa: Isa, memory: &[i8]) -> Result<AttentionMemory, Error> {
        let mut m = AttentionMemory::default();
        self.prepare_into(isa, memory, &mut m)?;
        Ok(m)
    }

    /// [`prepare`](Self::prepare) into `out`, reusing its buffers.
    pub fn prepare_into(
        &self,
        isa: Isa,
        memory: &[i8],
        out: &mut AttentionMemory,
    ) -> Result<(), Error> {
        let d = self.memory_dim;
        if memory.is_empty() || !memory.len().is_multiple_of(d) {
            return Err(Error::ShapeMismatch {
                what: "attention memory (a whole, non-zero number of steps)",
                expected: d,
                found: memory.len(),
            });
        }
        let steps = memory.len() / d;
        out.steps = steps;
        out.memory.clear();
        out.memory.extend_from_slice(memory);
        out.keys.clear();
        if let AttentionScore::Additive {
            w_key, key_requant, ..
        } = &self.score
        {
            let a = w_key.rows();
            out.acc.clear();
            out.acc.resize(steps * a, 0);
            w_key.matmul(isa, memory, steps, &mut out.acc)?;
            out.keys.resize(steps * a, 0);
            key_requant.apply(isa, &out.acc, &mut out.keys)?;
        }
        Ok(())
    }

    /// Attends `query` over `memory`: writes the int8 context
    /// (`memory_dim` values) and the attention weights (Q0.15, one per step).
    pub fn attend(
        &self,
        isa: Isa,
        memory: &AttentionMemory,
        query: &[i8],
        weights: &mut [i32],
        context: &mut [i8],
    ) -> Result<(), Error> {
        let mut scratch = AttentionScratch::default();
        self.attend_with(isa, memory, query, weights, context, &mut scratch)
    }

    /// [`attend`](Self::attend) with the caller's buffers.
    pub fn attend_with(
        &self,
        isa: Isa,
        memory: &AttentionMemory,
        query: &[i8],
        weights: &mut [i32],
        context: &mut [i8],
        s: &mut AttentionScratch,
    ) -> Result<(), Error> {
        let (t, d) = (memory.steps, self.memory_dim);
        check_len("attention weights", t, weights.len())?;
        check_len("attention context", d, context.len())?;
        let zm = self.memory_zero_point;
        // 1. Scores.
        let AttentionScratch {
            scores,
            acc,
            q,
            pre,
            act,
            exps,
            inputs,
        } = s;
        scores.clear();
        scores.resize(t, 0);
        match &self.score {
            AttentionScore::Additive {
                w_query,
                query_requant,
                tanh,
                v,
                ..
            } => {
                let a = v.len();
                check_len("attention query", w_query.cols(), query.len())?;
                for buf in [&mut *q, &mut *pre, &mut *act] {
                    buf.clear();
                    buf.resize(a, 0);
                }
                acc.clear();
                acc.resize(a, 0);
                w_query.matvec(isa, query, acc)?;
                query_requant.apply(isa, acc, q)?;
                for (j, score) in scores.iter_mut().enumerate() {
                    let keys = &memory.keys[j * a..(j + 1) * a];
                    for ((p, &k), &qv) in pre.iter_mut().zip(keys).zip(q.iter()) {
                        *p = k.saturating_add(qv);
                    }
                    tanh.eval_i16(isa, pre, act)?;
                    *score = act.iter().zip(v).map(|(&x, &w)| x as i64 * w as i64).sum();
                }
            }
            AttentionScore::Dot { query_zero_point } => {
                check_len("attention query", d, query.len())?;
                for (j, score) in scores.iter_mut().enumerate() {
                    let m = &memory.memory[j * d..(j + 1) * d];
                    *score = m
                        .iter()
                        .zip(query)
                        .map(|(&mv, &qv)| {
                            (mv as i64 - zm as i64) * (qv as i64 - *query_zero_point as i64)
                        })
                        .sum();
                }
            }
        }
        // 2. Integer softmax.
        let max = scores.iter().copied().max().unwrap_or(0);
        for buf in [&mut *exps, &mut *inputs] {
            buf.clear();
            buf.resize(t, 0);
        }
        for (x, &s) in inputs.iter_mut().zip(scores.iter()) {
            *x = saturate_i32_to_i16(self.score_to_exp.apply(saturate_i64_to_i32(s - max)));
        }
        self.exp.eval_i16(isa, inputs, exps)?;
        let sum: u64 = exps.iter().map(|&p| p.max(0) as u64).sum();
        match reciprocal(sum) {
            Some(r) => {
                for (w, &p) in weights.iter_mut().zip(exps.iter()) {
                    let p = p.max(0) as i64;
                    *w = rounding_divide_by_pot_i64(p * r.mantissa as i64, r.shift - 15) as i32;
                }
            }
            None => weights.iter_mut().for_each(|w| *w = 0),
        }
        // 3. Context.
        for (i, c) in context.iter_mut().enumerate() {
            let acc: i64 = (0..t)
                .map(|j| weights[j] as i64 * (memory.memory[j * d + i] as i64 - zm as i64))
                .sum();
            let scaled = self.context_multiplier.apply(saturate_i64_to_i32(acc));
            *c = saturate_i32_to_i8(scaled.saturating_add(self.context_zero_point));
        }
        Ok(())
    }
}
