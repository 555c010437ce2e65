//! Where utterances come from, and their features.
//!
//! * [`fsdd`] — connected digits joined from the Free Spoken Digit Dataset
//!   (one speaker per utterance, speakers split into train / validation /
//!   test).
//! * [`manifest`] — Kaldi / ESPnet data directories and NeMo manifests read
//!   into one list of utterances.
//!
//! [`Corpus`] is either, behind one interface: the training, validation and
//! test [`Utterance`]s, and the units of its transcripts. [`Speakers`] and
//! [`DigitSets`] hold the digit source's rules (the split, the seeds of each
//! set, the per-epoch seeds), so `irnn train asr`, `qat`, `convert`, `eval`
//! and the tests build the same utterances from the same folder and seed.

pub mod fsdd;
pub mod manifest;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use self::fsdd::{
    connected_digits, list_recordings, DigitsError, JoinConfig, Recording, SpeakerSplit,
};
use self::manifest::{read_corpus, ManifestEntry, ManifestError};
use crate::asr::train::{SeededMasks, SpecAugment};
use crate::asr::units::{TextNormalization, UnitError, UnitKind, Units};
use crate::audio::wav::{read_wav, AudioError};
use crate::audio::{LogMel, MelConfig};

/// One utterance: its audio and what is said.
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    /// Where it comes from, for errors (a corpus id, or the speaker and
    /// number of a joined digit string).
    pub id: String,
    /// Mono samples at the front end's rate, in [−1, 1).
    pub samples: Vec<f32>,
    /// The transcript, as written.
    pub text: String,
    /// Who speaks, when known (empty otherwise).
    pub speaker: String,
}

/// Features and transcripts.
#[derive(Debug, Clone, Default)]
pub struct AsrData {
    /// Per utterance: `frames × mels`, normalised.
    pub features: Vec<Vec<f32>>,
    /// Per utterance: the transcript's unit ids.
    pub targets: Vec<Vec<u32>>,
}

/// Why a set of utterances could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The digit folder.
    #[error(transparent)]
    Digits(#[from] DigitsError),
    /// A manifest or data directory.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// An utterance's audio.
    #[error("utterance {id:?}: {source}")]
    Audio {
        /// The utterance.
        id: String,
        /// Why.
        source: AudioError,
    },
    /// An utterance's offset and duration do not fit its audio.
    #[error("utterance {id:?}: {why}")]
    Segment {
        /// The utterance.
        id: String,
        /// How.
        why: String,
    },
    /// A transcript the units cannot write.
    #[error("utterance {id:?}: {source}")]
    Units {
        /// The utterance.
        id: String,
        /// Why.
        source: UnitError,
    },
    /// The training transcripts give no units.
    #[error(transparent)]
    NoUnits(UnitError),
    /// A set the command needs was not given.
    #[error("no {0} set: give it with --{0} MANIFEST")]
    Missing(&'static str),
}

/// The transcripts of `utterances` in `units` (an error names the first
/// utterance they cannot write).
pub fn targets(utterances: &[Utterance], units: &Units) -> Result<Vec<Vec<u32>>, CorpusError> {
    utterances
        .iter()
        .map(|u| {
            units.encode(&u.text).map_err(|source| CorpusError::Units {
                id: u.id.clone(),
                source,
            })
        })
        .collect()
}

/// Log-mel features of every utterance (in parallel), normalised as the
/// front end says, and its transcript in `units`.
pub fn featurize(
    utterances: &[Utterance],
    mel: &LogMel,
    units: &Units,
) -> Result<AsrData, CorpusError> {
    featurize_each(utterances, |_| mel, units)
}

/// [`featurize`] with a front end per utterance (`front(i)` for utterance
/// `i`; all with the same number of filters), e.g. a warped one each.
pub fn featurize_each<'a>(
    utterances: &[Utterance],
    front: impl Fn(usize) -> &'a LogMel + Sync,
    units: &Units,
) -> Result<AsrData, CorpusError> {
    let targets = targets(utterances, units)?;
    let features = utterances
        .par_iter()
        .enumerate()
        .map(|(i, u)| front(i).features(&u.samples))
        .collect();
    Ok(AsrData { features, targets })
}

