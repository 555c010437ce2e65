//! `irnn` — the command-line face of the toolkit. It parses arguments,
//! dispatches once to a subcommand under [`cmd`], shows progress and calls
//! the libraries; the work lives in `irnn-train` and `irnn-runtime`.

#[macro_use]
mod output;
mod args;
mod cmd;
mod describe;
mod model_file;
mod progress;

use anyhow::{bail, Result};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use irnn_runtime::Isa;

use cmd::{asr, bench, convert, demo, eval, inspect, kernels, lm, pack, pwl, qat};

#[derive(Parser)]
#[command(
    name = "irnn",
    version,
    about = "Integer-only recurrent neural networks: train, quantize, convert, run."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the end-to-end demo on the embedded corpus.
    Demo,
    /// Train a model.
    #[command(subcommand)]
    Train(TrainWhat),
    /// Quantization-aware training: fine-tune a float checkpoint so that its
    /// integer model is as good; writes the QAT checkpoint and the `.irnn`.
    Qat(qat::QatArgs),
    /// Convert a checkpoint to an integer `.irnn` model.
    Convert(convert::ConvertArgs),
    /// Evaluate a float checkpoint or an `.irnn` model (with the integer
    /// runtime): perplexity (word) or bits per character; WER and CER of a
    /// speech model on the test speaker of --data.
    Eval(eval::EvalArgs),
    /// Transcribe WAV files with an integer speech model.
    Transcribe(asr::transcribe::Transcribe),
    /// Generate text with an integer model.
    Generate(lm::generate::Generate),
    /// Time one LSTM/GRU step: integer runtime vs irnn's f32 step, one
    /// thread, with the roofline of each shape.
    Bench(bench::BenchArgs),
    /// Adaptive vs uniform PWL knots: error per knot budget (table + SVG).
    Pwl(pwl::PwlArgs),
    /// List an `.irnn` model's layers, quantization parameters, PWL tables
    /// and sizes.
    Inspect(inspect::Inspect),
    /// Import a language model trained elsewhere (a PyTorch state_dict in
    /// safetensors, or ONNX) as an irnn checkpoint.
    Import(lm::import::ImportArgs),
    /// Write a float language-model checkpoint for other tools: PyTorch's
    /// names in safetensors, or ONNX.
    Export(lm::export::ExportArgs),
    /// Rewrite an `.irnn` model in the in-place layout (weights used where
    /// the file lies: flash, a static, a memory map) or back to the compact one.
    Pack(pack::PackArgs),
    /// Show which integer kernels this CPU can run, and check each one
    /// bit-exact against the scalar reference on a random matrix.
    Kernels(kernels::KernelsArgs),
}

#[derive(Subcommand)]
enum TrainWhat {
    /// A language model (word or character level).
    Lm(lm::train::TrainLm),
    /// A speech recogniser (float CTC acoustic model, optional attention
    /// decoder) on manifests or data directories, or connected digits.
    Asr(Box<asr::train::TrainAsr>),
}

fn main() -> Result<()> {
    // Negative numbers are values (`--lr -1` is then refused by its range
    // check, naming the rule), not unknown options.
    let matches = allow_negative_numbers(Cli::command()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // The options a subcommand was given, for the checks that the other
    // task's options were not.
    let sub = matches
        .subcommand()
        .map(|(_, m)| m.clone())
        .unwrap_or_default();
    if let Err(v) = Isa::from_env() {
        let names: Vec<_> = Isa::available().map(Isa::name).collect();
        bail!(
            "{}={v:?} is not a kernel this CPU runs (available: {})",
            irnn_runtime::kernels::ISA_ENV,
            names.join(", ")
        );
    }
    match cli.command {
        Command::Demo => demo::run(),
        Command::Train(TrainWhat::Lm(a)) => {
            lm::train::run(a, sub.subcommand_matches("lm").unwrap_or(&sub))
        }
        Command::Train(TrainWhat::Asr(a)) => {
            asr::train::run(*a, sub.subcommand_matches("asr").unwrap_or(&sub))
        }
        Command::Qat(a) => qat::run(a, &sub),
        Command::Convert(a) => convert::run(a, &sub),
        Command::Eval(a) => eval::run(a, &sub),
        Command::Transcribe(a) => asr::transcribe::run(a),
        Command::Generate(a) => lm::generate::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Pack(a) => pack::run(a),
        Command::Import(a) => lm::import::run(a),
        Command::Export(a) => lm::export::run(a),
        Command::Pwl(a) => pwl::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Kernels(a) => kernels::run(a),
    }
}

fn allow_negative_numbers(c: clap::Command) -> clap::Command {
    c.allow_negative_numbers(true)
        .mut_subcommands(allow_negative_numbers)
}
