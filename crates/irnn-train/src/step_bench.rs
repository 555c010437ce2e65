//! One recurrent step, timed: the integer runtime against irnn's own f32
//! step (gate products with the `gemm` crate, one thread), for the shapes
//! users compare runtimes on. `irnn bench` prints these numbers; the
//! criterion bench `benches/step.rs` and `bench/peers/` use the same cells.
//!
//! Weights are random (`U(−1/√H, 1/√H)`, PyTorch's initialisation); timing
//! does not depend on their values, only on the shapes.

use std::time::Instant;

use irnn_runtime::kernels::WeightBits;
use irnn_runtime::layers::{
    GruScratch, GruState, IntGruCell, IntLstmCell, LstmScratch, LstmState, TwoThreadCell,
};
use irnn_runtime::{Isa, PackedMatrix};
use rand::{rngs::StdRng, Rng, SeedableRng};

use crate::quant::cells::{convert_gru, convert_lstm, AffineQuant, Ranges};
use crate::quant::pwl_fit::PwlFitter;
use crate::quant::reference::{GruParams, LstmParams};

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

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Which cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// LSTM (4 gates).
    Lstm,
    /// GRU (3 gates, reset after the product).
    Gru,
}

impl Cell {
    fn gates(self) -> usize {
        match self {
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Cell::Lstm => "lstm",
            Cell::Gru => "gru",
        }
    }
}

/// An f32 cell, input = hidden = H, `batch` streams.
pub struct F32Cell {
    cell: Cell,
    h: usize,
    batch: usize,
    w_x: Vec<f32>,
    w_h: Vec<f32>,
    bias: Vec<f32>,
    gx: Vec<f32>,
    gh: Vec<f32>,
    /// Hidden states, `batch × H`.
    pub hs: Vec<f32>,
    /// Cell states (LSTM), `batch × H`.
    pub cs: Vec<f32>,
}

impl F32Cell {
    /// One step for all streams from inputs `x` (`batch × H`).
    pub fn step(&mut self, x: &[f32]) {
        let (n, b, g) = (self.h, self.batch, self.cell.gates());
        gemm_f32(g * n, n, b, &self.w_x, x, &mut self.gx);
        gemm_f32(g * n, n, b, &self.w_h, &self.hs, &mut self.gh);
        for s in 0..b {
            let gx = &self.gx[s * g * n..(s + 1) * g * n];
            let gh = &self.gh[s * g * n..(s + 1) * g * n];
            let h = &mut self.hs[s * n..(s + 1) * n];
            match self.cell {
                Cell::Lstm => {
                    let c = &mut self.cs[s * n..(s + 1) * n];
                    for u in 0..n {
                        let z = |k: usize| gx[k * n + u] + gh[k * n + u] + self.bias[k * n + u];
                        let (i, f, cand, o) =
                            (sigmoid(z(0)), sigmoid(z(1)), z(2).tanh(), sigmoid(z(3)));
                        c[u] = f * c[u] + i * cand;
                        h[u] = o * c[u].tanh();
                    }
                }
                Cell::Gru => {
                    for u in 0..n {
                        let r = sigmoid(gx[u] + gh[u] + self.bias[u]);
                        let z = sigmoid(gx[n + u] + gh[n + u] + self.bias[n + u]);
                        let cand =
                            (gx[2 * n + u] + self.bias[2 * n + u] + r * gh[2 * n + u]).tanh();
                        h[u] = (1.0 - z) * cand + z * h[u];
                    }
                }
            }
        }
    }

    /// Bytes of its parameters (f32).
    pub fn bytes(&self) -> usize {
        4 * (self.w_x.len() + self.w_h.len() + self.bias.len())
    }
}

/// One stream's integer cell stepped by two threads.
#[allow(clippy::large_enum_variant)] // one per benchmark case
pub enum TwoThreadStep {
    /// LSTM.
    Lstm(TwoThreadCell<IntLstmCell>, LstmState, LstmScratch),
    /// GRU.
    Gru(TwoThreadCell<IntGruCell>, GruState, GruScratch),
}

impl TwoThreadStep {
    /// One step (`x`: H int8).
    pub fn step(&mut self, isa: Isa, x: &[i8]) -> Result<(), irnn_runtime::Error> {
        match self {
            TwoThreadStep::Lstm(c, st, s) => c.step(isa, x, st, s),
            TwoThreadStep::Gru(c, st, s) => c.step(isa, x, st, s),
        }
    }
}

/// The integer cell of a case with its streams' states.
#[allow(clippy::large_enum_variant)] // one per benchmark case
pub enum IntCell {
    /// LSTM.
    Lstm(IntLstmCell, Vec<LstmState>, LstmScratch),
    /// GRU.
    Gru(IntGruCell, Vec<GruState>, GruScratch),
}

