//! Matrix products on `gemm`, row-major, with optional transposes.

use super::Real;

/// Work (multiply-adds) above which a product is split over all threads;
/// below it `gemm`'s threading costs more than it gains.
const PARALLEL_THRESHOLD: usize = 1 << 22;

/// `C[m×n] = A·B` or `C += A·B`, where `A` is `[m×k]` (or stored `[k×m]`
/// when `ta`) and `B` is `[k×n]` (or stored `[n×k]` when `tb`).
#[allow(clippy::too_many_arguments)]
pub fn matmul<T: Real>(
    c: &mut [T],
    a: &[T],
    b: &[T],
    m: usize,
    k: usize,
    n: usize,
    ta: bool,
    tb: bool,
    accumulate: bool,
) {
    assert!(
        c.len() >= m * n && a.len() >= m * k && b.len() >= k * n,
        "matmul shapes"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].iter_mut().for_each(|v| *v = T::zero());
        }
        return;
    }
    let (a_rs, a_cs) = if ta { (1, m as isize) } else { (k as isize, 1) };
    let (b_rs, b_cs) = if tb { (1, k as isize) } else { (n as isize, 1) };
    let parallelism = if m * n * k >= PARALLEL_THRESHOLD && rayon::current_num_threads() > 1 {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserted lengths cover every element the strides address.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            T::one(),
            T::one(),
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// Adds each row of `x` (`rows × n`) into `sum` (`n`).
pub fn add_rows<T: Real>(sum: &mut [T], x: &[T], n: usize) {
    for row in x.chunks_exact(n) {
        for (s, &v) in sum.iter_mut().zip(row) {
            *s += v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes_and_accumulation() {
        // A = [[1,2,3],[4,5,6]] (2×3), B = [[1,0],[0,1],[1,1]] (3×2)
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let mut c = [0.0f64; 4];
        matmul(&mut c, &a, &b, 2, 3, 2, false, false, false);
        assert_eq!(c, [4.0, 5.0, 10.0, 11.0]);
        let at = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]; // A stored transposed
        let bt = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0]; // B stored transposed
        let mut d = [1.0f64; 4];
        matmul(&mut d, &at, &bt, 2, 3, 2, true, true, true);
        assert_eq!(d, [5.0, 6.0, 11.0, 12.0]);
    }
}
