//! Language-model subcommands, and what they share: the corpus a model
//! was trained on, the tokens to score, calibration with a spinner.

pub mod convert;
pub mod eval;
pub mod generate;
pub mod inspect;
pub mod qat;
pub mod train;

use std::path::Path;

use anyhow::{bail, Context, Result};
use irnn_runtime::model::IntLanguageModel;
use irnn_runtime::TokenLevel;
use irnn_train::lm::data::corpus::encode_file;
use irnn_train::lm::data::{load_corpus, Corpus, Level, Vocab};
use irnn_train::lm::train::EVAL_BATCH;
use irnn_train::lm::{calibrate, LanguageModel, QuantRanges};

use crate::progress::with_spinner;

/// The trainer's vocabulary type for a model's token list.
pub fn vocab_of(model: &IntLanguageModel) -> Vocab {
    let mut v = Vocab::from_tokens(model.vocabulary.tokens.clone());
    v.reindex();
    v
}

/// The trainer's token level of a model.
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

/// The corpus `data`, which must have the checkpoint's vocabulary.
pub fn load_matching_corpus(
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
    let n = n.min(corpus.train.len());
    with_spinner(format!("calibrating on {n} training tokens"), || {
        calibrate(model, &corpus.train[..n])
    })
}
