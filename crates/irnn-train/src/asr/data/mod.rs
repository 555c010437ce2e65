//! Where utterances come from.
//!
//! * [`fsdd`] — connected digits joined from the Free Spoken Digit Dataset.

pub mod fsdd;
