//! aarch64 kernels: a NEON f32 GEMM, and two exact int8 GEMMs: `sdot` (ARMv8.2 dot product: Jetson Xavier, Orin)
//! and a widening-multiply fallback for cores without it (Jetson Nano's Cortex-A57).
//!
//! # Int8 on a signed dot product
//!
//! `sdot` multiplies i8 × i8 (`udot` u8 × u8); the activations are u8 and the weights i8, and ARMv8.6's mixed
//! `usdot` is absent on these boards. The pipeline's activations and frames are 7-bit codes
//! ([`super::ACT_MAX_CODE`]), which read the same as i8, so [`gemm_i8`] checks its packed input first (one OR over
//! it, as x86's `vpmaddubsw` kernel does) and, when no code exceeds 127, multiplies the bytes as they are. Any
//! other u8 input (the table's methods accept 8-bit codes) is read XOR 0x80 in the tiles, the i8 `x − 128`, and
//! each output channel gets `128 · Σ_r w[m][r]` back: `Σ w·x = Σ w·(x − 128) + 128·Σ w`, exact in i32. The
//! fallback for cores without `sdot` reads the panels the same way, with `smull` (i8 × i8 → i16, exact:
//! |x − 128|·|w| ≤ 16,384) and `sadalp` (pairwise add into i32). Either way the result is the exact integer sum:
//! bit-identical to x86 and the portable reference.
//!
//! (Until 2026-12-02 every input took the `x − 128` route, flipped in the im2col and corrected by row sums on
//! every call: a 5×64² `dotprod` stack took 9.76 M instructions under qemu then, 8.84 M without it.)

use super::portable;
use super::{ConvShape, BG_FUSED_MIN, BG_GRID, NR};
use crate::core::visual::SHIFT;
use core::arch::aarch64::*;

/// Pixels per tile (half a panel: four 4-lane vectors).
const HALF: usize = NR / 2;
/// Output channels per f32 tile: 5 rows × 4 vectors = 20 accumulators, 5 vectors of four weights (one per row)
/// and 4 panel vectors: 29 of the 32 NEON registers.
const MR_F32: usize = 5;
/// Output channels per `sdot` tile: 6 rows × 4 vectors = 24 accumulators, 4 panel vectors, 1 weight broadcast.
const MR_DOT: usize = 6;
/// Output channels per widening tile: 2 rows × 8 half-pixel accumulators = 16, 4 panel vectors, products.
const MR_WIDE: usize = 2;

/// The quad-packing u8 im2col (the portable packing; NEON is what LLVM makes of it).
///
/// # Safety
/// The slices satisfy the length checks of `Kernels::im2col_u8` (NEON is part of the aarch64 baseline).
pub(super) unsafe fn im2col_u8(s: &ConvShape, x: &[u8], packed: &mut [f32]) {
    portable::im2col_quads_body(s, x, packed)
}

/// The row-layout u8 im2col, its strided copies done by [`rows_copy`].
///
/// # Safety
/// The slices satisfy the length checks of `Kernels::im2col_rows` (NEON is part of the aarch64 baseline).
pub(super) unsafe fn im2col_rows(s: &ConvShape, x: &[u8], packed: &mut [f32]) {
    portable::im2col_rows_body(s, x, packed, rows_copy)
}

/// `portable::RowsCopy` by NEON transposes (as x86's): 16 bytes loaded at a pixel's start hold four words of its
/// kernel row, and four pixels' loads become four word rows of four pixels through `trn1/trn2` on 32-bit and
/// `zip1/zip2` on 64-bit lanes. A run's last partial block is the full block ending at its end; runs shorter than 4
/// pixels, and blocks whose loads would reach past `x`, take the portable copy.
fn rows_copy(x: &[u8], first: usize, step: usize, words: &mut [[u32; NR]], (c0, c1): (usize, usize), last: u32) {
    let (rw, n) = (words.len(), c1.saturating_sub(c0));
    let fits = |px: usize, tb: usize| first + px * step + 4 * tb + 16 <= x.len();
    let mut done = 0;
    while done < n && n >= 4 {
        let b0 = done.min(n - 4);
        if c0 + b0 + 4 > NR || !fits(b0 + 3, (rw - 1) / 4 * 4) {
            break;
        }
        let mut tb = 0;
        while tb < rw {
            // SAFETY: NEON is part of the aarch64 baseline; every load reads 16 bytes at
            // first + (b0 + i)·step + 4·tb for i < 4 and tb ≤ (rw − 1)/4·4, inside `x` (`fits` above); the stores
            // write words[tb + r][c0 + b0..c0 + b0 + 4] for tb + r < rw with c0 + b0 + 4 ≤ NR.
            unsafe {
                let p = x.as_ptr().add(first + b0 * step + 4 * tb);
                let ld = |i: usize| vreinterpretq_u32_u8(vld1q_u8(p.add(i * step)));
                let (a0, a1, a2, a3) = (ld(0), ld(1), ld(2), ld(3));
                let (t0, t1) = (vtrn1q_u32(a0, a1), vtrn2q_u32(a0, a1));
                let (t2, t3) = (vtrn1q_u32(a2, a3), vtrn2q_u32(a2, a3));
                let zip = |lo: uint32x4_t, hi: uint32x4_t, second: bool| {
                    let (l, h) = (vreinterpretq_u64_u32(lo), vreinterpretq_u64_u32(hi));
                    vreinterpretq_u32_u64(if second { vzip2q_u64(l, h) } else { vzip1q_u64(l, h) })
                };
                let rows = [zip(t0, t2, false), zip(t1, t3, false), zip(t0, t2, true), zip(t1, t3, true)];
                for (r, &v) in rows.iter().enumerate().take(rw - tb) {
                    let t = tb + r;
                    let v = if t + 1 == rw { vandq_u32(v, vdupq_n_u32(last)) } else { v };
                    vst1q_u32(words[t].as_mut_ptr().add(c0 + b0), v);
                }
            }
            tb += 4;
        }
        done = b0 + 4;
    }
    if done < n {
        portable::rows_copy(x, first + done * step, step, words, (c0 + done, c1), last);
    }
}

