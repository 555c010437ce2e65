//! The primitives every layer codec is written with: little-endian
//! integers, typed tensors (dtype, rank, dimensions, data), fixed-point
//! multipliers and string lists. The [`Reader`] checks every length against
//! the bytes that remain before allocating, and every dimension against
//! [`MAX_DIM`](super::MAX_DIM).

use alloc::string::String;
use alloc::vec::Vec;

use super::{FormatError, Layout, HEADER_LEN, MAX_DIM, MAX_LAYERS, MAX_TOKEN_BYTES};
use crate::fixed_point::QuantizedMultiplier;
use crate::slab::Slab;

/// Element types of stored tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(in crate::format) enum DType {
    I8 = 1,
    I32 = 3,
    U8 = 4,
}

impl DType {
    fn size(self) -> u64 {
        match self {
            DType::I8 | DType::U8 => 1,
            DType::I32 => 4,
        }
    }
}

/// Appends a model's payload.
pub(in crate::format) struct Writer {
    /// The payload so far.
    pub(in crate::format) bytes: Vec<u8>,
    /// Which layout is written.
    pub(in crate::format) layout: Layout,
    /// Each matrix is preceded by its bits per weight (version 9 on).
    pub(in crate::format) matrix_bits: bool,
    /// A 4-bit matrix was written without its bits: the payload must be
    /// written again for version 9 ([`super::write_for_needs`]).
    pub(in crate::format) saw_four_bit: bool,
}

impl Writer {
    pub(in crate::format) fn new(layout: Layout) -> Self {
        Writer {
            bytes: Vec::new(),
            layout,
            matrix_bits: false,
            saw_four_bit: false,
        }
    }

    /// In the in-place layout, zero bytes up to the next multiple of
    /// `align` of the offset in the file (the payload starts at
    /// [`HEADER_LEN`]).
    pub(in crate::format) fn align(&mut self, align: usize) {
        if self.layout == Layout::InPlace {
            while !(HEADER_LEN + self.bytes.len()).is_multiple_of(align) {
                self.bytes.push(0);
            }
        }
    }

    /// A count, then each string as [`string`](Self::string) writes it.
    pub(in crate::format) fn strings(&mut self, list: &[String]) {
        self.u32(list.len() as u32);
        for t in list {
            self.string(t);
        }
    }

    /// A string: length, then its UTF-8 bytes.
    pub(in crate::format) fn string(&mut self, t: &str) {
        self.u32(t.len() as u32);
        self.bytes.extend_from_slice(t.as_bytes());
    }

    pub(in crate::format) fn u8(&mut self, v: u8) {
        self.bytes.push(v);
    }

    pub(in crate::format) fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    pub(in crate::format) fn i32(&mut self, v: i32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    pub(in crate::format) fn u64(&mut self, v: u64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }

    pub(in crate::format) fn header(&mut self, dtype: DType, dims: &[u32]) {
        self.u8(dtype as u8);
        self.u8(dims.len() as u8);
        for &d in dims {
            self.u32(d);
        }
    }

    pub(in crate::format) fn tensor_i8(&mut self, dims: &[u32], data: &[i8]) {
        self.header(DType::I8, dims);
        self.bytes.extend(data.iter().map(|&v| v as u8));
    }

    pub(in crate::format) fn tensor_u8(&mut self, dims: &[u32], data: &[u8]) {
        self.header(DType::U8, dims);
        self.bytes.extend_from_slice(data);
    }

    pub(in crate::format) fn tensor_i32(&mut self, dims: &[u32], data: &[i32]) {
        self.header(DType::I32, dims);
        self.align(4);
        for &v in data {
            self.i32(v);
        }
    }

    pub(in crate::format) fn multiplier(&mut self, m: QuantizedMultiplier) {
        self.i32(m.mantissa);
        self.i32(m.shift);
    }
}

/// Reads a payload, front to back.
pub(in crate::format) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The format version of the payload (4 and 6: the in-place layout).
    version: u32,
    /// The same bytes when they live for the whole program: arrays are
    /// then borrowed instead of copied.
    in_place: Option<&'static [u8]>,
}

/// The error for a value the format does not allow.
pub(in crate::format) fn invalid(what: impl Into<String>) -> FormatError {
    FormatError::InvalidValue { what: what.into() }
}

