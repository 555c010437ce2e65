//! Any bytes given to the model reader: an error or a model, never a
//! panic, a hang or an allocation beyond what the bytes could describe;
//! every accepted model runs one step identically on the scalar kernels
//! and on the fastest this CPU has. Each input is read as it is and, so
//! that mutations reach the layer codecs behind the checksum, once more
//! with its length and CRC fields recomputed.
#![no_main]

use irnn_runtime::format::{read_model, Model};
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

fn check(bytes: &[u8]) {
    let Ok(model) = read_model(bytes) else {
        return;
    };
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
