//! AVX2 requantizing epilogue ([`crate::kernels::RowRequant`]),
//! bit-exact with its scalar definition: the high multiply is computed in
//! 64-bit lanes (`vpmuldq` on even and odd lanes), the saturations by
//! explicit compares, the rounding shift exactly as gemmlowp defines it.

use core::arch::x86_64::*;

use crate::kernels::requant::{RequantOutput, RowRequant};
use crate::kernels::x86::PRE_ZERO_POINT_CLAMP;

/// # Safety
/// The CPU must support AVX2; `acc` and `out` are one row vector.
#[target_feature(enable = "avx2")]
pub unsafe fn apply_avx2<T: RequantOutput>(rq: &RowRequant, r0: usize, acc: &[i32], out: &mut [T]) {
    let (bias, mant, left, right) = rq.parts();
    let (bias, mant, left, right) = (&bias[r0..], &mant[r0..], &left[r0..], &right[r0..]);
    let n = acc.len().min(out.len());
    let full = n - n % 8;
    let zp = _mm256_set1_epi32(rq.zero_point());
    let lo = _mm256_set1_epi32(T::MIN);
    let hi = _mm256_set1_epi32(T::MAX);
    let min32 = _mm256_set1_epi32(i32::MIN);
    let max32 = _mm256_set1_epi32(i32::MAX);
    let zero = _mm256_setzero_si256();
    let one = _mm256_set1_epi32(1);
    let nudge = _mm256_set1_epi64x(1 << 30);
    // max32 where v < 0 is false, min32 where true: the saturation value for v's sign.
    let sat_for_sign = |neg: __m256i| _mm256_blendv_epi8(max32, min32, neg);
    let mut tmp = [0i32; 8];
    for i in (0..full).step_by(8) {
        // SAFETY: i + 8 <= n, and all the per-row arrays have n entries.
        let (a, b, m, l, r) = unsafe {
            (
                _mm256_loadu_si256(acc[i..].as_ptr().cast()),
                _mm256_loadu_si256(bias[i..].as_ptr().cast()),
                _mm256_loadu_si256(mant[i..].as_ptr().cast()),
                _mm256_loadu_si256(left[i..].as_ptr().cast()),
                _mm256_loadu_si256(right[i..].as_ptr().cast()),
            )
        };
        let s = _mm256_add_epi32(a, b);
        let overflow = _mm256_cmpgt_epi32(
            zero,
            _mm256_and_si256(_mm256_xor_si256(a, s), _mm256_xor_si256(b, s)),
        );
        let s = _mm256_blendv_epi8(s, sat_for_sign(_mm256_cmpgt_epi32(zero, a)), overflow);
        let shifted = _mm256_sllv_epi32(s, l);
        let kept = _mm256_cmpeq_epi32(_mm256_srav_epi32(shifted, l), s);
        let x = _mm256_blendv_epi8(sat_for_sign(_mm256_cmpgt_epi32(zero, s)), shifted, kept);
        let even = _mm256_srli_epi64(_mm256_add_epi64(_mm256_mul_epi32(x, m), nudge), 31);
        let odd = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(m, 32));
        let odd = _mm256_slli_epi64(_mm256_add_epi64(odd, nudge), 1);
        let y = _mm256_blend_epi32(even, odd, 0b1010_1010);
        let both_min = _mm256_and_si256(_mm256_cmpeq_epi32(x, min32), _mm256_cmpeq_epi32(m, min32));
        let y = _mm256_blendv_epi8(y, max32, both_min);
        let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, r), one);
        let remainder = _mm256_and_si256(y, mask);
        let y_neg = _mm256_cmpgt_epi32(zero, y);
        let threshold = _mm256_sub_epi32(_mm256_srai_epi32(mask, 1), y_neg);
        let round_up = _mm256_cmpgt_epi32(remainder, threshold);
        let z = _mm256_sub_epi32(_mm256_srav_epi32(y, r), round_up);
        let z = _mm256_max_epi32(z, _mm256_set1_epi32(-PRE_ZERO_POINT_CLAMP));
        let z = _mm256_min_epi32(z, _mm256_set1_epi32(PRE_ZERO_POINT_CLAMP));
        let o = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(z, zp), lo), hi);
        // Lanes are clamped to T's range, so the saturating packs narrow exactly.
        let words = _mm256_castsi256_si128(_mm256_permute4x64_epi64::<0b00_00_10_00>(
            _mm256_packs_epi32(o, o),
        ));
        match T::BYTES {
            // SAFETY: i + 8 <= n elements of T (2 bytes each).
            2 => unsafe { _mm_storeu_si128(out[i..].as_mut_ptr().cast(), words) },
            // SAFETY: as above, 1 byte each.
            1 => unsafe {
                _mm_storel_epi64(out[i..].as_mut_ptr().cast(), _mm_packs_epi16(words, words))
            },
            _ => {
                // SAFETY: tmp holds 8 i32.
                unsafe { _mm256_storeu_si256(tmp.as_mut_ptr().cast(), o) };
                for (d, &v) in out[i..i + 8].iter_mut().zip(&tmp) {
                    *d = T::from_clamped(v);
                }
            }
        }
    }
    rq.apply_scalar(r0 + full, &acc[full..n], &mut out[full..n]);
}
