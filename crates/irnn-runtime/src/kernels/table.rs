//! The kernel table: every operation the layers call on vectors, one slot
//! each, for one implementation.
//!
//! The shape is tract's `linalg`: [`GENERIC`] fills every slot with the
//! scalar reference, and each architecture's table starts from it and
//! replaces only what it does better (`Kernels { matmul: …, ..GENERIC }`).
//! [`super::Isa::kernels`] hands out the table of an implementation the CPU
//! can run, so a caller (a layer, a test, a benchmark) picks the
//! implementation once and every call after that is an indirect call with no
//! further dispatch. Adding an architecture means adding a table, not
//! touching the operations.
//!
//! Slots hold `unsafe fn` pointers because SIMD kernels are compiled with
//! `#[target_feature]`: calling one is sound only on a CPU with those
//! features. The tables are only reachable through `Isa::kernels`, which
//! checks that, and the public wrappers (`PackedMatrix::matmul`,
//! `RowRequant::apply`, `PwlTable::eval_i16`, `elementwise::*`) check every
//! length before calling a slot; each slot's contract is "lengths already
//! checked".

use crate::fixed_point::QuantizedMultiplier;
use crate::pwl::PwlTable;

use super::packed::PackedMatrix;
use super::requant::RowRequant;
use super::{elementwise, scalar, Isa};

/// `acc[b·rows + r] = Σ_c W[r][c] · x[b·cols + c]`.
pub type MatmulFn = unsafe fn(&PackedMatrix, &[i8], usize, &mut [i32]);
/// `acc[b·rows + r] = Σ_c W[r][c] · x[b·cols + c]` with int16 activations.
pub type MatmulI16Fn = unsafe fn(&PackedMatrix, &[i16], usize, &mut [i32]);
/// Requantize rows `r0..r0 + acc.len()` of one vector.
pub type RequantFn<T> = unsafe fn(&RowRequant, usize, &[i32], &mut [T]);
/// PWL over int16 inputs.
pub type PwlFn = unsafe fn(&PwlTable, &[i16], &mut [i16]);
/// LSTM cell update `(i, f, g, c, cell_fraction_bits, capped)`.
pub type CellUpdateFn = unsafe fn(&[i16], &[i16], &[i16], &mut [i16], u32, bool);
/// Product of two Q0.15 vectors onto an int8 grid `(a, b, m, zero_point, out)`.
pub type ProductFn = unsafe fn(&[i16], &[i16], QuantizedMultiplier, i32, &mut [i8]);
/// Product of two Q0.15 vectors onto an int16 grid.
pub type ProductI16Fn = unsafe fn(&[i16], &[i16], QuantizedMultiplier, i32, &mut [i16]);
/// GRU reset-after `(x, rec, r, out)`.
pub type ResetAfterFn = unsafe fn(&[i16], &[i16], &[i16], &mut [i16]);
/// GRU mix `(z, n, h, to_q15, out_m, zero_point)`.
pub type GruMixFn =
    unsafe fn(&[i16], &[i16], &mut [i8], QuantizedMultiplier, QuantizedMultiplier, i32);

/// One implementation of every kernel.
#[derive(Clone, Copy)]
pub struct Kernels {
    /// Which implementation this is.
    pub isa: Isa,
    /// int8 matrix × int8 vectors → int32.
    pub matmul: MatmulFn,
    /// 4-bit matrix ([`super::packed::WeightBits::Four`]) × int8 vectors → int32.
    pub matmul_i4: MatmulFn,
    /// int8 matrix × int16 vectors → int32 (columns bounded so the sums
    /// stay exact: [`PackedMatrix::max_i16_columns`]).
    pub matmul_i16: MatmulI16Fn,
    /// Bias + per-row requantization to int8.
    pub requant_i8: RequantFn<i8>,
    /// Bias + per-row requantization to int16.
    pub requant_i16: RequantFn<i16>,
    /// PWL activation.
    pub pwl_i16: PwlFn,
    /// LSTM cell update.
    pub lstm_cell_update: CellUpdateFn,
    /// LSTM `o · tanh(c)` onto the h grid (and any Q0.15 product to int8).
    pub product_to_i8: ProductFn,
    /// The same product onto an int16 grid (h with 16-bit activations).
    pub product_to_i16: ProductI16Fn,
    /// GRU reset applied after the recurrent product.
    pub gru_reset_after: ResetAfterFn,
    /// GRU `(1 − z)·n + z·h`.
    pub gru_mix: GruMixFn,
}

impl core::fmt::Debug for Kernels {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Kernels").field("isa", &self.isa).finish()
    }
}

/// The scalar reference in every slot: the definition of each operation,
/// what every other table is tested against, and what a target without SIMD
/// kernels runs.
pub const GENERIC: Kernels = Kernels {
    isa: Isa::Scalar,
    matmul: scalar::matmul,
    matmul_i4: scalar::matmul_i4,
    matmul_i16: scalar::matmul_i16,
    requant_i8: RowRequant::apply_scalar::<i8>,
    requant_i16: RowRequant::apply_scalar::<i16>,
    pwl_i16: PwlTable::eval_scalar,
    lstm_cell_update: elementwise::cell_update_scalar,
    product_to_i8: elementwise::product_to_i8_scalar,
    product_to_i16: elementwise::product_to_i16_scalar,
    gru_reset_after: elementwise::gru_reset_after_scalar,
    gru_mix: elementwise::gru_mix_scalar,
};
