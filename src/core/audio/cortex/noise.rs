//! The membrane-noise stream: 16 xoshiro128++ lanes advanced together and a branch-free Box–Muller transform.

use super::fastmath::{ln_fast, sqrt};
use crate::core::rng::splitmix64;

/// Independent xoshiro128++ generators (Blackman & Vigna 2018) run side by side: the membrane-noise stream.
pub(crate) const LANES: usize = 16;
/// Standard normal deviates per call of [`NoiseRng::normals`].
pub(super) const NORMALS: usize = 2 * LANES;

/// `LANES` xoshiro128++ states kept as structure of arrays (`s[word][lane]`), so one call advances every lane with
/// the same few integer operations and the compiler turns the lane loop into vector code (SSE2, AVX2, NEON alike).
#[derive(Clone, Copy, Debug)]
pub(crate) struct NoiseRng {
    s: [[u32; LANES]; 4],
}

impl NoiseRng {
    /// The noise stream of a cortex seeded with `seed` (the configuration's `cortex.seed`).
    pub(crate) fn for_cortex(seed: u64) -> Self {
        let mut noise_seed = seed ^ 0x6E6F_6973_6553_6565; // "noiseSee"
        NoiseRng::from_seed(splitmix64(&mut noise_seed))
    }

    /// The lanes' state as `[word][lane]`, the order the GPU kernel keeps it in.
    #[cfg_attr(not(any(feature = "cuda", feature = "cuda-emulator")), allow(dead_code))]
    pub(crate) fn state(&self) -> [[u32; LANES]; 4] {
        self.s
    }

    pub(crate) fn from_seed(seed: u64) -> Self {
        let mut st = seed;
        // Lane by lane (in order) from one splitmix64 stream, then stored word-major.
        let lanes: [[u32; 4]; LANES] = core::array::from_fn(|_| {
            let a = splitmix64(&mut st);
            let b = splitmix64(&mut st);
            let mut w = [a as u32, (a >> 32) as u32, b as u32, (b >> 32) as u32];
            if w == [0; 4] {
                w[0] = 1;
            }
            w
        });
        NoiseRng { s: core::array::from_fn(|k| core::array::from_fn(|l| lanes[l][k])) }
    }

    /// One 32-bit output per lane.
    #[inline(always)]
    fn next_u32(&mut self, out: &mut [u32; LANES]) {
        let [s0, s1, s2, s3] = &mut self.s;
        for l in 0..LANES {
            out[l] = s0[l].wrapping_add(s3[l]).rotate_left(7).wrapping_add(s0[l]);
            let t = s1[l] << 9;
            s2[l] ^= s0[l];
            s3[l] ^= s1[l];
            s1[l] ^= s2[l];
            s0[l] ^= s3[l];
            s2[l] ^= t;
            s3[l] = s3[l].rotate_left(11);
        }
    }

    /// `NORMALS` standard normal deviates (Box–Muller, see [`box_muller`]), two 32-bit numbers per pair.
    #[inline(always)]
    pub(super) fn normals(&mut self, out: &mut [f32; NORMALS]) {
        let mut a = [0u32; LANES];
        let mut b = [0u32; LANES];
        self.next_u32(&mut a);
        self.next_u32(&mut b);
        let (lo, hi) = out.split_at_mut(LANES);
        for l in 0..LANES {
            let (z1, z2) = box_muller(a[l], b[l]);
            lo[l] = z1;
            hi[l] = z2;
        }
    }
}

