//! A bidirectional LSTM layer over a whole sequence. The two directions share
//! one h quantizer (scale and zero point), as the paper does, so their int8
//! outputs concatenate into `[h_forward; h_backward]` with no requantization.

use crate::error::{check_len, Error};
use crate::kernels::Isa;
use crate::layers::lstm::{IntLstmCell, LstmScratch};

/// Forward and backward LSTM cells with a shared output grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntBiLstm {
    /// Reads the sequence left to right.
    pub forward: IntLstmCell,
    /// Reads it right to left.
    pub backward: IntLstmCell,
}

impl IntBiLstm {
    /// Checks sizes and the shared quantizer.
    pub fn validate(&self) -> Result<(), Error> {
        self.forward.validate()?;
        self.backward.validate()?;
        check_len(
            "backward LSTM input",
            self.forward.input,
            self.backward.input,
        )?;
        check_len(
            "backward LSTM hidden",
            self.forward.hidden,
            self.backward.hidden,
        )?;
        if self.forward.output_multiplier != self.backward.output_multiplier
            || self.forward.h_zero_point != self.backward.h_zero_point
        {
            return Err(Error::InvalidParameter {
                what: "both directions of a bidirectional layer must share h's quantizer",
            });
        }
        Ok(())
    }

    /// Runs the sequence `xs` (`steps × input`, row-major) and writes
    /// `steps × 2·hidden` outputs.
    pub fn run(&self, isa: Isa, xs: &[i8], out: &mut [i8]) -> Result<(), Error> {
        let (i, h) = (self.forward.input, self.forward.hidden);
        if i == 0 || !xs.len().is_multiple_of(i) {
            return Err(Error::ShapeMismatch {
                what: "bidirectional input (a whole number of steps)",
                expected: i,
                found: xs.len(),
            });
        }
        let steps = xs.len() / i;
        check_len("bidirectional output", steps * 2 * h, out.len())?;
        let mut scratch = LstmScratch::default();
        // Both directions hoist the input product out of the recurrence;
        // the outputs interleave [forward h_t, backward h_t] per step.
        for (cell, reverse, offset) in [(&self.forward, false, 0), (&self.backward, true, h)] {
            let mut state = cell.zero_state();
            cell.run_sequence(isa, xs, reverse, &mut state, &mut scratch, &mut |t, ht| {
                out[t * 2 * h + offset..t * 2 * h + offset + h].copy_from_slice(ht)
            })?;
        }
        Ok(())
    }
}
