//! Log-mel filterbank features.
//!
//! Frames of `frame` samples every `hop` samples (the last partial frame is
//! dropped; a signal shorter than one frame gives one zero-padded frame), a
//! Hann window, the power spectrum of an `fft`-point real FFT (realfft),
//! `mels` triangular filters equally spaced on the HTK mel scale between
//! `low_hz` and `high_hz`, and the natural log of each filter's energy
//! (floored at 1e−10, and, with `range_db`, at the filter's loudest frame
//! minus that many decibels).
//!
//! Then each feature is normalised ([`FeatureNorm`]): to mean 0 and
//! variance 1 over the utterance, or with fixed statistics of the
//! training set ([`NormStats`]), which a streaming recogniser needs —
//! each frame is final as soon as it is computed ([`MelStream`]).
//!
//! Why a relative floor: the connected-digit utterances have digital
//! silence between words, whose log energy is the absolute floor whatever
//! the speaker's level or microphone. Against that fixed value, a channel's
//! gain per filter survives per-utterance normalisation. Floored relative to
//! each filter's maximum, a gain per filter is an offset per filter
//! everywhere, silence included, which normalisation removes exactly.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

pub use irnn_runtime::speech::{FeatureNorm, NORM_FRACTION_BITS};

/// Front-end parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MelConfig {
    /// Sample rate (Hz).
    pub sample_rate: u32,
    /// Samples per frame.
    pub frame: usize,
    /// Samples between frame starts.
    pub hop: usize,
    /// FFT size (≥ frame).
    pub fft: usize,
    /// Mel filters.
    pub mels: usize,
    /// Lowest filter edge (Hz).
    pub low_hz: f32,
    /// Highest filter edge (Hz).
    pub high_hz: f32,
    /// Dynamic range kept per filter (dB below its loudest frame in the
    /// utterance; 0: only the absolute floor).
    #[serde(default)]
    pub range_db: u32,
    /// How features are normalised (absent in checkpoints written before
    /// there was a choice, and for per-utterance normalisation: the
    /// metadata stays as it was).
    #[serde(default, skip_serializing_if = "is_per_utterance", with = "norm_serde")]
    pub norm: FeatureNorm,
}

fn is_per_utterance(n: &FeatureNorm) -> bool {
    *n == FeatureNorm::PerUtterance
}

/// [`FeatureNorm`] (the runtime's type, which has no serde) in checkpoint
/// metadata: `{"mean": [...], "inv_std": [...]}`, fixed point.
mod norm_serde {
    use super::FeatureNorm;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Global {
        mean: Vec<i32>,
        inv_std: Vec<i32>,
    }

