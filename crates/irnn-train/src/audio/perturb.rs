//! Training perturbations of the waveform. Speed perturbation (Ko et al.,
//! 2015): playing a recording faster or slower scales its tempo *and* its
//! pitch and formants, the cheapest stand-in for new speakers when only a
//! few are at hand; level and additive noise stand in for other
//! microphones. [`Perturbation`] draws all of them per utterance.

/// Which perturbations to draw per utterance (each off at its zero value).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Perturbation {
    /// Speed drawn from [1 − S, 1 + S].
    pub speed: f32,
    /// Gain drawn from [−D, 0] dB.
    pub gain_db: f32,
    /// Noise level drawn from [LOW, HIGH] dB full scale.
    pub noise_db: Option<(f32, f32)>,
}

impl Perturbation {
    /// Whether any perturbation is on.
    pub fn is_on(&self) -> bool {
        self.speed > 0.0 || self.gain_db > 0.0 || self.noise_db.is_some()
    }

    /// `samples` perturbed: speed, then gain, then noise, each drawn from
    /// `rng` in that order.
    pub fn apply(&self, samples: &[f32], rng: &mut impl rand::Rng) -> Vec<f32> {
        let mut out = samples.to_vec();
        if self.speed > 0.0 {
            out = change_speed(&out, rng.gen_range(1.0 - self.speed..=1.0 + self.speed));
        }
        if self.gain_db > 0.0 {
            out = change_gain(&out, rng.gen_range(-self.gain_db..=0.0));
        }
        if let Some((lo, hi)) = self.noise_db {
            let db = rng.gen_range(lo..=hi);
            out = add_noise(&out, db, rng);
        }
        out
    }
}

/// `samples` played `factor` times faster (linear interpolation): the
/// result has `len / factor` samples (rounded) and every frequency is multiplied by
/// `factor`.
pub fn change_speed(samples: &[f32], factor: f32) -> Vec<f32> {
    if samples.is_empty() || !(factor.is_finite() && factor > 0.0) {
        return samples.to_vec();
    }
    let len = (samples.len() as f64 / factor as f64).round() as usize;
    (0..len)
        .map(|i| {
            let pos = i as f64 * factor as f64;
            let k = pos.floor() as usize;
            let frac = (pos - k as f64) as f32;
            let a = samples[k.min(samples.len() - 1)];
            let b = samples[(k + 1).min(samples.len() - 1)];
            a + (b - a) * frac
        })
        .collect()
}

/// `samples` scaled by `db` decibels (negative: quieter). Recordings of
/// different speakers and microphones differ in level by 15 dB and more
/// (FSDD's training voices peak near 0.3–0.5, the held-out ones near 0.06),
/// and against digital silence a level change is not removed by
/// per-utterance normalisation, so training draws levels too.
pub fn change_gain(samples: &[f32], db: f32) -> Vec<f32> {
    let g = 10f32.powf(db / 20.0);
    samples.iter().map(|s| s * g).collect()
}

/// `samples` plus white noise whose RMS is `db` decibels below full scale
/// (uniform samples, flat spectrum). The gaps between joined digits are
/// digital zeros, which no microphone records; noise under the whole
/// utterance keeps the model from keying on that edge.
pub fn add_noise(samples: &[f32], db: f32, rng: &mut impl rand::Rng) -> Vec<f32> {
    // A uniform variable on [−a, a] has RMS a/√3.
    let a = 10f32.powf(db / 20.0) * 3f32.sqrt();
    samples.iter().map(|s| s + rng.gen_range(-a..=a)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crossings(x: &[f32]) -> usize {
        x.windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count()
    }

    #[test]
    fn faster_is_shorter_and_higher() {
        let tone: Vec<f32> = (0..8000)
            .map(|i| (2.0 * std::f32::consts::PI * 200.0 * i as f32 / 8000.0 + 0.1).sin())
            .collect();
        let fast = change_speed(&tone, 1.25);
        assert_eq!(fast.len(), 6400);
        // 200 Hz → 250 Hz: 500 crossings per second, over 0.8 s.
        let c = crossings(&fast) as i64;
        assert!((c - 400).abs() <= 2, "{c}");
        let slow = change_speed(&tone, 0.8);
        assert_eq!(slow.len(), 10000);
        let c = crossings(&slow) as i64;
        assert!((c - 400).abs() <= 2, "{c}");
        assert_eq!(change_speed(&tone, 1.0), tone);
        assert!(change_speed(&[], 1.1).is_empty());
    }

    #[test]
    fn gain_in_decibels() {
        let x = [0.5f32, -0.25, 0.0];
        let y = change_gain(&x, -20.0);
        assert!(
            y.iter().zip(&x).all(|(a, b)| (a - b / 10.0).abs() < 1e-7),
            "{y:?}"
        );
        assert_eq!(change_gain(&x, 0.0), x);
    }

    #[test]
    fn perturbation_off_is_the_identity() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let x = [0.5f32, -0.25, 0.125];
        assert!(!Perturbation::default().is_on());
        assert_eq!(Perturbation::default().apply(&x, &mut rng), x);
        let slower = Perturbation {
            speed: 0.2,
            gain_db: 20.0,
            ..Perturbation::default()
        };
        assert!(slower.is_on());
        let y = slower.apply(&vec![0.5; 1000], &mut rng);
        assert!((800..=1250).contains(&y.len()), "{}", y.len());
        assert!(y.iter().all(|&v| (0.05 - 1e-6..=0.5 + 1e-6).contains(&v)));
    }

    #[test]
    fn noise_at_the_asked_level() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let y = add_noise(&vec![0.0; 20000], -40.0, &mut rng);
        let rms = (y.iter().map(|v| v * v).sum::<f32>() / y.len() as f32).sqrt();
        assert!((20.0 * rms.log10() + 40.0).abs() < 0.2, "{rms}");
    }
}
