//! `irnn qat` of a language model: calibration, then quantization-aware
//! training whose forward pass is the integer runtime; writes the QAT
//! checkpoint and the `.irnn` model.

use anyhow::{bail, Result};
use clap::Args;
use irnn_runtime::format::write_language_model;
use irnn_runtime::kernels::WeightBits;
use irnn_train::checkpoint::write_pair;
use irnn_train::lm::checkpoint::{self, QuantInfo};
use irnn_train::lm::data::Level;
use irnn_train::lm::qat::{train_qat, Qat, QatSettings};
use irnn_train::lm::train::EVAL_BATCH;
use irnn_train::lm::TableBits;
use irnn_train::nn::optim::Schedule;

use super::{calibrate_with_spinner, gptq_with_spinner, load_matching_corpus};
use crate::args::{OptimArg, QatCommon, TableBitsArgs};
use crate::model_file::ModelFile;
use crate::progress::{metric, Bars};

/// Options of `irnn qat` for language models.
#[derive(Args, Debug)]
pub struct LmQatArgs {
    /// Window length.
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = 35)]
    pub bptt: usize,
    /// Optimizer.
    #[arg(long, value_enum, default_value_t = OptimArg::Adam)]
    pub optimizer: OptimArg,
    /// Dropout on the int8 inputs during QAT (default: the checkpoint's).
    #[arg(value_parser = crate::args::parse::probability, long)]
    pub dropout: Option<f64>,
    /// Training tokens for the initial calibration.
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = 20_000)]
    pub calibration_tokens: usize,
    /// Stop after this many windows (quick runs).
    #[arg(value_parser = crate::args::parse::count, long)]
    pub max_windows: Option<usize>,
    #[command(flatten)]
    pub bits: TableBitsArgs,
    /// Anneal the rate by a cosine to 0 over every update of the run
    /// (`--max-windows` included) instead of once per epoch.
    #[arg(long)]
    pub anneal: bool,
    /// Learn each recurrent weight row's scale with the loss (LSQ), starting
    /// from the searched one, instead of searching it again at every export;
    /// meant for `--weight-bits 4` (the output layer and embedding keep
    /// searched scales).
    #[arg(long)]
    pub learn_steps: bool,
    /// Distil from the float checkpoint: its output distribution (float
    /// arithmetic, run beside the integer model over the same windows)
    /// takes this share of the training target, the data's token the rest.
    /// Meant for 4-bit weights; 0 is the same as leaving it out.
    #[arg(value_parser = crate::args::parse::fraction, long)]
    pub distill: Option<f64>,
    /// Round the recurrent matrices by GPTQ before calibration: each weight
    /// row onto its grid (the searched scale at `--weight-bits`), choosing
    /// up or down so that the gate pre-activations over the calibration
    /// tokens change least. PTQ (the start) and QAT then run from those
    /// weights. Meant for `--weight-bits 4`.
    #[arg(long)]
    pub gptq: bool,
    /// With `--learn-steps`: the scales' rate as a multiple of `--lr` (each
    /// step of their rate is a relative change of a scale).
    #[arg(value_parser = crate::args::parse::rate, long, default_value_t = 1.0, requires = "learn_steps")]
    pub step_lr_factor: f64,
}

