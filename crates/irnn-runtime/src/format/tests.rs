use alloc::string::String;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::kernels::Isa;
use crate::speech::FeatureNorm;
use crate::test_models::{
    random_four_bit_language_model, random_language_model, random_speech_model,
    random_streaming_model, random_wide_speech_model,
};

fn sample_file() -> Vec<u8> {
    write_language_model(&random_language_model(3, 11, 16))
}

#[test]
fn round_trips_exactly() {
    let model = random_language_model(3, 11, 16);
    let bytes = write_language_model(&model);
    let back = read_language_model(&bytes).unwrap();
    assert_eq!(back, model);
    assert_eq!(write_language_model(&back), bytes);
}

#[test]
fn names_each_problem() {
    let good = sample_file();
    assert_eq!(
        read_language_model(&[]).unwrap_err(),
        FormatError::Truncated {
            what: "magic bytes".into(),
            needed: 8,
            available: 0
        }
    );
    let mut bad_magic = good.clone();
    bad_magic[0] = b'X';
    assert_eq!(
        read_language_model(&bad_magic).unwrap_err(),
        FormatError::BadMagic
    );
    let mut version = good.clone();
    version[8] = NEWEST_VERSION as u8 + 1;
    assert_eq!(
        read_language_model(&version).unwrap_err(),
        FormatError::UnsupportedVersion(NEWEST_VERSION + 1)
    );
    let mut flipped = good.clone();
    flipped[HEADER_LEN + 40] ^= 0x10;
    assert!(matches!(
        read_language_model(&flipped).unwrap_err(),
        FormatError::ChecksumMismatch { .. }
    ));
    let truncated = &good[..good.len() - 1];
    assert!(matches!(
        read_language_model(truncated).unwrap_err(),
        FormatError::Truncated { .. }
    ));
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(
        read_language_model(&trailing).unwrap_err(),
        FormatError::TrailingBytes(1)
    );
    // The messages say what is wrong.
    let msg = alloc::format!("{}", read_language_model(&version).unwrap_err());
    let newer = alloc::format!("version {}", NEWEST_VERSION + 1);
    assert!(msg.contains(&newer), "{msg}");
}

/// Rewrites the payload with `edit` and a fresh checksum, so the reader gets
/// past the checksum and must catch the problem itself.
fn with_payload_edit(file: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    with_version_and_payload_edit(file, VERSION, edit)
}

fn with_version_and_payload_edit(
    file: &[u8],
    version: u32,
    edit: impl FnOnce(&mut Vec<u8>),
) -> Vec<u8> {
    let mut payload = file[HEADER_LEN..file.len() - 4].to_vec();
    edit(&mut payload);
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out
}

#[test]
fn shape_and_size_errors_behind_a_valid_checksum() {
    let good = sample_file();
    // Byte 1 is the embedding's dtype, 2 its ndim, 3..7 its vocab dim.
    let huge = with_payload_edit(&good, |p| p[3..7].copy_from_slice(&u32::MAX.to_le_bytes()));
    assert!(matches!(
        read_language_model(&huge).unwrap_err(),
        FormatError::DimensionTooLarge { .. }
    ));
    let big = with_payload_edit(&good, |p| {
        p[3..7].copy_from_slice(&(1u32 << 20).to_le_bytes())
    });
    assert!(matches!(
        read_language_model(&big).unwrap_err(),
        FormatError::Truncated { .. }
    ));
    let kind = with_payload_edit(&good, |p| p[0] = 7);
    assert!(matches!(
        read_language_model(&kind).unwrap_err(),
        FormatError::InvalidValue { .. }
    ));
}

#[test]
fn every_truncation_is_an_error() {
    let good = sample_file();
    for len in 0..good.len() {
        assert!(read_language_model(&good[..len]).is_err(), "length {len}");
    }
}

fn speech_file() -> Vec<u8> {
    write_speech_model(&random_speech_model(5, 2, 6, 5, true))
}

