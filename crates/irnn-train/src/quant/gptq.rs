//! Data-aware rounding of weight rows (GPTQ, Frantar et al. 2022).
//!
//! Rounding each weight to its nearest grid point minimises the error of
//! the weights, not of what the layer computes. At 4 bits (7 levels a
//! side) the two differ: a row's rounding errors add up along the inputs
//! that move together. GPTQ rounds the columns of a matrix one at a time
//! and, after each, moves the columns not yet rounded so that the row's
//! output over the calibration inputs changes as little as possible — the
//! least-squares update through the inverse of the inputs' Gram matrix
//! `H = Σ z zᵀ / N`. The grid (each row's scale) is fixed beforehand; only
//! the choice between rounding up and down, and the values later columns
//! take, change. With uncorrelated inputs (diagonal `H`) nothing is
//! propagated and GPTQ is round-to-nearest.
//!
//! The result is a matrix on the grid: written back into a float model,
//! QAT's straight-through rounding starts from it, and PTQ exports it
//! as is.

/// The Gram matrix `Σ z zᵀ` of a layer's inputs, summed as they come.
#[derive(Debug, Clone, PartialEq)]
pub struct Gram {
    dim: usize,
    /// Row-major `dim × dim`, upper triangle filled until [`Gram::mean`].
    sum: Vec<f64>,
    count: usize,
}

impl Gram {
    /// An empty sum over inputs of length `dim`.
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            sum: vec![0.0; dim * dim],
            count: 0,
        }
    }

    /// Input length.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Inputs added so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Adds one input `z` (its length must be [`Gram::dim`]).
    pub fn add(&mut self, z: &[f64]) {
        assert_eq!(z.len(), self.dim, "Gram input length");
        for (i, &zi) in z.iter().enumerate() {
            if zi == 0.0 {
                continue;
            }
            let row = &mut self.sum[i * self.dim..(i + 1) * self.dim];
            for (s, &zj) in row[i..].iter_mut().zip(&z[i..]) {
                *s += zi * zj;
            }
        }
        self.count += 1;
    }

    /// Adds another sum over inputs of the same length.
    pub fn merge(&mut self, other: &Gram) {
        assert_eq!(other.dim, self.dim, "Gram input length");
        self.sum
            .iter_mut()
            .zip(&other.sum)
            .for_each(|(a, b)| *a += b);
        self.count += other.count;
    }

    /// The mean `Σ z zᵀ / N`, both triangles, row-major.
    pub fn mean(&self) -> Vec<f64> {
        let n = self.dim;
        let inv = 1.0 / self.count.max(1) as f64;
        let mut h = vec![0.0; n * n];
        for i in 0..n {
            for j in i..n {
                let v = self.sum[i * n + j] * inv;
                h[i * n + j] = v;
                h[j * n + i] = v;
            }
        }
        h
    }

    /// The block of inputs `range` (rows and columns), for a matrix that
    /// sees only part of the inputs.
    pub fn block(&self, range: core::ops::Range<usize>) -> Gram {
        let d = range.len();
        let mut g = Gram::new(d);
        for (a, i) in range.clone().enumerate() {
            for (b, j) in range.clone().enumerate() {
                g.sum[a * d + b] = self.sum[i * self.dim + j];
            }
        }
        g.count = self.count;
        g
    }
}

/// Why GPTQ could not round a matrix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GptqError {
    /// The Gram matrix's size does not match the matrix's columns.
    #[error("the inputs' Gram matrix is {gram}×{gram} but the matrix has {cols} columns")]
    Shape {
        /// Gram matrix size.
        gram: usize,
        /// Matrix columns.
        cols: usize,
    },
    /// No inputs were seen.
    #[error("no calibration inputs were seen")]
    Empty,
    /// The damped Gram matrix is not positive definite (non-finite inputs).
    #[error("the inputs' Gram matrix is not positive definite (non-finite calibration values?)")]
    NotPositiveDefinite,
}

/// Share of the mean diagonal added to `H`'s diagonal before it is
/// inverted (GPTQ's dampening): keeps the inverse finite where inputs are
/// (nearly) collinear.
pub const DAMPENING: f64 = 0.01;