    pub fn serialize<S: Serializer>(n: &FeatureNorm, s: S) -> Result<S::Ok, S::Error> {
        match n {
            FeatureNorm::PerUtterance => None::<Global>.serialize(s),
            FeatureNorm::Global { mean, inv_std } => Some(Global {
                mean: mean.clone(),
                inv_std: inv_std.clone(),
            })
            .serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<FeatureNorm, D::Error> {
        Ok(match Option::<Global>::deserialize(d)? {
            None => FeatureNorm::PerUtterance,
            Some(Global { mean, inv_std }) => FeatureNorm::Global { mean, inv_std },
        })
    }
}

impl Default for MelConfig {
    /// 8 kHz speech (the Free Spoken Digit Dataset): 25 ms frames, 10 ms hop,
    /// 40 filters from 20 Hz to Nyquist.
    fn default() -> Self {
        Self {
            sample_rate: 8000,
            frame: 200,
            hop: 80,
            fft: 256,
            mels: 40,
            low_hz: 20.0,
            high_hz: 4000.0,
            range_db: 0,
            norm: FeatureNorm::PerUtterance,
        }
    }
}

impl MelConfig {
    /// The same front end for speech at `sample_rate` Hz with `mels`
    /// filters: 25 ms frames every 10 ms, the FFT the next power of two,
    /// filters from 20 Hz to Nyquist (the default is `for_rate(8000, 40)`;
    /// 16 kHz corpora usually take `for_rate(16000, 80)`).
    pub fn for_rate(sample_rate: u32, mels: usize) -> Self {
        let frame = (sample_rate as usize * 25).div_ceil(1000);
        Self {
            sample_rate,
            frame,
            hop: sample_rate as usize / 100,
            fft: frame.next_power_of_two(),
            mels,
            low_hz: 20.0,
            high_hz: sample_rate as f32 / 2.0,
            range_db: 0,
            norm: FeatureNorm::PerUtterance,
        }
    }
}

fn hz_to_mel(f: f32) -> f32 {
    2595.0 * (1.0 + f / 700.0).log10()
}

fn mel_to_hz(m: f32) -> f32 {
    700.0 * (10f32.powf(m / 2595.0) - 1.0)
}

/// The VTLP frequency map: `alpha·f` up to a boundary, then the straight
/// line that takes the boundary's image to Nyquist (Jaitly & Hinton 2013).
fn warp(f: f32, alpha: f32, nyquist: f32) -> f32 {
    if alpha == 1.0 {
        return f;
    }
    let boundary = 0.8 * nyquist * alpha.min(1.0) / alpha;
    if f <= boundary {
        alpha * f
    } else {
        let image = alpha * boundary;
        image + (nyquist - image) * (f - boundary) / (nyquist - boundary)
    }
}

/// A log-mel front end, planned once.
pub struct LogMel {
    config: MelConfig,
    window: Vec<f32>,
    /// Per filter: (first FFT bin, weights).
    filters: Vec<(usize, Vec<f32>)>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl LogMel {
    /// Plans the FFT and builds the filters.
    ///
    /// # Panics
    /// If `fft < frame`, `frame`, `hop` or `mels` is 0, or the band is empty —
    /// configuration errors of the caller, not of the data.
    pub fn new(config: MelConfig) -> Self {
        Self::warped(config, 1.0)
    }

    /// The front end with the frequency axis warped by `alpha` (vocal tract
    /// length perturbation, Jaitly & Hinton 2013): the filters read the
    /// spectrum at frequency `f` as if it were at `alpha·f` below
    /// 0.8 × Nyquist × min(α, 1)/α and map the rest linearly onto the band
    /// up to Nyquist, so formants move as for a shorter (α > 1) or longer
    /// vocal tract while the band keeps its edges. `alpha = 1` is
    /// [`new`](Self::new).
    ///
    /// # Panics
    /// As [`new`](Self::new), and if `alpha` is not in (0.5, 2).
    pub fn warped(config: MelConfig, alpha: f32) -> Self {
        assert!(
            alpha > 0.5 && alpha < 2.0,
            "warp factor {alpha} out of (0.5, 2)"
        );
        assert!(config.frame > 0 && config.hop > 0 && config.mels > 0);
        assert!(config.fft >= config.frame, "FFT shorter than a frame");
        assert!(config.low_hz < config.high_hz, "empty mel band");
        let window = (0..config.frame)
            .map(|i| {
                let x = std::f32::consts::PI * 2.0 * i as f32 / config.frame as f32;
                0.5 - 0.5 * x.cos()
            })
            .collect();
        let bins = config.fft / 2 + 1;
        let nyquist = config.sample_rate as f32 / 2.0;
        let bin_hz = config.sample_rate as f32 / config.fft as f32;
        let (lo, hi) = (hz_to_mel(config.low_hz), hz_to_mel(config.high_hz));
        let edges: Vec<f32> = (0..config.mels + 2)
            .map(|i| mel_to_hz(lo + (hi - lo) * i as f32 / (config.mels + 1) as f32))
            .collect();
        let filters = (0..config.mels)
            .map(|m| {
                let (left, center, right) = (edges[m], edges[m + 1], edges[m + 2]);
                let weight = |k: usize| {
                    let f = warp(k as f32 * bin_hz, alpha, nyquist);
                    if f <= left || f >= right {
                        0.0
                    } else if f <= center {
                        (f - left) / (center - left)
                    } else {
                        (right - f) / (right - center)
                    }
                };
                let first = (0..bins).find(|&k| weight(k) > 0.0).unwrap_or(0);
                let last = (0..bins).rev().find(|&k| weight(k) > 0.0).unwrap_or(first);
                (first, (first..=last).map(weight).collect())
            })
            .collect();
        Self {
            fft: RealFftPlanner::<f32>::new().plan_fft_forward(config.fft),
            config,
            window,
            filters,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &MelConfig {
        &self.config
    }

    /// Frames `samples` yields.
    pub fn frames(&self, samples: usize) -> usize {
        if samples <= self.config.frame {
            1
        } else {
            1 + (samples - self.config.frame) / self.config.hop
        }
    }

    /// Normalised log-mel features (`frames × mels`, row-major): what the
    /// model reads.
    pub fn features(&self, samples: &[f32]) -> Vec<f32> {
        let mut f = self.compute(samples);
        apply_norm(&self.config.norm, &mut f, self.config.mels);
        f
    }

    /// Log-mel features before normalisation, `frames × mels`, row-major.
    pub fn compute(&self, samples: &[f32]) -> Vec<f32> {
        let c = &self.config;
        let frames = self.frames(samples.len());
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut power = vec![0f32; spectrum.len()];
        let mut out = Vec::with_capacity(frames * c.mels);
        for t in 0..frames {
            let start = t * c.hop;
            self.frame_into(
                |i| samples.get(start + i).copied().unwrap_or(0.0),
                (&mut input, &mut spectrum, &mut power),
                &mut out,
            );
        }
        if c.range_db > 0 {
            // dB of power → nats of log power: x dB = x·ln(10)/10.
            let range = c.range_db as f32 * std::f32::consts::LN_10 / 10.0;
            for m in 0..c.mels {
                let loudest = out
                    .iter()
                    .skip(m)
                    .step_by(c.mels)
                    .fold(f32::MIN, |a, &b| a.max(b));
                for v in out.iter_mut().skip(m).step_by(c.mels) {
                    *v = v.max(loudest - range);
                }
            }
        }
        out
    }
}

impl LogMel {
    /// Appends the log energies of one frame (`sample(i)`: its `i`-th
    /// sample) to `out`, in the FFT buffers `bufs`.
    fn frame_into(
        &self,
        sample: impl Fn(usize) -> f32,
        bufs: (
            &mut Vec<f32>,
            &mut Vec<realfft::num_complex::Complex<f32>>,
            &mut Vec<f32>,
        ),
        out: &mut Vec<f32>,
    ) {
        let (input, spectrum, power) = bufs;
        input.iter_mut().for_each(|v| *v = 0.0);
        for (i, w) in self.window.iter().enumerate() {
            input[i] = sample(i) * w;
        }
        self.fft
            .process(input, spectrum)
            .expect("buffers come from the plan");
        power.resize(spectrum.len(), 0.0);
        for (p, z) in power.iter_mut().zip(spectrum.iter()) {
            *p = z.norm_sqr();
        }
        for (first, weights) in &self.filters {
            let e: f32 = weights
                .iter()
                .zip(&power[*first..])
                .map(|(w, p)| w * p)
                .sum();
            out.push(e.max(1e-10).ln());
        }
    }

    /// A stream that computes this front end's normalised features as
    /// samples arrive. Only for a front end whose frames are final when
    /// computed: fixed-statistics normalisation and no per-utterance range
    /// (`range_db` 0); `None` otherwise.
    pub fn stream(&self) -> Option<MelStream<'_>> {
        (self.config.norm.is_causal() && self.config.range_db == 0).then(|| MelStream {
            mel: self,
            buffer: Vec::new(),
            frames: 0,
            input: self.fft.make_input_vec(),
            spectrum: self.fft.make_output_vec(),
            power: Vec::new(),
        })
    }
}

/// Log-mel features computed as samples arrive ([`LogMel::stream`]): the
/// frames it gives, over a whole utterance however it was chunked, are
/// exactly [`LogMel::features`] of all its samples.
pub struct MelStream<'m> {
    mel: &'m LogMel,
    /// Samples from the start of the next frame on.
    buffer: Vec<f32>,
    /// Frames given so far.
    frames: usize,
    input: Vec<f32>,
    spectrum: Vec<realfft::num_complex::Complex<f32>>,
    power: Vec<f32>,
}

impl MelStream<'_> {
    /// Takes `samples` and appends the normalised features of every frame
    /// they complete to `out`; returns how many frames that was.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) -> usize {
        self.buffer.extend_from_slice(samples);
        let c = &self.mel.config;
        let mut n = 0;
        let mut start = 0;
        while start + c.frame <= self.buffer.len() {
            self.frame(start, out);
            start += c.hop;
            n += 1;
        }
        // Keep the samples from the next frame's start on.
        self.buffer.drain(..start.min(self.buffer.len()));
        n
    }

    /// Ends the utterance: a signal too short for one frame gives one
    /// zero-padded frame, as [`LogMel::compute`] does; a partial last
    /// frame is dropped. Returns the frames appended; the stream is then
    /// ready for another utterance.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> usize {
        let n = if self.frames == 0 {
            self.frame(0, out);
            1
        } else {
            0
        };
        self.buffer.clear();
        self.frames = 0;
        n
    }