impl IntCell {
    /// One step for all streams (`x`: `batch × H` int8). Batch 1 takes the
    /// single-stream path, larger batches the batched one.
    pub fn step(&mut self, isa: Isa, x: &[i8]) -> Result<(), irnn_runtime::Error> {
        match self {
            IntCell::Lstm(c, st, s) if st.len() == 1 => c.step(isa, x, &mut st[0], s),
            IntCell::Lstm(c, st, s) => c.step_batch(isa, x, st, s),
            IntCell::Gru(c, st, s) if st.len() == 1 => c.step(isa, x, &mut st[0], s),
            IntCell::Gru(c, st, s) => c.step_batch(isa, x, st, s),
        }
    }

    /// The first stream over a whole sequence `xs` (`steps × H` int8), the
    /// input product hoisted out of the recurrence (`run_sequence`).
    pub fn run_sequence(&mut self, isa: Isa, xs: &[i8]) -> Result<(), irnn_runtime::Error> {
        match self {
            IntCell::Lstm(c, st, s) => {
                c.run_sequence(isa, xs, false, &mut st[0], s, &mut |_, _| {})
            }
            IntCell::Gru(c, st, s) => c.run_sequence(isa, xs, false, &mut st[0], s, &mut |_, _| {}),
        }
    }

    /// The first stream's cell on two threads (`TwoThreadCell`) with its
    /// own zero state.
    pub fn two_threads(&self) -> Result<TwoThreadStep, irnn_runtime::Error> {
        Ok(match self {
            IntCell::Lstm(c, ..) => TwoThreadStep::Lstm(
                TwoThreadCell::new(c.clone())?,
                c.zero_state(),
                LstmScratch::default(),
            ),
            IntCell::Gru(c, ..) => TwoThreadStep::Gru(
                TwoThreadCell::new(c.clone())?,
                c.zero_state(),
                GruScratch::default(),
            ),
        })
    }

    /// Bytes of its parameters as stored: int8 weights, int32 bias and
    /// multiplier (mantissa, shift) per row, PWL tables.
    pub fn bytes(&self) -> usize {
        let pwl = |t: &irnn_runtime::PwlTable| 16 * t.knots().len();
        match self {
            IntCell::Lstm(c, ..) => {
                c.w_x.weight_bytes()
                    + c.w_h.weight_bytes()
                    + 12 * (c.requant_x.rows() + c.requant_h.rows())
                    + c.gate_activation.iter().map(pwl).sum::<usize>()
                    + pwl(&c.cell_tanh)
            }
            IntCell::Gru(c, ..) => {
                c.w_x.weight_bytes()
                    + c.w_h.weight_bytes()
                    + 12 * (c.requant_x.rows() + c.requant_h.rows())
                    + c.gate_activation.iter().map(pwl).sum::<usize>()
            }
        }
    }
}

/// One benchmark case: the same random layer as f32 and as integer cell.
pub struct Case {
    /// Cell kind.
    pub cell: Cell,
    /// Hidden size (= input size).
    pub hidden: usize,
    /// Streams stepped per call.
    pub batch: usize,
    /// The f32 version.
    pub f32: F32Cell,
    /// The integer version.
    pub int: IntCell,
    /// f32 inputs, `batch × H`.
    pub x32: Vec<f32>,
    /// int8 inputs, `batch × H`.
    pub x8: Vec<i8>,
}

impl Case {
    /// A random layer of the given shape (PWL tables with 32 knots, 8-bit weights).
    pub fn new(cell: Cell, hidden: usize, batch: usize) -> Self {
        Self::with_weight_bits(cell, hidden, batch, WeightBits::Eight)
    }

    /// The same layer with integer weights of `bits` bits.
    pub fn with_weight_bits(cell: Cell, hidden: usize, batch: usize, bits: WeightBits) -> Self {
        let mut rng = StdRng::seed_from_u64((hidden * 31 + batch) as u64);
        let k = 1.0 / (hidden as f64).sqrt();
        let g = cell.gates();
        let mut uniform = |n: usize| -> Vec<f64> { (0..n).map(|_| rng.gen_range(-k..k)).collect() };
        let (w_x, w_h, b_x, b_h) = (
            uniform(g * hidden * hidden),
            uniform(g * hidden * hidden),
            uniform(g * hidden),
            uniform(g * hidden),
        );
        let q = AffineQuant::int8_from_range(-1.0, 1.0);
        let mut ranges = Ranges::new(g);
        ranges.pre.iter_mut().for_each(|v| *v = 8.0);
        ranges.recurrent.iter_mut().for_each(|v| *v = 8.0);
        ranges.cell = 4.0;
        let mut pwl = PwlFitter::new(32);
        let int = match cell {
            Cell::Lstm => {
                let p = LstmParams {
                    input: hidden,
                    hidden,
                    w_x: w_x.clone(),
                    w_h: w_h.clone(),
                    bias: b_x.iter().zip(&b_h).map(|(a, b)| a + b).collect(),
                    gate_norm: None,
                    cell_norm: None,
                    capped_input_gate: false,
                };
                let c = convert_lstm(&p, &ranges, q, q, bits, &mut pwl).expect("valid shapes");
                let st = (0..batch).map(|_| c.zero_state()).collect();
                IntCell::Lstm(c, st, LstmScratch::default())
            }
            Cell::Gru => {
                let p = GruParams {
                    input: hidden,
                    hidden,
                    w_x: w_x.clone(),
                    w_h: w_h.clone(),
                    b_x: b_x.clone(),
                    b_h: b_h.clone(),
                    reset_before: false,
                };
                let c = convert_gru(&p, &ranges, q, q, bits, &mut pwl).expect("valid shapes");
                let st = (0..batch).map(|_| c.zero_state()).collect();
                IntCell::Gru(c, st, GruScratch::default())
            }
        };
        let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let bias: Vec<f32> = b_x.iter().zip(&b_h).map(|(a, b)| (a + b) as f32).collect();
        let f32 = F32Cell {
            cell,
            h: hidden,
            batch,
            w_x: f(&w_x),
            w_h: f(&w_h),
            bias,
            gx: vec![0.0; g * hidden * batch],
            gh: vec![0.0; g * hidden * batch],
            hs: vec![0.0; hidden * batch],
            cs: vec![0.0; hidden * batch],
        };
        let mut rng = StdRng::seed_from_u64(7);
        Self {
            cell,
            hidden,
            batch,
            f32,
            int,
            x32: (0..hidden * batch)
                .map(|_| rng.gen_range(-1.0..1.0))
                .collect(),
            x8: (0..hidden * batch).map(|_| rng.gen()).collect(),
        }
    }
}

