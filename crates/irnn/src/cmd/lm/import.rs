//! `irnn import`: a language model trained elsewhere — a PyTorch
//! `state_dict` saved with safetensors (word_language_model's layout) or an
//! ONNX graph (embedding → LSTM/GRU → linear) — and its vocabulary become an
//! irnn checkpoint that `qat`, `convert`, `eval`, `generate` and `inspect`
//! accept. The file's kind is decided from its bytes.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use irnn_train::lm::checkpoint;
use irnn_train::lm::data::Level;
use irnn_train::lm::import::{from_onnx, from_safetensors, read_vocabulary};
use irnn_train::nn::optim::Optimizer;

use super::train::LevelArg;

/// Arguments of `irnn import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The model: `safetensors.torch.save_file(model.state_dict(), …)` (or
    /// `save_model`, which stores tied weights once), or an ONNX file
    /// (`torch.onnx.export`).
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
    /// inside another module (e.g. `model.`; safetensors only).
    #[arg(long, default_value = "")]
    prefix: String,
}

/// Runs `irnn import`.
pub fn run(a: ImportArgs) -> Result<()> {
    let bytes = read_input(&a.model)?;
    let text = std::fs::read_to_string(&a.vocab)
        .with_context(|| format!("reading --vocab {}", a.vocab.display()))?;
    let vocab = read_vocabulary(&text)
        .map_err(|e| anyhow::anyhow!("--vocab {}: {e}", a.vocab.display()))?;
    let level = match a.level {
        LevelArg::Word => Level::Word,
        LevelArg::Char => Level::Char,
    };
    let imported = if is_safetensors(&bytes) {
        from_safetensors(&bytes, &a.prefix, vocab, level)
    } else {
        if !a.prefix.is_empty() {
            anyhow::bail!(
                "--prefix applies to safetensors files; {} is not one (read as ONNX)",
                a.model.display()
            );
        }
        from_onnx(&bytes, vocab, level)
    }
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

/// A safetensors file starts with the little-endian length of its JSON
/// header, then `{`.
fn is_safetensors(bytes: &[u8]) -> bool {
    bytes.len() > 8
        && bytes[8] == b'{'
        && u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) < bytes.len() as u64
}

/// The largest model file read (a state_dict or ONNX graph is held whole).
const MAX_IMPORT_BYTES: u64 = 4 << 30;

/// The bytes of `path`: not a directory, not empty, at most
/// [`MAX_IMPORT_BYTES`] (pipes read up to that).
fn read_input(path: &std::path::Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let shown = path.display();
    let file = std::fs::File::open(path).with_context(|| format!("reading {shown}"))?;
    let meta = file
        .metadata()
        .with_context(|| format!("reading {shown}"))?;
    if meta.is_dir() {
        anyhow::bail!("{shown} is a directory, not a model file");
    }
    if meta.is_file() && meta.len() > MAX_IMPORT_BYTES {
        anyhow::bail!(
            "{shown}: {} bytes, more than the {MAX_IMPORT_BYTES} irnn imports",
            meta.len()
        );
    }
    let mut bytes = Vec::new();
    file.take(MAX_IMPORT_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {shown}"))?;
    if bytes.is_empty() {
        anyhow::bail!("{shown} is empty: not a model file");
    }
    if bytes.len() as u64 > MAX_IMPORT_BYTES {
        anyhow::bail!("{shown}: more than the {MAX_IMPORT_BYTES} bytes irnn imports");
    }
    Ok(bytes)
}
