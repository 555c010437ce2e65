//! Text in and out of an integer model: prompt → token ids, sampling from
//! int32 logits, ids → text. Greedy decoding (temperature 0) is an argmax
//! over the int32 logits and needs no real numbers at all; sampling turns
//! the logits into probabilities with the model's logit unit.

use irnn_runtime::model::IntLanguageModel;
use irnn_runtime::{Isa, TokenLevel, Vocabulary};
use rand::Rng;

use crate::lm::data::corpus::{EOS, UNK};
use crate::quant::export::logit_scale;

/// Prompt problems.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// A token the model never saw, and it has no `<unk>`.
    #[error("the prompt's token {0:?} is not in the model's vocabulary")]
    UnknownToken(String),
    /// Nothing to condition on.
    #[error("the prompt is empty")]
    Empty,
    /// The runtime rejected a step.
    #[error("integer runtime: {0}")]
    Runtime(#[from] irnn_runtime::Error),
}

/// Token ids of `text`. Characters: one token per character, a line break
/// as `\n` (or `<eos>`), a space as `_` where the vocabulary spells it so
/// (Penn Treebank's character files). Words: whitespace-split, `<eos>` per
/// line break, unknown words as `<unk>` when the vocabulary has it.
pub fn encode_prompt(vocab: &Vocabulary, text: &str) -> Result<Vec<u32>, PromptError> {
    let lookup = |t: &str| {
        vocab
            .id(t)
            .or_else(|| vocab.id(UNK))
            .ok_or_else(|| PromptError::UnknownToken(t.to_string()))
    };
    let mut ids = Vec::new();
    match vocab.level {
        TokenLevel::Char => {
            for c in text.chars() {
                let s = c.to_string();
                let t = match c {
                    '\n' if vocab.id("\n").is_none() => EOS.to_string(),
                    ' ' if vocab.id(" ").is_none() && vocab.id("_").is_some() => "_".into(),
                    _ => s,
                };
                ids.push(lookup(&t)?);
            }
        }
        TokenLevel::Word => {
            for (i, line) in text.split('\n').enumerate() {
                if i > 0 {
                    ids.push(lookup(EOS)?);
                }
                for w in line.split_whitespace() {
                    ids.push(lookup(w)?);
                }
            }
        }
    }
    if ids.is_empty() {
        return Err(PromptError::Empty);
    }
    Ok(ids)
}

/// Text of generated ids (the inverse of [`encode_prompt`]'s conventions).
pub fn decode(vocab: &Vocabulary, ids: &[u32]) -> String {
    let mut text = TextWriter::new(vocab, true);
    ids.iter().map(|&id| text.piece(id)).collect()
}

/// Turns ids into text one at a time, as they are generated: word-level
/// tokens are separated by spaces except at the start of a line.
pub struct TextWriter<'a> {
    vocab: &'a Vocabulary,
    line_start: bool,
}

impl<'a> TextWriter<'a> {
    /// A writer whose first word follows `line_start` (true: no space
    /// before it).
    pub fn new(vocab: &'a Vocabulary, line_start: bool) -> Self {
        Self { vocab, line_start }
    }

    /// The text of `id`.
    pub fn piece(&mut self, id: u32) -> String {
        let t = self.vocab.token(id).unwrap_or("?");
        let piece = match self.vocab.level {
            TokenLevel::Char => match t {
                EOS => "\n".to_string(),
                "_" if self.vocab.id(" ").is_none() => " ".to_string(),
                _ => t.to_string(),
            },
            TokenLevel::Word if t == EOS => "\n".to_string(),
            TokenLevel::Word if self.line_start => t.to_string(),
            TokenLevel::Word => format!(" {t}"),
        };
        self.line_start = piece.ends_with('\n');
        piece
    }
}

