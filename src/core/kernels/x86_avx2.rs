//! x86-64 AVX2 + FMA kernels (Haswell, every Zen): a 6×16 f32 GEMM tile, two exact int8 GEMMs (`vpmaddubsw` on
//! 7-bit codes, `vpmaddwd` on widened bytes), the portable im2col compiled for AVX2, the row layout's packing by word
//! transposes, max-pooling in registers, and the int8 path's conversions to channel quads. The `avxvnni` level shares
//! all of it but the int8 GEMM: the same tiles with AVX-VNNI's `vpdpbusd` ([`gemm_i8_vnni`]), one instruction per 32
//! products instead of three (most current laptops have AVX2 and AVX-VNNI but no AVX-512).
//!
//! # Int8 without VNNI, exactly
//!
//! The usual AVX2 int8 step, `vpmaddubsw` (u8 × i8 → pairs summed into i16), saturates with full 8-bit activations:
//! a pair reaches 2·255·127 = 64,770 > 32,767 (ONNX Runtime documents the same hazard and offers 7-bit
//! `reduce_range` weights as its remedy). This crate takes the bit from the activations instead: every level
//! quantises activations, and frames, to 7-bit codes ([`super::ACT_MAX_CODE`]), for which a pair stays within
//! 2·127·128 = 32,512, so [`gemm_u7`] (`vpmaddubsw`, `vpmaddwd` by ones, `vpaddd`: three instructions per 32
//! products) is exact. [`gemm_i8`] checks its packed input first (one OR over it) and runs [`gemm_u7`] when no code
//! exceeds 127, which is always the case inside the pipeline. Measured on the AMD EPYC (Zen 4) development machine
//! at the `avx2` level (`AVF_BEL_KERNELS=avx2 avf-bel bench --stage visual --size 96 --channels 3 --precision int8`),
//! it took a 3×96² int8 stack from 2.23 to 1.67 ms; the OR costs 1/`cout` of the GEMM's loads.
//!
//! Any other u8 input (the table's methods accept 8-bit codes) takes the widening kernel: both operands widened to
//! i16 (`vpmovzxbw` the activations, `vpmovsxbw` the weights) and multiplied with `vpmaddwd` (i16 × i16 → pairs
//! summed into i32), which cannot overflow; 5 × 8 tiles, the weights widened once per block of five rows into a
//! stack buffer (reductions up to 4,608 bytes, CORnet-Z's longest) rather than in every tile. Either way the result
//! is the exact integer sum, bit-identical to VNNI, NEON and the portable reference.

use super::portable;
use super::{ConvShape, BG_FUSED_MIN, BG_GRID, NR};
use crate::core::visual::SHIFT;
use core::arch::x86_64::*;

/// Output channels per f32 tile: 6 rows × 2 vectors = 12 accumulators, 2 panel vectors and 1 broadcast of the 16
/// ymm registers (the classic Haswell 6×16 shape: 8 loads per 12 FMAs).
const MR_F32: usize = 6;
/// Output channels per narrow f32 tile (8 pixels): 12 accumulators, 1 panel vector and 1 broadcast.
const MR_NARROW: usize = 12;
/// The widest final stretch of a panel the narrow tile takes.
const NARROW: usize = 8;
/// Output channels per int8 tile: 5 rows × 2 vectors (8 pixels) = 10 accumulators, 2 widened panel vectors, 1
/// widened weight quad and 1 product of the 16 ymm registers.
const MR_I8: usize = 5;
/// The longest int8 reduction (bytes per weight row) whose weights [`gemm_i8`] widens ahead into a stack buffer of
/// `MR_I8 · WIDE_KK4` i16 (45 KB): CORnet-Z's longest is IT's 3·3·512 = 4,608. Longer ones widen in the tile.
const WIDE_KK4: usize = 4608;
/// Pixels per int8 tile (two vectors of four pixels × four i16 steps).
const NR_I8: usize = 8;
/// Pixels per tile (half a panel).
const HALF: usize = NR / 2;

/// The portable f32 im2col compiled for AVX2.
///
/// # Safety
/// The CPU supports AVX2 and FMA; the slices satisfy the length checks of `Kernels::im2col_f32`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn im2col_f32(s: &ConvShape, x: &[f32], packed: &mut [f32]) {
    portable::im2col_f32_body(s, x, packed)
}

/// The quad-packing u8 im2col compiled for AVX2.
///
/// # Safety
/// The CPU supports AVX2 and FMA; the slices satisfy the length checks of `Kernels::im2col_u8`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn im2col_u8(s: &ConvShape, x: &[u8], packed: &mut [f32]) {
    portable::im2col_quads_body(s, x, packed)
}

/// The row-layout u8 im2col (see `Kernels::im2col_rows`), its strided copies done by [`rows_copy`].
///
/// # Safety
/// The CPU supports AVX2 and FMA; the slices satisfy the length checks of `Kernels::im2col_rows`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn im2col_rows(s: &ConvShape, x: &[u8], packed: &mut [f32]) {
    let copy = |x: &[u8], first, step, words: &mut [[u32; NR]], cols, last| {
        // SAFETY: AVX2 and FMA are present: this closure exists only inside this function, whose precondition
        // they are.
        unsafe { rows_copy(x, first, step, words, cols, last) }
    };
    portable::im2col_rows_body(s, x, packed, copy)
}

/// `portable::RowsCopy` by transposes: each pixel's kernel row is contiguous in `x`, so 16 bytes loaded at a pixel's
/// start hold four of its words; eight pixels' loads, paired into ymm registers, become four word rows of eight
/// pixels through two rounds of unpacks (a 4×4 transpose of 32-bit words in each lane); a run's last partial block
/// is the full block ending at its end. Runs shorter than 8 pixels, and blocks whose 16-byte loads would reach past
/// `x` (the last pixels of the input), take the portable copy.
///
/// # Safety
/// The CPU supports AVX2. (The caller's guarantee of `portable::RowsCopy` is checked where loads depend on it.)
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_copy(x: &[u8], first: usize, step: usize, words: &mut [[u32; NR]], (c0, c1): (usize, usize), last: u32) {
    let rw = words.len();
    let n = c1.saturating_sub(c0);
    // Pixels finished for every word row. Blocks of 8 are taken while every 16-byte load stays inside `x`: the
    // last load of a block starting at pixel b, for row block tb, starts at first + (b + 7)·step + 4·tb.
    let mut done = 0;
    let fits = |px: usize, tb: usize| first + px * step + 4 * tb + 16 <= x.len();
    while done < n && n >= 8 {
        // A last partial block is the full block ending at the run's end (its overlap is written twice, alike).
        let b0 = done.min(n - 8);
        if c0 + b0 + 8 > NR || !fits(b0 + 7, (rw - 1) / 4 * 4) {
            break;
        }
        let base = first + b0 * step;
        let mut tb = 0;
        while tb < rw {
            // SAFETY: every load reads 16 bytes at base + i·step + 4·tb for i < 8 and tb ≤ (rw − 1)/4·4, inside
            // `x` (`fits` above); the stores write words[tb + r][c0 + b0..c0 + b0 + 8] for tb + r < rw (the rows
            // exist) with c0 + b0 + 8 ≤ NR.
            unsafe {
                let p = x.as_ptr().add(base + 4 * tb);
                let ld = |i: usize| {
                    _mm256_loadu2_m128i(p.add((i + 4) * step) as *const __m128i, p.add(i * step) as *const __m128i)
                };
                let (a0, a1, a2, a3) = (ld(0), ld(1), ld(2), ld(3));
                let (t0, t1) = (_mm256_unpacklo_epi32(a0, a1), _mm256_unpacklo_epi32(a2, a3));
                let (t2, t3) = (_mm256_unpackhi_epi32(a0, a1), _mm256_unpackhi_epi32(a2, a3));
                let rows = [
                    _mm256_unpacklo_epi64(t0, t1),
                    _mm256_unpackhi_epi64(t0, t1),
                    _mm256_unpacklo_epi64(t2, t3),
                    _mm256_unpackhi_epi64(t2, t3),
                ];
                for (r, &v) in rows.iter().enumerate().take(rw - tb) {
                    let t = tb + r;
                    let v = if t + 1 == rw { _mm256_and_si256(v, _mm256_set1_epi32(last as i32)) } else { v };
                    _mm256_storeu_si256(words[t].as_mut_ptr().add(c0 + b0) as *mut __m256i, v);
                }
            }
            tb += 4;
        }
        done = b0 + 8;
    }
    if done < n {
        portable::rows_copy(x, first + done * step, step, words, (c0 + done, c1), last);
    }
}