/// Max-pool 3/2/1 + bias + ReLU with NEON, four outputs per step: `ld2` splits 8 columns of each of the three input
/// rows into even and odd columns, their vertical maxima are the windows' centre and right columns, and the left
/// column (the previous output's right one) is the odd vector moved up one lane with the previous step's last odd
/// column in lane 0 (`ext`; −∞ at the row's start). The outputs past the last full 8-column load (at most 3, all
/// of them on maps under 8 columns: IT) come from the definition. Maxima are exact, so the result is the portable
/// one bit for bit on finite activations (the portable code's `maxps` semantics differ from `fmax` only for NaN,
/// which would need activations overflowing f32: the weights are checked finite at load, the frames are bytes). An instruction-count profile of the int8 stack under
/// qemu (`benches/neon_profile.sh`) had the portable pool at 8 % of a 5×64² `dotprod` stack: its horizontal step
/// did not vectorise.
///
/// # Safety
/// The slices satisfy the length checks of `Kernels::pool_bias_relu` (NEON is part of the aarch64 baseline).
#[target_feature(enable = "neon")]
pub(super) unsafe fn pool(
    x: &[f32],
    (c, h, w): (usize, usize, usize),
    bias: &[f32],
    out: &mut [f32],
    _rowmax: &mut [f32],
) -> f32 {
    use portable::mx;
    let (ph, pw) = (h.div_ceil(2), w.div_ceil(2));
    // Steps of 4 outputs whose 8 input columns 8k..8k + 8 lie inside the row (so 4·steps ≤ pw).
    let steps = if w >= 8 { (w - 8) / 8 + 1 } else { 0 };
    let (x, out) = (x.as_ptr(), out.as_mut_ptr());
    let (zero, neg) = (vdupq_n_f32(0.0), vdupq_n_f32(f32::NEG_INFINITY));
    let (mut vtop, mut top) = (zero, 0.0f32);
    for (ch, &b) in bias[..c].iter().enumerate() {
        let vb = vdupq_n_f32(b);
        for py in 0..ph {
            let y = 2 * py;
            // SAFETY: rows y − 1, y, y + 1 clamped into 0..h of channel ch < c (a repeated row leaves a maximum
            // unchanged); the loads read columns 8k..8k + 8 ≤ w of them, the tail columns below w; the stores write
            // outputs below pw of row py of channel ch (inside `out`: the length checks of `pool_bias_relu`).
            unsafe {
                let plane = x.add(ch * h * w);
                let rows = [y.saturating_sub(1), y, (y + 1).min(h - 1)].map(|r| plane.add(r * w));
                let dst = out.add((ch * ph + py) * pw);
                let mut prev_odd = neg;
                for k in 0..steps {
                    let [r0, r1, r2] = rows.map(|r| vld2q_f32(r.add(8 * k)));
                    let even = vmaxq_f32(vmaxq_f32(r0.0, r1.0), r2.0);
                    let odd = vmaxq_f32(vmaxq_f32(r0.1, r1.1), r2.1);
                    let left = vextq_f32::<3>(prev_odd, odd);
                    prev_odd = odd;
                    let v = vmaxq_f32(vaddq_f32(vmaxq_f32(vmaxq_f32(even, odd), left), vb), zero);
                    vtop = vmaxq_f32(vtop, v);
                    vst1q_f32(dst.add(4 * k), v);
                }
                for px in 4 * steps..pw {
                    let (c0, c1) = ((2 * px).saturating_sub(1), (2 * px + 1).min(w - 1));
                    let mut m = f32::NEG_INFINITY;
                    for r in rows {
                        for col in c0..=c1 {
                            m = mx(m, *r.add(col));
                        }
                    }
                    let v = mx(m + b, 0.0);
                    *dst.add(px) = v;
                    top = mx(top, v);
                }
            }
        }
    }
    mx(vmaxvq_f32(vtop), top)
}

