//! `irnn qat` of an acoustic model: calibration, then quantization-aware
//! training whose forward pass is the integer model
//! (`irnn_train::asr::qat`); writes the QAT checkpoint and the `.irnn`
//! model, and checks that the file reproduces QAT's transcripts.

use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use indicatif::ProgressBar;
use irnn_runtime::format::write_speech_model;
use irnn_train::asr::checkpoint::{self, AsrQuantInfo};
use irnn_train::asr::data::{featurize, Split};
use irnn_train::asr::eval::{rates, Transcripts};
use irnn_train::asr::export::integer_model_at;
use irnn_train::asr::qat::{train_qat, AsrQatSettings, QatEpochReport, RANGE_MOMENTUM};
use irnn_train::asr::train::SpecAugment;
use irnn_train::audio::LogMel;
use irnn_train::checkpoint::write_pair;
use irnn_train::quant::pwl_fit::PwlFitter;
use irnn_train::train::{Observer, PairedDifference};

use super::{calibrate_on, open_corpus, scoring_units};
use crate::args::{QatCommon, SpeechDataArgs};
use crate::model_file::ModelFile;
use crate::progress::batch_bar;
use irnn_train::asr::units::Units;

/// Options of `irnn qat` for speech models.
#[derive(Args, Debug)]
pub struct AsrQatArgs {
    /// Training utterances used for the initial calibration.
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = 300)]
    pub calibration_utterances: usize,
    /// New training utterances every epoch after the first (as
    /// `irnn train asr --fresh-utterances`).
    #[arg(long)]
    pub fresh_utterances: bool,
    /// SpecAugment masks of each kind per utterance during QAT (as
    /// `irnn train asr --spec-augment`; 0: none).
    #[arg(value_parser = crate::args::parse::masks, long, default_value_t = 0)]
    pub spec_augment: usize,
    /// Widest frequency mask, in mel filters (0: time masks only).
    #[arg(value_parser = crate::args::parse::mask_size, long, default_value_t = 8)]
    pub spec_augment_band: usize,
    /// Longest time mask, in frames.
    #[arg(value_parser = crate::args::parse::mask_size, long, default_value_t = 10)]
    pub spec_augment_span: usize,
    /// Bits of the encoder's inputs and h: 8, or 16 (16-bit activations
    /// with 8-bit weights, for CTC models).
    #[arg(value_parser = crate::args::parse::activation_bits, long, default_value_t = 8)]
    pub activation_bits: u32,
    /// How much better on validation an epoch must be to replace the
    /// calibrated start (or the epoch kept before it): fewer word errors by
    /// more than this many standard errors of the per-utterance difference.
    /// A few hundred validation utterances move by a few errors between
    /// epochs, so "lower" alone keeps noise; 0: any lower WER (then CER).
    #[arg(value_parser = crate::args::parse::non_negative, long, default_value_t = 2.0)]
    pub keep_z: f64,
    #[command(flatten)]
    pub sets: SpeechDataArgs,
}

/// Draws a bar per epoch and prints one line per epoch.
struct EpochLines {
    bar: Option<ProgressBar>,
    units: Units,
    references: Vec<Vec<u32>>,
}

impl Observer<QatEpochReport> for EpochLines {
    fn epoch_start(&mut self, epoch: usize, updates: usize, _units: usize) {
        self.bar = Some(batch_bar(updates, epoch));
    }

    fn update_done(&mut self, done: usize, _units: usize, loss: f64, _lr: f64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
            bar.set_message(format!("integer CTC loss {loss:.3}"));
        }
    }

    fn epoch_end(&mut self, r: &QatEpochReport) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let against = match r.against_kept {
            Some((0, d)) => format!(" | vs the calibrated start {}", word_difference(d)),
            Some((e, d)) => format!(" | vs epoch {e} {}", word_difference(d)),
            None => String::new(),
        };
        outln!(
            "QAT epoch {} | lr {:.6} | {:.1} s | integer loss {:.3} | valid (integer) {}{against}",
            r.epoch,
            r.lr,
            r.seconds,
            r.train_loss,
            r.valid.rates(&self.units, &self.references)
        );
    }
}

/// "−5 word errors, 1.3 standard errors below", for an epoch's line.
fn word_difference(d: PairedDifference) -> String {
    let side = if d.standard_errors >= 0.0 {
        "below"
    } else {
        "above"
    };
    if !d.standard_errors.is_finite() {
        return format!("{:+} word errors, every utterance {side}", d.total);
    }
    format!(
        "{:+} word errors, {:.1} standard errors {side}",
        d.total,
        d.standard_errors.abs()
    )
}

