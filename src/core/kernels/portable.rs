//! Portable kernels: plain Rust for every target, and the reference each SIMD kernel is tested against.
//!
//! They are safe functions that index slices; the table calls them only after [`super::Kernels`] has checked
//! every length, so they never hit a bounds panic. The `#[inline(always)]` bodies are shared with the x86 levels,
//! which compile the same code under `target_feature` (see `x86_avx2`).

use super::{ConvShape, BG_CUT_ROWS, BG_GRID, NR};
use crate::core::visual::SHIFT;

/// Longest run of u8 × i8 products an f32 sum holds exactly: each product is an integer of magnitude ≤ 255·128, and
/// every partial sum of up to 512 of them stays below 2²⁴ (512·255·128 = 16,711,680 < 16,777,216), where f32
/// represents every integer. See [`gemm_i8`].
const EXACT_RUN: usize = 512;

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

/// The pixels of panel `p` in runs that share an output row: `(first column, input row of ky = 0, input column of
/// kx = 0, length)`, computed once per panel (no division per row). Returns the number of runs.
#[inline(always)]
fn panel_runs(s: &ConvShape, p: usize, runs: &mut [(usize, isize, isize, usize); NR]) -> usize {
    let (n, wo) = (s.n(), s.wo());
    let (st, pad) = (s.stride as isize, s.pad as isize);
    let n0 = p * NR;
    let cols = (n - n0).min(NR);
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
    nruns
}

/// Where a packed row reads its input: element `offset + iy·row_stride + ix·pixel_stride` of `x` for input pixel
/// `(iy, ix)` (a CHW plane: the plane's offset, `w`, 1; one channel of a channel-quad plane: its byte, `4w`, 4).
#[derive(Clone, Copy)]
struct Source {
    offset: usize,
    row_stride: usize,
    pixel_stride: usize,
}

/// Fill one packed row `dst` (NR wide) for kernel tap `(ky, kx)`, converting each input element with `conv`;
/// `zero` where the tap falls in the padding or past the last pixel.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn fill_row<S: Copy, T: Copy>(
    s: &ConvShape,
    runs: &[(usize, isize, isize, usize)],
    cols: usize,
    (ky, kx): (usize, usize),
    dst: &mut [T],
    x: &[S],
    src: Source,
    zero: T,
    conv: impl Fn(S) -> T,
) {
    let h = s.h as isize;
    for &(j, iy0, ix00, run) in runs {
        let d = &mut dst[j..j + run];
        let iy = iy0 + ky as isize;
        if iy < 0 || iy >= h {
            d.fill(zero);
            continue;
        }
        let ix0 = ix00 + kx as isize;
        let (lo, hi) = valid_run(ix0, s.stride, s.w, run);
        // Element loops rather than fill/copy_from_slice: runs are short (≤ one output row) and a library call per
        // run costs more than the copy.
        d[..lo].fill(zero);
        d[hi..].fill(zero);
        if hi > lo {
            let first = (ix0 + lo as isize * s.stride as isize) as usize;
            let row = src.offset + iy as usize * src.row_stride;
            let step = s.stride * src.pixel_stride;
            if step == 1 {
                let from = &x[row + first..row + first + (hi - lo)];
                for (v, &e) in d[lo..hi].iter_mut().zip(from) {
                    *v = conv(e);
                }
            } else if step == 2 {
                // V1's stride with a constant step: the compiler vectorises the gather with shuffles.
                let len = hi - lo;
                let start = row + first;
                if start + 2 * len <= x.len() {
                    for (v, pair) in d[lo..hi].iter_mut().zip(x[start..start + 2 * len].chunks_exact(2)) {
                        *v = conv(pair[0]);
                    }
                } else {
                    let from = &x[start..start + 2 * len - 1];
                    for (t, v) in d[lo..hi].iter_mut().enumerate() {
                        *v = conv(from[2 * t]);
                    }
                }
            } else {
                let from = &x[row + first * src.pixel_stride..];
                for (t, v) in d[lo..hi].iter_mut().enumerate() {
                    *v = conv(from[t * step]);
                }
            }
        }
    }
    for v in &mut dst[cols..] {
        *v = zero;
    }
}

/// Whether every packed row of `s` is a shifted copy of its input plane: stride 1 and output rows as wide as input
/// rows ("same" padding across; CORnet-Z's V2, V4 and IT). Then output pixel `j` of a panel and input pixel
/// `j + dy·w + dx` line up for every tap `(dy, dx)`, across output rows, so [`fill_row_same`] packs a row with one
/// contiguous copy and a few edge fixes instead of a run per output row.
#[inline(always)]
fn same_rows(s: &ConvShape) -> bool {
    s.stride == 1 && s.wo() == s.w
}

/// For [`same_rows`] shapes, tap `(ky, kx)` of panel columns `n0..n0+cols` (output columns `ox`): which columns
/// read inside the input, and the offset `shift` such that column `j` reads plane element `j + shift`. The same for
/// every input plane, so computed once per panel and tap.
#[inline(always)]
fn same_tap(
    s: &ConvShape,
    (n0, cols, ox): (usize, usize, &[u32; NR]),
    (ky, kx): (usize, usize),
) -> ([bool; NR], isize) {
    let (w, h, ho) = (s.w as isize, s.h as isize, s.ho() as isize);
    let (dy, dx) = (ky as isize - s.pad as isize, kx as isize - s.pad as isize);
    let n0i = n0 as isize;
    // Output rows whose source row oy + dy lies inside the plane, as a column range of this panel.
    let j_lo = ((-dy).max(0) * w - n0i).clamp(0, cols as isize) as usize;
    let j_hi = ((h - dy).min(ho) * w - n0i).clamp(j_lo as isize, cols as isize) as usize;
    let mut inside = [false; NR];
    for (j, m) in inside.iter_mut().enumerate() {
        // Column j reads element j + shift: inside the plane for rows in j_lo..j_hi, except where ox + dx falls off
        // the row (that would be the neighbouring row's edge pixel).
        *m = j >= j_lo && j < j_hi && ((ox[j] as isize + dx) as usize) < s.w;
    }
    (inside, n0i + dy * w + dx)
}

