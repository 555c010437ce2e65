//! The integer LSTM cell: shape, flags, weights, requantization, optional
//! LayerNorms, gate and cell tables, output grid.

use core::marker::PhantomData;

use crate::layers::{Activation, IntLstmCell};

use crate::format::codec::{invalid, Reader, Writer};
use crate::format::FormatError;

impl Writer {
    /// Writes a cell of either activation width (the width is the
    /// enclosing model's, stored once there).
    pub(in crate::format) fn lstm<A: Activation>(&mut self, c: &IntLstmCell<A>) {
        self.u32(c.input as u32);
        self.u32(c.hidden as u32);
        let flags = (c.gate_norm.is_some() as u8)
            | (c.cell_norm.is_some() as u8) << 1
            | (c.capped_input_gate as u8) << 2;
        self.u8(flags);
        self.u8(c.cell_fraction_bits as u8);
        self.matrix(&c.w_x);
        self.matrix(&c.w_h);
        self.requant(&c.requant_x);
        self.requant(&c.requant_h);
        if let Some(norms) = &c.gate_norm {
            for n in norms {
                self.norm(n);
            }
        }
        for t in &c.gate_activation {
            self.pwl(t);
        }
        if let Some(n) = &c.cell_norm {
            self.norm(n);
        }
        self.pwl(&c.cell_tanh);
        self.multiplier(c.output_multiplier);
        self.i32(c.h_zero_point);
    }
}

impl Reader<'_> {
    /// Reads a cell with activations of width `A` (which the enclosing
    /// model's header says), validated for that width.
    pub(in crate::format) fn lstm<A: Activation>(&mut self) -> Result<IntLstmCell<A>, FormatError> {
        let input = self.dim("LSTM input size")?;
        let hidden = self.dim("LSTM hidden size")?;
        let flags = self.u8("LSTM flags")?;
        if flags & !0b111 != 0 {
            return Err(invalid(alloc::format!(
                "LSTM flags {flags:#04b} has unknown bits"
            )));
        }
        let cell_fraction_bits = self.u8("LSTM cell fraction bits")? as u32;
        let g4 = 4 * hidden;
        let w_x = self.matrix("LSTM W_x", g4, input)?;
        let w_h = self.matrix("LSTM W_h", g4, hidden)?;
        let requant_x = self.requant("LSTM input requantization", g4)?;
        let requant_h = self.requant("LSTM recurrent requantization", g4)?;
        let gate_norm = if flags & 1 != 0 {
            Some([
                self.norm("LSTM gate LayerNorm", hidden)?,
                self.norm("LSTM gate LayerNorm", hidden)?,
                self.norm("LSTM gate LayerNorm", hidden)?,
                self.norm("LSTM gate LayerNorm", hidden)?,
            ])
        } else {
            None
        };
        let gate_activation = [
            self.pwl("LSTM input gate PWL")?,
            self.pwl("LSTM forget gate PWL")?,
            self.pwl("LSTM cell gate PWL")?,
            self.pwl("LSTM output gate PWL")?,
        ];
        let cell_norm = if flags & 2 != 0 {
            Some(self.norm("LSTM cell LayerNorm", hidden)?)
        } else {
            None
        };
        let cell = IntLstmCell {
            input: input as usize,
            hidden: hidden as usize,
            w_x,
            w_h,
            requant_x,
            requant_h,
            gate_norm,
            gate_activation,
            cell_fraction_bits,
            capped_input_gate: flags & 4 != 0,
            cell_norm,
            cell_tanh: self.pwl("LSTM cell tanh PWL")?,
            output_multiplier: self.multiplier("LSTM output multiplier")?,
            h_zero_point: self.i32("LSTM h zero point")?,
            activation: PhantomData,
        };
        cell.validate()?;
        Ok(cell)
    }
}
