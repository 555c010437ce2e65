//! `irnn inspect`: an `.irnn` model's layers, quantization parameters, PWL
//! tables and sizes; a checkpoint's architecture (and a language model's
//! tensors).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::{asr, lm};
use crate::model_file::{FileKind, ModelFile};

/// Arguments of `irnn inspect`.
#[derive(Args, Debug)]
pub struct Inspect {
    /// The `.irnn` model.
    model: PathBuf,
}

/// Runs `irnn inspect`.
pub fn run(a: Inspect) -> Result<()> {
    let file = ModelFile::read(&a.model)?;
    match file.kind {
        FileKind::SpeechModel => asr::inspect::run(&file),
        FileKind::LmCheckpoint => lm::inspect::checkpoint(&file),
        FileKind::LanguageModel => lm::inspect::run(&file),
        FileKind::AsrCheckpoint => asr::inspect::checkpoint(&file),
    }
}
