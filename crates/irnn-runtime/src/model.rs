//! Whole models and the streaming API.
//!
//! The caller owns the state ([`LmState`]) and feeds tokens one call per
//! step ([`IntLanguageModel::step`]) or a sequence per call
//! ([`IntLanguageModel::run`]). Integer arithmetic with fixed quantization
//! parameters has no hidden dependence on how a sequence is split, so the
//! results are identical whether a sequence is fed whole or in chunks of any
//! size — a property the tests check, and one that runtimes with dynamic
//! (per-call) activation scales do not have.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::{check_len, Error};
use crate::fixed_point::QuantizedMultiplier;
use crate::kernels::Isa;
use crate::layers::{
    GruScratch, GruState, IntCell, IntEmbedding, IntGruCell, IntLstmCell, IntOutputLayer,
    LstmScratch, LstmState, QuantizedAdd, SEQUENCE_CHUNK,
};
use crate::vocabulary::Vocabulary;

/// A recurrent cell of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecurrentCell {
    /// An LSTM cell.
    Lstm(Box<IntLstmCell>),
    /// A GRU cell.
    Gru(Box<IntGruCell>),
}

/// Runs `$body` with `$c` bound to the cell inside a [`RecurrentCell`] —
/// the one place that lists the cell kinds for shared access.
macro_rules! with_cell {
    ($cell:expr, |$c:ident| $body:expr) => {
        match $cell {
            RecurrentCell::Lstm($c) => $body,
            RecurrentCell::Gru($c) => $body,
        }
    };
}

/// Runs `$body` with the cell, its state and its scratch bound, or fails
/// if the state belongs to another kind of cell — the one place that pairs
/// cell kinds with their states.
macro_rules! with_cell_state {
    ($cell:expr, $state:expr, |$c:ident, $st:ident, $s:ident| $body:expr) => {
        match ($cell, $state) {
            (RecurrentCell::Lstm($c), CellState::Lstm($st, $s)) => $body,
            // Without the `gru` feature no GRU is read from a file and
            // its code is not linked.
            (RecurrentCell::Gru($c), CellState::Gru($st, $s)) if cfg!(feature = "gru") => $body,
            (RecurrentCell::Gru(_), CellState::Gru(..)) => Err(Error::InvalidParameter {
                what: "this build of the runtime has no GRU cells (feature `gru`)",
            }),
            _ => Err(Error::InvalidParameter {
                what: "state does not belong to this model (cell kinds differ)",
            }),
        }
    };
}

impl RecurrentCell {
    /// Input size.
    pub fn input(&self) -> usize {
        with_cell!(self, |c| IntCell::input(&**c))
    }

    /// Hidden size.
    pub fn hidden(&self) -> usize {
        with_cell!(self, |c| IntCell::hidden(&**c))
    }

    /// Checks sizes.
    pub fn validate(&self) -> Result<(), Error> {
        with_cell!(self, |c| IntCell::validate(&**c))
    }

    fn zero_state(&self) -> CellState {
        match self {
            RecurrentCell::Lstm(c) => CellState::Lstm(c.zero_state(), c.step_scratch()),
            RecurrentCell::Gru(c) => CellState::Gru(c.zero_state(), c.step_scratch()),
        }
    }

    /// [`IntCell::run_sequence`], forward.
    fn run_sequence(
        &self,
        isa: Isa,
        xs: &[i8],
        state: &mut CellState,
        on_step: &mut dyn FnMut(usize, &[i8]),
    ) -> Result<(), Error> {
        with_cell_state!(self, state, |c, st, s| {
            IntCell::run_sequence(&**c, isa, xs, false, st, s, on_step)
        })
    }

    /// One step; returns the new h.
    fn step<'s>(&self, isa: Isa, x: &[i8], state: &'s mut CellState) -> Result<&'s [i8], Error> {
        with_cell_state!(self, state, |c, st, s| {
            IntCell::step(&**c, isa, x, st, s)?;
            Ok(h_of(&**c, st))
        })
    }
}

/// The hidden state of `state`, a state of `cell`'s kind.
fn h_of<'s, C: IntCell<Act = i8>>(_cell: &C, state: &'s C::State) -> &'s [i8] {
    C::h(state)
}

