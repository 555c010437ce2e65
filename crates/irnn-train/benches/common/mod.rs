//! Shared by the benchmarks: the f32 baseline product.

/// f32 `dst[b·rows + r] = Σ_c w[r·cols + c] · x[b·cols + c]` with the `gemm`
/// crate, one thread.
pub fn gemm_f32(rows: usize, cols: usize, batch: usize, w: &[f32], x: &[f32], dst: &mut [f32]) {
    assert!(w.len() >= rows * cols && x.len() >= cols * batch && dst.len() >= rows * batch);
    // SAFETY: the strides describe exactly the three buffers' shapes (asserted).
    unsafe {
        gemm::gemm(
            rows,
            batch,
            cols,
            dst.as_mut_ptr(),
            rows as isize,
            1,
            false,
            w.as_ptr(),
            1,
            cols as isize,
            x.as_ptr(),
            cols as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}