/// `irnn qat` of a language-model checkpoint.
pub fn run(file: &ModelFile, c: &QatCommon, a: &LmQatArgs) -> Result<()> {
    let ck = file.lm_checkpoint()?;
    let corpus = load_matching_corpus(&c.data, &ck.model, &ck.vocab.tokens)?;
    if c.batch == 0 || a.bptt == 0 || c.epochs == 0 {
        bail!("--batch, --bptt and --epochs must be positive");
    }
    let char_level = ck.model.config.level == Level::Char;
    let (out, model_out) = c.outputs();

    if a.dropout.is_some_and(|p| !(0.0..1.0).contains(&p)) {
        bail!(
            "--dropout must be in [0, 1), got {:?}",
            a.dropout.unwrap_or_default()
        );
    }
    let mut float = ck.model.clone();
    let float_valid = float.evaluate(&corpus.valid, EVAL_BATCH, a.bptt);
    let float_test = float.evaluate(&corpus.test, EVAL_BATCH, a.bptt);
    let bits = a.bits.or(TableBits::uniform(WeightBits::Eight));
    let teacher = a.distill.map(|w| (ck.model.clone(), w));
    let mut model = ck.model;
    if a.gptq {
        gptq_with_spinner(&mut model, &corpus, a.calibration_tokens, bits.recurrent)?;
    }
    let ranges = calibrate_with_spinner(&model, &corpus, a.calibration_tokens);
    let mut qat = Qat::new(model, ck.vocab, ranges, c.knots)?;
    if let Some((model, weight)) = teacher {
        qat.distill_from(model, weight);
    }
    qat.bits = bits;
    if a.learn_steps {
        qat.learn_steps(a.step_lr_factor);
    }
    if let Some(p) = a.dropout {
        qat.dropout = p;
    }
    // Before training, the exported model is the calibration-only one (PTQ).
    let ptq_valid = qat
        .evaluate(&corpus.valid, EVAL_BATCH, a.bptt, false)?
        .0
        .mean();
    let ptq_test = qat
        .evaluate(&corpus.test, EVAL_BATCH, a.bptt, false)?
        .0
        .mean();
    outln!(
        "float: valid {} | PTQ (calibration only, integer): valid {}",
        metric(char_level, float_valid),
        metric(char_level, ptq_valid)
    );
    let settings = QatSettings {
        epochs: c.epochs,
        batch: c.batch,
        bptt: a.bptt,
        optimizer: a.optimizer.into(),
        lr: c.lr,
        schedule: Schedule::Cosine {
            epochs: c.epochs,
            min_lr: 0.0,
        },
        clip: c.clip,
        sum_over_time: false,
        freeze_fraction: c.freeze,
        max_windows: a.max_windows,
        keep_best: !c.keep_last,
        anneal_per_update: a.anneal,
    };
    let start = std::time::Instant::now();
    let run = train_qat(&mut qat, &corpus, &settings, &mut Bars::new(char_level))?;
    crate::cmd::qat::report_kept(
        run.kept_epoch,
        run.reports.last().map_or(0, |r| r.epoch),
        run.start_valid
            .is_finite()
            .then(|| metric(char_level, run.start_valid)),
        "",
    );
    let qat_test = qat
        .evaluate(&corpus.test, EVAL_BATCH, a.bptt, false)?
        .0
        .mean();
    let info = QuantInfo::new(
        qat.ranges.clone(),
        qat.knots(),
        qat.bits,
        qat.learned_steps.as_ref().map(|s| s.cell_steps()),
    );
    let int = qat.export()?;
    let bytes = write_language_model(&int);
    let ck_bytes = checkpoint::to_bytes(
        &qat.model,
        &qat.vocab,
        None,
        &Default::default(),
        None,
        Some(&info),
    );
    // The checkpoint and its model, written so a kill never pairs them wrongly.
    write_pair((&out, &ck_bytes), (&model_out, &bytes))?;
    let float_bytes = checkpoint::float_bytes(&float, &qat.vocab);
    outln!(
        "test: float {} | PTQ {} | QAT → integer {}  ({}, {:.0} s, {} PWL fits)",
        metric(char_level, float_test),
        metric(char_level, ptq_test),
        metric(char_level, qat_test),
        qat.bits,
        start.elapsed().as_secs_f64(),
        qat.pwl_fits()
    );
    outln!(
        "saved {} (float + ranges) and {} ({} bytes = {:.3} × the {}-byte float checkpoint)",
        out.display(),
        model_out.display(),
        bytes.len(),
        bytes.len() as f64 / float_bytes as f64,
        float_bytes
    );
    outln!(
        "`irnn eval {} --data {}` reproduces the integer figure exactly.",
        model_out.display(),
        c.data
    );
    Ok(())
}
