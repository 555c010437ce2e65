//! The token list a model was trained with. The runtime itself reads token
//! ids; the list travels in the model file so that tools (evaluation, text
//! generation) can turn text into ids and back without the training data.

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::Error;

/// How text was split into tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenLevel {
    /// Whitespace-separated words, `<eos>` at each line end.
    Word,
    /// Single characters, `\n` included.
    Char,
}

/// Token `id` is `tokens[id]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vocabulary {
    /// Granularity.
    pub level: TokenLevel,
    /// The tokens, in id order.
    pub tokens: Vec<String>,
}

impl Vocabulary {
    /// The id of `token`, or an error naming it.
    pub fn id(&self, token: &str) -> Option<u32> {
        self.tokens
            .iter()
            .position(|t| t == token)
            .map(|i| i as u32)
    }

    /// The text of `id`.
    pub fn token(&self, id: u32) -> Result<&str, Error> {
        self.tokens
            .get(id as usize)
            .map(String::as_str)
            .ok_or(Error::UnknownToken {
                token: id,
                vocab: self.tokens.len(),
            })
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True for an empty list.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}
