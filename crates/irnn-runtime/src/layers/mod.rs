//! Integer layers: each one's arithmetic is defined in NUMERICS.md §4 and
//! uses only [`crate::fixed_point`], [`crate::kernels`] and [`crate::pwl`].

// Cell steps walk several per-unit arrays with one index; that reads
// better than nested zips.
#![allow(clippy::needless_range_loop)]

pub mod activation;
pub mod attention;
pub mod cell;
pub mod conv;
pub mod embedding;
pub mod encoder_layer;
pub mod gru;
pub mod lstm;
pub mod norm;
pub mod output;
pub mod residual;
pub mod sequence;
#[cfg(feature = "std")]
pub mod two_threads;

pub use activation::Activation;
pub use attention::{AttentionScore, IntAttention};
pub use cell::IntCell;
pub use conv::IntMelConv;
pub use embedding::IntEmbedding;
pub use encoder_layer::IntEncoderLayer;
pub use gru::{GruScratch, GruState, IntGruCell, ResetMode};
pub use lstm::{IntLstmCell, LstmScratch, LstmState};
pub use norm::IntLayerNorm;
pub use output::IntOutputLayer;
pub use residual::QuantizedAdd;
pub use sequence::SEQUENCE_CHUNK;
#[cfg(feature = "std")]
pub use two_threads::{TwoProductCell, TwoThreadCell};
