//! Conversion of float cells (plus calibrated ranges) to the runtime's
//! integer cells. Every real number the runtime needs becomes an integer
//! here: weights, biases with the input zero point folded in, fixed-point
//! multipliers, PWL tables fitted on each gate's own input grid.

use irnn_runtime::fixed_point::QuantizedMultiplier;
use irnn_runtime::kernels::{PackedMatrix, RowRequant, WeightBits};
use irnn_runtime::layers::{
    Activation as ActivationWidth, IntGruCell, IntLayerNorm, IntLstmCell, ResetMode,
};

use crate::quant::pwl_fit::{Activation, PwlFitter};
use crate::quant::reference::{AttentionParams, GruParams, LstmParams, StepTrace, LN_EPSILON};
use crate::quant::{quantize_multiplier, QuantError};

/// Conversion failures.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// A multiplier has no fixed-point form.
    #[error("quantization: {0}")]
    Quant(#[from] QuantError),
    /// The runtime rejected the result.
    #[error("runtime: {0}")]
    Runtime(#[from] irnn_runtime::Error),
    /// A quantization parameter given by the caller is unusable.
    #[error("{0}")]
    Invalid(&'static str),
}

/// An affine quantizer, `real = scale · (q − zero_point)`: asymmetric for
/// int8, symmetric ([`from_range`](Self::from_range)) for int16.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AffineQuant {
    /// Real value of one step.
    pub scale: f64,
    /// The integer that represents 0.
    pub zero_point: i32,
}

impl AffineQuant {
    /// The int8 quantizer of `[min, max]` (widened to include 0, as zero must
    /// be exact).
    pub fn int8_from_range(min: f64, max: f64) -> Self {
        let (min, max) = (min.min(0.0), max.max(0.0));
        let scale = ((max - min) / 255.0).max(1e-8);
        let zero_point = (-128.0 - min / scale).round().clamp(-128.0, 127.0) as i32;
        Self { scale, zero_point }
    }

    /// Nearest int8.
    pub fn quantize(&self, v: f64) -> i8 {
        ((v / self.scale).round() + self.zero_point as f64).clamp(-128.0, 127.0) as i8
    }

    /// The real value of `q`.
    pub fn dequantize(&self, q: i8) -> f64 {
        self.scale * (q as i32 - self.zero_point) as f64
    }

    /// The quantizer of `[min, max]` for activations of width `A`: the
    /// int8 one of [`int8_from_range`](Self::int8_from_range), or for
    /// int16 the symmetric one (zero point 0, `max |v|` onto 32767), which
    /// the runtime's int16 products require.
    pub fn from_range<A: ActivationWidth>(min: f64, max: f64) -> Self {
        if A::BITS == 8 {
            return Self::int8_from_range(min, max);
        }
        let m = min.abs().max(max.abs());
        Self {
            scale: (m / A::MAX as f64).max(1e-12),
            zero_point: 0,
        }
    }

    /// Nearest value of width `A` (saturated).
    pub fn quantize_as<A: ActivationWidth>(&self, v: f64) -> A {
        let q = (v / self.scale).round() + self.zero_point as f64;
        A::saturate(q.clamp(A::MIN as f64, A::MAX as f64) as i32)
    }

    /// The real value of `q` of width `A`.
    pub fn value_of<A: ActivationWidth>(&self, q: A) -> f64 {
        self.scale * (q.widen() - self.zero_point) as f64
    }
}

/// Symmetric per-row int8 quantization: `(q, scales)` with
/// `W[r][c] ≈ scales[r] · q[r][c]`, `q ∈ [−127, 127]`.
pub fn quantize_rows(w: &[f64], rows: usize, cols: usize) -> (Vec<i8>, Vec<f64>) {
    quantize_rows_bits(w, rows, cols, WeightBits::Eight)
}

/// Symmetric per-row quantization at `bits` bits: each row's largest
/// magnitude maps to `bits.max_symmetric()` (127, or 7 at 4 bits), so
/// `q ∈ [−127, 127]` or `[−7, 7]`.
pub fn quantize_rows_bits(
    w: &[f64],
    rows: usize,
    cols: usize,
    bits: WeightBits,
) -> (Vec<i8>, Vec<f64>) {
    let scales: Vec<f64> = w
        .chunks(cols.max(1))
        .take(rows)
        .map(|row| row_scale(row, bits))
        .collect();
    (quantize_rows_at(w, cols, bits, &scales), scales)
}

/// Quantizes each row `r` of a row-major matrix at the scale `scales[r]`
/// given by the caller (QAT's learned step sizes): `q = round(w / s)`
/// clamped to `±bits.max_symmetric()`.
pub fn quantize_rows_at(w: &[f64], cols: usize, bits: WeightBits, scales: &[f64]) -> Vec<i8> {
    let top = bits.max_symmetric() as f64;
    w.chunks(cols.max(1))
        .zip(scales)
        .flat_map(|(row, &s)| {
            row.iter()
                .map(move |v| (v / s).round().clamp(-top, top) as i8)
        })
        .collect()
}

/// Row scales of a cell's two weight matrices chosen by the caller instead
/// of searched by [`row_scale`]: QAT's learned step sizes
/// ([`crate::quant::lsq::LearnedSteps`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CellSteps {
    /// One per row of W_x.
    pub w_x: Vec<f64>,
    /// One per row of W_h.
    pub w_h: Vec<f64>,
}