/// Fill one packed row of a [`same_rows`] shape: column `j` is `conv(x[plane + j + shift])` where `inside[j]`, else
/// `zero` (see [`same_tap`]).
#[inline(always)]
fn fill_row_same<S: Copy, T: Copy>(
    dst: &mut [T; NR],
    x: &[S],
    (plane, shift, inside): (usize, isize, &[bool; NR]),
    zero: T,
    conv: impl Fn(S) -> T,
) {
    let start = plane as isize + shift;
    if start >= 0 && start as usize + NR <= x.len() {
        // The whole window is readable: one branch-free, vectorisable pass of loads and selects.
        let win: &[S; NR] = x[start as usize..start as usize + NR].try_into().expect("NR elements");
        for j in 0..NR {
            // Converted unconditionally, then selected: a blend, not a branch.
            let v = conv(win[j]);
            dst[j] = if inside[j] { v } else { zero };
        }
    } else {
        // At the ends of `x`: read only where inside (always within the plane).
        for j in 0..NR {
            dst[j] = if inside[j] { conv(x[(start + j as isize) as usize]) } else { zero };
        }
    }
}

/// Output column of each of panel `p`'s columns (`(p·NR + j) mod wo`), computed once per panel.
#[inline(always)]
fn panel_ox(s: &ConvShape, p: usize) -> [u32; NR] {
    let wo = s.wo();
    let mut ox = [0u32; NR];
    let mut c = (p * NR) % wo;
    for o in &mut ox {
        *o = c as u32;
        c += 1;
        if c == wo {
            c = 0;
        }
    }
    ox
}

/// Pack the f32 CHW input `x` into column panels `[panel][kk][NR]` (see the module docs).
#[inline(always)]
pub(super) fn im2col_f32_body(s: &ConvShape, x: &[f32], packed: &mut [f32]) {
    let (n, kk) = (s.n(), s.kk());
    let mut runs = [(0usize, 0isize, 0isize, 0usize); NR];
    for p in 0..s.panels() {
        let nruns = panel_runs(s, p, &mut runs);
        let cols = (n - p * NR).min(NR);
        let base = p * kk * NR;
        if same_rows(s) {
            // Tap-major, so each tap's selection serves every input plane; row (ci, tap) sits at ci·k² + tap.
            let ox = panel_ox(s, p);
            let taps = s.k * s.k;
            for tap in 0..taps {
                let (inside, shift) = same_tap(s, (p * NR, cols, &ox), (tap / s.k, tap % s.k));
                for ci in 0..s.cin {
                    let at = base + (ci * taps + tap) * NR;
                    let dst: &mut [f32; NR] = (&mut packed[at..at + NR]).try_into().expect("NR floats");
                    fill_row_same(dst, x, (ci * s.h * s.w, shift, &inside), 0.0, |e| e);
                }
            }
            continue;
        }
        let mut row = 0;
        for ci in 0..s.cin {
            let src = Source { offset: ci * s.h * s.w, row_stride: s.w, pixel_stride: 1 };
            for ky in 0..s.k {
                for kx in 0..s.k {
                    let dst = &mut packed[base + row * NR..base + row * NR + NR];
                    fill_row(s, &runs[..nruns], cols, (ky, kx), dst, x, src, 0.0, |e| e);
                    row += 1;
                }
            }
        }
    }
}

/// [`im2col_f32_body`] as a table entry.
pub(super) fn im2col_f32(s: &ConvShape, x: &[f32], packed: &mut [f32]) {
    im2col_f32_body(s, x, packed)
}

/// Pack u8 channel-quad input (`[cpad/4][h][w][4]`, channels past `cin` zero) into `[panel][kk4/4][NR][4]` bytes
/// for the SIMD int8 kernels.
///
/// Quad row `q = (ky·k + kx)·cpad/4 + t` holds channels `4t..4t+4` of tap `(ky, kx)` for the panel's pixels: one
/// 4-byte element per pixel, read from plane `t` exactly as the f32 im2col reads a CHW plane (contiguous runs at
/// stride 1), so packing is a copy of runs, with no byte shuffling or transposing.
#[inline(always)]
#[cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64")), allow(dead_code))]
pub(super) fn im2col_quads_body(s: &ConvShape, x: &[u8], packed: &mut [f32]) {
    let (n, quads, cq) = (s.n(), s.kk4() / 4, s.cpad() / 4);
    let src: &[[u8; 4]] = bytemuck::cast_slice(&x[..s.input_len_u8()]);
    let dst_all: &mut [[u8; 4]] = bytemuck::cast_slice_mut(packed);
    let mut runs = [(0usize, 0isize, 0isize, 0usize); NR];
    for p in 0..s.panels() {
        let nruns = panel_runs(s, p, &mut runs);
        let cols = (n - p * NR).min(NR);
        let base = p * quads * NR;
        let mut row = 0;
        let same = same_rows(s);
        let ox = panel_ox(s, p);
        for ky in 0..s.k {
            for kx in 0..s.k {
                let (inside, shift) = if same { same_tap(s, (p * NR, cols, &ox), (ky, kx)) } else { ([false; NR], 0) };
                for t in 0..cq {
                    let dst: &mut [[u8; 4]; NR] =
                        (&mut dst_all[base + row * NR..base + row * NR + NR]).try_into().expect("NR quads");
                    let plane = Source { offset: t * s.h * s.w, row_stride: s.w, pixel_stride: 1 };
                    if same {
                        fill_row_same(dst, src, (plane.offset, shift, &inside), [0; 4], |e| e);
                    } else {
                        fill_row(s, &runs[..nruns], cols, (ky, kx), dst, src, plane, [0; 4], |e| e);
                    }
                    row += 1;
                }
            }
        }
    }
}

