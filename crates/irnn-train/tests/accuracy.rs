//! Accuracy of the integer layers against the f64 reference over 100-step
//! sequences: random weights, ranges calibrated on random inputs, then a
//! fresh sequence run through both. Errors are in LSBs of h's int8 grid.
//! The bounds asserted here are the ones stated in docs/NUMERICS.md §5.

use irnn_runtime::kernels::{Isa, WeightBits};
use irnn_runtime::layers::{Activation, GruScratch, LstmScratch};
use irnn_train::quant::cells::{convert_gru, convert_lstm, AffineQuant, Ranges};
use irnn_train::quant::pwl_fit::PwlFitter;
use irnn_train::quant::reference::{GruParams, LstmParams, StepTrace};
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
fn step_error<A: Activation>(h_int: &[A], h_float: &[f64], hq: AffineQuant) -> (f64, f64) {
    let lo = hq.value_of(A::saturate(A::MIN));
    let hi = hq.value_of(A::saturate(A::MAX));
    let errs: Vec<f64> = h_int
        .iter()
        .zip(h_float)
        .map(|(&q, &f)| (hq.value_of(q) - f.clamp(lo, hi)).abs() / hq.scale)
        .collect();
    if std::env::var("IRNN_DEBUG").is_ok() {
        for (u, (e, (q, f))) in errs.iter().zip(h_int.iter().zip(h_float)).enumerate() {
            if *e > 4.0 {
                println!(
                    "unit {u}: int {q:?} float {f:.4} (scale {:.5}, zp {})",
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

/// A float cell run step by step, for the shared calibrate-then-compare loop.
trait FloatCell {
    fn reset(&mut self);
    fn step(&mut self, x: &[f64]) -> StepTrace;
    fn h(&self) -> &[f64];
    fn cell(&self) -> &[f64];
}

struct LstmRun {
    p: LstmParams,
    h: Vec<f64>,
    c: Vec<f64>,
}

impl FloatCell for LstmRun {
    fn reset(&mut self) {
        self.h
            .iter_mut()
            .chain(self.c.iter_mut())
            .for_each(|v| *v = 0.0);
    }
    fn step(&mut self, x: &[f64]) -> StepTrace {
        self.p.step(x, &mut self.h, &mut self.c)
    }
    fn h(&self) -> &[f64] {
        &self.h
    }
    fn cell(&self) -> &[f64] {
        &self.c
    }
}

struct GruRun {
    p: GruParams,
    h: Vec<f64>,
}

impl FloatCell for GruRun {
    fn reset(&mut self) {
        self.h.iter_mut().for_each(|v| *v = 0.0);
    }
    fn step(&mut self, x: &[f64]) -> StepTrace {
        self.p.step(x, &mut self.h)
    }
    fn h(&self) -> &[f64] {
        &self.h
    }
    fn cell(&self) -> &[f64] {
        &[]
    }
}

/// One random input step: the int8 values and their real values.
fn input_step<A: Activation>(
    rng: &mut StdRng,
    input: usize,
    xq: AffineQuant,
) -> (Vec<A>, Vec<f64>) {
    let xi: Vec<A> = uniform(rng, input, 1.0)
        .iter()
        .map(|&v| xq.quantize_as(v))
        .collect();
    let xf = xi.iter().map(|&q| xq.value_of(q)).collect();
    (xi, xf)
}

/// Calibration: 4 sequences of 100 steps; returns the ranges and h's grid.
fn calibrate<A: Activation>(
    f: &mut impl FloatCell,
    gates: usize,
    rng: &mut StdRng,
    input: usize,
    xq: AffineQuant,
) -> (Ranges, AffineQuant) {
    let mut ranges = Ranges::new(gates);
    let (mut hmin, mut hmax) = (0.0f64, 0.0f64);
    for _ in 0..4 {
        f.reset();
        for _ in 0..STEPS {
            let (_, x) = input_step::<A>(rng, input, xq);
            let trace = f.step(&x);
            ranges.observe(&trace, f.cell());
            hmin = f.h().iter().fold(hmin, |m, &v| m.min(v));
            hmax = f.h().iter().fold(hmax, |m, &v| m.max(v));
        }
    }
    f.reset();
    (ranges, AffineQuant::from_range::<A>(hmin, hmax))
}

/// A fresh 100-step sequence through the float cell and the integer one.
fn compare<A: Activation>(
    f: &mut impl FloatCell,
    rng: &mut StdRng,
    input: usize,
    xq: AffineQuant,
    hq: AffineQuant,
    mut int_step: impl FnMut(&[A]) -> Vec<A>,
) -> Errors {
    let mut per_step = Vec::new();
    for _ in 0..STEPS {
        let (xi, xf) = input_step(rng, input, xq);
        f.step(&xf);
        per_step.push(step_error(&int_step(&xi), f.h(), hq));
    }
    summarize(&per_step)
}

fn lstm_case(seed: u64, ln: bool, capped: bool) -> Errors {
    lstm_case_of::<i8>(seed, ln, capped).0
}

/// The LSTM case with activations of width `A`; also returns h's grid.
fn lstm_case_of<A: Activation>(seed: u64, ln: bool, capped: bool) -> (Errors, AffineQuant) {
    let (input, hidden) = (48, 64);
    let mut rng = StdRng::seed_from_u64(seed);
    let p = lstm_params(&mut rng, input, hidden, ln, capped);
    let xq = AffineQuant::from_range::<A>(-1.0, 1.0);
    let mut f = LstmRun {
        p,
        h: vec![0.0; hidden],
        c: vec![0.0; hidden],
    };
    let (ranges, hq) = calibrate::<A>(&mut f, 4, &mut rng, input, xq);
    let cell = convert_lstm::<A>(
        &f.p,
        &ranges,
        xq,
        hq,
        WeightBits::Eight,
        &mut PwlFitter::new(64),
    )
    .unwrap();
    let (mut state, mut scratch) = (cell.zero_state(), LstmScratch::default());
    let errors = compare(&mut f, &mut rng, input, xq, hq, |x| {
        cell.step(Isa::detect(), x, &mut state, &mut scratch)
            .unwrap();
        state.h.clone()
    });
    (errors, hq)
}

fn gru_case(seed: u64, reset_before: bool) -> Errors {
    let (input, hidden) = (48, 64);
    let mut rng = StdRng::seed_from_u64(seed);
    let p = gru_params(&mut rng, input, hidden, reset_before);
    let xq = AffineQuant::int8_from_range(-1.0, 1.0);
    let mut f = GruRun {
        p,
        h: vec![0.0; hidden],
    };
    let (ranges, hq) = calibrate::<i8>(&mut f, 3, &mut rng, input, xq);
    let cell = convert_gru(
        &f.p,
        &ranges,
        xq,
        hq,
        WeightBits::Eight,
        &mut PwlFitter::new(64),
    )
    .unwrap();
    let (mut state, mut scratch) = (cell.zero_state(), GruScratch::default());
    compare(&mut f, &mut rng, input, xq, hq, |x| {
        cell.step(Isa::detect(), x, &mut state, &mut scratch)
            .unwrap();
        state.h.clone()
    })
}

/// 16-bit activations (inputs and h on int16 grids, 8-bit weights): the
/// error in real units is well below the int8 cell's, and bounded in int8
/// LSBs — what the finer grids buy once the gates' own int16 grids and
/// tables remain.
#[test]
fn lstm_int16_activations() {
    for (seed, ln) in [(1, false), (3, true)] {
        let (e8, q8) = lstm_case_of::<i8>(seed, ln, false);
        let (e16, q16) = lstm_case_of::<i16>(seed, ln, false);
        let (real8, real16) = (e8.mean * q8.scale, e16.mean * q16.scale);
        println!(
            "LSTM (LN {ln}): mean |Δh| int8 {real8:.2e}, int16 {real16:.2e} ({:.3} int8 LSB; {:.1} int16 LSB), max int16 {:.2e}",
            real16 / q8.scale,
            e16.mean,
            e16.max * q16.scale
        );
        assert!(
            real16 < 0.7 * real8,
            "int16 {real16:.2e} vs int8 {real8:.2e}"
        );
        assert!(e16.max * q16.scale < 10.0 * q8.scale);
    }
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

/// Bidirectional LSTM with a shared h grid: both halves within the same
/// bounds as a single LSTM.
#[test]
fn bidirectional_lstm() {
    use irnn_runtime::layers::IntEncoderLayer;
    let (input, hidden, steps) = (32, 48, STEPS);
    let mut rng = StdRng::seed_from_u64(9);
    let fwd = lstm_params(&mut rng, input, hidden, true, false);
    let bwd = lstm_params(&mut rng, input, hidden, true, false);
    let xq = AffineQuant::int8_from_range(-1.0, 1.0);
    let seq = |rng: &mut StdRng| -> Vec<i8> {
        (0..steps * input)
            .map(|_| xq.quantize(rng.gen_range(-1.0..1.0)))
            .collect()
    };
    let run_float =
        |p: &LstmParams, xs: &[i8], reverse: bool, ranges: &mut Ranges| -> Vec<Vec<f64>> {
            let (mut h, mut c) = (vec![0.0; hidden], vec![0.0; hidden]);
            let mut out = vec![Vec::new(); steps];
            let order: Vec<usize> = if reverse {
                (0..steps).rev().collect()
            } else {
                (0..steps).collect()
            };
            for t in order {
                let x: Vec<f64> = xs[t * input..(t + 1) * input]
                    .iter()
                    .map(|&q| xq.dequantize(q))
                    .collect();
                let trace = p.step(&x, &mut h, &mut c);
                ranges.observe(&trace, &c);
                out[t] = h.clone();
            }
            out
        };
    // Calibrate both directions; one h range for both.
    let (mut rf, mut rb) = (Ranges::new(4), Ranges::new(4));
    let (mut lo, mut hi) = (0.0f64, 0.0f64);
    for _ in 0..4 {
        let xs = seq(&mut rng);
        for h in run_float(&fwd, &xs, false, &mut rf)
            .iter()
            .chain(&run_float(&bwd, &xs, true, &mut rb))
        {
            lo = h.iter().fold(lo, |m, &v| m.min(v));
            hi = h.iter().fold(hi, |m, &v| m.max(v));
        }
    }
    let hq = AffineQuant::int8_from_range(lo, hi);
    let layer = IntEncoderLayer {
        forward: convert_lstm(
            &fwd,
            &rf,
            xq,
            hq,
            WeightBits::Eight,
            &mut PwlFitter::new(64),
        )
        .unwrap(),
        backward: Some(
            convert_lstm(
                &bwd,
                &rb,
                xq,
                hq,
                WeightBits::Eight,
                &mut PwlFitter::new(64),
            )
            .unwrap(),
        ),
    };
    layer.validate().unwrap();
    let xs = seq(&mut rng);
    let mut out = vec![0i8; steps * 2 * hidden];
    layer.run(Isa::detect(), &xs, &mut out).unwrap();
    let (f, b) = (
        run_float(&fwd, &xs, false, &mut rf),
        run_float(&bwd, &xs, true, &mut rb),
    );
    let per_step: Vec<(f64, f64)> = (0..steps)
        .map(|t| {
            let float: Vec<f64> = f[t].iter().chain(&b[t]).copied().collect();
            step_error(&out[t * 2 * hidden..(t + 1) * 2 * hidden], &float, hq)
        })
        .collect();
    check("BiLSTM + LN", &summarize(&per_step), 0.6, 10.0);
}

/// Integer LayerNorm alone, on random int16 vectors of awkward sizes.
#[test]
fn layer_norm_alone() {
    use irnn_train::quant::cells::{convert_layer_norm, int16_scale};
    use irnn_train::quant::reference::layer_norm;
    let mut rng = StdRng::seed_from_u64(10);
    let mut worst = 0.0f64;
    let mut total = 0.0;
    let mut count = 0;
    for &n in &[1usize, 3, 7, 100, 257, 1000] {
        let gamma: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.5..1.5)).collect();
        let beta = uniform(&mut rng, n, 0.5);
        let s_in = int16_scale(8.0);
        let s_out = int16_scale(8.0);
        let ln = convert_layer_norm(&gamma, &beta, s_in, s_out).unwrap();
        for _ in 0..20 {
            let spread = rng.gen_range(0.01..8.0);
            let q: Vec<i16> = (0..n)
                .map(|_| (rng.gen_range(-spread..spread) / s_in) as i16)
                .collect();
            let real: Vec<f64> = q.iter().map(|&v| v as f64 * s_in).collect();
            let expected = layer_norm(&real, &gamma, &beta);
            let mut out = vec![0i16; n];
            ln.apply(&q, &mut out).unwrap();
            for (o, e) in out.iter().zip(&expected) {
                let err = (*o as f64 * s_out - e.clamp(-8.0, 8.0)).abs() / s_out;
                worst = worst.max(err);
                total += err;
                count += 1;
            }
        }
    }
    println!(
        "LayerNorm: mean |Δ| = {:.3} LSB, max = {:.2} LSB (int16 output grid)",
        total / count as f64,
        worst
    );
    // The mean is rounded to an integer before centring, which shifts every
    // centred value by up to 0.5 input LSB: the worst case is small-spread
    // vectors (NUMERICS.md §4.1).
    assert!(worst <= 5.0, "LayerNorm max error {worst} LSB");
    assert!(total / count as f64 <= 0.5, "LayerNorm mean error");
}

fn attention_case(additive: bool, seed: u64) {
    use irnn_train::quant::cells::convert_attention;
    use irnn_train::quant::reference::AttentionParams;
    let (steps, dim, qdim, attn) = (20, 32, 24, 32);
    let mut rng = StdRng::seed_from_u64(seed);
    let p = if additive {
        AttentionParams::Additive {
            attn,
            w_key: uniform(&mut rng, attn * dim, 0.3),
            b_key: uniform(&mut rng, attn, 0.3),
            w_query: uniform(&mut rng, attn * qdim, 0.3),
            v: uniform(&mut rng, attn, 1.0),
        }
    } else {
        AttentionParams::Dot
    };
    let mq = AffineQuant::int8_from_range(-1.0, 1.0);
    let qq = AffineQuant::int8_from_range(-1.0, 1.0);
    let query_len = if additive { qdim } else { dim };
    let sample = |rng: &mut StdRng, n: usize, q: AffineQuant| -> (Vec<i8>, Vec<f64>) {
        let ints: Vec<i8> = (0..n)
            .map(|_| q.quantize(rng.gen_range(-1.0..1.0)))
            .collect();
        let reals = ints.iter().map(|&v| q.dequantize(v)).collect();
        (ints, reals)
    };
    let mut max_pre = 0.0f64;
    for _ in 0..20 {
        let (_, m) = sample(&mut rng, steps * dim, mq);
        let (_, q) = sample(&mut rng, query_len, qq);
        let tr = p.attend(&m, dim, &q);
        for v in tr.pre.iter().chain(&tr.keys).chain(&tr.query) {
            max_pre = max_pre.max(v.abs());
        }
    }
    let layer = convert_attention(&p, dim, qdim, mq, qq, max_pre, &mut PwlFitter::new(64)).unwrap();
    let (mut ctx_err, mut ctx_max, mut w_err) = (0.0, 0.0f64, 0.0f64);
    let trials = 20;
    for _ in 0..trials {
        let (mi, mf) = sample(&mut rng, steps * dim, mq);
        let (qi, qf) = sample(&mut rng, query_len, qq);
        let tr = p.attend(&mf, dim, &qf);
        let mem = layer.prepare(Isa::detect(), &mi).unwrap();
        let mut weights = vec![0i32; steps];
        let mut ctx = vec![0i8; dim];
        layer
            .attend(Isa::detect(), &mem, &qi, &mut weights, &mut ctx)
            .unwrap();
        for (c, e) in ctx.iter().zip(&tr.context) {
            let err = (mq.dequantize(*c) - e).abs() / mq.scale;
            ctx_err += err / (dim * trials) as f64;
            ctx_max = ctx_max.max(err);
        }
        for (w, e) in weights.iter().zip(&tr.weights) {
            w_err = w_err.max((*w as f64 / 32768.0 - e).abs());
        }
    }
    let name = if additive { "additive" } else { "dot-product" };
    println!("attention ({name}): context mean |Δ| = {ctx_err:.3} LSB, max = {ctx_max:.2} LSB; max |Δα| = {w_err:.5}");
    assert!(
        ctx_err <= 0.6 && ctx_max <= 3.0,
        "{name}: context error {ctx_err} / {ctx_max}"
    );
    assert!(w_err <= 0.01, "{name}: attention weight error {w_err}");
}

#[test]
fn attention_additive() {
    attention_case(true, 11);
}

#[test]
fn attention_dot_product() {
    attention_case(false, 12);
}

/// The PWL activations used by the layers, against the ideal integer
/// function over all int16 inputs (the numbers NUMERICS.md quotes).
#[test]
fn pwl_activation_errors() {
    use irnn_train::quant::cells::exp_table;
    use irnn_train::quant::pwl_fit::{fit_sigmoid, fit_tanh};
    let sig = fit_sigmoid(8.0 / 32767.0, 64);
    let tanh = fit_tanh(4.0 / 32767.0, 64);
    let exp = exp_table(64);
    for (name, fit) in [
        ("sigmoid [-8,8]", &sig),
        ("tanh [-4,4]", &tanh),
        ("exp [-16,0]", &exp),
    ] {
        println!(
            "PWL {name}, 64 knots: max {} LSB, mean {:.3} LSB (Q0.15)",
            fit.max_error, fit.mean_error
        );
        // Knot values interpolate the function, so a convex piece's error
        // has one sign; 64 knots over these ranges leave 10–20 LSB at most.
        assert!(fit.max_error <= 32 && fit.mean_error <= 10.0, "{name}");
    }
}
