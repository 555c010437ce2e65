//! Quantized addition of two int8 tensors with different grids, for
//! residual connections (NUMERICS.md §4.4):
//!
//! ```text
//! a' = M_a.apply((a − z_a) · 2^16),   b' = M_b.apply((b − z_b) · 2^16)
//! out = clamp_i8(rounding_divide_by_pot(a' + b', 16) + z_out)   (a' + b' saturating)
//! ```
//!
//! with `M_a = s_a / s_out`, `M_b = s_b / s_out`. The 16-bit headroom keeps
//! the rescaled inputs' fractions, so only the final shift rounds materially.

use crate::error::{check_len, Error};
use crate::fixed_point::{rounding_divide_by_pot, saturate_i32_to_i8, QuantizedMultiplier};

/// Fraction bits kept between the rescale and the final rounding.
pub const ADD_HEADROOM_BITS: u32 = 16;

/// Parameters of a quantized add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuantizedAdd {
    /// `s_a / s_out`.
    pub multiplier_a: QuantizedMultiplier,
    /// `s_b / s_out`.
    pub multiplier_b: QuantizedMultiplier,
    /// Zero point of a.
    pub zero_point_a: i32,
    /// Zero point of b.
    pub zero_point_b: i32,
    /// Zero point of the output.
    pub zero_point_out: i32,
}

impl QuantizedAdd {
    /// One element.
    #[inline]
    pub fn add_one(&self, a: i8, b: i8) -> i8 {
        let a = self
            .multiplier_a
            .apply((a as i32 - self.zero_point_a) << ADD_HEADROOM_BITS);
        let b = self
            .multiplier_b
            .apply((b as i32 - self.zero_point_b) << ADD_HEADROOM_BITS);
        saturate_i32_to_i8(
            rounding_divide_by_pot(a.saturating_add(b), ADD_HEADROOM_BITS) + self.zero_point_out,
        )
    }

    /// `out[i] = a[i] ⊕ b[i]`.
    pub fn add(&self, a: &[i8], b: &[i8], out: &mut [i8]) -> Result<(), Error> {
        check_len("residual add second input", a.len(), b.len())?;
        check_len("residual add output", a.len(), out.len())?;
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = self.add_one(x, y);
        }
        Ok(())
    }
}
