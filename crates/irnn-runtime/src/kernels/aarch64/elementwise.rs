//! NEON versions of [`crate::kernels::elementwise`], bit-exact with the
//! scalar definitions: 8 units per iteration (int16 loads widened to two
//! int32x4 halves), the scalar code for the remainder. The fixed-point
//! steps are the instructions of [`super::requant`]: `sqshl`, `sqrdmulh`,
//! `srshl` after the negative-lane fixup, `sqadd`, `sqxtn`.

use core::arch::aarch64::*;

use crate::fixed_point::QuantizedMultiplier;
use crate::kernels::elementwise::{
    cell_update_scalar, gru_mix_scalar, gru_reset_after_scalar, product_to_i16_scalar,
    product_to_i8_scalar,
};

/// `rounding_divide_by_pot(x, e)` per lane (ties away from zero), `e ≤ 31`.
#[inline(always)]
fn rdbpot(x: int32x4_t, e: u32) -> int32x4_t {
    // SAFETY: NEON is part of every aarch64 target these kernels run on.
    unsafe {
        let neg_e = vdupq_n_s32(-(e.min(31) as i32));
        let fixup = vshrq_n_s32::<31>(vandq_s32(x, neg_e));
        vrshlq_s32(vqaddq_s32(x, fixup), neg_e)
    }
}

/// `QuantizedMultiplier::apply` per lane.
#[inline(always)]
fn apply_multiplier(x: int32x4_t, m: QuantizedMultiplier) -> int32x4_t {
    let left = m.shift.max(0);
    let right = (-m.shift).max(0) as u32;
    // SAFETY: as above.
    let y = unsafe {
        vqrdmulhq_s32(
            vqshlq_s32(x, vdupq_n_s32(left.min(31))),
            vdupq_n_s32(m.mantissa),
        )
    };
    rdbpot(y, right)
}

/// Eight int16 from `s[at..]` as two int32x4 halves.
///
/// # Safety
/// `at + 8 <= s.len()`.
#[inline(always)]
unsafe fn load8(s: &[i16], at: usize) -> [int32x4_t; 2] {
    // SAFETY: the caller keeps at + 8 within s.
    unsafe {
        let v = vld1q_s16(s.as_ptr().add(at));
        [vmovl_s16(vget_low_s16(v)), vmovl_high_s16(v)]
    }
}

/// Two int32x4 halves saturated to eight int16.
#[inline(always)]
fn narrow16(v: [int32x4_t; 2]) -> int16x8_t {
    // SAFETY: as above.
    unsafe { vcombine_s16(vqmovn_s32(v[0]), vqmovn_s32(v[1])) }
}

/// # Safety
/// The CPU must support NEON; all slices have `c.len()` elements; `cf ≤ 15`.
#[target_feature(enable = "neon")]
pub unsafe fn cell_update_neon(
    i: &[i16],
    f: &[i16],
    g: &[i16],
    c: &mut [i16],
    cf: u32,
    capped: bool,
) {
    let n = c.len();
    let full = n - n % 8;
    let one = vdupq_n_s32(1 << 15);
    for u in (0..full).step_by(8) {
        // SAFETY: u + 8 <= n for every slice.
        let (iv, fv, gv, cv) = unsafe { (load8(i, u), load8(f, u), load8(g, u), load8(c, u)) };
        let mut out = [vdupq_n_s32(0); 2];
        for h in 0..2 {
            let iu = if capped {
                vminq_s32(vsubq_s32(one, fv[h]), iv[h])
            } else {
                iv[h]
            };
            let kept = rdbpot(vmulq_s32(fv[h], cv[h]), 15);
            let added = rdbpot(vmulq_s32(iu, gv[h]), 30 - cf);
            out[h] = vqaddq_s32(kept, added);
        }
        // SAFETY: u + 8 <= n.
        unsafe { vst1q_s16(c.as_mut_ptr().add(u), narrow16(out)) };
    }
    cell_update_scalar(
        &i[full..],
        &f[full..],
        &g[full..],
        &mut c[full..],
        cf,
        capped,
    );
}

