//! The integer attention decoder: one step reads the previous label, runs
//! the decoder LSTM, attends over the encoder's int8 outputs with the new
//! h as query, and scores the next label from `[h; context]`.
//!
//! The context comes out of the attention on the decoder's h grid, so
//! `[h; context]` is one int8 vector on one grid and the output layer is an
//! ordinary int32-logit layer. Decoding is greedy here (an integer argmax
//! per step); beam search lives with the tools, reading the same int32
//! logits through [`IntAttentionDecoder::step`].

use alloc::vec;
use alloc::vec::Vec;

use crate::error::{check_len, Error};
use crate::kernels::Isa;
use crate::layers::attention::{AttentionMemory, AttentionScratch};
use crate::layers::{
    AttentionScore, IntAttention, IntEmbedding, IntLstmCell, IntOutputLayer, LstmScratch, LstmState,
};

/// An attention decoder on integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntAttentionDecoder {
    /// Label embeddings on the decoder LSTM's input grid.
    pub embedding: IntEmbedding,
    /// The decoder LSTM.
    pub cell: IntLstmCell,
    /// Additive attention: memory on the encoder's output grid, query and
    /// context on the decoder's h grid.
    pub attention: IntAttention,
    /// `[h; context]` → int32 scores of the next label.
    pub output: IntOutputLayer,
    /// The input label that starts decoding.
    pub start: u32,
    /// The output class that ends it.
    pub end: u32,
}

/// A decoder's running state, owned by the caller (clone it to branch, as
/// beam search does).
#[derive(Debug, Clone)]
pub struct DecoderState {
    /// The decoder LSTM's state.
    pub lstm: LstmState,
    scratch: LstmScratch,
    attention: AttentionScratch,
    weights: Vec<i32>,
    joined: Vec<i8>,
    logits: Vec<i32>,
}

impl DecoderState {
    /// The attention weights of the last step (Q0.15, one per memory step).
    pub fn attention_weights(&self) -> &[i32] {
        &self.weights
    }
}

impl IntAttentionDecoder {
    /// Checks that the parts connect over a memory of `memory_dim` values
    /// per step.
    pub fn validate(&self, memory_dim: usize) -> Result<(), Error> {
        self.cell.validate()?;
        self.attention.validate()?;
        self.output.validate()?;
        check_len(
            "decoder embedding width",
            self.cell.input,
            self.embedding.dim(),
        )?;
        check_len(
            "decoder attention memory width",
            memory_dim,
            self.attention.memory_dim,
        )?;
        match &self.attention.score {
            AttentionScore::Additive { w_query, .. } => check_len(
                "decoder attention query width",
                self.cell.hidden,
                w_query.cols(),
            )?,
            AttentionScore::Dot { .. } => {
                return Err(Error::InvalidParameter {
                    what: "the speech decoder uses additive attention",
                })
            }
        }
        if self.attention.context_zero_point != self.cell.h_zero_point {
            return Err(Error::InvalidParameter {
                what: "the decoder's context must be on its h grid",
            });
        }
        check_len(
            "decoder output input",
            self.cell.hidden + memory_dim,
            self.output.weights.cols(),
        )?;
        if self.start as usize >= self.embedding.vocab() {
            return Err(Error::UnknownToken {
                token: self.start,
                vocab: self.embedding.vocab(),
            });
        }
        if self.end as usize >= self.output.classes() {
            return Err(Error::InvalidParameter {
                what: "the end-of-sentence class is not an output class",
            });
        }
        Ok(())
    }

    /// The state before the first label.
    pub fn zero_state(&self) -> DecoderState {
        DecoderState {
            lstm: self.cell.zero_state(),
            scratch: self.cell.step_scratch(),
            attention: AttentionScratch::default(),
            weights: Vec::new(),
            joined: Vec::new(),
            logits: Vec::new(),
        }
    }

    /// Sets `state` back to the state before the first label, keeping its
    /// buffers (no allocation).
    pub fn reset_state(&self, state: &mut DecoderState) {
        self.cell.reset_state(&mut state.lstm);
    }

