//! Argument groups that several subcommands share, flattened into each, and
//! the check that a task's options are not given for a file of the other
//! task.

use anyhow::{bail, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, ValueEnum};
use irnn_runtime::kernels::WeightBits;
use irnn_train::asr::data::DigitSets;
use irnn_train::lm::TableBits;
use irnn_train::nn::optim::OptimizerKind;

use crate::model_file::ModelFile;

/// The optimizer.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OptimArg {
    /// Stochastic gradient descent.
    Sgd,
    /// Adam.
    Adam,
}

impl From<OptimArg> for OptimizerKind {
    fn from(o: OptimArg) -> Self {
        match o {
            OptimArg::Sgd => OptimizerKind::Sgd,
            OptimArg::Adam => OptimizerKind::Adam,
        }
    }
}

/// Which connected-digit utterances to build from a recordings folder.
#[derive(Args, Debug, Clone)]
pub struct DigitSetArgs {
    /// Connected-digit utterances built from the training speakers (--data).
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = DigitSets::default().train_utterances)]
    pub train_utterances: usize,
    /// Utterances of the validation speaker.
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = DigitSets::default().valid_utterances)]
    pub valid_utterances: usize,
    /// Utterances of the test speaker.
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = DigitSets::default().test_utterances)]
    pub test_utterances: usize,
    /// Seed of the digit utterances and, in training, of initialisation,
    /// order and augmentation.
    #[arg(long, default_value_t = DigitSets::default().seed)]
    pub seed: u64,
}

impl DigitSetArgs {
    /// The library's form.
    pub fn sets(&self) -> DigitSets {
        DigitSets {
            train_utterances: self.train_utterances,
            valid_utterances: self.valid_utterances,
            test_utterances: self.test_utterances,
            seed: self.seed,
        }
    }
}

/// Where a speech command's utterances come from: a digit recordings
/// folder (`--data`, with the digit sets' sizes and seed) or a manifest or
/// data directory per set.
#[derive(Args, Debug, Clone)]
pub struct SpeechDataArgs {
    #[command(flatten)]
    pub digits: DigitSetArgs,
    /// Training set: a Kaldi/ESPnet data directory (wav.scp + text,
    /// optional utt2spk) or a NeMo JSON-lines manifest; instead of --data.
    #[arg(long, value_name = "MANIFEST")]
    pub train: Option<std::path::PathBuf>,
    /// Validation set (as --train).
    #[arg(long, value_name = "MANIFEST")]
    pub valid: Option<std::path::PathBuf>,
    /// Test set (as --train).
    #[arg(long, value_name = "MANIFEST")]
    pub test: Option<std::path::PathBuf>,
}

impl SpeechDataArgs {
    /// Whether any manifest was given.
    pub fn listed(&self) -> bool {
        self.train.is_some() || self.valid.is_some() || self.test.is_some()
    }
}

/// How the attention decoder's beam search scores hypotheses.
#[derive(Args, Debug, Clone)]
pub struct JointArgs {
    /// Joint CTC/attention decoding: the CTC prefix score's weight λ in
    /// λ·CTC + (1 − λ)·attention (0: the decoder alone; ESPnet decodes
    /// with 0.3).
    #[arg(value_parser = crate::args::parse::fraction, long, default_value_t = 0.0)]
    pub ctc_weight: f64,
    /// Rank finished hypotheses by score per label.
    #[arg(long)]
    pub length_norm: bool,
}

impl JointArgs {
    /// The search for `beam` hypotheses.
    pub fn config(&self, beam: usize) -> irnn_train::asr::decode::beam::BeamConfig {
        irnn_train::asr::decode::beam::BeamConfig {
            beam,
            ctc_weight: self.ctc_weight,
            length_norm: self.length_norm,
        }
    }
}

/// Fails if an option of the group `G` (the other task's options) was
/// given on the command line for `file`, naming the option and the file.
pub fn refuse_options_of<G: Args>(
    matches: &ArgMatches,
    file: &ModelFile,
    task: &str,
) -> Result<()> {
    let group = G::augment_args(clap::Command::new("group"));
    for arg in group.get_arguments() {
        if matches.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine) {
            bail!(
                "--{} applies to {task} only; {} is {}",
                arg.get_long().unwrap_or(arg.get_id().as_str()),
                file.path.display(),
                file.kind.describe()
            );
        }
    }
    Ok(())
}

