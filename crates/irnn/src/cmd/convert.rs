//! `irnn convert`: a float checkpoint to an integer `.irnn` model, language
//! or speech (the checkpoint says which).

use anyhow::Result;
use clap::{ArgMatches, Args};

use super::asr::convert::AsrConvertArgs;
use super::lm::convert::LmConvertArgs;
use super::{asr, lm};
use crate::args::{refuse_options_of, ConvertCommon};
use crate::model_file::{FileKind, ModelFile};

/// Arguments of `irnn convert`.
#[derive(Args, Debug)]
pub struct ConvertArgs {
    #[command(flatten)]
    common: ConvertCommon,
    #[command(flatten, next_help_heading = "Language models")]
    lm: LmConvertArgs,
    #[command(flatten, next_help_heading = "Speech models")]
    asr: AsrConvertArgs,
}

/// Runs `irnn convert`.
pub fn run(a: ConvertArgs, matches: &ArgMatches) -> Result<()> {
    let file = ModelFile::read(&a.common.checkpoint)?;
    let needs = "a float checkpoint (.safetensors from `irnn train` or `irnn qat`)";
    file.expect(
        &[FileKind::LmCheckpoint, FileKind::AsrCheckpoint],
        "convert",
        needs,
    )?;
    if file.kind.is_speech() {
        refuse_options_of::<LmConvertArgs>(matches, &file, "language models")?;
        asr::convert::run(&file, &a.common, &a.asr)
    } else {
        refuse_options_of::<AsrConvertArgs>(matches, &file, "speech models")?;
        lm::convert::run(&file, &a.common, &a.lm)
    }
}
