//! x86-64 AVX-512 kernels: an 8 × 32 f32 GEMM tile (AVX-512F) and an 8 × 32 int8 tile on VNNI's `vpdpbusd`
//! (four u8 × i8 products summed into each i32 lane, exact: no intermediate saturation).

use super::{ConvShape, NR};
use core::arch::x86_64::*;

/// Output channels per tile: 8 rows × 2 zmm vectors = 16 accumulators of the 32 zmm registers.
const MR: usize = 8;

/// AVX-512 f32 GEMM: blocks of 16 output channels, each over every panel (so a block's weights are read from memory
/// once and reused from cache for all panels: IT's 4.7 MB of weights at 96² were streamed once per panel); full
/// panels in 8 × 32 tiles ([`wide_f32`]), narrow ones (≤ 16 pixels) by [`narrow_f32`], a few pixels by [`tiny_f32`].
///
/// # Safety
/// The CPU supports AVX-512F; `s` is valid and `w`, `packed`, `out` hold at least `cout·kk`, `packed_len` and
/// `cout·n` floats (checked by `Kernels::gemm_f32`).
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn gemm_f32(s: &ConvShape, cout: usize, w: &[f32], packed: &[f32], out: &mut [f32]) {
    let (n, kk) = (s.n(), s.kk());
    let (w, out) = (w.as_ptr(), out.as_mut_ptr());
    let mut m0 = 0;
    while m0 < cout {
        let rows = (cout - m0).min(MR_TINY);
        // SAFETY: rows m0..m0 + rows ≤ cout of `w` and `out`.
        let (w, out) = unsafe { (w.add(m0 * kk), out.add(m0 * n)) };
        for p in 0..s.panels() {
            // SAFETY: panel p lies inside `packed` (p < panels, `packed_len` = panels·kk·NR).
            let panel = unsafe { packed.as_ptr().add(p * kk * NR) };
            let n0 = p * NR;
            let cols = (n - n0).min(NR);
            // SAFETY (all three): the block's `rows` rows of `w` and `out`, panel p, as this function's contract.
            unsafe {
                if cols <= 4 {
                    // A panel of a few pixels (IT's last 4 of 36 at 96²): four reduction steps per instruction.
                    tiny_f32(kk, rows, w, panel, out, n, n0, cols);
                } else if cols <= 16 {
                    // A narrow panel (deep layers of small frames): one vector of pixels.
                    narrow_f32(kk, rows, w, panel, out, n, n0, cols);
                } else {
                    wide_f32(kk, rows, w, panel, out, n, n0, cols);
                }
            }
        }
        m0 += rows;
    }
}

