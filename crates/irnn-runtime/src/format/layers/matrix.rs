//! Weight matrices and their per-row requantization (bias, multiplier,
//! zero point). In the compact layout a matrix is row-major and packed on
//! reading; in the in-place layout it is stored packed (64-byte aligned,
//! with its row sums) and the requantization with the shifts split as the
//! kernels read them.

use alloc::vec::Vec;

use crate::fixed_point::QuantizedMultiplier;
use crate::kernels::{PackedMatrix, RowRequant};

use crate::format::codec::{invalid, Reader, Writer};
use crate::format::{holds, FormatError, Layout, Needs};
use crate::kernels::packed::{WeightBits, COL_GROUP, ROW_BLOCK};

impl Writer {
    /// A matrix: from version 9 on its bits per weight first; then, in the
    /// compact layout, its weights row-major (4-bit: the column count, then
    /// each row as `⌈cols/2⌉` bytes, even columns in the low nibbles), or,
    /// in the in-place layout, its packed lines and row sums.
    pub(in crate::format) fn matrix(&mut self, m: &PackedMatrix) {
        let four = m.weight_bits() == WeightBits::Four;
        self.saw_four_bit |= four && !self.matrix_bits;
        if self.matrix_bits {
            self.u8(m.weight_bits().bits() as u8);
        }
        if self.layout == Layout::Compact {
            if four {
                let (rows, cols) = (m.rows(), m.cols());
                self.u32(cols as u32);
                let packed = super::embedding::nibble_rows(&m.to_row_major(), cols);
                self.tensor_u8(&[rows as u32, cols.div_ceil(2) as u32], &packed);
            } else {
                self.tensor_i8(&[m.rows() as u32, m.cols() as u32], &m.to_row_major());
            }
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
        let bits = if holds(self.version(), Needs::WeightBits) {
            let b = self.u8(what)?;
            WeightBits::from_bits(b as u32).ok_or_else(|| {
                invalid(alloc::format!(
                    "{what}: {b} bits per weight (the runtime reads 8 or 4)"
                ))
            })?
        } else {
            WeightBits::Eight
        };
        if self.is_in_place_layout() {
            return self.packed_matrix(what, bits, rows, cols);
        }
        if bits == WeightBits::Four {
            return self.nibble_matrix(what, rows, cols);
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
        bits: WeightBits,
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
        let groups = c.div_ceil(COL_GROUP);
        let line_groups = match bits {
            WeightBits::Eight => groups,
            WeightBits::Four => groups.div_ceil(2),
        };
        let blocks = r.div_ceil(ROW_BLOCK);
        self.align(64, what)?;
        let lines = self.lines(blocks * line_groups, what)?;
        let sums = self.raw_i32s(blocks * ROW_BLOCK, what)?;
        Ok(PackedMatrix::from_packed(bits, r, c, lines, sums)?)
    }

    /// A 4-bit matrix in the compact layout: the column count, then a
    /// `rows × ⌈cols/2⌉` byte tensor of nibble pairs (an odd row's last
    /// high nibble must be zero).
    fn nibble_matrix(
        &mut self,
        what: &str,
        rows: u32,
        cols: u32,
    ) -> Result<PackedMatrix, FormatError> {
        let c = self.dim(what)?;
        if cols != 0 && c != cols {
            return Err(FormatError::ShapeMismatch {
                what: what.into(),
                expected: alloc::vec![rows, cols],
                found: alloc::vec![rows, c],
            });
        }
        let (r, weights) = self.nibble_values(what, rows, c)?;
        let (r, c) = (r as usize, c as usize);
        Ok(PackedMatrix::from_row_major_bits(
            WeightBits::Four,
            r,
            c,
            &weights,
        )?)
    }
}
