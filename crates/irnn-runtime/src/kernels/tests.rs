//! Every kernel against the scalar reference, and the scalar reference
//! against a naive row-major product in i64.

use alloc::vec::Vec;

use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

use super::*;
use crate::fixed_point::QuantizedMultiplier;

fn naive<X: Copy + Into<i64>>(
    rows: usize,
    cols: usize,
    w: &[i8],
    x: &[X],
    batch: usize,
) -> Vec<i32> {
    let mut out = Vec::with_capacity(batch * rows);
    for b in 0..batch {
        for r in 0..rows {
            let s: i64 = (0..cols)
                .map(|c| w[r * cols + c] as i64 * x[b * cols + c].into())
                .sum();
            out.push(i32::try_from(s).unwrap());
        }
    }
    out
}

#[derive(Clone, Copy, Debug)]
enum Fill {
    /// Symmetric weights in [−127, 127] (what the trainer writes), any activation.
    Random,
    /// Any int8 weight, −128 included.
    RandomFullRange,
    /// Weights ±127 and activations −128 / 127: the largest magnitudes.
    Extreme,
    /// Weights −128 (outside the symmetric range, still exact).
    MinWeights,
}

/// `n` weights (of `bits` bits) or activations drawn as `fill` says.
fn data(rng: &mut StdRng, n: usize, fill: Fill, weights: Option<WeightBits>) -> Vec<i8> {
    let (min, sym) = match weights {
        Some(bits) => (*bits.range().start(), bits.max_symmetric()),
        None => (i8::MIN, i8::MAX),
    };
    (0..n)
        .map(|_| match (fill, weights.is_some()) {
            (Fill::Random, true) => rng.gen_range(-sym..=sym),
            (Fill::RandomFullRange, true) => rng.gen_range(min..=sym),
            (Fill::Random, false) | (Fill::RandomFullRange, false) => rng.gen(),
            (Fill::Extreme, true) => {
                if rng.gen() {
                    sym
                } else {
                    -sym
                }
            }
            (Fill::Extreme, false) | (Fill::MinWeights, false) => {
                if rng.gen() {
                    127
                } else {
                    -128
                }
            }
            (Fill::MinWeights, true) => min,
        })
        .collect()
}

fn check_all_isas(rows: usize, cols: usize, batch: usize, fill: Fill, seed: u64) {
    check_all_isas_bits(WeightBits::Eight, rows, cols, batch, fill, seed);
}

fn check_all_isas_bits(
    bits: WeightBits,
    rows: usize,
    cols: usize,
    batch: usize,
    fill: Fill,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let w = data(&mut rng, rows * cols, fill, Some(bits));
    let x = data(&mut rng, batch * cols, fill, None);
    let m = PackedMatrix::from_row_major_bits(bits, rows, cols, &w).unwrap();
    assert_eq!(m.to_row_major(), w);
    let expected = naive(rows, cols, &w, &x, batch);
    let mut reference = vec![0i32; batch * rows];
    m.matmul(Isa::Scalar, &x, batch, &mut reference).unwrap();
    assert_eq!(
        reference, expected,
        "scalar vs naive {bits:?} {rows}x{cols} batch {batch} {fill:?}"
    );
    for isa in Isa::available() {
        let mut got = vec![i32::MIN; batch * rows];
        m.matmul(isa, &x, batch, &mut got).unwrap();
        assert_eq!(
            got,
            reference,
            "{} {bits:?} {rows}x{cols} batch {batch} {fill:?}",
            isa.name()
        );
    }
}

#[test]
fn listed_shapes_all_isas() {
    let mut seed = 0;
    for cols in [1, 7, 33, 257, 1000] {
        for rows in [1, 15, 16, 17, 64, 65, 100, 200] {
            for batch in [1, 2, 3, 4, 5, 9] {
                for fill in [
                    Fill::Random,
                    Fill::RandomFullRange,
                    Fill::Extreme,
                    Fill::MinWeights,
                ] {
                    seed += 1;
                    check_all_isas(rows, cols, batch, fill, seed);
                }
            }
        }
    }
}

#[test]
fn four_bit_listed_shapes_all_isas() {
    // Odd group counts (cols 1, 7, 33) leave a half-empty last line.
    let mut seed = 1000;
    for cols in [1, 4, 7, 8, 9, 33, 257, 1000] {
        for rows in [1, 15, 16, 17, 64, 65, 100] {
            for batch in [1, 2, 3, 4, 5, 9] {
                for fill in [
                    Fill::Random,
                    Fill::RandomFullRange,
                    Fill::Extreme,
                    Fill::MinWeights,
                ] {
                    seed += 1;
                    check_all_isas_bits(WeightBits::Four, rows, cols, batch, fill, seed);
                }
            }
        }
    }
}

