//! Long recordings in pieces: a WAV file read a block at a time, resampled
//! as it streams, and cut into segments of at most a given length, each cut
//! placed at the quietest 10 ms of the segment's last quarter (a pause, in
//! speech). Memory stays at about one segment whatever the file's length;
//! the segments, put back together, are [`super::read_wav`]'s samples
//! exactly.

use std::path::Path;

use super::resample::Resampler;
use super::wav::{AudioError, WavStream};

/// Samples read from the file per block.
const BLOCK: usize = 1 << 16;

/// The segments of one file.
pub struct Segments {
    stream: WavStream,
    resampler: Option<Resampler>,
    buffer: Vec<f32>,
    max: usize,
    rate: u32,
    ended: bool,
    any: bool,
}

impl Segments {
    /// Segments of `path` at `rate` Hz, each at most `max_seconds` long.
    pub fn open(path: &Path, rate: u32, max_seconds: f64) -> Result<Self, AudioError> {
        let stream = WavStream::open(path)?;
        let resampler =
            Resampler::new(stream.rate(), rate).map_err(|source| AudioError::Resample {
                path: path.to_path_buf(),
                source,
            })?;
        let max = ((max_seconds * rate as f64) as usize)
            .max(rate as usize / 10)
            .max(1);
        Ok(Self {
            stream,
            resampler: Some(resampler),
            buffer: Vec::new(),
            max,
            rate,
            ended: false,
            any: false,
        })
    }

    fn fill(&mut self, path: &Path) -> Result<(), AudioError> {
        let resample_error = |source| AudioError::Resample {
            path: path.to_path_buf(),
            source,
        };
        let mut block = Vec::with_capacity(BLOCK);
        while !self.ended && self.buffer.len() <= self.max {
            block.clear();
            if self.stream.read(&mut block, BLOCK)? == 0 {
                self.ended = true;
                if let Some(r) = self.resampler.take() {
                    r.finish(&mut self.buffer).map_err(resample_error)?;
                }
            } else if let Some(r) = &mut self.resampler {
                self.any = true;
                r.push(&block, &mut self.buffer).map_err(resample_error)?;
            }
        }
        Ok(())
    }

    /// The next segment (`None` after the last).
    pub fn next_segment(&mut self, path: &Path) -> Result<Option<Vec<f32>>, AudioError> {
        self.fill(path)?;
        if self.ended && !self.any {
            return Err(AudioError::Empty {
                path: path.to_path_buf(),
            });
        }
        if self.buffer.is_empty() {
            return Ok(None);
        }
        if self.buffer.len() <= self.max {
            return Ok(Some(std::mem::take(&mut self.buffer)));
        }
        let cut = quietest_cut(&self.buffer[..self.max], (self.rate as usize / 100).max(1));
        let rest = self.buffer.split_off(cut);
        Ok(Some(std::mem::replace(&mut self.buffer, rest)))
    }
}

/// Where to cut `x`: the middle of its quietest `window` (lowest energy) in
/// its last quarter; ties go to the latest.
fn quietest_cut(x: &[f32], window: usize) -> usize {
    let start = x.len() * 3 / 4;
    let mut best = (f64::INFINITY, x.len());
    let mut t = start;
    while t + window <= x.len() {
        let energy: f64 = x[t..t + window]
            .iter()
            .map(|&v| (v as f64) * (v as f64))
            .sum();
        if energy <= best.0 {
            best = (energy, t + window / 2);
        }
        t += window;
    }
    best.1.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cut_in_pauses_and_add_up_to_the_whole_file() {
        let dir = std::env::temp_dir().join(format!("irnn-segments-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("long.wav");
        // 16 kHz: 1 s of tone, 0.5 s of silence, three times.
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for _ in 0..3 {
            for i in 0..16000 {
                w.write_sample(((i as f32 * 0.2).sin() * 8000.0) as i16)
                    .unwrap();
            }
            for _ in 0..8000 {
                w.write_sample(0i16).unwrap();
            }
        }
        w.finalize().unwrap();
        let whole = crate::audio::read_wav(&path, 8000).unwrap();
        let mut s = Segments::open(&path, 8000, 1.8).unwrap();
        let mut pieces = Vec::new();
        let mut lengths = Vec::new();
        while let Some(seg) = s.next_segment(&path).unwrap() {
            assert!(seg.len() <= (1.8 * 8000.0) as usize);
            lengths.push(seg.len());
            pieces.extend(seg);
        }
        assert_eq!(pieces, whole);
        assert!(lengths.len() >= 3, "{lengths:?}");
        // Every cut falls in a pause: 1.0–1.5 s after a tone's start.
        let mut at = 0;
        for &n in &lengths[..lengths.len() - 1] {
            at += n;
            let within = (at as f64 / 8000.0) % 1.5;
            assert!(
                (1.0..1.5).contains(&within),
                "cut at {} s",
                at as f64 / 8000.0
            );
        }
        // An empty file is an error, as for read_wav.
        let empty = dir.join("empty.wav");
        hound::WavWriter::create(&empty, spec)
            .unwrap()
            .finalize()
            .unwrap();
        let mut s = Segments::open(&empty, 8000, 1.0).unwrap();
        assert!(s
            .next_segment(&empty)
            .unwrap_err()
            .to_string()
            .contains("no audio samples"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
