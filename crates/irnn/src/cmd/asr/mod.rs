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
use irnn_train::asr::data::fsdd::digit_units;
use irnn_train::asr::data::{AsrData, Corpus, Speakers};
use irnn_train::asr::units::Units;
use irnn_train::asr::AsrModel;
use irnn_train::audio::MelConfig;

use crate::args::SpeechDataArgs;

/// The utterances a speech command reads: the recordings folder `--data`
/// names (split by speaker), or the manifests of `--train`, `--valid`,
/// `--test`; `data` is `None` (or the language models' default, the
/// embedded corpus) when `--data` was not given.
pub fn open_corpus(data: Option<&str>, d: &SpeechDataArgs, mel: &MelConfig) -> Result<Corpus> {
    let data = data.filter(|&p| p != irnn_train::lm::data::EMBEDDED_DATA);
    match (data, d.listed()) {
        (Some(_), true) => bail!(
            "give either --data FOLDER (digit recordings) or --train/--valid/--test \
             manifests, not both"
        ),
        (None, false) => bail!(
            "a speech model needs its utterances: --train/--valid/--test MANIFEST (Kaldi data \
             directories or NeMo manifests), or --data FOLDER of <digit>_<speaker>_<n>.wav \
             recordings (e.g. ../shared/data/fsdd/recordings)"
        ),
        (Some(folder), false) => {
            let speakers = Speakers::open(Path::new(folder), mel)
                .with_context(|| format!("--data {folder}"))?;
            Ok(Corpus::Digits {
                speakers,
                sets: d.digits.sets(),
            })
        }
        (None, true) => Ok(Corpus::listed(
            d.train.as_deref(),
            d.valid.as_deref(),
            d.test.as_deref(),
            mel.sample_rate,
        )?),
    }
}

/// The units to score `model` (at `path`) with on `corpus`: its own, or
/// for the digit folder the digits (spelled for the character error rate),
/// which must be the model's.
pub fn scoring_units(corpus: &Corpus, units: &Units, path: &Path) -> Result<Units> {
    match corpus {
        Corpus::Digits { .. } => {
            let digits = digit_units();
            if units.labels != digits.labels || units.kind != digits.kind {
                bail!(
                    "{} writes {} units, not the digits of a --data folder; score it on \
                     --test MANIFEST",
                    path.display(),
                    units.len()
                );
            }
            Ok(digits)
        }
        Corpus::Listed { .. } => Ok(units.clone()),
    }
}

/// Ranges from the first `n` training utterances.
pub fn calibrate_on(model: &AsrModel<f32>, train: &AsrData, n: usize) -> AsrRanges {
    let n = n.min(train.features.len());
    calibrate(model, &train.features[..n], &train.targets[..n])
}