#[test]
fn four_bit_weights_out_of_range_are_refused_and_nibbles_round_trip() {
    assert!(PackedMatrix::from_row_major_bits(WeightBits::Four, 1, 2, &[8, 0]).is_err());
    assert!(PackedMatrix::from_row_major_bits(WeightBits::Four, 1, 2, &[0, -9]).is_err());
    let w: Vec<i8> = (-8..8).collect();
    let m = PackedMatrix::from_row_major_bits(WeightBits::Four, 2, 8, &w).unwrap();
    assert_eq!(m.to_row_major(), w);
    // 16 rows × 8 columns per 64-byte line: half the 8-bit matrix's lines.
    let m8 = PackedMatrix::from_row_major(2, 8, &w).unwrap();
    assert_eq!(2 * m.weight_bytes(), m8.weight_bytes());
}

/// `n` int16 activations drawn as `fill` says (the extremes ±32767 and −32768).
fn data_i16(rng: &mut StdRng, n: usize, fill: Fill) -> Vec<i16> {
    (0..n)
        .map(|_| match fill {
            Fill::Random | Fill::RandomFullRange => rng.gen(),
            Fill::Extreme => {
                if rng.gen() {
                    i16::MAX
                } else {
                    -i16::MAX
                }
            }
            Fill::MinWeights => i16::MIN,
        })
        .collect()
}

/// The int16-activation product of every ISA against the scalar reference,
/// and the reference against the naive i64 product.
fn check_all_isas_i16(rows: usize, cols: usize, batch: usize, fill: Fill, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let w = data(&mut rng, rows * cols, fill, Some(WeightBits::Eight));
    let x = data_i16(&mut rng, batch * cols, fill);
    let m = PackedMatrix::from_row_major(rows, cols, &w).unwrap();
    let expected = naive(rows, cols, &w, &x, batch);
    let mut reference = vec![0i32; batch * rows];
    m.matmul_i16(Isa::Scalar, &x, batch, &mut reference)
        .unwrap();
    assert_eq!(
        reference, expected,
        "scalar vs naive {rows}x{cols} batch {batch} {fill:?}"
    );
    for isa in Isa::available() {
        let mut got = vec![i32::MIN; batch * rows];
        m.matmul_i16(isa, &x, batch, &mut got).unwrap();
        assert_eq!(
            got,
            reference,
            "{} int16 {rows}x{cols} batch {batch} {fill:?}",
            isa.name()
        );
    }
}

#[test]
fn int16_activations_listed_shapes_all_isas() {
    let mut seed = 5000;
    for cols in [1, 3, 4, 5, 33, 257, 511] {
        for rows in [1, 15, 16, 17, 64, 65, 100] {
            for batch in [1, 2, 3, 5, 9] {
                for fill in [
                    Fill::Random,
                    Fill::RandomFullRange,
                    Fill::Extreme,
                    Fill::MinWeights,
                ] {
                    seed += 1;
                    check_all_isas_i16(rows, cols, batch, fill, seed);
                }
            }
        }
    }
    // The widest exact products: 516 columns of ±127 against ±32767, and
    // batches the sequence path uses.
    check_all_isas_i16(70, 516, 3, Fill::Extreme, 1);
    check_all_isas_i16(300, 129, 64, Fill::Random, 2);
}

#[test]
fn int16_activations_refuse_what_could_overflow_or_does_not_fit() {
    let x = [0i16; 517];
    let mut acc = [0i32; 2];
    let wide = PackedMatrix::from_row_major(2, 517, &[1; 1034]).unwrap();
    assert_eq!(wide.max_i16_columns(), 516);
    assert!(matches!(
        wide.matmul_i16(Isa::Scalar, &x, 1, &mut acc),
        Err(crate::Error::DimensionTooLarge { max: 516, .. })
    ));
    // A −128 weight lowers the bound.
    let mut w = [1i8; 1024];
    w[0] = -128;
    let min = PackedMatrix::from_row_major(2, 512, &w).unwrap();
    assert_eq!(min.max_i16_columns(), 511);
    assert!(min.matmul_i16(Isa::Scalar, &x[..512], 1, &mut acc).is_err());
    let four = PackedMatrix::from_row_major_bits(WeightBits::Four, 2, 4, &[1; 8]).unwrap();
    assert!(matches!(
        four.matmul_i16(Isa::Scalar, &x[..4], 1, &mut acc),
        Err(crate::Error::InvalidParameter { .. })
    ));
    let m = PackedMatrix::from_row_major(2, 4, &[1; 8]).unwrap();
    assert!(m.matmul_i16(Isa::Scalar, &x[..3], 1, &mut acc).is_err());
    assert!(m
        .matmul_i16(Isa::Scalar, &x[..4], 1, &mut acc[..1])
        .is_err());
    assert!(m.matmul_i16(Isa::Scalar, &x[..4], 1, &mut acc).is_ok());
}

