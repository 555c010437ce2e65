//! Prepares the firmware's model on the host: reads `IRNN_CORTEX_M_MODEL`
//! (default: the fixture character model), rewrites it in the in-place
//! layout (`OUT_DIR/model.irnn`, included in flash) and records the token
//! ids the host runtime generates greedily after the prompt
//! (`OUT_DIR/expected.bin`), which the firmware must reproduce exactly.

use std::path::PathBuf;

use irnn_runtime::format::{read_model, write_model, Layout, Model};
use irnn_runtime::Isa;

/// The prompt and the number of tokens generated after it (main.rs uses
/// the same).
const PROMPT: &str = "ROMEO:";
const TOKENS: usize = 40;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    std::fs::copy(manifest.join("memory.x"), out.join("memory.x")).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");

    let model_path = std::env::var("IRNN_CORTEX_M_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest.join("../../fixtures/models/lm.irnn"));
    println!("cargo:rerun-if-env-changed=IRNN_CORTEX_M_MODEL");
    println!("cargo:rerun-if-changed={}", model_path.display());
    let bytes =
        std::fs::read(&model_path).unwrap_or_else(|e| panic!("{}: {e}", model_path.display()));
    let model = read_model(&bytes).unwrap_or_else(|e| panic!("{}: {e}", model_path.display()));
    let Model::Language(lm) = &model else {
        panic!(
            "{}: the Cortex-M example runs a language model",
            model_path.display()
        )
    };
    std::fs::write(out.join("model.irnn"), write_model(&model, Layout::InPlace)).unwrap();

    // The host's greedy continuation (integer argmax, lowest id on ties).
    let mut state = lm.zero_state();
    let mut logits = vec![0; lm.classes()];
    let ids: Vec<u32> = PROMPT
        .chars()
        .map(|c| {
            lm.vocabulary
                .id(&c.to_string())
                .unwrap_or_else(|| panic!("the prompt's {c:?} is not in the model's vocabulary"))
        })
        .collect();
    for &id in &ids {
        lm.step(Isa::Scalar, id, &mut state, &mut logits).unwrap();
    }
    let mut expected = Vec::new();
    for _ in 0..TOKENS {
        let best = argmax(&logits);
        expected.extend_from_slice(&best.to_le_bytes());
        lm.step(Isa::Scalar, best, &mut state, &mut logits).unwrap();
    }
    std::fs::write(out.join("expected.bin"), expected).unwrap();
    std::fs::write(out.join("prompt.txt"), PROMPT).unwrap();
    println!("cargo:rustc-env=IRNN_TOKENS={TOKENS}");
}

fn argmax(logits: &[i32]) -> u32 {
    let mut best = 0;
    for (k, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = k;
        }
    }
    best as u32
}
