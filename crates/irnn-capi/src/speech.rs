//! Speech models from C: 16-bit PCM in, text out.
//!
//! The caller hands over the samples as recorded (mono, at any rate: they
//! are resampled to the model's, [`irnn_speech_sample_rate`]); the library computes the
//! log-mel features the model was trained with and runs the integer
//! encoder and decoder, through the same code path as `irnn transcribe`.
//! A caller with its own front end gives int8 feature frames to
//! [`irnn_speech_logits`] instead and reads the int32 CTC scores. A
//! unidirectional model also transcribes audio as it is recorded
//! ([`stream`]).

use std::ffi::c_char;

use irnn_runtime::format::read_speech_model;
use irnn_runtime::speech::IntSpeechModel;
use irnn_runtime::Isa;
use irnn_train::asr::decode::{Decoding, TranscribeError, Transcriber};

use crate::{copy_text, fail, guard, load_bytes, load_path, IrnnStatus};

/// A loaded speech model (opaque).
pub struct IrnnSpeechModel {
    model: IntSpeechModel,
    isa: Isa,
}

/// Loads a speech model from `len` bytes of an `.irnn` file (copied). On
/// success `*out` owns the model: free it with [`irnn_speech_free`].
///
/// # Safety
/// `bytes` must point to `len` readable bytes; `out` to a writable pointer.
#[no_mangle]
pub unsafe extern "C" fn irnn_speech_load(
    bytes: *const u8,
    len: usize,
    out: *mut *mut IrnnSpeechModel,
) -> IrnnStatus {
    // SAFETY: forwarded promises.
    unsafe {
        load_bytes(bytes, len, out, |b| {
            read_speech_model(b).map(|model| IrnnSpeechModel {
                model,
                isa: Isa::detect(),
            })
        })
    }
}

/// Loads a speech model from the `.irnn` file at `path` (UTF-8).
///
/// # Safety
/// `path` must be a NUL-terminated string; `out` a writable pointer.
#[no_mangle]
pub unsafe extern "C" fn irnn_speech_load_path(
    path: *const c_char,
    out: *mut *mut IrnnSpeechModel,
) -> IrnnStatus {
    // SAFETY: forwarded promises.
    unsafe {
        load_path(path, out, |bytes, out| {
            irnn_speech_load(bytes.as_ptr(), bytes.len(), out)
        })
    }
}

/// Frees a speech model (null is ignored).
///
/// # Safety
/// `model` must come from `irnn_speech_load*` and not be used after.
#[no_mangle]
pub unsafe extern "C" fn irnn_speech_free(model: *mut IrnnSpeechModel) {
    if !model.is_null() {
        // SAFETY: ownership returns from the caller (see above).
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop(unsafe { Box::from_raw(model) })
        }));
    }
}

/// Writes the sample rate (Hz) the model's audio must have to `*out`.
///
/// # Safety
/// `model` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn irnn_speech_sample_rate(
    model: *const IrnnSpeechModel,
    out: *mut u32,
) -> IrnnStatus {
    guard(|| {
        non_null!(model, out);
        // SAFETY: live model, writable `out`.
        unsafe { *out = (*model).model.front_end.sample_rate };
        IrnnStatus::Ok
    })
}