/// Max-pool 3/2/1 + bias + ReLU (see `Kernels::pool_bias_relu`): for maps of an even width of at least 16 columns,
/// each output row takes its three input rows' maximum straight into registers, 16 columns at a time, and splits it
/// into the even columns (2px) and the odd ones (2px + 1); the odd columns to the left (2px − 1) come from the same
/// maximum taken one column earlier (−∞ at the left edge). Nothing is stored and reloaded at another offset (the
/// portable code's row buffer, read back at an odd offset, stalls on store forwarding), a missing row (top edge,
/// odd height) is an existing one taken twice, and a last partial vector is computed as the full vector ending at
/// the row's end (outputs in the overlap are written twice, with the same values). Narrower or odd-width maps
/// (CORnet-Z's V4 and IT, odd frame sizes) run the portable code compiled for AVX2. Maxima are exact, so the
/// result is the portable one bit for bit.
///
/// # Safety
/// The CPU supports AVX2 and FMA; the slices satisfy the length checks of `Kernels::pool_bias_relu`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn pool(
    x: &[f32],
    (c, h, w): (usize, usize, usize),
    bias: &[f32],
    out: &mut [f32],
    rowmax: &mut [f32],
) -> f32 {
    if w < 16 {
        // SAFETY: AVX2 is present (this function's precondition) and the slices satisfy the same checks.
        return unsafe { pool_narrow(x, (c, h, w), bias, out) };
    }
    if w % 2 == 1 {
        return portable::pool_body(x, (c, h, w), bias, out, rowmax);
    }
    let (ph, pw) = (h.div_ceil(2), w / 2);
    let mut top = _mm256_setzero_ps();
    // Vector starts: every 8 outputs, and the last 8 if `pw` is no multiple of 8 (pw ≥ 8 here).
    let last = pw - 8;
    let x = x.as_ptr();
    let out = out.as_mut_ptr();
    for (ch, &b) in bias[..c].iter().enumerate() {
        let vb = _mm256_set1_ps(b);
        for py in 0..ph {
            let y = 2 * py;
            // SAFETY: rows y − 1, y, y + 1 clamped into 0..h of channel ch (< c); loads read columns col..col + 8
            // with 0 ≤ col ≤ w − 8; stores write outputs px0..px0 + 8 ≤ pw of row py of channel ch.
            unsafe {
                let plane = x.add(ch * h * w);
                let (r0, r1, r2) =
                    (plane.add(y.saturating_sub(1) * w), plane.add(y * w), plane.add((y + 1).min(h - 1) * w));
                let vmax = |col: usize| {
                    let m = _mm256_max_ps(_mm256_loadu_ps(r0.add(col)), _mm256_loadu_ps(r1.add(col)));
                    _mm256_max_ps(m, _mm256_loadu_ps(r2.add(col)))
                };
                let dst = out.add((ch * ph + py) * pw);
                let mut px0 = 0;
                let mut prev_odd = _mm256_set1_ps(f32::NEG_INFINITY);
                loop {
                    let (a0, a1) = (vmax(2 * px0), vmax(2 * px0 + 8));
                    let even = evens(a0, a1);
                    let odd = odds(a0, a1);
                    // Column 2·px0 − 1 is the previous vector's last odd column when the vectors abut (−∞ before
                    // the first); only the last vector of a row whose width is no multiple of 16 overlaps its
                    // predecessor and reloads its own.
                    let left = if px0 % 8 == 0 {
                        odds_left_carry(odd, prev_odd)
                    } else {
                        evens(vmax(2 * px0 - 1), vmax(2 * px0 + 7))
                    };
                    prev_odd = odd;
                    let v = pooled(even, odd, left, vb);
                    top = _mm256_max_ps(top, v);
                    _mm256_storeu_ps(dst.add(px0), v);
                    if px0 == last {
                        break;
                    }
                    px0 = (px0 + 8).min(last);
                }
            }
        }
    }
    largest(top)
}

/// Max-pool 3/2/1 + bias + ReLU for maps narrower than 16 columns (CORnet-Z's V4 and IT, any parity): each input row
/// is two vectors (columns 0–7 and 8–15, masked loads, −∞ past `w`), the three rows' maximum is taken in registers
/// and split into the even columns, the odd ones and the odd ones one to the left (−∞ at the left edge), as in
/// [`pool`]; one masked store of the row's `⌈w/2⌉ ≤ 8` outputs. The portable code it replaces kept a row buffer per
/// output row and reread it at odd offsets. Maxima are exact, so the result is the portable one bit for bit.
///
/// # Safety
/// The CPU supports AVX2; `w < 16`; the slices satisfy the length checks of `Kernels::pool_bias_relu`.
#[target_feature(enable = "avx2,fma")]
unsafe fn pool_narrow(x: &[f32], (c, h, w): (usize, usize, usize), bias: &[f32], out: &mut [f32]) -> f32 {
    let (ph, pw) = (h.div_ceil(2), w.div_ceil(2));
    let neg = _mm256_set1_ps(f32::NEG_INFINITY);
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let below = |k: usize| _mm256_cmpgt_epi32(_mm256_set1_epi32(k as i32), lane);
    let (m_lo, m_hi, m_out) = (below(w.min(8)), below(w.saturating_sub(8)), below(pw));
    let (f_lo, f_hi) = (_mm256_castsi256_ps(m_lo), _mm256_castsi256_ps(m_hi));
    let mut top = _mm256_setzero_ps();
    let (x, out) = (x.as_ptr(), out.as_mut_ptr());
    for (ch, &b) in bias[..c].iter().enumerate() {
        let vb = _mm256_set1_ps(b);
        for py in 0..ph {
            let y = 2 * py;
            // SAFETY: rows y − 1, y, y + 1 clamped into 0..h of channel ch (< c); the masked loads read columns
            // below `w` only; the masked store writes outputs 0..pw of row py of channel ch.
            unsafe {
                let plane = x.add(ch * h * w);
                let rows = [y.saturating_sub(1), y, (y + 1).min(h - 1)].map(|r| plane.add(r * w));
                let half = |off: usize, m: __m256i, f: __m256| {
                    let v = rows.map(|r| _mm256_maskload_ps(r.add(off), m));
                    _mm256_blendv_ps(neg, _mm256_max_ps(_mm256_max_ps(v[0], v[1]), v[2]), f)
                };
                let (lo, hi) = (half(0, m_lo, f_lo), half(8, m_hi, f_hi));
                let (even, odd) = (evens(lo, hi), odds(lo, hi));
                // Lanes past `pw` see only −∞ columns: they come out 0, below any maximum, and are not stored.
                let v = pooled(even, odd, odds_left(odd), vb);
                top = _mm256_max_ps(top, v);
                _mm256_maskstore_ps(out.add((ch * ph + py) * pw), m_out, v);
            }
        }
    }
    largest(top)
}

/// One vector of pooled outputs: the maximum of a window's even, odd and left-odd columns, plus the bias, then ReLU.
#[target_feature(enable = "avx2,fma")]
fn pooled(even: __m256, odd: __m256, left: __m256, bias: __m256) -> __m256 {
    _mm256_max_ps(_mm256_add_ps(_mm256_max_ps(_mm256_max_ps(even, odd), left), bias), _mm256_setzero_ps())
}

/// Columns −1, 1, 3, …, 13 of a row's first 16: the odd columns (from [`odds`]) shifted up one lane, −∞ in lane 0
/// (the left edge).
#[target_feature(enable = "avx2,fma")]
fn odds_left(odd: __m256) -> __m256 {
    let shifted = _mm256_permutevar8x32_ps(odd, _mm256_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6));
    _mm256_blend_ps::<1>(shifted, _mm256_set1_ps(f32::NEG_INFINITY))
}

/// Columns −1, 1, …, 13 relative to a vector's first 16: its odd columns shifted up one lane, with the previous
/// vector's last odd column (lane 7 of `prev`) in lane 0.
#[target_feature(enable = "avx2,fma")]
fn odds_left_carry(odd: __m256, prev: __m256) -> __m256 {
    let up = _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6);
    _mm256_blend_ps::<1>(_mm256_permutevar8x32_ps(odd, up), _mm256_permutevar8x32_ps(prev, up))
}

/// The largest of the eight lanes of `top` (all ≥ 0: pooled outputs after ReLU).
#[target_feature(enable = "avx2,fma")]
fn largest(top: __m256) -> f32 {
    let mut lanes = [0.0f32; 8];
    // SAFETY: `lanes` holds 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), top) };
    lanes.iter().fold(0.0f32, |t, &v| if t > v { t } else { v })
}

/// Columns 0, 2, …, 14 of the 16 in `a` (0–7) and `b` (8–15).
#[target_feature(enable = "avx2,fma")]
fn evens(a: __m256, b: __m256) -> __m256 {
    // Per 128-bit lane [a0 a2 b0 b2 | a4 a6 b4 b6]; the qword permute puts them in order.
    let mixed = _mm256_castps_pd(_mm256_shuffle_ps::<0b10_00_10_00>(a, b));
    _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(mixed))
}

/// Columns 1, 3, …, 15 of the 16 in `a` (0–7) and `b` (8–15).
#[target_feature(enable = "avx2,fma")]
fn odds(a: __m256, b: __m256) -> __m256 {
    let mixed = _mm256_castps_pd(_mm256_shuffle_ps::<0b11_01_11_01>(a, b));
    _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(mixed))
}

/// Activations to u8 channel quads, 8 pixels × 4 channels per step: quantise four planes' vectors (multiply, add
/// ½, clamp, truncate: [`portable::quantise_one`]'s operations in its order), pack i32 → i16 → u8 within each
/// 128-bit lane (giving 4 pixels of each channel in turn) and transpose bytes to pixel-major quads with one shuffle.
///
/// # Safety
/// The CPU supports AVX2; the slices satisfy the length checks of `Kernels::quantise_u8`; `max` is finite and > 0.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn quantise_quads(x: &[f32], (c, hw): (usize, usize), max: f32, q: &mut [u8]) {
    let top = f32::from(super::ACT_MAX_CODE);
    let inv = top / max;
    let (vinv, half, zero, top) = (_mm256_set1_ps(inv), _mm256_set1_ps(0.5), _mm256_setzero_ps(), _mm256_set1_ps(top));
    let vec = hw / 8 * 8;
    for t in 0..c.div_ceil(4) {
        let lanes = (c - 4 * t).min(4);
        // SAFETY: planes 4t + j < c hold hw floats from 4t·hw + j·hw; quad plane t of `q` holds hw·4 bytes.
        unsafe {
            let planes = x.as_ptr().add(4 * t * hw);
            let dst = q.as_mut_ptr().add(4 * t * hw);
            let code = |j: usize, p: usize| {
                if j < lanes {
                    let y = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(planes.add(j * hw + p)), vinv), half);
                    _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(y, zero), top))
                } else {
                    _mm256_setzero_si256()
                }
            };
            for p in (0..vec).step_by(8) {
                let ab = _mm256_packs_epi32(code(0, p), code(1, p));
                let cd = _mm256_packs_epi32(code(2, p), code(3, p));
                let quads = _mm256_shuffle_epi8(_mm256_packus_epi16(ab, cd), quad_transpose());
                _mm256_storeu_si256(dst.add(4 * p) as *mut __m256i, quads);
            }
            for p in vec..hw {
                for j in 0..4 {
                    *dst.add(4 * p + j) =
                        if j < lanes { portable::quantise_one(*planes.add(j * hw + p), inv) } else { 0 };
                }
            }
        }
    }
}

/// The byte shuffle that turns `[ch0 px0..3, ch1 px0..3, ch2 px0..3, ch3 px0..3]` (each 128-bit lane) into
/// `[px0 ch0..3, px1 ch0..3, px2 ch0..3, px3 ch0..3]`.
#[target_feature(enable = "avx2,fma")]
fn quad_transpose() -> __m256i {
    _mm256_setr_epi8(
        0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, //
        0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
    )
}

