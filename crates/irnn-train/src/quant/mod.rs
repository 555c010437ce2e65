//! From real numbers to the runtime's integers: the pieces every task's
//! calibration, export and QAT share.
//!
//! * [`multiplier`] — real scales → the runtime's fixed-point multipliers.
//! * [`ranges`] — `[min, max]` observers and range snapping.
//! * [`reference`](mod@reference) — f64 reference cells, the functions the integer cells
//!   approximate.
//! * [`cells`] — float cells plus their ranges → the runtime's integer
//!   cells (LSTM, GRU, LayerNorm, attention).
//! * [`pwl_fit`] — adaptive piecewise-linear fitting on the integer grid;
//!   [`pwl_report`] measures it against uniform knots.
//! * [`export`] — the errors, output layer and logit unit every task's
//!   export shares.
//! * [`gptq`] — data-aware rounding of weight rows (GPTQ).
//! * [`lsq`] — learned step sizes for the weight rows (QAT at 4 bits).

pub mod cells;
pub mod export;
pub mod gptq;
pub mod lsq;
pub mod multiplier;
pub mod pwl_fit;
pub mod pwl_report;
pub mod ranges;
pub mod reference;

pub use export::ExportError;
pub use multiplier::{quantize_multiplier, QuantError};
pub use ranges::MinMax;
