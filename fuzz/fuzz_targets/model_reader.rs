//! Any bytes given to the model reader: an error or a model, never a
//! panic, a hang or an allocation beyond what the bytes could describe;
//! every accepted model runs one step identically on the scalar kernels
//! and on the fastest this CPU has. Each input is read as it is and, so
//! that mutations reach the layer codecs behind the checksum, once more
//! with its length and CRC fields recomputed. Every input is also read in
//! place (from a 64-byte-aligned copy) and must give what the copying reader
//! gives; every accepted model is rewritten in the in-place layout and read
//! back in place.
#![no_main]

use irnn_runtime::format::{read_model, read_model_in_place, write_model, Layout, Model};
use irnn_runtime::kernels::packed::Line;
use irnn_runtime::Isa;
use libfuzzer_sys::fuzz_target;

/// `bytes` with the header's payload length and the trailing CRC-32 made
/// to match (magic and version are left as they are).
fn reframed(bytes: &[u8]) -> Option<Vec<u8>> {
    let header = irnn_runtime::format::HEADER_LEN;
    if bytes.len() < header + 4 {
        return None;
    }
    let mut b = bytes.to_vec();
    let end = b.len() - 4;
    let len = (end - header) as u64;
    b[12..20].copy_from_slice(&len.to_le_bytes());
    let crc = crc32fast::hash(&b[header..end]);
    b[end..].copy_from_slice(&crc.to_le_bytes());
    Some(b)
}

fuzz_target!(|bytes: &[u8]| {
    check(bytes);
    if let Some(b) = reframed(bytes) {
        check(&b);
    }
});

/// `read_model_in_place` of an aligned copy of `bytes`, compared with
/// `read_model`'s result.
fn check_in_place(bytes: &[u8], copied: &Result<Model, irnn_runtime::format::FormatError>) {
    let lines = vec![Line([0; 64]); bytes.len().div_ceil(64)];
    // SAFETY: `lines` outlives every use of `aligned` below (the model that
    // borrows from it is dropped at the end of this function, before
    // `lines`); the bytes are initialised and u8 has no validity needs.
    let aligned: &'static mut [u8] =
        unsafe { std::slice::from_raw_parts_mut(lines.as_ptr() as *mut u8, bytes.len()) };
    aligned.copy_from_slice(bytes);
    let in_place = read_model_in_place(aligned);
    match (copied, &in_place) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        // The in-place reader also refuses the compact layout.
        (Ok(_), Err(_)) => assert!(bytes.get(8..12) != Some(&4u32.to_le_bytes()[..])),
        (Err(_), Ok(_)) => panic!("read in place but not by copying"),
        (Err(_), Err(_)) => {}
    }
    drop(in_place);
    drop(lines);
}

fn check(bytes: &[u8]) {
    let copied = read_model(bytes);
    check_in_place(bytes, &copied);
    let Ok(model) = copied else {
        return;
    };
    let in_place = write_model(&model, Layout::InPlace);
    check_in_place(&in_place, &read_model(&in_place));
    match model {
        Model::Language(m) => {
            let run = |isa: Isa| {
                let mut state = m.zero_state();
                let mut logits = vec![0i32; m.classes()];
                m.step(isa, 0, &mut state, &mut logits).map(|_| logits)
            };
            assert_eq!(run(Isa::Scalar), run(Isa::fastest()));
        }
        Model::Speech(m) => {
            let frames = vec![0i8; m.features() * 3];
            assert_eq!(
                m.logits(Isa::Scalar, &frames),
                m.logits(Isa::fastest(), &frames)
            );
        }
    }
}