/// u8 planes to channel quads of 7-bit codes ([`portable::frame_code`]: half the byte, plus its lowest bit in the
/// lanes whose pixel + channel is odd, at most 127), 16 pixels × 4 channels per step (byte then word interleaves).
///
/// # Safety
/// The CPU supports AVX2; the slices satisfy the length checks of `Kernels::to_quads`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn to_quads(x: &[u8], (c, hw): (usize, usize), q: &mut [u8]) {
    let vec = hw / 16 * 16;
    for t in 0..c.div_ceil(4) {
        let lanes = (c - 4 * t).min(4);
        // SAFETY: planes 4t + j < c hold hw bytes from 4t·hw + j·hw; quad plane t of `q` holds hw·4 bytes.
        unsafe {
            let planes = x.as_ptr().add(4 * t * hw);
            let dst = q.as_mut_ptr().add(4 * t * hw);
            let (low7, top) = (_mm_set1_epi8(0x7F), _mm_set1_epi8(super::ACT_MAX_CODE as i8));
            // A step starts at an even pixel and a quad at an even channel: plane j rounds its odd bytes up in the
            // odd lanes if j is even, in the even lanes if j is odd (`frame_code`'s dither).
            let up = [_mm_set1_epi16(0x0100), _mm_set1_epi16(0x0001)];
            let load = |j: usize, p: usize| {
                if j < lanes {
                    let b = _mm_loadu_si128(planes.add(j * hw + p) as *const __m128i);
                    let half = _mm_and_si128(_mm_srli_epi16(b, 1), low7);
                    _mm_min_epu8(_mm_add_epi8(half, _mm_and_si128(b, up[j & 1])), top)
                } else {
                    _mm_setzero_si128()
                }
            };
            for p in (0..vec).step_by(16) {
                let (a, b, cc, d) = (load(0, p), load(1, p), load(2, p), load(3, p));
                let (ab_lo, ab_hi) = (_mm_unpacklo_epi8(a, b), _mm_unpackhi_epi8(a, b));
                let (cd_lo, cd_hi) = (_mm_unpacklo_epi8(cc, d), _mm_unpackhi_epi8(cc, d));
                let out = dst.add(4 * p) as *mut __m128i;
                _mm_storeu_si128(out, _mm_unpacklo_epi16(ab_lo, cd_lo));
                _mm_storeu_si128(out.add(1), _mm_unpackhi_epi16(ab_lo, cd_lo));
                _mm_storeu_si128(out.add(2), _mm_unpacklo_epi16(ab_hi, cd_hi));
                _mm_storeu_si128(out.add(3), _mm_unpackhi_epi16(ab_hi, cd_hi));
            }
            for p in vec..hw {
                for j in 0..4 {
                    *dst.add(4 * p + j) =
                        if j < lanes { portable::frame_code(*planes.add(j * hw + p), 4 * t + j + p) } else { 0 };
                }
            }
        }
    }
}

/// f32 GEMM: two 6 × 16 tiles per panel and block of 6 output channels, each over the whole reduction, in the
/// canonical order of the module docs of `kernels`, so that the results are bit-identical to the AVX-512 level's:
/// full panels, and a last panel of 17 or more pixels, take one running fused sum per output (its final stretch of
/// 8 pixels or fewer in [`f32_narrow_tile`], one vector of pixels for twelve output channels, instead of a 16-pixel
/// tile that would be mostly padding); a last panel of 5–16 pixels takes even and odd steps apart
/// ([`f32_parity_panel`]); one of 1–4 pixels four sums, one per step modulo 4 ([`gemm_f32_tail`], IT at 96²: 36 =
/// 32 + 4).
///
/// # Safety
/// The CPU supports AVX2 and FMA; `s` is valid and `w`, `packed`, `out` hold at least `cout·kk`, `packed_len` and
/// `cout·n` floats (checked by `Kernels::gemm_f32`).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn gemm_f32(s: &ConvShape, cout: usize, w: &[f32], packed: &[f32], out: &mut [f32]) {
    let (n, kk, panels) = (s.n(), s.kk(), s.panels());
    let (w, packed, out) = (w.as_ptr(), packed.as_ptr(), out.as_mut_ptr());
    let p = panels - 1;
    let cols = n - p * NR;
    if cols <= NR_TAIL {
        if kk <= TAIL_KK {
            // SAFETY: this function's contract; the tail's conditions hold.
            unsafe { gemm_f32_tail(kk, n, panels, cout, w, packed, out, cols) };
        } else {
            // SAFETY: this function's contract: the panels before the last, then the last one's `cols` pixels.
            unsafe {
                f32_panels(kk, n, p, cout, w, packed, out, |_, _| {});
                f32_tail_long(kk, cout, w, packed.add(p * kk * NR), out.add(p * NR), n, cols);
            }
        }
        return;
    }
    if cols <= HALF {
        // SAFETY: this function's contract: the panels before the last, then the last one's 5–16 pixels.
        unsafe {
            f32_panels(kk, n, p, cout, w, packed, out, |_, _| {});
            f32_parity_panel(kk, cout, w, packed.add(p * kk * NR), out.add(p * NR), n, cols);
        }
        return;
    }
    // SAFETY: this function's contract.
    unsafe { f32_panels(kk, n, panels, cout, w, packed, out, |_, _| {}) };
    let rest = cols % HALF;
    if (1..=NARROW).contains(&rest) {
        let j0 = cols - rest;
        let mut m0 = 0;
        while m0 < cout {
            // SAFETY: rows m0..m0+rows ≤ cout of `w`; panel p's columns j0..j0+8 ≤ NR of its kk rows; `out` rows m0..
            // at columns p·NR+j0.., `rest` of them, the row's last.
            unsafe {
                let t = Tile {
                    kk,
                    w: w.add(m0 * kk),
                    b: packed.add(p * kk * NR + j0),
                    out: out.add(m0 * n + p * NR + j0),
                    n,
                    cols: rest,
                };
                match (cout - m0).min(MR_NARROW) {
                    12 => f32_narrow_tile::<12>(t),
                    11 => f32_narrow_tile::<11>(t),
                    10 => f32_narrow_tile::<10>(t),
                    9 => f32_narrow_tile::<9>(t),
                    8 => f32_narrow_tile::<8>(t),
                    7 => f32_narrow_tile::<7>(t),
                    6 => f32_narrow_tile::<6>(t),
                    5 => f32_narrow_tile::<5>(t),
                    4 => f32_narrow_tile::<4>(t),
                    3 => f32_narrow_tile::<3>(t),
                    2 => f32_narrow_tile::<2>(t),
                    _ => f32_narrow_tile::<1>(t),
                }
            }
            m0 += MR_NARROW;
        }
    }
}

/// The longest f32 reduction [`gemm_f32_tail`] copies pixel-major onto the stack: IT's 3·3·256 = 2,304 floats (36 KiB
/// for four pixels); a multiple of 4, so every group of 4 steps lies inside the copy.
const TAIL_KK: usize = 2304;
const _: () = assert!(TAIL_KK.is_multiple_of(4));
/// Output channels per pass of [`f32_tail_rows`]: 6 rows × 2 vectors (4 pixels × 4 steps) = 12 accumulators, with
/// the two pixel vectors and a weight vector in the 16 ymm registers; one pass per block of [`f32_panels`].
const MR_FTAIL: usize = MR_F32;
/// Output channels per [`f32_parity_block`]: 3 rows × 16 pixels × even and odd = 12 accumulators, with 2 panel
/// vectors and 1 broadcast in the 16 ymm registers.
const MR_PARITY: usize = 3;
/// Reduction steps per block of [`f32_parity_panel`] (even, so that every block starts at an even step): the block's
/// 256 panel rows (16 KiB of used floats) stay in L1 while every row tile runs over them. IT at 64² (`gemm_layers`,
/// `avx2`, median of 5–6 alternated runs): 64 steps 0.74 ms, 128 0.69, 256 0.56, 512 0.76; the sequential 6 × 16
/// tile that ran this panel before the canonical order 0.53.
const KC_PARITY: usize = 256;
const _: () = assert!(KC_PARITY.is_multiple_of(2));
/// Output channels whose partial sums [`f32_parity_panel`] keeps on the stack at a time (12 KiB).
const MC_PARITY: usize = 96;

