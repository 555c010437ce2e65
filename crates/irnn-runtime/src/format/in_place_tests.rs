//! The in-place layout: the same models as the compact one, borrowed from
//! the file where it lies, and as hostile-proof.

use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::kernels::packed::Line;
use crate::kernels::Isa;
use crate::model::RecurrentCell;
use crate::test_models::{
    random_language_model, random_speech_model, random_streaming_model, random_wide_speech_model,
};

/// A copy of `bytes` at a 64-byte-aligned address that lives for the rest
/// of the test program, starting `offset` bytes into the aligned buffer.
fn leak_aligned(bytes: &[u8], offset: usize) -> &'static [u8] {
    let lines = (bytes.len() + offset).div_ceil(64);
    let buffer: &'static mut [Line] = Vec::leak(alloc::vec![Line([0; 64]); lines]);
    // SAFETY: the leaked lines are `64 · lines` initialised bytes for the
    // rest of the program, and u8 has no alignment or validity needs.
    let raw: &'static mut [u8] =
        unsafe { core::slice::from_raw_parts_mut(buffer.as_mut_ptr().cast::<u8>(), lines * 64) };
    raw[offset..offset + bytes.len()].copy_from_slice(bytes);
    &raw[offset..offset + bytes.len()]
}

fn lm_matrices(m: &crate::model::IntLanguageModel) -> Vec<&crate::PackedMatrix> {
    let mut out = Vec::new();
    for layer in &m.layers {
        match &layer.cell {
            RecurrentCell::Lstm(c) => out.extend([&c.w_x, &c.w_h]),
            RecurrentCell::Gru(c) => {
                out.extend([&c.w_x, &c.w_h]);
                out.extend(c.w_hn.as_ref());
            }
        }
    }
    out.push(&m.output.weights);
    out
}

#[test]
fn language_models_read_in_place_equal_the_compact_ones_and_borrow_their_weights() {
    let model = random_language_model(3, 11, 16);
    let file = write_language_model_as(&model, Layout::InPlace);
    assert_eq!(&file[8..12], &IN_PLACE_VERSION.to_le_bytes());
    // Copied or in place, the model is the one written, and writes back to
    // the same bytes in either layout.
    assert_eq!(read_language_model(&file).unwrap(), model);
    let Model::Language(borrowed) = read_model_in_place(leak_aligned(&file, 0)).unwrap() else {
        panic!("a language model was written")
    };
    assert_eq!(borrowed, model);
    assert_eq!(write_language_model_as(&borrowed, Layout::InPlace), file);
    assert_eq!(
        write_language_model(&borrowed),
        write_language_model(&model)
    );
    for m in lm_matrices(&borrowed) {
        assert!(m.is_borrowed() && m.heap_bytes() == 0);
    }
    assert!(lm_matrices(&read_language_model(&file).unwrap())
        .iter()
        .all(|m| !m.is_borrowed()));
    // And it computes the same logits on every kernel.
    for isa in Isa::available() {
        let (mut a, mut b) = (model.zero_state(), borrowed.zero_state());
        let (mut la, mut lb) = (alloc::vec![0; 11], alloc::vec![0; 11]);
        for t in [0, 3, 7, 10, 1] {
            model.step(isa, t, &mut a, &mut la).unwrap();
            borrowed.step(isa, t, &mut b, &mut lb).unwrap();
            assert_eq!(la, lb, "{}", isa.name());
        }
    }
}

#[test]
fn speech_models_read_in_place_equal_the_compact_ones() {
    let models = [
        random_speech_model(5, 2, 6, 5, false),
        random_speech_model(5, 2, 6, 5, true),
        random_streaming_model(5, 2, 6, 5),
        random_wide_speech_model(5, 2, 6, 5, true, false),
    ];
    for model in models {
        let file = write_speech_model_as(&model, Layout::InPlace);
        assert_eq!(read_speech_model(&file).unwrap(), model);
        let Model::Speech(borrowed) = read_model_in_place(leak_aligned(&file, 0)).unwrap() else {
            panic!("a speech model was written")
        };
        assert_eq!(*borrowed, model);
        assert!(borrowed.output.weights.is_borrowed());
        match &borrowed.layers {
            crate::speech::EncoderLayers::Int8(l) => {
                assert!(l.iter().all(|l| l.forward.w_h.is_borrowed()))
            }
            crate::speech::EncoderLayers::Int16(l) => {
                assert!(l.iter().all(|l| l.forward.w_h.is_borrowed()))
            }
        }
        let frames: Vec<i8> = (0..7 * model.features()).map(|i| (i * 5) as i8).collect();
        assert_eq!(
            borrowed.logits(Isa::detect(), &frames).unwrap(),
            model.logits(Isa::detect(), &frames).unwrap()
        );
    }
}

