//! The integer LSTM cell: one time step, readable top to bottom.
//!
//! Tensors and their types (NUMERICS.md §4.2):
//!
//! | tensor | type | scale |
//! |---|---|---|
//! | x, h | int8, asymmetric — or int16, symmetric ([`Activation`]) | `s_x, z_x`; `s_h, z_h` |
//! | W_x, W_h | int8, symmetric per row | folded into the gate multipliers |
//! | gate pre-activations | int16 | one scale per gate (i, f, g, o) |
//! | sigmoid / tanh outputs | int16 Q0.15 | 2^−15 |
//! | cell state c | int16 | 2^−`cell_fraction_bits` |
//!
//! Gate order in every `[4H]` tensor is i, f, g, o (PyTorch's).

use alloc::vec;
use alloc::vec::Vec;
use core::marker::PhantomData;

use crate::error::{check_len, Error};
use crate::fixed_point::QuantizedMultiplier;
use crate::kernels::elementwise::lstm_cell_update;
use crate::kernels::{Isa, PackedMatrix, RowRequant};
use crate::layers::activation::{check_matrix, check_zero_point, Activation};
use crate::layers::norm::IntLayerNorm;
use crate::layers::sequence;
use crate::pwl::PwlTable;

pub use crate::fixed_point::Q15_ONE;

/// The parameters of one integer LSTM cell whose input and h are of type
/// `A` (int8 unless a model asks for 16-bit activations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntLstmCell<A: Activation = i8> {
    /// Input size.
    pub input: usize,
    /// Hidden size H.
    pub hidden: usize,
    /// Input weights, [4H × input].
    pub w_x: PackedMatrix,
    /// Recurrent weights, [4H × H].
    pub w_h: PackedMatrix,
    /// Input contribution → gate int16 (bias and z_x folded in).
    pub requant_x: RowRequant,
    /// Recurrent contribution → gate int16 (bias and z_h folded in).
    pub requant_h: RowRequant,
    /// Optional LayerNorm of each gate's pre-activation (i, f, g, o).
    pub gate_norm: Option<[IntLayerNorm; 4]>,
    /// Activation of each gate: sigmoid, sigmoid, tanh, sigmoid, each fitted
    /// on its own pre-activation grid.
    pub gate_activation: [PwlTable; 4],
    /// The cell state's scale is 2^−cell_fraction_bits (0..=15).
    pub cell_fraction_bits: u32,
    /// `c = f⊙c + min(1 − f, i)⊙g` instead of `f⊙c + i⊙g`.
    pub capped_input_gate: bool,
    /// Optional LayerNorm of the cell before its tanh.
    pub cell_norm: Option<IntLayerNorm>,
    /// tanh of the (normalised) cell, on its int16 grid.
    pub cell_tanh: PwlTable,
    /// `o·tanh(c)` (units of 2^−30) → h's grid: `2^−30 / s_h`.
    pub output_multiplier: QuantizedMultiplier,
    /// h's zero point (0 for int16).
    pub h_zero_point: i32,
    /// The activation width, `A`.
    pub activation: PhantomData<A>,
}

/// The state a caller carries between steps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LstmState<A: Activation = i8> {
    /// Hidden state.
    pub h: Vec<A>,
    /// int16 cell state.
    pub c: Vec<i16>,
}

/// Buffers reused across steps so a step allocates nothing.
#[derive(Debug, Clone, Default)]
pub struct LstmScratch<A: Activation = i8> {
    h_batch: Vec<A>,
    acc_seq: Vec<i32>,
    acc_x: Vec<i32>,
    acc_h: Vec<i32>,
    gate_x: Vec<i16>,
    gate_h: Vec<i16>,
    gates: Vec<i16>,
    normed: Vec<i16>,
    activated: Vec<i16>,
    cell_in: Vec<i16>,
    cell_tanh: Vec<i16>,
}

impl<A: Activation> LstmScratch<A> {
    /// After a step: the activated gates i, f, g, o (Q0.15, `[4H]`).
    pub fn activated_gates(&self) -> &[i16] {
        &self.activated
    }

    /// After a step: tanh of the (normalised) cell (Q0.15, `[H]`).
    pub fn cell_tanh(&self) -> &[i16] {
        &self.cell_tanh
    }
}

super::cell::impl_int_cell!([A: Activation] IntLstmCell<A>, LstmState<A>, LstmScratch<A>, A);

