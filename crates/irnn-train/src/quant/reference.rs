//! f64 reference cells: the real-valued functions the integer layers
//! approximate. They define what "correct" means in the accuracy tests and
//! record the ranges a calibration pass needs.
//!
//! Weights are row-major `[gates·H × input]`, gate order i, f, g, o (LSTM)
//! and r, z, n (GRU), as in PyTorch.

/// A float LSTM cell.
#[derive(Debug, Clone)]
pub struct LstmParams {
    /// Input size.
    pub input: usize,
    /// Hidden size.
    pub hidden: usize,
    /// [4H × input].
    pub w_x: Vec<f64>,
    /// [4H × H].
    pub w_h: Vec<f64>,
    /// `[4H]`, b_ih + b_hh.
    pub bias: Vec<f64>,
    /// Per-gate LayerNorm (γ, β each `[4H]`) on the gate pre-activations.
    pub gate_norm: Option<(Vec<f64>, Vec<f64>)>,
    /// LayerNorm (γ, β each `[H]`) of the cell before its tanh.
    pub cell_norm: Option<(Vec<f64>, Vec<f64>)>,
    /// `c = f⊙c + min(1 − f, i)⊙g`.
    pub capped_input_gate: bool,
}

/// LayerNorm ε used by the reference and the converter: the float
/// training's own.
pub use crate::nn::lstm::LN_EPSILON;

/// A float GRU cell.
#[derive(Debug, Clone)]
pub struct GruParams {
    /// Input size.
    pub input: usize,
    /// Hidden size.
    pub hidden: usize,
    /// [3H × input].
    pub w_x: Vec<f64>,
    /// [3H × H].
    pub w_h: Vec<f64>,
    /// `[3H]`.
    pub b_x: Vec<f64>,
    /// `[3H]`.
    pub b_h: Vec<f64>,
    /// Reset applied before the recurrent product (original GRU) instead of
    /// after it (PyTorch).
    pub reset_before: bool,
}

/// Values seen during one step, for calibration.
#[derive(Debug, Clone, Default)]
pub struct StepTrace {
    /// Gate pre-activations (before LN), [gates·H].
    pub pre: Vec<f64>,
    /// Gate pre-activations after LN (LSTM with gate LN), `[4H]`.
    pub pre_normed: Vec<f64>,
    /// Recurrent contribution `W_h h (+ b_h)` (`[3H]`, GRU only).
    pub recurrent: Vec<f64>,
    /// The cell input to its tanh (after cell LN if any), `[H]`.
    pub cell_in: Vec<f64>,
}

/// `W · x` for row-major W.
pub fn matvec(w: &[f64], rows: usize, x: &[f64]) -> Vec<f64> {
    let cols = x.len();
    (0..rows)
        .map(|r| {
            w[r * cols..(r + 1) * cols]
                .iter()
                .zip(x)
                .map(|(a, b)| a * b)
                .sum()
        })
        .collect()
}

