//! The output layer: int8 weights with **one** scale for the whole matrix,
//! and int32 logits that are not requantized (the paper, appendix A.1).
//! One scale keeps every logit on the same grid, so argmax, beam search and
//! the softmax read the int32 values directly; the logit scale
//! `s_W · s_h` is stored for whoever needs real values.

use crate::error::{check_len, Error};
use crate::kernels::{Isa, PackedMatrix};
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
}

impl IntOutputLayer {
    /// Checks sizes.
    pub fn validate(&self) -> Result<(), Error> {
        check_len("output bias", self.weights.rows(), self.bias.len())
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.weights.rows()
    }

    /// `logits = W · h + bias` (int32, wrapping is impossible: |W·h| < 2^30
    /// and the bias is bounded at load time).
    pub fn logits(&self, isa: Isa, h: &[i8], logits: &mut [i32]) -> Result<(), Error> {
        self.logits_batch(isa, h, 1, logits)
    }

    /// [`logits`](Self::logits) of `batch` vectors stored one after another
    /// (one batched product: each weight line is read once per 2–4 vectors).
    pub fn logits_batch(
        &self,
        isa: Isa,
        hs: &[i8],
        batch: usize,
        logits: &mut [i32],
    ) -> Result<(), Error> {
        self.weights.matmul(isa, hs, batch, logits)?;
        for row in logits.chunks_exact_mut(self.classes()) {
            for (l, &b) in row.iter_mut().zip(&self.bias) {
                *l = l.saturating_add(b);
            }
        }
        Ok(())
    }
}
