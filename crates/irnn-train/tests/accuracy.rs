//! Accuracy of the integer layers against the f64 reference over 100-step
//! sequences: random weights, ranges calibrated on random inputs, then a
//! fresh sequence run through both. Errors are in LSBs of h's int8 grid.
//! The bounds asserted here are the ones stated in docs/NUMERICS.md §5.

use irnn_runtime::kernels::Isa;
use irnn_runtime::layers::{GruScratch, LstmScratch};
use irnn_train::convert::{convert_gru, convert_lstm, AffineQuant, Ranges};
use irnn_train::reference::{GruParams, LstmParams};
use rand::{rngs::StdRng, Rng, SeedableRng};

const STEPS: usize = 100;

fn uniform(rng: &mut StdRng, n: usize, a: f64) -> Vec<f64> {
    (0..n).map(|_| rng.gen_range(-a..a)).collect()
}

fn lstm_params(
    rng: &mut StdRng,
    input: usize,
    hidden: usize,
    ln: bool,
    capped: bool,
) -> LstmParams {
    let k = 1.0 / (hidden as f64).sqrt();
    let norm = |rng: &mut StdRng, n: usize| {
        (
            (0..n)
                .map(|_| rng.gen_range(0.7..1.3))
                .collect::<Vec<f64>>(),
            uniform(rng, n, 0.2),
        )
    };
    LstmParams {
        input,
        hidden,
        w_x: uniform(rng, 4 * hidden * input, k),
        w_h: uniform(rng, 4 * hidden * hidden, k),
        bias: uniform(rng, 4 * hidden, k),
        gate_norm: ln.then(|| norm(rng, 4 * hidden)),
        cell_norm: ln.then(|| norm(rng, hidden)),
        capped_input_gate: capped,
    }
}

fn gru_params(rng: &mut StdRng, input: usize, hidden: usize, reset_before: bool) -> GruParams {
    let k = 1.0 / (hidden as f64).sqrt();
    GruParams {
        input,
        hidden,
        w_x: uniform(rng, 3 * hidden * input, k),
        w_h: uniform(rng, 3 * hidden * hidden, k),
        b_x: uniform(rng, 3 * hidden, k),
        b_h: uniform(rng, 3 * hidden, k),
        reset_before,
    }
}

/// Mean and max |Δh| of one step in LSBs. The float value is first clamped
/// to the range the int8 grid can represent: values beyond the calibrated
/// range saturate by design, and that is a calibration matter, not an
/// arithmetic error (the tests calibrate on other random sequences, so a few
/// test values fall outside).
fn step_error(h_int: &[i8], h_float: &[f64], hq: AffineQuant) -> (f64, f64) {
    let lo = hq.dequantize(i8::MIN);
    let hi = hq.dequantize(i8::MAX);
    let errs: Vec<f64> = h_int
        .iter()
        .zip(h_float)
        .map(|(&q, &f)| (hq.dequantize(q) - f.clamp(lo, hi)).abs() / hq.scale)
        .collect();
    if std::env::var("IRNN_DEBUG").is_ok() {
        for (u, (e, (q, f))) in errs.iter().zip(h_int.iter().zip(h_float)).enumerate() {
            if *e > 4.0 {
                println!(
                    "unit {u}: int {q} float {f:.4} (scale {:.5}, zp {})",
                    hq.scale, hq.zero_point
                );
            }
        }
    }
    (
        errs.iter().sum::<f64>() / errs.len() as f64,
        errs.iter().fold(0.0, |m: f64, &e| m.max(e)),
    )
}

/// Error statistics in h LSBs: (mean, max, mean over the first half, over the second half).
#[derive(Debug)]
struct Errors {
    mean: f64,
    max: f64,
    first_half: f64,
    second_half: f64,
}

fn summarize(per_step: &[(f64, f64)]) -> Errors {
    let n = per_step.len();
    let mean_of = |s: &[(f64, f64)]| s.iter().map(|e| e.0).sum::<f64>() / s.len() as f64;
    Errors {
        mean: mean_of(per_step),
        max: per_step.iter().fold(0.0, |m, e| m.max(e.1)),
        first_half: mean_of(&per_step[..n / 2]),
        second_half: mean_of(&per_step[n / 2..]),
    }
}

fn check(name: &str, e: &Errors, mean_bound: f64, max_bound: f64) {
    println!(
        "{name}: mean |Δh| = {:.3} LSB, max = {:.1} LSB, steps 0–49 mean {:.3}, steps 50–99 mean {:.3}",
        e.mean, e.max, e.first_half, e.second_half
    );
    assert!(
        e.mean <= mean_bound,
        "{name}: mean error {:.3} > {mean_bound}",
        e.mean
    );
    assert!(
        e.max <= max_bound,
        "{name}: max error {:.1} > {max_bound}",
        e.max
    );
    // No drift: the second half is not materially worse than the first.
    assert!(
        e.second_half <= 1.5 * e.first_half + 0.25,
        "{name}: error grows over time ({:.3} → {:.3})",
        e.first_half,
        e.second_half
    );
}

