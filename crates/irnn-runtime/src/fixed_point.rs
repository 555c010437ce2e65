//! Fixed-point primitives: the arithmetic every integer layer is built from.
//!
//! Each function's name says what it rounds and what it saturates, in the
//! manner of gemmlowp's `fixedpoint.h`. The exact definitions, including how
//! ties round, are in `docs/NUMERICS.md` §1; the property tests at the bottom
//! of this file check every function against exact wide arithmetic (i128) over
//! the full input range, extremes always included.
//!
//! Why these particular roundings: requantization follows gemmlowp/TFLite
//! (a doubling high multiply rounding ties up, then a right shift rounding
//! ties away from zero) so that models and test vectors can be compared with
//! those runtimes. The square-root family is defined as the *floor of the
//! exact value*, which any port can reproduce with whatever algorithm it
//! likes.

/// Q0.15 one: sigmoid and tanh outputs are in units of 2^−15.
pub const Q15_ONE: i32 = 1 << 15;

/// `floor(a·b / 2^31 + 1/2)`: the high half of the doubled product, rounded to
/// nearest with ties toward +∞. The one product that does not fit,
/// `i32::MIN · i32::MIN`, saturates to `i32::MAX`.
///
/// This is gemmlowp's `SaturatingRoundingDoublingHighMul`, bit for bit.
#[inline(always)]
pub const fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    ((ab + (1 << 30)) >> 31) as i32
}

/// `x / 2^exponent` rounded to nearest, ties away from zero, for
/// `exponent` in `0..=31` (larger exponents are treated as 31).
///
/// This is gemmlowp's `RoundingDivideByPOT`. It cannot overflow.
#[inline(always)]
pub const fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    let exponent = if exponent > 31 { 31 } else { exponent };
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> exponent) + (remainder > threshold) as i32
}

/// `x / 2^exponent` rounded to nearest, ties away from zero, for i64 and
/// `exponent` in `0..=63` (larger exponents are treated as 63).
#[inline(always)]
pub const fn rounding_divide_by_pot_i64(x: i64, exponent: u32) -> i64 {
    let exponent = if exponent > 63 { 63 } else { exponent };
    let mask = ((1i128 << exponent) - 1) as i64;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i64;
    (x >> exponent) + (remainder > threshold) as i64
}

/// `x · 2^exponent`, saturated to the i32 range, for `exponent` in `0..=31`
/// (larger exponents are treated as 31).
#[inline(always)]
pub const fn saturating_shift_left(x: i32, exponent: u32) -> i32 {
    let exponent = if exponent > 31 { 31 } else { exponent };
    let wide = (x as i64) << exponent;
    saturate_i64_to_i32(wide)
}

/// Clamps an i64 to the i32 range.
#[inline(always)]
pub const fn saturate_i64_to_i32(x: i64) -> i32 {
    if x > i32::MAX as i64 {
        i32::MAX
    } else if x < i32::MIN as i64 {
        i32::MIN
    } else {
        x as i32
    }
}

/// Clamps an i32 to the i16 range.
#[inline(always)]
pub const fn saturate_i32_to_i16(x: i32) -> i16 {
    if x > i16::MAX as i32 {
        i16::MAX
    } else if x < i16::MIN as i32 {
        i16::MIN
    } else {
        x as i16
    }
}

/// Clamps an i32 to the i8 range.
#[inline(always)]
pub const fn saturate_i32_to_i8(x: i32) -> i8 {
    if x > i8::MAX as i32 {
        i8::MAX
    } else if x < i8::MIN as i32 {
        i8::MIN
    } else {
        x as i8
    }
}

/// Clamps an i16 to the i8 range.
#[inline(always)]
pub const fn saturate_i16_to_i8(x: i16) -> i8 {
    saturate_i32_to_i8(x as i32)
}

/// A real multiplier `M` in fixed point: `M ≈ mantissa · 2^(shift − 31)`.
///
/// `mantissa` is 0 or in `[2^30, 2^31)` when produced by the trainer's
/// conversion from a real scale (which normalises it for 31 bits of
/// precision); any non-negative i32 is accepted. `shift` is in `-31..=30`:
/// positive shifts multiply by a power of two before the high multiply,
/// negative ones divide after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct QuantizedMultiplier {
    /// Fixed-point mantissa, a Q0.31 value.
    pub mantissa: i32,
    /// Power-of-two exponent applied around the high multiply.
    pub shift: i32,
}

impl QuantizedMultiplier {
    /// Smallest accepted shift.
    pub const MIN_SHIFT: i32 = -31;
    /// Largest accepted shift.
    pub const MAX_SHIFT: i32 = 30;