/// Widths of a language model's weight tables (`irnn qat`, `irnn convert`).
#[derive(Args, Debug)]
pub struct TableBitsArgs {
    /// Bits per weight of every table (recurrent layers, output layer,
    /// embedding), 8 or 4; `--output-bits` / `--embedding-bits` set those
    /// two apart. Default: 8, or for `irnn convert` of a QAT checkpoint its
    /// widths.
    #[arg(value_parser = parse::weight_bits, long)]
    pub weight_bits: Option<WeightBits>,
    /// Bits of the output layer's table, 8 or 4 (default: --weight-bits).
    #[arg(value_parser = parse::weight_bits, long)]
    pub output_bits: Option<WeightBits>,
    /// Bits of the embedding table, 8 or 4 (default: --weight-bits).
    #[arg(value_parser = parse::weight_bits, long)]
    pub embedding_bits: Option<WeightBits>,
}

impl TableBitsArgs {
    /// The widths asked for; what is not given comes from `--weight-bits`,
    /// then from `default`.
    pub fn or(&self, default: TableBits) -> TableBits {
        let all = self.weight_bits;
        TableBits {
            recurrent: all.unwrap_or(default.recurrent),
            output: self.output_bits.or(all).unwrap_or(default.output),
            embedding: self.embedding_bits.or(all).unwrap_or(default.embedding),
        }
    }
}

/// Options of `irnn qat` for every model kind.
#[derive(Args, Debug)]
pub struct QatCommon {
    /// The float checkpoint to fine-tune (a language model, or an acoustic
    /// model from `irnn train asr`: then --data is its recordings folder).
    pub checkpoint: std::path::PathBuf,
    /// Corpus (language model) or recordings folder (speech) the checkpoint
    /// was trained on.
    #[arg(long, default_value = irnn_train::lm::data::EMBEDDED_DATA)]
    pub data: String,
    /// Where to save the QAT checkpoint (float weights + ranges).
    #[arg(long, short)]
    pub out: Option<std::path::PathBuf>,
    /// Where to write the integer model (default: the --out path with .irnn).
    #[arg(long)]
    pub model_out: Option<std::path::PathBuf>,
    /// Knots per PWL table.
    #[arg(value_parser = crate::args::parse::knots, long, default_value_t = irnn_train::quant::pwl_fit::DEFAULT_KNOTS)]
    pub knots: usize,
    /// Epochs of QAT.
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = 1)]
    pub epochs: usize,
    /// Parallel streams (language model) or utterances per update (speech).
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = 20)]
    pub batch: usize,
    /// Learning rate (cosine-decayed to 0 over the epochs). Small: QAT
    /// fine-tunes a trained model (docs/RESULTS.md compares 3e-4 and 1e-4).
    #[arg(value_parser = crate::args::parse::rate, long, default_value_t = 1e-4)]
    pub lr: f64,
    /// Gradient-norm clip (loss averaged over tokens).
    #[arg(value_parser = crate::args::parse::non_negative, long, default_value_t = 1.0)]
    pub clip: f64,
    /// Fraction of the run, at the end, with frozen ranges (before it the
    /// ranges follow the model by a moving average; 1 keeps the
    /// calibrated ones).
    #[arg(value_parser = crate::args::parse::fraction, long, default_value_t = 0.25)]
    pub freeze: f64,
    /// Keep the weights QAT ends with even where validation prefers the
    /// calibrated start (PTQ) or an earlier epoch (by default the best on
    /// validation is kept: loss for language models, the CTC head's word
    /// errors for speech, see --keep-z).
    #[arg(long)]
    pub keep_last: bool,
}

