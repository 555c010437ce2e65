//! Streaming a language model with the integer runtime alone: load an
//! `.irnn` file, feed a prompt one token per call, then let the model
//! continue by integer argmax — no floating point anywhere.
//!
//! ```sh
//! cargo run -p irnn-runtime --example stream_lm -- fixtures/models/lm.irnn "ROMEO:" 60
//! ```
//! (any character-level `.irnn` works, e.g. the demo's
//! `/tmp/irnn-demo/tinyshakespeare-char.irnn`).

use std::io::Write;

use irnn_runtime::format::read_language_model;
use irnn_runtime::{Isa, TokenLevel};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or("fixtures/models/lm.irnn".into());
    let prompt = args.next().unwrap_or("ROMEO:".into());
    let tokens: usize = args.next().map_or(Ok(60), |n| n.parse())?;

    // The reader checks the whole file (checksum, shapes, tables) first.
    let bytes = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
    let model = read_language_model(&bytes).map_err(|e| format!("{path}: {e}"))?;
    if model.vocabulary.level != TokenLevel::Char {
        return Err(format!("{path}: this example streams characters; it is a word model").into());
    }
    let isa = Isa::detect();
    let mut state = model.zero_state();
    let mut logits = vec![0i32; model.classes()];

    // The prompt: one call per character; the state carries the context.
    let mut out = std::io::stdout().lock();
    for c in prompt.chars() {
        let id = model
            .vocabulary
            .id(&c.to_string())
            .ok_or_else(|| format!("{c:?} is not in the model's vocabulary"))?;
        model.step(isa, id, &mut state, &mut logits)?;
        write!(out, "{c}")?;
    }
    // The continuation: the most likely next character, an integer argmax
    // over the int32 logits, fed back in.
    for _ in 0..tokens {
        let next = (0..logits.len()).max_by_key(|&k| (logits[k], std::cmp::Reverse(k)));
        let next = next.ok_or("the model has no classes")? as u32;
        write!(out, "{}", model.vocabulary.token(next)?)?;
        out.flush()?;
        model.step(isa, next, &mut state, &mut logits)?;
    }
    writeln!(out)?;
    eprintln!("{} kernels, {} layers", isa.name(), model.layers.len());
    Ok(())
}
