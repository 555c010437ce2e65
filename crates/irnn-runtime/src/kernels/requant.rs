//! The epilogue of a matrix product: add an int32 bias and requantize each
//! row with its own multiplier to int8 or int16.
//!
//! For row `r` (NUMERICS.md §2):
//!
//! ```text
//! s   = saturate_i32(acc[r] + bias[r])                 (exact sum, clamped)
//! y   = multiplier[r].apply(s)                         (fixed_point::QuantizedMultiplier)
//! out = clamp(y + zero_point, OUT::MIN, OUT::MAX)      (exact sum, clamped)
//! ```
//!
//! The SIMD versions compute the same bits; they are tested against
//! [`RowRequant::apply_scalar`].

use alloc::vec::Vec;

use crate::error::{check_len, Error};
use crate::fixed_point::{saturate_i64_to_i32, QuantizedMultiplier};
use crate::slab::Slab;

use super::table::{Kernels, RequantFn};
use super::Isa;

/// An output type of the epilogue.
pub trait RequantOutput: Copy + Default {
    /// Smallest value, as i32.
    const MIN: i32;
    /// Largest value, as i32.
    const MAX: i32;
    /// Width in bytes (SIMD code stores narrowed lanes directly).
    const BYTES: usize;
    /// Narrows a value already clamped to `MIN..=MAX`.
    fn from_clamped(v: i32) -> Self;
    /// This type's epilogue in a kernel table.
    fn kernel(k: &Kernels) -> RequantFn<Self>;
}

impl RequantOutput for i8 {
    const MIN: i32 = i8::MIN as i32;
    const MAX: i32 = i8::MAX as i32;
    const BYTES: usize = 1;
    fn from_clamped(v: i32) -> Self {
        v as i8
    }
    fn kernel(k: &Kernels) -> RequantFn<Self> {
        k.requant_i8
    }
}

impl RequantOutput for i16 {
    const MIN: i32 = i16::MIN as i32;
    const MAX: i32 = i16::MAX as i32;
    const BYTES: usize = 2;
    fn from_clamped(v: i32) -> Self {
        v as i16
    }
    fn kernel(k: &Kernels) -> RequantFn<Self> {
        k.requant_i16
    }
}

/// Per-row bias and multiplier, stored as separate arrays so SIMD code loads
/// 8 or 16 rows at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRequant {
    bias: Slab<i32>,
    mantissa: Slab<i32>,
    left_shift: Slab<i32>,
    right_shift: Slab<i32>,
    zero_point: i32,
    /// Some row's multiplier is ≥ 1 (a left shift); SIMD code skips the
    /// saturating shift when none is.
    has_left_shift: bool,
}

impl RowRequant {
    /// One bias and one multiplier per row; the output zero point must be in
    /// the int16 range (an int8 output further clamps the result).
    pub fn new(
        bias: Vec<i32>,
        multipliers: &[QuantizedMultiplier],
        zero_point: i32,
    ) -> Result<Self, Error> {
        check_len("requantization multipliers", bias.len(), multipliers.len())?;
        if !(i16::MIN as i32..=i16::MAX as i32).contains(&zero_point) {
            return Err(Error::InvalidParameter {
                what: "output zero point must be in the int16 range",
            });
        }
        for m in multipliers {
            QuantizedMultiplier::new(m.mantissa, m.shift)?;
        }
        Ok(Self {
            bias: bias.into(),
            mantissa: multipliers.iter().map(|m| m.mantissa).collect(),
            left_shift: multipliers.iter().map(|m| m.shift.max(0)).collect(),
            right_shift: multipliers.iter().map(|m| (-m.shift).max(0)).collect(),
            zero_point,
            has_left_shift: multipliers.iter().any(|m| m.shift > 0),
        })
    }

    /// The arrays as the kernels read them (owned or borrowed from a model
    /// file in place), checked as [`new`](Self::new) checks its input:
    /// every `left_shift − right_shift` is a valid multiplier's shift with
    /// one side zero.
    pub fn from_parts(
        bias: Slab<i32>,
        mantissa: Slab<i32>,
        left_shift: Slab<i32>,
        right_shift: Slab<i32>,
        zero_point: i32,
    ) -> Result<Self, Error> {
        check_len("requantization mantissas", bias.len(), mantissa.len())?;
        check_len("requantization left shifts", bias.len(), left_shift.len())?;
        check_len("requantization right shifts", bias.len(), right_shift.len())?;
        if !(i16::MIN as i32..=i16::MAX as i32).contains(&zero_point) {
            return Err(Error::InvalidParameter {
                what: "output zero point must be in the int16 range",
            });
        }
        for r in 0..bias.len() {
            let (l, s) = (left_shift[r], right_shift[r]);
            if l < 0 || s < 0 || (l > 0 && s > 0) {
                return Err(Error::InvalidParameter {
                    what: "requantization shifts must be one non-negative side of the multiplier's shift",
                });
            }
            QuantizedMultiplier::new(mantissa[r], l - s)?;
        }
        let has_left_shift = left_shift.iter().any(|&l| l > 0);
        Ok(Self {
            bias,
            mantissa,
            left_shift,
            right_shift,
            zero_point,
            has_left_shift,
        })
    }

