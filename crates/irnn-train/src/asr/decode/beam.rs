//! Beam search for the integer attention decoder, reading its int32 scores.
//!
//! The runtime steps the decoder (one call per hypothesis and label, on a
//! cloned [`DecoderState`]); this module turns each step's int32 scores into
//! log-probabilities (the scores times the stored logit unit, then a
//! log-softmax) and keeps the `beam` most probable label sequences. A
//! hypothesis ends when end of sentence is its best continuation that
//! survives the pruning; the search stops when no unfinished hypothesis can
//! still beat the best finished one (log-probabilities only fall).

use irnn_runtime::speech::{DecoderState, IntSpeechModel};
use irnn_runtime::Isa;

use crate::asr::export::quantize_features;
use crate::nn::ctc::log_softmax;
use crate::quant::export::logit_scale;

/// One hypothesis.
#[derive(Clone)]
struct Hypothesis {
    labels: Vec<u32>,
    log_p: f64,
    state: DecoderState,
}

/// The most probable transcript (unit ids) the beam finds, and its log
/// probability; `None` for a model without a decoder.
pub fn attention_beam_search(
    model: &IntSpeechModel,
    isa: Isa,
    features: &[f32],
    beam: usize,
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
    let beam = beam.max(1);
    let mut active = vec![Hypothesis {
        labels: Vec::new(),
        log_p: 0.0,
        state: decoder.zero_state(),
    }];
    let mut finished: Option<(Vec<u32>, f64)> = None;
    let mut logits = vec![0i32; classes];
    for _ in 0..max_len {
        let mut candidates: Vec<(f64, usize, u32)> = Vec::new();
        let mut stepped = Vec::with_capacity(active.len());
        for (i, h) in active.iter().enumerate() {
            let mut state = h.state.clone();
            let token = h.labels.last().copied().unwrap_or(decoder.start);
            decoder.step(isa, token, &memory, &mut state, &mut logits)?;
            let scores: Vec<f64> = logits.iter().map(|&l| l as f64 * unit).collect();
            for (k, lp) in log_softmax(&scores, classes).into_iter().enumerate() {
                candidates.push((h.log_p + lp, i, k as u32));
            }
            stepped.push(state);
        }
        // Most probable first; ties by hypothesis, then by label.
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut next = Vec::with_capacity(beam);
        for &(log_p, i, k) in candidates.iter().take(beam) {
            let mut labels = active[i].labels.clone();
            if k != decoder.end {
                labels.push(k);
            }
            // End of sentence, or the longest transcript allowed (ended
            // there, as greedy decoding ends it).
            if k == decoder.end || labels.len() == max_len {
                if finished.as_ref().is_none_or(|f| log_p > f.1) {
                    finished = Some((labels, log_p));
                }
            } else {
                next.push(Hypothesis {
                    labels,
                    log_p,
                    state: stepped[i].clone(),
                });
            }
        }
        active = next;
        let best_active = active
            .iter()
            .map(|h| h.log_p)
            .fold(f64::NEG_INFINITY, f64::max);
        if active.is_empty() || finished.as_ref().is_some_and(|f| f.1 >= best_active) {
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
            let (one, lp1) = attention_beam_search(&int, isa, f, 1).unwrap().unwrap();
            assert_eq!(one, greedy);
            let (wide, lp8) = attention_beam_search(&int, isa, f, 8).unwrap().unwrap();
            assert!(lp8 >= lp1 - 1e-9, "{lp8} < {lp1}");
            // The reported score is the sequence's probability under the
            // model (when the hypothesis ended with end of sentence).
            if wide.len() < 5 {
                assert!((sequence_log_p(&int, f, &wide) - lp8).abs() < 1e-9);
            }
        }
    }
}
