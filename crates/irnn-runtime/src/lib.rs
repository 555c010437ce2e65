//! # irnn-runtime — integer-only inference for recurrent networks
//!
//! Everything a deployed iRNN model computes lives here, and all of it is
//! integer arithmetic: there is no floating-point type anywhere in this crate
//! (clippy's `float_arithmetic` lint is denied, and CI greps for the type
//! names). That is the product's promise: a model that runs the same, bit for
//! bit, on a phone, a DSP without an FPU, or a microcontroller.
//!
//! The crate is `no_std` + `alloc`. The optional `std` feature (on by default)
//! adds run-time CPU-feature detection, so one binary picks the fastest kernel
//! for the machine it runs on, and `std::error::Error` impls.
//!
//! ```
//! use irnn_runtime::{Isa, PackedMatrix};
//! let m = PackedMatrix::from_row_major(2, 3, &[1, 2, 3, -1, -2, -3]).unwrap();
//! let mut acc = [0i32; 2];
//! m.matvec(Isa::detect(), &[1, 1, 1], &mut acc).unwrap();
//! assert_eq!(acc, [6, -6]);
//! ```
//!
//! Layers of the crate, bottom up:
//! * [`fixed_point`] — rounding multiplies, shifts, narrowing, integer square
//!   root, inverse square root and reciprocal; their exact semantics are in
//!   `docs/NUMERICS.md`.
//! * [`kernels`] — int8 × int8 → int32 matrix–vector and small-batch products
//!   on a packed weight layout, the requantizing epilogue and the cells'
//!   elementwise updates, as one table per implementation: the scalar
//!   reference, x86-64 (AVX2, AVX-VNNI, AVX-512 VNNI) and aarch64 (NEON,
//!   dot product, i8mm), chosen at run time.
//! * [`pwl`] — piecewise-linear activations (sigmoid, tanh, exp) evaluated on
//!   the integer grid.
//! * [`layers`] — the integer layers: the LSTM and GRU cells behind one
//!   [`IntCell`](layers::IntCell) trait, LayerNorm, attention, embedding,
//!   convolution, residual add, output; sequence mode and (with `std`) one
//!   stream on two threads.
//! * [`model`] — the language model and its streaming state; [`speech`] —
//!   the speech model (encoder, CTC head, attention decoder).
//! * [`vocabulary`] — the tokens behind a language model's ids.
//! * [`format`](mod@format) — the `.irnn` file: framing, one codec per layer, both
//!   model kinds; a reader that treats every file as hostile.
//! * [`error`] — the one error type of model construction and inference.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(clippy::float_arithmetic)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

extern crate alloc;

pub mod error;
pub mod fixed_point;
pub mod format;
pub mod kernels;
pub mod layers;
pub mod model;
pub mod pwl;
pub mod slab;
pub mod speech;
#[cfg(test)]
mod test_models;
pub mod vocabulary;

pub use error::Error;
pub use fixed_point::QuantizedMultiplier;
pub use kernels::{Isa, PackedMatrix};
pub use pwl::PwlTable;
pub use slab::Slab;
pub use vocabulary::{TokenLevel, Vocabulary};
