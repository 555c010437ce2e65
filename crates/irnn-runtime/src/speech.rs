//! The integer CTC speech recogniser: int8 feature frames in, int32 class
//! scores and a transcript out.
//!
//! The acoustic front end (log-mel features) is signal processing done
//! before the network and stays with the caller; what the caller hands over
//! is the features already on the model's int8 grid
//! ([`IntSpeechModel::input_scale`], [`IntSpeechModel::input_zero_point`]).
//! From there everything is integer: `stack` frames are concatenated into
//! one step (a frame-rate reduction — the padding of the last group is the
//! zero point, the int8 image of 0.0), bidirectional LSTM layers whose
//! outputs concatenate with no requantization (both directions share one h
//! grid) — or forward-only layers, for a model that transcribes audio as it
//! arrives ([`stream`]) — and the output layer's int32 scores, one grid for
//! all classes, so that the greedy decoder is a plain integer argmax. The
//! encoder's activations are int8, or int16 for a model converted with
//! 16-bit activations ([`encoder`]). An optional attention decoder
//! ([`decoder`]) reads the same encoder outputs (int8 encoders only).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::{check_len, Error};
use crate::fixed_point::QuantizedMultiplier;
use crate::kernels::Isa;
use crate::layers::attention::AttentionMemory;
use crate::layers::{IntMelConv, IntOutputLayer};

pub mod decoder;
pub mod encoder;
pub mod stream;
pub use decoder::{DecoderState, IntAttentionDecoder};
pub use encoder::{Encoded, EncoderLayers, EncoderWidth};
pub use stream::SpeechStream;

use encoder::EncoderScratch;

/// The longest transcript decoding may produce for `steps` encoder steps:
/// one label per step, the most a CTC alignment can hold. (It was capped at
/// 32, enough for digit strings; sentences of characters run longer.)
pub fn max_labels(steps: usize) -> usize {
    steps.max(1)
}

/// How log-mel features are normalised before they are quantized.
///
/// Per-utterance statistics need the whole utterance before its first
/// frame can be normalised; a streaming recogniser uses the training set's
/// statistics instead, fixed in the model, so each frame is normalised as
/// soon as it is computed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FeatureNorm {
    /// Each feature to mean 0 and variance 1 over the utterance.
    #[default]
    PerUtterance,
    /// `(x − mean) · inv_std` per feature, with statistics of the training
    /// set stored as fixed-point numbers of [`NORM_FRACTION_BITS`]
    /// fraction bits (the caller, which computes features in float, reads
    /// them as `value / 2^16`; training rounds them the same way, so
    /// training and deployment see the same features).
    Global {
        /// Mean of each feature (log energy, nats), Q16.
        mean: Vec<i32>,
        /// Reciprocal of each feature's standard deviation, Q16 (positive).
        inv_std: Vec<i32>,
    },
}

/// Fraction bits of [`FeatureNorm::Global`]'s statistics.
pub const NORM_FRACTION_BITS: u32 = 16;

impl FeatureNorm {
    /// Whether every frame can be normalised on its own (what streaming
    /// needs).
    pub fn is_causal(&self) -> bool {
        matches!(self, FeatureNorm::Global { .. })
    }

    /// Checks that the statistics cover `features` features and that every
    /// reciprocal is positive.
    pub fn validate(&self, features: usize) -> Result<(), Error> {
        let FeatureNorm::Global { mean, inv_std } = self else {
            return Ok(());
        };
        check_len("global normalisation means", features, mean.len())?;
        check_len("global normalisation scales", features, inv_std.len())?;
        if inv_std.iter().any(|&v| v <= 0) {
            return Err(Error::InvalidParameter {
                what: "global normalisation scales must be positive",
            });
        }
        Ok(())
    }
}

