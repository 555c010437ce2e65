//! AVX-512 PWL evaluation, bit-exact with [`crate::pwl::PwlTable::eval`].
//!
//! Each lane finds its segment by a branchless binary search over the
//! power-of-two padded knot table, looks up the segment's knot, value, slope
//! and shift, and evaluates the segment formula in int32. Lanes below the
//! first knot are clamped to it; lanes at or above the last knot take the
//! last value.
//!
//! Lookups: with AVX-512 and a padded table of at most 32 entries (tables of
//! up to 32 knots, the default budget), each of the four tables lives in two
//! registers and every lookup is one `vpermt2d` — a register permute instead
//! of a 16-lane memory gather, which costs far more. Larger tables gather.

use core::arch::x86_64::*;

use crate::pwl::PwlTable;

/// # Safety
/// The CPU must support AVX-512 F and BW.
#[target_feature(enable = "avx2,avx512f,avx512bw")]
pub unsafe fn eval_avx512(t: &PwlTable, xs: &[i16], out: &mut [i16]) {
    let [knots, values, slopes, shifts] = t.padded();
    if knots.len() <= 32 {
        // SAFETY: same features.
        return unsafe { eval_avx512_in_registers(t, xs, out) };
    }
    let p = knots.len() as i32;
    let n = xs.len().min(out.len());
    let full = n - n % 16;
    let first = _mm512_set1_epi32(t.knots()[0]);
    let last = _mm512_set1_epi32(*t.knots().last().unwrap_or(&0));
    let last_value = _mm512_set1_epi32(*t.values().last().unwrap_or(&0));
    for i in (0..full).step_by(16) {
        // SAFETY: i + 16 <= n; gathers index tables of length p with
        // indices in 0..p (the search never steps past p − 1).
        unsafe {
            let x = _mm512_cvtepi16_epi32(_mm256_loadu_si256(xs[i..].as_ptr().cast()));
            let xc = _mm512_max_epi32(x, first);
            let mut j = _mm512_setzero_si512();
            let mut step = p / 2;
            while step > 0 {
                let cand = _mm512_add_epi32(j, _mm512_set1_epi32(step));
                let k = _mm512_i32gather_epi32::<4>(cand, knots.as_ptr());
                j = _mm512_mask_blend_epi32(_mm512_cmple_epi32_mask(k, xc), j, cand);
                step /= 2;
            }
            let k = _mm512_i32gather_epi32::<4>(j, knots.as_ptr());
            let v = _mm512_i32gather_epi32::<4>(j, values.as_ptr());
            let m = _mm512_i32gather_epi32::<4>(j, slopes.as_ptr());
            let s = _mm512_i32gather_epi32::<4>(j, shifts.as_ptr());
            let y = segment_value(xc, [k, v, m, s]);
            let y = _mm512_mask_blend_epi32(_mm512_cmpge_epi32_mask(x, last), y, last_value);
            _mm256_storeu_si256(out[i..].as_mut_ptr().cast(), _mm512_cvtepi32_epi16(y));
        }
    }
    t.eval_scalar(&xs[full..n], &mut out[full..n]);
}

/// The segment formula on 16 lanes: `sat16(v + ((xc − k)·m + round) >> s)`
/// from each lane's segment knot, value, slope and shift.
#[inline]
#[target_feature(enable = "avx512f")]
fn segment_value(xc: __m512i, [k, v, m, s]: [__m512i; 4]) -> __m512i {
    let round = _mm512_srli_epi32(_mm512_sllv_epi32(_mm512_set1_epi32(1), s), 1);
    let tv = _mm512_srav_epi32(
        _mm512_add_epi32(_mm512_mullo_epi32(_mm512_sub_epi32(xc, k), m), round),
        s,
    );
    _mm512_min_epi32(
        _mm512_max_epi32(_mm512_add_epi32(v, tv), _mm512_set1_epi32(i16::MIN as i32)),
        _mm512_set1_epi32(i16::MAX as i32),
    )
}

