//! `irnn qat` and `irnn convert`: from a float checkpoint to a `.irnn` model.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use irnn_runtime::format::write_language_model;
use irnn_train::checkpoint::atomic_write;
use irnn_train::lm::checkpoint::{self, QuantInfo};
use irnn_train::lm::data::{load_corpus, Corpus, Level, EMBEDDED_DATA};
use irnn_train::lm::qat::{train_qat, Qat, QatSettings};
use irnn_train::lm::train::EVAL_BATCH;
use irnn_train::lm::LanguageModel;
use irnn_train::lm::{calibrate, integer_model, QuantRanges};
use irnn_train::nn::optim::{Optimizer, Schedule};
use irnn_train::quant::pwl_fit::PwlFitter;

use crate::progress::{metric, Bars};
use crate::train_cmd::OptimArg;

/// Default PWL budget: 32 knots keep every gate's table within a few Q0.15
/// LSBs of the ideal function (docs/RESULTS.md, PWL section).
pub const DEFAULT_KNOTS: usize = 32;

#[derive(Args, Debug)]
pub struct QatArgs {
    /// The float checkpoint to fine-tune (a language model, or an acoustic
    /// model from `irnn train asr`: then --data is its recordings folder).
    pub(crate) checkpoint: PathBuf,
    /// Corpus the checkpoint was trained on.
    #[arg(long, default_value = EMBEDDED_DATA)]
    pub(crate) data: String,
    /// Where to save the QAT checkpoint (float weights + ranges).
    #[arg(long, short)]
    pub(crate) out: Option<PathBuf>,
    /// Where to write the integer model (default: the --out path with .irnn).
    #[arg(long)]
    pub(crate) model_out: Option<PathBuf>,
    /// Knots per PWL table.
    #[arg(long, default_value_t = DEFAULT_KNOTS)]
    pub(crate) knots: usize,
    /// Epochs of QAT.
    #[arg(long, default_value_t = 1)]
    pub(crate) epochs: usize,
    /// Parallel streams.
    #[arg(long, default_value_t = 20)]
    pub(crate) batch: usize,
    /// Window length.
    #[arg(long, default_value_t = 35)]
    pub(crate) bptt: usize,
    /// Optimizer.
    #[arg(long, value_enum, default_value_t = OptimArg::Adam)]
    pub(crate) optimizer: OptimArg,
    /// Learning rate (cosine-decayed to 0 over the epochs). Small: QAT
    /// fine-tunes a trained model (docs/RESULTS.md compares 3e-4 and 1e-4).
    #[arg(long, default_value_t = 1e-4)]
    pub(crate) lr: f64,
    /// Gradient-norm clip (loss averaged over tokens).
    #[arg(long, default_value_t = 1.0)]
    pub(crate) clip: f64,
    /// Dropout on the int8 inputs during QAT (default: the checkpoint's).
    #[arg(long)]
    pub(crate) dropout: Option<f64>,
    /// Fraction of the run, at the end, with frozen ranges.
    #[arg(long, default_value_t = 0.25)]
    pub(crate) freeze: f64,
    /// Training tokens for the initial calibration.
    #[arg(long, default_value_t = 20_000)]
    pub(crate) calibration_tokens: usize,
    /// Stop after this many windows (quick runs).
    #[arg(long)]
    pub(crate) max_windows: Option<usize>,
    /// Speech: training utterances used for the initial calibration.
    #[arg(long, default_value_t = 300)]
    pub(crate) calibration_utterances: usize,
    /// Speech: new training utterances every epoch after the first (as
    /// `irnn train asr --fresh-utterances`).
    #[arg(long)]
    pub(crate) fresh_utterances: bool,
    /// Speech: SpecAugment masks of each kind per utterance during QAT
    /// (as `irnn train asr --spec-augment`; 0: none).
    #[arg(long, default_value_t = 0)]
    pub(crate) spec_augment: usize,
    /// Speech: widest frequency mask, in mel filters (0: time masks only).
    #[arg(long, default_value_t = 8)]
    pub(crate) spec_augment_band: usize,
    /// Speech: longest time mask, in frames.
    #[arg(long, default_value_t = 10)]
    pub(crate) spec_augment_span: usize,
    #[command(flatten)]
    pub(crate) digits: crate::speech_cmd::DigitSets,
}

