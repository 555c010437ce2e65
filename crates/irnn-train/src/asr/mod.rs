//! Speech recognition (connected digits), float side: an acoustic model of
//! stacked frames → bidirectional LSTM layers → linear → CTC, trained with
//! the hand-written backward passes of [`crate::nn`] and gradient-checked
//! like the language models.
//!
//! Status: the CTC acoustic model and its training step exist and are
//! tested; the attention decoder, QAT and the integer conversion of this
//! model are not written yet (docs/ARCHITECTURE.md).

pub mod attention;
pub mod beam;
pub mod checkpoint;
pub mod data;
pub mod model;
pub mod qat;
pub mod quantize;
pub mod train;

pub use model::{stack_frames, AsrConfig, AsrModel, DIGIT_CLASSES};
