//! `irnn train lm`: a float language model, trained or resumed.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{ArgMatches, Args, ValueEnum};
use irnn_train::lm::checkpoint::{self, TrainSettings};
use irnn_train::lm::data::{load_corpus, Level, EMBEDDED_DATA};
use irnn_train::lm::train::{fresh_progress, train, RunOptions, EVAL_BATCH};
use irnn_train::lm::{CellKind, LanguageModel, LmConfig};
use irnn_train::nn::optim::{Optimizer, Schedule};
use irnn_train::nn::rng::TrainRng;

use crate::args::{check_memory, json, refuse_resume_conflicts, OptimArg};
use crate::progress::{metric, Bars};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LevelArg {
    Word,
    Char,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CellArg {
    Lstm,
    Gru,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LossArg {
    /// Summed over the window's steps, averaged over the batch (Zaremba et
    /// al.; the gradient scale their lr = 1 and clip = 5 assume).
    TimeSum,
    /// Averaged over every token of the window (PyTorch's example).
    Mean,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScheduleArg {
    /// Constant learning rate.
    Constant,
    /// Multiply by --decay after every epoch from --decay-start on.
    Step,
    /// Multiply by --decay when validation stops improving.
    Plateau,
    /// Cosine to 0 over the run.
    Cosine,
}

/// Arguments of `irnn train lm`.
#[derive(Args, Debug)]
pub struct TrainLm {
    /// Corpus: a directory with train/valid/test files (PTB: ptb.train.txt…),
    /// one text file (split 90/5/5 by lines), or "embedded:tinyshakespeare".
    #[arg(long, default_value = EMBEDDED_DATA)]
    data: String,
    /// Token level.
    #[arg(long, value_enum, default_value_t = LevelArg::Word)]
    level: LevelArg,
    /// Recurrent cell.
    #[arg(long, value_enum, default_value_t = CellArg::Lstm)]
    cell: CellArg,
    /// Recurrent layers.
    #[arg(value_parser = crate::args::parse::layers, long, default_value_t = 2)]
    layers: usize,
    /// Hidden size.
    #[arg(value_parser = crate::args::parse::dim, long, default_value_t = 200)]
    hidden: usize,
    /// Embedding size (default: the hidden size).
    #[arg(value_parser = crate::args::parse::dim, long)]
    embedding: Option<usize>,
    /// Epochs.
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = 13)]
    epochs: usize,
    /// Parallel streams.
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = 20)]
    batch: usize,
    /// Truncated-BPTT window.
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = 35)]
    bptt: usize,
    /// Optimizer.
    #[arg(long, value_enum, default_value_t = OptimArg::Sgd)]
    optimizer: OptimArg,
    /// Initial learning rate.
    #[arg(value_parser = crate::args::parse::rate, long, default_value_t = 1.0)]
    lr: f64,
    /// Learning-rate schedule.
    #[arg(long, value_enum, default_value_t = ScheduleArg::Step)]
    schedule: ScheduleArg,
    /// Decay factor of the step/plateau schedules.
    #[arg(value_parser = crate::args::parse::decay, long, default_value_t = 0.5)]
    decay: f64,
    /// First epoch whose end decays the rate (step schedule).
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = 4)]
    decay_start: usize,
    /// How the window's loss is scaled for the gradient.
    #[arg(long, value_enum, default_value_t = LossArg::TimeSum)]
    loss: LossArg,
    /// Gradient-norm clip (0 disables).
    #[arg(value_parser = crate::args::parse::non_negative, long, default_value_t = 5.0)]
    clip: f64,
    /// Dropout probability.
    #[arg(value_parser = crate::args::parse::probability, long, default_value_t = 0.0)]
    dropout: f64,
    /// Reuse one dropout mask across the steps of a window.
    #[arg(long)]
    locked_dropout: bool,
    /// LSTM: c = f⊙c + min(i, 1 − f)⊙g.
    #[arg(long)]
    capped_input_gate: bool,
    /// LSTM: LayerNorm on the gate pre-activations and on the cell.
    #[arg(long)]
    layer_norm: bool,
    /// GRU: apply the reset gate before the recurrent product.
    #[arg(long)]
    reset_before: bool,
    /// Residual connections between layers of equal size.
    #[arg(long)]
    residual: bool,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Checkpoint file to write (safetensors).
    #[arg(long, short, default_value = "checkpoints/lm.safetensors")]
    out: PathBuf,
    /// Also checkpoint every this many windows within an epoch.
    #[arg(value_parser = crate::args::parse::count, long)]
    checkpoint_every: Option<usize>,
    /// Continue the run saved in --out.
    #[arg(long)]
    resume: bool,
    /// Stop after this many windows (timing runs).
    #[arg(value_parser = crate::args::parse::count, long)]
    max_windows: Option<usize>,
}

fn level(l: LevelArg) -> Level {
    match l {
        LevelArg::Word => Level::Word,
        LevelArg::Char => Level::Char,
    }
}

/// The model a new run with these options builds.
fn fresh_config(a: &TrainLm, lv: Level, vocab: usize) -> LmConfig {
    LmConfig {
        level: lv,
        vocab,
        cell: match a.cell {
            CellArg::Lstm => CellKind::Lstm,
            CellArg::Gru => CellKind::Gru,
        },
        layers: a.layers,
        hidden: a.hidden,
        embedding: a.embedding.unwrap_or(a.hidden),
        dropout: a.dropout,
        locked_dropout: a.locked_dropout,
        capped_input_gate: a.capped_input_gate,
        reset_before: a.reset_before,
        residual: a.residual,
        layer_norm: a.layer_norm,
    }
}

