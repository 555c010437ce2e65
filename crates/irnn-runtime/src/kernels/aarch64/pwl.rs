//! NEON PWL evaluation, bit-exact with [`crate::pwl::PwlTable::eval`].
//!
//! NEON has no gather, so the vector part is the search: a lane's segment
//! is the count of knots after the first that are ≤ x, one compare and one
//! add per knot on 8 int16 lanes (the x86 AVX2 kernel counts the same way;
//! no data-dependent branch, where a scalar binary search mispredicts about
//! once per level). Each lane then applies its segment's formula, which is
//! the scalar reference's own (`PwlTable::segment_value`). Tables of more
//! than 33 knots, where counting costs more than searching, run the scalar
//! reference.

use core::arch::aarch64::*;

use crate::pwl::PwlTable;

/// Knots beyond which counting stops paying.
const MAX_COUNTED_KNOTS: usize = 33;

/// # Safety
/// The CPU must support NEON.
#[target_feature(enable = "neon")]
pub unsafe fn eval_neon(t: &PwlTable, xs: &[i16], out: &mut [i16]) {
    let knots = t.knots();
    let n = xs.len().min(out.len());
    if knots.len() > MAX_COUNTED_KNOTS {
        return t.eval_scalar(&xs[..n], &mut out[..n]);
    }
    let segments = knots.len() - 1;
    let (first, last) = (knots[0], knots[segments]);
    let last_value = t.values()[segments] as i16;
    let first_v = vdupq_n_s16(first as i16);
    let full = n - n % 8;
    for i in (0..full).step_by(8) {
        // SAFETY: i + 8 <= n.
        let x = unsafe { vld1q_s16(xs.as_ptr().add(i)) };
        let xc = vmaxq_s16(x, first_v);
        // segments − 1 + Σ (k > xc ? −1 : 0), four partial sums.
        let mut sums = [
            vdupq_n_s16(segments as i16 - 1),
            vdupq_n_s16(0),
            vdupq_n_s16(0),
            vdupq_n_s16(0),
        ];
        for (q, &k) in knots[1..segments].iter().enumerate() {
            let above = vreinterpretq_s16_u16(vcgtq_s16(vdupq_n_s16(k as i16), xc));
            sums[q % 4] = vaddq_s16(sums[q % 4], above);
        }
        let j = vaddq_s16(vaddq_s16(sums[0], sums[1]), vaddq_s16(sums[2], sums[3]));
        let mut js = [0i16; 8];
        let mut xcs = [0i16; 8];
        // SAFETY: both arrays hold 8 i16.
        unsafe {
            vst1q_s16(js.as_mut_ptr(), j);
            vst1q_s16(xcs.as_mut_ptr(), xc);
        }
        for lane in 0..8 {
            let xl = xs[i + lane] as i32;
            out[i + lane] = if xl >= last {
                last_value
            } else {
                t.segment_value(xcs[lane] as i32, js[lane] as usize)
            };
        }
    }
    t.eval_scalar(&xs[full..n], &mut out[full..n]);
}
