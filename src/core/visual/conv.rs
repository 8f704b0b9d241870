//! Convolution as packed im2col + GEMM, f32 and int8, with a readable reference for each.
//!
//! Layout: activations are CHW (`[channels][height][width]`, row-major). A convolution with `cout` filters of
//! `k×k` taps over `cin` channels is `C[cout][n] = Σ_kk W[cout][kk] · X[kk][n]`, with `kk = (ci, ky, kx)` in that
//! order (PyTorch's weight layout flattened) and `n = (oy, ox)`. `X` is never materialised row-major: im2col writes
//! it straight into column panels of [`NR`] output pixels (`[panel][kk][NR]`, zero-padded past `n`), so the
//! micro-kernel streams one contiguous panel while it broadcasts weights from `W`'s rows. That keeps the hot loop
//! at two vector loads and eight broadcasts per sixteen FMAs, and needs no packing of the weights (they stay views
//! into the loaded file).
//!
//! The int8 path quantises activations to u8 (they are non-negative after ReLU and pooling; frames are u8 already)
//! and packs them `[panel][kk/4][NR][4]`, the layout of the VNNI `dpbusd` instruction (four u8×i8 products summed
//! into each i32 lane). Weights are i8 with one symmetric scale per output channel, rows padded to a multiple of 4.

/// Output pixels per packed panel (two 16-lane vectors).
pub const NR: usize = 32;
/// Output channels per micro-kernel call.
pub const MR: usize = 8;

/// Geometry of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Input channels.
    pub cin: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel size (square).
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on every side.
    pub pad: usize,
}

impl ConvShape {
    /// Output height.
    pub fn ho(&self) -> usize {
        (self.h + 2 * self.pad - self.k) / self.stride + 1
    }
    /// Output width.
    pub fn wo(&self) -> usize {
        (self.w + 2 * self.pad - self.k) / self.stride + 1
    }
    /// Output pixels.
    pub fn n(&self) -> usize {
        self.ho() * self.wo()
    }
    /// Reduction length `cin·k·k`.
    pub fn kk(&self) -> usize {
        self.cin * self.k * self.k
    }
    /// Input channels rounded up to a multiple of 4 (the int8 path's channels-last pixel stride).
    pub fn cpad(&self) -> usize {
        self.cin.div_ceil(4) * 4
    }
    /// Int8 reduction length `k·k·cpad` (a multiple of 4): the row stride of int8 weights.
    pub fn kk4(&self) -> usize {
        self.k * self.k * self.cpad()
    }
    /// Number of column panels.
    pub fn panels(&self) -> usize {
        self.n().div_ceil(NR)
    }
    /// Floats of the packed f32 im2col buffer.
    pub fn packed_len(&self) -> usize {
        self.panels() * self.kk() * NR
    }
    /// Bytes of the packed u8 im2col buffer.
    pub fn packed_len_u8(&self) -> usize {
        self.panels() * self.kk4() * NR
    }
}

/// For output pixels `t = 0..run` reading input column `ix0 + t·stride`, the range `lo..hi` of `t` that falls inside
/// `0..w` (the rest is zero padding).
#[inline(always)]
fn valid_run(ix0: isize, stride: usize, w: usize, run: usize) -> (usize, usize) {
    if stride == 1 {
        let lo = (-ix0).clamp(0, run as isize) as usize;
        let hi = (w as isize - ix0).clamp(lo as isize, run as isize) as usize;
        return (lo, hi);
    }
    if stride == 2 {
        // V1's stride: ceil-divide by shifting (a hardware divide per run costs more than the copy).
        let lo = if ix0 >= 0 { 0 } else { ((-ix0 + 1) >> 1) as usize }.min(run);
        let hi = if ix0 >= w as isize { 0 } else { ((w as isize - ix0 + 1) >> 1) as usize };
        return (lo, hi.clamp(lo, run));
    }
    let st = stride as isize;
    let lo = if ix0 >= 0 { 0 } else { ((-ix0 + st - 1) / st) as usize };
    let hi = if ix0 >= w as isize { 0 } else { ((w as isize - ix0 + st - 1) / st) as usize };
    let lo = lo.min(run);
    (lo, hi.clamp(lo, run))
}

