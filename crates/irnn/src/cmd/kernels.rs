//! `irnn kernels`: which integer kernels this CPU runs, each checked
//! bit-exact against the scalar reference on a random matrix.

use anyhow::{bail, Context, Result};
use clap::Args;
use irnn_runtime::{Isa, PackedMatrix};

/// Arguments of `irnn kernels`.
#[derive(Args, Debug)]
pub struct KernelsArgs {
    /// Rows of the check matrix.
    #[arg(value_parser = crate::args::parse::dim, long, default_value_t = 4096)]
    rows: usize,
    /// Columns of the check matrix.
    #[arg(value_parser = crate::args::parse::dim, long, default_value_t = 1024)]
    cols: usize,
}

/// A deterministic pseudo-random int8 sequence (xorshift), so the check needs
/// no extra dependency.
fn pseudo_random_i8(n: usize, mut state: u64) -> Vec<i8> {
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as i8
        })
        .collect()
}

/// Streams of the batched check.
const BATCH: usize = 16;

/// Runs `irnn kernels`.
pub fn run(a: KernelsArgs) -> Result<()> {
    let (rows, cols) = (a.rows, a.cols);
    // Symmetric int8 weights, as the trainer writes them (−128 would send
    // the AVX2 and NEON v8.0 kernels to their widening fallback).
    let w: Vec<i8> = pseudo_random_i8(rows * cols, 0x9E37_79B9_7F4A_7C15)
        .into_iter()
        .map(|v| v.max(-127))
        .collect();
    // One stream and a batch of 16: batched products run other kernels
    // (AMX tiles, register tiles of several streams).
    let x = pseudo_random_i8(cols * BATCH, 0xD1B5_4A32_D192_ED03);
    let m = PackedMatrix::from_row_major(rows, cols, &w).context("packing the check matrix")?;
    let product = |isa: Isa, batch: usize| -> Result<Vec<i32>> {
        let mut acc = vec![0i32; rows * batch];
        m.matmul(isa, &x[..cols * batch], batch, &mut acc)?;
        Ok(acc)
    };
    let reference = [product(Isa::Scalar, 1)?, product(Isa::Scalar, BATCH)?];
    outln!("detected best kernel: {}", Isa::fastest().name());
    if let Ok(Some(isa)) = Isa::from_env() {
        outln!(
            "in use: {} (forced by {})",
            isa.name(),
            irnn_runtime::kernels::ISA_ENV
        );
    }
    outln!(
        "{:<18} {:>10}  bit-exact vs scalar on {rows}x{cols}, batch 1 and {BATCH}",
        "kernel",
        "available"
    );
    let mut failures = 0;
    for isa in Isa::ALL {
        let verdict = if isa.is_available() {
            if [product(isa, 1)?, product(isa, BATCH)?] == reference {
                "yes"
            } else {
                failures += 1;
                "NO — MISMATCH"
            }
        } else {
            "-"
        };
        outln!(
            "{:<18} {:>10}  {verdict}",
            isa.name(),
            if isa.is_available() { "yes" } else { "no" }
        );
    }
    if failures > 0 {
        bail!("{failures} kernel(s) disagree with the scalar reference");
    }
    Ok(())
}
