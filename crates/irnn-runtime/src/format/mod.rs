//! The `.irnn` model file (docs/FORMAT.md): reading and writing.
//!
//! The reader treats the file as hostile. It never panics, and it never
//! allocates more than the file could hold: every length it reads is checked
//! against the bytes that remain before anything is allocated. Each failure
//! says what was wrong and where ([`FormatError`]).
//!
//! * `framing.rs` — magic, version, length, checksum (`crc.rs`: CRC-32,
//!   a 1 KB table with the `small-crc` feature).
//! * `codec.rs` — the primitives: integers, tensors, multipliers, strings.
//! * `layers/` — one file per layer codec (LSTM, GRU, LayerNorm, PWL table,
//!   convolution, attention, output, matrices), writing and reading side by
//!   side.
//! * `language.rs`, `speech.rs` — the two model kinds, built of layers.

mod codec;
mod crc;
mod error;
mod framing;
mod language;
mod layers;
mod speech;

use alloc::boxed::Box;

pub use error::FormatError;
pub use language::{write_language_model, write_language_model_as};
pub use speech::{write_speech_model, write_speech_model_as};

use crate::model::IntLanguageModel;
use crate::speech::IntSpeechModel;
use codec::{invalid, Reader, Writer};
use framing::checked_payload;

/// How a model file lays out its arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Version 3: matrices row-major, packed when read; every array is
    /// copied to the heap. The default: the smallest file.
    Compact,
    /// Version 4: every matrix stored in the kernels' packed layout at a
    /// 64-byte-aligned offset with its row sums, every int32 array 4-byte
    /// aligned, the arrays the runtime derives (shifts, padded PWL tables)
    /// stored too, so [`read_model_in_place`] uses the file where it lies
    /// (flash, a `static`, a memory map) without copying a weight.
    InPlace,
}

/// The first 8 bytes of every model file.
pub const MAGIC: [u8; 8] = *b"IRNNMODL";
/// The format version this build writes in the compact layout for a
/// model that version 3 can hold (every language model; a speech model
/// whose transcript joins labels with a space).
pub const VERSION: u32 = 3;
/// The format version of the in-place layout ([`Layout::InPlace`]) for the
/// same models.
pub const IN_PLACE_VERSION: u32 = 4;
/// Version 5: version 3 plus the speech model's transcript separator (the
/// string between labels: "" for character units). Written only for
/// models that need it, so every other file stays readable by older builds.
pub const SEPARATOR_VERSION: u32 = 5;
/// Version 6: the in-place layout of version 5.
pub const IN_PLACE_SEPARATOR_VERSION: u32 = 6;
/// Version 7: version 5 plus what a streaming speech model needs: the
/// number of directions of each encoder layer (1: forward only) and the
/// features' normalisation (per utterance, or fixed statistics). Written
/// only for models that need it (a unidirectional layer or fixed
/// statistics).
pub const STREAMING_VERSION: u32 = 7;
/// Version 8: the in-place layout of version 7.
pub const IN_PLACE_STREAMING_VERSION: u32 = 8;
/// Version 9: version 7 plus each weight matrix's bits per weight (8, or
/// 4 with two weights per byte). Written only for models with a 4-bit
/// matrix.
pub const WEIGHT_BITS_VERSION: u32 = 9;
/// Version 10: the in-place layout of version 9.
pub const IN_PLACE_WEIGHT_BITS_VERSION: u32 = 10;
/// Version 11: version 9 plus a speech encoder's activation bits (8, or 16
/// for 16-bit inputs and h). Written only for speech models with 16-bit
/// activations.
pub const ACTIVATION_BITS_VERSION: u32 = 11;
/// Version 12: the in-place layout of version 11.
pub const IN_PLACE_ACTIVATION_BITS_VERSION: u32 = 12;
/// The newest version this build reads.
pub const NEWEST_VERSION: u32 = IN_PLACE_ACTIVATION_BITS_VERSION;
/// The oldest version this build reads (version 2 lacks the speech front
/// end's `range_db`, read as 0).
pub const OLDEST_VERSION: u32 = 2;
/// Header bytes before the payload: magic, version, payload length.
pub const HEADER_LEN: usize = 8 + 4 + 8;
/// Largest dimension accepted for any tensor axis.
pub const MAX_DIM: u32 = 1 << 24;
/// Largest number of recurrent layers.
pub const MAX_LAYERS: u32 = 256;
/// Largest token, in bytes.
pub const MAX_TOKEN_BYTES: u32 = 1024;

