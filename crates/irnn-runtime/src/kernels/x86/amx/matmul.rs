//! The 8-bit product on AMX tiles, for two streams or more (one stream
//! would fill one row of sixteen: the AVX-512 kernel does that better).
//!
//! Tile registers: `tmm0`–`tmm3` the sums of up to four row blocks of a
//! weight tile (streams × 16 rows, int32), `tmm4` the inputs (streams × 64
//! columns), `tmm5`–`tmm7` weights (16 column groups × one 16-row block,
//! loaded with the block's stride inside its tile). Per weight tile and
//! group of up to 16 streams, the loop walks the columns 64 at a time: one
//! input load, then per block one weight load and one `tdpbssd`. Each
//! weight byte is read once per 16 streams, straight from the packed
//! layout. A last chunk narrower than 64 columns goes through zero-padded
//! copies (inputs past `cols` and weight groups past the matrix are zero),
//! so the tile shape never changes inside a sum: `ldtilecfg` clears the
//! tiles, so it runs only between groups of streams.

use core::arch::asm;
use core::arch::x86_64::*;

use crate::kernels::packed::{Line, PackedMatrix, COL_GROUP, ROW_BLOCK, TILE_BLOCKS};
use crate::kernels::x86::avx512;
use crate::kernels::x86::avx512::matmul::Nibbles;

/// Columns one input tile holds (16 groups of 4).
const CHUNK: usize = 64;
/// Column groups per chunk: the rows of a weight tile.
const CHUNK_GROUPS: usize = CHUNK / COL_GROUP;
/// Streams one input tile holds.
const STREAMS: usize = 16;

/// The 64-byte operand of `ldtilecfg` (palette 1).
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    /// Bytes per row of each tile register.
    colsb: [u16; 16],
    /// Rows of each tile register.
    rows: [u8; 16],
}

impl TileConfig {
    /// Sums and inputs with `streams` rows, weights with 16, every row 64
    /// bytes.
    fn new(streams: usize) -> Self {
        let s = streams as u8;
        let mut c = TileConfig {
            palette: 1,
            start_row: 0,
            reserved: [0; 14],
            colsb: [0; 16],
            rows: [0; 16],
        };
        for t in 0..8 {
            c.colsb[t] = CHUNK as u16;
            c.rows[t] = if t < 5 { s } else { CHUNK_GROUPS as u8 };
        }
        c
    }
}

#[repr(C, align(64))]
struct Aligned<T>(T);

/// `tileloadd` of weights into the register of block `blk` and `tdpbssd`
/// into that block's sums.
///
/// # Safety
/// Tiles configured by [`TileConfig::new`]; `p` and the stride address 16
/// readable rows of 64 bytes.
#[inline(always)]
unsafe fn multiply_block(blk: usize, p: *const u8, stride: usize) {
    // SAFETY: the caller's; the tile registers are never used by compiled code.
    unsafe {
        match blk {
            0 => asm!("tileloadd tmm5, [{p} + {s}*1]", "tdpbssd tmm0, tmm4, tmm5",
                p = in(reg) p, s = in(reg) stride, options(nostack, readonly)),
            1 => asm!("tileloadd tmm6, [{p} + {s}*1]", "tdpbssd tmm1, tmm4, tmm6",
                p = in(reg) p, s = in(reg) stride, options(nostack, readonly)),
            2 => asm!("tileloadd tmm7, [{p} + {s}*1]", "tdpbssd tmm2, tmm4, tmm7",
                p = in(reg) p, s = in(reg) stride, options(nostack, readonly)),
            _ => asm!("tileloadd tmm5, [{p} + {s}*1]", "tdpbssd tmm3, tmm4, tmm5",
                p = in(reg) p, s = in(reg) stride, options(nostack, readonly)),
        }
    }
}

