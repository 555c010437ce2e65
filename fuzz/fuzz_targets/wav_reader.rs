//! Any bytes as a WAV file: samples or a named error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let dir = std::env::temp_dir().join(format!("irnn-fuzz-wav-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("input.wav");
    if std::fs::write(&path, bytes).is_ok() {
        let _ = irnn_train::audio::read_wav(&path, 8000);
    }
});