/// A model of either kind, as read from a file.
// The language model is a few hundred bytes of handles to its tables, made
// once per load; boxing it would change every caller for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Model {
    /// A language model (model kind 1).
    Language(IntLanguageModel),
    /// A CTC speech recogniser (model kind 2).
    Speech(Box<IntSpeechModel>),
}

/// Parses the bytes of a `.irnn` file of any model kind and either layout
/// (every array copied to the heap).
pub fn read_model(bytes: &[u8]) -> Result<Model, FormatError> {
    let (version, payload) = checked_payload(bytes)?;
    read_payload(Reader::payload(payload, version, None))
}

/// Uses a `.irnn` file in the in-place layout ([`Layout::InPlace`], written
/// by [`write_model`] or `irnn pack`) where it lies: every weight matrix,
/// row sum, bias, multiplier, PWL table and embedding of the model borrows
/// from `bytes`, which must start at a 64-byte-aligned address (an aligned
/// `static`, flash, a memory map). What is allocated is the structs that
/// point into the file, the vocabulary or labels, and the LayerNorm and
/// convolution parameters (small, per channel). Every check of
/// [`read_model`] runs, on the bytes in place.
pub fn read_model_in_place(bytes: &'static [u8]) -> Result<Model, FormatError> {
    let (version, payload) = in_place_payload(bytes)?;
    read_payload(Reader::payload(payload, version, Some(payload)))
}

/// [`read_model_in_place`] for a language model only: firmware that runs
/// one links no speech-model reader.
pub fn read_language_model_in_place(bytes: &'static [u8]) -> Result<IntLanguageModel, FormatError> {
    let (version, payload) = in_place_payload(bytes)?;
    let mut r = Reader::payload(payload, version, Some(payload));
    if r.u8("model kind")? != 1 {
        return Err(invalid("this is not a language model (model kind 1)"));
    }
    let m = r.language_model()?;
    m.validate()?;
    if r.remaining() != 0 {
        return Err(FormatError::TrailingBytes(r.remaining()));
    }
    Ok(m)
}

/// The checked payload of a file to be used in place.
fn in_place_payload(bytes: &'static [u8]) -> Result<(u32, &'static [u8]), FormatError> {
    if !(bytes.as_ptr() as usize).is_multiple_of(64) {
        return Err(invalid(
            "a model used in place must start at a 64-byte-aligned address \
             (align the static or buffer that holds it)",
        ));
    }
    if cfg!(target_endian = "big") {
        return Err(invalid(
            "models are used in place on little-endian targets only (read_model copies)",
        ));
    }
    let (version, payload) = checked_payload(bytes)?;
    if layout_of(version) != Layout::InPlace {
        return Err(invalid(alloc::format!(
            "format version {version} is the compact layout, which is read by copying; \
             rewrite the file in the in-place layout (irnn pack) to use it in place"
        )));
    }
    Ok((version, payload))
}

/// What a model needs of the format beyond version 3; each level holds
/// the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(in crate::format) enum Needs {
    /// Everything version 3 holds (every language model).
    Base,
    /// A speech transcript separator other than a space (version 5).
    Separator,
    /// Unidirectional encoder layers or fixed feature statistics
    /// (version 7).
    Streaming,
    /// A matrix of 4-bit weights (version 9).
    WeightBits,
    /// A speech encoder with 16-bit activations (version 11).
    ActivationBits,
}

/// The version written for `layout` and a model that `needs` it: the
/// oldest version that holds the model, so older builds keep reading
/// every file they can.
pub(in crate::format) fn version_for(layout: Layout, needs: Needs) -> u32 {
    match (layout, needs) {
        (Layout::Compact, Needs::Base) => VERSION,
        (Layout::InPlace, Needs::Base) => IN_PLACE_VERSION,
        (Layout::Compact, Needs::Separator) => SEPARATOR_VERSION,
        (Layout::InPlace, Needs::Separator) => IN_PLACE_SEPARATOR_VERSION,
        (Layout::Compact, Needs::Streaming) => STREAMING_VERSION,
        (Layout::InPlace, Needs::Streaming) => IN_PLACE_STREAMING_VERSION,
        (Layout::Compact, Needs::WeightBits) => WEIGHT_BITS_VERSION,
        (Layout::InPlace, Needs::WeightBits) => IN_PLACE_WEIGHT_BITS_VERSION,
        (Layout::Compact, Needs::ActivationBits) => ACTIVATION_BITS_VERSION,
        (Layout::InPlace, Needs::ActivationBits) => IN_PLACE_ACTIVATION_BITS_VERSION,
    }
}

