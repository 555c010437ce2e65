//! Additive attention: key and query projections, score table, the
//! softmax's exp table, context grid.

use crate::layers::{AttentionScore, IntAttention};

use crate::format::codec::{Reader, Writer};
use crate::format::FormatError;

impl Writer {
    /// Additive attention only (the one the speech decoder uses).
    pub(in crate::format) fn attention(&mut self, a: &IntAttention) {
        self.u32(a.memory_dim as u32);
        self.i32(a.memory_zero_point);
        if let AttentionScore::Additive {
            w_key,
            key_requant,
            w_query,
            query_requant,
            tanh,
            v,
        } = &a.score
        {
            self.matrix(w_key);
            self.requant(key_requant);
            self.matrix(w_query);
            self.requant(query_requant);
            self.pwl(tanh);
            self.tensor_i8(&[v.len() as u32], v);
        }
        self.multiplier(a.score_to_exp);
        self.pwl(&a.exp);
        self.multiplier(a.context_multiplier);
        self.i32(a.context_zero_point);
    }
}

impl Reader<'_> {
    pub(in crate::format) fn attention(&mut self) -> Result<IntAttention, FormatError> {
        let memory_dim = self.dim("attention memory width")?;
        let memory_zero_point = self.i32("attention memory zero point")?;
        let w_key = self.matrix("attention W_key", 0, memory_dim)?;
        let a = w_key.rows() as u32;
        let key_requant = self.requant("attention key requantization", a)?;
        let w_query = self.matrix("attention W_query", a, 0)?;
        let query_requant = self.requant("attention query requantization", a)?;
        let tanh = self.pwl("attention tanh PWL")?;
        let (_, v) = self.i8s("attention v", &[a])?;
        let attention = IntAttention {
            score: AttentionScore::Additive {
                w_key,
                key_requant,
                w_query,
                query_requant,
                tanh,
                v,
            },
            memory_dim: memory_dim as usize,
            memory_zero_point,
            score_to_exp: self.multiplier("attention score multiplier")?,
            exp: self.pwl("attention exp PWL")?,
            context_multiplier: self.multiplier("attention context multiplier")?,
            context_zero_point: self.i32("attention context zero point")?,
        };
        attention.validate()?;
        Ok(attention)
    }
}