/// The log-mel front end a model was trained with (all in integers: the
/// runtime stores it for the tools that compute features).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontEnd {
    /// Sample rate (Hz).
    pub sample_rate: u32,
    /// Samples per frame.
    pub frame: u32,
    /// Samples between frame starts.
    pub hop: u32,
    /// FFT size.
    pub fft: u32,
    /// Mel filters (features per frame).
    pub mels: u32,
    /// Lowest filter edge (Hz).
    pub low_hz: u32,
    /// Highest filter edge (Hz).
    pub high_hz: u32,
    /// Dynamic range kept per filter, dB below its loudest frame (0: none).
    pub range_db: u32,
    /// How the features are normalised.
    pub norm: FeatureNorm,
}

/// The sample rates a front end may have (Hz).
pub const MIN_SAMPLE_RATE: u32 = 1000;
/// See [`MIN_SAMPLE_RATE`].
pub const MAX_SAMPLE_RATE: u32 = 384_000;

/// Largest FFT a front end may ask for (bounds what a hostile header can
/// make a caller allocate).
pub const MAX_FFT: u32 = 1 << 16;

impl FrontEnd {
    /// Checks that features can be computed as described: a rate of 1 to
    /// 384 kHz, a positive frame and hop; an FFT of at least one frame and at most
    /// [`MAX_FFT`]; a non-empty band below the Nyquist frequency.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |what| Err(Error::InvalidParameter { what });
        if self.sample_rate == 0 || self.frame == 0 || self.hop == 0 || self.mels == 0 {
            return bad("the front end needs a positive sample rate, frame, hop and mel count");
        }
        if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&self.sample_rate) {
            return bad("the front end's sample rate must be 1000 to 384000 Hz");
        }
        if self.fft < self.frame || self.fft > MAX_FFT {
            return bad("the front end's FFT must cover one frame and be at most 65536 points");
        }
        if self.low_hz >= self.high_hz || self.high_hz > self.sample_rate / 2 {
            return bad("the front end's band must be non-empty and below the Nyquist frequency");
        }
        self.norm.validate(self.mels as usize)
    }
}

/// A CTC acoustic model on integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntSpeechModel {
    /// How features are computed.
    pub front_end: FrontEnd,
    /// Feature frames concatenated into one step.
    pub stack: usize,
    /// The real value of one step of the int8 feature grid
    /// (`mantissa · 2^(shift − 31)`), for the caller's quantizer.
    pub input_scale: QuantizedMultiplier,
    /// The int8 feature value that stands for 0.0.
    pub input_zero_point: i32,
    /// A convolutional front end over the features, if any (its input zero
    /// point is the features').
    pub conv: Option<IntMelConv>,
    /// Encoder layers (bidirectional, or forward only for a streaming
    /// model), bottom first, with int8 or int16 activations.
    pub layers: EncoderLayers,
    /// Scores of every class; class 0 is the CTC blank.
    pub output: IntOutputLayer,
    /// Class names (`labels[0]` names the blank).
    pub labels: Vec<String>,
    /// What a transcript puts between labels: `" "` for word units, `""`
    /// for character units (whose word boundary is a label of its own).
    pub separator: String,
    /// An attention decoder over the encoder's outputs, if the model has
    /// one (its classes are `labels[1..]` plus end of sentence).
    pub decoder: Option<IntAttentionDecoder>,
}

