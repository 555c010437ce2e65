//! Language-model subcommands, and what they share: the corpus a model
//! was trained on, the tokens to score, calibration with a spinner.

pub mod convert;
pub mod eval;
pub mod export;
pub mod generate;
pub mod import;
pub mod inspect;
pub mod qat;
pub mod train;

use anyhow::{bail, Context, Result};
use irnn_train::lm::data::{load_corpus, Corpus, Level, Vocab};
use irnn_train::lm::train::EVAL_BATCH;
use irnn_train::lm::{calibrate, LanguageModel, QuantRanges};

use crate::progress::with_spinner;

/// Token ids to evaluate (see [`irnn_train::lm::data::eval_tokens`]), in
/// as many streams as evaluation uses.
pub fn eval_tokens(vocab: &Vocab, level: Level, data: &str, whole: bool) -> Result<Vec<u32>> {
    Ok(irnn_train::lm::data::eval_tokens(
        vocab, level, data, whole, EVAL_BATCH,
    )?)
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

/// Rounds `model`'s recurrent matrices by GPTQ at `bits` over the first
/// `n` training tokens (the calibration tokens) and prints, per layer, the
/// gate pre-activations' error of nearest rounding against GPTQ's.
pub fn gptq_with_spinner(
    model: &mut LanguageModel<f32>,
    corpus: &Corpus,
    n: usize,
    bits: irnn_runtime::kernels::WeightBits,
) -> Result<()> {
    let n = n.min(corpus.train.len());
    let report = with_spinner(
        format!(
            "GPTQ rounding at {} bits over {n} training tokens",
            bits.bits()
        ),
        || irnn_train::lm::gptq::round_recurrent_weights(model, &corpus.train[..n], bits),
    )
    .context("GPTQ rounding")?;
    for (l, r) in report.iter().enumerate() {
        let reverted = if r.reverted > 0 {
            format!(
                " ({} rows kept nearest: GPTQ moved their scale)",
                r.reverted
            )
        } else {
            String::new()
        };
        outln!(
            "GPTQ layer {l}: gate pre-activation error (mean square per row) {:.3e} nearest → {:.3e} GPTQ{reverted}",
            r.nearest,
            r.gptq,
        );
    }
    Ok(())
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
