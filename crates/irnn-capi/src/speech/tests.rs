use std::ffi::{c_char, CStr};
use std::ptr::{null, null_mut};

use irnn_train::audio::read_wav;

use super::*;
use crate::irnn_last_error;

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/models/asr-qat.irnn"
);
const WAV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/fsdd/2_yweweler_0.wav"
);

fn last_error() -> String {
    // SAFETY: the library returns a live NUL-terminated string.
    unsafe { CStr::from_ptr(irnn_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// The WAV file's samples as the 16-bit PCM a C caller holds.
fn pcm() -> Vec<i16> {
    // read_wav gives s / 32768 for 16-bit files: back to the integers.
    read_wav(std::path::Path::new(WAV), 8000)
        .unwrap()
        .iter()
        .map(|&v| (v * 32768.0).round() as i16)
        .collect()
}

fn load() -> *mut IrnnSpeechModel {
    let mut m = null_mut();
    let path = std::ffi::CString::new(MODEL).unwrap();
    // SAFETY: a NUL-terminated path and a writable pointer.
    assert_eq!(
        unsafe { irnn_speech_load_path(path.as_ptr(), &mut m) },
        IrnnStatus::Ok
    );
    m
}

#[test]
fn the_c_api_transcribes_as_the_cli_does() {
    let bytes = std::fs::read(MODEL).unwrap();
    let model = read_speech_model(&bytes).unwrap();
    let samples = read_wav(std::path::Path::new(WAV), 8000).unwrap();
    let expected = Transcriber::new(&model, Isa::detect())
        .text(&samples, 8000, Decoding::Ctc { beam: 1 })
        .unwrap();
    let m = load();
    let pcm = pcm();
    let mut rate = 0;
    let mut text = [0 as c_char; 256];
    let mut written = 0;
    // SAFETY: live model, buffers of the stated lengths.
    unsafe {
        assert_eq!(irnn_speech_sample_rate(m, &mut rate), IrnnStatus::Ok);
        assert_eq!(rate, 8000);
        let status = irnn_speech_transcribe(
            m,
            pcm.as_ptr(),
            pcm.len(),
            rate,
            text.as_mut_ptr(),
            text.len(),
            &mut written,
        );
        assert_eq!(status, IrnnStatus::Ok, "{}", last_error());
        let got = CStr::from_ptr(text.as_ptr()).to_str().unwrap();
        assert_eq!(got, expected);
        assert_eq!(written, expected.len());
        irnn_speech_free(m);
    }
}

#[test]
fn bad_calls_are_error_codes() {
    let m = load();
    let pcm = pcm();
    let mut out = null_mut();
    let mut rate = 0;
    let mut text = [0 as c_char; 1];
    let mut n = 0;
    // SAFETY: every pointer is null, valid, or paired with its true length.
    unsafe {
        let null_cases = [
            irnn_speech_load(null(), 4, &mut out),
            irnn_speech_load_path(null(), &mut out),
            irnn_speech_sample_rate(null(), &mut rate),
            irnn_speech_sample_rate(m, null_mut()),
            irnn_speech_transcribe(null(), pcm.as_ptr(), 1, 8000, text.as_mut_ptr(), 1, &mut n),
            irnn_speech_transcribe(m, null(), 1, 8000, text.as_mut_ptr(), 1, &mut n),
            irnn_speech_transcribe(m, pcm.as_ptr(), 1, 8000, null_mut(), 1, &mut n),
            irnn_speech_transcribe(m, pcm.as_ptr(), 1, 8000, text.as_mut_ptr(), 1, null_mut()),
        ];
        for (k, status) in null_cases.iter().enumerate() {
            assert_eq!(*status, IrnnStatus::NullPointer, "case {k}");
        }
        // Another rate is resampled (the same audio at 16 kHz transcribes);
        // a rate of 0 is an error.
        let up = irnn_train::audio::resample(
            &pcm.iter()
                .map(|&s| f32::from(s) / 32768.0)
                .collect::<Vec<_>>(),
            8000,
            16000,
        )
        .unwrap();
        let pcm16k: Vec<i16> = up
            .iter()
            .map(|&v| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
            .collect();
        let mut at16k = [0 as c_char; 256];
        let status = irnn_speech_transcribe(
            m,
            pcm16k.as_ptr(),
            pcm16k.len(),
            16000,
            at16k.as_mut_ptr(),
            at16k.len(),
            &mut n,
        );
        assert_eq!(status, IrnnStatus::Ok, "{}", last_error());
        let status =
            irnn_speech_transcribe(m, pcm.as_ptr(), pcm.len(), 0, text.as_mut_ptr(), 1, &mut n);
        assert_eq!(status, IrnnStatus::InvalidArgument);
        assert!(last_error().contains("0 Hz"), "{}", last_error());
        // No samples.
        let status = irnn_speech_transcribe(m, pcm.as_ptr(), 0, 8000, text.as_mut_ptr(), 1, &mut n);
        assert_eq!(status, IrnnStatus::InvalidArgument);
        assert!(last_error().contains("no samples"), "{}", last_error());
        // A one-byte buffer: too short for any transcript but the empty one,
        // and the length needed comes back.
        let status = irnn_speech_transcribe(
            m,
            pcm.as_ptr(),
            pcm.len(),
            8000,
            text.as_mut_ptr(),
            1,
            &mut n,
        );
        if n > 0 {
            assert_eq!(status, IrnnStatus::InvalidArgument);
            assert!(
                last_error().contains("transcript needs"),
                "{}",
                last_error()
            );
        } else {
            assert_eq!(status, IrnnStatus::Ok);
        }
        // A language model is not a speech model; a missing file is I/O.
        let lm = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/models/lm.irnn\0"
        );
        assert_eq!(
            irnn_speech_load_path(lm.as_ptr().cast(), &mut out),
            IrnnStatus::Format
        );
        assert!(last_error().contains("lm.irnn"), "{}", last_error());
        assert_eq!(
            irnn_speech_load_path(c"/no/such.irnn".as_ptr(), &mut out),
            IrnnStatus::Io
        );
        irnn_speech_free(null_mut());
        irnn_speech_free(m);
    }
}

#[test]
fn hostile_speech_models_are_error_codes() {
    let bytes = std::fs::read(MODEL).unwrap();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for at in (0..64).chain((64..bytes.len()).step_by(61)) {
        let mut b = bytes.clone();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b[at] ^= (x as u8) | 1;
        let mut m = null_mut();
        // SAFETY: a live buffer and a writable pointer.
        match unsafe { irnn_speech_load(b.as_ptr(), b.len(), &mut m) } {
            IrnnStatus::Ok => unsafe { irnn_speech_free(m) },
            status => assert_eq!(status, IrnnStatus::Format, "byte {at}"),
        }
    }
}

#[test]
fn feature_frames_give_the_runtimes_scores() {
    let bytes = std::fs::read(MODEL).unwrap();
    let model = read_speech_model(&bytes).unwrap();
    let m = load();
    let (mut features, mut classes, mut stack) = (0, 0, 0);
    // SAFETY: live model, writable outputs.
    unsafe {
        assert_eq!(
            irnn_speech_shape(m, &mut features, &mut classes, &mut stack),
            IrnnStatus::Ok
        );
    }
    assert_eq!(
        (features, classes, stack),
        (model.features(), model.classes(), model.stack)
    );
    let frames = 23;
    let input: Vec<i8> = (0..frames * features)
        .map(|i| (i * 29 % 255) as i8)
        .collect();
    let expected = model.logits(Isa::detect(), &input).unwrap();
    let mut logits = vec![0i32; expected.len()];
    let mut written = 0;
    // SAFETY: buffers of the stated lengths.
    unsafe {
        let status = irnn_speech_logits(
            m,
            input.as_ptr(),
            frames,
            logits.as_mut_ptr(),
            logits.len(),
            &mut written,
        );
        assert_eq!(status, IrnnStatus::Ok, "{}", last_error());
        assert_eq!((written, &logits), (expected.len(), &expected));
        // Too short a buffer says how long it must be; null features with
        // frames is a null pointer; no frames is one step of padding.
        let short = irnn_speech_logits(
            m,
            input.as_ptr(),
            frames,
            logits.as_mut_ptr(),
            3,
            &mut written,
        );
        assert_eq!(short, IrnnStatus::InvalidArgument);
        assert_eq!(written, expected.len());
        let status = irnn_speech_logits(
            m,
            null(),
            2,
            logits.as_mut_ptr(),
            logits.len(),
            &mut written,
        );
        assert_eq!(status, IrnnStatus::NullPointer);
        let status = irnn_speech_logits(
            m,
            null(),
            0,
            logits.as_mut_ptr(),
            logits.len(),
            &mut written,
        );
        assert_eq!(status, IrnnStatus::Ok);
        assert_eq!(written, classes);
        let status = irnn_speech_shape(m, null_mut(), &mut classes, &mut stack);
        assert_eq!(status, IrnnStatus::NullPointer);
        irnn_speech_free(m);
    }
}

const STREAMING_MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../fixtures/models-v7/asr-stream-qat.irnn"
);

fn load_model(path: &str) -> *mut IrnnSpeechModel {
    let mut m = null_mut();
    let path = std::ffi::CString::new(path).unwrap();
    // SAFETY: a NUL-terminated path and a writable pointer.
    assert_eq!(
        unsafe { irnn_speech_load_path(path.as_ptr(), &mut m) },
        IrnnStatus::Ok,
        "{}",
        last_error()
    );
    m
}

/// The text a buffer holds after a successful copy.
fn text_of(buf: &[u8], written: usize) -> String {
    String::from_utf8(buf[..written].to_vec()).unwrap()
}

#[test]
fn streamed_pcm_gives_the_offline_transcript() {
    use super::stream::*;
    let m = load_model(STREAMING_MODEL);
    let pcm = pcm();
    let mut buf = vec![0u8; 256];
    let mut written = 0;
    // SAFETY: live model, valid buffers throughout.
    unsafe {
        let status = irnn_speech_transcribe(
            m,
            pcm.as_ptr(),
            pcm.len(),
            8000,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut written,
        );
        assert_eq!(status, IrnnStatus::Ok, "{}", last_error());
        let offline = text_of(&buf, written);
        assert_eq!(offline, "1 5 1");
        for chunk in [1usize, 333, 1600, 100_000] {
            let mut s = null_mut();
            assert_eq!(irnn_speech_stream_new(m, 8000, &mut s), IrnnStatus::Ok);
            let (mut grew, mut grown) = (0, 0);
            for piece in pcm.chunks(chunk) {
                let status = irnn_speech_stream_push(s, piece.as_ptr(), piece.len(), &mut grew);
                assert_eq!(status, IrnnStatus::Ok, "{}", last_error());
                grown += grew;
            }
            assert_eq!(irnn_speech_stream_finish(s, &mut grew), IrnnStatus::Ok);
            grown += grew;
            assert!(grown >= 1);
            let status =
                irnn_speech_stream_text(s, buf.as_mut_ptr().cast(), buf.len(), &mut written);
            assert_eq!(status, IrnnStatus::Ok);
            assert_eq!(text_of(&buf, written), offline, "chunks of {chunk}");
            // Pushing after the end is refused; finishing again is nothing.
            let status = irnn_speech_stream_push(s, pcm.as_ptr(), 10, &mut grew);
            assert_eq!(status, IrnnStatus::Runtime);
            assert!(last_error().contains("finished"), "{}", last_error());
            assert_eq!(irnn_speech_stream_finish(s, &mut grew), IrnnStatus::Ok);
            assert_eq!(grew, 0);
            // A buffer too short says how long the text is.
            let status = irnn_speech_stream_text(s, buf.as_mut_ptr().cast(), 2, &mut written);
            assert_eq!(
                (status, written),
                (IrnnStatus::InvalidArgument, offline.len())
            );
            irnn_speech_stream_free(s);
        }
        // Another rate is resampled as it arrives; a stream without audio
        // cannot finish; null pointers are named.
        let mut s = null_mut();
        assert_eq!(irnn_speech_stream_new(m, 16000, &mut s), IrnnStatus::Ok);
        let mut grew = 0;
        assert_eq!(
            irnn_speech_stream_finish(s, &mut grew),
            IrnnStatus::InvalidArgument
        );
        assert!(last_error().contains("no samples"), "{}", last_error());
        assert_eq!(
            irnn_speech_stream_push(s, null(), 5, &mut grew),
            IrnnStatus::NullPointer
        );
        irnn_speech_stream_free(s);
        assert_eq!(
            irnn_speech_stream_new(m, 0, &mut s),
            IrnnStatus::InvalidArgument
        );
        irnn_speech_stream_free(null_mut());
        irnn_speech_free(m);
        // A bidirectional model cannot stream, and says so.
        let bi = load_model(MODEL);
        let mut s = null_mut();
        assert_eq!(
            irnn_speech_stream_new(bi, 8000, &mut s),
            IrnnStatus::InvalidArgument
        );
        assert!(last_error().contains("unidirectional"), "{}", last_error());
        assert!(s.is_null());
        irnn_speech_free(bi);
    }
}