/// Frames the payload that `write` produces for a model needing `needs`
/// (and `layout`): when a matrix turns out to hold 4-bit weights, the
/// payload is written again with every matrix's bits, as version 9/10. So
/// no writer lists matrices, and 8-bit models keep their older versions.
/// A model that needs version 11/12 writes every matrix's bits at once.
pub(in crate::format) fn write_for_needs(
    layout: Layout,
    needs: Needs,
    write: impl Fn(&mut Writer, Needs),
) -> alloc::vec::Vec<u8> {
    let mut w = Writer::new(layout);
    w.matrix_bits = needs >= Needs::WeightBits;
    write(&mut w, needs);
    if !w.saw_four_bit || w.matrix_bits {
        return framing::frame(w.bytes, version_for(layout, needs));
    }
    let mut w = Writer::new(layout);
    w.matrix_bits = true;
    write(&mut w, Needs::WeightBits);
    framing::frame(w.bytes, version_for(layout, Needs::WeightBits))
}

/// The layout of a (supported) version.
pub(in crate::format) fn layout_of(version: u32) -> Layout {
    match version {
        IN_PLACE_VERSION
        | IN_PLACE_SEPARATOR_VERSION
        | IN_PLACE_STREAMING_VERSION
        | IN_PLACE_WEIGHT_BITS_VERSION
        | IN_PLACE_ACTIVATION_BITS_VERSION => Layout::InPlace,
        _ => Layout::Compact,
    }
}

/// Whether a (supported) version holds what `needs` asks for.
pub(in crate::format) fn holds(version: u32, needs: Needs) -> bool {
    let level = match version {
        SEPARATOR_VERSION | IN_PLACE_SEPARATOR_VERSION => Needs::Separator,
        STREAMING_VERSION | IN_PLACE_STREAMING_VERSION => Needs::Streaming,
        WEIGHT_BITS_VERSION | IN_PLACE_WEIGHT_BITS_VERSION => Needs::WeightBits,
        ACTIVATION_BITS_VERSION | IN_PLACE_ACTIVATION_BITS_VERSION => Needs::ActivationBits,
        _ => Needs::Base,
    };
    level >= needs
}

/// Serialises a model of either kind in `layout`.
pub fn write_model(model: &Model, layout: Layout) -> alloc::vec::Vec<u8> {
    match model {
        Model::Language(m) => write_language_model_as(m, layout),
        Model::Speech(m) => write_speech_model_as(m, layout),
    }
}

/// The model kind and the model of a checked payload.
fn read_payload(mut r: Reader<'_>) -> Result<Model, FormatError> {
    let version = r.version();
    let model = match r.u8("model kind")? {
        1 => {
            let m = r.language_model()?;
            m.validate()?;
            Model::Language(m)
        }
        2 => {
            let m = r.speech_model(version)?;
            m.validate()?;
            Model::Speech(Box::new(m))
        }
        kind => {
            return Err(invalid(alloc::format!(
                "model kind {kind} is unknown (1 = language model, 2 = speech model)"
            )))
        }
    };
    if r.remaining() != 0 {
        return Err(FormatError::TrailingBytes(r.remaining()));
    }
    Ok(model)
}

/// Parses the bytes of a `.irnn` language model.
pub fn read_language_model(bytes: &[u8]) -> Result<IntLanguageModel, FormatError> {
    match read_model(bytes)? {
        Model::Language(m) => Ok(m),
        Model::Speech(_) => Err(invalid(
            "this is a speech model (model kind 2); a language model was expected",
        )),
    }
}

/// Parses the bytes of a `.irnn` speech model.
pub fn read_speech_model(bytes: &[u8]) -> Result<IntSpeechModel, FormatError> {
    match read_model(bytes)? {
        Model::Speech(m) => Ok(*m),
        Model::Language(_) => Err(invalid(
            "this is a language model (model kind 1); a speech model was expected",
        )),
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod in_place_tests;
