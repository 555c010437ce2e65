//! AVX-512 versions of [`crate::kernels::elementwise`], bit-exact with the
//! scalar definitions: 16 units per iteration in int32 lanes, the scalar
//! code for the remainder.

use core::arch::x86_64::*;

use crate::fixed_point::QuantizedMultiplier;
use crate::kernels::elementwise::{
    cell_update_scalar, gru_mix_scalar, gru_reset_after_scalar, product_to_i16_scalar,
    product_to_i8_scalar,
};

/// `rounding_divide_by_pot` (ties away from zero) of each lane by a fixed
/// exponent `e` in `0..=31`.
#[inline]
#[target_feature(enable = "avx512f")]
fn rdbpot(x: __m512i, e: u32) -> __m512i {
    let mask = _mm512_set1_epi32(((1i64 << e) - 1) as i32);
    let remainder = _mm512_and_si512(x, mask);
    let negative = _mm512_cmplt_epi32_mask(x, _mm512_setzero_si512());
    let half = _mm512_srai_epi32::<1>(mask);
    let threshold = _mm512_mask_add_epi32(half, negative, half, _mm512_set1_epi32(1));
    let shifted = _mm512_sra_epi32(x, _mm_cvtsi32_si128(e as i32));
    let up = _mm512_cmpgt_epi32_mask(remainder, threshold);
    _mm512_mask_add_epi32(shifted, up, shifted, _mm512_set1_epi32(1))
}

/// Saturating i32 addition per lane.
#[inline]
#[target_feature(enable = "avx512f")]
fn adds_epi32(a: __m512i, b: __m512i) -> __m512i {
    let s = _mm512_add_epi32(a, b);
    let overflow = _mm512_cmplt_epi32_mask(
        _mm512_and_si512(_mm512_xor_si512(a, s), _mm512_xor_si512(b, s)),
        _mm512_setzero_si512(),
    );
    let a_neg = _mm512_cmplt_epi32_mask(a, _mm512_setzero_si512());
    let sat = _mm512_mask_blend_epi32(
        a_neg,
        _mm512_set1_epi32(i32::MAX),
        _mm512_set1_epi32(i32::MIN),
    );
    _mm512_mask_blend_epi32(overflow, s, sat)
}

/// `QuantizedMultiplier::apply` per lane.
#[inline]
#[target_feature(enable = "avx512f")]
fn apply_multiplier(x: __m512i, m: QuantizedMultiplier) -> __m512i {
    let left = m.shift.max(0) as u32;
    let right = (-m.shift).max(0) as u32;
    let (min32, max32) = (_mm512_set1_epi32(i32::MIN), _mm512_set1_epi32(i32::MAX));
    // saturating_shift_left
    let count = _mm_cvtsi32_si128(left.min(31) as i32);
    let shifted = _mm512_sll_epi32(x, count);
    let lost = _mm512_cmpneq_epi32_mask(_mm512_sra_epi32(shifted, count), x);
    let x_neg = _mm512_cmplt_epi32_mask(x, _mm512_setzero_si512());
    let x = _mm512_mask_blend_epi32(lost, shifted, _mm512_mask_blend_epi32(x_neg, max32, min32));
    // saturating_rounding_doubling_high_mul: (x·M + 2^30) >> 31 in i64 lanes.
    let mv = _mm512_set1_epi32(m.mantissa);
    let nudge = _mm512_set1_epi64(1 << 30);
    let even = _mm512_srli_epi64::<31>(_mm512_add_epi64(_mm512_mul_epi32(x, mv), nudge));
    let odd = _mm512_mul_epi32(_mm512_srli_epi64::<32>(x), mv);
    let odd = _mm512_slli_epi64::<1>(_mm512_add_epi64(odd, nudge));
    let y = _mm512_mask_blend_epi32(0xAAAA, even, odd);
    let y = if m.mantissa == i32::MIN {
        let both = _mm512_cmpeq_epi32_mask(x, min32);
        _mm512_mask_blend_epi32(both, y, max32)
    } else {
        y
    };
    rdbpot(y, right.min(31))
}

