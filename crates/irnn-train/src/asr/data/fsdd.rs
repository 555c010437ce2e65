//! Connected-digit utterances from isolated spoken digits (the Free Spoken
//! Digit Dataset layout: `<digit>_<speaker>_<index>.wav`, 8 kHz mono PCM).
//!
//! An utterance is 1–7 recordings of **one** speaker joined with random short
//! silences and per-digit gains, all drawn from a seeded generator, so the
//! same folder, split and seed always give the same data. Speakers are
//! split so that test and validation speakers are never heard in training
//! ([`SpeakerSplit`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};

use super::Utterance;
use crate::asr::units::{TextNormalization, UnitKind, Units};
use crate::audio::wav::{read_wav, AudioError};

/// Errors building a digit corpus.
#[derive(Debug, thiserror::Error)]
pub enum DigitsError {
    /// The folder could not be listed.
    #[error("{path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No `<digit>_<speaker>_<n>.wav` file in the folder.
    #[error("{0}: no files named <digit>_<speaker>_<n>.wav")]
    NoRecordings(PathBuf),
    /// Too few speakers for a speaker-independent split.
    #[error("{path}: {found} speaker(s); a test, a validation and at least one training speaker are needed")]
    TooFewSpeakers {
        /// The folder.
        path: PathBuf,
        /// Speakers found.
        found: usize,
    },
    /// A named speaker is not in the folder.
    #[error("speaker '{0}' has no recordings in the folder")]
    UnknownSpeaker(String),
    /// A recording could not be read.
    #[error(transparent)]
    Audio(#[from] AudioError),
}

/// One recording: its file, digit and speaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// The WAV file.
    pub path: PathBuf,
    /// The spoken digit.
    pub digit: u8,
    /// The speaker's name.
    pub speaker: String,
}

