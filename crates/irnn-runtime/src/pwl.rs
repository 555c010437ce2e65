//! Piecewise-linear (PWL) activations on the integer grid.
//!
//! iRNN replaces sigmoid, tanh and exp by a PWL function whose knots are
//! integers of the *input's* quantized domain and whose knot values are
//! integers of the *output's* domain (NUMERICS.md §3). Between knots `k_j`
//! and `k_{j+1}` the function is
//!
//! ```text
//! y = clamp_i16( v_j + ((x − k_j) · m_j + round_j) >> s_j )
//! round_j = 2^(s_j − 1) if s_j > 0, else 0          (ties toward +∞)
//! ```
//!
//! with `m_j / 2^s_j` the segment's slope in fixed point; outside the knot
//! range it saturates at the end values. The product is int32 by
//! construction: [`PwlTable::new`] rejects any segment where it could
//! overflow. Fitting the knots (the paper's adaptive algorithm) is the
//! trainer's job; [`PwlTable::from_points`] derives slopes from given knots.

use alloc::vec::Vec;

use crate::error::Error;
use crate::fixed_point::saturate_i32_to_i16;
use crate::kernels::Isa;
use crate::slab::Slab;

/// Bound on `(k_{j+1} − k_j − 1)·|m_j| + round_j`: the segment product plus
/// any int16 knot value stays inside int32.
pub const MAX_SEGMENT_PRODUCT: i64 = i32::MAX as i64 - 32768;

/// Largest number of knots a table may have.
pub const MAX_KNOTS: usize = 1024;

/// A PWL function from int16 (or int8) inputs to int16 outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PwlTable {
    /// Knot positions, strictly increasing, all in the int16 range.
    knots: Slab<i32>,
    /// Value at each knot, in the int16 range.
    values: Slab<i32>,
    /// Per-segment slope mantissa `m_j`.
    slopes: Slab<i32>,
    /// Per-segment slope shift `s_j` in `0..=30`.
    shifts: Slab<i32>,
    /// `knots[..segments]` padded with `i32::MAX` to a power of two, and
    /// `values`, `slopes`, `shifts` padded alike: the SIMD binary search's tables.
    padded: [Slab<i32>; 4],
}

fn invalid(what: &'static str) -> Error {
    Error::InvalidParameter { what }
}

impl PwlTable {
    /// A table from knots, knot values and per-segment slopes
    /// (`slopes.len() == shifts.len() == knots.len() − 1`).
    pub fn new(
        knots: Vec<i32>,
        values: Vec<i32>,
        slopes: Vec<i32>,
        shifts: Vec<i32>,
    ) -> Result<Self, Error> {
        Self::check(&knots, &values, &slopes, &shifts)?;
        let segments = knots.len() - 1;
        let p = segments.next_power_of_two();
        let pad = |v: &[i32], fill: i32| {
            let mut out = v[..segments].to_vec();
            out.resize(p, fill);
            out
        };
        let padded = [
            pad(&knots, i32::MAX).into(),
            pad(&values, 0).into(),
            pad(&slopes, 0).into(),
            pad(&shifts, 0).into(),
        ];
        Ok(Self {
            knots: knots.into(),
            values: values.into(),
            slopes: slopes.into(),
            shifts: shifts.into(),
            padded,
        })
    }

    /// A table from its arrays as the runtime keeps them (owned or
    /// borrowed from a model file in place): [`new`](Self::new)'s checks,
    /// and padded tables equal to the ones `new` would derive.
    pub fn from_parts(
        knots: Slab<i32>,
        values: Slab<i32>,
        slopes: Slab<i32>,
        shifts: Slab<i32>,
        padded: [Slab<i32>; 4],
    ) -> Result<Self, Error> {
        Self::check(&knots, &values, &slopes, &shifts)?;
        let segments = knots.len() - 1;
        let p = segments.next_power_of_two();
        let sources: [(&[i32], i32); 4] =
            [(&knots, i32::MAX), (&values, 0), (&slopes, 0), (&shifts, 0)];
        for (table, (source, fill)) in padded.iter().zip(sources) {
            let expected = (0..p).map(|i| if i < segments { source[i] } else { fill });
            if table.len() != p || !table.iter().copied().eq(expected) {
                return Err(invalid(
                    "a PWL table's padded copies must equal its knots, values, slopes and shifts",
                ));
            }
        }
        Ok(Self {
            knots,
            values,
            slopes,
            shifts,
            padded,
        })
    }

    /// Bytes of this table on the heap (0 when borrowed).
    pub fn heap_bytes(&self) -> usize {
        [&self.knots, &self.values, &self.slopes, &self.shifts]
            .into_iter()
            .chain(&self.padded)
            .map(|s| s.heap_bytes())
            .sum()
    }

    /// The checks of a table's arrays.
    fn check(knots: &[i32], values: &[i32], slopes: &[i32], shifts: &[i32]) -> Result<(), Error> {
        let n = knots.len();
        if !(2..=MAX_KNOTS).contains(&n) {
            return Err(invalid("a PWL table needs between 2 and 1024 knots"));
        }
        if values.len() != n || slopes.len() != n - 1 || shifts.len() != n - 1 {
            return Err(invalid(
                "a PWL table needs one value per knot and one slope and shift per segment",
            ));
        }
        let i16_range = i16::MIN as i32..=i16::MAX as i32;
        if !knots.iter().chain(values).all(|v| i16_range.contains(v)) {
            return Err(invalid("PWL knots and values must be in the int16 range"));
        }
        if knots.windows(2).any(|w| w[0] >= w[1]) {
            return Err(invalid("PWL knots must be strictly increasing"));
        }
        for j in 0..n - 1 {
            if !(0..=30).contains(&shifts[j]) {
                return Err(invalid("PWL slope shifts must be in 0..=30"));
            }
            let max_dx = (knots[j + 1] - knots[j] - 1) as i64;
            let round = (1i64 << shifts[j]) >> 1;
            if max_dx * (slopes[j] as i64).abs() + round > MAX_SEGMENT_PRODUCT {
                return Err(invalid(
                    "a PWL slope is too large for its segment: (x − k)·m would overflow int32",
                ));
            }
        }
        Ok(())
    }

