//! Sample-rate conversion with rubato's FFT resampler: audio at any rate
//! becomes the rate a model was trained at, the same code in training and
//! in transcription. The resampler's delay is removed, so the output starts
//! where the input does and has `⌈len · to / from⌉` samples.

use rubato::{FftFixedIn, Resampler as _};

/// Input frames per FFT chunk.
const CHUNK: usize = 1024;

/// The sample rates accepted (Hz): the resampler's FFT sizes grow with the
/// rates' ratio in lowest terms, so a hostile header's rate is bounded
/// before anything is allocated.
pub const RATES: std::ops::RangeInclusive<u32> = 1000..=384_000;

/// Why audio could not be resampled.
#[derive(Debug, thiserror::Error)]
#[error("resampling {from} Hz → {to} Hz: {why}")]
pub struct ResampleError {
    /// Input rate.
    pub from: u32,
    /// Output rate.
    pub to: u32,
    /// rubato's reason.
    pub why: String,
}

/// `samples` (mono, at `from` Hz) at `to` Hz; the same samples when the
/// rates are equal. The same as one [`Resampler`] given all of them.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, ResampleError> {
    let mut r = Resampler::new(from, to)?;
    let mut out = Vec::with_capacity((samples.len() as u64 * to as u64 / from as u64) as usize + 1);
    r.push(samples, &mut out)?;
    r.finish(&mut out)?;
    Ok(out)
}

/// A resampler fed a block at a time (a long file read in pieces): its
/// output, pieced together, is [`resample`]'s of the whole input, sample
/// for sample, since the FFT chunks it cuts are the same.
pub struct Resampler {
    fft: Option<FftFixedIn<f64>>,
    from: u32,
    to: u32,
    pending: Vec<f64>,
    /// Output samples still to drop (the resampler's delay).
    delay: usize,
    consumed: u64,
    produced: u64,
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz (both in [`RATES`]).
    pub fn new(from: u32, to: u32) -> Result<Self, ResampleError> {
        let fail = |why: String| ResampleError { from, to, why };
        if !RATES.contains(&from) || !RATES.contains(&to) {
            return Err(fail(format!(
                "sample rates must be {} to {} Hz",
                RATES.start(),
                RATES.end()
            )));
        }
        let fft = if from == to {
            None
        } else {
            Some(
                FftFixedIn::<f64>::new(from as usize, to as usize, CHUNK, 2, 1)
                    .map_err(|e| fail(e.to_string()))?,
            )
        };
        Ok(Self {
            delay: fft.as_ref().map_or(0, |r| r.output_delay()),
            fft,
            from,
            to,
            pending: Vec::new(),
            consumed: 0,
            produced: 0,
        })
    }

    fn fail(&self, why: String) -> ResampleError {
        ResampleError {
            from: self.from,
            to: self.to,
            why,
        }
    }

    /// Appends to `out` what `samples` give (some may wait for the next
    /// block or [`finish`](Self::finish)).
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) -> Result<(), ResampleError> {
        self.consumed += samples.len() as u64;
        let Some(fft) = &mut self.fft else {
            out.extend_from_slice(samples);
            return Ok(());
        };
        self.pending.extend(samples.iter().map(|&v| v as f64));
        let mut pos = 0;
        while pos + fft.input_frames_next() <= self.pending.len() {
            let n = fft.input_frames_next();
            let y = fft
                .process(&[&self.pending[pos..pos + n]], None)
                .map_err(|e| ResampleError {
                    from: self.from,
                    to: self.to,
                    why: e.to_string(),
                })?;
            pos += n;
            Self::emit(&y[0], &mut self.delay, &mut self.produced, out);
        }
        self.pending.drain(..pos);
        Ok(())
    }

    fn emit(y: &[f64], delay: &mut usize, produced: &mut u64, out: &mut Vec<f32>) {
        let skip = (*delay).min(y.len());
        *delay -= skip;
        out.extend(y[skip..].iter().map(|&v| v as f32));
        *produced += (y.len() - skip) as u64;
    }

    /// Appends the rest: in all, `⌈samples · to / from⌉` samples.
    pub fn finish(mut self, out: &mut Vec<f32>) -> Result<(), ResampleError> {
        let want = (self.consumed * self.to as u64).div_ceil(self.from as u64);
        let Some(mut fft) = self.fft.take() else {
            return Ok(());
        };
        // What `out` may still take (earlier output may be elsewhere).
        let limit = out.len() + want.saturating_sub(self.produced) as usize;
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            let y = fft
                .process_partial(Some(&[rest]), None)
                .map_err(|e| self.fail(e.to_string()))?;
            Self::emit(&y[0], &mut self.delay, &mut self.produced, out);
        }
        while self.produced < want {
            let y = fft
                .process_partial::<Vec<f64>>(None, None)
                .map_err(|e| self.fail(e.to_string()))?;
            Self::emit(&y[0], &mut self.delay, &mut self.produced, out);
        }
        out.truncate(limit);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f64, seconds: f64) -> Vec<f32> {
        let n = (rate as f64 * seconds) as usize;
        (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * hz * i as f64 / rate as f64).sin() as f32 * 0.5)
            .collect()
    }

    #[test]
    fn a_tone_keeps_its_pitch_level_and_timing_across_rates() {
        for (from, to) in [(16000, 8000), (8000, 16000), (44100, 8000), (22050, 16000)] {
            let x = sine(from, 440.0, 0.5);
            let y = resample(&x, from, to).unwrap();
            assert_eq!(y.len(), (x.len() * to as usize).div_ceil(from as usize));
            // Away from the edges, the output is the same tone sampled at `to`.
            let ideal = sine(to, 440.0, 0.5);
            let (a, b) = (y.len() / 10, y.len() * 9 / 10);
            let worst = y[a..b]
                .iter()
                .zip(&ideal[a..b])
                .map(|(p, q)| (p - q).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 0.01, "{from} → {to}: {worst}");
        }
        assert_eq!(resample(&[0.1, 0.2], 8000, 8000).unwrap(), [0.1, 0.2]);
        // Fed in uneven blocks, the same samples exactly.
        for (from, to) in [(16000, 8000), (22050, 8000), (8000, 16000), (8000, 8000)] {
            let x = sine(from, 300.0, 0.7);
            let whole = resample(&x, from, to).unwrap();
            let mut r = Resampler::new(from, to).unwrap();
            let mut pieces = Vec::new();
            for block in x.chunks(777) {
                r.push(block, &mut pieces).unwrap();
            }
            r.finish(&mut pieces).unwrap();
            assert_eq!(pieces, whole, "{from} → {to}");
        }
        assert!(resample(&[0.0; 10], 8000, 0).is_err());
        let e = resample(&[0.0; 10], u32::MAX, 8000)
            .unwrap_err()
            .to_string();
        assert!(e.contains("384000"), "{e}");
    }
}