    /// Bytes of this epilogue on the heap (0 when borrowed).
    pub fn heap_bytes(&self) -> usize {
        self.bias.heap_bytes()
            + self.mantissa.heap_bytes()
            + self.left_shift.heap_bytes()
            + self.right_shift.heap_bytes()
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.bias.len()
    }

    /// Per-row left shifts (`max(shift, 0)`), as the kernels read them.
    pub fn left_shifts(&self) -> &[i32] {
        &self.left_shift
    }

    /// Per-row right shifts (`max(−shift, 0)`), as the kernels read them.
    pub fn right_shifts(&self) -> &[i32] {
        &self.right_shift
    }

    /// The multiplier of row `r`.
    pub fn multiplier(&self, r: usize) -> QuantizedMultiplier {
        QuantizedMultiplier {
            mantissa: self.mantissa[r],
            shift: self.left_shift[r] - self.right_shift[r],
        }
    }

    /// The output zero point.
    pub fn zero_point(&self) -> i32 {
        self.zero_point
    }

    /// The bias of row `r`.
    pub fn bias(&self, r: usize) -> i32 {
        self.bias[r]
    }

    /// One element of the epilogue: the definition.
    #[inline(always)]
    pub fn apply_one<T: RequantOutput>(&self, r: usize, acc: i32) -> T {
        let s = saturate_i64_to_i32(acc as i64 + self.bias[r] as i64);
        let y = self.multiplier(r).apply(s);
        T::from_clamped(
            (y as i64 + self.zero_point as i64).clamp(T::MIN as i64, T::MAX as i64) as i32,
        )
    }

    /// The scalar reference over rows `r0..r0 + out.len()`.
    pub fn apply_scalar<T: RequantOutput>(&self, r0: usize, acc: &[i32], out: &mut [T]) {
        for (i, (o, &a)) in out.iter_mut().zip(acc).enumerate() {
            *o = self.apply_one(r0 + i, a);
        }
    }

    /// Requantizes `batch` rows-long vectors: `out[b·rows + r]` from
    /// `acc[b·rows + r]`.
    pub fn apply<T: RequantOutput>(
        &self,
        isa: Isa,
        acc: &[i32],
        out: &mut [T],
    ) -> Result<(), Error> {
        let rows = self.rows();
        check_len("requantization input", out.len(), acc.len())?;
        if rows == 0 || !acc.len().is_multiple_of(rows) {
            return Err(Error::ShapeMismatch {
                what: "requantization input (a whole number of rows-long vectors)",
                expected: rows,
                found: acc.len(),
            });
        }
        let kernel = T::kernel(isa.kernels()?);
        for (a, o) in acc.chunks_exact(rows).zip(out.chunks_exact_mut(rows)) {
            // SAFETY: a table this CPU runs; `a` and `o` are one whole vector.
            unsafe { kernel(self, 0, a, o) };
        }
        Ok(())
    }

    /// Requantizes rows `r0..r0 + acc.len()` of one vector (a slice of the
    /// rows, e.g. one gate's).
    pub fn apply_rows<T: RequantOutput>(
        &self,
        isa: Isa,
        r0: usize,
        acc: &[i32],
        out: &mut [T],
    ) -> Result<(), Error> {
        check_len("requantization input", out.len(), acc.len())?;
        if r0
            .checked_add(acc.len())
            .is_none_or(|end| end > self.rows())
        {
            return Err(Error::ShapeMismatch {
                what: "requantization row range",
                expected: self.rows(),
                found: r0.saturating_add(acc.len()),
            });
        }
        let kernel = T::kernel(isa.kernels()?);
        // SAFETY: a table this CPU runs; the row range is checked above.
        unsafe { kernel(self, r0, acc, out) };
        Ok(())
    }

    /// True if some row shifts left before its multiply (the AVX-512
    /// epilogue skips the saturating shift otherwise).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn has_left_shift(&self) -> bool {
        self.has_left_shift
    }

    /// Bias, mantissas, left and right shifts per row, for the SIMD
    /// epilogues.
    #[cfg_attr(
        not(any(target_arch = "x86_64", target_arch = "aarch64")),
        allow(dead_code)
    )]
    pub(crate) fn parts(&self) -> (&[i32], &[i32], &[i32], &[i32]) {
        (
            &self.bias,
            &self.mantissa,
            &self.left_shift,
            &self.right_shift,
        )
    }
}
