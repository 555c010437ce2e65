//! "QAT trains exactly what is deployed" (docs/ARCHITECTURE.md): what QAT measures is what the integer runtime computes.
//! A small character LSTM (plain and with LayerNorm, and GRUs of either reset convention) trained on the embedded Tiny Shakespeare slice
//! goes through calibration, QAT, a checkpoint with its ranges, export to a
//! `.irnn` file and back; the runtime then scores the whole validation text
//! and its logits must equal QAT-mode evaluation's, bit for bit.

use irnn_runtime::format::{read_language_model, write_language_model};
use irnn_runtime::kernels::WeightBits;
use irnn_runtime::Isa;
use irnn_train::lm::checkpoint::{self, QuantInfo};
use irnn_train::lm::data::{load_corpus, Batches, Corpus, Level, EMBEDDED_DATA};
use irnn_train::lm::eval;
use irnn_train::lm::qat::{train_qat, Qat, QatSettings};
use irnn_train::lm::train::{fresh_progress, train, RunOptions, Silent};
use irnn_train::lm::{calibrate, integer_model_with_steps, TableBits};
use irnn_train::lm::{CellKind, LanguageModel, LmConfig};
use irnn_train::nn::optim::{OptimizerKind, Schedule};
use irnn_train::nn::rng::TrainRng;
use irnn_train::quant::pwl_fit::PwlFitter;

/// A one-epoch QAT run of `windows` windows (batch 16, bptt 32), keeping
/// the last epoch, the rate following `schedule`.
fn short_run(optimizer: OptimizerKind, lr: f64, schedule: Schedule, windows: usize) -> QatSettings {
    QatSettings {
        epochs: 1,
        batch: 16,
        bptt: 32,
        optimizer,
        lr,
        schedule,
        clip: 1.0,
        sum_over_time: false,
        freeze_fraction: 0.0,
        max_windows: Some(windows),
        keep_best: false,
        anneal_per_update: false,
    }
}

/// Validation decides whether QAT's updates are kept: updates that make
/// the model worse leave it at the calibrated start with `keep_best`, and
/// stay without it.
#[test]
fn keep_best_returns_to_the_calibrated_start_when_qat_hurts_validation() {
    let (corpus, model) = trained_model(CellKind::Lstm, false, false);
    let ranges = calibrate(&model, &corpus.train[..4000]);
    let mut s = QatSettings {
        keep_best: true,
        // A rate that wrecks the model in a few windows.
        ..short_run(OptimizerKind::Sgd, 20.0, Schedule::Constant, 5)
    };
    let start = || Qat::new(model.clone(), corpus.vocab.clone(), ranges.clone(), 32).unwrap();
    let mut kept = start();
    let ptq = kept
        .evaluate(&corpus.valid, 10, 32, false)
        .unwrap()
        .0
        .mean();
    let run = train_qat(&mut kept, &corpus, &s, &mut Silent).unwrap();
    assert_eq!(run.kept_epoch, 0);
    assert_eq!(run.start_valid.to_bits(), ptq.to_bits());
    assert!(run.reports[0].valid_loss > ptq, "the updates did not hurt");
    assert_eq!(kept.ranges, ranges);
    let back = kept
        .evaluate(&corpus.valid, 10, 32, false)
        .unwrap()
        .0
        .mean();
    assert_eq!(back.to_bits(), ptq.to_bits());

    s.keep_best = false;
    let mut last = start();
    let run = train_qat(&mut last, &corpus, &s, &mut Silent).unwrap();
    assert_eq!(run.kept_epoch, 1);
    let after = last
        .evaluate(&corpus.valid, 10, 32, false)
        .unwrap()
        .0
        .mean();
    assert!(after > ptq, "{after} vs {ptq}");
}

/// The rates one run's updates used.
#[derive(Default)]
struct Rates(Vec<f64>);

impl irnn_train::train::Observer<irnn_train::lm::train::EpochReport> for Rates {
    fn update_done(&mut self, _done: usize, _units: usize, _loss: f64, lr: f64) {
        self.0.push(lr);
    }
}

