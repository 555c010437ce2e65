//! `irnn qat`: quantization-aware training of a float checkpoint, language
//! or acoustic model (the checkpoint says which).

use anyhow::Result;
use clap::{ArgMatches, Args};

use super::asr::qat::AsrQatArgs;
use super::lm::qat::LmQatArgs;
use super::{asr, lm};
use crate::args::{refuse_options_of, QatCommon};
use crate::model_file::{FileKind, ModelFile};

/// Arguments of `irnn qat`.
#[derive(Args, Debug)]
pub struct QatArgs {
    #[command(flatten)]
    common: QatCommon,
    #[command(flatten, next_help_heading = "Language models")]
    lm: LmQatArgs,
    #[command(flatten, next_help_heading = "Speech models")]
    asr: AsrQatArgs,
}

/// Runs `irnn qat`.
pub fn run(a: QatArgs, matches: &ArgMatches) -> Result<()> {
    let file = ModelFile::read(&a.common.checkpoint)?;
    let needs = "a float checkpoint (.safetensors from `irnn train`)";
    file.expect(
        &[FileKind::LmCheckpoint, FileKind::AsrCheckpoint],
        "qat",
        needs,
    )?;
    if file.kind.is_speech() {
        refuse_options_of::<LmQatArgs>(matches, &file, "language models")?;
        asr::qat::run(&file, &a.common, &a.asr)
    } else {
        refuse_options_of::<AsrQatArgs>(matches, &file, "speech models")?;
        lm::qat::run(&file, &a.common, &a.lm)
    }
}

/// Says which state QAT ended with when it is not the last epoch's:
/// `start` is the calibrated start's validation figure, `rule` what
/// "better on validation" took beyond "lower", ending in "; " (empty:
/// nothing).
pub fn report_kept(kept_epoch: usize, last_epoch: usize, start: Option<String>, rule: &str) {
    if kept_epoch == last_epoch {
        return;
    }
    match (kept_epoch, start) {
        (0, Some(start)) => outln!(
            "kept the calibrated start (PTQ): no epoch did better than its validation {start} ({rule}--keep-last keeps the last)"
        ),
        (_, Some(start)) => outln!(
            "kept epoch {kept_epoch}, the best on validation (the calibrated start's: {start}; {rule}--keep-last keeps the last)"
        ),
        (_, None) => outln!(
            "kept epoch {kept_epoch}, the best on validation ({rule}--keep-last keeps the last)"
        ),
    }
}