/// NEON f32 GEMM: 5 output channels × 16 pixels per tile (20 accumulators of 4 lanes), in the canonical order of
/// the module docs of `kernels`, so that the results are bit-identical to the x86 SIMD levels': one running fused
/// sum per output for full panels and a last panel of 17 or more pixels ([`f32_tile`]), even and odd steps apart
/// for a last panel of 5–16 ([`f32_parity_panel`]), four sums by step modulo 4 for one of 1–4 ([`f32_tiny_tile`]).
///
/// # Safety
/// `s` is valid and `w`, `packed`, `out` hold at least `cout·kk`, `packed_len` and `cout·n` floats (checked by
/// `Kernels::gemm_f32`).
#[target_feature(enable = "neon")]
pub(super) unsafe fn gemm_f32(s: &ConvShape, cout: usize, w: &[f32], packed: &[f32], out: &mut [f32]) {
    let (n, kk) = (s.n(), s.kk());
    let (w, packed, out) = (w.as_ptr(), packed.as_ptr(), out.as_mut_ptr());
    for p in 0..s.panels() {
        let n0 = p * NR;
        let cols = (n - n0).min(NR);
        let (panel, out) = (packed.wrapping_add(p * kk * NR), out.wrapping_add(n0));
        if (5..=HALF).contains(&cols) {
            // SAFETY: every row of `w`, panel p's kk rows (16 floats read from each, inside `packed_len`), `out`'s
            // rows at columns n0.., `cols` of them.
            unsafe { f32_parity_panel(kk, cout, w, panel, out, n, cols) };
            continue;
        }
        let mut m0 = 0;
        while m0 < cout {
            let left = cout - m0;
            // SAFETY (both arms): rows m0..m0+rows ≤ cout of `w` (kk floats each), panel p's kk rows (columns
            // j0..j0+16, or the first 4 for a tiny panel, inside `packed_len`), output rows m0.. at columns n0+j0..,
            // at most `cols − j0` written.
            let rows = unsafe {
                let (wp, o) = (w.add(m0 * kk), out.add(m0 * n));
                if cols <= 4 {
                    match left.min(MR_TINY) {
                        4 => f32_tiny_tile::<4>(kk, wp, panel, o, n, cols),
                        3 => f32_tiny_tile::<3>(kk, wp, panel, o, n, cols),
                        2 => f32_tiny_tile::<2>(kk, wp, panel, o, n, cols),
                        _ => f32_tiny_tile::<1>(kk, wp, panel, o, n, cols),
                    }
                    left.min(MR_TINY)
                } else {
                    let mut j0 = 0;
                    while j0 < cols {
                        let c = (cols - j0).min(HALF);
                        let (b, o) = (panel.add(j0), o.add(j0));
                        match left.min(MR_F32) {
                            5 => f32_tile::<5>(kk, wp, b, o, n, c),
                            4 => f32_tile::<4>(kk, wp, b, o, n, c),
                            3 => f32_tile::<3>(kk, wp, b, o, n, c),
                            2 => f32_tile::<2>(kk, wp, b, o, n, c),
                            _ => f32_tile::<1>(kk, wp, b, o, n, c),
                        }
                        j0 += HALF;
                    }
                    left.min(MR_F32)
                }
            };
            m0 += rows;
        }
    }
}

/// Output channels per [`f32_tiny_tile`]: 4 rows × 4 sums = 16 accumulators, 4 panel vectors, 4 weight vectors.
const MR_TINY: usize = 4;
/// Output channels per [`f32_parity_block`]: 3 rows × 2 sums × 4 vectors = 24 accumulators, 4 panel vectors (the
/// odd step reuses the even step's) and a weight.
const MR_PARITY: usize = 3;
/// Reduction steps per block of [`f32_parity_panel`] (even): 256 panel rows of 16 used floats, 16 KiB, stay in L1
/// while every row tile runs over them (the AVX2 level's block, measured there).
const KC_PARITY: usize = 256;
const _: () = assert!(KC_PARITY.is_multiple_of(2));
/// Output channels whose partial sums [`f32_parity_panel`] keeps on the stack at a time (12 KiB).
const MC_PARITY: usize = 96;

/// `R` output channels of a last panel of `cols` ≤ 4 pixels (lanes are pixels): sum `j` of a row takes the steps
/// `r ≡ j (mod 4)` (`fmla` by lane `j` of four weights), zero products pad the reduction to a multiple of 4, and the
/// four are added as `(s₀ + s₁) + (s₂ + s₃)`: the order of x86's pixel-major tiles, without their transposed copy.
///
/// # Safety
/// `w` holds `R` rows of `kk` floats, `b` `kk` panel rows (stride `NR`, at least 4 floats each), `out` `R` rows
/// (stride `n`) with room for `cols` floats.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn f32_tiny_tile<const R: usize>(kk: usize, w: *const f32, b: *const f32, out: *mut f32, n: usize, cols: usize) {
    let mut acc = [[vdupq_n_f32(0.0); 4]; R];
    let groups = kk.div_ceil(4);
    for q in 0..groups {
        let r = 4 * q;
        let live = (kk - r).min(4);
        // SAFETY: panel rows r + j < kk and weights r + j < kk of each row; the rest read as zeros.
        let x: [float32x4_t; 4] =
            core::array::from_fn(
                |j| if j < live { unsafe { vld1q_f32(b.add((r + j) * NR)) } } else { vdupq_n_f32(0.0) },
            );
        for (i, acc_i) in acc.iter_mut().enumerate() {
            let wv = if live == 4 {
                // SAFETY: weights r..r + 4 ≤ kk of row i.
                unsafe { vld1q_f32(w.add(i * kk + r)) }
            } else {
                let mut tmp = [0.0f32; 4];
                // SAFETY: weights r..kk of row i.
                unsafe { core::ptr::copy_nonoverlapping(w.add(i * kk + r), tmp.as_mut_ptr(), live) };
                // SAFETY: `tmp` holds 4 floats.
                unsafe { vld1q_f32(tmp.as_ptr()) }
            };
            acc_i[0] = vfmaq_laneq_f32::<0>(acc_i[0], x[0], wv);
            acc_i[1] = vfmaq_laneq_f32::<1>(acc_i[1], x[1], wv);
            acc_i[2] = vfmaq_laneq_f32::<2>(acc_i[2], x[2], wv);
            acc_i[3] = vfmaq_laneq_f32::<3>(acc_i[3], x[3], wv);
        }
    }
    for (i, a) in acc.iter().enumerate() {
        let v = vaddq_f32(vaddq_f32(a[0], a[1]), vaddq_f32(a[2], a[3]));
        let mut tmp = [0.0f32; 4];
        // SAFETY: `tmp` holds 4 floats; output row i has room for `cols ≤ 4`.
        unsafe {
            vst1q_f32(tmp.as_mut_ptr(), v);
            core::ptr::copy_nonoverlapping(tmp.as_ptr(), out.add(i * n), cols);
        }
    }
}

