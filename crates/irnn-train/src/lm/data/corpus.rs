//! Reading text into token ids.
//!
//! * **word** level: whitespace-separated words, `<eos>` after each line
//!   (Mikolov's PTB convention). Words unseen in the training file map to
//!   `<unk>` when the vocabulary has it; otherwise they are an error that
//!   names the word and the line.
//! * **char** level: every character is a token, newlines included. Files in
//!   the "space-separated characters" form of PTB's character corpus (every
//!   whitespace-separated token a single character) are read as those
//!   symbols plus `<eos>` per line, which is how its bits per character are
//!   conventionally counted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// End-of-line token.
pub const EOS: &str = "<eos>";
/// Unknown-word token.
pub const UNK: &str = "<unk>";

/// Token granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Whitespace-separated words.
    Word,
    /// Characters.
    Char,
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "word" => Ok(Level::Word),
            "char" => Ok(Level::Char),
            other => Err(format!(
                "unknown level '{other}' (expected 'word' or 'char')"
            )),
        }
    }
}

/// Why a corpus could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file has no tokens.
    #[error("{0} is empty (no tokens)")]
    Empty(PathBuf),
    /// Larger than a corpus may be.
    #[error(
        "{path}: {bytes} bytes, more than the {} a corpus file may have",
        MAX_CORPUS_BYTES
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// Binary data, not text.
    #[error("{0} is not a text file (it holds NUL bytes)")]
    NotText(PathBuf),
    /// A token that the vocabulary lacks, with no `<unk>` to fall back on.
    #[error("{path}:{line}: token {token:?} is not in the vocabulary (which has no <unk>)")]
    UnknownToken {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The token.
        token: String,
    },
    /// A directory without the expected split files.
    #[error("{dir}: found no training file (looked for {looked_for})")]
    NoTrainFile {
        /// The directory.
        dir: PathBuf,
        /// The names tried.
        looked_for: String,
    },
}

/// A token ↔ id mapping.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Vocab {
    /// Id → token.
    pub tokens: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

impl Vocab {
    /// A vocabulary from tokens in id order.
    pub fn from_tokens(tokens: Vec<String>) -> Self {
        let index = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        Self { tokens, index }
    }

    /// Rebuilds the lookup table after deserialisation.
    pub fn reindex(&mut self) {
        self.index = self
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True when there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The id of `token`.
    pub fn id(&self, token: &str) -> Option<u32> {
        self.index.get(token).copied()
    }

    /// The token of `id`.
    pub fn token(&self, id: u32) -> &str {
        &self.tokens[id as usize]
    }
}

/// Splits text into tokens at the given level, with the line each came from.
pub fn tokenize(text: &str, level: Level) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    match level {
        Level::Word => {
            for (n, line) in text.lines().enumerate() {
                for w in line.split_whitespace() {
                    out.push((w.to_string(), n + 1));
                }
                out.push((EOS.to_string(), n + 1));
            }
        }
        Level::Char => {
            let spaced = is_space_separated_chars(text);
            for (n, line) in text.lines().enumerate() {
                if spaced {
                    for w in line.split_whitespace() {
                        out.push((w.to_string(), n + 1));
                    }
                    out.push((EOS.to_string(), n + 1));
                } else {
                    for c in line.chars() {
                        out.push((c.to_string(), n + 1));
                    }
                    out.push(("\n".to_string(), n + 1));
                }
            }
        }
    }
    out
}

/// PTB's character files: every whitespace-separated token is one character.
fn is_space_separated_chars(text: &str) -> bool {
    let mut seen = 0;
    for line in text.lines().take(200) {
        for w in line.split_whitespace() {
            if w.chars().count() != 1 {
                return false;
            }
            seen += 1;
        }
        if !line.trim().is_empty() && !line.contains(' ') && line.chars().count() > 1 {
            return false;
        }
    }
    seen > 0
}

/// The largest corpus file read (it is held in memory with a 4-byte id per
/// token).
pub const MAX_CORPUS_BYTES: u64 = 1 << 30;