/// Two registers holding a table of at most 32 entries, loaded with masks
/// (lanes past the table are zero; the search never indexes them).
#[target_feature(enable = "avx512f")]
unsafe fn table_in_registers(tab: &[i32]) -> (__m512i, __m512i) {
    let n = tab.len().min(32);
    let lo_mask = ((1u32 << n.min(16)) - 1) as u16;
    let hi_mask = ((1u32 << n.saturating_sub(16)) - 1) as u16;
    // SAFETY: masked lanes are not read, so only tab[..n] is touched.
    unsafe {
        (
            _mm512_maskz_loadu_epi32(lo_mask, tab.as_ptr().cast()),
            _mm512_maskz_loadu_epi32(hi_mask, tab.as_ptr().add(n.min(16)).cast()),
        )
    }
}

/// [`eval_avx512`] for padded tables of ≤ 32 entries: lookups by register
/// permutes, the search unrolled for the table's size.
#[target_feature(enable = "avx2,avx512f,avx512bw")]
unsafe fn eval_avx512_in_registers(t: &PwlTable, xs: &[i16], out: &mut [i16]) {
    // SAFETY (all arms): same features.
    unsafe {
        match t.padded()[0].len() {
            32 => eval_registers::<16>(t, xs, out),
            16 => eval_registers::<8>(t, xs, out),
            8 => eval_registers::<4>(t, xs, out),
            4 => eval_registers::<2>(t, xs, out),
            2 => eval_registers::<1>(t, xs, out),
            // One segment (two knots): nothing to search.
            _ => eval_registers::<0>(t, xs, out),
        }
    }
}

/// The register-table evaluation for a padded table of `2 · HALF` entries
/// (one entry when `HALF` is 0).
#[target_feature(enable = "avx2,avx512f,avx512bw")]
unsafe fn eval_registers<const HALF: i32>(t: &PwlTable, xs: &[i16], out: &mut [i16]) {
    let [knots, values, slopes, shifts] = t.padded();
    let n = xs.len().min(out.len());
    let full = n - n % 16;
    // SAFETY: features enabled on this function.
    let (k_lo, k_hi, v_lo, v_hi, m_lo, m_hi, s_lo, s_hi) = unsafe {
        let (k_lo, k_hi) = table_in_registers(knots);
        let (v_lo, v_hi) = table_in_registers(values);
        let (m_lo, m_hi) = table_in_registers(slopes);
        let (s_lo, s_hi) = table_in_registers(shifts);
        (k_lo, k_hi, v_lo, v_hi, m_lo, m_hi, s_lo, s_hi)
    };
    let first = _mm512_set1_epi32(t.knots()[0]);
    let last = _mm512_set1_epi32(*t.knots().last().unwrap_or(&0));
    let last_value = _mm512_set1_epi32(*t.values().last().unwrap_or(&0));
    for i in (0..full).step_by(16) {
        // SAFETY: i + 16 <= n.
        let x = unsafe { _mm512_cvtepi16_epi32(_mm256_loadu_si256(xs[i..].as_ptr().cast())) };
        let xc = _mm512_max_epi32(x, first);
        let mut j = _mm512_setzero_si512();
        let mut step = HALF;
        while step > 0 {
            let cand = _mm512_add_epi32(j, _mm512_set1_epi32(step));
            let k = _mm512_permutex2var_epi32(k_lo, cand, k_hi);
            j = _mm512_mask_blend_epi32(_mm512_cmple_epi32_mask(k, xc), j, cand);
            step /= 2;
        }
        let k = _mm512_permutex2var_epi32(k_lo, j, k_hi);
        let v = _mm512_permutex2var_epi32(v_lo, j, v_hi);
        let m = _mm512_permutex2var_epi32(m_lo, j, m_hi);
        let s = _mm512_permutex2var_epi32(s_lo, j, s_hi);
        let y = segment_value(xc, [k, v, m, s]);
        let y = _mm512_mask_blend_epi32(_mm512_cmpge_epi32_mask(x, last), y, last_value);
        // SAFETY: i + 16 <= n.
        unsafe { _mm256_storeu_si256(out[i..].as_mut_ptr().cast(), _mm512_cvtepi32_epi16(y)) };
    }
    t.eval_scalar(&xs[full..n], &mut out[full..n]);
}