/// 8 output channels × 32 pixels per tile, for `cout` rows.
///
/// # Safety
/// AVX-512F present; `w` holds `cout` rows of `kk` floats, `panel` `kk` rows of `NR` floats, and `out` `cout` rows
/// of `n ≥ n0 + cols` floats.
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn wide_f32(
    kk: usize,
    cout: usize,
    w: *const f32,
    panel: *const f32,
    out: *mut f32,
    n: usize,
    n0: usize,
    cols: usize,
) {
    let mblocks = cout / MR;
    for mb in 0..mblocks {
        let m0 = mb * MR;
        let mut acc = [_mm512_setzero_ps(); 2 * MR];
        // SAFETY: rows m0..m0+8 ≤ cout of `w` hold kk floats each; panel rows r < kk hold NR floats.
        unsafe {
            let wp = w.add(m0 * kk);
            for r in 0..kk {
                let b0 = _mm512_loadu_ps(panel.add(r * NR));
                let b1 = _mm512_loadu_ps(panel.add(r * NR + 16));
                for i in 0..MR {
                    let a = _mm512_set1_ps(*wp.add(i * kk + r));
                    acc[2 * i] = _mm512_fmadd_ps(a, b0, acc[2 * i]);
                    acc[2 * i + 1] = _mm512_fmadd_ps(a, b1, acc[2 * i + 1]);
                }
            }
        }
        for i in 0..MR {
            // SAFETY: row m0+i < cout of `out` has n ≥ n0 + cols floats.
            unsafe { store_row(acc[2 * i], acc[2 * i + 1], out.add((m0 + i) * n + n0), cols) };
        }
    }
    // Output channels beyond the last full block of 8 (none in CORnet-Z, but any width is allowed).
    for m in mblocks * MR..cout {
        let (mut a0, mut a1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        // SAFETY: row m < cout of `w`, panel rows r < kk, output row m (as above).
        unsafe {
            let wp = w.add(m * kk);
            for r in 0..kk {
                let a = _mm512_set1_ps(*wp.add(r));
                a0 = _mm512_fmadd_ps(a, _mm512_loadu_ps(panel.add(r * NR)), a0);
                a1 = _mm512_fmadd_ps(a, _mm512_loadu_ps(panel.add(r * NR + 16)), a1);
            }
            store_row(a0, a1, out.add(m * n + n0), cols);
        }
    }
}

/// Output channels per [`tiny_f32`] pass: 16 accumulators of the 32 zmm registers.
const MR_TINY: usize = 16;

/// f32 GEMM for a panel of at most 4 pixels: each zmm lane is one (pixel, reduction step) pair, pixel-major (lane
/// `4p + j` holds pixel `p` at step `r + j`), so one FMA covers four steps of four pixels against the row's weights
/// `w[r..r + 4]`, a 16-byte broadcast load (no shuffle per row). The panel's four steps are put in that order once
/// per group, for all 16 rows; each pixel's four lanes are added at the end. The narrow tile would compute these
/// pixels at a quarter of its lanes (IT's last 4 of 36 pixels at 96² took a third of IT's time). Its order (four
/// sums by step modulo 4, added pairwise) is the canonical order of such a panel on every SIMD level (the module
/// docs of `kernels`).
///
/// # Safety
/// AVX-512F present; `cols ≤ 4`; `w` holds `cout` rows of `kk` floats, `panel` `kk` rows of `NR` floats, and `out`
/// `cout` rows of `n ≥ n0 + cols` floats.
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn tiny_f32(
    kk: usize,
    cout: usize,
    w: *const f32,
    panel: *const f32,
    out: *mut f32,
    n: usize,
    n0: usize,
    cols: usize,
) {
    let mut m0 = 0;
    while m0 + MR_TINY <= cout {
        // SAFETY: rows m0..m0 + 16 ≤ cout, as this function's contract.
        unsafe { tiny_f32_rows::<MR_TINY>(kk, w.add(m0 * kk), panel, out.add(m0 * n + n0), n, cols) };
        m0 += MR_TINY;
    }
    for m in m0..cout {
        // SAFETY: row m < cout, as this function's contract.
        unsafe { tiny_f32_rows::<1>(kk, w.add(m * kk), panel, out.add(m * n + n0), n, cols) };
    }
}

/// `R` rows of [`tiny_f32`]: `w` at the first row, `out` at its first output column.
///
/// # Safety
/// AVX-512F present; `cols ≤ 4`; `w` holds `R` rows of `kk` floats, `panel` `kk` rows of `NR` floats, `out` `R` rows
/// (stride `n`) with room for `cols` floats.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
unsafe fn tiny_f32_rows<const R: usize>(
    kk: usize,
    w: *const f32,
    panel: *const f32,
    out: *mut f32,
    n: usize,
    cols: usize,
) {
    // Lane 4p + j takes lane 4j + p of the step-major vector (step j's pixels in lanes 4j..4j + 4).
    let pixel_major = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    // Steps r..r + live (≤ 4) of pixels 0–3, pixel-major; steps past `live` are zero.
    let steps = |r: usize, live: usize| {
        // SAFETY: panel rows r + j < kk (j < live) hold at least 4 floats.
        let row = |j: usize| if j < live { unsafe { _mm_loadu_ps(panel.add((r + j) * NR)) } } else { _mm_setzero_ps() };
        let lo = _mm256_insertf128_ps::<1>(_mm256_castps128_ps256(row(0)), row(1));
        let hi = _mm256_insertf128_ps::<1>(_mm256_castps128_ps256(row(2)), row(3));
        let x = _mm512_insertf64x4::<1>(_mm512_castps_pd(_mm512_castps256_ps512(lo)), _mm256_castps_pd(hi));
        _mm512_permutexvar_ps(pixel_major, _mm512_castpd_ps(x))
    };
    let mut acc = [_mm512_setzero_ps(); R];
    let mut r = 0;
    while r + 4 <= kk {
        let x = steps(r, 4);
        for (i, acc_i) in acc.iter_mut().enumerate() {
            // SAFETY: steps r..r + 4 ≤ kk of row i < R.
            let wv = _mm512_broadcast_f32x4(unsafe { _mm_loadu_ps(w.add(i * kk + r)) });
            *acc_i = _mm512_fmadd_ps(x, wv, *acc_i);
        }
        r += 4;
    }
    if r < kk {
        let live = kk - r;
        let x = steps(r, live);
        for (i, acc_i) in acc.iter_mut().enumerate() {
            // SAFETY: the load is masked to steps r..kk of row i < R (masked lanes are not read).
            let v = unsafe { _mm512_maskz_loadu_ps(mask(live), w.add(i * kk + r)) };
            *acc_i = _mm512_fmadd_ps(x, _mm512_shuffle_f32x4::<0>(v, v), *acc_i);
        }
    }
    // Each pixel's four lanes summed into all four, then lanes 0, 4, 8, 12 to the front.
    let firsts = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    for (i, &a) in acc.iter().enumerate() {
        let a = _mm512_add_ps(a, _mm512_permute_ps::<0b10_11_00_01>(a));
        let a = _mm512_add_ps(a, _mm512_permute_ps::<0b01_00_11_10>(a));
        // SAFETY: output row i < R has room for `cols` floats; the store is masked to them.
        unsafe { _mm512_mask_storeu_ps(out.add(i * n), mask(cols), _mm512_permutexvar_ps(firsts, a)) };
    }
}

/// 8 output channels × up to 16 pixels per call; even and odd reduction steps accumulate separately, which gives
/// 16 independent FMA chains while keeping only 8 weight-row pointers live (16 would spill).
///
/// # Safety
/// AVX-512F present; `w` holds `cout` rows of `kk` floats, `panel` `kk` rows of `NR` floats, and `out` `cout` rows
/// of `n ≥ n0 + cols` floats.
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
#[allow(clippy::needless_range_loop)]
unsafe fn narrow_f32(
    kk: usize,
    cout: usize,
    w: *const f32,
    panel: *const f32,
    out: *mut f32,
    n: usize,
    n0: usize,
    cols: usize,
) {
    let mut m0 = 0;
    while m0 + MR <= cout {
        let mut even = [_mm512_setzero_ps(); MR];
        let mut odd = [_mm512_setzero_ps(); MR];
        // SAFETY: rows m0..m0+8 ≤ cout, reduction steps r, r+1 < kk, output rows < cout at columns
        // n0..n0+cols (masked store), all inside the contract's bounds.
        unsafe {
            let wp = w.add(m0 * kk);
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
                _mm512_mask_storeu_ps(out.add((m0 + i) * n + n0), mask(cols), v);
            }
        }
        m0 += MR;
    }
    // Rows past the last block of 8 keep the even/odd split: the canonical order depends on the panel's width only
    // (see the module docs of `kernels`), not on where a row falls among the tiles.
    for m in m0..cout {
        let (mut even, mut odd) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        // SAFETY: row m < cout, steps r < kk, output row m at n0..n0+cols (masked).
        unsafe {
            let wp = w.add(m * kk);
            let mut r = 0;
            while r + 1 < kk {
                even = _mm512_fmadd_ps(_mm512_set1_ps(*wp.add(r)), _mm512_loadu_ps(panel.add(r * NR)), even);
                odd = _mm512_fmadd_ps(_mm512_set1_ps(*wp.add(r + 1)), _mm512_loadu_ps(panel.add((r + 1) * NR)), odd);
                r += 2;
            }
            if r < kk {
                even = _mm512_fmadd_ps(_mm512_set1_ps(*wp.add(r)), _mm512_loadu_ps(panel.add(r * NR)), even);
            }
            _mm512_mask_storeu_ps(out.add(m * n + n0), mask(cols), _mm512_add_ps(even, odd));
        }
    }
}

