//! The integer GRU cell (either reset convention): shape, weights,
//! requantization, gate tables, output grid.

use crate::layers::{IntGruCell, ResetMode};

use crate::format::codec::{invalid, Reader, Writer};
use crate::format::FormatError;

impl Writer {
    pub(in crate::format) fn gru(&mut self, c: &IntGruCell) {
        self.u32(c.input as u32);
        self.u32(c.hidden as u32);
        self.u8(match c.reset {
            ResetMode::After => 0,
            ResetMode::Before => 1,
        });
        self.matrix(&c.w_x);
        self.matrix(&c.w_h);
        if let Some(m) = &c.w_hn {
            self.matrix(m);
        }
        self.requant(&c.requant_x);
        self.requant(&c.requant_h);
        for t in &c.gate_activation {
            self.pwl(t);
        }
        self.multiplier(c.h_to_q15);
        self.multiplier(c.output_multiplier);
        self.i32(c.h_zero_point);
    }
}

impl Reader<'_> {
    pub(in crate::format) fn gru(&mut self) -> Result<IntGruCell, FormatError> {
        let input = self.dim("GRU input size")?;
        let hidden = self.dim("GRU hidden size")?;
        let reset = match self.u8("GRU reset mode")? {
            0 => ResetMode::After,
            1 => ResetMode::Before,
            m => {
                return Err(invalid(alloc::format!(
                    "GRU reset mode {m} (must be 0 or 1)"
                )))
            }
        };
        let w_x = self.matrix("GRU W_x", 3 * hidden, input)?;
        let (w_h, w_hn) = match reset {
            ResetMode::After => (self.matrix("GRU W_h", 3 * hidden, hidden)?, None),
            ResetMode::Before => (
                self.matrix("GRU W_h (r, z)", 2 * hidden, hidden)?,
                Some(self.matrix("GRU W_hn", hidden, hidden)?),
            ),
        };
        let cell = IntGruCell {
            input: input as usize,
            hidden: hidden as usize,
            reset,
            w_x,
            w_h,
            w_hn,
            requant_x: self.requant("GRU input requantization", 3 * hidden)?,
            requant_h: self.requant("GRU recurrent requantization", 3 * hidden)?,
            gate_activation: [
                self.pwl("GRU reset gate PWL")?,
                self.pwl("GRU update gate PWL")?,
                self.pwl("GRU candidate PWL")?,
            ],
            h_to_q15: self.multiplier("GRU h to Q0.15 multiplier")?,
            output_multiplier: self.multiplier("GRU output multiplier")?,
            h_zero_point: self.i32("GRU h zero point")?,
        };
        cell.validate()?;
        Ok(cell)
    }
}
