//! Additive (Bahdanau) attention, forward and backward, for a batch of
//! queries over one memory:
//!
//! ```text
//! pre[u,s,a] = (W_k m_s + b_k)[a] + (W_q q_u)[a]
//! e[u,s]     = Σ_a v[a] · tanh(pre[u,s,a])
//! α[u,·]     = softmax_s(e[u,·])
//! ctx_u      = Σ_s α[u,s] · m_s
//! ```
//!
//! The queries of a teacher-forced decoder are known before attention runs
//! (the decoder's inputs are the previous labels, not the previous
//! context), so all of them are attended in one call and the keys `W_k m`
//! are computed once.

use rand::Rng;

use super::linear::Linear;
use super::ops::matmul;
use super::{Param, Real};

/// Parameters of additive attention.
#[derive(Debug, Clone)]
pub struct AdditiveAttention<T> {
    /// Keys: `W_k m + b_k`, [A × D].
    pub key: Linear<T>,
    /// Query projection (no bias: `b_k` covers it), [A × Q].
    pub query: Param<T>,
    /// The scoring vector, `[A]`.
    pub v: Param<T>,
}

/// What the backward pass needs.
#[derive(Debug, Clone, Default)]
pub struct AttentionCache<T> {
    /// tanh(pre), [U × S × A].
    act: Vec<T>,
    /// α, [U × S].
    weights: Vec<T>,
    steps: usize,
}

impl<T> AttentionCache<T> {
    /// The attention weights, `queries × steps`.
    pub fn weights(&self) -> &[T] {
        &self.weights
    }
}

impl<T: Real> AdditiveAttention<T> {
    /// PyTorch-style `U(−1/√fan_in, 1/√fan_in)` initialisation.
    pub fn new(prefix: &str, memory: usize, query: usize, attn: usize, rng: &mut impl Rng) -> Self {
        let kq = 1.0 / (query as f64).sqrt();
        let kv = 1.0 / (attn as f64).sqrt();
        Self {
            key: Linear::new(&format!("{prefix}.key"), memory, attn, rng),
            query: Param::uniform(format!("{prefix}.query.weight"), &[attn, query], kq, rng),
            v: Param::uniform(format!("{prefix}.v"), &[attn], kv, rng),
        }
    }

    /// Attention width A.
    pub fn attn(&self) -> usize {
        self.v.len()
    }

    /// Memory width D.
    pub fn memory_dim(&self) -> usize {
        self.key.input()
    }

    /// Parameters in a fixed order.
    pub fn params(&self) -> Vec<&Param<T>> {
        vec![&self.key.weight, &self.key.bias, &self.query, &self.v]
    }

