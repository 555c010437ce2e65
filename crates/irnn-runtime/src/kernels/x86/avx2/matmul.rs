//! AVX2 without VNNI: the int8 matrix product.
//!
//! `vpmaddubsw` multiplies unsigned by signed bytes and adds pairs with int16
//! saturation, so it cannot take `x + 128` as the VNNI kernels do (a pair
//! could reach 2·255·127). It is exact if the unsigned operand is `|x|` and
//! the sign moves to the weight: `|x| · (w·sign(x)) = x·w`, with `vpsignb`
//! doing `w·sign(x)` (0 where `x = 0`). With weights in [−127, 127] a pair
//! sum is at most 2·128·127 = 32 512 < 2^15, for every int8 activation,
//! −128 included (`vpabsb(−128)` is 128 read unsigned). Per 32
//! multiply-adds (one 256-bit half of a line: 8 rows × 4 columns):
//!
//! ```text
//! vpsignb   s, w, x        w · sign(x)
//! vpmaddubsw p, |x|, s     16 int16: pair sums
//! vpmaddwd  q, p, ones     8 int32: each row's 4-column dot product
//! vpaddd    acc, acc, q
//! ```
//!
//! 4 instructions and one load, against 6 for widening to int16 (two
//! `vpmovsxbw`, two `vpmaddwd`, two `vpaddd`) plus a final `vphaddd`; and
//! `vpmaddwd` with ones already leaves the rows in order. `x` and `|x|` are
//! broadcast once per 4-column group and reused across the tile's rows (64
//! rows at batch 1); with several streams, two blocks × two streams at a
//! time keep 8 accumulators in the 16 registers and load each weight once
//! per two streams (measured faster than one block × four streams, which
//! re-broadcasts the inputs per block: 59 vs 47 GMAC/s at 4096 × 1024,
//! batch 16, on a Sapphire Rapids core running AVX2).
//!
//! A matrix holding −128 (never written by the trainer, but a caller may
//! pack one) runs [`matmul_widening`], exact for every weight.

use core::arch::x86_64::*;

/// The product `$m · $x` by `$part::<blocks, streams>`: at batch 1 a whole
/// tile (4 blocks, 8 accumulators); with several streams two blocks × two
/// streams (8 accumulators, 4 broadcast inputs), each weight line loaded
/// once per 2 streams. Must be expanded inside a function with AVX2.
macro_rules! by_parts {
    ($part:ident, $m:expr, $x:expr, $batch:expr, $acc:expr) => {{
        let schedule = Schedule {
            single: 4,
            blocks: 2,
            streams: 2,
        };
        for p in schedule.parts($m, $batch) {
            let (t, blk, b) = (p.t, p.blk0, p.b0);
            // SAFETY (all arms): the caller's features; the part lies inside the product.
            unsafe {
                match (p.blocks, p.streams) {
                    (4, _) => $part::<4, 1>($m, t, blk, $x, b, $acc),
                    (3, _) => $part::<3, 1>($m, t, blk, $x, b, $acc),
                    (2, 2) => $part::<2, 2>($m, t, blk, $x, b, $acc),
                    (2, _) => $part::<2, 1>($m, t, blk, $x, b, $acc),
                    (_, 2) => $part::<1, 2>($m, t, blk, $x, b, $acc),
                    _ => $part::<1, 1>($m, t, blk, $x, b, $acc),
                }
            }
        }
    }};
}

use crate::kernels::packed::{store_block_rows, PackedMatrix, Schedule, ROW_BLOCK};
use crate::kernels::x86::{group_bytes, tile_rows};

/// # Safety
/// The CPU must support AVX2; lengths are checked by the caller.
#[target_feature(enable = "avx2")]
pub unsafe fn matmul(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
    if m.has_min_weight() {
        // SAFETY: same features.
        return unsafe { matmul_widening(m, x, batch, acc) };
    }
    // The macro's calls are sound here: same features as this function.
    by_parts!(signed, m, x, batch, acc)
}