/// How the rows of one matrix are quantized: the width, and the row scales
/// when the caller gives them (else each row's is searched).
#[derive(Clone, Copy, Debug)]
struct RowGrid<'a> {
    bits: WeightBits,
    scales: Option<&'a [f64]>,
}

impl<'a> RowGrid<'a> {
    /// Each row's scale searched ([`row_scale`]).
    fn searched(bits: WeightBits) -> Self {
        Self { bits, scales: None }
    }

    /// The grids of a cell's W_x and W_h.
    fn pair(bits: WeightBits, steps: Option<&'a CellSteps>) -> (Self, Self) {
        let grid = |scales: Option<&'a [f64]>| Self { bits, scales };
        (
            grid(steps.map(|s| &s.w_x[..])),
            grid(steps.map(|s| &s.w_h[..])),
        )
    }

    /// Rows `rows` of this grid (a matrix cut in parts).
    fn rows(self, rows: core::ops::Range<usize>) -> Self {
        Self {
            bits: self.bits,
            scales: self.scales.map(|s| &s[rows]),
        }
    }
}

/// The scale of one row of weights at `bits` bits. At 8 bits, the largest
/// magnitude maps to 127 (min/max). At 4 bits, where 7 levels a side make
/// the largest weights costly, the scale is searched: the clipping point
/// among 50 %, 52 %, … 100 % of the largest magnitude whose rounding error
/// (sum of squares over the row) is smallest.
pub fn row_scale(row: &[f64], bits: WeightBits) -> f64 {
    let top = bits.max_symmetric() as f64;
    let max = row.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if max <= 0.0 {
        return 1.0;
    }
    if bits == WeightBits::Eight {
        return max / top;
    }
    let error = |s: f64| -> f64 {
        row.iter()
            .map(|v| {
                let e = v - s * (v / s).round().clamp(-top, top);
                e * e
            })
            .sum()
    };
    (25..=50)
        .map(|c| max * c as f64 / 50.0 / top)
        .map(|s| (error(s), s))
        .fold((f64::INFINITY, max / top), |best, c| {
            if c.0 < best.0 {
                c
            } else {
                best
            }
        })
        .1
}

/// Ranges seen while running the float model on calibration data.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Ranges {
    /// max |·| of each gate's pre-activation.
    pub pre: Vec<f64>,
    /// max |·| of each gate's normalised pre-activation.
    pub pre_normed: Vec<f64>,
    /// max |·| of each gate's recurrent contribution (GRU).
    pub recurrent: Vec<f64>,
    /// max |c|.
    pub cell: f64,
    /// max |input of the cell tanh|.
    pub cell_in: f64,
}

