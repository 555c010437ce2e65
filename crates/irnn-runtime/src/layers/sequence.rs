//! Running a recurrent cell over a sequence whose inputs are known ahead
//! (language-model scoring, every speech encoder layer, QAT windows).
//!
//! A step needs two products, `W_x · x_t` and `W_h · h_{t−1}`; only the
//! second depends on the recurrence. So the first is hoisted out of it: for
//! a chunk of steps, one batched product `W_x · [x_t0 … x_t1]` (the kernels
//! load each weight line once per 2–4 inputs), then per step only
//! `W_h · h`. ONNX Runtime's LSTM does the same. The int32 products are
//! exact, so the results are identical to stepping one step at a time
//! (tested for both cells, both directions, every ISA).
//!
//! Chunks bound the scratch memory: [`SEQUENCE_CHUNK`] steps of int32
//! gate products, whatever the sequence length.

use alloc::vec::Vec;
use core::ops::Range;

use crate::error::Error;
use crate::kernels::{Isa, PackedMatrix};
use crate::layers::activation::Activation;

/// Steps per batched input product.
pub const SEQUENCE_CHUNK: usize = 64;

/// A cell's step given its input product and the step's index.
pub(crate) type SequenceStep<'a> = dyn FnMut(&[i32], usize) -> Result<(), Error> + 'a;

/// Runs a recurrence over `xs` (`steps × w_x.cols()`): per chunk, the
/// batched product `W_x · [x_t …]` into `acc`, then `step(W_x·x_t, t)` for
/// each step in visiting order (last to first when `reverse`). The cell's
/// `step` does the recurrent product and the rest of its step.
pub(crate) fn run<A: Activation>(
    isa: Isa,
    w_x: &PackedMatrix,
    xs: &[A],
    reverse: bool,
    acc: &mut Vec<i32>,
    step: &mut SequenceStep<'_>,
) -> Result<(), Error> {
    let (n, g) = (w_x.cols(), w_x.rows());
    let steps = steps_of(xs, n)?;
    for chunk in chunks(steps, reverse) {
        acc.resize(chunk.len() * g, 0);
        let inputs = &xs[chunk.start * n..chunk.end * n];
        A::matmul(w_x, isa, inputs, chunk.len(), acc)?;
        for k in order(chunk.len(), reverse) {
            step(&acc[k * g..(k + 1) * g], chunk.start + k)?;
        }
    }
    Ok(())
}

/// The chunks of a `steps`-long sequence in the order a recurrence visits
/// them: first to last, or last to first when `reverse`.
fn chunks(steps: usize, reverse: bool) -> impl Iterator<Item = Range<usize>> {
    let n = steps.div_ceil(SEQUENCE_CHUNK);
    (0..n).map(move |c| {
        let c = if reverse { n - 1 - c } else { c };
        c * SEQUENCE_CHUNK..((c + 1) * SEQUENCE_CHUNK).min(steps)
    })
}

/// The positions `0..len` within a chunk in visiting order.
fn order(len: usize, reverse: bool) -> impl Iterator<Item = usize> {
    (0..len).map(move |k| if reverse { len - 1 - k } else { k })
}

/// The number of whole steps in `xs` for a cell with `input` inputs.
fn steps_of<A>(xs: &[A], input: usize) -> Result<usize, Error> {
    if input == 0 || !xs.len().is_multiple_of(input) {
        return Err(Error::ShapeMismatch {
            what: "sequence input (a whole number of steps)",
            expected: input,
            found: xs.len(),
        });
    }
    Ok(xs.len() / input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_step_once_in_order() {
        for steps in [0, 1, 63, 64, 65, 200] {
            for reverse in [false, true] {
                let visited: Vec<usize> = chunks(steps, reverse)
                    .flat_map(|r| {
                        let len = r.len();
                        order(len, reverse).map(move |k| r.start + k)
                    })
                    .collect();
                let mut want: Vec<usize> = (0..steps).collect();
                if reverse {
                    want.reverse();
                }
                assert_eq!(visited, want, "steps {steps} reverse {reverse}");
            }
        }
        assert!(steps_of(&[0i8; 7], 2).is_err());
        assert!(steps_of(&[0i8; 0], 0).is_err());
        assert_eq!(steps_of(&[0i16; 8], 2).unwrap(), 4);
    }
}
