//! The scalar reference kernel. It walks the packed layout in the same order
//! as the SIMD kernels, but any order gives the same exact int32 sums.

use super::packed::{nibble_value, PackedMatrix, COL_GROUP, ROW_BLOCK, TILE_BLOCKS};

/// `acc[b·rows + r] = Σ_c W[r][c] · x[b·cols + c]`. Lengths are checked by
/// the caller.
pub fn matmul(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
    product(m, x, batch, acc)
}

/// The same product with int16 activations (8-bit weights): the reference
/// of the `matmul_i16` slot. Lengths, the weight width and the column
/// count that keeps the sums inside int32
/// ([`PackedMatrix::max_i16_columns`]) are checked by the caller.
pub fn matmul_i16(m: &PackedMatrix, x: &[i16], batch: usize, acc: &mut [i32]) {
    product(m, x, batch, acc)
}

/// [`matmul`] for any activation type that widens to i32.
fn product<X: Copy + Into<i32>>(m: &PackedMatrix, x: &[X], batch: usize, acc: &mut [i32]) {
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
                        *v = xv.into();
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

/// The same product for a 4-bit matrix: each line holds two column groups,
/// the first in the low nibbles. Lengths are checked by the caller.
pub fn matmul_i4(m: &PackedMatrix, x: &[i8], batch: usize, acc: &mut [i32]) {
    let (rows, cols, pairs) = (m.rows(), m.cols(), m.line_groups());
    for t in 0..m.tiles() {
        let nb = m.blocks_in_tile(t);
        let tile = &m.lines()[m.tile_start(t)..m.tile_start(t) + nb * pairs];
        for b in 0..batch {
            let xb = &x[b * cols..(b + 1) * cols];
            let mut sums = [0i32; ROW_BLOCK * TILE_BLOCKS];
            for p in 0..pairs {
                // The pair's 8 inputs: group 2p (low nibbles), then 2p + 1.
                let mut xp = [0i32; 2 * COL_GROUP];
                for (k, v) in xp.iter_mut().enumerate() {
                    if let Some(&xv) = xb.get(2 * p * COL_GROUP + k) {
                        *v = xv as i32;
                    }
                }
                for (blk, line) in tile[p * nb..(p + 1) * nb].iter().enumerate() {
                    for i in 0..ROW_BLOCK {
                        let w = &line.0[i * COL_GROUP..(i + 1) * COL_GROUP];
                        let dot: i32 = w
                            .iter()
                            .enumerate()
                            .map(|(k, &b)| {
                                let low = nibble_value(b as u8 & 0x0F) as i32;
                                let high = nibble_value(b as u8 >> 4) as i32;
                                low * xp[k] + high * xp[COL_GROUP + k]
                            })
                            .sum();
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