/// A last panel of 5–16 pixels in its canonical order: even and odd steps in two running fused sums per output,
/// added at the end. Two sums of 16 pixels leave room for 3 rows per tile (the sequential tile has 5), so, as on
/// AVX2, it runs on `parity_schedule` (blocks of [`KC_PARITY`] steps that stay in L1, chunks of [`MC_PARITY`] output
/// channels), the sums kept on the stack between blocks (stored and reloaded exactly, so the order is the same).
///
/// # Safety
/// `w` holds `cout` rows of `kk` floats, `b` `kk` panel rows (stride `NR`, 16 floats read from each), `out` `cout`
/// rows (stride `n`) with room for `cols ≤ 16` floats.
#[target_feature(enable = "neon")]
unsafe fn f32_parity_panel(kk: usize, cout: usize, w: *const f32, b: *const f32, out: *mut f32, n: usize, cols: usize) {
    // Per output channel: the even sums of pixels 0–15 (four vectors), then the odd ones.
    let mut part = [[vdupq_n_f32(0.0); 8]; MC_PARITY];
    let zero = [vdupq_n_f32(0.0); 8];
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
                    3 => f32_parity_block::<3>(k0, k1, kk, wp, b, sums),
                    2 => f32_parity_block::<2>(k0, k1, kk, wp, b, sums),
                    _ => f32_parity_block::<1>(k0, k1, kk, wp, b, sums),
                }
            }
        },
        |m, sums| {
            for (i, s) in sums.iter().enumerate() {
                let sum: [float32x4_t; 4] = core::array::from_fn(|v| vaddq_f32(s[v], s[4 + v]));
                // SAFETY: output row m + i < cout has room for `cols` floats.
                unsafe { store16(out.add((m + i) * n), &sum, cols) };
            }
        },
    );
}

/// Steps `k0..k1` (`k0` even) of `R` output channels of [`f32_parity_panel`], continuing the sums in `sums`.
///
/// # Safety
/// `w` holds `R` rows of `kk ≥ k1` floats, `b` `k1` panel rows of at least 16 floats (stride `NR`); `sums` holds `R`
/// entries.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn f32_parity_block<const R: usize>(
    k0: usize,
    k1: usize,
    kk: usize,
    w: *const f32,
    b: *const f32,
    sums: &mut [[float32x4_t; 8]],
) {
    let mut acc: [[float32x4_t; 8]; R] = core::array::from_fn(|i| sums[i]);
    // SAFETY: weights r, r + 1 < k1 ≤ kk of each row, panel rows below k1.
    unsafe {
        let wv = |r: usize| -> [float32x4_t; R] { core::array::from_fn(|i| vdupq_n_f32(*w.add(i * kk + r))) };
        let mut r = k0;
        while r + 1 < k1 {
            parity_step::<0, R>(&mut acc, &wv(r), &panel_row(b, r));
            parity_step::<4, R>(&mut acc, &wv(r + 1), &panel_row(b, r + 1));
            r += 2;
        }
        if r < k1 {
            parity_step::<0, R>(&mut acc, &wv(r), &panel_row(b, r));
        }
    }
    sums[..R].copy_from_slice(&acc);
}

/// One step of [`f32_parity_block`] into the even (`H = 0`) or odd (`H = 4`) sums.
#[target_feature(enable = "neon")]
#[inline]
fn parity_step<const H: usize, const R: usize>(
    acc: &mut [[float32x4_t; 8]; R],
    wv: &[float32x4_t; R],
    bv: &[float32x4_t; 4],
) {
    for (a, &w) in acc.iter_mut().zip(wv) {
        for v in 0..4 {
            a[H + v] = vfmaq_f32(a[H + v], w, bv[v]);
        }
    }
}

/// The 16 floats of panel row `r` (from a tile's half panel `b`).
///
/// # Safety
/// `b` points at a half panel with at least `r + 1` rows (stride `NR`).
#[target_feature(enable = "neon")]
#[inline]
unsafe fn panel_row(b: *const f32, r: usize) -> [float32x4_t; 4] {
    // SAFETY: row r holds 16 floats from `b + r·NR`.
    unsafe {
        let br = b.add(r * NR);
        [vld1q_f32(br), vld1q_f32(br.add(4)), vld1q_f32(br.add(8)), vld1q_f32(br.add(12))]
    }
}

/// One reduction step of an f32 tile with the weights of step `L` in lane `L` of each row's vector `wv`: `fmla` by
/// element, so four steps share one weight load per row instead of one broadcast per row and step.
#[target_feature(enable = "neon")]
#[inline]
fn f32_step<const L: i32, const R: usize>(
    acc: &mut [[float32x4_t; 4]; R],
    wv: &[float32x4_t; R],
    bv: &[float32x4_t; 4],
) {
    for (acc_i, &w_i) in acc.iter_mut().zip(wv) {
        for v in 0..4 {
            acc_i[v] = vfmaq_laneq_f32::<L>(acc_i[v], bv[v], w_i);
        }
    }
}

