//! Penn Treebank as the readers see it. PTB lives in ../shared (research-only
//! licence, never committed); on a fresh clone without it these tests say
//! they skipped and pass.

use std::path::PathBuf;

use irnn_train::lm::data::{Corpus, Level};

fn ptb() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ptb");
    if dir.join("ptb.train.txt").is_file() {
        Some(dir)
    } else {
        eprintln!("skipped: {} not present", dir.display());
        None
    }
}

#[test]
fn word_level_matches_mikolov_counts() {
    let Some(dir) = ptb() else { return };
    let c = Corpus::load(&dir, Level::Word).unwrap();
    // 10k vocabulary (with <unk> and <eos>), and the usual token counts.
    assert_eq!(c.vocab.len(), 10_000);
    assert_eq!(
        (c.train.len(), c.valid.len(), c.test.len()),
        (929_589, 73_760, 82_430)
    );
}

#[test]
fn char_level_reads_the_spaced_character_files() {
    let Some(dir) = ptb() else { return };
    let c = Corpus::load(&dir, Level::Char).unwrap();
    assert_eq!(c.vocab.len(), 50);
    assert!(c.vocab.id("_").is_some() && c.vocab.id("<eos>").is_some());
    assert_eq!(c.train.len(), 5_017_483);
}
