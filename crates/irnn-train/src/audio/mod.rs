//! The speech front end: WAV files in, normalised log-mel frames out.
//!
//! * [`wav`] — 16-bit PCM WAV reading (hound); stereo is down-mixed, any
//!   other format and a sample rate other than the model's are errors that
//!   say what was found and what is expected.
//! * [`features`] — log-mel filterbank (realfft): Hann-windowed frames, power
//!   spectrum, triangular mel filters, log; per-utterance mean/variance
//!   normalisation.

pub mod features;
pub mod perturb;
pub mod wav;

pub use features::{normalize, LogMel, MelConfig};
pub use wav::{read_wav, AudioError};
