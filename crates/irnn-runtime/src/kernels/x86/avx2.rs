//! AVX2 without VNNI. `vpmaddubsw` (u8 × s8 with int16 saturation) would be
//! faster but can overflow, so int8 is widened to int16 and multiplied with
//! `vpmaddwd`, which is exact: a pair sum is at most 2 · 128 · 128 = 2^15 in
//! magnitude, well inside int32.
//!
//! A 64-byte line is four 16-byte quarters (rows 4q..4q+3, 4 columns each).
//! Each quarter widens to 16 int16 and `vpmaddwd` against the group's 4 x
//! values gives 8 int32: two partial sums per row. Those pairs are added at
//! the end with `vphaddd` and put back in row order. Blocks are processed one
//! at a time (4 accumulators) for up to 2 inputs.

use core::arch::x86_64::*;

use super::super::packed::{PackedMatrix, ROW_BLOCK};
use super::{group_bytes, tile_rows};

/// # Safety
/// The CPU must support AVX2; lengths are checked by the caller.
#[target_feature(enable = "avx2")]
pub unsafe fn matmul(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
    for t in 0..m.tiles() {
        let nb = m.blocks_in_tile(t);
        for blk in 0..nb {
            let mut b = 0;
            while b < batch {
                // SAFETY: same features as this function.
                unsafe {
                    if batch - b >= 2 {
                        block::<2>(m, t, nb, blk, x, b, acc);
                        b += 2;
                    } else {
                        block::<1>(m, t, nb, blk, x, b, acc);
                        b += 1;
                    }
                }
            }
        }
    }
}

/// The group's 4 x values as int16, repeated across the register.
#[inline]
#[target_feature(enable = "avx2")]
fn broadcast_group(x: &[i8], g: usize) -> __m256i {
    let four = _mm_cvtsi32_si128(group_bytes(x, g));
    _mm256_broadcastq_epi64(_mm_cvtepi8_epi16(four))
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn block<const NX: usize>(
    m: &PackedMatrix,
    t: usize,
    nb: usize,
    blk: usize,
    x: &[i8],
    b0: usize,
    acc: &mut [i32],
) {
    let (rows, cols, groups) = (m.rows(), m.cols(), m.groups());
    let lines = &m.lines()[m.tile_start(t)..m.tile_start(t) + nb * groups];
    let mut sums = [[_mm256_setzero_si256(); 4]; NX];
    for g in 0..groups {
        let mut xv = [_mm256_setzero_si256(); NX];
        for i in 0..NX {
            xv[i] = broadcast_group(&x[(b0 + i) * cols..(b0 + i + 1) * cols], g);
        }
        let p = lines[g * nb + blk].0.as_ptr();
        for q in 0..4 {
            // SAFETY: a line is 64 bytes; quarter q is bytes 16q..16q+16.
            let w = _mm256_cvtepi8_epi16(unsafe { _mm_load_si128(p.add(16 * q).cast()) });
            for i in 0..NX {
                sums[i][q] = _mm256_add_epi32(sums[i][q], _mm256_madd_epi16(w, xv[i]));
            }
        }
    }
    let (r0, r1) = tile_rows(m, t, nb);
    let r = r0 + blk * ROW_BLOCK;
    let n = (r1 - r).min(ROW_BLOCK);
    for (i, s) in sums.iter().enumerate() {
        // hadd within 128-bit lanes gives rows [0 1 4 5 | 2 3 6 7]; reorder.
        let lo = _mm256_permute4x64_epi64(_mm256_hadd_epi32(s[0], s[1]), 0b11_01_10_00);
        let hi = _mm256_permute4x64_epi64(_mm256_hadd_epi32(s[2], s[3]), 0b11_01_10_00);
        let mut block = [0i32; ROW_BLOCK];
        // SAFETY: `block` holds 16 i32.
        unsafe {
            _mm256_storeu_si256(block.as_mut_ptr().cast(), lo);
            _mm256_storeu_si256(block[8..].as_mut_ptr().cast(), hi);
        }
        let out = &mut acc[(b0 + i) * rows..(b0 + i + 1) * rows];
        out[r..r + n].copy_from_slice(&block[..n]);
    }
}
