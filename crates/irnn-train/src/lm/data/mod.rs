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
