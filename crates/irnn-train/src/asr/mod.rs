//! The speech-recognition task (any corpus: manifests or connected digits): a CTC acoustic
//! model of log-mel frames → optional convolution → stacked bidirectional
//! LSTM layers → linear, with an optional attention decoder trained jointly,
//! and the way to the integer model. The same file names as [`crate::lm`]:
//!
//! * [`model`] — the acoustic model (CTC head); [`attention`] — the
//!   attention decoder.
//! * [`data`] — where utterances come from, and their features.
//! * [`units`] — what the model writes: characters or words, and the
//!   normalisation of transcripts.
//! * [`train`] — minibatch training with augmentation.
//! * [`checkpoint`] — the acoustic model in the shared checkpoint codec.
//! * [`calibrate`] — the ranges of every activation (post-training
//!   quantization).
//! * [`export`] — the float model plus its ranges → the runtime's
//!   [`irnn_runtime::speech::IntSpeechModel`].
//! * [`qat`] — quantization-aware training: the forward pass is the integer
//!   model.
//! * [`decode`] — transcripts from the integer model's int32 scores (greedy
//!   or beam CTC, attention beam search).
//! * [`eval`] — word and character error rates.

pub mod attention;
pub mod calibrate;
pub mod checkpoint;
pub mod data;
pub mod decode;
pub mod eval;
pub mod export;
pub mod model;
pub mod qat;
pub mod train;
pub mod units;

pub use model::{stack_frames, AsrConfig, AsrModel};
