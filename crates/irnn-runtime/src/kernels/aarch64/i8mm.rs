//! NEON with the int8 matrix-multiply extension: `smmla` for several streams.
//!
//! `smmla acc.4s, a.16b, b.16b` treats `a` as 2 × 8 and `b` as 2 × 8 int8
//! matrices and adds `a · bᵀ` (2 × 2, int32) to `acc`: 32 multiply-adds in
//! one instruction, signed × signed, exact. With `a` = two weight rows × 8
//! columns and `b` = two streams × the same 8 columns, the result holds
//! `[r0·s0, r0·s1, r1·s0, r1·s1]`.
//!
//! The packed layout keeps 4 columns per line, so two lines (groups `g` and
//! `g + 1`) are zipped by 32-bit lanes (`zip1`/`zip2`) into the 2 × 8 form:
//! per 4 rows × 8 columns, 2 zips and then 2 `smmla` per stream pair. With
//! two stream pairs (4 streams) the zips are shared: 6 instructions per 128
//! multiply-adds, 1.5 per 32 (`sdot`: 2). One stream runs the `sdot` kernel
//! ([`super::dot`]); an odd last stream does too.

use core::arch::aarch64::*;
use core::arch::asm;

use super::dot;
use crate::kernels::packed::{group_bytes, store_block_rows, PackedMatrix, ROW_BLOCK};

/// `acc + a · bᵀ` (2 × 8 by 2 × 8 → 2 × 2). No stable intrinsic yet; the
/// caller's `#[target_feature(enable = "i8mm")]` makes it legal.
#[inline(always)]
unsafe fn smmla(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: register-only arithmetic; the CPU has i8mm (caller's contract).
    unsafe {
        asm!(
            ".arch_extension i8mm",
            "smmla {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

/// # Safety
/// The CPU must support NEON, dotprod and i8mm; lengths checked by the caller.
#[target_feature(enable = "neon,dotprod,i8mm")]
pub unsafe fn matmul(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
    if batch == 1 {
        // SAFETY: same features (dotprod included).
        return unsafe { dot::matmul(m, x, batch, acc) };
    }
    for t in 0..m.tiles() {
        for blk in 0..m.blocks_in_tile(t) {
            let mut b0 = 0;
            // SAFETY (all calls): same features; blk and streams in range.
            unsafe {
                while batch - b0 >= 4 {
                    pairs::<2>(m, t, blk, x, b0, acc);
                    b0 += 4;
                }
                if batch - b0 >= 2 {
                    pairs::<1>(m, t, blk, x, b0, acc);
                    b0 += 2;
                }
                if b0 < batch {
                    dot::tile::<1, 1, false>(m, t, blk, x, b0, acc);
                }
            }
        }
    }
}

/// Input bytes `4g..4g + 8` of stream `b` (zeros past the end).
#[inline(always)]
fn eight(x: &[i8], cols: usize, b: usize, g: usize) -> int8x8_t {
    let xs = &x[b * cols..(b + 1) * cols];
    let lo = group_bytes(xs, g) as u32 as u64;
    let hi = group_bytes(xs, g + 1) as u32 as u64;
    // SAFETY: NEON is part of every aarch64 target these kernels run on.
    unsafe { vcreate_s8(lo | hi << 32) }
}

/// Block `blk` of tile `t` for `NP` stream pairs from `b0`.
#[inline]
#[target_feature(enable = "neon,dotprod,i8mm")]
unsafe fn pairs<const NP: usize>(
    m: &PackedMatrix,
    t: usize,
    blk: usize,
    x: &[i8],
    b0: usize,
    acc: &mut [i32],
) {
    let (rows, cols, groups) = (m.rows(), m.cols(), m.groups());
    let nb = m.blocks_in_tile(t);
    let lines = &m.lines()[m.tile_start(t)..m.tile_start(t) + nb * groups];
    // SAFETY (closure): quarter j of line (g, blk) lies inside `lines`.
    let quarter = |g: usize, j: usize| unsafe {
        vreinterpretq_s32_s8(vld1q_s8(lines[g * nb + blk].0.as_ptr().add(16 * j)))
    };
    // sums[p][j][h]: stream pair p, quarter j, rows 4j + 2h and 4j + 2h + 1.
    let mut sums = [[[vdupq_n_s32(0); 2]; 4]; NP];
    let mut g = 0;
    while g < groups {
        let mut xp = [vdupq_n_s8(0); NP];
        for p in 0..NP {
            let (s0, s1) = (b0 + 2 * p, b0 + 2 * p + 1);
            xp[p] = vcombine_s8(eight(x, cols, s0, g), eight(x, cols, s1, g));
        }
        let pair = g + 1 < groups;
        for j in 0..4 {
            let wa = quarter(g, j);
            // A lone last group meets zero weights (and zero inputs).
            let wb = if pair {
                quarter(g + 1, j)
            } else {
                vdupq_n_s32(0)
            };
            let a0 = vreinterpretq_s8_s32(vzip1q_s32(wa, wb));
            let a1 = vreinterpretq_s8_s32(vzip2q_s32(wa, wb));
            for p in 0..NP {
                // SAFETY: the caller's features include i8mm.
                unsafe {
                    sums[p][j][0] = smmla(sums[p][j][0], a0, xp[p]);
                    sums[p][j][1] = smmla(sums[p][j][1], a1, xp[p]);
                }
            }
        }
        g += 2;
    }
    for p in 0..NP {
        let mut first = [0i32; ROW_BLOCK];
        let mut second = [0i32; ROW_BLOCK];
        for j in 0..4 {
            let (lo, hi) = (sums[p][j][0], sums[p][j][1]);
            // SAFETY: both blocks hold 16 i32; 4j + 4 ≤ 16.
            unsafe {
                vst1q_s32(first.as_mut_ptr().add(4 * j), vuzp1q_s32(lo, hi));
                vst1q_s32(second.as_mut_ptr().add(4 * j), vuzp2q_s32(lo, hi));
            }
        }
        let s0 = b0 + 2 * p;
        store_block_rows(m, t, nb, blk, &first, &mut acc[s0 * rows..(s0 + 1) * rows]);
        store_block_rows(
            m,
            t,
            nb,
            blk,
            &second,
            &mut acc[(s0 + 1) * rows..(s0 + 2) * rows],
        );
    }
}