/// Blocks `blk0..blk0 + NB` of tile `t` for streams `b0..b0 + NX`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn signed<const NB: usize, const NX: usize>(
    m: &PackedMatrix,
    t: usize,
    blk0: usize,
    x: &[i8],
    b0: usize,
    acc: &mut [i32],
) {
    let (cols, groups) = (m.cols(), m.groups());
    let nb = m.blocks_in_tile(t);
    let lines = &m.lines()[m.tile_start(t)..m.tile_start(t) + nb * groups];
    let ones = _mm256_set1_epi16(1);
    let mut sums = [[[_mm256_setzero_si256(); 2]; NB]; NX];
    // SAFETY: line g·nb + blk0 + k (k < NB) exists; lines are 64-byte aligned.
    let mut w = unsafe { lines.as_ptr().add(blk0).cast::<__m256i>() };
    for g in 0..groups {
        let mut xs = [_mm256_setzero_si256(); NX];
        let mut abs = [_mm256_setzero_si256(); NX];
        for i in 0..NX {
            (xs[i], abs[i]) = broadcast_signed(x, cols, b0 + i, g);
        }
        for k in 0..NB {
            for half in 0..2 {
                // SAFETY: inside line g·nb + blk0 + k.
                let wv = unsafe { _mm256_load_si256(w.add(2 * k + half)) };
                for i in 0..NX {
                    let pairs = _mm256_maddubs_epi16(abs[i], _mm256_sign_epi8(wv, xs[i]));
                    sums[i][k][half] =
                        _mm256_add_epi32(sums[i][k][half], _mm256_madd_epi16(pairs, ones));
                }
            }
        }
        // SAFETY: stays within (or one past) `lines`.
        w = unsafe { w.add(2 * nb) };
    }
    // SAFETY: same features; `sums` are this part's.
    unsafe { store_part(m, t, blk0, b0, &sums, acc) };
}

/// Writes the sums of blocks `blk0..blk0 + NB` of tile `t` for streams
/// `b0..b0 + NX` (two 8-row halves per block), rows that exist only.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn store_part<const NB: usize, const NX: usize>(
    m: &PackedMatrix,
    t: usize,
    blk0: usize,
    b0: usize,
    sums: &[[[__m256i; 2]; NB]; NX],
    acc: &mut [i32],
) {
    let rows = m.rows();
    let nb = m.blocks_in_tile(t);
    let (r0, r1) = tile_rows(m, t, nb);
    for (i, sums_i) in sums.iter().enumerate() {
        let out = &mut acc[(b0 + i) * rows..(b0 + i + 1) * rows];
        for (k, s) in sums_i.iter().enumerate() {
            let r = r0 + (blk0 + k) * ROW_BLOCK;
            let n = (r1 - r).min(ROW_BLOCK);
            if n == ROW_BLOCK {
                // SAFETY: rows r..r + 16 are inside `out`.
                unsafe {
                    _mm256_storeu_si256(out[r..].as_mut_ptr().cast(), s[0]);
                    _mm256_storeu_si256(out[r + 8..].as_mut_ptr().cast(), s[1]);
                }
            } else {
                let mut block = [0i32; ROW_BLOCK];
                // SAFETY: `block` holds 16 i32.
                unsafe {
                    _mm256_storeu_si256(block.as_mut_ptr().cast(), s[0]);
                    _mm256_storeu_si256(block[8..].as_mut_ptr().cast(), s[1]);
                }
                store_block_rows(m, t, nb, blk0 + k, &block, out);
            }
        }
    }
}

/// The 4-bit product by the same sign transfer. Each 256-bit half line
/// holds 8 rows × (4 + 4) columns as nibbles; `vpand` + `vpshufb` and
/// `vpsrlw` + `vpand` + `vpshufb` unpack them to signed bytes (the lookup
/// maps each nibble to its two's-complement value), and both groups'
/// `vpmaddubsw` pair sums (at most 2·128·8 each) add in int16 before one
/// `vpmaddwd`: 5 + 2·2 + 2 = 11 instructions per 64 multiply-adds, on half
/// the bytes of the 8-bit kernel. Nibble weights are never −128, so no
/// widening fallback is needed.
///
/// # Safety
/// The CPU must support AVX2; lengths are checked by the caller.
#[target_feature(enable = "avx2")]
pub unsafe fn matmul_i4(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
    // The macro's calls are sound here: same features as this function.
    by_parts!(signed_i4, m, x, batch, acc)
}

