//! AVX2 PWL evaluation, bit-exact with [`crate::pwl::PwlTable::eval`].
//!
//! For tables of up to 32 knots (the default budget) nothing is gathered.
//! A lane's segment is the count of knots after the first that are ≤ x:
//! one broadcast compare and one add per knot on 16 int16 lanes (knots and
//! inputs are int16), where a binary search needs a dependent lookup per
//! level. The segment's knot and value (packed in one int32), slope and
//! shift come from tables held in up to four 8-entry registers, looked up
//! with `vpermd` and merged by bits 3 and 4 of the index. On a Sapphire
//! Rapids core this took the AVX2 LSTM step at H = 256 from 16.4 to
//! 12.6 µs, with the packing epilogue of the requantization; a binary search
//! over the register tables was no faster than gathers there (`vpermd` runs
//! on one port). Larger tables keep the binary search with gathers.

use core::arch::x86_64::*;

use crate::pwl::PwlTable;

/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn eval_avx2(t: &PwlTable, xs: &[i16], out: &mut [i16]) {
    // SAFETY (all arms): same features.
    unsafe {
        match t.padded()[0].len() {
            0..=8 => eval_registers::<1>(t, xs, out),
            9..=16 => eval_registers::<2>(t, xs, out),
            17..=32 => eval_registers::<4>(t, xs, out),
            _ => eval_gathers(t, xs, out),
        }
    }
}

/// The part of evaluation after the segment `j` of each lane is known:
/// `sat16(v + ((xc − k)·m + round) >> s)`, the last value at or beyond the
/// last knot, stored as 8 int16.
///
/// # Safety
/// `at + 8 <= out.len()`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn finish(
    t: &PwlTable,
    x: __m256i,
    xc: __m256i,
    kvms: [__m256i; 4],
    out: &mut [i16],
    at: usize,
) {
    let [k, v, m, s] = kvms;
    let last_minus_one = _mm256_set1_epi32(*t.knots().last().unwrap_or(&0) - 1);
    let last_value = _mm256_set1_epi32(*t.values().last().unwrap_or(&0));
    let round = _mm256_srli_epi32(_mm256_sllv_epi32(_mm256_set1_epi32(1), s), 1);
    let tv = _mm256_srav_epi32(
        _mm256_add_epi32(_mm256_mullo_epi32(_mm256_sub_epi32(xc, k), m), round),
        s,
    );
    let y = _mm256_add_epi32(v, tv);
    let y = _mm256_blendv_epi8(y, last_value, _mm256_cmpgt_epi32(x, last_minus_one));
    // packs saturates to int16 exactly like the scalar clamp.
    let packed = _mm256_permute4x64_epi64::<0b00_00_10_00>(_mm256_packs_epi32(y, y));
    // SAFETY: the caller keeps at + 8 within out.
    unsafe {
        _mm_storeu_si128(
            out.as_mut_ptr().add(at).cast(),
            _mm256_castsi256_si128(packed),
        )
    };
}

/// Eight int16 inputs widened, and clamped below to the first knot.
///
/// # Safety
/// `at + 8 <= xs.len()`.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn load(t: &PwlTable, xs: &[i16], at: usize) -> (__m256i, __m256i) {
    // SAFETY: the caller keeps at + 8 within xs.
    let x = _mm256_cvtepi16_epi32(unsafe { _mm_loadu_si128(xs.as_ptr().add(at).cast()) });
    (x, _mm256_max_epi32(x, _mm256_set1_epi32(t.knots()[0])))
}

/// A table of up to `8·R` entries in `R` registers (zero past its end; the
/// search never indexes there).
#[inline]
#[target_feature(enable = "avx2")]
fn in_registers<const R: usize>(tab: &[i32]) -> [__m256i; R] {
    let mut padded = [0i32; 32];
    let n = tab.len().min(8 * R);
    padded[..n].copy_from_slice(&tab[..n]);
    let mut regs = [_mm256_setzero_si256(); R];
    for (r, reg) in regs.iter_mut().enumerate() {
        // SAFETY: 8r + 8 ≤ 32 entries of `padded`.
        *reg = unsafe { _mm256_loadu_si256(padded.as_ptr().add(8 * r).cast()) };
    }
    regs
}

/// Entry `idx` of each lane from a table in `R` registers: `vpermd` reads
/// the low 3 bits, bits 3 and 4 pick the register.
#[inline]
#[target_feature(enable = "avx2")]
fn lookup<const R: usize>(tab: &[__m256i; R], idx: __m256i) -> __m256i {
    let low = _mm256_permutevar8x32_epi32(tab[0], idx);
    if R == 1 {
        return low;
    }
    // All ones in lanes whose index has bit 3 (resp. 4) set.
    let bit3 = _mm256_srai_epi32::<31>(_mm256_slli_epi32::<28>(idx));
    let first = _mm256_blendv_epi8(low, _mm256_permutevar8x32_epi32(tab[1], idx), bit3);
    if R == 2 {
        return first;
    }
    let second = _mm256_blendv_epi8(
        _mm256_permutevar8x32_epi32(tab[2], idx),
        _mm256_permutevar8x32_epi32(tab[3], idx),
        bit3,
    );
    let bit4 = _mm256_srai_epi32::<31>(_mm256_slli_epi32::<27>(idx));
    _mm256_blendv_epi8(first, second, bit4)
}