/// Store 32 floats, or the first `cols` of them (masked).
///
/// # Safety
/// AVX-512F present; `dst` has room for `cols.min(32)` floats.
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
unsafe fn store_row(lo: __m512, hi: __m512, dst: *mut f32, cols: usize) {
    // SAFETY: full stores only when all 32 floats fit; masked stores write exactly the first `cols` lanes.
    unsafe {
        if cols >= NR {
            _mm512_storeu_ps(dst, lo);
            _mm512_storeu_ps(dst.add(16), hi);
        } else {
            let l = cols.min(16);
            _mm512_mask_storeu_ps(dst, mask(l), lo);
            if cols > 16 {
                _mm512_mask_storeu_ps(dst.add(16), mask(cols - 16), hi);
            }
        }
    }
}

/// The first `k` of 16 lanes.
#[inline(always)]
fn mask(k: usize) -> __mmask16 {
    if k >= 16 {
        0xffff
    } else {
        ((1u32 << k) - 1) as u16
    }
}

/// AVX-512 VNNI int8 GEMM: 8 output channels × 32 pixels, `vpdpbusd` over groups of 4 reduction steps (u8
/// activations × i8 weights, four products summed into each i32 lane without intermediate saturation).
///
/// # Safety
/// The CPU supports AVX-512F/BW/VNNI; `s` is valid with `kk4 ≤ MAX_KK4`; `w`, `w_scale`, `packed`, `out` hold at
/// least `cout·kk4`, `cout`, `packed_len_u8 / 4` and `cout·n` elements, `packed` written by the quad im2col
/// (checked by `Kernels::gemm_i8`).
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
pub(super) unsafe fn gemm_i8_vnni(
    s: &ConvShape,
    cout: usize,
    w: &[i8],
    w_scale: &[f32],
    scale_x: f32,
    packed: &[f32],
    out: &mut [f32],
) {
    let (n, kk4) = (s.n(), s.kk4());
    let quads = kk4 / 4;
    let (w, out) = (w.as_ptr(), out.as_mut_ptr());
    let bytes = packed.as_ptr() as *const u8;
    let mblocks = cout.div_ceil(MR);
    for p in 0..s.panels() {
        // SAFETY: panel p lies inside the packed bytes (p < panels, `packed_len_u8` = panels·kk4·NR).
        let panel = unsafe { bytes.add(p * kk4 * NR) };
        let n0 = p * NR;
        let cols = (n - n0).min(NR);
        let t = Panel { quads, cout, w, w_scale, scale_x, panel, out, n, n0, cols };
        // SAFETY: the pointers and bounds of this function's contract in every arm; the pixel-major tiles' length
        // limits are checked in their arms, and the wide tile gets rows m0..m0 + rows ≤ cout.
        unsafe {
            match cols {
                // A panel of a few pixels (IT's last 4 of 36 at 96², and of 196 at 224²): sixteen quads per
                // instruction instead of pixels, from a pixel-major copy of the panel when it fits on the stack.
                0..=4 if quads <= TAIL_QUADS => tail_i8_vnni(&t),
                0..=4 => tiny_i8_vnni(&t),
                // A narrow panel (deep layers of small frames, or the last partial panel): skip its zero half, from
                // a pixel-major copy when it fits on the stack.
                5..=16 if quads <= NARROW_QUADS => narrow_pm_i8_vnni(&t),
                5..=16 => narrow_i8_vnni(&t),
                _ => {
                    for mb in 0..mblocks {
                        let m0 = mb * MR;
                        match (cout - m0).min(MR) {
                            8 => wide_i8_vnni::<8>(&t, m0),
                            7 => wide_i8_vnni::<7>(&t, m0),
                            6 => wide_i8_vnni::<6>(&t, m0),
                            5 => wide_i8_vnni::<5>(&t, m0),
                            4 => wide_i8_vnni::<4>(&t, m0),
                            3 => wide_i8_vnni::<3>(&t, m0),
                            2 => wide_i8_vnni::<2>(&t, m0),
                            _ => wide_i8_vnni::<1>(&t, m0),
                        }
                    }
                }
            }
        }
    }
}

