//! The cells' per-unit arithmetic around the activations, as kernels: the
//! LSTM cell update and output gate product, the GRU's reset-after n
//! pre-activation and its final mix. At batch 16 and H = 256 these loops
//! cost as much as a PWL table, so they get AVX-512 versions; the scalar
//! functions here are the definition (NUMERICS.md §4.2–4.3) and the SIMD
//! ones are tested bit-exact against them.

use crate::error::{check_len, Error};
use crate::fixed_point::{
    rounding_divide_by_pot, saturate_i32_to_i16, saturate_i32_to_i8, QuantizedMultiplier,
};
use crate::kernels::Isa;

use crate::fixed_point::Q15_ONE;

/// `c[u] = sat16(rdbpot(f·c, 15) + rdbpot(i'·g, 30 − cf))` with
/// `i' = min(1 − f, i)` if `capped`, else `i` (all gates Q0.15, c on the
/// grid 2^−cf, `cf ≤ 15`).
pub fn lstm_cell_update(
    isa: Isa,
    i: &[i16],
    f: &[i16],
    g: &[i16],
    c: &mut [i16],
    cell_fraction_bits: u32,
    capped: bool,
) -> Result<(), Error> {
    let n = c.len();
    check_len("cell update input gate", n, i.len())?;
    check_len("cell update forget gate", n, f.len())?;
    check_len("cell update candidate", n, g.len())?;
    if cell_fraction_bits > 15 {
        return Err(Error::InvalidParameter {
            what: "LSTM cell fraction bits must be in 0..=15",
        });
    }
    let k = isa.kernels()?;
    // SAFETY: a table this CPU runs; lengths checked above.
    unsafe { (k.lstm_cell_update)(i, f, g, c, cell_fraction_bits, capped) };
    Ok(())
}

/// The scalar definition of [`lstm_cell_update`] (lengths already equal).
pub fn cell_update_scalar(i: &[i16], f: &[i16], g: &[i16], c: &mut [i16], cf: u32, capped: bool) {
    for u in 0..c.len() {
        let fu = f[u] as i32;
        let iu = if capped {
            (Q15_ONE - fu).min(i[u] as i32)
        } else {
            i[u] as i32
        };
        let kept = rounding_divide_by_pot(fu * c[u] as i32, 15);
        let added = rounding_divide_by_pot(iu * g[u] as i32, 30 - cf);
        c[u] = saturate_i32_to_i16(kept.saturating_add(added));
    }
}

/// `out[u] = sat8(sat32(m.apply(a[u]·b[u]) + zero_point))`: a product of
/// two Q0.15 values (units of 2^−30) onto an int8 grid.
pub fn product_to_i8(
    isa: Isa,
    a: &[i16],
    b: &[i16],
    m: QuantizedMultiplier,
    zero_point: i32,
    out: &mut [i8],
) -> Result<(), Error> {
    check_len("gate product first input", out.len(), a.len())?;
    check_len("gate product second input", out.len(), b.len())?;
    let k = isa.kernels()?;
    // SAFETY: a table this CPU runs; lengths checked above.
    unsafe { (k.product_to_i8)(a, b, m, zero_point, out) };
    Ok(())
}

/// The scalar definition of [`product_to_i8`] (lengths already equal).
pub fn product_to_i8_scalar(
    a: &[i16],
    b: &[i16],
    m: QuantizedMultiplier,
    zero_point: i32,
    out: &mut [i8],
) {
    for u in 0..out.len() {
        let product = a[u] as i32 * b[u] as i32;
        out[u] = saturate_i32_to_i8(m.apply(product).saturating_add(zero_point));
    }
}

/// `out[u] = sat16(sat32(m.apply(a[u]·b[u]) + zero_point))`: a product of
/// two Q0.15 values onto an int16 grid (an LSTM's h with 16-bit
/// activations).
pub fn product_to_i16(
    isa: Isa,
    a: &[i16],
    b: &[i16],
    m: QuantizedMultiplier,
    zero_point: i32,
    out: &mut [i16],
) -> Result<(), Error> {
    check_len("gate product first input", out.len(), a.len())?;
    check_len("gate product second input", out.len(), b.len())?;
    let k = isa.kernels()?;
    // SAFETY: a table this CPU runs; lengths checked above.
    unsafe { (k.product_to_i16)(a, b, m, zero_point, out) };
    Ok(())
}

