//! The integer GRU cell, with both reset conventions (NUMERICS.md §4.3).
//!
//! Gate order in every `[3H]` tensor is r, z, n (PyTorch's).
//!
//! * **Reset after** (PyTorch, cuDNN): `n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))`.
//!   The recurrent n-contribution is requantized to n's int16 grid, scaled by
//!   r (Q0.15) and added.
//! * **Reset before** (Cho et al. 2014): `n = tanh(W_in x + W_hn (r ⊙ h) + b_n)`.
//!   `r ⊙ h` is formed on h's own int8 grid (same scale and zero point), then
//!   multiplied by `W_hn` after r is known.
//!
//! Then `h' = (1 − z) ⊙ n + z ⊙ h`, computed in units of 2^−30 with h first
//! brought to Q0.15, and requantized to h's int8 grid.

use alloc::vec;
use alloc::vec::Vec;

use crate::error::{check_len, Error};
use crate::fixed_point::QuantizedMultiplier;
use crate::fixed_point::{rounding_divide_by_pot, saturate_i32_to_i8};
use crate::kernels::elementwise::{gru_mix, gru_reset_after};
use crate::kernels::{Isa, PackedMatrix, RowRequant};
use crate::layers::sequence;
use crate::pwl::PwlTable;

/// Where the reset gate applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResetMode {
    /// `r ⊙ (W_hn h + b_hn)` — PyTorch and cuDNN.
    After,
    /// `W_hn (r ⊙ h)` — the original GRU.
    Before,
}

/// The parameters of one integer GRU cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntGruCell {
    /// Input size.
    pub input: usize,
    /// Hidden size H.
    pub hidden: usize,
    /// Reset convention.
    pub reset: ResetMode,
    /// Input weights, [3H × input].
    pub w_x: PackedMatrix,
    /// Recurrent weights: [3H × H] (reset after) or [2H × H] for r, z only
    /// (reset before, with `w_hn` separate).
    pub w_h: PackedMatrix,
    /// Reset before: W_hn, [H × H], applied to r ⊙ h.
    pub w_hn: Option<PackedMatrix>,
    /// Input contribution → gate int16 grids (3H rows).
    pub requant_x: RowRequant,
    /// Recurrent contribution → gate int16 grids (3H rows; in reset-before
    /// mode rows 2H..3H requantize `W_hn (r ⊙ h)`).
    pub requant_h: RowRequant,
    /// Activations: sigmoid (r), sigmoid (z), tanh (n), each on its gate's grid.
    pub gate_activation: [PwlTable; 3],
    /// h (int8) → Q0.15: `s_h · 2^15`.
    pub h_to_q15: QuantizedMultiplier,
    /// units of 2^−30 → h's int8 grid: `2^−30 / s_h`.
    pub output_multiplier: QuantizedMultiplier,
    /// h's zero point.
    pub h_zero_point: i32,
}

/// The state a caller carries between steps: the int8 hidden state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GruState {
    /// int8 hidden state.
    pub h: Vec<i8>,
}

/// Buffers reused across steps.
#[derive(Debug, Clone, Default)]
pub struct GruScratch {
    h_batch: Vec<i8>,
    acc_seq: Vec<i32>,
    acc_hn: Vec<i32>,
    acc_x: Vec<i32>,
    acc_h: Vec<i32>,
    gate_x: Vec<i16>,
    gate_h: Vec<i16>,
    pre: Vec<i16>,
    activated: Vec<i16>,
    reset_h: Vec<i8>,
}

impl GruScratch {
    /// After a step: the activated gates r, z and the candidate n (Q0.15,
    /// `[3H]`).
    pub fn activated_gates(&self) -> &[i16] {
        &self.activated
    }
}

super::cell::impl_int_cell!([] IntGruCell, GruState, GruScratch, i8);