impl IntSpeechModel {
    /// Checks that the parts fit together.
    pub fn validate(&self) -> Result<(), Error> {
        if self.stack == 0 || self.front_end.mels == 0 {
            return Err(Error::InvalidParameter {
                what: "a speech model needs at least one feature and one frame per step",
            });
        }
        self.front_end.validate()?;
        if !(-128..=127).contains(&self.input_zero_point) {
            return Err(Error::InvalidParameter {
                what: "the feature zero point must be an int8",
            });
        }
        let mut width = self.frame_dim() * self.stack;
        if let Some(c) = &self.conv {
            c.validate()?;
            check_len("convolution mel filters", self.features(), c.mels)?;
            if c.input_zero_point != self.input_zero_point {
                return Err(Error::InvalidParameter {
                    what: "the convolution must read the features' grid",
                });
            }
        }
        width = self.layers.validate(width)?;
        match &self.layers {
            EncoderLayers::Int8(_) => self.output.validate()?,
            EncoderLayers::Int16(_) => self.output.validate_for::<i16>()?,
        }
        check_len("output layer input", width, self.output.weights.cols())?;
        check_len("class labels", self.output.classes(), self.labels.len())?;
        if self.labels.len() < 2 {
            return Err(Error::InvalidParameter {
                what: "a CTC model needs the blank and at least one label",
            });
        }
        if let Some(d) = &self.decoder {
            if self.layers.activation_bits() != 8 {
                return Err(Error::InvalidParameter {
                    what: "the attention decoder reads int8 encoder outputs; a model with 16-bit activations decodes with CTC only",
                });
            }
            d.validate(width)?;
            // Decoder class k is label k + 1; the last class ends a
            // transcript (joint decoding reads the CTC score of k + 1).
            check_len(
                "decoder output classes (the labels after the blank, and the end)",
                self.labels.len(),
                d.output.classes(),
            )?;
            if d.end as usize + 1 != d.output.classes() {
                return Err(Error::InvalidParameter {
                    what: "the decoder's end-of-sentence class must be its last",
                });
            }
        }
        Ok(())
    }

    /// Features per frame.
    pub fn features(&self) -> usize {
        self.front_end.mels as usize
    }

    /// Values per frame entering frame stacking (the convolution's outputs,
    /// or the features).
    pub fn frame_dim(&self) -> usize {
        match &self.conv {
            Some(c) => c.output_dim(),
            None => self.features(),
        }
    }

    /// Number of classes (blank included).
    pub fn classes(&self) -> usize {
        self.output.classes()
    }

    /// Model steps for `frames` feature frames: ⌈frames / stack⌉, at least 1.
    pub fn steps(&self, frames: usize) -> usize {
        frames.div_ceil(self.stack).max(1)
    }

    /// Class scores (`steps × classes`, row-major) of one utterance's int8
    /// features (`frames × features`).
    pub fn logits(&self, isa: Isa, features: &[i8]) -> Result<Vec<i32>, Error> {
        let mut s = SpeechScratch::empty();
        self.logits_with(isa, features, &mut s)?;
        Ok(s.logits)
    }

    /// The encoder's outputs (`steps × width`) for one utterance's int8
    /// features, of the model's activation width `A` (an error if the
    /// model's is the other: [`EncoderLayers::activation_bits`]).
    pub fn encode<A: EncoderWidth>(&self, isa: Isa, features: &[i8]) -> Result<Vec<A>, Error> {
        let mut s = SpeechScratch::empty();
        self.encode_with(isa, features, &mut s)?;
        s.encoded(self).as_width::<A>().map(<[A]>::to_vec)
    }

    /// A scratch for utterances of up to `max_frames` feature frames, every
    /// buffer grown to its size by one pass over that many frames of the
    /// feature grid's zero (CTC and, if the model has one, the attention
    /// decoder), so that [`logits_with`](Self::logits_with),
    /// [`ctc_greedy_with`](Self::ctc_greedy_with) and
    /// [`attention_greedy_with`](Self::attention_greedy_with) allocate
    /// nothing for such utterances.
    pub fn scratch(&self, isa: Isa, max_frames: usize) -> Result<SpeechScratch, Error> {
        let mut s = SpeechScratch::empty();
        s.max_frames = usize::MAX;
        let silence = vec![self.input_zero_point as i8; max_frames.max(1) * self.features()];
        self.ctc_greedy_with(isa, &silence, &mut s)?;
        self.attention_greedy_with(isa, &silence, &mut s)?;
        s.max_frames = max_frames.max(1);
        Ok(s)
    }