/// The scalar definition of [`product_to_i16`] (lengths already equal).
pub fn product_to_i16_scalar(
    a: &[i16],
    b: &[i16],
    m: QuantizedMultiplier,
    zero_point: i32,
    out: &mut [i16],
) {
    for u in 0..out.len() {
        let product = a[u] as i32 * b[u] as i32;
        out[u] = saturate_i32_to_i16(m.apply(product).saturating_add(zero_point));
    }
}

/// GRU, reset after the product: `out[u] = sat16(x[u] + rdbpot(r[u]·rec[u], 15))`.
pub fn gru_reset_after(
    isa: Isa,
    x: &[i16],
    rec: &[i16],
    r: &[i16],
    out: &mut [i16],
) -> Result<(), Error> {
    check_len("GRU n input part", out.len(), x.len())?;
    check_len("GRU n recurrent part", out.len(), rec.len())?;
    check_len("GRU reset gate", out.len(), r.len())?;
    let k = isa.kernels()?;
    // SAFETY: a table this CPU runs; lengths checked above.
    unsafe { (k.gru_reset_after)(x, rec, r, out) };
    Ok(())
}

/// The scalar definition of [`gru_reset_after`].
pub fn gru_reset_after_scalar(x: &[i16], rec: &[i16], r: &[i16], out: &mut [i16]) {
    for u in 0..out.len() {
        let reset = rounding_divide_by_pot(r[u] as i32 * rec[u] as i32, 15);
        out[u] = saturate_i32_to_i16(x[u] as i32 + reset);
    }
}

/// The GRU's new hidden state: with `z' = max(z, 0)` and
/// `h15 = sat16(to_q15.apply(h − zp))`,
/// `h = sat8(sat32(out_m.apply((2^15 − z')·n + z'·h15) + zp))`.
#[allow(clippy::too_many_arguments)]
pub fn gru_mix(
    isa: Isa,
    z: &[i16],
    n: &[i16],
    h: &mut [i8],
    to_q15: QuantizedMultiplier,
    out_m: QuantizedMultiplier,
    zero_point: i32,
) -> Result<(), Error> {
    check_len("GRU update gate", h.len(), z.len())?;
    check_len("GRU candidate", h.len(), n.len())?;
    let k = isa.kernels()?;
    // SAFETY: a table this CPU runs; lengths checked above.
    unsafe { (k.gru_mix)(z, n, h, to_q15, out_m, zero_point) };
    Ok(())
}