impl QatCommon {
    /// Where the QAT checkpoint and the `.irnn` go: `--out` (default
    /// `<checkpoint>-qat.safetensors` beside the input) and `--model-out`
    /// (default: the same path with `.irnn`).
    pub fn outputs(&self) -> (std::path::PathBuf, std::path::PathBuf) {
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

/// Where a conversion's ranges come from, and its knot budget.
pub struct Calibration<R> {
    /// The activation ranges.
    pub ranges: R,
    /// Knots per PWL table at most (the fitter stops earlier once a table
    /// is within one output step of the ideal function).
    pub knots: usize,
    /// How the ranges were obtained, for the report.
    pub how: &'static str,
}

impl ConvertCommon {
    /// The ranges `saved` in the checkpoint with their knots (QAT), or,
    /// with `--data`, those `calibrate(data)` measures (post-training
    /// quantization); `--knots` overrides the budget. Without either, an
    /// error that says to pass `--data` (`data_kind`: what it names).
    pub fn calibration<R: Clone>(
        &self,
        saved: Option<(&R, usize)>,
        data_kind: &str,
        calibrate: impl FnOnce(&str) -> Result<R>,
    ) -> Result<Calibration<R>> {
        let pick = |default: usize| self.knots.unwrap_or(default);
        Ok(match (saved, &self.data) {
            (Some((ranges, knots)), None) => Calibration {
                ranges: ranges.clone(),
                knots: pick(knots),
                how: "QAT ranges from the checkpoint",
            },
            (_, Some(data)) => Calibration {
                ranges: calibrate(data)?,
                knots: pick(irnn_train::quant::pwl_fit::DEFAULT_KNOTS),
                how: "calibrated on --data (post-training quantization)",
            },
            (None, None) => bail!(
                "{} holds no quantization ranges (it was not saved by `irnn qat`); \
                 pass --data {data_kind} to calibrate them",
                self.checkpoint.display()
            ),
        })
    }
}

/// Options of `irnn convert` for every model kind.
#[derive(Args, Debug)]
pub struct ConvertCommon {
    /// A float checkpoint: from `irnn qat` (ranges inside) or from training
    /// (calibrated on --data: post-training quantization).
    pub checkpoint: std::path::PathBuf,
    /// The `.irnn` file to write.
    #[arg(long, short)]
    pub out: std::path::PathBuf,
    /// Calibration corpus (language model) or recordings folder (speech),
    /// for checkpoints without ranges.
    #[arg(long)]
    pub data: Option<String>,
    /// Knots per PWL table (default: the checkpoint's, else 32).
    #[arg(value_parser = crate::args::parse::knots, long)]
    pub knots: Option<usize>,
}

/// `value` as JSON, for [`refuse_resume_conflicts`].
pub fn json(value: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(value).expect("settings serialise")
}

/// Fails if an option given on the command line would change the run a
/// `--resume` continues: each given option (but those in `free`) is looked
/// up by name — or by `aliases` (option → field) — among the fields of the
/// `fresh` values (what these options would make for a new run) and
/// compared with the same field of the `saved` ones. Repeating the saved
/// value is fine; a different one, or an option with no saved field, is an
/// error naming the option and both values.
pub fn refuse_resume_conflicts<A: Args>(
    matches: &ArgMatches,
    fresh: &[serde_json::Value],
    saved: &[serde_json::Value],
    aliases: &[(&str, &str)],
    free: &[&str],
) -> Result<()> {
    let mut conflicts = Vec::new();
    let command = A::augment_args(clap::Command::new("options"));
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if free.contains(&id) || matches.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        let field = aliases
            .iter()
            .find(|(option, _)| *option == id)
            .map_or(id, |(_, f)| *f);
        let option = format!("--{}", id.replace('_', "-"));
        let found = fresh
            .iter()
            .zip(saved)
            .find_map(|(f, s)| Some((f.get(field)?, s.get(field)?)));
        match found {
            Some((given, kept)) if given == kept => {}
            Some((given, kept)) => conflicts.push(format!("{option}: given {given}, saved {kept}")),
            None => conflicts.push(format!("{option} cannot be given with --resume")),
        }
    }
    if !conflicts.is_empty() {
        bail!(
            "--resume continues the run with the settings it was saved with; these differ: {}",
            conflicts.join("; ")
        );
    }
    Ok(())
}

/// Value parsers: every numeric option is checked when it is parsed, so no
/// out-of-range, non-finite or zero value reaches the libraries. Each error
/// says what the option accepts.
pub mod parse {
    use irnn_runtime::pwl::MAX_KNOTS;

