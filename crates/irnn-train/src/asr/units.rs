//! What a speech model writes: its output units (characters or words), how
//! transcripts become unit ids and back, and the normalisation applied to
//! every transcript first, the same in training and in scoring.
//!
//! Unit `i` is CTC class `i + 1` (class 0 is the blank) and attention
//! decoder class `i`; the decoder also has end of sentence (class `len`)
//! and, as an input only, start of sentence (`len + 1`). The list is stored
//! in the checkpoint (`irnn.asr_units`) and, as the class labels and the
//! transcript separator, in the `.irnn` file, so a model always writes the
//! text it was trained on.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Characters or words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitKind {
    /// One unit per character; the space between words is a unit.
    #[serde(rename = "char")]
    Character,
    /// One unit per word (split at whitespace).
    Word,
}

/// What is done to every transcript before it is split into units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextNormalization {
    /// Lower-case every letter.
    pub lowercase: bool,
    /// Remove punctuation (every character that is neither a letter, a
    /// digit, whitespace nor an apostrophe inside a word).
    pub strip_punctuation: bool,
}

impl TextNormalization {
    /// `text` normalised: case and punctuation as asked, whitespace runs
    /// collapsed to one space, no space at either end.
    pub fn apply(&self, text: &str) -> String {
        let mut kept = String::with_capacity(text.len());
        let chars: Vec<char> = text.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            let inside_word = |j: Option<usize>| {
                j.and_then(|j| chars.get(j))
                    .is_some_and(|c| c.is_alphanumeric())
            };
            let apostrophe_in_word =
                c == '\'' && inside_word(i.checked_sub(1)) && inside_word(Some(i + 1));
            let punctuation = !(c.is_alphanumeric() || c.is_whitespace() || apostrophe_in_word);
            if self.strip_punctuation && punctuation {
                kept.push(' ');
                continue;
            }
            if self.lowercase {
                kept.extend(c.to_lowercase());
            } else {
                kept.push(c);
            }
        }
        kept.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// Why a transcript could not be written in units.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// A unit the model does not have.
    #[error("{unit:?} is not one of the model's {count} {kind} units (transcript {text:?})")]
    Unknown {
        /// The unit.
        unit: String,
        /// The transcript, normalised.
        text: String,
        /// How many units the model has.
        count: usize,
        /// "character" or "word".
        kind: &'static str,
    },
    /// Training transcripts with nothing in them.
    #[error("the training transcripts hold no {0} units (all empty after normalisation)")]
    NoUnits(&'static str),
}

/// A model's output units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Units {
    /// Characters or words.
    pub kind: UnitKind,
    /// The units, in id order.
    pub labels: Vec<String>,
    /// Applied to every transcript before it is split.
    #[serde(default)]
    pub normalization: TextNormalization,
    /// Per unit, how it is spelled in words for the character error rate,
    /// when that differs from its label (digit labels "7" spoken "seven").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spellings: Option<Vec<String>>,
}

impl UnitKind {
    fn name(self) -> &'static str {
        match self {
            UnitKind::Character => "character",
            UnitKind::Word => "word",
        }
    }

    /// What a transcript puts between units.
    pub fn separator(self) -> &'static str {
        match self {
            UnitKind::Character => "",
            UnitKind::Word => " ",
        }
    }
}

impl Units {
    /// The units seen in `texts` (normalised), sorted (characters by code
    /// point, words lexically).
    pub fn from_texts<'a>(
        kind: UnitKind,
        normalization: TextNormalization,
        texts: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, UnitError> {
        let mut seen = BTreeSet::new();
        for t in texts {
            let t = normalization.apply(t);
            match kind {
                UnitKind::Character => seen.extend(t.chars().map(String::from)),
                UnitKind::Word => {
                    seen.extend(t.split(' ').filter(|w| !w.is_empty()).map(String::from))
                }
            }
        }
        if seen.is_empty() {
            return Err(UnitError::NoUnits(kind.name()));
        }
        Ok(Self {
            kind,
            labels: seen.into_iter().collect(),
            normalization,
            spellings: None,
        })
    }

    /// The units of a `.irnn` speech model: its labels after the blank,
    /// and its separator ("" is characters).
    pub fn of_labels(labels: &[String], separator: &str) -> Self {
        Self {
            kind: if separator.is_empty() {
                UnitKind::Character
            } else {
                UnitKind::Word
            },
            labels: labels.get(1..).unwrap_or_default().to_vec(),
            normalization: TextNormalization::default(),
            spellings: None,
        }
    }

    /// Number of units.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are none (never, for a model's units).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// CTC classes: the blank and every unit.
    pub fn ctc_classes(&self) -> usize {
        self.len() + 1
    }

    /// The runtime's class labels: the blank's name, then the units.
    pub fn class_labels(&self) -> Vec<String> {
        std::iter::once("<blank>".to_string())
            .chain(self.labels.iter().cloned())
            .collect()
    }

