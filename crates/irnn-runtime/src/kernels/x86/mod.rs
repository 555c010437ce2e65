//! x86-64 SIMD kernels, chosen at run time by [`super::Isa::detect`].
//!
//! Each kernel is an `unsafe fn` compiled with `#[target_feature]`; the only
//! safety requirement is that the CPU has those features, which
//! [`super::Isa::is_available`] checks before dispatching. Without the `std`
//! feature there is no run-time detection, so a kernel is available only if
//! the build enables its features at compile time (`-C target-cpu=...`).

// Kernels index several register arrays with one loop counter; indexing
// reads better there than zipped iterators.
#![allow(clippy::needless_range_loop)]

pub mod avx2;
pub mod elementwise_simd;
pub mod pwl_simd;
pub mod requant_simd;
pub mod vnni256;
pub mod vnni512;

use super::packed::{PackedMatrix, COL_GROUP};

macro_rules! has_features {
    ($($feature:tt),+) => {{
        #[cfg(feature = "std")]
        {
            true $(&& std::is_x86_feature_detected!($feature))+
        }
        #[cfg(not(feature = "std"))]
        {
            true $(&& cfg!(target_feature = $feature))+
        }
    }};
}

/// AVX2 is present.
pub fn has_avx2() -> bool {
    has_features!("avx2")
}

/// AVX-VNNI (the VEX-encoded 256-bit `vpdpbusd`) is present.
pub fn has_avx_vnni() -> bool {
    has_features!("avx2", "avxvnni")
}

/// AVX-512 F, BW, VL and VNNI are all present.
pub fn has_avx512_vnni() -> bool {
    has_features!("avx2", "avx512f", "avx512bw", "avx512vl", "avx512vnni")
}

/// The 4 bytes of column group `g` of `x` as a little-endian i32, zero
/// beyond `x`'s end (the matching padded weights are zero too).
#[inline(always)]
pub(crate) fn group_bytes(x: &[i8], g: usize) -> i32 {
    let c = g * COL_GROUP;
    if c + COL_GROUP <= x.len() {
        i32::from_le_bytes([x[c] as u8, x[c + 1] as u8, x[c + 2] as u8, x[c + 3] as u8])
    } else {
        let mut bytes = [0u8; COL_GROUP];
        for (k, b) in bytes.iter_mut().enumerate() {
            if let Some(&v) = x.get(c + k) {
                *b = v as u8;
            }
        }
        i32::from_le_bytes(bytes)
    }
}

/// The same, with 128 added to each byte (`x` as unsigned, for `vpdpbusd`);
/// padding bytes become 128 and meet zero weights.
#[inline(always)]
pub(crate) fn group_bytes_plus_128(x: &[i8], g: usize) -> i32 {
    group_bytes(x, g) ^ (0x8080_8080u32 as i32)
}

/// Writes the valid rows of a tile's sums to the output.
#[inline(always)]
pub(crate) fn tile_rows(m: &PackedMatrix, t: usize, nb: usize) -> (usize, usize) {
    let r0 = t * super::packed::TILE_BLOCKS * super::packed::ROW_BLOCK;
    (r0, (r0 + nb * super::packed::ROW_BLOCK).min(m.rows()))
}
