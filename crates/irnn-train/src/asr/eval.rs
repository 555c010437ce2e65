//! Scoring transcripts: word and character error rates, with the
//! breakdown into substitutions, insertions and deletions.

use std::collections::BTreeMap;

use irnn_runtime::speech::IntSpeechModel;
use rayon::prelude::*;

use crate::asr::data::AsrData;
use crate::asr::decode::{integer_attention_transcripts, integer_transcripts};
use crate::asr::units::Units;
use crate::asr::AsrModel;
use crate::nn::ctc::{align, edit_distance, EditOp};

/// Word and character error counts of a set of transcripts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    /// Edit distance between word sequences, summed.
    pub word_errors: usize,
    /// Reference words.
    pub words: usize,
    /// Edit distance between the spelled transcripts
    /// ([`Units::spelled`]: digits as "one two"), summed.
    pub char_errors: usize,
    /// Reference characters.
    pub chars: usize,
}

impl std::ops::Add for ErrorCounts {
    type Output = Self;

    fn add(self, o: Self) -> Self {
        Self {
            word_errors: self.word_errors + o.word_errors,
            words: self.words + o.words,
            char_errors: self.char_errors + o.char_errors,
            chars: self.chars + o.chars,
        }
    }
}

impl ErrorCounts {
    /// Counts for one transcript against its reference (unit ids of
    /// `units`).
    pub fn of(units: &Units, hypothesis: &[u32], reference: &[u32]) -> Self {
        let (hw, rw) = (units.words(hypothesis), units.words(reference));
        let (h, r) = (units.spelled(hypothesis), units.spelled(reference));
        Self {
            word_errors: edit_distance(&hw, &rw),
            words: rw.len(),
            char_errors: edit_distance(&h, &r),
            chars: r.len(),
        }
    }

    /// Word error rate in percent.
    pub fn wer(&self) -> f64 {
        100.0 * self.word_errors as f64 / self.words.max(1) as f64
    }

    /// Character error rate in percent.
    pub fn cer(&self) -> f64 {
        100.0 * self.char_errors as f64 / self.chars.max(1) as f64
    }
}

/// Where unit errors come from: substitutions (by reference and
/// recognised unit), deletions and insertions (by unit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBreakdown {
    /// `(said, recognised)` → how often.
    pub substituted: BTreeMap<(u32, u32), usize>,
    /// Units missed.
    pub deleted: BTreeMap<u32, usize>,
    /// Units recognised where none was said.
    pub inserted: BTreeMap<u32, usize>,
}

impl ErrorBreakdown {
    /// The breakdown of `hypotheses` against `references` (minimum-cost
    /// alignments of their unit ids).
    pub fn of(hypotheses: &[Vec<u32>], references: &[Vec<u32>]) -> Self {
        let mut b = Self::default();
        for (h, r) in hypotheses.iter().zip(references) {
            for op in align(h, r) {
                match op {
                    EditOp::Match(_) => {}
                    EditOp::Substitution {
                        reference,
                        hypothesis,
                    } => *b.substituted.entry((reference, hypothesis)).or_default() += 1,
                    EditOp::Deletion(d) => *b.deleted.entry(d).or_default() += 1,
                    EditOp::Insertion(d) => *b.inserted.entry(d).or_default() += 1,
                }
            }
        }
        b
    }

    /// Total substitutions, deletions and insertions.
    pub fn totals(&self) -> (usize, usize, usize) {
        (
            self.substituted.values().sum(),
            self.deleted.values().sum(),
            self.inserted.values().sum(),
        )
    }

    /// The `n` most frequent confusions, most frequent first:
    /// `(said, recognised, count)`.
    pub fn top_confusions(&self, n: usize) -> Vec<(u32, u32, usize)> {
        let mut all: Vec<(u32, u32, usize)> = self
            .substituted
            .iter()
            .map(|(&(r, h), &c)| (r, h, c))
            .collect();
        all.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        all.truncate(n);
        all
    }
}