/// A stacked layer: a cell and, optionally, a residual connection adding
/// the layer's input to its output (input size must equal hidden size).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackedLayer {
    /// The recurrent cell.
    pub cell: RecurrentCell,
    /// `out = h ⊕ x` on the output's grid.
    pub residual: Option<QuantizedAdd>,
}

/// Embedding → stacked recurrent layers → output layer with int32 logits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntLanguageModel {
    /// Token embedding.
    pub embedding: IntEmbedding,
    /// Recurrent layers, bottom first.
    pub layers: Vec<StackedLayer>,
    /// Output projection.
    pub output: IntOutputLayer,
    /// The tokens behind the ids (one per embedding row).
    pub vocabulary: Vocabulary,
}

/// The state of one layer, with its scratch buffers.
#[derive(Debug, Clone)]
pub enum CellState {
    /// LSTM state.
    Lstm(LstmState, LstmScratch),
    /// GRU state.
    Gru(GruState, GruScratch),
}

impl CellState {
    /// The hidden state.
    pub fn h(&self) -> &[i8] {
        match self {
            CellState::Lstm(s, _) => &s.h,
            CellState::Gru(s, _) => &s.h,
        }
    }
}

/// The streaming state of a language model, owned by the caller.
#[derive(Debug, Clone)]
pub struct LmState {
    /// One state per layer.
    pub layers: Vec<CellState>,
    residual_out: Vec<Vec<i8>>,
    /// A chunk of one layer's inputs and outputs in [`IntLanguageModel::run`].
    sequence: [Vec<i8>; 2],
    /// The transformed input of [`IntLanguageModel::step_with`].
    transformed: Vec<i8>,
}

impl LmState {
    /// The output of layer `l` after the last step: its h, or h ⊕ input
    /// with a residual connection.
    pub fn layer_output(&self, l: usize) -> &[i8] {
        match self.residual_out.get(l) {
            Some(r) if !r.is_empty() => r,
            _ => self.layers[l].h(),
        }
    }
}

impl IntLanguageModel {
    /// Checks that the layers connect.
    pub fn validate(&self) -> Result<(), Error> {
        let mut width = self.embedding.dim();
        if self.layers.is_empty() {
            return Err(Error::InvalidParameter {
                what: "a language model needs at least one recurrent layer",
            });
        }
        for layer in &self.layers {
            layer.cell.validate()?;
            check_len("recurrent layer input", width, layer.cell.input())?;
            if let Some(add) = &layer.residual {
                check_len(
                    "residual connection (input = hidden)",
                    width,
                    layer.cell.hidden(),
                )?;
                let int8 = -128..=127;
                if !(int8.contains(&add.zero_point_a)
                    && int8.contains(&add.zero_point_b)
                    && int8.contains(&add.zero_point_out))
                {
                    return Err(Error::InvalidParameter {
                        what: "residual zero points must be in the int8 range",
                    });
                }
                QuantizedMultiplier::new(add.multiplier_a.mantissa, add.multiplier_a.shift)?;
                QuantizedMultiplier::new(add.multiplier_b.mantissa, add.multiplier_b.shift)?;
            }
            width = layer.cell.hidden();
        }
        self.output.validate()?;
        check_len(
            "vocabulary size (tokens = embedding rows)",
            self.embedding.vocab(),
            self.vocabulary.len(),
        )?;
        check_len("output layer input", width, self.output.weights.cols())
    }

    /// The zero state.
    pub fn zero_state(&self) -> LmState {
        LmState {
            layers: self.layers.iter().map(|l| l.cell.zero_state()).collect(),
            residual_out: self
                .layers
                .iter()
                .map(|l| {
                    vec![
                        0;
                        if l.residual.is_some() {
                            l.cell.hidden()
                        } else {
                            0
                        }
                    ]
                })
                .collect(),
            sequence: Default::default(),
            transformed: Vec::with_capacity(self.widest()),
        }
    }

