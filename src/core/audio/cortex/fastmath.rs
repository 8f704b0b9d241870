//! Branch-free maths for the vectorised update: `exp`, `ln`, `sqrt` with known errors, and the select/mask helpers.

use super::constants::{DECAY_FLOOR, EXP_CAP, EXP_SKIP};

/// Natural logarithm of a positive, finite, normal `x` (relative error ≈ 1e-7), branch-free: `x = m·2^e` with
/// `m ∈ [√½, √2)` (found by offsetting the bits so that the mantissa range starts at √½: no compare, no select),
/// `ln m = 2·atanh(t)`, `t = (m−1)/(m+1)`, `|t| ≤ 0.172`, by its odd series to `t⁹`.
#[inline(always)]
pub(super) fn ln_fast(x: f32) -> f32 {
    const SQRT_HALF_BITS: u32 = 0x3F35_04F3; // √½
    let u = x.to_bits().wrapping_add(0x3F80_0000 - SQRT_HALF_BITS);
    let e = ((u >> 23) as i32 - 127) as f32;
    let m = f32::from_bits((u & 0x007F_FFFF) + SQRT_HALF_BITS);
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let p = 1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0 + t2 * (1.0 / 9.0))));
    e * core::f32::consts::LN_2 + 2.0 * t * p
}

/// Correctly rounded square root (IEEE 754), so both builds give the same bits: through `std` it is the LLVM
/// intrinsic, which vectorises; `libm`'s version (an SSE/NEON scalar instruction behind an opaque call on those
/// targets) would keep the noise loop scalar.
#[inline(always)]
pub(super) fn sqrt(x: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        x.sqrt()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::sqrtf(x)
    }
}

/// `e^x` for `x` in [−87, 87] (relative error below 1e-6, a few ulp): `2^n · e^y` with `n = round(x·log2 e)`,
/// `|y| ≤ ln2/2`, `e^y` by its degree-6 Taylor polynomial. About a fifth of the cost of `libm::expf`, which was a
/// third of the whole network step; the AdEx term is the only user.
#[inline(always)]
pub(super) fn exp_fast(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5·2^23: adding it rounds to an integer held in the low mantissa bits
    let t = x * core::f32::consts::LOG2_E;
    let r = t + ROUND;
    let n = r.to_bits() as i32 - ROUND.to_bits() as i32;
    // y = x − n·ln2 with ln2 split in a short high part (n·LN2_HI is exact) and a correction (Cody & Waite).
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let nf = r - ROUND;
    let y = (x - nf * LN2_HI) - nf * LN2_LO;
    let p = 1.0 + y * (1.0 + y * (0.5 + y * (1.0 / 6.0 + y * (1.0 / 24.0 + y * (1.0 / 120.0 + y * (1.0 / 720.0))))));
    p * f32::from_bits(((n + 127) as u32) << 23)
}

/// `g_L Δ_T exp((v − v_T)/Δ_T)`, skipped far below threshold and capped far above it.
#[inline(always)]
pub(super) fn exp_term(v: f32, gl: f32, vt: f32, delta: f32, inv_delta: f32) -> f32 {
    let arg = (v - vt) * inv_delta;
    // Branch-free (the update loops vectorise): the exponential is evaluated for every cell, at an argument clamped
    // to [EXP_SKIP, EXP_CAP] (a NaN argument becomes EXP_SKIP), and dropped where `arg` is not above EXP_SKIP.
    let clamped = above(arg, EXP_SKIP);
    let clamped = if clamped < EXP_CAP { clamped } else { EXP_CAP };
    let term = gl * delta * exp_fast(clamped);
    if arg > EXP_SKIP {
        term
    } else {
        0.0
    }
}
/// `x` if `x > lo`, else `lo` (also for a NaN `x`).
#[inline(always)]
pub(super) fn above(x: f32, lo: f32) -> f32 {
    if x > lo {
        x
    } else {
        lo
    }
}

/// `x`, or zero below [`DECAY_FLOOR`]: applied to every quantity that decays toward zero, so none ever becomes
/// subnormal (see there). Branch-free: a compare and a select per lane.
#[inline(always)]
pub(super) fn floored(x: f32) -> f32 {
    if x < DECAY_FLOOR {
        0.0
    } else {
        x
    }
}

/// Refractory count after a step without a spike: one less, not below zero.
#[inline(always)]
pub(super) fn ref_tick(r: f32) -> f32 {
    above(r - 1.0, 0.0)
}

/// `x` where `flag` is set, else +0: a mask on the bits. The kernels add it (`w + on(spike, b)`) instead of
/// selecting, which is one instruction instead of three on SSE2 and keeps the loops within LLVM's cost model for
/// vectorisation. Exact: a spiking cell's refractory count is 0 before the addition, and adding +0 leaves every value
/// but −0 unchanged.
#[inline(always)]
pub(super) fn on(flag: bool, x: f32) -> f32 {
    f32::from_bits(x.to_bits() & 0u32.wrapping_sub(flag as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_fast_matches_libm() {
        let mut x = EXP_SKIP;
        while x <= EXP_CAP {
            let (a, b) = (exp_fast(x), libm::expf(x));
            assert!(((a - b) / b).abs() < 1e-6, "exp({x}) = {a}, libm {b}");
            x += 0.0137;
        }
    }

    #[test]
    fn ln_fast_matches_libm() {
        let mut x = 1.0 / 16_777_216.0f32;
        while x <= 1.0 {
            let (a, b) = (ln_fast(x), libm::logf(x));
            assert!((a - b).abs() <= 2e-7 * b.abs().max(1e-3), "ln({x}) = {a}, libm {b}");
            x *= 1.000_37;
        }
        assert_eq!(ln_fast(1.0), 0.0);
    }
}
