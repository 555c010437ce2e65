//! Transcribing as audio arrives: the greedy CTC transcript of a
//! unidirectional speech model, fed feature frames in chunks of any size.
//!
//! Every part of such a model reads the past only — forward LSTM layers,
//! an output layer per step, greedy decoding that remembers the step
//! before — so the stream carries each layer's state and the last best
//! class from one chunk to the next and writes each label as soon as its
//! step is computed. Frames that do not yet fill a step (`stack` frames)
//! wait for the next chunk; [`SpeechStream::finish`] pads the last step
//! with the zero point, as whole-utterance decoding does. The transcript
//! is therefore exactly [`IntSpeechModel::ctc_greedy_with`]'s for the same
//! frames, however they were chunked (tested below).

use alloc::vec::Vec;

use super::encoder::EncoderScratch;
use super::{greedy_step, IntSpeechModel};
use crate::error::Error;
use crate::kernels::Isa;

/// A streaming transcription in progress ([`IntSpeechModel::stream`]).
#[derive(Debug, Clone)]
pub struct SpeechStream<'m> {
    model: &'m IntSpeechModel,
    isa: Isa,
    /// Features of the frames that do not fill a step yet.
    pending: Vec<i8>,
    /// Model steps computed so far.
    steps: usize,
    /// The encoder's buffers, with each layer's state carried across
    /// chunks.
    enc: EncoderScratch,
    /// The whole steps of a chunk (int8 frames).
    x: Vec<i8>,
    logits: Vec<i32>,
    /// The best class of the last step (repeats merge across chunks).
    previous: usize,
    labels: Vec<usize>,
    finished: bool,
}

impl IntSpeechModel {
    /// A stream that transcribes this model's int8 feature frames as they
    /// arrive (greedy CTC). Refused unless every encoder layer is
    /// unidirectional, there is no convolutional front end (it looks one
    /// frame ahead) and the features are normalised with fixed statistics
    /// and no per-utterance range ([`super::FeatureNorm::Global`],
    /// `range_db` 0) — the parts that need the whole utterance.
    pub fn stream(&self, isa: Isa) -> Result<SpeechStream<'_>, Error> {
        let refuse = |what| Err(Error::InvalidParameter { what });
        if !self.is_unidirectional() {
            return refuse("streaming needs a unidirectional encoder (trained with --unidirectional); this one reads each utterance backwards too");
        }
        if self.conv.is_some() {
            return refuse(
                "streaming does not support a convolutional front end (it reads the next frame)",
            );
        }
        if !self.front_end.norm.is_causal() || self.front_end.range_db != 0 {
            return refuse("streaming needs features normalised with fixed statistics; this model normalises each whole utterance");
        }
        let mut enc = EncoderScratch::default();
        enc.reset_carried(&self.layers);
        Ok(SpeechStream {
            model: self,
            isa,
            pending: Vec::new(),
            steps: 0,
            enc,
            x: Vec::new(),
            logits: Vec::new(),
            previous: 0,
            labels: Vec::new(),
            finished: false,
        })
    }
}