    fn frame(&mut self, start: usize, out: &mut Vec<f32>) {
        let from = out.len();
        let buffer = &self.buffer;
        self.mel.frame_into(
            |i| buffer.get(start + i).copied().unwrap_or(0.0),
            (&mut self.input, &mut self.spectrum, &mut self.power),
            out,
        );
        apply_norm(
            &self.mel.config.norm,
            &mut out[from..],
            self.mel.config.mels,
        );
        self.frames += 1;
    }
}

/// Normalises `frames × dim` features in place as `norm` says.
pub fn apply_norm(norm: &FeatureNorm, features: &mut [f32], dim: usize) {
    match norm {
        FeatureNorm::PerUtterance => normalize(features, dim),
        FeatureNorm::Global { mean, inv_std } => {
            let unit = (1u32 << NORM_FRACTION_BITS) as f32;
            for row in features.chunks_exact_mut(dim) {
                for ((v, &m), &s) in row.iter_mut().zip(mean).zip(inv_std) {
                    *v = (*v - m as f32 / unit) * (s as f32 / unit);
                }
            }
        }
    }
}

/// Sums for fixed normalisation statistics of (unnormalised) features:
/// [`add`](Self::add) feature matrices (in parallel if wished,
/// [`merge`](Self::merge)), then [`norm`](Self::norm).
#[derive(Debug, Clone, PartialEq)]
pub struct NormStats {
    sum: Vec<f64>,
    squares: Vec<f64>,
    frames: u64,
}