/// The scalar definition of [`gru_mix`].
pub fn gru_mix_scalar(
    z: &[i16],
    n: &[i16],
    h: &mut [i8],
    to_q15: QuantizedMultiplier,
    out_m: QuantizedMultiplier,
    zero_point: i32,
) {
    for u in 0..h.len() {
        // A sigmoid is never negative; clamping keeps a malformed table
        // from overflowing the product below.
        let zu = (z[u] as i32).max(0);
        let h15 = saturate_i32_to_i16(to_q15.apply(h[u] as i32 - zero_point)) as i32;
        let mixed = (Q15_ONE - zu) * n[u] as i32 + zu * h15;
        h[u] = saturate_i32_to_i8(out_m.apply(mixed).saturating_add(zero_point));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn fill(rng: &mut StdRng, n: usize, extreme: bool) -> Vec<i16> {
        (0..n)
            .map(|_| {
                if extreme && rng.gen_bool(0.3) {
                    *[i16::MIN, i16::MAX, 0, -1, 1, 16384, -16384]
                        .get(rng.gen_range(0..7))
                        .unwrap()
                } else {
                    rng.gen()
                }
            })
            .collect()
    }

    #[test]
    fn simd_matches_scalar() {
        let mut rng = StdRng::seed_from_u64(3);
        for isa in Isa::available() {
            for n in [0, 1, 15, 16, 17, 64, 255, 1000] {
                for extreme in [false, true] {
                    let (i, f, g) = (
                        fill(&mut rng, n, extreme),
                        fill(&mut rng, n, extreme),
                        fill(&mut rng, n, extreme),
                    );
                    let c0 = fill(&mut rng, n, extreme);
                    for cf in [0, 7, 11, 15] {
                        for capped in [false, true] {
                            let mut want = c0.clone();
                            cell_update_scalar(&i, &f, &g, &mut want, cf, capped);
                            let mut got = c0.clone();
                            lstm_cell_update(isa, &i, &f, &g, &mut got, cf, capped).unwrap();
                            assert_eq!(got, want, "{} n={n} cf={cf}", isa.name());
                        }
                    }
                    for (mantissa, shift) in [
                        (1 << 30, -30),
                        (1_518_500_250, -20),
                        (i32::MAX, 0),
                        (1 << 30, 3),
                        (0, -5),
                        (2_000_000_000, 30),
                        (1_234_567_890, -31),
                    ] {
                        let m = QuantizedMultiplier { mantissa, shift };
                        for zp in [-128, -3, 0, 127, i32::MAX] {
                            let mut want = alloc::vec![0i8; n];
                            product_to_i8_scalar(&i, &g, m, zp, &mut want);
                            let mut got = alloc::vec![0i8; n];
                            product_to_i8(isa, &i, &g, m, zp, &mut got).unwrap();
                            assert_eq!(got, want, "{} n={n} m={m:?} zp={zp}", isa.name());
                            let mut want = alloc::vec![0i16; n];
                            product_to_i16_scalar(&i, &g, m, zp, &mut want);
                            let mut got = alloc::vec![0i16; n];
                            product_to_i16(isa, &i, &g, m, zp, &mut got).unwrap();
                            assert_eq!(got, want, "{} i16 n={n} m={m:?} zp={zp}", isa.name());
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn gru_kernels_match_scalar() {
        let mut rng = StdRng::seed_from_u64(5);
        for isa in Isa::available() {
            for n in [0, 1, 16, 33, 300] {
                for extreme in [false, true] {
                    let (a, b, c) = (
                        fill(&mut rng, n, extreme),
                        fill(&mut rng, n, extreme),
                        fill(&mut rng, n, extreme),
                    );
                    let mut want = alloc::vec![0i16; n];
                    gru_reset_after_scalar(&a, &b, &c, &mut want);
                    let mut got = alloc::vec![0i16; n];
                    gru_reset_after(isa, &a, &b, &c, &mut got).unwrap();
                    assert_eq!(got, want, "{} n={n}", isa.name());
                    let h0: Vec<i8> = (0..n).map(|_| rng.gen()).collect();
                    for (to_q15, out_m, zp) in [
                        ((1_099_511_628, -24), (1 << 30, -22), 3),
                        ((i32::MAX, 7), (1_800_000_000, -31), -128),
                        ((1 << 30, 0), (i32::MAX, 30), 127),
                        ((0, 0), (1 << 30, -15), 100),
                        // h15 beyond int16 (255 · 2^9): the saturation matters.
                        ((1 << 30, 10), (1 << 30, -16), -20),
                    ] {
                        let q = |(mantissa, shift)| QuantizedMultiplier { mantissa, shift };
                        let mut want = h0.clone();
                        gru_mix_scalar(&a, &b, &mut want, q(to_q15), q(out_m), zp);
                        let mut got = h0.clone();
                        gru_mix(isa, &a, &b, &mut got, q(to_q15), q(out_m), zp).unwrap();
                        assert_eq!(got, want, "{} n={n} zp={zp}", isa.name());
                    }
                }
            }
        }
    }

    #[test]
    fn bad_lengths_are_errors() {
        let mut c = [0i16; 4];
        assert!(
            lstm_cell_update(Isa::Scalar, &[0; 3], &[0; 4], &[0; 4], &mut c, 3, false).is_err()
        );
        assert!(
            lstm_cell_update(Isa::Scalar, &[0; 4], &[0; 4], &[0; 4], &mut c, 16, false).is_err()
        );
        let m = QuantizedMultiplier {
            mantissa: 1 << 30,
            shift: 0,
        };
        assert!(product_to_i8(Isa::Scalar, &[0; 4], &[0; 3], m, 0, &mut [0; 4]).is_err());
        assert!(product_to_i16(Isa::Scalar, &[0; 3], &[0; 4], m, 0, &mut [0; 4]).is_err());
    }
}