impl QatArgs {
    /// Where the QAT checkpoint and the `.irnn` go: `--out` (default
    /// `<checkpoint>-qat.safetensors` beside the input) and `--model-out`
    /// (default: the same path with `.irnn`).
    pub(crate) fn outputs(&self) -> (PathBuf, PathBuf) {
        let out = self.out.clone().unwrap_or_else(|| {
            let stem = self
                .checkpoint
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned());
            self.checkpoint
                .with_file_name(format!("{}-qat.safetensors", stem.unwrap_or_default()))
        });
        let model_out = self
            .model_out
            .clone()
            .unwrap_or_else(|| out.with_extension("irnn"));
        (out, model_out)
    }
}

fn load_matching_corpus(
    data: &str,
    model: &LanguageModel<f32>,
    vocab: &[String],
) -> Result<Corpus> {
    let corpus =
        load_corpus(data, model.config.level).with_context(|| format!("loading --data {data}"))?;
    if corpus.vocab.tokens != vocab {
        bail!("--data {data} has a different vocabulary from the checkpoint's training data");
    }
    Ok(corpus)
}

/// Calibration over the first `n` training tokens, with a spinner.
pub fn calibrate_with_spinner(
    model: &LanguageModel<f32>,
    corpus: &Corpus,
    n: usize,
) -> QuantRanges {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message(format!(
        "calibrating on {} training tokens",
        n.min(corpus.train.len())
    ));
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let r = calibrate(model, &corpus.train[..n.min(corpus.train.len())]);
    bar.finish_and_clear();
    r
}

/// The float weights-only checkpoint size, for size comparisons.
pub fn float_checkpoint_bytes(
    model: &LanguageModel<f32>,
    vocab: &irnn_train::lm::data::Vocab,
) -> usize {
    checkpoint::to_bytes(model, vocab, None, &Optimizer::default(), None, None).len()
}

