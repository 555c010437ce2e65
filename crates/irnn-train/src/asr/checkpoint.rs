//! The acoustic model in the shared checkpoint codec ([`crate::checkpoint`]):
//! PyTorch-style tensor names, the configuration (`irnn.asr_config`), the
//! front end (`irnn.mel`), the output units (`irnn.asr_units`; absent in
//! checkpoints of before, which are digit models) and, after calibration
//! or QAT, the activation
//! ranges (`irnn.asr_quant`) as metadata; saved by a training run, also the
//! run's state for `--resume` (`irnn.asr_progress`, `optimizer.*`,
//! `average.*`).

use std::path::Path;

use super::calibrate::AsrRanges;
use super::data::fsdd::digit_units;
use super::model::{AsrConfig, AsrModel};
use super::train::{AsrProgress, RunState};
use super::units::Units;
use crate::audio::MelConfig;
use crate::checkpoint::{load_with, CheckpointError, CheckpointReader, CheckpointWriter};
use crate::nn::optim::Optimizer;
use crate::nn::rng::TrainRng;

/// What an acoustic-model checkpoint holds.
#[derive(Debug, Clone)]
pub struct AsrCheckpoint {
    /// The float model.
    pub model: AsrModel<f32>,
    /// The front end it was trained with.
    pub mel: MelConfig,
    /// What it writes.
    pub units: Units,
    /// Activation ranges and knots per PWL table, once quantized.
    pub quant: Option<AsrQuantInfo>,
    /// The training run's state, when saved by a training run.
    pub run: Option<RunState>,
}

/// What export needs beyond the weights (metadata `irnn.asr_quant`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AsrQuantInfo {
    /// Activation ranges.
    pub ranges: AsrRanges,
    /// Knots per PWL table.
    pub knots: usize,
    /// Bits of the encoder's activations (8, or 16; older checkpoints: 8).
    #[serde(default = "eight_bits")]
    pub activation_bits: u32,
}

fn eight_bits() -> u32 {
    8
}

/// Whether the safetensors file at `path` holds an acoustic model (false
/// for a language model or anything unreadable: the caller's loader then
/// names the problem).
pub fn is_asr_checkpoint(path: &Path) -> bool {
    load_with(path, |r| Ok(is_asr(r))).unwrap_or(false)
}

/// Writes `model` (the front end it was trained with, its units, and its
/// quantization if any) to `path`.
pub fn save(
    path: &Path,
    model: &AsrModel<f32>,
    mel: &MelConfig,
    units: &Units,
    quant: Option<&AsrQuantInfo>,
) -> Result<(), CheckpointError> {
    writer(model, mel, units, quant).save(path)
}

/// The bytes [`save`] writes.
pub fn to_bytes(
    model: &AsrModel<f32>,
    mel: &MelConfig,
    units: &Units,
    quant: Option<&AsrQuantInfo>,
) -> Vec<u8> {
    writer(model, mel, units, quant).to_bytes()
}

/// Writes `model` with the state of the training run that produced it
/// (`--resume` continues from it): `irnn.asr_progress`, the optimizer's
/// moments (`optimizer.*`) and the running weight sum (`average.*`, f64).
pub fn save_run(
    path: &Path,
    model: &AsrModel<f32>,
    mel: &MelConfig,
    units: &Units,
    run: &RunState,
) -> Result<(), CheckpointError> {
    let mut w = writer(model, mel, units, None);
    w.meta("irnn.asr_progress", &run.progress);
    w.meta("irnn.asr_optimizer_steps", &run.optimizer.t);
    let params = model.params();
    for ((p, m), v) in params.iter().zip(&run.optimizer.m).zip(&run.optimizer.v) {
        w.tensor(format!("optimizer.exp_avg.{}", p.name), &p.shape, m);
        w.tensor(format!("optimizer.exp_avg_sq.{}", p.name), &p.shape, v);
    }
    for (p, sum) in params.iter().zip(&run.weight_sum) {
        w.tensor_f64(format!("average.{}", p.name), &p.shape, sum);
    }
    w.save(path)
}

fn writer(
    model: &AsrModel<f32>,
    mel: &MelConfig,
    units: &Units,
    quant: Option<&AsrQuantInfo>,
) -> CheckpointWriter {
    let mut w = CheckpointWriter::new();
    for p in model.params() {
        w.tensor(p.name.clone(), &p.shape, &p.value);
    }
    w.meta("irnn.asr_config", &model.config);
    w.meta("irnn.mel", mel);
    // Digit models are written as before units were stored, so a checkpoint
    // converts to the same bytes whichever irnn wrote it.
    if *units != digit_units() {
        w.meta("irnn.asr_units", units);
    }
    if let Some(q) = quant {
        w.meta("irnn.asr_quant", q);
    }
    w
}

