//! One recurrent step, input = hidden = H: the integer runtime against
//! irnn's f32 step of the same layer (gates with the `gemm` crate, one
//! thread, f32 sigmoid/tanh), batch 1 (streaming) and 16. The cells are
//! `irnn_train::step_bench::Case`, the same ones `irnn bench` times.
//!
//! cargo bench -p irnn-train --bench step

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use irnn_runtime::kernels::Isa;
use irnn_train::step_bench::{Case, Cell};

fn bench(c: &mut Criterion) {
    let isa = Isa::detect();
    for h in [256usize, 1024] {
        let mut group = c.benchmark_group(format!("step_H{h}"));
        group.sample_size(20);
        group.measurement_time(std::time::Duration::from_secs(3));
        for cell in [Cell::Lstm, Cell::Gru] {
            for batch in [1usize, 16] {
                let mut case = Case::new(cell, h, batch);
                let (x8, x32) = (case.x8.clone(), case.x32.clone());
                group.bench_function(
                    BenchmarkId::new(cell.name(), format!("int8-{}-b{batch}", isa.name())),
                    |b| b.iter(|| case.int.step(isa, black_box(&x8)).unwrap()),
                );
                group.bench_function(
                    BenchmarkId::new(cell.name(), format!("f32-gemm-b{batch}")),
                    |b| b.iter(|| case.f32.step(black_box(&x32))),
                );
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
