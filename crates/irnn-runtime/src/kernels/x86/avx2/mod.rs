//! AVX2 kernels (no VNNI): one file per operation.

pub mod elementwise;
pub mod matmul;
pub mod matmul_i16;
pub mod pwl;
pub mod requant;
