//! The language model in the shared checkpoint codec ([`crate::checkpoint`]):
//! PyTorch's parameter names and shapes, the configuration (`irnn.config`)
//! and vocabulary (`irnn.vocab`) in the metadata, and — for `--resume` — the
//! training position (`irnn.progress`: epoch, window, random stream,
//! schedule), the optimizer's moments (`optimizer.*`) and the carried hidden
//! state (`state.*`), so a resumed run continues exactly where it stopped.
//! After calibration or QAT, `irnn.quant` holds the activation ranges.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::checkpoint::{load_with, CheckpointError, CheckpointReader, CheckpointWriter};

use crate::lm::data::Vocab;
use crate::lm::export::TableBits;
use crate::lm::{LanguageModel, LmConfig, LmState};
use crate::nn::optim::{Optimizer, OptimizerKind, Schedule, ScheduleState};
use crate::nn::rng::TrainRng;
use irnn_runtime::kernels::WeightBits;

/// Hyper-parameters of a training run (stored so `--resume` needs none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// Epochs in total.
    pub epochs: usize,
    /// Parallel streams.
    pub batch: usize,
    /// Window length.
    pub bptt: usize,
    /// Optimizer.
    pub optimizer: OptimizerKind,
    /// Gradient-norm clip (0: none).
    pub clip: f64,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Seed of the random stream.
    pub seed: u64,
    /// Scale the loss as Zaremba et al. do — summed over the window's time
    /// steps, averaged over the batch — instead of averaged over all tokens.
    /// It multiplies the gradient by the window length, which matters for
    /// the learning rate and the clipping threshold.
    #[serde(default)]
    pub sum_over_time: bool,
}

impl TrainSettings {
    /// How this run turns gradients into an update.
    pub fn update_rule(&self) -> crate::train::UpdateRule {
        crate::train::UpdateRule {
            sum_over_time: self.sum_over_time,
            clip: self.clip,
            optimizer: self.optimizer,
        }
    }
}

/// Where training stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainProgress {
    /// Settings of the run.
    pub settings: TrainSettings,
    /// Epochs completed.
    pub epoch: usize,
    /// Windows completed in the current epoch.
    pub window: usize,
    /// The random stream.
    pub rng: TrainRng,
    /// Learning-rate schedule state.
    pub schedule: ScheduleState,
    /// Adam's step count.
    pub optimizer_steps: u64,
    /// Validation loss (nats) after each completed epoch (None without
    /// validation data).
    pub valid_history: Vec<Option<f64>>,
}

/// What a checkpoint holds.
pub struct Checkpoint {
    /// The model.
    pub model: LanguageModel<f32>,
    /// Its vocabulary.
    pub vocab: Vocab,
    /// Training position, when saved by a training run.
    pub progress: Option<TrainProgress>,
    /// Optimizer moments (empty for SGD or when not saved).
    pub optimizer: Optimizer,
    /// Carried hidden state (when saved mid-epoch).
    pub state: Option<LmState<f32>>,
    /// Quantization ranges and PWL budget, when saved by QAT or calibration.
    pub quant: Option<QuantInfo>,
}

/// What export needs beyond the weights: the activation ranges and the PWL
/// knot budget (stored as metadata `irnn.quant`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantInfo {
    /// Activation ranges.
    pub ranges: crate::lm::QuantRanges,
    /// Knots per PWL table.
    pub knots: usize,
    /// Bits of the recurrent weight tables, and of the others unless given
    /// below (8 or 4; absent in files written before 4-bit weights
    /// existed: 8).
    #[serde(default = "eight_bits")]
    pub weight_bits: u32,
    /// Bits of the output layer's table when they differ from
    /// `weight_bits` (`irnn qat --output-bits`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_bits: Option<u32>,
    /// Bits of the embedding table when they differ from `weight_bits`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_bits: Option<u32>,
    /// Learned scales of the recurrent layers' weight rows (`irnn qat
    /// --learn-steps`), one set per layer, at `weight_bits`; absent: each
    /// export searches them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<crate::quant::cells::CellSteps>>,
}

fn eight_bits() -> u32 {
    8
}

impl QuantInfo {
    /// What export needs to reproduce QAT's model: its ranges, knot budget,
    /// table widths and learned row scales (if any). A table at the
    /// recurrent width is stored without its own field, so uniform
    /// checkpoints read the same as before per-table widths existed.
    pub fn new(
        ranges: crate::lm::QuantRanges,
        knots: usize,
        bits: TableBits,
        steps: Option<Vec<crate::quant::cells::CellSteps>>,
    ) -> Self {
        let own = |b: WeightBits| (b != bits.recurrent).then_some(b.bits());
        Self {
            ranges,
            knots,
            weight_bits: bits.recurrent.bits(),
            output_bits: own(bits.output),
            embedding_bits: own(bits.embedding),
            steps,
        }
    }

