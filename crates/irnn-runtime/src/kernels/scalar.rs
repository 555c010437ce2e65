//! The scalar reference kernel. It walks the packed layout in the same order
//! as the SIMD kernels, but any order gives the same exact int32 sums.

use super::packed::{PackedMatrix, COL_GROUP, ROW_BLOCK, TILE_BLOCKS};

/// `acc[b·rows + r] = Σ_c W[r][c] · x[b·cols + c]`. Lengths are checked by
/// the caller.
pub fn matmul(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
    let (rows, cols, groups) = (m.rows(), m.cols(), m.groups());
    for t in 0..m.tiles() {
        let nb = m.blocks_in_tile(t);
        let tile = &m.lines()[m.tile_start(t)..m.tile_start(t) + nb * groups];
        for b in 0..batch {
            let xb = &x[b * cols..(b + 1) * cols];
            let mut sums = [0i32; ROW_BLOCK * TILE_BLOCKS];
            for g in 0..groups {
                let mut xg = [0i32; COL_GROUP];
                for (k, v) in xg.iter_mut().enumerate() {
                    if let Some(&xv) = xb.get(g * COL_GROUP + k) {
                        *v = xv as i32;
                    }
                }
                for (blk, line) in tile[g * nb..(g + 1) * nb].iter().enumerate() {
                    for i in 0..ROW_BLOCK {
                        let w = &line.0[i * COL_GROUP..(i + 1) * COL_GROUP];
                        let dot: i32 = w.iter().zip(xg).map(|(&w, x)| w as i32 * x).sum();
                        sums[blk * ROW_BLOCK + i] += dot;
                    }
                }
            }
            let r0 = t * TILE_BLOCKS * ROW_BLOCK;
            let r1 = (r0 + nb * ROW_BLOCK).min(rows);
            acc[b * rows + r0..b * rows + r1].copy_from_slice(&sums[..r1 - r0]);
        }
    }
}