    /// The zero state with [`run`](Self::run)'s chunk buffers already at
    /// their full size (by one run over a chunk of token 0, then a reset):
    /// with it neither `step` nor `run` of any length allocates. It holds
    /// [`SEQUENCE_CHUNK`] steps of every layer's products, so small-memory
    /// targets that only step use [`zero_state`](Self::zero_state).
    pub fn zero_state_for_runs(&self, isa: Isa) -> Result<LmState, Error> {
        let mut state = self.zero_state();
        let tokens = [0u32; SEQUENCE_CHUNK];
        let mut logits = vec![0; SEQUENCE_CHUNK * self.classes()];
        self.run(isa, &tokens, &mut state, &mut logits)?;
        self.reset(&mut state)?;
        // The two chunk buffers swap roles layer by layer: both must hold
        // the widest layer's chunk.
        let widest = SEQUENCE_CHUNK * self.widest();
        for buf in &mut state.sequence {
            buf.clear();
            buf.reserve(widest);
        }
        Ok(state)
    }

    /// Sets `state` back to the zero state in place, keeping its buffers.
    pub fn reset(&self, state: &mut LmState) -> Result<(), Error> {
        if state.layers.len() != self.layers.len() {
            return Err(Error::InvalidParameter {
                what: "state does not belong to this model (layer counts differ)",
            });
        }
        for ((layer, st), res) in self
            .layers
            .iter()
            .zip(&mut state.layers)
            .zip(&mut state.residual_out)
        {
            match (&layer.cell, st) {
                (RecurrentCell::Lstm(c), CellState::Lstm(s, _)) => c.reset_state(s),
                (RecurrentCell::Gru(c), CellState::Gru(s, _)) => c.reset_state(s),
                _ => {
                    return Err(Error::InvalidParameter {
                        what: "state does not belong to this model (cell kinds differ)",
                    })
                }
            }
            res.iter_mut().for_each(|v| *v = 0);
        }
        Ok(())
    }

