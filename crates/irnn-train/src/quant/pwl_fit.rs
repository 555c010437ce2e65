//! Adaptive piecewise-linear fitting on the integer grid (the paper's
//! contribution).
//!
//! The target is the ideal integer function: for every int16 input `q`,
//! `t(q) = clamp_i16(round(f(q · s_in) / s_out))`. Knots are integers of the
//! input grid and knot values are `t` at the knot. Starting from the two ends
//! of the grid, the fitter repeatedly inserts a knot where the table — as
//! the runtime evaluates it, bit for bit — is furthest from `t`, until the
//! largest error is within `tolerance` output LSBs or the knot budget is
//! spent. Only the two segments next to a new knot are re-evaluated.

use irnn_runtime::PwlTable;

/// The default knot budget per table: 32 knots keep every gate's table
/// within a few Q0.15 LSBs of the ideal function (docs/RESULTS.md, PWL
/// section).
pub const DEFAULT_KNOTS: usize = 32;

/// A fitted table and its measured error against the ideal integer function.
#[derive(Debug, Clone)]
pub struct PwlFit {
    /// The table.
    pub table: PwlTable,
    /// Largest |table(q) − t(q)| over all int16 q, in output LSBs.
    pub max_error: i32,
    /// Mean |table(q) − t(q)| over all int16 q.
    pub mean_error: f64,
}

/// The ideal integer outputs over the whole int16 input grid.
pub fn ideal_outputs(f: impl Fn(f64) -> f64, input_scale: f64, output_scale: f64) -> Vec<i32> {
    (i16::MIN as i32..=i16::MAX as i32)
        .map(|q| {
            (f(q as f64 * input_scale) / output_scale)
                .round()
                .clamp(-32768.0, 32767.0) as i32
        })
        .collect()
}

fn index(q: i32) -> usize {
    (q - i16::MIN as i32) as usize
}

/// Error of the table on the segment `[k0, k1]`: (max, argmax, sum).
fn segment_error(table: &PwlTable, target: &[i32], k0: i32, k1: i32) -> (i32, i32, i64) {
    let mut worst = (0, k0);
    let mut sum = 0i64;
    for q in k0..=k1 {
        let e = (table.eval(q as i16) as i32 - target[index(q)]).abs();
        sum += e as i64;
        if e > worst.0 {
            worst = (e, q);
        }
    }
    (worst.0, worst.1, sum)
}

fn table_through(knots: &[i32], target: &[i32]) -> PwlTable {
    let values = knots.iter().map(|&k| target[index(k)]).collect();
    PwlTable::from_points(knots.to_vec(), values).expect("knots are sorted, distinct, in range")
}

/// Fits `target` (from [`ideal_outputs`]) with at most `max_knots` knots
/// (≥ 2), stopping early once the largest error is ≤ `tolerance`.
pub fn fit_adaptive(target: &[i32], max_knots: usize, tolerance: i32) -> PwlFit {
    assert_eq!(target.len(), 65536, "target must cover the int16 grid");
    let mut knots = vec![i16::MIN as i32, i16::MAX as i32];
    let mut table = table_through(&knots, target);
    // (max error, where) of each segment; a segment's values depend only on
    // its two knots, so an insertion changes just the two new segments.
    let mut worst: Vec<(i32, i32)> = vec![worst_point(&table, target, knots[0], knots[1])];
    loop {
        let (seg, &(e, q)) = worst
            .iter()
            .enumerate()
            .max_by_key(|(i, (e, _))| (*e, core::cmp::Reverse(*i)))
            .expect("at least one segment");
        if e <= tolerance || knots.len() >= max_knots.max(2) {
            return finish(table, target);
        }
        knots.insert(seg + 1, q);
        table = table_through(&knots, target);
        worst[seg] = worst_point(&table, target, knots[seg], knots[seg + 1]);
        worst.insert(
            seg + 1,
            worst_point(&table, target, knots[seg + 1], knots[seg + 2]),
        );
    }
}

