//! Language models trained elsewhere, brought into irnn: a PyTorch
//! `state_dict` saved with safetensors, in the layout of PyTorch's
//! word_language_model example (`encoder.weight`, `rnn.weight_ih_l{k}`,
//! `rnn.weight_hh_l{k}`, `rnn.bias_ih_l{k}`, `rnn.bias_hh_l{k}`,
//! `decoder.weight`, `decoder.bias`), or an ONNX graph of the same model
//! ([`onnx`], mapped onto those names), with its vocabulary from a file.
//!
//! irnn's float model already uses PyTorch's names, shapes and gate orders
//! (LSTM i, f, g, o; GRU r, z, n with the reset after the recurrent
//! product), so importing is checking, not converting: the architecture is
//! inferred from the names and shapes, and everything irnn cannot represent
//! — projections, bidirectional layers, a missing bias, layers of different
//! kinds or sizes, tensors it does not know — is a named error, never a
//! guess. Tied embeddings (a `decoder.weight` that is the `encoder.weight`,
//! which safetensors stores once with an alias in its metadata) become two
//! equal matrices.

use std::collections::{BTreeMap, BTreeSet};

use crate::lm::data::{Level, Vocab};
use crate::lm::model::CellKind;
use crate::lm::{LanguageModel, LmConfig};
use crate::nn::rng::TrainRng;

/// Why a model could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Not a safetensors file.
    #[error("not a safetensors file: {0}")]
    NotSafetensors(String),
    /// Not an ONNX model, or a graph irnn does not import.
    #[error("ONNX: {0}")]
    Onnx(String),
    /// A tensor the layout needs is absent.
    #[error("{name} is missing{hint}")]
    Missing {
        /// Its name (with the prefix).
        name: String,
        /// What to try.
        hint: String,
    },
    /// A tensor has the wrong shape.
    #[error("{name} has shape {found:?}; expected {expected:?} ({why})")]
    Shape {
        /// Its name.
        name: String,
        /// Expected shape.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
        /// What fixes the expectation.
        why: String,
    },
    /// Something irnn cannot represent.
    #[error("{name}: {why}")]
    Unsupported {
        /// The tensor that shows it.
        name: String,
        /// What it is and why irnn refuses it.
        why: String,
    },
    /// Tensors the layout does not have.
    #[error("tensors irnn does not know (a layout other than word_language_model's?): {}", .0.join(", "))]
    Unknown(Vec<String>),
    /// An element type irnn does not read.
    #[error("{name} is {dtype}; irnn imports F32, F64, F16 and BF16 tensors")]
    DType {
        /// The tensor.
        name: String,
        /// Its type.
        dtype: String,
    },
    /// The vocabulary does not fit the model.
    #[error("the vocabulary has {tokens} tokens but {name} has {rows} rows")]
    Vocabulary {
        /// Tokens in the vocabulary file.
        tokens: usize,
        /// The embedding's name.
        name: String,
        /// Its rows.
        rows: usize,
    },
    /// A value that is not finite.
    #[error("{name} holds NaN or infinite values")]
    NotFinite {
        /// The tensor.
        name: String,
    },
}

/// An imported model.
pub struct Imported {
    /// The float model, in irnn's layout.
    pub model: LanguageModel<f32>,
    /// Its vocabulary.
    pub vocab: Vocab,
    /// Whether the decoder shared the embedding's weights.
    pub tied: bool,
}

impl Imported {
    /// The inferred architecture in one line.
    pub fn describe(&self) -> String {
        let c = &self.model.config;
        format!(
            "{} {} × {} layer(s), embedding {}, vocabulary {} ({}){}",
            match (c.cell, c.reset_before) {
                (CellKind::Lstm, _) => "LSTM",
                (CellKind::Gru, false) => "GRU (reset after the recurrent product)",
                (CellKind::Gru, true) => "GRU (reset before the recurrent product)",
            },
            c.hidden,
            c.layers,
            c.embedding,
            c.vocab,
            match c.level {
                Level::Char => "characters",
                Level::Word => "words",
            },
            if self.tied { ", tied embedding" } else { "" }
        )
    }
}

/// One tensor, as f32, in PyTorch's layout.
pub(crate) struct Tensor {
    pub(crate) shape: Vec<usize>,
    pub(crate) values: Vec<f32>,
}

/// The tensors of a model under a prefix, by name.
pub(crate) struct Tensors {
    pub(crate) map: BTreeMap<String, Tensor>,
    pub(crate) prefix: String,
    /// `name → stored name` (safetensors' shared tensors).
    pub(crate) aliases: BTreeMap<String, String>,
    used: BTreeSet<String>,
}