/// Reads an acoustic model saved by [`save`].
pub fn load(path: &Path) -> Result<AsrCheckpoint, CheckpointError> {
    load_with(path, read)
}

/// Parses checkpoint bytes.
pub fn from_bytes(bytes: &[u8]) -> Result<AsrCheckpoint, String> {
    read(&CheckpointReader::parse(bytes)?)
}

/// Whether parsed checkpoint metadata describes an acoustic model.
pub fn is_asr(r: &CheckpointReader) -> bool {
    r.has_meta("irnn.asr_config")
}

fn read(r: &CheckpointReader) -> Result<AsrCheckpoint, String> {
    let mut config: AsrConfig = r.meta("irnn.asr_config")?;
    let mel: MelConfig = r.meta("irnn.mel")?;
    let units: Units = r
        .optional_meta("irnn.asr_units")?
        .unwrap_or_else(digit_units);
    if config.units == 0 {
        config.units = units.len();
    }
    if config.units != units.len() || units.is_empty() {
        return Err(format!(
            "the model has {} output units but its unit list has {}",
            config.units,
            units.len()
        ));
    }
    let quant: Option<AsrQuantInfo> = r.optional_meta("irnn.asr_quant")?;
    let mut model = AsrModel::<f32>::new(config, &mut TrainRng::seed(0));
    for p in model.params_mut() {
        p.value = r.f32(&p.name, &p.shape)?;
    }
    let run = match r.optional_meta::<AsrProgress>("irnn.asr_progress")? {
        None => None,
        Some(progress) => {
            let mut optimizer = Optimizer {
                t: r.meta("irnn.asr_optimizer_steps")?,
                ..Optimizer::default()
            };
            let mut weight_sum = Vec::new();
            for p in model.params() {
                if r.has_tensors("optimizer.") {
                    optimizer
                        .m
                        .push(r.f32(&format!("optimizer.exp_avg.{}", p.name), &p.shape)?);
                    optimizer
                        .v
                        .push(r.f32(&format!("optimizer.exp_avg_sq.{}", p.name), &p.shape)?);
                }
                if r.has_tensors("average.") {
                    weight_sum.push(r.f64(&format!("average.{}", p.name), &p.shape)?);
                }
            }
            Some(RunState {
                progress,
                optimizer,
                weight_sum,
            })
        }
    };
    Ok(AsrCheckpoint {
        model,
        mel,
        units,
        quant,
        run,
    })
}

/// Bytes of the float weights (4 per parameter), the baseline the integer
/// model's size is compared with.
pub fn float_bytes(model: &AsrModel<f32>) -> usize {
    model.params().iter().map(|p| 4 * p.len()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_files() {
        let config = AsrConfig {
            features: 4,
            stack: 2,
            layers: 1,
            hidden: 3,
            unidirectional: false,
            layer_norm: true,
            decoder: None,
            conv_channels: 0,
            units: 10,
        };
        let model = AsrModel::<f32>::new(config, &mut TrainRng::seed(3));
        let dir = std::env::temp_dir().join(format!("irnn-asr-ckpt-{}", std::process::id()));
        let path = dir.join("asr.safetensors");
        let quant = AsrQuantInfo {
            ranges: super::super::calibrate::calibrate(
                &model,
                &[vec![0.3; 4 * 5], vec![-1.7; 4 * 3]],
                &[],
            ),
            knots: 16,
            activation_bits: 16,
        };
        save(
            &path,
            &model,
            &MelConfig::default(),
            &digit_units(),
            Some(&quant),
        )
        .unwrap();
        assert!(is_asr_checkpoint(&path));
        let ck = load(&path).unwrap();
        let back = ck.model;
        assert_eq!(ck.mel, MelConfig::default());
        assert_eq!(ck.quant, Some(quant));
        assert_eq!(back.config, config);
        for (a, b) in back.params().iter().zip(model.params()) {
            assert_eq!(a.value, b.value, "{}", a.name);
        }
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(load(&path)
            .unwrap_err()
            .to_string()
            .contains("asr.safetensors"));
        assert!(load(&dir.join("missing.safetensors")).is_err());
        assert!(!is_asr_checkpoint(&path));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