    /// [`encode`](Self::encode) into `s` (the outputs are [`SpeechScratch::encoded`]).
    pub fn encode_with(
        &self,
        isa: Isa,
        features: &[i8],
        s: &mut SpeechScratch,
    ) -> Result<(), Error> {
        let dim = self.features();
        if !features.len().is_multiple_of(dim) {
            return Err(Error::ShapeMismatch {
                what: "speech features (a whole number of frames)",
                expected: dim,
                found: features.len(),
            });
        }
        let frames = features.len() / dim;
        if frames > s.max_frames {
            return Err(Error::DimensionTooLarge {
                what: "utterance frames (the scratch's size)",
                value: frames,
                max: s.max_frames,
            });
        }
        let steps = self.steps(frames);
        // Stacking pads with the int8 image of 0.0 on the stacked grid.
        let SpeechScratch {
            conv, frames, enc, ..
        } = s;
        let pad = match &self.conv {
            Some(c) => {
                c.run_into(features, conv)?;
                frames.clone_from(conv);
                c.output_zero_point
            }
            None => {
                frames.clear();
                frames.extend_from_slice(features);
                self.input_zero_point
            }
        };
        frames.resize(steps * self.stack * self.frame_dim(), pad as i8);
        enc.run(&self.layers, isa, frames, pad, false)
    }

    /// CTC class scores from the encoder's outputs (of the model's
    /// activation width: [`encode`](Self::encode)).
    pub fn ctc_logits<A: EncoderWidth>(&self, isa: Isa, encoded: &[A]) -> Result<Vec<i32>, Error> {
        let mut logits = Vec::new();
        A::encoded(encoded).logits_into(&self.output, isa, &mut logits)?;
        Ok(logits)
    }

    /// [`logits`](Self::logits) into `s`: returns the scores (`steps ×
    /// classes`).
    pub fn logits_with<'s>(
        &self,
        isa: Isa,
        features: &[i8],
        s: &'s mut SpeechScratch,
    ) -> Result<&'s [i32], Error> {
        self.encode_with(isa, features, s)?;
        s.enc
            .output(&self.layers)
            .logits_into(&self.output, isa, &mut s.logits)?;
        Ok(&s.logits)
    }

    /// Greedy CTC transcript of one utterance (class indices, never 0), as
    /// [`greedy_decode`](Self::greedy_decode) of [`logits`](Self::logits),
    /// computed in `s`.
    pub fn ctc_greedy_with<'s>(
        &self,
        isa: Isa,
        features: &[i8],
        s: &'s mut SpeechScratch,
    ) -> Result<&'s [usize], Error> {
        self.logits_with(isa, features, s)?;
        let SpeechScratch { logits, labels, .. } = s;
        self.greedy_decode_into(logits, labels);
        Ok(labels)
    }

    /// Greedy transcript from the attention decoder (labels as CTC class
    /// indices, 1 and up), at most one label per encoder step and never
    /// more than 32; `None` for a model without a decoder.
    pub fn attention_greedy(&self, isa: Isa, features: &[i8]) -> Result<Option<Vec<usize>>, Error> {
        let mut s = SpeechScratch::empty();
        Ok(self
            .attention_greedy_with(isa, features, &mut s)?
            .map(|l| l.to_vec()))
    }

    /// [`attention_greedy`](Self::attention_greedy) computed in `s`.
    pub fn attention_greedy_with<'s>(
        &self,
        isa: Isa,
        features: &[i8],
        s: &'s mut SpeechScratch,
    ) -> Result<Option<&'s [usize]>, Error> {
        let Some(decoder) = &self.decoder else {
            return Ok(None);
        };
        self.encode_with(isa, features, s)?;
        let SpeechScratch {
            enc,
            memory,
            decoder_state,
            decoder_labels,
            labels,
            ..
        } = s;
        // Validation allows a decoder over int8 outputs only.
        let x = enc.output(&self.layers).as_width::<i8>()?;
        let steps = x.len() / self.output.weights.cols().max(1);
        let state = decoder_state.get_or_insert_with(|| decoder.zero_state());
        decoder.prepare_into(isa, x, memory)?;
        decoder.greedy_into(isa, memory, max_labels(steps), state, decoder_labels)?;
        labels.clear();
        labels.extend(decoder_labels.iter().map(|&l| l as usize + 1));
        Ok(Some(labels))
    }

    /// Greedy CTC decoding of [`logits`](Self::logits): the best class of
    /// each step (the lowest index on ties), repeats merged, blanks dropped.
    /// Returns class indices (never 0).
    pub fn greedy_decode(&self, logits: &[i32]) -> Vec<usize> {
        let mut out = Vec::new();
        self.greedy_decode_into(logits, &mut out);
        out
    }

    /// The text of decoded classes (never 0): their labels joined by the
    /// model's separator.
    pub fn transcript(&self, classes: &[usize]) -> String {
        let mut text = String::new();
        for (i, &k) in classes.iter().enumerate() {
            if i > 0 {
                text.push_str(&self.separator);
            }
            text.push_str(self.labels.get(k).map_or("", String::as_str));
        }
        text
    }

    /// [`greedy_decode`](Self::greedy_decode) into `out` (cleared first).
    pub fn greedy_decode_into(&self, logits: &[i32], out: &mut Vec<usize>) {
        out.clear();
        let mut previous = 0;
        for row in logits.chunks_exact(self.classes()) {
            greedy_step(row, &mut previous, out);
        }
    }

    /// Whether every encoder layer reads the past only, so that the model
    /// can transcribe audio as it arrives ([`stream`](Self::stream)).
    pub fn is_unidirectional(&self) -> bool {
        self.layers.is_unidirectional()
    }
}