/// One 8 × 32 tile of [`gemm_i8_vnni`]: `R ≤ MR` output channels from `m0`, a constant count, so the inner loop
/// has no per-row test (2·`R` accumulators, two panel vectors and a broadcast weight quad).
///
/// # Safety
/// AVX-512F/BW/VNNI present; `t` is as [`Panel`] says, with `m0 + R ≤ cout` and a panel of `NR` pixels.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
#[inline]
unsafe fn wide_i8_vnni<const R: usize>(t: &Panel<'_>, m0: usize) {
    let Panel { quads, w, w_scale, scale_x, panel, out, n, n0, cols, .. } = *t;
    let kk4 = quads * 4;
    let mut acc = [[_mm512_setzero_si512(); 2]; R];
    // SAFETY: quad rows q < quads of the panel hold NR·4 bytes; weight rows m0+i < cout (i < R) hold kk4 bytes,
    // read 4 at a time at q·4.
    unsafe {
        for q in 0..quads {
            let b0 = _mm512_loadu_si512(panel.add(q * NR * 4) as *const _);
            let b1 = _mm512_loadu_si512(panel.add(q * NR * 4 + 64) as *const _);
            for (i, acc_i) in acc.iter_mut().enumerate() {
                let a = _mm512_set1_epi32((w.add((m0 + i) * kk4 + q * 4) as *const i32).read_unaligned());
                acc_i[0] = _mm512_dpbusd_epi32(acc_i[0], b0, a);
                acc_i[1] = _mm512_dpbusd_epi32(acc_i[1], b1, a);
            }
        }
    }
    for (i, acc_i) in acc.iter().enumerate() {
        let sc = _mm512_set1_ps(scale_x * w_scale[m0 + i]);
        let lo = _mm512_mul_ps(_mm512_cvtepi32_ps(acc_i[0]), sc);
        let hi = _mm512_mul_ps(_mm512_cvtepi32_ps(acc_i[1]), sc);
        // SAFETY: row m0+i < cout of `out` has n ≥ n0 + cols floats.
        unsafe { store_row(lo, hi, out.add((m0 + i) * n + n0), cols) };
    }
}