impl NormStats {
    /// No frames yet, `dim` features per frame.
    pub fn new(dim: usize) -> Self {
        Self {
            sum: vec![0.0; dim],
            squares: vec![0.0; dim],
            frames: 0,
        }
    }

    /// Adds the frames of `features` (`frames × dim`).
    pub fn add(&mut self, features: &[f32]) {
        for row in features.chunks_exact(self.sum.len().max(1)) {
            for ((s, q), &v) in self.sum.iter_mut().zip(&mut self.squares).zip(row) {
                *s += v as f64;
                *q += v as f64 * v as f64;
            }
            self.frames += 1;
        }
    }

    /// Adds the frames `other` has seen.
    pub fn merge(mut self, other: &NormStats) -> Self {
        for (a, b) in self.sum.iter_mut().zip(&other.sum) {
            *a += b;
        }
        for (a, b) in self.squares.iter_mut().zip(&other.squares) {
            *a += b;
        }
        self.frames += other.frames;
        self
    }

    /// Each feature's mean and the reciprocal of its standard deviation
    /// over every frame added, rounded to the fixed point the model stores
    /// ([`NORM_FRACTION_BITS`]); the reciprocal is bounded to what the
    /// fixed point holds (a constant feature gets the largest).
    pub fn norm(&self) -> FeatureNorm {
        let unit = (1u64 << NORM_FRACTION_BITS) as f64;
        let n = self.frames.max(1) as f64;
        let mut mean = Vec::with_capacity(self.sum.len());
        let mut inv_std = Vec::with_capacity(self.sum.len());
        for (s, q) in self.sum.iter().zip(&self.squares) {
            let m = s / n;
            let var = (q / n - m * m).max(0.0);
            let inv = 1.0 / (var.sqrt() + 1e-5);
            mean.push((m * unit).round().clamp(i32::MIN as f64, i32::MAX as f64) as i32);
            inv_std.push((inv * unit).round().clamp(1.0, i32::MAX as f64) as i32);
        }
        FeatureNorm::Global { mean, inv_std }
    }
}

