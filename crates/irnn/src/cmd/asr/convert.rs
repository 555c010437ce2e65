//! `irnn convert` of an acoustic model: a checkpoint (with QAT ranges, or
//! calibrated on `--data`) to an `.irnn` speech model.

use anyhow::{bail, Result};
use clap::Args;
use irnn_runtime::format::write_speech_model;
use irnn_train::asr::checkpoint;
use irnn_train::asr::data::featurize;
use irnn_train::asr::export::integer_model;
use irnn_train::audio::LogMel;
use irnn_train::checkpoint::atomic_write;
use irnn_train::quant::pwl_fit::{PwlFitter, DEFAULT_KNOTS};

use super::{calibrate_on, open_speakers};
use crate::args::{ConvertCommon, DigitSetArgs};
use crate::model_file::ModelFile;

/// Options of `irnn convert` for speech models.
#[derive(Args, Debug)]
pub struct AsrConvertArgs {
    /// Training utterances used for calibration.
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = 300)]
    pub calibration_utterances: usize,
    #[command(flatten)]
    pub digits: DigitSetArgs,
}

/// `irnn convert` of an acoustic-model checkpoint.
pub fn run(file: &ModelFile, c: &ConvertCommon, a: &AsrConvertArgs) -> Result<()> {
    let ck = file.asr_checkpoint()?;
    let (ranges, knots, how) = match (&ck.quant, &c.data) {
        (Some(q), None) => (
            q.ranges.clone(),
            c.knots.unwrap_or(q.knots),
            "QAT ranges from the checkpoint",
        ),
        (_, Some(data)) => {
            let speakers = open_speakers(data, &ck.mel)?;
            let train = featurize(&speakers.train(&a.digits.sets())?, &LogMel::new(ck.mel));
            (
                calibrate_on(&ck.model, &train, a.calibration_utterances),
                c.knots.unwrap_or(DEFAULT_KNOTS),
                "calibrated on --data (post-training quantization)",
            )
        }
        (None, None) => bail!(
            "{} holds no quantization ranges (it was not saved by `irnn qat`); \
             pass --data FOLDER to calibrate them",
            file.path.display()
        ),
    };
    let int = integer_model(&ck.model, &ck.mel, &ranges, &mut PwlFitter::new(knots))?;
    let bytes = write_speech_model(&int);
    atomic_write(&c.out, &bytes)?;
    let fb = checkpoint::float_bytes(&ck.model);
    outln!(
        "wrote {}: speech model, {} bytes ({:.3} × the {fb} bytes of float weights), \
         {knots}-knot PWL tables, {how}",
        c.out.display(),
        bytes.len(),
        bytes.len() as f64 / fb as f64,
    );
    Ok(())
}