/// `irnn qat` of an acoustic-model checkpoint.
pub fn run(file: &ModelFile, c: &QatCommon, a: &AsrQatArgs) -> Result<()> {
    let ck = file.asr_checkpoint()?;
    if c.batch == 0 || c.epochs == 0 {
        bail!("--batch and --epochs must be positive");
    }
    let (out, model_out) = c.outputs();
    let corpus = open_corpus(Some(&c.data), &a.sets, &ck.mel)?;
    let units = &ck.units;
    let scoring = scoring_units(&corpus, units, &file.path)?;
    let front = LogMel::new(ck.mel.clone());
    let train = featurize(&corpus.utterances(Split::Train)?, &front, units)?;
    let valid = featurize(&corpus.utterances(Split::Valid)?, &front, units)?;
    // Without a test set, the figures and the file's check are on the
    // validation set.
    let (test, test_name) = if corpus.has(Split::Test) {
        (
            featurize(&corpus.utterances(Split::Test)?, &front, units)?,
            corpus.test_name(),
        )
    } else {
        (
            valid.clone(),
            "validation set (no --test given)".to_string(),
        )
    };
    outln!(
        "{} / {} / {} utterances ({})",
        train.features.len(),
        valid.features.len(),
        test.features.len(),
        corpus.describe()
    );
    let mut model = ck.model;
    let float_test = Transcripts::float(&model, &test).rates(&scoring, &test.targets);
    let mut ranges = calibrate_on(&model, &train, a.calibration_utterances);
    let mut pwl = PwlFitter::new(c.knots);
    let bits = a.activation_bits;
    let ptq = integer_model_at(&model, &ck.mel, units, &ranges, bits, &mut pwl)?;
    let ptq_test = Transcripts::integer(&ptq, &test)?.rates(&scoring, &test.targets);
    outln!("{test_name}: float {float_test} | PTQ (calibration only, integer) {ptq_test}");
    let settings = AsrQatSettings {
        sets: a.sets.digits.sets(),
        epochs: c.epochs,
        batch: c.batch,
        lr: c.lr,
        clip: c.clip,
        fresh_utterances: a.fresh_utterances,
        spec_augment: SpecAugment {
            masks: a.spec_augment,
            max_band: a.spec_augment_band,
            max_span: a.spec_augment_span,
        },
        freeze_fraction: c.freeze,
        range_momentum: RANGE_MOMENTUM,
        keep_best: !c.keep_last,
        keep_z: a.keep_z,
        activation_bits: bits,
    };
    let start = Instant::now();
    let run = train_qat(
        &mut model,
        &ck.mel,
        units,
        &mut ranges,
        &mut pwl,
        &corpus,
        train,
        &valid,
        &settings,
        &mut EpochLines {
            bar: None,
            units: scoring.clone(),
            references: valid.targets.clone(),
        },
    )?;
    crate::cmd::qat::report_kept(
        run.kept_epoch,
        run.epochs,
        run.start_valid.as_ref().map(rates),
        &if a.keep_z > 0.0 {
            format!(
                "better: fewer word errors by more than {} standard errors, --keep-z; ",
                a.keep_z
            )
        } else {
            String::new()
        },
    );
    let int = integer_model_at(&model, &ck.mel, units, &ranges, bits, &mut pwl)?;
    let qat_transcripts = Transcripts::integer(&int, &test)?;
    let qat_test = qat_transcripts.rates(&scoring, &test.targets);
    let quant = AsrQuantInfo {
        ranges,
        knots: c.knots,
        activation_bits: bits,
    };
    let bytes = write_speech_model(&int);
    let ck_bytes = checkpoint::to_bytes(&model, &ck.mel, units, Some(&quant));
    // The checkpoint and its model, written so a kill never pairs them wrongly.
    write_pair((&out, &ck_bytes), (&model_out, &bytes))?;
    // The file, read back, must give QAT's transcripts.
    let back = ModelFile::read(&model_out)?.speech_model()?;
    let file_transcripts = Transcripts::integer(&back, &test)?;
    if file_transcripts != qat_transcripts {
        bail!(
            "{} does not reproduce the QAT model's transcripts",
            model_out.display(),
        );
    }
    let same = qat_transcripts.len();
    outln!(
        "{test_name}: float {float_test} | PTQ {ptq_test} | QAT → integer {qat_test}  ({:.0} s, {} PWL fits)",
        start.elapsed().as_secs_f64(),
        pwl.fits()
    );
    let fb = checkpoint::float_bytes(&model);
    outln!(
        "saved {} (float + ranges) and {} ({} bytes = {:.3} × the {fb} bytes of float weights); \
         the file reproduces all {same} QAT transcripts",
        out.display(),
        model_out.display(),
        bytes.len(),
        bytes.len() as f64 / fb as f64,
    );
    Ok(())
}