/// One partial panel's int8 work for the narrow VNNI tiles: `w` holds `cout` rows of `quads·4` bytes, `w_scale`
/// `cout` floats, `panel` `quads` rows of `NR·4` bytes, and `out` `cout` rows of `n ≥ n0 + cols` floats.
#[derive(Clone, Copy)]
struct Panel<'a> {
    quads: usize,
    cout: usize,
    w: *const i8,
    w_scale: &'a [f32],
    scale_x: f32,
    panel: *const u8,
    out: *mut f32,
    n: usize,
    n0: usize,
    cols: usize,
}

/// Longest reduction, in quads, that [`tail_i8_vnni`] copies pixel-major onto the stack: 1,024 quads (`kk4` up to
/// 4,096 bytes, 16 KiB for the four pixels), which covers every CORnet-Z block (IT's `kk4` is 2,304); longer ones
/// take [`tiny_i8_vnni`].
const TAIL_QUADS: usize = 1024;

/// Output channels per pass of [`tail_i8_vnni`]: 4 rows × 4 pixels = 16 accumulators, four pixel vectors and a
/// weight vector in registers.
const MR_TAIL: usize = 4;

/// VNNI int8 tile for a panel of at most 4 pixels with at most [`TAIL_QUADS`] quads. The panel stores each quad's
/// 32 pixels side by side, so a pixel's quads lie 128 bytes apart; copied once per call into a pixel-major buffer
/// (four rows of `quads` u32, zero-padded to a multiple of 16), every 16 consecutive quads of a pixel are one
/// zmm, and so are the 16 matching weight quads of an output channel (a plain 64-byte load of its row). One
/// `vpdpbusd` then does 64 useful products with no shuffle in the loop (the permute-based [`tiny_i8_vnni`]
/// spends one permute per instruction and runs IT's 4-pixel tail at about a quarter of the wide tile's rate).
/// Each accumulator's 16 lanes are summed at the end: the same exact integer sums as every other tile.
///
/// # Safety
/// AVX-512F/BW/VNNI present; `t` is as [`Panel`] says, with `cols ≤ 4` and `quads ≤ TAIL_QUADS`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
unsafe fn tail_i8_vnni(t: &Panel<'_>) {
    let Panel { quads, cout, panel, .. } = *t;
    let chunks = quads.div_ceil(16);
    // Pixel p's quad q at [p][q]; quads past `quads` stay zero, so the last chunk's padding adds nothing.
    let mut pixels = [[0u32; TAIL_QUADS]; 4];
    for (p, row) in pixels.iter_mut().enumerate() {
        for (q, v) in row.iter_mut().enumerate().take(quads) {
            // SAFETY: quad row q < quads of the panel holds NR ≥ 4 pixels of 4 bytes; p < 4.
            *v = unsafe { (panel.add(q * NR * 4 + p * 4) as *const u32).read_unaligned() };
        }
    }
    let mut m0 = 0;
    while m0 < cout {
        let rows = (cout - m0).min(MR_TAIL);
        // SAFETY: as this function's contract; rows m0..m0 + rows ≤ cout; `pixels` holds `chunks·16` quads per
        // pixel.
        unsafe {
            match rows {
                4 => tail_rows::<4>(t, &pixels, chunks, m0),
                3 => tail_rows::<3>(t, &pixels, chunks, m0),
                2 => tail_rows::<2>(t, &pixels, chunks, m0),
                _ => tail_rows::<1>(t, &pixels, chunks, m0),
            }
        }
        m0 += rows;
    }
}