/// Pack the f32 CHW input `x` into column panels `[panel][kk][NR]` (see the module docs).
pub fn im2col_f32(s: &ConvShape, x: &[f32], packed: &mut [f32]) {
    let (n, kk, wo) = (s.n(), s.kk(), s.wo());
    let (h, st, pad) = (s.h as isize, s.stride as isize, s.pad as isize);
    for p in 0..s.panels() {
        let base = p * kk * NR;
        let n0 = p * NR;
        let cols = (n - n0).min(NR);
        // The panel's pixels in runs that share an output row, computed once per panel (no division per row).
        let mut runs = [(0usize, 0isize, 0isize, 0usize); NR];
        let mut nruns = 0;
        let mut j = 0;
        while j < cols {
            let n_j = n0 + j;
            let (oy, ox0) = (n_j / wo, n_j % wo);
            let run = (wo - ox0).min(cols - j);
            runs[nruns] = (j, oy as isize * st - pad, ox0 as isize * st - pad, run);
            nruns += 1;
            j += run;
        }
        let mut row = 0;
        for ci in 0..s.cin {
            let plane = &x[ci * s.h * s.w..(ci + 1) * s.h * s.w];
            for ky in 0..s.k {
                for kx in 0..s.k {
                    let dst = &mut packed[base + row * NR..base + row * NR + NR];
                    for &(j, iy0, ix00, run) in &runs[..nruns] {
                        let d = &mut dst[j..j + run];
                        let iy = iy0 + ky as isize;
                        if iy < 0 || iy >= h {
                            d.fill(0.0);
                            continue;
                        }
                        let src_row = &plane[iy as usize * s.w..(iy as usize + 1) * s.w];
                        let ix0 = ix00 + kx as isize;
                        let (lo, hi) = valid_run(ix0, s.stride, s.w, run);
                        // Element loops rather than fill/copy_from_slice: runs are short (≤ one output row) and
                        // a library call per run costs more than the copy.
                        let (head, rest) = d.split_at_mut(lo);
                        for v in head.iter_mut().chain(rest[hi - lo..].iter_mut()) {
                            *v = 0.0;
                        }
                        if hi > lo {
                            let start = (ix0 + lo as isize * st) as usize;
                            if s.stride == 1 {
                                for (v, x) in d[lo..hi].iter_mut().zip(&src_row[start..start + (hi - lo)]) {
                                    *v = *x;
                                }
                            } else {
                                for (t, v) in d[lo..hi].iter_mut().enumerate() {
                                    *v = src_row[start + t * s.stride];
                                }
                            }
                        }
                    }
                    dst[cols..].fill(0.0);
                    row += 1;
                }
            }
        }
    }
}

