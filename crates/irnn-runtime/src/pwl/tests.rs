use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

use super::*;

/// All 65536 int16 inputs.
fn every_i16() -> Vec<i16> {
    (i16::MIN..=i16::MAX).collect()
}

fn check_simd(t: &PwlTable) {
    let xs = every_i16();
    let mut reference = vec![0i16; xs.len()];
    t.eval_scalar(&xs, &mut reference);
    for isa in Isa::available() {
        let mut got = vec![0i16; xs.len()];
        t.eval_i16(isa, &xs, &mut got).unwrap();
        assert_eq!(got, reference, "{}", isa.name());
        // Odd lengths exercise the scalar tail.
        let mut tail = vec![0i16; 37];
        t.eval_i16(isa, &xs[1000..1037], &mut tail).unwrap();
        assert_eq!(tail, reference[1000..1037]);
    }
}

fn random_table(rng: &mut StdRng, n: usize) -> PwlTable {
    let mut knots: Vec<i32> = (0..n).map(|_| rng.gen_range(-32768..=32767)).collect();
    knots.sort_unstable();
    knots.dedup();
    while knots.len() < 2 {
        knots = vec![-5, 5];
    }
    let values = knots
        .iter()
        .map(|_| rng.gen_range(-32768..=32767))
        .collect();
    PwlTable::from_points(knots, values).unwrap()
}

#[test]
fn passes_through_its_points_and_saturates_outside() {
    let t = PwlTable::from_points(vec![-100, 0, 50, 300], vec![-32768, 0, 1000, 32767]).unwrap();
    for (k, v) in t.knots().iter().zip(t.values()) {
        assert_eq!(t.eval(*k as i16) as i32, *v);
    }
    assert_eq!(t.eval(i16::MIN), -32768);
    assert_eq!(t.eval(i16::MAX), 32767);
    assert_eq!(t.eval(25), 500);
    // Linear in between: within one LSB of the exact interpolation.
    for x in -100..300i32 {
        let j = t.knots().partition_point(|&k| k <= x) - 1;
        let (k0, k1) = (t.knots()[j] as i64, t.knots()[j + 1] as i64);
        let (v0, v1) = (t.values()[j] as i64, t.values()[j + 1] as i64);
        // |y − exact| ≤ 1 with exact = v0 + (x − k0)(v1 − v0)/(k1 − k0),
        // cross-multiplied to stay in integers.
        let y = t.eval(x as i16) as i64;
        let err_scaled = y * (k1 - k0) - (v0 * (k1 - k0) + (x as i64 - k0) * (v1 - v0));
        assert!(err_scaled.abs() <= k1 - k0, "x = {x}");
    }
}

#[test]
fn simd_matches_scalar_on_every_input() {
    let mut rng = StdRng::seed_from_u64(11);
    for n in [2, 3, 4, 5, 8, 16, 17, 31, 32, 33, 64, 200] {
        check_simd(&random_table(&mut rng, n));
    }
    // The widest segment with the steepest slope.
    check_simd(&PwlTable::from_points(vec![-32768, 32767], vec![-32768, 32767]).unwrap());
    check_simd(&PwlTable::from_points(vec![-32768, 32767], vec![32767, -32768]).unwrap());
    check_simd(&PwlTable::from_points(vec![0, 1], vec![-32768, 32767]).unwrap());
}

#[test]
fn int8_inputs_match_int16_path() {
    let t = PwlTable::from_points(vec![-100, -3, 0, 90], vec![0, 100, 2000, 4096]).unwrap();
    let xs: Vec<i8> = (i8::MIN..=i8::MAX).collect();
    for isa in Isa::available() {
        let mut got = vec![0i16; xs.len()];
        t.eval_i8(isa, &xs, &mut got).unwrap();
        for (x, y) in xs.iter().zip(&got) {
            assert_eq!(*y, t.eval(*x as i16));
        }
    }
}

#[test]
fn rejects_malformed_tables() {
    assert!(PwlTable::from_points(vec![0], vec![0]).is_err());
    assert!(PwlTable::from_points(vec![1, 1], vec![0, 0]).is_err());
    assert!(PwlTable::from_points(vec![2, 1], vec![0, 0]).is_err());
    assert!(PwlTable::from_points(vec![0, 40_000], vec![0, 0]).is_err());
    assert!(PwlTable::new(vec![0, 10], vec![0, 0], vec![1], vec![31]).is_err());
    // 9 · 2^28 overflows int32.
    assert!(PwlTable::new(vec![0, 10], vec![0, 0], vec![1 << 28], vec![0]).is_err());
    assert!(PwlTable::new(vec![0, 10], vec![0, 0, 0], vec![1], vec![0]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn simd_matches_scalar_random(seed in any::<u64>(), n in 2usize..80, len in 0usize..200) {
        let mut rng = StdRng::seed_from_u64(seed);
        let t = random_table(&mut rng, n);
        let xs: Vec<i16> = (0..len).map(|_| rng.gen()).collect();
        let mut reference = vec![0i16; len];
        t.eval_scalar(&xs, &mut reference);
        for isa in Isa::available() {
            let mut got = vec![0i16; len];
            t.eval_i16(isa, &xs, &mut got).unwrap();
            prop_assert_eq!(&got, &reference);
        }
    }
}
