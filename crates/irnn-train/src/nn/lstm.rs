//! LSTM layer over a window of time steps, forward and backward.
//!
//! ```text
//! [i f g o] = [σ σ tanh σ](x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)
//! c' = f⊙c + i'⊙g,   i' = i, or min(i, 1 − f) with the capped input gate
//! h' = o⊙tanh(c')
//! ```
//!
//! The input projection of the whole window is one GEMM; only `h W_hhᵀ` runs
//! per step. The backward pass stores every step's gate gradient and forms
//! the weight gradients with two GEMMs at the end.

use rand::Rng;
use rayon::prelude::*;

use super::ops::{add_rows, matmul};
use super::{sigmoid, tanh, Param, Real};

/// One LSTM layer's parameters.
#[derive(Debug, Clone)]
pub struct Lstm<T> {
    /// Input size.
    pub input: usize,
    /// Hidden size.
    pub hidden: usize,
    /// `c = f⊙c + min(i, 1 − f)⊙g`.
    pub capped_input_gate: bool,
    /// [4H × input].
    pub w_ih: Param<T>,
    /// [4H × H].
    pub w_hh: Param<T>,
    /// [4H].
    pub b_ih: Param<T>,
    /// [4H].
    pub b_hh: Param<T>,
}

/// What the forward pass keeps for the backward pass.
#[derive(Debug, Clone, Default)]
pub struct LstmCache<T> {
    steps: usize,
    batch: usize,
    x: Vec<T>,
    /// Post-activation gates i, f, g, o per step: [T·B × 4H].
    gates: Vec<T>,
    /// c_0 … c_T: [(T+1)·B × H].
    c: Vec<T>,
    /// h_0 … h_T: [(T+1)·B × H].
    h: Vec<T>,
}

impl<T: Real> Lstm<T> {
    /// PyTorch's initialisation: every tensor `U(−1/√H, 1/√H)`.
    pub fn new(
        layer: usize,
        input: usize,
        hidden: usize,
        capped: bool,
        rng: &mut impl Rng,
    ) -> Self {
        let k = 1.0 / (hidden as f64).sqrt();
        Self {
            input,
            hidden,
            capped_input_gate: capped,
            w_ih: Param::uniform(
                format!("rnn.weight_ih_l{layer}"),
                &[4 * hidden, input],
                k,
                rng,
            ),
            w_hh: Param::uniform(
                format!("rnn.weight_hh_l{layer}"),
                &[4 * hidden, hidden],
                k,
                rng,
            ),
            b_ih: Param::uniform(format!("rnn.bias_ih_l{layer}"), &[4 * hidden], k, rng),
            b_hh: Param::uniform(format!("rnn.bias_hh_l{layer}"), &[4 * hidden], k, rng),
        }
    }

    /// The parameters, in PyTorch's order.
    pub fn params_mut(&mut self) -> [&mut Param<T>; 4] {
        [
            &mut self.w_ih,
            &mut self.w_hh,
            &mut self.b_ih,
            &mut self.b_hh,
        ]
    }

    /// The parameters, read-only.
    pub fn params(&self) -> [&Param<T>; 4] {
        [&self.w_ih, &self.w_hh, &self.b_ih, &self.b_hh]
    }

    /// Runs `steps` steps on `x` (`steps·batch × input`), starting from and
    /// updating `h`, `c` (`batch × H`); returns the outputs (`steps·batch × H`).
    pub fn forward(
        &self,
        x: &[T],
        steps: usize,
        batch: usize,
        h: &mut [T],
        c: &mut [T],
        cache: Option<&mut LstmCache<T>>,
    ) -> Vec<T> {
        let (n, rows) = (self.hidden, steps * batch);
        let mut pre = vec![T::zero(); rows * 4 * n];
        matmul(
            &mut pre,
            x,
            &self.w_ih.value,
            rows,
            self.input,
            4 * n,
            false,
            true,
            false,
        );
        for row in pre.chunks_exact_mut(4 * n) {
            for ((p, &a), &b) in row.iter_mut().zip(&self.b_ih.value).zip(&self.b_hh.value) {
                *p += a + b;
            }
        }
        let mut hs = Vec::with_capacity((steps + 1) * batch * n);
        let mut cs = Vec::with_capacity((steps + 1) * batch * n);
        hs.extend_from_slice(h);
        cs.extend_from_slice(c);
        let mut out = vec![T::zero(); rows * n];
        let rows_per_task = batch.div_ceil(rayon::current_num_threads().max(1)).max(1);
        for t in 0..steps {
            let g = &mut pre[t * batch * 4 * n..(t + 1) * batch * 4 * n];
            // Batch rows are independent within a step: each task runs its
            // rows' recurrent product and gate update (the prototype's
            // lesson: splitting this small product ourselves beats gemm's
            // own threading).
            g.par_chunks_mut(rows_per_task * 4 * n)
                .zip(h.par_chunks_mut(rows_per_task * n))
                .zip(c.par_chunks_mut(rows_per_task * n))
                .for_each(|((g, h), c)| self.step_rows(g, h, c));
            out[t * batch * n..(t + 1) * batch * n].copy_from_slice(h);
            hs.extend_from_slice(h);
            cs.extend_from_slice(c);
        }
        if let Some(cache) = cache {
            *cache = LstmCache {
                steps,
                batch,
                x: x.to_vec(),
                gates: pre,
                c: cs,
                h: hs,
            };
        }
        out
    }