/// # Safety
/// `w` holds `R` rows of `kk` floats, `b` `kk` rows of 16 floats (stride `NR`), `out` `R` rows (stride `n`) with
/// room for `cols` floats.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn f32_tile<const R: usize>(kk: usize, w: *const f32, b: *const f32, out: *mut f32, n: usize, cols: usize) {
    let mut acc = [[vdupq_n_f32(0.0); 4]; R];
    // SAFETY: reads stay in the rows the contract names: weights r..r + 4 ≤ kk of each row, panel rows below kk.
    unsafe {
        let mut r = 0;
        // Four steps per weight load; each accumulator still takes its products in the order of r, so the sums are
        // those of one broadcast per step, bit for bit.
        while r + 4 <= kk {
            let wv: [float32x4_t; R] = core::array::from_fn(|i| vld1q_f32(w.add(i * kk + r)));
            f32_step::<0, R>(&mut acc, &wv, &panel_row(b, r));
            f32_step::<1, R>(&mut acc, &wv, &panel_row(b, r + 1));
            f32_step::<2, R>(&mut acc, &wv, &panel_row(b, r + 2));
            f32_step::<3, R>(&mut acc, &wv, &panel_row(b, r + 3));
            r += 4;
        }
        while r < kk {
            let bv = panel_row(b, r);
            for (i, acc_i) in acc.iter_mut().enumerate() {
                let a = vdupq_n_f32(*w.add(i * kk + r));
                for v in 0..4 {
                    acc_i[v] = vfmaq_f32(acc_i[v], a, bv[v]);
                }
            }
            r += 1;
        }
    }
    for (i, acc_i) in acc.iter().enumerate() {
        // SAFETY: output row i has room for `cols` floats.
        unsafe { store16(out.add(i * n), acc_i, cols) };
    }
}

/// Store four vectors (16 floats), or the first `cols` of them.
///
/// # Safety
/// `dst` has room for `cols.min(16)` floats.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn store16(dst: *mut f32, v: &[float32x4_t; 4], cols: usize) {
    let mut tmp = [0.0f32; HALF];
    // SAFETY: `tmp` holds 16 floats; at most `cols ≤ 16` are copied to `dst`, which has room for them.
    unsafe {
        if cols >= HALF {
            for (t, vt) in v.iter().enumerate() {
                vst1q_f32(dst.add(4 * t), *vt);
            }
        } else {
            for (t, vt) in v.iter().enumerate() {
                vst1q_f32(tmp.as_mut_ptr().add(4 * t), *vt);
            }
            core::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, cols);
        }
    }
}

/// `Σ_r w[r]` over `kk4` bytes (16 at a time, widening pairwise adds).
///
/// # Safety
/// `w` holds `kk4` bytes.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn row_sum(w: *const i8, kk4: usize) -> i32 {
    let mut acc = vdupq_n_s32(0);
    let mut r = 0;
    // SAFETY: every read is at an index below `kk4`.
    unsafe {
        while r + 16 <= kk4 {
            acc = vpadalq_s16(acc, vpaddlq_s8(vld1q_s8(w.add(r))));
            r += 16;
        }
        let mut sum = vaddvq_s32(acc);
        while r < kk4 {
            sum += *w.add(r) as i32;
            r += 1;
        }
        sum
    }
}

/// Which inner product an int8 tile uses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dot {
    /// ARMv8.2 `sdot`.
    Sdot,
    /// `smull` + `sadalp`.
    Widening,
}

/// Output channels whose weight-row corrections and scales [`gemm_i8_groups`] computes together: a multiple of both
/// tiles' row counts.
const CORR_ROWS: usize = 96;

/// Whether every byte of `bytes` is below 128 (7-bit codes: they read the same as i8).
fn seven_bit(bytes: &[u8]) -> bool {
    let (blocks, tail) = bytes.as_chunks::<64>();
    let mut any = tail.iter().fold(0u8, |a, &b| a | b);
    // SAFETY: NEON is part of the aarch64 baseline; each load reads one 64-byte block of `bytes`.
    unsafe {
        let mut acc = [vdupq_n_u8(0); 4];
        for b in blocks {
            let v = vld1q_u8_x4(b.as_ptr());
            acc[0] = vorrq_u8(acc[0], v.0);
            acc[1] = vorrq_u8(acc[1], v.1);
            acc[2] = vorrq_u8(acc[2], v.2);
            acc[3] = vorrq_u8(acc[3], v.3);
        }
        any |= vmaxvq_u8(vorrq_u8(vorrq_u8(acc[0], acc[1]), vorrq_u8(acc[2], acc[3])));
    }
    any < 0x80
}

/// The bytes of `packed` the int8 tiles read: the `packed_len_u8` bytes of the quad im2col's panels. The buffer is
/// longer (`packed_len_i8` floats, sized for the portable level's f32 panels, about four times as many bytes) and
/// its remainder holds whatever was there before, so the 7-bit check must stop at the panel: past it, it would
/// read about four times the bytes and let stale ones choose the slower route.
fn panel_bytes<'a>(s: &ConvShape, packed: &'a [f32]) -> &'a [u8] {
    &bytemuck::cast_slice(&packed[..s.packed_len_i8()])[..s.packed_len_u8()]
}

/// The shared int8 driver: reads the panel as i8 when every code is below 128 (the pipeline's 7-bit codes), else
/// as `x − 128` with the weight rows' corrections (see the module docs).
///
/// # Safety
/// As [`gemm_i8_dotprod`] (and the dot-product extension present when `dot` is [`Dot::Sdot`]).
#[target_feature(enable = "neon")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_i8(
    dot: Dot,
    s: &ConvShape,
    cout: usize,
    w: &[i8],
    w_scale: &[f32],
    scale_x: f32,
    packed: &[f32],
    out: &mut [f32],
) {
    // SAFETY: this function's contract, for either reading of the panel.
    unsafe {
        if seven_bit(panel_bytes(s, packed)) {
            gemm_i8_groups::<false>(dot, s, cout, w, w_scale, scale_x, packed, out)
        } else {
            gemm_i8_groups::<true>(dot, s, cout, w, w_scale, scale_x, packed, out)
        }
    }
}