    /// The same, mutable.
    pub fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        vec![
            &mut self.key.weight,
            &mut self.key.bias,
            &mut self.query,
            &mut self.v,
        ]
    }

    /// Contexts (`U × D`) of `queries` (`U × Q`) over `memory` (`S × D`).
    pub fn forward(&self, memory: &[T], queries: &[T]) -> (Vec<T>, AttentionCache<T>) {
        let (d, a) = (self.memory_dim(), self.attn());
        let qd = self.query.shape[1];
        let (s, u) = (memory.len() / d, queries.len() / qd);
        let keys = self.key.forward(memory, s);
        let mut qp = vec![T::zero(); u * a];
        matmul(
            &mut qp,
            queries,
            &self.query.value,
            u,
            qd,
            a,
            false,
            true,
            false,
        );
        let mut act = vec![T::zero(); u * s * a];
        let mut weights = vec![T::zero(); u * s];
        let mut context = vec![T::zero(); u * d];
        for k in 0..u {
            let e: Vec<T> = (0..s)
                .map(|j| {
                    let row = &mut act[(k * s + j) * a..(k * s + j + 1) * a];
                    let mut score = T::zero();
                    for i in 0..a {
                        row[i] = (keys[j * a + i] + qp[k * a + i]).tanh();
                        score += self.v.value[i] * row[i];
                    }
                    score
                })
                .collect();
            let max = e.iter().copied().fold(T::neg_infinity(), T::max);
            let w = &mut weights[k * s..(k + 1) * s];
            let mut total = T::zero();
            for (wj, &ej) in w.iter_mut().zip(&e) {
                *wj = (ej - max).exp();
                total += *wj;
            }
            let ctx = &mut context[k * d..(k + 1) * d];
            for (j, wj) in w.iter_mut().enumerate() {
                *wj = *wj / total;
                for (c, &m) in ctx.iter_mut().zip(&memory[j * d..(j + 1) * d]) {
                    *c += *wj * m;
                }
            }
        }
        (
            context,
            AttentionCache {
                act,
                weights,
                steps: s,
            },
        )
    }

    /// Accumulates parameter gradients from `d_context` (`U × D`); returns
    /// the gradients of the memory (`S × D`) and of the queries (`U × Q`).
    pub fn backward(
        &mut self,
        cache: &AttentionCache<T>,
        memory: &[T],
        queries: &[T],
        d_context: &[T],
    ) -> (Vec<T>, Vec<T>) {
        let (d, a) = (self.memory_dim(), self.attn());
        let qd = self.query.shape[1];
        let s = cache.steps;
        let u = queries.len() / qd;
        let mut d_memory = vec![T::zero(); s * d];
        let mut d_keys = vec![T::zero(); s * a];
        let mut d_qp = vec![T::zero(); u * a];
        for k in 0..u {
            let w = &cache.weights[k * s..(k + 1) * s];
            let dc = &d_context[k * d..(k + 1) * d];
            // dα_j = dctx · m_j; ctx = Σ α_j m_j also feeds m_j directly.
            let dw: Vec<T> = (0..s)
                .map(|j| {
                    let m = &memory[j * d..(j + 1) * d];
                    for ((dm, &g), _) in d_memory[j * d..(j + 1) * d].iter_mut().zip(dc).zip(m) {
                        *dm += w[j] * g;
                    }
                    m.iter().zip(dc).map(|(&x, &g)| x * g).sum()
                })
                .collect();
            let dot: T = w.iter().zip(&dw).map(|(&x, &g)| x * g).sum();
            for j in 0..s {
                let de = w[j] * (dw[j] - dot);
                let act = &cache.act[(k * s + j) * a..(k * s + j + 1) * a];
                for i in 0..a {
                    self.v.grad[i] += de * act[i];
                    let dpre = de * self.v.value[i] * (T::one() - act[i] * act[i]);
                    d_keys[j * a + i] += dpre;
                    d_qp[k * a + i] += dpre;
                }
            }
        }
        let dm_keys = self.key.backward(memory, &d_keys, s);
        for (x, y) in d_memory.iter_mut().zip(&dm_keys) {
            *x += *y;
        }
        // qp = queries · W_qᵀ.
        matmul(
            &mut self.query.grad,
            &d_qp,
            queries,
            a,
            u,
            qd,
            true,
            false,
            true,
        );
        let mut d_queries = vec![T::zero(); u * qd];
        matmul(
            &mut d_queries,
            &d_qp,
            &self.query.value,
            u,
            a,
            qd,
            false,
            false,
            false,
        );
        (d_memory, d_queries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::gradcheck::{check_input, check_params};
    use crate::nn::rng::TrainRng;

    #[test]
    fn gradients_match_finite_differences() {
        let (d, q, a, s, u) = (5, 4, 3, 6, 3);
        let mut att = AdditiveAttention::<f64>::new("att", d, q, a, &mut TrainRng::seed(9));
        let memory: Vec<f64> = (0..s * d)
            .map(|i| ((i * 7 % 13) as f64 - 6.0) / 5.0)
            .collect();
        let queries: Vec<f64> = (0..u * q)
            .map(|i| ((i * 5 % 11) as f64 - 5.0) / 4.0)
            .collect();
        // Loss: Σ r ⊙ ctx with fixed weights r.
        let r: Vec<f64> = (0..u * d)
            .map(|i| ((i * 3 % 7) as f64 - 3.0) / 3.0)
            .collect();
        let loss = |att: &AdditiveAttention<f64>, m: &[f64], qs: &[f64]| {
            let (ctx, _) = att.forward(m, qs);
            ctx.iter().zip(&r).map(|(c, w)| c * w).sum::<f64>()
        };
        let (_, cache) = att.forward(&memory, &queries);
        let (dm, dq) = att.backward(&cache, &memory, &queries, &r);
        let close = |analytic: f64, numeric: f64| {
            (numeric - analytic).abs() <= 1e-7 * (1.0 + numeric.abs())
        };
        let analytic: Vec<Vec<f64>> = att.params().iter().map(|p| p.grad.clone()).collect();
        check_params(
            "attention",
            &mut att,
            AdditiveAttention::params_mut,
            &analytic,
            usize::MAX,
            |att| loss(att, &memory, &queries),
            close,
        );
        check_input("memory", &memory, &dm, |m| loss(&att, m, &queries), close);
        check_input("queries", &queries, &dq, |q| loss(&att, &memory, q), close);
    }
}
