//! GRU layer over a window, forward and backward, with both reset
//! conventions:
//!
//! ```text
//! r = σ(x W_irᵀ + b_ir + h W_hrᵀ + b_hr),  z = σ(… same for z …)
//! reset after (PyTorch):  n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn))
//! reset before (Cho):     n = tanh(x W_inᵀ + b_in + (r ⊙ h) W_hnᵀ + b_hn)
//! h' = (1 − z) ⊙ n + z ⊙ h
//! ```

use rand::Rng;
use rayon::prelude::*;

use super::ops::{add_rows, matmul};
use super::{sigmoid, tanh, Param, Real, RecurrentWeights};

/// One GRU layer's parameters (PyTorch layout: gates r, z, n).
#[derive(Debug, Clone)]
pub struct Gru<T> {
    /// Input size.
    pub input: usize,
    /// Hidden size.
    pub hidden: usize,
    /// Reset before the recurrent product instead of after it.
    pub reset_before: bool,
    /// `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`.
    pub weights: RecurrentWeights<T>,
}

/// What the forward pass keeps.
#[derive(Debug, Clone, Default)]
pub struct GruCache<T> {
    steps: usize,
    batch: usize,
    x: Vec<T>,
    /// r, z, n per step: [T·B × 3H].
    gates: Vec<T>,
    /// The recurrent n term: `h W_hnᵀ + b_hn` (after) or `(r⊙h) W_hnᵀ + b_hn` (before): [T·B × H].
    hn: Vec<T>,
    /// h_0 … h_T.
    h: Vec<T>,
}

impl<T: Real> GruCache<T> {
    /// A cache filled from values computed elsewhere — QAT records the
    /// integer runtime's gates and hidden states (dequantized) and
    /// back-propagates through them with the float cell's derivatives
    /// (straight-through). Layouts as [`Gru::forward`] keeps them: `x`
    /// [T·B × input], `gates` r, z, n after activation [T·B × 3H], `hn`
    /// the recurrent n term [T·B × H], `h` [(T+1)·B × H] with the initial
    /// state first.
    pub fn from_values(
        steps: usize,
        batch: usize,
        x: Vec<T>,
        gates: Vec<T>,
        hn: Vec<T>,
        h: Vec<T>,
    ) -> Self {
        Self {
            steps,
            batch,
            x,
            gates,
            hn,
            h,
        }
    }
}

impl<T: Real> Gru<T> {
    /// PyTorch's initialisation.
    pub fn new(
        layer: usize,
        input: usize,
        hidden: usize,
        reset_before: bool,
        rng: &mut impl Rng,
    ) -> Self {
        Self {
            input,
            hidden,
            reset_before,
            weights: RecurrentWeights::new(layer, 3, input, hidden, rng),
        }
    }

