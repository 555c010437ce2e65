//! Learned step sizes for the rows of the recurrent weight matrices (LSQ:
//! Esser et al., "Learned Step Size Quantization", ICLR 2020).
//!
//! At 8 bits a row's scale taken from its largest weight costs nothing; at
//! 4 bits (7 levels a side) where the scale sits matters, and the searched
//! scale ([`super::cells::row_scale`]) minimises the row's rounding error,
//! not the loss. LSQ makes each row's scale a parameter the loss trains:
//! with `q = clamp(round(w/s), −Q, Q)` and `ŵ = s·q`, the straight-through
//! estimate of `∂ŵ/∂s` is `round(w/s) − w/s` inside the range (rounding
//! read as the identity) and `±Q` where `w` is clipped (exact there), and
//! the loss gradient of `s` is `Σ_c ∂L/∂ŵ_c · ∂ŵ_c/∂s`, where `∂L/∂ŵ` is
//! the weight gradient QAT's backward pass computes anyway (the weights'
//! own straight-through estimate). The parameter is `δ = ln(s / s₀)`, from
//! the starting scale `s₀`: Adam's steps are then relative, `s` stays
//! positive, and at `δ = 0` the scale is `s₀` exactly.

use irnn_runtime::kernels::WeightBits;

use super::cells::{row_scale, CellSteps};
use crate::nn::optim::{Optimizer, OptimizerKind};
use crate::nn::Param;

/// The straight-through derivative of `ŵ = s·clamp(round(w/s), −top, top)`
/// with respect to `s`.
pub fn step_derivative(w: f64, s: f64, top: f64) -> f64 {
    let t = w / s;
    let q = t.round();
    if q > top {
        top
    } else if q < -top {
        -top
    } else {
        q - t
    }
}

/// One matrix's weights and their loss gradient, row-major `rows × cols`.
#[derive(Debug, Clone, Copy)]
pub struct WeightsAndGrad<'a> {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// The float weights.
    pub value: &'a [f32],
    /// `∂L/∂ŵ` (the weights' gradient).
    pub grad: &'a [f32],
}

/// The learned scale of every row of each recurrent layer's W_x and W_h,
/// with their own Adam state.
#[derive(Debug, Clone)]
pub struct LearnedSteps {
    bits: WeightBits,
    /// Per layer: W_x's rows, W_h's rows; the starting scales `s₀`.
    start: Vec<[Vec<f64>; 2]>,
    /// Per layer: `δ = ln(s / s₀)` of W_x's rows, W_h's rows.
    layers: Vec<[Param<f32>; 2]>,
    /// Their rate as a multiple of the weights' (`δ` is a log, so a step
    /// of the rate is a relative change of a scale).
    lr_factor: f64,
    optimizer: Optimizer,
}

impl LearnedSteps {
    /// Starts every row at its searched scale ([`row_scale`]): the PTQ
    /// export's, so QAT starts from the calibrated model unchanged.
    /// `layers[l]` holds layer `l`'s W_x and W_h (gradients unused);
    /// [`Self::update`] runs at `lr_factor` times the rate it is given.
    pub fn new(bits: WeightBits, layers: &[[WeightsAndGrad; 2]], lr_factor: f64) -> Self {
        let searched = |m: &WeightsAndGrad| -> Vec<f64> {
            m.value
                .chunks(m.cols.max(1))
                .map(|row| row_scale(&row.iter().map(|&x| x as f64).collect::<Vec<_>>(), bits))
                .collect()
        };
        let offsets = |l: usize, k: usize, m: &WeightsAndGrad| {
            Param::zeros(format!("step.l{l}.{}", ["w_x", "w_h"][k]), &[m.rows])
        };
        Self {
            bits,
            start: layers
                .iter()
                .map(|[x, h]| [searched(x), searched(h)])
                .collect(),
            layers: layers
                .iter()
                .enumerate()
                .map(|(l, [x, h])| [offsets(l, 0, x), offsets(l, 1, h)])
                .collect(),
            lr_factor,
            optimizer: Optimizer::default(),
        }
    }

    /// Row `r`'s scale from its start and offset.
    fn scale(start: f64, offset: f32) -> f64 {
        start * (offset as f64).exp()
    }

    /// The scales, as the export reads them.
    pub fn cell_steps(&self) -> Vec<CellSteps> {
        let scales = |s0: &[f64], p: &Param<f32>| -> Vec<f64> {
            s0.iter()
                .zip(&p.value)
                .map(|(&s, &d)| Self::scale(s, d))
                .collect()
        };
        self.start
            .iter()
            .zip(&self.layers)
            .map(|([x0, h0], [x, h])| CellSteps {
                w_x: scales(x0, x),
                w_h: scales(h0, h),
            })
            .collect()
    }

