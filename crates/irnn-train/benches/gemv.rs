//! int8 GEMV (the integer runtime's kernel) against the best f32 GEMV we can
//! get on one core: the `gemm` crate and a plain f32 loop. All single-thread.
//!
//! cargo bench -p irnn-train --bench gemv
//!
//! Throughput is reported in multiply-accumulates (elements) per second.

mod common;

use common::gemm_f32;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use irnn_runtime::{Isa, PackedMatrix};
use rand::{rngs::StdRng, Rng, SeedableRng};

/// Shapes (rows × cols) and batch sizes measured.
const CASES: [(usize, usize, usize); 4] = [
    (1024, 256, 1),
    (4096, 1024, 1),
    (4096, 2048, 1),
    (4096, 1024, 16),
];

/// A plain f32 loop, written so the compiler vectorises it (16 partial sums).
fn loop_f32(rows: usize, cols: usize, batch: usize, w: &[f32], x: &[f32], dst: &mut [f32]) {
    for b in 0..batch {
        let xb = &x[b * cols..(b + 1) * cols];
        for r in 0..rows {
            let row = &w[r * cols..(r + 1) * cols];
            let mut lanes = [0f32; 16];
            let mut wc = row.chunks_exact(16);
            let mut xc = xb.chunks_exact(16);
            for (wv, xv) in (&mut wc).zip(&mut xc) {
                for i in 0..16 {
                    lanes[i] += wv[i] * xv[i];
                }
            }
            let tail: f32 = wc
                .remainder()
                .iter()
                .zip(xc.remainder())
                .map(|(a, b)| a * b)
                .sum();
            dst[b * rows + r] = lanes.iter().sum::<f32>() + tail;
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    for (rows, cols, batch) in CASES {
        let mut group = c.benchmark_group(format!("gemv_{rows}x{cols}_batch{batch}"));
        group.throughput(Throughput::Elements((rows * cols * batch) as u64));
        group.sample_size(30);
        group.measurement_time(std::time::Duration::from_secs(3));

        let w8: Vec<i8> = (0..rows * cols)
            .map(|_| rng.gen_range(-127..=127))
            .collect();
        let x8: Vec<i8> = (0..cols * batch).map(|_| rng.gen()).collect();
        let packed = PackedMatrix::from_row_major(rows, cols, &w8).unwrap();
        let mut acc = vec![0i32; rows * batch];
        for isa in Isa::available() {
            group.bench_function(BenchmarkId::new("int8", isa.name()), |b| {
                b.iter(|| packed.matmul(isa, black_box(&x8), batch, &mut acc).unwrap())
            });
        }
        // The AVX2 kernel before the sign-transfer one, side by side.
        #[cfg(target_arch = "x86_64")]
        if Isa::Avx2.is_available() {
            use irnn_runtime::kernels::x86::avx2::matmul::matmul_widening;
            group.bench_function(BenchmarkId::new("int8", "avx2-widening"), |b| {
                // SAFETY: AVX2 is available; lengths match the shapes above.
                b.iter(|| unsafe { matmul_widening(&packed, black_box(&x8), batch, &mut acc) })
            });
        }

        let w32: Vec<f32> = (0..rows * cols).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let x32: Vec<f32> = (0..cols * batch)
            .map(|_| rng.gen_range(-1.0..1.0))
            .collect();
        let mut dst = vec![0f32; rows * batch];
        group.bench_function(BenchmarkId::new("f32", "gemm"), |b| {
            b.iter(|| gemm_f32(rows, cols, batch, &w32, black_box(&x32), &mut dst))
        });
        group.bench_function(BenchmarkId::new("f32", "loop"), |b| {
            b.iter(|| loop_f32(rows, cols, batch, &w32, black_box(&x32), &mut dst))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