/// For each group of [`CORR_ROWS`] output channels, their scales and, with `FLIP` (the panel read as `x − 128`),
/// their weight-row corrections `128·Σw`; then for each panel and block of the group's channels, one tile per half
/// panel. Channels up to 96 (V1, and every layer of a small model) run panel-major; longer layers stream their
/// panels once per group.
///
/// # Safety
/// As [`gemm_i8`].
#[target_feature(enable = "neon")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_i8_groups<const FLIP: bool>(
    dot: Dot,
    s: &ConvShape,
    cout: usize,
    w: &[i8],
    w_scale: &[f32],
    scale_x: f32,
    packed: &[f32],
    out: &mut [f32],
) {
    let (n, kk4) = (s.n(), s.kk4());
    let (w, bytes, out) = (w.as_ptr(), packed.as_ptr() as *const u8, out.as_mut_ptr());
    let mr = if dot == Dot::Sdot { MR_DOT } else { MR_WIDE };
    let mut g0 = 0;
    while g0 < cout {
        let g_rows = (cout - g0).min(CORR_ROWS);
        let mut corr = [0i32; CORR_ROWS];
        let mut scale = [0.0f32; CORR_ROWS];
        for (i, (c, sc)) in corr.iter_mut().zip(&mut scale).enumerate().take(g_rows) {
            if FLIP {
                // SAFETY: row g0+i < cout of `w` holds kk4 bytes.
                *c = 128 * unsafe { row_sum(w.add((g0 + i) * kk4), kk4) };
            }
            *sc = scale_x * w_scale[g0 + i];
        }
        for p in 0..s.panels() {
            let n0 = p * NR;
            let cols = (n - n0).min(NR);
            let mut m0 = g0;
            while m0 < g0 + g_rows {
                let rows = (g0 + g_rows - m0).min(mr);
                // The block's corrections and scales (rows past `rows` unused).
                let mut bc = [0i32; MR_DOT];
                let mut bs = [0.0f32; MR_DOT];
                bc[..rows].copy_from_slice(&corr[m0 - g0..m0 - g0 + rows]);
                bs[..rows].copy_from_slice(&scale[m0 - g0..m0 - g0 + rows]);
                let mut j0 = 0;
                while j0 < cols {
                    let t = Tile {
                        kk4,
                        // SAFETY (all three): rows m0.. < cout of `w`; panel p's quads of pixels j0..j0+16 inside
                        // `packed_len_u8`; output rows m0.. at columns n0+j0.., at most `cols` written.
                        w: unsafe { w.add(m0 * kk4) },
                        b: unsafe { bytes.add(p * kk4 * NR + j0 * 4) },
                        out: unsafe { out.add(m0 * n + n0 + j0) },
                        n,
                        cols: (cols - j0).min(HALF),
                    };
                    // SAFETY: the tile's pointers satisfy the tile contracts (above); `sdot` only when the caller
                    // vouched for the dot-product extension.
                    unsafe {
                        match (dot, rows) {
                            (Dot::Sdot, 6) => dot_tile::<6, FLIP>(t, &bc, &bs),
                            (Dot::Sdot, 5) => dot_tile::<5, FLIP>(t, &bc, &bs),
                            (Dot::Sdot, 4) => dot_tile::<4, FLIP>(t, &bc, &bs),
                            (Dot::Sdot, 3) => dot_tile::<3, FLIP>(t, &bc, &bs),
                            (Dot::Sdot, 2) => dot_tile::<2, FLIP>(t, &bc, &bs),
                            (Dot::Sdot, _) => dot_tile::<1, FLIP>(t, &bc, &bs),
                            (Dot::Widening, 2) => wide_tile::<2, FLIP>(t, &bc, &bs),
                            (Dot::Widening, _) => wide_tile::<1, FLIP>(t, &bc, &bs),
                        }
                    }
                    j0 += HALF;
                }
                m0 += rows;
            }
        }
        g0 += g_rows;
    }
}

/// Int8 GEMM on ARMv8.2 `sdot`, 6 × 16 tiles.
///
/// # Safety
/// The CPU has the dot-product extension; `s` is valid with `kk4 ≤ MAX_KK4`; `w`, `w_scale`, `packed`, `out` hold
/// at least `cout·kk4`, `cout`, `packed_len_u8 / 4` and `cout·n` elements, `packed` written by [`im2col_u8`]
/// (checked by `Kernels::gemm_i8`).
#[target_feature(enable = "neon,dotprod")]
pub(super) unsafe fn gemm_i8_dotprod(
    s: &ConvShape,
    cout: usize,
    w: &[i8],
    w_scale: &[f32],
    scale_x: f32,
    packed: &[f32],
    out: &mut [f32],
) {
    // SAFETY: this function's contract, with the dot-product extension present.
    unsafe { gemm_i8(Dot::Sdot, s, cout, w, w_scale, scale_x, packed, out) }
}