/// A pair of independent standard normal deviates from two uniform 32-bit numbers (Box & Muller 1958), branch-free:
/// radius `√(−2 ln u₁)` with `u₁ = (⌊a/2⁸⌋ + 1)/2²⁴ ∈ (0, 1]` (so |z| ≤ 5.77: the distribution is cut at 5.77 σ, a
/// tail of 8e-9), angle uniform on the circle from `b`: 24 bits give `θ ∈ [−π/4, π/4)` (sine and cosine by the
/// Cephes minimax polynomials, error ≈ 1e-7), bit 0 swaps the two coordinates and bit 1 negates both, which carries
/// the quarter arc onto the whole circle.
#[inline(always)]
fn box_muller(a: u32, b: u32) -> (f32, f32) {
    const TWO_M24: f32 = 1.0 / 16_777_216.0;
    let u1 = (((a >> 8) + 1) as i32 as f32) * TWO_M24;
    let r2 = -2.0 * ln_fast(u1);
    let r = sqrt(if r2 > 0.0 { r2 } else { 0.0 });
    // Bit 1 of `b` into the sign of the radius (both coordinates negated).
    let r = f32::from_bits(r.to_bits() ^ ((b & 2) << 30));
    let th = ((b >> 8) as i32 as f32) * (core::f32::consts::FRAC_PI_2 * TWO_M24) - core::f32::consts::FRAC_PI_4;
    let z = th * th;
    let sin = th + th * z * (-1.666_665_5e-1 + z * (8.332_161e-3 + z * -1.951_529_6e-4));
    let cos = 1.0 - 0.5 * z + z * z * (4.166_664_6e-2 + z * (-1.388_731_6e-3 + z * 2.443_315_7e-5));
    // Bit 0 swaps the coordinates (an exchange through XOR under an all-ones or all-zeros mask).
    let (cb, sb) = (cos.to_bits(), sin.to_bits());
    let diff = (cb ^ sb) & 0u32.wrapping_sub(b & 1);
    (r * f32::from_bits(cb ^ diff), r * f32::from_bits(sb ^ diff))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_standard_normal() {
        let mut rng = NoiseRng::from_seed(7);
        let mut buf = [0f32; NORMALS];
        let n = 400_000 / NORMALS * NORMALS;
        let (mut s1, mut s2, mut s3, mut s4, mut beyond2, mut beyond_r) = (0f64, 0f64, 0f64, 0f64, 0u32, 0u32);
        // Correlation of consecutive deviates (same lane pair and neighbouring lanes).
        let (mut lag, mut prev) = (0f64, 0f64);
        // Histogram of the deviates against the normal probabilities of 0.25-wide bins on [-4, 4].
        let mut hist = [0u32; 32];
        for _ in 0..n / NORMALS {
            rng.normals(&mut buf);
            for &x in &buf {
                let x = x as f64;
                assert!(x.is_finite() && x.abs() < 5.8);
                s1 += x;
                s2 += x * x;
                s3 += x * x * x;
                s4 += x * x * x * x;
                lag += x * prev;
                prev = x;
                if x.abs() > 2.0 {
                    beyond2 += 1;
                }
                if x.abs() > 3.442_619_855_899 {
                    beyond_r += 1;
                }
                let bin = ((x + 4.0) * 4.0).floor();
                if (0.0..32.0).contains(&bin) {
                    hist[bin as usize] += 1;
                }
            }
        }
        let nf = n as f64;
        let mean = s1 / nf;
        let var = s2 / nf - mean * mean;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "var {var}");
        assert!((s3 / nf).abs() < 0.03, "3rd moment {}", s3 / nf);
        assert!((s4 / nf - 3.0).abs() < 0.1, "4th moment {}", s4 / nf);
        assert!((lag / nf).abs() < 0.01, "lag-1 correlation {}", lag / nf);
        let p2 = beyond2 as f64 / nf;
        assert!((p2 - 0.0455).abs() < 0.002, "P(|x|>2) = {p2}");
        // P(|x| > 3.4426) ≈ 5.76e-4.
        let pr = beyond_r as f64 / nf;
        assert!((pr - 5.76e-4).abs() < 1.5e-4, "P(|x|>r) = {pr}");
        // Chi-square over the 32 bins (31 degrees of freedom: the 0.1 % point is ≈ 61).
        let cdf = |x: f64| 0.5 * libm::erfc(-x / core::f64::consts::SQRT_2);
        let mut chi2 = 0.0;
        for (i, &h) in hist.iter().enumerate() {
            let lo = -4.0 + 0.25 * i as f64;
            let expect = nf * (cdf(lo + 0.25) - cdf(lo));
            chi2 += (h as f64 - expect) * (h as f64 - expect) / expect;
        }
        assert!(chi2 < 61.0, "chi-square {chi2}");
    }
}