/// Error counts of `hypotheses` against `references`.
pub fn score(units: &Units, hypotheses: &[Vec<u32>], references: &[Vec<u32>]) -> ErrorCounts {
    hypotheses
        .iter()
        .zip(references)
        .map(|(h, r)| ErrorCounts::of(units, h, r))
        .fold(ErrorCounts::default(), |a, b| a + b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asr::data::fsdd::digit_units;

    #[test]
    fn error_rates_count_digits_and_letters() {
        let digits = digit_units();
        let e = ErrorCounts::of(&digits, &[1, 2], &[1, 3]);
        assert_eq!((e.word_errors, e.words), (1, 2));
        // "one two" vs "one three": "two" → "three" is 4 edits.
        assert_eq!(
            digits.spelled(&[1, 3]).iter().collect::<String>(),
            "one three"
        );
        assert_eq!((e.char_errors, e.chars), (4, 9));
        let b = ErrorBreakdown::of(
            &[vec![1, 2], vec![], vec![5]],
            &[vec![1, 3], vec![0], vec![]],
        );
        assert_eq!(b.totals(), (1, 1, 1));
        assert_eq!(b.substituted[&(3, 2)], 1);
        assert_eq!((b.deleted[&0], b.inserted[&5]), (1, 1));
        assert_eq!(b.top_confusions(3), [(3, 2, 1)]);
        let total = score(&digits, &[vec![1, 2], vec![]], &[vec![1, 3], vec![0]]);
        assert_eq!((total.word_errors, total.words), (2, 3));
        assert!((total.wer() - 200.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn character_models_count_words_between_spaces() {
        let chars = Units::from_texts(
            crate::asr::units::UnitKind::Character,
            Default::default(),
            ["the cat sat"],
        )
        .unwrap();
        let r = chars.encode("the cat sat").unwrap();
        let h = chars.encode("the cas sat at").unwrap();
        let e = ErrorCounts::of(&chars, &h, &r);
        // Words: "cat" → "cas" and "at" inserted; characters: t → s, " at".
        assert_eq!((e.word_errors, e.words), (2, 3));
        assert_eq!((e.char_errors, e.chars), (4, 11));
    }
}

/// "WER … | CER …" of `e`.
pub fn rates(e: &ErrorCounts) -> String {
    format!("WER {:.2} % | CER {:.2} %", e.wer(), e.cer())
}

/// Transcripts from the CTC head and, if the model has one, the attention
/// decoder (both greedy).
#[derive(Debug, Clone, PartialEq)]
pub struct Transcripts {
    /// The CTC head's, one per utterance (unit ids).
    pub ctc: Vec<Vec<u32>>,
    /// The attention decoder's, if the model has one.
    pub attention: Option<Vec<Vec<u32>>>,
}

impl Transcripts {
    /// The float model's transcripts of `data` (in parallel).
    pub fn float(model: &AsrModel<f32>, data: &AsrData) -> Self {
        Self {
            ctc: data
                .features
                .par_iter()
                .map(|f| model.transcribe(f))
                .collect(),
            attention: model.decoder.as_ref().map(|_| {
                data.features
                    .par_iter()
                    .map(|f| model.transcribe_attention(f).unwrap_or_default())
                    .collect()
            }),
        }
    }

    /// The integer model's transcripts of `data` (in parallel).
    pub fn integer(model: &IntSpeechModel, data: &AsrData) -> Result<Self, irnn_runtime::Error> {
        Ok(Self {
            ctc: integer_transcripts(model, &data.features)?,
            attention: integer_attention_transcripts(model, &data.features)?,
        })
    }

    /// "WER … | CER …" of each head against `references`.
    pub fn rates(&self, units: &Units, references: &[Vec<u32>]) -> String {
        let ctc = rates(&score(units, &self.ctc, references));
        match &self.attention {
            Some(a) => format!(
                "CTC {ctc}, attention {}",
                rates(&score(units, a, references))
            ),
            None => ctc,
        }
    }

    /// Transcripts in all (both heads).
    pub fn len(&self) -> usize {
        self.ctc.len() + self.attention.as_ref().map_or(0, Vec::len)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
