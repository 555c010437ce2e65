//! `irnn convert` of a language model: a checkpoint (with QAT ranges, or
//! calibrated on `--data`) to an `.irnn` model.

use anyhow::{bail, Result};
use clap::Args;
use irnn_runtime::format::write_language_model;
use irnn_runtime::kernels::WeightBits;
use irnn_train::checkpoint::atomic_write;
use irnn_train::lm::checkpoint;
use irnn_train::lm::{integer_model_with_steps, TableBits};
use irnn_train::quant::pwl_fit::PwlFitter;

use super::{calibrate_with_spinner, gptq_with_spinner, load_matching_corpus};
use crate::args::{Calibration, ConvertCommon, TableBitsArgs};
use crate::model_file::ModelFile;

/// Options of `irnn convert` for language models.
#[derive(Args, Debug)]
pub struct LmConvertArgs {
    /// Training tokens used for calibration.
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = 20_000)]
    pub calibration_tokens: usize,
    /// Default of the widths: the QAT checkpoint's, else 8.
    #[command(flatten)]
    pub bits: TableBitsArgs,
    /// Round the recurrent matrices by GPTQ over the calibration tokens
    /// (needs --data): each weight row onto its grid, choosing up or down so
    /// that the gate pre-activations change least. Meant for
    /// `--weight-bits 4`.
    #[arg(long)]
    pub gptq: bool,
}

/// `irnn convert` of a language-model checkpoint.
pub fn run(file: &ModelFile, c: &ConvertCommon, a: &LmConvertArgs) -> Result<()> {
    let ck = file.lm_checkpoint()?;
    let saved_bits = match &ck.quant {
        Some(q) if c.data.is_none() => q.table_bits().map_err(anyhow::Error::msg)?,
        _ => TableBits::uniform(WeightBits::Eight),
    };
    let bits = a.bits.or(saved_bits);
    let mut model = ck.model.clone();
    if a.gptq {
        let Some(data) = &c.data else {
            bail!("--gptq rounds over calibration tokens: pass --data CORPUS");
        };
        let corpus = load_matching_corpus(data, &model, &ck.vocab.tokens)?;
        gptq_with_spinner(&mut model, &corpus, a.calibration_tokens, bits.recurrent)?;
    }
    let saved = ck.quant.as_ref().map(|q| (&q.ranges, q.knots));
    let Calibration { ranges, knots, how } = c.calibration(saved, "CORPUS", |data| {
        let corpus = load_matching_corpus(data, &model, &ck.vocab.tokens)?;
        Ok(calibrate_with_spinner(
            &model,
            &corpus,
            a.calibration_tokens,
        ))
    })?;
    // QAT's learned row scales belong to its ranges and recurrent width.
    let steps = match &ck.quant {
        Some(q) if c.data.is_none() && bits.recurrent == saved_bits.recurrent => q.steps.as_deref(),
        _ => None,
    };
    let int = integer_model_with_steps(
        &model,
        &ck.vocab,
        &ranges,
        bits,
        steps,
        &mut PwlFitter::new(knots),
    )?;
    let bytes = write_language_model(&int);
    atomic_write(&c.out, &bytes)?;
    let float_bytes = checkpoint::float_bytes(&ck.model, &ck.vocab);
    outln!(
        "wrote {}: {} bytes ({:.3} × the {}-byte float checkpoint), {bits}, PWL tables of up to {knots} knots, {how}",
        c.out.display(),
        bytes.len(),
        bytes.len() as f64 / float_bytes as f64,
        float_bytes
    );
    Ok(())
}