/// With `anneal_per_update` the rate falls by a cosine over the run's
/// updates (a run cut short by `max_windows` included), from `lr` at the
/// first update towards 0 at the last; without it, it stays at `lr` for
/// the whole (single) epoch.
#[test]
fn qat_anneals_the_rate_over_every_update() {
    let (corpus, model) = trained_model(CellKind::Lstm, false, false);
    let ranges = calibrate(&model, &corpus.train[..4000]);
    let cosine = Schedule::Cosine {
        epochs: 1,
        min_lr: 0.0,
    };
    let mut s = QatSettings {
        anneal_per_update: true,
        ..short_run(OptimizerKind::Adam, 1e-3, cosine, 6)
    };
    let mut rates = Rates::default();
    let mut qat = Qat::new(model.clone(), corpus.vocab.clone(), ranges.clone(), 32).unwrap();
    train_qat(&mut qat, &corpus, &s, &mut rates).unwrap();
    let expected: Vec<f64> = (0..6)
        .map(|done| irnn_train::nn::optim::cosine_lr(1e-3, 0.0, done, 6))
        .collect();
    assert_eq!(rates.0, expected);
    assert_eq!(rates.0[0], 1e-3);
    assert!(rates.0.windows(2).all(|w| w[1] < w[0]), "{:?}", rates.0);
    assert!(rates.0[5] < 1e-4, "{:?}", rates.0);

    s.anneal_per_update = false;
    let mut rates = Rates::default();
    let mut qat = Qat::new(model, corpus.vocab.clone(), ranges, 32).unwrap();
    train_qat(&mut qat, &corpus, &s, &mut rates).unwrap();
    assert_eq!(rates.0, vec![1e-3; 6]);
}

#[test]
fn qat_metric_is_the_integer_runtimes_metric() {
    qat_exactness(CellKind::Lstm, false, false, WeightBits::Eight);
}

#[test]
fn layer_norm_lstm_qat_metric_is_the_integer_runtimes_metric() {
    qat_exactness(CellKind::Lstm, false, true, WeightBits::Eight);
}

#[test]
fn gru_qat_metric_is_the_integer_runtimes_metric() {
    qat_exactness(CellKind::Gru, false, false, WeightBits::Eight);
}

#[test]
fn reset_before_gru_qat_metric_is_the_integer_runtimes_metric() {
    qat_exactness(CellKind::Gru, true, false, WeightBits::Eight);
}

#[test]
fn four_bit_lstm_qat_metric_is_the_integer_runtimes_metric() {
    qat_exactness(CellKind::Lstm, false, false, WeightBits::Four);
}

#[test]
fn four_bit_reset_before_gru_qat_metric_is_the_integer_runtimes_metric() {
    qat_exactness(CellKind::Gru, true, false, WeightBits::Four);
}

/// With learned row scales (LSQ) the scales move, the checkpoint carries
/// them, and the export from it is still the file QAT measured.
#[test]
fn learned_step_qat_metric_is_the_integer_runtimes_metric() {
    for cell in [CellKind::Lstm, CellKind::Gru] {
        qat_exactness_with(cell, false, false, WeightBits::Four.into(), true);
    }
}

/// A small character model trained for 40 windows on the embedded slice.
/// Distillation changes what QAT descends, not what it runs: one window gives
/// the same integer loss with and without a teacher (the data's, which is
/// what QAT reports); with the teacher's
/// share at 0 the gradients are the plain ones, with a share they move.
#[test]
fn distillation_changes_the_gradient_not_the_forward_pass() {
    let (corpus, model) = trained_model(CellKind::Lstm, false, false);
    let ranges = calibrate(&model, &corpus.train[..4000]);
    let window = |teacher: Option<f64>| {
        let mut qat = Qat::new(model.clone(), corpus.vocab.clone(), ranges.clone(), 32).unwrap();
        qat.bits = WeightBits::Four.into();
        if let Some(w) = teacher {
            qat.distill_from(model.clone(), w);
        }
        let int = qat.export().unwrap();
        let batches = Batches::new(&corpus.train, 16);
        let (x, y, steps) = batches.window(3, 32);
        let mut states: Vec<_> = (0..batches.batch()).map(|_| int.zero_state()).collect();
        qat.model.zero_grad();
        let loss = qat.train_window(&x, &y, steps, &mut states).unwrap();
        let grads: Vec<f32> = qat
            .model
            .params()
            .iter()
            .flat_map(|p| p.grad.clone())
            .collect();
        (loss, grads)
    };
    let (plain_loss, plain) = window(None);
    let (zero_loss, zero) = window(Some(0.0));
    let (half_loss, half) = window(Some(0.5));
    // The same integer logits (the two loss functions round differently).
    assert_eq!(zero_loss.to_bits(), half_loss.to_bits());
    assert!((plain_loss - half_loss).abs() < 1e-5 * plain_loss);
    let norm = |g: &[f32]| g.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
    let gap = |a: &[f32], b: &[f32]| {
        let d: Vec<f32> = a.iter().zip(b).map(|(x, y)| x - y).collect();
        norm(&d) / norm(a)
    };
    assert!(gap(&plain, &zero) < 1e-4, "{}", gap(&plain, &zero));
    assert!(gap(&plain, &half) > 1e-2, "{}", gap(&plain, &half));
}

