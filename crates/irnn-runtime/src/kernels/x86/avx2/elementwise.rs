//! AVX2 versions of [`crate::kernels::elementwise`], bit-exact with the
//! scalar definitions: 8 units per iteration in int32 lanes, the scalar code
//! for the remainder. AVX2 has no mask registers and no saturating 32 → 16/8
//! narrowing, so compares give all-ones lanes (added or blended), and
//! narrowing is `vpackssdw` (then `vpacksswb`), whose saturation composes to
//! the scalar clamp.

use core::arch::x86_64::*;

use crate::fixed_point::QuantizedMultiplier;
use crate::kernels::elementwise::{
    cell_update_scalar, gru_mix_scalar, gru_reset_after_scalar, product_to_i16_scalar,
    product_to_i8_scalar,
};

/// `rounding_divide_by_pot` (ties away from zero) of each lane by a fixed
/// exponent `e` in `0..=31`.
#[inline]
#[target_feature(enable = "avx2")]
fn rdbpot(x: __m256i, e: u32) -> __m256i {
    let zero = _mm256_setzero_si256();
    let mask = _mm256_set1_epi32(((1i64 << e) - 1) as i32);
    let remainder = _mm256_and_si256(x, mask);
    // −1 in negative lanes: threshold = mask/2 + (x < 0).
    let negative = _mm256_cmpgt_epi32(zero, x);
    let threshold = _mm256_sub_epi32(_mm256_srai_epi32::<1>(mask), negative);
    let shifted = _mm256_sra_epi32(x, _mm_cvtsi32_si128(e as i32));
    let up = _mm256_cmpgt_epi32(remainder, threshold);
    _mm256_sub_epi32(shifted, up)
}

/// The saturation value for a sign: `i32::MIN` in lanes
/// where `negative` is all ones, `i32::MAX` elsewhere.
#[inline]
#[target_feature(enable = "avx2")]
fn saturation_for(negative: __m256i) -> __m256i {
    _mm256_blendv_epi8(
        _mm256_set1_epi32(i32::MAX),
        _mm256_set1_epi32(i32::MIN),
        negative,
    )
}

/// Saturating i32 addition per lane.
#[inline]
#[target_feature(enable = "avx2")]
fn adds_epi32(a: __m256i, b: __m256i) -> __m256i {
    let zero = _mm256_setzero_si256();
    let s = _mm256_add_epi32(a, b);
    let overflow = _mm256_cmpgt_epi32(
        zero,
        _mm256_and_si256(_mm256_xor_si256(a, s), _mm256_xor_si256(b, s)),
    );
    _mm256_blendv_epi8(s, saturation_for(_mm256_cmpgt_epi32(zero, a)), overflow)
}

/// `QuantizedMultiplier::apply` per lane (one multiplier for all lanes).
#[inline]
#[target_feature(enable = "avx2")]
fn apply_multiplier(x: __m256i, m: QuantizedMultiplier) -> __m256i {
    let zero = _mm256_setzero_si256();
    let left = m.shift.max(0) as u32;
    let right = (-m.shift).max(0) as u32;
    // saturating_shift_left
    let count = _mm_cvtsi32_si128(left.min(31) as i32);
    let shifted = _mm256_sll_epi32(x, count);
    let kept = _mm256_cmpeq_epi32(_mm256_sra_epi32(shifted, count), x);
    let x = _mm256_blendv_epi8(saturation_for(_mm256_cmpgt_epi32(zero, x)), shifted, kept);
    // saturating_rounding_doubling_high_mul: (x·M + 2^30) >> 31 in i64 lanes.
    let mv = _mm256_set1_epi32(m.mantissa);
    let nudge = _mm256_set1_epi64x(1 << 30);
    let even = _mm256_srli_epi64::<31>(_mm256_add_epi64(_mm256_mul_epi32(x, mv), nudge));
    let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), mv);
    let odd = _mm256_slli_epi64::<1>(_mm256_add_epi64(odd, nudge));
    let y = _mm256_blend_epi32::<0b1010_1010>(even, odd);
    let y = if m.mantissa == i32::MIN {
        let both = _mm256_cmpeq_epi32(x, _mm256_set1_epi32(i32::MIN));
        _mm256_blendv_epi8(y, _mm256_set1_epi32(i32::MAX), both)
    } else {
        y
    };
    rdbpot(y, right.min(31))
}

/// Eight int16 from `s[at..]` widened to int32 lanes.
///
/// # Safety
/// `at + 8 <= s.len()`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn load_i16(s: &[i16], at: usize) -> __m256i {
    // SAFETY: the caller keeps at + 8 within s.
    _mm256_cvtepi16_epi32(unsafe { _mm_loadu_si128(s.as_ptr().add(at).cast()) })
}

/// Eight int32 lanes narrowed with saturation to int16 (in lane order).
#[inline]
#[target_feature(enable = "avx2")]
fn narrow_i16(v: __m256i) -> __m128i {
    let packed = _mm256_packs_epi32(v, v);
    _mm256_castsi256_si128(_mm256_permute4x64_epi64::<0b00_00_10_00>(packed))
}

/// Stores eight int32 lanes, saturated to int8, at `out[at..at + 8]`.
///
/// # Safety
/// `at + 8 <= out.len()`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn store_i8(out: &mut [i8], at: usize, v: __m256i) {
    let w = narrow_i16(v);
    let b = _mm_packs_epi16(w, w);
    // SAFETY: the caller keeps at + 8 within out.
    unsafe { _mm_storel_epi64(out.as_mut_ptr().add(at).cast(), b) };
}

