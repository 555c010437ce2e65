//! # irnn-train — the float half of irnn
//!
//! Float training, quantization-aware training, PWL fitting, calibration and
//! conversion to the integer runtime's model live here, on `std`. The
//! dependency runs one way: this crate uses `irnn-runtime`, never the
//! reverse, so a deployed model carries none of it.
//!
//! Today it holds the bridge from real numbers to the runtime's fixed point
//! ([`quant`]), adaptive PWL fitting ([`pwl_fit`]), f64 reference cells
//! ([`reference`]) and conversion of float cells to integer ones
//! ([`convert`]); training arrives with the later milestones (see README).

pub mod asr;
pub mod audio;
pub mod checkpoint;
pub mod convert;
pub mod data;
pub mod generate;
pub mod lm;
pub mod nn;
pub mod pwl_fit;
pub mod pwl_report;
pub mod quant;
pub mod quantize;
pub mod reference;
pub mod step_bench;
pub mod train;

// The README's Rust examples run as doctests, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