/// Pack u8 channel-quad input into f32 panels `[panel][k·k·cin][NR]` (rows `(ky, kx, channel)`, the padding
/// channels skipped) for the portable [`gemm_i8`]: each quad row is gathered as in [`im2col_quads_body`], then
/// spread to its (up to) four channel rows.
#[inline(always)]
pub(super) fn im2col_u8_f32(s: &ConvShape, x: &[u8], packed: &mut [f32]) {
    let (n, kk, cq) = (s.n(), s.kk(), s.cpad() / 4);
    let src: &[[u8; 4]] = bytemuck::cast_slice(&x[..s.input_len_u8()]);
    let mut runs = [(0usize, 0isize, 0isize, 0usize); NR];
    let mut quad_row = [[0u8; 4]; NR];
    for p in 0..s.panels() {
        let nruns = panel_runs(s, p, &mut runs);
        let cols = (n - p * NR).min(NR);
        let base = p * kk * NR;
        let mut row = 0;
        let same = same_rows(s);
        let ox = panel_ox(s, p);
        for ky in 0..s.k {
            for kx in 0..s.k {
                let (inside, shift) = if same { same_tap(s, (p * NR, cols, &ox), (ky, kx)) } else { ([false; NR], 0) };
                for t in 0..cq {
                    let plane = Source { offset: t * s.h * s.w, row_stride: s.w, pixel_stride: 1 };
                    if same {
                        fill_row_same(&mut quad_row, src, (plane.offset, shift, &inside), [0; 4], |e| e);
                    } else {
                        fill_row(s, &runs[..nruns], cols, (ky, kx), &mut quad_row, src, plane, [0; 4], |e| e);
                    }
                    for c in 0..(s.cin - 4 * t).min(4) {
                        let dst = &mut packed[base + row * NR..base + row * NR + NR];
                        for (d, q) in dst.iter_mut().zip(&quad_row) {
                            *d = q[c] as f32;
                        }
                        row += 1;
                    }
                }
            }
        }
    }
}

/// Longest kernel row of the row layout, in 4-byte words: `k·cin ≤ 256` bytes (a 7×7 V1 over up to 36 frames).
/// Wider inputs keep the channel quads ([`ConvShape::rows_pay`]), so a panel's word rows for one `ky` fit on the
/// stack.
pub(super) const MAX_ROW_WORDS: usize = 64;

/// Copies a run of pixels' kernel rows into word rows: `(x, first, step, words, (c0, c1), last)` sets, for every
/// word row `t < words.len()` and column `c` in `c0..c1`, `words[t][c]` to the 4 bytes of `x` at offset
/// `first + (c − c0)·step + 4t`, the last row's words ANDed with `last`. The caller guarantees that
/// `first + (c1 − c0 − 1)·step + 4·words.len()` is at most `x.len()`.
///
/// A trait rather than a function pointer so that each level's copy is inlined into the packing compiled for it (a
/// SIMD copy may then be a closure calling a `target_feature` function, sound because only that level's packing,
/// which has those features, builds it).
pub(super) trait RowsCopy: Fn(&[u8], usize, usize, &mut [[u32; NR]], (usize, usize), u32) + Copy {}
impl<F: Fn(&[u8], usize, usize, &mut [[u32; NR]], (usize, usize), u32) + Copy> RowsCopy for F {}

/// [`RowsCopy`] in plain Rust: one 4-byte load per word.
pub(super) fn rows_copy(
    x: &[u8],
    first: usize,
    step: usize,
    words: &mut [[u32; NR]],
    (c0, c1): (usize, usize),
    last: u32,
) {
    let rw = words.len();
    for (t, w) in words.iter_mut().enumerate() {
        let mask = if t + 1 == rw { last } else { u32::MAX };
        let seg = &x[first + 4 * t..first + 4 * t + step * (c1 - c0 - 1) + 4];
        for (v, win) in w[c0..c1].iter_mut().zip(seg.windows(4).step_by(step.max(1))) {
            *v = u32::from_ne_bytes(win.try_into().expect("4 bytes")) & mask;
        }
    }
}

/// The runs of panel `p`'s pixels along output rows for the row layout ([`panel_runs`]), each with the range
/// `lo..hi` of its pixels whose kernel rows lie inside the input's width (the same for every `ky`).
pub(super) struct RowRuns {
    runs: [(usize, isize, isize, usize); NR],
    inner: [(usize, usize); NR],
    n: usize,
}

