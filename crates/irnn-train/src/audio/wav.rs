//! Reading WAV files: integer PCM of 8, 16, 24 or 32 bits and 32-bit
//! float, WAVE_FORMAT_EXTENSIBLE and extra chunks included (hound), any
//! number of channels (averaged), any sample rate (resampled to the one asked
//! for, [`mod@super::resample`]).

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
    /// A sample format hound reads but irnn does not take.
    #[error("{path}: {found} samples; expected integer PCM (8 to 32 bits) or 32-bit float")]
    Format {
        /// The file.
        path: PathBuf,
        /// What the header says.
        found: String,
    },
    /// The audio could not be brought to the model's rate.
    #[error("{path}: {source}")]
    Resample {
        /// The file.
        path: PathBuf,
        /// Why.
        source: super::ResampleError,
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

/// Reads `path` as mono samples in `[−1, 1)` at `rate` Hz: any PCM format
/// hound reads (integers scaled by 2^(bits − 1), floats as they are),
/// channels averaged, resampled when the file's rate is another. 16-bit
/// files at `rate` read exactly as `sample / 32768`.
pub fn read_wav(path: &Path, rate: u32) -> Result<Vec<f32>, AudioError> {
    let mut stream = WavStream::open(path)?;
    let mut samples = Vec::with_capacity(stream.frames().min(1 << 24) as usize);
    while stream.read(&mut samples, usize::MAX)? > 0 {}
    if samples.is_empty() {
        return Err(AudioError::Empty {
            path: path.to_path_buf(),
        });
    }
    super::resample(&samples, stream.rate(), rate).map_err(|source| AudioError::Resample {
        path: path.to_path_buf(),
        source,
    })
}

/// A WAV file read a block at a time: mono samples at the file's rate,
/// checked as [`read_wav`] checks them, never more in memory than a block.
pub struct WavStream {
    path: PathBuf,
    samples: Box<dyn Iterator<Item = Result<f32, hound::Error>>>,
    channels: usize,
    rate: u32,
    declared: u32,
    read: usize,
}

impl WavStream {
    /// Opens `path` and checks its header.
    pub fn open(path: &Path) -> Result<Self, AudioError> {
        let p = || path.to_path_buf();
        let reader = hound::WavReader::open(path).map_err(|e| match e {
            hound::Error::IoError(source) => AudioError::Io { path: p(), source },
            other => AudioError::NotWav {
                path: p(),
                reason: other.to_string(),
            },
        })?;
        let spec = reader.spec();
        let declared = reader.len();
        let samples: Box<dyn Iterator<Item = Result<f32, hound::Error>>> =
            match (spec.sample_format, spec.bits_per_sample) {
                (hound::SampleFormat::Int, bits @ 1..=32) => {
                    let scale = 1.0 / (1u64 << (bits - 1)) as f64;
                    Box::new(
                        reader
                            .into_samples::<i32>()
                            .map(move |s| s.map(|v| (v as f64 * scale) as f32)),
                    )
                }
                (hound::SampleFormat::Float, 32) => Box::new(reader.into_samples::<f32>()),
                (format, bits) => {
                    let kind = match format {
                        hound::SampleFormat::Int => "integer",
                        hound::SampleFormat::Float => "floating-point",
                    };
                    return Err(AudioError::Format {
                        path: p(),
                        found: format!("{bits}-bit {kind}"),
                    });
                }
            };
        Ok(Self {
            path: p(),
            samples,
            channels: spec.channels.max(1) as usize,
            rate: spec.sample_rate,
            declared,
            read: 0,
        })
    }

    /// The file's sample rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Frames (samples per channel) the header declares.
    pub fn frames(&self) -> u64 {
        self.declared as u64 / self.channels as u64
    }

    /// Appends up to `max` mono samples (channels averaged) to `out`;
    /// returns how many (0 at the end).
    pub fn read(&mut self, out: &mut Vec<f32>, max: usize) -> Result<usize, AudioError> {
        let mut n = 0;
        let mut frame = 0.0f32;
        let mut in_frame = 0;
        while n < max {
            let Some(s) = self.samples.next() else {
                break;
            };
            let v = s.map_err(|e| match e {
                // hound reports an early end as a format error or an EOF.
                hound::Error::FormatError(_) | hound::Error::IoError(_)
                    if (self.read as u64) < self.declared as u64 =>
                {
                    AudioError::Truncated {
                        path: self.path.clone(),
                        declared: self.declared,
                        read: self.read,
                    }
                }
                e => AudioError::NotWav {
                    path: self.path.clone(),
                    reason: e.to_string(),
                },
            })?;
            if !v.is_finite() {
                return Err(AudioError::Format {
                    path: self.path.clone(),
                    found: "non-finite floating-point".into(),
                });
            }
            self.read += 1;
            if self.channels == 1 {
                out.push(v);
                n += 1;
                continue;
            }
            frame += v;
            in_frame += 1;
            if in_frame == self.channels {
                out.push(frame / self.channels as f32);
                n += 1;
                frame = 0.0;
                in_frame = 0;
            }
        }
        Ok(n)
    }
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
    fn every_pcm_format_and_rate_reads_to_the_asked_rate() {
        let dir = std::env::temp_dir().join(format!("irnn-wav-any-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // One tone in every format at 16 kHz, stereo: read at 8 kHz, equal to
        // the 16-bit mono reading within the formats' precision.
        let tone = |i: usize| (i as f64 * 0.05).sin() * 0.5;
        let reference = {
            let path = dir.join("ref.wav");
            let mut w =
                hound::WavWriter::create(&path, spec(1, 16000, 16, hound::SampleFormat::Int))
                    .unwrap();
            for i in 0..1600 {
                w.write_sample((tone(i) * 32768.0).round() as i16).unwrap();
            }
            w.finalize().unwrap();
            read_wav(&path, 8000).unwrap()
        };
        assert_eq!(reference.len(), 800);
        for (bits, format) in [
            (8, hound::SampleFormat::Int),
            (24, hound::SampleFormat::Int),
            (32, hound::SampleFormat::Int),
            (32, hound::SampleFormat::Float),
        ] {
            let path = dir.join(format!("{bits}-{format:?}.wav"));
            let mut w = hound::WavWriter::create(&path, spec(2, 16000, bits, format)).unwrap();
            for i in 0..1600 {
                for _ in 0..2 {
                    match format {
                        hound::SampleFormat::Float => w.write_sample(tone(i) as f32).unwrap(),
                        _ if bits == 8 => w.write_sample((tone(i) * 128.0).round() as i8).unwrap(),
                        _ => w
                            .write_sample((tone(i) * (1u64 << (bits - 1)) as f64).round() as i32)
                            .unwrap(),
                    }
                }
            }
            w.finalize().unwrap();
            let got = read_wav(&path, 8000).unwrap();
            let worst = got
                .iter()
                .zip(&reference)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            let tolerance = if bits == 8 { 0.02 } else { 1e-3 };
            assert!(worst < tolerance, "{bits}-bit {format:?}: {worst}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_files_are_named_errors() {
        let dir = std::env::temp_dir().join(format!("irnn-wav-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rate = dir.join("16k.wav");
        write(&rate, spec(1, 16000, 16, hound::SampleFormat::Int), 10);
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