/// Int8 GEMM by widening multiplies (`smull`/`sadalp`), 2 × 16 tiles, for cores without the dot product.
///
/// # Safety
/// As [`gemm_i8_dotprod`], without the dot-product requirement.
#[target_feature(enable = "neon")]
pub(super) unsafe fn gemm_i8_widening(
    s: &ConvShape,
    cout: usize,
    w: &[i8],
    w_scale: &[f32],
    scale_x: f32,
    packed: &[f32],
    out: &mut [f32],
) {
    // SAFETY: this function's contract.
    unsafe { gemm_i8(Dot::Widening, s, cout, w, w_scale, scale_x, packed, out) }
}

/// One int8 tile's operands: rows of `kk4` weight bytes from `w`, quad rows of 16 pixels × 4 bytes from `b`
/// (stride `NR·4`), results to `out` (row stride `n`), `cols ≤ 16` of them.
#[derive(Clone, Copy)]
struct Tile {
    kk4: usize,
    w: *const i8,
    b: *const u8,
    out: *mut f32,
    n: usize,
    cols: usize,
}

/// `acc + a·b` over groups of four i8 lanes (ARMv8.2 `SDOT`, written as assembly because the `vdotq_s32`
/// intrinsic is not stable in Rust yet).
///
/// # Safety
/// The CPU has the dot-product extension.
#[target_feature(enable = "neon,dotprod")]
#[inline]
unsafe fn sdot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: a register-only instruction (no memory, flags or stack); the caller guarantees the extension.
    unsafe {
        core::arch::asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    acc
}

/// Load a weight quad and broadcast it to all four 32-bit lanes.
///
/// # Safety
/// `w` holds 4 readable bytes.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn quad(w: *const i8) -> int8x16_t {
    // SAFETY: 4 bytes at `w`, read unaligned.
    vreinterpretq_s8_s32(vdupq_n_s32(unsafe { (w as *const i32).read_unaligned() }))
}

/// Load the 16 pixels × 4 bytes of quad row `q` as i8: the bytes themselves, or with `FLIP` each XOR 0x80 (`x − 128`).
///
/// # Safety
/// `b` points at a tile's panel with at least `q + 1` quad rows.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn panel_quads<const FLIP: bool>(b: *const u8, q: usize) -> [int8x16_t; 4] {
    // SAFETY: quad row q holds 64 bytes from `b + q·NR·4` (the tile's half panel).
    let v = unsafe {
        let p = b.add(q * NR * 4) as *const i8;
        [vld1q_s8(p), vld1q_s8(p.add(16)), vld1q_s8(p.add(32)), vld1q_s8(p.add(48))]
    };
    if FLIP {
        v.map(|x| veorq_s8(x, vdupq_n_s8(i8::MIN)))
    } else {
        v
    }
}

/// Add the correction (with `FLIP`), scale and store one output row from four vectors of 4 pixels.
///
/// # Safety
/// `dst` has room for `cols.min(16)` floats.
#[target_feature(enable = "neon")]
#[inline]
unsafe fn finish_row<const FLIP: bool>(dst: *mut f32, px: [int32x4_t; 4], corr: i32, scale: f32, cols: usize) {
    let c = vdupq_n_s32(corr);
    let v = px.map(|x| vmulq_n_f32(vcvtq_f32_s32(if FLIP { vaddq_s32(x, c) } else { x }), scale));
    // SAFETY: the caller's bound.
    unsafe { store16(dst, &v, cols) };
}

/// # Safety
/// The dot-product extension is present; `t` points at `R` weight rows, the tile's half panel and `R` output rows
/// (see [`Tile`]).
#[target_feature(enable = "neon,dotprod")]
#[inline]
unsafe fn dot_tile<const R: usize, const FLIP: bool>(t: Tile, corr: &[i32; MR_DOT], scale: &[f32; MR_DOT]) {
    let mut acc = [[vdupq_n_s32(0); 4]; R];
    for q in 0..t.kk4 / 4 {
        // SAFETY: q < kk4/4 quad rows; weight rows i < R hold kk4 bytes; the extension is present.
        unsafe {
            let b = panel_quads::<FLIP>(t.b, q);
            for (i, acc_i) in acc.iter_mut().enumerate() {
                let a = quad(t.w.add(i * t.kk4 + q * 4));
                for v in 0..4 {
                    acc_i[v] = sdot(acc_i[v], b[v], a);
                }
            }
        }
    }
    for (i, acc_i) in acc.iter().enumerate() {
        // SAFETY: output row i has room for `cols` floats.
        unsafe { finish_row::<FLIP>(t.out.add(i * t.n), *acc_i, corr[i], scale[i], t.cols) };
    }
}

/// # Safety
/// `t` points at `R` weight rows, the tile's half panel and `R` output rows (see [`Tile`]).
#[target_feature(enable = "neon")]
#[inline]
unsafe fn wide_tile<const R: usize, const FLIP: bool>(t: Tile, corr: &[i32; MR_DOT], scale: &[f32; MR_DOT]) {
    // acc[i][2v], acc[i][2v+1]: pixels 4v, 4v+1 and 4v+2, 4v+3, two i32 lanes per pixel (steps 0+1 and 2+3).
    let mut acc = [[vdupq_n_s32(0); 8]; R];
    for q in 0..t.kk4 / 4 {
        // SAFETY: q < kk4/4 quad rows; weight rows i < R hold kk4 bytes.
        unsafe {
            let b = panel_quads::<FLIP>(t.b, q);
            for (i, acc_i) in acc.iter_mut().enumerate() {
                let a = quad(t.w.add(i * t.kk4 + q * 4));
                let a_lo = vget_low_s8(a);
                for v in 0..4 {
                    acc_i[2 * v] = vpadalq_s16(acc_i[2 * v], vmull_s8(vget_low_s8(b[v]), a_lo));
                    acc_i[2 * v + 1] = vpadalq_s16(acc_i[2 * v + 1], vmull_high_s8(b[v], a));
                }
            }
        }
    }
    for (i, acc_i) in acc.iter().enumerate() {
        let px = [
            vpaddq_s32(acc_i[0], acc_i[1]),
            vpaddq_s32(acc_i[2], acc_i[3]),
            vpaddq_s32(acc_i[4], acc_i[5]),
            vpaddq_s32(acc_i[6], acc_i[7]),
        ];
        // SAFETY: output row i has room for `cols` floats.
        unsafe { finish_row::<FLIP>(t.out.add(i * t.n), px, corr[i], scale[i], t.cols) };
    }
}

