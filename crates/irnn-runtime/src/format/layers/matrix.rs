//! Weight matrices (int8, row-major on disk, packed on reading) and their
//! per-row requantization (bias, multiplier, zero point).

use alloc::vec::Vec;

use crate::fixed_point::QuantizedMultiplier;
use crate::kernels::{PackedMatrix, RowRequant};

use crate::format::codec::{Reader, Writer};
use crate::format::FormatError;

impl Writer {
    pub(in crate::format) fn matrix(&mut self, m: &PackedMatrix) {
        self.tensor_i8(&[m.rows() as u32, m.cols() as u32], &m.to_row_major());
    }

    pub(in crate::format) fn requant(&mut self, r: &RowRequant) {
        let rows = r.rows();
        let bias: Vec<i32> = (0..rows).map(|i| r.bias(i)).collect();
        let mant: Vec<i32> = (0..rows).map(|i| r.multiplier(i).mantissa).collect();
        let shift: Vec<i32> = (0..rows).map(|i| r.multiplier(i).shift).collect();
        self.tensor_i32(&[rows as u32], &bias);
        self.tensor_i32(&[rows as u32], &mant);
        self.tensor_i32(&[rows as u32], &shift);
        self.i32(r.zero_point());
    }
}

impl Reader<'_> {
    pub(in crate::format) fn matrix(
        &mut self,
        what: &str,
        rows: u32,
        cols: u32,
    ) -> Result<PackedMatrix, FormatError> {
        let (dims, data) = self.i8s(what, &[rows, cols])?;
        Ok(PackedMatrix::from_row_major(
            dims[0] as usize,
            dims[1] as usize,
            &data,
        )?)
    }

    pub(in crate::format) fn requant(
        &mut self,
        what: &str,
        rows: u32,
    ) -> Result<RowRequant, FormatError> {
        let bias = self.i32s(what, &[rows])?;
        let mant = self.i32s(what, &[rows])?;
        let shift = self.i32s(what, &[rows])?;
        let zp = self.i32(what)?;
        let mults = mant
            .iter()
            .zip(&shift)
            .map(|(&m, &s)| QuantizedMultiplier::new(m, s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RowRequant::new(bias, &mults, zp)?)
    }
}
