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

use crate::kernels::packed::{PackedMatrix, Schedule, ROW_BLOCK};
use crate::kernels::x86::{group_bytes_plus_128, tile_rows};

/// # Safety
/// The CPU must support AVX-512 F, BW, VL and VNNI; lengths checked by the caller.
#[target_feature(enable = "avx2,avx512f,avx512bw,avx512vl,avx512vnni")]
pub unsafe fn matmul(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
    let schedule = Schedule {
        single: 4,
        blocks: 4,
        streams: 4,
    };
    for p in schedule.parts(m, batch) {
        let (t, b0) = (p.t, p.b0);
        // SAFETY: same features as this function; whole tiles (blk0 = 0).
        unsafe {
            match (p.blocks, p.streams) {
                (4, 4) => tile::<4, 4>(m, t, x, b0, acc),
                (4, 3) => tile::<4, 3>(m, t, x, b0, acc),
                (4, 2) => tile::<4, 2>(m, t, x, b0, acc),
                (4, _) => tile::<4, 1>(m, t, x, b0, acc),
                (3, 4) => tile::<3, 4>(m, t, x, b0, acc),
                (3, 3) => tile::<3, 3>(m, t, x, b0, acc),
                (3, 2) => tile::<3, 2>(m, t, x, b0, acc),
                (3, _) => tile::<3, 1>(m, t, x, b0, acc),
                (2, 4) => tile::<2, 4>(m, t, x, b0, acc),
                (2, 3) => tile::<2, 3>(m, t, x, b0, acc),
                (2, 2) => tile::<2, 2>(m, t, x, b0, acc),
                (2, _) => tile::<2, 1>(m, t, x, b0, acc),
                (_, 4) => tile::<1, 4>(m, t, x, b0, acc),
                (_, 3) => tile::<1, 3>(m, t, x, b0, acc),
                (_, 2) => tile::<1, 2>(m, t, x, b0, acc),
                (_, _) => tile::<1, 1>(m, t, x, b0, acc),
            }
        }
    }
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
    let (rows, cols, groups) = (m.rows(), m.cols(), m.groups());
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
