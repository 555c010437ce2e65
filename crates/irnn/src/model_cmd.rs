//! Commands on `.irnn` model files: evaluation with the integer runtime,
//! text generation and inspection.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use irnn_runtime::format::{read_language_model, MAGIC};
use irnn_runtime::model::{IntLanguageModel, RecurrentCell};
use irnn_runtime::{Isa, TokenLevel};
use irnn_train::lm::data::corpus::encode_file;
use irnn_train::lm::data::{load_corpus, Level, Vocab};
use irnn_train::lm::eval;
use irnn_train::lm::generate::{decode, encode_prompt, generate};
use irnn_train::lm::train::EVAL_BATCH;
use irnn_train::nn::rng::TrainRng;
use irnn_train::quant::export::logit_scale;

use crate::progress::metric;

/// True if `path` starts with the `.irnn` magic bytes.
pub fn is_model_file(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|_| magic == MAGIC)
}

/// Whether `path` is a `.irnn` file holding a speech model (model kind 2,
/// the first payload byte).
pub fn is_speech_model_file(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; irnn_runtime::format::HEADER_LEN + 1];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|_| head[..8] == MAGIC && head[irnn_runtime::format::HEADER_LEN] == 2)
}

/// Reads and validates a `.irnn` file.
pub fn load_model(path: &Path) -> Result<IntLanguageModel> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    read_language_model(&bytes).with_context(|| format!("loading {}", path.display()))
}

/// The trainer's vocabulary type for a model's token list.
pub fn vocab_of(model: &IntLanguageModel) -> Vocab {
    let mut v = Vocab::from_tokens(model.vocabulary.tokens.clone());
    v.reindex();
    v
}

pub fn level_of(model: &IntLanguageModel) -> Level {
    match model.vocabulary.level {
        TokenLevel::Word => Level::Word,
        TokenLevel::Char => Level::Char,
    }
}

/// Token ids to evaluate: the test split of `data` (whose training split must
/// give the model's vocabulary), or every token of one file with `whole`.
pub fn eval_tokens(vocab: &Vocab, level: Level, data: &str, whole: bool) -> Result<Vec<u32>> {
    let tokens = if whole {
        encode_file(vocab, Path::new(data), level).with_context(|| format!("reading {data}"))?
    } else {
        let corpus = load_corpus(data, level).with_context(|| format!("loading --data {data}"))?;
        if corpus.vocab.tokens != vocab.tokens {
            bail!(
                "--data {data} has a different vocabulary from the model's training data \
                 (use --whole to score a file with the model's vocabulary)"
            );
        }
        corpus.test
    };
    if tokens.len() < EVAL_BATCH + 1 {
        bail!(
            "--data {data}: too few tokens to evaluate ({})",
            tokens.len()
        );
    }
    Ok(tokens)
}