/// `R ≤ MR_TAIL` output channels from `m0` of [`tail_i8_vnni`] over the pixel-major copy `pixels`.
///
/// # Safety
/// AVX-512F/BW/VNNI present; `t` is as [`Panel`] says with `cols ≤ 4`, `m0 + R ≤ cout`, and `chunks·16 ≤
/// TAIL_QUADS` with `chunks = ⌈quads / 16⌉`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
#[inline]
unsafe fn tail_rows<const R: usize>(t: &Panel<'_>, pixels: &[[u32; TAIL_QUADS]; 4], chunks: usize, m0: usize) {
    let Panel { quads, w, w_scale, scale_x, out, n, n0, cols, .. } = *t;
    let kk4 = quads * 4;
    let mut acc = [[_mm512_setzero_si512(); 4]; R];
    for c in 0..chunks {
        // The last chunk's weight loads are masked to the row's remaining quads (the row ends there).
        let live = mask((quads - c * 16).min(16));
        // SAFETY: c·16 + 16 ≤ chunks·16 ≤ TAIL_QUADS u32 of each pixel row; weight rows m0 + i < cout hold kk4 =
        // quads·4 bytes, of which the masked load reads quads c·16.. < quads.
        unsafe {
            let x = [0, 1, 2, 3].map(|p| _mm512_loadu_si512(pixels[p].as_ptr().add(c * 16) as *const _));
            for (i, acc_i) in acc.iter_mut().enumerate() {
                let wv = _mm512_maskz_loadu_epi32(live, w.add((m0 + i) * kk4 + c * 64) as *const i32);
                for (a, xp) in acc_i.iter_mut().zip(&x) {
                    *a = _mm512_dpbusd_epi32(*a, *xp, wv);
                }
            }
        }
    }
    for (i, [a0, a1, a2, a3]) in acc.iter().enumerate() {
        // Sum each accumulator's lanes, the four pixels side by side: per 128-bit block first
        // ([Σa0, Σa1, Σa2, Σa3] of the block), then across the four blocks.
        let s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(*a0, *a1), _mm512_unpackhi_epi32(*a0, *a1));
        let s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(*a2, *a3), _mm512_unpackhi_epi32(*a2, *a3));
        let s = _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
        let half = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64::<1>(s));
        let sum = _mm_add_epi32(_mm256_castsi256_si128(half), _mm256_extracti128_si256::<1>(half));
        let v = _mm_mul_ps(_mm_cvtepi32_ps(sum), _mm_set1_ps(scale_x * w_scale[m0 + i]));
        // SAFETY: row m0+i < cout of `out` has n ≥ n0 + cols floats; the store is masked to `cols` ≤ 4.
        unsafe { _mm512_mask_storeu_ps(out.add((m0 + i) * n + n0), mask(cols), _mm512_castps128_ps512(v)) };
    }
}

/// VNNI int8 tile for a panel of at most 4 pixels: 16 output channels per pass, each zmm lane one (quad, pixel)
/// pair, so one `vpdpbusd` covers four quads of four pixels (the 16-pixel tile would spend three quarters of its
/// lanes on padding). Block j of the panel vector holds pixels 0–3 of quad q + j; the weight vector repeats quad
/// q + j of the row across block j. The four blocks are summed at the end: the same exact integer sums.
///
/// # Safety
/// AVX-512F/BW/VNNI present; `t` is as [`Panel`] says, with `cols ≤ 4`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
unsafe fn tiny_i8_vnni(t: &Panel<'_>) {
    let Panel { quads, cout, w, w_scale, scale_x, panel, out, n, n0, cols } = *t;
    let kk4 = quads * 4;
    // Lane 4j + k takes the weight quad j.
    let spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    let mut m0 = 0;
    while m0 < cout {
        let rows = (cout - m0).min(MR_NARROW);
        let mut acc = [_mm512_setzero_si512(); MR_NARROW];
        for q in (0..quads).step_by(4) {
            let live = (quads - q).min(4);
            // SAFETY: quad rows q + j < quads of the panel hold at least 16 bytes (pixels 0–3); the weight loads
            // are masked to the `live` quads q.. of rows m0 + i < cout.
            unsafe {
                let pixels = |j: usize| {
                    if j < live {
                        _mm_loadu_si128(panel.add((q + j) * NR * 4) as *const __m128i)
                    } else {
                        _mm_setzero_si128()
                    }
                };
                let lo = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(pixels(0)), pixels(1));
                let hi = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(pixels(2)), pixels(3));
                let b = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi);
                let live_mask = mask(live);
                for (i, acc_i) in acc.iter_mut().enumerate() {
                    if i < rows {
                        let wq = _mm512_maskz_loadu_epi32(live_mask, w.add((m0 + i) * kk4 + q * 4) as *const i32);
                        *acc_i = _mm512_dpbusd_epi32(*acc_i, b, _mm512_permutexvar_epi32(spread, wq));
                    }
                }
            }
        }
        for (i, acc_i) in acc.iter().enumerate().take(rows) {
            let half = _mm256_add_epi32(_mm512_castsi512_si256(*acc_i), _mm512_extracti64x4_epi64::<1>(*acc_i));
            let sum = _mm_add_epi32(_mm256_castsi256_si128(half), _mm256_extracti128_si256::<1>(half));
            let v = _mm_mul_ps(_mm_cvtepi32_ps(sum), _mm_set1_ps(scale_x * w_scale[m0 + i]));
            // SAFETY: row m0+i < cout of `out` has n ≥ n0 + cols floats; the store is masked to `cols` ≤ 4.
            unsafe { _mm512_mask_storeu_ps(out.add((m0 + i) * n + n0), mask(cols), _mm512_castps128_ps512(v)) };
        }
        m0 += rows;
    }
}