    /// Sets each row's gradient from the weights' gradient of one window:
    /// `∂L/∂δ = s · Σ_c ∂L/∂ŵ_c · ∂ŵ_c/∂s` ([`step_derivative`]).
    pub fn set_gradients(&mut self, layers: &[[WeightsAndGrad; 2]]) {
        let top = self.bits.max_symmetric() as f64;
        for ((steps, starts), mats) in self.layers.iter_mut().zip(&self.start).zip(layers) {
            for ((p, s0), m) in steps.iter_mut().zip(starts).zip(mats) {
                let rows = m
                    .value
                    .chunks(m.cols.max(1))
                    .zip(m.grad.chunks(m.cols.max(1)));
                let offsets = p.value.iter().zip(s0);
                for ((g, (&d, &s0)), (w, dw)) in p.grad.iter_mut().zip(offsets).zip(rows) {
                    let s = Self::scale(s0, d);
                    let sum: f64 = w
                        .iter()
                        .zip(dw)
                        .map(|(&w, &d)| d as f64 * step_derivative(w as f64, s, top))
                        .sum();
                    *g = (s * sum) as f32;
                }
            }
        }
    }

    /// One update of every `δ` at `lr_factor · lr`, `lr` the weights' rate.
    pub fn update(&mut self, kind: OptimizerKind, lr: f64) {
        let mut params: Vec<&mut Param<f32>> = self.layers.iter_mut().flatten().collect();
        self.optimizer.step(kind, &mut params, lr * self.lr_factor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row_error(w: &[f64], s: f64, top: f64) -> f64 {
        w.iter()
            .map(|&v| (v - s * (v / s).round().clamp(-top, top)).powi(2))
            .sum()
    }

    #[test]
    fn the_derivative_is_exact_where_clipped_and_straight_through_inside() {
        let top = 7.0;
        // Clipped: ŵ = ±7·s exactly, so central differences in f64 agree.
        for &(w, s) in &[(1.0, 0.1), (-2.5, 0.2), (0.9, 0.11)] {
            let f = |s: f64| s * (w / s).round().clamp(-top, top);
            let h = 1e-7;
            let fd = (f(s + h) - f(s - h)) / (2.0 * h);
            assert!((w / s).abs() > top + 0.5);
            assert!(
                (fd - step_derivative(w, s, top)).abs() < 1e-6,
                "w {w} s {s}: fd {fd}"
            );
        }
        // Inside: rounding read as the identity.
        for &(w, s, want) in &[
            (0.33, 0.1, -0.3),
            (-0.26, 0.1, -0.4),
            (0.0, 0.1, 0.0),
            (0.68, 0.1, 0.2),
        ] {
            assert!(
                (step_derivative(w, s, top) - want).abs() < 1e-12,
                "w {w} s {s}"
            );
        }
    }

    #[test]
    fn descending_the_rounding_error_finds_a_scale_as_good_as_the_search() {
        // One row of heavy-tailed weights; the loss is the row's rounding
        // error, so ∂L/∂ŵ = 2(ŵ − w). LSQ's gradient balances rounding
        // against clipping and should land near the grid search's optimum.
        let cols = 256;
        let w: Vec<f64> = (0..cols)
            .map(|i| {
                let u = (i as f64 + 0.5) / cols as f64 * 2.0 - 1.0;
                u * u * u * 0.3
            })
            .collect();
        let top = 7.0;
        let searched = row_scale(&w, WeightBits::Four);
        let value: Vec<f32> = w.iter().map(|&v| v as f32).collect();
        let m = WeightsAndGrad {
            rows: 1,
            cols,
            value: &value,
            grad: &vec![0.0; cols],
        };
        let mut steps = LearnedSteps::new(WeightBits::Four, &[[m, m]], 1.0);
        // Start from the largest weight's scale (no clipping at all).
        let max = w.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        for s0 in &mut steps.start[0] {
            s0[0] = max / top;
        }
        let start = row_error(&w, max / top, top);
        for _ in 0..400 {
            let s = steps.cell_steps()[0].w_x[0];
            let grad: Vec<f32> = w
                .iter()
                .map(|&v| (2.0 * (s * (v / s).round().clamp(-top, top) - v)) as f32)
                .collect();
            let m = WeightsAndGrad { grad: &grad, ..m };
            steps.set_gradients(&[[m, m]]);
            steps.update(OptimizerKind::Adam, 0.01);
        }
        let learned = steps.cell_steps()[0].w_x[0];
        let (e_learned, e_searched) = (row_error(&w, learned, top), row_error(&w, searched, top));
        assert!(
            learned < max / top,
            "LSQ clipped nothing: {learned} vs {}",
            max / top
        );
        assert!(
            e_learned < start && e_learned < 1.02 * e_searched,
            "rounding error: start {start}, learned {e_learned} (s {learned}), searched {e_searched} (s {searched})"
        );
    }

    #[test]
    fn the_start_is_the_searched_scale_and_zero_gradient_changes_nothing() {
        let value: Vec<f32> = (0..32).map(|i| (i as f32 - 15.5) / 40.0).collect();
        let zero = vec![0.0f32; 32];
        let m = WeightsAndGrad {
            rows: 2,
            cols: 16,
            value: &value,
            grad: &zero,
        };
        let mut steps = LearnedSteps::new(WeightBits::Four, &[[m, m]], 1.0);
        let start = steps.cell_steps();
        for (r, row) in value.chunks(16).enumerate() {
            let row: Vec<f64> = row.iter().map(|&v| v as f64).collect();
            let s = row_scale(&row, WeightBits::Four);
            assert_eq!(start[0].w_x[r], s);
        }
        steps.set_gradients(&[[m, m]]);
        steps.update(OptimizerKind::Adam, 0.1);
        assert_eq!(steps.cell_steps(), start);
    }
}
