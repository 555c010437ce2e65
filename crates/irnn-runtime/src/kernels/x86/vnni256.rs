//! 256-bit VNNI: each 64-byte line is two `vpdpbusd` operands (rows 0–7 and
//! 8–15). The same kernel body is compiled twice: for AVX-VNNI (the VEX
//! encoding found on Alder Lake and later) and for AVX-512 VNNI + VL, so the
//! code path is exercised on AVX-512 machines too. With 16 vector registers
//! on AVX-VNNI-only CPUs, a tile of 4 blocks (8 accumulators) is computed for
//! one input at a time. The unsigned-offset trick is as in [`super::avx512::matmul`].

use core::arch::x86_64::*;

use super::super::packed::{PackedMatrix, Schedule, ROW_BLOCK};
use super::{group_bytes_plus_128, tile_rows};

macro_rules! vnni256_kernel {
    ($name:ident, $tile:ident, $features:literal, $dpbusd:ident) => {
        /// # Safety
        /// The CPU must support the features named in the attribute; lengths
        /// are checked by the caller.
        #[target_feature(enable = $features)]
        pub unsafe fn $name(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
            // One input at a time: 8 accumulators for a whole tile.
            let schedule = Schedule {
                single: 4,
                blocks: 4,
                streams: 1,
            };
            for p in schedule.parts(m, batch) {
                let (t, b) = (p.t, p.b0);
                // SAFETY: same features as this function; whole tiles.
                unsafe {
                    match p.blocks {
                        4 => $tile::<4>(m, t, x, b, acc),
                        3 => $tile::<3>(m, t, x, b, acc),
                        2 => $tile::<2>(m, t, x, b, acc),
                        _ => $tile::<1>(m, t, x, b, acc),
                    }
                }
            }
        }

        #[inline]
        #[target_feature(enable = $features)]
        unsafe fn $tile<const NB: usize>(
            m: &PackedMatrix,
            t: usize,
            x: &[i8],
            b: usize,
            acc: &mut [i32],
        ) {
            let (rows, cols, groups) = (m.rows(), m.cols(), m.groups());
            let lines = &m.lines()[m.tile_start(t)..m.tile_start(t) + NB * groups];
            let xb = &x[b * cols..(b + 1) * cols];
            let mut lo = [_mm256_setzero_si256(); NB];
            let mut hi = [_mm256_setzero_si256(); NB];
            let k80 = _mm256_set1_epi32(0x8080_8080u32 as i32);
            let full = cols / 4;
            let mut w = lines.as_ptr().cast::<__m256i>();
            for g in 0..groups {
                let xv = if g < full {
                    // SAFETY: 4·g + 4 ≤ cols.
                    let four = unsafe { xb.as_ptr().add(4 * g).cast::<i32>().read_unaligned() };
                    _mm256_xor_si256(_mm256_set1_epi32(four), k80)
                } else {
                    _mm256_set1_epi32(group_bytes_plus_128(xb, g))
                };
                for blk in 0..NB {
                    // SAFETY: line g·NB + blk exists; lines are 64 bytes aligned to 64.
                    let (w0, w1) = unsafe {
                        (
                            _mm256_load_si256(w.add(2 * blk)),
                            _mm256_load_si256(w.add(2 * blk + 1)),
                        )
                    };
                    lo[blk] = $dpbusd(lo[blk], xv, w0);
                    hi[blk] = $dpbusd(hi[blk], xv, w1);
                }
                // SAFETY: stays within (or one past) `lines`.
                w = unsafe { w.add(2 * NB) };
            }
            let (r0, r1) = tile_rows(m, t, NB);
            let out = &mut acc[b * rows..(b + 1) * rows];
            let sums = m.row_sums_x128();
            for blk in 0..NB {
                let r = r0 + blk * ROW_BLOCK;
                let mut block = [0i32; ROW_BLOCK];
                // SAFETY: row sums are padded to whole blocks; `block` holds 16 i32.
                unsafe {
                    let c0 = _mm256_loadu_si256(sums[r..].as_ptr().cast());
                    let c1 = _mm256_loadu_si256(sums[r + 8..].as_ptr().cast());
                    _mm256_storeu_si256(block.as_mut_ptr().cast(), _mm256_sub_epi32(lo[blk], c0));
                    _mm256_storeu_si256(
                        block[8..].as_mut_ptr().cast(),
                        _mm256_sub_epi32(hi[blk], c1),
                    );
                }
                let n = (r1 - r).min(ROW_BLOCK);
                out[r..r + n].copy_from_slice(&block[..n]);
            }
        }
    };
}

vnni256_kernel!(
    matmul_avx_vnni,
    tile_avx_vnni,
    "avx2,avxvnni",
    _mm256_dpbusd_avx_epi32
);
vnni256_kernel!(
    matmul_avx512_vl,
    tile_avx512_vl,
    "avx2,avx512f,avx512vl,avx512vnni",
    _mm256_dpbusd_epi32
);
