//! The runtime's error type. Every check on untrusted input (a model file, a
//! table built by a caller) reports through it rather than panicking.

use core::fmt;

/// Why a runtime operation refused its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A tensor or argument has the wrong length for the shape it claims.
    ShapeMismatch {
        /// What was being checked.
        what: &'static str,
        /// The length the shape requires.
        expected: usize,
        /// The length that was given.
        found: usize,
    },
    /// A dimension exceeds what the kernels can accumulate exactly.
    DimensionTooLarge {
        /// Which dimension.
        what: &'static str,
        /// Its value.
        value: usize,
        /// The largest value accepted.
        max: usize,
    },
    /// A token id outside the vocabulary.
    UnknownToken {
        /// The token id.
        token: u32,
        /// The vocabulary size.
        vocab: usize,
    },
    /// A parameter is outside its documented range.
    InvalidParameter {
        /// Which parameter, and the rule it broke.
        what: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ShapeMismatch {
                what,
                expected,
                found,
            } => write!(f, "{what}: expected length {expected}, found {found}"),
            Error::DimensionTooLarge { what, value, max } => {
                write!(f, "{what} is {value}, larger than the maximum {max}")
            }
            Error::UnknownToken { token, vocab } => {
                write!(
                    f,
                    "token id {token} is outside the vocabulary of {vocab} tokens"
                )
            }
            Error::InvalidParameter { what } => write!(f, "invalid parameter: {what}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// Checks that `found == expected`, naming the tensor otherwise.
pub(crate) fn check_len(what: &'static str, expected: usize, found: usize) -> Result<(), Error> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            what,
            expected,
            found,
        })
    }
}

/// Checks that a `rows × cols` tensor given as `data_len` elements has the
/// right length, without overflowing on hostile sizes.
pub(crate) fn check_matrix_len(
    what: &'static str,
    rows: usize,
    cols: usize,
    data_len: usize,
) -> Result<(), Error> {
    let len = rows.checked_mul(cols).ok_or(Error::DimensionTooLarge {
        what,
        value: usize::MAX,
        max: isize::MAX as usize,
    })?;
    check_len(what, len, data_len)
}