impl RowRuns {
    #[inline(always)]
    pub(super) fn of(s: &ConvShape, p: usize) -> Self {
        let mut runs = [(0usize, 0isize, 0isize, 0usize); NR];
        let n = panel_runs(s, p, &mut runs);
        let mut inner = [(0usize, 0usize); NR];
        for (r, &(_, _, ix00, run)) in inner.iter_mut().zip(&runs[..n]) {
            let fits = |i: usize| {
                let ix0 = ix00 + (i * s.stride) as isize;
                ix0 >= 0 && ix0 as usize + s.k <= s.w
            };
            let lo = (0..run).find(|&i| fits(i)).unwrap_or(run);
            *r = (lo, (lo..run).find(|&i| !fits(i)).unwrap_or(run));
        }
        RowRuns { runs, inner, n }
    }
}

/// Kernel row `ky` of a panel in the row layout: fills `words` (`row_bytes/4` rows of `NR` words), row `t` holding
/// bytes `4t..4t+4` of each pixel's kernel row `ky` (zero in the padding and the panel's padding columns).
///
/// Within a run of pixels along an output row, the pixels whose kernel row lies wholly inside the input read it
/// from one contiguous stretch of `x` starting `stride·cin` bytes after the previous pixel's, so a word row is a
/// strided copy of 4-byte windows (`copy`, e.g. [`rows_copy`]; the last word of a kernel row masked past `k·cin`);
/// the pixels at a left or right border assemble their row from the part inside the input.
#[inline(always)]
pub(super) fn rows_ky(s: &ConvShape, x: &[u8], rr: &RowRuns, ky: usize, copy: impl RowsCopy, words: &mut [[u32; NR]]) {
    let rw = s.row_bytes() / 4;
    let (span, step, kc) = (4 * rw, s.stride * s.cin, s.k * s.cin);
    // The mask of the last word's data bytes, built in a register (a `fill` of a byte array here became a call to
    // memset and a reload that missed store forwarding: a sixth of this function's time at V1 over 96²).
    let keep = kc - 4 * (rw - 1);
    let last = u32::from_ne_bytes(core::array::from_fn(|i| if i < keep { 0xff } else { 0 }));
    let words = &mut words[..rw];
    for w in words.iter_mut() {
        *w = [0; NR];
    }
    for (&(j, iy0, ix00, run), &(lo, mut hi)) in rr.runs[..rr.n].iter().zip(&rr.inner) {
        let iy = iy0 + ky as isize;
        if iy < 0 || iy >= s.h as isize {
            continue;
        }
        let row = iy as usize * s.w * s.cin;
        let start = |i: usize| row + (ix00 + (i * s.stride) as isize) as usize * s.cin;
        // The last word may reach up to 3 bytes past the row's data: at the end of `x` those pixels assemble theirs.
        while hi > lo && start(hi - 1) + span > x.len() {
            hi -= 1;
        }
        if hi > lo {
            copy(x, start(lo), step, words, (j + lo, j + hi), last);
        }
        // Border pixels: the part of the row inside the input, copied into a zeroed row of bytes, then read as
        // words (whole copies and whole-word reads, which store forwarding serves).
        for i in (0..lo).chain(hi..run) {
            let ix0 = ix00 + (i * s.stride) as isize;
            let (a, b) = (ix0.max(0), (ix0 + s.k as isize).min(s.w as isize));
            let mut buf = [0u8; 4 * MAX_ROW_WORDS];
            if b > a {
                let (a, b) = (a as usize, b as usize);
                let at = (a as isize - ix0) as usize * s.cin;
                buf[at..at + (b - a) * s.cin].copy_from_slice(&x[row + a * s.cin..row + b * s.cin]);
            }
            for (w, word) in words.iter_mut().zip(buf.chunks_exact(4)) {
                w[j + i] = u32::from_ne_bytes(word.try_into().expect("4 bytes"));
            }
        }
    }
}

/// Pack interleaved u8 input (`[h][w][cin]`) in the int8 row layout for the SIMD int8 kernels: `[panel][kk_rows/4]
/// [NR][4]` bytes, the panels of [`ConvShape::rows_gemm`]'s 1×1 convolution, the strided copies done by `copy`.
///
/// Each kernel row's whole words go to their place in the panel; the row's last, partial word (its `row_rest`
/// bytes, zero above them) is copied to the next row's place and ORed from there into the tail words ([`to_tail`];
/// see [`ConvShape::row_slot`]) before that row overwrites it. The last row's partial word lands on the
/// first tail word, which is kept aside while it is copied.
#[inline(always)]
#[cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64")), allow(dead_code))]
pub(super) fn im2col_rows_body(s: &ConvShape, x: &[u8], packed: &mut [f32], copy: impl RowsCopy) {
    let (words, rw, whole, rest) = (s.kk_rows() / 4, s.row_bytes() / 4, s.row_words(), s.row_rest());
    let tail0 = s.k * whole;
    let dst_all: &mut [[u32; NR]] = bytemuck::cast_slice_mut(packed);
    for p in 0..s.panels() {
        let dst = &mut dst_all[p * words..(p + 1) * words];
        dst[tail0..].fill([0; NR]);
        let rr = RowRuns::of(s, p);
        for ky in 0..s.k {
            let at = ky * whole;
            let kept = (at + rw > tail0).then(|| dst[tail0]);
            rows_ky(s, x, &rr, ky, copy, &mut dst[at..at + rw]);
            if rest > 0 {
                let partial = dst[at + whole];
                if let Some(row) = kept {
                    dst[tail0] = row;
                }
                to_tail(&partial, ky * rest, rest, &mut dst[tail0..]);
            }
        }
    }
}

