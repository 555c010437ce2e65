//! int8 embedding lookup. The table shares one quantizer (scale, zero point)
//! with the first recurrent layer's input, so a looked-up row is that
//! layer's `x` as is.
//!
//! A table may also be stored at 4 bits ([`IntEmbedding::from_four_bit`]):
//! row `t` holds codes `q ∈ [−8, 7]` and an integer factor `k_t`, and its
//! int8 values are `z + k_t · q` (z the grid's zero point). The file is then
//! half the size; the int8 rows are expanded once when loaded, so a lookup
//! stays a slice of the table.

use crate::error::{check_matrix_len, Error};
use crate::slab::Slab;

/// An int8 embedding table, `vocab × dim`, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntEmbedding {
    vocab: usize,
    dim: usize,
    table: Slab<i8>,
    four_bit: Option<alloc::boxed::Box<FourBitRows>>,
}

/// How a table read from 4-bit codes was expanded: what writes it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FourBitRows {
    /// The grid's zero point `z`.
    pub zero_point: i32,
    /// Each row's factor `k_t ≥ 1`.
    pub factors: alloc::vec::Vec<i32>,
}

impl IntEmbedding {
    /// A table of `vocab` rows of `dim` values.
    pub fn new(vocab: usize, dim: usize, table: impl Into<Slab<i8>>) -> Result<Self, Error> {
        let table = table.into();
        if vocab == 0 || dim == 0 {
            return Err(Error::InvalidParameter {
                what: "an embedding needs at least one token and one dimension",
            });
        }
        check_matrix_len("embedding table", vocab, dim, table.len())?;
        Ok(Self {
            vocab,
            dim,
            table,
            four_bit: None,
        })
    }

    /// A table from 4-bit codes (`vocab × dim`, each in [−8, 7]), one
    /// factor per row and the zero point: values `z + k_t · q`, each of
    /// which must be an int8.
    pub fn from_four_bit(
        vocab: usize,
        dim: usize,
        codes: &[i8],
        factors: alloc::vec::Vec<i32>,
        zero_point: i32,
    ) -> Result<Self, Error> {
        check_matrix_len("embedding codes", vocab, dim, codes.len())?;
        crate::error::check_len("embedding row factors", vocab, factors.len())?;
        let mut table = alloc::vec::Vec::with_capacity(codes.len());
        for (row, &k) in codes.chunks(dim.max(1)).zip(&factors) {
            for &q in row {
                let v = zero_point as i64 + k as i64 * q as i64;
                if !(-8..=7).contains(&q) || k < 1 || !(-128..=127).contains(&v) {
                    return Err(Error::InvalidParameter {
                        what: "a 4-bit embedding needs codes in [-8, 7], factors of at least 1 and values z + k·q within int8",
                    });
                }
                table.push(v as i8);
            }
        }
        let mut e = Self::new(vocab, dim, table)?;
        e.four_bit = Some(alloc::boxed::Box::new(FourBitRows {
            zero_point,
            factors,
        }));
        Ok(e)
    }

    /// The 4-bit form this table was built from, if any.
    pub fn four_bit(&self) -> Option<&FourBitRows> {
        self.four_bit.as_deref()
    }

    /// The 4-bit codes of a table built by [`from_four_bit`](Self::from_four_bit)
    /// (`(value − z) / k_t`, exact by construction).
    pub fn four_bit_codes(&self) -> Option<alloc::vec::Vec<i8>> {
        let f = self.four_bit.as_deref()?;
        let dim = self.dim;
        Some(
            self.table
                .iter()
                .enumerate()
                .map(|(i, &v)| ((v as i32 - f.zero_point) / f.factors[i / dim]) as i8)
                .collect(),
        )
    }

    /// Number of tokens.
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// Embedding size.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The whole table.
    pub fn table(&self) -> &[i8] {
        &self.table
    }

    /// The row of `token`, or an error naming the token if it is out of range.
    pub fn lookup(&self, token: u32) -> Result<&[i8], Error> {
        let t = token as usize;
        if t >= self.vocab {
            return Err(Error::UnknownToken {
                token,
                vocab: self.vocab,
            });
        }
        Ok(&self.table[t * self.dim..(t + 1) * self.dim])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_bit_rows_expand_to_zero_point_plus_factor_times_code() {
        let e = IntEmbedding::from_four_bit(2, 3, &[-8, 0, 7, 1, -1, 2], alloc::vec![2, 5], -4)
            .unwrap();
        assert_eq!(e.lookup(0).unwrap(), &[-20, -4, 10]);
        assert_eq!(e.lookup(1).unwrap(), &[1, -9, 6]);
        assert_eq!(e.four_bit_codes().unwrap(), alloc::vec![-8, 0, 7, 1, -1, 2]);
        assert_eq!(
            IntEmbedding::new(1, 1, alloc::vec![3]).unwrap().four_bit(),
            None
        );
    }

    #[test]
    fn four_bit_rows_out_of_range_are_refused() {
        // A code outside [−8, 7], a factor of 0, a value beyond int8, a short factor list.
        assert!(IntEmbedding::from_four_bit(1, 2, &[8, 0], alloc::vec![1], 0).is_err());
        assert!(IntEmbedding::from_four_bit(1, 2, &[1, 0], alloc::vec![0], 0).is_err());
        assert!(IntEmbedding::from_four_bit(1, 2, &[7, 0], alloc::vec![19], 0).is_err());
        assert!(IntEmbedding::from_four_bit(2, 1, &[1, 0], alloc::vec![1], 0).is_err());
    }
}
