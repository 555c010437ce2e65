use std::ffi::CStr;
use std::ptr::{null, null_mut};

use super::*;

fn fixture() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/models/lm.irnn");
    std::fs::read(path).unwrap()
}

fn last_error() -> String {
    // SAFETY: the library returns a live NUL-terminated string.
    unsafe { CStr::from_ptr(irnn_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn load(bytes: &[u8]) -> Result<*mut IrnnModel, IrnnStatus> {
    let mut m = null_mut();
    // SAFETY: a live buffer and a writable pointer.
    match unsafe { irnn_model_load(bytes.as_ptr(), bytes.len(), &mut m) } {
        IrnnStatus::Ok => Ok(m),
        s => Err(s),
    }
}

#[test]
fn the_header_is_the_one_cbindgen_writes() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .unwrap()
        .write(&mut generated);
    let path = format!("{dir}/include/irnn.h");
    if std::env::var_os("IRNN_WRITE_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/irnn.h is out of date: run `IRNN_WRITE_HEADER=1 cargo test -p irnn-capi`"
    );
}

#[test]
fn the_c_api_gives_the_runtimes_logits() {
    let bytes = fixture();
    let rust = read_language_model(&bytes).unwrap();
    let m = load(&bytes).unwrap();
    let mut s = null_mut();
    let mut classes = 0;
    // SAFETY: live model; writable outputs.
    unsafe {
        assert_eq!(irnn_model_classes(m, &mut classes), IrnnStatus::Ok);
        assert_eq!(irnn_state_new(m, &mut s), IrnnStatus::Ok);
    }
    assert_eq!(classes, rust.classes());
    let ids: Vec<u32> = "ROMEO:"
        .chars()
        .map(|c| rust.vocabulary.id(&c.to_string()).unwrap())
        .collect();
    let mut logits = vec![0i32; classes];
    // SAFETY: buffers of the stated lengths.
    let status = unsafe { irnn_run(m, s, ids.as_ptr(), ids.len(), logits.as_mut_ptr(), classes) };
    assert_eq!(status, IrnnStatus::Ok);
    let mut state = rust.zero_state();
    let mut expected = vec![0i32; classes];
    for &id in &ids {
        rust.step(Isa::detect(), id, &mut state, &mut expected)
            .unwrap();
    }
    assert_eq!(logits, expected);
    // One more step, then a reset gives the first step's logits again.
    let mut first = vec![0i32; classes];
    let mut again = vec![0i32; classes];
    // SAFETY: as above.
    unsafe {
        assert_eq!(irnn_state_reset(m, s), IrnnStatus::Ok);
        assert_eq!(
            irnn_step(m, s, ids[0], first.as_mut_ptr(), classes),
            IrnnStatus::Ok
        );
        assert_eq!(irnn_state_reset(m, s), IrnnStatus::Ok);
        assert_eq!(
            irnn_step(m, s, ids[0], again.as_mut_ptr(), classes),
            IrnnStatus::Ok
        );
    }
    assert_eq!(first, again);
    // Tokens to ids and back.
    let mut id = 0;
    let mut buf = [0 as c_char; 8];
    let mut written = 0;
    // SAFETY: NUL-terminated token, writable outputs.
    unsafe {
        assert_eq!(
            irnn_model_token_id(m, c"R".as_ptr(), &mut id),
            IrnnStatus::Ok
        );
        assert_eq!(
            irnn_model_token(m, id, buf.as_mut_ptr(), buf.len(), &mut written),
            IrnnStatus::Ok
        );
        assert_eq!(CStr::from_ptr(buf.as_ptr()).to_str().unwrap(), "R");
        irnn_state_free(s);
        irnn_model_free(m);
    }
}

#[test]
fn null_pointers_short_buffers_and_bad_ids_are_error_codes() {
    let bytes = fixture();
    let m = load(&bytes).unwrap();
    let mut s = null_mut();
    let mut out_m = null_mut();
    let mut n = 0usize;
    let mut id = 0u32;
    let mut buf = [0 as c_char; 1];
    let mut logits = [0i32; 4];
    // SAFETY: every pointer is null, valid, or paired with its true length.
    unsafe {
        assert_eq!(irnn_state_new(m, &mut s), IrnnStatus::Ok);
        let null_cases = [
            irnn_model_load(null(), 5, &mut out_m),
            irnn_model_load(bytes.as_ptr(), bytes.len(), null_mut()),
            irnn_model_load_path(null(), &mut out_m),
            irnn_model_classes(null(), &mut n),
            irnn_model_classes(m, null_mut()),
            irnn_model_token_id(null(), c"a".as_ptr(), &mut id),
            irnn_model_token_id(m, null(), &mut id),
            irnn_model_token(m, 0, null_mut(), 4, &mut n),
            irnn_state_new(null(), &mut s),
            irnn_state_reset(m, null_mut()),
            irnn_run(null(), s, &id, 1, logits.as_mut_ptr(), 4),
            irnn_run(m, null_mut(), &id, 1, logits.as_mut_ptr(), 4),
            irnn_run(m, s, null(), 1, logits.as_mut_ptr(), 4),
            irnn_step(m, s, 0, null_mut(), 4),
        ];
        for (k, status) in null_cases.iter().enumerate() {
            assert_eq!(*status, IrnnStatus::NullPointer, "case {k}");
        }
        assert!(last_error().contains("is null"));
        // A logits buffer shorter than the classes.
        assert_eq!(
            irnn_step(m, s, 0, logits.as_mut_ptr(), 4),
            IrnnStatus::InvalidArgument
        );
        assert!(last_error().contains("classes"), "{}", last_error());
        // A token buffer too short says how long it must be.
        assert_eq!(
            irnn_model_token(m, 0, buf.as_mut_ptr(), 1, &mut n),
            IrnnStatus::InvalidArgument
        );
        assert!(n > 0);
        // Unknown ids and tokens.
        let mut all = vec![0i32; 1000];
        assert_eq!(
            irnn_step(m, s, 99_999, all.as_mut_ptr(), 1000),
            IrnnStatus::Runtime
        );
        assert_eq!(
            irnn_model_token(m, 99_999, buf.as_mut_ptr(), 1, &mut n),
            IrnnStatus::InvalidArgument
        );
        assert_eq!(
            irnn_model_token_id(m, c"€".as_ptr(), &mut id),
            IrnnStatus::InvalidArgument
        );
        assert_eq!(
            irnn_model_load_path(c"/no/such/model.irnn".as_ptr(), &mut out_m),
            IrnnStatus::Io
        );
        assert!(last_error().contains("/no/such/model.irnn"));
        // Freeing null is a no-op.
        irnn_state_free(null_mut());
        irnn_model_free(null_mut());
        irnn_state_free(s);
        irnn_model_free(m);
    }
}

#[test]
fn hostile_models_are_error_codes() {
    let bytes = fixture();
    assert_eq!(
        load(&bytes[..bytes.len() / 2]).unwrap_err(),
        IrnnStatus::Format
    );
    assert!(last_error().contains("truncated"), "{}", last_error());
    assert_eq!(load(b"").unwrap_err(), IrnnStatus::Format);
    assert_eq!(load(b"not a model at all").unwrap_err(), IrnnStatus::Format);
    // Every single-byte change of the header and of a spread of payload
    // bytes: a model or a format error, never anything else.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for at in (0..64).chain((64..bytes.len()).step_by(97)) {
        let mut b = bytes.clone();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b[at] ^= (x as u8) | 1;
        match load(&b) {
            Ok(m) => unsafe { irnn_model_free(m) },
            Err(status) => assert_eq!(status, IrnnStatus::Format, "byte {at}"),
        }
    }
}