    /// The tables' widths, checked (a checkpoint is untrusted input).
    pub fn table_bits(&self) -> Result<TableBits, String> {
        let width = |field: &str, bits: u32| {
            WeightBits::from_bits(bits)
                .ok_or_else(|| format!("irnn.quant: {field} is {bits}; 8 and 4 are supported"))
        };
        let recurrent = width("weight_bits", self.weight_bits)?;
        Ok(TableBits {
            recurrent,
            output: match self.output_bits {
                Some(b) => width("output_bits", b)?,
                None => recurrent,
            },
            embedding: match self.embedding_bits {
                Some(b) => width("embedding_bits", b)?,
                None => recurrent,
            },
        })
    }
}

/// Serialises a checkpoint to bytes.
pub fn to_bytes(
    model: &LanguageModel<f32>,
    vocab: &Vocab,
    progress: Option<&TrainProgress>,
    optimizer: &Optimizer,
    state: Option<&LmState<f32>>,
    quant: Option<&QuantInfo>,
) -> Vec<u8> {
    let mut w = CheckpointWriter::new();
    let params = model.params();
    for p in &params {
        w.tensor(p.name.clone(), &p.shape, &p.value);
    }
    if !optimizer.m.is_empty() {
        for ((p, m), v) in params.iter().zip(&optimizer.m).zip(&optimizer.v) {
            w.tensor(format!("optimizer.exp_avg.{}", p.name), &p.shape, m);
            w.tensor(format!("optimizer.exp_avg_sq.{}", p.name), &p.shape, v);
        }
    }
    if let Some(s) = state {
        for (l, (h, c)) in s.h.iter().zip(&s.c).enumerate() {
            w.tensor(format!("state.h_l{l}"), &[h.len()], h);
            w.tensor(format!("state.c_l{l}"), &[c.len()], c);
        }
    }
    w.meta("irnn.config", &model.config);
    w.meta("irnn.vocab", &vocab.tokens);
    if let Some(p) = progress {
        w.meta("irnn.progress", p);
    }
    if let Some(q) = quant {
        w.meta("irnn.quant", q);
    }
    w.to_bytes()
}

/// Saves a checkpoint atomically.
pub fn save(
    path: &Path,
    model: &LanguageModel<f32>,
    vocab: &Vocab,
    progress: Option<&TrainProgress>,
    optimizer: &Optimizer,
    state: Option<&LmState<f32>>,
) -> Result<(), CheckpointError> {
    let bytes = to_bytes(model, vocab, progress, optimizer, state, None);
    crate::checkpoint::atomic_write(path, &bytes)
}

/// Saves the float weights with their quantization ranges (what QAT and
/// calibration produce; `irnn convert` exports it without data).
pub fn save_quantized(
    path: &Path,
    model: &LanguageModel<f32>,
    vocab: &Vocab,
    quant: &QuantInfo,
) -> Result<(), CheckpointError> {
    let bytes = to_bytes(model, vocab, None, &Optimizer::default(), None, Some(quant));
    crate::checkpoint::atomic_write(path, &bytes)
}

/// Bytes of the float weights-only checkpoint of `model`, the baseline the
/// integer model's size is compared with.
pub fn float_bytes(model: &LanguageModel<f32>, vocab: &Vocab) -> usize {
    to_bytes(model, vocab, None, &Optimizer::default(), None, None).len()
}

/// Loads a checkpoint.
pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
    load_with(path, read)
}

/// Parses checkpoint bytes.
pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint, String> {
    read(&CheckpointReader::parse(bytes)?)
}

fn read(r: &CheckpointReader) -> Result<Checkpoint, String> {
    let config: LmConfig = r.meta("irnn.config")?;
    let tokens: Vec<String> = r.meta("irnn.vocab")?;
    if tokens.len() != config.vocab {
        return Err(format!(
            "vocabulary has {} tokens, config says {}",
            tokens.len(),
            config.vocab
        ));
    }
    let quant: Option<QuantInfo> = r.optional_meta("irnn.quant")?;
    let progress: Option<TrainProgress> = r.optional_meta("irnn.progress")?;
    // Build a model of the right shape (values overwritten below).
    let mut model = LanguageModel::<f32>::new(config.clone(), &mut TrainRng::seed(0));
    for p in model.params_mut() {
        p.value = r.f32(&p.name, &p.shape)?;
    }
    let mut optimizer = Optimizer::default();
    if r.has_tensors("optimizer.") {
        for p in model.params() {
            optimizer
                .m
                .push(r.f32(&format!("optimizer.exp_avg.{}", p.name), &p.shape)?);
            optimizer
                .v
                .push(r.f32(&format!("optimizer.exp_avg_sq.{}", p.name), &p.shape)?);
        }
    }
    if let Some(p) = &progress {
        optimizer.t = p.optimizer_steps;
    }
    let state = if r.has_tensors("state.") {
        let batch = progress.as_ref().map_or(1, |p| p.settings.batch);
        let mut s = model.zero_state(batch);
        for l in 0..config.layers {
            s.h[l] = r.f32(&format!("state.h_l{l}"), &[batch * config.hidden])?;
            s.c[l] = r.f32(&format!("state.c_l{l}"), &[batch * config.hidden])?;
        }
        Some(s)
    } else {
        None
    };
    let mut vocab = Vocab::from_tokens(tokens);
    vocab.reindex();
    Ok(Checkpoint {
        model,
        vocab,
        progress,
        optimizer,
        state,
        quant,
    })
}
