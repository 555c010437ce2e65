//! Softmax cross-entropy over logits rows, parallel over rows (rayon).

use rayon::prelude::*;

use super::Real;

/// Rows per parallel task.
const ROWS_PER_TASK: usize = 16;

/// Mean cross-entropy (nats) of `logits` (`rows × classes`) against
/// `targets`, and, if `grad`, its gradient with respect to the logits
/// (`(softmax − onehot) / rows`, written over `logits`).
pub fn softmax_cross_entropy<T: Real>(
    logits: &mut [T],
    targets: &[u32],
    classes: usize,
    grad: bool,
) -> f64 {
    let rows = targets.len();
    let scale = T::of(1.0 / rows as f64);
    let total: f64 = logits
        .par_chunks_mut(classes * ROWS_PER_TASK)
        .zip(targets.par_chunks(ROWS_PER_TASK))
        .map(|(block, ts)| {
            let mut sum_loss = 0.0;
            for (row, &t) in block.chunks_exact_mut(classes).zip(ts) {
                sum_loss += row_loss(row, t as usize, scale, grad);
            }
            sum_loss
        })
        .sum();
    total / rows as f64
}

fn row_loss<T: Real>(row: &mut [T], t: usize, scale: T, grad: bool) -> f64 {
    let max = row.iter().copied().fold(T::neg_infinity(), T::max);
    let shifted_target = row[t] - max;
    for v in row.iter_mut() {
        *v = T::exp_nonpositive(*v - max);
    }
    // Sixteen partial sums so the reduction vectorises.
    let mut lanes = [T::zero(); 16];
    let mut chunks = row.chunks_exact(16);
    for c in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l += v;
        }
    }
    let sum = lanes.iter().copied().sum::<T>() + chunks.remainder().iter().copied().sum::<T>();
    if grad {
        let k = scale / sum;
        for v in row.iter_mut() {
            *v *= k;
        }
        row[t] -= scale;
    }
    // −log softmax_t = log Σ exp(v − max) − (v_t − max), without underflow.
    (sum.ln() - shifted_target)
        .to_f64()
        .unwrap_or(f64::INFINITY)
}
