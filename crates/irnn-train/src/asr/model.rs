//! The CTC acoustic model: `stack` consecutive feature frames concatenated
//! (and the frame rate divided by `stack`), `layers` bidirectional LSTM
//! layers (forward and backward outputs concatenated) — or forward-only
//! ones for a streaming model (`unidirectional`) — a linear layer to the
//! CTC classes (blank + the units, [`super::units`]), CTC loss.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::attention::{AttentionDecoder, DecoderConfig};
use crate::nn::conv::{conv_bins, MelConv};
use crate::nn::ctc::ctc_loss;
use crate::nn::dropout::DropoutMask;
use crate::nn::linear::Linear;
use crate::nn::lstm::{Lstm, LstmCache};
use crate::nn::{Param, Real};
use irnn_runtime::speech::max_labels;

/// The model's shape.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AsrConfig {
    /// Features per input frame (mel filters).
    pub features: usize,
    /// Frames concatenated into one model step.
    pub stack: usize,
    /// Encoder layers.
    pub layers: usize,
    /// Hidden size of each direction.
    pub hidden: usize,
    /// Forward-only layers: every output reads the past only, so the
    /// model can transcribe audio as it arrives (absent in older
    /// checkpoints: bidirectional).
    #[serde(default)]
    pub unidirectional: bool,
    /// LayerNorm inside the LSTM cells.
    pub layer_norm: bool,
    /// An attention decoder beside the CTC head (absent in older
    /// checkpoints).
    #[serde(default)]
    pub decoder: Option<DecoderConfig>,
    /// Channels of the convolutional front end (0: none, the features go
    /// straight to frame stacking).
    #[serde(default)]
    pub conv_channels: usize,
    /// Output units (CTC classes: one more, the blank). Absent (0) in
    /// checkpoints written before units were stored; their reader fills it.
    #[serde(default)]
    pub units: usize,
}

impl AsrConfig {
    /// An upper estimate of the memory training needs, in bytes, for
    /// `copies` model copies (one per thread in a minibatch update) and
    /// utterances of up to `frames` frames: every parameter four times per
    /// copy, and per copy one utterance's activations.
    pub fn training_bytes(&self, copies: usize, frames: usize) -> u64 {
        let h = self.hidden as u64;
        let mut input = (self.frame_dim() * self.stack) as u64;
        let mut params = 0u64;
        for _ in 0..self.layers {
            params += self.directions() as u64 * (4 * h * (input + h) + 16 * h);
            input = self.encoder_width() as u64;
        }
        if let Some(d) = &self.decoder {
            let (dh, da, de) = (d.hidden as u64, d.attention as u64, d.embedding as u64);
            params +=
                4 * dh * (de + dh) + da * (input + dh + 1) + (dh + input) * (self.units as u64 + 2);
        }
        params += input * (self.units as u64 + 1);
        let steps = (frames / self.stack.max(1)) as u64 + 1;
        let activations = steps * (self.layers as u64 * h * 24 + (self.frame_dim() * 4) as u64);
        4 * (copies as u64 + 1) * (4 * params + activations)
    }

    /// 1 for a unidirectional encoder, else 2.
    pub fn directions(&self) -> usize {
        if self.unidirectional {
            1
        } else {
            2
        }
    }

    /// Values per step each encoder layer writes: `directions · hidden`.
    pub fn encoder_width(&self) -> usize {
        self.directions() * self.hidden
    }

    /// Values per frame entering frame stacking.
    pub fn frame_dim(&self) -> usize {
        if self.conv_channels > 0 {
            self.conv_channels * conv_bins(self.features)
        } else {
            self.features
        }
    }
}

/// `frames × dim` → `⌈frames / k⌉ × (k·dim)`: each output row concatenates
/// `k` consecutive rows (the last group padded with zeros).
pub fn stack_frames<T: Real>(x: &[T], dim: usize, k: usize) -> Vec<T> {
    let frames = x.len() / dim;
    let out_frames = frames.div_ceil(k).max(1);
    let mut out = vec![T::zero(); out_frames * k * dim];
    out[..x.len()].copy_from_slice(x);
    out
}

