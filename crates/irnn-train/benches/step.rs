//! One recurrent step, batch 1, input = hidden = H: the integer runtime
//! against an f32 step of the same layer (gates with the `gemm` crate, one
//! thread, f32 sigmoid/tanh).
//!
//! cargo bench -p irnn-train --bench step

#![allow(clippy::needless_range_loop)] // per-unit gate loops read best indexed

mod common;

use common::gemm_f32;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use irnn_runtime::kernels::Isa;
use irnn_runtime::layers::{GruScratch, LstmScratch};
use irnn_train::convert::{convert_gru, convert_lstm, AffineQuant, Ranges};
use irnn_train::reference::{GruParams, LstmParams};
use rand::{rngs::StdRng, Rng, SeedableRng};

fn uniform(rng: &mut StdRng, n: usize, a: f64) -> Vec<f64> {
    (0..n).map(|_| rng.gen_range(-a..a)).collect()
}

/// f32 `dst = W · x` with `gemm`, one thread.
fn gemv(rows: usize, cols: usize, w: &[f32], x: &[f32], dst: &mut [f32]) {
    gemm_f32(rows, cols, 1, w, x, dst)
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

struct F32Lstm {
    h: usize,
    w_x: Vec<f32>,
    w_h: Vec<f32>,
    bias: Vec<f32>,
    gx: Vec<f32>,
    gh: Vec<f32>,
}

impl F32Lstm {
    fn step(&mut self, x: &[f32], h: &mut [f32], c: &mut [f32]) {
        let n = self.h;
        gemv(4 * n, n, &self.w_x, x, &mut self.gx);
        gemv(4 * n, n, &self.w_h, h, &mut self.gh);
        for u in 0..n {
            let g = |k: usize| self.gx[k * n + u] + self.gh[k * n + u] + self.bias[k * n + u];
            let (i, f, cand, o) = (sigmoid(g(0)), sigmoid(g(1)), g(2).tanh(), sigmoid(g(3)));
            c[u] = f * c[u] + i * cand;
            h[u] = o * c[u].tanh();
        }
    }
}

struct F32Gru {
    h: usize,
    w_x: Vec<f32>,
    w_h: Vec<f32>,
    gx: Vec<f32>,
    gh: Vec<f32>,
}

impl F32Gru {
    fn step(&mut self, x: &[f32], h: &mut [f32]) {
        let n = self.h;
        gemv(3 * n, n, &self.w_x, x, &mut self.gx);
        gemv(3 * n, n, &self.w_h, h, &mut self.gh);
        for u in 0..n {
            let r = sigmoid(self.gx[u] + self.gh[u]);
            let z = sigmoid(self.gx[n + u] + self.gh[n + u]);
            let cand = (self.gx[2 * n + u] + r * self.gh[2 * n + u]).tanh();
            h[u] = (1.0 - z) * cand + z * h[u];
        }
    }
}

fn ranges(gates: usize) -> Ranges {
    let mut r = Ranges::new(gates);
    r.pre.iter_mut().for_each(|v| *v = 8.0);
    r.recurrent.iter_mut().for_each(|v| *v = 8.0);
    r.cell = 4.0;
    r
}

fn bench(c: &mut Criterion) {
    let isa = Isa::detect();
    let q = AffineQuant::int8_from_range(-1.0, 1.0);
    for h in [256usize, 1024] {
        let mut group = c.benchmark_group(format!("step_H{h}"));
        group.sample_size(20);
        group.measurement_time(std::time::Duration::from_secs(3));
        let mut rng = StdRng::seed_from_u64(h as u64);
        let k = 1.0 / (h as f64).sqrt();
        let x8: Vec<i8> = (0..h).map(|_| rng.gen()).collect();
        let x32: Vec<f32> = (0..h).map(|_| rng.gen_range(-1.0..1.0)).collect();

        let lstm = LstmParams {
            input: h,
            hidden: h,
            w_x: uniform(&mut rng, 4 * h * h, k),
            w_h: uniform(&mut rng, 4 * h * h, k),
            bias: uniform(&mut rng, 4 * h, k),
            gate_norm: None,
            cell_norm: None,
            capped_input_gate: false,
        };
        let cell = convert_lstm(
            &lstm,
            &ranges(4),
            q,
            q,
            &mut irnn_train::pwl_fit::PwlFitter::new(32),
        )
        .unwrap();
        let mut state = cell.zero_state();
        let mut scratch = LstmScratch::default();
        group.bench_function(
            BenchmarkId::new("lstm", format!("int8-{}", isa.name())),
            |b| {
                b.iter(|| {
                    cell.step(isa, black_box(&x8), &mut state, &mut scratch)
                        .unwrap()
                })
            },
        );
        let mut f = F32Lstm {
            h,
            w_x: lstm.w_x.iter().map(|&v| v as f32).collect(),
            w_h: lstm.w_h.iter().map(|&v| v as f32).collect(),
            bias: lstm.bias.iter().map(|&v| v as f32).collect(),
            gx: vec![0.0; 4 * h],
            gh: vec![0.0; 4 * h],
        };
        let (mut hf, mut cf) = (vec![0f32; h], vec![0f32; h]);
        group.bench_function(BenchmarkId::new("lstm", "f32-gemm"), |b| {
            b.iter(|| f.step(black_box(&x32), &mut hf, &mut cf))
        });

        let gru = GruParams {
            input: h,
            hidden: h,
            w_x: uniform(&mut rng, 3 * h * h, k),
            w_h: uniform(&mut rng, 3 * h * h, k),
            b_x: vec![0.0; 3 * h],
            b_h: vec![0.0; 3 * h],
            reset_before: false,
        };
        let cell = convert_gru(
            &gru,
            &ranges(3),
            q,
            q,
            &mut irnn_train::pwl_fit::PwlFitter::new(32),
        )
        .unwrap();
        let mut state = cell.zero_state();
        let mut scratch = GruScratch::default();
        group.bench_function(
            BenchmarkId::new("gru", format!("int8-{}", isa.name())),
            |b| {
                b.iter(|| {
                    cell.step(isa, black_box(&x8), &mut state, &mut scratch)
                        .unwrap()
                })
            },
        );
        let mut g = F32Gru {
            h,
            w_x: gru.w_x.iter().map(|&v| v as f32).collect(),
            w_h: gru.w_h.iter().map(|&v| v as f32).collect(),
            gx: vec![0.0; 3 * h],
            gh: vec![0.0; 3 * h],
        };
        let mut hg = vec![0f32; h];
        group.bench_function(BenchmarkId::new("gru", "f32-gemm"), |b| {
            b.iter(|| g.step(black_box(&x32), &mut hg))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