/// Where the utterances of a run come from.
pub enum Corpus {
    /// Connected digits joined from a recordings folder.
    Digits {
        /// The folder, split by speaker.
        speakers: Speakers,
        /// How many utterances each set has, and their seed.
        sets: DigitSets,
    },
    /// Manifests or data directories, one per set (any may be absent; a
    /// command asks for the sets it needs).
    Listed {
        /// Per set: where it was read from and its entries.
        sets: [Option<(PathBuf, Vec<ManifestEntry>)>; 3],
        /// The front end's rate: audio is resampled to it.
        rate: u32,
    },
}

/// The three sets of a corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Training.
    Train,
    /// Validation.
    Valid,
    /// Test.
    Test,
}

impl Split {
    /// Its option's name.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
            Split::Test => "test",
        }
    }
}

impl Corpus {
    /// The manifests or data directories of each set (read and checked
    /// now; audio is read when a set is asked for).
    pub fn listed(
        train: Option<&Path>,
        valid: Option<&Path>,
        test: Option<&Path>,
        rate: u32,
    ) -> Result<Self, CorpusError> {
        let read = |p: Option<&Path>| -> Result<_, CorpusError> {
            p.map(|p| Ok((p.to_path_buf(), read_corpus(p)?)))
                .transpose()
        };
        Ok(Corpus::Listed {
            sets: [read(train)?, read(valid)?, read(test)?],
            rate,
        })
    }

    /// The utterances of `split`.
    pub fn utterances(&self, split: Split) -> Result<Vec<Utterance>, CorpusError> {
        match self {
            Corpus::Digits { speakers, sets } => Ok(match split {
                Split::Train => speakers.train(sets)?,
                Split::Valid => speakers.valid(sets)?,
                Split::Test => speakers.test(sets)?,
            }),
            Corpus::Listed { sets, rate } => {
                let (_, entries) = sets[split as usize]
                    .as_ref()
                    .ok_or(CorpusError::Missing(split.name()))?;
                entries.par_iter().map(|e| load_entry(e, *rate)).collect()
            }
        }
    }

    /// Whether `split` was given (the digit source has every set).
    pub fn has(&self, split: Split) -> bool {
        match self {
            Corpus::Digits { .. } => true,
            Corpus::Listed { sets, .. } => sets[split as usize].is_some(),
        }
    }

    /// The training utterances a run with fresh utterances draws for
    /// `epoch` (new digit strings; a listed corpus has only its own).
    pub fn train_for_epoch(&self, epoch: usize) -> Result<Vec<Utterance>, CorpusError> {
        match self {
            Corpus::Digits { speakers, sets } => Ok(speakers.train_for_epoch(sets, epoch)?),
            Corpus::Listed { .. } => self.utterances(Split::Train),
        }
    }

    /// The units of a new model: the digits for the digit source; for a
    /// listed corpus those of its training transcripts, as `kind` and
    /// `normalization` say.
    pub fn units(
        &self,
        kind: UnitKind,
        normalization: TextNormalization,
    ) -> Result<Units, CorpusError> {
        match self {
            Corpus::Digits { .. } => Ok(fsdd::digit_units()),
            Corpus::Listed { sets, .. } => {
                let (_, entries) = sets[0].as_ref().ok_or(CorpusError::Missing("train"))?;
                Units::from_texts(kind, normalization, entries.iter().map(|e| e.text.as_str()))
                    .map_err(CorpusError::NoUnits)
            }
        }
    }

    /// One line for the user: what the sets are.
    pub fn describe(&self) -> String {
        match self {
            Corpus::Digits { speakers, .. } => format!(
                "{} recordings; train speakers {:?}, validation {}, test {}",
                speakers.len(),
                speakers.split.train,
                speakers.split.valid,
                speakers.split.test
            ),
            Corpus::Listed { sets, .. } => {
                let parts: Vec<String> = [Split::Train, Split::Valid, Split::Test]
                    .iter()
                    .zip(sets)
                    .filter_map(|(s, set)| {
                        set.as_ref().map(|(p, e)| {
                            format!("{} {} ({} utterances)", s.name(), p.display(), e.len())
                        })
                    })
                    .collect();
                parts.join(", ")
            }
        }
    }

