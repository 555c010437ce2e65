//! The shape every integer recurrent cell shares, so that models (the
//! language model's stack, the speech encoder, the attention decoder) and
//! tools (two-thread stepping, benchmarks) are written once against it
//! rather than once per cell kind. A cell carries no state: the caller owns
//! a [`IntCell::State`] per stream and reusable [`IntCell::Scratch`] buffers,
//! so a step allocates nothing once the buffers have grown.

use crate::error::Error;
use crate::kernels::Isa;
use crate::layers::activation::Activation;

/// An integer recurrent cell: input and hidden state of one activation
/// width (int8, or int16 for an LSTM with 16-bit activations), fixed
/// quantization parameters, every step bit-exact on every kernel.
pub trait IntCell {
    /// The type of the input and of h.
    type Act: Activation;
    /// What a stream carries from one step to the next (h, and c for an
    /// LSTM).
    type State: Clone + core::fmt::Debug;
    /// Buffers reused across steps.
    type Scratch: Default + Clone + core::fmt::Debug;

    /// Input size.
    fn input(&self) -> usize;
    /// Hidden size (the width of h).
    fn hidden(&self) -> usize;
    /// Checks that sizes, tables and grids fit together.
    fn validate(&self) -> Result<(), Error>;
    /// The state before the first step (h = the quantized 0).
    fn zero_state(&self) -> Self::State;
    /// Scratch sized for [`step`](Self::step): stepping one stream never
    /// allocates with it (the batched and sequence paths size their own
    /// buffers on first use).
    fn step_scratch(&self) -> Self::Scratch;
    /// The hidden state of `state`: the cell's output.
    fn h(state: &Self::State) -> &[Self::Act];
    /// One step: reads `x` and `state`, overwrites `state`.
    fn step(
        &self,
        isa: Isa,
        x: &[Self::Act],
        state: &mut Self::State,
        scratch: &mut Self::Scratch,
    ) -> Result<(), Error>;
    /// One step of `states.len()` independent streams, `xs` holding their
    /// inputs one after another; identical to stepping each alone.
    fn step_batch(
        &self,
        isa: Isa,
        xs: &[Self::Act],
        states: &mut [Self::State],
        scratch: &mut Self::Scratch,
    ) -> Result<(), Error>;
    /// Runs `xs` (`steps × input`) from `state`, first step to last or, with
    /// `reverse`, last to first, calling `on_step(t, h_t)` after each step;
    /// identical to calling [`step`](Self::step) in that order.
    fn run_sequence(
        &self,
        isa: Isa,
        xs: &[Self::Act],
        reverse: bool,
        state: &mut Self::State,
        scratch: &mut Self::Scratch,
        on_step: &mut dyn FnMut(usize, &[Self::Act]),
    ) -> Result<(), Error>;
}