/// [`gemm_f32`] for a last panel of 1–4 pixels with `kk ≤ TAIL_KK`, in the canonical order of such a panel: four
/// running fused sums per output, sum `j` over the steps `r ≡ j (mod 4)` (zero products pad the reduction to a
/// multiple of 4), added as `(s₀ + s₁) + (s₂ + s₃)`, as the AVX-512 level's 16-lane tile computes them. In the
/// panel a pixel's steps lie `NR` floats apart, so the pixels are first copied onto the stack, four steps of four
/// pixels in 16 consecutive floats (pixels 0–1 in one vector, 2–3 in the other); four steps of a weight row are one
/// 128-bit load, broadcast to both halves, so every lane is useful (a tile over the panel's columns would fill at
/// most half its lanes: the narrow tile ran IT's tail at 9–14 G multiply-accumulates per second against the full
/// tile's 21–31 G). Each block of output channels runs its tail right after its tiles of the panel before, while
/// its weights are still in cache (IT's f32 weights, 4.7 MB, do not fit in L2: a second pass over them came from
/// L3).
///
/// # Safety
/// As [`gemm_f32`], and the last panel holds `cols` = 1–4 pixels, with `kk ≤ TAIL_KK`.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_f32_tail(
    kk: usize,
    n: usize,
    panels: usize,
    cout: usize,
    w: *const f32,
    packed: *const f32,
    out: *mut f32,
    cols: usize,
) {
    let p_last = panels - 1;
    let mut pixels = [0.0f32; 4 * TAIL_KK];
    for r in 0..kk {
        for px in 0..cols {
            // SAFETY: the last panel's row r < kk, column px < cols ≤ NR.
            pixels[(r / 4) * 16 + px * 4 + r % 4] = unsafe { *packed.add(p_last * kk * NR + r * NR + px) };
        }
    }
    let groups = kk.div_ceil(4);
    // The last group's weights, masked to the row's `kk − 4·(groups − 1)` remaining floats: no read past a row.
    let last = (kk - (groups - 1) * 4) as i32;
    let mask = _mm_cmpgt_epi32(_mm_set1_epi32(last), _mm_setr_epi32(0, 1, 2, 3));
    let tail_out = out.wrapping_add(p_last * NR);
    // Output channels m0..m1 of the tail, in passes of up to MR_FTAIL.
    let tail = |m0: usize, m1: usize| {
        let mut m = m0;
        while m < m1 {
            let rows = (m1 - m).min(MR_FTAIL);
            // SAFETY: rows m..m + rows ≤ cout of `w` (kk floats each) and of `out` (columns p_last·NR.., `cols` of
            // them); `pixels` holds groups·16 ≤ 4·TAIL_KK floats.
            unsafe {
                let (w, out) = (w.add(m * kk), tail_out.add(m * n));
                match rows {
                    6 => f32_tail_rows::<6>(kk, groups, mask, w, &pixels, out, n, cols),
                    5 => f32_tail_rows::<5>(kk, groups, mask, w, &pixels, out, n, cols),
                    4 => f32_tail_rows::<4>(kk, groups, mask, w, &pixels, out, n, cols),
                    3 => f32_tail_rows::<3>(kk, groups, mask, w, &pixels, out, n, cols),
                    2 => f32_tail_rows::<2>(kk, groups, mask, w, &pixels, out, n, cols),
                    _ => f32_tail_rows::<1>(kk, groups, mask, w, &pixels, out, n, cols),
                }
            }
            m += rows;
        }
    };
    match p_last.checked_sub(1) {
        // SAFETY: this function's contract (the panels before the last).
        Some(fuse) => unsafe {
            f32_panels(kk, n, p_last, cout, w, packed, out, |p, m0| {
                if p == fuse {
                    tail(m0, (m0 + MR_F32).min(cout));
                }
            })
        },
        None => tail(0, cout),
    }
}

/// `R` output channels of [`gemm_f32_tail`]: two accumulators per channel (pixels 0–1 and 2–3, four steps each).
///
/// # Safety
/// As [`gemm_f32_tail`], for the `R` rows at `w` (`kk` floats each) and `out` (stride `n`); `groups = ⌈kk/4⌉` and
/// `mask` selects the last group's remaining lanes.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
#[inline]
unsafe fn f32_tail_rows<const R: usize>(
    kk: usize,
    groups: usize,
    mask: __m128i,
    w: *const f32,
    pixels: &[f32; 4 * TAIL_KK],
    out: *mut f32,
    n: usize,
    cols: usize,
) {
    let rows = row_starts::<f32, R>(w, kk);
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    let step = |acc: &mut [[__m256; 2]; R], q: usize, last: bool| {
        // SAFETY: q < groups, so q·16 + 16 ≤ 4·TAIL_KK.
        let (lo, hi) =
            unsafe { (_mm256_loadu_ps(pixels.as_ptr().add(q * 16)), _mm256_loadu_ps(pixels.as_ptr().add(q * 16 + 8))) };
        for (acc_i, row) in acc.iter_mut().zip(&rows) {
            // SAFETY: floats 4q.. of a weight row of kk: all 4 inside it before the last group, the masked ones in it.
            let wv = unsafe {
                if last {
                    let v = _mm_maskload_ps(row.add(q * 4), mask);
                    _mm256_set_m128(v, v)
                } else {
                    _mm256_broadcast_ps(&core::ptr::read_unaligned(row.add(q * 4) as *const __m128))
                }
            };
            acc_i[0] = _mm256_fmadd_ps(lo, wv, acc_i[0]);
            acc_i[1] = _mm256_fmadd_ps(hi, wv, acc_i[1]);
        }
    };
    for q in 0..groups - 1 {
        step(&mut acc, q, false);
    }
    step(&mut acc, groups - 1, true);
    for (i, a) in acc.iter().enumerate() {
        // Each pixel's four sums: (s0 + s1) and (s2 + s3) beside each other, then their sum in the pixel's first lane.
        let mut tmp = [0.0f32; 16];
        for (half, &v) in a.iter().enumerate() {
            let v = _mm256_add_ps(v, _mm256_permute_ps::<0b10_11_00_01>(v));
            let v = _mm256_add_ps(v, _mm256_permute_ps::<0b01_00_11_10>(v));
            // SAFETY: `tmp` holds 16 floats.
            unsafe { _mm256_storeu_ps(tmp.as_mut_ptr().add(8 * half), v) };
        }
        for px in 0..cols {
            // SAFETY: output row i < R has room for `cols ≤ 4` floats.
            unsafe { *out.add(i * n + px) = tmp[4 * px] };
        }
    }
}

/// [`gemm_f32_tail`]'s sums for a reduction too long for its stack copy (no CORnet-Z layer has one): the same
/// canonical order, one scalar fused multiply-add at a time.
///
/// # Safety
/// AVX2/FMA present; `w` holds `cout` rows of `kk` floats, `panel` `kk` rows of `NR` floats, and `out` `cout` rows
/// (stride `n`) with room for `cols ≤ 4` floats.
#[target_feature(enable = "avx2,fma")]
unsafe fn f32_tail_long(
    kk: usize,
    cout: usize,
    w: *const f32,
    panel: *const f32,
    out: *mut f32,
    n: usize,
    cols: usize,
) {
    for m in 0..cout {
        for px in 0..cols {
            let mut sums = [_mm_setzero_ps(); 4];
            for r in 0..kk.next_multiple_of(4) {
                // SAFETY: weight row m < cout, step r < kk; panel row r < kk at column px < NR.
                let (wv, xv) =
                    if r < kk { unsafe { (*w.add(m * kk + r), *panel.add(r * NR + px)) } } else { (0.0, 0.0) };
                sums[r % 4] = _mm_fmadd_ss(_mm_set_ss(xv), _mm_set_ss(wv), sums[r % 4]);
            }
            let v = _mm_add_ss(_mm_add_ss(sums[0], sums[1]), _mm_add_ss(sums[2], sums[3]));
            // SAFETY: output row m, column px < cols.
            unsafe { *out.add(m * n + px) = _mm_cvtss_f32(v) };
        }
    }
}

/// Every panel's 6 × 16 tiles, panel by panel and within a panel block by block of 6 output channels, calling
/// `after(p, m0)` once each block's tiles of panel `p` are done (where [`gemm_f32_tail`] runs the same block's tail).
///
/// # Safety
/// As [`gemm_f32`], with `panels = s.panels()`.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
#[inline]
unsafe fn f32_panels(
    kk: usize,
    n: usize,
    panels: usize,
    cout: usize,
    w: *const f32,
    packed: *const f32,
    out: *mut f32,
    mut after: impl FnMut(usize, usize),
) {
    for p in 0..panels {
        let mut m0 = 0;
        while m0 < cout {
            // SAFETY: p < panels and m0 < cout: this function's contract.
            unsafe { f32_block(kk, n, w, packed, out, p, m0, cout) };
            after(p, m0);
            m0 += MR_F32;
        }
    }
}

/// Output channels `m0..m0+6` (fewer at the end) of panel `p`: one or two tiles of 16 pixels.
///
/// # Safety
/// AVX2/FMA present; `p < s.panels()` and `m0 < cout`, with `w`, `packed` and `out` as [`gemm_f32`] requires.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
#[inline]
unsafe fn f32_block(
    kk: usize,
    n: usize,
    w: *const f32,
    packed: *const f32,
    out: *mut f32,
    p: usize,
    m0: usize,
    cout: usize,
) {
    let n0 = p * NR;
    let cols = (n - n0).min(NR);
    let rows = (cout - m0).min(MR_F32);
    let mut j0 = 0;
    // A final stretch of 8 pixels or fewer is left to the narrow tiles (see `gemm_f32`).
    while j0 < cols && cols - j0 > NARROW {
        // SAFETY: rows m0..m0+rows ≤ cout of `w` (kk floats each), panel p's columns j0..j0+16 of every one of its
        // kk rows (inside `packed_len`), and `out` rows m0.. at columns n0+j0.. (at most `cols` written, so inside
        // each row's n floats): the tile contract; AVX2/FMA are this function's.
        unsafe {
            let t = Tile {
                kk,
                w: w.add(m0 * kk),
                b: packed.add(p * kk * NR + j0),
                out: out.add(m0 * n + n0 + j0),
                n,
                cols: (cols - j0).min(HALF),
            };
            match rows {
                6 => f32_tile::<6>(t),
                5 => f32_tile::<5>(t),
                4 => f32_tile::<4>(t),
                3 => f32_tile::<3>(t),
                2 => f32_tile::<2>(t),
                _ => f32_tile::<1>(t),
            }
        }
        j0 += HALF;
    }
}

/// The starts of `R` weight rows `stride` elements apart, opaque to the optimiser. Knowing that row i + 1 starts
/// `stride` after row i, LLVM computes each row's address from the previous one inside the tile's loop (an `add` per
/// row and step: five or six more scalar µops beside twelve vector ones); from `R` unrelated pointers it addresses
/// each row as `[row + step·4]`, so the loop is its loads, broadcasts, products and one counter. Measured with the
/// 5- and 6-row tiles on an Intel Xeon (Sapphire Rapids class) while the host core was shared: 7–14 % faster, never
/// slower; alone on the core the products are the limit and the two run alike. (The AVX-512 tiles issue their
/// scalar µops to ports the `zmm` products leave free, and gain nothing from this.)
#[inline(always)]
fn row_starts<T, const R: usize>(w: *const T, stride: usize) -> [*const T; R] {
    core::hint::black_box(core::array::from_fn(|i| w.wrapping_add(i * stride)))
}

/// One tile's operands: `R` weight rows of `kk` floats from `w`, panel columns from `b` (row stride `NR`), results
/// to `out` (row stride `n`), `cols ≤ 16` of them.
#[derive(Clone, Copy)]
struct Tile<W, B> {
    kk: usize,
    w: *const W,
    b: *const B,
    out: *mut f32,
    n: usize,
    cols: usize,
}

