//! `irnn generate`: text from an integer language model.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use irnn_runtime::{Isa, TokenLevel};
use irnn_train::lm::generate::{decode, encode_prompt, generate};
use irnn_train::nn::rng::TrainRng;

use crate::model_file::{FileKind, ModelFile};

/// Arguments of `irnn generate`.
#[derive(Args, Debug)]
pub struct Generate {
    /// The `.irnn` model.
    model: PathBuf,
    /// Text to start from.
    #[arg(long, default_value = "\n")]
    prompt: String,
    /// Tokens to generate.
    #[arg(long, default_value_t = 300)]
    tokens: usize,
    /// Sampling temperature; 0 picks the most likely token (integer argmax).
    #[arg(long, default_value_t = 0.8)]
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
    let prompt = encode_prompt(&model.vocabulary, &a.prompt).context("encoding --prompt")?;
    let ids = generate(
        &model,
        Isa::detect(),
        &prompt,
        a.tokens,
        a.temperature,
        &mut TrainRng::seed(a.seed),
    )?;
    let sep = if model.vocabulary.level == TokenLevel::Word && !a.prompt.ends_with('\n') {
        " "
    } else {
        ""
    };
    println!("{}{sep}{}", a.prompt, decode(&model.vocabulary, &ids));
    Ok(())
}