    /// The widest vector a layer reads or writes (the embedding, each h).
    fn widest(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.cell.hidden())
            .fold(self.embedding.dim(), usize::max)
    }

    /// Number of output classes.
    pub fn classes(&self) -> usize {
        self.output.classes()
    }

    /// The checks shared by [`step`](Self::step) and
    /// [`step_with`](Self::step_with).
    fn check_step(&self, state: &LmState, logits: &[i32]) -> Result<(), Error> {
        check_len("logits", self.classes(), logits.len())?;
        if state.layers.len() != self.layers.len() {
            return Err(Error::InvalidParameter {
                what: "state does not belong to this model (layer counts differ)",
            });
        }
        Ok(())
    }

    /// Feeds one token; writes the int32 logits for the next token.
    pub fn step(
        &self,
        isa: Isa,
        token: u32,
        state: &mut LmState,
        logits: &mut [i32],
    ) -> Result<(), Error> {
        self.check_step(state, logits)?;
        let mut x: &[i8] = self.embedding.lookup(token)?;
        let LmState {
            layers,
            residual_out,
            ..
        } = state;
        for ((layer, st), res) in self.layers.iter().zip(layers.iter_mut()).zip(residual_out) {
            let h = layer.cell.step(isa, x, st)?;
            x = match &layer.residual {
                Some(add) => {
                    add.add(h, x, res)?;
                    res
                }
                None => h,
            };
        }
        self.output.logits(isa, x, logits)
    }

    /// [`step`](Self::step), with `transform(l, x)` applied to a copy of
    /// each input before it is read: `l` is the layer (`layers.len()` for
    /// the output layer), `x` its int8 input. Training uses it to perturb
    /// inputs (QAT's dropout); with the identity the results equal `step`'s.
    pub fn step_with(
        &self,
        isa: Isa,
        token: u32,
        state: &mut LmState,
        logits: &mut [i32],
        transform: &mut dyn FnMut(usize, &mut [i8]),
    ) -> Result<(), Error> {
        self.check_step(state, logits)?;
        // The input is copied into a buffer the state keeps (at the widest
        // layer's size), so that this allocates nothing either.
        let mut x = core::mem::take(&mut state.transformed);
        x.clear();
        x.extend_from_slice(self.embedding.lookup(token)?);
        let result = self.step_with_buffer(isa, &mut x, state, logits, transform);
        state.transformed = x;
        result
    }

    /// [`step_with`](Self::step_with) with the input in `x`.
    fn step_with_buffer(
        &self,
        isa: Isa,
        x: &mut Vec<i8>,
        state: &mut LmState,
        logits: &mut [i32],
        transform: &mut dyn FnMut(usize, &mut [i8]),
    ) -> Result<(), Error> {
        let LmState {
            layers,
            residual_out,
            ..
        } = state;
        for (l, ((layer, st), res)) in self
            .layers
            .iter()
            .zip(layers.iter_mut())
            .zip(residual_out)
            .enumerate()
        {
            transform(l, x);
            let h = layer.cell.step(isa, x, st)?;
            match &layer.residual {
                Some(add) => {
                    add.add(h, x, res)?;
                    x.clear();
                    x.extend_from_slice(res);
                }
                None => {
                    x.clear();
                    x.extend_from_slice(h);
                }
            }
        }
        transform(self.layers.len(), x);
        self.output.logits(isa, x, logits)
    }

    /// Feeds a sequence; `logits` receives `tokens.len() × classes` values.
    /// Identical to calling [`step`](Self::step) per token, but computed
    /// layer by layer over chunks of [`SEQUENCE_CHUNK`] tokens, so each
    /// layer's input product and the output layer are one batched product
    /// per chunk ([`crate::layers::sequence`]).
    pub fn run(
        &self,
        isa: Isa,
        tokens: &[u32],
        state: &mut LmState,
        logits: &mut [i32],
    ) -> Result<(), Error> {
        let classes = self.classes();
        check_len(
            "logits for the sequence",
            tokens.len() * classes,
            logits.len(),
        )?;
        if state.layers.len() != self.layers.len() {
            return Err(Error::InvalidParameter {
                what: "state does not belong to this model (layer counts differ)",
            });
        }
        let LmState {
            layers,
            residual_out,
            sequence: [x, y],
            ..
        } = state;
        for (chunk, out) in tokens
            .chunks(SEQUENCE_CHUNK)
            .zip(logits.chunks_mut(SEQUENCE_CHUNK * classes))
        {
            x.clear();
            for &t in chunk {
                x.extend_from_slice(self.embedding.lookup(t)?);
            }
            for ((layer, st), res) in self
                .layers
                .iter()
                .zip(layers.iter_mut())
                .zip(residual_out.iter_mut())
            {
                let hidden = layer.cell.hidden();
                y.resize(chunk.len() * hidden, 0);
                layer.cell.run_sequence(isa, x, st, &mut |t, h| {
                    y[t * hidden..(t + 1) * hidden].copy_from_slice(h)
                })?;
                if let Some(add) = &layer.residual {
                    // h ⊕ input per step (input width = hidden); the last
                    // step's sum is the layer's output in the state.
                    for (yt, xt) in y.chunks_exact_mut(hidden).zip(x.chunks_exact(hidden)) {
                        add.add(yt, xt, res)?;
                        yt.copy_from_slice(res);
                    }
                }
                core::mem::swap(x, y);
            }
            self.output.logits_batch(isa, x, chunk.len(), out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_models::random_language_model;

    fn run_in_chunks(m: &IntLanguageModel, isa: Isa, tokens: &[u32], chunk: usize) -> Vec<i32> {
        let mut state = m.zero_state();
        let mut logits = vec![0; tokens.len() * m.classes()];
        for (t, out) in tokens
            .chunks(chunk)
            .zip(logits.chunks_mut(chunk * m.classes()))
        {
            m.run(isa, t, &mut state, out).unwrap();
        }
        logits
    }

    #[test]
    fn results_do_not_depend_on_chunking_or_kernel() {
        let m = random_language_model(5, 13, 24);
        let tokens: Vec<u32> = (0..60).map(|i| (i * 7 + i / 3) % 13).collect();
        let whole = run_in_chunks(&m, Isa::Scalar, &tokens, tokens.len());
        // The model is not degenerate: logits change from step to step.
        assert_ne!(whole[..13], whole[13..26]);
        for isa in Isa::available() {
            for chunk in [1, 2, 3, 7, 59, 60] {
                assert_eq!(
                    run_in_chunks(&m, isa, &tokens, chunk),
                    whole,
                    "{} chunk {chunk}",
                    isa.name()
                );
            }
        }
    }

    #[test]
    fn run_equals_stepping_token_by_token() {
        // Four layers (LSTM, LN + capped LSTM with a residual, both GRUs);
        // 150 tokens cross two chunk boundaries of the batched products.
        let m = random_language_model(6, 13, 24);
        let tokens: Vec<u32> = (0..150).map(|i| (i * 5 + i / 7) % 13).collect();
        for isa in Isa::available() {
            let mut stepped = m.zero_state();
            let mut want = vec![0; tokens.len() * 13];
            for (&t, out) in tokens.iter().zip(want.chunks_exact_mut(13)) {
                m.step(isa, t, &mut stepped, out).unwrap();
            }
            let mut ran = m.zero_state();
            let mut got = vec![0; tokens.len() * 13];
            m.run(isa, &tokens, &mut ran, &mut got).unwrap();
            assert_eq!(got, want, "{}", isa.name());
            // The state after the run is the stepped one: every layer's
            // output, and what the next token gives.
            for l in 0..m.layers.len() {
                assert_eq!(ran.layer_output(l), stepped.layer_output(l), "layer {l}");
            }
            let (mut a, mut b) = (vec![0; 13], vec![0; 13]);
            m.step(isa, 3, &mut ran, &mut a).unwrap();
            m.step(isa, 3, &mut stepped, &mut b).unwrap();
            assert_eq!(a, b);
        }
        assert!(m
            .run(Isa::Scalar, &[1, 99], &mut m.zero_state(), &mut [0; 26])
            .is_err());
    }

    #[test]
    fn step_with_the_identity_is_step() {
        let m = random_language_model(9, 13, 24);
        let (mut a, mut b) = (m.zero_state(), m.zero_state());
        let (mut la, mut lb) = (vec![0; 13], vec![0; 13]);
        let mut seen = Vec::new();
        for t in 0..20u32 {
            m.step(Isa::detect(), t % 13, &mut a, &mut la).unwrap();
            m.step_with(Isa::detect(), t % 13, &mut b, &mut lb, &mut |l, x| {
                seen.push((l, x.len()))
            })
            .unwrap();
            assert_eq!(la, lb);
        }
        // Every layer's input and the output layer's, every step.
        assert_eq!(seen.len(), 20 * 5);
        // A transform changes the result.
        m.step_with(Isa::detect(), 1, &mut b, &mut lb, &mut |_, x| x.fill(0))
            .unwrap();
        m.step(Isa::detect(), 1, &mut a, &mut la).unwrap();
        assert_ne!(la, lb);
    }

    #[test]
    fn state_is_carried_between_calls() {
        let m = random_language_model(6, 9, 16);
        let mut a = m.zero_state();
        let mut b = m.zero_state();
        let mut la = vec![0; m.classes()];
        let mut lb = vec![0; m.classes()];
        m.step(Isa::Scalar, 1, &mut a, &mut la).unwrap();
        m.step(Isa::Scalar, 2, &mut a, &mut la).unwrap();
        m.step(Isa::Scalar, 2, &mut b, &mut lb).unwrap();
        // Same token, different history: different logits.
        assert_ne!(la, lb);
    }

    #[test]
    fn bad_input_is_an_error() {
        let m = random_language_model(7, 9, 16);
        let mut state = m.zero_state();
        let mut logits = vec![0; m.classes()];
        assert_eq!(
            m.step(Isa::Scalar, 9, &mut state, &mut logits),
            Err(Error::UnknownToken { token: 9, vocab: 9 })
        );
        assert!(m
            .step(Isa::Scalar, 0, &mut state, &mut logits[..3])
            .is_err());
        let other = random_language_model(8, 9, 8);
        let mut wrong = other.zero_state();
        wrong.layers.pop();
        assert!(m.step(Isa::Scalar, 0, &mut wrong, &mut logits).is_err());
    }
}