/// 4-bit recurrent matrices with the output layer and the embedding at 8
/// bits: the widths travel through the checkpoint, and the file is the
/// runtime's model.
#[test]
fn mixed_width_qat_metric_is_the_integer_runtimes_metric() {
    let bits = TableBits {
        recurrent: WeightBits::Four,
        output: WeightBits::Eight,
        embedding: WeightBits::Eight,
    };
    qat_exactness_with(CellKind::Lstm, false, false, bits, false);
}

fn trained_model(
    cell: CellKind,
    reset_before: bool,
    layer_norm: bool,
) -> (Corpus, LanguageModel<f32>) {
    let corpus = load_corpus(EMBEDDED_DATA, Level::Char).unwrap();
    let config = LmConfig {
        level: Level::Char,
        vocab: corpus.vocab.len(),
        cell,
        layers: 2,
        hidden: 32,
        embedding: 32,
        dropout: 0.0,
        locked_dropout: false,
        capped_input_gate: false,
        reset_before,
        residual: true,
        layer_norm,
    };
    let mut model = LanguageModel::<f32>::new(config, &mut TrainRng::seed(1));
    let settings = irnn_train::lm::checkpoint::TrainSettings {
        epochs: 1,
        batch: 16,
        bptt: 32,
        optimizer: OptimizerKind::Adam,
        clip: 1.0,
        schedule: Schedule::Constant,
        seed: 1,
        sum_over_time: false,
    };
    let mut progress = fresh_progress(settings, 0.01);
    let opts = RunOptions {
        max_windows: Some(40),
        ..RunOptions::default()
    };
    let mut opt = Default::default();
    train(
        &mut model,
        &corpus,
        &mut progress,
        &mut opt,
        None,
        &opts,
        &mut Silent,
    )
    .unwrap();
    (corpus, model)
}

fn qat_exactness(cell: CellKind, reset_before: bool, layer_norm: bool, bits: WeightBits) {
    qat_exactness_with(cell, reset_before, layer_norm, bits.into(), false);
}