/// # Safety
/// The CPU must support AVX2; all slices have `c.len()` elements; `cf ≤ 15`.
#[target_feature(enable = "avx2")]
pub unsafe fn cell_update_avx2(
    i: &[i16],
    f: &[i16],
    g: &[i16],
    c: &mut [i16],
    cf: u32,
    capped: bool,
) {
    let n = c.len();
    let full = n - n % 8;
    let one = _mm256_set1_epi32(1 << 15);
    for u in (0..full).step_by(8) {
        // SAFETY: u + 8 <= n for every slice.
        let (fv, cv, gv, mut iv) = unsafe {
            (
                load_i16(f, u),
                load_i16(c, u),
                load_i16(g, u),
                load_i16(i, u),
            )
        };
        if capped {
            iv = _mm256_min_epi32(_mm256_sub_epi32(one, fv), iv);
        }
        let kept = rdbpot(_mm256_mullo_epi32(fv, cv), 15);
        let added = rdbpot(_mm256_mullo_epi32(iv, gv), 30 - cf);
        let sum = adds_epi32(kept, added);
        // SAFETY: u + 8 <= n.
        unsafe { _mm_storeu_si128(c[u..].as_mut_ptr().cast(), narrow_i16(sum)) };
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
/// The CPU must support AVX2; all slices have `out.len()` elements.
#[target_feature(enable = "avx2")]
pub unsafe fn product_to_i8_avx2(
    a: &[i16],
    b: &[i16],
    m: QuantizedMultiplier,
    zero_point: i32,
    out: &mut [i8],
) {
    let n = out.len();
    let full = n - n % 8;
    let zp = _mm256_set1_epi32(zero_point);
    for u in (0..full).step_by(8) {
        // SAFETY: u + 8 <= n.
        let (av, bv) = unsafe { (load_i16(a, u), load_i16(b, u)) };
        let y = adds_epi32(apply_multiplier(_mm256_mullo_epi32(av, bv), m), zp);
        // SAFETY: u + 8 <= n.
        unsafe { store_i8(out, u, y) };
    }
    product_to_i8_scalar(&a[full..], &b[full..], m, zero_point, &mut out[full..]);
}

/// # Safety
/// The CPU must support AVX2; all slices have `out.len()` elements.
#[target_feature(enable = "avx2")]
pub unsafe fn product_to_i16_avx2(
    a: &[i16],
    b: &[i16],
    m: QuantizedMultiplier,
    zero_point: i32,
    out: &mut [i16],
) {
    let n = out.len();
    let full = n - n % 8;
    let zp = _mm256_set1_epi32(zero_point);
    for u in (0..full).step_by(8) {
        // SAFETY: u + 8 <= n.
        let (av, bv) = unsafe { (load_i16(a, u), load_i16(b, u)) };
        let y = adds_epi32(apply_multiplier(_mm256_mullo_epi32(av, bv), m), zp);
        // SAFETY: u + 8 <= n.
        unsafe { _mm_storeu_si128(out[u..].as_mut_ptr().cast(), narrow_i16(y)) };
    }
    product_to_i16_scalar(&a[full..], &b[full..], m, zero_point, &mut out[full..]);
}

/// # Safety
/// The CPU must support AVX2; all slices have `out.len()` elements.
#[target_feature(enable = "avx2")]
pub unsafe fn gru_reset_after_avx2(x: &[i16], rec: &[i16], r: &[i16], out: &mut [i16]) {
    let n = out.len();
    let full = n - n % 8;
    for u in (0..full).step_by(8) {
        // SAFETY: u + 8 <= n for every slice.
        let (rv, recv, xv) = unsafe { (load_i16(r, u), load_i16(rec, u), load_i16(x, u)) };
        let reset = rdbpot(_mm256_mullo_epi32(rv, recv), 15);
        let sum = _mm256_add_epi32(xv, reset);
        // SAFETY: u + 8 <= n.
        unsafe { _mm_storeu_si128(out[u..].as_mut_ptr().cast(), narrow_i16(sum)) };
    }
    gru_reset_after_scalar(&x[full..], &rec[full..], &r[full..], &mut out[full..]);
}

/// # Safety
/// The CPU must support AVX2; `z` and `n` have `h.len()` elements.
#[target_feature(enable = "avx2")]
pub unsafe fn gru_mix_avx2(
    z: &[i16],
    n: &[i16],
    h: &mut [i8],
    to_q15: QuantizedMultiplier,
    out_m: QuantizedMultiplier,
    zero_point: i32,
) {
    let len = h.len();
    let full = len - len % 8;
    let zp = _mm256_set1_epi32(zero_point);
    let one = _mm256_set1_epi32(1 << 15);
    for u in (0..full).step_by(8) {
        // SAFETY: u + 8 <= len for every slice.
        let (zv, nv, hv) = unsafe {
            (
                load_i16(z, u),
                load_i16(n, u),
                _mm256_cvtepi8_epi32(_mm_loadl_epi64(h.as_ptr().add(u).cast())),
            )
        };
        let zv = _mm256_max_epi32(zv, _mm256_setzero_si256());
        let h15 = apply_multiplier(_mm256_sub_epi32(hv, zp), to_q15);
        let h15 = _mm256_max_epi32(
            _mm256_min_epi32(h15, _mm256_set1_epi32(i16::MAX as i32)),
            _mm256_set1_epi32(i16::MIN as i32),
        );
        let mixed = _mm256_add_epi32(
            _mm256_mullo_epi32(_mm256_sub_epi32(one, zv), nv),
            _mm256_mullo_epi32(zv, h15),
        );
        let y = adds_epi32(apply_multiplier(mixed, out_m), zp);
        // SAFETY: u + 8 <= len.
        unsafe { store_i8(h, u, y) };
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
