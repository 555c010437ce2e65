//! Integer LayerNorm over an int16 vector of any length.
//!
//! TFLite's portable integer LayerNorm only avoids overflow for power-of-two
//! sizes; this one keeps its sums in i64/u128 and divides exactly, so any
//! hidden size works. The definition (NUMERICS.md §4.1):
//!
//! ```text
//! μ    = round(Σ v_i / n)                         (ties away from zero)
//! d_i  = v_i − μ
//! var  = floor(2^16 · Σ d_i² / n) + ε             (LSB², 16 fraction bits)
//! 1/√var = mant / 2^sh                            (fixed_point::inverse_sqrt)
//! x̂_i  = clamp_i32(round(d_i · mant / 2^(sh − 28)))   (x̂ in units of 2^−20)
//! y_i  = clamp_i16(±γ_i.apply(x̂_i) + β_i)
//! ```
//!
//! `γ_i` is a [`QuantizedMultiplier`] for `|γ_i| · 2^−20 / s_out` and a sign;
//! `β_i` is in output units. When `var` is 0 every `x̂_i` is 0.

use alloc::vec::Vec;

use crate::error::{check_len, Error};
use crate::fixed_point::{
    inverse_sqrt, rounding_divide_by_pot_i64, saturate_i32_to_i16, saturate_i64_to_i32,
    QuantizedMultiplier,
};

/// Fraction bits of the normalised value `x̂`.
pub const NORMALIZED_FRACTION_BITS: u32 = 20;
/// Fraction bits of the variance fed to the inverse square root.
pub const VARIANCE_FRACTION_BITS: u32 = 16;

/// Parameters of one integer LayerNorm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntLayerNorm {
    /// ε in LSB² of the input, with [`VARIANCE_FRACTION_BITS`] fraction bits.
    epsilon: u64,
    /// |γ_i| · 2^−20 / s_out per element.
    gamma: Vec<QuantizedMultiplier>,
    /// Whether γ_i is negative.
    gamma_negative: Vec<bool>,
    /// β_i in output units.
    beta: Vec<i32>,
}

impl IntLayerNorm {
    /// A LayerNorm over vectors of `gamma.len()` elements.
    pub fn new(
        epsilon: u64,
        gamma: Vec<QuantizedMultiplier>,
        gamma_negative: Vec<bool>,
        beta: Vec<i32>,
    ) -> Result<Self, Error> {
        if gamma.is_empty() {
            return Err(Error::InvalidParameter {
                what: "a LayerNorm needs at least one element",
            });
        }
        check_len("LayerNorm gamma signs", gamma.len(), gamma_negative.len())?;
        check_len("LayerNorm beta", gamma.len(), beta.len())?;
        for g in &gamma {
            QuantizedMultiplier::new(g.mantissa, g.shift)?;
        }
        Ok(Self {
            epsilon,
            gamma,
            gamma_negative,
            beta,
        })
    }

    /// Number of elements normalised together.
    pub fn len(&self) -> usize {
        self.gamma.len()
    }

    /// Always false: a LayerNorm has at least one element.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// ε, γ, γ signs and β, for serialisation.
    pub fn parts(&self) -> (u64, &[QuantizedMultiplier], &[bool], &[i32]) {
        (self.epsilon, &self.gamma, &self.gamma_negative, &self.beta)
    }

    /// Normalises `v` into `out` (both of length [`Self::len`]).
    pub fn apply(&self, v: &[i16], out: &mut [i16]) -> Result<(), Error> {
        if !cfg!(feature = "layer-norm") {
            return Err(Error::InvalidParameter {
                what: "this build of the runtime has no LayerNorm (feature `layer-norm`)",
            });
        }
        check_len("LayerNorm input", self.len(), v.len())?;
        check_len("LayerNorm output", self.len(), out.len())?;
        let n = v.len() as i64;
        let sum: i64 = v.iter().map(|&x| x as i64).sum();
        // round(sum / n), ties away from zero.
        let mean = (sum.abs() + n / 2) / n * sum.signum();
        let squares: u64 = v
            .iter()
            .map(|&x| {
                let d = x as i64 - mean;
                (d * d) as u64
            })
            .sum();
        let variance = ((squares as u128) << VARIANCE_FRACTION_BITS) / n as u128;
        let variance = (variance as u64).saturating_add(self.epsilon);
        let Some(inv) = inverse_sqrt(variance) else {
            for (o, &b) in out.iter_mut().zip(&self.beta) {
                *o = saturate_i32_to_i16(b);
            }
            return Ok(());
        };
        // 1/√var_real = 2^(16/2) · mant / 2^sh; x̂ in units of 2^−20:
        // x̂ = d · mant · 2^(8 + 20 − sh).
        let down = inv.shift - (VARIANCE_FRACTION_BITS / 2 + NORMALIZED_FRACTION_BITS);
        for i in 0..v.len() {
            let d = v[i] as i64 - mean;
            let normalized =
                saturate_i64_to_i32(rounding_divide_by_pot_i64(d * inv.mantissa as i64, down));
            let scaled = self.gamma[i].apply(normalized);
            let signed = if self.gamma_negative[i] {
                -(scaled as i64)
            } else {
                scaled as i64
            };
            out[i] = saturate_i32_to_i16(saturate_i64_to_i32(signed + self.beta[i] as i64));
        }
        Ok(())
    }
}
