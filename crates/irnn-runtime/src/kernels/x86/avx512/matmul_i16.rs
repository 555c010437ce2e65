//! AVX-512 VNNI: the 8-bit matrix times int16 activations (16-bit
//! activations for audio, TFLite's "16x8" shape).
//!
//! `vpmovsxbw` widens a 64-byte line (16 rows × 4 columns) into two
//! registers of 8 rows × 4 int16 weights; in each 32-bit lane they hold one
//! row's column pair, `(w[r][0], w[r][1])` in lane 2r and `(w[r][2],
//! w[r][3])` in lane 2r + 1. The group's four int16 inputs broadcast as one
//! 64-bit pattern put `(x0, x1)` in the even lanes and `(x2, x3)` in the
//! odd ones, so `vpdpwssd` (signed × signed pairs, no saturation) adds each
//! row's two half-dot-products into its two lanes; one even/odd
//! `vpermt2d` pair and an add give the 16 row sums at the end. Per line:
//! 2 widenings (shared by the streams) and 2 `vpdpwssd` per stream for 64
//! multiply-adds. Exact because the caller bounds the columns
//! ([`PackedMatrix::max_i16_columns`]): no int32 sum can overflow.

use core::arch::x86_64::*;

use crate::kernels::packed::{group_words, store_block_rows, PackedMatrix, Schedule, ROW_BLOCK};

/// # Safety
/// The CPU must support AVX-512 F, BW, VL and VNNI; lengths and columns
/// checked by the caller.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn matmul_i16(m: &PackedMatrix, x: &[i16], batch: usize, acc: &mut [i32]) {
    let schedule = Schedule {
        single: 4,
        blocks: 4,
        streams: 2,
    };
    for p in schedule.parts(m, batch) {
        let (t, blk, b) = (p.t, p.blk0, p.b0);
        // SAFETY (all arms): same features; the part lies inside the product.
        unsafe {
            match (p.blocks, p.streams) {
                (4, 2) => part::<4, 2>(m, t, blk, x, b, acc),
                (4, _) => part::<4, 1>(m, t, blk, x, b, acc),
                (3, 2) => part::<3, 2>(m, t, blk, x, b, acc),
                (3, _) => part::<3, 1>(m, t, blk, x, b, acc),
                (2, 2) => part::<2, 2>(m, t, blk, x, b, acc),
                (2, _) => part::<2, 1>(m, t, blk, x, b, acc),
                (_, 2) => part::<1, 2>(m, t, blk, x, b, acc),
                _ => part::<1, 1>(m, t, blk, x, b, acc),
            }
        }
    }
}

/// Blocks `blk0..blk0 + NB` of tile `t` for streams `b0..b0 + NX`.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn part<const NB: usize, const NX: usize>(
    m: &PackedMatrix,
    t: usize,
    blk0: usize,
    x: &[i16],
    b0: usize,
    acc: &mut [i32],
) {
    let (rows, cols, groups) = (m.rows(), m.cols(), m.groups());
    let nb = m.blocks_in_tile(t);
    let lines = &m.lines()[m.tile_start(t)..m.tile_start(t) + nb * groups];
    let mut lo = [[_mm512_setzero_si512(); NB]; NX];
    let mut hi = [[_mm512_setzero_si512(); NB]; NX];
    for g in 0..groups {
        let mut xb = [_mm512_setzero_si512(); NX];
        for i in 0..NX {
            let words = group_words(&x[(b0 + i) * cols..(b0 + i + 1) * cols], g);
            xb[i] = _mm512_set1_epi64(words);
        }
        for blk in 0..NB {
            // SAFETY: line g·nb + blk0 + blk of the tile exists; lines are
            // 64 bytes aligned to 64.
            let line = unsafe {
                _mm512_load_si512(lines[g * nb + blk0 + blk].0.as_ptr().cast::<__m512i>())
            };
            let w_lo = _mm512_cvtepi8_epi16(_mm512_castsi512_si256(line));
            let w_hi = _mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64::<1>(line));
            for i in 0..NX {
                lo[i][blk] = _mm512_dpwssd_epi32(lo[i][blk], xb[i], w_lo);
                hi[i][blk] = _mm512_dpwssd_epi32(hi[i][blk], xb[i], w_hi);
            }
        }
    }
    // Row r's halves sit in lanes 2r and 2r + 1 (of `lo` for rows 0–7, of
    // `hi` for 8–15): the even lanes of both, then the odd ones, added.
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let mut block = [0i32; ROW_BLOCK];
    for i in 0..NX {
        let out = &mut acc[(b0 + i) * rows..(b0 + i + 1) * rows];
        for blk in 0..NB {
            let (l, h) = (lo[i][blk], hi[i][blk]);
            let sums = _mm512_add_epi32(
                _mm512_permutex2var_epi32(l, even, h),
                _mm512_permutex2var_epi32(l, odd, h),
            );
            // SAFETY: `block` holds 16 i32.
            unsafe { _mm512_storeu_si512(block.as_mut_ptr().cast(), sums) };
            store_block_rows(m, t, nb, blk0 + blk, &block, out);
        }
    }
}
