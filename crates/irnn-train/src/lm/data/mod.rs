//! Text corpora for language models: vocabularies, token streams, and the
//! parallel-stream batching of Zaremba et al.

pub mod batch;
pub mod corpus;

pub use batch::Batches;
pub use corpus::{Corpus, Level, Vocab};

/// The Tiny Shakespeare slice embedded in the repository (public domain):
/// the demo's and the tests' corpus, no files needed.
pub const TINY_SHAKESPEARE_SLICE: &str = include_str!("../../../data/tinyshakespeare-slice.txt");

/// The `--data` value that selects [`TINY_SHAKESPEARE_SLICE`].
pub const EMBEDDED_DATA: &str = "embedded:tinyshakespeare";

/// Loads `--data`: the embedded slice, a directory of splits, or one file.
pub fn load_corpus(data: &str, level: Level) -> Result<Corpus, corpus::CorpusError> {
    if data == EMBEDDED_DATA {
        Corpus::from_text(
            TINY_SHAKESPEARE_SLICE,
            level,
            std::path::Path::new(EMBEDDED_DATA),
        )
    } else {
        Corpus::load(std::path::Path::new(data), level)
    }
}

/// The trainer's vocabulary of an integer model's token list.
pub fn vocab_of(model: &irnn_runtime::model::IntLanguageModel) -> Vocab {
    let mut v = Vocab::from_tokens(model.vocabulary.tokens.clone());
    v.reindex();
    v
}

/// The trainer's token level of an integer model.
pub fn level_of(model: &irnn_runtime::model::IntLanguageModel) -> Level {
    match model.vocabulary.level {
        irnn_runtime::TokenLevel::Word => Level::Word,
        irnn_runtime::TokenLevel::Char => Level::Char,
    }
}

/// Why there is nothing to evaluate.
#[derive(Debug, thiserror::Error)]
pub enum EvalDataError {
    /// `--data` could not be read as one file (`whole`).
    #[error("reading {data}: {source}")]
    Read {
        /// The data given.
        data: String,
        /// The cause.
        source: corpus::CorpusError,
    },
    /// `--data` could not be loaded as a corpus.
    #[error("loading --data {data}: {source}")]
    Load {
        /// The data given.
        data: String,
        /// The cause.
        source: corpus::CorpusError,
    },
    /// The corpus's training split gives another vocabulary.
    #[error(
        "--data {data} has a different vocabulary from the model's training data \
         (use --whole to score a file with the model's vocabulary)"
    )]
    OtherVocabulary {
        /// The data given.
        data: String,
    },
    /// Fewer tokens than streams.
    #[error("--data {data}: too few tokens to evaluate ({tokens})")]
    TooFew {
        /// The data given.
        data: String,
        /// Tokens found.
        tokens: usize,
    },
}

/// Token ids to evaluate: the test split of `data` (whose training split
/// must give `vocab`), or every token of one file with `whole`; at least
/// `streams + 1` of them.
pub fn eval_tokens(
    vocab: &Vocab,
    level: Level,
    data: &str,
    whole: bool,
    streams: usize,
) -> Result<Vec<u32>, EvalDataError> {
    let tokens = if whole {
        corpus::encode_file(vocab, std::path::Path::new(data), level).map_err(|source| {
            EvalDataError::Read {
                data: data.into(),
                source,
            }
        })?
    } else {
        let corpus = load_corpus(data, level).map_err(|source| EvalDataError::Load {
            data: data.into(),
            source,
        })?;
        if corpus.vocab.tokens != vocab.tokens {
            return Err(EvalDataError::OtherVocabulary { data: data.into() });
        }
        corpus.test
    };
    if tokens.len() < streams + 1 {
        return Err(EvalDataError::TooFew {
            data: data.into(),
            tokens: tokens.len(),
        });
    }
    Ok(tokens)
}
