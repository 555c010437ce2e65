//! `irnn export`: a float language-model checkpoint (e.g. after `irnn qat`)
//! written for other tools — a safetensors `state_dict` in PyTorch's names,
//! or an ONNX graph.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use irnn_train::checkpoint::atomic_write;
use irnn_train::lm::float_export::{to_onnx, to_safetensors};

use crate::model_file::{FileKind, ModelFile};

/// Formats `irnn export` writes.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    /// PyTorch word_language_model names; the vocabulary in the metadata.
    Safetensors,
    /// An ONNX graph (opset 14): tokens int64 [steps, 1] → logits.
    Onnx,
}

/// Arguments of `irnn export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A float language-model checkpoint.
    checkpoint: PathBuf,
    /// The file to write.
    #[arg(long, short)]
    out: PathBuf,
    /// What to write.
    #[arg(long, value_enum)]
    format: ExportFormat,
}

/// Runs `irnn export`.
pub fn run(a: ExportArgs) -> Result<()> {
    let file = ModelFile::read(&a.checkpoint)?;
    file.expect(
        &[FileKind::LmCheckpoint],
        "export",
        "a float language-model checkpoint",
    )?;
    let ck = file.lm_checkpoint()?;
    let bytes = match a.format {
        ExportFormat::Safetensors => to_safetensors(&ck.model, &ck.vocab)?,
        ExportFormat::Onnx => to_onnx(&ck.model)?,
    };
    atomic_write(&a.out, &bytes)?;
    outln!("wrote {}: {} bytes", a.out.display(), bytes.len());
    Ok(())
}
