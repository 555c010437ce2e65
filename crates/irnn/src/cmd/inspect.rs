//! `irnn inspect`: an `.irnn` model's layers, quantization parameters, PWL
//! tables and sizes.

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
        // A checkpoint gets the model reader's error ("bad magic bytes"),
        // which says it is not a model file.
        _ => lm::inspect::run(&file),
    }
}