/// One step of greedy CTC decoding: the best class of `row` (the lowest
/// index on ties) is written to `out` unless it is the blank or repeats
/// `previous`, the step before's best, which it then becomes.
pub(crate) fn greedy_step(row: &[i32], previous: &mut usize, out: &mut Vec<usize>) {
    let mut best = 0;
    for (k, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = k;
        }
    }
    if best != 0 && best != *previous {
        out.push(best);
    }
    *previous = best;
}

/// The buffers of transcribing with a speech model, owned by the caller
/// and reused across utterances. Made with
/// [`IntSpeechModel::scratch`] (pre-sized: no allocation for utterances up to
/// its size) or grown on first use by the allocating methods.
#[derive(Debug, Clone)]
pub struct SpeechScratch {
    max_frames: usize,
    conv: Vec<i8>,
    /// The stacked int8 frames entering the encoder.
    frames: Vec<i8>,
    enc: EncoderScratch,
    logits: Vec<i32>,
    labels: Vec<usize>,
    memory: AttentionMemory,
    decoder_state: Option<DecoderState>,
    decoder_labels: Vec<u32>,
}

impl SpeechScratch {
    /// Empty buffers with no size limit (they grow as needed).
    fn empty() -> Self {
        SpeechScratch {
            max_frames: usize::MAX,
            conv: Vec::new(),
            frames: Vec::new(),
            enc: EncoderScratch::default(),
            logits: Vec::new(),
            labels: Vec::new(),
            memory: AttentionMemory::default(),
            decoder_state: None,
            decoder_labels: Vec::new(),
        }
    }

    /// The longest utterance (feature frames) this scratch takes.
    pub fn max_frames(&self) -> usize {
        self.max_frames
    }

