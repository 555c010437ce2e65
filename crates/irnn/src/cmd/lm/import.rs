//! `irnn import`: a language model trained in PyTorch (a `state_dict`
//! saved with safetensors, word_language_model's layout) and its vocabulary
//! become an irnn checkpoint that `qat`, `convert`, `eval`, `generate` and
//! `inspect` accept.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use irnn_train::lm::checkpoint;
use irnn_train::lm::data::Level;
use irnn_train::lm::import::{from_safetensors, read_vocabulary};
use irnn_train::nn::optim::Optimizer;

use super::train::LevelArg;
use crate::model_file::read_checked;

/// Arguments of `irnn import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The PyTorch model: `safetensors.torch.save_file(model.state_dict(), …)`
    /// (or `save_model`, which stores tied weights once).
    model: PathBuf,
    /// The irnn checkpoint to write (.safetensors).
    #[arg(long, short)]
    out: PathBuf,
    /// The vocabulary, by id: a JSON array of tokens, or one token per line
    /// (escapes `\n`, `\t`, `\s`, `\\`).
    #[arg(long)]
    vocab: PathBuf,
    /// What the tokens are.
    #[arg(long, value_enum, default_value_t = LevelArg::Char)]
    level: LevelArg,
    /// What precedes `encoder.weight` in the names, for a language model
    /// inside another module (e.g. `model.`).
    #[arg(long, default_value = "")]
    prefix: String,
}

/// Runs `irnn import`.
pub fn run(a: ImportArgs) -> Result<()> {
    let bytes = read_checked(&a.model)?;
    let text = std::fs::read_to_string(&a.vocab)
        .with_context(|| format!("reading --vocab {}", a.vocab.display()))?;
    let vocab = read_vocabulary(&text)
        .map_err(|e| anyhow::anyhow!("--vocab {}: {e}", a.vocab.display()))?;
    let level = match a.level {
        LevelArg::Word => Level::Word,
        LevelArg::Char => Level::Char,
    };
    let imported = from_safetensors(&bytes, &a.prefix, vocab, level)
        .with_context(|| format!("importing {}", a.model.display()))?;
    checkpoint::save(
        &a.out,
        &imported.model,
        &imported.vocab,
        None,
        &Optimizer::default(),
        None,
    )?;
    outln!(
        "{}: {}\nwrote {}",
        a.model.display(),
        imported.describe(),
        a.out.display()
    );
    Ok(())
}
