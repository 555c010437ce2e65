//! A bidirectional LSTM layer over a whole sequence. The two directions share
//! one h quantizer (scale and zero point), as the paper does, so their int8
//! outputs concatenate into `[h_forward; h_backward]` with no requantization.

use crate::error::{check_len, Error};
use crate::kernels::Isa;
use crate::layers::lstm::{IntLstmCell, LstmScratch, LstmState};

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
        let mut state = self.forward.zero_state();
        self.run_with(isa, xs, out, &mut LstmScratch::default(), &mut state)
    }

    /// [`run`](Self::run) with the caller's scratch and a state buffer
    /// (reset to each direction's zero state): no allocation once both have
    /// grown to this layer's and sequence's sizes.
    pub fn run_with(
        &self,
        isa: Isa,
        xs: &[i8],
        out: &mut [i8],
        scratch: &mut LstmScratch,
        state: &mut LstmState,
    ) -> Result<(), Error> {
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
        // Both directions hoist the input product out of the recurrence;
        // the outputs interleave [forward h_t, backward h_t] per step.
        for (cell, reverse, offset) in [(&self.forward, false, 0), (&self.backward, true, h)] {
            cell.reset_state(state);
            cell.run_sequence(isa, xs, reverse, state, scratch, &mut |t, ht| {
                out[t * 2 * h + offset..t * 2 * h + offset + h].copy_from_slice(ht)
            })?;
        }
        Ok(())
    }
}