/// Output channels per narrow VNNI tile: 16 rows × 1 zmm vector of 16 pixels.
const MR_NARROW: usize = 16;

/// VNNI int8 tile for a panel of at most 16 pixels whose reduction is too long for [`narrow_pm_i8_vnni`]'s stack
/// copy: 16 output channels × 16 pixels per pass (16 accumulators, one panel vector per quad shared by all 16
/// rows).
///
/// # Safety
/// AVX-512F/BW/VNNI present; `t` is as [`Panel`] says, with `cols ≤ 16`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
unsafe fn narrow_i8_vnni(t: &Panel<'_>) {
    let Panel { quads, cout, w, w_scale, scale_x, panel, out, n, n0, cols } = *t;
    let kk4 = quads * 4;
    let mut m0 = 0;
    while m0 < cout {
        let rows = (cout - m0).min(MR_NARROW);
        let mut acc = [_mm512_setzero_si512(); MR_NARROW];
        // SAFETY: quad rows q < quads hold 64 bytes for the first 16 pixels; weight rows m0+i < cout (i < rows).
        unsafe {
            for q in 0..quads {
                let b = _mm512_loadu_si512(panel.add(q * NR * 4) as *const _);
                // A constant trip count keeps `acc` in registers; rows past `cout` are skipped.
                for (i, acc_i) in acc.iter_mut().enumerate() {
                    if i < rows {
                        let wq = (w.add((m0 + i) * kk4 + q * 4) as *const i32).read_unaligned();
                        *acc_i = _mm512_dpbusd_epi32(*acc_i, b, _mm512_set1_epi32(wq));
                    }
                }
            }
        }
        for (i, acc_i) in acc.iter().enumerate().take(rows) {
            let v = _mm512_mul_ps(_mm512_cvtepi32_ps(*acc_i), _mm512_set1_ps(scale_x * w_scale[m0 + i]));
            // SAFETY: row m0+i < cout of `out` has n ≥ n0 + cols floats; the store is masked to `cols`.
            unsafe { _mm512_mask_storeu_ps(out.add((m0 + i) * n + n0), mask(cols), v) };
        }
        m0 += rows;
    }
}

/// Longest reduction, in quads, that [`narrow_pm_i8_vnni`] copies pixel-major onto the stack: 768 quads (48 KiB for
/// 16 pixels), which covers every CORnet-Z block (IT's 576); longer ones take [`narrow_i8_vnni`].
const NARROW_QUADS: usize = 768;

