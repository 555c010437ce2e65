//! NEON with the dot-product extension: `sdot` by lane.
//!
//! `sdot v.4s, w.16b, x.4b[l]` adds to each of 4 int32 lanes the dot product
//! of 4 weight bytes (one row's 4 columns) with the 4 input bytes in lane
//! `l` of `x` — exactly one quarter (4 rows × 4 columns) of a packed line,
//! signed × signed, so no +128 offset and no correction, exact for every
//! int8 weight. 16 bytes of input (4 groups) are loaded once and used by
//! lane. Per 32 multiply-adds: 2 `sdot`, against 6 instructions for the
//! ARMv8.0 kernel ([`super::neon`]).
//!
//! Up to 4 blocks (64 rows: 16 accumulators) for one stream, or 2 blocks for
//! 2 streams, so each weight quarter loaded serves both.

use core::arch::aarch64::*;
use core::arch::asm;

use super::neon::unpack_nibbles;
use crate::kernels::packed::{group_bytes, store_block_rows, PackedMatrix, Schedule, ROW_BLOCK};

/// `acc + sdot(w, x[LANE])`. Stable Rust has no `sdot` intrinsic yet; the
/// caller's `#[target_feature(enable = "dotprod")]` makes it legal.
#[inline(always)]
unsafe fn sdot_lane<const LANE: i32>(acc: int32x4_t, w: int8x16_t, x: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: register-only arithmetic; the CPU has dotprod (caller's contract).
    unsafe {
        asm!(
            ".arch_extension dotprod",
            "sdot {acc:v}.4s, {w:v}.16b, {x:v}.4b[{lane}]",
            acc = inout(vreg) acc,
            w = in(vreg) w,
            x = in(vreg) x,
            lane = const LANE,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

/// # Safety
/// The CPU must support NEON and dotprod; lengths are checked by the caller.
#[target_feature(enable = "neon,dotprod")]
pub unsafe fn matmul(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
    // SAFETY: same contract.
    unsafe { by_parts::<false>(m, x, batch, acc) }
}

/// The 4-bit product: each quarter of a 4-bit line unpacks (`shl` + `sshr`,
/// `sshr`) into the quarters of two groups, each an `sdot` by lane as in
/// [`matmul`]: 2 `sdot` + 1.5 unpacking instructions per 32 multiply-adds,
/// on half the bytes.
///
/// # Safety
/// The CPU must support NEON and dotprod; lengths are checked by the caller.
#[target_feature(enable = "neon,dotprod")]
pub unsafe fn matmul_i4(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
    // SAFETY: same contract.
    unsafe { by_parts::<true>(m, x, batch, acc) }
}

#[inline]
#[target_feature(enable = "neon,dotprod")]
unsafe fn by_parts<const FOUR: bool>(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
    let schedule = Schedule {
        single: 4,
        blocks: 2,
        streams: 2,
    };
    for p in schedule.parts(m, batch) {
        let (t, blk, b) = (p.t, p.blk0, p.b0);
        // SAFETY (all arms): same features; the part lies inside the product.
        unsafe {
            match (p.blocks, p.streams) {
                (4, _) => tile::<4, 1, FOUR>(m, t, blk, x, b, acc),
                (3, _) => tile::<3, 1, FOUR>(m, t, blk, x, b, acc),
                (2, 2) => tile::<2, 2, FOUR>(m, t, blk, x, b, acc),
                (2, _) => tile::<2, 1, FOUR>(m, t, blk, x, b, acc),
                (_, 2) => tile::<1, 2, FOUR>(m, t, blk, x, b, acc),
                _ => tile::<1, 1, FOUR>(m, t, blk, x, b, acc),
            }
        }
    }
}

/// Blocks `blk0..blk0 + NB` of tile `t` for streams `b0..b0 + NX`.
///
/// # Safety
/// The CPU must support NEON and dotprod; `blk0 + NB ≤ blocks_in_tile(t)`,
/// `b0 + NX ≤ batch`, lengths checked by the caller.
#[inline]
#[target_feature(enable = "neon,dotprod")]
pub(crate) unsafe fn tile<const NB: usize, const NX: usize, const FOUR: bool>(
    m: &PackedMatrix,
    t: usize,
    blk0: usize,
    x: &[i8],
    b0: usize,
    acc: &mut [i32],
) {
    let (rows, cols, groups) = (m.rows(), m.cols(), m.groups());
    let nb = m.blocks_in_tile(t);
    let lines = &m.lines()[m.tile_start(t)..m.tile_start(t) + nb * m.line_groups()];
    // SAFETY (closure): quarter j of line (g, blk0 + k) lies inside `lines`.
    let quarter = |g: usize, k: usize, j: usize| unsafe {
        vld1q_s8(lines[g * nb + blk0 + k].0.as_ptr().add(16 * j))
    };
    let mut sums = [[[vdupq_n_s32(0); 4]; NB]; NX];
    macro_rules! group {
        ($g:expr, $lane:literal, $xs:expr) => {
            for k in 0..NB {
                for j in 0..4 {
                    let w = quarter($g, k, j);
                    for i in 0..NX {
                        // SAFETY: the caller's features include dotprod.
                        sums[i][k][j] = unsafe { sdot_lane::<$lane>(sums[i][k][j], w, $xs[i]) };
                    }
                }
            }
        };
    }
    macro_rules! pair {
        ($p:expr, $lane_lo:literal, $lane_hi:literal, $xs:expr) => {
            for k in 0..NB {
                for j in 0..4 {
                    let (lo, hi) = unpack_nibbles(quarter($p, k, j));
                    for i in 0..NX {
                        // SAFETY: the caller's features include dotprod.
                        unsafe {
                            sums[i][k][j] = sdot_lane::<$lane_lo>(sums[i][k][j], lo, $xs[i]);
                            sums[i][k][j] = sdot_lane::<$lane_hi>(sums[i][k][j], hi, $xs[i]);
                        }
                    }
                }
            }
        };
    }
    let mut g = 0;
    if FOUR {
        // Two pairs of groups per 16 input bytes, then one pair at a time
        // (4 or 8 input bytes; zero beyond the input, as is the padding).
        let pairs = m.line_groups();
        let mut p = 0;
        while 8 * p + 16 <= cols {
            let mut xs = [vdupq_n_s8(0); NX];
            for i in 0..NX {
                let at = (b0 + i) * cols + 8 * p;
                // SAFETY: at + 16 ≤ (b0 + i + 1)·cols ≤ x.len().
                xs[i] = unsafe { vld1q_s8(x[at..at + 16].as_ptr()) };
            }
            pair!(p, 0, 1, xs);
            pair!(p + 1, 2, 3, xs);
            p += 2;
        }
        while p < pairs {
            let mut xs = [vdupq_n_s8(0); NX];
            for i in 0..NX {
                let xi = &x[(b0 + i) * cols..(b0 + i + 1) * cols];
                let eight = [group_bytes(xi, 2 * p), group_bytes(xi, 2 * p + 1), 0, 0];
                // SAFETY: `eight` holds 4 i32.
                xs[i] = vreinterpretq_s8_s32(unsafe { vld1q_s32(eight.as_ptr()) });
            }
            pair!(p, 0, 1, xs);
            p += 1;
        }
        g = groups;
    }
    // Four whole groups: 16 input bytes per stream, one load.
    while 4 * g + 16 <= cols {
        let mut xs = [vdupq_n_s8(0); NX];
        for i in 0..NX {
            let at = (b0 + i) * cols + 4 * g;
            // SAFETY: at + 16 ≤ (b0 + i + 1)·cols ≤ x.len().
            xs[i] = unsafe { vld1q_s8(x[at..at + 16].as_ptr()) };
        }
        group!(g, 0, xs);
        group!(g + 1, 1, xs);
        group!(g + 2, 2, xs);
        group!(g + 3, 3, xs);
        g += 4;
    }
    // The last 1–3 groups (the final one may be partial: zero padding).
    while g < groups {
        let mut xs = [vdupq_n_s8(0); NX];
        for i in 0..NX {
            let four = group_bytes(&x[(b0 + i) * cols..(b0 + i + 1) * cols], g);
            xs[i] = vreinterpretq_s8_s32(vdupq_n_s32(four));
        }
        group!(g, 0, xs);
        g += 1;
    }
    for i in 0..NX {
        let out = &mut acc[(b0 + i) * rows..(b0 + i + 1) * rows];
        for k in 0..NB {
            let mut block = [0i32; ROW_BLOCK];
            for j in 0..4 {
                // SAFETY: `block` holds 16 i32; 4j + 4 ≤ 16.
                unsafe { vst1q_s32(block.as_mut_ptr().add(4 * j), sums[i][k][j]) };
            }
            store_block_rows(m, t, nb, blk0 + k, &block, out);
        }
    }
}
