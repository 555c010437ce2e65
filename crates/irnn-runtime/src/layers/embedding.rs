//! int8 embedding lookup. The table shares one quantizer (scale, zero point)
//! with the first recurrent layer's input, so a looked-up row is that
//! layer's `x` as is.

use crate::error::{check_matrix_len, Error};
use crate::slab::Slab;

/// An int8 embedding table, `vocab × dim`, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntEmbedding {
    vocab: usize,
    dim: usize,
    table: Slab<i8>,
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
        Ok(Self { vocab, dim, table })
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
