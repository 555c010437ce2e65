//! The language model (model kind 1): embedding, stacked LSTM/GRU layers
//! with optional residual adds, output layer, vocabulary.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::codec::{invalid, Reader, Writer};
use super::{FormatError, Layout};
use crate::layers::QuantizedAdd;
use crate::model::{IntLanguageModel, RecurrentCell, StackedLayer};
use crate::vocabulary::{TokenLevel, Vocabulary};

/// Serialises a language model to the bytes of a `.irnn` file (the
/// compact layout).
pub fn write_language_model(model: &IntLanguageModel) -> Vec<u8> {
    write_language_model_as(model, Layout::Compact)
}

/// Serialises a language model in `layout`.
pub fn write_language_model_as(model: &IntLanguageModel, layout: Layout) -> Vec<u8> {
    super::write_for_needs(layout, super::Needs::Base, |w, _| write_payload(w, model))
}

fn write_payload(w: &mut Writer, model: &IntLanguageModel) {
    w.u8(1); // model kind: language model
    w.embedding(&model.embedding);
    w.u32(model.layers.len() as u32);
    for layer in &model.layers {
        match &layer.residual {
            Some(add) => {
                w.u8(1);
                w.multiplier(add.multiplier_a);
                w.multiplier(add.multiplier_b);
                w.i32(add.zero_point_a);
                w.i32(add.zero_point_b);
                w.i32(add.zero_point_out);
            }
            None => w.u8(0),
        }
        match &layer.cell {
            RecurrentCell::Lstm(c) => {
                w.u8(1);
                w.lstm(c);
            }
            RecurrentCell::Gru(c) => {
                w.u8(2);
                w.gru(c);
            }
        }
    }
    w.output(&model.output);
    w.u8(match model.vocabulary.level {
        TokenLevel::Word => 1,
        TokenLevel::Char => 2,
    });
    w.strings(&model.vocabulary.tokens);
}

impl Reader<'_> {
    pub(in crate::format) fn vocabulary(
        &mut self,
        vocab: usize,
    ) -> Result<Vocabulary, FormatError> {
        let level = match self.u8("token level")? {
            1 => TokenLevel::Word,
            2 => TokenLevel::Char,
            l => {
                return Err(invalid(alloc::format!(
                    "token level {l} is unknown (1 = word, 2 = character)"
                )))
            }
        };
        let tokens = self.strings("tokens", vocab)?;
        Ok(Vocabulary { level, tokens })
    }

    pub(in crate::format) fn language_model(&mut self) -> Result<IntLanguageModel, FormatError> {
        let embedding = self.embedding()?;
        let layers = self.layer_count()?;
        let mut stack = Vec::new();
        for _ in 0..layers {
            let residual = match self.u8("residual flag")? {
                0 => None,
                1 => Some(QuantizedAdd {
                    multiplier_a: self.multiplier("residual multiplier a")?,
                    multiplier_b: self.multiplier("residual multiplier b")?,
                    zero_point_a: self.i32("residual zero point a")?,
                    zero_point_b: self.i32("residual zero point b")?,
                    zero_point_out: self.i32("residual output zero point")?,
                }),
                f => {
                    return Err(invalid(alloc::format!(
                        "residual flag {f} (must be 0 or 1)"
                    )))
                }
            };
            let cell =
                match self.u8("cell kind")? {
                    1 => RecurrentCell::Lstm(Box::new(self.lstm()?)),
                    2 if !cfg!(feature = "gru") => return Err(invalid(
                        "a GRU layer: this build of the runtime reads no GRU cells (feature `gru`)",
                    )),
                    2 => RecurrentCell::Gru(Box::new(self.gru()?)),
                    k => {
                        return Err(invalid(alloc::format!(
                            "cell kind {k} is unknown (1 = LSTM, 2 = GRU)"
                        )))
                    }
                };
            stack.push(StackedLayer { cell, residual });
        }
        let output = self.output()?;
        let vocabulary = self.vocabulary(embedding.vocab())?;
        Ok(IntLanguageModel {
            vocabulary,
            embedding,
            layers: stack,
            output,
        })
    }
}