/// `tilestored` of block `blk`'s sums: one row of 16 int32 per stream.
///
/// # Safety
/// Tiles configured; `p` and the stride address writable rows of 64 bytes,
/// one per stream.
#[inline(always)]
unsafe fn store_block(blk: usize, p: *mut i32, stride: usize) {
    // SAFETY: the caller's.
    unsafe {
        match blk {
            0 => {
                asm!("tilestored [{p} + {s}*1], tmm0", p = in(reg) p, s = in(reg) stride, options(nostack))
            }
            1 => {
                asm!("tilestored [{p} + {s}*1], tmm1", p = in(reg) p, s = in(reg) stride, options(nostack))
            }
            2 => {
                asm!("tilestored [{p} + {s}*1], tmm2", p = in(reg) p, s = in(reg) stride, options(nostack))
            }
            _ => {
                asm!("tilestored [{p} + {s}*1], tmm3", p = in(reg) p, s = in(reg) stride, options(nostack))
            }
        }
    }
}

/// # Safety
/// The CPU must support AVX-512 F, BW, VL, VNNI and AMX-INT8, with the
/// process allowed the tile state ([`super::has_amx_int8`]); lengths
/// checked by the caller.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn matmul(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
    if batch < 2 {
        // SAFETY: the same features.
        return unsafe { avx512::matmul::matmul(m, x, batch, acc) };
    }
    // SAFETY: the caller's.
    unsafe { product::<false>(m, x, batch, acc) }
}

/// The 4-bit product: each weight tile is unpacked first — per line pair,
/// `vpandd` + `vpshufb` (low nibbles) and `vpsrlw` + `vpandd` + `vpshufb`
/// (high), as in the AVX-512 kernel — into a 1 KB buffer of the 8-bit
/// layout, which the tile loads. Half the bytes from memory.
///
/// # Safety
/// As [`matmul`].
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn matmul_i4(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
    if batch < 2 {
        // SAFETY: the same features.
        return unsafe { avx512::matmul::matmul_i4(m, x, batch, acc) };
    }
    // SAFETY: the caller's.
    unsafe { product::<true>(m, x, batch, acc) }
}

/// Unpacks `present` line pairs of 4-bit weights, `nb` lines apart from
/// `line`, into the 8-bit lines of groups 2j and 2j + 1 of `out` (zeros
/// after them).
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn unpack_nibbles(
    lines: &[Line],
    line: usize,
    nb: usize,
    present: usize,
    out: &mut [[i8; 64]; CHUNK_GROUPS],
) {
    let nibbles = Nibbles::new();
    for j in 0..CHUNK_GROUPS / 2 {
        let (lo, hi) = if j < present {
            // SAFETY: a line is 64 bytes aligned to 64.
            let v = unsafe { _mm512_load_si512(lines[line + j * nb].0.as_ptr().cast()) };
            nibbles.unpack(v)
        } else {
            (_mm512_setzero_si512(), _mm512_setzero_si512())
        };
        // SAFETY: rows 2j and 2j + 1 of `out`, 64 bytes each.
        unsafe {
            _mm512_storeu_si512(out[2 * j].as_mut_ptr().cast(), lo);
            _mm512_storeu_si512(out[2 * j + 1].as_mut_ptr().cast(), hi);
        }
    }
}

