//! A small in-place radix-2 FFT for real frames, working only in caller-provided buffers.
//!
//! A real frame of `n` samples (a power of two, at least 4) is transformed as an `n/2`-point complex FFT of the
//! even/odd sample pairs followed by the usual split step. The twiddle table holds `cos(2πk/n)` and `sin(2πk/n)` for
//! `k < n/2` (`n` floats in all); it is computed once, in double precision, by [`twiddles`].
//!
//! Only the power spectrum `|X[k]|²` for `k = 0..=n/2` is produced, which is all the audio front-end needs.

/// Fill `cos` and `sin` (each `n/2` long) with `cos(2πk/n)` and `sin(2πk/n)`.
pub fn twiddles(cos: &mut [f32], sin: &mut [f32]) {
    let n = 2 * cos.len().min(sin.len());
    for (k, (c, s)) in cos.iter_mut().zip(sin.iter_mut()).enumerate() {
        let a = 2.0 * core::f64::consts::PI * k as f64 / n as f64;
        *c = libm::cos(a) as f32;
        *s = libm::sin(a) as f32;
    }
}

/// In-place forward complex FFT of `buf` (interleaved re/im, `buf.len()/2` points, a power of two).
///
/// `cos`/`sin` are the tables of [`twiddles`] for a real size of `buf.len()` (so `buf.len()/2` entries each).
/// Sizes that are not powers of two, or tables that are too short, leave `buf` untouched.
pub fn complex_fft(buf: &mut [f32], cos: &[f32], sin: &[f32]) {
    let h = buf.len() / 2;
    let n = 2 * h;
    if h < 2 || !h.is_power_of_two() || cos.len() < h || sin.len() < h {
        return;
    }
    // Bit-reversal permutation.
    let bits = h.trailing_zeros();
    for i in 0..h {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if j > i {
            buf.swap(2 * i, 2 * j);
            buf.swap(2 * i + 1, 2 * j + 1);
        }
    }
    // Iterative butterflies; the twiddle of stage `len` at offset j is e^{-2πi j/len} = table[j·n/len].
    let mut len = 2;
    while len <= h {
        let half = len / 2;
        let step = n / len;
        let mut start = 0;
        while start < h {
            for j in 0..half {
                let wr = cos[j * step];
                let wi = -sin[j * step];
                let a = 2 * (start + j);
                let b = 2 * (start + j + half);
                let (br, bi) = (buf[b], buf[b + 1]);
                let tr = br * wr - bi * wi;
                let ti = br * wi + bi * wr;
                let (ar, ai) = (buf[a], buf[a + 1]);
                buf[b] = ar - tr;
                buf[b + 1] = ai - ti;
                buf[a] = ar + tr;
                buf[a + 1] = ai + ti;
            }
            start += len;
        }
        len *= 2;
    }
}

/// Power spectrum of the real frame in `buf` (`n` samples, destroyed): `power[k] = |X[k]|²` for `k = 0..=n/2`.
///
/// `power` must hold `n/2 + 1` floats; `cos`/`sin` are the [`twiddles`] for size `n` (`n/2` entries each).
/// Nothing is written if the sizes do not fit.
pub fn real_power_spectrum(buf: &mut [f32], cos: &[f32], sin: &[f32], power: &mut [f32]) {
    let n = buf.len();
    let h = n / 2;
    if h < 2 || !n.is_power_of_two() || power.len() < h + 1 || cos.len() < h || sin.len() < h {
        return;
    }
    // z[m] = x[2m] + i·x[2m+1] is already the interleaved layout of `buf`.
    complex_fft(buf, cos, sin);
    // Split: E[k] = (Z[k] + conj Z[h-k])/2, O[k] = (Z[k] - conj Z[h-k])/(2i), X[k] = E[k] + e^{-2πik/n}·O[k].
    let (z0r, z0i) = (buf[0], buf[1]);
    let x0 = z0r + z0i;
    let xh = z0r - z0i;
    power[0] = x0 * x0;
    power[h] = xh * xh;
    for k in 1..h {
        let (zr, zi) = (buf[2 * k], buf[2 * k + 1]);
        let (cr, ci) = (buf[2 * (h - k)], -buf[2 * (h - k) + 1]);
        let er = 0.5 * (zr + cr);
        let ei = 0.5 * (zi + ci);
        // (Z - conj Z') / (2i) = (d_i - i·d_r)/2 with d = Z - conj Z'.
        let or = 0.5 * (zi - ci);
        let oi = -0.5 * (zr - cr);
        let (wr, wi) = (cos[k], -sin[k]);
        let xr = er + wr * or - wi * oi;
        let xi = ei + wr * oi + wi * or;
        power[k] = xr * xr + xi * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_dft() {
        const N: usize = 64;
        let mut cos = [0.0f32; N / 2];
        let mut sin = [0.0f32; N / 2];
        twiddles(&mut cos, &mut sin);
        let mut x = [0.0f32; N];
        let mut s = 12345u32;
        for v in x.iter_mut() {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *v = (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
        }
        let mut want = [0.0f64; N / 2 + 1];
        for (k, w) in want.iter_mut().enumerate() {
            let (mut re, mut im) = (0.0f64, 0.0f64);
            for (m, &v) in x.iter().enumerate() {
                let a = -2.0 * core::f64::consts::PI * (k * m) as f64 / N as f64;
                re += v as f64 * libm::cos(a);
                im += v as f64 * libm::sin(a);
            }
            *w = re * re + im * im;
        }
        let mut buf = x;
        let mut p = [0.0f32; N / 2 + 1];
        real_power_spectrum(&mut buf, &cos, &sin, &mut p);
        for k in 0..=N / 2 {
            assert!((p[k] as f64 - want[k]).abs() < 1e-4 * (1.0 + want[k]), "bin {k}: {} vs {}", p[k], want[k]);
        }
    }

    #[test]
    fn bad_sizes_do_nothing() {
        let mut buf = [1.0f32; 6];
        let mut p = [7.0f32; 4];
        real_power_spectrum(&mut buf, &[1.0; 3], &[0.0; 3], &mut p);
        assert_eq!(p, [7.0; 4]);
    }
}
