//! aarch64 NEON kernels and their tables, chosen at run time by
//! [`super::Isa::detect`].
//!
//! Three tiers, each plugging into the table of the one below:
//!
//! * [`NEON`] — ARMv8.0, present on every aarch64 core: the matrix product
//!   with `smull`/`smlal`/`sadalp` ([`neon`]) and the requantizing epilogue
//!   with `sqrdmulh`/`srshl` ([`requant`]), which compute gemmlowp's
//!   fixed-point primitives exactly, and the cells' elementwise updates with
//!   the same instructions ([`elementwise`]).
//! * [`NEON_DOT`] — the dot-product extension (ARMv8.2+, Cortex-A55/A76 and
//!   later, Apple M1): `sdot` by lane ([`dot`]).
//! * [`NEON_I8MM`] — the int8 matrix-multiply extension (ARMv8.6+,
//!   Cortex-A710/X2 and later, Apple M2): `smmla` for two or more streams
//!   ([`i8mm`]); one stream still runs `sdot`.
//!
//! The int16-activation product ([`matmul_i16`]) is one NEON kernel for
//! every tier (`sdot` and `smmla` take bytes only). Every slot of [`NEON`]
//! is NEON code; the PWL activation ([`pwl`]) counts
//! knots in vector lanes and applies each lane's segment formula in scalar
//! code, since NEON has no gather. `sdot` and `smmla` have no stable Rust intrinsics
//! yet, so they are one-instruction `asm!` blocks behind
//! `#[target_feature]`; the rest uses `core::arch::aarch64`.

// Kernels index several register arrays with one loop counter.
#![allow(clippy::needless_range_loop)]

pub mod dot;
pub mod elementwise;
pub mod i8mm;
pub mod matmul_i16;
pub mod neon;
pub mod pwl;
pub mod requant;

use super::table::Kernels;
use super::Isa;

macro_rules! has_features {
    ($($feature:tt),+) => {{
        #[cfg(feature = "std")]
        {
            true $(&& std::arch::is_aarch64_feature_detected!($feature))+
        }
        #[cfg(not(feature = "std"))]
        {
            true $(&& cfg!(target_feature = $feature))+
        }
    }};
}

/// NEON (Advanced SIMD) is present: always, on aarch64 Linux, Android, iOS.
pub fn has_neon() -> bool {
    has_features!("neon")
}

/// The dot-product instructions (`sdot`) are present.
pub fn has_dotprod() -> bool {
    has_features!("neon", "dotprod")
}

/// The int8 matrix-multiply instructions (`smmla`) and `sdot` are present.
pub fn has_i8mm() -> bool {
    has_features!("neon", "dotprod", "i8mm")
}

/// ARMv8.0 NEON.
pub const NEON: Kernels = Kernels {
    isa: Isa::Neon,
    matmul: neon::matmul,
    matmul_i4: neon::matmul_i4,
    matmul_i16: matmul_i16::matmul_i16,
    requant_i8: requant::apply_neon::<i8>,
    requant_i16: requant::apply_neon::<i16>,
    pwl_i16: pwl::eval_neon,
    lstm_cell_update: elementwise::cell_update_neon,
    product_to_i8: elementwise::product_to_i8_neon,
    product_to_i16: elementwise::product_to_i16_neon,
    gru_reset_after: elementwise::gru_reset_after_neon,
    gru_mix: elementwise::gru_mix_neon,
};

/// NEON with `sdot`.
pub const NEON_DOT: Kernels = Kernels {
    isa: Isa::NeonDot,
    matmul: dot::matmul,
    matmul_i4: dot::matmul_i4,
    ..NEON
};

/// NEON with `sdot` and `smmla`.
pub const NEON_I8MM: Kernels = Kernels {
    isa: Isa::NeonI8mm,
    matmul: i8mm::matmul,
    ..NEON_DOT
};