    /// The encoder's outputs of the last utterance `model` encoded in
    /// this scratch (`steps × width`, of the model's activation width).
    pub fn encoded(&self, model: &IntSpeechModel) -> Encoded<'_> {
        self.enc.output(&model.layers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_models::random_speech_model;

    fn tiny(stack: usize, mels: u32, hidden: usize) -> IntSpeechModel {
        random_speech_model(7, stack, mels, hidden, true)
    }

    #[test]
    fn padding_is_the_zero_point_and_shapes_follow_the_stack() {
        // Without a convolution, padding the features is padding the steps.
        let m = random_speech_model(7, 3, 4, 5, false);
        m.validate().unwrap();
        let isa = Isa::detect();
        // 7 frames → 3 steps; the last step's missing 2 frames are padding.
        let frames: Vec<i8> = (0..7 * 4).map(|i| (i * 13 % 200) as i8).collect();
        let logits = m.logits(isa, &frames).unwrap();
        assert_eq!(logits.len(), 3 * 3);
        let mut padded = frames.clone();
        let zp = m.input_zero_point as i8;
        padded.extend(core::iter::repeat_n(zp, 2 * 4));
        assert_eq!(m.logits(isa, &padded).unwrap(), logits);
        // No frames at all: one step of padding.
        assert_eq!(m.logits(isa, &[]).unwrap().len(), 3);
        assert!(m.logits(isa, &frames[..5]).is_err());
        assert_eq!(m.logits(Isa::Scalar, &frames).unwrap(), logits);
        // With one, the convolution's outputs are padded: its zero point,
        // not its response to padded features.
        let m = tiny(3, 4, 5);
        let c = m.conv.as_ref().unwrap();
        let encoded = m.encode::<i8>(isa, &frames).unwrap();
        let mut stacked = c.run(&frames).unwrap();
        stacked.extend(core::iter::repeat_n(
            c.output_zero_point as i8,
            2 * c.output_dim(),
        ));
        let mut x = stacked;
        let EncoderLayers::Int8(layers) = &m.layers else {
            panic!("an int8 encoder")
        };
        for layer in layers {
            let mut y = vec![0i8; 3 * 2 * layer.forward.hidden];
            layer.run(isa, &x, &mut y).unwrap();
            x = y;
        }
        assert_eq!(encoded, x);
    }

    #[test]
    fn sixteen_bit_encoders_read_the_frames_widened_and_run_their_layers() {
        use crate::test_models::random_wide_speech_model;
        for with_conv in [false, true] {
            let m = random_wide_speech_model(8, 2, 4, 5, with_conv, false);
            assert_eq!(m.layers.activation_bits(), 16);
            // Extremes of the int8 frames included.
            let frames: Vec<i8> = (0..9 * 4)
                .map(|i| [-128, 127, (i * 37 % 256) as u8 as i8][i % 3])
                .collect();
            let (mut x, pad) = match &m.conv {
                Some(c) => (c.run(&frames).unwrap(), c.output_zero_point),
                None => (frames.clone(), m.input_zero_point),
            };
            x.resize(5 * 2 * m.frame_dim(), pad as i8);
            // The int8 frames enter as q − z: the same reals on a symmetric grid.
            let mut x: Vec<i16> = x.iter().map(|&q| (q as i32 - pad) as i16).collect();
            let EncoderLayers::Int16(layers) = &m.layers else {
                panic!("an int16 encoder")
            };
            for layer in layers {
                let mut y = vec![0i16; 5 * layer.output_width()];
                layer.run(Isa::Scalar, &x, &mut y).unwrap();
                x = y;
            }
            // Wider than int8: the check is not of values int8 could hold.
            assert!(x.iter().any(|&v| !(-128..=127).contains(&v)));
            let mut expected = Vec::new();
            for row in x.chunks_exact(m.output.weights.cols()) {
                let mut out = vec![0; m.classes()];
                m.output.logits(Isa::Scalar, row, &mut out).unwrap();
                expected.extend(out);
            }
            for isa in Isa::available() {
                assert_eq!(m.encode::<i16>(isa, &frames).unwrap(), x, "{isa:?}");
                assert_eq!(m.logits(isa, &frames).unwrap(), expected, "{isa:?}");
                let mut s = m.scratch(isa, 9).unwrap();
                m.logits_with(isa, &frames, &mut s).unwrap();
                assert_eq!(s.encoded(&m), Encoded::Int16(&x));
                assert_eq!(m.ctc_logits(isa, &x).unwrap(), expected);
            }
            // Asked for the other width, it says so.
            let e = alloc::format!("{}", m.encode::<i8>(Isa::Scalar, &frames).unwrap_err());
            assert!(e.contains("16-bit activations"), "{e}");
            assert_eq!(m.attention_greedy(Isa::Scalar, &frames).unwrap(), None);
        }
        // An attention decoder reads int8 outputs: refused with int16 ones.
        let mut m = random_wide_speech_model(8, 2, 4, 5, false, false);
        m.decoder = tiny(2, 4, 5).decoder;
        let e = alloc::format!("{}", m.validate().unwrap_err());
        assert!(e.contains("CTC only"), "{e}");
    }

    #[test]
    fn greedy_decoding_merges_repeats_and_drops_blanks() {
        let m = tiny(1, 2, 3);
        #[rustfmt::skip]
        let logits = [
            9, 1, 2,   // blank
            0, 5, 1,   // a
            0, 5, 5,   // a (tie → lowest index)
            9, 0, 0,   // blank
            0, 7, 2,   // a again, after a blank
            0, 1, 3,   // b
        ];
        assert_eq!(m.greedy_decode(&logits), [1, 1, 2]);
    }

    #[test]
    fn the_attention_decoder_reads_the_encoder_outputs() {
        let m = tiny(2, 4, 5);
        let isa = Isa::detect();
        let frames: Vec<i8> = (0..9 * 4).map(|i| (i * 29 % 250) as i8).collect();
        let labels = m.attention_greedy(isa, &frames).unwrap().unwrap();
        // At most one label per encoder step (5 steps here), each a label
        // class (1 or 2), never the blank.
        assert!(labels.len() <= 5 && labels.iter().all(|&l| l == 1 || l == 2));
        assert_eq!(
            m.attention_greedy(Isa::Scalar, &frames).unwrap().unwrap(),
            labels
        );
        // Greedy decoding is teacher forcing on its own output.
        let d = m.decoder.as_ref().unwrap();
        let encoded = m.encode(isa, &frames).unwrap();
        let memory = d.prepare(isa, &encoded).unwrap();
        let mut tokens = vec![d.start];
        tokens.extend(labels.iter().map(|&l| l as u32 - 1));
        let forced = d.run_forced(isa, &memory, &tokens).unwrap();
        let argmax = |row: &[i32]| {
            let mut best = 0;
            for (k, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = k;
                }
            }
            best as u32
        };
        for (t, row) in forced.chunks_exact(3).enumerate() {
            let expected = tokens.get(t + 1).copied().unwrap_or(d.end);
            if t < labels.len() || labels.len() < 5 {
                assert_eq!(argmax(row), expected, "step {t}");
            }
        }
        let mut no_decoder = m.clone();
        no_decoder.decoder = None;
        assert_eq!(no_decoder.attention_greedy(isa, &frames).unwrap(), None);
    }