/// Batches and widths around the AMX kernel's tiles: 16 streams and 64
/// columns per tile, so groups of streams with a remainder, whole and
/// partial column chunks, and row blocks with a remainder.
#[test]
fn tile_shaped_batches_all_isas() {
    let mut seed = 1000;
    for cols in [4, 60, 63, 64, 65, 128, 200, 1024] {
        for rows in [16, 17, 64, 100, 256] {
            for batch in [2, 15, 16, 17, 32, 33] {
                for fill in [Fill::Random, Fill::Extreme, Fill::MinWeights] {
                    seed += 1;
                    check_all_isas(rows, cols, batch, fill, seed);
                    check_all_isas_bits(WeightBits::Four, rows, cols, batch, fill, seed);
                }
            }
        }
    }
}

#[test]
fn batch_64_and_tall_matrix() {
    check_all_isas_bits(WeightBits::Four, 300, 129, 64, Fill::Random, 3);
    check_all_isas_bits(WeightBits::Four, 1024, 256, 1, Fill::Extreme, 4);
    check_all_isas(300, 129, 64, Fill::Random, 1);
    check_all_isas(1024, 256, 1, Fill::Extreme, 2);
}

#[test]
fn every_isa_gets_its_own_table() {
    for isa in Isa::ALL {
        match isa.kernels() {
            Ok(k) => assert_eq!(k.isa, isa),
            Err(_) => assert!(!isa.is_available(), "{}", isa.name()),
        }
        assert_eq!(Isa::from_name(isa.name()), Some(isa));
    }
    assert!(Isa::detect().is_available());
}

#[test]
fn reports_which_isas_ran() {
    // Not an assertion on speed: it documents in the test log which kernels
    // the bit-exactness tests actually covered on this machine.
    let names: Vec<_> = Isa::available().map(Isa::name).collect();
    std::println!(
        "kernels available here: {names:?}; detected best: {}",
        Isa::detect().name()
    );
    assert!(names.contains(&"scalar"));
}

#[test]
fn bad_shapes_are_errors() {
    let m = PackedMatrix::from_row_major(3, 5, &[1; 15]).unwrap();
    let mut acc = [0; 3];
    assert!(matches!(
        m.matvec(Isa::Scalar, &[0; 4], &mut acc),
        Err(crate::Error::ShapeMismatch { .. })
    ));
    assert!(m.matvec(Isa::Scalar, &[0; 5], &mut [0; 2]).is_err());
    assert!(PackedMatrix::from_row_major(3, 5, &[1; 14]).is_err());
    assert!(PackedMatrix::from_row_major(0, 5, &[]).is_err());
    assert!(matches!(
        PackedMatrix::from_row_major(1, MAX_COLS_PLUS_ONE, &[]),
        Err(crate::Error::DimensionTooLarge { .. })
    ));
}

const MAX_COLS_PLUS_ONE: usize = packed::MAX_COLS + 1;

#[test]
fn widest_matrix_does_not_overflow() {
    // 65536 columns of 127 · 127 and of −128 · −128 (the VNNI worst case).
    let cols = packed::MAX_COLS;
    let eight = [(127i8, 127i8), (-128, -128), (-128, 127), (127, -128)];
    let four = [(7i8, 127i8), (-8, -128), (-8, 127), (7, -128)];
    let cases = eight
        .map(|c| (WeightBits::Eight, c))
        .into_iter()
        .chain(four.map(|c| (WeightBits::Four, c)));
    for (bits, (w, x)) in cases {
        let m = PackedMatrix::from_row_major_bits(bits, 1, cols, &vec![w; cols]).unwrap();
        let xs = vec![x; cols];
        let expected = w as i32 * x as i32 * cols as i32;
        for isa in Isa::available() {
            let mut acc = [0];
            m.matvec(isa, &xs, &mut acc).unwrap();
            assert_eq!(acc[0], expected, "{}", isa.name());
            // Two streams: the batched kernels (AMX's tiles) too.
            let two = [xs.clone(), xs.clone()].concat();
            let mut acc = [0; 2];
            m.matmul(isa, &two, 2, &mut acc).unwrap();
            assert_eq!(acc, [expected; 2], "{} batch 2", isa.name());
        }
    }
}

