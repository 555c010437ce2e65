//! The language-model task: a float model, its data, its training, and the
//! way to the integer model.
//!
//! * [`model`] — embedding → stacked LSTM/GRU → linear, with backward passes.
//! * [`data`] — corpora, vocabularies and parallel-stream batches.
//! * [`train`] — truncated-BPTT training with exact resumption.
//! * [`checkpoint`] — the language model in the shared checkpoint codec.
//! * [`calibrate`](mod@calibrate) — the ranges of every activation (post-training
//!   quantization).
//! * [`export`] — the float model plus its ranges → the runtime's
//!   [`irnn_runtime::model::IntLanguageModel`].
//! * [`gptq`] — data-aware rounding of the recurrent matrices (GPTQ) before
//!   PTQ or QAT.
//! * [`qat`] — quantization-aware training: the forward pass *is* the
//!   integer runtime, the backward pass the float one at the integer
//!   activations.
//! * [`eval`] — scoring a text with the integer model's int32 logits, the one
//!   function QAT and `irnn eval` share.
//! * [`generate`] — prompts in, sampled text out.

pub mod calibrate;
pub mod checkpoint;
pub mod data;
pub mod eval;
pub mod export;
pub mod float_export;
pub mod generate;
pub mod gptq;
pub mod import;
pub mod model;
pub mod qat;
pub mod train;

pub use calibrate::{calibrate, QuantRanges};
pub use export::{integer_model, integer_model_with_steps, TableBits};
pub use model::*;