impl Ranges {
    /// Ranges for a cell with `gates` gates.
    pub fn new(gates: usize) -> Self {
        Self {
            pre: vec![0.0; gates],
            pre_normed: vec![0.0; gates],
            recurrent: vec![0.0; gates],
            ..Self::default()
        }
    }

    /// Widens the ranges with one step's values.
    pub fn observe(&mut self, trace: &StepTrace, cell: &[f64]) {
        let gates = self.pre.len();
        let maxabs = |v: &[f64]| v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        for k in 0..gates {
            let n = trace.pre.len() / gates;
            self.pre[k] = self.pre[k].max(maxabs(&trace.pre[k * n..(k + 1) * n]));
            if !trace.pre_normed.is_empty() {
                self.pre_normed[k] =
                    self.pre_normed[k].max(maxabs(&trace.pre_normed[k * n..(k + 1) * n]));
            }
            if !trace.recurrent.is_empty() {
                self.recurrent[k] =
                    self.recurrent[k].max(maxabs(&trace.recurrent[k * n..(k + 1) * n]));
            }
        }
        self.cell = self.cell.max(maxabs(cell));
        self.cell_in = self.cell_in.max(maxabs(&trace.cell_in));
    }

    /// Widens every range to cover `other`'s.
    pub fn widen(&mut self, other: &Ranges) {
        let widen =
            |a: &mut [f64], b: &[f64]| a.iter_mut().zip(b).for_each(|(x, &y)| *x = x.max(y));
        widen(&mut self.pre, &other.pre);
        widen(&mut self.pre_normed, &other.pre_normed);
        widen(&mut self.recurrent, &other.recurrent);
        self.cell = self.cell.max(other.cell);
        self.cell_in = self.cell_in.max(other.cell_in);
    }

    /// Exponential moving average towards `seen` with momentum `m`
    /// (QAT's moving ranges).
    pub fn blend(&mut self, seen: &Ranges, m: f64) {
        let blend = |a: &mut [f64], b: &[f64]| {
            a.iter_mut()
                .zip(b)
                .for_each(|(x, &y)| *x = m * *x + (1.0 - m) * y)
        };
        blend(&mut self.pre, &seen.pre);
        blend(&mut self.pre_normed, &seen.pre_normed);
        blend(&mut self.recurrent, &seen.recurrent);
        self.cell = m * self.cell + (1.0 - m) * seen.cell;
        self.cell_in = m * self.cell_in + (1.0 - m) * seen.cell_in;
    }
}

/// The int16 grid for values up to `maxabs` (capped: beyond ±32 every
/// sigmoid/tanh is saturated anyway, and a coarser grid would waste bits).
pub fn int16_scale(maxabs: f64) -> f64 {
    maxabs.clamp(1e-3, 32.0) / 32767.0
}

/// Fraction bits of the power-of-two cell grid covering `maxabs`.
pub fn cell_fraction_bits(maxabs: f64) -> u32 {
    let int_bits = maxabs.max(1e-6).log2().ceil().max(0.0) as i32;
    (15 - int_bits).clamp(0, 15) as u32
}

fn multiplier(real: f64) -> Result<QuantizedMultiplier, ConvertError> {
    Ok(quantize_multiplier(real)?)
}

fn round_i32(v: f64) -> i32 {
    v.round().clamp(i32::MIN as f64, i32::MAX as f64) as i32
}

