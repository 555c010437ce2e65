//! AVX-512 kernels (F, BW, VL; VNNI for the matrix product): one file per
//! operation.

pub mod elementwise;
pub mod matmul;
pub mod matmul_i16;
pub mod pwl;
pub mod requant;