/// One encoder layer.
#[derive(Debug, Clone)]
pub struct EncoderLayer<T> {
    /// Left to right.
    pub forward: Lstm<T>,
    /// Right to left (`None` in a unidirectional encoder).
    pub backward: Option<Lstm<T>>,
}

/// One direction of an encoder layer over an utterance, as some other run
/// computed it (QAT: the integer model, dequantized), in the order it ran
/// — right to left for a backward direction: post-activation gates
/// [T × 4H], cells and hidden states [(T + 1) × H] with the initial
/// state first.
#[derive(Debug, Clone)]
pub struct DirectionValues<T> {
    /// i, f, g, o after activation.
    pub gates: Vec<T>,
    /// c_0 … c_T.
    pub c: Vec<T>,
    /// h_0 … h_T.
    pub h: Vec<T>,
}

/// One encoder layer's values for [`AsrModel::cache_from_values`]: the
/// layer's input [T × width] in time order and each direction's values.
#[derive(Debug, Clone)]
pub struct LayerValues<T> {
    /// What the layer read.
    pub input: Vec<T>,
    /// Left to right.
    pub forward: DirectionValues<T>,
    /// Right to left (`None` for a unidirectional layer).
    pub backward: Option<DirectionValues<T>>,
}

/// What a forward pass keeps for the backward pass.
pub struct AsrCache<T> {
    inputs: Vec<Vec<T>>,
    caches: Vec<(LstmCache<T>, Option<LstmCache<T>>)>,
    top: Vec<T>,
    steps: usize,
    /// Dropout masks on the inputs of layers 1.. and of the output layer.
    masks: Vec<DropoutMask<T>>,
    /// The convolution's output (frames × frame_dim), if there is one.
    conv_out: Vec<T>,
    /// The features.
    features: Vec<T>,
}

/// The acoustic model.
#[derive(Debug, Clone)]
pub struct AsrModel<T> {
    /// Its shape.
    pub config: AsrConfig,
    /// Encoder layers, bottom first.
    pub layers: Vec<EncoderLayer<T>>,
    /// Classes from the top layer's outputs.
    pub output: Linear<T>,
    /// The attention decoder over the top layer's outputs, if any.
    pub decoder: Option<AttentionDecoder<T>>,
    /// The convolutional front end, if any.
    pub conv: Option<MelConv<T>>,
}

fn reverse_rows<T: Copy>(x: &[T], width: usize) -> Vec<T> {
    x.chunks_exact(width).rev().flatten().copied().collect()
}

impl<T: Real> AsrModel<T> {
    /// PyTorch-style initialisation; parameter names follow `nn.LSTM`
    /// (`rnn.weight_ih_l0`, `rnn.weight_ih_l0_reverse`, …) and `output.*`.
    pub fn new(config: AsrConfig, rng: &mut impl Rng) -> Self {
        let mut layers = Vec::new();
        for l in 0..config.layers {
            let input = if l == 0 {
                config.frame_dim() * config.stack
            } else {
                config.encoder_width()
            };
            let forward = Lstm::new(l, input, config.hidden, false, config.layer_norm, rng);
            let backward = (!config.unidirectional).then(|| {
                let mut b = Lstm::new(l, input, config.hidden, false, config.layer_norm, rng);
                for p in b.params_mut() {
                    p.name.push_str("_reverse");
                }
                b
            });
            layers.push(EncoderLayer { forward, backward });
        }
        let width = config.encoder_width();
        let output = Linear::new("output", width, config.units + 1, rng);
        let conv = (config.conv_channels > 0)
            .then(|| MelConv::new("conv", config.features, config.conv_channels, rng));
        let decoder = config
            .decoder
            .map(|d| AttentionDecoder::new(d, width, config.units, rng));
        Self {
            output,
            layers,
            decoder,
            conv,
            config,
        }
    }

    /// All parameters, in a fixed order.
    pub fn params(&self) -> Vec<&Param<T>> {
        let mut v: Vec<&Param<T>> = Vec::new();
        if let Some(c) = &self.conv {
            v.extend([&c.weight, &c.bias]);
        }
        for l in &self.layers {
            v.extend(l.forward.params());
            if let Some(b) = &l.backward {
                v.extend(b.params());
            }
        }
        v.push(&self.output.weight);
        v.push(&self.output.bias);
        if let Some(d) = &self.decoder {
            v.extend(d.params());
        }
        v
    }