pub fn qat(a: QatArgs) -> Result<()> {
    if irnn_train::asr::checkpoint::is_asr_checkpoint(&a.checkpoint) {
        return crate::speech_cmd::qat(a);
    }
    let ck = checkpoint::load(&a.checkpoint)
        .with_context(|| format!("loading {}", a.checkpoint.display()))?;
    let corpus = load_matching_corpus(&a.data, &ck.model, &ck.vocab.tokens)?;
    if a.batch == 0 || a.bptt == 0 || a.epochs == 0 {
        bail!("--batch, --bptt and --epochs must be positive");
    }
    let char_level = ck.model.config.level == Level::Char;
    let (out, model_out) = a.outputs();

    if a.dropout.is_some_and(|p| !(0.0..1.0).contains(&p)) {
        bail!(
            "--dropout must be in [0, 1), got {:?}",
            a.dropout.unwrap_or_default()
        );
    }
    let mut float = ck.model.clone();
    let float_valid = float.evaluate(&corpus.valid, EVAL_BATCH, a.bptt);
    let float_test = float.evaluate(&corpus.test, EVAL_BATCH, a.bptt);
    let ranges = calibrate_with_spinner(&ck.model, &corpus, a.calibration_tokens);
    let mut qat = Qat::new(ck.model, ck.vocab, ranges, a.knots)?;
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
    println!(
        "float: valid {} | PTQ (calibration only, integer): valid {}",
        metric(char_level, float_valid),
        metric(char_level, ptq_valid)
    );
    let settings = QatSettings {
        epochs: a.epochs,
        batch: a.batch,
        bptt: a.bptt,
        optimizer: a.optimizer.into(),
        lr: a.lr,
        schedule: Schedule::Cosine {
            epochs: a.epochs,
            min_lr: 0.0,
        },
        clip: a.clip,
        sum_over_time: false,
        freeze_fraction: a.freeze,
        max_windows: a.max_windows,
    };
    let start = std::time::Instant::now();
    train_qat(&mut qat, &corpus, &settings, &mut Bars::new(char_level))?;
    let qat_test = qat
        .evaluate(&corpus.test, EVAL_BATCH, a.bptt, false)?
        .0
        .mean();
    let info = QuantInfo {
        ranges: qat.ranges.clone(),
        knots: qat.knots(),
    };
    checkpoint::save_quantized(&out, &qat.model, &qat.vocab, &info)?;
    let int = qat.export()?;
    let bytes = write_language_model(&int);
    atomic_write(&model_out, &bytes)?;
    let float_bytes = float_checkpoint_bytes(&float, &qat.vocab);
    println!(
        "test: float {} | PTQ {} | QAT → integer {}  ({:.0} s, {} PWL fits)",
        metric(char_level, float_test),
        metric(char_level, ptq_test),
        metric(char_level, qat_test),
        start.elapsed().as_secs_f64(),
        qat.pwl_fits()
    );
    println!(
        "saved {} (float + ranges) and {} ({} bytes = {:.3} × the {}-byte float checkpoint)",
        out.display(),
        model_out.display(),
        bytes.len(),
        bytes.len() as f64 / float_bytes as f64,
        float_bytes
    );
    println!(
        "`irnn eval {} --data {}` reproduces the integer figure exactly.",
        model_out.display(),
        a.data
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// A float checkpoint: from `irnn qat` (ranges inside) or from training
    /// (calibrated on --data: post-training quantization).
    pub(crate) checkpoint: PathBuf,
    /// The `.irnn` file to write.
    #[arg(long, short)]
    pub(crate) out: PathBuf,
    /// Calibration corpus, for checkpoints without ranges.
    #[arg(long)]
    pub(crate) data: Option<String>,
    /// Knots per PWL table (default: the checkpoint's, else 32).
    #[arg(long)]
    pub(crate) knots: Option<usize>,
    /// Training tokens used for calibration.
    #[arg(long, default_value_t = 20_000)]
    pub(crate) calibration_tokens: usize,
    /// Speech: training utterances used for calibration.
    #[arg(long, default_value_t = 300)]
    pub(crate) calibration_utterances: usize,
    #[command(flatten)]
    pub(crate) digits: crate::speech_cmd::DigitSets,
}

pub fn convert(a: ConvertArgs) -> Result<()> {
    if irnn_train::asr::checkpoint::is_asr_checkpoint(&a.checkpoint) {
        return crate::speech_cmd::convert(a);
    }
    let ck = checkpoint::load(&a.checkpoint)
        .with_context(|| format!("loading {}", a.checkpoint.display()))?;
    let (ranges, knots, how) = match (&ck.quant, &a.data) {
        (Some(q), None) => (
            q.ranges.clone(),
            a.knots.unwrap_or(q.knots),
            "QAT ranges from the checkpoint",
        ),
        (_, Some(data)) => {
            let corpus = load_matching_corpus(data, &ck.model, &ck.vocab.tokens)?;
            let r = calibrate_with_spinner(&ck.model, &corpus, a.calibration_tokens);
            (
                r,
                a.knots.unwrap_or(DEFAULT_KNOTS),
                "calibrated on --data (post-training quantization)",
            )
        }
        (None, None) => bail!(
            "{} holds no quantization ranges (it was not saved by `irnn qat`); \
             pass --data CORPUS to calibrate them",
            a.checkpoint.display()
        ),
    };
    let int = integer_model(&ck.model, &ck.vocab, &ranges, &mut PwlFitter::new(knots))?;
    let bytes = write_language_model(&int);
    atomic_write(&a.out, &bytes)?;
    let float_bytes = float_checkpoint_bytes(&ck.model, &ck.vocab);
    println!(
        "wrote {}: {} bytes ({:.3} × the {}-byte float checkpoint), {knots}-knot PWL tables, {how}",
        a.out.display(),
        bytes.len(),
        bytes.len() as f64 / float_bytes as f64,
        float_bytes
    );
    Ok(())
}