    /// The unit ids of `text` (normalised first).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, UnitError> {
        let text = self.normalization.apply(text);
        let pieces: Vec<String> = match self.kind {
            UnitKind::Character => text.chars().map(String::from).collect(),
            UnitKind::Word => text
                .split(' ')
                .filter(|w| !w.is_empty())
                .map(String::from)
                .collect(),
        };
        pieces
            .into_iter()
            .map(|p| match self.labels.iter().position(|l| *l == p) {
                Some(i) => Ok(i as u32),
                None => Err(UnitError::Unknown {
                    unit: p,
                    text: text.clone(),
                    count: self.len(),
                    kind: self.kind.name(),
                }),
            })
            .collect()
    }

    /// The text of unit ids (ids out of range are skipped).
    pub fn text(&self, ids: &[u32]) -> String {
        let labels: Vec<&str> = ids
            .iter()
            .filter_map(|&i| self.labels.get(i as usize).map(String::as_str))
            .collect();
        labels.join(self.kind.separator())
    }

    /// The words of unit ids, as unit-id sequences: each word unit alone,
    /// or the characters between spaces.
    pub fn words(&self, ids: &[u32]) -> Vec<Vec<u32>> {
        match self.kind {
            UnitKind::Word => ids.iter().map(|&i| vec![i]).collect(),
            UnitKind::Character => {
                let space = self.labels.iter().position(|l| l == " ").map(|i| i as u32);
                ids.split(|&i| Some(i) == space)
                    .filter(|w| !w.is_empty())
                    .map(<[u32]>::to_vec)
                    .collect()
            }
        }
    }

    /// The characters the character error rate compares: the text, with
    /// each word unit spelled as [`spellings`](Self::spellings) says.
    pub fn spelled(&self, ids: &[u32]) -> Vec<char> {
        match (&self.spellings, self.kind) {
            (Some(s), UnitKind::Word) => {
                let words: Vec<&str> = ids
                    .iter()
                    .filter_map(|&i| s.get(i as usize).map(String::as_str))
                    .collect();
                words.join(" ").chars().collect()
            }
            _ => self.text(ids).chars().collect(),
        }
    }

    /// Whether `labels` (a `.irnn` model's, blank first) and `separator`
    /// are these units'.
    pub fn match_labels(&self, labels: &[String], separator: &str) -> bool {
        labels.get(1..) == Some(&self.labels[..]) && separator == self.kind.separator()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_lowercases_strips_punctuation_and_collapses_spaces() {
        let n = TextNormalization {
            lowercase: true,
            strip_punctuation: true,
        };
        assert_eq!(
            n.apply("  Hello, World!  It's   'me'. "),
            "hello world it's me"
        );
        assert_eq!(TextNormalization::default().apply(" A,  b "), "A, b");
        let only_case = TextNormalization {
            lowercase: true,
            strip_punctuation: false,
        };
        assert_eq!(only_case.apply("ÉTÉ, OK"), "été, ok");
    }

    #[test]
    fn characters_round_trip_and_split_into_words() {
        let u = Units::from_texts(
            UnitKind::Character,
            TextNormalization::default(),
            ["ab a", "ba"],
        )
        .unwrap();
        assert_eq!(u.labels, [" ", "a", "b"]);
        assert_eq!(u.ctc_classes(), 4);
        let ids = u.encode("ab  ba").unwrap();
        assert_eq!(ids, [1, 2, 0, 2, 1]);
        assert_eq!(u.text(&ids), "ab ba");
        assert_eq!(u.words(&ids), [vec![1, 2], vec![2, 1]]);
        assert_eq!(u.spelled(&ids).iter().collect::<String>(), "ab ba");
        let e = u.encode("abc").unwrap_err();
        assert!(
            e.to_string()
                .contains("\"c\" is not one of the model's 3 character units"),
            "{e}"
        );
        let back = Units::of_labels(&u.class_labels(), u.kind.separator());
        assert_eq!(back.labels, u.labels);
        assert!(u.match_labels(&u.class_labels(), ""));
        assert!(!u.match_labels(&u.class_labels(), " "));
    }

    #[test]
    fn words_round_trip_and_spell() {
        let mut u = Units::from_texts(
            UnitKind::Word,
            TextNormalization {
                lowercase: true,
                strip_punctuation: true,
            },
            ["Yes, no.", "no"],
        )
        .unwrap();
        assert_eq!(u.labels, ["no", "yes"]);
        let ids = u.encode("NO yes!").unwrap();
        assert_eq!(ids, [0, 1]);
        assert_eq!(u.text(&ids), "no yes");
        assert_eq!(u.words(&ids), [vec![0], vec![1]]);
        u.spellings = Some(vec!["nay".into(), "aye".into()]);
        assert_eq!(u.spelled(&ids).iter().collect::<String>(), "nay aye");
        assert!(matches!(u.encode("maybe"), Err(UnitError::Unknown { .. })));
        assert_eq!(
            Units::from_texts(UnitKind::Word, TextNormalization::default(), [" ", ""]),
            Err(UnitError::NoUnits("word"))
        );
    }
}
