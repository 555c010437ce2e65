//! The speech front end: WAV files in, normalised log-mel frames out.
//!
//! * [`wav`] — WAV reading (hound): integer PCM of 8–32 bits or 32-bit
//!   float, channels down-mixed, resampled to the model's rate; truncated,
//!   empty or other files are errors that name the file and the problem.
//! * [`mod@resample`] — sample-rate conversion (rubato), the same in training
//!   and transcription.
//! * [`features`] — log-mel filterbank (realfft): Hann-windowed frames, power
//!   spectrum, triangular mel filters, log; mean/variance normalisation per
//!   utterance or with fixed statistics; a streaming front end for the
//!   latter.

pub mod features;
pub mod perturb;
pub mod resample;
pub mod segment;
pub mod wav;

pub use features::{apply_norm, normalize, FeatureNorm, LogMel, MelConfig, MelStream, NormStats};
pub use resample::{resample, ResampleError};
pub use wav::{read_wav, AudioError};
