//! Speech subcommands, and what they share: the recordings folder `--data`
//! names, split by speaker the way `irnn train asr` splits it (same folder,
//! same seed → the same utterances), so the test figures of every command
//! are on one test set.

pub mod convert;
pub mod eval;
pub mod inspect;
pub mod qat;
pub mod train;
pub mod transcribe;

use std::path::Path;

use anyhow::{bail, Context, Result};
use irnn_train::asr::calibrate::{calibrate, AsrRanges};
use irnn_train::asr::data::{AsrData, Speakers};
use irnn_train::asr::AsrModel;
use irnn_train::audio::MelConfig;

/// The recordings folder `--data` names, split by speaker; the language
/// models' default (the embedded corpus) is not one.
pub fn open_speakers(data: &str, mel: &MelConfig) -> Result<Speakers> {
    if data == irnn_train::lm::data::EMBEDDED_DATA {
        bail!(
            "a speech model needs --data FOLDER of <digit>_<speaker>_<n>.wav recordings \
             (e.g. ../shared/data/fsdd/recordings)"
        );
    }
    Speakers::open(Path::new(data), mel).with_context(|| format!("--data {data}"))
}

/// Ranges from the first `n` training utterances.
pub fn calibrate_on(model: &AsrModel<f32>, train: &AsrData, n: usize) -> AsrRanges {
    let n = n.min(train.features.len());
    calibrate(model, &train.features[..n], &train.digits[..n])
}
