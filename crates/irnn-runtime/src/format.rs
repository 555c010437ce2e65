//! The `.irnn` model file (docs/FORMAT.md): reading and writing.
//!
//! The reader treats the file as hostile. It never panics, and it never
//! allocates more than the file could hold: every length it reads is checked
//! against the bytes that remain before anything is allocated. Each failure
//! says what was wrong and where ([`FormatError`]).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::fixed_point::QuantizedMultiplier;
use crate::kernels::{PackedMatrix, RowRequant};
use crate::layers::{
    AttentionScore, IntAttention, IntBiLstm, IntEmbedding, IntGruCell, IntLayerNorm, IntLstmCell,
    IntMelConv, IntOutputLayer, QuantizedAdd, ResetMode,
};
use crate::model::{IntLanguageModel, RecurrentCell, StackedLayer};
use crate::pwl::PwlTable;
use crate::speech::{FrontEnd, IntAttentionDecoder, IntSpeechModel};
use crate::vocabulary::{TokenLevel, Vocabulary};

/// The first 8 bytes of every model file.
pub const MAGIC: [u8; 8] = *b"IRNNMODL";
/// The format version this build writes.
pub const VERSION: u32 = 3;
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

/// Why a model file was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The file ended early.
    Truncated {
        /// What was being read.
        what: String,
        /// Bytes needed.
        needed: u64,
        /// Bytes left.
        available: u64,
    },
    /// Not an irnn model file.
    BadMagic,
    /// Written by an incompatible version.
    UnsupportedVersion(u32),
    /// The payload's CRC-32 does not match the stored one.
    ChecksumMismatch {
        /// Stored checksum.
        stored: u32,
        /// Checksum of the bytes read.
        computed: u32,
    },
    /// A tensor's stored shape differs from what the topology requires.
    ShapeMismatch {
        /// The tensor.
        what: String,
        /// Expected dimensions.
        expected: Vec<u32>,
        /// Stored dimensions.
        found: Vec<u32>,
    },
    /// A dimension or count beyond the accepted maximum.
    DimensionTooLarge {
        /// What was being read.
        what: String,
        /// The stored value.
        value: u64,
        /// The maximum.
        max: u64,
    },
    /// A tag, type or parameter with a value the format does not allow.
    InvalidValue {
        /// What was being read, and the rule.
        what: String,
    },
    /// Bytes left after the model.
    TrailingBytes(u64),
    /// The parts read do not form a valid model.
    Model(crate::Error),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Truncated {
                what,
                needed,
                available,
            } => write!(
                f,
                "model file is truncated: reading {what} needs {needed} bytes, {available} left"
            ),
            FormatError::BadMagic => write!(f, "not an irnn model file (bad magic bytes)"),
            FormatError::UnsupportedVersion(v) => write!(
                f,
                "model file format version {v} is not supported (this build reads versions {OLDEST_VERSION} to {VERSION})"
            ),
            FormatError::ChecksumMismatch { stored, computed } => write!(
                f,
                "model file is corrupt: checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            FormatError::ShapeMismatch {
                what,
                expected,
                found,
            } => write!(f, "tensor {what}: expected shape {expected:?}, found {found:?}"),
            FormatError::DimensionTooLarge { what, value, max } => {
                write!(f, "{what} is {value}, larger than the maximum {max}")
            }
            FormatError::InvalidValue { what } => write!(f, "invalid model file: {what}"),
            FormatError::TrailingBytes(n) => {
                write!(f, "model file has {n} unexpected bytes after the model")
            }
            FormatError::Model(e) => write!(f, "model file describes an invalid model: {e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FormatError {}

impl From<crate::Error> for FormatError {
    fn from(e: crate::Error) -> Self {
        FormatError::Model(e)
    }
}

/// Element types of stored tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum DType {
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

// ---------------------------------------------------------------- writing

/// Serialises a language model to the bytes of a `.irnn` file.
pub fn write_language_model(model: &IntLanguageModel) -> Vec<u8> {
    let mut w = Writer(Vec::new());
    w.u8(1); // model kind: language model
    let e = &model.embedding;
    w.tensor_i8(&[e.vocab() as u32, e.dim() as u32], e.table());
    w.u32(model.layers.len() as u32);
    for layer in &model.layers {
        match &layer.residual {
            Some(add) => {
                w.u8(1);
                w.multiplier(add.multiplier_a);
                w.multiplier(add.multiplier_b);
                w.i32(add.zero_point_a);
                w.i32(add.zero_point_b);
                w.i32(add.zero_point_out);
            }
            None => w.u8(0),
        }
        match &layer.cell {
            RecurrentCell::Lstm(c) => {
                w.u8(1);
                w.lstm(c);
            }
            RecurrentCell::Gru(c) => {
                w.u8(2);
                w.u32(c.input as u32);
                w.u32(c.hidden as u32);
                w.u8(match c.reset {
                    ResetMode::After => 0,
                    ResetMode::Before => 1,
                });
                w.matrix(&c.w_x);
                w.matrix(&c.w_h);
                if let Some(m) = &c.w_hn {
                    w.matrix(m);
                }
                w.requant(&c.requant_x);
                w.requant(&c.requant_h);
                for t in &c.gate_activation {
                    w.pwl(t);
                }
                w.multiplier(c.h_to_q15);
                w.multiplier(c.output_multiplier);
                w.i32(c.h_zero_point);
            }
        }
    }
    w.output(&model.output);
    w.u8(match model.vocabulary.level {
        TokenLevel::Word => 1,
        TokenLevel::Char => 2,
    });
    w.strings(&model.vocabulary.tokens);
    w.finish()
}

/// Serialises a speech model to the bytes of a `.irnn` file.
pub fn write_speech_model(model: &IntSpeechModel) -> Vec<u8> {
    let mut w = Writer(Vec::new());
    w.u8(2); // model kind: CTC speech model
    let f = &model.front_end;
    for v in [
        f.sample_rate,
        f.frame,
        f.hop,
        f.fft,
        f.mels,
        f.low_hz,
        f.high_hz,
        f.range_db,
    ] {
        w.u32(v);
    }
    w.u32(model.stack as u32);
    w.multiplier(model.input_scale);
    w.i32(model.input_zero_point);
    match &model.conv {
        None => w.u8(0),
        Some(c) => {
            w.u8(1);
            w.u32(c.mels as u32);
            let ch = c.channels() as u32;
            w.tensor_i8(&[ch, 3, 3], &c.weights);
            w.tensor_i32(&[ch], &c.bias);
            let mant: Vec<i32> = c.multipliers.iter().map(|m| m.mantissa).collect();
            let shift: Vec<i32> = c.multipliers.iter().map(|m| m.shift).collect();
            w.tensor_i32(&[ch], &mant);
            w.tensor_i32(&[ch], &shift);
            w.i32(c.output_zero_point);
        }
    }
    w.u32(model.layers.len() as u32);
    for layer in &model.layers {
        w.lstm(&layer.forward);
        w.lstm(&layer.backward);
    }
    w.output(&model.output);
    w.strings(&model.labels);
    match &model.decoder {
        None => w.u8(0),
        Some(d) => {
            w.u8(1);
            let e = &d.embedding;
            w.tensor_i8(&[e.vocab() as u32, e.dim() as u32], e.table());
            w.u32(d.start);
            w.u32(d.end);
            w.lstm(&d.cell);
            w.attention(&d.attention);
            w.output(&d.output);
        }
    }
    w.finish()
}

struct Writer(Vec<u8>);

impl Writer {
    /// Header, payload, checksum.
    fn finish(self) -> Vec<u8> {
        let payload = self.0;
        let mut file = Vec::with_capacity(HEADER_LEN + payload.len() + 4);
        file.extend_from_slice(&MAGIC);
        file.extend_from_slice(&VERSION.to_le_bytes());
        file.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        file.extend_from_slice(&payload);
        file.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        file
    }

    /// A count, then each string as length + UTF-8 bytes.
    fn strings(&mut self, list: &[String]) {
        self.u32(list.len() as u32);
        for t in list {
            self.u32(t.len() as u32);
            self.0.extend_from_slice(t.as_bytes());
        }
    }

    /// Additive attention only (the one the speech decoder uses).
    fn attention(&mut self, a: &IntAttention) {
        self.u32(a.memory_dim as u32);
        self.i32(a.memory_zero_point);
        if let AttentionScore::Additive {
            w_key,
            key_requant,
            w_query,
            query_requant,
            tanh,
            v,
        } = &a.score
        {
            self.matrix(w_key);
            self.requant(key_requant);
            self.matrix(w_query);
            self.requant(query_requant);
            self.pwl(tanh);
            self.tensor_i8(&[v.len() as u32], v);
        }
        self.multiplier(a.score_to_exp);
        self.pwl(&a.exp);
        self.multiplier(a.context_multiplier);
        self.i32(a.context_zero_point);
    }

    fn output(&mut self, o: &IntOutputLayer) {
        self.matrix(&o.weights);
        self.tensor_i32(&[o.bias.len() as u32], &o.bias);
        self.multiplier(o.logit_scale);
    }

    fn lstm(&mut self, c: &IntLstmCell) {
        self.u32(c.input as u32);
        self.u32(c.hidden as u32);
        let flags = (c.gate_norm.is_some() as u8)
            | (c.cell_norm.is_some() as u8) << 1
            | (c.capped_input_gate as u8) << 2;
        self.u8(flags);
        self.u8(c.cell_fraction_bits as u8);
        self.matrix(&c.w_x);
        self.matrix(&c.w_h);
        self.requant(&c.requant_x);
        self.requant(&c.requant_h);
        if let Some(norms) = &c.gate_norm {
            for n in norms {
                self.norm(n);
            }
        }
        for t in &c.gate_activation {
            self.pwl(t);
        }
        if let Some(n) = &c.cell_norm {
            self.norm(n);
        }
        self.pwl(&c.cell_tanh);
        self.multiplier(c.output_multiplier);
        self.i32(c.h_zero_point);
    }

    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn header(&mut self, dtype: DType, dims: &[u32]) {
        self.u8(dtype as u8);
        self.u8(dims.len() as u8);
        for &d in dims {
            self.u32(d);
        }
    }
    fn tensor_i8(&mut self, dims: &[u32], data: &[i8]) {
        self.header(DType::I8, dims);
        self.0.extend(data.iter().map(|&v| v as u8));
    }
    fn tensor_u8(&mut self, dims: &[u32], data: &[u8]) {
        self.header(DType::U8, dims);
        self.0.extend_from_slice(data);
    }
    fn tensor_i32(&mut self, dims: &[u32], data: &[i32]) {
        self.header(DType::I32, dims);
        for &v in data {
            self.i32(v);
        }
    }
    fn multiplier(&mut self, m: QuantizedMultiplier) {
        self.i32(m.mantissa);
        self.i32(m.shift);
    }
    fn matrix(&mut self, m: &PackedMatrix) {
        self.tensor_i8(&[m.rows() as u32, m.cols() as u32], &m.to_row_major());
    }
    fn requant(&mut self, r: &RowRequant) {
        let rows = r.rows();
        let bias: Vec<i32> = (0..rows).map(|i| r.bias(i)).collect();
        let mant: Vec<i32> = (0..rows).map(|i| r.multiplier(i).mantissa).collect();
        let shift: Vec<i32> = (0..rows).map(|i| r.multiplier(i).shift).collect();
        self.tensor_i32(&[rows as u32], &bias);
        self.tensor_i32(&[rows as u32], &mant);
        self.tensor_i32(&[rows as u32], &shift);
        self.i32(r.zero_point());
    }
    fn norm(&mut self, n: &IntLayerNorm) {
        let (eps, gamma, negative, beta) = n.parts();
        let len = [gamma.len() as u32];
        self.u64(eps);
        let mant: Vec<i32> = gamma.iter().map(|g| g.mantissa).collect();
        let shift: Vec<i32> = gamma.iter().map(|g| g.shift).collect();
        self.tensor_i32(&len, &mant);
        self.tensor_i32(&len, &shift);
        let neg: Vec<u8> = negative.iter().map(|&b| b as u8).collect();
        self.tensor_u8(&len, &neg);
        self.tensor_i32(&len, beta);
    }
    fn pwl(&mut self, t: &PwlTable) {
        let n = t.knots().len() as u32;
        self.tensor_i32(&[n], t.knots());
        self.tensor_i32(&[n], t.values());
        self.tensor_i32(&[n - 1], t.slopes());
        self.tensor_i32(&[n - 1], t.shifts());
    }
}

// ---------------------------------------------------------------- reading

/// A model of either kind, as read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Model {
    /// A language model (model kind 1).
    Language(IntLanguageModel),
    /// A CTC speech recogniser (model kind 2).
    Speech(Box<IntSpeechModel>),
}