/// # Safety
/// AVX2/FMA present; `t` points at `R` rows of `t.kk` weights, `t.kk` panel rows of 16 floats (stride `NR`) and `R`
/// output rows with room for `t.cols` floats each.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn f32_tile<const R: usize>(t: Tile<f32, f32>) {
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    let rows = row_starts::<f32, R>(t.w, t.kk);
    for r in 0..t.kk {
        // SAFETY: panel row r < kk holds 16 floats at `t.b + r·NR`; weight row i < R holds kk floats from `rows[i]`.
        unsafe {
            let b0 = _mm256_loadu_ps(t.b.add(r * NR));
            let b1 = _mm256_loadu_ps(t.b.add(r * NR + 8));
            for (a, row) in acc.iter_mut().zip(&rows) {
                let wv = _mm256_broadcast_ss(&*row.add(r));
                a[0] = _mm256_fmadd_ps(wv, b0, a[0]);
                a[1] = _mm256_fmadd_ps(wv, b1, a[1]);
            }
        }
    }
    for (i, a) in acc.iter().enumerate() {
        // SAFETY: output row i < R has room for `t.cols` floats.
        unsafe { store16(t.out.add(i * t.n), a[0], a[1], t.cols) };
    }
}

/// `R` output channels × 8 pixels (one vector of the panel, `t.cols ≤ 8` of them stored): the same fused
/// multiply-adds in the same order as [`f32_tile`], so the results are identical.
///
/// # Safety
/// AVX2/FMA present; `t` points at `R` rows of `t.kk` weights, `t.kk` panel rows with 8 floats each (stride `NR`)
/// and `R` output rows with room for `t.cols` floats each.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn f32_narrow_tile<const R: usize>(t: Tile<f32, f32>) {
    let mut acc = [_mm256_setzero_ps(); R];
    for r in 0..t.kk {
        // SAFETY: panel row r < kk holds 8 floats at `t.b + r·NR`; weight row i < R holds kk floats.
        unsafe {
            let b = _mm256_loadu_ps(t.b.add(r * NR));
            for (i, a) in acc.iter_mut().enumerate() {
                *a = _mm256_fmadd_ps(_mm256_broadcast_ss(&*t.w.add(i * t.kk + r)), b, *a);
            }
        }
    }
    for (i, a) in acc.iter().enumerate() {
        // SAFETY: output row i < R has room for `t.cols` floats.
        unsafe { store8(t.out.add(i * t.n), *a, t.cols) };
    }
}

/// A last panel of 5–16 pixels in its canonical order: even and odd reduction steps in two running fused sums per
/// output, added at the end (as the AVX-512 level's narrow tile). Two sums of 16 pixels for each of 3 rows fill the
/// registers, half the rows of the 6 × 16 tile, so each panel row would be loaded twice as often: unblocked, the
/// panel (IT at 64²: 2,304 rows, 147 KiB) streamed from L2 171 times and IT's GEMM took 0.90 ms against the
/// sequential 6 × 16 tile's 0.62 (blocked: 0.56 against 0.53). So it runs on `parity_schedule` (blocks of
/// [`KC_PARITY`] steps that stay in L1, chunks of [`MC_PARITY`] output channels), the sums kept on the stack between
/// blocks (stored and reloaded exactly, so the order is the same).
///
/// # Safety
/// AVX2/FMA present; `w` holds `cout` rows of `kk` floats, `panel` `kk` rows of `NR` floats, `out` `cout` rows (stride
/// `n`) with room for `cols ≤ 16` floats.
#[target_feature(enable = "avx2,fma")]
unsafe fn f32_parity_panel(
    kk: usize,
    cout: usize,
    w: *const f32,
    panel: *const f32,
    out: *mut f32,
    n: usize,
    cols: usize,
) {
    // Per output channel: even sums of pixels 0–7 and 8–15, then the odd ones.
    let mut part = [[_mm256_setzero_ps(); 4]; MC_PARITY];
    let zero = [_mm256_setzero_ps(); 4];
    super::parity_schedule(
        kk,
        cout,
        (KC_PARITY, MR_PARITY),
        (zero, &mut part),
        |k0, k1, m, sums| {
            // SAFETY: rows m..m + sums.len() < cout of `w`; steps k0..k1 ≤ kk; this function's contract.
            unsafe {
                let wp = w.add(m * kk);
                match sums.len() {
                    3 => f32_parity_block::<3>(k0, k1, kk, wp, panel, sums),
                    2 => f32_parity_block::<2>(k0, k1, kk, wp, panel, sums),
                    _ => f32_parity_block::<1>(k0, k1, kk, wp, panel, sums),
                }
            }
        },
        |m, sums| {
            for (i, s) in sums.iter().enumerate() {
                // SAFETY: output row m + i < cout has room for `cols` floats.
                unsafe { store16(out.add((m + i) * n), _mm256_add_ps(s[0], s[2]), _mm256_add_ps(s[1], s[3]), cols) };
            }
        },
    );
}

/// Steps `k0..k1` (`k0` even) of `R` output channels of [`f32_parity_panel`], continuing the sums in `sums`.
///
/// # Safety
/// AVX2/FMA present; `w` holds `R` rows of `kk ≥ k1` floats, `panel` `k1` rows of at least 16 floats (stride `NR`);
/// `sums` holds `R` entries.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn f32_parity_block<const R: usize>(
    k0: usize,
    k1: usize,
    kk: usize,
    w: *const f32,
    panel: *const f32,
    sums: &mut [[__m256; 4]],
) {
    let mut acc: [[__m256; 4]; R] = core::array::from_fn(|i| sums[i]);
    let rows = row_starts::<f32, R>(w, kk);
    let mut r = k0;
    // SAFETY (every step): panel rows r, r + 1 < k1 hold 16 floats at `panel + r·NR`; weight rows i < R hold
    // kk ≥ k1 floats.
    unsafe {
        while r + 1 < k1 {
            parity_step::<0, R>(&mut acc, &rows, panel, r);
            parity_step::<2, R>(&mut acc, &rows, panel, r + 1);
            r += 2;
        }
        if r < k1 {
            parity_step::<0, R>(&mut acc, &rows, panel, r);
        }
    }
    sums[..R].copy_from_slice(&acc);
}

/// Step `r` of [`f32_parity_block`] into the even (`H = 0`) or odd (`H = 2`) sums of each row.
///
/// # Safety
/// AVX2/FMA present; panel row r holds 16 floats at `panel + r·NR`; every row in `rows` holds more than r floats.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn parity_step<const H: usize, const R: usize>(
    acc: &mut [[__m256; 4]; R],
    rows: &[*const f32; R],
    panel: *const f32,
    r: usize,
) {
    // SAFETY: this function's contract.
    unsafe {
        let (b0, b1) = (_mm256_loadu_ps(panel.add(r * NR)), _mm256_loadu_ps(panel.add(r * NR + 8)));
        for (a, row) in acc.iter_mut().zip(rows) {
            let wv = _mm256_broadcast_ss(&*row.add(r));
            a[H] = _mm256_fmadd_ps(wv, b0, a[H]);
            a[H + 1] = _mm256_fmadd_ps(wv, b1, a[H + 1]);
        }
    }
}

/// Store 16 floats, or the first `cols` of them.
///
/// # Safety
/// AVX present; `dst` has room for `cols.min(16)` floats.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn store16(dst: *mut f32, lo: __m256, hi: __m256, cols: usize) {
    // SAFETY: full stores only when 16 floats fit; otherwise through `tmp` (16 floats), copying `cols` to `dst`.
    unsafe {
        if cols >= HALF {
            _mm256_storeu_ps(dst, lo);
            _mm256_storeu_ps(dst.add(8), hi);
        } else {
            let mut tmp = [0.0f32; HALF];
            _mm256_storeu_ps(tmp.as_mut_ptr(), lo);
            _mm256_storeu_ps(tmp.as_mut_ptr().add(8), hi);
            core::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, cols);
        }
    }
}

/// Int8 GEMM on quad-packed u8 panels (see the module docs): for each block of 5 output channels, up to four 5 × 8
/// tiles per panel.
///
/// For reductions of at most [`WIDE_KK4`] bytes, each block's weight rows are sign-extended to i16 once, into a
/// stack buffer, and then serve every tile of every panel, instead of being widened again in each tile's inner loop
/// (a load, a broadcast and a `vpmovsxbw` per row and quad step). The products and their order are the same, so the
/// sums are the same exact integers either way.
///
/// # Safety
/// The CPU supports AVX2; `s` is valid with `kk4 ≤ MAX_KK4`; `w`, `w_scale`, `packed`, `out` hold at least
/// `cout·kk4`, `cout`, `packed_len_u8 / 4` and `cout·n` elements, `packed` as written by [`im2col_u8`] (checked by
/// `Kernels::gemm_i8`).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn gemm_i8(
    s: &ConvShape,
    cout: usize,
    w: &[i8],
    w_scale: &[f32],
    scale_x: f32,
    packed: &[f32],
    out: &mut [f32],
) {
    let (n, kk4) = (s.n(), s.kk4());
    let (packed, out) = (packed.as_ptr() as *const u8, out.as_mut_ptr());
    // SAFETY: `packed` holds `packed_len_u8` bytes (the contract); the tiles read inside it as below.
    if unsafe { codes_fit_7_bits(packed, s.packed_len_u8()) } {
        // SAFETY: as this function's contract, with every code ≤ 127 (just checked).
        unsafe { gemm_u7(s, cout, w, w_scale, scale_x, packed, out) };
        return;
    }
    let widen = kk4 <= WIDE_KK4;
    let mut wide = [0i16; MR_I8 * WIDE_KK4];
    let mut m0 = 0;
    while m0 < cout {
        let rows = (cout - m0).min(MR_I8);
        let mut scale = [0.0f32; MR_I8];
        for (i, sc) in scale.iter_mut().enumerate().take(rows) {
            *sc = scale_x * w_scale[m0 + i];
        }
        let block = &w[m0 * kk4..(m0 + rows) * kk4];
        if widen {
            for (d, &b) in wide.iter_mut().zip(block) {
                *d = b as i16;
            }
        }
        // The tiles read weights as bytes through `wp`: i16 pairs from `wide`, or the block's own i8.
        let wp = if widen { wide.as_ptr() as *const u8 } else { block.as_ptr() as *const u8 };
        for p in 0..s.panels() {
            let n0 = p * NR;
            let cols = (n - n0).min(NR);
            let mut j0 = 0;
            while j0 < cols {
                // SAFETY: `wp` holds rows·kk4 weights (i16 when widened, else i8); panel p's quads of pixels
                // j0..j0+8 (inside `packed_len_u8`); `out` rows m0.. at columns n0+j0.., at most `cols` written: the
                // tile contract; AVX2 is this function's.
                unsafe {
                    let t = Tile {
                        kk: kk4,
                        w: wp,
                        b: packed.add(p * kk4 * NR + j0 * 4),
                        out: out.add(m0 * n + n0 + j0),
                        n,
                        cols: (cols - j0).min(NR_I8),
                    };
                    match (rows, widen) {
                        (5, true) => i8_tile::<5, true>(t, &scale),
                        (4, true) => i8_tile::<4, true>(t, &scale),
                        (3, true) => i8_tile::<3, true>(t, &scale),
                        (2, true) => i8_tile::<2, true>(t, &scale),
                        (_, true) => i8_tile::<1, true>(t, &scale),
                        (5, false) => i8_tile::<5, false>(t, &scale),
                        (4, false) => i8_tile::<4, false>(t, &scale),
                        (3, false) => i8_tile::<3, false>(t, &scale),
                        (2, false) => i8_tile::<2, false>(t, &scale),
                        (_, false) => i8_tile::<1, false>(t, &scale),
                    }
                }
                j0 += NR_I8;
            }
        }
        m0 += rows;
    }
}