/// The training settings of a new run with these options.
fn fresh_settings(a: &TrainLm) -> TrainSettings {
    TrainSettings {
        epochs: a.epochs,
        batch: a.batch,
        bptt: a.bptt,
        optimizer: a.optimizer.into(),
        clip: a.clip,
        schedule: match a.schedule {
            ScheduleArg::Constant => Schedule::Constant,
            ScheduleArg::Step => Schedule::Step {
                start: a.decay_start,
                factor: a.decay,
            },
            ScheduleArg::Plateau => Schedule::Plateau {
                factor: a.decay,
                patience: 0,
            },
            ScheduleArg::Cosine => Schedule::Cosine {
                epochs: a.epochs,
                min_lr: 0.0,
            },
        },
        seed: a.seed,
        sum_over_time: a.loss == LossArg::TimeSum,
    }
}

/// Runs `irnn train lm`.
pub fn run(a: TrainLm, matches: &ArgMatches) -> Result<()> {
    if !(0.0..1.0).contains(&a.dropout) {
        bail!("--dropout must be in [0, 1), got {}", a.dropout);
    }
    if a.layers == 0 || a.hidden == 0 || a.batch == 0 || a.bptt == 0 {
        bail!("--layers, --hidden, --batch and --bptt must be positive");
    }
    // A resumed run takes its settings, level included, from the checkpoint.
    let resumed = if a.resume {
        let ck = checkpoint::load(&a.out)
            .with_context(|| format!("resuming from {}", a.out.display()))?;
        let progress = ck
            .progress
            .clone()
            .with_context(|| format!("{} holds no training progress to resume", a.out.display()))?;
        let fresh_cfg = fresh_config(&a, level(a.level), ck.model.config.vocab);
        let lr = |v: f64| serde_json::json!({ "lr": v });
        refuse_resume_conflicts::<TrainLm>(
            matches,
            &[json(&fresh_cfg), json(&fresh_settings(&a)), lr(a.lr)],
            &[
                json(&ck.model.config),
                json(&progress.settings),
                lr(progress.schedule.initial_lr),
            ],
            &[
                ("loss", "sum_over_time"),
                ("decay", "schedule"),
                ("decay_start", "schedule"),
            ],
            &["data", "out", "resume", "checkpoint_every", "max_windows"],
        )?;
        if progress.epoch >= progress.settings.epochs {
            bail!(
                "{}: the run has finished all {} epochs; nothing to resume",
                a.out.display(),
                progress.settings.epochs
            );
        }
        Some((ck, progress))
    } else {
        None
    };
    let lv = match &resumed {
        Some((ck, _)) => ck.model.config.level,
        None => level(a.level),
    };
    let batch = resumed.as_ref().map_or(a.batch, |(_, p)| p.settings.batch);
    let corpus = load_corpus(&a.data, lv).with_context(|| format!("loading --data {}", a.data))?;
    if corpus.train.len() < batch * 2 {
        bail!(
            "{}: only {} training tokens, too few for batch {batch}",
            a.data,
            corpus.train.len(),
        );
    }
    let (mut model, mut progress, mut optimizer, state) = if let Some((ck, progress)) = resumed {
        if ck.vocab.tokens != corpus.vocab.tokens {
            bail!(
                "{}: the checkpoint's vocabulary differs from --data {}",
                a.out.display(),
                a.data
            );
        }
        outln!(
            "resuming {} at epoch {} window {}",
            a.out.display(),
            progress.epoch + 1,
            progress.window
        );
        (ck.model, progress, ck.optimizer, ck.state)
    } else {
        let config = fresh_config(&a, lv, corpus.vocab.len());
        let settings = fresh_settings(&a);
        check_memory(
            config.training_bytes(a.batch, a.bptt),
            &format!(
                "training this model ({} parameters, batch {}, window {})",
                config.parameter_count(),
                a.batch,
                a.bptt
            ),
        )?;
        let model = LanguageModel::new(config, &mut TrainRng::seed(a.seed ^ 0x5EED));
        (
            model,
            fresh_progress(settings, a.lr),
            Optimizer::default(),
            None,
        )
    };
    let params: usize = model.params().iter().map(|p| p.len()).sum();
    outln!(
        "data {} ({} level): {} train / {} valid / {} test tokens, vocabulary {}",
        a.data,
        if lv == Level::Word { "word" } else { "char" },
        corpus.train.len(),
        corpus.valid.len(),
        corpus.test.len(),
        corpus.vocab.len()
    );
    outln!(
        "model: {:?} {}×{} (embedding {}), {} parameters; {} threads",
        model.config.cell,
        model.config.layers,
        model.config.hidden,
        model.config.embedding,
        params,
        rayon::current_num_threads()
    );
    let char_level = lv == Level::Char;
    let mut bars = Bars::new(char_level);
    let options = RunOptions {
        checkpoint: Some(&a.out),
        checkpoint_every: a.checkpoint_every,
        max_windows: a.max_windows,
    };
    let start = std::time::Instant::now();
    let reports = train(
        &mut model,
        &corpus,
        &mut progress,
        &mut optimizer,
        state,
        &options,
        &mut bars,
    )?;
    let secs = start.elapsed().as_secs_f64();
    if let (Some(max), true) = (a.max_windows, reports.is_empty()) {
        let tokens = max * progress.settings.batch * progress.settings.bptt;
        outln!(
            "stopped after {max} windows: {tokens} tokens in {secs:.2} s = {:.0} tokens/s",
            tokens as f64 / secs
        );
        return Ok(());
    }
    if !corpus.test.is_empty() && progress.epoch >= progress.settings.epochs {
        let test = model.evaluate(&corpus.test, EVAL_BATCH, progress.settings.bptt);
        outln!(
            "test {} | wall time {secs:.0} s | checkpoint {}",
            metric(char_level, test),
            a.out.display()
        );
    }
    Ok(())
}