/// Picks the next token: argmax at `temperature` 0, else a draw from
/// `softmax(logits · unit / temperature)`.
pub fn pick(logits: &[i32], unit: f64, temperature: f64, rng: &mut impl Rng) -> u32 {
    let argmax = || {
        logits
            .iter()
            .enumerate()
            .max_by_key(|&(i, &l)| (l, std::cmp::Reverse(i)))
            .map_or(0, |(i, _)| i as u32)
    };
    if temperature <= 0.0 {
        return argmax();
    }
    let max = logits.iter().copied().max().unwrap_or(0);
    let weights: Vec<f64> = logits
        .iter()
        .map(|&l| ((l as i64 - max as i64) as f64 * unit / temperature).exp())
        .collect();
    let mut u = rng.gen::<f64>() * weights.iter().sum::<f64>();
    for (i, w) in weights.iter().enumerate() {
        u -= w;
        if u <= 0.0 {
            return i as u32;
        }
    }
    argmax()
}

/// Feeds `prompt`, then generates `count` tokens, each fed back in.
pub fn generate(
    model: &IntLanguageModel,
    isa: Isa,
    prompt: &[u32],
    count: usize,
    temperature: f64,
    rng: &mut impl Rng,
) -> Result<Vec<u32>, PromptError> {
    let mut out = Vec::with_capacity(count);
    generate_each(model, isa, prompt, count, temperature, rng, |t| out.push(t))?;
    Ok(out)
}

/// [`generate`], handing each token to `each` as soon as it is chosen (so
/// a caller can print a long text as it is written), keeping none.
pub fn generate_each(
    model: &IntLanguageModel,
    isa: Isa,
    prompt: &[u32],
    count: usize,
    temperature: f64,
    rng: &mut impl Rng,
    mut each: impl FnMut(u32),
) -> Result<(), PromptError> {
    let (&last, head) = prompt.split_last().ok_or(PromptError::Empty)?;
    let mut state = model.zero_state();
    let mut logits = vec![0; model.classes()];
    for &t in head {
        model.step(isa, t, &mut state, &mut logits)?;
    }
    let unit = logit_scale(model.output.logit_scale);
    let mut next = last;
    for _ in 0..count {
        model.step(isa, next, &mut state, &mut logits)?;
        next = pick(&logits, unit, temperature, rng);
        each(next);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars() -> Vocabulary {
        Vocabulary {
            level: TokenLevel::Char,
            tokens: ["a", "b", " ", "\n"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }

    #[test]
    fn prompts_round_trip_and_unknowns_are_named() {
        let v = chars();
        let ids = encode_prompt(&v, "ab a\nb").unwrap();
        assert_eq!(ids, [0, 1, 2, 0, 3, 1]);
        assert_eq!(decode(&v, &ids), "ab a\nb");
        let err = encode_prompt(&v, "abc").unwrap_err();
        assert!(err.to_string().contains("\"c\""), "{err}");
        assert!(matches!(encode_prompt(&v, ""), Err(PromptError::Empty)));
        let words = Vocabulary {
            level: TokenLevel::Word,
            tokens: ["the", "cat", "<eos>", "<unk>"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        assert_eq!(encode_prompt(&words, "the dog\ncat").unwrap(), [0, 3, 2, 1]);
        assert_eq!(decode(&words, &[0, 1, 2, 1]), "the cat\ncat");
    }

    #[test]
    fn temperature_zero_is_argmax_and_sampling_follows_the_logits() {
        let mut rng = crate::nn::rng::TrainRng::seed(5);
        assert_eq!(pick(&[3, 9, 9, -4], 0.1, 0.0, &mut rng), 1);
        // Logit gap of 1000 units × 0.01 = 10 nats: token 2 almost always.
        let draws: Vec<u32> = (0..200)
            .map(|_| pick(&[0, 0, 1000], 0.01, 1.0, &mut rng))
            .collect();
        assert!(draws.iter().filter(|&&d| d == 2).count() > 190);
        // Equal logits: both tokens drawn.
        let draws: Vec<u32> = (0..200)
            .map(|_| pick(&[5, 5], 0.01, 1.0, &mut rng))
            .collect();
        assert!(draws.contains(&0) && draws.contains(&1));
    }
}
