//! `irnn demo`: the whole pipeline on the embedded Tiny Shakespeare slice,
//! in a few minutes on two cores — float training, calibration, QAT, export
//! to an `.irnn` file, the integer model's metric and speed next to the
//! float model's, and text written by the integer model.

use std::time::Instant;

use anyhow::Result;
use irnn_runtime::format::{read_language_model, write_language_model};
use irnn_runtime::Isa;
use irnn_train::checkpoint::atomic_write;
use irnn_train::lm::checkpoint::TrainSettings;
use irnn_train::lm::data::{load_corpus, Level, EMBEDDED_DATA};
use irnn_train::lm::eval;
use irnn_train::lm::generate::{decode, encode_prompt, generate};
use irnn_train::lm::qat::{train_qat, Qat, QatSettings};
use irnn_train::lm::train::{fresh_progress, train, RunOptions, EVAL_BATCH};
use irnn_train::lm::{CellKind, LanguageModel, LmConfig};
use irnn_train::nn::optim::{Optimizer, OptimizerKind, Schedule};
use irnn_train::nn::rng::TrainRng;

use super::lm::calibrate_with_spinner;
use crate::progress::Bars;
use irnn_train::lm::checkpoint::float_bytes;
use irnn_train::quant::pwl_fit::DEFAULT_KNOTS;

const FLOAT_EPOCHS: usize = 25;
const QAT_EPOCHS: usize = 2;
const BATCH: usize = 32;
const BPTT: usize = 64;

fn bpc(nats: f64) -> f64 {
    nats / std::f64::consts::LN_2
}

pub fn run() -> Result<()> {
    let start = Instant::now();
    let corpus = load_corpus(EMBEDDED_DATA, Level::Char)?;
    outln!(
        "irnn demo — Tiny Shakespeare slice (embedded): {} train / {} valid / {} test characters, \
         vocabulary {}; {} threads, integer kernels: {}",
        corpus.train.len(),
        corpus.valid.len(),
        corpus.test.len(),
        corpus.vocab.len(),
        rayon::current_num_threads(),
        Isa::detect().name()
    );
    let config = LmConfig {
        level: Level::Char,
        vocab: corpus.vocab.len(),
        cell: CellKind::Lstm,
        layers: 1,
        hidden: 256,
        embedding: 64,
        dropout: 0.15,
        locked_dropout: false,
        capped_input_gate: false,
        reset_before: false,
        residual: false,
        layer_norm: false,
    };

    outln!("\n1/4 float training: LSTM 1×256, Adam, dropout 0.15, {FLOAT_EPOCHS} epochs");
    let mut model = LanguageModel::<f32>::new(config, &mut TrainRng::seed(7));
    let settings = TrainSettings {
        epochs: FLOAT_EPOCHS,
        batch: BATCH,
        bptt: BPTT,
        optimizer: OptimizerKind::Adam,
        clip: 1.0,
        schedule: Schedule::Cosine {
            epochs: FLOAT_EPOCHS,
            min_lr: 1e-4,
        },
        seed: 7,
        sum_over_time: false,
    };
    let mut progress = fresh_progress(settings, 0.004);
    train(
        &mut model,
        &corpus,
        &mut progress,
        &mut Optimizer::default(),
        None,
        &RunOptions::default(),
        &mut Bars::new(true),
    )?;
    let float_test = model.clone().evaluate(&corpus.test, EVAL_BATCH, BPTT);

    outln!("\n2/4 calibration and post-training quantization ({DEFAULT_KNOTS}-knot PWL tables)");
    let ranges = calibrate_with_spinner(&model, &corpus, 20_000);
    let float = model.clone();
    let mut qat = Qat::new(model, corpus.vocab.clone(), ranges, DEFAULT_KNOTS)?;
    let ptq_test = qat
        .evaluate(&corpus.test, EVAL_BATCH, BPTT, false)?
        .0
        .mean();

    outln!("\n3/4 quantization-aware training: {QAT_EPOCHS} epochs, ranges frozen for the last quarter");
    let qat_settings = QatSettings {
        epochs: QAT_EPOCHS,
        batch: BATCH,
        bptt: BPTT,
        optimizer: OptimizerKind::Adam,
        lr: 1e-4,
        schedule: Schedule::Cosine {
            epochs: QAT_EPOCHS,
            min_lr: 0.0,
        },
        clip: 1.0,
        sum_over_time: false,
        freeze_fraction: 0.25,
        max_windows: None,
        // The demo shows what QAT's updates do, kept or not.
        keep_best: false,
        anneal_per_update: false,
    };
    train_qat(&mut qat, &corpus, &qat_settings, &mut Bars::new(true))?;
    let qat_test = qat
        .evaluate(&corpus.test, EVAL_BATCH, BPTT, false)?
        .0
        .mean();

    outln!("\n4/4 export and integer inference");
    let dir = std::env::temp_dir().join("irnn-demo");
    let path = dir.join("tinyshakespeare-char.irnn");
    atomic_write(&path, &write_language_model(&qat.export()?))?;
    let bytes = std::fs::read(&path)?;
    let int = read_language_model(&bytes)?;
    let int_test = eval::evaluate(&int, Isa::detect(), &corpus.test, EVAL_BATCH)?.mean();
    let float_bytes = float_bytes(&float, &corpus.vocab);

    // Speed: score the test text as one stream, batch 1, both models.
    let text = &corpus.test;
    let t = Instant::now();
    let mut f = float.clone();
    let _ = f.evaluate(text, 1, text.len());
    let float_tps = (text.len() - 1) as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let _ = eval::evaluate(&int, Isa::detect(), text, 1)?;
    let int_tps = (text.len() - 1) as f64 / t.elapsed().as_secs_f64();

    outln!();
    outln!("| model                         | test bpc | file bytes | tokens/s (batch 1) |");
    outln!("|-------------------------------|---------:|-----------:|-------------------:|");
    outln!(
        "| float32                       | {:>8.3} | {:>10} | {:>18.0} |",
        bpc(float_test),
        float_bytes,
        float_tps
    );
    outln!(
        "| integer, calibration only     | {:>8.3} |            |                    |",
        bpc(ptq_test)
    );
    outln!(
        "| integer after QAT (QAT-mode)  | {:>8.3} |            |                    |",
        bpc(qat_test)
    );
    outln!(
        "| integer after QAT (.irnn file)| {:>8.3} | {:>10} | {:>18.0} |",
        bpc(int_test),
        bytes.len(),
        int_tps
    );
    outln!(
        "\nmodel file {} = {:.3} × the float checkpoint; integer inference {:.1}× the float speed",
        path.display(),
        bytes.len() as f64 / float_bytes as f64,
        int_tps / float_tps
    );
    outln!(
        "QAT-mode and .irnn metrics identical: {}",
        if qat_test.to_bits() == int_test.to_bits() {
            "yes (bit for bit)"
        } else {
            "NO — this is a bug"
        }
    );

    let prompt = "ROMEO:\n";
    let ids = generate(
        &int,
        Isa::detect(),
        &encode_prompt(&int.vocabulary, prompt)?,
        300,
        0.7,
        &mut TrainRng::seed(3),
    )?;
    outln!(
        "\nSample from the integer model (temperature 0.7):\n----\n{prompt}{}\n----",
        decode(&int.vocabulary, &ids)
    );
    outln!(
        "demo finished in {:.0} s. Try: irnn inspect {} ; irnn generate {} --prompt \"KING:\"",
        start.elapsed().as_secs_f64(),
        path.display(),
        path.display()
    );
    Ok(())
}
