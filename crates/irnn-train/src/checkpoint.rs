//! One checkpoint codec for every model: a safetensors file of named f32
//! tensors (PyTorch's names and shapes, so the weights open in PyTorch) plus
//! typed metadata, each value one JSON document under an `irnn.*` key.
//!
//! Each task says *which* tensors and keys it stores ([`crate::lm::checkpoint`],
//! [`crate::asr::checkpoint`]); this module says *how*: serialisation, the
//! checks on reading (dtype, shape, presence), and atomic writes (a
//! temporary file in the same directory, flushed, then renamed over the
//! target), so a kill during a save never corrupts the last good file.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::de::DeserializeOwned;
use serde::Serialize;

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

/// Writes `bytes` to `path` atomically: temporary file, flush, rename.
/// A path naming a directory (or ending in a separator) is refused with a
/// message that says so, before anything is written; temporary files that
/// killed runs left for this path are removed.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let tmp = write_temporary(path, bytes)?;
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Writes a checkpoint and the file derived from it (its `.irnn` model) so
/// that a kill at any moment never leaves a derived file beside a
/// checkpoint it was not made from: both are written to temporary files
/// first, then the old derived file is removed, the checkpoint renamed into
/// place, and the derived file last. After a kill there is the old pair,
/// a checkpoint alone (`irnn convert` makes its model again, byte for
/// byte), or the new pair.
pub fn write_pair(
    checkpoint: (&Path, &[u8]),
    derived: (&Path, &[u8]),
) -> Result<(), CheckpointError> {
    let first = write_temporary(checkpoint.0, checkpoint.1)?;
    let second = match write_temporary(derived.0, derived.1) {
        Ok(t) => t,
        Err(e) => {
            let _ = std::fs::remove_file(&first);
            return Err(e);
        }
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CheckpointError::Io { path, source }
    };
    let result = (|| {
        match std::fs::remove_file(derived.0) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(derived.0)(e)),
            _ => {}
        }
        std::fs::rename(&first, checkpoint.0).map_err(io(checkpoint.0))?;
        std::fs::rename(&second, derived.0).map_err(io(derived.0))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&first);
        let _ = std::fs::remove_file(&second);
    }
    result
}

/// `bytes` in a flushed temporary file beside `path` (`.<name>.tmp.<pid>`);
/// stale ones of dead processes are removed first.
fn write_temporary(path: &Path, bytes: &[u8]) -> Result<PathBuf, CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let shown = path.to_string_lossy();
    if path.is_dir() || shown.ends_with('/') || shown.ends_with(std::path::MAIN_SEPARATOR) {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "is a directory name; give the path of a file to write",
        )));
    }
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    remove_stale_temporaries(dir, &name);
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(tmp)
}