/// # Safety
/// The CPU must support AVX-512 F and BW; all slices have `c.len()`
/// elements; `cf ≤ 15`.
#[target_feature(enable = "avx2,avx512f,avx512bw")]
pub unsafe fn cell_update_avx512(
    i: &[i16],
    f: &[i16],
    g: &[i16],
    c: &mut [i16],
    cf: u32,
    capped: bool,
) {
    let n = c.len();
    let full = n - n % 16;
    let one = _mm512_set1_epi32(1 << 15);
    let load = |s: &[i16], at: usize| {
        // SAFETY: at + 16 <= n = s.len().
        unsafe { _mm512_cvtepi16_epi32(_mm256_loadu_si256(s[at..].as_ptr().cast())) }
    };
    for u in (0..full).step_by(16) {
        let (fv, cv, gv) = (load(f, u), load(c, u), load(g, u));
        let mut iv = load(i, u);
        if capped {
            iv = _mm512_min_epi32(_mm512_sub_epi32(one, fv), iv);
        }
        let kept = rdbpot(_mm512_mullo_epi32(fv, cv), 15);
        let added = rdbpot(_mm512_mullo_epi32(iv, gv), 30 - cf);
        let sum = adds_epi32(kept, added);
        // SAFETY: u + 16 <= n.
        unsafe { _mm256_storeu_si256(c[u..].as_mut_ptr().cast(), _mm512_cvtsepi32_epi16(sum)) };
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
/// The CPU must support AVX-512 F and BW; all slices have `out.len()`
/// elements.
#[target_feature(enable = "avx2,avx512f,avx512bw")]
pub unsafe fn product_to_i8_avx512(
    a: &[i16],
    b: &[i16],
    m: QuantizedMultiplier,
    zero_point: i32,
    out: &mut [i8],
) {
    let n = out.len();
    let full = n - n % 16;
    let zp = _mm512_set1_epi32(zero_point);
    for u in (0..full).step_by(16) {
        // SAFETY: u + 16 <= n.
        let (av, bv) = unsafe {
            (
                _mm512_cvtepi16_epi32(_mm256_loadu_si256(a[u..].as_ptr().cast())),
                _mm512_cvtepi16_epi32(_mm256_loadu_si256(b[u..].as_ptr().cast())),
            )
        };
        let y = adds_epi32(apply_multiplier(_mm512_mullo_epi32(av, bv), m), zp);
        // SAFETY: u + 16 <= n.
        unsafe { _mm_storeu_si128(out[u..].as_mut_ptr().cast(), _mm512_cvtsepi32_epi8(y)) };
    }
    product_to_i8_scalar(&a[full..], &b[full..], m, zero_point, &mut out[full..]);
}

/// # Safety
/// The CPU must support AVX-512 F and BW; all slices have `out.len()`
/// elements.
#[target_feature(enable = "avx2,avx512f,avx512bw")]
pub unsafe fn product_to_i16_avx512(
    a: &[i16],
    b: &[i16],
    m: QuantizedMultiplier,
    zero_point: i32,
    out: &mut [i16],
) {
    let n = out.len();
    let full = n - n % 16;
    let zp = _mm512_set1_epi32(zero_point);
    for u in (0..full).step_by(16) {
        // SAFETY: u + 16 <= n.
        let (av, bv) = unsafe {
            (
                _mm512_cvtepi16_epi32(_mm256_loadu_si256(a[u..].as_ptr().cast())),
                _mm512_cvtepi16_epi32(_mm256_loadu_si256(b[u..].as_ptr().cast())),
            )
        };
        let y = adds_epi32(apply_multiplier(_mm512_mullo_epi32(av, bv), m), zp);
        // SAFETY: u + 16 <= n.
        unsafe { _mm256_storeu_si256(out[u..].as_mut_ptr().cast(), _mm512_cvtsepi32_epi16(y)) };
    }
    product_to_i16_scalar(&a[full..], &b[full..], m, zero_point, &mut out[full..]);
}

/// # Safety
/// The CPU must support AVX-512 F and BW; all slices have `out.len()`
/// elements.
#[target_feature(enable = "avx2,avx512f,avx512bw")]
pub unsafe fn gru_reset_after_avx512(x: &[i16], rec: &[i16], r: &[i16], out: &mut [i16]) {
    let n = out.len();
    let full = n - n % 16;
    let load = |s: &[i16], at: usize| {
        // SAFETY: at + 16 <= n = s.len().
        unsafe { _mm512_cvtepi16_epi32(_mm256_loadu_si256(s[at..].as_ptr().cast())) }
    };
    for u in (0..full).step_by(16) {
        let reset = rdbpot(_mm512_mullo_epi32(load(r, u), load(rec, u)), 15);
        let sum = _mm512_add_epi32(load(x, u), reset);
        // SAFETY: u + 16 <= n.
        unsafe { _mm256_storeu_si256(out[u..].as_mut_ptr().cast(), _mm512_cvtsepi32_epi16(sum)) };
    }
    gru_reset_after_scalar(&x[full..], &rec[full..], &r[full..], &mut out[full..]);
}

/// # Safety
/// The CPU must support AVX-512 F and BW; `z` and `n` have `h.len()`
/// elements.
#[target_feature(enable = "avx2,avx512f,avx512bw")]
pub unsafe fn gru_mix_avx512(
    z: &[i16],
    n: &[i16],
    h: &mut [i8],
    to_q15: QuantizedMultiplier,
    out_m: QuantizedMultiplier,
    zero_point: i32,
) {
    let len = h.len();
    let full = len - len % 16;
    let zp = _mm512_set1_epi32(zero_point);
    let one = _mm512_set1_epi32(1 << 15);
    for u in (0..full).step_by(16) {
        // SAFETY: u + 16 <= len.
        let (zv, nv, hv) = unsafe {
            (
                _mm512_cvtepi16_epi32(_mm256_loadu_si256(z[u..].as_ptr().cast())),
                _mm512_cvtepi16_epi32(_mm256_loadu_si256(n[u..].as_ptr().cast())),
                _mm512_cvtepi8_epi32(_mm_loadu_si128(h[u..].as_ptr().cast())),
            )
        };
        let zv = _mm512_max_epi32(zv, _mm512_setzero_si512());
        let h15 = apply_multiplier(_mm512_sub_epi32(hv, zp), to_q15);
        let h15 = _mm512_max_epi32(
            _mm512_min_epi32(h15, _mm512_set1_epi32(i16::MAX as i32)),
            _mm512_set1_epi32(i16::MIN as i32),
        );
        let mixed = _mm512_add_epi32(
            _mm512_mullo_epi32(_mm512_sub_epi32(one, zv), nv),
            _mm512_mullo_epi32(zv, h15),
        );
        let y = adds_epi32(apply_multiplier(mixed, out_m), zp);
        // SAFETY: u + 16 <= len.
        unsafe { _mm_storeu_si128(h[u..].as_mut_ptr().cast(), _mm512_cvtsepi32_epi8(y)) };
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