/// Parses the bytes of a `.irnn` file of any model kind.
pub fn read_model(bytes: &[u8]) -> Result<Model, FormatError> {
    let (version, payload) = checked_payload(bytes)?;
    let mut r = Reader::new(payload);
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

/// Checks magic, version, length and checksum; returns the version and the
/// payload.
fn checked_payload(bytes: &[u8]) -> Result<(u32, &[u8]), FormatError> {
    let mut header = Reader::new(bytes);
    let magic = header.take(8, "magic bytes")?;
    if magic != MAGIC {
        return Err(FormatError::BadMagic);
    }
    let version = header.u32("format version")?;
    if !(OLDEST_VERSION..=VERSION).contains(&version) {
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
    let computed = crc32fast::hash(payload);
    if stored != computed {
        return Err(FormatError::ChecksumMismatch { stored, computed });
    }
    Ok((version, payload))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

fn invalid(what: impl Into<String>) -> FormatError {
    FormatError::InvalidValue { what: what.into() }
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    fn remaining(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], FormatError> {
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

    fn u8(&mut self, what: &str) -> Result<u8, FormatError> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, FormatError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i32(&mut self, what: &str) -> Result<i32, FormatError> {
        Ok(self.u32(what)? as i32)
    }

    fn u64(&mut self, what: &str) -> Result<u64, FormatError> {
        let lo = self.u32(what)? as u64;
        let hi = self.u32(what)? as u64;
        Ok(lo | hi << 32)
    }

    fn dim(&mut self, what: &str) -> Result<u32, FormatError> {
        let d = self.u32(what)?;
        self.checked_dim(what, d)
    }

    fn checked_dim(&self, what: &str, d: u32) -> Result<u32, FormatError> {
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
    /// `expected` accepts any size on that axis) and that the data fits in
    /// the bytes left. Returns the shape and the raw data.
    fn tensor(
        &mut self,
        what: &str,
        dtype: DType,
        expected: &[u32],
    ) -> Result<(Vec<u32>, &'a [u8]), FormatError> {
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
        let elements = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
        let bytes = elements.and_then(|e| e.checked_mul(dtype.size()));
        match bytes {
            Some(b) if b <= self.remaining() => {
                let data = self.take(b as usize, what)?;
                Ok((dims, data))
            }
            _ => Err(FormatError::Truncated {
                what: what.into(),
                needed: bytes.unwrap_or(u64::MAX),
                available: self.remaining(),
            }),
        }
    }

    fn i8s(&mut self, what: &str, expected: &[u32]) -> Result<(Vec<u32>, Vec<i8>), FormatError> {
        let (dims, data) = self.tensor(what, DType::I8, expected)?;
        Ok((dims, data.iter().map(|&b| b as i8).collect()))
    }

    fn i32s(&mut self, what: &str, expected: &[u32]) -> Result<Vec<i32>, FormatError> {
        let (_, data) = self.tensor(what, DType::I32, expected)?;
        Ok(data
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn multiplier(&mut self, what: &str) -> Result<QuantizedMultiplier, FormatError> {
        let mantissa = self.i32(what)?;
        let shift = self.i32(what)?;
        Ok(QuantizedMultiplier::new(mantissa, shift)?)
    }

    fn matrix(&mut self, what: &str, rows: u32, cols: u32) -> Result<PackedMatrix, FormatError> {
        let (dims, data) = self.i8s(what, &[rows, cols])?;
        Ok(PackedMatrix::from_row_major(
            dims[0] as usize,
            dims[1] as usize,
            &data,
        )?)
    }

    fn requant(&mut self, what: &str, rows: u32) -> Result<RowRequant, FormatError> {
        let bias = self.i32s(what, &[rows])?;
        let mant = self.i32s(what, &[rows])?;
        let shift = self.i32s(what, &[rows])?;
        let zp = self.i32(what)?;
        let mults = mant
            .iter()
            .zip(&shift)
            .map(|(&m, &s)| QuantizedMultiplier::new(m, s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RowRequant::new(bias, &mults, zp)?)
    }

    fn norm(&mut self, what: &str, len: u32) -> Result<IntLayerNorm, FormatError> {
        let eps = self.u64(what)?;
        let mant = self.i32s(what, &[len])?;
        let shift = self.i32s(what, &[len])?;
        let (_, neg) = self.tensor(what, DType::U8, &[len])?;
        let negative = neg
            .iter()
            .map(|&b| match b {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(invalid(alloc::format!(
                    "{what}: a gamma sign must be 0 or 1"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let beta = self.i32s(what, &[len])?;
        let gamma = mant
            .iter()
            .zip(&shift)
            .map(|(&m, &s)| QuantizedMultiplier::new(m, s))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(IntLayerNorm::new(eps, gamma, negative, beta)?)
    }

    fn pwl(&mut self, what: &str) -> Result<PwlTable, FormatError> {
        let knots = self.i32s(what, &[0])?;
        let n = knots.len() as u32;
        if !(2..=crate::pwl::MAX_KNOTS as u32).contains(&n) {
            return Err(invalid(alloc::format!(
                "{what}: a PWL table needs 2 to {} knots, found {n}",
                crate::pwl::MAX_KNOTS
            )));
        }
        let values = self.i32s(what, &[n])?;
        let slopes = self.i32s(what, &[n - 1])?;
        let shifts = self.i32s(what, &[n - 1])?;
        Ok(PwlTable::new(knots, values, slopes, shifts)?)
    }

    fn vocabulary(&mut self, vocab: usize) -> Result<Vocabulary, FormatError> {
        let level = match self.u8("token level")? {
            1 => TokenLevel::Word,
            2 => TokenLevel::Char,
            l => {
                return Err(invalid(alloc::format!(
                    "token level {l} is unknown (1 = word, 2 = character)"
                )))
            }
        };
        let tokens = self.strings("tokens", vocab)?;
        Ok(Vocabulary { level, tokens })
    }

    fn language_model(&mut self) -> Result<IntLanguageModel, FormatError> {
        let (dims, table) = self.i8s("embedding", &[0, 0])?;
        let embedding = IntEmbedding::new(dims[0] as usize, dims[1] as usize, table)?;
        let layers = self.layer_count()?;
        let mut stack = Vec::new();
        for _ in 0..layers {
            let residual = match self.u8("residual flag")? {
                0 => None,
                1 => Some(QuantizedAdd {
                    multiplier_a: self.multiplier("residual multiplier a")?,
                    multiplier_b: self.multiplier("residual multiplier b")?,
                    zero_point_a: self.i32("residual zero point a")?,
                    zero_point_b: self.i32("residual zero point b")?,
                    zero_point_out: self.i32("residual output zero point")?,
                }),
                f => {
                    return Err(invalid(alloc::format!(
                        "residual flag {f} (must be 0 or 1)"
                    )))
                }
            };
            let cell = match self.u8("cell kind")? {
                1 => RecurrentCell::Lstm(Box::new(self.lstm()?)),
                2 => RecurrentCell::Gru(Box::new(self.gru()?)),
                k => {
                    return Err(invalid(alloc::format!(
                        "cell kind {k} is unknown (1 = LSTM, 2 = GRU)"
                    )))
                }
            };
            stack.push(StackedLayer { cell, residual });
        }
        let output = self.output()?;
        let vocabulary = self.vocabulary(embedding.vocab())?;
        Ok(IntLanguageModel {
            vocabulary,
            embedding,
            layers: stack,
            output,
        })
    }

    fn attention(&mut self) -> Result<IntAttention, FormatError> {
        let memory_dim = self.dim("attention memory width")?;
        let memory_zero_point = self.i32("attention memory zero point")?;
        let w_key = self.matrix("attention W_key", 0, memory_dim)?;
        let a = w_key.rows() as u32;
        let key_requant = self.requant("attention key requantization", a)?;
        let w_query = self.matrix("attention W_query", a, 0)?;
        let query_requant = self.requant("attention query requantization", a)?;
        let tanh = self.pwl("attention tanh PWL")?;
        let (_, v) = self.i8s("attention v", &[a])?;
        let attention = IntAttention {
            score: AttentionScore::Additive {
                w_key,
                key_requant,
                w_query,
                query_requant,
                tanh,
                v,
            },
            memory_dim: memory_dim as usize,
            memory_zero_point,
            score_to_exp: self.multiplier("attention score multiplier")?,
            exp: self.pwl("attention exp PWL")?,
            context_multiplier: self.multiplier("attention context multiplier")?,
            context_zero_point: self.i32("attention context zero point")?,
        };
        attention.validate()?;
        Ok(attention)
    }

    fn output(&mut self) -> Result<IntOutputLayer, FormatError> {
        let weights = self.matrix("output weights", 0, 0)?;
        let bias = self.i32s("output bias", &[weights.rows() as u32])?;
        let logit_scale = self.multiplier("logit scale")?;
        Ok(IntOutputLayer {
            weights,
            bias,
            logit_scale,
        })
    }

    fn layer_count(&mut self) -> Result<u32, FormatError> {
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
    fn strings(&mut self, what: &str, expected: usize) -> Result<Vec<String>, FormatError> {
        let count = self.u32(what)?;
        if count as usize != expected {
            return Err(invalid(alloc::format!(
                "{count} {what} for {expected} rows"
            )));
        }
        let mut list = Vec::new();
        for i in 0..count {
            let len = self.u32(what)?;
            if len > MAX_TOKEN_BYTES {
                return Err(FormatError::DimensionTooLarge {
                    what: alloc::format!("length of {what} {i}"),
                    value: len as u64,
                    max: MAX_TOKEN_BYTES as u64,
                });
            }
            let bytes = self.take(len as usize, what)?;
            let text = core::str::from_utf8(bytes)
                .map_err(|_| invalid(alloc::format!("{what} {i} is not valid UTF-8")))?;
            list.push(String::from(text));
        }
        Ok(list)
    }

    fn speech_model(&mut self, version: u32) -> Result<IntSpeechModel, FormatError> {
        let mut f = [0u32; 8];
        let fields = if version >= 3 { 8 } else { 7 };
        for v in &mut f[..fields] {
            *v = self.u32("front end")?;
        }
        let front_end = FrontEnd {
            sample_rate: f[0],
            frame: f[1],
            hop: f[2],
            fft: f[3],
            mels: self.checked_dim("mel filters", f[4])?,
            low_hz: f[5],
            high_hz: f[6],
            range_db: f[7],
        };
        let stack = self.dim("frame stack")?;
        let input_scale = self.multiplier("feature scale")?;
        let input_zero_point = self.i32("feature zero point")?;
        let conv = match self.u8("convolution flag")? {
            0 => None,
            1 => {
                let mels = self.dim("convolution mel filters")?;
                let (dims, weights) = self.i8s("convolution weights", &[0, 3, 3])?;
                let ch = dims[0];
                let bias = self.i32s("convolution bias", &[ch])?;
                let mant = self.i32s("convolution multiplier mantissas", &[ch])?;
                let shift = self.i32s("convolution multiplier shifts", &[ch])?;
                let multipliers = mant
                    .iter()
                    .zip(&shift)
                    .map(|(&m, &s)| QuantizedMultiplier::new(m, s))
                    .collect::<Result<Vec<_>, _>>()?;
                let conv = IntMelConv {
                    mels: mels as usize,
                    weights,
                    bias,
                    multipliers,
                    input_zero_point,
                    output_zero_point: self.i32("convolution output zero point")?,
                };
                conv.validate()?;
                Some(conv)
            }
            f => {
                return Err(invalid(alloc::format!(
                    "convolution flag {f} (must be 0 or 1)"
                )))
            }
        };
        let count = self.layer_count()?;
        let mut layers = Vec::new();
        for _ in 0..count {
            layers.push(IntBiLstm {
                forward: self.lstm()?,
                backward: self.lstm()?,
            });
        }
        let output = self.output()?;
        let labels = self.strings("class labels", output.classes())?;
        let decoder = match self.u8("decoder flag")? {
            0 => None,
            1 => {
                let (dims, table) = self.i8s("decoder embedding", &[0, 0])?;
                let embedding = IntEmbedding::new(dims[0] as usize, dims[1] as usize, table)?;
                Some(IntAttentionDecoder {
                    embedding,
                    start: self.u32("decoder start label")?,
                    end: self.u32("decoder end class")?,
                    cell: self.lstm()?,
                    attention: self.attention()?,
                    output: self.output()?,
                })
            }
            f => return Err(invalid(alloc::format!("decoder flag {f} (must be 0 or 1)"))),
        };
        Ok(IntSpeechModel {
            conv,
            decoder,
            front_end,
            stack: stack as usize,
            input_scale,
            input_zero_point,
            layers,
            output,
            labels,
        })
    }

    fn lstm(&mut self) -> Result<IntLstmCell, FormatError> {
        let input = self.dim("LSTM input size")?;
        let hidden = self.dim("LSTM hidden size")?;
        let flags = self.u8("LSTM flags")?;
        if flags & !0b111 != 0 {
            return Err(invalid(alloc::format!(
                "LSTM flags {flags:#04b} has unknown bits"
            )));
        }
        let cell_fraction_bits = self.u8("LSTM cell fraction bits")? as u32;
        let g4 = 4 * hidden;
        let w_x = self.matrix("LSTM W_x", g4, input)?;
        let w_h = self.matrix("LSTM W_h", g4, hidden)?;
        let requant_x = self.requant("LSTM input requantization", g4)?;
        let requant_h = self.requant("LSTM recurrent requantization", g4)?;
        let gate_norm = if flags & 1 != 0 {
            Some([
                self.norm("LSTM gate LayerNorm", hidden)?,
                self.norm("LSTM gate LayerNorm", hidden)?,
                self.norm("LSTM gate LayerNorm", hidden)?,
                self.norm("LSTM gate LayerNorm", hidden)?,
            ])
        } else {
            None
        };
        let gate_activation = [
            self.pwl("LSTM input gate PWL")?,
            self.pwl("LSTM forget gate PWL")?,
            self.pwl("LSTM cell gate PWL")?,
            self.pwl("LSTM output gate PWL")?,
        ];
        let cell_norm = if flags & 2 != 0 {
            Some(self.norm("LSTM cell LayerNorm", hidden)?)
        } else {
            None
        };
        let cell = IntLstmCell {
            input: input as usize,
            hidden: hidden as usize,
            w_x,
            w_h,
            requant_x,
            requant_h,
            gate_norm,
            gate_activation,
            cell_fraction_bits,
            capped_input_gate: flags & 4 != 0,
            cell_norm,
            cell_tanh: self.pwl("LSTM cell tanh PWL")?,
            output_multiplier: self.multiplier("LSTM output multiplier")?,
            h_zero_point: self.i32("LSTM h zero point")?,
        };
        cell.validate()?;
        Ok(cell)
    }

    fn gru(&mut self) -> Result<IntGruCell, FormatError> {
        let input = self.dim("GRU input size")?;
        let hidden = self.dim("GRU hidden size")?;
        let reset = match self.u8("GRU reset mode")? {
            0 => ResetMode::After,
            1 => ResetMode::Before,
            m => {
                return Err(invalid(alloc::format!(
                    "GRU reset mode {m} (must be 0 or 1)"
                )))
            }
        };
        let w_x = self.matrix("GRU W_x", 3 * hidden, input)?;
        let (w_h, w_hn) = match reset {
            ResetMode::After => (self.matrix("GRU W_h", 3 * hidden, hidden)?, None),
            ResetMode::Before => (
                self.matrix("GRU W_h (r, z)", 2 * hidden, hidden)?,
                Some(self.matrix("GRU W_hn", hidden, hidden)?),
            ),
        };
        let cell = IntGruCell {
            input: input as usize,
            hidden: hidden as usize,
            reset,
            w_x,
            w_h,
            w_hn,
            requant_x: self.requant("GRU input requantization", 3 * hidden)?,
            requant_h: self.requant("GRU recurrent requantization", 3 * hidden)?,
            gate_activation: [
                self.pwl("GRU reset gate PWL")?,
                self.pwl("GRU update gate PWL")?,
                self.pwl("GRU candidate PWL")?,
            ],
            h_to_q15: self.multiplier("GRU h to Q0.15 multiplier")?,
            output_multiplier: self.multiplier("GRU output multiplier")?,
            h_zero_point: self.i32("GRU h zero point")?,
        };
        cell.validate()?;
        Ok(cell)
    }
}

#[cfg(test)]
mod tests;