/// One 4-column group of stream `b`'s input broadcast (`x`) and its
/// absolute values (`|x|`), zero beyond the input's end.
#[inline]
#[target_feature(enable = "avx2")]
fn broadcast_signed(x: &[i8], cols: usize, b: usize, g: usize) -> (__m256i, __m256i) {
    let four = if 4 * g + 4 <= cols {
        // SAFETY: 4·g + 4 ≤ cols, inside input vector b.
        unsafe {
            x.as_ptr()
                .add(b * cols + 4 * g)
                .cast::<i32>()
                .read_unaligned()
        }
    } else {
        group_bytes(&x[b * cols..(b + 1) * cols], g)
    };
    let xs = _mm256_set1_epi32(four);
    (xs, _mm256_abs_epi8(xs))
}

#[inline]
#[target_feature(enable = "avx2")]
unsafe fn signed_i4<const NB: usize, const NX: usize>(
    m: &PackedMatrix,
    t: usize,
    blk0: usize,
    x: &[i8],
    b0: usize,
    acc: &mut [i32],
) {
    let (cols, pairs) = (m.cols(), m.line_groups());
    let nb = m.blocks_in_tile(t);
    let lines = &m.lines()[m.tile_start(t)..m.tile_start(t) + nb * pairs];
    let ones = _mm256_set1_epi16(1);
    let nibble = _mm256_set1_epi8(0x0F);
    let values = _mm256_setr_epi8(
        0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6,
        -5, -4, -3, -2, -1,
    );
    let mut sums = [[[_mm256_setzero_si256(); 2]; NB]; NX];
    // SAFETY: line p·nb + blk0 + k (k < NB) exists; lines are 64-byte aligned.
    let mut w = unsafe { lines.as_ptr().add(blk0).cast::<__m256i>() };
    for p in 0..pairs {
        let mut lo_x = [(_mm256_setzero_si256(), _mm256_setzero_si256()); NX];
        let mut hi_x = lo_x;
        for i in 0..NX {
            lo_x[i] = broadcast_signed(x, cols, b0 + i, 2 * p);
            hi_x[i] = broadcast_signed(x, cols, b0 + i, 2 * p + 1);
        }
        for k in 0..NB {
            // A hint only (never faults): this block's line 8 pairs ahead.
            _mm_prefetch::<_MM_HINT_T0>(w.wrapping_add(16 * nb + 2 * k).cast());
            for half in 0..2 {
                // SAFETY: inside line p·nb + blk0 + k.
                let v = unsafe { _mm256_load_si256(w.add(2 * k + half)) };
                let lo = _mm256_shuffle_epi8(values, _mm256_and_si256(v, nibble));
                let hi =
                    _mm256_shuffle_epi8(values, _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble));
                for i in 0..NX {
                    let (xl, al) = lo_x[i];
                    let (xh, ah) = hi_x[i];
                    let pairs = _mm256_add_epi16(
                        _mm256_maddubs_epi16(al, _mm256_sign_epi8(lo, xl)),
                        _mm256_maddubs_epi16(ah, _mm256_sign_epi8(hi, xh)),
                    );
                    sums[i][k][half] =
                        _mm256_add_epi32(sums[i][k][half], _mm256_madd_epi16(pairs, ones));
                }
            }
        }
        // SAFETY: stays within (or one past) `lines`.
        w = unsafe { w.add(2 * nb) };
    }
    // SAFETY: same features; `sums` are this part's.
    unsafe { store_part(m, t, blk0, b0, &sums, acc) };
}

/// The widening kernel, exact for every int8 weight including −128: each
/// 16-byte quarter of a line (4 rows × 4 columns) widens to int16 and
/// `vpmaddwd` against the group's 4 x values gives two partial sums per row,
/// added with `vphaddd` at the end; one block at a time, up to 2 inputs.
///
/// # Safety
/// The CPU must support AVX2; lengths are checked by the caller.
#[target_feature(enable = "avx2")]
pub unsafe fn matmul_widening(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
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