#[test]
fn in_place_reading_names_what_it_cannot_use() {
    let model = random_language_model(3, 11, 16);
    let in_place = write_language_model_as(&model, Layout::InPlace);
    let msg = |e: FormatError| alloc::format!("{e}");
    // Not aligned: the same bytes 4 bytes further on.
    let e = read_model_in_place(leak_aligned(&in_place, 4)).unwrap_err();
    assert!(msg(e).contains("64-byte-aligned"));
    // The compact layout is read by copying only.
    let compact = write_language_model(&model);
    let e = read_model_in_place(leak_aligned(&compact, 0)).unwrap_err();
    assert!(msg(e).contains("irnn pack"));
    // Every truncation is an error.
    for len in (0..in_place.len()).step_by(7) {
        assert!(read_model_in_place(leak_aligned(&in_place[..len], 0)).is_err());
        assert!(read_model(&in_place[..len]).is_err());
    }
}

/// The payload of `file` edited by `edit`, behind a fresh checksum.
fn with_payload_edit(file: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut payload = file[HEADER_LEN..file.len() - 4].to_vec();
    edit(&mut payload);
    let mut out = Vec::new();
    out.extend_from_slice(&file[..12]);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out
}

#[test]
fn inconsistent_packed_data_is_refused() {
    let model = random_language_model(3, 11, 16);
    let file = write_language_model_as(&model, Layout::InPlace);
    // The first layer's W_x: its first packed line, at a 64-aligned offset.
    let payload = &file[HEADER_LEN..file.len() - 4];
    let w_x = model.layers[0].cell.clone();
    let RecurrentCell::Lstm(c) = w_x else {
        unreachable!()
    };
    let first_line = c.w_x.lines()[0].0;
    let at = (0..payload.len() - 64)
        .find(|&i| {
            (HEADER_LEN + i).is_multiple_of(64) && payload[i..i + 64] == first_line.map(|w| w as u8)
        })
        .expect("the first matrix's first line is in the file");
    let cases: [(&str, Vec<u8>); 2] = [
        // A weight changed: its row sum no longer matches.
        (
            "row sums",
            with_payload_edit(&file, |p| p[at] = p[at].wrapping_add(1)),
        ),
        // A byte of alignment padding before the lines that is not zero.
        (
            "padding must be zero",
            with_payload_edit(&file, |p| p[at - 1] = 1),
        ),
    ];
    for (what, bad) in cases {
        for result in [read_model(&bad), read_model_in_place(leak_aligned(&bad, 0))] {
            let e = alloc::format!("{}", result.unwrap_err());
            assert!(e.contains(what), "{what}: {e}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Random byte edits of an in-place file behind a valid checksum: never
    /// a panic, copied or in place, and a model that loads runs and equals
    /// its copied reading.
    #[test]
    fn mutated_in_place_payloads_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let good = write_language_model_as(&random_language_model(3, 11, 16), Layout::InPlace);
        let file = with_payload_edit(&good, |p| {
            for (i, v) in &edits {
                let at = i.index(p.len());
                p[at] = *v;
            }
        });
        let copied = read_model(&file);
        let in_place = read_model_in_place(leak_aligned(&file, 0));
        prop_assert_eq!(copied.is_ok(), in_place.is_ok());
        if let (Ok(Model::Language(a)), Ok(Model::Language(b))) = (copied, in_place) {
            prop_assert_eq!(&a, &b);
            let mut state = b.zero_state();
            let mut logits = alloc::vec![0; b.classes()];
            for t in 0..3 {
                b.step(Isa::Scalar, t, &mut state, &mut logits).unwrap();
            }
        }
    }
}

#[test]
fn four_bit_language_models_read_in_place_and_compute_the_same_logits() {
    let model = crate::test_models::random_four_bit_language_model(4, 11, 24);
    let file = write_language_model_as(&model, Layout::InPlace);
    let Model::Language(borrowed) = read_model_in_place(leak_aligned(&file, 0)).unwrap() else {
        panic!("a language model was written")
    };
    assert_eq!(borrowed, model);
    for m in lm_matrices(&borrowed) {
        assert!(m.is_borrowed());
    }
    for isa in Isa::available() {
        let (mut a, mut b) = (model.zero_state(), borrowed.zero_state());
        let (mut la, mut lb) = (alloc::vec![0; 11], alloc::vec![0; 11]);
        let mut reference = model.zero_state();
        let mut lr = alloc::vec![0; 11];
        for t in [0, 3, 7, 10, 1] {
            model.step(isa, t, &mut a, &mut la).unwrap();
            borrowed.step(isa, t, &mut b, &mut lb).unwrap();
            model.step(Isa::Scalar, t, &mut reference, &mut lr).unwrap();
            assert_eq!(la, lb, "{}", isa.name());
            assert_eq!(la, lr, "{} against the scalar reference", isa.name());
        }
    }
}
