//! One stream on two cores (`std` only).
//!
//! Each of a cell's two products is cut by rows into two matrices at load
//! time, so each core streams — and, at H ≤ ~1024, keeps in its own L2 —
//! half of every weight matrix. Per step the helper thread
//! ([`crate::kernels::threads::Helper`]) computes the bottom halves of
//! `W_x · x` and `W_h · h` while the caller's thread computes the top
//! halves; the cell's own tail (requantization, activations, cell update)
//! then runs on the caller's thread. The int32 products are exact, so the
//! result is identical to [`IntLstmCell::step`] / [`IntGruCell::step`]
//! (tested).

use alloc::vec::Vec;

use crate::error::{check_len, Error};
use crate::kernels::threads::Helper;
use crate::kernels::{Isa, PackedMatrix};
use crate::layers::cell::IntCell;
use crate::layers::gru::{GruScratch, GruState, IntGruCell};
use crate::layers::lstm::{IntLstmCell, LstmScratch, LstmState};

/// A cell whose step is two products, `W_x · x` and `W_h · h`, followed by
/// a tail that reads only their int32 results: what [`TwoThreadCell`]
/// splits between two cores.
pub trait TwoProductCell: IntCell<Act = i8> {
    /// `W_x`.
    fn input_weights(&self) -> &PackedMatrix;
    /// `W_h`.
    fn recurrent_weights(&self) -> &PackedMatrix;
    /// Everything after the two products.
    fn finish_products(
        &self,
        isa: Isa,
        acc_x: &[i32],
        acc_h: &[i32],
        state: &mut Self::State,
        s: &mut Self::Scratch,
    ) -> Result<(), Error>;
}

impl TwoProductCell for IntLstmCell {
    fn input_weights(&self) -> &PackedMatrix {
        &self.w_x
    }
    fn recurrent_weights(&self) -> &PackedMatrix {
        &self.w_h
    }
    fn finish_products(
        &self,
        isa: Isa,
        acc_x: &[i32],
        acc_h: &[i32],
        state: &mut LstmState,
        s: &mut LstmScratch,
    ) -> Result<(), Error> {
        check_len("LSTM state c", self.hidden, state.c.len())?;
        IntLstmCell::finish_products(self, isa, acc_x, acc_h, state, s)
    }
}

impl TwoProductCell for IntGruCell {
    fn input_weights(&self) -> &PackedMatrix {
        &self.w_x
    }
    fn recurrent_weights(&self) -> &PackedMatrix {
        &self.w_h
    }
    fn finish_products(
        &self,
        isa: Isa,
        acc_x: &[i32],
        acc_h: &[i32],
        state: &mut GruState,
        s: &mut GruScratch,
    ) -> Result<(), Error> {
        self.finish_step(isa, acc_x, acc_h, state, s)
    }
}

/// A matrix cut by rows into two packed matrices.
#[derive(Debug)]
struct Halves {
    top: PackedMatrix,
    bottom: PackedMatrix,
}

impl Halves {
    fn new(m: &PackedMatrix) -> Result<Self, Error> {
        let (rows, cols) = (m.rows(), m.cols());
        if rows < 2 {
            return Err(Error::InvalidParameter {
                what: "two threads need a matrix of at least two rows",
            });
        }
        // At a 16-row block boundary where there is one, so neither half pads.
        let split = (rows / 2).next_multiple_of(16).min(rows - 1);
        let w = m.to_row_major();
        Ok(Halves {
            top: PackedMatrix::from_row_major_bits(
                m.weight_bits(),
                split,
                cols,
                &w[..split * cols],
            )?,
            bottom: PackedMatrix::from_row_major_bits(
                m.weight_bits(),
                rows - split,
                cols,
                &w[split * cols..],
            )?,
        })
    }

    fn split(&self) -> usize {
        self.top.rows()
    }
}

/// A cell stepped by two threads (see the module docs). `step` takes
/// `&mut self`: one helper serves one caller at a time.
#[derive(Debug)]
pub struct TwoThreadCell<C: TwoProductCell> {
    cell: C,
    x: Halves,
    h: Halves,
    helper: Helper,
    acc_x: Vec<i32>,
    acc_h: Vec<i32>,
}

