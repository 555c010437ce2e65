//! From a float language model to the integer one, and training so that the
//! integer one is good.
//!
//! * [`ranges`] — the quantization ranges of every activation tensor, their
//!   calibration on data (post-training quantization) and their EMA updates
//!   during QAT.
//! * [`export`] — the float model plus its ranges → the runtime's
//!   [`irnn_runtime::model::IntLanguageModel`].
//! * [`integer_eval`] — running the integer model over a text and scoring it
//!   from its int32 logits; the one scoring function QAT and `irnn eval`
//!   share, so the metric they report is the same number.
//! * [`qat`] — quantization-aware training: the forward pass *is* the
//!   integer runtime (the exported model, run by its own kernels), the
//!   backward pass is the float one with straight-through estimates.

pub mod export;
pub mod integer_eval;
pub mod qat;
pub mod ranges;

pub use export::{integer_model, ExportError};
pub use ranges::{calibrate, QuantRanges};