    /// What its words are called in reports: "digits" or "words".
    pub fn word_name(&self) -> &'static str {
        match self {
            Corpus::Digits { .. } => "digits",
            Corpus::Listed { .. } => "words",
        }
    }

    /// The test set's name in reports.
    pub fn test_name(&self) -> String {
        match self {
            Corpus::Digits { speakers, .. } => format!("test speaker {}", speakers.split.test),
            Corpus::Listed { sets, .. } => match &sets[2] {
                Some((p, _)) => format!("test set {}", p.display()),
                None => "test set".into(),
            },
        }
    }
}

/// An entry's audio at `rate`, cut to its offset and duration.
fn load_entry(e: &ManifestEntry, rate: u32) -> Result<Utterance, CorpusError> {
    let mut samples = read_wav(&e.audio, rate).map_err(|source| CorpusError::Audio {
        id: e.id.clone(),
        source,
    })?;
    let seconds = |s: f64| (s * rate as f64).round() as usize;
    let start = e.offset.map_or(0, seconds);
    if start >= samples.len() && e.offset.is_some() {
        return Err(CorpusError::Segment {
            id: e.id.clone(),
            why: format!(
                "offset {} s is past the end of {} ({:.3} s)",
                e.offset.unwrap_or(0.0),
                e.audio.display(),
                samples.len() as f64 / rate as f64
            ),
        });
    }
    let end = e
        .duration
        .map_or(samples.len(), |d| (start + seconds(d)).min(samples.len()));
    samples.truncate(end);
    samples.drain(..start);
    if samples.is_empty() {
        return Err(CorpusError::Segment {
            id: e.id.clone(),
            why: format!("its segment of {} holds no samples", e.audio.display()),
        });
    }
    Ok(Utterance {
        id: e.id.clone(),
        samples,
        text: e.text.clone(),
        speaker: e.speaker.clone().unwrap_or_default(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_sets_cut_segments_and_write_transcripts_in_units() {
        let dir = std::env::temp_dir().join(format!("irnn-corpus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // One second at 8 kHz: sample i is i / 32768 (a ramp).
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(dir.join("a.wav"), spec).unwrap();
        for i in 0..8000 {
            w.write_sample(i as i16).unwrap();
        }
        w.finalize().unwrap();
        std::fs::write(
            dir.join("set.json"),
            "{\"audio_filepath\": \"a.wav\", \"text\": \"Ab, ba\"}\n\
             {\"audio_filepath\": \"a.wav\", \"text\": \"ab\", \"offset\": 0.25, \"duration\": 0.5}\n",
        )
        .unwrap();
        let set = dir.join("set.json");
        let corpus = Corpus::listed(Some(&set), None, Some(&set), 8000).unwrap();
        assert!(corpus.has(Split::Train) && !corpus.has(Split::Valid));
        let utts = corpus.utterances(Split::Test).unwrap();
        assert_eq!(utts[0].samples.len(), 8000);
        // The segment: samples 2000 … 5999.
        assert_eq!(utts[1].samples.len(), 4000);
        assert_eq!(utts[1].samples[0], 2000.0 / 32768.0);
        assert!(matches!(
            corpus.utterances(Split::Valid),
            Err(CorpusError::Missing("valid"))
        ));
        let units = corpus
            .units(
                UnitKind::Character,
                TextNormalization {
                    lowercase: true,
                    strip_punctuation: true,
                },
            )
            .unwrap();
        assert_eq!(units.labels, [" ", "a", "b"]);
        let data = featurize(&utts, &LogMel::new(MelConfig::default()), &units).unwrap();
        assert_eq!(data.targets, [vec![1, 2, 0, 2, 1], vec![1, 2]]);
        // A unit the corpus lacks, named with its utterance.
        let digits = fsdd::digit_units();
        let e = targets(&utts, &digits).unwrap_err().to_string();
        assert!(e.contains("set.json:1") && e.contains("word units"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
