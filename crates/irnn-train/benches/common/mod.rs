//! Shared by the benchmarks: the f32 baseline product (the one `irnn bench`
//! uses too).

pub use irnn_train::step_bench::gemm_f32;
