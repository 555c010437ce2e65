//! A safetensors file as the importer's tensors: every tensor converted to
//! f32 (F32, F64, F16 and BF16 are read; other types are refused by name),
//! and the aliases safetensors writes for shared tensors.

use std::collections::BTreeMap;

use safetensors::tensor::{Dtype, SafeTensors};

use super::{ImportError, Tensor, Tensors};

/// The tensors of `bytes` under `prefix`.
pub(super) fn read(bytes: &[u8], prefix: &str) -> Result<Tensors, ImportError> {
    let file =
        SafeTensors::deserialize(bytes).map_err(|e| ImportError::NotSafetensors(e.to_string()))?;
    let mut map = BTreeMap::new();
    for (name, view) in file.tensors() {
        let values = to_f32(&name, view.dtype(), view.data())?;
        map.insert(
            name,
            Tensor {
                shape: view.shape().to_vec(),
                values,
            },
        );
    }
    Ok(Tensors::new(map, prefix, aliases_of(bytes)))
}

/// Little-endian elements of `dtype` as f32.
fn to_f32(name: &str, dtype: Dtype, data: &[u8]) -> Result<Vec<f32>, ImportError> {
    Ok(match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        other => {
            return Err(ImportError::DType {
                name: name.into(),
                dtype: format!("{other:?}"),
            })
        }
    })
}

/// IEEE half precision to single (exact: every f16 is an f32).
pub(super) fn f16_to_f32(h: u16) -> f32 {
    let sign = if h >> 15 == 1 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f32;
    match exp {
        0 => sign * frac * 2f32.powi(-24),
        0x1f if frac == 0.0 => sign * f32::INFINITY,
        0x1f => f32::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f32.powi(exp - 15),
    }
}

/// The `__metadata__` aliases safetensors writes for shared tensors
/// (`{"encoder.weight": "decoder.weight"}`: the first is stored as the
/// second).
pub(super) fn aliases_of(bytes: &[u8]) -> BTreeMap<String, String> {
    SafeTensors::read_metadata(bytes)
        .ok()
        .and_then(|(_, m)| m.metadata().clone())
        .map(|m| m.into_iter().collect())
        .unwrap_or_default()
}
