//! The firmware's work: the model from flash, a prompt, generation checked
//! against the host runtime, and the memory it used.

use alloc::vec;

use cortex_m_semihosting::{hprint, hprintln};
use irnn_runtime::format::read_language_model_in_place;
use irnn_runtime::Isa;

use crate::{stack_used, EXPECTED, HEAP, MODEL, PROMPT};

pub fn run(stack_top: usize) -> Result<(), &'static str> {
    let model = read_language_model_in_place(&MODEL.0)
        .map_err(|e| {
            hprintln!("error: the model in flash: {}", e);
            "the model in flash cannot be used"
        })?;
    let heap_model = HEAP.used();
    let mut state = model.zero_state();
    let mut logits = vec![0i32; model.classes()];
    let heap_state = HEAP.used() - heap_model;
    let isa = Isa::detect();

    hprint!("{}", PROMPT);
    for c in PROMPT.chars() {
        let mut utf8 = [0u8; 4];
        let id = model
            .vocabulary
            .id(c.encode_utf8(&mut utf8))
            .ok_or("a prompt character is not in the vocabulary")?;
        model
            .step(isa, id, &mut state, &mut logits)
            .map_err(|_| "a step failed")?;
    }
    let heap_before_generating = HEAP.used();
    for expected in EXPECTED.chunks_exact(4) {
        let best = argmax(&logits);
        if best != u32::from_le_bytes([expected[0], expected[1], expected[2], expected[3]]) {
            hprintln!();
            return Err("the firmware's tokens differ from the host runtime's");
        }
        hprint!("{}", model.vocabulary.token(best).unwrap_or("?"));
        model
            .step(isa, best, &mut state, &mut logits)
            .map_err(|_| "a step failed")?;
    }
    hprintln!();
    if HEAP.used() != heap_before_generating {
        return Err("a step allocated");
    }
    hprintln!(
        "ok: {} tokens equal the host runtime's ({} kernels)",
        EXPECTED.len() / 4,
        isa.name()
    );
    hprintln!(
        "model in flash: {} bytes; heap after loading: {} bytes; state + scratch: {} bytes; \
         stack high-water: {} bytes; steps allocated nothing",
        MODEL.0.len(),
        heap_model,
        heap_state,
        stack_used(stack_top)
    );
    Ok(())
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
