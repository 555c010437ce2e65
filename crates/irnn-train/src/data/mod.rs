//! Text corpora for language models: vocabularies, token streams, and the
//! parallel-stream batching of Zaremba et al.

pub mod batch;
pub mod corpus;

pub use batch::Batches;
pub use corpus::{Corpus, Level, Vocab};