#[test]
fn speech_models_round_trip_and_kinds_are_not_confused() {
    let model = random_speech_model(5, 2, 6, 5, true);
    let bytes = write_speech_model(&model);
    let back = read_speech_model(&bytes).unwrap();
    assert_eq!(back, model);
    assert_eq!(write_speech_model(&back), bytes);
    assert_eq!(read_model(&bytes).unwrap(), Model::Speech(Box::new(model)));
    let msg = alloc::format!("{}", read_language_model(&bytes).unwrap_err());
    assert!(msg.contains("speech model"), "{msg}");
    let msg = alloc::format!("{}", read_speech_model(&sample_file()).unwrap_err());
    assert!(msg.contains("language model"), "{msg}");
    for len in 0..bytes.len() {
        assert!(read_model(&bytes[..len]).is_err(), "length {len}");
    }
}

#[test]
fn version_2_speech_files_still_read() {
    // Version 2 wrote seven front-end fields (no range_db): payload bytes
    // 1..29 after the kind byte; version 3 adds range_db at 29..33.
    let mut model = random_speech_model(5, 2, 6, 5, true);
    model.front_end.range_db = 50;
    let v3 = write_speech_model(&model);
    assert_eq!(read_speech_model(&v3).unwrap().front_end.range_db, 50);
    let v2 = with_version_and_payload_edit(&v3, 2, |p| {
        p.drain(29..33);
    });
    let back = read_speech_model(&v2).unwrap();
    model.front_end.range_db = 0;
    assert_eq!(back, model);
    // Version 2 files of language models are the same bytes as version 3.
    let lm = sample_file();
    let lm2 = with_version_and_payload_edit(&lm, 2, |_| {});
    assert_eq!(
        read_language_model(&lm2).unwrap(),
        read_language_model(&lm).unwrap()
    );
    let v1 = with_version_and_payload_edit(&lm, 1, |_| {});
    let msg = alloc::format!("{}", read_language_model(&v1).unwrap_err());
    assert!(
        msg.contains("version 1") && msg.contains("versions 2 to 12"),
        "{msg}"
    );
}

#[test]
fn a_separator_other_than_a_space_is_written_as_version_5_or_6() {
    let mut model = random_speech_model(5, 2, 6, 5, true);
    // A space: versions 3 and 4, as before the separator was stored.
    let v3 = write_speech_model(&model);
    assert_eq!(&v3[8..12], &3u32.to_le_bytes());
    let v4 = super::write_speech_model_as(&model, Layout::InPlace);
    assert_eq!(&v4[8..12], &4u32.to_le_bytes());
    assert_eq!(read_speech_model(&v3).unwrap().separator, " ");
    // Character units join with nothing: versions 5 and 6 store it.
    model.separator = String::new();
    model.labels[1] = " ".into();
    for (layout, version) in [(Layout::Compact, 5u32), (Layout::InPlace, 6)] {
        let bytes = super::write_speech_model_as(&model, layout);
        assert_eq!(&bytes[8..12], &version.to_le_bytes());
        let back = read_speech_model(&bytes).unwrap();
        assert_eq!(back, model);
        assert_eq!(back.transcript(&[1, 2, 1]), " b ");
        for len in 0..bytes.len() {
            assert!(read_model(&bytes[..len]).is_err(), "length {len}");
        }
    }
    model.separator = "_".repeat(MAX_TOKEN_BYTES as usize + 1);
    let msg = alloc::format!(
        "{}",
        read_speech_model(&write_speech_model(&model)).unwrap_err()
    );
    assert!(msg.contains("transcript separator"), "{msg}");
}

