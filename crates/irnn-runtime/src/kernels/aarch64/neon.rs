//! ARMv8.0 NEON matrix product: `smull` / `smlal` / `sadalp`, exact.
//!
//! A 64-byte line is four 128-bit quarters of 4 rows × 4 columns. The
//! group's 4 inputs are broadcast to all four rows (`dup`), so one `smull`
//! (low 8 bytes) or `smull2` (high 8) gives 8 int16 products: 4 columns of
//! 2 rows. `smlal` adds the next group's products to the same int16 lanes —
//! exact because weights are in [−127, 127], so two products stay within
//! ±2·128·127 = 32 512 — and `sadalp` adds adjacent int16 pairs into int32
//! accumulators. Per 32 multiply-adds (two groups of one quarter):
//!
//! ```text
//! smull  p, w_g.8b,  x_g.8b      smull2 q, w_g.16b,  x_g.16b
//! smlal  p, w_g1.8b, x_g1.8b     smlal2 q, w_g1.16b, x_g1.16b
//! sadalp acc_lo, p               sadalp acc_hi, q
//! ```
//!
//! 6 instructions (TFLite's NEON int8 LSTM path uses the same family).
//! Each accumulator holds two partial sums per row; `addp` folds them at the
//! end. A matrix holding −128 takes one group per `smull` (no `smlal`),
//! which is exact for every weight.

use core::arch::aarch64::*;

use crate::kernels::packed::{group_bytes, store_block_rows, PackedMatrix, Schedule, ROW_BLOCK};

/// # Safety
/// The CPU must support NEON; lengths are checked by the caller.
#[target_feature(enable = "neon")]
pub unsafe fn matmul(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
    // SAFETY: same contract.
    unsafe { by_parts::<false>(m, x, batch, acc) }
}

/// Either product (`FOUR`: a 4-bit matrix) by parts: 8 accumulators per
/// block and stream, two blocks at batch 1, one block × two streams
/// otherwise (16 of the 32 registers). Two groups share an int16 lane
/// unless an 8-bit matrix holds −128 (nibbles never do, so `FOUR` always
/// pairs).
#[inline]
#[target_feature(enable = "neon")]
unsafe fn by_parts<const FOUR: bool>(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
    let pair = FOUR || !m.has_min_weight();
    let schedule = Schedule {
        single: 2,
        blocks: 1,
        streams: 2,
    };
    for p in schedule.parts(m, batch) {
        let (t, blk, b) = (p.t, p.blk0, p.b0);
        // SAFETY (all arms): same features; the part lies inside the product.
        unsafe {
            match (p.blocks, p.streams, pair) {
                (2, _, true) => tile::<2, 1, true, FOUR>(m, t, blk, x, b, acc),
                (2, _, false) => tile::<2, 1, false, FOUR>(m, t, blk, x, b, acc),
                (_, 2, true) => tile::<1, 2, true, FOUR>(m, t, blk, x, b, acc),
                (_, 2, false) => tile::<1, 2, false, FOUR>(m, t, blk, x, b, acc),
                (_, _, true) => tile::<1, 1, true, FOUR>(m, t, blk, x, b, acc),
                (_, _, false) => tile::<1, 1, false, FOUR>(m, t, blk, x, b, acc),
            }
        }
    }
}

/// The group's 4 inputs of stream `b`, repeated over a 16-byte register.
#[inline(always)]
fn broadcast_group(x: &[i8], cols: usize, b: usize, g: usize) -> int8x16_t {
    // SAFETY: NEON is part of every aarch64 target these kernels run on.
    unsafe { vreinterpretq_s8_s32(vdupq_n_s32(group_bytes(&x[b * cols..(b + 1) * cols], g))) }
}

/// The 4-bit product: a quarter of a 4-bit line holds the quarters of two
/// groups as nibbles, and `shl` + `sshr` (low) and `sshr` (high) by 4 give
/// them as signed bytes: the `wa`, `wb` pair of the 8-bit kernel's loop,
/// for 3 more instructions per 32 multiply-adds on half the bytes. Nibbles
/// are never −128, so two groups always share an int16 lane.
///
/// # Safety
/// The CPU must support NEON; lengths are checked by the caller.
#[target_feature(enable = "neon")]
pub unsafe fn matmul_i4(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
    // SAFETY: same contract.
    unsafe { by_parts::<true>(m, x, batch, acc) }
}