/// ORs the `rest` lowest-address bytes of each word of `partial` (its bytes above them are zero) into bytes
/// `first..first + rest` of the tail words' byte sequence (word `i / 4`, byte `i % 4` in memory order, as the GEMM
/// reads them): a shift of every word toward higher addresses, and what passes a word's end into the next word.
/// The tail's bytes start zero and each is written once.
#[inline(always)]
fn to_tail(partial: &[u32; NR], first: usize, rest: usize, tail: &mut [[u32; NR]]) {
    let (t, at) = (first / 4, first % 4);
    let bits = 8 * at as u32;
    // Toward higher / lower addresses by `n` bits, whichever the byte order.
    let up = |v: u32, n: u32| if cfg!(target_endian = "little") { v << n } else { v >> n };
    let down = |v: u32, n: u32| if cfg!(target_endian = "little") { v >> n } else { v << n };
    for (d, &v) in tail[t].iter_mut().zip(partial) {
        *d |= up(v, bits);
    }
    if at + rest > 4 {
        // `at > 0` here (rest ≤ 3), so the shift is below 32.
        for (d, &v) in tail[t + 1].iter_mut().zip(partial) {
            *d |= down(v, 32 - bits);
        }
    }
}

/// Pack interleaved u8 input in the int8 row layout as f32 panels `[panel][kk_rows][NR]` for the portable
/// [`gemm_i8`] (run on [`ConvShape::rows_gemm`], whose weight rows are the packed rows in order).
pub(super) fn im2col_rows_f32(s: &ConvShape, x: &[u8], packed: &mut [f32]) {
    let (kr, rw, kc) = (s.kk_rows(), s.row_bytes() / 4, s.k * s.cin);
    let mut buf = [[0u32; NR]; MAX_ROW_WORDS];
    for p in 0..s.panels() {
        let dst = &mut packed[p * kr * NR..(p + 1) * kr * NR];
        // The tail's padding bytes past the last row's leftovers stay zero.
        dst[s.row_slot(s.k - 1, kc - 1) * NR..].fill(0.0);
        let rr = RowRuns::of(s, p);
        for ky in 0..s.k {
            rows_ky(s, x, &rr, ky, rows_copy, &mut buf);
            for (t, row) in buf[..rw].iter().enumerate() {
                for i in 0..4 {
                    let b = 4 * t + i;
                    if b >= kc {
                        break;
                    }
                    let r = s.row_slot(ky, b);
                    for (d, &v) in dst[r * NR..(r + 1) * NR].iter_mut().zip(row) {
                        *d = f32::from(v.to_ne_bytes()[i]);
                    }
                }
            }
        }
    }
}

/// u8 CHW planes to interleaved 7-bit codes `[h + 2·pad][w + 2·pad][c]` with a zero border ([`frame_code`], the
/// same codes as [`to_quads`]; see [`super::Kernels::to_hwc`]). Every output byte is written, the border too.
pub(super) fn to_hwc(x: &[u8], (c, h, w): (usize, usize, usize), pad: usize, out: &mut [u8]) {
    let (hw, wp) = (h * w, w + 2 * pad);
    let row_len = wp * c;
    let (top, rest) = out[..(h + 2 * pad) * row_len].split_at_mut(pad * row_len);
    top.fill(0);
    let (body, bottom) = rest.split_at_mut(h * row_len);
    bottom.fill(0);
    for (y, row) in body.chunks_exact_mut(row_len).enumerate() {
        let (left, inner) = row.split_at_mut(pad * c);
        left.fill(0);
        let (inner, right) = inner.split_at_mut(w * c);
        right.fill(0);
        let at = y * w;
        match c {
            3 => hwc_fixed::<3>(x, hw, at, inner),
            5 => hwc_fixed::<5>(x, hw, at, inner),
            _ => {
                for (ch, plane) in x[..c * hw].chunks_exact(hw).enumerate() {
                    for (i, (o, &b)) in inner[ch..].iter_mut().step_by(c).zip(&plane[at..at + w]).enumerate() {
                        *o = frame_code(b, ch + at + i);
                    }
                }
            }
        }
    }
}

/// One row of [`to_hwc`] for `C` channels known at compile time (V1's usual stacks of 3 and 5 frames): the `C`
/// planes' pixels `at..` interleaved into `out` (`C` codes per pixel), each pixel's codes written together.
#[inline(always)]
fn hwc_fixed<const C: usize>(x: &[u8], hw: usize, at: usize, out: &mut [u8]) {
    let planes: [&[u8]; C] = core::array::from_fn(|ch| &x[ch * hw + at..(ch + 1) * hw]);
    for (p, px) in out.chunks_exact_mut(C).enumerate() {
        for (ch, (o, plane)) in px.iter_mut().zip(&planes).enumerate() {
            *o = frame_code(plane[p], ch + at + p);
        }
    }
}

/// Int8 weights `[cout][kk4]` (taps in `(ky, kx)` order, channels padded to `cpad`) in the row layout `[cout]
/// [kk_rows]` (see [`super::Kernels::repack_rows`]).
pub(super) fn repack_rows(s: &ConvShape, cout: usize, w: &[i8], out: &mut [i8]) {
    let (k, cin, cpad, kk4, kr) = (s.k, s.cin, s.cpad(), s.kk4(), s.kk_rows());
    for m in 0..cout {
        let (src, dst) = (&w[m * kk4..(m + 1) * kk4], &mut out[m * kr..(m + 1) * kr]);
        dst.fill(0);
        for ky in 0..k {
            for kx in 0..k {
                for c in 0..cin {
                    dst[s.row_slot(ky, kx * cin + c)] = src[(ky * k + kx) * cpad + c];
                }
            }
        }
    }
}

