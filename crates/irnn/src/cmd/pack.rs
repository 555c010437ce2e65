//! `irnn pack`: rewrites an `.irnn` model in another layout — the in-place
//! layout that `read_model_in_place` uses where it lies (flash, a `static`,
//! a memory map), or back to the compact one. The model is unchanged: both
//! files give the same int32 logits.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use irnn_runtime::format::{read_model, write_model, Layout};
use irnn_train::checkpoint::atomic_write;

use crate::model_file::{FileKind, ModelFile};

/// The layouts `irnn pack` writes.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LayoutArg {
    /// Weights packed and aligned as the kernels read them (format 4): no
    /// copy at load time.
    InPlace,
    /// The smallest file (format 3): row-major weights, packed at load time.
    Compact,
}

/// Arguments of `irnn pack`.
#[derive(Args, Debug)]
pub struct PackArgs {
    /// The `.irnn` model (either kind, either layout).
    model: PathBuf,
    /// The `.irnn` file to write.
    #[arg(long, short)]
    out: PathBuf,
    /// The layout to write.
    #[arg(long, value_enum, default_value = "in-place")]
    layout: LayoutArg,
}

/// Runs `irnn pack`.
pub fn run(a: PackArgs) -> Result<()> {
    let file = ModelFile::read(&a.model)?;
    file.expect(
        &[FileKind::LanguageModel, FileKind::SpeechModel],
        "pack",
        "an integer model (.irnn)",
    )?;
    let model =
        read_model(&file.bytes).with_context(|| format!("loading {}", a.model.display()))?;
    let layout = match a.layout {
        LayoutArg::InPlace => Layout::InPlace,
        LayoutArg::Compact => Layout::Compact,
    };
    let bytes = write_model(&model, layout);
    atomic_write(&a.out, &bytes)?;
    outln!(
        "wrote {}: {} bytes in the {} layout (from {} bytes)",
        a.out.display(),
        bytes.len(),
        match a.layout {
            LayoutArg::InPlace => "in-place",
            LayoutArg::Compact => "compact",
        },
        file.bytes.len()
    );
    Ok(())
}
