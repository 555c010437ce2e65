//! AVX-512 VNNI: one `vpdpbusd` multiplies 16 rows by a 4-column group.
//!
//! `x` is made unsigned by adding 128 (an XOR of the sign bit), so the product
//! is `Σ (x + 128) · w = Σ x · w + 128 · Σ w`, and the packed matrix's
//! `128 · row sum` is subtracted at the end. The non-saturating
//! `vpdpbusd` cannot overflow for `cols ≤ MAX_COLS`.
//!
//! A tile of up to 4 blocks (64 rows) is computed for up to 4 batch entries
//! at once: 16 accumulators, each weight line loaded once per 4 inputs.

use core::arch::x86_64::*;

/// The product `$m · $x` by `$tile::<blocks, streams>` over whole tiles:
/// up to 4 blocks (64 rows) × 4 streams at once, 16 accumulators, each
/// weight line loaded once per 4 inputs. Must be expanded inside a function
/// with this file's target features.
macro_rules! by_tiles {
    ($tile:ident, $m:expr, $x:expr, $batch:expr, $acc:expr) => {{
        let schedule = Schedule {
            single: 4,
            blocks: 4,
            streams: 4,
        };
        for p in schedule.parts($m, $batch) {
            let (t, b0) = (p.t, p.b0);
            // SAFETY: the caller's features; whole tiles (blk0 = 0).
            unsafe { by_shape!($tile, p.blocks, p.streams, ($m, t, $x, b0, $acc)) }
        }
    }};
}

/// `$tile::<blocks, streams>(args)` for a part of 1–4 blocks × 1–4 streams.
macro_rules! by_shape {
    ($tile:ident, $blocks:expr, $streams:expr, $args:tt) => {
        match ($blocks, $streams) {
            (4, 4) => $tile::<4, 4> $args,
            (4, 3) => $tile::<4, 3> $args,
            (4, 2) => $tile::<4, 2> $args,
            (4, _) => $tile::<4, 1> $args,
            (3, 4) => $tile::<3, 4> $args,
            (3, 3) => $tile::<3, 3> $args,
            (3, 2) => $tile::<3, 2> $args,
            (3, _) => $tile::<3, 1> $args,
            (2, 4) => $tile::<2, 4> $args,
            (2, 3) => $tile::<2, 3> $args,
            (2, 2) => $tile::<2, 2> $args,
            (2, _) => $tile::<2, 1> $args,
            (_, 4) => $tile::<1, 4> $args,
            (_, 3) => $tile::<1, 3> $args,
            (_, 2) => $tile::<1, 2> $args,
            (_, _) => $tile::<1, 1> $args,
        }
    };
}

use crate::kernels::packed::{PackedMatrix, Schedule, ROW_BLOCK};
use crate::kernels::x86::{group_bytes_plus_128, tile_rows};

/// # Safety
/// The CPU must support AVX-512 F, BW, VL and VNNI; lengths checked by the caller.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn matmul(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
    // The macro's calls are sound here: same features as this function.
    by_tiles!(tile, m, x, batch, acc)
}

#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn tile<const NB: usize, const NX: usize>(
    m: &PackedMatrix,
    t: usize,
    x: &[i8],
    b0: usize,
    acc: &mut [i32],
) {
    let (cols, groups) = (m.cols(), m.groups());
    let lines = &m.lines()[m.tile_start(t)..m.tile_start(t) + NB * groups];
    let k80 = _mm512_set1_epi32(0x8080_8080u32 as i32);
    let mut sums = [[_mm512_setzero_si512(); NB]; NX];
    // Full groups: raw loads, everything in registers. (No closures or
    // `array::from_fn` here: they are not inlined into target-feature code.)
    let full = cols / 4;
    let mut w = lines.as_ptr().cast::<__m512i>();
    for g in 0..full {
        let mut xb = [k80; NX];
        for i in 0..NX {
            // SAFETY: 4·g + 4 ≤ cols, inside input vector b0 + i.
            let four = unsafe {
                x.as_ptr()
                    .add((b0 + i) * cols + 4 * g)
                    .cast::<i32>()
                    .read_unaligned()
            };
            xb[i] = _mm512_xor_si512(_mm512_set1_epi32(four), k80);
        }
        for blk in 0..NB {
            // SAFETY: lines[g·NB + blk] exists; a line is 64 bytes aligned to 64.
            let wv = unsafe { _mm512_load_si512(w.add(blk)) };
            for i in 0..NX {
                sums[i][blk] = _mm512_dpbusd_epi32(sums[i][blk], xb[i], wv);
            }
        }
        // SAFETY: stays within (or one past) `lines`.
        w = unsafe { w.add(NB) };
    }
    // The last, partial group (zero weights meet the padding).
    if groups > full {
        for i in 0..NX {
            let xi = &x[(b0 + i) * cols..(b0 + i + 1) * cols];
            let xb = _mm512_set1_epi32(group_bytes_plus_128(xi, full));
            for blk in 0..NB {
                // SAFETY: as above.
                let wv = unsafe { _mm512_load_si512(w.add(blk)) };
                sums[i][blk] = _mm512_dpbusd_epi32(sums[i][blk], xb, wv);
            }
        }
    }
    // SAFETY: same features; `sums` are this tile's.
    unsafe { store_tile(m, t, b0, &sums, acc) };
}