/// Portable f32 GEMM over packed panels (see [`super::Kernels::gemm_f32`]).
#[inline(always)]
pub(super) fn gemm_f32_body(s: &ConvShape, cout: usize, w: &[f32], packed: &[f32], out: &mut [f32]) {
    let (n, kk) = (s.n(), s.kk());
    for p in 0..s.panels() {
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

/// [`gemm_f32_body`] as a table entry.
pub(super) fn gemm_f32(s: &ConvShape, cout: usize, w: &[f32], packed: &[f32], out: &mut [f32]) {
    gemm_f32_body(s, cout, w, packed, out)
}

/// Output channels the portable int8 GEMM converts and runs together (one f32 weight buffer of
/// `MB_I8 · EXACT_RUN` floats on the stack, 8 KB).
const MB_I8: usize = 4;

/// Portable int8 GEMM over f32 panels packed by [`im2col_u8_f32`]: the exact integer sum `Σ w·x`, then one f32
/// multiply by `scale_x · w_scale[m]`.
///
/// The sum runs in f32, in runs of at most [`EXACT_RUN`] products, each run then added to an i32 accumulator: every
/// product and partial sum is an integer below 2²⁴, so the f32 arithmetic is exact and the result equals the i32
/// sums of the SIMD kernels bit for bit. The multiply loop is the f32 GEMM's, which compilers vectorise for any
/// target, where an i32 formulation of u8 × i8 products does not vectorise on SSE2 (no 32-bit multiply) and
/// measured six times slower than the f32 path. For each block of [`MB_I8`] output channels and each run, the
/// run's weights are converted to f32 once and applied to every panel; the i32 partial sums live in `out` (as bit
/// patterns) until the last run scales them.
pub(super) fn gemm_i8(
    s: &ConvShape,
    cout: usize,
    w: &[i8],
    w_scale: &[f32],
    scale_x: f32,
    packed: &[f32],
    out: &mut [f32],
) {
    let (n, kk, kk4, cin, cpad) = (s.n(), s.kk(), s.kk4(), s.cin, s.cpad());
    let mut wbuf = [[0.0f32; EXACT_RUN]; MB_I8];
    let mut m0 = 0;
    while m0 < cout {
        let rows = (cout - m0).min(MB_I8);
        let mut r0 = 0;
        while r0 < kk {
            let len = (kk - r0).min(EXACT_RUN);
            // Packed row r = (tap, c) reads weight tap·cpad + c (the quad layout pads channels to cpad).
            for (i, wb) in wbuf.iter_mut().enumerate().take(rows) {
                let wrow = &w[(m0 + i) * kk4..(m0 + i + 1) * kk4];
                // Tap by tap: each piece is a contiguous, vectorisable i8 → f32 conversion.
                let (mut r, mut done) = (r0, 0);
                while done < len {
                    let (tap, c) = (r / cin, r % cin);
                    let take = (cin - c).min(len - done);
                    let from = &wrow[tap * cpad + c..tap * cpad + c + take];
                    for (v, &x) in wb[done..done + take].iter_mut().zip(from) {
                        *v = x as f32;
                    }
                    r += take;
                    done += take;
                }
            }
            for p in 0..s.panels() {
                let rows_x = &packed[(p * kk + r0) * NR..(p * kk + r0 + len) * NR];
                let n0 = p * NR;
                let cols = (n - n0).min(NR);
                for (i, wb) in wbuf.iter().enumerate().take(rows) {
                    let mut part = [0.0f32; NR];
                    for (&wv, xs) in wb[..len].iter().zip(rows_x.chunks_exact(NR)) {
                        for j in 0..NR {
                            part[j] += wv * xs[j];
                        }
                    }
                    let o = &mut out[(m0 + i) * n + n0..(m0 + i) * n + n0 + cols];
                    for (v, &pj) in o.iter_mut().zip(&part) {
                        let prev = if r0 == 0 { 0 } else { v.to_bits() as i32 };
                        *v = f32::from_bits((prev + pj as i32) as u32);
                    }
                }
            }
            r0 += len;
        }
        for i in 0..rows {
            let sc = scale_x * w_scale[m0 + i];
            for v in &mut out[(m0 + i) * n..(m0 + i + 1) * n] {
                *v = (v.to_bits() as i32) as f32 * sc;
            }
        }
        m0 += rows;
    }
}

/// The larger of `a` and `b` with `maxps` semantics (`b` unless `a > b`; no NaN special-casing: activations here
/// are finite), the pooling kernels' maximum on every level.
#[inline(always)]
pub(super) fn mx(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

/// Max-pool 3/2/1 over `[c][h][w]`, then add the channel bias and apply ReLU; returns the largest output (0 if
/// none is positive), which the int8 path's quantisation needs next.
///
/// Separable: each output row first takes the elementwise max of up to three input rows (contiguous, vectorises)
/// into `rowmax`, which holds a −∞ sentinel on each side (so it must hold `w + 2` floats); each output pixel is then
/// the max of three neighbours of that row, `max(max(r[2px], r[2px+1]), r[2px+2])`, read as pairs so that it
/// vectorises too.
#[inline(always)]
pub(super) fn pool_body(
    x: &[f32],
    (c, h, w): (usize, usize, usize),
    bias: &[f32],
    out: &mut [f32],
    rowmax: &mut [f32],
) -> f32 {
    let (ph, pw) = (h.div_ceil(2), w.div_ceil(2));
    let rm = &mut rowmax[..w + 2];
    rm[0] = f32::NEG_INFINITY;
    rm[w + 1] = f32::NEG_INFINITY;
    for ch in 0..c {
        let src = &x[ch * h * w..(ch + 1) * h * w];
        let dst = &mut out[ch * ph * pw..(ch + 1) * ph * pw];
        let b = bias[ch];
        for py in 0..ph {
            // Input rows 2py−1, 2py, 2py+1 (those inside the map). Written as pure elementwise maxima of source
            // rows into `mid`, never as a conditional update of `mid` itself, which compilers turn into masked
            // stores (microcoded and slow on AMD).
            let y = 2 * py;
            let row = |yy: usize| &src[yy * w..yy * w + w];
            let mid = &mut rm[1..w + 1];
            match (y > 0, y + 1 < h) {
                (true, true) => {
                    for (((m, &a), &bb), &cc) in mid.iter_mut().zip(row(y - 1)).zip(row(y)).zip(row(y + 1)) {
                        *m = mx(mx(a, bb), cc);
                    }
                }
                (true, false) => {
                    for ((m, &a), &bb) in mid.iter_mut().zip(row(y - 1)).zip(row(y)) {
                        *m = mx(a, bb);
                    }
                }
                (false, true) => {
                    for ((m, &a), &bb) in mid.iter_mut().zip(row(y)).zip(row(y + 1)) {
                        *m = mx(a, bb);
                    }
                }
                (false, false) => mid.copy_from_slice(row(y)),
            }
            // Columns 2px−1, 2px, 2px+1 of the input are rm[2px], rm[2px+1], rm[2px+2] (rm[0] is the sentinel).
            let drow = &mut dst[py * pw..py * pw + pw];
            let (body, last) = drow.split_at_mut(pw - 1);
            let pairs = rm[..2 * pw - 2].chunks_exact(2).zip(rm[2..2 * pw].chunks_exact(2));
            for (d, (p, q)) in body.iter_mut().zip(pairs) {
                *d = mx(mx(mx(p[0], p[1]), q[0]) + b, 0.0);
            }
            last[0] = mx(mx(mx(rm[2 * pw - 2], rm[2 * pw - 1]), rm[2 * pw]) + b, 0.0);
        }
    }
    // The largest output, over eight independent lanes (a vector max; one running maximum would be a serial
    // chain of scalar compares).
    let all = &out[..c * ph * pw];
    let mut lanes = [0.0f32; 8];
    let mut chunks = all.chunks_exact(8);
    for c8 in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(c8) {
            *l = mx(*l, v);
        }
    }
    let top = chunks.remainder().iter().fold(0.0f32, |t, &v| mx(t, v));
    lanes.iter().fold(top, |t, &v| mx(t, v))
}

/// [`pool_body`] as a table entry.
pub(super) fn pool(x: &[f32], chw: (usize, usize, usize), bias: &[f32], out: &mut [f32], rowmax: &mut [f32]) -> f32 {
    pool_body(x, chw, bias, out, rowmax)
}

/// Write `c` CHW planes of `hw` values as `[cpad/4][hw][4]` bytes through `f(value, channel + pixel)`, four planes
/// per quad plane (channels past `c` zero).
#[inline(always)]
fn interleave_quads<T: Copy>(x: &[T], (c, hw): (usize, usize), q: &mut [u8], f: impl Fn(T, usize) -> u8) {
    for t in 0..c.div_ceil(4) {
        let dst: &mut [[u8; 4]] = bytemuck::cast_slice_mut(&mut q[t * hw * 4..(t + 1) * hw * 4]);
        let lanes = (c - 4 * t).min(4);
        if lanes == 4 {
            let (a, b) = (&x[4 * t * hw..(4 * t + 1) * hw], &x[(4 * t + 1) * hw..(4 * t + 2) * hw]);
            let (cc, d) = (&x[(4 * t + 2) * hw..(4 * t + 3) * hw], &x[(4 * t + 3) * hw..(4 * t + 4) * hw]);
            let ch = 4 * t;
            for (p, o) in dst.iter_mut().enumerate() {
                *o = [f(a[p], ch + p), f(b[p], ch + 1 + p), f(cc[p], ch + 2 + p), f(d[p], ch + 3 + p)];
            }
        } else {
            for (p, o) in dst.iter_mut().enumerate() {
                let mut v = [0u8; 4];
                for (i, vi) in v.iter_mut().enumerate().take(lanes) {
                    *vi = f(x[(4 * t + i) * hw + p], 4 * t + i + p);
                }
                *o = v;
            }
        }
    }
}

/// The u8 code of activation `v` at `inv` = 127/max: round to nearest, by truncating v·inv + 0.5 (for
/// 0 ≤ v ≤ max, 0 ≤ v·inv + 0.5 ≤ 127.5). Clamped first to 0..=127 ([`super::ACT_MAX_CODE`]), so values outside
/// 0..=max saturate and a NaN becomes 0 (here by the saturating cast; `maxps` with the NaN first returns the 0).
/// Multiply, then add (two roundings, no fused multiply-add), then clamp: the operations the SIMD kernels do, so
/// every level gives the same bytes.
#[inline(always)]
pub(super) fn quantise_one(v: f32, inv: f32) -> u8 {
    (v * inv + 0.5).clamp(0.0, f32::from(super::ACT_MAX_CODE)) as i32 as u8
}

/// Quantise CHW activations in `0..=max` to u8 channel quads with scale max/127 (the table entry; see
/// [`super::Kernels::quantise_u8`]); `max > 0` and finite.
pub(super) fn quantise_quads(x: &[f32], chw: (usize, usize), max: f32, q: &mut [u8]) {
    let inv = f32::from(super::ACT_MAX_CODE) / max;
    interleave_quads(x, chw, q, |v, _| quantise_one(v, inv));
}

/// The 7-bit code of frame byte `b` at dither index `at` (its pixel's index in the frame plus its channel, the
/// frame's place in the stack): half the byte, an odd byte rounded up where `at` is odd and down where it is even,
/// at most 127 ([`super::Kernels::to_quads`]). The rounding alternates from pixel to pixel and from frame to frame
/// (an ordered dither), so the lost bit is kept on average instead of being added as a bias to every odd byte.
#[inline(always)]
pub(super) fn frame_code(b: u8, at: usize) -> u8 {
    ((b >> 1) + (b & at as u8 & 1)).min(super::ACT_MAX_CODE)
}

/// u8 CHW planes to channel quads of 7-bit codes (the table entry; see [`super::Kernels::to_quads`]).
pub(super) fn to_quads(x: &[u8], chw: (usize, usize), q: &mut [u8]) {
    interleave_quads(x, chw, q, frame_code);
}

/// `((l₀ + l₁) + (l₂ + l₃)) + ((l₄ + l₅) + (l₆ + l₇)) + rest`: how a background shift's eight lane sums and its
/// remainder sum are combined (see [`super::Kernels::background_row_sads`]), on every level.
#[inline(always)]
pub(super) fn bg_total(lanes: &[f32; 8], rest: f32) -> f32 {
    ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])) + rest
}

