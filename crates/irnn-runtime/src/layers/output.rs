//! The output layer: int8 weights with **one** scale for the whole matrix,
//! and int32 logits that are not requantized (the paper, appendix A.1).
//! One scale keeps every logit on the same grid, so argmax, beam search and
//! the softmax read the int32 values directly; the logit scale
//! `s_W · s_h` is stored for whoever needs real values.
//!
//! With 4-bit weights one scale for the whole matrix leaves too few levels
//! for most rows, so each row may carry an integer factor `k_r`: row `r`'s
//! weights are `s_W · k_r · q` and its logit is `k_r · (W_r · h) + bias_r` —
//! an exact integer product that keeps every logit on the one grid.

use crate::error::{check_len, Error};
use crate::kernels::{Isa, PackedMatrix};
use crate::layers::Activation;
use crate::slab::Slab;

/// Output projection to int32 logits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntOutputLayer {
    /// Weights, [classes × hidden].
    pub weights: PackedMatrix,
    /// Bias in logit units, with the input zero point folded in.
    pub bias: Slab<i32>,
    /// The real value of one logit unit, `s_W · s_h`, as a fixed-point
    /// number (`mantissa · 2^(shift − 31)`): the runtime never needs it, the
    /// trainer reads it to turn logits into probabilities.
    pub logit_scale: crate::fixed_point::QuantizedMultiplier,
    /// Each row's integer factor `k_r ≥ 1` (format version 9 on; `None`:
    /// all 1).
    pub row_factors: Option<Slab<i32>>,
}

impl IntOutputLayer {
    /// Checks sizes (for int8 inputs).
    pub fn validate(&self) -> Result<(), Error> {
        self.validate_for::<i8>()
    }

    /// Checks sizes for inputs of width `A` (int16 inputs bound the
    /// columns and the row factors further).
    pub fn validate_for<A: Activation>(&self) -> Result<(), Error> {
        check_len("output bias", self.weights.rows(), self.bias.len())?;
        let max_cols = A::max_columns(&self.weights);
        if self.weights.cols() > max_cols {
            return Err(Error::DimensionTooLarge {
                what: "output layer inputs (for this activation width)",
                value: self.weights.cols(),
                max: max_cols,
            });
        }
        if let Some(k) = &self.row_factors {
            check_len("output row factors", self.weights.rows(), k.len())?;
            // |W_r · h| ≤ cols · max|w| · |min h|; times k_r it must fit in i32.
            let max_w = -(*self.weights.weight_bits().range().start() as i64);
            let bound = self.weights.cols() as i64 * max_w * -(A::MIN as i64);
            if k.iter().any(|&k| k < 1 || bound * k as i64 >= 1 << 31) {
                return Err(Error::InvalidParameter {
                    what: "output row factors must be at least 1 and keep every logit within int32",
                });
            }
        }
        Ok(())
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.weights.rows()
    }

    /// `logits = W · h + bias` for an int8 or int16 `h` (int32, wrapping is
    /// impossible: |W·h| < 2^31 within the columns the width allows, and
    /// the additions saturate).
    pub fn logits<A: Activation>(
        &self,
        isa: Isa,
        h: &[A],
        logits: &mut [i32],
    ) -> Result<(), Error> {
        self.logits_batch(isa, h, 1, logits)
    }

    /// [`logits`](Self::logits) of `batch` vectors stored one after another
    /// (one batched product: each weight line is read once per 2–4 vectors).
    pub fn logits_batch<A: Activation>(
        &self,
        isa: Isa,
        hs: &[A],
        batch: usize,
        logits: &mut [i32],
    ) -> Result<(), Error> {
        A::matmul(&self.weights, isa, hs, batch, logits)?;
        for row in logits.chunks_exact_mut(self.classes()) {
            match &self.row_factors {
                None => {
                    for (l, &b) in row.iter_mut().zip(&self.bias) {
                        *l = l.saturating_add(b);
                    }
                }
                Some(k) => {
                    for ((l, &b), &k) in row.iter_mut().zip(&self.bias).zip(k.iter()) {
                        *l = l.saturating_mul(k).saturating_add(b);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed_point::QuantizedMultiplier;
    use crate::kernels::WeightBits;

    fn layer(cols: usize, factors: alloc::vec::Vec<i32>) -> IntOutputLayer {
        let w: alloc::vec::Vec<i8> = (0..2 * cols).map(|i| (i % 15) as i8 - 7).collect();
        IntOutputLayer {
            weights: PackedMatrix::from_row_major_bits(WeightBits::Four, 2, cols, &w).unwrap(),
            bias: alloc::vec![10, -10].into(),
            logit_scale: QuantizedMultiplier {
                mantissa: 1 << 30,
                shift: 0,
            },
            row_factors: Some(factors.into()),
        }
    }

    #[test]
    fn row_factors_multiply_each_rows_product_before_the_bias() {
        let o = layer(3, alloc::vec![1, 4]);
        o.validate().unwrap();
        // Rows [−7 −6 −5] and [−4 −3 −2] against h = [1 2 3].
        let mut logits = [0; 2];
        o.logits(Isa::Scalar, &[1i8, 2, 3], &mut logits).unwrap();
        assert_eq!(logits, [-34 + 10, 4 * -16 - 10]);
    }

    #[test]
    fn row_factors_that_could_overflow_or_are_not_positive_are_refused() {
        assert!(layer(3, alloc::vec![0, 1]).validate().is_err());
        assert!(layer(3, alloc::vec![1]).validate().is_err());
        // 65536 columns × 8 × 128 × k must stay below 2^31: k = 32 may not.
        assert!(layer(65_536, alloc::vec![31, 1]).validate().is_ok());
        assert!(layer(65_536, alloc::vec![32, 1]).validate().is_err());
    }
}
