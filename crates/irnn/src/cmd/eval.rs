//! `irnn eval`: a float checkpoint or an integer `.irnn` model (run by the
//! integer runtime) — perplexity or bits per character of a language model,
//! WER and CER of a speech model on the test speaker of `--data`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{ArgMatches, Args};

use super::asr::eval::AsrEvalArgs;
use super::lm::eval::LmEvalArgs;
use super::{asr, lm};
use crate::args::refuse_options_of;
use crate::model_file::{FileKind, ModelFile};

/// Arguments of `irnn eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A float checkpoint (.safetensors) or an integer model (.irnn, run by
    /// the integer runtime).
    model: PathBuf,
    /// Corpus (as for training; the test split is evaluated, or the whole
    /// file with --whole), or a speech model's recordings folder.
    #[arg(long, default_value = irnn_train::lm::data::EMBEDDED_DATA)]
    data: String,
    #[command(flatten, next_help_heading = "Language models")]
    lm: LmEvalArgs,
    #[command(flatten, next_help_heading = "Speech models")]
    asr: AsrEvalArgs,
}

/// Runs `irnn eval`.
pub fn run(a: EvalArgs, matches: &ArgMatches) -> Result<()> {
    let file = ModelFile::read(&a.model)?;
    if file.kind.is_speech() {
        refuse_options_of::<LmEvalArgs>(matches, &file, "language models")?;
    } else {
        refuse_options_of::<AsrEvalArgs>(matches, &file, "speech models")?;
    }
    match file.kind {
        FileKind::LanguageModel => lm::eval::model(&file, &a.data, &a.lm),
        FileKind::LmCheckpoint => lm::eval::checkpoint(&file, &a.data, &a.lm),
        FileKind::SpeechModel => asr::eval::model(&file, &a.data, &a.asr),
        FileKind::AsrCheckpoint => asr::eval::checkpoint(&file, &a.data, &a.asr),
    }
}
