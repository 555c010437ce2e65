//! LSTM layer over a window of time steps, forward and backward.
//!
//! ```text
//! z = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh                  (4H: i, f, g, o)
//! with LayerNorm: z_k ← γ_k ⊙ LN(z_k) + β_k for each gate k
//! [i f g o] = [σ σ tanh σ](z)
//! c' = f⊙c + i'⊙g,   i' = i, or min(i, 1 − f) with the capped input gate
//! h' = o⊙tanh(c'), or o⊙tanh(γ_c ⊙ LN(c') + β_c) with LayerNorm
//! ```
//!
//! This is the structure the integer LSTM computes (NUMERICS.md §4.2). The
//! input projection of the whole window is one GEMM; per step, batch rows
//! are independent, so each step's recurrent product and gate update are
//! split over threads by rows. The backward pass stores every step's gate
//! gradient and forms the weight gradients with GEMMs at the end.

use rand::Rng;
use rayon::prelude::*;

use super::ops::{add_rows, matmul};
use super::{sigmoid, tanh, Param, Real, RecurrentWeights};

/// LayerNorm ε.
pub const LN_EPSILON: f64 = 1e-5;

/// LayerNorm parameters of an LSTM layer.
#[derive(Debug, Clone)]
pub struct LstmNorm<T> {
    /// γ of the gate pre-activations, `[4H]`.
    pub gate_gamma: Param<T>,
    /// β of the gate pre-activations, `[4H]`.
    pub gate_beta: Param<T>,
    /// γ of the cell, `[H]`.
    pub cell_gamma: Param<T>,
    /// β of the cell, `[H]`.
    pub cell_beta: Param<T>,
}

/// One LSTM layer's parameters.
#[derive(Debug, Clone)]
pub struct Lstm<T> {
    /// Input size.
    pub input: usize,
    /// Hidden size.
    pub hidden: usize,
    /// `c = f⊙c + min(i, 1 − f)⊙g`.
    pub capped_input_gate: bool,
    /// `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`.
    pub weights: RecurrentWeights<T>,
    /// LayerNorm on the gates and the cell.
    pub norm: Option<LstmNorm<T>>,
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
    /// LayerNorm: normalised gate pre-activations [T·B × 4H] and their
    /// 1/σ [T·B × 4]; normalised cells [T·B × H] and 1/σ [T·B].
    gate_hat: Vec<T>,
    gate_inv: Vec<T>,
    cell_hat: Vec<T>,
    cell_inv: Vec<T>,
}

impl<T: Real> LstmCache<T> {
    /// A cache filled from values computed elsewhere — QAT records the
    /// integer runtime's gates, cells and hidden states (dequantized) and
    /// back-propagates through them with the float cell's derivatives
    /// (straight-through). Layouts as [`Lstm::forward`] keeps them: `x`
    /// [T·B × input], `gates` post-activation [T·B × 4H], `c` and `h`
    /// [(T+1)·B × H] with the initial state first. For a LayerNorm cell,
    /// add its statistics with [`with_layer_norm`](Self::with_layer_norm).
    pub fn from_values(
        steps: usize,
        batch: usize,
        x: Vec<T>,
        gates: Vec<T>,
        c: Vec<T>,
        h: Vec<T>,
    ) -> Self {
        let rows = steps * batch;
        let n = gates.len() / rows.max(1) / 4;
        Self {
            steps,
            batch,
            x,
            gates,
            c,
            h,
            // Unused without LayerNorm, but sized so the backward pass's
            // per-task chunking lines up.
            gate_hat: vec![T::zero(); rows * 4 * n],
            gate_inv: vec![T::zero(); rows * 4],
            cell_hat: vec![T::zero(); rows * n],
            cell_inv: vec![T::zero(); rows],
        }
    }
}

impl<T: Real> LstmCache<T> {
    /// The values [`from_values`](Self::from_values) takes: x, gates, c, h.
    #[cfg(test)]
    pub(crate) fn values(&self) -> [&[T]; 4] {
        [&self.x, &self.gates, &self.c, &self.h]
    }

