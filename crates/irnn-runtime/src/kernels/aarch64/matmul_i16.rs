//! NEON: the 8-bit matrix times int16 activations (every aarch64 tier).
//!
//! Each 16-byte quarter of a line (4 rows × 4 columns) is widened by `sxtl`
//! / `sxtl2` to two registers of 2 rows × 4 int16 weights, and `smlal` /
//! `smlal2` multiply them by the group's four inputs (repeated over 8
//! lanes) into one int32 accumulator per row, four partial sums each;
//! two rounds of `addp` fold them into row sums at the end. Per 16
//! multiply-adds: one load, two widenings, four `smlal`. Exact: the
//! products are formed in int32 and the caller bounds the columns
//! ([`PackedMatrix::max_i16_columns`]). A first version: one block and one
//! stream at a time (the weights are loaded again for each stream).

use core::arch::aarch64::*;

use crate::kernels::packed::{group_words, store_block_rows, PackedMatrix, ROW_BLOCK};

/// # Safety
/// The CPU must support NEON; lengths and columns checked by the caller.
#[target_feature(enable = "neon")]
pub unsafe fn matmul_i16(m: &PackedMatrix, x: &[i16], batch: usize, acc: &mut [i32]) {
    let (rows, cols, groups) = (m.rows(), m.cols(), m.groups());
    let full = cols / 4;
    let mut block = [0i32; ROW_BLOCK];
    for t in 0..m.tiles() {
        let nb = m.blocks_in_tile(t);
        let lines = &m.lines()[m.tile_start(t)..m.tile_start(t) + nb * groups];
        for blk in 0..nb {
            for b in 0..batch {
                let xb = &x[b * cols..(b + 1) * cols];
                let mut sums = [vdupq_n_s32(0); ROW_BLOCK];
                for g in 0..groups {
                    let x4 = if g < full {
                        // SAFETY: 4g + 4 ≤ cols.
                        unsafe { vld1_s16(xb.as_ptr().add(4 * g)) }
                    } else {
                        vcreate_s16(group_words(xb, g) as u64)
                    };
                    let x8 = vcombine_s16(x4, x4);
                    let line = &lines[g * nb + blk].0;
                    for q in 0..4 {
                        // SAFETY: bytes 16q..16q + 16 of a 64-byte line.
                        let w = unsafe { vld1q_s8(line.as_ptr().add(16 * q)) };
                        let (w01, w23) = (vmovl_s8(vget_low_s8(w)), vmovl_high_s8(w));
                        let r = 4 * q;
                        sums[r] = vmlal_s16(sums[r], vget_low_s16(w01), x4);
                        sums[r + 1] = vmlal_high_s16(sums[r + 1], w01, x8);
                        sums[r + 2] = vmlal_s16(sums[r + 2], vget_low_s16(w23), x4);
                        sums[r + 3] = vmlal_high_s16(sums[r + 3], w23, x8);
                    }
                }
                for q in 0..4 {
                    let r = 4 * q;
                    let four = vpaddq_s32(
                        vpaddq_s32(sums[r], sums[r + 1]),
                        vpaddq_s32(sums[r + 2], sums[r + 3]),
                    );
                    // SAFETY: 4 i32 at 4q of the 16-entry block.
                    unsafe { vst1q_s32(block.as_mut_ptr().add(r), four) };
                }
                store_block_rows(m, t, nb, blk, &block, &mut acc[b * rows..(b + 1) * rows]);
            }
        }
    }
}