impl Tensors {
    pub(crate) fn new(
        map: BTreeMap<String, Tensor>,
        prefix: &str,
        aliases: BTreeMap<String, String>,
    ) -> Self {
        Tensors {
            map,
            prefix: prefix.to_string(),
            aliases,
            used: BTreeSet::new(),
        }
    }

    fn full(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The stored name of `name`, through an alias if there is one.
    fn stored(&self, name: &str) -> Option<String> {
        let full = self.full(name);
        if self.map.contains_key(&full) {
            return Some(full);
        }
        self.aliases
            .get(&full)
            .filter(|a| self.map.contains_key(*a))
            .cloned()
    }

    fn has(&self, name: &str) -> bool {
        self.stored(name).is_some()
    }

    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        Some(self.map[&self.stored(name)?].shape.clone())
    }

    /// The values of `name` (shape checked against `expected`).
    fn take(&mut self, name: &str, expected: &[usize], why: &str) -> Result<Vec<f32>, ImportError> {
        let full = self.full(name);
        let stored = self.stored(name).ok_or_else(|| ImportError::Missing {
            name: full.clone(),
            hint: String::new(),
        })?;
        let t = &self.map[&stored];
        if t.shape != expected {
            return Err(ImportError::Shape {
                name: full,
                expected: expected.to_vec(),
                found: t.shape.clone(),
                why: why.into(),
            });
        }
        if t.values.iter().any(|v| !v.is_finite()) {
            return Err(ImportError::NotFinite { name: full });
        }
        let values = t.values.clone();
        self.used.insert(stored);
        Ok(values)
    }
}

/// Imports a word_language_model-style `state_dict` saved with safetensors;
/// `prefix` is what comes before `encoder.weight` (e.g. `"model."`; empty
/// for a top-level model).
pub fn from_safetensors(
    bytes: &[u8],
    prefix: &str,
    vocab: Vocab,
    level: Level,
) -> Result<Imported, ImportError> {
    let tensors = safetensors_file::read(bytes, prefix)?;
    build(tensors, vocab, level, false)
}

/// Imports an ONNX graph of the shape embedding (`Gather`) → `LSTM` / `GRU`
/// ops → `MatMul` + `Add` or `Gemm` ([`onnx`] says what is accepted).
pub fn from_onnx(bytes: &[u8], vocab: Vocab, level: Level) -> Result<Imported, ImportError> {
    let graph = onnx::read(bytes)?;
    build(graph.tensors, vocab, level, graph.gru_reset_before)
}

/// The model in `t` (PyTorch's names, under `t.prefix`), checked name by
/// name; `gru_reset_before`: a GRU that applies its reset before the
/// recurrent product (ONNX `linear_before_reset = 0`).
fn build(
    mut t: Tensors,
    vocab: Vocab,
    level: Level,
    gru_reset_before: bool,
) -> Result<Imported, ImportError> {
    let names: Vec<String> = t.map.keys().cloned().collect();
    refuse_what_irnn_cannot_represent(&t, &names)?;

    // Embedding (or, tied and stored once, the decoder's weight).
    let tied = t.stored("encoder.weight") == t.stored("decoder.weight") && t.has("decoder.weight");
    let Some(emb) = t.shape("encoder.weight") else {
        let hint = names
            .iter()
            .find_map(|n| n.strip_suffix("encoder.weight"))
            .map(|p| format!(" (the file has {p}encoder.weight: pass --prefix {p})"))
            .unwrap_or_default();
        return Err(ImportError::Missing {
            name: t.full("encoder.weight"),
            hint,
        });
    };
    let [v, e] = emb[..] else {
        return Err(shape_error(
            &t,
            "encoder.weight",
            &[0, 0],
            &emb,
            "[vocabulary, embedding]",
        ));
    };
    if v != vocab.len() {
        return Err(ImportError::Vocabulary {
            tokens: vocab.len(),
            name: t.full("encoder.weight"),
            rows: v,
        });
    }

    // Recurrent layers: kind and size from layer 0, the same for all.
    let layers = (0..)
        .take_while(|k| t.has(&format!("rnn.weight_ih_l{k}")))
        .count();
    if layers == 0 {
        return Err(ImportError::Missing {
            name: t.full("rnn.weight_ih_l0"),
            hint: " (no recurrent layer)".into(),
        });
    }
    let hh0 = t
        .shape("rnn.weight_hh_l0")
        .ok_or_else(|| ImportError::Missing {
            name: t.full("rnn.weight_hh_l0"),
            hint: String::new(),
        })?;
    let [g, h] = hh0[..] else {
        return Err(shape_error(
            &t,
            "rnn.weight_hh_l0",
            &[0, 0],
            &hh0,
            "[gates × hidden, hidden]",
        ));
    };
    let cell = if g == 4 * h {
        CellKind::Lstm
    } else if g == 3 * h {
        CellKind::Gru
    } else {
        return Err(ImportError::Unsupported {
            name: t.full("rnn.weight_hh_l0"),
            why: format!(
                "{g} rows for hidden size {h}: neither an LSTM (4 × {h}) nor a GRU (3 × {h})"
            ),
        });
    };
    for k in 0..layers {
        for b in ["bias_ih", "bias_hh"] {
            if !t.has(&format!("rnn.{b}_l{k}")) {
                return Err(ImportError::Unsupported {
                    name: t.full(&format!("rnn.{b}_l{k}")),
                    why: "missing: a recurrent layer without biases (bias=False) is not a \
                          model irnn represents; save it with zero biases"
                        .into(),
                });
            }
        }
    }
    let config = LmConfig {
        level,
        vocab: v,
        cell,
        layers,
        hidden: h,
        embedding: e,
        dropout: 0.0,
        locked_dropout: false,
        capped_input_gate: false,
        reset_before: gru_reset_before && cell == CellKind::Gru,
        layer_norm: false,
        residual: false,
    };
    let mut model = LanguageModel::<f32>::new(config, &mut TrainRng::seed(0));
    for p in model.params_mut() {
        let why = match p.name.as_str() {
            "encoder.weight" => "[vocabulary, embedding]".to_string(),
            "decoder.weight" if tied => format!("tied: the embedding must be {v} × {h}"),
            "decoder.weight" => format!("[vocabulary, hidden of the last layer = {h}]"),
            "decoder.bias" => "[vocabulary]".to_string(),
            n if n.starts_with("rnn.weight_ih_l0") => format!("[gates × {h}, embedding {e}]"),
            n if n.starts_with("rnn.weight_ih") => {
                format!("[gates × {h}, {h}]: every layer has one kind and size")
            }
            _ => format!("every layer is {cell:?} with hidden size {h}"),
        };
        p.value = t.take(&p.name, &p.shape, &why)?;
    }
    let unused: Vec<String> = names
        .iter()
        .filter(|n| !t.used.contains(*n))
        .cloned()
        .collect();
    if !unused.is_empty() {
        return Err(ImportError::Unknown(unused));
    }
    Ok(Imported { model, vocab, tied })
}

