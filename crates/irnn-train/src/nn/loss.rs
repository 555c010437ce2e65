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

/// The two losses of a distilled window, mean nats per row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DistilledLoss {
    /// Against the mixed target (what the gradient descends).
    pub mixed: f64,
    /// Against the data's tokens alone (the metric).
    pub hard: f64,
}

/// Cross-entropy of `logits` (`rows × classes`) against a target that mixes
/// the data's token with a teacher's distribution,
/// `(1 − α)·onehot(target) + α·softmax(teacher row)` — knowledge
/// distillation at temperature 1 — and, if `grad`, its gradient with respect
/// to the logits (`(softmax − target) / rows`, written over `logits`).
///
/// Why: a quantized student fitted only to the data's token learns from
/// one class per row; the float teacher's full distribution says how wrong
/// each other class is, which is most of what a low-bit model loses.
pub fn distillation_cross_entropy<T: Real>(
    logits: &mut [T],
    teacher: &[T],
    targets: &[u32],
    alpha: f64,
    classes: usize,
    grad: bool,
) -> DistilledLoss {
    let rows = targets.len();
    let scale = 1.0 / rows as f64;
    let (mixed, hard) = logits
        .par_chunks_mut(classes * ROWS_PER_TASK)
        .zip(teacher.par_chunks(classes * ROWS_PER_TASK))
        .zip(targets.par_chunks(ROWS_PER_TASK))
        .map(|((block, tblock), ts)| {
            let mut sums = (0.0, 0.0);
            let rows = block
                .chunks_exact_mut(classes)
                .zip(tblock.chunks_exact(classes));
            for ((row, trow), &t) in rows.zip(ts) {
                let (m, h) = distilled_row(row, trow, t as usize, alpha, scale, grad);
                sums.0 += m;
                sums.1 += h;
            }
            sums
        })
        .reduce(|| (0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    DistilledLoss {
        mixed: mixed * scale,
        hard: hard * scale,
    }
}

/// `log Σ exp(v)` of a row, and the row's maximum.
fn log_sum_exp<T: Real>(row: &[T]) -> (f64, T) {
    let max = row.iter().copied().fold(T::neg_infinity(), T::max);
    let sum: f64 = row
        .iter()
        .map(|&v| T::exp_nonpositive(v - max).to_f64().unwrap_or(0.0))
        .sum();
    (sum.ln() + max.to_f64().unwrap_or(f64::INFINITY), max)
}

fn distilled_row<T: Real>(
    row: &mut [T],
    teacher: &[T],
    t: usize,
    alpha: f64,
    scale: f64,
    grad: bool,
) -> (f64, f64) {
    let (lse, _) = log_sum_exp(row);
    let (tlse, _) = log_sum_exp(teacher);
    // −log p_student(c) = lse − v_c, without underflow.
    let nll = |v: T| lse - v.to_f64().unwrap_or(f64::NEG_INFINITY);
    let hard = nll(row[t]);
    let mut soft = 0.0;
    for (v, &tv) in row.iter_mut().zip(teacher) {
        let p_teacher = (tv.to_f64().unwrap_or(f64::NEG_INFINITY) - tlse).exp();
        soft += p_teacher * nll(*v);
        if grad {
            let p_student = (-nll(*v)).exp();
            *v = T::of((p_student - alpha * p_teacher) * scale);
        }
    }
    if grad {
        row[t] -= T::of((1.0 - alpha) * scale);
    }
    ((1.0 - alpha) * hard + alpha * soft, hard)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic logits in [−4, 4].
    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 11) as f64 / (1u64 << 53) as f64) * 8.0 - 4.0
            })
            .collect()
    }

    #[test]
    fn distillation_gradient_matches_finite_differences() {
        let (rows, classes) = (37, 5);
        let logits = values(rows * classes, 1);
        let teacher = values(rows * classes, 2);
        let targets: Vec<u32> = (0..rows as u32).map(|r| (r * 3) % classes as u32).collect();
        for alpha in [0.0, 0.3, 1.0] {
            let loss = |l: &[f64]| {
                let mut l = l.to_vec();
                distillation_cross_entropy(&mut l, &teacher, &targets, alpha, classes, false).mixed
            };
            let mut g = logits.clone();
            let at = distillation_cross_entropy(&mut g, &teacher, &targets, alpha, classes, true);
            assert_eq!(at.mixed, loss(&logits));
            let eps = 1e-6;
            for i in 0..logits.len() {
                let (mut up, mut down) = (logits.clone(), logits.clone());
                up[i] += eps;
                down[i] -= eps;
                let fd = (loss(&up) - loss(&down)) / (2.0 * eps);
                assert!(
                    (fd - g[i]).abs() < 1e-8,
                    "α {alpha}, logit {i}: {fd} vs {}",
                    g[i]
                );
            }
        }
    }

    #[test]
    fn distillation_without_the_teacher_is_the_cross_entropy() {
        let (rows, classes) = (20, 7);
        let logits = values(rows * classes, 3);
        let teacher = values(rows * classes, 4);
        let targets: Vec<u32> = (0..rows as u32).map(|r| r % classes as u32).collect();
        let (mut a, mut b) = (logits.clone(), logits.clone());
        let plain = softmax_cross_entropy(&mut a, &targets, classes, true);
        let d = distillation_cross_entropy(&mut b, &teacher, &targets, 0.0, classes, true);
        assert!((plain - d.mixed).abs() < 1e-12 && (plain - d.hard).abs() < 1e-12);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-15);
        }
        // All on a teacher equal to the student: nothing to learn.
        let mut c = logits.clone();
        let same = distillation_cross_entropy(&mut c, &logits, &targets, 1.0, classes, true);
        assert!((same.hard - plain).abs() < 1e-12);
        assert!(c.iter().all(|g| g.abs() < 1e-15));
    }
}
