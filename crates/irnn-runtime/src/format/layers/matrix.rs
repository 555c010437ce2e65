//! Weight matrices and their per-row requantization (bias, multiplier,
//! zero point). In the compact layout a matrix is row-major and packed on
//! reading; in the in-place layout it is stored packed (64-byte aligned,
//! with its row sums) and the requantization with the shifts split as the
//! kernels read them.

use alloc::vec::Vec;

use crate::fixed_point::QuantizedMultiplier;
use crate::kernels::{PackedMatrix, RowRequant};

use crate::format::codec::{Reader, Writer};
use crate::format::{FormatError, Layout};
use crate::kernels::packed::{COL_GROUP, ROW_BLOCK};

impl Writer {
    pub(in crate::format) fn matrix(&mut self, m: &PackedMatrix) {
        if self.layout == Layout::Compact {
            self.tensor_i8(&[m.rows() as u32, m.cols() as u32], &m.to_row_major());
            return;
        }
        self.u32(m.rows() as u32);
        self.u32(m.cols() as u32);
        self.align(64);
        for line in m.lines() {
            self.bytes.extend(line.0.iter().map(|&w| w as u8));
        }
        for &s in m.row_sums_x128() {
            self.i32(s);
        }
    }

    pub(in crate::format) fn requant(&mut self, r: &RowRequant) {
        let rows = r.rows();
        let bias: Vec<i32> = (0..rows).map(|i| r.bias(i)).collect();
        let mant: Vec<i32> = (0..rows).map(|i| r.multiplier(i).mantissa).collect();
        let shift: Vec<i32> = (0..rows).map(|i| r.multiplier(i).shift).collect();
        self.tensor_i32(&[rows as u32], &bias);
        self.tensor_i32(&[rows as u32], &mant);
        match self.layout {
            Layout::Compact => self.tensor_i32(&[rows as u32], &shift),
            Layout::InPlace => {
                self.tensor_i32(&[rows as u32], r.left_shifts());
                self.tensor_i32(&[rows as u32], r.right_shifts());
            }
        }
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
        if self.is_in_place_layout() {
            return self.packed_matrix(what, rows, cols);
        }
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
        if self.is_in_place_layout() {
            let bias = self.i32_slab(what, &[rows])?;
            let mantissa = self.i32_slab(what, &[rows])?;
            let left = self.i32_slab(what, &[rows])?;
            let right = self.i32_slab(what, &[rows])?;
            let zp = self.i32(what)?;
            return Ok(RowRequant::from_parts(bias, mantissa, left, right, zp)?);
        }
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

impl Reader<'_> {
    /// A matrix in the in-place layout: rows, cols, padding to 64 bytes,
    /// the packed lines, the row sums. `rows`/`cols` of 0 accept any.
    fn packed_matrix(
        &mut self,
        what: &str,
        rows: u32,
        cols: u32,
    ) -> Result<PackedMatrix, FormatError> {
        let r = self.dim(what)?;
        let c = self.dim(what)?;
        if (rows != 0 && r != rows) || (cols != 0 && c != cols) {
            return Err(FormatError::ShapeMismatch {
                what: what.into(),
                expected: alloc::vec![rows, cols],
                found: alloc::vec![r, c],
            });
        }
        let (r, c) = (r as usize, c as usize);
        let (blocks, groups) = (r.div_ceil(ROW_BLOCK), c.div_ceil(COL_GROUP));
        self.align(64, what)?;
        let lines = self.lines(blocks * groups, what)?;
        let sums = self.raw_i32s(blocks * ROW_BLOCK, what)?;
        Ok(PackedMatrix::from_packed(r, c, lines, sums)?)
    }
}