/// One side (input or recurrent) of the gate products: packed weights and
/// the epilogue to the gate grids. `gate_scales[k]` is gate k's int16 grid;
/// `bias` (in real units, may be empty) is folded in.
fn gate_side(
    w: &[f64],
    rows: usize,
    cols: usize,
    grid: RowGrid,
    input: AffineQuant,
    gate_scales: &[f64],
    bias: &[f64],
) -> Result<(PackedMatrix, RowRequant), ConvertError> {
    let bits = grid.bits;
    let (q, scales) = match grid.scales {
        Some(scales) => {
            check_steps(scales, rows)?;
            (quantize_rows_at(w, cols, bits, scales), scales.to_vec())
        }
        None => quantize_rows_bits(w, rows, cols, bits),
    };
    let per_gate = rows / gate_scales.len();
    let mut biases = Vec::with_capacity(rows);
    let mut multipliers = Vec::with_capacity(rows);
    for r in 0..rows {
        let acc_scale = scales[r] * input.scale;
        let row_sum: i64 = q[r * cols..(r + 1) * cols].iter().map(|&v| v as i64).sum();
        let b = bias.get(r).map_or(0.0, |b| b / acc_scale);
        biases.push(round_i32(b - (input.zero_point as i64 * row_sum) as f64));
        multipliers.push(multiplier(acc_scale / gate_scales[r / per_gate])?);
    }
    Ok((
        PackedMatrix::from_row_major_bits(bits, rows, cols, &q)?,
        RowRequant::new(biases, &multipliers, 0)?,
    ))
}

/// Given row scales must be one per row, finite and positive.
fn check_steps(scales: &[f64], rows: usize) -> Result<(), ConvertError> {
    if scales.len() != rows || !scales.iter().all(|s| s.is_finite() && *s > 0.0) {
        return Err(ConvertError::Invalid(
            "learned row scales must be one positive finite value per row",
        ));
    }
    Ok(())
}

/// An integer LayerNorm from input grid `s_in` to output grid `s_out`.
pub fn convert_layer_norm(
    gamma: &[f64],
    beta: &[f64],
    s_in: f64,
    s_out: f64,
) -> Result<IntLayerNorm, ConvertError> {
    let unit = 2f64.powi(-(irnn_runtime::layers::norm::NORMALIZED_FRACTION_BITS as i32));
    let g = gamma
        .iter()
        .map(|g| multiplier(g.abs() * unit / s_out))
        .collect::<Result<Vec<_>, _>>()?;
    let eps = (LN_EPSILON / (s_in * s_in)
        * 2f64.powi(irnn_runtime::layers::norm::VARIANCE_FRACTION_BITS as i32))
    .round() as u64;
    Ok(IntLayerNorm::new(
        eps,
        g,
        gamma.iter().map(|g| *g < 0.0).collect(),
        beta.iter().map(|b| round_i32(b / s_out)).collect(),
    )?)
}

/// Converts a float LSTM cell. `x` and `h` are the int8 grids of the input
/// and the hidden state; `bits` the width of both weight matrices; `pwl`
/// fits (or recalls) the activation tables.
pub fn convert_lstm<A: ActivationWidth>(
    p: &LstmParams,
    ranges: &Ranges,
    x: AffineQuant,
    h: AffineQuant,
    bits: WeightBits,
    pwl: &mut PwlFitter,
) -> Result<IntLstmCell<A>, ConvertError> {
    convert_lstm_with_steps(p, ranges, x, h, bits, None, pwl)
}