/// Pixels per 7-bit int8 tile (two vectors of eight pixels × one quad).
const NR_U7: usize = 16;

/// Whether none of the `len` bytes at `p` exceeds 127 (no byte has its top bit set): then [`gemm_u7`] is exact.
/// One OR over the packed input, 1/`cout` of the loads the GEMM itself makes.
///
/// # Safety
/// AVX2 present; `p` points at `len` readable bytes.
#[target_feature(enable = "avx2,fma")]
unsafe fn codes_fit_7_bits(p: *const u8, len: usize) -> bool {
    let mut any = _mm256_setzero_si256();
    let mut tail = 0u8;
    let vec = len / 32 * 32;
    // SAFETY: offsets below `vec` ≤ `len` are 32-byte blocks inside the buffer, the rest single bytes.
    unsafe {
        for i in (0..vec).step_by(32) {
            any = _mm256_or_si256(any, _mm256_loadu_si256(p.add(i) as *const __m256i));
        }
        for i in vec..len {
            tail |= *p.add(i);
        }
    }
    _mm256_movemask_epi8(any) == 0 && tail < 0x80
}

/// The int8 GEMM over 4-byte quads with one multiply-accumulate step, `$dot(acc, x, w)`: each i32 lane of `acc`
/// plus the four u8 × i8 products of its quad in `x` and `w`. Instantiated twice below, each compiled for its own
/// features: the AVX2 step must not be compiled with AVX-VNNI enabled (LLVM may then fuse its multiply-add into
/// VNNI instructions, which an AVX2-only CPU cannot run).
macro_rules! quad_gemm {
    ($feat:literal, $mr:literal, $dot:ident, $gemm:ident, $tile:ident, $tail:ident, $ptail:ident) => {
        /// The GEMM: blocks of `$mr` output channels, `$mr` × 16 tiles (`$tile`: 2·`$mr` accumulators, two panel
        /// vectors and a broadcast weight quad of the 16 ymm registers; the AVX2 step also holds its vector of ones and
        /// a product, so it takes 5 rows where VNNI takes 6), `$mr` × 8 for a panel's last ≤ 8 pixels and `$ptail`
        /// for its last ≤ 4 (`$tail` when the reduction is too long for its stack copy). The exact integer sums,
        /// bit-identical to every other level.
        ///
        /// # Safety
        /// As [`gemm_i8`], and every byte of the `packed_len_u8` bytes at `packed` is one `$dot` multiplies exactly.
        #[target_feature(enable = $feat)]
        unsafe fn $gemm(
            s: &ConvShape,
            cout: usize,
            w: &[i8],
            w_scale: &[f32],
            scale_x: f32,
            packed: *const u8,
            out: *mut f32,
        ) {
            let (n, kk4) = (s.n(), s.kk4());
            // A last tile of at most 4 pixels (IT at 96²: 36 = 32 + 4) is left to `$tail`, which fills all eight lanes.
            let panels = s.panels();
            let last_cols = n - (panels - 1) * NR;
            let tail_j0 = (last_cols - 1) / NR_U7 * NR_U7;
            let tail = if last_cols - tail_j0 <= NR_TAIL { Some(tail_j0) } else { None };
            let mut m0 = 0;
            while m0 < cout {
                let rows = (cout - m0).min($mr);
                let mut scale = [0.0f32; $mr];
                for (i, sc) in scale.iter_mut().enumerate().take(rows) {
                    *sc = scale_x * w_scale[m0 + i];
                }
                let wp = w[m0 * kk4..(m0 + rows) * kk4].as_ptr() as *const u8;
                for p in 0..panels {
                    let n0 = p * NR;
                    let cols = (n - n0).min(NR);
                    let mut j0 = 0;
                    while j0 < cols {
                        if p + 1 == panels && Some(j0) == tail {
                            break;
                        }
                        // SAFETY: `wp` holds rows·kk4 weight bytes; panel p's quad rows hold NR pixels from j0 + 16 ≤
                        // NR (zero-padded past `cols`, inside `packed_len_u8`); `out` rows m0.. at columns n0+j0.., at
                        // most `cols − j0` written; one vector only when at most 8 remain; `$feat` is this function's.
                        unsafe {
                            let t = Tile {
                                kk: kk4,
                                w: wp,
                                b: packed.add(p * kk4 * NR + j0 * 4),
                                out: out.add(m0 * n + n0 + j0),
                                n,
                                cols: (cols - j0).min(NR_U7),
                            };
                            // `rows ≤ $mr`: the 6-row arms run in the VNNI instantiation only.
                            match (rows, t.cols > NR_I8) {
                                (6, true) => $tile::<6, 2>(t, &scale),
                                (5, true) => $tile::<5, 2>(t, &scale),
                                (4, true) => $tile::<4, 2>(t, &scale),
                                (3, true) => $tile::<3, 2>(t, &scale),
                                (2, true) => $tile::<2, 2>(t, &scale),
                                (_, true) => $tile::<1, 2>(t, &scale),
                                (6, false) => $tile::<6, 1>(t, &scale),
                                (5, false) => $tile::<5, 1>(t, &scale),
                                (4, false) => $tile::<4, 1>(t, &scale),
                                (3, false) => $tile::<3, 1>(t, &scale),
                                (2, false) => $tile::<2, 1>(t, &scale),
                                (_, false) => $tile::<1, 1>(t, &scale),
                            }
                        }
                        j0 += NR_U7;
                    }
                }
                m0 += rows;
            }
            if let Some(j0) = tail {
                let (p, cols) = (panels - 1, last_cols - j0);
                let quads = kk4 / 4;
                if quads <= TAIL_QUADS {
                    // The pixel-major copy of the tail's ≤ 4 pixels (see `$ptail`); quads past `quads` stay zero.
                    let chunks = quads.div_ceil(8);
                    let mut pixels = [[0u32; TAIL_QUADS]; NR_TAIL];
                    for (px, row) in pixels.iter_mut().enumerate() {
                        for (q, v) in row.iter_mut().enumerate().take(quads) {
                            // SAFETY: quad row q < quads of the last panel holds NR pixels of 4 bytes, of which
                            // j0 + px < j0 + 4 ≤ NR is read.
                            *v = unsafe {
                                (packed.add((p * quads + q) * NR * 4 + (j0 + px) * 4) as *const u32).read_unaligned()
                            };
                        }
                    }
                    let mut m0 = 0;
                    while m0 < cout {
                        let rows = (cout - m0).min(MR_PTAIL);
                        let scale: [f32; MR_PTAIL] = core::array::from_fn(|i| scale_x * w_scale[m0 + i.min(rows - 1)]);
                        // SAFETY: rows m0..m0 + rows ≤ cout of `w` hold kk4 bytes each; `pixels` holds chunks·8 ≤
                        // TAIL_QUADS quads per pixel; `out` rows m0.. at columns n0 + j0.., `cols` ≤ 4 written each;
                        // `$feat` is this function's.
                        unsafe {
                            let t = Tile {
                                kk: kk4,
                                w: w.as_ptr().add(m0 * kk4) as *const u8,
                                b: core::ptr::null(),
                                out: out.add(m0 * n + p * NR + j0),
                                n,
                                cols,
                            };
                            match rows {
                                2 => $ptail::<2>(t, &pixels, chunks, &scale),
                                _ => $ptail::<1>(t, &pixels, chunks, &scale),
                            }
                        }
                        m0 += rows;
                    }
                    return;
                }
                let mut m0 = 0;
                while m0 < cout {
                    let rows = (cout - m0).min(MR_TAIL);
                    let mut scale = [0.0f32; MR_TAIL];
                    for (i, sc) in scale.iter_mut().enumerate().take(rows) {
                        *sc = scale_x * w_scale[m0 + i];
                    }
                    // SAFETY: rows m0..m0 + rows < cout of `w` hold kk4 bytes each; the last panel's quad rows hold NR
                    // pixels, of which j0..j0 + 4 ≤ NR are read (zero past `n`); `out` rows m0.. at columns n0 + j0..,
                    // `cols` ≤ 4 written each; `$feat` is this function's.
                    unsafe {
                        let t = Tile {
                            kk: kk4,
                            w: w.as_ptr().add(m0 * kk4) as *const u8,
                            b: packed.add(p * kk4 * NR + j0 * 4),
                            out: out.add(m0 * n + p * NR + j0),
                            n,
                            cols,
                        };
                        match rows {
                            8 => $tail::<8>(t, &scale),
                            7 => $tail::<7>(t, &scale),
                            6 => $tail::<6>(t, &scale),
                            5 => $tail::<5>(t, &scale),
                            4 => $tail::<4>(t, &scale),
                            3 => $tail::<3>(t, &scale),
                            2 => $tail::<2>(t, &scale),
                            _ => $tail::<1>(t, &scale),
                        }
                    }
                    m0 += rows;
                }
            }
        }

        /// A panel's last ≤ 4 pixels for `R ≤ 8` output channels, two quad rows per vector: lanes
        /// `[q p0, q+1 p0, q p1, q+1 p1, …, q+1 p3]` (the two rows' pixel quads interleaved) against the row's weight
        /// quads `q, q+1` broadcast as one 8-byte pair, so every multiply does useful work in all eight lanes (an
        /// 8-pixel tile would compute half padding), and the weights need one load per row and step. Adjacent lanes
        /// are summed at the end.
        ///
        /// # Safety
        /// The CPU has `$feat`; `1 ≤ R ≤ 8`; `t` points at `R` rows of `t.kk` (= kk4) weight bytes, `t.kk / 4` quad
        /// rows of at least 4 pixels × 4 bytes, each one `$dot` multiplies exactly (stride `NR·4`), and `R` output
        /// rows with room for `t.cols ≤ 4` floats.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn $tail<const R: usize>(t: Tile<u8, u8>, scale: &[f32; MR_TAIL]) {
            let quads = t.kk / 4;
            // Quad rows q and q + 1 (zero when q + 1 is past the end), interleaved by pixel.
            let pixels = |q: usize| {
                // SAFETY: quad rows q (and q + 1 when < quads) hold at least 4 pixels × 4 bytes from `t.b + q·NR·4`.
                let (a, b) = unsafe {
                    let a = _mm_loadu_si128(t.b.add(q * NR * 4) as *const __m128i);
                    let b = if q + 1 < quads {
                        _mm_loadu_si128(t.b.add((q + 1) * NR * 4) as *const __m128i)
                    } else {
                        _mm_setzero_si128()
                    };
                    (a, b)
                };
                let lo = _mm256_castsi128_si256(_mm_unpacklo_epi32(a, b));
                _mm256_inserti128_si256::<1>(lo, _mm_unpackhi_epi32(a, b))
            };
            let mut acc = [_mm256_setzero_si256(); R];
            let mut q = 0;
            while q < quads {
                let x = pixels(q);
                for (i, acc_i) in acc.iter_mut().enumerate() {
                    // SAFETY: bytes q·4.. of weight row i < R: 8 when quad q + 1 exists, else the last 4 (kk4 each).
                    let wq = unsafe {
                        let at = t.w.add(i * t.kk + q * 4);
                        if q + 1 < quads {
                            (at as *const u64).read_unaligned()
                        } else {
                            u64::from((at as *const u32).read_unaligned())
                        }
                    };
                    *acc_i = $dot(*acc_i, x, _mm256_set1_epi64x(wq as i64));
                }
                q += 2;
            }
            // hadd of rows r0, r1: [r0 p0, r0 p1, r1 p0, r1 p1 | r0 p2, r0 p3, r1 p2, r1 p3]; the permute orders it.
            let order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
            for r0 in (0..R).step_by(2) {
                let r1 = (r0 + 1).min(R - 1);
                let sums = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(acc[r0], acc[r1]), order);
                let sc = _mm256_setr_ps(
                    scale[r0], scale[r0], scale[r0], scale[r0], scale[r1], scale[r1], scale[r1], scale[r1],
                );
                let v = _mm256_mul_ps(_mm256_cvtepi32_ps(sums), sc);
                let mut tmp = [0.0f32; 8];
                // SAFETY: `tmp` holds 8 floats; output rows r0, r1 < R have room for `t.cols ≤ 4` floats.
                unsafe {
                    _mm256_storeu_ps(tmp.as_mut_ptr(), v);
                    core::ptr::copy_nonoverlapping(tmp.as_ptr(), t.out.add(r0 * t.n), t.cols);
                    if r1 != r0 {
                        core::ptr::copy_nonoverlapping(tmp.as_ptr().add(4), t.out.add(r1 * t.n), t.cols);
                    }
                }
            }
        }

        /// A panel's last ≤ 4 pixels for `R ≤ MR_PTAIL` output channels from a pixel-major copy of them: `pixels[p]`
        /// holds pixel p's quads in order (zero past the reduction's end, up to `chunks·8`), so eight consecutive
        /// quads of a pixel are one vector, and eight matching weight quads are a plain 32-byte load of the row
        /// (masked for the last chunk). Four accumulators per row (one per pixel) take every `$dot` in all eight
        /// lanes with no shuffle in the loop, and each weight row streams whole cache lines: the interleaving
        /// `$tail` reads 8 bytes of eight rows per step and runs IT's 4-pixel tail at about half the wide tiles'
        /// rate, bound by those scattered weight reads. Lanes are summed at the end: the same exact integer sums.
        ///
        /// # Safety
        /// The CPU has `$feat`; `1 ≤ R ≤ MR_PTAIL`; `t.w` points at `R` rows of `t.kk` (= kk4 ≤ 4·TAIL_QUADS)
        /// weight bytes; `chunks = ⌈kk4 / 32⌉` and every code in `pixels` is one `$dot` multiplies exactly; `R`
        /// output rows at `t.out` (stride `t.n`) have room for `t.cols ≤ 4` floats.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn $ptail<const R: usize>(
            t: Tile<u8, u8>,
            pixels: &[[u32; TAIL_QUADS]; NR_TAIL],
            chunks: usize,
            scale: &[f32; MR_PTAIL],
        ) {
            let quads = t.kk / 4;
            let mut acc = [[_mm256_setzero_si256(); NR_TAIL]; R];
            let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            for c in 0..chunks {
                let live = quads - c * 8;
                // SAFETY: c·8 + 8 ≤ chunks·8 ≤ TAIL_QUADS u32 of each pixel row.
                let x = [0, 1, 2, 3]
                    .map(|p| unsafe { _mm256_loadu_si256(pixels[p].as_ptr().add(c * 8) as *const __m256i) });
                for (i, acc_i) in acc.iter_mut().enumerate() {
                    // SAFETY: weight row i < R holds quads·4 bytes; a full chunk's 32 bytes from c·32 lie inside it,
                    // and the last chunk's load is masked to its `live` < 8 quads.
                    let wv = unsafe {
                        let at = t.w.add(i * t.kk + c * 32) as *const i32;
                        if live >= 8 {
                            _mm256_loadu_si256(at as *const __m256i)
                        } else {
                            _mm256_maskload_epi32(at, _mm256_cmpgt_epi32(_mm256_set1_epi32(live as i32), lane))
                        }
                    };
                    for (a, xp) in acc_i.iter_mut().zip(&x) {
                        *a = $dot(*a, *xp, wv);
                    }
                }
            }
            let keep = _mm_cmpgt_epi32(_mm_set1_epi32(t.cols as i32), _mm_setr_epi32(0, 1, 2, 3));
            for (i, [a0, a1, a2, a3]) in acc.iter().enumerate() {
                // [Σ0..3 of a0, a1, a2, a3 | Σ4..7 of a0, a1, a2, a3], then the two halves added.
                let h = _mm256_hadd_epi32(_mm256_hadd_epi32(*a0, *a1), _mm256_hadd_epi32(*a2, *a3));
                let sum = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
                let v = _mm_mul_ps(_mm_cvtepi32_ps(sum), _mm_set1_ps(scale[i]));
                // SAFETY: output row i < R has room for `t.cols ≤ 4` floats; the store is masked to them.
                unsafe { _mm_maskstore_ps(t.out.add(i * t.n), keep, v) };
            }
        }

        /// One tile of `$gemm`: `R ≤ $mr` rows × `V` vectors of 8 pixels (`V` = 2, or 1 for a panel's last ≤ 8 pixels:
        /// IT at 96² has 36 = 32 + 4, which a 16-pixel tile computed at a quarter of its lanes).
        ///
        /// # Safety
        /// The CPU has `$feat`; `V` is 1 or 2; `t` points at `R` rows of `t.kk` (= kk4) i8 weights, `t.kk / 4` quad
        /// rows of `8·V` pixels × 4 bytes, each one `$dot` multiplies exactly (stride `NR·4`), and `R` output rows with
        /// room for `t.cols ≤ 8·V` floats each.
        #[target_feature(enable = $feat)]
        #[inline]
        unsafe fn $tile<const R: usize, const V: usize>(t: Tile<u8, u8>, scale: &[f32; $mr]) {
            // acc[i][v]: output channel i, pixels 8v..8v+8, one i32 lane per pixel.
            let mut acc = [[_mm256_setzero_si256(); V]; R];
            let rows = row_starts::<u8, R>(t.w, t.kk);
            for q in 0..t.kk / 4 {
                let mut x = [_mm256_setzero_si256(); V];
                for (v, xv) in x.iter_mut().enumerate() {
                    // SAFETY: quad row q < kk4/4 holds 8·V pixels × 4 bytes from `t.b + q·NR·4`.
                    *xv = unsafe { _mm256_loadu_si256(t.b.add(q * NR * 4 + 32 * v) as *const __m256i) };
                }
                for (acc_i, row) in acc.iter_mut().zip(&rows) {
                    // SAFETY: bytes q·4..q·4+4 of weight row i < R (kk4 bytes, starting at `rows[i]`).
                    let a = _mm256_set1_epi32(unsafe { (row.add(q * 4) as *const i32).read_unaligned() });
                    for (acc_iv, &xv) in acc_i.iter_mut().zip(&x) {
                        *acc_iv = $dot(*acc_iv, xv, a);
                    }
                }
            }
            for (i, acc_i) in acc.iter().enumerate() {
                let sc = _mm256_set1_ps(scale[i]);
                for (v, &acc_iv) in acc_i.iter().enumerate() {
                    if t.cols > NR_I8 * v {
                        // SAFETY: output row i < R has room for `t.cols` floats, and `t.cols − 8v` remain from 8v.
                        unsafe {
                            let dst = t.out.add(i * t.n + NR_I8 * v);
                            store8(dst, _mm256_mul_ps(_mm256_cvtepi32_ps(acc_iv), sc), t.cols - NR_I8 * v);
                        }
                    }
                }
            }
        }
    };
}