/// Writes a tile's sums (rows of up to `NB` blocks, `NX` streams from
/// `b0`) less the row-sum correction, masked to the rows that exist.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn store_tile<const NB: usize, const NX: usize>(
    m: &PackedMatrix,
    t: usize,
    b0: usize,
    sums: &[[__m512i; NB]; NX],
    acc: &mut [i32],
) {
    let rows = m.rows();
    let (r0, r1) = tile_rows(m, t, NB);
    for (i, sums_i) in sums.iter().enumerate() {
        let out = &mut acc[(b0 + i) * rows..(b0 + i + 1) * rows];
        for (blk, &s) in sums_i.iter().enumerate() {
            let r = r0 + blk * ROW_BLOCK;
            // SAFETY: row_sums_x128 is padded to whole blocks.
            let correction = unsafe { _mm512_loadu_si512(m.row_sums_x128()[r..].as_ptr().cast()) };
            let v = _mm512_sub_epi32(s, correction);
            let n = (r1 - r).min(ROW_BLOCK);
            let mask: __mmask16 = if n == ROW_BLOCK {
                0xFFFF
            } else {
                (1u16 << n) - 1
            };
            // SAFETY: the mask limits the store to rows r..r+n < rows.
            unsafe { _mm512_mask_storeu_epi32(out[r..].as_mut_ptr().cast(), mask, v) };
        }
    }
}

/// The 4-bit product: each line holds two column groups as nibbles; one
/// `vpandd` + `vpshufb` (low) and `vpsrlw` + `vpandd` + `vpshufb` (high)
/// turn it into the two int8 lines of the 8-bit layout, signs included
/// (the lookup maps nibble n to its two's-complement value), then two
/// `vpdpbusd` as in [`matmul`]: 7 instructions per 128 multiply-adds on
/// half the bytes, with the unpacking shared by up to 4 streams.
///
/// # Safety
/// The CPU must support AVX-512 F, BW, VL and VNNI; lengths checked by the caller.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn matmul_i4(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
    // The macro's calls are sound here: same features as this function.
    by_tiles!(tile_i4, m, x, batch, acc)
}

#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn tile_i4<const NB: usize, const NX: usize>(
    m: &PackedMatrix,
    t: usize,
    x: &[i8],
    b0: usize,
    acc: &mut [i32],
) {
    let (cols, pairs) = (m.cols(), m.line_groups());
    let lines = &m.lines()[m.tile_start(t)..m.tile_start(t) + NB * pairs];
    let k80 = _mm512_set1_epi32(0x8080_8080u32 as i32);
    let nibbles = Nibbles::new();
    let mut sums = [[_mm512_setzero_si512(); NB]; NX];
    let full = cols / 8;
    let mut w = lines.as_ptr().cast::<__m512i>();
    for p in 0..pairs {
        let mut lo_x = [k80; NX];
        let mut hi_x = [k80; NX];
        for i in 0..NX {
            let (lo, hi) = if p < full {
                // SAFETY: 8·p + 8 ≤ cols, inside input vector b0 + i.
                let eight = unsafe {
                    x.as_ptr()
                        .add((b0 + i) * cols + 8 * p)
                        .cast::<u64>()
                        .read_unaligned()
                };
                (
                    (eight as u32 ^ 0x8080_8080) as i32,
                    ((eight >> 32) as u32 ^ 0x8080_8080) as i32,
                )
            } else {
                let xi = &x[(b0 + i) * cols..(b0 + i + 1) * cols];
                (
                    group_bytes_plus_128(xi, 2 * p),
                    group_bytes_plus_128(xi, 2 * p + 1),
                )
            };
            lo_x[i] = _mm512_set1_epi32(lo);
            hi_x[i] = _mm512_set1_epi32(hi);
        }
        for blk in 0..NB {
            // A hint only (never faults): the lines 8 pairs ahead.
            _mm_prefetch::<_MM_HINT_T0>(w.wrapping_add(8 * NB + blk).cast());
            // SAFETY: lines[p·NB + blk] exists; a line is 64 bytes aligned to 64.
            let v = unsafe { _mm512_load_si512(w.add(blk)) };
            let (lo, hi) = nibbles.unpack(v);
            for i in 0..NX {
                sums[i][blk] = _mm512_dpbusd_epi32(sums[i][blk], lo_x[i], lo);
                sums[i][blk] = _mm512_dpbusd_epi32(sums[i][blk], hi_x[i], hi);
            }
        }
        // SAFETY: stays within (or one past) `lines`.
        w = unsafe { w.add(NB) };
    }
    // SAFETY: same features; `sums` are this tile's.
    unsafe { store_tile(m, t, b0, &sums, acc) };
}

/// The constants of the 4-bit unpacking: the low-nibble mask and the
/// lookup from nibble to its two's-complement value.
#[derive(Clone, Copy)]
pub(crate) struct Nibbles {
    mask: __m512i,
    values: __m512i,
}

impl Nibbles {
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(crate) fn new() -> Self {
        Self {
            mask: _mm512_set1_epi8(0x0F),
            values: _mm512_broadcast_i32x4(_mm_setr_epi8(
                0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1,
            )),
        }
    }

    /// A 4-bit line as the two int8 lines of the 8-bit layout: its low
    /// nibbles (`vpandd` + `vpshufb`), then its high ones (`vpsrlw` +
    /// `vpandd` + `vpshufb`).
    #[inline]
    #[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(crate) fn unpack(self, v: __m512i) -> (__m512i, __m512i) {
        (
            _mm512_shuffle_epi8(self.values, _mm512_and_si512(v, self.mask)),
            _mm512_shuffle_epi8(
                self.values,
                _mm512_and_si512(_mm512_srli_epi16(v, 4), self.mask),
            ),
        )
    }
}
