//! # irnn-train — the float half of irnn
//!
//! Float training, quantization-aware training, PWL fitting, calibration and
//! conversion to the integer runtime's model live here, on `std`. The
//! dependency runs one way: this crate uses `irnn-runtime`, never the
//! reverse, so a deployed model carries none of it.
//!
//! The crate is organised by task, with the same file names in each task
//! (`model`, `data`, `train`, `checkpoint`, `calibrate`, `export`, `qat`,
//! `eval`), and the pieces they share beside them:
//!
//! * [`lm`] — language models (word or character level).
//! * [`asr`] — speech recognition: a CTC acoustic model with an optional
//!   attention decoder.
//! * [`nn`] — float layers with hand-written backward passes, optimizers.
//! * [`quant`] — real numbers → the runtime's integers: multipliers, ranges,
//!   cell conversion, PWL fitting.
//! * [`checkpoint`] — one safetensors codec (tensors + typed metadata,
//!   atomic writes) for every model.
//! * [`audio`] — WAV reading, log-mel features, perturbations.
//! * [`train`] — what every training loop shares: the progress observer
//!   and the update rule.
//! * [`step_bench`] — one recurrent step timed, integer against f32.

#![warn(missing_docs)]

pub mod asr;
pub mod audio;
pub mod checkpoint;
pub mod lm;
pub mod nn;
pub mod quant;
pub mod step_bench;
pub mod train;

// The README's Rust examples run as doctests, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