/// One row of the visual background's alignment search in NEON: two registers hold a shift's eight lane sums (lanes
/// 0–3 and 4–7 of each 8-pixel chunk), exactly the portable kernel's eight lanes, and `fabd` gives `|f − b|` with the
/// subtraction's one rounding, as `(f − b).abs()` does; so every sum, and every abandonment, is bit-identical to
/// [`portable::background_row_sads`]. While [`BG_FUSED_MIN`] or more shifts are live, all seven are summed in one pass
/// over the row (each background chunk loaded once; fourteen accumulators of the 32 NEON registers); fewer, each live
/// one alone.
///
/// # Safety
/// The arguments satisfy the checks of `Kernels::background_row_sads` (`h, w > 2·SHIFT`, `|sy| ≤ SHIFT`, `frame`
/// and `plane` at least `h·w` floats).
#[target_feature(enable = "neon")]
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
    let zero = vdupq_n_f32(0.0);
    let mut sums = ([(zero, zero); BG_GRID], [0.0f32; BG_GRID]);
    type Sums = ([(float32x4_t, float32x4_t); BG_GRID], [f32; BG_GRID]);
    let add_row = |(acc, tail): &mut Sums, y: usize, fy: usize, live: &[bool; BG_GRID], n_live| {
        // Shift k reads frow[k .. k + cols] (k + cols ≤ 2·SHIFT + w − 2·SHIFT = w); fy = y + sy is in 0..h.
        let frow = &frame[fy * w..fy * w + w];
        let brow = &plane[y * w + r..y * w + r + cols];
        let (f, b) = (frow.as_ptr(), brow.as_ptr());
        // SAFETY: chunk c covers 8c .. 8c + 8 ≤ cols of `brow` and k + 8c .. k + 8c + 8 ≤ w of `frow`.
        unsafe {
            if n_live >= BG_FUSED_MIN {
                for c in 0..chunks {
                    let (b0, b1) = (vld1q_f32(b.add(8 * c)), vld1q_f32(b.add(8 * c + 4)));
                    for (k, (lo, hi)) in acc.iter_mut().enumerate() {
                        let p = f.add(k + 8 * c);
                        *lo = vaddq_f32(*lo, vabdq_f32(vld1q_f32(p), b0));
                        *hi = vaddq_f32(*hi, vabdq_f32(vld1q_f32(p.add(4)), b1));
                    }
                }
            } else {
                for (k, (lo, hi)) in acc.iter_mut().enumerate() {
                    if !live[k] {
                        continue;
                    }
                    let (mut l, mut u) = (*lo, *hi);
                    for c in 0..chunks {
                        let (p, q) = (f.add(k + 8 * c), b.add(8 * c));
                        l = vaddq_f32(l, vabdq_f32(vld1q_f32(p), vld1q_f32(q)));
                        u = vaddq_f32(u, vabdq_f32(vld1q_f32(p.add(4)), vld1q_f32(q.add(4))));
                    }
                    (*lo, *hi) = (l, u);
                }
            }
        }
        portable::bg_row_tails(frow, brow, 8 * chunks, live, tail);
    };
    let total = |(acc, tail): &Sums, k: usize| {
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` holds 8 floats.
        unsafe {
            vst1q_f32(lanes.as_mut_ptr(), acc[k].0);
            vst1q_f32(lanes.as_mut_ptr().add(4), acc[k].1);
        }
        portable::bg_total(&lanes, tail[k])
    };
    portable::bg_row_search(h, sy, bound, &mut sums, add_row, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The route check reads the panel and only the panel: stale bytes of 128 and more after it (the rest of the
    /// `packed_len_i8` buffer) leave the 7-bit route chosen, and a single 8-bit code in the panel's last byte does
    /// not.
    #[test]
    fn seven_bit_check_reads_the_panel_only() {
        // IT-like: 3×3 "same" over 8 channels; the portable f32 panels are four times the SIMD panel's bytes.
        let s = ConvShape { cin: 8, h: 6, w: 6, k: 3, stride: 1, pad: 1 };
        let mut buf = [f32::from_bits(u32::MAX); 8192];
        let packed = &mut buf[..s.packed_len_i8()];
        let panel = s.packed_len_u8();
        assert!(panel > 0 && panel < 4 * packed.len(), "the buffer must extend past the panel");
        bytemuck::cast_slice_mut::<f32, u8>(packed)[..panel].fill(127);
        assert_eq!(panel_bytes(&s, packed).len(), panel);
        assert!(seven_bit(panel_bytes(&s, packed)), "stale bytes past the panel chose the 8-bit route");
        bytemuck::cast_slice_mut::<f32, u8>(packed)[panel - 1] = 128;
        assert!(!seven_bit(panel_bytes(&s, packed)), "an 8-bit code in the panel went unseen");
    }
}
