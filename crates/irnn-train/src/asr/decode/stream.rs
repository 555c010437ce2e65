//! Streaming transcription: audio fed to a unidirectional model as it
//! arrives ([`AudioStream`]; a WAV file in chunks, as a microphone would
//! deliver them, with [`Transcriber::stream_file`]), each piece taken
//! through resampling, the front end ([`MelStream`]) and the integer model
//! ([`SpeechStream`]) before the next, so the transcript grows while the
//! audio arrives.
//!
//! Every stage is exact under chunking (the streaming resampler gives the
//! one-shot resampler's samples, the streaming front end the whole
//! utterance's frames, the runtime stream the whole utterance's labels),
//! so the final transcript is the offline one of the same model; what
//! streaming adds is the compute time per chunk, which is measured here.

use std::path::Path;
use std::time::Instant;

use irnn_runtime::speech::SpeechStream;

use super::{TranscribeError, Transcriber};
use crate::asr::export::quantize_features;
use crate::audio::resample::Resampler;
use crate::audio::wav::{AudioError, WavStream};
use crate::audio::MelStream;

/// What streaming a file measured.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamReport {
    /// The transcript.
    pub text: String,
    /// Seconds of audio per chunk.
    pub chunk_seconds: f64,
    /// Seconds of audio in the file.
    pub audio_seconds: f64,
    /// Compute seconds of each whole chunk (resampling, front end, network
    /// and decoding).
    pub chunk_compute: Vec<f64>,
    /// Compute seconds of the rest: a last, shorter chunk and the end of
    /// the utterance (the padded last step).
    pub tail_compute: f64,
}

impl StreamReport {
    /// The median compute time per whole chunk, in seconds.
    pub fn median(&self) -> f64 {
        let mut v = self.chunk_compute.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    }

    /// The longest compute time of a whole chunk, in seconds.
    pub fn max(&self) -> f64 {
        self.chunk_compute.iter().copied().fold(0.0, f64::max)
    }
}

/// A transcription that takes audio as it arrives ([`Transcriber::stream`]):
/// samples in at their own rate, a transcript that grows.
pub struct AudioStream<'t> {
    transcriber: &'t Transcriber<'t>,
    resampler: Option<Resampler>,
    mel: MelStream<'t>,
    stream: SpeechStream<'t>,
    samples: Vec<f32>,
    features: Vec<f32>,
    received: u64,
    text: String,
}

impl<'t> Transcriber<'t> {
    /// A stream of mono samples at `rate` Hz (resampled to the model's
    /// rate as they come). Refused for a model that cannot stream
    /// ([`irnn_runtime::speech::IntSpeechModel::stream`]).
    pub fn stream(&'t self, rate: u32) -> Result<AudioStream<'t>, TranscribeError> {
        Ok(AudioStream {
            stream: self.model.stream(self.isa)?,
            mel: self.front.stream().ok_or(TranscribeError::NotStreamable)?,
            resampler: Some(Resampler::new(rate, self.model.front_end.sample_rate)?),
            transcriber: self,
            samples: Vec::new(),
            features: Vec::new(),
            received: 0,
            text: String::new(),
        })
    }
}

impl AudioStream<'_> {
    /// Takes the next samples (in `[−1, 1)`) and decodes every model step
    /// they complete; returns whether the transcript grew.
    pub fn push(&mut self, samples: &[f32]) -> Result<bool, TranscribeError> {
        let Some(resampler) = &mut self.resampler else {
            return Err(irnn_runtime::Error::InvalidParameter {
                what: "the stream has finished (start another for the next utterance)",
            }
            .into());
        };
        self.received += samples.len() as u64;
        self.samples.clear();
        resampler.push(samples, &mut self.samples)?;
        self.features.clear();
        self.mel.push(&self.samples, &mut self.features);
        self.decode(false)
    }

    /// Ends the audio: what the resampler and the front end still hold,
    /// the last model step; returns whether the transcript grew. An
    /// utterance without a sample is an error, as it is offline.
    pub fn finish(&mut self) -> Result<bool, TranscribeError> {
        let Some(resampler) = self.resampler.take() else {
            return Ok(false);
        };
        if self.received == 0 {
            return Err(TranscribeError::Empty);
        }
        self.samples.clear();
        resampler.finish(&mut self.samples)?;
        self.features.clear();
        self.mel.push(&self.samples, &mut self.features);
        self.mel.finish(&mut self.features);
        self.decode(true)
    }

    /// The transcript so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn decode(&mut self, end: bool) -> Result<bool, TranscribeError> {
        let model = self.transcriber.model;
        let mut added = self
            .stream
            .push(&quantize_features(model, &self.features))?;
        if end {
            added += self.stream.finish()?;
        }
        if added > 0 {
            self.text = model.transcript(self.stream.labels());
        }
        Ok(added > 0)
    }
}

impl Transcriber<'_> {
    /// Streams the WAV file at `path` through the model in chunks of
    /// `chunk_seconds` of audio (at the file's rate), as a live source
    /// would deliver them, calling `on_text` with the transcript so far
    /// whenever it grows, and measures the compute time of each chunk
    /// (from the chunk in hand to its labels decoded). Refused for a model
    /// that cannot stream.
    pub fn stream_file(
        &self,
        path: &Path,
        chunk_seconds: f64,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<StreamReport, TranscribeError> {
        let mut wav = WavStream::open(path)?;
        let rate = wav.rate();
        let mut stream = self.stream(rate).map_err(|e| match e {
            TranscribeError::Resample(source) => AudioError::Resample {
                path: path.to_path_buf(),
                source,
            }
            .into(),
            e => e,
        })?;
        let chunk = ((chunk_seconds * rate as f64).round() as usize).max(1);
        let mut report = StreamReport {
            text: String::new(),
            chunk_seconds: chunk as f64 / rate as f64,
            audio_seconds: 0.0,
            chunk_compute: Vec::new(),
            tail_compute: 0.0,
        };
        let mut block = Vec::with_capacity(chunk);
        let mut total = 0usize;
        loop {
            block.clear();
            let read = wav.read(&mut block, chunk)?;
            total += read;
            if read == 0 && total == 0 {
                return Err(AudioError::Empty {
                    path: path.to_path_buf(),
                }
                .into());
            }
            // The clock starts once the chunk is in hand, as for audio
            // arriving from a device.
            let t = Instant::now();
            let grew = if read == 0 {
                stream.finish()?
            } else {
                stream.push(&block)?
            };
            let seconds = t.elapsed().as_secs_f64();
            if read == chunk {
                report.chunk_compute.push(seconds);
            } else {
                report.tail_compute += seconds;
            }
            if grew {
                on_text(stream.text());
            }
            if read == 0 {
                break;
            }
        }
        report.text = stream.text().to_string();
        report.audio_seconds = total as f64 / rate as f64;
        Ok(report)
    }
}
