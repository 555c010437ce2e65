//! x86-64 SIMD kernels and their tables, chosen at run time by
//! [`super::Isa::detect`].
//!
//! One folder per instruction set (`avx2/`, `avx512/`), one file per
//! operation inside it; `vnni256` is the 256-bit `vpdpbusd` matrix kernel
//! compiled both for AVX-VNNI and for AVX-512 VL. The tables below say which
//! implementation each tier uses for each slot; every x86 tier has its own
//! version of every operation today, so none falls back to the scalar
//! reference ([`super::table::GENERIC`]) — a new slot would, until written.
//!
//! Each kernel is an `unsafe fn` compiled with `#[target_feature]`; the only
//! safety requirement is that the CPU has those features, which
//! [`super::Isa::is_available`] checks before dispatching. Without the `std`
//! feature there is no run-time detection, so a kernel is available only if
//! the build enables its features at compile time (`-C target-cpu=...`).

// Kernels index several register arrays with one loop counter; indexing
// reads better there than zipped iterators.
#![allow(clippy::needless_range_loop)]

pub mod amx;
pub mod avx2;
pub mod avx512;
pub mod vnni256;

pub(crate) use super::packed::{group_bytes, tile_rows};
use super::table::Kernels;
use super::Isa;

/// AVX2 without VNNI (Haswell and later, Zen 1–3).
pub const AVX2: Kernels = Kernels {
    isa: Isa::Avx2,
    matmul: avx2::matmul::matmul,
    matmul_i4: avx2::matmul::matmul_i4,
    matmul_i16: avx2::matmul_i16::matmul_i16,
    requant_i8: avx2::requant::apply_avx2::<i8>,
    requant_i16: avx2::requant::apply_avx2::<i16>,
    pwl_i16: avx2::pwl::eval_avx2,
    lstm_cell_update: avx2::elementwise::cell_update_avx2,
    product_to_i8: avx2::elementwise::product_to_i8_avx2,
    product_to_i16: avx2::elementwise::product_to_i16_avx2,
    gru_reset_after: avx2::elementwise::gru_reset_after_avx2,
    gru_mix: avx2::elementwise::gru_mix_avx2,
};

/// AVX-VNNI (Alder Lake and later, Zen 5 client): AVX2 with the 256-bit
/// `vpdpbusd` matrix kernel.
pub const AVX_VNNI: Kernels = Kernels {
    isa: Isa::AvxVnni,
    matmul: vnni256::matmul_avx_vnni,
    ..AVX2
};

/// AVX-512 with the 256-bit VNNI matrix kernel (tests the AVX-VNNI body on
/// AVX-512 machines).
pub const AVX512_VNNI_YMM: Kernels = Kernels {
    isa: Isa::Avx512VnniYmm,
    matmul: vnni256::matmul_avx512_vl,
    matmul_i4: avx2::matmul::matmul_i4,
    matmul_i16: avx2::matmul_i16::matmul_i16,
    requant_i8: avx512::requant::apply_avx512::<i8>,
    requant_i16: avx512::requant::apply_avx512::<i16>,
    pwl_i16: avx512::pwl::eval_avx512,
    lstm_cell_update: avx512::elementwise::cell_update_avx512,
    product_to_i8: avx512::elementwise::product_to_i8_avx512,
    product_to_i16: avx512::elementwise::product_to_i16_avx512,
    gru_reset_after: avx512::elementwise::gru_reset_after_avx512,
    gru_mix: avx512::elementwise::gru_mix_avx512,
};

/// AVX-512 VNNI (Ice Lake / Sapphire Rapids servers, Zen 4 and later).
pub const AVX512_VNNI: Kernels = Kernels {
    isa: Isa::Avx512Vnni,
    matmul: avx512::matmul::matmul,
    matmul_i4: avx512::matmul::matmul_i4,
    matmul_i16: avx512::matmul_i16::matmul_i16,
    ..AVX512_VNNI_YMM
};

/// AVX-512 VNNI with the batched 8-bit and 4-bit products on AMX-INT8
/// tiles (Sapphire Rapids and later Xeons).
pub const AMX: Kernels = Kernels {
    isa: Isa::Amx,
    matmul: amx::matmul::matmul,
    matmul_i4: amx::matmul::matmul_i4,
    ..AVX512_VNNI
};

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

/// Largest magnitude kept before the zero point is added by the x86
/// epilogues; any value beyond it saturates every output type the same way,
/// and the sum cannot overflow.
pub(crate) const PRE_ZERO_POINT_CLAMP: i32 = 1 << 17;

/// [`group_bytes`] with 128 added to each byte (`x` as unsigned, for `vpdpbusd`);
/// padding bytes become 128 and meet zero weights.
#[inline(always)]
pub(crate) fn group_bytes_plus_128(x: &[i8], g: usize) -> i32 {
    group_bytes(x, g) ^ (0x8080_8080u32 as i32)
}