/// Pack u8 channels-last input (`[h][w][cpad]`, channels past `cin` zero) into `[panel][kk4/4][NR][4]` panels.
///
/// The int8 reduction runs over `(ky, kx, channel)`, channel fastest, so each group of four reduction steps is four
/// adjacent channels of one input pixel: one aligned 4-byte copy per pixel and group, no byte shuffling.
pub fn im2col_u8(s: &ConvShape, x: &[u8], packed: &mut [u8]) {
    let (n, kk4, wo, cq) = (s.n(), s.kk4(), s.wo(), s.cpad() / 4);
    let quads = kk4 / 4;
    let src: &[[u8; 4]] = bytemuck::cast_slice(&x[..s.h * s.w * s.cpad()]);
    let dst_all: &mut [[u8; 4]] = bytemuck::cast_slice_mut(&mut packed[..s.packed_len_u8()]);
    for p in 0..s.panels() {
        let panel = &mut dst_all[p * quads * NR..(p + 1) * quads * NR];
        let n0 = p * NR;
        for j in 0..NR {
            let n_j = n0 + j;
            if n_j >= n {
                for q in 0..quads {
                    panel[q * NR + j] = [0; 4];
                }
                continue;
            }
            let (oy, ox) = (n_j / wo, n_j % wo);
            let mut q = 0;
            for ky in 0..s.k {
                let iy = (oy * s.stride + ky) as isize - s.pad as isize;
                for kx in 0..s.k {
                    let ix = (ox * s.stride + kx) as isize - s.pad as isize;
                    if iy < 0 || ix < 0 || iy >= s.h as isize || ix >= s.w as isize {
                        for t in 0..cq {
                            panel[(q + t) * NR + j] = [0; 4];
                        }
                    } else {
                        let base = (iy as usize * s.w + ix as usize) * cq;
                        for t in 0..cq {
                            panel[(q + t) * NR + j] = src[base + t];
                        }
                    }
                    q += cq;
                }
            }
        }
    }
}

