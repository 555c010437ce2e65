//! `irnn eval` of a language model: the integer runtime's metric of an
//! `.irnn` file, or the float metric of a checkpoint, on the test split of
//! `--data` (or a whole file).

use anyhow::Result;
use clap::Args;
use irnn_runtime::Isa;
use irnn_train::lm::data::Level;
use irnn_train::lm::eval::evaluate;
use irnn_train::lm::train::EVAL_BATCH;

use irnn_train::lm::data::{level_of, vocab_of};

use super::eval_tokens;
use crate::model_file::ModelFile;
use crate::progress::metric;

/// Options of `irnn eval` for language models.
#[derive(Args, Debug)]
pub struct LmEvalArgs {
    /// Evaluate every token of --data (one file) instead of its test split.
    #[arg(long)]
    pub whole: bool,
    /// Window length of the float model's evaluation.
    #[arg(value_parser = crate::args::parse::count, long, default_value_t = 35)]
    pub bptt: usize,
}

/// The integer model's metric, and its speed.
pub fn model(file: &ModelFile, data: &str, a: &LmEvalArgs) -> Result<()> {
    let model = file.language_model()?;
    let level = level_of(&model);
    let tokens = eval_tokens(&vocab_of(&model), level, data, a.whole)?;
    let isa = Isa::detect();
    let start = std::time::Instant::now();
    let sum = evaluate(&model, isa, &tokens, EVAL_BATCH)?;
    let secs = start.elapsed().as_secs_f64();
    outln!(
        "{} (integer runtime, {} kernels): {} over {} tokens ({:.6} nats/token), {:.0} tokens/s",
        file.path.display(),
        isa.name(),
        metric(level == Level::Char, sum.mean()),
        sum.tokens(),
        sum.mean(),
        sum.tokens() as f64 / secs
    );
    Ok(())
}

/// The float checkpoint's metric.
pub fn checkpoint(file: &ModelFile, data: &str, a: &LmEvalArgs) -> Result<()> {
    let ck = file.lm_checkpoint()?;
    let level = ck.model.config.level;
    let tokens = eval_tokens(&ck.vocab, level, data, a.whole)?;
    let mut model = ck.model;
    let loss = model.evaluate(&tokens, EVAL_BATCH, a.bptt);
    outln!(
        "{}: {} over {} tokens ({:.4} nats/token)",
        file.path.display(),
        metric(level == Level::Char, loss),
        tokens.len(),
        loss
    );
    Ok(())
}