/// [`convert_lstm`] with the weight rows' scales given (`steps`) instead
/// of searched. `A` is the activation width of `x` and `h` (int8, or int16
/// for a speech encoder's 16-bit activations: then both grids must be
/// symmetric).
pub fn convert_lstm_with_steps<A: ActivationWidth>(
    p: &LstmParams,
    ranges: &Ranges,
    x: AffineQuant,
    h: AffineQuant,
    bits: WeightBits,
    steps: Option<&CellSteps>,
    pwl: &mut PwlFitter,
) -> Result<IntLstmCell<A>, ConvertError> {
    let n = p.hidden;
    let gate_scales: Vec<f64> = ranges.pre.iter().map(|&m| int16_scale(m)).collect();
    let (grid_x, grid_h) = RowGrid::pair(bits, steps);
    let (w_x, requant_x) = gate_side(&p.w_x, 4 * n, p.input, grid_x, x, &gate_scales, &p.bias)?;
    let (w_h, requant_h) = gate_side(&p.w_h, 4 * n, n, grid_h, h, &gate_scales, &[])?;
    let (gate_norm, act_scales) = match &p.gate_norm {
        Some((g, b)) => {
            let out: Vec<f64> = ranges.pre_normed.iter().map(|&m| int16_scale(m)).collect();
            let norms: Vec<IntLayerNorm> = (0..4)
                .map(|k| {
                    let s = k * n..(k + 1) * n;
                    convert_layer_norm(&g[s.clone()], &b[s], gate_scales[k], out[k])
                })
                .collect::<Result<_, _>>()?;
            let norms: [IntLayerNorm; 4] = norms.try_into().expect("four gates");
            (Some(norms), out)
        }
        None => (None, gate_scales.clone()),
    };
    let gate_activation = [
        pwl.table(Activation::Sigmoid, act_scales[0]),
        pwl.table(Activation::Sigmoid, act_scales[1]),
        pwl.table(Activation::Tanh, act_scales[2]),
        pwl.table(Activation::Sigmoid, act_scales[3]),
    ];
    let cf = cell_fraction_bits(ranges.cell);
    let cell_scale = 2f64.powi(-(cf as i32));
    let (cell_norm, tanh_scale) = match &p.cell_norm {
        Some((g, b)) => {
            let out = int16_scale(ranges.cell_in);
            (Some(convert_layer_norm(g, b, cell_scale, out)?), out)
        }
        None => (None, cell_scale),
    };
    let cell = IntLstmCell {
        input: p.input,
        hidden: n,
        w_x,
        w_h,
        requant_x,
        requant_h,
        gate_norm,
        gate_activation,
        cell_fraction_bits: cf,
        capped_input_gate: p.capped_input_gate,
        cell_norm,
        cell_tanh: pwl.table(Activation::Tanh, tanh_scale),
        output_multiplier: multiplier(2f64.powi(-30) / h.scale)?,
        h_zero_point: h.zero_point,
        activation: core::marker::PhantomData,
    };
    cell.validate()?;
    Ok(cell)
}

/// Converts a float GRU cell (weights at `bits` bits).
pub fn convert_gru(
    p: &GruParams,
    ranges: &Ranges,
    x: AffineQuant,
    h: AffineQuant,
    bits: WeightBits,
    pwl: &mut PwlFitter,
) -> Result<IntGruCell, ConvertError> {
    convert_gru_with_steps(p, ranges, x, h, bits, None, pwl)
}

