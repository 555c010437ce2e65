//! Softmax cross-entropy over logits rows.

use super::Real;

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
    let mut total = 0.0;
    let scale = T::of(1.0 / rows as f64);
    for (row, &t) in logits.chunks_exact_mut(classes).zip(targets) {
        let max = row.iter().copied().fold(T::neg_infinity(), T::max);
        let shifted_target = row[t as usize] - max;
        let mut sum = T::zero();
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        // −log softmax_t = log Σ exp(v − max) − (v_t − max), without underflow.
        total += (sum.ln() - shifted_target)
            .to_f64()
            .unwrap_or(f64::INFINITY);
        if grad {
            let inv = T::one() / sum;
            for v in row.iter_mut() {
                *v = *v * inv * scale;
            }
            row[t as usize] -= scale;
        }
    }
    total / rows as f64
}
