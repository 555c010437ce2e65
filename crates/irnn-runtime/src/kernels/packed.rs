//! The packed int8 weight layout that every kernel reads.
//!
//! Rows are grouped in blocks of 16 and columns in groups of 4. One block ×
//! group is a 64-byte cache line holding `W[r0+i][c0+k]` at byte `4·i + k`:
//! exactly the operand of one 512-bit `vpdpbusd` (16 rows, each a dot
//! product of 4 bytes), or two 256-bit ones, or four 128-bit loads widened to
//! int16 for AVX2. Blocks are gathered in tiles of up to four (64 rows) and,
//! inside a tile, stored group-major, so a kernel that computes 64 rows at
//! once reads memory strictly sequentially:
//!
//! ```text
//! line index of (tile t, group g, block b in tile) = 4·t·groups + g·nb(t) + b
//! ```
//!
//! where `nb(t)` is 4 except in the last tile. Padding rows and columns hold
//! zero weights, so they add nothing to any sum.
//!
//! The layout also stores `128 · Σ_c W[r][c]` per row: the VNNI kernels
//! multiply unsigned bytes `x + 128` by signed weights and subtract it.
//!
//! **4-bit weights** ([`WeightBits::Four`]) keep the same lines, tiles and
//! row sums, with two column groups per line: byte `4·i + k` of the line of
//! group pair `p` holds `W[r0+i][8p+k]` in its low nibble and
//! `W[r0+i][8p+4+k]` in its high nibble (two's complement, −8 to 7). So a
//! line is 16 rows × 8 columns, the matrix half the bytes, and a kernel
//! unpacks each line into the two int8 lines of the 8-bit layout (a nibble
//! lookup on x86, two shifts on ARM) before the same dot products. Tiles
//! count group pairs ([`PackedMatrix::line_groups`]) where the 8-bit layout
//! counts groups; the formula above holds with `groups` read as that.

use alloc::vec;
use alloc::vec::Vec;

use crate::error::{check_len, check_matrix_len, Error};
use crate::slab::Slab;

/// Rows per block.
pub const ROW_BLOCK: usize = 16;
/// Columns per group.
pub const COL_GROUP: usize = 4;
/// Blocks per tile.
pub const TILE_BLOCKS: usize = 4;

/// Largest column count: the VNNI kernels accumulate `(x + 128) · w`, at most
/// `255 · 128` per column, and must stay below 2^31.
pub const MAX_COLS: usize = 65_536;
/// Largest row count accepted (bounds the allocation a hostile header can ask for).
pub const MAX_ROWS: usize = 1 << 24;

/// How many bits each weight takes in a [`PackedMatrix`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WeightBits {
    /// One weight per byte, −128 to 127 (the trainer writes −127 to 127).
    #[default]
    Eight,
    /// Two weights per byte, −8 to 7 (the trainer writes −7 to 7).
    Four,
}

impl WeightBits {
    /// The number of bits (8 or 4).
    pub fn bits(self) -> u32 {
        match self {
            WeightBits::Eight => 8,
            WeightBits::Four => 4,
        }
    }

    /// The width of `bits` bits, if it is one the kernels read (8 or 4).
    pub fn from_bits(bits: u32) -> Option<Self> {
        match bits {
            8 => Some(WeightBits::Eight),
            4 => Some(WeightBits::Four),
            _ => None,
        }
    }

    /// The range of a stored weight.
    pub fn range(self) -> core::ops::RangeInclusive<i8> {
        match self {
            WeightBits::Eight => i8::MIN..=i8::MAX,
            WeightBits::Four => -8..=7,
        }
    }

    /// The largest magnitude of a symmetric quantizer of this width
    /// (127 or 7): what the trainer scales each row's largest weight to.
    pub fn max_symmetric(self) -> i8 {
        match self {
            WeightBits::Eight => 127,
            WeightBits::Four => 7,
        }
    }
}

/// The signed value of a nibble (two's complement, −8 to 7).
#[inline(always)]
pub(crate) fn nibble_value(nibble: u8) -> i8 {
    ((nibble << 4) as i8) >> 4
}

/// One 64-byte line: 16 rows × 4 columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct Line(pub [i8; 64]);