    /// Fills the LayerNorm statistics of a cache made by
    /// [`from_values`](Self::from_values) for a LayerNorm cell: the gate
    /// pre-activations `x W_ihᵀ + h W_hhᵀ + b` of its recorded inputs and
    /// states, normalised per gate, and its recorded cells, normalised — what
    /// [`Lstm::forward`] keeps. (A cell without LayerNorm is left as is.)
    pub fn with_layer_norm(mut self, cell: &Lstm<T>) -> Self {
        if cell.norm.is_none() {
            return self;
        }
        let (n, rows) = (cell.hidden, self.steps * self.batch);
        let mut pre = cell.gate_preactivations(&self.x, &self.h[..rows * n]);
        for (k, block) in pre.chunks_exact_mut(n).enumerate() {
            self.gate_inv[k] = normalize(block);
        }
        self.gate_hat = pre;
        let mut cells = self.c[self.batch * n..].to_vec();
        for (r, row) in cells.chunks_exact_mut(n).enumerate() {
            self.cell_inv[r] = normalize(row);
        }
        self.cell_hat = cells;
        self
    }
}

/// Normalises `v` in place to `(v − μ)/σ`, returns 1/σ.
fn normalize<T: Real>(v: &mut [T]) -> T {
    let n = T::of(v.len() as f64);
    let mean = v.iter().copied().sum::<T>() / n;
    let var = v.iter().map(|&x| (x - mean) * (x - mean)).sum::<T>() / n;
    let inv = T::one() / (var + T::of(LN_EPSILON)).sqrt();
    for x in v.iter_mut() {
        *x = (*x - mean) * inv;
    }
    inv
}

/// LayerNorm backward for one vector: from `d_hat` (gradient of the
/// normalised values) to the gradient of the input, written over `d_hat`.
fn normalize_backward<T: Real>(d_hat: &mut [T], hat: &[T], inv: T) {
    let n = T::of(d_hat.len() as f64);
    let mean_d = d_hat.iter().copied().sum::<T>() / n;
    let mean_dh = d_hat.iter().zip(hat).map(|(&d, &h)| d * h).sum::<T>() / n;
    for (d, &h) in d_hat.iter_mut().zip(hat) {
        *d = inv * (*d - mean_d - h * mean_dh);
    }
}

impl<T: Real> Lstm<T> {
    /// PyTorch's initialisation: every tensor `U(−1/√H, 1/√H)`; LayerNorm
    /// γ = 1, β = 0.
    pub fn new(
        layer: usize,
        input: usize,
        hidden: usize,
        capped: bool,
        layer_norm: bool,
        rng: &mut impl Rng,
    ) -> Self {
        let h4 = 4 * hidden;
        let ones = |name: String, n: usize| {
            let mut p = Param::zeros(name, &[n]);
            p.value.iter_mut().for_each(|v| *v = T::one());
            p
        };
        Self {
            input,
            hidden,
            capped_input_gate: capped,
            weights: RecurrentWeights::new(layer, 4, input, hidden, rng),
            norm: layer_norm.then(|| LstmNorm {
                gate_gamma: ones(format!("rnn.ln_gates_weight_l{layer}"), h4),
                gate_beta: Param::zeros(format!("rnn.ln_gates_bias_l{layer}"), &[h4]),
                cell_gamma: ones(format!("rnn.ln_cell_weight_l{layer}"), hidden),
                cell_beta: Param::zeros(format!("rnn.ln_cell_bias_l{layer}"), &[hidden]),
            }),
        }
    }

