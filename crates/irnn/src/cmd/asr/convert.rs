//! `irnn convert` of an acoustic model: a checkpoint (with QAT ranges, or
//! calibrated on `--data`) to an `.irnn` speech model.

use anyhow::Result;
use clap::Args;
use irnn_runtime::format::write_speech_model;
use irnn_train::asr::checkpoint;
use irnn_train::asr::data::{featurize, Split};
use irnn_train::asr::export::integer_model_at;
use irnn_train::audio::LogMel;
use irnn_train::checkpoint::atomic_write;
use irnn_train::quant::pwl_fit::PwlFitter;

use super::{calibrate_on, open_corpus};
use crate::args::{Calibration, ConvertCommon, SpeechDataArgs};
use crate::model_file::ModelFile;

/// Options of `irnn convert` for speech models.
#[derive(Args, Debug)]
pub struct AsrConvertArgs {
    /// Training utterances used for calibration.
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = 300)]
    pub calibration_utterances: usize,
    /// Bits of the encoder's inputs and h: 8, or 16 (16-bit activations
    /// with 8-bit weights, for CTC models). Default: the QAT checkpoint's,
    /// else 8.
    #[arg(value_parser = crate::args::parse::activation_bits, long)]
    pub activation_bits: Option<u32>,
    #[command(flatten)]
    pub sets: SpeechDataArgs,
}

/// `irnn convert` of an acoustic-model checkpoint.
pub fn run(file: &ModelFile, c: &ConvertCommon, a: &AsrConvertArgs) -> Result<()> {
    let ck = file.asr_checkpoint()?;
    let saved = ck.quant.as_ref().map(|q| (&q.ranges, q.knots));
    let saved_bits = ck.quant.as_ref().map_or(8, |q| q.activation_bits);
    let bits = a.activation_bits.unwrap_or(saved_bits);
    let calibrate = |data: Option<&str>| -> Result<_> {
        let corpus = open_corpus(data, &a.sets, &ck.mel)?;
        let train = featurize(
            &corpus.utterances(Split::Train)?,
            &LogMel::new(ck.mel.clone()),
            &ck.units,
        )?;
        Ok(calibrate_on(&ck.model, &train, a.calibration_utterances))
    };
    let Calibration { ranges, knots, how } = if a.sets.listed() {
        Calibration {
            ranges: calibrate(c.data.as_deref())?,
            knots: c.knots.unwrap_or(irnn_train::quant::pwl_fit::DEFAULT_KNOTS),
            how: "calibrated on --train (post-training quantization)",
        }
    } else {
        c.calibration(saved, "FOLDER", |data| calibrate(Some(data)))?
    };
    let int = integer_model_at(
        &ck.model,
        &ck.mel,
        &ck.units,
        &ranges,
        bits,
        &mut PwlFitter::new(knots),
    )?;
    let bytes = write_speech_model(&int);
    atomic_write(&c.out, &bytes)?;
    let fb = checkpoint::float_bytes(&ck.model);
    outln!(
        "wrote {}: speech model, {} bytes ({:.3} × the {fb} bytes of float weights), \
         {bits}-bit activations, PWL tables of up to {knots} knots, {how}",
        c.out.display(),
        bytes.len(),
        bytes.len() as f64 / fb as f64,
    );
    Ok(())
}
