//! Sample-rate conversion with rubato's FFT resampler: audio at any rate
//! becomes the rate a model was trained at, the same code in training and
//! in transcription. The resampler's delay is removed, so the output starts
//! where the input does and has `⌈len · to / from⌉` samples.

use rubato::{FftFixedIn, Resampler};

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
/// rates are equal.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, ResampleError> {
    let fail = |why: String| ResampleError { from, to, why };
    if !RATES.contains(&from) || !RATES.contains(&to) {
        return Err(fail(format!(
            "sample rates must be {} to {} Hz",
            RATES.start(),
            RATES.end()
        )));
    }
    if from == to {
        return Ok(samples.to_vec());
    }
    let mut r = FftFixedIn::<f64>::new(from as usize, to as usize, CHUNK, 2, 1)
        .map_err(|e| fail(e.to_string()))?;
    let delay = r.output_delay();
    let want = (samples.len() as u64 * to as u64).div_ceil(from as u64) as usize;
    let mut out: Vec<f64> = Vec::with_capacity(want + delay + 2 * CHUNK);
    let mut pos = 0;
    while pos + r.input_frames_next() <= samples.len() {
        let n = r.input_frames_next();
        let chunk: Vec<f64> = samples[pos..pos + n].iter().map(|&v| v as f64).collect();
        let y = r.process(&[chunk], None).map_err(|e| fail(e.to_string()))?;
        out.extend_from_slice(&y[0]);
        pos += n;
    }
    if pos < samples.len() {
        let rest: Vec<f64> = samples[pos..].iter().map(|&v| v as f64).collect();
        let y = r
            .process_partial(Some(&[rest]), None)
            .map_err(|e| fail(e.to_string()))?;
        out.extend_from_slice(&y[0]);
    }
    while out.len() < delay + want {
        let y = r
            .process_partial::<Vec<f64>>(None, None)
            .map_err(|e| fail(e.to_string()))?;
        out.extend_from_slice(&y[0]);
    }
    Ok(out[delay..delay + want].iter().map(|&v| v as f32).collect())
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
        assert!(resample(&[0.0; 10], 8000, 0).is_err());
        let e = resample(&[0.0; 10], u32::MAX, 8000)
            .unwrap_err()
            .to_string();
        assert!(e.contains("384000"), "{e}");
    }
}
