//! Beam search for the integer attention decoder, reading its int32 scores,
//! alone or jointly with the CTC head (Watanabe et al., 2017, as ESPnet
//! decodes): each hypothesis is scored `λ·log P_ctc(prefix) + (1 − λ)·log
//! P_att(labels)`, where the CTC prefix probability sums every alignment of
//! the int32 CTC scores that begins with the labels ([`CtcPrefix`]). CTC
//! keeps the decoder from looping or ending early; the decoder brings the
//! label context CTC lacks.
//!
//! The runtime steps the decoder (one call per hypothesis and label, on a
//! cloned [`DecoderState`]); this module turns each step's int32 scores into
//! log-probabilities (the scores times the stored logit unit, then a
//! log-softmax) and keeps the `beam` best label sequences. A hypothesis
//! ends with end of sentence or at the longest transcript allowed. Without
//! length normalisation the search stops once no unfinished hypothesis can
//! still beat the best finished one (both log-probabilities only fall as a
//! prefix grows); with it, finished hypotheses are ranked by score per
//! label (end of sentence counted) and the search runs until none is left.

use irnn_runtime::speech::{DecoderState, IntSpeechModel};
use irnn_runtime::Isa;

use crate::asr::export::quantize_features;
use crate::nn::ctc::log_softmax;
use crate::quant::export::logit_scale;

/// How the search scores and ranks hypotheses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeamConfig {
    /// Hypotheses kept (1: greedy when `ctc_weight` is 0).
    pub beam: usize,
    /// λ, the CTC prefix score's weight (0: the decoder alone; < 1).
    pub ctc_weight: f64,
    /// Rank finished hypotheses by score per label.
    pub length_norm: bool,
}

impl BeamConfig {
    /// The decoder alone, without length normalisation.
    pub fn attention(beam: usize) -> Self {
        Self {
            beam,
            ctc_weight: 0.0,
            length_norm: false,
        }
    }
}

const NEG: f64 = f64::NEG_INFINITY;