#[test]
fn streaming_models_are_written_as_version_7_or_8() {
    let model = random_streaming_model(9, 2, 6, 5);
    for (layout, version) in [(Layout::Compact, 7u32), (Layout::InPlace, 8)] {
        let bytes = super::write_speech_model_as(&model, layout);
        assert_eq!(&bytes[8..12], &version.to_le_bytes());
        let back = read_speech_model(&bytes).unwrap();
        assert_eq!(back, model);
        assert!(back.is_unidirectional() && back.front_end.norm.is_causal());
        for len in 0..bytes.len() {
            assert!(read_model(&bytes[..len]).is_err(), "length {len}");
        }
    }
    // Fixed statistics alone, or one forward-only layer alone, need it too.
    let mut bidirectional = random_speech_model(9, 2, 6, 5, false);
    bidirectional.front_end.norm = model.front_end.norm.clone();
    let bytes = write_speech_model(&bidirectional);
    assert_eq!(&bytes[8..12], &7u32.to_le_bytes());
    assert_eq!(read_speech_model(&bytes).unwrap(), bidirectional);
    let mut mixed = random_speech_model(9, 2, 6, 5, false);
    let crate::speech::EncoderLayers::Int8(layers) = &mut mixed.layers else {
        panic!("an int8 encoder")
    };
    layers[1].backward = None;
    mixed.output = model.output.clone();
    mixed.decoder = None;
    mixed.validate().unwrap();
    let bytes = write_speech_model(&mixed);
    assert_eq!(&bytes[8..12], &7u32.to_le_bytes());
    assert_eq!(read_speech_model(&bytes).unwrap(), mixed);
    // Statistics that do not cover the features, or a scale of 0, are refused.
    let mut short = model.clone();
    if let FeatureNorm::Global { mean, inv_std } = &mut short.front_end.norm {
        mean.pop();
        inv_std.pop();
    }
    let msg = alloc::format!(
        "{}",
        read_speech_model(&write_speech_model(&short)).unwrap_err()
    );
    assert!(msg.contains("normalisation means"), "{msg}");
    let mut zero = model.clone();
    if let FeatureNorm::Global { inv_std, .. } = &mut zero.front_end.norm {
        inv_std[2] = 0;
    }
    let msg = alloc::format!(
        "{}",
        read_speech_model(&write_speech_model(&zero)).unwrap_err()
    );
    assert!(msg.contains("must be positive"), "{msg}");
}

#[test]
fn sixteen_bit_speech_models_are_written_as_version_11_or_12() {
    for model in [
        random_wide_speech_model(9, 2, 6, 5, true, false),
        random_wide_speech_model(9, 3, 4, 6, false, true),
    ] {
        for (layout, version) in [(Layout::Compact, 11u32), (Layout::InPlace, 12)] {
            let bytes = super::write_speech_model_as(&model, layout);
            assert_eq!(&bytes[8..12], &version.to_le_bytes());
            let back = read_speech_model(&bytes).unwrap();
            assert_eq!(back, model);
            assert_eq!(back.layers.activation_bits(), 16);
            for len in 0..bytes.len() {
                assert!(read_model(&bytes[..len]).is_err(), "length {len}");
            }
        }
    }
    // The width byte must say 8 or 16: without a convolution it follows
    // the kind (1), front end (32), stack (4), feature multiplier (8),
    // zero point (4) and convolution flag (1).
    let model = random_wide_speech_model(9, 2, 6, 5, false, false);
    let bytes = write_speech_model(&model);
    let at = 1 + 32 + 4 + 8 + 4 + 1;
    assert_eq!(bytes[HEADER_LEN + at], 16);
    let edited = with_version_and_payload_edit(&bytes, 11, |p| p[at] = 9);
    let msg = alloc::format!("{}", read_speech_model(&edited).unwrap_err());
    assert!(msg.contains("encoder activation bits 9"), "{msg}");
    // Read as 8 bits, the same layers are another model (or refused).
    let edited = with_version_and_payload_edit(&bytes, 11, |p| p[at] = 8);
    assert_ne!(read_speech_model(&edited).ok(), Some(model));
}