impl IntGruCell {
    /// Checks that every part agrees on the sizes.
    pub fn validate(&self) -> Result<(), Error> {
        let (i, h) = (self.input, self.hidden);
        check_len("GRU W_x rows", 3 * h, self.w_x.rows())?;
        check_len("GRU W_x columns", i, self.w_x.cols())?;
        check_len("GRU W_h columns", h, self.w_h.cols())?;
        match (self.reset, &self.w_hn) {
            (ResetMode::After, None) => check_len("GRU W_h rows", 3 * h, self.w_h.rows())?,
            (ResetMode::Before, Some(w_hn)) => {
                check_len("GRU W_h rows (r, z)", 2 * h, self.w_h.rows())?;
                check_len("GRU W_hn rows", h, w_hn.rows())?;
                check_len("GRU W_hn columns", h, w_hn.cols())?;
            }
            _ => {
                return Err(Error::InvalidParameter {
                    what: "GRU W_hn must be present exactly in reset-before mode",
                })
            }
        }
        check_len(
            "GRU input requantization rows",
            3 * h,
            self.requant_x.rows(),
        )?;
        check_len(
            "GRU recurrent requantization rows",
            3 * h,
            self.requant_h.rows(),
        )?;
        if !(-128..=127).contains(&self.h_zero_point) {
            return Err(Error::InvalidParameter {
                what: "GRU h zero point must be in the int8 range",
            });
        }
        Ok(())
    }

    /// The zero state.
    pub fn zero_state(&self) -> GruState {
        GruState {
            h: vec![self.h_zero_point as i8; self.hidden],
        }
    }

    /// Sets `state` to the zero state in place (no allocation when its
    /// buffer is large enough already).
    pub fn reset_state(&self, state: &mut GruState) {
        state.h.clear();
        state.h.resize(self.hidden, self.h_zero_point as i8);
    }

    /// Scratch with every buffer [`step`](Self::step) uses at its size, so
    /// that stepping allocates nothing.
    pub fn step_scratch(&self) -> GruScratch {
        let (g, h) = (3 * self.hidden, self.hidden);
        GruScratch {
            acc_x: vec![0; g],
            acc_h: vec![0; self.w_h.rows()],
            gate_x: vec![0; g],
            gate_h: vec![0; g],
            pre: vec![0; g],
            activated: vec![0; g],
            reset_h: vec![0; h],
            acc_hn: vec![0; h],
            ..GruScratch::default()
        }
    }