/// [`eval_avx2`] for padded tables of at most `8·R` entries.
#[target_feature(enable = "avx2")]
unsafe fn eval_registers<const R: usize>(t: &PwlTable, xs: &[i16], out: &mut [i16]) {
    let [knots, values, slopes, shifts] = t.padded();
    let segments = t.knots().len() - 1;
    // Knot and value are both int16: one table holds `knot << 16 | value`,
    // so three lookups per lane instead of four (entries past the last
    // segment are never looked up).
    let mut knot_value = [0i32; 32];
    for (kv, (&k, &v)) in knot_value.iter_mut().zip(knots.iter().zip(values)) {
        *kv = ((k as i16 as i32) << 16) | (v & 0xFFFF);
    }
    let (kv_t, m_t, s_t) = (
        in_registers::<R>(&knot_value[..knots.len().min(32)]),
        in_registers::<R>(slopes),
        in_registers::<R>(shifts),
    );
    let first = _mm256_set1_epi16(t.knots()[0] as i16);
    let last_segment = _mm256_set1_epi16(segments as i16 - 1);
    let n = xs.len().min(out.len());
    let full = n - n % 16;
    for i in (0..full).step_by(16) {
        // The segment is the number of knots after the first that are ≤ xc
        // (xc ≥ the first knot): `segments − 1 + Σ (k_i > xc ? −1 : 0)`, one
        // compare and one add per knot on 16 int16 lanes (knots and inputs
        // are int16) — no lookup on the way. Four partial sums, so the adds
        // do not form one long chain.
        // SAFETY: i + 16 <= n.
        let x16 = unsafe { _mm256_loadu_si256(xs.as_ptr().add(i).cast()) };
        let xc16 = _mm256_max_epi16(x16, first);
        let mut sums = [
            last_segment,
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
        ];
        let inner = &knots[1..segments];
        let mut quads = inner.chunks_exact(4);
        for q in &mut quads {
            for (sum, &k) in sums.iter_mut().zip(q) {
                *sum =
                    _mm256_add_epi16(*sum, _mm256_cmpgt_epi16(_mm256_set1_epi16(k as i16), xc16));
            }
        }
        for (sum, &k) in sums.iter_mut().zip(quads.remainder()) {
            *sum = _mm256_add_epi16(*sum, _mm256_cmpgt_epi16(_mm256_set1_epi16(k as i16), xc16));
        }
        let j16 = _mm256_add_epi16(
            _mm256_add_epi16(sums[0], sums[1]),
            _mm256_add_epi16(sums[2], sums[3]),
        );
        // Each half in int32 lanes for the lookups and the segment formula.
        let halves = [
            _mm256_castsi256_si128(j16),
            _mm256_extracti128_si256::<1>(j16),
        ];
        for (h, jh) in halves.into_iter().enumerate() {
            let j = _mm256_cvtepi16_epi32(jh);
            // SAFETY: i + 8h + 8 <= n.
            let (x, xc) = unsafe { load(t, xs, i + 8 * h) };
            let kv = lookup(&kv_t, j);
            let k = _mm256_srai_epi32::<16>(kv);
            let v = _mm256_srai_epi32::<16>(_mm256_slli_epi32::<16>(kv));
            let kvms = [k, v, lookup(&m_t, j), lookup(&s_t, j)];
            // SAFETY: as above.
            unsafe { finish(t, x, xc, kvms, out, i + 8 * h) };
        }
    }
    t.eval_scalar(&xs[full..n], &mut out[full..n]);
}

/// [`eval_avx2`] for larger tables: every lookup a gather.
#[target_feature(enable = "avx2")]
unsafe fn eval_gathers(t: &PwlTable, xs: &[i16], out: &mut [i16]) {
    let [knots, values, slopes, shifts] = t.padded();
    let p = knots.len() as i32;
    let n = xs.len().min(out.len());
    let full = n - n % 8;
    for i in (0..full).step_by(8) {
        // SAFETY: i + 8 <= n; gathers index tables of length p with indices
        // in 0..p (the search never steps past p − 1).
        unsafe {
            let (x, xc) = load(t, xs, i);
            let mut j = _mm256_setzero_si256();
            let mut step = p / 2;
            while step > 0 {
                let cand = _mm256_add_epi32(j, _mm256_set1_epi32(step));
                let k = _mm256_i32gather_epi32::<4>(knots.as_ptr(), cand);
                j = _mm256_blendv_epi8(cand, j, _mm256_cmpgt_epi32(k, xc));
                step /= 2;
            }
            let kvms = [
                _mm256_i32gather_epi32::<4>(knots.as_ptr(), j),
                _mm256_i32gather_epi32::<4>(values.as_ptr(), j),
                _mm256_i32gather_epi32::<4>(slopes.as_ptr(), j),
                _mm256_i32gather_epi32::<4>(shifts.as_ptr(), j),
            ];
            finish(t, x, xc, kvms, out, i);
        }
    }
    t.eval_scalar(&xs[full..n], &mut out[full..n]);
}