    /// The parameters, in PyTorch's order (LayerNorm last).
    pub fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        let mut v = self.weights.params_mut();
        if let Some(n) = &mut self.norm {
            v.extend([
                &mut n.gate_gamma,
                &mut n.gate_beta,
                &mut n.cell_gamma,
                &mut n.cell_beta,
            ]);
        }
        v
    }

    /// The gate pre-activations `x W_ihᵀ + h W_hhᵀ + b_ih + b_hh` of
    /// inputs `x` (`rows × input`) and states `h_prev` (`rows × H`), before
    /// LayerNorm: `rows × 4H`.
    pub fn gate_preactivations(&self, x: &[T], h_prev: &[T]) -> Vec<T> {
        let n = self.hidden;
        let rows = h_prev.len() / n.max(1);
        let w = &self.weights;
        let mut pre = vec![T::zero(); rows * 4 * n];
        matmul(
            &mut pre,
            x,
            &w.w_ih.value,
            rows,
            self.input,
            4 * n,
            false,
            true,
            false,
        );
        matmul(
            &mut pre,
            h_prev,
            &w.w_hh.value,
            rows,
            n,
            4 * n,
            false,
            true,
            true,
        );
        for row in pre.chunks_exact_mut(4 * n) {
            for ((p, &a), &b) in row.iter_mut().zip(&w.b_ih.value).zip(&w.b_hh.value) {
                *p += a + b;
            }
        }
        pre
    }

    /// The parameters, read-only.
    pub fn params(&self) -> Vec<&Param<T>> {
        let mut v = self.weights.params();
        if let Some(n) = &self.norm {
            v.extend([&n.gate_gamma, &n.gate_beta, &n.cell_gamma, &n.cell_beta]);
        }
        v
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
            &self.weights.w_ih.value,
            rows,
            self.input,
            4 * n,
            false,
            true,
            false,
        );
        for row in pre.chunks_exact_mut(4 * n) {
            for ((p, &a), &b) in row
                .iter_mut()
                .zip(&self.weights.b_ih.value)
                .zip(&self.weights.b_hh.value)
            {
                *p += a + b;
            }
        }
        // LayerNorm statistics (allocated, if unused, without LayerNorm so the
        // per-task chunking below lines up in both cases).
        let (mut gate_hat, mut gate_inv) =
            (vec![T::zero(); rows * 4 * n], vec![T::zero(); rows * 4]);
        let (mut cell_hat, mut cell_inv) = (vec![T::zero(); rows * n], vec![T::zero(); rows]);
        let mut hs = Vec::with_capacity((steps + 1) * batch * n);
        let mut cs = Vec::with_capacity((steps + 1) * batch * n);
        hs.extend_from_slice(h);
        cs.extend_from_slice(c);
        let mut out = vec![T::zero(); rows * n];
        let rpt = batch.div_ceil(rayon::current_num_threads().max(1)).max(1);
        let w = |per_row: usize| rpt * per_row;
        for t in 0..steps {
            let g = &mut pre[t * batch * 4 * n..(t + 1) * batch * 4 * n];
            let r = |per_row: usize| t * batch * per_row..(t + 1) * batch * per_row;
            let (gh, gi) = (&mut gate_hat[r(4 * n)], &mut gate_inv[r(4)]);
            let (ch, ci) = (&mut cell_hat[r(n)], &mut cell_inv[r(1)]);
            // Batch rows are independent within a step: each task runs its
            // rows' recurrent product and gate update (the prototype's
            // lesson: splitting this small product ourselves beats gemm's
            // own threading).
            g.par_chunks_mut(rpt * 4 * n)
                .zip(h.par_chunks_mut(rpt * n))
                .zip(c.par_chunks_mut(rpt * n))
                .zip(gh.par_chunks_mut(w(4 * n)).zip(gi.par_chunks_mut(w(4))))
                .zip(ch.par_chunks_mut(w(n)).zip(ci.par_chunks_mut(w(1))))
                .for_each(|((((g, h), c), (gh, gi)), (ch, ci))| {
                    self.step_rows(g, h, c, gh, gi, ch, ci)
                });
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
                gate_hat,
                gate_inv,
                cell_hat,
                cell_inv,
            };
        }
        out
    }

    /// One step for some batch rows: `g += h W_hhᵀ`, LayerNorm, then the
    /// gates (stored post-activation in `g`) and the new `c`, `h`.
    #[allow(clippy::too_many_arguments)]
    fn step_rows(
        &self,
        g: &mut [T],
        h: &mut [T],
        c: &mut [T],
        gate_hat: &mut [T],
        gate_inv: &mut [T],
        cell_hat: &mut [T],
        cell_inv: &mut [T],
    ) {
        let n = self.hidden;
        let rows = h.len() / n;
        matmul(
            g,
            h,
            &self.weights.w_hh.value,
            rows,
            n,
            4 * n,
            false,
            true,
            true,
        );
        for b in 0..rows {
            let gb = &mut g[b * 4 * n..(b + 1) * 4 * n];
            if let Some(norm) = &self.norm {
                let hat = &mut gate_hat[b * 4 * n..(b + 1) * 4 * n];
                hat.copy_from_slice(gb);
                for k in 0..4 {
                    gate_inv[b * 4 + k] = normalize(&mut hat[k * n..(k + 1) * n]);
                }
                for ((z, &x), (&gm, &bt)) in gb
                    .iter_mut()
                    .zip(hat.iter())
                    .zip(norm.gate_gamma.value.iter().zip(&norm.gate_beta.value))
                {
                    *z = gm * x + bt;
                }
            }
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
                c[b * n + u] = f * c[b * n + u] + i_eff * cand;
                gb[u] = i;
                gb[n + u] = f;
                gb[2 * n + u] = cand;
                gb[3 * n + u] = o;
            }
            let cb = &c[b * n..(b + 1) * n];
            let hb = &mut h[b * n..(b + 1) * n];
            match &self.norm {
                Some(norm) => {
                    let hat = &mut cell_hat[b * n..(b + 1) * n];
                    hat.copy_from_slice(cb);
                    cell_inv[b] = normalize(hat);
                    for u in 0..n {
                        let cn = norm.cell_gamma.value[u] * hat[u] + norm.cell_beta.value[u];
                        hb[u] = gb[3 * n + u] * tanh(cn);
                    }
                }
                None => {
                    for u in 0..n {
                        hb[u] = gb[3 * n + u] * tanh(cb[u]);
                    }
                }
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
        // Gradients after the gate LN and after the cell LN, for the γ/β
        // reductions at the end (allocated, if unused, without LayerNorm so
        // the per-task chunking lines up).
        let mut dz_gates = vec![T::zero(); rows * 4 * n];
        let mut dz_cell = vec![T::zero(); rows * n];
        let mut dh = vec![T::zero(); batch * n];
        let mut dc = vec![T::zero(); batch * n];
        let rpt = batch.div_ceil(rayon::current_num_threads().max(1)).max(1);
        let w = |per_row: usize| rpt * per_row;
        for t in (0..steps).rev() {
            for (d, &y) in dh.iter_mut().zip(&dy[t * batch * n..(t + 1) * batch * n]) {
                *d += y;
            }
            let r = |per_row: usize| t * batch * per_row..(t + 1) * batch * per_row;
            let gates = &cache.gates[t * batch * 4 * n..(t + 1) * batch * 4 * n];
            let c_prev = &cache.c[t * batch * n..(t + 1) * batch * n];
            let c_now = &cache.c[(t + 1) * batch * n..(t + 2) * batch * n];
            let dg = &mut dgates[t * batch * 4 * n..(t + 1) * batch * 4 * n];
            let (gh, gi) = (&cache.gate_hat[r(4 * n)], &cache.gate_inv[r(4)]);
            let (ch, ci) = (&cache.cell_hat[r(n)], &cache.cell_inv[r(1)]);
            let (dzg, dzc) = (&mut dz_gates[r(4 * n)], &mut dz_cell[r(n)]);
            let r4 = rpt * 4 * n;
            let r1 = rpt * n;
            dg.par_chunks_mut(r4)
                .zip(gates.par_chunks(r4))
                .zip(dh.par_chunks_mut(r1).zip(dc.par_chunks_mut(r1)))
                .zip(c_prev.par_chunks(r1).zip(c_now.par_chunks(r1)))
                .zip(
                    (gh.par_chunks(w(4 * n)).zip(gi.par_chunks(w(4))))
                        .zip(ch.par_chunks(w(n)).zip(ci.par_chunks(w(1)))),
                )
                .zip(dzg.par_chunks_mut(w(4 * n)).zip(dzc.par_chunks_mut(w(n))))
                .for_each(
                    |(
                        ((((dg, gates), (dh, dc)), (c_prev, c_now)), ((gh, gi), (ch, ci))),
                        (dzg, dzc),
                    )| {
                        self.backward_rows(
                            dg,
                            gates,
                            dh,
                            dc,
                            c_prev,
                            c_now,
                            [gh, gi, ch, ci],
                            dzg,
                            dzc,
                        )
                    },
                );
        }
        let h_prev = &cache.h[..rows * n];
        matmul(
            &mut self.weights.w_hh.grad,
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
            &mut self.weights.w_ih.grad,
            &dgates,
            &cache.x,
            4 * n,
            rows,
            self.input,
            true,
            false,
            true,
        );
        add_rows(&mut self.weights.b_ih.grad, &dgates, 4 * n);
        add_rows(&mut self.weights.b_hh.grad, &dgates, 4 * n);
        if let Some(norm) = &mut self.norm {
            for (dz, hat) in dz_gates
                .chunks_exact(4 * n)
                .zip(cache.gate_hat.chunks_exact(4 * n))
            {
                for j in 0..4 * n {
                    norm.gate_gamma.grad[j] += dz[j] * hat[j];
                    norm.gate_beta.grad[j] += dz[j];
                }
            }
            for (dz, hat) in dz_cell.chunks_exact(n).zip(cache.cell_hat.chunks_exact(n)) {
                for j in 0..n {
                    norm.cell_gamma.grad[j] += dz[j] * hat[j];
                    norm.cell_beta.grad[j] += dz[j];
                }
            }
        }
        let mut dx = vec![T::zero(); rows * self.input];
        matmul(
            &mut dx,
            &dgates,
            &self.weights.w_ih.value,
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
    /// `dh ← dg W_hh` and `dc ← dc ⊙ f` for step t − 1. With LayerNorm,
    /// `saved` holds the normalised values and 1/σ of the gates and the
    /// cell, and `dz_gates`, `dz_cell` receive the post-LN gradients.
    #[allow(clippy::too_many_arguments)]
    fn backward_rows(
        &self,
        dg: &mut [T],
        gates: &[T],
        dh: &mut [T],
        dc: &mut [T],
        c_prev: &[T],
        c_now: &[T],
        saved: [&[T]; 4],
        dz_gates: &mut [T],
        dz_cell: &mut [T],
    ) {
        let n = self.hidden;
        let rows = dh.len() / n;
        let one = T::one();
        let [gate_hat, gate_inv, cell_hat, cell_inv] = saved;
        let mut dcn = vec![T::zero(); n];
        for b in 0..rows {
            // Through h = o ⊙ tanh(cell_in): d(cell_in) and do.
            let mut d_o = vec![T::zero(); n];
            match &self.norm {
                Some(norm) => {
                    let hat = &cell_hat[b * n..(b + 1) * n];
                    for u in 0..n {
                        let o = gates[b * 4 * n + 3 * n + u];
                        let tc = tanh(norm.cell_gamma.value[u] * hat[u] + norm.cell_beta.value[u]);
                        let k = b * n + u;
                        d_o[u] = dh[k] * tc;
                        let d = dh[k] * o * (one - tc * tc);
                        dz_cell[k] = d;
                        dcn[u] = d * norm.cell_gamma.value[u];
                    }
                    normalize_backward(&mut dcn, hat, cell_inv[b]);
                }
                None => {
                    for u in 0..n {
                        let k = b * n + u;
                        let o = gates[b * 4 * n + 3 * n + u];
                        let tc = tanh(c_now[k]);
                        d_o[u] = dh[k] * tc;
                        dcn[u] = dh[k] * o * (one - tc * tc);
                    }
                }
            }
            for u in 0..n {
                let gi = b * 4 * n + u;
                let (i, f, g, o) = (
                    gates[gi],
                    gates[gi + n],
                    gates[gi + 2 * n],
                    gates[gi + 3 * n],
                );
                let k = b * n + u;
                let dcell = dc[k] + dcn[u];
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
                dg[gi + 3 * n] = d_o[u] * o * (one - o);
            }
            if let Some(norm) = &self.norm {
                let dgb = &mut dg[b * 4 * n..(b + 1) * 4 * n];
                dz_gates[b * 4 * n..(b + 1) * 4 * n].copy_from_slice(dgb);
                for (d, &gm) in dgb.iter_mut().zip(&norm.gate_gamma.value) {
                    *d *= gm;
                }
                for k in 0..4 {
                    normalize_backward(
                        &mut dgb[k * n..(k + 1) * n],
                        &gate_hat[b * 4 * n + k * n..b * 4 * n + (k + 1) * n],
                        gate_inv[b * 4 + k],
                    );
                }
            }
        }
        // dh_{t−1} = dG_t · W_hh
        matmul(
            dh,
            dg,
            &self.weights.w_hh.value,
            rows,
            4 * n,
            n,
            false,
            false,
            false,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::rng::TrainRng;

    #[test]
    fn a_cache_rebuilt_from_values_backpropagates_as_the_forward_pass_does() {
        for layer_norm in [false, true] {
            let mut lstm = Lstm::<f64>::new(0, 3, 4, false, layer_norm, &mut TrainRng::seed(4));
            let (steps, batch) = (5, 2);
            let x: Vec<f64> = (0..steps * batch * 3)
                .map(|i| ((i * 5 % 13) as f64 - 6.0) / 4.0)
                .collect();
            let (mut h, mut c) = (vec![0.2; batch * 4], vec![-0.1; batch * 4]);
            let mut cache = LstmCache::from_values(0, 0, vec![], vec![], vec![], vec![]);
            let y = lstm.forward(&x, steps, batch, &mut h, &mut c, Some(&mut cache));
            let rebuilt = LstmCache::from_values(
                steps,
                batch,
                cache.x.clone(),
                cache.gates.clone(),
                cache.c.clone(),
                cache.h.clone(),
            )
            .with_layer_norm(&lstm);
            let close = |a: &[f64], b: &[f64], what: &str| {
                assert_eq!(a.len(), b.len(), "{what}");
                for (p, q) in a.iter().zip(b) {
                    assert!((p - q).abs() < 1e-12, "ln={layer_norm} {what}: {p} vs {q}");
                }
            };
            if layer_norm {
                close(&rebuilt.gate_hat, &cache.gate_hat, "gate_hat");
                close(&rebuilt.gate_inv, &cache.gate_inv, "gate_inv");
                close(&rebuilt.cell_hat, &cache.cell_hat, "cell_hat");
                close(&rebuilt.cell_inv, &cache.cell_inv, "cell_inv");
            }
            let dy: Vec<f64> = y.iter().map(|v| 0.5 * v - 0.2).collect();
            let dx = lstm.backward(&cache, &dy);
            let grads: Vec<Vec<f64>> = lstm.params().iter().map(|p| p.grad.clone()).collect();
            for p in lstm.params_mut() {
                p.zero_grad();
            }
            close(&lstm.backward(&rebuilt, &dy), &dx, "dx");
            for (p, g) in lstm.params().iter().zip(&grads) {
                close(&p.grad, g, &p.name);
            }
        }
    }
}