    /// [`prepare`](Self::prepare) into `memory`, reusing its buffers.
    pub fn prepare_into(
        &self,
        isa: Isa,
        encoded: &[i8],
        memory: &mut AttentionMemory,
    ) -> Result<(), Error> {
        self.attention.prepare_into(isa, encoded, memory)
    }

    /// Prepares the encoder's outputs (`steps × memory_dim` int8) as the
    /// attention memory (the keys are computed once per utterance).
    pub fn prepare(&self, isa: Isa, encoded: &[i8]) -> Result<AttentionMemory, Error> {
        self.attention.prepare(isa, encoded)
    }

    /// One step: reads label `token`, writes the next label's int32 scores.
    pub fn step(
        &self,
        isa: Isa,
        token: u32,
        memory: &AttentionMemory,
        state: &mut DecoderState,
        logits: &mut [i32],
    ) -> Result<(), Error> {
        let x = self.embedding.lookup(token)?;
        self.cell
            .step(isa, x, &mut state.lstm, &mut state.scratch)?;
        let h = self.cell.hidden;
        let d = self.attention.memory_dim;
        state.weights.resize(memory.steps(), 0);
        state.joined.resize(h + d, 0);
        state.joined[..h].copy_from_slice(&state.lstm.h);
        let (query, context) = state.joined.split_at_mut(h);
        self.attention.attend_with(
            isa,
            memory,
            query,
            &mut state.weights,
            context,
            &mut state.attention,
        )?;
        self.output.logits(isa, &state.joined, logits)
    }

    /// Teacher forcing: the scores after each of `tokens` (`tokens.len() ×
    /// classes`).
    pub fn run_forced(
        &self,
        isa: Isa,
        memory: &AttentionMemory,
        tokens: &[u32],
    ) -> Result<Vec<i32>, Error> {
        let k = self.output.classes();
        let mut state = self.zero_state();
        let mut logits = vec![0i32; tokens.len() * k];
        for (t, out) in tokens.iter().zip(logits.chunks_exact_mut(k)) {
            self.step(isa, *t, memory, &mut state, out)?;
        }
        Ok(logits)
    }

    /// Greedy decoding: the best class each step (lowest index on ties), fed
    /// back, until the end class or `max_len` labels.
    pub fn greedy(
        &self,
        isa: Isa,
        memory: &AttentionMemory,
        max_len: usize,
    ) -> Result<Vec<u32>, Error> {
        let mut state = self.zero_state();
        let mut out = Vec::new();
        self.greedy_into(isa, memory, max_len, &mut state, &mut out)?;
        Ok(out)
    }

    /// [`greedy`](Self::greedy) from `state` (reset first) into `out`: no
    /// allocation once the buffers have grown to this memory and `max_len`.
    pub fn greedy_into(
        &self,
        isa: Isa,
        memory: &AttentionMemory,
        max_len: usize,
        state: &mut DecoderState,
        out: &mut Vec<u32>,
    ) -> Result<(), Error> {
        self.reset_state(state);
        out.clear();
        let mut logits = core::mem::take(&mut state.logits);
        logits.clear();
        logits.resize(self.output.classes(), 0);
        let result = self.greedy_steps(isa, memory, max_len, state, &mut logits, out);
        state.logits = logits;
        result
    }

    fn greedy_steps(
        &self,
        isa: Isa,
        memory: &AttentionMemory,
        max_len: usize,
        state: &mut DecoderState,
        logits: &mut [i32],
        out: &mut Vec<u32>,
    ) -> Result<(), Error> {
        let mut token = self.start;
        while out.len() < max_len {
            self.step(isa, token, memory, state, logits)?;
            let mut best = 0;
            for (k, &v) in logits.iter().enumerate() {
                if v > logits[best] {
                    best = k;
                }
            }
            if best as u32 == self.end {
                break;
            }
            out.push(best as u32);
            token = best as u32;
        }
        Ok(())
    }
}