/// An int8 matrix in the kernels' layout, packed once at load time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedMatrix {
    rows: usize,
    cols: usize,
    lines: Slab<Line>,
    row_sums_x128: Slab<i32>,
    /// Bits per weight.
    bits: WeightBits,
    /// Some weight is −128, outside the symmetric range the trainer writes;
    /// kernels whose exactness needs `|w| ≤ 127` fall back for such matrices.
    has_min_weight: bool,
}

impl PackedMatrix {
    /// Packs a row-major `rows × cols` matrix of 8-bit weights.
    pub fn from_row_major(rows: usize, cols: usize, weights: &[i8]) -> Result<Self, Error> {
        Self::from_row_major_bits(WeightBits::Eight, rows, cols, weights)
    }

    /// Packs a row-major `rows × cols` matrix (one weight per `i8`) at
    /// `bits` bits per weight; every weight must lie in `bits.range()`.
    pub fn from_row_major_bits(
        bits: WeightBits,
        rows: usize,
        cols: usize,
        weights: &[i8],
    ) -> Result<Self, Error> {
        if rows == 0 || cols == 0 {
            return Err(Error::InvalidParameter {
                what: "a packed matrix needs at least one row and one column",
            });
        }
        if cols > MAX_COLS {
            return Err(Error::DimensionTooLarge {
                what: "matrix columns",
                value: cols,
                max: MAX_COLS,
            });
        }
        if rows > MAX_ROWS {
            return Err(Error::DimensionTooLarge {
                what: "matrix rows",
                value: rows,
                max: MAX_ROWS,
            });
        }
        check_matrix_len("row-major weights", rows, cols, weights.len())?;
        if !weights.iter().all(|w| bits.range().contains(w)) {
            return Err(Error::InvalidParameter {
                what: "a 4-bit matrix holds weights from -8 to 7 only",
            });
        }
        let row_blocks = rows.div_ceil(ROW_BLOCK);
        let shape = PackedMatrix {
            rows,
            cols,
            lines: Slab::default(),
            row_sums_x128: Slab::default(),
            bits,
            has_min_weight: weights.contains(&i8::MIN),
        };
        let mut lines = vec![Line([0; 64]); row_blocks * shape.line_groups()];
        let mut row_sums_x128 = vec![0; row_blocks * ROW_BLOCK];
        for r in 0..rows {
            let row = &weights[r * cols..(r + 1) * cols];
            for (c, &w) in row.iter().enumerate() {
                let (line, byte, high) = shape.location(r, c);
                let b = &mut lines[line].0[byte];
                *b = match (bits, high) {
                    (WeightBits::Eight, _) => w,
                    (WeightBits::Four, false) => ((*b as u8 & 0xF0) | (w as u8 & 0x0F)) as i8,
                    (WeightBits::Four, true) => ((*b as u8 & 0x0F) | ((w as u8) << 4)) as i8,
                };
            }
            row_sums_x128[r] = 128 * row.iter().map(|&w| w as i32).sum::<i32>();
        }
        Ok(PackedMatrix {
            lines: lines.into(),
            row_sums_x128: row_sums_x128.into(),
            ..shape
        })
    }

    /// A matrix already in the packed layout (lines and row sums, owned or
    /// borrowed from a model file in place). Checked as a hostile input:
    /// the sizes, zero padding rows and columns, and row sums that match the
    /// weights, so every kernel computes the same as for
    /// [`from_row_major`](Self::from_row_major). Nothing is copied.
    pub fn from_packed(
        bits: WeightBits,
        rows: usize,
        cols: usize,
        lines: Slab<Line>,
        row_sums_x128: Slab<i32>,
    ) -> Result<Self, Error> {
        if rows == 0 || cols == 0 || cols > MAX_COLS || rows > MAX_ROWS {
            return Err(Error::InvalidParameter {
                what: "a packed matrix needs 1 to 2^24 rows and 1 to 65536 columns",
            });
        }
        let (blocks, groups) = (rows.div_ceil(ROW_BLOCK), cols.div_ceil(COL_GROUP));
        let m = PackedMatrix {
            rows,
            cols,
            lines,
            row_sums_x128,
            bits,
            has_min_weight: false,
        };
        check_len("packed lines", blocks * m.line_groups(), m.lines.len())?;
        check_len("packed row sums", blocks * ROW_BLOCK, m.row_sums_x128.len())?;
        // A 4-bit line pairs groups: an odd group count leaves the last
        // line's high nibbles as padding too.
        let groups = match bits {
            WeightBits::Eight => groups,
            WeightBits::Four => 2 * m.line_groups(),
        };
        let mut has_min_weight = false;
        for r in 0..blocks * ROW_BLOCK {
            let mut sum = 0i32;
            for c in 0..groups * COL_GROUP {
                let w = m.get(r, c);
                if (r >= rows || c >= cols) && w != 0 {
                    return Err(Error::InvalidParameter {
                        what: "the padding of a packed matrix must hold zero weights",
                    });
                }
                has_min_weight |= w == i8::MIN;
                sum += w as i32;
            }
            if m.row_sums_x128[r] != 128 * sum {
                return Err(Error::InvalidParameter {
                    what: "a packed matrix's row sums do not match its weights",
                });
            }
        }
        Ok(PackedMatrix {
            has_min_weight,
            ..m
        })
    }

