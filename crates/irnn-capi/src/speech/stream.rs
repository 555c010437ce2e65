//! Streaming transcription from C: 16-bit PCM pushed as it is recorded, a
//! transcript that grows (a unidirectional model: `irnn train asr
//! --unidirectional`). The same code path as `irnn transcribe --stream`,
//! so the final text equals [`super::irnn_speech_transcribe`]'s.

use std::ffi::c_char;

use irnn_runtime::speech::IntSpeechModel;
use irnn_train::asr::decode::stream::AudioStream;
use irnn_train::asr::decode::{TranscribeError, Transcriber};

use super::IrnnSpeechModel;
use crate::{copy_text, fail, guard, IrnnStatus};

/// A streaming transcription in progress (opaque).
pub struct IrnnSpeechStream {
    // Declared first, so dropped first: it borrows the transcriber, which
    // borrows the model.
    stream: AudioStream<'static>,
    _transcriber: Box<Transcriber<'static>>,
}

/// Why a stream call failed: the caller's input, or the runtime.
fn status_of(e: &TranscribeError) -> IrnnStatus {
    match e {
        TranscribeError::Resample(_) | TranscribeError::Empty => IrnnStatus::InvalidArgument,
        _ => IrnnStatus::Runtime,
    }
}

/// The status of a push or finish, with `*grew` set to whether the
/// transcript grew.
///
/// # Safety
/// `grew` writable.
unsafe fn report_growth(result: Result<bool, TranscribeError>, grew: *mut i32) -> IrnnStatus {
    match result {
        Ok(g) => {
            // SAFETY: writable `grew` (the caller's promise).
            unsafe { *grew = i32::from(g) };
            IrnnStatus::Ok
        }
        Err(e) => fail(status_of(&e), e.to_string()),
    }
}

/// Starts streaming audio recorded at `sample_rate` Hz into `model`. On
/// success `*out` owns the stream: free it with
/// [`irnn_speech_stream_free`], before the model. A model that cannot
/// stream (bidirectional, a convolution, per-utterance normalisation) is
/// `IRNN_STATUS_INVALID_ARGUMENT`, and `irnn_last_error()` says why.
///
/// # Safety
/// `model` live, and kept alive until the stream is freed; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn irnn_speech_stream_new(
    model: *const IrnnSpeechModel,
    sample_rate: u32,
    out: *mut *mut IrnnSpeechStream,
) -> IrnnStatus {
    guard(|| {
        non_null!(model, out);
        // SAFETY: the caller keeps the model alive until the stream is
        // freed, so the reference may live as long as the stream.
        let m: &'static IrnnSpeechModel = unsafe { &*model };
        let inner: &'static IntSpeechModel = &m.model;
        let transcriber = Box::new(Transcriber::new(inner, m.isa));
        // SAFETY: the box's contents never move and outlive `stream`
        // (both are fields of the stream, `stream` dropped first).
        let t: &'static Transcriber<'static> = unsafe { &*(&*transcriber as *const _) };
        match t.stream(sample_rate) {
            Ok(stream) => {
                let s = Box::new(IrnnSpeechStream {
                    stream,
                    _transcriber: transcriber,
                });
                // SAFETY: writable `out`.
                unsafe { *out = Box::into_raw(s) };
                IrnnStatus::Ok
            }
            Err(TranscribeError::Runtime(e)) => fail(IrnnStatus::InvalidArgument, e.to_string()),
            Err(e) => fail(status_of(&e), e.to_string()),
        }
    })
}

/// Pushes `count` mono 16-bit samples (at the stream's rate) and decodes
/// every model step they complete; `*grew` is 1 if the transcript grew,
/// else 0.
///
/// # Safety
/// `stream` live; `pcm` readable for `count` samples (may be null if
/// `count` is 0); `grew` writable.
#[no_mangle]
pub unsafe extern "C" fn irnn_speech_stream_push(
    stream: *mut IrnnSpeechStream,
    pcm: *const i16,
    count: usize,
    grew: *mut i32,
) -> IrnnStatus {
    guard(|| {
        non_null!(stream, grew);
        if count > 0 && pcm.is_null() {
            return fail(IrnnStatus::NullPointer, "pcm is null");
        }
        let pcm: &[i16] = if count == 0 {
            &[]
        } else {
            // SAFETY: `count` readable samples (caller's promise).
            unsafe { std::slice::from_raw_parts(pcm, count) }
        };
        let samples: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32768.0).collect();
        // SAFETY: live stream, used by one thread at a time.
        let s = unsafe { &mut *stream };
        // SAFETY: writable `grew`.
        unsafe { report_growth(s.stream.push(&samples), grew) }
    })
}

/// Ends the audio: decodes what the stream still holds; `*grew` as for
/// [`irnn_speech_stream_push`]. Pushing after this is an error; finishing
/// again does nothing. A stream that got no sample at all is
/// `IRNN_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `stream` live; `grew` writable.
#[no_mangle]
pub unsafe extern "C" fn irnn_speech_stream_finish(
    stream: *mut IrnnSpeechStream,
    grew: *mut i32,
) -> IrnnStatus {
    guard(|| {
        non_null!(stream, grew);
        // SAFETY: live stream.
        let s = unsafe { &mut *stream };
        // SAFETY: writable `grew`.
        unsafe { report_growth(s.stream.finish(), grew) }
    })
}

/// Copies the transcript so far (NUL-terminated) into `text` (`capacity`
/// bytes), its length into `*written`; a buffer too short is
/// `IRNN_STATUS_INVALID_ARGUMENT` with `*written` the length needed.
///
/// # Safety
/// `stream` live; `text` writable for `capacity` bytes; `written` writable.
#[no_mangle]
pub unsafe extern "C" fn irnn_speech_stream_text(
    stream: *const IrnnSpeechStream,
    text: *mut c_char,
    capacity: usize,
    written: *mut usize,
) -> IrnnStatus {
    guard(|| {
        non_null!(stream, text, written);
        // SAFETY: live stream; writable `text` and `written`.
        unsafe {
            let t = (*stream).stream.text();
            copy_text(t.as_bytes(), text, capacity, written, "transcript")
        }
    })
}

/// Frees a stream (null is ignored).
///
/// # Safety
/// `stream` must come from [`irnn_speech_stream_new`] and not be used
/// after.
#[no_mangle]
pub unsafe extern "C" fn irnn_speech_stream_free(stream: *mut IrnnSpeechStream) {
    if !stream.is_null() {
        // SAFETY: ownership returns from the caller (see above).
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop(unsafe { Box::from_raw(stream) })
        }));
    }
}