/// What every level's background row search shares (see [`super::Kernels::background_row_sads`]): the interior rows
/// in order, `add_row(sums, y, fy, live, n_live)` adding interior row `y` (frame row `fy = y + sy`) to the sums of the
/// live shifts (it may add to dead ones too: they are never read again), every [`BG_CUT_ROWS`] rows the shifts whose
/// partial sum `total(sums, k)` exceeds `bound` abandoned, and the live shifts' totals at the end (+∞ for the rest).
#[inline(always)]
pub(super) fn bg_row_search<S>(
    h: usize,
    sy: isize,
    bound: f32,
    sums: &mut S,
    mut add_row: impl FnMut(&mut S, usize, usize, &[bool; BG_GRID], usize),
    total: impl Fn(&S, usize) -> f32,
) -> [f32; BG_GRID] {
    let r = SHIFT;
    let mut live = [true; BG_GRID];
    let mut n_live = BG_GRID;
    for y in r..h - r {
        add_row(sums, y, (y as isize + sy) as usize, &live, n_live);
        if (y - r) % BG_CUT_ROWS == BG_CUT_ROWS - 1 {
            for (k, l) in live.iter_mut().enumerate() {
                if *l && total(sums, k) > bound {
                    *l = false;
                    n_live -= 1;
                }
            }
        }
    }
    core::array::from_fn(|k| if live[k] { total(sums, k) } else { f32::INFINITY })
}