fn lstm_case(seed: u64, ln: bool, capped: bool) -> Errors {
    let (input, hidden) = (48, 64);
    let mut rng = StdRng::seed_from_u64(seed);
    let p = lstm_params(&mut rng, input, hidden, ln, capped);
    let xq = AffineQuant::int8_from_range(-1.0, 1.0);
    // Calibration: 4 sequences of 100 steps.
    let mut ranges = Ranges::new(4);
    let (mut hmin, mut hmax) = (0.0f64, 0.0f64);
    for _ in 0..4 {
        let (mut h, mut c) = (vec![0.0; hidden], vec![0.0; hidden]);
        for _ in 0..STEPS {
            let x: Vec<f64> = uniform(&mut rng, input, 1.0)
                .iter()
                .map(|&v| xq.dequantize(xq.quantize(v)))
                .collect();
            let trace = p.step(&x, &mut h, &mut c);
            ranges.observe(&trace, &c);
            hmin = h.iter().fold(hmin, |m, &v| m.min(v));
            hmax = h.iter().fold(hmax, |m, &v| m.max(v));
        }
    }
    let hq = AffineQuant::int8_from_range(hmin, hmax);
    let cell = convert_lstm(&p, &ranges, xq, hq, 64).unwrap();
    let mut state = cell.zero_state();
    let mut scratch = LstmScratch::default();
    let (mut h, mut c) = (vec![0.0; hidden], vec![0.0; hidden]);
    let mut per_step = Vec::new();
    for _ in 0..STEPS {
        let xi: Vec<i8> = uniform(&mut rng, input, 1.0)
            .iter()
            .map(|&v| xq.quantize(v))
            .collect();
        let xf: Vec<f64> = xi.iter().map(|&q| xq.dequantize(q)).collect();
        p.step(&xf, &mut h, &mut c);
        cell.step(Isa::detect(), &xi, &mut state, &mut scratch)
            .unwrap();
        per_step.push(step_error(&state.h, &h, hq));
    }
    summarize(&per_step)
}

fn gru_case(seed: u64, reset_before: bool) -> Errors {
    let (input, hidden) = (48, 64);
    let mut rng = StdRng::seed_from_u64(seed);
    let p = gru_params(&mut rng, input, hidden, reset_before);
    let xq = AffineQuant::int8_from_range(-1.0, 1.0);
    let mut ranges = Ranges::new(3);
    let (mut hmin, mut hmax) = (0.0f64, 0.0f64);
    for _ in 0..4 {
        let mut h = vec![0.0; hidden];
        for _ in 0..STEPS {
            let x: Vec<f64> = uniform(&mut rng, input, 1.0)
                .iter()
                .map(|&v| xq.dequantize(xq.quantize(v)))
                .collect();
            let trace = p.step(&x, &mut h);
            ranges.observe(&trace, &[]);
            hmin = h.iter().fold(hmin, |m, &v| m.min(v));
            hmax = h.iter().fold(hmax, |m, &v| m.max(v));
        }
    }
    let hq = AffineQuant::int8_from_range(hmin, hmax);
    let cell = convert_gru(&p, &ranges, xq, hq, 64).unwrap();
    let mut state = cell.zero_state();
    let mut scratch = GruScratch::default();
    let mut h = vec![0.0; hidden];
    let mut per_step = Vec::new();
    for _ in 0..STEPS {
        let xi: Vec<i8> = uniform(&mut rng, input, 1.0)
            .iter()
            .map(|&v| xq.quantize(v))
            .collect();
        let xf: Vec<f64> = xi.iter().map(|&q| xq.dequantize(q)).collect();
        p.step(&xf, &mut h);
        cell.step(Isa::detect(), &xi, &mut state, &mut scratch)
            .unwrap();
        per_step.push(step_error(&state.h, &h, hq));
    }
    summarize(&per_step)
}

#[test]
fn lstm_plain() {
    check("LSTM", &lstm_case(1, false, false), 0.6, 10.0);
}

#[test]
fn lstm_capped_input_gate() {
    check("LSTM capped", &lstm_case(2, false, true), 0.6, 10.0);
}

#[test]
fn lstm_layer_norm() {
    check("LSTM + LN", &lstm_case(3, true, false), 0.6, 10.0);
}

#[test]
fn gru_reset_after() {
    check("GRU reset after", &gru_case(4, false), 0.6, 10.0);
}

#[test]
fn gru_reset_before() {
    check("GRU reset before", &gru_case(5, true), 0.6, 10.0);
}
