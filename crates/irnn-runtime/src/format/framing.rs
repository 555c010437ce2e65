//! The frame around every model: magic bytes, format version, payload
//! length, the payload, and a CRC-32 of the payload. Reading checks all of
//! it before a single layer is parsed, so a layer codec only ever sees a
//! whole, uncorrupted payload.

use alloc::vec::Vec;

use super::codec::Reader;
use super::{FormatError, HEADER_LEN, MAGIC, NEWEST_VERSION, OLDEST_VERSION};

/// A whole file around `payload`: header (magic, `version`, payload
/// length), payload, CRC-32 of the payload.
pub(in crate::format) fn frame(payload: Vec<u8>, version: u32) -> Vec<u8> {
    let mut file = Vec::with_capacity(HEADER_LEN + payload.len() + 4);
    file.extend_from_slice(&MAGIC);
    file.extend_from_slice(&version.to_le_bytes());
    file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    file.extend_from_slice(&payload);
    file.extend_from_slice(&super::crc::crc32(&payload).to_le_bytes());
    file
}

/// Checks magic, version, length and checksum; returns the version and the
/// payload.
pub(in crate::format) fn checked_payload(bytes: &[u8]) -> Result<(u32, &[u8]), FormatError> {
    let mut header = Reader::new(bytes);
    let magic = header.take(8, "magic bytes")?;
    if magic != MAGIC {
        return Err(FormatError::BadMagic);
    }
    let version = header.u32("format version")?;
    if !(OLDEST_VERSION..=NEWEST_VERSION).contains(&version) {
        return Err(FormatError::UnsupportedVersion(version));
    }
    let len = header.u64("payload length")?;
    if len > header.remaining() {
        return Err(FormatError::Truncated {
            what: "payload".into(),
            needed: len,
            available: header.remaining(),
        });
    }
    let payload = header.take(len as usize, "payload")?;
    let stored = header.u32("checksum")?;
    if header.remaining() != 0 {
        return Err(FormatError::TrailingBytes(header.remaining()));
    }
    let computed = super::crc::crc32(payload);
    if stored != computed {
        return Err(FormatError::ChecksumMismatch { stored, computed });
    }
    Ok((version, payload))
}