/// The low and high nibbles of 16 bytes as signed bytes (−8 to 7).
#[inline(always)]
pub(crate) fn unpack_nibbles(q: int8x16_t) -> (int8x16_t, int8x16_t) {
    // SAFETY: NEON is part of every aarch64 target these kernels run on.
    unsafe { (vshrq_n_s8::<4>(vshlq_n_s8::<4>(q)), vshrq_n_s8::<4>(q)) }
}

/// Blocks `blk0..blk0 + NB` of tile `t` for streams `b0..b0 + NX`; `PAIR`
/// accumulates two groups per int16 lane (weights must be in [−127, 127]);
/// `FOUR` reads a 4-bit matrix (each line two groups; needs `PAIR`).
#[inline]
#[target_feature(enable = "neon")]
unsafe fn tile<const NB: usize, const NX: usize, const PAIR: bool, const FOUR: bool>(
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
    // Groups g and g + 1 of quarter j of block k: two lines, or one 4-bit line.
    let two_quarters = |g: usize, k: usize, j: usize| {
        if FOUR {
            unpack_nibbles(quarter(g / 2, k, j))
        } else {
            (quarter(g, k, j), quarter(g + 1, k, j))
        }
    };
    // A 4-bit matrix pads an odd group count to whole lines.
    let paired_groups = if FOUR { 2 * m.line_groups() } else { groups };
    let mut sums = [[[[vdupq_n_s32(0); 2]; 4]; NB]; NX];
    let mut g = 0;
    if PAIR {
        while g + 2 <= paired_groups {
            let mut xa = [vdupq_n_s8(0); NX];
            let mut xb = [vdupq_n_s8(0); NX];
            for i in 0..NX {
                xa[i] = broadcast_group(x, cols, b0 + i, g);
                xb[i] = broadcast_group(x, cols, b0 + i, g + 1);
            }
            for k in 0..NB {
                for j in 0..4 {
                    let (wa, wb) = two_quarters(g, k, j);
                    for i in 0..NX {
                        let lo = vmlal_s8(
                            vmull_s8(vget_low_s8(wa), vget_low_s8(xa[i])),
                            vget_low_s8(wb),
                            vget_low_s8(xb[i]),
                        );
                        let hi = vmlal_high_s8(vmull_high_s8(wa, xa[i]), wb, xb[i]);
                        sums[i][k][j][0] = vpadalq_s16(sums[i][k][j][0], lo);
                        sums[i][k][j][1] = vpadalq_s16(sums[i][k][j][1], hi);
                    }
                }
            }
            g += 2;
        }
    }
    while g < groups {
        let mut xa = [vdupq_n_s8(0); NX];
        for i in 0..NX {
            xa[i] = broadcast_group(x, cols, b0 + i, g);
        }
        for k in 0..NB {
            for j in 0..4 {
                let wa = quarter(g, k, j);
                for i in 0..NX {
                    let lo = vmull_s8(vget_low_s8(wa), vget_low_s8(xa[i]));
                    let hi = vmull_high_s8(wa, xa[i]);
                    sums[i][k][j][0] = vpadalq_s16(sums[i][k][j][0], lo);
                    sums[i][k][j][1] = vpadalq_s16(sums[i][k][j][1], hi);
                }
            }
        }
        g += 1;
    }
    for i in 0..NX {
        let out = &mut acc[(b0 + i) * rows..(b0 + i + 1) * rows];
        for k in 0..NB {
            let mut block = [0i32; ROW_BLOCK];
            for j in 0..4 {
                // [row 4j, row 4j + 1, row 4j + 2, row 4j + 3]
                let v = vpaddq_s32(sums[i][k][j][0], sums[i][k][j][1]);
                // SAFETY: `block` holds 16 i32; 4j + 4 ≤ 16.
                unsafe { vst1q_s32(block.as_mut_ptr().add(4 * j), v) };
            }
            store_block_rows(m, t, nb, blk0 + k, &block, out);
        }
    }
}