/// Reads a text file after checking its size, so a huge or wrong file is
/// refused before it is read.
fn read(path: &Path) -> Result<String, CorpusError> {
    let io = |source| CorpusError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() && meta.len() > MAX_CORPUS_BYTES {
        return Err(CorpusError::TooLarge {
            path: path.to_path_buf(),
            bytes: meta.len(),
        });
    }
    let mut text = String::new();
    use std::io::Read;
    std::fs::File::open(path)
        .map_err(io)?
        .take(MAX_CORPUS_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_CORPUS_BYTES {
        return Err(CorpusError::TooLarge {
            path: path.to_path_buf(),
            bytes: text.len() as u64,
        });
    }
    if text.contains('\0') {
        return Err(CorpusError::NotText(path.to_path_buf()));
    }
    Ok(text)
}

/// A train/valid/test corpus with the training file's vocabulary.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// The vocabulary (from the training split).
    pub vocab: Vocab,
    /// Training ids.
    pub train: Vec<u32>,
    /// Validation ids.
    pub valid: Vec<u32>,
    /// Test ids.
    pub test: Vec<u32>,
}

/// The vocabulary of a training text: tokens in order of first appearance
/// (so the ids are deterministic).
pub fn build_vocab(tokens: &[(String, usize)]) -> Vocab {
    let mut seen = HashMap::new();
    let mut list = Vec::new();
    for (t, _) in tokens {
        if !seen.contains_key(t) {
            seen.insert(t.clone(), list.len() as u32);
            list.push(t.clone());
        }
    }
    Vocab::from_tokens(list)
}

/// Maps tokens to ids (unknown → `<unk>` if the vocabulary has it).
pub fn encode(
    vocab: &Vocab,
    tokens: &[(String, usize)],
    path: &Path,
) -> Result<Vec<u32>, CorpusError> {
    let unk = vocab.id(UNK);
    tokens
        .iter()
        .map(|(t, line)| {
            vocab
                .id(t)
                .or(unk)
                .ok_or_else(|| CorpusError::UnknownToken {
                    path: path.to_path_buf(),
                    line: *line,
                    token: t.clone(),
                })
        })
        .collect()
}

/// Encodes the text of a file with an existing vocabulary.
pub fn encode_file(vocab: &Vocab, path: &Path, level: Level) -> Result<Vec<u32>, CorpusError> {
    let tokens = tokenize(&read(path)?, level);
    if tokens.iter().all(|(t, _)| t == EOS || t == "\n") {
        return Err(CorpusError::Empty(path.to_path_buf()));
    }
    encode(vocab, &tokens, path)
}

impl Corpus {
    /// Reads `PATH`: a directory holding `*train.txt`, `*valid.txt`,
    /// `*test.txt` for the level (PTB: `ptb.train.txt` or
    /// `ptb.char.train.txt`), or a single file split 90/5/5 by lines.
    pub fn load(path: &Path, level: Level) -> Result<Self, CorpusError> {
        if path.is_dir() {
            let prefix = match level {
                Level::Word => "ptb.",
                Level::Char => "ptb.char.",
            };
            let pick = |split: &str| -> Option<PathBuf> {
                [format!("{prefix}{split}.txt"), format!("{split}.txt")]
                    .into_iter()
                    .map(|n| path.join(n))
                    .find(|p| p.is_file())
            };
            let train = pick("train").ok_or_else(|| CorpusError::NoTrainFile {
                dir: path.to_path_buf(),
                looked_for: format!("{prefix}train.txt, train.txt"),
            })?;
            let train_tokens = tokenize(&read(&train)?, level);
            if train_tokens.is_empty() {
                return Err(CorpusError::Empty(train));
            }
            let vocab = build_vocab(&train_tokens);
            let train_ids = encode(&vocab, &train_tokens, &train)?;
            let other = |split: &str| match pick(split) {
                Some(p) => encode_file(&vocab, &p, level),
                None => Ok(Vec::new()),
            };
            Ok(Corpus {
                train: train_ids,
                valid: other("valid")?,
                test: other("test")?,
                vocab,
            })
        } else {
            let text = read(path)?;
            Self::from_text(&text, level, path)
        }
    }