    /// A table through the given points, each segment's slope the exact
    /// `(v_{j+1} − v_j) / (k_{j+1} − k_j)` rounded to the most precise
    /// fixed-point multiplier that cannot overflow.
    pub fn from_points(knots: Vec<i32>, values: Vec<i32>) -> Result<Self, Error> {
        if knots.len() < 2 || values.len() != knots.len() {
            return Err(invalid(
                "a PWL table needs at least 2 points, one value each",
            ));
        }
        if knots.windows(2).any(|w| w[0] >= w[1]) {
            return Err(invalid("PWL knots must be strictly increasing"));
        }
        let mut slopes = Vec::with_capacity(knots.len() - 1);
        let mut shifts = Vec::with_capacity(knots.len() - 1);
        for j in 0..knots.len() - 1 {
            let (m, s) = fit_slope(
                values[j + 1] as i64 - values[j] as i64,
                knots[j + 1] as i64 - knots[j] as i64,
            );
            slopes.push(m);
            shifts.push(s);
        }
        Self::new(knots, values, slopes, shifts)
    }

    /// Knot positions.
    pub fn knots(&self) -> &[i32] {
        &self.knots
    }

    /// Values at the knots.
    pub fn values(&self) -> &[i32] {
        &self.values
    }

    /// Per-segment slope mantissas.
    pub fn slopes(&self) -> &[i32] {
        &self.slopes
    }

    /// Per-segment slope shifts.
    pub fn shifts(&self) -> &[i32] {
        &self.shifts
    }

    /// The padded search tables (knots, values, slopes, shifts).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn padded(&self) -> &[Slab<i32>; 4] {
        &self.padded
    }

    /// The function at one point: the definition.
    #[inline]
    pub fn eval(&self, x: i16) -> i16 {
        let x = x as i32;
        let last = self.knots.len() - 1;
        if x <= self.knots[0] {
            return self.values[0] as i16;
        }
        if x >= self.knots[last] {
            return self.values[last] as i16;
        }
        // The segment: the last knot ≤ x.
        let j = self.knots.partition_point(|&k| k <= x) - 1;
        self.segment_value(x, j)
    }

    /// The segment formula of segment `j` at `x` (`k_j ≤ x < k_{j+1}`).
    #[inline(always)]
    pub(crate) fn segment_value(&self, x: i32, j: usize) -> i16 {
        let s = self.shifts[j];
        let round = (1i32 << s) >> 1;
        let t = ((x - self.knots[j]) * self.slopes[j] + round) >> s;
        // Cannot overflow: |t| ≤ MAX_SEGMENT_PRODUCT and |v_j| ≤ 32768.
        saturate_i32_to_i16(self.values[j] + t)
    }

    /// The function over a slice of int16 inputs.
    pub fn eval_i16(&self, isa: Isa, xs: &[i16], out: &mut [i16]) -> Result<(), Error> {
        crate::error::check_len("PWL output", xs.len(), out.len())?;
        let k = isa.kernels()?;
        // SAFETY: a table this CPU runs; lengths checked above.
        unsafe { (k.pwl_i16)(self, xs, out) };
        Ok(())
    }

    /// The function over a slice of int8 inputs (the same table; knots
    /// outside the int8 range simply saturate).
    pub fn eval_i8(&self, isa: Isa, xs: &[i8], out: &mut [i16]) -> Result<(), Error> {
        crate::error::check_len("PWL output", xs.len(), out.len())?;
        let mut wide = [0i16; 64];
        for (x, o) in xs.chunks(64).zip(out.chunks_mut(64)) {
            for (w, &v) in wide.iter_mut().zip(x) {
                *w = v as i16;
            }
            self.eval_i16(isa, &wide[..x.len()], o)?;
        }
        Ok(())
    }

    /// The scalar reference over a slice.
    pub fn eval_scalar(&self, xs: &[i16], out: &mut [i16]) {
        for (o, &x) in out.iter_mut().zip(xs) {
            *o = self.eval(x);
        }
    }
}

/// The most precise `(m, s)` with `m / 2^s ≈ dv / dk` (rounded half away
/// from zero) such that `(dk − 1)·|m| + 2^(s−1) ≤ MAX_SEGMENT_PRODUCT`.
fn fit_slope(dv: i64, dk: i64) -> (i32, i32) {
    let rounded = |s: i64| {
        let num = dv << s;
        (num.abs() + dk / 2) / dk * num.signum()
    };
    for s in (1..=30).rev() {
        let m = rounded(s);
        if (dk - 1) * m.abs() + (1i64 << (s - 1)) <= MAX_SEGMENT_PRODUCT {
            return (m as i32, s as i32);
        }
    }
    // s = 0 always fits: (dk − 1)·|round(dv/dk)| < |dv| + dk < 2^17.
    (rounded(0) as i32, 0)
}

#[cfg(test)]
mod tests;