/// Removes `.<name>.tmp.<pid>` files whose process is gone (where the
/// system says which processes run: Linux's /proc).
fn remove_stale_temporaries(dir: &Path, name: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{name}.tmp.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = file.strip_prefix(&prefix) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The largest safetensors header accepted (the crate's own limit).
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Checks the first 8 bytes of a would-be safetensors file of `size` bytes
/// (the JSON header's length) before anything else is read, so a huge file
/// of the wrong kind is refused at once rather than after reading it.
pub fn check_prefix(prefix: &[u8], size: u64) -> Result<(), String> {
    let Some(n) = prefix.get(..8) else {
        return Err(format!("{size} bytes, shorter than a safetensors header"));
    };
    let n = u64::from_le_bytes(n.try_into().expect("8 bytes"));
    if !(2..=MAX_HEADER_BYTES).contains(&n) || n > size.saturating_sub(8) {
        return Err(format!(
            "its first 8 bytes claim a {n}-byte header in a {size}-byte file"
        ));
    }
    Ok(())
}

/// Fills `buf` from `r` as far as it can (a short read is not the end of a
/// file, nor of a pipe); returns the bytes read.
pub fn read_prefix(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Reads the whole file at `path`, naming it on failure; the safetensors
/// header length is checked first ([`check_prefix`]).
pub fn read_file(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    use std::io::Read;
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let mut prefix = [0u8; 8];
    let got = read_prefix(&mut file, &mut prefix).map_err(io)?;
    if file.metadata().map_err(io)?.is_file() {
        check_prefix(&prefix[..got], size).map_err(|reason| CheckpointError::Format {
            path: path.to_path_buf(),
            reason,
        })?;
    }
    let mut bytes = prefix[..got].to_vec();
    file.read_to_end(&mut bytes).map_err(io)?;
    Ok(bytes)
}

/// A checkpoint being assembled: tensors in the order added, metadata by key.
#[derive(Default)]
pub struct CheckpointWriter {
    tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
    meta: HashMap<String, String>,
}

impl CheckpointWriter {
    /// An empty checkpoint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the f32 tensor `name` of `shape` (`values.len()` must be the
    /// product of `shape`).
    pub fn tensor(&mut self, name: impl Into<String>, shape: &[usize], values: &[f32]) {
        debug_assert_eq!(values.len(), shape.iter().product::<usize>());
        let bytes = values.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.tensors
            .push((name.into(), Dtype::F32, shape.to_vec(), bytes));
    }

    /// Adds the f64 tensor `name` of `shape` (sums that must survive a
    /// save exactly, such as running weight averages).
    pub fn tensor_f64(&mut self, name: impl Into<String>, shape: &[usize], values: &[f64]) {
        debug_assert_eq!(values.len(), shape.iter().product::<usize>());
        let bytes = values.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.tensors
            .push((name.into(), Dtype::F64, shape.to_vec(), bytes));
    }

    /// Stores `value` as JSON under the metadata key `key`.
    pub fn meta(&mut self, key: &str, value: &impl Serialize) {
        let json = serde_json::to_string(value).expect("metadata serialises");
        self.meta.insert(key.to_string(), json);
    }

    /// The safetensors bytes, the same for the same contents: the header's
    /// JSON keys are written in sorted order (the safetensors crate writes
    /// them in hash order, which differs from run to run), so identical
    /// checkpoints can be compared by hash.
    pub fn to_bytes(&self) -> Vec<u8> {
        canonical_header(self.serialized())
    }

    fn serialized(&self) -> Vec<u8> {
        let views: Vec<(String, TensorView)> = self
            .tensors
            .iter()
            .map(|(n, dtype, s, d)| {
                let view = TensorView::new(*dtype, s.clone(), d).expect("sizes match");
                (n.clone(), view)
            })
            .collect();
        safetensors::serialize(views, &Some(self.meta.clone())).expect("checkpoint serialises")
    }

    /// Writes the checkpoint to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), CheckpointError> {
        atomic_write(path, &self.to_bytes())
    }
}

/// `bytes` with the JSON header rewritten with sorted keys (serde_json's
/// maps are ordered); the header keeps its length, so every offset stands.
fn canonical_header(mut bytes: Vec<u8>) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header: serde_json::Value =
        serde_json::from_slice(&bytes[8..8 + n]).expect("safetensors wrote valid JSON");
    let sorted = serde_json::to_vec(&header).expect("JSON serialises");
    assert!(sorted.len() <= n, "a reordered header is no longer");
    bytes[8..8 + sorted.len()].copy_from_slice(&sorted);
    bytes[8 + sorted.len()..8 + n].fill(b' ');
    bytes
}

/// A parsed checkpoint: typed access to its metadata and tensors, every
/// failure a message naming the key or tensor.
pub struct CheckpointReader<'a> {
    tensors: SafeTensors<'a>,
    meta: HashMap<String, String>,
}