impl<A: Activation> IntLstmCell<A> {
    /// Checks that every part agrees on the sizes.
    pub fn validate(&self) -> Result<(), Error> {
        let (i, h) = (self.input, self.hidden);
        check_len("LSTM W_x rows", 4 * h, self.w_x.rows())?;
        check_len("LSTM W_x columns", i, self.w_x.cols())?;
        check_len("LSTM W_h rows", 4 * h, self.w_h.rows())?;
        check_len("LSTM W_h columns", h, self.w_h.cols())?;
        check_len(
            "LSTM input requantization rows",
            4 * h,
            self.requant_x.rows(),
        )?;
        check_len(
            "LSTM recurrent requantization rows",
            4 * h,
            self.requant_h.rows(),
        )?;
        if let Some(norms) = &self.gate_norm {
            for n in norms {
                check_len("LSTM gate LayerNorm size", h, n.len())?;
            }
        }
        if let Some(n) = &self.cell_norm {
            check_len("LSTM cell LayerNorm size", h, n.len())?;
        }
        if self.cell_fraction_bits > 15 {
            return Err(Error::InvalidParameter {
                what: "LSTM cell fraction bits must be in 0..=15",
            });
        }
        check_zero_point::<A>(
            self.h_zero_point,
            "LSTM h zero point must be in the int8 range (0 with int16 activations)",
        )?;
        check_matrix::<A>(&self.w_x, "LSTM W_x columns with int16 activations")?;
        check_matrix::<A>(&self.w_h, "LSTM W_h columns with int16 activations")?;
        Ok(())
    }

    /// The zero state: h = the quantized 0 (its zero point), c = 0.
    pub fn zero_state(&self) -> LstmState<A> {
        LstmState {
            h: vec![A::saturate(self.h_zero_point); self.hidden],
            c: vec![0; self.hidden],
        }
    }

    /// Sets `state` to the zero state in place (no allocation when its
    /// buffers are large enough already).
    pub fn reset_state(&self, state: &mut LstmState<A>) {
        state.h.clear();
        state.h.resize(self.hidden, A::saturate(self.h_zero_point));
        state.c.clear();
        state.c.resize(self.hidden, 0);
    }

    /// Scratch with every buffer [`step`](Self::step) uses at its size, so
    /// that stepping allocates nothing.
    pub fn step_scratch(&self) -> LstmScratch<A> {
        let (g, h) = (4 * self.hidden, self.hidden);
        LstmScratch {
            acc_x: vec![0; g],
            acc_h: vec![0; g],
            gate_x: vec![0; g],
            gate_h: vec![0; g],
            gates: vec![0; g],
            normed: vec![0; g],
            activated: vec![0; g],
            cell_in: vec![0; h],
            cell_tanh: vec![0; h],
            ..LstmScratch::default()
        }
    }

    /// One time step: reads `x` and `state`, overwrites `state`.
    pub fn step(
        &self,
        isa: Isa,
        x: &[A],
        state: &mut LstmState<A>,
        s: &mut LstmScratch<A>,
    ) -> Result<(), Error> {
        let h = self.hidden;
        check_len("LSTM input", self.input, x.len())?;
        // 1. The input product; the recurrent one and the rest follow.
        let mut acc_x = core::mem::take(&mut s.acc_x);
        acc_x.resize(4 * h, 0);
        let result = A::matmul(&self.w_x, isa, x, 1, &mut acc_x)
            .and_then(|_| self.recurrent_step(isa, &acc_x, state, s));
        s.acc_x = acc_x;
        result
    }

    /// Runs `xs` (`steps × input`) through the cell from `state`, first step
    /// to last or, with `reverse`, last to first, with the input product
    /// hoisted out of the recurrence ([`crate::layers::sequence`]); calls
    /// `on_step(t, h_t)` after each step. Identical to calling
    /// [`step`](Self::step) for each input in that order.
    pub fn run_sequence(
        &self,
        isa: Isa,
        xs: &[A],
        reverse: bool,
        state: &mut LstmState<A>,
        s: &mut LstmScratch<A>,
        on_step: &mut dyn FnMut(usize, &[A]),
    ) -> Result<(), Error> {
        let mut acc = core::mem::take(&mut s.acc_seq);
        let result = sequence::run(isa, &self.w_x, xs, reverse, &mut acc, &mut |acc_x, t| {
            self.recurrent_step(isa, acc_x, state, s)?;
            on_step(t, &state.h);
            Ok(())
        });
        s.acc_seq = acc;
        result
    }

    /// A step given its input product `acc_x` (4H): the recurrent product,
    /// the gate pre-activations and everything after them.
    fn recurrent_step(
        &self,
        isa: Isa,
        acc_x: &[i32],
        state: &mut LstmState<A>,
        s: &mut LstmScratch<A>,
    ) -> Result<(), Error> {
        let h = self.hidden;
        check_len("LSTM state h", h, state.h.len())?;
        check_len("LSTM state c", h, state.c.len())?;
        let mut acc_h = core::mem::take(&mut s.acc_h);
        acc_h.resize(4 * h, 0);
        let result = A::matmul(&self.w_h, isa, &state.h, 1, &mut acc_h)
            .and_then(|_| self.finish_products(isa, acc_x, &acc_h, state, s));
        s.acc_h = acc_h;
        result
    }

    /// Everything after the two products (`acc_x`, `acc_h`: 4H each).
    pub(crate) fn finish_products(
        &self,
        isa: Isa,
        acc_x: &[i32],
        acc_h: &[i32],
        state: &mut LstmState<A>,
        s: &mut LstmScratch<A>,
    ) -> Result<(), Error> {
        self.gate_preactivations(isa, acc_x, acc_h, s)?;
        let gates = core::mem::take(&mut s.gates);
        let result = self.finish_step(isa, &gates, state, s);
        s.gates = gates;
        result
    }