#[test]
fn four_bit_models_are_written_as_version_9_or_10_at_half_the_weight_bytes() {
    let model = random_four_bit_language_model(5, 11, 40);
    let eight = random_language_model(5, 11, 40);
    for (layout, version) in [(Layout::Compact, 9u32), (Layout::InPlace, 10)] {
        let bytes = write_language_model_as(&model, layout);
        assert_eq!(&bytes[8..12], &version.to_le_bytes());
        let back = read_language_model(&bytes).unwrap();
        assert_eq!(back, model);
        assert_eq!(write_language_model_as(&back, layout), bytes);
        for len in 0..bytes.len() {
            assert!(read_model(&bytes[..len]).is_err(), "length {len}");
        }
        // The recurrent weights take half the bytes of the 8-bit model's.
        let eight_bytes = write_language_model_as(&eight, layout);
        let size = |m: &crate::PackedMatrix| m.rows() * m.cols();
        let matrices: usize = eight
            .layers
            .iter()
            .map(|l| match &l.cell {
                crate::model::RecurrentCell::Lstm(c) => size(&c.w_x) + size(&c.w_h),
                crate::model::RecurrentCell::Gru(c) => {
                    size(&c.w_x) + size(&c.w_h) + c.w_hn.as_ref().map_or(0, size)
                }
            })
            .sum();
        let saved = eight_bytes.len() - bytes.len();
        // (At least half the weights' bytes, less a few headers; the
        // in-place layout also saves half of each matrix's padding.)
        assert!(saved + 64 * 8 >= matrices / 2, "{saved} of {matrices}");
    }
    // The 8-bit model keeps version 3: nothing else changed for it.
    assert_eq!(&write_language_model(&eight)[8..12], &3u32.to_le_bytes());
}

#[test]
fn four_bit_matrices_with_bad_bits_or_padding_are_refused() {
    use crate::kernels::{PackedMatrix, WeightBits};
    // One 1 × 3 matrix as version 9 writes it: bits, columns, a 1 × 2 byte
    // tensor whose last high nibble is padding.
    let m = PackedMatrix::from_row_major_bits(WeightBits::Four, 1, 3, &[-8, 7, -1]).unwrap();
    let mut w = codec::Writer::new(Layout::Compact);
    w.matrix_bits = true;
    w.matrix(&m);
    let read =
        |bytes: &[u8]| codec::Reader::payload(bytes, WEIGHT_BITS_VERSION, None).matrix("W", 1, 3);
    assert_eq!(read(&w.bytes).unwrap(), m);
    assert_eq!(w.bytes[0], 4);
    for bad in [0u8, 5, 16] {
        let mut bytes = w.bytes.clone();
        bytes[0] = bad;
        let msg = alloc::format!("{}", read(&bytes).unwrap_err());
        assert!(msg.contains("bits per weight"), "{msg}");
    }
    let mut padded = w.bytes.clone();
    *padded.last_mut().unwrap() |= 0x30;
    let msg = alloc::format!("{}", read(&padded).unwrap_err());
    assert!(msg.contains("padding nibble"), "{msg}");
    let mut wide = w.bytes.clone();
    wide[1] = 4; // the column count no longer matches the tensor
    assert!(read(&wide).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Random byte edits behind a valid checksum: never a panic, and either
    /// an error or a model that is valid and round-trips.
    #[test]
    fn mutated_payloads_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let good = sample_file();
        let file = with_payload_edit(&good, |p| {
            for (i, v) in &edits {
                let at = i.index(p.len());
                p[at] = *v;
            }
            if let Some(c) = cut {
                let at = c.index(p.len());
                p.truncate(at);
            }
        });
        if let Ok(model) = read_language_model(&file) {
            prop_assert!(model.validate().is_ok());
            // A model that loads must also run without panicking.
            let mut state = model.zero_state();
            let mut logits = alloc::vec![0; model.classes()];
            for t in 0..3 {
                model.step(crate::kernels::Isa::Scalar, t, &mut state, &mut logits).unwrap();
            }
            prop_assert_eq!(read_language_model(&write_language_model(&model)).unwrap(), model);
        }
    }

    /// The same for speech models: a model that loads also runs.
    #[test]
    fn mutated_speech_payloads_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let file = with_payload_edit(&speech_file(), |p| {
            for (i, v) in &edits {
                let at = i.index(p.len());
                p[at] = *v;
            }
        });
        if let Ok(model) = read_speech_model(&file) {
            prop_assert!(model.validate().is_ok());
            let frames: Vec<i8> = (0..5 * model.features()).map(|i| i as i8).collect();
            let logits = model.logits(crate::kernels::Isa::Scalar, &frames).unwrap();
            model.greedy_decode(&logits);
            prop_assert_eq!(read_speech_model(&write_speech_model(&model)).unwrap(), model);
        }
    }

    /// The same for a model with 4-bit matrices (version 9).
    #[test]
    fn mutated_four_bit_payloads_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let good = write_language_model(&random_four_bit_language_model(3, 11, 16));
        let file = with_payload_edit(&good, |p| {
            for (i, v) in &edits {
                let at = i.index(p.len());
                p[at] = *v;
            }
        });
        if let Ok(model) = read_language_model(&file) {
            prop_assert!(model.validate().is_ok());
            let mut state = model.zero_state();
            let mut logits = alloc::vec![0; model.classes()];
            for t in 0..3 {
                model.step(crate::kernels::Isa::Scalar, t, &mut state, &mut logits).unwrap();
            }
            prop_assert_eq!(read_language_model(&write_language_model(&model)).unwrap(), model);
        }
    }

    /// Raw byte edits anywhere in the file (header and checksum included)
    /// are errors. The one field outside the checksum that can change and
    /// still read is the format version: a language model reads the same
    /// under versions 2, 3, 5 and 7 (they differ in speech fields only), so
    /// there the file must give back exactly the model written.
    #[test]
    fn mutated_files_never_panic(at in any::<prop::sample::Index>(), v in any::<u8>()) {
        let model = random_language_model(3, 11, 16);
        let mut file = write_language_model(&model);
        let i = at.index(file.len());
        let changed = file[i] != v;
        file[i] = v;
        let result = read_language_model(&file);
        if changed {
            let version_field = (MAGIC.len()..MAGIC.len() + 4).contains(&i);
            match result {
                Err(_) => {}
                Ok(back) => prop_assert!(version_field && back == model, "byte {} read", i),
            }
        }
    }
}