/// # Safety
/// The CPU must support NEON; all slices have `out.len()` elements.
#[target_feature(enable = "neon")]
pub unsafe fn product_to_i8_neon(
    a: &[i16],
    b: &[i16],
    m: QuantizedMultiplier,
    zero_point: i32,
    out: &mut [i8],
) {
    let n = out.len();
    let full = n - n % 8;
    let zp = vdupq_n_s32(zero_point);
    for u in (0..full).step_by(8) {
        // SAFETY: u + 8 <= n for every slice.
        let (av, bv) = unsafe { (load8(a, u), load8(b, u)) };
        let mut y = [vdupq_n_s32(0); 2];
        for h in 0..2 {
            y[h] = vqaddq_s32(apply_multiplier(vmulq_s32(av[h], bv[h]), m), zp);
        }
        // SAFETY: u + 8 <= n.
        unsafe { vst1_s8(out.as_mut_ptr().add(u), vqmovn_s16(narrow16(y))) };
    }
    product_to_i8_scalar(&a[full..], &b[full..], m, zero_point, &mut out[full..]);
}

/// # Safety
/// The CPU must support NEON; all slices have `out.len()` elements.
#[target_feature(enable = "neon")]
pub unsafe fn product_to_i16_neon(
    a: &[i16],
    b: &[i16],
    m: QuantizedMultiplier,
    zero_point: i32,
    out: &mut [i16],
) {
    let n = out.len();
    let full = n - n % 8;
    let zp = vdupq_n_s32(zero_point);
    for u in (0..full).step_by(8) {
        // SAFETY: u + 8 <= n for every slice.
        let (av, bv) = unsafe { (load8(a, u), load8(b, u)) };
        let mut y = [vdupq_n_s32(0); 2];
        for h in 0..2 {
            y[h] = vqaddq_s32(apply_multiplier(vmulq_s32(av[h], bv[h]), m), zp);
        }
        // SAFETY: u + 8 <= n.
        unsafe { vst1q_s16(out.as_mut_ptr().add(u), narrow16(y)) };
    }
    product_to_i16_scalar(&a[full..], &b[full..], m, zero_point, &mut out[full..]);
}

/// # Safety
/// The CPU must support NEON; all slices have `out.len()` elements.
#[target_feature(enable = "neon")]
pub unsafe fn gru_reset_after_neon(x: &[i16], rec: &[i16], r: &[i16], out: &mut [i16]) {
    let n = out.len();
    let full = n - n % 8;
    for u in (0..full).step_by(8) {
        // SAFETY: u + 8 <= n for every slice.
        let (xv, recv, rv) = unsafe { (load8(x, u), load8(rec, u), load8(r, u)) };
        let mut sum = [vdupq_n_s32(0); 2];
        for h in 0..2 {
            sum[h] = vaddq_s32(xv[h], rdbpot(vmulq_s32(rv[h], recv[h]), 15));
        }
        // SAFETY: u + 8 <= n.
        unsafe { vst1q_s16(out.as_mut_ptr().add(u), narrow16(sum)) };
    }
    gru_reset_after_scalar(&x[full..], &rec[full..], &r[full..], &mut out[full..]);
}

/// # Safety
/// The CPU must support NEON; `z` and `n` have `h.len()` elements.
#[target_feature(enable = "neon")]
pub unsafe fn gru_mix_neon(
    z: &[i16],
    n: &[i16],
    h: &mut [i8],
    to_q15: QuantizedMultiplier,
    out_m: QuantizedMultiplier,
    zero_point: i32,
) {
    let len = h.len();
    let full = len - len % 8;
    let zp = vdupq_n_s32(zero_point);
    let one = vdupq_n_s32(1 << 15);
    for u in (0..full).step_by(8) {
        // SAFETY: u + 8 <= len for every slice.
        let (zv, nv, hv) = unsafe {
            let h16 = vmovl_s8(vld1_s8(h.as_ptr().add(u)));
            (
                load8(z, u),
                load8(n, u),
                [vmovl_s16(vget_low_s16(h16)), vmovl_high_s16(h16)],
            )
        };
        let mut y = [vdupq_n_s32(0); 2];
        for k in 0..2 {
            let zk = vmaxq_s32(zv[k], vdupq_n_s32(0));
            let h15 = apply_multiplier(vsubq_s32(hv[k], zp), to_q15);
            // saturate to int16, kept in int32 lanes
            let h15 = vmovl_s16(vqmovn_s32(h15));
            let mixed = vaddq_s32(vmulq_s32(vsubq_s32(one, zk), nv[k]), vmulq_s32(zk, h15));
            y[k] = vqaddq_s32(apply_multiplier(mixed, out_m), zp);
        }
        // SAFETY: u + 8 <= len.
        unsafe { vst1_s8(h.as_mut_ptr().add(u), vqmovn_s16(narrow16(y))) };
    }
    gru_mix_scalar(
        &z[full..],
        &n[full..],
        &mut h[full..],
        to_q15,
        out_m,
        zero_point,
    );
}