/// Lists the recordings of `dir` (other files are ignored), sorted by path.
pub fn list_recordings(dir: &Path) -> Result<Vec<Recording>, DigitsError> {
    let entries = std::fs::read_dir(dir).map_err(|source| DigitsError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".wav") else {
            continue;
        };
        let parts: Vec<&str> = stem.split('_').collect();
        if let [d, speaker, n] = parts[..] {
            if let (Ok(digit @ 0..=9), Ok(_)) = (d.parse::<u8>(), n.parse::<u32>()) {
                out.push(Recording {
                    path: path.clone(),
                    digit,
                    speaker: speaker.to_string(),
                });
            }
        }
    }
    if out.is_empty() {
        return Err(DigitsError::NoRecordings(dir.to_path_buf()));
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Which speakers are used for what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeakerSplit {
    /// Training speakers.
    pub train: Vec<String>,
    /// The validation speaker.
    pub valid: String,
    /// The test speaker.
    pub test: String,
}

impl SpeakerSplit {
    /// The default split: speakers sorted by name, the last one for test,
    /// the one before it for validation, the rest for training. On FSDD:
    /// test `yweweler`, validation `theo`, training george, jackson, lucas,
    /// nicolas.
    pub fn default_for(dir: &Path, recordings: &[Recording]) -> Result<Self, DigitsError> {
        let speakers: Vec<String> = recordings
            .iter()
            .map(|r| r.speaker.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if speakers.len() < 3 {
            return Err(DigitsError::TooFewSpeakers {
                path: dir.to_path_buf(),
                found: speakers.len(),
            });
        }
        let n = speakers.len();
        Ok(Self {
            train: speakers[..n - 2].to_vec(),
            valid: speakers[n - 2].clone(),
            test: speakers[n - 1].clone(),
        })
    }
}

/// The units of a digit model: the words "0" to "9" (unit `d` is digit
/// `d`), spelled "zero" to "nine" for the character error rate. Checkpoints
/// written before units were stored are digit models and read as these.
pub fn digit_units() -> Units {
    const SPOKEN: [&str; 10] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    Units {
        kind: UnitKind::Word,
        labels: (0..10).map(|d| d.to_string()).collect(),
        normalization: TextNormalization::default(),
        spellings: Some(SPOKEN.map(String::from).to_vec()),
    }
}

/// The transcript of a digit string: its digits, space-separated.
pub fn digit_text(digits: &[u8]) -> String {
    let words: Vec<String> = digits.iter().map(|d| d.to_string()).collect();
    words.join(" ")
}

/// How utterances are put together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JoinConfig {
    /// Sample rate of the recordings.
    pub sample_rate: u32,
    /// Digits per utterance, inclusive range.
    pub min_digits: usize,
    /// Largest number of digits.
    pub max_digits: usize,
    /// Silence between digits and at both ends, seconds, drawn uniformly.
    pub gap_seconds: (f32, f32),
    /// Gain per digit, drawn uniformly.
    pub gain: (f32, f32),
}

impl Default for JoinConfig {
    fn default() -> Self {
        Self {
            sample_rate: 8000,
            min_digits: 1,
            max_digits: 7,
            gap_seconds: (0.05, 0.25),
            gain: (0.6, 1.0),
        }
    }
}

/// `count` utterances of the given speakers, deterministic in `seed`. Each
/// recording is read once and cached.
pub fn connected_digits(
    recordings: &[Recording],
    speakers: &[String],
    count: usize,
    seed: u64,
    join: &JoinConfig,
) -> Result<Vec<Utterance>, DigitsError> {
    // speaker → digit → recordings
    let mut index: BTreeMap<&str, BTreeMap<u8, Vec<&Recording>>> = BTreeMap::new();
    for r in recordings {
        if speakers.contains(&r.speaker) {
            index
                .entry(r.speaker.as_str())
                .or_default()
                .entry(r.digit)
                .or_default()
                .push(r);
        }
    }
    for s in speakers {
        if !index.contains_key(s.as_str()) {
            return Err(DigitsError::UnknownSpeaker(s.clone()));
        }
    }
    let mut cache: BTreeMap<&Path, Vec<f32>> = BTreeMap::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(count);
    let rate = join.sample_rate as f32;
    for _ in 0..count {
        let speaker = &speakers[rng.gen_range(0..speakers.len())];
        let by_digit = &index[speaker.as_str()];
        let available: Vec<u8> = by_digit.keys().copied().collect();
        let n = rng.gen_range(join.min_digits.max(1)..=join.max_digits.max(join.min_digits.max(1)));
        let mut samples = Vec::new();
        let mut digits = Vec::with_capacity(n);
        let gap = |rng: &mut rand::rngs::StdRng, samples: &mut Vec<f32>| {
            let seconds = rng.gen_range(join.gap_seconds.0..=join.gap_seconds.1);
            samples.extend(std::iter::repeat_n(0.0, (seconds * rate) as usize));
        };
        gap(&mut rng, &mut samples);
        for _ in 0..n {
            let digit = available[rng.gen_range(0..available.len())];
            let takes = &by_digit[&digit];
            let rec = takes[rng.gen_range(0..takes.len())];
            if !cache.contains_key(rec.path.as_path()) {
                cache.insert(&rec.path, read_wav(&rec.path, join.sample_rate)?);
            }
            let gain = rng.gen_range(join.gain.0..=join.gain.1);
            samples.extend(cache[rec.path.as_path()].iter().map(|s| s * gain));
            digits.push(digit);
            gap(&mut rng, &mut samples);
        }
        out.push(Utterance {
            id: format!("{speaker}#{}", out.len()),
            samples,
            text: digit_text(&digits),
            speaker: speaker.clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake FSDD folder: 4 speakers × 3 digits × 2 takes, each take a short
    /// tone whose length encodes the digit.
    fn fixture(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        for speaker in ["ann", "bob", "cy", "dee"] {
            for digit in 0..3 {
                for take in 0..2 {
                    let p = dir.join(format!("{digit}_{speaker}_{take}.wav"));
                    let mut w = hound::WavWriter::create(p, spec).unwrap();
                    for i in 0..(100 + 100 * digit) {
                        w.write_sample(((i % 20) * 1000) as i16).unwrap();
                    }
                    w.finalize().unwrap();
                }
            }
        }
        std::fs::write(dir.join("README.txt"), "not a recording").unwrap();
    }

    #[test]
    fn split_is_speaker_independent_and_utterances_are_reproducible() {
        let dir = std::env::temp_dir().join(format!("irnn-digits-{}", std::process::id()));
        fixture(&dir);
        let recs = list_recordings(&dir).unwrap();
        assert_eq!(recs.len(), 24);
        let split = SpeakerSplit::default_for(&dir, &recs).unwrap();
        assert_eq!(split.test, "dee");
        assert_eq!(split.valid, "cy");
        assert_eq!(split.train, ["ann", "bob"]);
        let join = JoinConfig::default();
        let a = connected_digits(&recs, &split.train, 20, 7, &join).unwrap();
        let b = connected_digits(&recs, &split.train, 20, 7, &join).unwrap();
        assert_eq!(a, b);
        assert_ne!(
            a,
            connected_digits(&recs, &split.train, 20, 8, &join).unwrap()
        );
        for u in &a {
            assert!(split.train.contains(&u.speaker));
            let digits = digit_units().encode(&u.text).unwrap();
            assert!((1..=7).contains(&digits.len()));
            // Speech samples: the digits' recordings (100 + 100·d each).
            let voiced = u.samples.iter().filter(|&&s| s != 0.0).count();
            let expected: usize = digits.iter().map(|&d| 100 + 100 * d as usize).sum();
            // Every 20th sample of a recording is 0 (i % 20 == 0).
            assert_eq!(voiced, expected - expected / 20, "{}", u.text);
        }
        let test = connected_digits(&recs, std::slice::from_ref(&split.test), 5, 1, &join).unwrap();
        assert!(test.iter().all(|u| u.speaker == "dee"));
        assert!(matches!(
            connected_digits(&recs, &["zed".into()], 1, 1, &join),
            Err(DigitsError::UnknownSpeaker(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn folders_without_enough_data_are_named_errors() {
        let dir = std::env::temp_dir().join(format!("irnn-digits-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(list_recordings(&dir)
            .unwrap_err()
            .to_string()
            .contains("no files named"));
        assert!(list_recordings(&dir.join("nope")).is_err());
        let recs = vec![Recording {
            path: dir.join("1_a_0.wav"),
            digit: 1,
            speaker: "a".into(),
        }];
        assert!(SpeakerSplit::default_for(&dir, &recs)
            .unwrap_err()
            .to_string()
            .contains("1 speaker"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