impl SpeechStream<'_> {
    /// Feeds `features` (whole frames, `frames × features`) and decodes
    /// every step they complete. Returns how many labels were added to
    /// [`labels`](Self::labels).
    pub fn push(&mut self, features: &[i8]) -> Result<usize, Error> {
        if self.finished {
            return Err(Error::InvalidParameter {
                what: "the stream has finished (reset it to start another utterance)",
            });
        }
        let dim = self.model.features();
        if !features.len().is_multiple_of(dim) {
            return Err(Error::ShapeMismatch {
                what: "streamed speech features (a whole number of frames)",
                expected: dim,
                found: features.len(),
            });
        }
        self.pending.extend_from_slice(features);
        let step = dim * self.model.stack;
        let whole = self.pending.len() / step * step;
        let before = self.labels.len();
        self.logits.clear();
        if whole > 0 {
            let mut ready = core::mem::take(&mut self.x);
            ready.clear();
            ready.extend(self.pending.drain(..whole));
            self.run_steps(ready)?;
        }
        Ok(self.labels.len() - before)
    }

    /// Ends the utterance: the frames that do not fill a step are padded
    /// with the features' zero point and decoded (one step of padding if
    /// no frame came at all, as whole-utterance decoding does). Returns
    /// how many labels were added.
    pub fn finish(&mut self) -> Result<usize, Error> {
        if self.finished {
            return Ok(0);
        }
        let step = self.model.features() * self.model.stack;
        let before = self.labels.len();
        self.logits.clear();
        if !self.pending.is_empty() || self.steps == 0 {
            let mut ready = core::mem::take(&mut self.x);
            ready.clear();
            ready.append(&mut self.pending);
            ready.resize(step, self.model.input_zero_point as i8);
            self.run_steps(ready)?;
        }
        self.finished = true;
        Ok(self.labels.len() - before)
    }

    /// Starts a new utterance: zero states, no labels (buffers are kept).
    pub fn reset(&mut self) {
        self.enc.reset_carried(&self.model.layers);
        self.pending.clear();
        self.labels.clear();
        self.logits.clear();
        self.steps = 0;
        self.previous = 0;
        self.finished = false;
    }

    /// The transcript so far (class indices, never 0).
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// The class scores (`steps × classes`) of the steps the last
    /// [`push`](Self::push) or [`finish`](Self::finish) decoded (empty if
    /// it completed none): for a caller's own search over the scores.
    pub fn scores(&self) -> &[i32] {
        &self.logits
    }

    /// Model steps decoded so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Feature frames pushed but not yet decoded (fewer than a step).
    pub fn pending_frames(&self) -> usize {
        self.pending.len() / self.model.features()
    }

    /// Runs whole steps (`x`: `steps × stack·features`) through every
    /// layer from the carried states, then the output layer and greedy
    /// decoding of each step.
    fn run_steps(&mut self, x: Vec<i8>) -> Result<(), Error> {
        let model = self.model;
        let steps = x.len() / (model.features() * model.stack);
        let result = self.decode(&x, steps);
        self.x = x;
        result
    }

    fn decode(&mut self, x: &[i8], steps: usize) -> Result<(), Error> {
        let model = self.model;
        self.enc
            .run(&model.layers, self.isa, x, model.input_zero_point, true)?;
        self.enc
            .output(&model.layers)
            .logits_into(&model.output, self.isa, &mut self.logits)?;
        for scores in self.logits.chunks_exact(model.classes()) {
            greedy_step(scores, &mut self.previous, &mut self.labels);
        }
        self.steps += steps;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::speech::SpeechScratch;
    use crate::test_models::{
        random_speech_model, random_streaming_model, random_wide_speech_model,
    };

    /// Frames with long runs of similar values (so that labels repeat
    /// across chunk boundaries) and extremes.
    fn frames(n: usize, mels: usize, seed: usize) -> Vec<i8> {
        (0..n * mels)
            .map(|i| match (i / mels / 3 + seed) % 5 {
                0 => -128,
                1 => 127,
                k => ((i * 31 + k * 57 + seed) % 256) as u8 as i8,
            })
            .collect()
    }

    #[test]
    fn chunked_transcripts_equal_whole_utterance_transcripts() {
        // Transcripts of several labels, so that chunks cut through them.
        let mut long = 0;
        for (stack, mels, hidden, bits) in [(1, 4, 5, 8), (3, 4, 6, 8), (2, 7, 9, 8), (2, 5, 6, 16)]
        {
            let seed = 11 + stack as u64;
            let mut m = match bits {
                8 => random_streaming_model(seed, stack, mels, hidden),
                _ => random_wide_speech_model(seed, stack, mels, hidden, false, true),
            };
            // Biases that centre each class's scores, so that the scores
            // follow the inputs and several classes win in turn.
            m.output.bias = alloc::vec![0; m.classes()].into();
            let probe = m
                .logits(Isa::Scalar, &frames(61, mels as usize, 5))
                .unwrap();
            let rows = (probe.len() / m.classes()) as i64;
            m.output.bias = (0..m.classes())
                .map(|k| {
                    let sum: i64 = probe
                        .iter()
                        .skip(k)
                        .step_by(m.classes())
                        .map(|&v| v as i64)
                        .sum();
                    (-sum / rows) as i32
                })
                .collect();
            for isa in Isa::available() {
                for (n, seed) in [(0, 0), (1, 1), (2, 2), (17, 3), (40, 4), (61, 5)] {
                    let f = frames(n, mels as usize, seed);
                    let mut s = SpeechScratch::empty();
                    let whole = m.ctc_greedy_with(isa, &f, &mut s).unwrap().to_vec();
                    let logits = m.logits(isa, &f).unwrap();
                    long += (whole.len() >= 3) as usize;
                    let mut stream = m.stream(isa).unwrap();
                    for chunk in [1, 2, 5, 7, 20, 1000] {
                        stream.reset();
                        let (mut added, mut scores) = (0, Vec::new());
                        for c in f.chunks(chunk * mels as usize) {
                            added += stream.push(c).unwrap();
                            scores.extend_from_slice(stream.scores());
                            assert!(stream.pending_frames() < stack);
                        }
                        added += stream.finish().unwrap();
                        scores.extend_from_slice(stream.scores());
                        assert_eq!(scores, logits, "{isa:?} n={n} chunk={chunk}");
                        assert_eq!(stream.labels(), whole, "{isa:?} n={n} chunk={chunk}");
                        assert_eq!(added, whole.len());
                        assert_eq!(stream.steps(), logits.len() / m.classes());
                    }
                }
            }
        }
        assert!(long >= 8, "{long}");
    }

    #[test]
    fn streams_are_refused_for_models_that_need_the_whole_utterance() {
        let isa = Isa::Scalar;
        let e = random_speech_model(3, 2, 4, 5, false)
            .stream(isa)
            .unwrap_err();
        assert!(alloc::format!("{e}").contains("unidirectional"), "{e}");
        let mut m = random_streaming_model(3, 2, 4, 5);
        m.front_end.norm = crate::speech::FeatureNorm::PerUtterance;
        let e = m.stream(isa).unwrap_err();
        assert!(alloc::format!("{e}").contains("fixed statistics"), "{e}");
        let mut m = random_streaming_model(3, 2, 4, 5);
        m.conv = random_speech_model(3, 2, 4, 5, true).conv;
        assert!(alloc::format!("{}", m.stream(isa).unwrap_err()).contains("convolutional"));
    }

    #[test]
    fn partial_frames_and_finished_streams_are_errors() {
        let m = random_streaming_model(5, 2, 4, 5);
        let mut stream = m.stream(Isa::Scalar).unwrap();
        assert!(stream.push(&[0; 3]).is_err());
        stream.push(&[0; 4]).unwrap();
        assert_eq!(stream.pending_frames(), 1);
        stream.finish().unwrap();
        assert_eq!(stream.steps(), 1);
        assert!(alloc::format!("{}", stream.push(&[0; 4]).unwrap_err()).contains("finished"));
        assert_eq!(stream.finish().unwrap(), 0);
        stream.reset();
        assert_eq!((stream.steps(), stream.labels().len()), (0, 0));
        stream.push(&[0; 8]).unwrap();
        assert_eq!(stream.steps(), 1);
    }
}
