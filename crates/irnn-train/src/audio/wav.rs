//! Reading 16-bit PCM WAV files.

use std::path::{Path, PathBuf};

/// Why a WAV file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not a readable WAV file (bad header, truncated data, …).
    #[error("{path}: not a readable WAV file: {reason}")]
    NotWav {
        /// The file.
        path: PathBuf,
        /// hound's description.
        reason: String,
    },
    /// A sample format other than 16-bit integer PCM.
    #[error("{path}: {found} samples; expected 16-bit integer PCM")]
    Format {
        /// The file.
        path: PathBuf,
        /// What the header says.
        found: String,
    },
    /// The wrong sample rate.
    #[error(
        "{path}: sample rate {found} Hz; the model expects {expected} Hz (resample the file first)"
    )]
    SampleRate {
        /// The file.
        path: PathBuf,
        /// The file's rate.
        found: u32,
        /// The model's rate.
        expected: u32,
    },
    /// The data chunk claims more samples than the file holds.
    #[error(
        "{path}: truncated: its data chunk declares {declared} samples, the file ends after {read}"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Samples the data chunk declares.
        declared: u32,
        /// Samples the file holds.
        read: usize,
    },
    /// No samples.
    #[error("{path}: the file holds no audio samples")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// Reads `path` as mono samples in `[−1, 1)`: 16-bit integer PCM at
/// `expected_rate` Hz, any number of channels (averaged).
pub fn read_wav(path: &Path, expected_rate: u32) -> Result<Vec<f32>, AudioError> {
    let p = || path.to_path_buf();
    let reader = hound::WavReader::open(path).map_err(|e| match e {
        hound::Error::IoError(source) => AudioError::Io { path: p(), source },
        other => AudioError::NotWav {
            path: p(),
            reason: other.to_string(),
        },
    })?;
    let spec = reader.spec();
    if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
        let kind = match spec.sample_format {
            hound::SampleFormat::Int => "integer",
            hound::SampleFormat::Float => "floating-point",
        };
        return Err(AudioError::Format {
            path: p(),
            found: format!("{}-bit {kind}", spec.bits_per_sample),
        });
    }
    if spec.sample_rate != expected_rate {
        return Err(AudioError::SampleRate {
            path: p(),
            found: spec.sample_rate,
            expected: expected_rate,
        });
    }
    let channels = spec.channels.max(1) as usize;
    let declared = reader.len();
    let mut raw: Vec<i16> = Vec::with_capacity(declared.min(1 << 24) as usize);
    for sample in reader.into_samples::<i16>() {
        match sample {
            Ok(v) => raw.push(v),
            // hound reports an early end as a format error or an EOF.
            Err(hound::Error::FormatError(_)) | Err(hound::Error::IoError(_))
                if (raw.len() as u64) < declared as u64 =>
            {
                return Err(AudioError::Truncated {
                    path: p(),
                    declared,
                    read: raw.len(),
                });
            }
            Err(e) => {
                return Err(AudioError::NotWav {
                    path: p(),
                    reason: e.to_string(),
                })
            }
        }
    }
    let samples: Vec<f32> = raw
        .chunks_exact(channels)
        .map(|frame| frame.iter().map(|&s| s as f32).sum::<f32>() / (channels as f32 * 32768.0))
        .collect();
    if samples.is_empty() {
        return Err(AudioError::Empty { path: p() });
    }
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, spec: hound::WavSpec, frames: usize) {
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..frames * spec.channels as usize {
            match spec.sample_format {
                hound::SampleFormat::Int if spec.bits_per_sample == 16 => {
                    w.write_sample((i as i16).wrapping_mul(97)).unwrap()
                }
                hound::SampleFormat::Int => w.write_sample(i as i32).unwrap(),
                hound::SampleFormat::Float => w.write_sample(0.25f32).unwrap(),
            }
        }
        w.finalize().unwrap();
    }

    fn spec(channels: u16, rate: u32, bits: u16, format: hound::SampleFormat) -> hound::WavSpec {
        hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: format,
        }
    }

    #[test]
    fn reads_mono_and_downmixes_stereo() {
        let dir = std::env::temp_dir().join(format!("irnn-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mono = dir.join("mono.wav");
        write(&mono, spec(1, 8000, 16, hound::SampleFormat::Int), 100);
        let s = read_wav(&mono, 8000).unwrap();
        assert_eq!(s.len(), 100);
        assert_eq!(s[1], 97.0 / 32768.0);
        let stereo = dir.join("stereo.wav");
        write(&stereo, spec(2, 8000, 16, hound::SampleFormat::Int), 50);
        let s = read_wav(&stereo, 8000).unwrap();
        assert_eq!(s.len(), 50);
        // Frame 0 holds samples 0 and 97: their mean.
        assert_eq!(s[0], 97.0 / 2.0 / 32768.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_files_are_named_errors() {
        let dir = std::env::temp_dir().join(format!("irnn-wav-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rate = dir.join("16k.wav");
        write(&rate, spec(1, 16000, 16, hound::SampleFormat::Int), 10);
        let e = read_wav(&rate, 8000).unwrap_err().to_string();
        assert!(e.contains("16000 Hz") && e.contains("8000 Hz"), "{e}");
        let float = dir.join("float.wav");
        write(&float, spec(1, 8000, 32, hound::SampleFormat::Float), 10);
        let e = read_wav(&float, 8000).unwrap_err().to_string();
        assert!(
            e.contains("32-bit floating-point") && e.contains("16-bit"),
            "{e}"
        );
        let bits24 = dir.join("24.wav");
        write(&bits24, spec(1, 8000, 24, hound::SampleFormat::Int), 10);
        assert!(read_wav(&bits24, 8000)
            .unwrap_err()
            .to_string()
            .contains("24-bit integer"));
        let empty = dir.join("empty.wav");
        write(&empty, spec(1, 8000, 16, hound::SampleFormat::Int), 0);
        assert!(read_wav(&empty, 8000)
            .unwrap_err()
            .to_string()
            .contains("no audio"));
        let garbage = dir.join("garbage.wav");
        std::fs::write(&garbage, b"RIFF not really").unwrap();
        let e = read_wav(&garbage, 8000).unwrap_err().to_string();
        assert!(
            e.contains("garbage.wav") && e.contains("not a readable WAV"),
            "{e}"
        );
        let bytes = std::fs::read(&rate).unwrap();
        let truncated = dir.join("truncated.wav");
        std::fs::write(&truncated, &bytes[..30]).unwrap();
        assert!(read_wav(&truncated, 8000).is_err());
        let missing = dir.join("missing.wav");
        assert!(read_wav(&missing, 8000)
            .unwrap_err()
            .to_string()
            .contains("missing.wav"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