    /// A multiplier from its parts, checking the documented ranges.
    pub fn new(mantissa: i32, shift: i32) -> Result<Self, crate::Error> {
        if mantissa < 0 {
            return Err(crate::Error::InvalidParameter {
                what: "quantized multiplier mantissa must be non-negative",
            });
        }
        if !(Self::MIN_SHIFT..=Self::MAX_SHIFT).contains(&shift) {
            return Err(crate::Error::InvalidParameter {
                what: "quantized multiplier shift must be in -31..=30",
            });
        }
        Ok(Self { mantissa, shift })
    }

    /// `x · M`:
    /// `rounding_divide_by_pot(saturating_rounding_doubling_high_mul(
    ///     saturating_shift_left(x, max(shift, 0)), mantissa), max(−shift, 0))`.
    #[inline(always)]
    pub const fn apply(self, x: i32) -> i32 {
        let left = if self.shift > 0 { self.shift as u32 } else { 0 };
        let right = if self.shift < 0 {
            self.shift.unsigned_abs()
        } else {
            0
        };
        rounding_divide_by_pot(
            saturating_rounding_doubling_high_mul(saturating_shift_left(x, left), self.mantissa),
            right,
        )
    }
}

/// A positive dyadic rational `mantissa / 2^shift`, the result of the integer
/// reciprocal and inverse square root. `mantissa` is normalised to
/// `[2^30, 2^31]`, so it always carries 31 significant bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dyadic {
    /// Numerator, in `[2^30, 2^31]`.
    pub mantissa: u32,
    /// Base-2 logarithm of the denominator.
    pub shift: u32,
}

