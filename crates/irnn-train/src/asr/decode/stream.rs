//! Streaming transcription: a WAV file fed to a unidirectional model in
//! chunks of audio, as a microphone would deliver them, each chunk taken
//! through resampling, the front end ([`crate::audio::MelStream`]) and the
//! integer model ([`irnn_runtime::speech::SpeechStream`]) before the next
//! is read, so the transcript grows while the audio arrives.
//!
//! Every stage is exact under chunking (the streaming resampler gives the
//! one-shot resampler's samples, the streaming front end the whole
//! utterance's frames, the runtime stream the whole utterance's labels),
//! so the final transcript is the offline one of the same model; what
//! streaming adds is the compute time per chunk, which is measured here.

use std::path::Path;
use std::time::Instant;

use super::{TranscribeError, Transcriber};
use crate::asr::export::quantize_features;
use crate::audio::resample::Resampler;
use crate::audio::wav::{AudioError, WavStream};

/// What streaming a file measured.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamReport {
    /// The transcript.
    pub text: String,
    /// Seconds of audio per chunk.
    pub chunk_seconds: f64,
    /// Seconds of audio in the file.
    pub audio_seconds: f64,
    /// Compute seconds of each chunk (resampling, front end, network and
    /// decoding; the last entry is the end of the utterance).
    pub chunk_compute: Vec<f64>,
}

impl StreamReport {
    /// The median compute time per chunk, in seconds.
    pub fn median(&self) -> f64 {
        let mut v = self.chunk_compute.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    }

    /// The longest compute time of a chunk, in seconds.
    pub fn max(&self) -> f64 {
        self.chunk_compute.iter().copied().fold(0.0, f64::max)
    }
}

impl Transcriber<'_> {
    /// Streams the WAV file at `path` through the model in chunks of
    /// `chunk_seconds` of audio (at the file's rate), calling `on_text`
    /// with the transcript so far whenever it grows. Refused for a model
    /// that cannot stream ([`irnn_runtime::speech::IntSpeechModel::stream`]).
    pub fn stream_file(
        &self,
        path: &Path,
        chunk_seconds: f64,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<StreamReport, TranscribeError> {
        let mut stream = self.model.stream(self.isa)?;
        let mut mel = self.front.stream().ok_or(TranscribeError::NotStreamable)?;
        let mut wav = WavStream::open(path)?;
        let rate = wav.rate();
        let resample_error = |source| AudioError::Resample {
            path: path.to_path_buf(),
            source,
        };
        let mut resampler =
            Some(Resampler::new(rate, self.model.front_end.sample_rate).map_err(resample_error)?);
        let chunk = ((chunk_seconds * rate as f64).round() as usize).max(1);
        let mut report = StreamReport {
            text: String::new(),
            chunk_seconds: chunk as f64 / rate as f64,
            audio_seconds: 0.0,
            chunk_compute: Vec::new(),
        };
        let (mut block, mut samples, mut features) = (Vec::new(), Vec::new(), Vec::new());
        let mut total = 0usize;
        loop {
            block.clear();
            let read = wav.read(&mut block, chunk)?;
            total += read;
            let end = read == 0;
            if end && total == 0 {
                return Err(AudioError::Empty {
                    path: path.to_path_buf(),
                }
                .into());
            }
            // The clock starts once the chunk is in hand, as for audio
            // arriving from a device.
            let t = Instant::now();
            samples.clear();
            match (end, resampler.take()) {
                (true, Some(r)) => r.finish(&mut samples).map_err(resample_error)?,
                (false, Some(mut r)) => {
                    r.push(&block, &mut samples).map_err(resample_error)?;
                    resampler = Some(r);
                }
                (_, None) => {}
            }
            features.clear();
            mel.push(&samples, &mut features);
            if end {
                mel.finish(&mut features);
            }
            let mut added = stream.push(&quantize_features(self.model, &features))?;
            if end {
                added += stream.finish()?;
            }
            report.chunk_compute.push(t.elapsed().as_secs_f64());
            if added > 0 {
                report.text = self.model.transcript(stream.labels());
                on_text(&report.text);
            }
            if end {
                break;
            }
        }
        report.audio_seconds = total as f64 / rate as f64;
        Ok(report)
    }
}
