//! The language model's embedding table: int8 rows, or from version 9 on
//! optionally 4-bit codes with a factor per row (each row's values are
//! `z + k_t · q`; the runtime expands them to int8 when reading).

use alloc::vec::Vec;

use crate::format::codec::{invalid, DType, Reader, Writer};
use crate::format::{holds, FormatError, Needs};
use crate::kernels::packed::nibble_value;
use crate::layers::IntEmbedding;

impl Writer {
    /// From version 9 on: bits (8 or 4); then the int8 table, or the zero
    /// point, the row factors and a `vocab × ⌈dim/2⌉` byte tensor of codes
    /// (even columns in the low nibbles).
    pub(in crate::format) fn embedding(&mut self, e: &IntEmbedding) {
        let four = e.four_bit();
        self.saw_four_bit |= four.is_some() && !self.matrix_bits;
        let dims = [e.vocab() as u32, e.dim() as u32];
        match (self.matrix_bits, four, e.four_bit_codes()) {
            (true, Some(f), Some(codes)) => {
                self.u8(4);
                self.i32(f.zero_point);
                self.tensor_i32(&[e.vocab() as u32], &f.factors);
                self.u32(e.dim() as u32);
                self.tensor_u8(
                    &[dims[0], e.dim().div_ceil(2) as u32],
                    &nibble_rows(&codes, e.dim()),
                );
            }
            (true, ..) => {
                self.u8(8);
                self.tensor_i8(&dims, e.table());
            }
            (false, ..) => self.tensor_i8(&dims, e.table()),
        }
    }
}

/// Rows of `cols` values in [−8, 7] as nibble pairs, `⌈cols/2⌉` bytes per
/// row, even columns in the low nibbles (odd rows end in a zero nibble).
pub(in crate::format) fn nibble_rows(values: &[i8], cols: usize) -> Vec<u8> {
    values
        .chunks(cols)
        .flat_map(|row| row.chunks(2))
        .map(|pair| (pair[0] as u8 & 0x0F) | (pair.get(1).map_or(0, |&h| h as u8) << 4))
        .collect()
}

impl Reader<'_> {
    /// `rows × ⌈cols/2⌉` nibble-pair bytes back to `rows × cols` values
    /// (the padding nibble of an odd row must be zero).
    pub(in crate::format) fn nibble_values(
        &mut self,
        what: &str,
        rows: u32,
        cols: u32,
    ) -> Result<(u32, Vec<i8>), FormatError> {
        let (dims, data) = self.tensor(what, DType::U8, &[rows, cols.div_ceil(2)])?;
        let c = cols as usize;
        let mut values = Vec::with_capacity(dims[0] as usize * c);
        for row in data.chunks(c.div_ceil(2).max(1)) {
            for (k, &b) in row.iter().enumerate() {
                values.push(nibble_value(b & 0x0F));
                if 2 * k + 1 < c {
                    values.push(nibble_value(b >> 4));
                } else if b >> 4 != 0 {
                    return Err(invalid(alloc::format!(
                        "{what}: the padding nibble of a row of odd length must be zero"
                    )));
                }
            }
        }
        Ok((dims[0], values))
    }

    pub(in crate::format) fn embedding(&mut self) -> Result<IntEmbedding, FormatError> {
        let bits = if holds(self.version(), Needs::WeightBits) {
            self.u8("embedding bits")?
        } else {
            8
        };
        match bits {
            8 => {
                let (dims, table) = self.i8_slab("embedding", &[0, 0])?;
                Ok(IntEmbedding::new(
                    dims[0] as usize,
                    dims[1] as usize,
                    table,
                )?)
            }
            4 => {
                let zero_point = self.i32("embedding zero point")?;
                let factors = self.i32s("embedding row factors", &[0])?;
                let dim = self.dim("embedding size")?;
                let (vocab, codes) =
                    self.nibble_values("embedding codes", factors.len() as u32, dim)?;
                Ok(IntEmbedding::from_four_bit(
                    vocab as usize,
                    dim as usize,
                    &codes,
                    factors,
                    zero_point,
                )?)
            }
            b => Err(invalid(alloc::format!(
                "embedding: {b} bits per value (the runtime reads 8 or 4)"
            ))),
        }
    }
}