fn requant_case(rng: &mut StdRng, rows: usize, extreme: bool) -> (RowRequant, Vec<i32>) {
    let pick = |r: &mut StdRng| -> i32 {
        if extreme {
            [i32::MIN, i32::MAX, 0, 1, -1, i32::MIN + 1][r.gen_range(0..6)]
        } else {
            r.gen_range(-3_000_000..3_000_000)
        }
    };
    let bias: Vec<i32> = (0..rows).map(|_| pick(rng)).collect();
    let acc: Vec<i32> = (0..rows).map(|_| pick(rng)).collect();
    let multipliers: Vec<QuantizedMultiplier> = (0..rows)
        .map(|_| QuantizedMultiplier {
            mantissa: if extreme && rng.gen() {
                i32::MAX
            } else {
                rng.gen_range(1 << 30..i32::MAX)
            },
            shift: rng.gen_range(-31..=30),
        })
        .collect();
    let zp = rng.gen_range(-200..200);
    (RowRequant::new(bias, &multipliers, zp).unwrap(), acc)
}

#[test]
fn requant_simd_matches_scalar() {
    let mut rng = StdRng::seed_from_u64(7);
    for case in 0..400 {
        let rows = [1, 7, 8, 15, 16, 17, 33, 100][case % 8];
        let (rq, acc) = requant_case(&mut rng, rows, case % 3 == 0);
        let mut ref8 = vec![0i8; rows];
        let mut ref16 = vec![0i16; rows];
        rq.apply_scalar(0, &acc, &mut ref8);
        rq.apply_scalar(0, &acc, &mut ref16);
        for r in 0..rows {
            // The definition, in i128.
            let s = (acc[r] as i128 + rq.bias(r) as i128).clamp(i32::MIN as i128, i32::MAX as i128);
            let y = rq.multiplier(r).apply(s as i32) as i128 + rq.zero_point() as i128;
            assert_eq!(ref16[r] as i128, y.clamp(-32768, 32767));
            assert_eq!(ref8[r] as i128, y.clamp(-128, 127));
        }
        for isa in Isa::available() {
            let mut got8 = vec![0i8; rows];
            let mut got16 = vec![0i16; rows];
            rq.apply(isa, &acc, &mut got8).unwrap();
            rq.apply(isa, &acc, &mut got16).unwrap();
            assert_eq!(got8, ref8, "{} int8", isa.name());
            assert_eq!(got16, ref16, "{} int16", isa.name());
            // Any row range on its own gives the same rows.
            let r0 = rng.gen_range(0..rows);
            let len = rng.gen_range(0..=rows - r0);
            let mut part = vec![0i16; len];
            rq.apply_rows(isa, r0, &acc[r0..r0 + len], &mut part)
                .unwrap();
            assert_eq!(part, ref16[r0..r0 + len], "{} rows {r0}+{len}", isa.name());
            assert!(rq
                .apply_rows(isa, r0, &acc[r0..], &mut vec![0i16; rows - r0])
                .is_ok());
            assert!(rq.apply_rows(isa, rows, &[0], &mut [0i16]).is_err());
        }
    }
}

#[test]
fn requant_rejects_bad_parameters() {
    let q = QuantizedMultiplier {
        mantissa: 1 << 30,
        shift: 0,
    };
    assert!(RowRequant::new(vec![0; 2], &[q], 0).is_err());
    assert!(RowRequant::new(vec![0], &[q], 40_000).is_err());
    let bad = QuantizedMultiplier {
        mantissa: 1 << 30,
        shift: 31,
    };
    assert!(RowRequant::new(vec![0], &[bad], 0).is_err());
    let rq = RowRequant::new(vec![0; 3], &[q; 3], 0).unwrap();
    assert!(rq.apply::<i8>(Isa::Scalar, &[0; 4], &mut [0; 4]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_shapes_all_isas(
        rows in 1usize..150,
        cols in 1usize..300,
        batch in 1usize..=64,
        seed in any::<u64>(),
    ) {
        check_all_isas(rows, cols, batch, Fill::Random, seed);
    }
}