/// Standard LayerNorm with ε = [`LN_EPSILON`].
pub fn layer_norm(v: &[f64], gamma: &[f64], beta: &[f64]) -> Vec<f64> {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let inv = 1.0 / (var + LN_EPSILON).sqrt();
    v.iter()
        .zip(gamma.iter().zip(beta))
        .map(|(x, (g, b))| (x - mean) * inv * g + b)
        .collect()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl LstmParams {
    /// One step; updates `h` and `c`, returns the trace.
    pub fn step(&self, x: &[f64], h: &mut [f64], c: &mut [f64]) -> StepTrace {
        let n = self.hidden;
        let wx = matvec(&self.w_x, 4 * n, x);
        let wh = matvec(&self.w_h, 4 * n, h);
        let pre: Vec<f64> = (0..4 * n).map(|r| wx[r] + wh[r] + self.bias[r]).collect();
        let normed = match &self.gate_norm {
            Some((g, b)) => (0..4)
                .flat_map(|k| {
                    let s = k * n..(k + 1) * n;
                    layer_norm(&pre[s.clone()], &g[s.clone()], &b[s])
                })
                .collect(),
            None => pre.clone(),
        };
        let mut cell_in = vec![0.0; n];
        for u in 0..n {
            let i = sigmoid(normed[u]);
            let f = sigmoid(normed[n + u]);
            let g = normed[2 * n + u].tanh();
            let i = if self.capped_input_gate {
                i.min(1.0 - f)
            } else {
                i
            };
            c[u] = f * c[u] + i * g;
        }
        match &self.cell_norm {
            Some((g, b)) => cell_in.copy_from_slice(&layer_norm(c, g, b)),
            None => cell_in.copy_from_slice(c),
        }
        for u in 0..n {
            let o = sigmoid(normed[3 * n + u]);
            h[u] = o * cell_in[u].tanh();
        }
        StepTrace {
            pre,
            pre_normed: normed,
            recurrent: Vec::new(),
            cell_in,
        }
    }
}

impl GruParams {
    /// One step; updates `h`, returns the trace.
    pub fn step(&self, x: &[f64], h: &mut [f64]) -> StepTrace {
        let n = self.hidden;
        let wx: Vec<f64> = matvec(&self.w_x, 3 * n, x)
            .iter()
            .zip(&self.b_x)
            .map(|(a, b)| a + b)
            .collect();
        let mut wh: Vec<f64> = matvec(&self.w_h, 3 * n, h)
            .iter()
            .zip(&self.b_h)
            .map(|(a, b)| a + b)
            .collect();
        let r: Vec<f64> = (0..n).map(|u| sigmoid(wx[u] + wh[u])).collect();
        let z: Vec<f64> = (0..n).map(|u| sigmoid(wx[n + u] + wh[n + u])).collect();
        let mut pre = vec![0.0; 3 * n];
        for u in 0..2 * n {
            pre[u] = wx[u] + wh[u];
        }
        if self.reset_before {
            let rh: Vec<f64> = (0..n).map(|u| r[u] * h[u]).collect();
            let w_hn = &self.w_h[2 * n * n..];
            let rec = matvec(w_hn, n, &rh);
            for u in 0..n {
                wh[2 * n + u] = rec[u] + self.b_h[2 * n + u];
                pre[2 * n + u] = wx[2 * n + u] + wh[2 * n + u];
            }
        } else {
            for u in 0..n {
                pre[2 * n + u] = wx[2 * n + u] + r[u] * wh[2 * n + u];
            }
        }
        for u in 0..n {
            let cand = pre[2 * n + u].tanh();
            h[u] = (1.0 - z[u]) * cand + z[u] * h[u];
        }
        StepTrace {
            pre,
            pre_normed: Vec::new(),
            recurrent: wh,
            cell_in: Vec::new(),
        }
    }
}

/// Float attention: additive (`w_key`, `b_key`, `w_query`, `v`) or dot-product.
#[derive(Debug, Clone)]
pub enum AttentionParams {
    /// Bahdanau.
    Additive {
        /// Attention width A.
        attn: usize,
        /// [A × D].
        w_key: Vec<f64>,
        /// `[A]`.
        b_key: Vec<f64>,
        /// [A × Q].
        w_query: Vec<f64>,
        /// `[A]`.
        v: Vec<f64>,
    },
    /// Luong dot product.
    Dot,
}

/// What one attention call computed: scores, the tanh inputs (additive), weights, context.
#[derive(Debug, Clone)]
pub struct AttentionTrace {
    /// Scores e_j.
    pub scores: Vec<f64>,
    /// `W_k m_j + b + W_q q` for every (j, a), additive only.
    pub pre: Vec<f64>,
    /// `W_k m_j + b` for every (j, a), additive only.
    pub keys: Vec<f64>,
    /// `W_q q`, additive only.
    pub query: Vec<f64>,
    /// Softmax weights.
    pub weights: Vec<f64>,
    /// Context vector, `[D]`.
    pub context: Vec<f64>,
}

impl AttentionParams {
    /// Attends `query` over `memory` (`steps × dim`).
    pub fn attend(&self, memory: &[f64], dim: usize, query: &[f64]) -> AttentionTrace {
        let steps = memory.len() / dim;
        let (scores, pre, keys, q) = match self {
            AttentionParams::Additive {
                attn,
                w_key,
                b_key,
                w_query,
                v,
            } => {
                let q = matvec(w_query, *attn, query);
                let mut keys = Vec::new();
                let mut pre = Vec::new();
                let scores: Vec<f64> = (0..steps)
                    .map(|j| {
                        let k = matvec(w_key, *attn, &memory[j * dim..(j + 1) * dim]);
                        (0..*attn)
                            .map(|a| {
                                let key = k[a] + b_key[a];
                                keys.push(key);
                                pre.push(key + q[a]);
                                v[a] * (key + q[a]).tanh()
                            })
                            .sum()
                    })
                    .collect();
                (scores, pre, keys, q)
            }
            AttentionParams::Dot => (
                (0..steps)
                    .map(|j| {
                        memory[j * dim..(j + 1) * dim]
                            .iter()
                            .zip(query)
                            .map(|(a, b)| a * b)
                            .sum()
                    })
                    .collect(),
                Vec::new(),
                Vec::new(),
                Vec::new(),
            ),
        };
        let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let exps: Vec<f64> = scores.iter().map(|s: &f64| (s - max).exp()).collect();
        let total: f64 = exps.iter().sum();
        let weights: Vec<f64> = exps.iter().map(|e| e / total).collect();
        let context = (0..dim)
            .map(|i| (0..steps).map(|j| weights[j] * memory[j * dim + i]).sum())
            .collect();
        AttentionTrace {
            scores,
            pre,
            keys,
            query: q,
            weights,
            context,
        }
    }
}