/// FNV-1a over the little-endian bytes of int32 values: a digest that is
/// the same on every platform for the same values.
fn digest(values: &[i32]) -> u64 {
    values
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        })
}

/// One model file, every kernel this CPU runs, one answer — and the same
/// answer on every architecture: the digests below were computed by the
/// scalar reference, and CI runs this test on x86-64 and, under qemu, on
/// aarch64 with each NEON tier. The models are drawn from a seeded
/// platform-independent generator, written to bytes and read back, so this
/// is what a deployed `.irnn` file computes.
#[test]
fn one_file_gives_the_same_int32_logits_on_every_kernel_and_platform() {
    // Width 40: a partial 4-column group and partial 16-row blocks in
    // every matrix; four layers cover LSTM, LayerNorm + capped LSTM and both GRUs.
    let lm =
        read_language_model(&write_language_model(&random_language_model(21, 13, 40))).unwrap();
    let tokens: Vec<u32> = (0..48).map(|i| (i * 5 + i / 4) % 13).collect();
    let run = |isa: Isa| {
        let mut state = lm.zero_state();
        let mut logits = alloc::vec![0; tokens.len() * lm.classes()];
        lm.run(isa, &tokens, &mut state, &mut logits).unwrap();
        logits
    };
    let reference = run(Isa::Scalar);
    // Not degenerate: the logits move from step to step.
    assert_ne!(reference[..13], reference[13 * 20..13 * 21]);
    for isa in Isa::available() {
        assert_eq!(run(isa), reference, "language model, {}", isa.name());
    }
    let speech = read_speech_model(&write_speech_model(&random_speech_model(
        22, 2, 12, 20, true,
    )))
    .unwrap();
    let frames = 30;
    let features: Vec<i8> = (0..frames * speech.features())
        .map(|i| ((i * 37 + i / 7) % 251) as u8 as i8)
        .collect();
    let scores = |isa: Isa| speech.logits(isa, &features).unwrap();
    let speech_reference = scores(Isa::Scalar);
    assert!(speech_reference.windows(2).any(|w| w[0] != w[1]));
    for isa in Isa::available() {
        assert_eq!(
            scores(isa),
            speech_reference,
            "speech model, {}",
            isa.name()
        );
    }
    assert_eq!(
        (digest(&reference), digest(&speech_reference)),
        (4_561_956_706_817_988_204, 11_872_427_869_589_399_858),
        "the scalar reference changed: every deployed file would compute different logits"
    );
}