    /// Whether the weights are borrowed (used in place) rather than owned.
    pub fn is_borrowed(&self) -> bool {
        self.lines.is_borrowed() && self.row_sums_x128.is_borrowed()
    }

    /// Bytes of this matrix on the heap (0 when borrowed).
    pub fn heap_bytes(&self) -> usize {
        self.lines.heap_bytes() + self.row_sums_x128.heap_bytes()
    }

    /// Number of rows (outputs).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (inputs).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Number of 16-row blocks, padding included.
    pub fn row_blocks(&self) -> usize {
        self.rows.div_ceil(ROW_BLOCK)
    }

    /// Number of 4-column groups, padding included.
    pub fn groups(&self) -> usize {
        self.cols.div_ceil(COL_GROUP)
    }

    /// Bits per weight.
    pub fn weight_bits(&self) -> WeightBits {
        self.bits
    }

    /// Lines per block: one per 4-column group with 8-bit weights, one per
    /// pair of groups with 4-bit weights.
    pub fn line_groups(&self) -> usize {
        match self.bits {
            WeightBits::Eight => self.groups(),
            WeightBits::Four => self.groups().div_ceil(2),
        }
    }

    /// Number of tiles of up to four blocks.
    pub fn tiles(&self) -> usize {
        self.row_blocks().div_ceil(TILE_BLOCKS)
    }

    /// Blocks in tile `t` (4, or fewer in the last tile).
    pub fn blocks_in_tile(&self, t: usize) -> usize {
        (self.row_blocks() - t * TILE_BLOCKS).min(TILE_BLOCKS)
    }

    /// The packed lines.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The first line of tile `t`.
    pub fn tile_start(&self, t: usize) -> usize {
        t * TILE_BLOCKS * self.line_groups()
    }

    /// `128 · Σ_c W[r][c]` for every row, padded to a whole block with zeros.
    pub fn row_sums_x128(&self) -> &[i32] {
        &self.row_sums_x128
    }

    /// Whether some weight is −128 (not symmetric int8).
    pub fn has_min_weight(&self) -> bool {
        self.has_min_weight
    }

    /// Size of the packed weights in bytes (padding included).
    pub fn weight_bytes(&self) -> usize {
        self.lines.len() * 64
    }

    /// Where `W[r][c]` lives: (line index, byte in the line, whether it is
    /// the byte's high nibble — always false for 8-bit weights).
    pub fn location(&self, r: usize, c: usize) -> (usize, usize, bool) {
        let block = r / ROW_BLOCK;
        let tile = block / TILE_BLOCKS;
        let group = c / COL_GROUP;
        let (line_group, high) = match self.bits {
            WeightBits::Eight => (group, false),
            WeightBits::Four => (group / 2, group % 2 == 1),
        };
        let line =
            self.tile_start(tile) + line_group * self.blocks_in_tile(tile) + block % TILE_BLOCKS;
        (line, (r % ROW_BLOCK) * COL_GROUP + c % COL_GROUP, high)
    }

    /// `W[r][c]`.
    pub fn get(&self, r: usize, c: usize) -> i8 {
        let (line, byte, high) = self.location(r, c);
        let b = self.lines[line].0[byte];
        match (self.bits, high) {
            (WeightBits::Eight, _) => b,
            (WeightBits::Four, false) => nibble_value(b as u8 & 0x0F),
            (WeightBits::Four, true) => nibble_value(b as u8 >> 4),
        }
    }

    /// The matrix back in row-major order.
    pub fn to_row_major(&self) -> Vec<i8> {
        let mut out = Vec::with_capacity(self.rows * self.cols);
        for r in 0..self.rows {
            for c in 0..self.cols {
                out.push(self.get(r, c));
            }
        }
        out
    }
}