/// [`convert_gru`] with the weight rows' scales given (`steps`) instead
/// of searched.
pub fn convert_gru_with_steps(
    p: &GruParams,
    ranges: &Ranges,
    x: AffineQuant,
    h: AffineQuant,
    bits: WeightBits,
    steps: Option<&CellSteps>,
    pwl: &mut PwlFitter,
) -> Result<IntGruCell, ConvertError> {
    let n = p.hidden;
    let (grid_x, grid_h) = RowGrid::pair(bits, steps);
    // r and z: the gate pre-activation grid. n: the grid must hold the
    // input part, the recurrent part and their sum.
    let mut gate_scales: Vec<f64> = ranges.pre.iter().map(|&m| int16_scale(m)).collect();
    gate_scales[2] = int16_scale(ranges.pre[2].max(ranges.recurrent[2]));
    let (w_x, requant_x) = gate_side(&p.w_x, 3 * n, p.input, grid_x, x, &gate_scales, &p.b_x)?;
    let (w_h, w_hn, requant_h) = if p.reset_before {
        let (w_rz, rq_rz) = gate_side(
            &p.w_h[..2 * n * n],
            2 * n,
            n,
            grid_h.rows(0..2 * n),
            h,
            &gate_scales[..2],
            &p.b_h[..2 * n],
        )?;
        let (w_n, rq_n) = gate_side(
            &p.w_h[2 * n * n..],
            n,
            n,
            grid_h.rows(2 * n..3 * n),
            h,
            &gate_scales[2..],
            &p.b_h[2 * n..],
        )?;
        // One epilogue for all 3H rows: concatenate.
        let rows = 3 * n;
        let biases = (0..rows)
            .map(|r| {
                if r < 2 * n {
                    rq_rz.bias(r)
                } else {
                    rq_n.bias(r - 2 * n)
                }
            })
            .collect();
        let mults: Vec<QuantizedMultiplier> = (0..rows)
            .map(|r| {
                if r < 2 * n {
                    rq_rz.multiplier(r)
                } else {
                    rq_n.multiplier(r - 2 * n)
                }
            })
            .collect();
        (w_rz, Some(w_n), RowRequant::new(biases, &mults, 0)?)
    } else {
        let (w, rq) = gate_side(&p.w_h, 3 * n, n, grid_h, h, &gate_scales, &p.b_h)?;
        (w, None, rq)
    };
    let cell = IntGruCell {
        input: p.input,
        hidden: n,
        reset: if p.reset_before {
            ResetMode::Before
        } else {
            ResetMode::After
        },
        w_x,
        w_h,
        w_hn,
        requant_x,
        requant_h,
        gate_activation: [
            pwl.table(Activation::Sigmoid, gate_scales[0]),
            pwl.table(Activation::Sigmoid, gate_scales[1]),
            pwl.table(Activation::Tanh, gate_scales[2]),
        ],
        h_to_q15: multiplier(h.scale * 32768.0)?,
        output_multiplier: multiplier(2f64.powi(-30) / h.scale)?,
        h_zero_point: h.zero_point,
    };
    cell.validate()?;
    Ok(cell)
}

/// The grid of exp's input in the integer softmax: [−16, 0] over int16
/// (exp(−16) ≈ 1e−7 is below Q0.15's resolution anyway).
pub const EXP_INPUT_SCALE: f64 = 16.0 / 32768.0;

/// An exp table for the integer softmax (inputs ≤ 0 on [`EXP_INPUT_SCALE`],
/// output Q0.15).
pub fn exp_table(knots: usize) -> crate::quant::pwl_fit::PwlFit {
    let target = crate::quant::pwl_fit::ideal_outputs(
        |x| if x <= 0.0 { x.exp() } else { 1.0 },
        EXP_INPUT_SCALE,
        crate::quant::pwl_fit::Q15,
    );
    crate::quant::pwl_fit::fit_adaptive(&target, knots, 1)
}

/// Converts float attention. `memory` and `query` are the int8 grids of the
/// memory and the query; `max_pre` bounds |W_k m + b + W_q q| (and each part)
/// from calibration; the context uses the memory's grid (a convex
/// combination of memory rows stays in its range).
pub fn convert_attention(
    p: &crate::quant::reference::AttentionParams,
    memory_dim: usize,
    query_dim: usize,
    memory: AffineQuant,
    query: AffineQuant,
    max_pre: f64,
    pwl: &mut PwlFitter,
) -> Result<irnn_runtime::layers::IntAttention, ConvertError> {
    use irnn_runtime::layers::{AttentionScore, IntAttention};
    let (score, score_scale) = match p {
        crate::quant::reference::AttentionParams::Additive {
            attn,
            w_key,
            b_key,
            w_query,
            v,
        } => {
            let s_a = int16_scale(max_pre);
            let (w_key, key_requant) = gate_side(
                w_key,
                *attn,
                memory_dim,
                RowGrid::searched(WeightBits::Eight),
                memory,
                &[s_a],
                b_key,
            )?;
            let (w_query, query_requant) = gate_side(
                w_query,
                *attn,
                query_dim,
                RowGrid::searched(WeightBits::Eight),
                query,
                &[s_a],
                &[],
            )?;
            let v_max = v.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-12);
            let s_v = v_max / 127.0;
            let vq = v
                .iter()
                .map(|x| (x / s_v).round().clamp(-127.0, 127.0) as i8)
                .collect();
            (
                AttentionScore::Additive {
                    w_key,
                    key_requant,
                    w_query,
                    query_requant,
                    tanh: pwl.table(Activation::Tanh, s_a),
                    v: vq,
                },
                s_v * crate::quant::pwl_fit::Q15,
            )
        }
        crate::quant::reference::AttentionParams::Dot => (
            AttentionScore::Dot {
                query_zero_point: query.zero_point,
            },
            memory.scale * query.scale,
        ),
    };
    let attention = IntAttention {
        score,
        memory_dim,
        memory_zero_point: memory.zero_point,
        score_to_exp: multiplier(score_scale / EXP_INPUT_SCALE)?,
        exp: exp_table(pwl.knots()).table,
        context_multiplier: multiplier(crate::quant::pwl_fit::Q15)?,
        context_zero_point: memory.zero_point,
    };
    attention.validate()?;
    Ok(attention)
}

