//! `irnn generate`: text from an integer language model.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use irnn_runtime::{Isa, TokenLevel};
use irnn_train::lm::generate::{encode_prompt, generate_each, TextWriter};
use irnn_train::nn::rng::TrainRng;

use crate::model_file::{FileKind, ModelFile};

/// Arguments of `irnn generate`.
#[derive(Args, Debug)]
pub struct Generate {
    /// The `.irnn` model.
    model: PathBuf,
    /// Text to start from.
    #[arg(long, default_value = "\n", conflicts_with = "prompt_file")]
    prompt: String,
    /// Read the text to start from from this file (for prompts longer than
    /// a command line allows).
    #[arg(long)]
    prompt_file: Option<PathBuf>,
    /// Tokens to generate.
    #[arg(long, default_value_t = 300)]
    tokens: usize,
    /// Sampling temperature; 0 picks the most likely token (integer argmax).
    #[arg(value_parser = crate::args::parse::non_negative, long, default_value_t = 0.8)]
    temperature: f64,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Runs `irnn generate`.
pub fn run(a: Generate) -> Result<()> {
    let file = ModelFile::read(&a.model)?;
    file.expect(
        &[FileKind::LanguageModel],
        "generate",
        "an integer language model (.irnn)",
    )?;
    let model = file.language_model()?;
    if !(a.temperature >= 0.0 && a.temperature.is_finite()) {
        bail!(
            "--temperature must be a finite number ≥ 0, got {}",
            a.temperature
        );
    }
    let text = match &a.prompt_file {
        Some(path) => read_prompt(path)?,
        None => a.prompt.clone(),
    };
    let source = match &a.prompt_file {
        Some(path) => format!("--prompt-file {}", path.display()),
        None => "--prompt".to_string(),
    };
    let prompt =
        encode_prompt(&model.vocabulary, &text).with_context(|| format!("encoding {source}"))?;
    let sep = if model.vocabulary.level == TokenLevel::Word && !text.ends_with('\n') {
        " "
    } else {
        ""
    };
    // Each token is printed as soon as it is chosen.
    out!("{text}{sep}");
    let mut writer = TextWriter::new(&model.vocabulary, true);
    generate_each(
        &model,
        Isa::detect(),
        &prompt,
        a.tokens,
        a.temperature,
        &mut TrainRng::seed(a.seed),
        |id| out!("{}", writer.piece(id)),
    )?;
    outln!();
    Ok(())
}

/// The largest prompt file read (a prompt is context, not a corpus).
const MAX_PROMPT_BYTES: u64 = 16 << 20;

fn read_prompt(path: &std::path::Path) -> Result<String> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("--prompt-file {}", path.display()))?
        .len();
    if len > MAX_PROMPT_BYTES {
        bail!(
            "--prompt-file {}: {len} bytes, more than the {MAX_PROMPT_BYTES} a prompt may have",
            path.display()
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("--prompt-file {}", path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| anyhow::anyhow!("--prompt-file {}: not UTF-8 text ({e})", path.display()))?;
    if text.contains('\0') {
        bail!(
            "--prompt-file {}: not a text file (it holds NUL bytes)",
            path.display()
        );
    }
    Ok(text)
}