    /// The parameters, in PyTorch's order.
    pub fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        self.weights.params_mut()
    }

    /// The parameters, read-only.
    pub fn params(&self) -> Vec<&Param<T>> {
        self.weights.params()
    }

    /// The recurrent n term of each row, from its gates (r in the first H
    /// of each `[3H]` row) and the h before the step (`h_prev`, `[rows ×
    /// H]`): `h W_hnᵀ + b_hn` (reset after) or `(r ⊙ h) W_hnᵀ + b_hn`
    /// (reset before), as [`forward`](Self::forward) keeps it. QAT computes
    /// it for the integer runtime's recorded gates and states.
    pub fn recurrent_n_term(&self, gates: &[T], h_prev: &[T]) -> Vec<T> {
        let n = self.hidden;
        let rows = h_prev.len() / n.max(1);
        let input: Vec<T> = if self.reset_before {
            h_prev
                .chunks_exact(n)
                .zip(gates.chunks_exact(3 * n))
                .flat_map(|(h, g)| h.iter().zip(&g[..n]).map(|(&h, &r)| r * h))
                .collect()
        } else {
            h_prev.to_vec()
        };
        let mut hn = vec![T::zero(); rows * n];
        self.hn_product(&input, &mut hn);
        hn
    }

    /// `hn = input W_hnᵀ + b_hn` for `rows × H` inputs (h, or r ⊙ h when
    /// the reset comes before the product).
    fn hn_product(&self, input: &[T], hn: &mut [T]) {
        let n = self.hidden;
        let rows = hn.len() / n.max(1);
        matmul(
            hn,
            input,
            &self.weights.w_hh.value[2 * n * n..],
            rows,
            n,
            n,
            false,
            true,
            false,
        );
        for row in hn.chunks_exact_mut(n) {
            for (v, &b) in row.iter_mut().zip(&self.weights.b_hh.value[2 * n..]) {
                *v += b;
            }
        }
    }

    /// Runs the window; see [`super::lstm::Lstm::forward`].
    pub fn forward(
        &self,
        x: &[T],
        steps: usize,
        batch: usize,
        h: &mut [T],
        cache: Option<&mut GruCache<T>>,
    ) -> Vec<T> {
        let (n, rows) = (self.hidden, steps * batch);
        let mut xw = vec![T::zero(); rows * 3 * n];
        matmul(
            &mut xw,
            x,
            &self.weights.w_ih.value,
            rows,
            self.input,
            3 * n,
            false,
            true,
            false,
        );
        for row in xw.chunks_exact_mut(3 * n) {
            for (p, &b) in row.iter_mut().zip(&self.weights.b_ih.value) {
                *p += b;
            }
        }
        let mut hs = Vec::with_capacity((steps + 1) * batch * n);
        hs.extend_from_slice(h);
        let mut hn_all = vec![T::zero(); rows * n];
        let mut out = vec![T::zero(); rows * n];
        let rpt = batch.div_ceil(rayon::current_num_threads().max(1)).max(1);
        for t in 0..steps {
            let g = &mut xw[t * batch * 3 * n..(t + 1) * batch * 3 * n];
            let hn = &mut hn_all[t * batch * n..(t + 1) * batch * n];
            // Batch rows are independent within a step (see the LSTM).
            g.par_chunks_mut(rpt * 3 * n)
                .zip(h.par_chunks_mut(rpt * n))
                .zip(hn.par_chunks_mut(rpt * n))
                .for_each(|((g, h), hn)| self.step_rows(g, h, hn));
            out[t * batch * n..(t + 1) * batch * n].copy_from_slice(h);
            hs.extend_from_slice(h);
        }
        if let Some(cache) = cache {
            *cache = GruCache {
                steps,
                batch,
                x: x.to_vec(),
                gates: xw,
                hn: hn_all,
                h: hs,
            };
        }
        out
    }

    /// One step for some batch rows: `g` holds the rows' input projections
    /// and receives r, z, n; `h` is updated; `hn` receives the recurrent n term.
    fn step_rows(&self, g: &mut [T], h: &mut [T], hn: &mut [T]) {
        let n = self.hidden;
        let rows = h.len() / n;
        let rec_rows = if self.reset_before { 2 * n } else { 3 * n };
        let mut hw = vec![T::zero(); rows * rec_rows];
        matmul(
            &mut hw,
            h,
            &self.weights.w_hh.value,
            rows,
            n,
            rec_rows,
            false,
            true,
            false,
        );
        let mut rh = vec![T::zero(); if self.reset_before { rows * n } else { 0 }];
        for b in 0..rows {
            for u in 0..n {
                let r =
                    sigmoid(g[b * 3 * n + u] + hw[b * rec_rows + u] + self.weights.b_hh.value[u]);
                let z = sigmoid(
                    g[b * 3 * n + n + u]
                        + hw[b * rec_rows + n + u]
                        + self.weights.b_hh.value[n + u],
                );
                g[b * 3 * n + u] = r;
                g[b * 3 * n + n + u] = z;
                if self.reset_before {
                    rh[b * n + u] = r * h[b * n + u];
                } else {
                    hn[b * n + u] =
                        hw[b * rec_rows + 2 * n + u] + self.weights.b_hh.value[2 * n + u];
                }
            }
        }
        if self.reset_before {
            self.hn_product(&rh, hn);
        }
        for b in 0..rows {
            for u in 0..n {
                let r = g[b * 3 * n + u];
                let z = g[b * 3 * n + n + u];
                let rec = if self.reset_before {
                    hn[b * n + u]
                } else {
                    r * hn[b * n + u]
                };
                let cand = tanh(g[b * 3 * n + 2 * n + u] + rec);
                g[b * 3 * n + 2 * n + u] = cand;
                h[b * n + u] = (T::one() - z) * cand + z * h[b * n + u];
            }
        }
    }

    /// One backward step for some batch rows: from `dh` (gradient reaching
    /// h_t) to the input-projection and recurrent-term gradients of the
    /// step, and `dh ← ` the gradient reaching h_{t−1}. Reset before: `rh`
    /// receives r ⊙ h_{t−1} (the W_hn product's input).
    #[allow(clippy::too_many_arguments)]
    fn backward_rows(
        &self,
        dx_t: &mut [T],
        dh_t: &mut [T],
        rh: &mut [T],
        dh: &mut [T],
        g: &[T],
        hn: &[T],
        h_prev: &[T],
    ) {
        let n = self.hidden;
        let rows = dh.len() / n;
        let one = T::one();
        let mut dr = vec![T::zero(); rows * n];
        let mut dh_prev = vec![T::zero(); rows * n];
        for b in 0..rows {
            for u in 0..n {
                let k = b * n + u;
                let gi = b * 3 * n + u;
                let (r, z, cand) = (g[gi], g[gi + n], g[gi + 2 * n]);
                let d = dh[k];
                let dn = d * (one - z);
                let dz = d * (h_prev[k] - cand);
                dh_prev[k] = d * z;
                let dpre_n = dn * (one - cand * cand);
                dx_t[gi + 2 * n] = dpre_n;
                if self.reset_before {
                    dh_t[gi + 2 * n] = dpre_n;
                    rh[k] = r * h_prev[k];
                } else {
                    dh_t[gi + 2 * n] = dpre_n * r;
                    dr[k] = dpre_n * hn[k];
                }
                let dpre_z = dz * z * (one - z);
                dx_t[gi + n] = dpre_z;
                dh_t[gi + n] = dpre_z;
            }
        }
        if self.reset_before {
            // d(r⊙h) = dpre_n · W_hn
            let mut drh = vec![T::zero(); rows * n];
            let dn_rows: Vec<T> = (0..rows)
                .flat_map(|b| dh_t[b * 3 * n + 2 * n..(b + 1) * 3 * n].to_vec())
                .collect();
            matmul(
                &mut drh,
                &dn_rows,
                &self.weights.w_hh.value[2 * n * n..],
                rows,
                n,
                n,
                false,
                false,
                false,
            );
            for k in 0..rows * n {
                let r = g[(k / n) * 3 * n + k % n];
                dr[k] = drh[k] * h_prev[k];
                dh_prev[k] += drh[k] * r;
            }
        }
        for b in 0..rows {
            for u in 0..n {
                let k = b * n + u;
                let r = g[b * 3 * n + u];
                let dpre_r = dr[k] * r * (one - r);
                dx_t[b * 3 * n + u] = dpre_r;
                dh_t[b * 3 * n + u] = dpre_r;
            }
        }
        // dh_{t−1} += [dr dz (dn)] · W_hh for the rows applied to h.
        let rec_rows = if self.reset_before { 2 * n } else { 3 * n };
        let d_rec: Vec<T> = (0..rows)
            .flat_map(|b| dh_t[b * 3 * n..b * 3 * n + rec_rows].to_vec())
            .collect();
        matmul(
            &mut dh_prev,
            &d_rec,
            &self.weights.w_hh.value,
            rows,
            rec_rows,
            n,
            false,
            false,
            true,
        );
        dh.copy_from_slice(&dh_prev);
    }

    /// Back-propagates `dy` through the window (truncated BPTT); returns `dx`.
    pub fn backward(&mut self, cache: &GruCache<T>, dy: &[T]) -> Vec<T> {
        let (n, steps, batch) = (self.hidden, cache.steps, cache.batch);
        let rows = steps * batch;
        // Gradients of the input projection (r, z, n pre-activations) and of
        // the recurrent terms (r, z pre-activations and the n term).
        let mut dxw = vec![T::zero(); rows * 3 * n];
        let mut dhw = vec![T::zero(); rows * 3 * n];
        // Reset before: inputs of the W_hn product.
        let mut rh_all = vec![T::zero(); rows * n];
        let mut dh = vec![T::zero(); batch * n];
        let rpt = batch.div_ceil(rayon::current_num_threads().max(1)).max(1);
        for t in (0..steps).rev() {
            for (d, &y) in dh.iter_mut().zip(&dy[t * batch * n..(t + 1) * batch * n]) {
                *d += y;
            }
            let span = |per_row: usize| t * batch * per_row..(t + 1) * batch * per_row;
            let (g, hn, h_prev) = (
                &cache.gates[span(3 * n)],
                &cache.hn[span(n)],
                &cache.h[span(n)],
            );
            let (r3, r1) = (rpt * 3 * n, rpt * n);
            dxw[span(3 * n)]
                .par_chunks_mut(r3)
                .zip(dhw[span(3 * n)].par_chunks_mut(r3))
                .zip(rh_all[span(n)].par_chunks_mut(r1))
                .zip(dh.par_chunks_mut(r1))
                .zip(
                    g.par_chunks(r3)
                        .zip(hn.par_chunks(r1))
                        .zip(h_prev.par_chunks(r1)),
                )
                .for_each(|((((dx_t, dh_t), rh), dh), ((g, hn), h_prev))| {
                    self.backward_rows(dx_t, dh_t, rh, dh, g, hn, h_prev)
                });
        }
        let h_prev = &cache.h[..rows * n];
        if self.reset_before {
            let (w_rz, w_n) = self.weights.w_hh.grad.split_at_mut(2 * n * n);
            let d_rz: Vec<T> = dhw
                .chunks_exact(3 * n)
                .flat_map(|r| r[..2 * n].to_vec())
                .collect();
            let d_n: Vec<T> = dhw
                .chunks_exact(3 * n)
                .flat_map(|r| r[2 * n..].to_vec())
                .collect();
            matmul(w_rz, &d_rz, h_prev, 2 * n, rows, n, true, false, true);
            matmul(w_n, &d_n, &rh_all, n, rows, n, true, false, true);
        } else {
            matmul(
                &mut self.weights.w_hh.grad,
                &dhw,
                h_prev,
                3 * n,
                rows,
                n,
                true,
                false,
                true,
            );
        }
        add_rows(&mut self.weights.b_hh.grad, &dhw, 3 * n);
        matmul(
            &mut self.weights.w_ih.grad,
            &dxw,
            &cache.x,
            3 * n,
            rows,
            self.input,
            true,
            false,
            true,
        );
        add_rows(&mut self.weights.b_ih.grad, &dxw, 3 * n);
        let mut dx = vec![T::zero(); rows * self.input];
        matmul(
            &mut dx,
            &dxw,
            &self.weights.w_ih.value,
            rows,
            3 * n,
            self.input,
            false,
            false,
            false,
        );
        dx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::rng::TrainRng;

    #[test]
    fn the_recurrent_n_term_is_what_forward_keeps_and_recorded_values_backpropagate_alike() {
        for reset_before in [false, true] {
            let mut gru = Gru::<f64>::new(0, 3, 4, reset_before, &mut TrainRng::seed(9));
            let (steps, batch) = (5, 2);
            let x: Vec<f64> = (0..steps * batch * 3)
                .map(|i| ((i * 7 % 11) as f64 - 5.0) / 5.0)
                .collect();
            let mut h = vec![0.1; batch * 4];
            let mut cache = GruCache::from_values(0, 0, vec![], vec![], vec![], vec![]);
            let y = gru.forward(&x, steps, batch, &mut h, Some(&mut cache));
            let rows = steps * batch;
            let hn = gru.recurrent_n_term(&cache.gates, &cache.h[..rows * 4]);
            for (a, b) in hn.iter().zip(&cache.hn) {
                assert!(
                    (a - b).abs() < 1e-12,
                    "reset_before={reset_before}: {a} vs {b}"
                );
            }
            // A cache rebuilt from the values alone gives the same gradients.
            let dy: Vec<f64> = y.iter().map(|v| v * 0.3 + 0.1).collect();
            let rebuilt = GruCache::from_values(
                steps,
                batch,
                cache.x.clone(),
                cache.gates.clone(),
                hn,
                cache.h.clone(),
            );
            let dx = gru.backward(&cache, &dy);
            let grads: Vec<Vec<f64>> = gru.params().iter().map(|p| p.grad.clone()).collect();
            for p in gru.params_mut() {
                p.zero_grad();
            }
            assert_eq!(gru.backward(&rebuilt, &dy), dx);
            for (p, g) in gru.params().iter().zip(&grads) {
                assert_eq!(&p.grad, g, "{}", p.name);
            }
        }
    }
}