pub(crate) fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// The f64 reference cell of a float LSTM layer.
pub fn lstm_params(cell: &crate::nn::lstm::Lstm<f32>) -> LstmParams {
    let w = &cell.weights;
    let n = cell.hidden;
    LstmParams {
        input: cell.input,
        hidden: n,
        w_x: f64s(&w.w_ih.value),
        w_h: f64s(&w.w_hh.value),
        bias: w
            .b_ih
            .value
            .iter()
            .zip(&w.b_hh.value)
            .map(|(&a, &b)| a as f64 + b as f64)
            .collect(),
        gate_norm: cell
            .norm
            .as_ref()
            .map(|m| (f64s(&m.gate_gamma.value), f64s(&m.gate_beta.value))),
        cell_norm: cell
            .norm
            .as_ref()
            .map(|m| (f64s(&m.cell_gamma.value), f64s(&m.cell_beta.value))),
        capped_input_gate: cell.capped_input_gate,
    }
}

/// The f64 reference cell of a float GRU layer.
pub fn gru_params(cell: &crate::nn::gru::Gru<f32>) -> GruParams {
    let w = &cell.weights;
    GruParams {
        input: cell.input,
        hidden: cell.hidden,
        w_x: f64s(&w.w_ih.value),
        w_h: f64s(&w.w_hh.value),
        b_x: f64s(&w.b_ih.value),
        b_h: f64s(&w.b_hh.value),
        reset_before: cell.reset_before,
    }
}

/// The f64 reference of a float additive attention.
pub fn attention_params(a: &crate::nn::attention::AdditiveAttention<f32>) -> AttentionParams {
    AttentionParams::Additive {
        attn: a.attn(),
        w_key: f64s(&a.key.weight.value),
        b_key: f64s(&a.key.bias.value),
        w_query: f64s(&a.query.value),
        v: f64s(&a.v.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn squared_error(row: &[f64], s: f64, top: f64) -> f64 {
        row.iter()
            .map(|v| (v - s * (v / s).round().clamp(-top, top)).powi(2))
            .sum()
    }

    #[test]
    fn four_bit_row_scales_clip_where_that_lowers_the_error_and_eight_bit_ones_do_not() {
        // One outlier beside many weights of up to half its size: clipping
        // it (to 84 % here) buys the others resolution.
        let row: Vec<f64> = (0..64)
            .map(|i| {
                if i == 0 {
                    1.0
                } else {
                    0.5 * ((i as f64) * 0.7).sin()
                }
            })
            .collect();
        let minmax = 1.0 / 7.0;
        let s = row_scale(&row, WeightBits::Four);
        assert!(s < minmax && s >= 0.5 * minmax, "{s}");
        assert!(squared_error(&row, s, 7.0) < squared_error(&row, minmax, 7.0));
        assert_eq!(row_scale(&row, WeightBits::Eight), 1.0 / 127.0);
        assert_eq!(row_scale(&[0.0; 4], WeightBits::Four), 1.0);
        let (q, scales) = quantize_rows_bits(&row, 1, 64, WeightBits::Four);
        assert_eq!(scales, vec![s]);
        assert!(q.iter().all(|&v| (-7..=7).contains(&v)));
    }
}
