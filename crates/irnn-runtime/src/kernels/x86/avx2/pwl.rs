//! AVX2 PWL evaluation, bit-exact with [`crate::pwl::PwlTable::eval`]: the
//! branchless binary search of [`super::super::avx512::pwl`] on 8 lanes,
//! with gathers for every lookup.

use core::arch::x86_64::*;

use crate::pwl::PwlTable;

/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn eval_avx2(t: &PwlTable, xs: &[i16], out: &mut [i16]) {
    let [knots, values, slopes, shifts] = t.padded();
    let p = knots.len() as i32;
    let n = xs.len().min(out.len());
    let full = n - n % 8;
    let first = _mm256_set1_epi32(t.knots()[0]);
    let last_minus_one = _mm256_set1_epi32(*t.knots().last().unwrap_or(&0) - 1);
    let last_value = _mm256_set1_epi32(*t.values().last().unwrap_or(&0));
    let one = _mm256_set1_epi32(1);
    for i in (0..full).step_by(8) {
        // SAFETY: as in the AVX-512 version.
        unsafe {
            let x = _mm256_cvtepi16_epi32(_mm_loadu_si128(xs[i..].as_ptr().cast()));
            let xc = _mm256_max_epi32(x, first);
            let mut j = _mm256_setzero_si256();
            let mut step = p / 2;
            while step > 0 {
                let cand = _mm256_add_epi32(j, _mm256_set1_epi32(step));
                let k = _mm256_i32gather_epi32::<4>(knots.as_ptr(), cand);
                // k <= xc  ⇔  !(k > xc)
                j = _mm256_blendv_epi8(cand, j, _mm256_cmpgt_epi32(k, xc));
                step /= 2;
            }
            let k = _mm256_i32gather_epi32::<4>(knots.as_ptr(), j);
            let v = _mm256_i32gather_epi32::<4>(values.as_ptr(), j);
            let m = _mm256_i32gather_epi32::<4>(slopes.as_ptr(), j);
            let s = _mm256_i32gather_epi32::<4>(shifts.as_ptr(), j);
            let round = _mm256_srli_epi32(_mm256_sllv_epi32(one, s), 1);
            let tv = _mm256_srav_epi32(
                _mm256_add_epi32(_mm256_mullo_epi32(_mm256_sub_epi32(xc, k), m), round),
                s,
            );
            let y = _mm256_add_epi32(v, tv);
            let y = _mm256_blendv_epi8(y, last_value, _mm256_cmpgt_epi32(x, last_minus_one));
            // packs saturates to int16 exactly like the scalar clamp.
            let packed = _mm256_packs_epi32(y, y);
            let packed = _mm256_permute4x64_epi64(packed, 0b00_00_10_00);
            _mm_storeu_si128(out[i..].as_mut_ptr().cast(), _mm256_castsi256_si128(packed));
        }
    }
    t.eval_scalar(&xs[full..n], &mut out[full..n]);
}