    /// One step for some batch rows: `g += h W_hhᵀ`, then the gates (stored
    /// post-activation in `g`) and the new `c`, `h`.
    fn step_rows(&self, g: &mut [T], h: &mut [T], c: &mut [T]) {
        let n = self.hidden;
        let rows = h.len() / n;
        matmul(g, h, &self.w_hh.value, rows, n, 4 * n, false, true, true);
        for b in 0..rows {
            let gb = &mut g[b * 4 * n..(b + 1) * 4 * n];
            for u in 0..n {
                let i = sigmoid(gb[u]);
                let f = sigmoid(gb[n + u]);
                let cand = tanh(gb[2 * n + u]);
                let o = sigmoid(gb[3 * n + u]);
                let i_eff = if self.capped_input_gate {
                    i.min(T::one() - f)
                } else {
                    i
                };
                let cn = f * c[b * n + u] + i_eff * cand;
                c[b * n + u] = cn;
                h[b * n + u] = o * tanh(cn);
                gb[u] = i;
                gb[n + u] = f;
                gb[2 * n + u] = cand;
                gb[3 * n + u] = o;
            }
        }
    }

    /// Back-propagates `dy` (`steps·batch × H`, the gradient of the outputs)
    /// through the window; gradients do not flow into the initial state
    /// (truncated BPTT). Accumulates parameter gradients; returns `dx`.
    pub fn backward(&mut self, cache: &LstmCache<T>, dy: &[T]) -> Vec<T> {
        let (n, steps, batch) = (self.hidden, cache.steps, cache.batch);
        let rows = steps * batch;
        let mut dgates = vec![T::zero(); rows * 4 * n];
        let mut dh = vec![T::zero(); batch * n];
        let mut dc = vec![T::zero(); batch * n];
        let rows_per_task = batch.div_ceil(rayon::current_num_threads().max(1)).max(1);
        for t in (0..steps).rev() {
            for (d, &y) in dh.iter_mut().zip(&dy[t * batch * n..(t + 1) * batch * n]) {
                *d += y;
            }
            let gates = &cache.gates[t * batch * 4 * n..(t + 1) * batch * 4 * n];
            let c_prev = &cache.c[t * batch * n..(t + 1) * batch * n];
            let c_now = &cache.c[(t + 1) * batch * n..(t + 2) * batch * n];
            let dg = &mut dgates[t * batch * 4 * n..(t + 1) * batch * 4 * n];
            let r4 = rows_per_task * 4 * n;
            let r1 = rows_per_task * n;
            dg.par_chunks_mut(r4)
                .zip(gates.par_chunks(r4))
                .zip(dh.par_chunks_mut(r1))
                .zip(dc.par_chunks_mut(r1))
                .zip(c_prev.par_chunks(r1).zip(c_now.par_chunks(r1)))
                .for_each(|((((dg, gates), dh), dc), (c_prev, c_now))| {
                    self.backward_rows(dg, gates, dh, dc, c_prev, c_now)
                });
        }
        let h_prev = &cache.h[..rows * n];
        matmul(
            &mut self.w_hh.grad,
            &dgates,
            h_prev,
            4 * n,
            rows,
            n,
            true,
            false,
            true,
        );
        matmul(
            &mut self.w_ih.grad,
            &dgates,
            &cache.x,
            4 * n,
            rows,
            self.input,
            true,
            false,
            true,
        );
        add_rows(&mut self.b_ih.grad, &dgates, 4 * n);
        add_rows(&mut self.b_hh.grad, &dgates, 4 * n);
        let mut dx = vec![T::zero(); rows * self.input];
        matmul(
            &mut dx,
            &dgates,
            &self.w_ih.value,
            rows,
            4 * n,
            self.input,
            false,
            false,
            false,
        );
        dx
    }

    /// One step of the backward pass for some batch rows: from `dh`, `dc`
    /// (gradients reaching h_t, c_t) to the gate gradients `dg`, then
    /// `dh ← dg W_hh` and `dc ← dc ⊙ f` for step t − 1.
    fn backward_rows(
        &self,
        dg: &mut [T],
        gates: &[T],
        dh: &mut [T],
        dc: &mut [T],
        c_prev: &[T],
        c_now: &[T],
    ) {
        let n = self.hidden;
        let rows = dh.len() / n;
        let one = T::one();
        for b in 0..rows {
            for u in 0..n {
                let gi = b * 4 * n + u;
                let (i, f, g, o) = (
                    gates[gi],
                    gates[gi + n],
                    gates[gi + 2 * n],
                    gates[gi + 3 * n],
                );
                let k = b * n + u;
                let tc = tanh(c_now[k]);
                let d_o = dh[k] * tc;
                let dcell = dc[k] + dh[k] * o * (one - tc * tc);
                let capped_by_f = self.capped_input_gate && one - f < i;
                let i_eff = if capped_by_f { one - f } else { i };
                let d_ieff = dcell * g;
                let (di, mut df) = if capped_by_f {
                    (T::zero(), -d_ieff)
                } else {
                    (d_ieff, T::zero())
                };
                df += dcell * c_prev[k];
                let dgc = dcell * i_eff;
                dc[k] = dcell * f;
                dg[gi] = di * i * (one - i);
                dg[gi + n] = df * f * (one - f);
                dg[gi + 2 * n] = dgc * (one - g * g);
                dg[gi + 3 * n] = d_o * o * (one - o);
            }
        }
        // dh_{t−1} = dG_t · W_hh
        matmul(
            dh,
            dg,
            &self.w_hh.value,
            rows,
            4 * n,
            n,
            false,
            false,
            false,
        );
    }
}