fn worst_point(table: &PwlTable, target: &[i32], k0: i32, k1: i32) -> (i32, i32) {
    let (e, q, _) = segment_error(table, target, k0, k1);
    (e, q)
}

/// Uniformly spaced knots over the int16 grid (the baseline the adaptive
/// placement is compared with).
pub fn fit_uniform(target: &[i32], knots: usize) -> PwlFit {
    let n = knots.max(2);
    let span = 65535i64;
    let mut ks: Vec<i32> = (0..n)
        .map(|i| (i16::MIN as i64 + span * i as i64 / (n as i64 - 1)) as i32)
        .collect();
    ks.dedup();
    finish(table_through(&ks, target), target)
}

fn finish(table: PwlTable, target: &[i32]) -> PwlFit {
    let (max_error, _, sum) = segment_error(&table, target, i16::MIN as i32, i16::MAX as i32);
    PwlFit {
        table,
        max_error,
        mean_error: sum as f64 / 65536.0,
    }
}

/// The logistic function.
pub fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Sigmoid table for inputs on grid `input_scale`, output Q0.15.
pub fn fit_sigmoid(input_scale: f64, max_knots: usize) -> PwlFit {
    fit_adaptive(&ideal_outputs(sigmoid, input_scale, Q15), max_knots, 1)
}

/// tanh table for inputs on grid `input_scale`, output Q0.15.
pub fn fit_tanh(input_scale: f64, max_knots: usize) -> PwlFit {
    fit_adaptive(&ideal_outputs(f64::tanh, input_scale, Q15), max_knots, 1)
}

/// The Q0.15 output scale.
pub const Q15: f64 = 1.0 / 32768.0;

/// An activation the fitter knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activation {
    /// The logistic function.
    Sigmoid,
    /// tanh.
    Tanh,
}

/// Fits tables for a fixed knot budget and remembers them by input grid, so
/// that a conversion repeated during QAT refits an activation only when its
/// input range has moved.
#[derive(Debug, Clone)]
pub struct PwlFitter {
    knots: usize,
    cache: std::collections::HashMap<(Activation, u64), PwlTable>,
}

impl PwlFitter {
    /// A fitter with at most `knots` knots per table (≥ 2).
    pub fn new(knots: usize) -> Self {
        Self {
            knots: knots.max(2),
            cache: Default::default(),
        }
    }

    /// The knot budget.
    pub fn knots(&self) -> usize {
        self.knots
    }

    /// Tables fitted so far.
    pub fn fits(&self) -> usize {
        self.cache.len()
    }

    /// The table of `f` for inputs on grid `input_scale`, output Q0.15.
    pub fn table(&mut self, f: Activation, input_scale: f64) -> PwlTable {
        let knots = self.knots;
        self.cache
            .entry((f, input_scale.to_bits()))
            .or_insert_with(|| match f {
                Activation::Sigmoid => fit_sigmoid(input_scale, knots).table,
                Activation::Tanh => fit_tanh(input_scale, knots).table,
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_beats_uniform_and_meets_tolerance() {
        let target = ideal_outputs(f64::tanh, 4.0 / 32768.0, Q15);
        let adaptive = fit_adaptive(&target, 32, 0);
        let uniform = fit_uniform(&target, 32);
        assert_eq!(adaptive.table.knots().len(), 32);
        assert!(
            adaptive.max_error < uniform.max_error,
            "{} vs {}",
            adaptive.max_error,
            uniform.max_error
        );
        // With enough knots the tolerance is reached before the budget.
        let fine = fit_adaptive(&target, 1024, 2);
        assert!(fine.max_error <= 2);
        assert!(fine.table.knots().len() < 1024);
    }

    #[test]
    fn reported_error_is_the_real_error() {
        let target = ideal_outputs(sigmoid, 8.0 / 32768.0, Q15);
        let fit = fit_adaptive(&target, 16, 1);
        let measured = (i16::MIN..=i16::MAX)
            .map(|q| (fit.table.eval(q) as i32 - target[index(q as i32)]).abs())
            .max()
            .unwrap();
        assert_eq!(measured, fit.max_error);
    }
}
