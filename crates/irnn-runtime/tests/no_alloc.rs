//! After a model is loaded and its state made, no call allocates; and a
//! model used in place holds almost nothing on the heap. Measured with a
//! counting allocator around the system one (only this thread's calls are
//! counted, so the test harness cannot disturb it); the one test of this
//! binary runs everything in order.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use irnn_runtime::format::{
    read_model, read_model_in_place, write_model, Layout as FileLayout, Model,
};
use irnn_runtime::kernels::packed::Line;
use irnn_runtime::Isa;

struct Counting;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
}
static CALLS: AtomicUsize = AtomicUsize::new(0);
static NET: AtomicIsize = AtomicIsize::new(0);

fn on() -> bool {
    ON.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counters are atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if on() {
            CALLS.fetch_add(1, Ordering::Relaxed);
            NET.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if on() {
            NET.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        if on() {
            CALLS.fetch_add(1, Ordering::Relaxed);
            NET.fetch_add(new as isize - layout.size() as isize, Ordering::Relaxed);
        }
        // SAFETY: forwarded.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// `f`'s result, its allocation calls and the heap bytes it left allocated.
fn counted<R>(f: impl FnOnce() -> R) -> (R, usize, isize) {
    CALLS.store(0, Ordering::Relaxed);
    NET.store(0, Ordering::Relaxed);
    ON.with(|o| o.set(true));
    let r = f();
    ON.with(|o| o.set(false));
    (
        r,
        CALLS.load(Ordering::Relaxed),
        NET.load(Ordering::Relaxed),
    )
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../fixtures/models/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `bytes` at a 64-byte-aligned address for the rest of the program.
fn leak_aligned(bytes: &[u8]) -> &'static [u8] {
    let lines: &'static mut [Line] = Vec::leak(vec![Line([0; 64]); bytes.len().div_ceil(64)]);
    // SAFETY: the leaked lines are initialised bytes for the rest of the
    // program; u8 has no alignment or validity needs.
    let raw =
        unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast::<u8>(), bytes.len()) };
    raw.copy_from_slice(bytes);
    raw
}

#[test]
fn no_call_allocates_after_load_and_in_place_models_borrow_their_weights() {
    for name in ["lm.irnn", "gru-ln.irnn"] {
        let bytes = fixture(name);
        let Ok(Model::Language(model)) = read_model(&bytes) else {
            panic!("{name} is a language model")
        };
        let tokens: Vec<u32> = (0..150)
            .map(|i| (i * 7 + i / 5) % model.classes() as u32)
            .collect();
        for isa in Isa::available() {
            let mut state = model.zero_state();
            let mut logits = vec![0; model.classes()];
            let (r, calls, _) = counted(|| {
                tokens
                    .iter()
                    .try_for_each(|&t| model.step(isa, t, &mut state, &mut logits))
            });
            r.unwrap();
            assert_eq!(calls, 0, "{name}, {}: step allocated", isa.name());
            let (r, calls, _) = counted(|| {
                tokens.iter().try_for_each(|&t| {
                    model.step_with(isa, t, &mut state, &mut logits, &mut |_, _| {})
                })
            });
            r.unwrap();
            assert_eq!(calls, 0, "{name}, {}: step_with allocated", isa.name());
            // run sizes its chunk buffers on its first call with a state.
            let mut many = vec![0; tokens.len() * model.classes()];
            model.run(isa, &tokens, &mut state, &mut many).unwrap();
            let (r, calls, _) = counted(|| model.run(isa, &tokens, &mut state, &mut many));
            r.unwrap();
            assert_eq!(calls, 0, "{name}, {}: a second run allocated", isa.name());
            // A state sized for runs: even the first run allocates nothing,
            // and it computes what a fresh zero state does.
            let mut sized = model.zero_state_for_runs(isa).unwrap();
            let mut fresh = model.zero_state();
            let mut want = vec![0; tokens.len() * model.classes()];
            model.run(isa, &tokens, &mut fresh, &mut want).unwrap();
            let (r, calls, _) = counted(|| model.run(isa, &tokens, &mut sized, &mut many));
            r.unwrap();
            assert_eq!(
                calls,
                0,
                "{name}, {}: run on a sized state allocated",
                isa.name()
            );
            assert_eq!(many, want, "{name}, {}", isa.name());
        }

        // In place: the heap holds the structs and the vocabulary, not the
        // weights.
        let (copied, _, copied_heap) = counted(|| read_model(&bytes).unwrap());
        let in_place_bytes = leak_aligned(&write_model(&copied, FileLayout::InPlace));
        let (borrowed, _, in_place_heap) = counted(|| read_model_in_place(in_place_bytes).unwrap());
        assert_eq!(borrowed, copied);
        println!(
            "{name}: heap after loading {copied_heap} bytes copied, {in_place_heap} in place \
             (file {} bytes compact, {} in place)",
            bytes.len(),
            in_place_bytes.len()
        );
        assert!(
            in_place_heap < 4096,
            "{name}: {in_place_heap} bytes on the heap in place"
        );
        assert!(
            in_place_heap < copied_heap / 2,
            "{name}: in place {in_place_heap}, copied {copied_heap}"
        );
    }

    // Speech: a scratch sized for the longest utterance, then any number of
    // utterances up to that length, CTC and attention, allocate nothing, and
    // give what the allocating calls give.
    let bytes = fixture("asr-qat.irnn");
    let Ok(Model::Speech(model)) = read_model(&bytes) else {
        panic!("asr-qat.irnn is a speech model")
    };
    assert!(
        model.decoder.is_some(),
        "the fixture has an attention decoder"
    );
    let dim = model.features();
    let utterance = |frames: usize, seed: usize| -> Vec<i8> {
        (0..frames * dim)
            .map(|i| ((i * 37 + seed * 11) % 251) as i8)
            .collect()
    };
    for isa in Isa::available() {
        let mut scratch = model.scratch(isa, 120).unwrap();
        for (frames, seed) in [(120, 1), (37, 2), (1, 3), (99, 4)] {
            let f = utterance(frames, seed);
            let (ctc, calls, _) = counted(|| {
                model
                    .ctc_greedy_with(isa, &f, &mut scratch)
                    .map(|l| l.len())
            });
            assert_eq!(calls, 0, "{}: CTC of {frames} frames allocated", isa.name());
            let expected = model.greedy_decode(&model.logits(isa, &f).unwrap());
            assert_eq!(ctc.unwrap(), expected.len());
            assert_eq!(
                model.ctc_greedy_with(isa, &f, &mut scratch).unwrap(),
                &expected[..]
            );
            let (att, calls, _) = counted(|| {
                model
                    .attention_greedy_with(isa, &f, &mut scratch)
                    .map(|l| l.map(<[usize]>::len))
            });
            assert_eq!(
                calls,
                0,
                "{}: attention of {frames} frames allocated",
                isa.name()
            );
            let expected = model.attention_greedy(isa, &f).unwrap().unwrap();
            assert_eq!(att.unwrap(), Some(expected.len()));
            assert_eq!(
                model.attention_greedy_with(isa, &f, &mut scratch).unwrap(),
                Some(&expected[..])
            );
        }
        // Longer than the scratch: an error, not a reallocation.
        let long = utterance(121, 5);
        assert!(model.ctc_greedy_with(isa, &long, &mut scratch).is_err());
    }
}