/// The remainder sums of one interior row for the SIMD levels: for each live shift `k`, `|frow[k + i] − brow[i]|`
/// added for `i = from..brow.len()` in order (`frow` the frame row, `brow` the background's interior row).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
pub(super) fn bg_row_tails(frow: &[f32], brow: &[f32], from: usize, live: &[bool; BG_GRID], tail: &mut [f32; BG_GRID]) {
    for (k, t) in tail.iter_mut().enumerate() {
        if live[k] {
            for (&fv, &bv) in frow[k + from..k + brow.len()].iter().zip(&brow[from..]) {
                *t += (fv - bv).abs();
            }
        }
    }
}

/// One row of the background's alignment search (the table entry; see [`super::Kernels::background_row_sads`]):
/// each live shift in turn, its row's chain of additions in a local copy so that it stays in registers. `h, w >
/// 2·SHIFT`, `|sy| ≤ SHIFT`, both planes at least `h·w` floats.
pub(super) fn background_row_sads(
    frame: &[f32],
    plane: &[f32],
    (h, w): (usize, usize),
    sy: isize,
    bound: f32,
) -> [f32; BG_GRID] {
    let r = SHIFT;
    let cols = w - 2 * r;
    let mut sums = ([[0.0f32; 8]; BG_GRID], [0.0f32; BG_GRID]);
    let add_row =
        |(acc, tail): &mut ([[f32; 8]; BG_GRID], [f32; BG_GRID]), y: usize, fy: usize, live: &[bool; BG_GRID], _| {
            let b = &plane[y * w + r..y * w + r + cols];
            // Shift k is sx = k − SHIFT; its frame row starts at column r + sx = k.
            for (k, (acc, tail)) in acc.iter_mut().zip(tail.iter_mut()).enumerate() {
                if !live[k] {
                    continue;
                }
                let f = &frame[fy * w + k..fy * w + k + cols];
                // Through `acc` the chain would go through memory, a store and a load per chunk.
                let mut lanes = *acc;
                let mut rest = *tail;
                let mut fc = f.chunks_exact(8);
                let mut bc = b.chunks_exact(8);
                for (f8, b8) in (&mut fc).zip(&mut bc) {
                    for i in 0..8 {
                        lanes[i] += (f8[i] - b8[i]).abs();
                    }
                }
                for (&fv, &bv) in fc.remainder().iter().zip(bc.remainder()) {
                    rest += (fv - bv).abs();
                }
                *acc = lanes;
                *tail = rest;
            }
        };
    bg_row_search(h, sy, bound, &mut sums, add_row, |(acc, tail), k| bg_total(&acc[k], tail[k]))
}