#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
/// The 4 bytes of column group `g` of `x` as a little-endian i32, zero
/// beyond `x`'s end (the matching padded weights are zero too).
#[inline(always)]
pub(crate) fn group_bytes(x: &[i8], g: usize) -> i32 {
    let c = g * COL_GROUP;
    if c + COL_GROUP <= x.len() {
        i32::from_le_bytes([x[c] as u8, x[c + 1] as u8, x[c + 2] as u8, x[c + 3] as u8])
    } else {
        let mut bytes = [0u8; COL_GROUP];
        for (k, b) in bytes.iter_mut().enumerate() {
            if let Some(&v) = x.get(c + k) {
                *b = v as u8;
            }
        }
        i32::from_le_bytes(bytes)
    }
}

#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
/// The four int16 inputs of column group `g` of `x` (zeros past its end)
/// as one little-endian 64-bit pattern: what the int16-activation kernels
/// broadcast.
#[inline(always)]
pub(crate) fn group_words(x: &[i16], g: usize) -> i64 {
    let c = g * COL_GROUP;
    let word = |k: usize| x.get(c + k).map_or(0, |&v| v as u16 as u64) << (16 * k);
    match x.get(c..c + COL_GROUP) {
        Some(&[x0, x1, x2, x3]) => {
            (x0 as u16 as u64
                | (x1 as u16 as u64) << 16
                | (x2 as u16 as u64) << 32
                | (x3 as u16 as u64) << 48) as i64
        }
        _ => (word(0) | word(1) | word(2) | word(3)) as i64,
    }
}

#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
/// The rows `r0..r1` of tile `t` (of `nb` blocks) that exist in the matrix:
/// where a kernel writes the tile's sums.
#[inline(always)]
pub(crate) fn tile_rows(m: &PackedMatrix, t: usize, nb: usize) -> (usize, usize) {
    let r0 = t * TILE_BLOCKS * ROW_BLOCK;
    (r0, (r0 + nb * ROW_BLOCK).min(m.rows()))
}

#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
/// Copies the rows of block `blk` of tile `t` (of `nb` blocks) that exist in
/// the matrix from a 16-row buffer into one output vector: how the kernels
/// that finish a block in a buffer write it out.
#[inline(always)]
pub(crate) fn store_block_rows(
    m: &PackedMatrix,
    t: usize,
    nb: usize,
    blk: usize,
    block: &[i32; ROW_BLOCK],
    out: &mut [i32],
) {
    let (r0, r1) = tile_rows(m, t, nb);
    let r = r0 + blk * ROW_BLOCK;
    let n = (r1 - r).min(ROW_BLOCK);
    out[r..r + n].copy_from_slice(&block[..n]);
}

#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
/// One piece of a product that a kernel computes in registers: blocks
/// `blk0..blk0 + blocks` of tile `t`, for streams `b0..b0 + streams`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Part {
    pub t: usize,
    pub blk0: usize,
    pub blocks: usize,
    pub b0: usize,
    pub streams: usize,
}

#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
/// How a kernel cuts a product into [`Part`]s: at batch 1, up to `single`
/// blocks of a tile at once; with several streams, up to `blocks` blocks ×
/// `streams` streams (each weight line loaded once per `streams` inputs).
/// The kernels differ only in these sizes, which their register files set.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Schedule {
    pub single: usize,
    pub blocks: usize,
    pub streams: usize,
}

#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
impl Schedule {
    /// The parts of `m · x` for `batch` streams, tile by tile, every
    /// (row block, stream) pair exactly once.
    pub(crate) fn parts(self, m: &PackedMatrix, batch: usize) -> impl Iterator<Item = Part> + '_ {
        let (step_blocks, step_streams) = if batch == 1 {
            (self.single, 1)
        } else {
            (self.blocks, self.streams)
        };
        (0..m.tiles()).flat_map(move |t| {
            let nb = m.blocks_in_tile(t);
            (0..nb).step_by(step_blocks).flat_map(move |blk0| {
                (0..batch).step_by(step_streams).map(move |b0| Part {
                    t,
                    blk0,
                    blocks: step_blocks.min(nb - blk0),
                    b0,
                    streams: step_streams.min(batch - b0),
                })
            })
        })
    }
}