/// Median, min and max of per-call times, µs.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Median.
    pub median_us: f64,
    /// Fastest call.
    pub min_us: f64,
    /// Slowest call.
    pub max_us: f64,
}

/// Times `calls` calls of `f` (after `calls / 10` warm-up calls), each on
/// its own; the state `f` carries moves on from call to call.
pub fn time_calls(calls: usize, mut f: impl FnMut()) -> Timing {
    for _ in 0..calls / 10 + 1 {
        f();
    }
    let mut t: Vec<f64> = (0..calls.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    Timing {
        median_us: t[t.len() / 2],
        min_us: t[0],
        max_us: t[t.len() - 1],
    }
}

/// Read bandwidth of one core over a working set of `bytes` (GB/s): the
/// best of a few passes summing the buffer as u64 words. Used for the
/// roofline with the weights' own size, so it measures the cache level (or
/// DRAM) the weights of that shape live in.
pub fn read_bandwidth_gbs(bytes: usize) -> f64 {
    let words = (bytes / 8).max(1024);
    let buf: Vec<u64> = (0..words as u64).collect();
    let passes = (256 << 20) / (words * 8) + 3;
    let mut best = f64::INFINITY;
    let mut sink = 0u64;
    for _ in 0..passes {
        let start = Instant::now();
        let mut acc = [0u64; 8];
        for chunk in buf.chunks_exact(8) {
            for (a, &v) in acc.iter_mut().zip(chunk) {
                *a = a.wrapping_add(v);
            }
        }
        sink = sink.wrapping_add(acc.iter().fold(0, |s, &v| s.wrapping_add(v)));
        best = best.min(start.elapsed().as_secs_f64());
    }
    std::hint::black_box(sink);
    (words * 8) as f64 / best / 1e9
}

/// The compute roof of the integer step on one core (GMAC/s): the `isa`
/// matrix kernel itself on a 128 × 128 matrix (16 KiB, resident in L1) for
/// `batch` streams, so loads, the packed layout and the kernel's own
/// instruction mix are counted but memory is not; the best of several
/// trials (a noisy VM can only make a trial slower). Any ISA the runtime has
/// gets a roof this way — AVX2 and NEON as much as VNNI.
/// `bits` chooses the weights' width (the 4-bit kernel, on a 128 × 256
/// matrix: the same 16 KiB).
pub fn kernel_peak_gmacs(
    isa: Isa,
    batch: usize,
    bits: WeightBits,
) -> Result<f64, irnn_runtime::Error> {
    let (rows, cols) = (128, 16 * 1024 * 8 / bits.bits() as usize / 128);
    let mut rng = StdRng::seed_from_u64(11);
    let top = bits.max_symmetric();
    let w: Vec<i8> = (0..rows * cols)
        .map(|_| rng.gen_range(-top..=top))
        .collect();
    let x: Vec<i8> = (0..cols * batch).map(|_| rng.gen()).collect();
    let m = PackedMatrix::from_row_major_bits(bits, rows, cols, &w)?;
    let mut acc = vec![0i32; rows * batch];
    m.matmul(isa, &x, batch, &mut acc)?;
    let calls = (20_000 / batch).max(50);
    let mut best = 0f64;
    for _ in 0..7 {
        let start = Instant::now();
        for _ in 0..calls {
            m.matmul(isa, std::hint::black_box(&x), batch, &mut acc)?;
        }
        let secs = start.elapsed().as_secs_f64();
        best = best.max((rows * cols * batch * calls) as f64 / secs / 1e9);
    }
    std::hint::black_box(&acc);
    Ok(best)
}