    #[test]
    fn validation_names_mismatched_parts() {
        let mut m = tiny(2, 3, 4);
        m.labels.pop();
        assert!(m.validate().is_err());
        let mut m = tiny(2, 3, 4);
        m.stack = 3;
        assert!(m.validate().is_err());
        let mut m = tiny(2, 3, 4);
        let EncoderLayers::Int8(layers) = &mut m.layers else {
            panic!("an int8 encoder")
        };
        layers[0].backward.as_mut().unwrap().h_zero_point += 1;
        assert!(m.validate().is_err());
        let mut m = tiny(2, 3, 4);
        m.input_zero_point = 200;
        assert!(m.validate().is_err());
        let mut m = tiny(2, 3, 4);
        m.decoder.as_mut().unwrap().attention.context_zero_point += 1;
        assert!(m.validate().is_err());
        let mut m = tiny(2, 3, 4);
        m.decoder.as_mut().unwrap().start = 9;
        assert!(m.validate().is_err());
        // The decoder's last class ends a transcript.
        let mut m = tiny(2, 3, 4);
        m.decoder.as_mut().unwrap().end = 0;
        let e = alloc::format!("{}", m.validate().unwrap_err());
        assert!(e.contains("end-of-sentence class must be its last"), "{e}");
    }
}