/// Rounds the row-major `rows × cols` matrix `w` column by column onto the
/// grid `scale(r, c) · q`, `q ∈ [−top, top]`, moving the columns not yet
/// rounded to compensate each rounding error over inputs with Gram matrix
/// `gram` (GPTQ). Returns the rounded matrix (values `scale · q`).
pub fn gptq_round(
    w: &[f64],
    rows: usize,
    cols: usize,
    gram: &Gram,
    top: i32,
    scale: impl Fn(usize, usize) -> f64,
) -> Result<Vec<f64>, GptqError> {
    if gram.dim() != cols {
        return Err(GptqError::Shape {
            gram: gram.dim(),
            cols,
        });
    }
    if gram.count() == 0 {
        return Err(GptqError::Empty);
    }
    let u = inverse_cholesky_upper(gram.mean(), cols)?;
    let top = top as f64;
    let mut w = w.to_vec();
    let mut out = vec![0.0; rows * cols];
    for r in 0..rows {
        let row = &mut w[r * cols..(r + 1) * cols];
        for j in 0..cols {
            let s = scale(r, j);
            let q = (row[j] / s).round().clamp(-top, top) * s;
            out[r * cols + j] = q;
            let err = (row[j] - q) / u[j * cols + j];
            let uj = &u[j * cols..(j + 1) * cols];
            for (v, &ujk) in row[j + 1..].iter_mut().zip(&uj[j + 1..]) {
                *v -= err * ujk;
            }
        }
    }
    Ok(out)
}

/// The mean squared output error `Σ_r e_rᵀ H e_r / rows` of replacing the
/// row-major `rows × cols` matrix `w` by `q` over inputs with Gram matrix
/// `gram` (what [`gptq_round`] minimises, row by row).
pub fn mean_output_error(w: &[f64], q: &[f64], rows: usize, cols: usize, gram: &Gram) -> f64 {
    let h = gram.mean();
    let total: f64 = (0..rows)
        .map(|r| {
            let e: Vec<f64> = (0..cols)
                .map(|c| w[r * cols + c] - q[r * cols + c])
                .collect();
            (0..cols)
                .map(|i| e[i] * (0..cols).map(|j| h[i * cols + j] * e[j]).sum::<f64>())
                .sum::<f64>()
        })
        .sum();
    total / rows.max(1) as f64
}

/// The upper Cholesky factor `U` (`H⁻¹ = Uᵀ U`) of the inverse of the
/// damped `h` (row-major `n × n`). Columns no input reached (zero diagonal)
/// get a unit diagonal: nothing flows through them.
fn inverse_cholesky_upper(mut h: Vec<f64>, n: usize) -> Result<Vec<f64>, GptqError> {
    let mean_diag = (0..n).map(|i| h[i * n + i]).sum::<f64>() / n.max(1) as f64;
    if !mean_diag.is_finite() {
        return Err(GptqError::NotPositiveDefinite);
    }
    for i in 0..n {
        if h[i * n + i] <= 0.0 {
            for j in 0..n {
                h[i * n + j] = 0.0;
                h[j * n + i] = 0.0;
            }
            h[i * n + i] = 1.0;
        }
        h[i * n + i] += DAMPENING * mean_diag.max(f64::MIN_POSITIVE);
    }
    let l = cholesky_lower(&h, n)?;
    // H⁻¹ = L⁻ᵀ L⁻¹: invert the triangle, then multiply.
    let mut linv = vec![0.0; n * n];
    for i in 0..n {
        linv[i * n + i] = 1.0 / l[i * n + i];
        for j in 0..i {
            let s: f64 = (j..i).map(|k| l[i * n + k] * linv[k * n + j]).sum();
            linv[i * n + j] = -s / l[i * n + i];
        }
    }
    let mut hinv = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (i..n).map(|k| linv[k * n + i] * linv[k * n + j]).sum();
            hinv[i * n + j] = s;
            hinv[j * n + i] = s;
        }
    }
    // H⁻¹ = Uᵀ U with U = Lᵀ of H⁻¹'s lower factor.
    let lower = cholesky_lower(&hinv, n)?;
    let mut u = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            u[j * n + i] = lower[i * n + j];
        }
    }
    Ok(u)
}