/// `out[m][n] = Σ_kk w[m][kk]·X[kk][n]` for all `m < cout`, over panels packed by [`im2col_f32`].
/// `w` is `[cout][kk]` row-major; `out` is `[cout][n]`.
pub fn gemm_f32(s: &ConvShape, cout: usize, w: &[f32], packed: &[f32], out: &mut [f32]) {
    let (n, kk) = (s.n(), s.kk());
    debug_assert!(w.len() >= cout * kk && out.len() >= cout * n && packed.len() >= s.packed_len());
    #[cfg(target_arch = "x86_64")]
    {
        if crate::core::cpu::has_avx512() {
            // SAFETY: AVX-512F is present (checked at run time with std, at compile time without).
            unsafe { x86::gemm_f32_avx512(s, cout, w, packed, out) };
            return;
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: NEON is part of the aarch64 baseline.
        unsafe { arm::gemm_f32_neon(s, cout, w, packed, out) };
        return;
    }
    #[allow(unreachable_code)]
    gemm_f32_portable(n, kk, cout, w, packed, out)
}

/// Portable f32 GEMM over packed panels: the readable reference the SIMD kernels are checked against.
pub fn gemm_f32_portable(n: usize, kk: usize, cout: usize, w: &[f32], packed: &[f32], out: &mut [f32]) {
    for p in 0..n.div_ceil(NR) {
        let panel = &packed[p * kk * NR..(p + 1) * kk * NR];
        let n0 = p * NR;
        let cols = (n - n0).min(NR);
        for m in 0..cout {
            let wrow = &w[m * kk..(m + 1) * kk];
            let mut acc = [0.0f32; NR];
            for (r, &wv) in wrow.iter().enumerate() {
                let xs = &panel[r * NR..(r + 1) * NR];
                for j in 0..NR {
                    acc[j] += wv * xs[j];
                }
            }
            out[m * n + n0..m * n + n0 + cols].copy_from_slice(&acc[..cols]);
        }
    }
}

/// Int8 GEMM: `out[m][n] = scale_x · w_scale[m] · Σ w[m][r]·x[r][n]` with `w` i8 `[cout][kk4]` in `(ky, kx, channel)`
/// order, `x` u8 packed by [`im2col_u8`], accumulation in i32 (exact: |Σ| ≤ 4608·255·127 < 2³¹).
pub fn gemm_i8(s: &ConvShape, cout: usize, w: &[i8], w_scale: &[f32], scale_x: f32, packed: &[u8], out: &mut [f32]) {
    debug_assert!(w.len() >= cout * s.kk4() && packed.len() >= s.packed_len_u8());
    #[cfg(target_arch = "x86_64")]
    {
        if crate::core::cpu::has_avx512_vnni() {
            // SAFETY: AVX-512F/BW/VNNI are present (checked at run time with std, at compile time without).
            unsafe { x86::gemm_i8_vnni(s, cout, w, w_scale, scale_x, packed, out) };
            return;
        }
    }
    gemm_i8_portable(s, cout, w, w_scale, scale_x, packed, out)
}

/// Portable int8 GEMM: the readable reference the VNNI kernel is checked against.
pub fn gemm_i8_portable(
    s: &ConvShape,
    cout: usize,
    w: &[i8],
    w_scale: &[f32],
    scale_x: f32,
    packed: &[u8],
    out: &mut [f32],
) {
    let (n, kk4) = (s.n(), s.kk4());
    for p in 0..s.panels() {
        let panel = &packed[p * kk4 * NR..(p + 1) * kk4 * NR];
        let n0 = p * NR;
        let cols = (n - n0).min(NR);
        for m in 0..cout {
            let wrow = &w[m * kk4..(m + 1) * kk4];
            let mut acc = [0i32; NR];
            for q in 0..kk4 / 4 {
                let wq = &wrow[q * 4..q * 4 + 4];
                let xs = &panel[q * NR * 4..(q + 1) * NR * 4];
                for j in 0..NR {
                    let x4 = &xs[j * 4..j * 4 + 4];
                    acc[j] += wq[0] as i32 * x4[0] as i32
                        + wq[1] as i32 * x4[1] as i32
                        + wq[2] as i32 * x4[2] as i32
                        + wq[3] as i32 * x4[3] as i32;
                }
            }
            let sc = scale_x * w_scale[m];
            for j in 0..cols {
                out[m * n + n0 + j] = acc[j] as f32 * sc;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_op_in_unsafe_fn)]
mod x86 {
    use super::{ConvShape, MR, NR};
    use core::arch::x86_64::*;

    /// AVX-512 f32 kernel: 8 output channels × 32 pixels per call, 16 zmm accumulators.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn gemm_f32_avx512(s: &ConvShape, cout: usize, w: &[f32], packed: &[f32], out: &mut [f32]) {
        let (n, kk) = (s.n(), s.kk());
        let mblocks = cout / MR;
        for p in 0..s.panels() {
            let panel = packed.as_ptr().add(p * kk * NR);
            let n0 = p * NR;
            let cols = (n - n0).min(NR);
            if cols <= 16 {
                // A narrow panel (deep layers of small frames): one vector of pixels, twice the output channels.
                narrow_f32(kk, cout, w, panel, out, n, n0, cols);
                continue;
            }
            for mb in 0..mblocks {
                let m0 = mb * MR;
                let wp = w.as_ptr().add(m0 * kk);
                let mut acc = [_mm512_setzero_ps(); 2 * MR];
                for r in 0..kk {
                    let b0 = _mm512_loadu_ps(panel.add(r * NR));
                    let b1 = _mm512_loadu_ps(panel.add(r * NR + 16));
                    for i in 0..MR {
                        let a = _mm512_set1_ps(*wp.add(i * kk + r));
                        acc[2 * i] = _mm512_fmadd_ps(a, b0, acc[2 * i]);
                        acc[2 * i + 1] = _mm512_fmadd_ps(a, b1, acc[2 * i + 1]);
                    }
                }
                store_tile(&acc, out, m0, n, n0, cols);
            }
            // Output channels beyond the last full block of 8 (none in CORnet-Z, but any width is allowed).
            for m in mblocks * MR..cout {
                let wp = w.as_ptr().add(m * kk);
                let mut a0 = _mm512_setzero_ps();
                let mut a1 = _mm512_setzero_ps();
                for r in 0..kk {
                    let a = _mm512_set1_ps(*wp.add(r));
                    a0 = _mm512_fmadd_ps(a, _mm512_loadu_ps(panel.add(r * NR)), a0);
                    a1 = _mm512_fmadd_ps(a, _mm512_loadu_ps(panel.add(r * NR + 16)), a1);
                }
                let tile = [a0, a1];
                store_row(&tile, out, m, n, n0, cols);
            }
        }
    }

    /// 8 output channels × up to 16 pixels per call; even and odd reduction steps accumulate separately, which gives
    /// 16 independent FMA chains while keeping only 8 weight-row pointers live (16 would spill).
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::needless_range_loop)]
    unsafe fn narrow_f32(
        kk: usize,
        cout: usize,
        w: &[f32],
        panel: *const f32,
        out: &mut [f32],
        n: usize,
        n0: usize,
        cols: usize,
    ) {
        let mut m0 = 0;
        while m0 + MR <= cout {
            let wp = w.as_ptr().add(m0 * kk);
            let mut even = [_mm512_setzero_ps(); MR];
            let mut odd = [_mm512_setzero_ps(); MR];
            let mut r = 0;
            while r + 1 < kk {
                let b0 = _mm512_loadu_ps(panel.add(r * NR));
                let b1 = _mm512_loadu_ps(panel.add((r + 1) * NR));
                for i in 0..MR {
                    even[i] = _mm512_fmadd_ps(_mm512_set1_ps(*wp.add(i * kk + r)), b0, even[i]);
                    odd[i] = _mm512_fmadd_ps(_mm512_set1_ps(*wp.add(i * kk + r + 1)), b1, odd[i]);
                }
                r += 2;
            }
            if r < kk {
                let b0 = _mm512_loadu_ps(panel.add(r * NR));
                for i in 0..MR {
                    even[i] = _mm512_fmadd_ps(_mm512_set1_ps(*wp.add(i * kk + r)), b0, even[i]);
                }
            }
            for i in 0..MR {
                let v = _mm512_add_ps(even[i], odd[i]);
                _mm512_mask_storeu_ps(out.as_mut_ptr().add((m0 + i) * n + n0), mask(cols), v);
            }
            m0 += MR;
        }
        for m in m0..cout {
            let wp = w.as_ptr().add(m * kk);
            let mut a = _mm512_setzero_ps();
            for r in 0..kk {
                a = _mm512_fmadd_ps(_mm512_set1_ps(*wp.add(r)), _mm512_loadu_ps(panel.add(r * NR)), a);
            }
            _mm512_mask_storeu_ps(out.as_mut_ptr().add(m * n + n0), mask(cols), a);
        }
    }

    #[inline(always)]
    unsafe fn store_tile(acc: &[__m512; 2 * MR], out: &mut [f32], m0: usize, n: usize, n0: usize, cols: usize) {
        for i in 0..MR {
            store_row(&[acc[2 * i], acc[2 * i + 1]], out, m0 + i, n, n0, cols);
        }
    }

    #[inline(always)]
    unsafe fn store_row(v: &[__m512; 2], out: &mut [f32], m: usize, n: usize, n0: usize, cols: usize) {
        let dst = out.as_mut_ptr().add(m * n + n0);
        if cols == NR {
            _mm512_storeu_ps(dst, v[0]);
            _mm512_storeu_ps(dst.add(16), v[1]);
        } else {
            let lo = cols.min(16);
            let hi = cols - lo;
            _mm512_mask_storeu_ps(dst, mask(lo), v[0]);
            if hi > 0 {
                _mm512_mask_storeu_ps(dst.add(16), mask(hi), v[1]);
            }
        }
    }

    #[inline(always)]
    fn mask(k: usize) -> __mmask16 {
        if k >= 16 {
            0xffff
        } else {
            ((1u32 << k) - 1) as u16
        }
    }

    /// AVX-512 VNNI int8 kernel: 8 output channels × 32 pixels, `vpdpbusd` over groups of 4 reduction steps.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn gemm_i8_vnni(
        s: &ConvShape,
        cout: usize,
        w: &[i8],
        w_scale: &[f32],
        scale_x: f32,
        packed: &[u8],
        out: &mut [f32],
    ) {
        let (n, kk4) = (s.n(), s.kk4());
        let quads = kk4 / 4;
        let mblocks = cout.div_ceil(MR);
        for p in 0..s.panels() {
            let panel = packed.as_ptr().add(p * kk4 * NR);
            let n0 = p * NR;
            let cols = (n - n0).min(NR);
            for mb in 0..mblocks {
                let m0 = mb * MR;
                let rows = (cout - m0).min(MR);
                let mut acc = [_mm512_setzero_si512(); 2 * MR];
                for q in 0..quads {
                    let b0 = _mm512_loadu_si512(panel.add(q * NR * 4) as *const _);
                    let b1 = _mm512_loadu_si512(panel.add(q * NR * 4 + 64) as *const _);
                    for i in 0..MR {
                        if i < rows {
                            let wq = (w.as_ptr().add((m0 + i) * kk4 + q * 4) as *const i32).read_unaligned();
                            let a = _mm512_set1_epi32(wq);
                            acc[2 * i] = _mm512_dpbusd_epi32(acc[2 * i], b0, a);
                            acc[2 * i + 1] = _mm512_dpbusd_epi32(acc[2 * i + 1], b1, a);
                        }
                    }
                }
                for i in 0..rows {
                    let sc = _mm512_set1_ps(scale_x * w_scale[m0 + i]);
                    let v = [
                        _mm512_mul_ps(_mm512_cvtepi32_ps(acc[2 * i]), sc),
                        _mm512_mul_ps(_mm512_cvtepi32_ps(acc[2 * i + 1]), sc),
                    ];
                    store_row(&v, out, m0 + i, n, n0, cols);
                }
            }
        }
    }
}