/// `irnn eval model.irnn`: the integer runtime's metric.
pub fn eval_model(path: &Path, data: &str, whole: bool) -> Result<()> {
    let model = load_model(path)?;
    let level = level_of(&model);
    let tokens = eval_tokens(&vocab_of(&model), level, data, whole)?;
    let isa = Isa::detect();
    let start = std::time::Instant::now();
    let sum = eval::evaluate(&model, isa, &tokens, EVAL_BATCH)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} (integer runtime, {} kernels): {} over {} tokens ({:.6} nats/token), {:.0} tokens/s",
        path.display(),
        isa.name(),
        metric(level == Level::Char, sum.mean()),
        sum.tokens(),
        sum.mean(),
        sum.tokens() as f64 / secs
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct Generate {
    /// The `.irnn` model.
    model: PathBuf,
    /// Text to start from.
    #[arg(long, default_value = "\n")]
    prompt: String,
    /// Tokens to generate.
    #[arg(long, default_value_t = 300)]
    tokens: usize,
    /// Sampling temperature; 0 picks the most likely token (integer argmax).
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub fn generate_cmd(a: Generate) -> Result<()> {
    let model = load_model(&a.model)?;
    if !(a.temperature >= 0.0 && a.temperature.is_finite()) {
        bail!(
            "--temperature must be a finite number ≥ 0, got {}",
            a.temperature
        );
    }
    let prompt = encode_prompt(&model.vocabulary, &a.prompt).context("encoding --prompt")?;
    let ids = generate(
        &model,
        Isa::detect(),
        &prompt,
        a.tokens,
        a.temperature,
        &mut TrainRng::seed(a.seed),
    )?;
    let sep = if model.vocabulary.level == TokenLevel::Word && !a.prompt.ends_with('\n') {
        " "
    } else {
        ""
    };
    println!("{}{sep}{}", a.prompt, decode(&model.vocabulary, &ids));
    Ok(())
}

#[derive(Args, Debug)]
pub struct Inspect {
    /// The `.irnn` model.
    model: PathBuf,
}

fn multiplier_real(m: irnn_runtime::QuantizedMultiplier) -> f64 {
    logit_scale(m)
}

fn pwl_line(name: &str, t: &irnn_runtime::PwlTable) -> String {
    let k = t.knots();
    format!(
        "      {name:<14} {:>3} knots on [{}, {}]",
        k.len(),
        k[0],
        k[k.len() - 1]
    )
}

/// An LSTM cell's shape, grids and tables, under `label`.
fn print_lstm(label: &str, c: &irnn_runtime::layers::IntLstmCell) {
    let mut flags = Vec::new();
    if c.gate_norm.is_some() {
        flags.push("gate LayerNorm");
    }
    if c.cell_norm.is_some() {
        flags.push("cell LayerNorm");
    }
    if c.capped_input_gate {
        flags.push("capped input gate");
    }
    println!(
        "{label}: LSTM {} → {}{}",
        c.input,
        c.hidden,
        if flags.is_empty() {
            String::new()
        } else {
            format!(" ({})", flags.join(", "))
        }
    );
    println!(
        "    weights int8 W_x [{} × {}], W_h [{} × {}] = {} bytes; per-row multipliers and int32 biases",
        c.w_x.rows(),
        c.w_x.cols(),
        c.w_h.rows(),
        c.w_h.cols(),
        c.w_x.rows() * c.w_x.cols() + c.w_h.rows() * c.w_h.cols()
    );
    println!(
        "    cell int16, scale 2^-{}; h int8 zero point {}, o·tanh(c) → h multiplier {:.6e}",
        c.cell_fraction_bits,
        c.h_zero_point,
        multiplier_real(c.output_multiplier)
    );
    println!("    PWL tables (int16 input → Q0.15):");
    for (name, t) in ["sigmoid i", "sigmoid f", "tanh g", "sigmoid o"]
        .iter()
        .zip(&c.gate_activation)
    {
        println!("{}", pwl_line(name, t));
    }
    println!("{}", pwl_line("tanh cell", &c.cell_tanh));
}

/// `irnn inspect` of a speech model.
fn inspect_speech(path: &Path, size: u64) -> Result<()> {
    let model = crate::speech_cmd::load_speech_model(path)?;
    let f = &model.front_end;
    println!(
        "{}: {size} bytes, format version {}, speech model",
        path.display(),
        file_version(path)?
    );
    println!(
        "front end (float, before the model): {} Hz, frames of {} every {} samples, FFT {}, {} mels {}–{} Hz{}",
        f.sample_rate,
        f.frame,
        f.hop,
        f.fft,
        f.mels,
        f.low_hz,
        f.high_hz,
        if f.range_db > 0 {
            format!(", {} dB range per filter", f.range_db)
        } else {
            String::new()
        }
    );
    println!(
        "features: int8, step {:.6e}, zero point {}; {} frames stacked per step",
        multiplier_real(model.input_scale),
        model.input_zero_point,
        model.stack
    );
    if let Some(c) = &model.conv {
        println!(
            "convolution: 3 × 3 over (time, mel), stride 2 along mel, {} channels → {} values per frame, ReLU (output zero point {})",
            c.channels(),
            c.output_dim(),
            c.output_zero_point
        );
    }
    for (l, layer) in model.layers.iter().enumerate() {
        print_lstm(&format!("layer {l} forward"), &layer.forward);
        print_lstm(&format!("layer {l} backward"), &layer.backward);
    }
    let o = &model.output;
    println!(
        "CTC output: int8 [{} × {}], int32 scores, unit {:.6e}; labels {}",
        o.weights.rows(),
        o.weights.cols(),
        logit_scale(o.logit_scale),
        model.labels.join(" ")
    );
    if let Some(d) = &model.decoder {
        println!(
            "attention decoder: embedding int8 [{} × {}], start label {}, end class {}",
            d.embedding.vocab(),
            d.embedding.dim(),
            d.start,
            d.end
        );
        print_lstm("decoder", &d.cell);
        if let irnn_runtime::layers::AttentionScore::Additive { v, tanh, .. } = &d.attention.score {
            println!(
                "    additive attention: width {}, memory {} values per step",
                v.len(),
                d.attention.memory_dim
            );
            println!("{}", pwl_line("tanh score", tanh));
        }
        println!("{}", pwl_line("exp softmax", &d.attention.exp));
        println!(
            "    output: int8 [{} × {}], int32 scores, unit {:.6e}",
            d.output.weights.rows(),
            d.output.weights.cols(),
            logit_scale(d.output.logit_scale)
        );
    }
    Ok(())
}

/// The format version in a model file's header (read after the file has
/// loaded, so the header is known to be whole).
fn file_version(path: &Path) -> Result<u32> {
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    let v = bytes
        .get(8..12)
        .with_context(|| format!("{}: no header", path.display()))?;
    Ok(u32::from_le_bytes([v[0], v[1], v[2], v[3]]))
}

pub fn inspect(a: Inspect) -> Result<()> {
    if is_speech_model_file(&a.model) {
        let size = std::fs::metadata(&a.model)?.len();
        return inspect_speech(&a.model, size);
    }
    let model = load_model(&a.model)?;
    let size = std::fs::metadata(&a.model)?.len();
    let v = &model.vocabulary;
    println!(
        "{}: {size} bytes, format version {}",
        a.model.display(),
        file_version(&a.model)?
    );
    println!(
        "vocabulary: {} {} tokens",
        v.len(),
        if v.level == TokenLevel::Char {
            "character"
        } else {
            "word"
        }
    );
    let e = &model.embedding;
    println!(
        "embedding: int8 [{} × {}] = {} bytes",
        e.vocab(),
        e.dim(),
        e.vocab() * e.dim()
    );
    for (l, layer) in model.layers.iter().enumerate() {
        match &layer.cell {
            RecurrentCell::Lstm(c) => print_lstm(&format!("layer {l}"), c),
            RecurrentCell::Gru(c) => {
                println!(
                    "layer {l}: GRU {} → {} (reset {:?})",
                    c.input, c.hidden, c.reset
                );
                println!(
                    "    weights int8 W_x [{} × {}], W_h [{} × {}]; h int8 zero point {}",
                    c.w_x.rows(),
                    c.w_x.cols(),
                    c.w_h.rows(),
                    c.w_h.cols(),
                    c.h_zero_point
                );
                println!("    PWL tables (int16 input → Q0.15):");
                for (name, t) in ["sigmoid r", "sigmoid z", "tanh n"]
                    .iter()
                    .zip(&c.gate_activation)
                {
                    println!("{}", pwl_line(name, t));
                }
            }
        }
        if let Some(add) = &layer.residual {
            println!(
                "    residual add: multipliers {:.4} (h), {:.4} (input); zero points {}, {} → {}",
                multiplier_real(add.multiplier_a),
                multiplier_real(add.multiplier_b),
                add.zero_point_a,
                add.zero_point_b,
                add.zero_point_out
            );
        }
    }
    let o = &model.output;
    println!(
        "output: int8 [{} × {}], one weight scale; int32 logits, unit {:.6e}",
        o.weights.rows(),
        o.weights.cols(),
        logit_scale(o.logit_scale)
    );
    Ok(())
}
