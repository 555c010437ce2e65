//! Where utterances come from, and their features.
//!
//! * [`fsdd`] — connected digits joined from the Free Spoken Digit Dataset
//!   (one speaker per utterance, speakers split into train / validation /
//!   test).
//! * [`manifest`] — Kaldi / ESPnet data directories and NeMo manifests read
//!   into one list of utterances (not yet wired into training).
//!
//! [`Speakers`] and [`DigitSets`] hold the rules every command shares (the
//! split, the seeds of each set, the per-epoch seeds), so `irnn train asr`,
//! `qat`, `convert`, `eval` and the tests build the same utterances from the
//! same folder and seed.

pub mod fsdd;
pub mod manifest;

use std::path::Path;

use rayon::prelude::*;

use self::fsdd::{
    connected_digits, list_recordings, DigitsError, JoinConfig, Recording, SpeakerSplit, Utterance,
};
use crate::asr::train::{SeededMasks, SpecAugment};
use crate::audio::{normalize, LogMel, MelConfig};

/// Features and transcripts.
#[derive(Debug, Clone, Default)]
pub struct AsrData {
    /// Per utterance: `frames × mels`, normalised.
    pub features: Vec<Vec<f32>>,
    /// Per utterance: the digits.
    pub digits: Vec<Vec<u8>>,
}

/// Log-mel features of every utterance (in parallel), normalised per
/// utterance.
pub fn featurize(utterances: &[Utterance], mel: &LogMel) -> AsrData {
    featurize_each(utterances, |_| mel)
}

/// [`featurize`] with a front end per utterance (`front(i)` for utterance
/// `i`; all with the same number of filters), e.g. a warped one each.
pub fn featurize_each<'a>(
    utterances: &[Utterance],
    front: impl Fn(usize) -> &'a LogMel + Sync,
) -> AsrData {
    let features = utterances
        .par_iter()
        .enumerate()
        .map(|(i, u)| {
            let mel = front(i);
            let mut f = mel.compute(&u.samples);
            normalize(&mut f, mel.config().mels);
            f
        })
        .collect();
    AsrData {
        features,
        digits: utterances.iter().map(|u| u.digits.clone()).collect(),
    }
}

/// How many connected-digit utterances each set has, and their seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DigitSets {
    /// Utterances built from the training speakers.
    pub train_utterances: usize,
    /// Utterances of the validation speaker.
    pub valid_utterances: usize,
    /// Utterances of the test speaker.
    pub test_utterances: usize,
    /// Seed of the utterances (training: also of initialisation and order).
    pub seed: u64,
}

impl Default for DigitSets {
    fn default() -> Self {
        Self {
            train_utterances: 3000,
            valid_utterances: 200,
            test_utterances: 500,
            seed: 1,
        }
    }
}

impl DigitSets {
    /// SpecAugment for `epoch` with its seed (seed·1000 + epoch; the masks
    /// of an utterance depend on that and its index only), or `None`
    /// without masks. Float training and QAT share the rule.
    pub fn masks_for_epoch(&self, spec: SpecAugment, epoch: usize) -> Option<SeededMasks> {
        (spec.masks > 0).then_some(SeededMasks {
            spec,
            seed: self.seed.wrapping_mul(1000).wrapping_add(epoch as u64),
        })
    }
}

/// A recordings folder split by speaker.
pub struct Speakers {
    recordings: Vec<Recording>,
    /// Who is in which split.
    pub split: SpeakerSplit,
    join: JoinConfig,
}

impl Speakers {
    /// Lists `dir` and splits its speakers (the last in name order is the
    /// test speaker, the one before the validation speaker).
    pub fn open(dir: &Path, mel: &MelConfig) -> Result<Self, DigitsError> {
        let recordings = list_recordings(dir)?;
        let split = SpeakerSplit::default_for(dir, &recordings)?;
        Ok(Self {
            recordings,
            split,
            join: JoinConfig {
                sample_rate: mel.sample_rate,
                ..JoinConfig::default()
            },
        })
    }

    /// Number of recordings.
    pub fn len(&self) -> usize {
        self.recordings.len()
    }

    /// Whether the folder has no recordings (never, once opened).
    pub fn is_empty(&self) -> bool {
        self.recordings.is_empty()
    }

    fn build(
        &self,
        speakers: &[String],
        n: usize,
        seed: u64,
    ) -> Result<Vec<Utterance>, DigitsError> {
        connected_digits(&self.recordings, speakers, n, seed, &self.join)
    }

    /// `sets.train_utterances` of the training speakers.
    pub fn train(&self, sets: &DigitSets) -> Result<Vec<Utterance>, DigitsError> {
        self.build(&self.split.train, sets.train_utterances, sets.seed)
    }

    /// The training utterances a run with fresh utterances draws for
    /// `epoch` (seed + 1000·epoch; the first epoch of a run normally keeps
    /// [`train`](Self::train)'s set instead).
    pub fn train_for_epoch(
        &self,
        sets: &DigitSets,
        epoch: usize,
    ) -> Result<Vec<Utterance>, DigitsError> {
        let seed = sets.seed.wrapping_add(1000 * epoch as u64);
        self.build(&self.split.train, sets.train_utterances, seed)
    }

    /// Features of the validation and test utterances.
    pub fn valid_and_test(
        &self,
        sets: &DigitSets,
        front: &LogMel,
    ) -> Result<(AsrData, AsrData), DigitsError> {
        Ok((
            featurize(&self.valid(sets)?, front),
            featurize(&self.test(sets)?, front),
        ))
    }

    /// `sets.valid_utterances` of the validation speaker.
    pub fn valid(&self, sets: &DigitSets) -> Result<Vec<Utterance>, DigitsError> {
        self.build(
            std::slice::from_ref(&self.split.valid),
            sets.valid_utterances,
            sets.seed + 1,
        )
    }

    /// `sets.test_utterances` of the test speaker.
    pub fn test(&self, sets: &DigitSets) -> Result<Vec<Utterance>, DigitsError> {
        self.build(
            std::slice::from_ref(&self.split.test),
            sets.test_utterances,
            sets.seed + 2,
        )
    }
}