/// The product over AMX tiles; `FOUR`: the matrix holds 4-bit weights.
///
/// # Safety
/// As [`matmul`]; `batch ≥ 1`.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn product<const FOUR: bool>(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
    let (rows, cols, groups) = (m.rows(), m.cols(), m.groups());
    let lines = m.lines();
    let mut inputs_tail = Aligned([[0i8; CHUNK]; STREAMS]);
    let mut weights_tail = Aligned([[0i8; 64]; CHUNK_GROUPS]);
    let mut sums_tail = Aligned([[0i32; ROW_BLOCK]; STREAMS]);
    for b0 in (0..batch).step_by(STREAMS) {
        let streams = (batch - b0).min(STREAMS);
        let config = TileConfig::new(streams);
        // SAFETY: a valid palette-1 configuration.
        unsafe { asm!("ldtilecfg [{}]", in(reg) &config, options(nostack, readonly)) };
        for t in 0..m.tiles() {
            let (nb, first) = (m.blocks_in_tile(t), m.tile_start(t));
            let stride = nb * 64;
            // SAFETY: configured tiles.
            unsafe {
                asm!(
                    "tilezero tmm0",
                    "tilezero tmm1",
                    "tilezero tmm2",
                    "tilezero tmm3",
                    options(nomem, nostack)
                );
            }
            for k in 0..groups.div_ceil(CHUNK_GROUPS) {
                let c0 = k * CHUNK;
                if c0 + CHUNK <= cols {
                    // SAFETY: `streams` rows of x from b0, 64 bytes from
                    // column c0 each, all inside x.
                    unsafe {
                        let p = x.as_ptr().add(b0 * cols + c0);
                        asm!("tileloadd tmm4, [{p} + {s}*1]", p = in(reg) p, s = in(reg) cols,
                            options(nostack, readonly));
                    }
                } else {
                    let width = cols - c0;
                    for (s, row) in inputs_tail.0.iter_mut().enumerate().take(streams) {
                        let from = (b0 + s) * cols + c0;
                        row[..width].copy_from_slice(&x[from..from + width]);
                        row[width..].fill(0);
                    }
                    // SAFETY: `streams` rows of 64 bytes in the buffer.
                    unsafe {
                        asm!("tileloadd tmm4, [{p} + {s}*1]", p = in(reg) inputs_tail.0.as_ptr(),
                            s = in(reg) CHUNK, options(nostack, readonly));
                    }
                }
                let g0 = k * CHUNK_GROUPS;
                let present = (groups - g0).min(CHUNK_GROUPS);
                for blk in 0..nb {
                    if FOUR {
                        // Line pairs of this chunk: g0/2 … g0/2 + 8.
                        let (p0, pairs) = (g0 / 2, m.line_groups());
                        let line = first + p0 * nb + blk;
                        let n = (pairs - p0).min(CHUNK_GROUPS / 2);
                        // SAFETY: the same features; lines of this tile.
                        unsafe { unpack_nibbles(lines, line, nb, n, &mut weights_tail.0) };
                        // SAFETY: 16 rows of 64 bytes in the buffer.
                        unsafe { multiply_block(blk, weights_tail.0.as_ptr().cast(), 64) };
                        continue;
                    }
                    let line = first + g0 * nb + blk;
                    if present == CHUNK_GROUPS {
                        // SAFETY: lines `line + j·nb`, j < 16, are this
                        // block's groups g0..g0+16 of tile t.
                        unsafe { multiply_block(blk, lines[line..].as_ptr().cast(), stride) };
                    } else {
                        for (j, row) in weights_tail.0.iter_mut().enumerate() {
                            *row = if j < present {
                                lines[line + j * nb].0
                            } else {
                                [0; 64]
                            };
                        }
                        // SAFETY: 16 rows of 64 bytes in the buffer.
                        unsafe { multiply_block(blk, weights_tail.0.as_ptr().cast(), 64) };
                    }
                }
            }
            for blk in 0..nb {
                let r = (t * TILE_BLOCKS + blk) * ROW_BLOCK;
                if r + ROW_BLOCK <= rows {
                    // SAFETY: rows r..r+16 of outputs b0..b0+streams.
                    unsafe {
                        store_block(blk, acc.as_mut_ptr().add(b0 * rows + r), rows * 4);
                    }
                } else {
                    // SAFETY: `streams` rows of 64 bytes in the buffer.
                    unsafe { store_block(blk, sums_tail.0.as_mut_ptr().cast(), 64) };
                    let n = rows - r;
                    for (s, sums) in sums_tail.0.iter().enumerate().take(streams) {
                        let to = (b0 + s) * rows + r;
                        acc[to..to + n].copy_from_slice(&sums[..n]);
                    }
                }
            }
        }
    }
    // SAFETY: returns the tiles to their initial state.
    unsafe { asm!("tilerelease", options(nomem, nostack)) };
}