/// The lower Cholesky factor of the symmetric positive definite `a`.
fn cholesky_lower(a: &[f64], n: usize) -> Result<Vec<f64>, GptqError> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i * n + i] - s;
                if !(d > 0.0 && d.is_finite()) {
                    return Err(GptqError::NotPositiveDefinite);
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (no test depends on a crate's
    /// random stream).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        }
    }

    fn nearest(w: &[f64], s: f64, top: f64) -> Vec<f64> {
        w.iter()
            .map(|v| (v / s).round().clamp(-top, top) * s)
            .collect()
    }

    /// Σ over inputs of the squared output error of `q` against `w`.
    fn output_error(w: &[f64], q: &[f64], rows: usize, inputs: &[Vec<f64>]) -> f64 {
        let cols = inputs[0].len();
        inputs
            .iter()
            .map(|z| {
                (0..rows)
                    .map(|r| {
                        let e: f64 = (0..cols)
                            .map(|c| (w[r * cols + c] - q[r * cols + c]) * z[c])
                            .sum();
                        e * e
                    })
                    .sum::<f64>()
            })
            .sum()
    }

    #[test]
    fn uncorrelated_inputs_give_round_to_nearest() {
        // One input per column (unit vectors): H is diagonal, so no
        // rounding error is propagated.
        let (rows, cols, top, s) = (5, 7, 7.0, 0.1);
        let mut rng = Lcg(3);
        let w: Vec<f64> = (0..rows * cols).map(|_| rng.next()).collect();
        let mut gram = Gram::new(cols);
        for c in 0..cols {
            let mut z = vec![0.0; cols];
            z[c] = 1.0 + c as f64;
            gram.add(&z);
        }
        let q = gptq_round(&w, rows, cols, &gram, 7, |_, _| s).unwrap();
        assert_eq!(q, nearest(&w, s, top));
    }

    #[test]
    fn correlated_inputs_lower_the_output_error_below_round_to_nearest() {
        // Inputs driven by two shared factors plus a little noise: the
        // layer's output error is what GPTQ minimises, not the weights'.
        let (rows, cols, top) = (16, 24, 7);
        let mut rng = Lcg(11);
        let w: Vec<f64> = (0..rows * cols).map(|_| rng.next()).collect();
        let mix: Vec<[f64; 2]> = (0..cols).map(|_| [rng.next(), rng.next()]).collect();
        let inputs: Vec<Vec<f64>> = (0..400)
            .map(|_| {
                let (a, b) = (rng.next(), rng.next());
                mix.iter()
                    .map(|m| m[0] * a + m[1] * b + 0.05 * rng.next())
                    .collect()
            })
            .collect();
        let mut gram = Gram::new(cols);
        inputs.iter().for_each(|z| gram.add(z));
        let scales: Vec<f64> = w
            .chunks(cols)
            .map(|r| r.iter().fold(0.0f64, |m, v| m.max(v.abs())) / top as f64)
            .collect();
        let q = gptq_round(&w, rows, cols, &gram, top, |r, _| scales[r]).unwrap();
        let rtn: Vec<f64> = w
            .chunks(cols)
            .zip(&scales)
            .flat_map(|(row, &s)| nearest(row, s, top as f64))
            .collect();
        // On the grid, within the range.
        for (r, row) in q.chunks(cols).enumerate() {
            for v in row {
                let k = v / scales[r];
                assert!((k - k.round()).abs() < 1e-9 && k.abs() <= top as f64 + 1e-9);
            }
        }
        let (e_gptq, e_rtn) = (
            output_error(&w, &q, rows, &inputs),
            output_error(&w, &rtn, rows, &inputs),
        );
        assert!(
            e_gptq < 0.7 * e_rtn,
            "output error: GPTQ {e_gptq}, nearest {e_rtn}"
        );
        // The Gram-matrix form is the same sum, per input and row.
        let per = (inputs.len() * rows) as f64;
        let m = mean_output_error(&w, &q, rows, cols, &gram);
        assert!(
            (m - e_gptq / per).abs() <= 1e-9 * m.max(1e-12),
            "{m} vs {}",
            e_gptq / per
        );
    }

    #[test]
    fn unseen_columns_and_bad_shapes() {
        // A column no input reaches is rounded to nearest, not divided by 0.
        let mut gram = Gram::new(2);
        gram.add(&[1.0, 0.0]);
        gram.add(&[2.0, 0.0]);
        let q = gptq_round(&[0.26, 0.34], 1, 2, &gram, 7, |_, _| 0.1).unwrap();
        assert!(q.iter().all(|v| v.is_finite()));
        assert!((q[1] - 0.3).abs() < 1e-12, "{q:?}");
        assert_eq!(
            gptq_round(&[0.0; 3], 1, 3, &gram, 7, |_, _| 0.1),
            Err(GptqError::Shape { gram: 2, cols: 3 })
        );
        assert_eq!(
            gptq_round(&[0.0; 2], 1, 2, &Gram::new(2), 7, |_, _| 0.1),
            Err(GptqError::Empty)
        );
        let mut bad = Gram::new(2);
        bad.add(&[f64::NAN, 1.0]);
        assert_eq!(
            gptq_round(&[0.0; 2], 1, 2, &bad, 7, |_, _| 0.1),
            Err(GptqError::NotPositiveDefinite)
        );
    }

    #[test]
    fn blocks_and_merges_sum_the_same_inputs() {
        let mut rng = Lcg(5);
        let zs: Vec<Vec<f64>> = (0..10)
            .map(|_| (0..4).map(|_| rng.next()).collect())
            .collect();
        let (mut a, mut b, mut all) = (Gram::new(4), Gram::new(4), Gram::new(4));
        zs[..4].iter().for_each(|z| a.add(z));
        zs[4..].iter().for_each(|z| b.add(z));
        zs.iter().for_each(|z| all.add(z));
        a.merge(&b);
        assert_eq!(a.count(), all.count());
        for (x, y) in a.mean().iter().zip(all.mean()) {
            assert!((x - y).abs() < 1e-12);
        }
        let mut tail = Gram::new(2);
        zs.iter().for_each(|z| tail.add(&z[2..]));
        for (x, y) in all.block(2..4).mean().iter().zip(tail.mean()) {
            assert!((x - y).abs() < 1e-12);
        }
    }
}