impl<'a> Reader<'a> {
    /// A reader of a file's header (or of any bytes of the current
    /// version's layout).
    pub(in crate::format) fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            pos: 0,
            version: super::VERSION,
            in_place: None,
        }
    }

    /// A reader of a payload of `version`, starting at [`HEADER_LEN`] in its
    /// file; with `in_place`, the same payload borrowed for the program's
    /// life.
    pub(in crate::format) fn payload(
        bytes: &'a [u8],
        version: u32,
        in_place: Option<&'static [u8]>,
    ) -> Self {
        Self {
            bytes,
            pos: 0,
            version,
            in_place,
        }
    }

    /// The format version being read.
    pub(in crate::format) fn version(&self) -> u32 {
        self.version
    }

    /// Whether the payload is in the in-place layout (versions 4 and 6).
    pub(in crate::format) fn is_in_place_layout(&self) -> bool {
        super::layout_of(self.version) == super::Layout::InPlace
    }

    /// In the in-place layout, skips the zero padding up to the next
    /// multiple of `align` of the offset in the file.
    pub(in crate::format) fn align(&mut self, align: usize, what: &str) -> Result<(), FormatError> {
        if !self.is_in_place_layout() {
            return Ok(());
        }
        let pad = (align - (HEADER_LEN + self.pos) % align) % align;
        if self.take(pad, what)?.iter().any(|&b| b != 0) {
            return Err(invalid(alloc::format!(
                "{what}: the alignment padding must be zero bytes"
            )));
        }
        Ok(())
    }

    /// `len` bytes as `T`s, borrowed when the payload lives for the whole
    /// program and is aligned for `T`, else copied. `T` must be a type for
    /// which every bit pattern is valid (i8, i32, packed lines) and the
    /// bytes are read as little-endian.
    fn slab<T: Copy + 'static>(
        &mut self,
        count: usize,
        what: &str,
        decode: impl Fn(&[u8]) -> T,
    ) -> Result<Slab<T>, FormatError> {
        let size = core::mem::size_of::<T>();
        let start = self.pos;
        let bytes = self.take(count * size, what)?;
        if let Some(whole) = self.in_place {
            let data = &whole[start..start + count * size];
            let ptr = data.as_ptr();
            if cfg!(target_endian = "little")
                && (ptr as usize).is_multiple_of(core::mem::align_of::<T>())
            {
                // SAFETY: `data` lives for the program ('static), holds
                // `count · size_of::<T>()` bytes, is aligned for `T`, and
                // every bit pattern of those bytes is a valid `T` (the
                // callers' types: integers and arrays of them), stored
                // little-endian as on this target.
                let typed = unsafe { core::slice::from_raw_parts(ptr.cast::<T>(), count) };
                return Ok(Slab::Borrowed(typed));
            }
        }
        Ok(bytes.chunks_exact(size).map(decode).collect())
    }

    /// An int32 tensor's elements as a slab (in the in-place layout, after
    /// its alignment padding).
    pub(in crate::format) fn i32_slab(
        &mut self,
        what: &str,
        expected: &[u32],
    ) -> Result<Slab<i32>, FormatError> {
        let (_, n) = self.tensor_header(what, DType::I32, expected)?;
        self.slab(n, what, |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An int8 tensor's shape and elements as a slab.
    pub(in crate::format) fn i8_slab(
        &mut self,
        what: &str,
        expected: &[u32],
    ) -> Result<(Vec<u32>, Slab<i8>), FormatError> {
        let (dims, n) = self.tensor_header(what, DType::I8, expected)?;
        Ok((dims, self.slab(n, what, |b| b[0] as i8)?))
    }

    /// `count` 64-byte lines of packed weights.
    pub(in crate::format) fn lines(
        &mut self,
        count: usize,
        what: &str,
    ) -> Result<Slab<crate::kernels::packed::Line>, FormatError> {
        use crate::kernels::packed::Line;
        if (count as u64)
            .checked_mul(64)
            .is_none_or(|b| b > self.remaining())
        {
            return Err(FormatError::Truncated {
                what: what.into(),
                needed: (count as u64).saturating_mul(64),
                available: self.remaining(),
            });
        }
        self.slab(count, what, |b| {
            let mut line = Line([0; 64]);
            for (d, &s) in line.0.iter_mut().zip(b) {
                *d = s as i8;
            }
            line
        })
    }

    /// `count` int32s with no tensor header.
    pub(in crate::format) fn raw_i32s(
        &mut self,
        count: usize,
        what: &str,
    ) -> Result<Slab<i32>, FormatError> {
        if (count as u64)
            .checked_mul(4)
            .is_none_or(|b| b > self.remaining())
        {
            return Err(FormatError::Truncated {
                what: what.into(),
                needed: (count as u64).saturating_mul(4),
                available: self.remaining(),
            });
        }
        self.slab(count, what, |b| {
            i32::from_le_bytes([b[0], b[1], b[2], b[3]])
        })
    }

    pub(in crate::format) fn remaining(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    pub(in crate::format) fn take(
        &mut self,
        n: usize,
        what: &str,
    ) -> Result<&'a [u8], FormatError> {
        if (n as u64) > self.remaining() {
            return Err(FormatError::Truncated {
                what: what.into(),
                needed: n as u64,
                available: self.remaining(),
            });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(in crate::format) fn u8(&mut self, what: &str) -> Result<u8, FormatError> {
        Ok(self.take(1, what)?[0])
    }

    pub(in crate::format) fn u32(&mut self, what: &str) -> Result<u32, FormatError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(in crate::format) fn i32(&mut self, what: &str) -> Result<i32, FormatError> {
        Ok(self.u32(what)? as i32)
    }

    pub(in crate::format) fn u64(&mut self, what: &str) -> Result<u64, FormatError> {
        let lo = self.u32(what)? as u64;
        let hi = self.u32(what)? as u64;
        Ok(lo | hi << 32)
    }

    pub(in crate::format) fn dim(&mut self, what: &str) -> Result<u32, FormatError> {
        let d = self.u32(what)?;
        self.checked_dim(what, d)
    }

    pub(in crate::format) fn checked_dim(&self, what: &str, d: u32) -> Result<u32, FormatError> {
        if d > MAX_DIM {
            return Err(FormatError::DimensionTooLarge {
                what: what.into(),
                value: d as u64,
                max: MAX_DIM as u64,
            });
        }
        Ok(d)
    }

    /// A tensor header: checks type and shape against `expected` (a 0 in
    /// `expected` accepts any size on that axis), skips the in-place
    /// layout's alignment padding of int32 data, and checks that the data
    /// fits in the bytes left. Returns the shape and the element count.
    pub(in crate::format) fn tensor_header(
        &mut self,
        what: &str,
        dtype: DType,
        expected: &[u32],
    ) -> Result<(Vec<u32>, usize), FormatError> {
        let t = self.u8(what)?;
        if t != dtype as u8 {
            return Err(invalid(alloc::format!(
                "tensor {what} has element type {t}, expected {}",
                dtype as u8
            )));
        }
        let ndim = self.u8(what)? as usize;
        if ndim != expected.len() {
            return Err(invalid(alloc::format!(
                "tensor {what} has {ndim} dimensions, expected {}",
                expected.len()
            )));
        }
        let mut dims = Vec::with_capacity(ndim);
        for _ in 0..ndim {
            dims.push(self.dim(what)?);
        }
        if expected.iter().zip(&dims).any(|(&e, &d)| e != 0 && e != d) {
            return Err(FormatError::ShapeMismatch {
                what: what.into(),
                expected: expected.to_vec(),
                found: dims,
            });
        }
        if dtype == DType::I32 {
            self.align(4, what)?;
        }
        let elements = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
        let bytes = elements.and_then(|e| e.checked_mul(dtype.size()));
        match (elements, bytes) {
            (Some(n), Some(b)) if b <= self.remaining() => Ok((dims, n as usize)),
            _ => Err(FormatError::Truncated {
                what: what.into(),
                needed: bytes.unwrap_or(u64::MAX),
                available: self.remaining(),
            }),
        }
    }

    /// A tensor: [`tensor_header`](Self::tensor_header), then the raw data.
    pub(in crate::format) fn tensor(
        &mut self,
        what: &str,
        dtype: DType,
        expected: &[u32],
    ) -> Result<(Vec<u32>, &'a [u8]), FormatError> {
        let (dims, n) = self.tensor_header(what, dtype, expected)?;
        let data = self.take(n * dtype.size() as usize, what)?;
        Ok((dims, data))
    }

    pub(in crate::format) fn i8s(
        &mut self,
        what: &str,
        expected: &[u32],
    ) -> Result<(Vec<u32>, Vec<i8>), FormatError> {
        let (dims, data) = self.tensor(what, DType::I8, expected)?;
        Ok((dims, data.iter().map(|&b| b as i8).collect()))
    }

    pub(in crate::format) fn i32s(
        &mut self,
        what: &str,
        expected: &[u32],
    ) -> Result<Vec<i32>, FormatError> {
        let (_, data) = self.tensor(what, DType::I32, expected)?;
        Ok(data
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    pub(in crate::format) fn multiplier(
        &mut self,
        what: &str,
    ) -> Result<QuantizedMultiplier, FormatError> {
        let mantissa = self.i32(what)?;
        let shift = self.i32(what)?;
        Ok(QuantizedMultiplier::new(mantissa, shift)?)
    }

    pub(in crate::format) fn layer_count(&mut self) -> Result<u32, FormatError> {
        let layers = self.u32("layer count")?;
        if layers > MAX_LAYERS {
            return Err(FormatError::DimensionTooLarge {
                what: "layer count".into(),
                value: layers as u64,
                max: MAX_LAYERS as u64,
            });
        }
        Ok(layers)
    }

    /// A count, then each string (at most [`MAX_TOKEN_BYTES`] of UTF-8).
    pub(in crate::format) fn strings(
        &mut self,
        what: &str,
        expected: usize,
    ) -> Result<Vec<String>, FormatError> {
        let count = self.u32(what)?;
        if count as usize != expected {
            return Err(invalid(alloc::format!(
                "{count} {what} for {expected} rows"
            )));
        }
        let mut list = Vec::new();
        for i in 0..count {
            list.push(self.string(&alloc::format!("{what} {i}"))?);
        }
        Ok(list)
    }

    /// A string (at most [`MAX_TOKEN_BYTES`] of UTF-8).
    pub(in crate::format) fn string(&mut self, what: &str) -> Result<String, FormatError> {
        let len = self.u32(what)?;
        if len > MAX_TOKEN_BYTES {
            return Err(FormatError::DimensionTooLarge {
                what: alloc::format!("length of {what}"),
                value: len as u64,
                max: MAX_TOKEN_BYTES as u64,
            });
        }
        let bytes = self.take(len as usize, what)?;
        let text = core::str::from_utf8(bytes)
            .map_err(|_| invalid(alloc::format!("{what} is not valid UTF-8")))?;
        Ok(String::from(text))
    }
}
