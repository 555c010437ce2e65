//! AVX-512 requantizing epilogue ([`crate::kernels::RowRequant`]),
//! bit-exact with its scalar definition: the high multiply is computed in
//! 64-bit lanes (`vpmuldq` on even and odd lanes), the saturations by
//! explicit compares, the rounding shift exactly as gemmlowp defines it.

use core::arch::x86_64::*;

use crate::kernels::requant::{RequantOutput, RowRequant};
use crate::kernels::x86::PRE_ZERO_POINT_CLAMP;

/// # Safety
/// The CPU must support AVX-512 F and BW; `acc` and `out` are one row vector.
#[target_feature(enable = "avx2,avx512f,avx512bw")]
pub unsafe fn apply_avx512<T: RequantOutput>(
    rq: &RowRequant,
    r0: usize,
    acc: &[i32],
    out: &mut [T],
) {
    let (bias, mant, left, right) = rq.parts();
    let (bias, mant, left, right) = (&bias[r0..], &mant[r0..], &left[r0..], &right[r0..]);
    let n = acc.len().min(out.len());
    let full = n - n % 16;
    let zp = _mm512_set1_epi32(rq.zero_point());
    let lo = _mm512_set1_epi32(T::MIN);
    let hi = _mm512_set1_epi32(T::MAX);
    let min32 = _mm512_set1_epi32(i32::MIN);
    let max32 = _mm512_set1_epi32(i32::MAX);
    let zero = _mm512_setzero_si512();
    let one = _mm512_set1_epi32(1);
    let nudge = _mm512_set1_epi64(1 << 30);
    let left_shifts = rq.has_left_shift();
    let mut tmp = [0i32; 16];
    for i in (0..full).step_by(16) {
        // SAFETY: i + 16 <= n, and all the per-row arrays have n entries.
        let (a, b, m, l, r) = unsafe {
            (
                _mm512_loadu_si512(acc[i..].as_ptr().cast()),
                _mm512_loadu_si512(bias[i..].as_ptr().cast()),
                _mm512_loadu_si512(mant[i..].as_ptr().cast()),
                _mm512_loadu_si512(left[i..].as_ptr().cast()),
                _mm512_loadu_si512(right[i..].as_ptr().cast()),
            )
        };
        // s = saturate(a + b)
        let s = _mm512_add_epi32(a, b);
        let overflow = _mm512_cmplt_epi32_mask(
            _mm512_and_si512(_mm512_xor_si512(a, s), _mm512_xor_si512(b, s)),
            zero,
        );
        let a_neg = _mm512_cmplt_epi32_mask(a, zero);
        let s = _mm512_mask_blend_epi32(overflow, s, _mm512_mask_blend_epi32(a_neg, max32, min32));
        // x = saturating_shift_left(s, l)
        let x = if left_shifts {
            let shifted = _mm512_sllv_epi32(s, l);
            let lost = _mm512_cmpneq_epi32_mask(_mm512_srav_epi32(shifted, l), s);
            let s_neg = _mm512_cmplt_epi32_mask(s, zero);
            _mm512_mask_blend_epi32(lost, shifted, _mm512_mask_blend_epi32(s_neg, max32, min32))
        } else {
            s
        };
        // y = saturating_rounding_doubling_high_mul(x, m)
        let even = _mm512_srli_epi64(_mm512_add_epi64(_mm512_mul_epi32(x, m), nudge), 31);
        let odd = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), _mm512_srli_epi64(m, 32));
        let odd = _mm512_slli_epi64(_mm512_add_epi64(odd, nudge), 1);
        let y = _mm512_mask_blend_epi32(0xAAAA, even, odd);
        // x = m = i32::MIN (the one saturating case of the doubling high
        // multiply) cannot occur: RowRequant::new rejects negative mantissas.
        // z = rounding_divide_by_pot(y, r)
        let mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, r), one);
        let remainder = _mm512_and_si512(y, mask);
        let y_neg = _mm512_cmplt_epi32_mask(y, zero);
        let threshold = _mm512_mask_add_epi32(
            _mm512_srai_epi32(mask, 1),
            y_neg,
            _mm512_srai_epi32(mask, 1),
            one,
        );
        let round_up = _mm512_cmpgt_epi32_mask(remainder, threshold);
        let z = _mm512_mask_add_epi32(
            _mm512_srav_epi32(y, r),
            round_up,
            _mm512_srav_epi32(y, r),
            one,
        );
        // out = clamp(z + zero_point)
        let z = _mm512_max_epi32(z, _mm512_set1_epi32(-PRE_ZERO_POINT_CLAMP));
        let z = _mm512_min_epi32(z, _mm512_set1_epi32(PRE_ZERO_POINT_CLAMP));
        let o = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(z, zp), lo), hi);
        // Lanes are clamped to T's range, so truncating narrows exactly.
        match T::BYTES {
            // SAFETY: i + 16 <= n elements of T (2 or 1 bytes each).
            2 => unsafe {
                _mm256_storeu_si256(out[i..].as_mut_ptr().cast(), _mm512_cvtepi32_epi16(o))
            },
            // SAFETY: as above.
            1 => unsafe { _mm_storeu_si128(out[i..].as_mut_ptr().cast(), _mm512_cvtepi32_epi8(o)) },
            _ => {
                // SAFETY: tmp holds 16 i32.
                unsafe { _mm512_storeu_si512(tmp.as_mut_ptr().cast(), o) };
                for (d, &v) in out[i..i + 16].iter_mut().zip(&tmp) {
                    *d = T::from_clamped(v);
                }
            }
        }
    }
    rq.apply_scalar(r0 + full, &acc[full..n], &mut out[full..n]);
}