#[cfg(target_arch = "aarch64")]
#[allow(unsafe_op_in_unsafe_fn)]
mod arm {
    use super::{ConvShape, MR, NR};
    use core::arch::aarch64::*;

    /// NEON f32 kernel: 8 output channels × 32 pixels would need 64 registers; use 4 × 32 (32 accumulators of 4).
    #[target_feature(enable = "neon")]
    pub unsafe fn gemm_f32_neon(s: &ConvShape, cout: usize, w: &[f32], packed: &[f32], out: &mut [f32]) {
        const M4: usize = MR / 2;
        let (n, kk) = (s.n(), s.kk());
        for p in 0..s.panels() {
            let panel = packed.as_ptr().add(p * kk * NR);
            let n0 = p * NR;
            let cols = (n - n0).min(NR);
            let mut m0 = 0;
            while m0 < cout {
                let rows = (cout - m0).min(M4);
                // Two halves of 16 pixels keep the accumulators at 4 rows × 4 vectors = 16 registers.
                for half in 0..2 {
                    let mut acc = [vdupq_n_f32(0.0); M4 * 4];
                    for r in 0..kk {
                        let b = panel.add(r * NR + half * 16);
                        let bv = [vld1q_f32(b), vld1q_f32(b.add(4)), vld1q_f32(b.add(8)), vld1q_f32(b.add(12))];
                        for i in 0..rows {
                            let a = vdupq_n_f32(*w.as_ptr().add((m0 + i) * kk + r));
                            for t in 0..4 {
                                acc[i * 4 + t] = vfmaq_f32(acc[i * 4 + t], a, bv[t]);
                            }
                        }
                    }
                    for i in 0..rows {
                        let mut tmp = [0.0f32; 16];
                        for t in 0..4 {
                            vst1q_f32(tmp.as_mut_ptr().add(t * 4), acc[i * 4 + t]);
                        }
                        let start = half * 16;
                        if start < cols {
                            let take = (cols - start).min(16);
                            let dst = (m0 + i) * n + n0 + start;
                            out[dst..dst + take].copy_from_slice(&tmp[..take]);
                        }
                    }
                }
                m0 += rows;
            }
        }
    }
}