/// Per-utterance mean/variance normalisation of `frames × dim` features, in
/// place: each dimension to mean 0 and (unless constant) variance 1.
pub fn normalize(features: &mut [f32], dim: usize) {
    let frames = features.len() / dim.max(1);
    if frames == 0 {
        return;
    }
    for d in 0..dim {
        let col = || features.iter().skip(d).step_by(dim);
        let mean = col().sum::<f32>() / frames as f32;
        let var = col().map(|v| (v - mean) * (v - mean)).sum::<f32>() / frames as f32;
        let inv = 1.0 / (var.sqrt() + 1e-5);
        for v in features.iter_mut().skip(d).step_by(dim) {
            *v = (*v - mean) * inv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f32, seconds: f32, rate: u32) -> Vec<f32> {
        (0..(seconds * rate as f32) as usize)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn front_ends_for_other_rates_keep_the_frame_timing() {
        assert_eq!(MelConfig::for_rate(8000, 40), MelConfig::default());
        let wide = MelConfig::for_rate(16000, 80);
        assert_eq!(
            (wide.frame, wide.hop, wide.fft, wide.mels),
            (400, 160, 512, 80)
        );
        assert_eq!(wide.high_hz, 8000.0);
        // One second is 100 frames at either rate.
        let mel = LogMel::new(wide);
        let f = mel.compute(&vec![0.1; 16000]);
        assert_eq!(
            f.len() / 80,
            LogMel::new(MelConfig::default())
                .compute(&[0.1; 8000])
                .len()
                / 40
        );
    }

    #[test]
    fn a_tone_lights_the_filter_at_its_frequency() {
        let mel = LogMel::new(MelConfig::default());
        let c = mel.config().clone();
        let (lo, hi) = (hz_to_mel(c.low_hz), hz_to_mel(c.high_hz));
        let center = |m: usize| mel_to_hz(lo + (hi - lo) * (m + 1) as f32 / (c.mels + 1) as f32);
        for hz in [300.0, 1000.0, 2500.0] {
            let f = mel.compute(&sine(hz, 0.5, c.sample_rate));
            assert_eq!(f.len(), mel.frames(4000) * c.mels);
            let frame = &f[5 * c.mels..6 * c.mels];
            let best = (0..c.mels)
                .max_by(|&a, &b| frame[a].total_cmp(&frame[b]))
                .unwrap();
            // The loudest filter is centred within one filter spacing of the tone.
            let spacing = center(best + 1) - center(best.saturating_sub(1));
            assert!(
                (center(best) - hz).abs() < spacing,
                "{hz} Hz → filter {best} at {}",
                center(best)
            );
        }
    }

    #[test]
    fn frame_count_silence_and_normalisation() {
        let mel = LogMel::new(MelConfig::default());
        assert_eq!(mel.frames(0), 1);
        assert_eq!(mel.frames(200), 1);
        assert_eq!(mel.frames(280), 2);
        assert_eq!(mel.frames(8000), 98);
        let silent = mel.compute(&[0.0; 1000]);
        assert!(silent.iter().all(|&v| v == 1e-10f32.ln()));
        let mut f = mel.compute(&sine(700.0, 0.3, 8000));
        normalize(&mut f, 40);
        let frames = f.len() / 40;
        let mean0 = f.iter().step_by(40).sum::<f32>() / frames as f32;
        let var0 = f.iter().step_by(40).map(|v| v * v).sum::<f32>() / frames as f32;
        assert!(
            mean0.abs() < 1e-4 && (var0 - 1.0).abs() < 1e-2,
            "{mean0} {var0}"
        );
    }

    #[test]
    fn fixed_statistics_normalise_the_training_frames() {
        let c = MelConfig::default();
        let mel = LogMel::new(c.clone());
        let utterances = [sine(500.0, 0.4, 8000), sine(1500.0, 0.25, 8000)];
        let mut stats = NormStats::new(c.mels);
        let mut halves = (NormStats::new(c.mels), NormStats::new(c.mels));
        for (i, u) in utterances.iter().enumerate() {
            let f = mel.compute(u);
            stats.add(&f);
            if i == 0 { &mut halves.0 } else { &mut halves.1 }.add(&f);
        }
        assert_eq!(halves.0.merge(&halves.1).norm(), stats.norm());
        let norm = stats.norm();
        let global = LogMel::new(MelConfig { norm, ..c });
        let mut all: Vec<f32> = Vec::new();
        for u in &utterances {
            all.extend(global.features(u));
        }
        let frames = all.len() / 40;
        for d in [0, 10, 25] {
            let col = || all.iter().skip(d).step_by(40);
            let mean = col().sum::<f32>() / frames as f32;
            let var = col().map(|v| (v - mean) * (v - mean)).sum::<f32>() / frames as f32;
            assert!(
                mean.abs() < 1e-3 && (var - 1.0).abs() < 1e-2,
                "{d}: {mean} {var}"
            );
        }
        // A constant feature gets a bounded, positive scale.
        let mut flat = NormStats::new(2);
        flat.add(&[3.0, 1.0, 3.0, 2.0]);
        let FeatureNorm::Global { mean, inv_std } = flat.norm() else {
            panic!("fixed statistics")
        };
        assert_eq!(mean[0], 3 << 16);
        assert_eq!(inv_std[0], i32::MAX);
        assert!((inv_std[1] - (2 << 16)).abs() <= 3, "{inv_std:?}");
    }

    #[test]
    fn streamed_frames_equal_the_whole_utterance_frames() {
        let mut c = MelConfig::default();
        assert!(LogMel::new(c.clone()).stream().is_none());
        let mut stats = NormStats::new(c.mels);
        stats.add(&LogMel::new(c.clone()).compute(&sine(700.0, 0.3, 8000)));
        c.norm = stats.norm();
        let mel = LogMel::new(c.clone());
        // Lengths around one frame (200) and hop (80) boundaries.
        for len in [0usize, 1, 199, 200, 201, 279, 280, 281, 1234, 4000] {
            let x: Vec<f32> = sine(900.0, 1.0, 8000)[..len].to_vec();
            let whole = mel.features(&x);
            for chunk in [1usize, 7, 80, 160, 333, 5000] {
                let mut stream = mel.stream().unwrap();
                let mut out = Vec::new();
                let mut n = 0;
                for piece in x.chunks(chunk) {
                    n += stream.push(piece, &mut out);
                }
                n += stream.finish(&mut out);
                assert_eq!(out, whole, "len {len} chunk {chunk}");
                assert_eq!(n, whole.len() / 40);
            }
        }
        // A per-utterance range cannot stream.
        assert!(LogMel::new(MelConfig { range_db: 40, ..c })
            .stream()
            .is_none());
    }

    #[test]
    fn warping_moves_a_tone_and_keeps_the_band() {
        let nyquist = 4000.0;
        for alpha in [0.9f32, 1.1] {
            assert_eq!(warp(0.0, alpha, nyquist), 0.0);
            assert!((warp(nyquist, alpha, nyquist) - nyquist).abs() < 1e-3);
            assert!((warp(1000.0, alpha, nyquist) - 1000.0 * alpha).abs() < 1e-3);
            // Monotone and continuous at the boundary.
            let b = 0.8 * nyquist * alpha.min(1.0) / alpha;
            assert!((warp(b - 1e-3, alpha, nyquist) - warp(b + 1e-3, alpha, nyquist)).abs() < 1e-2);
        }
        // A 1 kHz tone seen through α = 1.2 lights the filter of 1.2 kHz.
        let c = MelConfig::default();
        let loudest = |mel: &LogMel, hz: f32| {
            let f = mel.compute(&sine(hz, 0.3, c.sample_rate));
            let frame = &f[5 * c.mels..6 * c.mels];
            (0..c.mels)
                .max_by(|&a, &b| frame[a].total_cmp(&frame[b]))
                .unwrap()
        };
        let plain = LogMel::new(c.clone());
        let warped = LogMel::warped(c.clone(), 1.2);
        assert_eq!(loudest(&warped, 1000.0), loudest(&plain, 1200.0));
        assert_ne!(loudest(&warped, 1000.0), loudest(&plain, 1000.0));
    }

    #[test]
    fn a_relative_floor_makes_features_blind_to_level() {
        // A tone between stretches of digital silence, at full and at a
        // tenth of the level.
        let mut loud = vec![0.0; 1600];
        loud.extend(sine(700.0, 0.3, 8000));
        loud.extend(vec![0.0; 1600]);
        let quiet: Vec<f32> = loud.iter().map(|v| v * 0.1).collect();
        let features = |range_db: u32, x: &[f32]| {
            let mel = LogMel::new(MelConfig {
                range_db,
                ..MelConfig::default()
            });
            let mut f = mel.compute(x);
            normalize(&mut f, 40);
            f
        };
        let gap = |range_db| {
            features(range_db, &loud)
                .iter()
                .zip(features(range_db, &quiet))
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max)
        };
        assert!(gap(40) < 1e-3, "{}", gap(40));
        // With only the absolute floor, silence does not move with the
        // level and the normalised features differ.
        assert!(gap(0) > 0.1, "{}", gap(0));
        // No filter spans more than the range.
        let mel = LogMel::new(MelConfig {
            range_db: 40,
            ..MelConfig::default()
        });
        let f = mel.compute(&loud);
        for m in 0..40 {
            let col: Vec<f32> = f.iter().skip(m).step_by(40).copied().collect();
            let (lo, hi) = col
                .iter()
                .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            assert!(hi - lo <= 40.0 * std::f32::consts::LN_10 / 10.0 + 1e-4);
        }
    }
}
