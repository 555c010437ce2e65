//! Why a model file was rejected: every failure says what was wrong and
//! where.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::{NEWEST_VERSION, OLDEST_VERSION};

/// Why a model file was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The file ended early.
    Truncated {
        /// What was being read.
        what: String,
        /// Bytes needed.
        needed: u64,
        /// Bytes left.
        available: u64,
    },
    /// Not an irnn model file.
    BadMagic,
    /// Written by an incompatible version.
    UnsupportedVersion(u32),
    /// The payload's CRC-32 does not match the stored one.
    ChecksumMismatch {
        /// Stored checksum.
        stored: u32,
        /// Checksum of the bytes read.
        computed: u32,
    },
    /// A tensor's stored shape differs from what the topology requires.
    ShapeMismatch {
        /// The tensor.
        what: String,
        /// Expected dimensions.
        expected: Vec<u32>,
        /// Stored dimensions.
        found: Vec<u32>,
    },
    /// A dimension or count beyond the accepted maximum.
    DimensionTooLarge {
        /// What was being read.
        what: String,
        /// The stored value.
        value: u64,
        /// The maximum.
        max: u64,
    },
    /// A tag, type or parameter with a value the format does not allow.
    InvalidValue {
        /// What was being read, and the rule.
        what: String,
    },
    /// Bytes left after the model.
    TrailingBytes(u64),
    /// The parts read do not form a valid model.
    Model(crate::Error),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Truncated {
                what,
                needed,
                available,
            } => write!(
                f,
                "model file is truncated: reading {what} needs {needed} bytes, {available} left"
            ),
            FormatError::BadMagic => write!(f, "not an irnn model file (bad magic bytes)"),
            FormatError::UnsupportedVersion(v) => write!(
                f,
                "model file format version {v} is not supported (this build reads versions {OLDEST_VERSION} to {NEWEST_VERSION})"
            ),
            FormatError::ChecksumMismatch { stored, computed } => write!(
                f,
                "model file is corrupt: checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            FormatError::ShapeMismatch {
                what,
                expected,
                found,
            } => write!(f, "tensor {what}: expected shape {expected:?}, found {found:?}"),
            FormatError::DimensionTooLarge { what, value, max } => {
                write!(f, "{what} is {value}, larger than the maximum {max}")
            }
            FormatError::InvalidValue { what } => write!(f, "invalid model file: {what}"),
            FormatError::TrailingBytes(n) => {
                write!(f, "model file has {n} unexpected bytes after the model")
            }
            FormatError::Model(e) => write!(f, "model file describes an invalid model: {e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FormatError {}

impl From<crate::Error> for FormatError {
    fn from(e: crate::Error) -> Self {
        FormatError::Model(e)
    }
}
