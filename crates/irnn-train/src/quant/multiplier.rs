//! From real scales to the runtime's fixed-point parameters.
//!
//! The runtime never sees a float: every real multiplier (the ratio of an
//! input scale times a weight scale to an output scale) is converted here,
//! once, to a [`QuantizedMultiplier`] — a Q0.31 mantissa and a power-of-two
//! shift — exactly as TFLite's `QuantizeMultiplier` does, so the same model
//! gives the same integers in either runtime.

use irnn_runtime::QuantizedMultiplier;

/// Why a real value has no fixed-point representation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantError {
    /// Negative, NaN or infinite.
    #[error("a quantized multiplier must be finite and non-negative, got {0}")]
    NotRepresentable(f64),
    /// Too large for the shift range (≥ 2^30).
    #[error("multiplier {0} is too large (the largest is just below 2^30)")]
    TooLarge(f64),
}

/// The [`QuantizedMultiplier`] nearest to `real`:
/// `real ≈ mantissa · 2^(shift − 31)` with `mantissa` in `[2^30, 2^31)`.
/// Values below `2^−32` (which no shift can reach with a normalised
/// mantissa) become the zero multiplier.
pub fn quantize_multiplier(real: f64) -> Result<QuantizedMultiplier, QuantError> {
    if !real.is_finite() || real < 0.0 {
        return Err(QuantError::NotRepresentable(real));
    }
    if real == 0.0 {
        return Ok(QuantizedMultiplier::default());
    }
    // real = q · 2^e with q in [0.5, 1).
    let mut e = real.log2().floor() as i32 + 1;
    let mut q = real / 2f64.powi(e);
    // log2 can be off by one near powers of two; normalise exactly.
    while q >= 1.0 {
        q /= 2.0;
        e += 1;
    }
    while q < 0.5 {
        q *= 2.0;
        e -= 1;
    }
    let mut mantissa = (q * 2f64.powi(31)).round() as i64;
    if mantissa == 1 << 31 {
        mantissa /= 2;
        e += 1;
    }
    if e > QuantizedMultiplier::MAX_SHIFT {
        return Err(QuantError::TooLarge(real));
    }
    if e < QuantizedMultiplier::MIN_SHIFT {
        return Ok(QuantizedMultiplier::default());
    }
    Ok(QuantizedMultiplier {
        mantissa: mantissa as i32,
        shift: e,
    })
}

/// The real value a [`QuantizedMultiplier`] stands for.
pub fn multiplier_value(m: QuantizedMultiplier) -> f64 {
    m.mantissa as f64 * 2f64.powi(m.shift - 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        let half = quantize_multiplier(0.5).unwrap();
        assert_eq!((half.mantissa, half.shift), (1 << 30, 0));
        let one = quantize_multiplier(1.0).unwrap();
        assert_eq!((one.mantissa, one.shift), (1 << 30, 1));
        assert_eq!(one.apply(12345), 12345);
        // With shift ≥ 0 only the high multiply rounds: ties toward +∞.
        assert_eq!(half.apply(3), 2);
        assert_eq!(half.apply(-3), -1);
        // With shift < 0 the final shift rounds ties away from zero.
        let quarter = quantize_multiplier(0.25).unwrap();
        assert_eq!((quarter.mantissa, quarter.shift), (1 << 30, -1));
        assert_eq!(quarter.apply(-6), -2);
        assert_eq!(quarter.apply(6), 2);
        assert_eq!(
            quantize_multiplier(0.0).unwrap(),
            QuantizedMultiplier::default()
        );
        assert!(quantize_multiplier(-1.0).is_err());
        assert!(quantize_multiplier(f64::NAN).is_err());
        assert!(quantize_multiplier(f64::INFINITY).is_err());
        assert!(quantize_multiplier(2f64.powi(30)).is_err());
        assert_eq!(
            quantize_multiplier(1e-12).unwrap(),
            QuantizedMultiplier::default()
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn mantissa_is_normalised_and_accurate(log2 in -31.9f64..29.9) {
            let real = 2f64.powf(log2);
            let m = quantize_multiplier(real).unwrap();
            prop_assert!((1 << 30..=i32::MAX).contains(&m.mantissa));
            let rel = (multiplier_value(m) - real).abs() / real;
            prop_assert!(rel <= 2f64.powi(-31), "relative error {}", rel);
        }

        #[test]
        fn apply_is_within_one_lsb(log2 in -20f64..4.0, x in -1_000_000i32..1_000_000) {
            let real = 2f64.powf(log2);
            let m = quantize_multiplier(real).unwrap();
            let exact = x as f64 * real;
            // Double rounding: at most one LSB from the real product, plus
            // the mantissa's relative error on large products.
            let err = (m.apply(x) as f64 - exact).abs();
            prop_assert!(err <= 1.0 + exact.abs() * 2f64.powi(-30), "{} vs {}", m.apply(x), exact);
        }
    }
}
