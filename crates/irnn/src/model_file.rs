//! What a file on the command line holds, decided once from its bytes: an
//! integer `.irnn` model (language or speech) or a float safetensors
//! checkpoint (language or acoustic model). The file is read once, so a
//! pipe (`<(cat m.irnn)`) works like a file, and the loaders parse the
//! bytes already read.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use irnn_runtime::format::{read_language_model, read_speech_model, HEADER_LEN, MAGIC};
use irnn_runtime::model::IntLanguageModel;
use irnn_runtime::speech::IntSpeechModel;
use irnn_train::asr::checkpoint::AsrCheckpoint;
use irnn_train::checkpoint::{CheckpointError, CheckpointReader};
use irnn_train::lm::checkpoint::Checkpoint;

/// The four kinds of model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// An integer language model (`.irnn`).
    LanguageModel,
    /// An integer speech model (`.irnn`).
    SpeechModel,
    /// A float language-model checkpoint (safetensors).
    LmCheckpoint,
    /// A float acoustic-model checkpoint (safetensors).
    AsrCheckpoint,
}

impl FileKind {
    /// How messages name the kind.
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::LanguageModel => "an integer language model",
            FileKind::SpeechModel => "an integer speech model",
            FileKind::LmCheckpoint => "a float language-model checkpoint",
            FileKind::AsrCheckpoint => "a float acoustic-model checkpoint",
        }
    }

    /// Whether this kind belongs to the speech task.
    pub fn is_speech(self) -> bool {
        matches!(self, FileKind::SpeechModel | FileKind::AsrCheckpoint)
    }
}

/// A model file, read.
pub struct ModelFile {
    /// Where it came from.
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// What they hold (checkpoints that do not parse count as language-model
    /// checkpoints, whose loader then names the problem).
    pub kind: FileKind,
}

impl ModelFile {
    /// Reads `path` and decides its kind. The first bytes are checked
    /// before the rest is read: a huge file of the wrong kind is refused at
    /// once, and a model file longer than its header says is not read.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = read_checked(path)?;
        let kind = if bytes.starts_with(&MAGIC) {
            // The model kind is the first payload byte (2: speech).
            if bytes.get(HEADER_LEN) == Some(&2) {
                FileKind::SpeechModel
            } else {
                FileKind::LanguageModel
            }
        } else if CheckpointReader::parse(&bytes)
            .is_ok_and(|r| irnn_train::asr::checkpoint::is_asr(&r))
        {
            FileKind::AsrCheckpoint
        } else {
            FileKind::LmCheckpoint
        };
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
            kind,
        })
    }

    /// Fails unless the file is one of `kinds`, saying what `command` needs.
    pub fn expect(&self, kinds: &[FileKind], command: &str, needs: &str) -> Result<()> {
        if !kinds.contains(&self.kind) {
            bail!(
                "{} is {}; `irnn {command}` needs {needs}",
                self.path.display(),
                self.kind.describe()
            );
        }
        Ok(())
    }

    fn format_error(&self, reason: String) -> CheckpointError {
        CheckpointError::Format {
            path: self.path.clone(),
            reason,
        }
    }

    /// The integer language model.
    pub fn language_model(&self) -> Result<IntLanguageModel> {
        read_language_model(&self.bytes).with_context(|| format!("loading {}", self.path.display()))
    }

    /// The integer speech model.
    pub fn speech_model(&self) -> Result<IntSpeechModel> {
        read_speech_model(&self.bytes).with_context(|| format!("loading {}", self.path.display()))
    }

    /// The float language-model checkpoint.
    pub fn lm_checkpoint(&self) -> Result<Checkpoint> {
        irnn_train::lm::checkpoint::from_bytes(&self.bytes)
            .map_err(|r| self.format_error(r))
            .with_context(|| format!("loading {}", self.path.display()))
    }

    /// The float acoustic-model checkpoint.
    pub fn asr_checkpoint(&self) -> Result<AsrCheckpoint> {
        irnn_train::asr::checkpoint::from_bytes(&self.bytes)
            .map_err(|r| self.format_error(r))
            .with_context(|| format!("loading {}", self.path.display()))
    }

    /// The format version in an `.irnn` header (the file has loaded, so the
    /// header is whole).
    pub fn format_version(&self) -> u32 {
        let v = &self.bytes[8..12];
        u32::from_le_bytes([v[0], v[1], v[2], v[3]])
    }
}

/// The most bytes read from a pipe (whose size is not known in advance).
const MAX_PIPE_BYTES: u64 = 4 << 30;

/// The bytes of `path` after the checks every model file gets: not a
/// directory, not empty, not larger than its header says (or, for a pipe,
/// than [`MAX_PIPE_BYTES`]).
pub fn read_checked(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let shown = path.display();
    let mut file = std::fs::File::open(path).with_context(|| format!("reading {shown}"))?;
    let meta = file
        .metadata()
        .with_context(|| format!("reading {shown}"))?;
    if meta.is_dir() {
        bail!("{shown} is a directory, not a model file or checkpoint");
    }
    let mut head = [0u8; HEADER_LEN];
    let got = irnn_train::checkpoint::read_prefix(&mut file, &mut head)
        .with_context(|| format!("reading {shown}"))?;
    let head = &head[..got];
    if head.is_empty() {
        bail!("{shown} is empty: not a model file or checkpoint");
    }
    if meta.is_file() {
        let size = meta.len();
        if head.starts_with(&MAGIC) && got == HEADER_LEN {
            // Magic, version, payload length: the whole file is known.
            let payload = u64::from_le_bytes(head[12..20].try_into().expect("8 bytes"));
            let whole = (HEADER_LEN as u64)
                .saturating_add(payload)
                .saturating_add(4);
            if size > whole {
                bail!(
                    "{shown}: model file has {} unexpected bytes after the model",
                    size - whole
                );
            }
        } else if !head.starts_with(&MAGIC) {
            irnn_train::checkpoint::check_prefix(head, size).map_err(|why| {
                anyhow::anyhow!(
                    "{shown} is neither an irnn model file nor a safetensors checkpoint: {why}"
                )
            })?;
        }
    }
    let mut bytes = head.to_vec();
    file.take(MAX_PIPE_BYTES)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {shown}"))?;
    if bytes.len() as u64 > MAX_PIPE_BYTES {
        bail!("{shown}: more than {MAX_PIPE_BYTES} bytes");
    }
    Ok(bytes)
}