    /// One time step of `states.len()` independent streams at once: `xs`
    /// holds their inputs one after another. Each weight matrix is read once
    /// for all streams (the batched kernels), then every stream finishes its
    /// step as [`step`](Self::step) does; the results are identical to
    /// stepping the streams one by one.
    pub fn step_batch(
        &self,
        isa: Isa,
        xs: &[A],
        states: &mut [LstmState<A>],
        s: &mut LstmScratch<A>,
    ) -> Result<(), Error> {
        let (h, b) = (self.hidden, states.len());
        check_len("LSTM batch input", b * self.input, xs.len())?;
        let mut hs = core::mem::take(&mut s.h_batch);
        hs.clear();
        for st in states.iter() {
            check_len("LSTM state h", h, st.h.len())?;
            check_len("LSTM state c", h, st.c.len())?;
            hs.extend_from_slice(&st.h);
        }
        let (mut acc_x, mut acc_h) = (core::mem::take(&mut s.acc_x), core::mem::take(&mut s.acc_h));
        acc_x.resize(4 * h * b, 0);
        acc_h.resize(4 * h * b, 0);
        let result = A::matmul(&self.w_x, isa, xs, b, &mut acc_x)
            .and_then(|_| A::matmul(&self.w_h, isa, &hs, b, &mut acc_h))
            .and_then(|_| self.gate_preactivations(isa, &acc_x, &acc_h, s));
        (s.acc_x, s.acc_h, s.h_batch) = (acc_x, acc_h, hs);
        result?;
        let gates = core::mem::take(&mut s.gates);
        let mut result = Ok(());
        for (i, st) in states.iter_mut().enumerate() {
            result = self.finish_step(isa, &gates[i * 4 * h..(i + 1) * 4 * h], st, s);
            if result.is_err() {
                break;
            }
        }
        s.gates = gates;
        result
    }

    /// Gate pre-activations of one or more streams (`acc_*` hold whole
    /// 4H-row vectors): each product requantized to the gate's int16 grid,
    /// then a saturating sum, into `s.gates`.
    fn gate_preactivations(
        &self,
        isa: Isa,
        acc_x: &[i32],
        acc_h: &[i32],
        s: &mut LstmScratch<A>,
    ) -> Result<(), Error> {
        for buf in [&mut s.gate_x, &mut s.gate_h, &mut s.gates] {
            buf.resize(acc_x.len(), 0);
        }
        self.requant_x.apply(isa, acc_x, &mut s.gate_x)?;
        self.requant_h.apply(isa, acc_h, &mut s.gate_h)?;
        for ((g, &a), &b) in s.gates.iter_mut().zip(&s.gate_x).zip(&s.gate_h) {
            *g = a.saturating_add(b);
        }
        Ok(())
    }

    /// Everything after the gate pre-activations `gates` (4H) of one
    /// stream: LayerNorm, activations, cell update, h.
    fn finish_step(
        &self,
        isa: Isa,
        gates: &[i16],
        state: &mut LstmState<A>,
        s: &mut LstmScratch<A>,
    ) -> Result<(), Error> {
        let h = self.hidden;
        for buf in [&mut s.normed, &mut s.activated] {
            buf.resize(4 * h, 0);
        }
        s.cell_in.resize(h, 0);
        s.cell_tanh.resize(h, 0);

        // 2. Optional LayerNorm per gate, then the activations (Q0.15).
        let pre = if let Some(norms) = &self.gate_norm {
            for (k, norm) in norms.iter().enumerate() {
                norm.apply(
                    &gates[k * h..(k + 1) * h],
                    &mut s.normed[k * h..(k + 1) * h],
                )?;
            }
            &s.normed
        } else {
            gates
        };
        for (k, table) in self.gate_activation.iter().enumerate() {
            table.eval_i16(
                isa,
                &pre[k * h..(k + 1) * h],
                &mut s.activated[k * h..(k + 1) * h],
            )?;
        }
        let (i_gate, rest) = s.activated.split_at(h);
        let (f_gate, rest) = rest.split_at(h);
        let (g_gate, o_gate) = rest.split_at(h);

        // 3. Cell update: c = f⊙c + i⊙g (or min(1 − f, i)⊙g), in c's grid.
        lstm_cell_update(
            isa,
            i_gate,
            f_gate,
            g_gate,
            &mut state.c,
            self.cell_fraction_bits,
            self.capped_input_gate,
        )?;

        // 4. h = o ⊙ tanh(LN(c)), requantized to h's grid.
        let cell_in: &[i16] = if let Some(norm) = &self.cell_norm {
            norm.apply(&state.c, &mut s.cell_in)?;
            &s.cell_in
        } else {
            &state.c
        };
        self.cell_tanh.eval_i16(isa, cell_in, &mut s.cell_tanh)?;
        A::product(
            isa,
            o_gate,
            &s.cell_tanh,
            self.output_multiplier,
            self.h_zero_point,
            &mut state.h,
        )?;
        Ok(())
    }
}