/// VNNI int8 tile for a panel of at most 16 pixels with at most [`NARROW_QUADS`] quads, one output channel at a
/// time over a pixel-major copy of the panel (16 quads of each pixel per vector, zero past the reduction's end): each of the 16 accumulators is one pixel, its lanes 16 consecutive quads, against
/// the row's 16 matching weight quads (one plain 64-byte load, used by all 16 `vpdpbusd`). The copy (at most 48 KiB)
/// stays in L1 for every row and each weight row is read once as a contiguous stream, where [`narrow_i8_vnni`]
/// broadcasts 4-byte weights from 16 rows at once (16 scattered streams, and more row pointers than registers); IT
/// at 64² (one 16-pixel panel) ran at about 60 % of the wide tile's rate that way. The 16 accumulators are summed
/// lane-wise by a transposing reduction into one vector of the 16 pixels' sums: the same exact integer sums.
///
/// # Safety
/// AVX-512F/BW/VNNI present; `t` is as [`Panel`] says, with `cols ≤ 16` and `quads ≤ NARROW_QUADS`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
unsafe fn narrow_pm_i8_vnni(t: &Panel<'_>) {
    let Panel { quads, cout, w, w_scale, scale_x, panel, out, n, n0, cols } = *t;
    let kk4 = quads * 4;
    let chunks = quads.div_ceil(16);
    // Chunk-major: chunk c's 16 pixel vectors lie side by side (`copy[(c·16 + p)·16 + q % 16]`), so one pointer with
    // constant offsets reaches them all (16 row pointers would not fit in the registers).
    let mut copy = [0u32; 16 * NARROW_QUADS];
    for q in 0..quads {
        let at = (q / 16) * 256 + q % 16;
        for p in 0..16 {
            // SAFETY: quad row q < quads of the panel holds NR ≥ 16 pixels of 4 bytes; at + p·16 < chunks·256 ≤
            // 16·NARROW_QUADS.
            unsafe {
                *copy.get_unchecked_mut(at + p * 16) = (panel.add(q * NR * 4 + p * 4) as *const u32).read_unaligned()
            };
        }
    }
    let store = mask(cols);
    for (m, &ws) in w_scale[..cout].iter().enumerate() {
        let mut acc = [_mm512_setzero_si512(); 16];
        for c in 0..chunks {
            // The last chunk's weight load is masked to the row's remaining quads (the row ends there).
            let live = mask((quads - c * 16).min(16));
            // SAFETY: weight row m < cout holds kk4 = quads·4 bytes, of which the masked load reads quads c·16.. <
            // quads; chunk c < chunks of `copy` holds 256 u32 from c·256.
            unsafe {
                let wv = _mm512_maskz_loadu_epi32(live, w.add(m * kk4 + c * 64) as *const i32);
                let xc = copy.as_ptr().add(c * 256);
                for (p, a) in acc.iter_mut().enumerate() {
                    let x = _mm512_loadu_si512(xc.add(p * 16) as *const _);
                    *a = _mm512_dpbusd_epi32(*a, x, wv);
                }
            }
        }
        let v = _mm512_mul_ps(_mm512_cvtepi32_ps(sum_lanes16(&acc)), _mm512_set1_ps(scale_x * ws));
        // SAFETY: row m < cout of `out` has n ≥ n0 + cols floats; the store is masked to `cols` ≤ 16.
        unsafe { _mm512_mask_storeu_ps(out.add(m * n + n0), store, v) };
    }
}

/// Lane `p` of the result is the sum of the 16 lanes of `a[p]` (exact i32 sums, wrapping as the accumulators do):
/// pairs of vectors added lane-block by lane-block after 32- and 64-bit interleaves (each 128-bit block then holds
/// four vectors' partial sums), then the four blocks of each group of four vectors added across blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
#[inline]
fn sum_lanes16(a: &[__m512i; 16]) -> __m512i {
    // s2[k]: block b = [a[2k] lanes 4b+0/2 + 4b+1/3 interleaved with a[2k+1]'s]: partial sums of two vectors.
    let s2: [__m512i; 8] = core::array::from_fn(|k| {
        let (x, y) = (a[2 * k], a[2 * k + 1]);
        _mm512_add_epi32(_mm512_unpacklo_epi32(x, y), _mm512_unpackhi_epi32(x, y))
    });
    // s4[g]: block b = [Σ over block b of a[4g], a[4g+1], a[4g+2], a[4g+3]].
    let s4: [__m512i; 4] = core::array::from_fn(|g| {
        let (x, y) = (s2[2 * g], s2[2 * g + 1]);
        _mm512_add_epi32(_mm512_unpacklo_epi64(x, y), _mm512_unpackhi_epi64(x, y))
    });
    // Blocks 0+1 and 2+3 of two groups side by side, then the halves of four groups: block g = group g's sums.
    let pair = |x: __m512i, y: __m512i| {
        _mm512_add_epi32(_mm512_shuffle_i32x4::<0b10_00_10_00>(x, y), _mm512_shuffle_i32x4::<0b11_01_11_01>(x, y))
    };
    let (s01, s23) = (pair(s4[0], s4[1]), pair(s4[2], s4[3]));
    pair(s01, s23)
}