/// Pixels of the tail tiles: a panel's last ≤ 4.
const NR_TAIL: usize = 4;
/// Output channels per tail tile: 8 accumulators.
const MR_TAIL: usize = 8;
/// Output channels per pass of the pixel-major tail tiles: 2 rows × 4 pixels = 8 accumulators, with four pixel
/// vectors, a weight vector and the AVX2 step's constant and product in the 16 ymm registers.
const MR_PTAIL: usize = 2;
/// Longest reduction, in quads, the pixel-major tail tiles copy onto the stack (16 KiB for four pixels; CORnet-Z's
/// longest is IT's 576); longer ones take the interleaving tail tiles.
const TAIL_QUADS: usize = 1024;

/// `acc` + a quad's four products per lane on 7-bit activation codes: `vpmaddubsw` multiplies u8 × i8 and sums pairs
/// into i16, exactly for codes ≤ 127 (|pair| ≤ 2·127·128 = 32,512, below the saturation at 32,767), `vpmaddwd` by
/// ones sums the two pairs of a quad into i32, `vpaddd` accumulates: 32 products for three instructions where the
/// widening kernel needs four and its widening shuffles, and no widened copy of the weights.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn dot_u7(acc: __m256i, x: __m256i, w: __m256i) -> __m256i {
    _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w), _mm256_set1_epi16(1)))
}

