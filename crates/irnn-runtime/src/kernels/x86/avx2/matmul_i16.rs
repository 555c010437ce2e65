//! AVX2: the 8-bit matrix times int16 activations.
//!
//! Each 16-byte quarter of a line (4 rows × 4 columns) is widened by
//! `vpmovsxbw` to 16 int16 weights, one row's column pair per 32-bit lane
//! (`(w[r][0], w[r][1])` in lane 2r, `(w[r][2], w[r][3])` in 2r + 1);
//! `vpmaddwd` against the group's four inputs broadcast as one 64-bit
//! pattern adds each pair, and `vpaddd` accumulates. `vphaddd` and one
//! `vpermq` turn two such accumulators into 8 row sums at the end. Per 32
//! multiply-adds: one widening (shared by the streams), one `vpmaddwd` and
//! one `vpaddd` per stream. `vpmaddwd` cannot saturate here (a weight is at
//! most 128 in magnitude) and the caller bounds the columns
//! ([`PackedMatrix::max_i16_columns`]), so every sum is exact. The AVX-VNNI
//! tiers use this kernel too (`vpdpwssd` on 256 bits would save only the
//! add).

use core::arch::x86_64::*;

use crate::kernels::packed::{group_words, store_block_rows, PackedMatrix, Schedule, ROW_BLOCK};

/// # Safety
/// The CPU must support AVX2; lengths and columns checked by the caller.
#[target_feature(enable = "avx2")]
pub unsafe fn matmul_i16(m: &PackedMatrix, x: &[i16], batch: usize, acc: &mut [i32]) {
    // 4 accumulators per block and stream: 2 blocks × 1 stream or
    // 1 block × 2 streams keep 8 of the 16 registers.
    let schedule = Schedule {
        single: 2,
        blocks: 1,
        streams: 2,
    };
    for p in schedule.parts(m, batch) {
        let (t, blk, b) = (p.t, p.blk0, p.b0);
        // SAFETY (all arms): same features; the part lies inside the product.
        unsafe {
            match (p.blocks, p.streams) {
                (2, _) => part::<2, 1>(m, t, blk, x, b, acc),
                (_, 2) => part::<1, 2>(m, t, blk, x, b, acc),
                _ => part::<1, 1>(m, t, blk, x, b, acc),
            }
        }
    }
}

/// Blocks `blk0..blk0 + NB` of tile `t` for streams `b0..b0 + NX`.
#[inline]
#[target_feature(enable = "avx2")]
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
    // sums[i][blk][q]: stream i, block blk, rows 4q..4q + 4.
    let mut sums = [[[_mm256_setzero_si256(); 4]; NB]; NX];
    for g in 0..groups {
        let mut xb = [_mm256_setzero_si256(); NX];
        for i in 0..NX {
            let words = group_words(&x[(b0 + i) * cols..(b0 + i + 1) * cols], g);
            xb[i] = _mm256_set1_epi64x(words);
        }
        for blk in 0..NB {
            let line = &lines[g * nb + blk0 + blk].0;
            for q in 0..4 {
                // SAFETY: bytes 16q..16q + 16 of a 64-byte line.
                let quarter = unsafe { _mm_loadu_si128(line.as_ptr().add(16 * q).cast()) };
                let w = _mm256_cvtepi8_epi16(quarter);
                for i in 0..NX {
                    sums[i][blk][q] =
                        _mm256_add_epi32(sums[i][blk][q], _mm256_madd_epi16(w, xb[i]));
                }
            }
        }
    }
    let mut block = [0i32; ROW_BLOCK];
    for i in 0..NX {
        let out = &mut acc[(b0 + i) * rows..(b0 + i + 1) * rows];
        for blk in 0..NB {
            let s = sums[i][blk];
            for half in 0..2 {
                // [r0 r1 r4 r5 | r2 r3 r6 r7] of this half's 8 rows, put in order.
                let pairs = _mm256_hadd_epi32(s[2 * half], s[2 * half + 1]);
                let ordered = _mm256_permute4x64_epi64::<0b11_01_10_00>(pairs);
                // SAFETY: 8 i32 at 8·half of the 16-entry block.
                unsafe { _mm256_storeu_si256(block.as_mut_ptr().add(8 * half).cast(), ordered) };
            }
            store_block_rows(m, t, nb, blk0 + blk, &block, out);
        }
    }
}