fn qat_exactness_with(
    cell: CellKind,
    reset_before: bool,
    layer_norm: bool,
    bits: TableBits,
    learn_steps: bool,
) {
    let (corpus, mut model) = trained_model(cell, reset_before, layer_norm);
    let float_loss = model.evaluate(&corpus.valid, 10, 32);

    let ranges = calibrate(&model, &corpus.train[..4000]);
    let calibrated = ranges.clone();
    let mut qat = Qat::new(model, corpus.vocab.clone(), ranges, 32).unwrap();
    qat.bits = bits;
    let searched = write_language_model(&qat.export().unwrap());
    if learn_steps {
        qat.learn_steps(1.0);
        // They start at the searched scales: the same model.
        assert!(write_language_model(&qat.export().unwrap()) == searched);
    }
    let start_steps = qat.learned_steps.as_ref().map(|s| s.cell_steps());
    let ptq_loss = qat.evaluate(&corpus.valid, 10, 32, false).unwrap().0.mean();
    let s = QatSettings {
        epochs: 1,
        batch: 16,
        bptt: 32,
        optimizer: OptimizerKind::Adam,
        lr: 0.003,
        schedule: Schedule::Constant,
        clip: 1.0,
        sum_over_time: false,
        freeze_fraction: 0.5,
        max_windows: Some(20),
        keep_best: false,
        anneal_per_update: false,
    };
    // Training exercises dropout on the int8 inputs; evaluation has none.
    qat.dropout = 0.1;
    train_qat(&mut qat, &corpus, &s, &mut Silent).unwrap();
    let (qat_sum, qat_logits) = qat.evaluate(&corpus.valid, 10, 32, true).unwrap();
    eprintln!(
        "float {float_loss:.4}  PTQ {ptq_loss:.4}  QAT {:.4} nats/char",
        qat_sum.mean()
    );
    // Not degenerate: better than uniform guessing, and the model learned;
    // the ranges followed what the float shadow of each step needed.
    assert!(qat_sum.mean() < (corpus.vocab.len() as f64).ln() - 0.5);
    assert!(qat.ranges != calibrated);
    for (a, b) in qat.ranges.layers.iter().zip(&calibrated.layers) {
        assert!(
            a.h != b.h && a.cell.pre != b.cell.pre,
            "{cell:?}: ranges did not move"
        );
    }

    // Save float weights + ranges, reload, export as `irnn convert` does.
    // One folder per call: the exactness tests run in parallel threads of
    // one process, and each removes its folder when done.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("irnn-qat-exact-{}-{call}", std::process::id()));
    let ckpt = dir.join("qat.safetensors");
    let steps = qat.learned_steps.as_ref().map(|s| s.cell_steps());
    if learn_steps {
        let (start, now) = (start_steps.unwrap(), steps.clone().unwrap());
        assert!(start != now, "{cell:?}: the learned scales did not move");
        // And they are not simply the searched scales of the new weights.
        assert!(
            write_language_model(&qat.export().unwrap()) != {
                let kept = qat.learned_steps.take();
                let bytes = write_language_model(&qat.export().unwrap());
                qat.learned_steps = kept;
                bytes
            }
        );
    }
    let info = QuantInfo::new(qat.ranges.clone(), qat.knots(), qat.bits, steps);
    checkpoint::save_quantized(&ckpt, &qat.model, &qat.vocab, &info).unwrap();
    let back = checkpoint::load(&ckpt).unwrap();
    let q = back.quant.expect("ranges saved");
    assert_eq!(q.steps, info.steps);
    assert_eq!(q.table_bits(), Ok(bits));
    let exported = integer_model_with_steps(
        &back.model,
        &back.vocab,
        &q.ranges,
        q.table_bits().unwrap(),
        q.steps.as_deref(),
        &mut PwlFitter::new(q.knots),
    )
    .unwrap();
    let bytes = write_language_model(&exported);
    // 4-bit matrices make a version 9 file; 8-bit models keep version 3.
    let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    assert_eq!(
        version,
        if bits.recurrent == WeightBits::Four {
            9
        } else {
            3
        }
    );
    assert_eq!(bytes, write_language_model(&qat.export().unwrap()));
    let file = dir.join("model.irnn");
    irnn_train::checkpoint::atomic_write(&file, &bytes).unwrap();
    let runtime_model = read_language_model(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(runtime_model.output.weights.weight_bits(), bits.output);
    std::fs::remove_dir_all(&dir).unwrap();

    // The runtime over each whole stream, in one call per stream.
    let batches = Batches::new(&corpus.valid, 10);
    let len = batches.stream_len();
    for (b, kept) in qat_logits.iter().enumerate() {
        let stream = &corpus.valid[b * len..(b + 1) * len];
        let mut state = runtime_model.zero_state();
        let mut logits = vec![0; (len - 1) * runtime_model.classes()];
        runtime_model
            .run(Isa::detect(), &stream[..len - 1], &mut state, &mut logits)
            .unwrap();
        assert!(logits == *kept, "stream {b}: logits differ");
    }
    let runtime_sum = eval::evaluate(&runtime_model, Isa::detect(), &corpus.valid, 10).unwrap();
    assert_eq!(runtime_sum, qat_sum);
    assert_eq!(runtime_sum.mean().to_bits(), qat_sum.mean().to_bits());
}