    /// The largest count (epochs, batch, window, utterances, tokens…).
    pub const MAX_COUNT: usize = 1 << 24;
    /// The largest layer width (hidden, embedding, attention sizes).
    pub const MAX_DIM: usize = 1 << 16;
    /// The most recurrent layers.
    pub const MAX_LAYERS: usize = 256;
    /// The widest beam.
    pub const MAX_BEAM: usize = 256;

    fn integer(s: &str, low: usize, high: usize) -> Result<usize, String> {
        let v: usize = s
            .trim()
            .parse()
            .map_err(|_| format!("'{s}' is not a whole number"))?;
        if !(low..=high).contains(&v) {
            return Err(format!("must be in {low}..={high}, got {v}"));
        }
        Ok(v)
    }

    fn real(s: &str) -> Result<f64, String> {
        let v: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("'{s}' is not a number"))?;
        if !v.is_finite() {
            return Err(format!("must be a finite number, got {s}"));
        }
        Ok(v)
    }

    /// A count ≥ 1.
    pub fn count(s: &str) -> Result<usize, String> {
        integer(s, 1, MAX_COUNT)
    }
    /// A layer width ≥ 1.
    pub fn dim(s: &str) -> Result<usize, String> {
        integer(s, 1, MAX_DIM)
    }
    /// A number of recurrent layers.
    pub fn layers(s: &str) -> Result<usize, String> {
        integer(s, 1, MAX_LAYERS)
    }
    /// Knots per PWL table: what the runtime's tables hold.
    pub fn knots(s: &str) -> Result<usize, String> {
        integer(s, 2, MAX_KNOTS)
    }
    /// Bits per weight of the recurrent layers: 8 or 4.
    pub fn weight_bits(s: &str) -> Result<irnn_runtime::kernels::WeightBits, String> {
        let bits = integer(s, 0, 64)?;
        irnn_runtime::kernels::WeightBits::from_bits(bits as u32)
            .ok_or_else(|| format!("{bits} bits per weight: the runtime has kernels for 8 and 4"))
    }
    /// Bits of a speech encoder's activations: 8 or 16.
    pub fn activation_bits(s: &str) -> Result<u32, String> {
        let bits = integer(s, 0, 64)? as u32;
        if irnn_train::asr::export::ACTIVATION_BITS.contains(&bits) {
            Ok(bits)
        } else {
            Err(format!(
                "{bits}-bit activations: a speech encoder's are 8 or 16 bits"
            ))
        }
    }
    /// A beam width (1: greedy).
    pub fn beam(s: &str) -> Result<usize, String> {
        integer(s, 1, MAX_BEAM)
    }
    /// Frames stacked per step.
    pub fn stack(s: &str) -> Result<usize, String> {
        integer(s, 1, 16)
    }
    /// Convolution channels (0: none).
    pub fn channels(s: &str) -> Result<usize, String> {
        integer(s, 0, 256)
    }
    /// SpecAugment masks per utterance (0: none).
    pub fn masks(s: &str) -> Result<usize, String> {
        integer(s, 0, 64)
    }
    /// A SpecAugment mask size, in filters or frames.
    pub fn mask_size(s: &str) -> Result<usize, String> {
        integer(s, 0, 1000)
    }
    /// A front end's sample rate in Hz (speech is 8 or 16 kHz; the range
    /// the model format takes).
    pub fn sample_rate(s: &str) -> Result<u32, String> {
        integer(s, 4000, 96000).map(|v| v as u32)
    }
    /// The longest segment a long file is cut into, seconds.
    pub fn segment_seconds(s: &str) -> Result<f64, String> {
        let v = real(s)?;
        if !(1.0..=600.0).contains(&v) {
            return Err(format!("must be in [1, 600] seconds, got {v}"));
        }
        Ok(v)
    }
    /// Milliseconds of audio per streamed chunk.
    pub fn chunk_ms(s: &str) -> Result<usize, String> {
        integer(s, 10, 2000)
    }
    /// Mel filters of a front end.
    pub fn mels(s: &str) -> Result<usize, String> {
        integer(s, 1, 256)
    }
    /// Dynamic range in dB (0: only the absolute floor).
    pub fn range_db(s: &str) -> Result<u32, String> {
        integer(s, 0, 200).map(|v| v as u32)
    }
    /// A learning rate or other rate: finite and > 0.
    pub fn rate(s: &str) -> Result<f64, String> {
        let v = real(s)?;
        if v <= 0.0 {
            return Err(format!("must be > 0, got {v}"));
        }
        Ok(v)
    }
    /// Finite and ≥ 0 (a clip norm, a temperature; 0: off).
    pub fn non_negative(s: &str) -> Result<f64, String> {
        let v = real(s)?;
        if v < 0.0 {
            return Err(format!("must be ≥ 0, got {v}"));
        }
        Ok(v)
    }
    /// A probability in [0, 1).
    pub fn probability(s: &str) -> Result<f64, String> {
        let v = real(s)?;
        if !(0.0..1.0).contains(&v) {
            return Err(format!("must be in [0, 1), got {v}"));
        }
        Ok(v)
    }
    /// A fraction in [0, 1].
    pub fn fraction(s: &str) -> Result<f64, String> {
        let v = real(s)?;
        if !(0.0..=1.0).contains(&v) {
            return Err(format!("must be in [0, 1], got {v}"));
        }
        Ok(v)
    }
    /// A decay factor in (0, 1].
    pub fn decay(s: &str) -> Result<f64, String> {
        let v = real(s)?;
        if !(v > 0.0 && v <= 1.0) {
            return Err(format!("must be in (0, 1], got {v}"));
        }
        Ok(v)
    }
    /// Speed perturbation in [0, 0.5).
    pub fn speed(s: &str) -> Result<f64, String> {
        let v = real(s)?;
        if !(0.0..0.5).contains(&v) {
            return Err(format!("must be in [0, 0.5), got {v}"));
        }
        Ok(v)
    }
    /// Gain perturbation in [0, 60] dB.
    pub fn gain_db(s: &str) -> Result<f64, String> {
        let v = real(s)?;
        if !(0.0..=60.0).contains(&v) {
            return Err(format!("must be in [0, 60] dB, got {v}"));
        }
        Ok(v)
    }
    /// VTLP warp in [0, 0.3).
    pub fn vtlp(s: &str) -> Result<f64, String> {
        let v = real(s)?;
        if !(0.0..0.3).contains(&v) {
            return Err(format!("must be in [0, 0.3), got {v}"));
        }
        Ok(v)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn parsers_accept_their_range_and_name_the_rule_otherwise() {
            assert_eq!(count("3"), Ok(3));
            assert!(count("0").unwrap_err().contains("1..="));
            assert!(count("-1").unwrap_err().contains("whole number"));
            assert!(dim("1000000").is_err());
            assert_eq!(knots("32"), Ok(32));
            assert!(knots("1").is_err() && knots("1000000").is_err());
            assert!(rate("nan").unwrap_err().contains("finite"));
            assert!(rate("inf").is_err() && rate("-1").is_err() && rate("0").is_err());
            assert_eq!(rate("1e-3"), Ok(1e-3));
            assert!(non_negative("nan").is_err() && non_negative("-0.1").is_err());
            assert_eq!(non_negative("0"), Ok(0.0));
            assert!(probability("1").is_err() && probability("nan").is_err());
            assert!(decay("0").is_err() && decay("nan").is_err());
            assert_eq!(decay("1"), Ok(1.0));
            assert!(beam("1000000").is_err());
        }
    }
}

/// Fails, before anything is allocated, if `bytes` (an estimate of what
/// `what` needs) exceed the memory this machine has available (Linux's
/// `MemAvailable`; elsewhere the check is skipped).
pub fn check_memory(bytes: u64, what: &str) -> Result<()> {
    let available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        let line = m.lines().find(|l| l.starts_with("MemAvailable:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    });
    if let Some(available) = available {
        if bytes > available {
            let gb = |b: u64| b as f64 / (1u64 << 30) as f64;
            bail!(
                "{what} needs about {:.1} GiB of memory, more than the {:.1} GiB available; \
                 choose smaller sizes",
                gb(bytes),
                gb(available)
            );
        }
    }
    Ok(())
}
