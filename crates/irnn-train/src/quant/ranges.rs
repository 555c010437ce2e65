//! Ranges: what calibration and QAT observe of a tensor, and the snapping
//! that keeps a grid (and its PWL table) still while a range moves a little.

use serde::{Deserialize, Serialize};

use super::cells::Ranges;

/// `[min, max]` of a tensor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MinMax {
    /// Smallest value seen.
    pub min: f64,
    /// Largest value seen.
    pub max: f64,
}

impl MinMax {
    /// The range of `v` (an empty slice gives `[0, 0]`).
    pub fn of(v: impl IntoIterator<Item = f64>) -> Self {
        let mut r = MinMax::default();
        for x in v {
            r.min = r.min.min(x);
            r.max = r.max.max(x);
        }
        r
    }

    /// Widens to cover `other`.
    pub fn widen(&mut self, other: MinMax) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// `self ← m·self + (1 − m)·other`.
    pub fn blend(&mut self, other: MinMax, m: f64) {
        self.min = m * self.min + (1.0 - m) * other.min;
        self.max = m * self.max + (1.0 - m) * other.max;
    }
}

/// Rounds a range up to the next power of 2^(1/4), so that small moves of a
/// range during QAT do not change the grid (and do not refit its table).
pub fn snap_range(maxabs: f64) -> f64 {
    if maxabs <= 0.0 {
        return maxabs;
    }
    ((maxabs.log2() * 4.0).ceil() / 4.0).exp2()
}

/// `r` with every range snapped ([`snap_range`]).
pub fn snapped(r: &Ranges) -> Ranges {
    let s = |v: &[f64]| v.iter().map(|&m| snap_range(m)).collect();
    Ranges {
        pre: s(&r.pre),
        pre_normed: s(&r.pre_normed),
        recurrent: s(&r.recurrent),
        cell: r.cell,
        cell_in: snap_range(r.cell_in),
    }
}