fn log_add(a: f64, b: f64) -> f64 {
    if a == NEG {
        return b;
    }
    if b == NEG {
        return a;
    }
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// The CTC forward variables of one prefix: at each step, the log
/// probability of having emitted exactly the prefix and ending in its last
/// label (`non_blank`) or in blank (`blank`).
#[derive(Clone, Debug)]
pub struct CtcPrefix {
    non_blank: Vec<f64>,
    blank: Vec<f64>,
    /// log P(the labels begin the transcript).
    pub score: f64,
}

impl CtcPrefix {
    /// The empty prefix over `log_probs` (`steps × classes`, class 0
    /// blank).
    pub fn empty(log_probs: &[f64], classes: usize) -> Self {
        let mut blank = Vec::with_capacity(log_probs.len() / classes);
        let mut sum = 0.0;
        for row in log_probs.chunks_exact(classes) {
            sum += row[0];
            blank.push(sum);
        }
        Self {
            non_blank: vec![NEG; blank.len()],
            blank,
            score: 0.0,
        }
    }

    /// The prefix extended by class `c` (≠ 0), whose last class is `last`
    /// (`None` for the empty prefix).
    pub fn extend(&self, log_probs: &[f64], classes: usize, last: Option<usize>, c: usize) -> Self {
        let steps = self.blank.len();
        let x = |t: usize, k: usize| log_probs[t * classes + k];
        let mut non_blank = vec![NEG; steps];
        let mut blank = vec![NEG; steps];
        if steps == 0 {
            return Self {
                non_blank,
                blank,
                score: NEG,
            };
        }
        // Paths into c at step t come from the prefix at t − 1, after a
        // blank if c repeats the last label.
        let from = |t: usize| {
            if Some(c) == last {
                self.blank[t]
            } else {
                log_add(self.blank[t], self.non_blank[t])
            }
        };
        if last.is_none() {
            non_blank[0] = x(0, c);
        }
        let mut score = non_blank[0];
        for t in 1..steps {
            let phi = from(t - 1);
            non_blank[t] = log_add(non_blank[t - 1], phi) + x(t, c);
            blank[t] = log_add(blank[t - 1], non_blank[t - 1]) + x(t, 0);
            score = log_add(score, phi + x(t, c));
        }
        Self {
            non_blank,
            blank,
            score,
        }
    }

    /// log P(the transcript is exactly the prefix).
    pub fn final_score(&self) -> f64 {
        match (self.blank.last(), self.non_blank.last()) {
            (Some(&b), Some(&n)) => log_add(b, n),
            _ => NEG,
        }
    }
}

/// One hypothesis.
#[derive(Clone)]
struct Hypothesis {
    labels: Vec<u32>,
    attention: f64,
    ctc: Option<CtcPrefix>,
    state: DecoderState,
}

/// The best transcript (unit ids) the search finds, and its score
/// (`λ·CTC + (1 − λ)·attention`, per label with length normalisation);
/// `None` for a model without a decoder.
pub fn attention_beam_search(
    model: &IntSpeechModel,
    isa: Isa,
    features: &[f32],
    config: BeamConfig,
) -> Result<Option<(Vec<u32>, f64)>, irnn_runtime::Error> {
    let Some(decoder) = &model.decoder else {
        return Ok(None);
    };
    let encoded = model.encode(isa, &quantize_features(model, features))?;
    let steps = encoded.len() / model.output.weights.cols().max(1);
    let max_len = irnn_runtime::speech::max_labels(steps);
    let memory = decoder.prepare(isa, &encoded)?;
    let classes = decoder.output.classes();
    let unit = logit_scale(decoder.output.logit_scale);
    let beam = config.beam.max(1);
    let lambda = config.ctc_weight.clamp(0.0, 1.0);
    // CTC log-probabilities over the same encoder output (class k + 1 of
    // the CTC head is decoder class k).
    let ctc_classes = model.classes();
    let ctc_log_probs = if lambda > 0.0 {
        let logits = model.ctc_logits(isa, &encoded)?;
        let u = logit_scale(model.output.logit_scale);
        let scores: Vec<f64> = logits.iter().map(|&l| l as f64 * u).collect();
        log_softmax(&scores, ctc_classes)
    } else {
        Vec::new()
    };
    let score = |att: f64, ctc: f64| {
        if lambda > 0.0 {
            lambda * ctc + (1.0 - lambda) * att
        } else {
            att
        }
    };
    let ranked = |s: f64, labels: usize| {
        if config.length_norm {
            s / (labels + 1) as f64
        } else {
            s
        }
    };
    let mut active = vec![Hypothesis {
        labels: Vec::new(),
        attention: 0.0,
        ctc: (lambda > 0.0).then(|| CtcPrefix::empty(&ctc_log_probs, ctc_classes)),
        state: decoder.zero_state(),
    }];
    let mut finished: Option<(Vec<u32>, f64)> = None;
    let mut logits = vec![0i32; classes];
    // Candidates scored by CTC per hypothesis: the decoder's best few.
    let pre_beam = (beam + beam / 2).max(beam + 1).min(classes);
    for _ in 0..max_len {
        // (score, hypothesis, label, attention log-p, CTC prefix)
        let mut candidates: Vec<(f64, usize, u32, f64, Option<CtcPrefix>)> = Vec::new();
        let mut stepped = Vec::with_capacity(active.len());
        for (i, h) in active.iter().enumerate() {
            let mut state = h.state.clone();
            let token = h.labels.last().copied().unwrap_or(decoder.start);
            decoder.step(isa, token, &memory, &mut state, &mut logits)?;
            let scores: Vec<f64> = logits.iter().map(|&l| l as f64 * unit).collect();
            let lp = log_softmax(&scores, classes);
            let mut order: Vec<usize> = (0..classes).collect();
            if h.ctc.is_some() {
                order.sort_by(|&a, &b| lp[b].total_cmp(&lp[a]).then(a.cmp(&b)));
                order.truncate(pre_beam);
            }
            for k in order {
                // (Validation makes every decoder class but the end a CTC
                // label; a class beyond them could never be scored.)
                if k as u32 != decoder.end && k + 1 >= ctc_classes && lambda > 0.0 {
                    continue;
                }
                let att = h.attention + lp[k];
                let ctc = h.ctc.as_ref().map(|p| {
                    if k as u32 == decoder.end {
                        let mut end = p.clone();
                        end.score = p.final_score();
                        end
                    } else {
                        let last = h.labels.last().map(|&l| l as usize + 1);
                        p.extend(&ctc_log_probs, ctc_classes, last, k + 1)
                    }
                });
                let s = score(att, ctc.as_ref().map_or(0.0, |p| p.score));
                candidates.push((s, i, k as u32, att, ctc));
            }
            stepped.push(state);
        }
        // Best first; ties by hypothesis, then by label.
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut next = Vec::with_capacity(beam);
        for (s, i, k, attention, ctc) in candidates.into_iter().take(beam) {
            let mut labels = active[i].labels.clone();
            if k != decoder.end {
                labels.push(k);
            }
            if k == decoder.end || labels.len() == max_len {
                let r = ranked(s, labels.len());
                if finished.as_ref().is_none_or(|f| r > f.1) {
                    finished = Some((labels, r));
                }
            } else {
                next.push(Hypothesis {
                    labels,
                    attention,
                    ctc,
                    state: stepped[i].clone(),
                });
            }
        }
        active = next;
        let best_active = active
            .iter()
            .map(|h| score(h.attention, h.ctc.as_ref().map_or(0.0, |p| p.score)))
            .fold(NEG, f64::max);
        let bound_holds = !config.length_norm;
        if active.is_empty() || bound_holds && finished.as_ref().is_some_and(|f| f.1 >= best_active)
        {
            break;
        }
    }
    Ok(Some(finished.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asr::attention::{eos, sos, DecoderConfig};
    use crate::asr::calibrate::calibrate;
    use crate::asr::decode::integer_attention_transcribe;
    use crate::asr::export::integer_model;
    use crate::asr::{AsrConfig, AsrModel};
    use crate::audio::MelConfig;
    use crate::nn::rng::TrainRng;
    use crate::quant::pwl_fit::PwlFitter;

    /// log P(digits, end) under the integer decoder.
    fn sequence_log_p(m: &IntSpeechModel, f: &[f32], digits: &[u32]) -> f64 {
        let isa = Isa::detect();
        let d = m.decoder.as_ref().unwrap();
        let encoded = m.encode(isa, &quantize_features(m, f)).unwrap();
        let memory = d.prepare(isa, &encoded).unwrap();
        let mut tokens = vec![sos(10)];
        tokens.extend(digits);
        let logits = d.run_forced(isa, &memory, &tokens).unwrap();
        let unit = logit_scale(d.output.logit_scale);
        let scores: Vec<f64> = logits.iter().map(|&l| l as f64 * unit).collect();
        let lp = log_softmax(&scores, 11);
        let mut targets = digits.to_vec();
        targets.push(eos(10));
        targets
            .iter()
            .enumerate()
            .map(|(t, &k)| lp[t * 11 + k as usize])
            .sum()
    }

    #[test]
    fn a_beam_of_one_is_greedy_and_wider_beams_score_higher() {
        let config = AsrConfig {
            features: 4,
            stack: 2,
            layers: 1,
            hidden: 8,
            unidirectional: false,
            layer_norm: false,
            decoder: Some(DecoderConfig {
                embedding: 4,
                hidden: 8,
                attention: 6,
                ctc_weight: 0.5,
            }),
            conv_channels: 0,
            units: 10,
        };
        let model = AsrModel::<f32>::new(config, &mut TrainRng::seed(8));
        let mel = MelConfig {
            mels: 4,
            ..MelConfig::default()
        };
        let data: Vec<Vec<f32>> = (0..5)
            .map(|s| {
                (0..40)
                    .map(|i| ((i * 7 + s * 3) % 11) as f32 / 3.0 - 1.5)
                    .collect()
            })
            .collect();
        let digits: Vec<Vec<u32>> = (0..5u32).map(|s| vec![s, 9 - s]).collect();
        let ranges = calibrate(&model, &data, &digits);
        let units = crate::asr::data::fsdd::digit_units();
        let int = integer_model(&model, &mel, &units, &ranges, &mut PwlFitter::new(16)).unwrap();
        let isa = Isa::detect();
        for f in &data {
            let greedy = integer_attention_transcribe(&int, isa, f).unwrap().unwrap();
            let search = |b| attention_beam_search(&int, isa, f, BeamConfig::attention(b));
            let (one, lp1) = search(1).unwrap().unwrap();
            assert_eq!(one, greedy);
            let (wide, lp8) = search(8).unwrap().unwrap();
            assert!(lp8 >= lp1 - 1e-9, "{lp8} < {lp1}");
            // The reported score is the sequence's probability under the
            // model (when the hypothesis ended with end of sentence).
            if wide.len() < 5 {
                assert!((sequence_log_p(&int, f, &wide) - lp8).abs() < 1e-9);
            }
            // Jointly with CTC: the score is λ·log P_ctc + (1 − λ)·log P_att
            // of the transcript found.
            let joint = BeamConfig {
                beam: 6,
                ctc_weight: 0.4,
                length_norm: false,
            };
            let (labels, s) = attention_beam_search(&int, isa, f, joint).unwrap().unwrap();
            if labels.len() < 5 {
                let ctc = ctc_log_p(&int, f, &labels);
                let att = sequence_log_p(&int, f, &labels);
                assert!(
                    (0.4 * ctc + 0.6 * att - s).abs() < 1e-6,
                    "{s} vs {ctc}, {att}"
                );
            }
            let normed = BeamConfig {
                length_norm: true,
                ..joint
            };
            let (labels, s) = attention_beam_search(&int, isa, f, normed)
                .unwrap()
                .unwrap();
            if labels.len() < 5 {
                let expected =
                    0.4 * ctc_log_p(&int, f, &labels) + 0.6 * sequence_log_p(&int, f, &labels);
                assert!((expected / (labels.len() + 1) as f64 - s).abs() < 1e-6);
            }
        }
    }

    /// log P_ctc(labels) of the integer CTC scores, by the training loss.
    fn ctc_log_p(m: &IntSpeechModel, f: &[f32], labels: &[u32]) -> f64 {
        let logits = crate::asr::export::integer_logits(m, Isa::detect(), f).unwrap();
        let unit = logit_scale(m.output.logit_scale);
        let scores: Vec<f64> = logits.iter().map(|&l| l as f64 * unit).collect();
        let target: Vec<usize> = labels.iter().map(|&l| l as usize + 1).collect();
        match crate::nn::ctc::ctc_loss(&scores, m.classes(), &target) {
            Some((loss, _)) => -loss,
            None => f64::NEG_INFINITY,
        }
    }

    #[test]
    fn ctc_prefix_scores_match_the_forward_algorithm() {
        // Random log-probabilities of 7 steps over blank + 3 labels.
        let (steps, classes) = (7, 4);
        let mut s = 7u64;
        let raw: Vec<f64> = (0..steps * classes)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 40) as f64 / (1u64 << 24) as f64 * 4.0 - 2.0
            })
            .collect();
        let lp = log_softmax(&raw, classes);
        let total = |labels: &[usize]| match crate::nn::ctc::ctc_loss(&raw, classes, labels) {
            Some((loss, _)) => -loss,
            None => f64::NEG_INFINITY,
        };
        for labels in [vec![1], vec![2, 2], vec![1, 3, 1], vec![3, 3, 3, 3]] {
            let mut p = CtcPrefix::empty(&lp, classes);
            let mut last = None;
            for &c in &labels {
                let q = p.extend(&lp, classes, last, c);
                // A prefix is at least as probable as any extension of it.
                assert!(q.score <= p.score + 1e-12);
                p = q;
                last = Some(c);
            }
            assert!(
                (p.final_score() - total(&labels)).abs() < 1e-9,
                "{labels:?}"
            );
            // The prefix probability sums the complete transcripts it begins
            // and the longer ones: at least the complete one's.
            assert!(p.score >= p.final_score() - 1e-12);
        }
        // The prefix probabilities of every one-label extension of the
        // empty prefix and the empty transcript sum to 1.
        let empty = CtcPrefix::empty(&lp, classes);
        let mut sum = empty.final_score().exp();
        for c in 1..classes {
            sum += empty.extend(&lp, classes, None, c).score.exp();
        }
        assert!((sum - 1.0).abs() < 1e-9, "{sum}");
    }
}
