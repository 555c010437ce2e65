//! The width of the values layers hand each other: int8 (every model's
//! default) or int16 (a speech encoder's inputs and h, TFLite's "16×8"
//! mode: 16-bit activations, 8-bit weights).
//!
//! Why a type parameter rather than a flag: a cell's state and buffers hold
//! values of that width, and the products need a different kernel
//! (`matmul` or `matmul_i16`); with the width in the type the compiler
//! picks both, nothing is checked per step, and the int8 path is exactly
//! what it was.
//!
//! Why int16 grids are symmetric (zero point 0): a zero point `z` is folded
//! into a product's bias as `z · Σ_c W[r][c]`, which for int16 reaches
//! 32768 · 127 · columns and overflows int32 at the column counts the int16
//! products allow ([`PackedMatrix::max_i16_columns`]); TFLite's 16×8 mode
//! makes the same choice.

use core::fmt::Debug;
use core::ops::RangeInclusive;

use crate::error::Error;
use crate::fixed_point::{saturate_i32_to_i16, saturate_i32_to_i8, QuantizedMultiplier};
use crate::kernels::elementwise::{product_to_i16, product_to_i8};
use crate::kernels::{Isa, PackedMatrix};

/// An activation type: what a cell reads as input and carries as h.
pub trait Activation: Copy + Default + Eq + Debug + Send + Sync + 'static {
    /// Bits per value (8 or 16).
    const BITS: u32;
    /// Smallest value, as i32.
    const MIN: i32;
    /// Largest value, as i32.
    const MAX: i32;
    /// The zero points a grid of this width may have.
    const ZERO_POINTS: RangeInclusive<i32>;

    /// The value `v` saturated to this type.
    fn saturate(v: i32) -> Self;

    /// The value as an i32.
    fn widen(self) -> i32;

    /// `acc[b·rows + r] = Σ_c W[r][c] · x[b·cols + c]` with the matrix
    /// kernel of this width.
    fn matmul(
        m: &PackedMatrix,
        isa: Isa,
        x: &[Self],
        batch: usize,
        acc: &mut [i32],
    ) -> Result<(), Error>;

    /// A product of two Q0.15 vectors onto this width's grid
    /// (`out[u] = sat(m.apply(a[u]·b[u]) + zero_point)`).
    fn product(
        isa: Isa,
        a: &[i16],
        b: &[i16],
        m: QuantizedMultiplier,
        zero_point: i32,
        out: &mut [Self],
    ) -> Result<(), Error>;

    /// The columns a matrix read with this width may have (int16 products
    /// are exact in int32 only up to [`PackedMatrix::max_i16_columns`]).
    fn max_columns(m: &PackedMatrix) -> usize;
}

impl Activation for i8 {
    const BITS: u32 = 8;
    const MIN: i32 = i8::MIN as i32;
    const MAX: i32 = i8::MAX as i32;
    const ZERO_POINTS: RangeInclusive<i32> = -128..=127;

    fn saturate(v: i32) -> Self {
        saturate_i32_to_i8(v)
    }

    fn widen(self) -> i32 {
        self as i32
    }

    fn matmul(
        m: &PackedMatrix,
        isa: Isa,
        x: &[i8],
        batch: usize,
        acc: &mut [i32],
    ) -> Result<(), Error> {
        m.matmul(isa, x, batch, acc)
    }

    fn product(
        isa: Isa,
        a: &[i16],
        b: &[i16],
        m: QuantizedMultiplier,
        zero_point: i32,
        out: &mut [i8],
    ) -> Result<(), Error> {
        product_to_i8(isa, a, b, m, zero_point, out)
    }

    fn max_columns(_m: &PackedMatrix) -> usize {
        crate::kernels::packed::MAX_COLS
    }
}

impl Activation for i16 {
    const BITS: u32 = 16;
    const MIN: i32 = i16::MIN as i32;
    const MAX: i32 = i16::MAX as i32;
    const ZERO_POINTS: RangeInclusive<i32> = 0..=0;

    fn saturate(v: i32) -> Self {
        saturate_i32_to_i16(v)
    }

    fn widen(self) -> i32 {
        self as i32
    }

    fn matmul(
        m: &PackedMatrix,
        isa: Isa,
        x: &[i16],
        batch: usize,
        acc: &mut [i32],
    ) -> Result<(), Error> {
        m.matmul_i16(isa, x, batch, acc)
    }

    fn product(
        isa: Isa,
        a: &[i16],
        b: &[i16],
        m: QuantizedMultiplier,
        zero_point: i32,
        out: &mut [i16],
    ) -> Result<(), Error> {
        product_to_i16(isa, a, b, m, zero_point, out)
    }

    fn max_columns(m: &PackedMatrix) -> usize {
        m.max_i16_columns()
    }
}

/// Checks a zero point against the width's rule: int8's range, or 0 for
/// int16 (symmetric grids).
pub fn check_zero_point<A: Activation>(zero_point: i32, what: &'static str) -> Result<(), Error> {
    if A::ZERO_POINTS.contains(&zero_point) {
        Ok(())
    } else {
        Err(Error::InvalidParameter { what })
    }
}

/// Checks that a matrix can be read with activations of width `A`.
pub fn check_matrix<A: Activation>(m: &PackedMatrix, what: &'static str) -> Result<(), Error> {
    if A::BITS == 16 && m.weight_bits() != crate::kernels::WeightBits::Eight {
        return Err(Error::InvalidParameter {
            what: "int16 activations need matrices of 8-bit weights",
        });
    }
    if m.cols() > A::max_columns(m) {
        return Err(Error::DimensionTooLarge {
            what,
            value: m.cols(),
            max: A::max_columns(m),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturation_and_zero_points() {
        assert_eq!(i8::saturate(300), 127);
        assert_eq!(i8::saturate(-300), -128);
        assert_eq!(i16::saturate(40_000), 32767);
        assert_eq!(i16::saturate(-40_000), -32768);
        assert_eq!((-5i16).widen(), -5);
        assert!(check_zero_point::<i8>(-128, "zp").is_ok());
        assert!(check_zero_point::<i8>(128, "zp").is_err());
        assert!(check_zero_point::<i16>(0, "zp").is_ok());
        assert!(check_zero_point::<i16>(1, "zp").is_err());
    }
}
