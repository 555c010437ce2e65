//! One layer of a speech encoder: a forward LSTM and, unless the encoder
//! is unidirectional (streaming), a backward one. The two directions share
//! one h quantizer (scale and zero point), as the paper does, so their
//! outputs concatenate into `[h_forward; h_backward]` with no requantization.
//! The values are of the model's activation width `A` (int8, or int16 for
//! TFLite's 16×8 mode).
//!
//! Why the backward cell is optional rather than a second layer type: a
//! streaming encoder is the same stack with the right-to-left half left
//! out, and every consumer (the format, the converter, the tools) walks
//! the layers the same way either way.

use crate::error::{check_len, Error};
use crate::kernels::Isa;
use crate::layers::activation::Activation;
use crate::layers::lstm::{IntLstmCell, LstmScratch, LstmState};

/// A forward LSTM cell and, for a bidirectional layer, a backward one with
/// the same output grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntEncoderLayer<A: Activation = i8> {
    /// Reads the sequence left to right.
    pub forward: IntLstmCell<A>,
    /// Reads it right to left (`None`: a unidirectional layer, whose
    /// outputs depend on the past only).
    pub backward: Option<IntLstmCell<A>>,
}

impl<A: Activation> IntEncoderLayer<A> {
    /// Checks sizes and the shared quantizer.
    pub fn validate(&self) -> Result<(), Error> {
        self.forward.validate()?;
        let Some(backward) = &self.backward else {
            return Ok(());
        };
        backward.validate()?;
        check_len("backward LSTM input", self.forward.input, backward.input)?;
        check_len("backward LSTM hidden", self.forward.hidden, backward.hidden)?;
        if self.forward.output_multiplier != backward.output_multiplier
            || self.forward.h_zero_point != backward.h_zero_point
        {
            return Err(Error::InvalidParameter {
                what: "both directions of a bidirectional layer must share h's quantizer",
            });
        }
        Ok(())
    }

    /// 2 for a bidirectional layer, 1 for a unidirectional one.
    pub fn directions(&self) -> usize {
        1 + self.backward.is_some() as usize
    }

    /// Values per step this layer reads.
    pub fn input(&self) -> usize {
        self.forward.input
    }

    /// Values per step this layer writes (`directions · hidden`).
    pub fn output_width(&self) -> usize {
        self.directions() * self.forward.hidden
    }

    /// Runs the sequence `xs` (`steps × input`, row-major) and writes
    /// `steps × output_width` outputs.
    pub fn run(&self, isa: Isa, xs: &[A], out: &mut [A]) -> Result<(), Error> {
        let mut state = self.forward.zero_state();
        self.run_with(isa, xs, out, &mut LstmScratch::default(), &mut state)
    }

    /// [`run`](Self::run) with the caller's scratch and a state buffer
    /// (reset to each direction's zero state): no allocation once both have
    /// grown to this layer's and sequence's sizes.
    pub fn run_with(
        &self,
        isa: Isa,
        xs: &[A],
        out: &mut [A],
        scratch: &mut LstmScratch<A>,
        state: &mut LstmState<A>,
    ) -> Result<(), Error> {
        self.forward.reset_state(state);
        self.run_from(isa, xs, out, scratch, state)?;
        if let Some(backward) = &self.backward {
            let (h, width) = (self.forward.hidden, self.output_width());
            backward.reset_state(state);
            backward.run_sequence(isa, xs, true, state, scratch, &mut |t, ht| {
                out[t * width + h..t * width + 2 * h].copy_from_slice(ht)
            })?;
        }
        Ok(())
    }

    /// The forward direction over `xs` from `state` (carried in and out:
    /// a stream's next chunk continues where this one stopped), writing
    /// its h of each step into the first `hidden` values of each output
    /// row. For a unidirectional layer that is the layer's whole output.
    pub fn run_from(
        &self,
        isa: Isa,
        xs: &[A],
        out: &mut [A],
        scratch: &mut LstmScratch<A>,
        state: &mut LstmState<A>,
    ) -> Result<(), Error> {
        let (i, h) = (self.forward.input, self.forward.hidden);
        if i == 0 || !xs.len().is_multiple_of(i) {
            return Err(Error::ShapeMismatch {
                what: "encoder layer input (a whole number of steps)",
                expected: i,
                found: xs.len(),
            });
        }
        let steps = xs.len() / i;
        let width = self.output_width();
        check_len("encoder layer output", steps * width, out.len())?;
        // The input product is hoisted out of the recurrence.
        self.forward
            .run_sequence(isa, xs, false, state, scratch, &mut |t, ht| {
                out[t * width..t * width + h].copy_from_slice(ht)
            })
    }
}