impl<C: TwoProductCell> TwoThreadCell<C> {
    /// Splits the cell's matrices and starts the helper thread.
    pub fn new(cell: C) -> Result<Self, Error> {
        Ok(TwoThreadCell {
            x: Halves::new(cell.input_weights())?,
            h: Halves::new(cell.recurrent_weights())?,
            cell,
            helper: Helper::new()?,
            acc_x: Vec::new(),
            acc_h: Vec::new(),
        })
    }

    /// The cell.
    pub fn cell(&self) -> &C {
        &self.cell
    }

    /// One time step, identical to the cell's own `step`.
    pub fn step(
        &mut self,
        isa: Isa,
        x: &[i8],
        state: &mut C::State,
        s: &mut C::Scratch,
    ) -> Result<(), Error> {
        let (wx, wh) = (self.cell.input_weights(), self.cell.recurrent_weights());
        check_len("two-thread step input", wx.cols(), x.len())?;
        let h = C::h(state);
        check_len("two-thread step state h", wh.cols(), h.len())?;
        self.acc_x.resize(wx.rows(), 0);
        self.acc_h.resize(wh.rows(), 0);
        let (x_top, x_bottom) = self.acc_x.split_at_mut(self.x.split());
        let (h_top, h_bottom) = self.acc_h.split_at_mut(self.h.split());
        let (halves_x, halves_h) = (&self.x, &self.h);
        let mut helper_result = Ok(());
        let mut main_result = Ok(());
        let mut bottom = || {
            helper_result = halves_x
                .bottom
                .matvec(isa, x, x_bottom)
                .and_then(|_| halves_h.bottom.matvec(isa, h, h_bottom));
        };
        self.helper.join(&mut bottom, || {
            main_result = halves_x
                .top
                .matvec(isa, x, x_top)
                .and_then(|_| halves_h.top.matvec(isa, h, h_top));
        })?;
        helper_result?;
        main_result?;
        self.cell
            .finish_products(isa, &self.acc_x, &self.acc_h, state, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::ResetMode;
    use crate::test_models::{gru, lstm};
    use alloc::vec;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    #[test]
    fn two_threads_step_exactly_as_one() {
        let mut rng = StdRng::seed_from_u64(47);
        let (input, hidden) = (37, 40);
        let xs: Vec<i8> = (0..30 * input).map(|_| rng.gen()).collect();
        for isa in Isa::available() {
            for (ln, capped) in [(false, false), (true, true)] {
                let cell = lstm(&mut rng, input, hidden, ln, capped);
                let (mut one, mut s1) = (cell.zero_state(), LstmScratch::default());
                let mut two = TwoThreadCell::new(cell.clone()).unwrap();
                let (mut st2, mut s2) = (cell.zero_state(), LstmScratch::default());
                for x in xs.chunks_exact(input) {
                    cell.step(isa, x, &mut one, &mut s1).unwrap();
                    two.step(isa, x, &mut st2, &mut s2).unwrap();
                    assert_eq!(st2, one, "LSTM {}", isa.name());
                }
                assert_ne!(one, cell.zero_state());
                assert!(two.step(isa, &xs[..3], &mut st2, &mut s2).is_err());
                let mut short = cell.zero_state();
                short.c.pop();
                assert!(two.step(isa, &xs[..input], &mut short, &mut s2).is_err());
            }
            for reset in [ResetMode::After, ResetMode::Before] {
                let cell = gru(&mut rng, input, hidden, reset);
                let (mut one, mut s1) = (cell.zero_state(), GruScratch::default());
                let mut two = TwoThreadCell::new(cell.clone()).unwrap();
                let (mut st2, mut s2) = (cell.zero_state(), GruScratch::default());
                for x in xs.chunks_exact(input) {
                    cell.step(isa, x, &mut one, &mut s1).unwrap();
                    two.step(isa, x, &mut st2, &mut s2).unwrap();
                    assert_eq!(st2, one, "GRU {reset:?} {}", isa.name());
                }
                let mut short = GruState {
                    h: vec![0; hidden - 1],
                };
                assert!(two.step(isa, &xs[..input], &mut short, &mut s2).is_err());
            }
        }
    }
}
