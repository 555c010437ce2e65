//! Argument groups that several subcommands share, flattened into each, and
//! the check that a task's options are not given for a file of the other
//! task.

use anyhow::{bail, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, ValueEnum};
use irnn_train::asr::data::DigitSets;
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
    /// Connected-digit utterances built from the training speakers.
    #[arg(long, default_value_t = DigitSets::default().train_utterances)]
    pub train_utterances: usize,
    /// Utterances of the validation speaker.
    #[arg(long, default_value_t = DigitSets::default().valid_utterances)]
    pub valid_utterances: usize,
    /// Utterances of the test speaker.
    #[arg(long, default_value_t = DigitSets::default().test_utterances)]
    pub test_utterances: usize,
    /// Seed of the utterances (training: also of initialisation and order).
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
    #[arg(long, default_value_t = irnn_train::quant::pwl_fit::DEFAULT_KNOTS)]
    pub knots: usize,
    /// Epochs of QAT.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Parallel streams (language model) or utterances per update (speech).
    #[arg(long, default_value_t = 20)]
    pub batch: usize,
    /// Learning rate (cosine-decayed to 0 over the epochs). Small: QAT
    /// fine-tunes a trained model (docs/RESULTS.md compares 3e-4 and 1e-4).
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    /// Gradient-norm clip (loss averaged over tokens).
    #[arg(long, default_value_t = 1.0)]
    pub clip: f64,
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
    #[arg(long)]
    pub knots: Option<usize>,
}

/// Fails if any option but `allowed` (argument ids) was given on the
/// command line, naming it: with `flag` (e.g. `--resume`) the run's
/// settings come from elsewhere, and a silently ignored option would
/// mislead.
pub fn refuse_options_except(matches: &ArgMatches, allowed: &[&str], flag: &str) -> Result<()> {
    for id in matches.ids() {
        let id = id.as_str();
        if !allowed.contains(&id) && matches.value_source(id) == Some(ValueSource::CommandLine) {
            bail!(
                "--{} cannot be combined with {flag}: the run continues with the settings it \
                 was saved with",
                id.replace('_', "-")
            );
        }
    }
    Ok(())
}