quad_gemm!("avx2,fma", 5, dot_u7, gemm_u7, u7_tile, u7_tail, u7_ptail);

/// `acc` + a quad's four products per lane with AVX-VNNI's `vpdpbusd` (VEX-encoded, 256-bit: Alder Lake and later
/// Intel cores, Zen 5): one instruction for 32 products, exact for every u8 code (the products are summed in i32).
#[target_feature(enable = "avx2,fma,avxvnni")]
#[inline]
fn dot_vnni(acc: __m256i, x: __m256i, w: __m256i) -> __m256i {
    _mm256_dpbusd_avx_epi32(acc, x, w)
}

quad_gemm!("avx2,fma,avxvnni", 6, dot_vnni, gemm_vnni, vnni_tile, vnni_tail, vnni_ptail);

/// The int8 GEMM of the `avxvnni` level: [`gemm_i8`]'s tiles with `vpdpbusd` (any u8 codes, no 7-bit check).
///
/// # Safety
/// The CPU supports AVX2, FMA and AVX-VNNI; otherwise as [`gemm_i8`].
#[target_feature(enable = "avx2,fma,avxvnni")]
pub(super) unsafe fn gemm_i8_vnni(
    s: &ConvShape,
    cout: usize,
    w: &[i8],
    w_scale: &[f32],
    scale_x: f32,
    packed: &[f32],
    out: &mut [f32],
) {
    // SAFETY: as this function's contract; `vpdpbusd` multiplies every u8 code exactly.
    unsafe { gemm_vnni(s, cout, w, w_scale, scale_x, packed.as_ptr() as *const u8, out.as_mut_ptr()) };
}

/// One 5 × 8 int8 tile (`R ≤ 5` rows). `WIDE`: the weights are i16 (two bytes each at `t.w`), one 8-byte broadcast
/// per row and quad step; otherwise i8, sign-extended here.
///
/// # Safety
/// AVX2 present; `t` points at `R` rows of `t.kk` (= kk4) weights (i16 if `WIDE`, else i8), `t.kk / 4` quad rows
/// of 8 pixels × 4 bytes (stride `NR·4`) and `R` output rows with room for `t.cols` floats each.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn i8_tile<const R: usize, const WIDE: bool>(t: Tile<u8, u8>, scale: &[f32; MR_I8]) {
    // acc[i][v]: output channel i, pixels 4v..4v+4, two i32 lanes per pixel (reduction steps 0+1 and 2+3).
    let mut acc = [[_mm256_setzero_si256(); 2]; R];
    for q in 0..t.kk / 4 {
        // Eight pixels × four reduction steps, zero-extended to i16 (two vectors of four pixels).
        // SAFETY: quad row q < kk4/4 of the tile holds 8 pixels × 4 bytes from `t.b + q·NR·4`.
        let (x0, x1) = unsafe {
            let b = t.b.add(q * NR * 4);
            (_mm_loadu_si128(b as *const __m128i), _mm_loadu_si128(b.add(16) as *const __m128i))
        };
        let (b0, b1) = (_mm256_cvtepu8_epi16(x0), _mm256_cvtepu8_epi16(x1));
        for (i, acc_i) in acc.iter_mut().enumerate() {
            // The quad's four weights as i16, repeated for four pixels.
            let a = if WIDE {
                // SAFETY: i16 weights q·4..q·4+4 of row i < R (kk4 each), 8 bytes.
                _mm256_set1_epi64x(unsafe { (t.w.add(2 * (i * t.kk + q * 4)) as *const i64).read_unaligned() })
            } else {
                // SAFETY: bytes q·4..q·4+4 of weight row i < R (kk4 bytes).
                let wq = unsafe { (t.w.add(i * t.kk + q * 4) as *const i32).read_unaligned() };
                _mm256_cvtepi8_epi16(_mm_set1_epi32(wq))
            };
            acc_i[0] = _mm256_add_epi32(acc_i[0], _mm256_madd_epi16(b0, a));
            acc_i[1] = _mm256_add_epi32(acc_i[1], _mm256_madd_epi16(b1, a));
        }
    }
    // SAFETY: output rows i < R have room for `t.cols` floats.
    unsafe { store_i8_tile(&acc, t.out, t.n, t.cols, scale) };
}

/// Scale and store an int8 tile's sums: output row `i` at `out + i·n`, `cols ≤ 8` pixels.
///
/// # Safety
/// AVX2 present; each of the `R` output rows has room for `cols` floats.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn store_i8_tile<const R: usize>(
    acc: &[[__m256i; 2]; R],
    out: *mut f32,
    n: usize,
    cols: usize,
    scale: &[f32; MR_I8],
) {
    for (i, acc_i) in acc.iter().enumerate() {
        // hadd gives pixels [0 1 4 5 | 2 3 6 7]; the qword permute puts them in order.
        let px = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_hadd_epi32(acc_i[0], acc_i[1]));
        let v = _mm256_mul_ps(_mm256_cvtepi32_ps(px), _mm256_set1_ps(scale[i]));
        // SAFETY: output row i < R has room for `cols` floats.
        unsafe { store8(out.add(i * n), v, cols) };
    }
}

/// Store 8 floats, or the first `cols` of them.
///
/// # Safety
/// AVX present; `dst` has room for `cols.min(8)` floats.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn store8(dst: *mut f32, v: __m256, cols: usize) {
    // SAFETY: a full store only when 8 floats fit; otherwise through `tmp`, copying `cols` to `dst`.
    unsafe {
        if cols >= NR_I8 {
            _mm256_storeu_ps(dst, v);
        } else {
            let mut tmp = [0.0f32; NR_I8];
            _mm256_storeu_ps(tmp.as_mut_ptr(), v);
            core::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, cols);
        }
    }
}

/// One row of the visual background's alignment search in AVX2: one ymm register holds a shift's eight lane sums,
/// which are exactly the portable kernel's eight lanes (lane `i` adds pixel `i` of every chunk of 8, rows and chunks
/// in order; `|d|` by clearing the sign bit, which is what `f32::abs` does), so every sum, and every abandonment, is
/// bit-identical to [`portable::background_row_sads`]. While [`BG_FUSED_MIN`] or more shifts are live, all seven are
/// summed in one pass over the row (each background chunk loaded once, seven independent chains; a dead shift's sum is
/// wasted work, never read); fewer, each live one alone.
///
/// # Safety
/// The CPU supports AVX2; the arguments satisfy the checks of `Kernels::background_row_sads` (`h, w > 2·SHIFT`,
/// `|sy| ≤ SHIFT`, `frame` and `plane` at least `h·w` floats).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn background_row_sads(
    frame: &[f32],
    plane: &[f32],
    (h, w): (usize, usize),
    sy: isize,
    bound: f32,
) -> [f32; BG_GRID] {
    let r = SHIFT;
    let cols = w - 2 * r;
    let chunks = cols / 8;
    let sign = _mm256_set1_ps(-0.0);
    let mut sums = ([_mm256_setzero_ps(); BG_GRID], [0.0f32; BG_GRID]);
    let add_row =
        |(acc, tail): &mut ([__m256; BG_GRID], [f32; BG_GRID]), y: usize, fy: usize, live: &[bool; BG_GRID], n_live| {
            // Shift k reads frow[k .. k + cols] (k + cols ≤ 2·SHIFT + w − 2·SHIFT = w); fy = y + sy is in 0..h.
            let frow = &frame[fy * w..fy * w + w];
            let brow = &plane[y * w + r..y * w + r + cols];
            let (f, b) = (frow.as_ptr(), brow.as_ptr());
            // SAFETY: chunk c covers 8c .. 8c + 8 ≤ cols of `brow` and k + 8c .. k + 8c + 8 ≤ w of `frow`; AVX2 is this
            // function's contract.
            unsafe {
                if n_live >= BG_FUSED_MIN {
                    for c in 0..chunks {
                        let bv = _mm256_loadu_ps(b.add(8 * c));
                        for (k, a) in acc.iter_mut().enumerate() {
                            let d = _mm256_sub_ps(_mm256_loadu_ps(f.add(k + 8 * c)), bv);
                            *a = _mm256_add_ps(*a, _mm256_andnot_ps(sign, d));
                        }
                    }
                } else {
                    for (k, a) in acc.iter_mut().enumerate() {
                        if !live[k] {
                            continue;
                        }
                        let mut v = *a;
                        for c in 0..chunks {
                            let d = _mm256_sub_ps(_mm256_loadu_ps(f.add(k + 8 * c)), _mm256_loadu_ps(b.add(8 * c)));
                            v = _mm256_add_ps(v, _mm256_andnot_ps(sign, d));
                        }
                        *a = v;
                    }
                }
            }
            portable::bg_row_tails(frow, brow, 8 * chunks, live, tail);
        };
    let total = |(acc, tail): &([__m256; BG_GRID], [f32; BG_GRID]), k: usize| {
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` holds 8 floats; AVX2 is this function's contract.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc[k]) };
        portable::bg_total(&lanes, tail[k])
    };
    portable::bg_row_search(h, sy, bound, &mut sums, add_row, total)
}
