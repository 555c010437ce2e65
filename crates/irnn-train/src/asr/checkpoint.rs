//! Saving and loading the acoustic model: safetensors with PyTorch-style
//! names and the configuration, the front end and (after calibration or
//! QAT) the activation ranges as metadata, written atomically.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use super::calibrate::AsrRanges;
use super::model::{AsrConfig, AsrModel};
use crate::audio::MelConfig;
use crate::lm::checkpoint::{atomic_write, CheckpointError};
use crate::nn::rng::TrainRng;

/// What an acoustic-model checkpoint holds.
#[derive(Debug, Clone)]
pub struct AsrCheckpoint {
    /// The float model.
    pub model: AsrModel<f32>,
    /// The front end it was trained with.
    pub mel: MelConfig,
    /// Activation ranges and knots per PWL table, once quantized.
    pub quant: Option<AsrQuantInfo>,
}

/// What export needs beyond the weights (metadata `irnn.asr_quant`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AsrQuantInfo {
    /// Activation ranges.
    pub ranges: AsrRanges,
    /// Knots per PWL table.
    pub knots: usize,
}

/// Whether the safetensors file at `path` holds an acoustic model (false
/// for a language model or anything unreadable: the caller's loader then
/// names the problem).
pub fn is_asr_checkpoint(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    SafeTensors::read_metadata(&bytes)
        .ok()
        .and_then(|(_, h)| h.metadata().clone())
        .is_some_and(|m| m.contains_key("irnn.asr_config"))
}

/// Writes `model` (the front end it was trained with, and its quantization
/// if any) to `path`.
pub fn save(
    path: &Path,
    model: &AsrModel<f32>,
    mel: &MelConfig,
    quant: Option<&AsrQuantInfo>,
) -> Result<(), CheckpointError> {
    let params = model.params();
    let bytes: Vec<Vec<u8>> = params
        .iter()
        .map(|p| p.value.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, TensorView)> = params
        .iter()
        .zip(&bytes)
        .map(|(p, b)| {
            (
                p.name.clone(),
                TensorView::new(Dtype::F32, p.shape.clone(), b).expect("sizes match"),
            )
        })
        .collect();
    let mut meta = HashMap::new();
    meta.insert(
        "irnn.asr_config".to_string(),
        serde_json::to_string(&model.config).expect("config serialises"),
    );
    meta.insert(
        "irnn.mel".to_string(),
        serde_json::to_string(mel).expect("mel config serialises"),
    );
    if let Some(q) = quant {
        meta.insert(
            "irnn.asr_quant".to_string(),
            serde_json::to_string(q).expect("ranges serialise"),
        );
    }
    let data = safetensors::serialize(views, &Some(meta)).expect("checkpoint serialises");
    atomic_write(path, &data)
}

/// Reads an acoustic model saved by [`save`].
pub fn load(path: &Path) -> Result<AsrCheckpoint, CheckpointError> {
    let err = |reason: String| CheckpointError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| err(e.to_string()))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let get = |k: &str| {
        meta.get(k)
            .ok_or_else(|| err(format!("metadata has no '{k}'")))
    };
    let config: AsrConfig =
        serde_json::from_str(get("irnn.asr_config")?).map_err(|e| err(e.to_string()))?;
    let mel: MelConfig = serde_json::from_str(get("irnn.mel")?).map_err(|e| err(e.to_string()))?;
    let quant: Option<AsrQuantInfo> = match meta.get("irnn.asr_quant") {
        Some(s) => Some(serde_json::from_str(s).map_err(|e| err(format!("irnn.asr_quant: {e}")))?),
        None => None,
    };
    let st = SafeTensors::deserialize(&bytes).map_err(|e| err(e.to_string()))?;
    let mut model = AsrModel::<f32>::new(config, &mut TrainRng::seed(0));
    for p in model.params_mut() {
        let t = st
            .tensor(&p.name)
            .map_err(|_| err(format!("missing tensor '{}'", p.name)))?;
        if t.dtype() != Dtype::F32 || t.shape() != p.shape.as_slice() {
            return Err(err(format!(
                "tensor '{}' is {:?} {:?}, expected F32 {:?}",
                p.name,
                t.dtype(),
                t.shape(),
                p.shape
            )));
        }
        p.value = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
    }
    Ok(AsrCheckpoint { model, mel, quant })
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
            layer_norm: true,
            decoder: None,
            conv_channels: 0,
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
        };
        save(&path, &model, &MelConfig::default(), Some(&quant)).unwrap();
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