/// Transcribes `count` mono 16-bit samples recorded at `sample_rate` Hz
/// (resampled to the model's rate when it is another) with greedy CTC
/// decoding, and copies the
/// text (labels joined by the model's separator: a space between words,
/// nothing between characters; NUL-terminated) into `text`
/// (`capacity` bytes), its length into `*written`. A buffer too short is
/// `IRNN_STATUS_INVALID_ARGUMENT` with `*written` the length needed; call
/// again with a larger one.
///
/// # Safety
/// `model` live; `pcm` readable for `count` samples; `text` writable for
/// `capacity` bytes; `written` writable.
#[no_mangle]
pub unsafe extern "C" fn irnn_speech_transcribe(
    model: *const IrnnSpeechModel,
    pcm: *const i16,
    count: usize,
    sample_rate: u32,
    text: *mut c_char,
    capacity: usize,
    written: *mut usize,
) -> IrnnStatus {
    guard(|| {
        non_null!(model, pcm, text, written);
        // SAFETY: live model; `count` readable samples (caller's promise).
        let (m, pcm) = unsafe { (&*model, std::slice::from_raw_parts(pcm, count)) };
        let samples: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32768.0).collect();
        let transcriber = Transcriber::new(&m.model, m.isa);
        match transcriber.text(&samples, sample_rate, Decoding::Ctc { beam: 1 }) {
            // SAFETY: `text` writable for `capacity` bytes, `written` writable.
            Ok(t) => unsafe { copy_text(t.as_bytes(), text, capacity, written, "transcript") },
            Err(e @ (TranscribeError::Resample(_) | TranscribeError::Empty)) => {
                fail(IrnnStatus::InvalidArgument, e.to_string())
            }
            Err(e) => fail(IrnnStatus::Runtime, e.to_string()),
        }
    })
}

/// Writes the model's feature count per frame (`*features`), the output
/// classes (`*classes`, class 0 the CTC blank) and the frames stacked per
/// step (`*stack`): the shapes of [`irnn_speech_logits`].
///
/// # Safety
/// `model` live; the three outputs writable.
#[no_mangle]
pub unsafe extern "C" fn irnn_speech_shape(
    model: *const IrnnSpeechModel,
    features: *mut usize,
    classes: *mut usize,
    stack: *mut usize,
) -> IrnnStatus {
    guard(|| {
        non_null!(model, features, classes, stack);
        // SAFETY: live model, writable outputs.
        unsafe {
            let m = &(*model).model;
            *features = m.features();
            *classes = m.classes();
            *stack = m.stack;
        }
        IrnnStatus::Ok
    })
}

/// The integer network alone: `frames` feature frames already on the
/// model's int8 grid (`frames × features` values, row-major) in, the int32
/// CTC scores out (`steps × classes`, `steps = max(1, ⌈frames / stack⌉)`)
/// into `logits` (`capacity` values), the number written to `*written`. A
/// buffer too short is `IRNN_STATUS_INVALID_ARGUMENT` with `*written` the
/// count needed.
///
/// # Safety
/// `model` live; `features` readable for `frames × features` values (may
/// be null if `frames` is 0); `logits` writable for `capacity` values;
/// `written` writable.
#[no_mangle]
pub unsafe extern "C" fn irnn_speech_logits(
    model: *const IrnnSpeechModel,
    features: *const i8,
    frames: usize,
    logits: *mut i32,
    capacity: usize,
    written: *mut usize,
) -> IrnnStatus {
    guard(|| {
        non_null!(model, logits, written);
        if frames > 0 && features.is_null() {
            return fail(IrnnStatus::NullPointer, "features is null");
        }
        // SAFETY: live model.
        let m = unsafe { &*model };
        let Some(len) = frames.checked_mul(m.model.features()) else {
            return fail(IrnnStatus::InvalidArgument, "frames × features overflows");
        };
        let input: &[i8] = if frames == 0 {
            &[]
        } else {
            // SAFETY: `len` readable values (caller's promise).
            unsafe { std::slice::from_raw_parts(features, len) }
        };
        let needed = m.model.steps(frames) * m.model.classes();
        // SAFETY: writable `written`.
        unsafe { *written = needed };
        if capacity < needed {
            return fail(
                IrnnStatus::InvalidArgument,
                format!("logits buffer holds {capacity} values, {frames} frames give {needed}"),
            );
        }
        match m.model.logits(m.isa, input) {
            Ok(scores) => {
                // SAFETY: `logits` has `capacity` ≥ needed writable values.
                unsafe { std::ptr::copy_nonoverlapping(scores.as_ptr(), logits, scores.len()) };
                IrnnStatus::Ok
            }
            Err(e) => fail(IrnnStatus::Runtime, e.to_string()),
        }
    })
}

pub mod stream;

#[cfg(test)]
mod tests;