/// Implements [`IntCell`] for a cell type whose inherent methods have the
/// trait's names and signatures (each cell's file invokes it once).
macro_rules! impl_int_cell {
    ([$($generics:tt)*] $cell:ty, $state:ty, $scratch:ty, $act:ty) => {
        impl<$($generics)*> $crate::layers::cell::IntCell for $cell {
            type Act = $act;
            type State = $state;
            type Scratch = $scratch;
            fn input(&self) -> usize {
                self.input
            }
            fn hidden(&self) -> usize {
                self.hidden
            }
            fn validate(&self) -> Result<(), $crate::error::Error> {
                <$cell>::validate(self)
            }
            fn zero_state(&self) -> $state {
                <$cell>::zero_state(self)
            }
            fn step_scratch(&self) -> $scratch {
                <$cell>::step_scratch(self)
            }
            fn h(state: &$state) -> &[$act] {
                &state.h
            }
            fn step(
                &self,
                isa: $crate::kernels::Isa,
                x: &[$act],
                state: &mut $state,
                scratch: &mut $scratch,
            ) -> Result<(), $crate::error::Error> {
                <$cell>::step(self, isa, x, state, scratch)
            }
            fn step_batch(
                &self,
                isa: $crate::kernels::Isa,
                xs: &[$act],
                states: &mut [$state],
                scratch: &mut $scratch,
            ) -> Result<(), $crate::error::Error> {
                <$cell>::step_batch(self, isa, xs, states, scratch)
            }
            fn run_sequence(
                &self,
                isa: $crate::kernels::Isa,
                xs: &[$act],
                reverse: bool,
                state: &mut $state,
                scratch: &mut $scratch,
                on_step: &mut dyn FnMut(usize, &[$act]),
            ) -> Result<(), $crate::error::Error> {
                <$cell>::run_sequence(self, isa, xs, reverse, state, scratch, on_step)
            }
        }
    };
}
pub(crate) use impl_int_cell;

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::IntCell;
    use crate::kernels::Isa;
    use crate::layers::activation::Activation;
    use crate::layers::ResetMode;
    use crate::test_models::{gru, lstm, lstm_of};

    /// What every cell must honour, checked through the trait alone on
    /// every kernel this CPU runs: a sequence run (forward and reversed)
    /// and a batched step equal single steps, and bad sizes are errors.
    fn honours_the_contract<C: IntCell>(cell: &C, seed: u64) {
        let mut rng = StdRng::seed_from_u64(seed);
        let (input, steps) = (cell.input(), 5);
        let xs: Vec<C::Act> = (0..steps * input)
            .map(|_| C::Act::saturate(rng.gen_range(C::Act::MIN..=C::Act::MAX)))
            .collect();
        cell.validate().unwrap();
        assert_eq!(C::h(&cell.zero_state()).len(), cell.hidden());
        for isa in Isa::available() {
            let mut scratch = C::Scratch::default();
            // Single steps, keeping every h.
            let mut state = cell.zero_state();
            let mut stepped = Vec::new();
            for x in xs.chunks(input) {
                cell.step(isa, x, &mut state, &mut scratch).unwrap();
                stepped.push(C::h(&state).to_vec());
            }
            let mut run = Vec::new();
            let mut seq_state = cell.zero_state();
            cell.run_sequence(
                isa,
                &xs,
                false,
                &mut seq_state,
                &mut scratch,
                &mut |t, h| run.push((t, h.to_vec())),
            )
            .unwrap();
            let expected: Vec<_> = stepped.iter().cloned().enumerate().collect();
            assert_eq!(run, expected, "{}: sequence vs steps", isa.name());
            // Reversed: the same as stepping the inputs last to first.
            let mut back_state = cell.zero_state();
            let mut back_steps = Vec::new();
            for (t, x) in xs.chunks(input).enumerate().rev() {
                cell.step(isa, x, &mut back_state, &mut scratch).unwrap();
                back_steps.push((t, C::h(&back_state).to_vec()));
            }
            let mut back_run = Vec::new();
            let mut rev_state = cell.zero_state();
            cell.run_sequence(isa, &xs, true, &mut rev_state, &mut scratch, &mut |t, h| {
                back_run.push((t, h.to_vec()))
            })
            .unwrap();
            assert_eq!(back_run, back_steps, "{}: reversed sequence", isa.name());
            // A batch of `steps` streams, each fed one input: each equals a
            // first step from the zero state.
            let mut states: Vec<_> = (0..steps).map(|_| cell.zero_state()).collect();
            cell.step_batch(isa, &xs, &mut states, &mut scratch)
                .unwrap();
            for (k, x) in xs.chunks(input).enumerate() {
                let mut one = cell.zero_state();
                cell.step(isa, x, &mut one, &mut scratch).unwrap();
                assert_eq!(
                    C::h(&states[k]),
                    C::h(&one),
                    "{}: batch stream {k}",
                    isa.name()
                );
            }
            // Wrong sizes are errors, not panics.
            let mut s = cell.zero_state();
            assert!(cell
                .step(isa, &xs[..input - 1], &mut s, &mut scratch)
                .is_err());
            assert!(cell
                .step_batch(isa, &xs[..input + 1], &mut states, &mut scratch)
                .is_err());
        }
    }

    #[test]
    fn every_cell_honours_the_cell_contract() {
        let mut rng = StdRng::seed_from_u64(7);
        for (input, hidden) in [(5, 7), (16, 32), (33, 20)] {
            honours_the_contract(&lstm(&mut rng, input, hidden, false, false), 1);
            honours_the_contract(&lstm(&mut rng, input, hidden, true, true), 2);
            honours_the_contract(&gru(&mut rng, input, hidden, ResetMode::After), 3);
            honours_the_contract(&gru(&mut rng, input, hidden, ResetMode::Before), 4);
            honours_the_contract(&lstm_of::<i16>(&mut rng, input, hidden, false, false), 5);
            honours_the_contract(&lstm_of::<i16>(&mut rng, input, hidden, true, true), 6);
        }
    }
}
