//! NEON requantizing epilogue ([`crate::kernels::RowRequant`]), bit-exact
//! with its scalar definition. NEON has each fixed-point primitive as one
//! instruction, with gemmlowp's exact semantics:
//!
//! | primitive | NEON |
//! |---|---|
//! | saturating add of the bias | `sqadd` |
//! | `saturating_shift_left` | `sqshl` |
//! | `saturating_rounding_doubling_high_mul` | `sqrdmulh` |
//! | `rounding_divide_by_pot` (ties away from zero) | `srshl` by −e (ties up) after adding −1 to negative lanes when e > 0 |
//! | clamp to int16 / int8 | `sqxtn` (twice for int8) |

use core::arch::aarch64::*;

use crate::kernels::requant::{RequantOutput, RowRequant};

/// Four rows from `r`: bias, shift, multiply, rounding shift, zero point.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn four(rq: &RowRequant, r: usize, acc: &[i32], zp: int32x4_t) -> int32x4_t {
    let (bias, mant, left, right) = rq.parts();
    // SAFETY: the caller keeps r + 4 within every per-row array and `acc`.
    unsafe {
        let s = vqaddq_s32(vld1q_s32(acc.as_ptr()), vld1q_s32(bias.as_ptr().add(r)));
        let x = vqshlq_s32(s, vld1q_s32(left.as_ptr().add(r)));
        let y = vqrdmulhq_s32(x, vld1q_s32(mant.as_ptr().add(r)));
        let neg_e = vnegq_s32(vld1q_s32(right.as_ptr().add(r)));
        // −1 where y < 0 and e > 0 (−e then has its sign bit set).
        let fixup = vshrq_n_s32::<31>(vandq_s32(y, neg_e));
        let z = vrshlq_s32(vqaddq_s32(y, fixup), neg_e);
        vqaddq_s32(z, zp)
    }
}

/// # Safety
/// The CPU must support NEON; `acc` and `out` are rows `r0..r0 + len` of one
/// vector (checked by the caller).
#[target_feature(enable = "neon")]
pub unsafe fn apply_neon<T: RequantOutput>(rq: &RowRequant, r0: usize, acc: &[i32], out: &mut [T]) {
    let n = acc.len().min(out.len());
    let full = n - n % 8;
    let zp = vdupq_n_s32(rq.zero_point());
    for i in (0..full).step_by(8) {
        // SAFETY: i + 8 ≤ n, so rows r0 + i .. r0 + i + 8 exist.
        let (a, b) = unsafe {
            (
                four(rq, r0 + i, &acc[i..], zp),
                four(rq, r0 + i + 4, &acc[i + 4..], zp),
            )
        };
        let wide = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
        match T::BYTES {
            // SAFETY: i + 8 ≤ n elements of T.
            2 => unsafe { vst1q_s16(out[i..].as_mut_ptr().cast(), wide) },
            // SAFETY: as above.
            1 => unsafe { vst1_s8(out[i..].as_mut_ptr().cast(), vqmovn_s16(wide)) },
            _ => rq.apply_scalar(r0 + i, &acc[i..i + 8], &mut out[i..i + 8]),
        }
    }
    rq.apply_scalar(r0 + full, &acc[full..n], &mut out[full..n]);
}
