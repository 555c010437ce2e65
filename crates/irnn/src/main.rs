//! `irnn` — the command-line face of the toolkit. It only parses arguments,
//! shows progress and calls the libraries; the work lives in `irnn-train`
//! and `irnn-runtime`.

mod asr_cmd;
mod bench_cmd;
mod demo;
mod model_cmd;
mod progress;
mod pwl_cmd;
mod quant_cmd;
mod speech_cmd;
mod train_cmd;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use irnn_runtime::{Isa, PackedMatrix};

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
    Qat(quant_cmd::QatArgs),
    /// Convert a checkpoint to an integer `.irnn` model.
    Convert(quant_cmd::ConvertArgs),
    /// Evaluate a float checkpoint or an `.irnn` model (with the integer
    /// runtime): perplexity (word) or bits per character; WER and CER of a
    /// speech model on the test speaker of --data.
    Eval(train_cmd::Eval),
    /// Transcribe WAV files with an integer speech model.
    Transcribe(speech_cmd::Transcribe),
    /// Generate text with an integer model.
    Generate(model_cmd::Generate),
    /// Time one LSTM/GRU step: integer runtime vs irnn's f32 step, one
    /// thread, with the roofline of each shape.
    Bench(bench_cmd::BenchArgs),
    /// Adaptive vs uniform PWL knots: error per knot budget (table + SVG).
    Pwl(pwl_cmd::PwlArgs),
    /// List an `.irnn` model's layers, quantization parameters, PWL tables
    /// and sizes.
    Inspect(model_cmd::Inspect),
    /// Show which integer kernels this CPU can run, and check each one
    /// bit-exact against the scalar reference on a random matrix.
    Kernels {
        /// Rows of the check matrix.
        #[arg(long, default_value_t = 4096)]
        rows: usize,
        /// Columns of the check matrix.
        #[arg(long, default_value_t = 1024)]
        cols: usize,
    },
}

#[derive(Subcommand)]
enum TrainWhat {
    /// A language model (word or character level).
    Lm(train_cmd::TrainLm),
    /// A speech recogniser for connected digits (float CTC acoustic model).
    Asr(asr_cmd::TrainAsr),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
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
        Command::Qat(a) => quant_cmd::qat(a),
        Command::Convert(a) => quant_cmd::convert(a),
        Command::Generate(a) => model_cmd::generate_cmd(a),
        Command::Transcribe(a) => speech_cmd::transcribe(a),
        Command::Inspect(a) => model_cmd::inspect(a),
        Command::Pwl(a) => pwl_cmd::run(a),
        Command::Bench(a) => bench_cmd::run(a),
        Command::Train(TrainWhat::Lm(a)) => train_cmd::train_lm(a),
        Command::Train(TrainWhat::Asr(a)) => asr_cmd::train_asr(a),
        Command::Eval(a) => train_cmd::eval(a),
        Command::Kernels { rows, cols } => kernels(rows, cols),
    }
}

/// A deterministic pseudo-random int8 sequence (xorshift), so the check needs
/// no extra dependency.
fn pseudo_random_i8(n: usize, mut state: u64) -> Vec<i8> {
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as i8
        })
        .collect()
}

pub fn kernels(rows: usize, cols: usize) -> Result<()> {
    // Symmetric int8 weights, as the trainer writes them (−128 would send
    // the AVX2 and NEON v8.0 kernels to their widening fallback).
    let w: Vec<i8> = pseudo_random_i8(rows * cols, 0x9E37_79B9_7F4A_7C15)
        .into_iter()
        .map(|v| v.max(-127))
        .collect();
    let x = pseudo_random_i8(cols, 0xD1B5_4A32_D192_ED03);
    let m = PackedMatrix::from_row_major(rows, cols, &w).context("packing the check matrix")?;
    let mut reference = vec![0i32; rows];
    m.matvec(Isa::Scalar, &x, &mut reference)?;
    println!("detected best kernel: {}", Isa::fastest().name());
    if let Ok(Some(isa)) = Isa::from_env() {
        println!(
            "in use: {} (forced by {})",
            isa.name(),
            irnn_runtime::kernels::ISA_ENV
        );
    }
    println!(
        "{:<18} {:>10}  bit-exact vs scalar on {rows}x{cols}",
        "kernel", "available"
    );
    let mut failures = 0;
    for isa in Isa::ALL {
        let verdict = if isa.is_available() {
            let mut got = vec![0i32; rows];
            m.matvec(isa, &x, &mut got)?;
            if got == reference {
                "yes"
            } else {
                failures += 1;
                "NO — MISMATCH"
            }
        } else {
            "-"
        };
        println!(
            "{:<18} {:>10}  {verdict}",
            isa.name(),
            if isa.is_available() { "yes" } else { "no" }
        );
    }
    if failures > 0 {
        bail!("{failures} kernel(s) disagree with the scalar reference");
    }
    Ok(())
}