fn shape_error(
    t: &Tensors,
    name: &str,
    expected: &[usize],
    found: &[usize],
    why: &str,
) -> ImportError {
    ImportError::Shape {
        name: t.full(name),
        expected: expected.to_vec(),
        found: found.to_vec(),
        why: why.into(),
    }
}

/// Layers irnn's language model has no place for, named by the tensor
/// that shows them.
fn refuse_what_irnn_cannot_represent(t: &Tensors, names: &[String]) -> Result<(), ImportError> {
    for n in names {
        let Some(local) = n.strip_prefix(&t.prefix) else {
            continue;
        };
        let why = if local.starts_with("rnn.") && local.ends_with("_reverse") {
            "a bidirectional layer: a language model reads left to right only"
        } else if local.starts_with("rnn.weight_hr_l") {
            "an LSTM projection (proj_size): irnn's LSTM has none"
        } else {
            continue;
        };
        return Err(ImportError::Unsupported {
            name: n.clone(),
            why: why.into(),
        });
    }
    Ok(())
}

/// A weight matrix of gate blocks (`h` rows × `cols` each) with its blocks
/// reordered: block `order[j]` of `values` becomes block `j`. How ONNX's
/// gate orders and PyTorch's are mapped onto each other, both ways.
pub(crate) fn reorder_gates(values: &[f32], h: usize, cols: usize, order: &[usize]) -> Vec<f32> {
    let block = h * cols;
    order
        .iter()
        .flat_map(|&g| values[g * block..(g + 1) * block].iter().copied())
        .collect()
}

/// A vocabulary file: a JSON array of tokens, or one token per line (with
/// `\n`, `\t`, `\s` and `\\` escapes for a line break, a tab, a space and a
/// backslash). Tokens must be distinct.
pub fn read_vocabulary(text: &str) -> Result<Vocab, String> {
    let tokens: Vec<String> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).map_err(|e| format!("not a JSON array of strings: {e}"))?
    } else {
        text.lines().map(unescape).collect()
    };
    if tokens.is_empty() {
        return Err("no tokens".into());
    }
    let mut seen = BTreeSet::new();
    for (i, t) in tokens.iter().enumerate() {
        if t.is_empty() {
            return Err(format!("token {i} is empty"));
        }
        if !seen.insert(t) {
            return Err(format!("token {t:?} appears twice"));
        }
    }
    let mut vocab = Vocab::from_tokens(tokens);
    vocab.reindex();
    Ok(vocab)
}

fn unescape(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('s') => out.push(' '),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

pub mod onnx;
mod safetensors_file;

#[cfg(test)]
mod tests;