    /// Splits one text 90/5/5 by lines into train, valid and test.
    pub fn from_text(text: &str, level: Level, path: &Path) -> Result<Self, CorpusError> {
        let lines: Vec<&str> = text.lines().collect();
        if lines.iter().all(|l| l.trim().is_empty()) {
            return Err(CorpusError::Empty(path.to_path_buf()));
        }
        // At least one line of training text; a one-line file has no
        // validation or test text.
        let train_end = (lines.len() * 90 / 100).clamp(1, lines.len());
        let valid_end = (lines.len() * 95 / 100).max(train_end);
        let join = |s: &[&str]| s.iter().map(|l| format!("{l}\n")).collect::<String>();
        let train_tokens = tokenize(&join(&lines[..train_end]), level);
        let vocab = build_vocab(&train_tokens);
        // Valid/test characters unseen in training: map to <unk> if present,
        // else drop to a known fallback by adding <unk> to the vocabulary.
        let mut vocab = vocab;
        let valid_tokens = tokenize(&join(&lines[train_end..valid_end]), level);
        let test_tokens = tokenize(&join(&lines[valid_end..]), level);
        if valid_tokens
            .iter()
            .chain(&test_tokens)
            .any(|(t, _)| vocab.id(t).is_none())
            && vocab.id(UNK).is_none()
        {
            let mut tokens = vocab.tokens.clone();
            tokens.push(UNK.to_string());
            vocab = Vocab::from_tokens(tokens);
        }
        Ok(Corpus {
            train: encode(&vocab, &train_tokens, path)?,
            valid: encode(&vocab, &valid_tokens, path)?,
            test: encode(&vocab, &test_tokens, path)?,
            vocab,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_level_adds_eos_and_maps_unknowns() {
        let train = tokenize("a b <unk>\nb c\n", Level::Word);
        let vocab = build_vocab(&train);
        assert_eq!(vocab.tokens, ["a", "b", "<unk>", EOS, "c"]);
        let ids = encode(&vocab, &tokenize("c zzz\n", Level::Word), Path::new("x")).unwrap();
        assert_eq!(ids, [4, 2, 3]);
    }

    #[test]
    fn unknown_token_without_unk_is_a_named_error() {
        let vocab = build_vocab(&tokenize("a b\n", Level::Word));
        let err = encode(
            &vocab,
            &tokenize("a\nb q\n", Level::Word),
            Path::new("f.txt"),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("f.txt:2") && msg.contains("\"q\""), "{msg}");
    }

    #[test]
    fn char_level_detects_ptb_char_files() {
        let spaced = tokenize("a b _ c\nd _ e\n", Level::Char);
        let toks: Vec<&str> = spaced.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(toks, ["a", "b", "_", "c", EOS, "d", "_", "e", EOS]);
        let raw = tokenize("ab c\n", Level::Char);
        let toks: Vec<&str> = raw.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(toks, ["a", "b", " ", "c", "\n"]);
    }

    #[test]
    fn bad_paths_and_empty_files_are_errors() {
        let missing = Corpus::load(Path::new("/nonexistent/file.txt"), Level::Word).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/file.txt"));
        let dir = std::env::temp_dir().join(format!("irnn-corpus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.txt");
        std::fs::write(&empty, "\n\n").unwrap();
        assert!(matches!(
            Corpus::load(&empty, Level::Char),
            Err(CorpusError::Empty(_))
        ));
        assert!(matches!(
            Corpus::load(&dir, Level::Word),
            Err(CorpusError::NoTrainFile { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn single_file_split_covers_every_line() {
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let c = Corpus::from_text(&text, Level::Word, Path::new("t")).unwrap();
        assert_eq!(c.train.len() + c.valid.len() + c.test.len(), 300);
        assert!(!c.valid.is_empty() && !c.test.is_empty());
    }

    #[test]
    fn tiny_texts_split_without_panicking() {
        let p = Path::new("tiny.txt");
        for text in ["ab\n", "ab", "a\nb", "a\nb\nc\n", "x"] {
            for level in [Level::Char, Level::Word] {
                let c = Corpus::from_text(text, level, p).unwrap();
                assert!(!c.train.is_empty(), "{text:?}");
            }
        }
        let c = Corpus::from_text("ab", Level::Char, p).unwrap();
        assert!(c.valid.is_empty() && c.test.is_empty());
        assert!(Corpus::from_text("\n\n", Level::Char, p).is_err());
    }
}