/// Number of significant bits of `v` (0 for 0).
#[inline(always)]
const fn bit_length(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// `floor(sqrt(v))`.
#[inline]
pub const fn isqrt_u64(v: u64) -> u32 {
    v.isqrt() as u32
}

/// `1 / sqrt(v)` for `v > 0` as `floor(2^K / sqrt(v)) / 2^K` with
/// `K = 30 + ceil(bit_length(v) / 2)`, which puts the mantissa in
/// `[2^30, 2^31]`. Returns `None` for `v == 0`.
///
/// Computed exactly as `isqrt(floor(2^(2K) / v))` in u128
/// (`floor(sqrt(floor(y))) == floor(sqrt(y))` for real `y ≥ 0`).
pub fn inverse_sqrt(v: u64) -> Option<Dyadic> {
    if v == 0 {
        return None;
    }
    let k = 30 + bit_length(v).div_ceil(2);
    let mantissa = ((1u128 << (2 * k)) / v as u128).isqrt() as u32;
    Some(Dyadic { mantissa, shift: k })
}

/// `1 / v` for `v > 0` as `floor(2^K / v) / 2^K` with
/// `K = 30 + bit_length(v)`, which puts the mantissa in `[2^30, 2^31]`.
/// Returns `None` for `v == 0`.
pub fn reciprocal(v: u64) -> Option<Dyadic> {
    if v == 0 {
        return None;
    }
    let k = 30 + bit_length(v);
    let mantissa = ((1u128 << k) / v as u128) as u32;
    Some(Dyadic { mantissa, shift: k })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Exact round-to-nearest of n / 2^e with ties toward +∞, in i128.
    fn round_half_up(n: i128, e: u32) -> i128 {
        (n + (1i128 << e >> 1)).div_euclid(1i128 << e)
    }

    /// Exact round-to-nearest of n / 2^e with ties away from zero, in i128.
    fn round_half_away(n: i128, e: u32) -> i128 {
        if e == 0 {
            return n;
        }
        let d = 1i128 << e;
        let q = n.abs() / d;
        let r = n.abs() % d;
        let q = if 2 * r >= d { q + 1 } else { q };
        if n < 0 {
            -q
        } else {
            q
        }
    }

    fn i32_with_extremes() -> impl Strategy<Value = i32> {
        prop_oneof![
            Just(i32::MIN),
            Just(i32::MIN + 1),
            Just(i32::MAX),
            Just(-1),
            Just(0),
            Just(1),
            (-70000i32..70000),
            any::<i32>(),
        ]
    }

    fn u64_with_extremes() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(1u64),
            Just(2),
            Just(3),
            Just(4),
            Just(u64::MAX),
            Just(u64::MAX - 1),
            Just(1u64 << 63),
            Just(1u64 << 62),
            (1u64..100_000),
            (0u32..64).prop_map(|b| 1u64 << b),
            any::<u64>(),
        ]
    }

    #[test]
    fn extremes_by_hand() {
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MAX, i32::MAX),
            i32::MAX - 1
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MAX),
            i32::MIN + 1
        );
        // Ties: 1 · 2^30 / 2^31 = 0.5 → 1; −0.5 → 0 (toward +∞).
        assert_eq!(saturating_rounding_doubling_high_mul(1, 1 << 30), 1);
        assert_eq!(saturating_rounding_doubling_high_mul(-1, 1 << 30), 0);
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
        assert_eq!(rounding_divide_by_pot(-(1 << 30), 31), -1);
        assert_eq!(rounding_divide_by_pot((1 << 30) - 1, 31), 0);
        assert_eq!(saturating_shift_left(i32::MAX, 1), i32::MAX);
        assert_eq!(saturating_shift_left(i32::MIN, 31), i32::MIN);
        assert_eq!(saturating_shift_left(-1, 31), i32::MIN);
        assert_eq!(saturating_shift_left(1, 31), i32::MAX);
        assert_eq!(isqrt_u64(u64::MAX), u32::MAX);
        assert_eq!(inverse_sqrt(0), None);
        assert_eq!(reciprocal(0), None);
        assert_eq!(
            inverse_sqrt(4),
            Some(Dyadic {
                mantissa: 1 << 31,
                shift: 32
            })
        );
        assert_eq!(
            reciprocal(1),
            Some(Dyadic {
                mantissa: 1 << 31,
                shift: 31
            })
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn srdhm_matches_exact(a in i32_with_extremes(), b in i32_with_extremes()) {
            let exact = round_half_up(a as i128 * b as i128, 31).min(i32::MAX as i128);
            prop_assert_eq!(saturating_rounding_doubling_high_mul(a, b) as i128, exact);
        }

        #[test]
        fn rdbpot_matches_exact(x in i32_with_extremes(), e in 0u32..=31) {
            prop_assert_eq!(rounding_divide_by_pot(x, e) as i128, round_half_away(x as i128, e));
        }

        #[test]
        fn rdbpot_i64_matches_exact(
            x in prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(0i64), Just(-1i64), Just(1i64), any::<i64>()],
            e in 0u32..=63,
        ) {
            prop_assert_eq!(rounding_divide_by_pot_i64(x, e) as i128, round_half_away(x as i128, e));
        }

        #[test]
        fn shift_left_matches_exact(x in i32_with_extremes(), e in 0u32..=31) {
            let exact = ((x as i128) << e).clamp(i32::MIN as i128, i32::MAX as i128);
            prop_assert_eq!(saturating_shift_left(x, e) as i128, exact);
        }

        #[test]
        fn narrowing_matches_clamp(x in i32_with_extremes()) {
            prop_assert_eq!(saturate_i32_to_i16(x) as i32, x.clamp(-32768, 32767));
            prop_assert_eq!(saturate_i32_to_i8(x) as i32, x.clamp(-128, 127));
            let h = saturate_i32_to_i16(x);
            prop_assert_eq!(saturate_i16_to_i8(h) as i32, (h as i32).clamp(-128, 127));
        }

        #[test]
        fn quantized_multiplier_matches_composition(
            x in i32_with_extremes(),
            m in prop_oneof![Just(0i32), Just(i32::MAX), Just(1 << 30), (1i32 << 30)..i32::MAX],
            shift in -31i32..=30,
        ) {
            let q = QuantizedMultiplier::new(m, shift).unwrap();
            // Exact reference: each step in i128.
            let left = shift.max(0) as u32;
            let right = (-shift).max(0) as u32;
            let shifted = ((x as i128) << left).clamp(i32::MIN as i128, i32::MAX as i128);
            let high = if shifted == i32::MIN as i128 && m == i32::MIN {
                i32::MAX as i128
            } else {
                round_half_up(shifted * m as i128, 31)
            };
            prop_assert_eq!(q.apply(x) as i128, round_half_away(high, right));
            // And within one LSB (plus the saturation) of the real product.
            if left == 0 {
                let real = x as i128 * m as i128;
                let exact_q = round_half_away(real, 31 + right);
                prop_assert!((q.apply(x) as i128 - exact_q).abs() <= 1);
            }
        }

        #[test]
        fn isqrt_is_floor(v in u64_with_extremes()) {
            let r = isqrt_u64(v) as u128;
            prop_assert!(r * r <= v as u128);
            prop_assert!((r + 1) * (r + 1) > v as u128);
        }

        #[test]
        fn inverse_sqrt_is_floor_and_normalised(v in u64_with_extremes()) {
            let d = inverse_sqrt(v).unwrap();
            let m = d.mantissa as u128;
            let two_2k = 1u128 << (2 * d.shift);
            // m = floor(2^K / sqrt(v))  ⇔  m²·v ≤ 2^2K < (m+1)²·v
            prop_assert!(m * m * v as u128 <= two_2k);
            prop_assert!((m + 1) * (m + 1) * v as u128 > two_2k);
            prop_assert!((1u128 << 30..=1u128 << 31).contains(&m));
        }

        #[test]
        fn reciprocal_is_floor_and_normalised(v in u64_with_extremes()) {
            let d = reciprocal(v).unwrap();
            let m = d.mantissa as u128;
            prop_assert!(m * v as u128 <= 1u128 << d.shift);
            prop_assert!((m + 1) * v as u128 > 1u128 << d.shift);
            prop_assert!((1u128 << 30..=1u128 << 31).contains(&m));
        }
    }
}