    /// One time step.
    pub fn step(
        &self,
        isa: Isa,
        x: &[i8],
        state: &mut GruState,
        s: &mut GruScratch,
    ) -> Result<(), Error> {
        check_len("GRU input", self.input, x.len())?;
        // 1. Input contributions for r, z, n; recurrent ones for r, z (and n
        //    in reset-after mode) follow.
        let mut acc_x = core::mem::take(&mut s.acc_x);
        acc_x.resize(3 * self.hidden, 0);
        let result = self
            .w_x
            .matvec(isa, x, &mut acc_x)
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
        xs: &[i8],
        reverse: bool,
        state: &mut GruState,
        s: &mut GruScratch,
        on_step: &mut dyn FnMut(usize, &[i8]),
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

    /// A step given its input product `acc_x` (3H): the recurrent product
    /// and everything after it.
    fn recurrent_step(
        &self,
        isa: Isa,
        acc_x: &[i32],
        state: &mut GruState,
        s: &mut GruScratch,
    ) -> Result<(), Error> {
        check_len("GRU state h", self.hidden, state.h.len())?;
        let mut acc_h = core::mem::take(&mut s.acc_h);
        acc_h.resize(self.w_h.rows(), 0);
        let result = self
            .w_h
            .matvec(isa, &state.h, &mut acc_h)
            .and_then(|_| self.finish_step(isa, acc_x, &acc_h, state, s));
        s.acc_h = acc_h;
        result
    }

    /// One time step of `states.len()` independent streams, the products
    /// batched (weights read once); identical results to stepping each
    /// stream alone. In reset-before mode the `W_hn (r ⊙ h)` product stays
    /// per stream (it needs that stream's r first).
    pub fn step_batch(
        &self,
        isa: Isa,
        xs: &[i8],
        states: &mut [GruState],
        s: &mut GruScratch,
    ) -> Result<(), Error> {
        let (h, b) = (self.hidden, states.len());
        check_len("GRU batch input", b * self.input, xs.len())?;
        let mut hs = core::mem::take(&mut s.h_batch);
        hs.clear();
        for st in states.iter() {
            check_len("GRU state h", h, st.h.len())?;
            hs.extend_from_slice(&st.h);
        }
        let rec = self.w_h.rows();
        let (mut acc_x, mut acc_h) = (core::mem::take(&mut s.acc_x), core::mem::take(&mut s.acc_h));
        acc_x.resize(3 * h * b, 0);
        acc_h.resize(rec * b, 0);
        let mut result = self
            .w_x
            .matmul(isa, xs, b, &mut acc_x)
            .and_then(|_| self.w_h.matmul(isa, &hs, b, &mut acc_h));
        for (i, st) in states.iter_mut().enumerate() {
            if result.is_err() {
                break;
            }
            result = self.finish_step(
                isa,
                &acc_x[i * 3 * h..(i + 1) * 3 * h],
                &acc_h[i * rec..(i + 1) * rec],
                st,
                s,
            );
        }
        (s.acc_x, s.acc_h, s.h_batch) = (acc_x, acc_h, hs);
        result
    }

    /// Everything after the input and (r, z[, n]) recurrent products.
    pub(crate) fn finish_step(
        &self,
        isa: Isa,
        acc_x: &[i32],
        acc_h: &[i32],
        state: &mut GruState,
        s: &mut GruScratch,
    ) -> Result<(), Error> {
        let h = self.hidden;
        for buf in [&mut s.gate_x, &mut s.gate_h, &mut s.pre, &mut s.activated] {
            buf.resize(3 * h, 0);
        }
        s.reset_h.resize(h, 0);
        s.acc_hn.resize(h, 0);
        self.requant_x.apply(isa, acc_x, &mut s.gate_x)?;

        // 2. r and z.
        self.requant_h
            .apply_rows(isa, 0, &acc_h[..2 * h], &mut s.gate_h[..2 * h])?;
        for u in 0..2 * h {
            s.pre[u] = s.gate_x[u].saturating_add(s.gate_h[u]);
        }
        let (pre_rz, pre_n) = s.pre.split_at_mut(2 * h);
        let (act_rz, act_n) = s.activated.split_at_mut(2 * h);
        self.gate_activation[0].eval_i16(isa, &pre_rz[..h], &mut act_rz[..h])?;
        self.gate_activation[1].eval_i16(isa, &pre_rz[h..], &mut act_rz[h..])?;
        let (r_gate, z_gate) = act_rz.split_at(h);

        // 3. n's pre-activation.
        match (&self.w_hn, self.reset) {
            (Some(w_hn), ResetMode::Before) => {
                // r ⊙ h on h's grid: z_h + round(r · (h − z_h) / 2^15).
                for u in 0..h {
                    let centered = state.h[u] as i32 - self.h_zero_point;
                    let scaled = rounding_divide_by_pot(r_gate[u] as i32 * centered, 15);
                    s.reset_h[u] = saturate_i32_to_i8(scaled + self.h_zero_point);
                }
                w_hn.matvec(isa, &s.reset_h, &mut s.acc_hn)?;
                self.requant_h
                    .apply_rows(isa, 2 * h, &s.acc_hn, &mut s.gate_h[2 * h..])?;
                for u in 0..h {
                    pre_n[u] = s.gate_x[2 * h + u].saturating_add(s.gate_h[2 * h + u]);
                }
            }
            _ => {
                self.requant_h.apply_rows(
                    isa,
                    2 * h,
                    &acc_h[2 * h..3 * h],
                    &mut s.gate_h[2 * h..],
                )?;
                gru_reset_after(isa, &s.gate_x[2 * h..], &s.gate_h[2 * h..], r_gate, pre_n)?;
            }
        }
        self.gate_activation[2].eval_i16(isa, pre_n, act_n)?;

        // 4. h' = (1 − z) ⊙ n + z ⊙ h in units of 2^−30, then to int8.
        gru_mix(
            isa,
            z_gate,
            act_n,
            &mut state.h,
            self.h_to_q15,
            self.output_multiplier,
            self.h_zero_point,
        )?;
        Ok(())
    }
}