    /// All parameters, mutable, same order.
    pub fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        let mut v: Vec<&mut Param<T>> = Vec::new();
        if let Some(c) = &mut self.conv {
            v.extend([&mut c.weight, &mut c.bias]);
        }
        for l in &mut self.layers {
            v.extend(l.forward.params_mut());
            if let Some(b) = &mut l.backward {
                v.extend(b.params_mut());
            }
        }
        v.push(&mut self.output.weight);
        v.push(&mut self.output.bias);
        if let Some(d) = &mut self.decoder {
            v.extend(d.params_mut());
        }
        v
    }

    /// Zeroes every gradient.
    pub fn zero_grad(&mut self) {
        for p in self.params_mut() {
            p.zero_grad();
        }
    }

    /// Class scores (`steps × (units + 1)`, before softmax) of one utterance's
    /// features (`frames × features`), and the cache for
    /// [`backward`](Self::backward).
    pub fn forward(&self, features: &[T]) -> (Vec<T>, AsrCache<T>) {
        self.forward_with_dropout(features, 0.0, None)
    }

    /// [`forward`](Self::forward) with dropout `p` on the inputs of layers
    /// after the first and of the output layer (training).
    pub fn forward_with_dropout(
        &self,
        features: &[T],
        p: f64,
        mut rng: Option<&mut dyn rand::RngCore>,
    ) -> (Vec<T>, AsrCache<T>) {
        let c = self.config;
        let conv_out = match &self.conv {
            Some(conv) => conv.forward(features),
            None => Vec::new(),
        };
        let frames_in = if self.conv.is_some() {
            &conv_out
        } else {
            features
        };
        let mut x = stack_frames(frames_in, c.frame_dim(), c.stack);
        let steps = x.len() / (c.frame_dim() * c.stack);
        let n = c.hidden;
        let mut inputs = Vec::new();
        let mut caches = Vec::new();
        let mut masks = Vec::new();
        let mut drop = |x: &mut Vec<T>, masks: &mut Vec<DropoutMask<T>>| {
            if let (true, Some(rng)) = (p > 0.0, rng.as_deref_mut()) {
                let m = DropoutMask::sample(p, steps, 1, x.len() / steps, false, rng);
                m.apply(x);
                masks.push(m);
            }
        };
        for (l, layer) in self.layers.iter().enumerate() {
            if l > 0 {
                drop(&mut x, &mut masks);
            }
            let width = x.len() / steps;
            let mut cf = LstmCache::default();
            let (mut h, mut cell) = (vec![T::zero(); n], vec![T::zero(); n]);
            let yf = layer
                .forward
                .forward(&x, steps, 1, &mut h, &mut cell, Some(&mut cf));
            let Some(backward) = &layer.backward else {
                inputs.push(std::mem::replace(&mut x, yf));
                caches.push((cf, None));
                continue;
            };
            let mut cb = LstmCache::default();
            let (mut h, mut cell) = (vec![T::zero(); n], vec![T::zero(); n]);
            let yb = backward.forward(
                &reverse_rows(&x, width),
                steps,
                1,
                &mut h,
                &mut cell,
                Some(&mut cb),
            );
            let yb = reverse_rows(&yb, n);
            let mut y = Vec::with_capacity(steps * 2 * n);
            for t in 0..steps {
                y.extend_from_slice(&yf[t * n..(t + 1) * n]);
                y.extend_from_slice(&yb[t * n..(t + 1) * n]);
            }
            inputs.push(std::mem::replace(&mut x, y));
            caches.push((cf, Some(cb)));
        }
        drop(&mut x, &mut masks);
        let scores = self.output.forward(&x, steps);
        (
            scores,
            AsrCache {
                inputs,
                caches,
                top: x,
                steps,
                masks,
                features: if self.conv.is_some() {
                    features.to_vec()
                } else {
                    Vec::new()
                },
                conv_out,
            },
        )
    }

    /// The top layer's outputs (after dropout): the CTC head's input and
    /// the attention decoder's memory.
    pub fn encoder_output<'c>(&self, cache: &'c AsrCache<T>) -> &'c [T] {
        &cache.top
    }

    /// A cache for [`backward`](Self::backward) made of values computed
    /// elsewhere instead of this model's forward pass: the backward pass
    /// then takes this model's derivatives at those values. QAT passes the
    /// integer model's activations (dequantized), so the gradient is taken
    /// where the deployed model is, not where the float one would be.
    /// `features` and `conv_out` (the convolution's output, frames ×
    /// frame_dim; empty without one) feed the convolution's gradient;
    /// `top` is the top layer's output [T × width], the output layer's
    /// input. No dropout.
    pub fn cache_from_values(
        &self,
        features: &[T],
        conv_out: Vec<T>,
        layers: Vec<LayerValues<T>>,
        top: Vec<T>,
    ) -> AsrCache<T> {
        let steps = top.len() / self.config.encoder_width().max(1);
        let mut inputs = Vec::with_capacity(layers.len());
        let mut caches = Vec::with_capacity(layers.len());
        for (values, layer) in layers.into_iter().zip(&self.layers) {
            let width = values.input.len() / steps.max(1);
            let cache = |input: Vec<T>, d: DirectionValues<T>, cell: &Lstm<T>| {
                LstmCache::from_values(steps, 1, input, d.gates, d.c, d.h).with_layer_norm(cell)
            };
            let backward = match (values.backward, &layer.backward) {
                (Some(d), Some(cell)) => Some(cache(reverse_rows(&values.input, width), d, cell)),
                _ => None,
            };
            caches.push((
                cache(values.input.clone(), values.forward, &layer.forward),
                backward,
            ));
            inputs.push(values.input);
        }
        AsrCache {
            inputs,
            caches,
            top,
            steps,
            masks: Vec::new(),
            features: if self.conv.is_some() {
                features.to_vec()
            } else {
                Vec::new()
            },
            conv_out,
        }
    }

    /// Accumulates parameter gradients from `d_scores` (the gradient of the
    /// loss with respect to the scores).
    pub fn backward(&mut self, cache: &AsrCache<T>, d_scores: &[T]) {
        self.backward_with_memory(cache, d_scores, None);
    }

    /// [`backward`](Self::backward) with, in `d_memory`, a gradient for the
    /// encoder's output from the attention decoder.
    pub fn backward_with_memory(
        &mut self,
        cache: &AsrCache<T>,
        d_scores: &[T],
        d_memory: Option<&[T]>,
    ) {
        let n = self.config.hidden;
        let steps = cache.steps;
        let mut d = self.output.backward(&cache.top, d_scores, steps);
        if let Some(dm) = d_memory {
            for (a, &b) in d.iter_mut().zip(dm) {
                *a += b;
            }
        }
        // Masks, if any, sit before layers 1.. and before the output layer.
        let mask = |l: usize| cache.masks.get(l.wrapping_sub(1));
        if let Some(m) = mask(self.layers.len()) {
            m.apply(&mut d);
        }
        for (l, layer) in self.layers.iter_mut().enumerate().rev() {
            let (cf, cb) = &cache.caches[l];
            d = match (&mut layer.backward, cb) {
                (Some(backward), Some(cb)) => {
                    let mut df = Vec::with_capacity(steps * n);
                    let mut db = Vec::with_capacity(steps * n);
                    for row in d.chunks_exact(2 * n) {
                        df.extend_from_slice(&row[..n]);
                        db.extend_from_slice(&row[n..]);
                    }
                    let dx_f = layer.forward.backward(cf, &df);
                    let dx_b = backward.backward(cb, &reverse_rows(&db, n));
                    let width = cache.inputs[l].len() / steps;
                    let dx_b = reverse_rows(&dx_b, width);
                    dx_f.iter().zip(&dx_b).map(|(&a, &b)| a + b).collect()
                }
                _ => layer.forward.backward(cf, &d),
            };
            if let Some(m) = mask(l) {
                m.apply(&mut d);
            }
        }
        // Stacking only concatenated rows: the stacked gradient, cut to the
        // real frames, is the convolution output's.
        if let Some(conv) = &mut self.conv {
            let n = cache.conv_out.len();
            conv.backward(&cache.features, &cache.conv_out, &d[..n]);
        }
    }

    /// CTC classes: the blank and every unit.
    pub fn classes(&self) -> usize {
        self.config.units + 1
    }

    /// CTC loss of one utterance (`targets`: unit ids) with gradients
    /// accumulated; `None` (and no gradient) if the utterance is too short
    /// for its units.
    pub fn train_utterance(&mut self, features: &[T], targets: &[u32]) -> Option<f64> {
        self.train_utterance_with_dropout(features, targets, 0.0, None)
    }

    /// [`train_utterance`](Self::train_utterance) with dropout `p`.
    pub fn train_utterance_with_dropout(
        &mut self,
        features: &[T],
        targets: &[u32],
        p: f64,
        rng: Option<&mut dyn rand::RngCore>,
    ) -> Option<f64> {
        let (scores, cache) = self.forward_with_dropout(features, p, rng);
        let s64: Vec<f64> = scores.iter().map(|v| v.to_f64().unwrap_or(0.0)).collect();
        let target: Vec<usize> = targets.iter().map(|&d| d as usize + 1).collect();
        let (loss, grad) = ctc_loss(&s64, self.classes(), &target)?;
        let Some(decoder) = &mut self.decoder else {
            let grad: Vec<T> = grad.iter().map(|&g| T::of(g)).collect();
            self.backward(&cache, &grad);
            return Some(loss);
        };
        // Joint loss: λ·CTC + (1 − λ)·attention cross-entropy.
        let lambda = decoder.config.ctc_weight;
        let memory = &cache.top;
        let (ce, d_logits, dc) = decoder.loss(memory, targets);
        let d_logits: Vec<T> = d_logits.iter().map(|&g| g * T::of(1.0 - lambda)).collect();
        let d_memory = decoder.backward(&dc, memory, &d_logits);
        let grad: Vec<T> = grad.iter().map(|&g| T::of(g * lambda)).collect();
        self.backward_with_memory(&cache, &grad, Some(&d_memory));
        Some(lambda * loss + (1.0 - lambda) * ce)
    }

    /// Greedy transcript (unit ids) from the attention decoder (`None`
    /// without one).
    pub fn transcribe_attention(&self, features: &[T]) -> Option<Vec<u32>> {
        let decoder = self.decoder.as_ref()?;
        let (_, cache) = self.forward(features);
        Some(decoder.greedy(&cache.top, max_labels(cache.steps)))
    }

    /// Greedy transcript of one utterance: its unit ids.
    pub fn transcribe(&self, features: &[T]) -> Vec<u32> {
        let (scores, _) = self.forward(features);
        let s64: Vec<f64> = scores.iter().map(|v| v.to_f64().unwrap_or(0.0)).collect();
        crate::nn::ctc::greedy_decode(&s64, self.classes())
            .into_iter()
            .map(|k| (k - 1) as u32)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::rng::TrainRng;

    #[test]
    fn gradients_match_finite_differences() {
        // Bidirectional without and with LayerNorm; unidirectional with.
        for (layer_norm, unidirectional) in [(false, false), (true, false), (true, true)] {
            // With LayerNorm, also the attention decoder (joint loss).
            let decoder = layer_norm.then_some(DecoderConfig {
                embedding: 3,
                hidden: 4,
                attention: 3,
                ctc_weight: 0.4,
            });
            let config = AsrConfig {
                features: 3,
                stack: 2,
                layers: 2,
                hidden: 4,
                unidirectional,
                layer_norm,
                decoder,
                conv_channels: if layer_norm { 2 } else { 0 },
                units: 10,
            };
            let mut rng = TrainRng::seed(5);
            let mut model = AsrModel::<f64>::new(config, &mut rng);
            let features: Vec<f64> = (0..9 * 3)
                .map(|i| ((i * 7 % 11) as f64 - 5.0) / 4.0)
                .collect();
            let digits = [3u32, 3];
            // With LayerNorm, also dropout (the same masks for every
            // evaluation: a fixed generator state).
            let p = if layer_norm { 0.3 } else { 0.0 };
            let masks = TrainRng::seed(11);
            model.zero_grad();
            model
                .train_utterance_with_dropout(&features, &digits, p, Some(&mut masks.clone()))
                .unwrap();
            let analytic: Vec<Vec<f64>> = model.params().iter().map(|p| p.grad.clone()).collect();
            let loss = |m: &mut AsrModel<f64>| {
                let (scores, cache) =
                    m.forward_with_dropout(&features, p, Some(&mut masks.clone()));
                let ctc = ctc_loss(&scores, m.classes(), &[4, 4]).unwrap().0;
                match &m.decoder {
                    Some(d) => {
                        let lambda = d.config.ctc_weight;
                        lambda * ctc + (1.0 - lambda) * d.loss(&cache.top, &digits).0
                    }
                    None => ctc,
                }
            };
            let checked = crate::nn::gradcheck::check_params(
                &format!("ln={layer_norm} uni={unidirectional}"),
                &mut model,
                AsrModel::params_mut,
                &analytic,
                12,
                loss,
                |analytic, numeric| (numeric - analytic).abs() <= 1e-6 * (1.0 + numeric.abs()),
            );
            assert!(checked > 100, "{checked}");
        }
    }

    /// A cache rebuilt from the values of the model's own forward pass
    /// gives the same gradients as that pass's cache: the plumbing of
    /// [`AsrModel::cache_from_values`] (reversed rows, LayerNorm
    /// statistics, the convolution) is what QAT relies on.
    #[test]
    fn a_cache_from_the_forward_values_gives_the_same_gradients() {
        for (layer_norm, unidirectional, conv_channels) in
            [(false, false, 0), (true, false, 2), (true, true, 0)]
        {
            let config = AsrConfig {
                features: 3,
                stack: 2,
                layers: 2,
                hidden: 4,
                unidirectional,
                layer_norm,
                decoder: None,
                conv_channels,
                units: 10,
            };
            let mut model = AsrModel::<f64>::new(config, &mut TrainRng::seed(7));
            let features: Vec<f64> = (0..9 * 3)
                .map(|i| ((i * 5 % 13) as f64 - 6.0) / 4.0)
                .collect();
            let (scores, cache) = model.forward(&features);
            let d: Vec<f64> = (0..scores.len())
                .map(|i| ((i % 7) as f64 - 3.0) / 10.0)
                .collect();
            model.zero_grad();
            model.backward(&cache, &d);
            let expected: Vec<Vec<f64>> = model.params().iter().map(|p| p.grad.clone()).collect();
            let direction = |c: &LstmCache<f64>| {
                let [_, gates, c, h] = c.values();
                DirectionValues {
                    gates: gates.to_vec(),
                    c: c.to_vec(),
                    h: h.to_vec(),
                }
            };
            let layers = cache
                .caches
                .iter()
                .zip(&cache.inputs)
                .map(|((f, b), input)| LayerValues {
                    input: input.clone(),
                    forward: direction(f),
                    backward: b.as_ref().map(direction),
                })
                .collect();
            let rebuilt = model.cache_from_values(
                &features,
                cache.conv_out.clone(),
                layers,
                cache.top.clone(),
            );
            model.zero_grad();
            model.backward(&rebuilt, &d);
            for (p, e) in model.params().iter().zip(&expected) {
                for (a, b) in p.grad.iter().zip(e) {
                    assert!(
                        (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
                        "{}: {a} vs {b}",
                        p.name
                    );
                }
            }
            assert!(expected.iter().flatten().any(|g| *g != 0.0));
        }
    }

    #[test]
    fn stacking_and_reversed_names() {
        let x: Vec<f32> = (0..10).map(|v| v as f32).collect(); // 5 frames × 2
        let s = stack_frames(&x, 2, 2);
        assert_eq!(s, [0., 1., 2., 3., 4., 5., 6., 7., 8., 9., 0., 0.]);
        let m = AsrModel::<f32>::new(
            AsrConfig {
                features: 2,
                stack: 2,
                layers: 1,
                hidden: 3,
                unidirectional: false,
                layer_norm: false,
                decoder: None,
                conv_channels: 0,
                units: 10,
            },
            &mut TrainRng::seed(1),
        );
        let names: Vec<&str> = m.params().iter().map(|p| p.name.as_str()).collect();
        assert!(names.contains(&"rnn.weight_ih_l0") && names.contains(&"rnn.weight_ih_l0_reverse"));
    }
}
