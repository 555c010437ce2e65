//! Checkpoints: safetensors files with PyTorch's parameter names and
//! shapes (f32), the model configuration and vocabulary in the metadata,
//! and — for `--resume` — the training position, the random stream, the
//! learning-rate schedule, the optimizer's moments and the carried hidden
//! state, so a resumed run continues exactly where it stopped.
//!
//! Files are written atomically (a temporary file in the same directory,
//! flushed, then renamed over the target), so a kill during a save never
//! corrupts the last good checkpoint.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};

use crate::lm::data::Vocab;
use crate::lm::{LanguageModel, LmConfig, LmState};
use crate::nn::optim::{Optimizer, OptimizerKind, Schedule, ScheduleState};
use crate::nn::rng::TrainRng;

/// Checkpoint failures.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not a valid safetensors file.
    #[error("{path}: not a valid safetensors checkpoint: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

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
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes `bytes` to `path` atomically: temporary file, flush, rename.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
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
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let params = model.params();
    for p in &params {
        tensors.push((p.name.clone(), p.shape.clone(), f32_bytes(&p.value)));
    }
    if !optimizer.m.is_empty() {
        for ((p, m), v) in params.iter().zip(&optimizer.m).zip(&optimizer.v) {
            tensors.push((
                format!("optimizer.exp_avg.{}", p.name),
                p.shape.clone(),
                f32_bytes(m),
            ));
            tensors.push((
                format!("optimizer.exp_avg_sq.{}", p.name),
                p.shape.clone(),
                f32_bytes(v),
            ));
        }
    }
    if let Some(s) = state {
        for (l, (h, c)) in s.h.iter().zip(&s.c).enumerate() {
            tensors.push((format!("state.h_l{l}"), vec![h.len()], f32_bytes(h)));
            tensors.push((format!("state.c_l{l}"), vec![c.len()], f32_bytes(c)));
        }
    }
    let mut meta = HashMap::new();
    meta.insert(
        "irnn.config".to_string(),
        serde_json::to_string(&model.config).expect("config serialises"),
    );
    meta.insert(
        "irnn.vocab".to_string(),
        serde_json::to_string(&vocab.tokens).expect("vocab serialises"),
    );
    if let Some(p) = progress {
        meta.insert(
            "irnn.progress".to_string(),
            serde_json::to_string(p).expect("progress serialises"),
        );
    }
    if let Some(q) = quant {
        meta.insert(
            "irnn.quant".to_string(),
            serde_json::to_string(q).expect("ranges serialise"),
        );
    }
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, s, d)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), d).expect("sizes match"),
            )
        })
        .collect();
    safetensors::serialize(views, &Some(meta)).expect("checkpoint serialises")
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
    atomic_write(
        path,
        &to_bytes(model, vocab, progress, optimizer, state, None),
    )
}

/// Saves the float weights with their quantization ranges (what QAT and
/// calibration produce; `irnn convert` exports it without data).
pub fn save_quantized(
    path: &Path,
    model: &LanguageModel<f32>,
    vocab: &Vocab,
    quant: &QuantInfo,
) -> Result<(), CheckpointError> {
    atomic_write(
        path,
        &to_bytes(model, vocab, None, &Optimizer::default(), None, Some(quant)),
    )
}

/// Loads a checkpoint.
pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    from_bytes(&bytes).map_err(|reason| CheckpointError::Format {
        path: path.to_path_buf(),
        reason,
    })
}

/// Parses checkpoint bytes.
pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint, String> {
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    let meta = header.metadata().clone().unwrap_or_default();
    let get = |key: &str| {
        meta.get(key)
            .ok_or_else(|| format!("metadata has no '{key}'"))
    };
    let config: LmConfig =
        serde_json::from_str(get("irnn.config")?).map_err(|e| format!("irnn.config: {e}"))?;
    let tokens: Vec<String> =
        serde_json::from_str(get("irnn.vocab")?).map_err(|e| format!("irnn.vocab: {e}"))?;
    if tokens.len() != config.vocab {
        return Err(format!(
            "vocabulary has {} tokens, config says {}",
            tokens.len(),
            config.vocab
        ));
    }
    let quant: Option<QuantInfo> = match meta.get("irnn.quant") {
        Some(s) => Some(serde_json::from_str(s).map_err(|e| format!("irnn.quant: {e}"))?),
        None => None,
    };
    let progress: Option<TrainProgress> = match meta.get("irnn.progress") {
        Some(s) => Some(serde_json::from_str(s).map_err(|e| format!("irnn.progress: {e}"))?),
        None => None,
    };
    let st = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let read = |name: &str, shape: &[usize]| -> Result<Vec<f32>, String> {
        let t = st
            .tensor(name)
            .map_err(|_| format!("missing tensor '{name}'"))?;
        if t.dtype() != Dtype::F32 {
            return Err(format!("tensor '{name}' is {:?}, expected F32", t.dtype()));
        }
        if t.shape() != shape {
            return Err(format!(
                "tensor '{name}' has shape {:?}, expected {shape:?}",
                t.shape()
            ));
        }
        Ok(t.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    };
    // Build a model of the right shape (values overwritten below).
    let mut model = LanguageModel::<f32>::new(config.clone(), &mut TrainRng::seed(0));
    for p in model.params_mut() {
        p.value = read(&p.name, &p.shape)?;
    }
    let mut optimizer = Optimizer::default();
    if st.names().iter().any(|n| n.starts_with("optimizer.")) {
        for p in model.params() {
            optimizer
                .m
                .push(read(&format!("optimizer.exp_avg.{}", p.name), &p.shape)?);
            optimizer
                .v
                .push(read(&format!("optimizer.exp_avg_sq.{}", p.name), &p.shape)?);
        }
    }
    if let Some(p) = &progress {
        optimizer.t = p.optimizer_steps;
    }
    let state = if st.names().iter().any(|n| n.starts_with("state.")) {
        let batch = progress.as_ref().map_or(1, |p| p.settings.batch);
        let mut s = model.zero_state(batch);
        for l in 0..config.layers {
            s.h[l] = read(&format!("state.h_l{l}"), &[batch * config.hidden])?;
            s.c[l] = read(&format!("state.c_l{l}"), &[batch * config.hidden])?;
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
