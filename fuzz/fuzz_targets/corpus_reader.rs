//! Any text as a corpus, at both levels: a corpus or a named error, never a
//! panic.
#![no_main]

use std::path::Path;

use irnn_train::lm::data::{Corpus, Level};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        for level in [Level::Char, Level::Word] {
            let _ = Corpus::from_text(text, level, Path::new("fuzz.txt"));
        }
    }
});