impl<'a> CheckpointReader<'a> {
    /// Parses safetensors `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, String> {
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
        let meta = header.metadata().clone().unwrap_or_default();
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
        Ok(Self { tensors, meta })
    }

    /// Whether the metadata has `key`.
    pub fn has_meta(&self, key: &str) -> bool {
        self.meta.contains_key(key)
    }

    /// The metadata value under `key`, which must be present.
    pub fn meta<T: DeserializeOwned>(&self, key: &str) -> Result<T, String> {
        self.optional_meta(key)?
            .ok_or_else(|| format!("metadata has no '{key}'"))
    }

    /// The metadata value under `key`, if present.
    pub fn optional_meta<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, String> {
        match self.meta.get(key) {
            Some(s) => serde_json::from_str(s)
                .map(Some)
                .map_err(|e| format!("{key}: {e}")),
            None => Ok(None),
        }
    }

    /// Whether some tensor's name starts with `prefix`.
    pub fn has_tensors(&self, prefix: &str) -> bool {
        self.tensors.names().iter().any(|n| n.starts_with(prefix))
    }

    /// The f32 tensor `name`, which must have `shape`.
    pub fn f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, String> {
        let data = self.checked(name, Dtype::F32, shape)?;
        Ok(data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// The f64 tensor `name`, which must have `shape`.
    pub fn f64(&self, name: &str, shape: &[usize]) -> Result<Vec<f64>, String> {
        let data = self.checked(name, Dtype::F64, shape)?;
        Ok(data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect())
    }

    fn checked(&self, name: &str, dtype: Dtype, shape: &[usize]) -> Result<&[u8], String> {
        let t = self
            .tensors
            .tensor(name)
            .map_err(|_| format!("missing tensor '{name}'"))?;
        if t.dtype() != dtype {
            return Err(format!(
                "tensor '{name}' is {:?}, expected {dtype:?}",
                t.dtype()
            ));
        }
        if t.shape() != shape {
            return Err(format!(
                "tensor '{name}' has shape {:?}, expected {shape:?}",
                t.shape()
            ));
        }
        Ok(t.data())
    }
}

/// Parses the checkpoint file at `path` with `parse`, naming the file in
/// every error.
pub fn load_with<T>(
    path: &Path,
    parse: impl FnOnce(&CheckpointReader) -> Result<T, String>,
) -> Result<T, CheckpointError> {
    let bytes = read_file(path)?;
    let format = |reason| CheckpointError::Format {
        path: path.to_path_buf(),
        reason,
    };
    let reader = CheckpointReader::parse(&bytes).map_err(format)?;
    parse(&reader).map_err(format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensors_and_metadata_round_trip_and_errors_name_what_is_wrong() {
        let mut w = CheckpointWriter::new();
        w.tensor("a.weight", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, -6.5]);
        w.meta("irnn.thing", &vec![1u32, 2, 3]);
        w.tensor_f64("sum", &[2], &[0.1, 1e300]);
        let bytes = w.to_bytes();
        let r = CheckpointReader::parse(&bytes).unwrap();
        assert_eq!(
            r.f32("a.weight", &[2, 3]).unwrap(),
            [1.0, 2.0, 3.0, 4.0, 5.0, -6.5]
        );
        assert_eq!(r.f64("sum", &[2]).unwrap(), [0.1, 1e300]);
        assert!(r
            .f64("a.weight", &[2, 3])
            .unwrap_err()
            .contains("expected F64"));
        assert!(r.has_tensors("a."));
        assert!(!r.has_tensors("b."));
        assert_eq!(r.meta::<Vec<u32>>("irnn.thing").unwrap(), [1, 2, 3]);
        assert!(r.has_meta("irnn.thing"));
        assert_eq!(r.optional_meta::<u32>("irnn.none").unwrap(), None);
        assert!(r
            .meta::<u32>("irnn.none")
            .unwrap_err()
            .contains("irnn.none"));
        assert!(r
            .meta::<String>("irnn.thing")
            .unwrap_err()
            .contains("irnn.thing"));
        assert!(r.f32("a.weight", &[3, 2]).unwrap_err().contains("shape"));
        assert!(r.f32("b", &[1]).unwrap_err().contains("'b'"));
        assert!(CheckpointReader::parse(&bytes[..bytes.len() / 2]).is_err());
        assert!(CheckpointReader::parse(b"").is_err());
    }

    #[test]
    fn identical_contents_give_identical_bytes() {
        let write = || {
            let mut w = CheckpointWriter::new();
            for k in 0..20 {
                w.tensor(format!("t{k}"), &[1], &[k as f32]);
                w.meta(&format!("irnn.key{k}"), &k);
            }
            w.to_bytes()
        };
        let first = write();
        for _ in 0..8 {
            assert_eq!(write(), first);
        }
        let r = CheckpointReader::parse(&first).unwrap();
        assert_eq!(r.meta::<u32>("irnn.key7").unwrap(), 7);
        assert_eq!(r.f32("t13", &[1]).unwrap(), [13.0]);
    }

    #[test]
    fn files_are_written_whole_and_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("irnn-ckpt-codec-{}", std::process::id()));
        let path = dir.join("x.safetensors");
        let mut w = CheckpointWriter::new();
        w.tensor("t", &[1], &[7.0]);
        w.save(&path).unwrap();
        let back = load_with(&path, |r| r.f32("t", &[1])).unwrap();
        assert_eq!(back, [7.0]);
        let e = load_with(&path, |r| r.meta::<u32>("irnn.k")).unwrap_err();
        assert!(e.to_string().contains("x.safetensors") && e.to_string().contains("irnn.k"));
        let e = load_with(&dir.join("missing"), |_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("missing"));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(names.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
