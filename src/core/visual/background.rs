//! **Background subtraction** (`InputConfig::background_tau_ms`; off for format versions 1–4): what CORnet-Z is shown
//! is each frame's departure from the scene it has been looking at, so a static thing in view (a wall's texture, an
//! object in front of the stimulus, the room) adds nothing once learnt, and what moves stands out.
//!
//! Per frame, with `B` the running background (one f32 per pixel) and `F` the frame:
//!
//! 0. **The rows levelled** (`InputConfig::background_level_rows`, format version 7; otherwise `F` as given). Each
//!    row `r` of `F` has its own gain `g_r`, the median over the row of `B / F` (element `w/2` of the sorted ratios;
//!    a black pixel's ratio is the largest float), dropped where outside [`LEVEL_GAINS`] (0.6–1.7: a row where a moved
//!    edge sets the floor against the backdrop gives 0.5 or 2, which is not the light). The row is scaled by the median
//!    (element `k/2` of the `k` sorted) of the gains left among the rows within [`LEVEL_REACH`] (3) of it, and left as
//!    it is where none is left: `F(x, r) ← min(⌊F(x, r)·g + 0.5⌋, 255)`. A lamp flickering on the mains and read
//!    out by a rolling shutter changes each row's level, which the search below would match with a shift though the
//!    camera is still, and whose change from frame to frame would raise the noise estimate until the coring takes the
//!    ball; an exposure that hunts changes every row alike, and the difference would keep it. Levelled, neither does
//!    (E49, E50 in `docs/eval/experiments.md`). The median keeps the ball and a moving thing out of the gain while
//!    they cover less than half a row, and the seven rows' median keeps the few rows a shaking camera moves from
//!    setting it; as the levelling comes before the alignment, a camera that moves makes the gains rougher (the
//!    ratios are then the texture's too).
//! 1. **Alignment.** The whole-pixel shift `(sx, sy)`, |sx|, |sy| ≤ [`SHIFT`], that minimises the sum of
//!    `|F(x + sx, y + sy) − B(x, y)|` over the interior (pixels at least [`SHIFT`] from every edge) is found by
//!    trying all 49, nearest first (by the larger of |sx| and |sy|, then row by row); a tie keeps the nearer shift,
//!    so no shift at all wins every tie it is in. `A(x, y) = F(x + sx, y + sy)`, with edge pixels repeated where the
//!    shift reaches past the frame. A camera that shakes or a head that turns a little then leaves the learnt scene
//!    where it was.
//! 2. **The frame's own noise.** `σ̂ = 1.4826 · median|A_t − A_{t−1}| / √2` over every pixel (the median absolute
//!    deviation of the frame-to-frame change, most pixels being still; 0 for clean renders), found exactly with a
//!    256-bin histogram (the change is a whole number of levels).
//! 3. **Cored difference.** `d = A − B` shrunk towards 0 by `θ = 3σ̂` (`sign(d)·max(|d| − θ, 0)`), so sensor noise
//!    does not become the picture; the output is `clamp(round(128 + d), 0, 255)`.
//!    **Gated** instead (`InputConfig::background_gate`, format version 6), where σ̂ > 0: the decision is made on
//!    `m`, the mean of `d` over the pixel's 3×3 neighbourhood (edge pixels repeated), whose noise is a third of a
//!    pixel's: `d` passes as `d·max(|m| − θ/3, 0)/|m|` (0 where `|m| ≤ θ/3`, i.e. within 3σ of a mean of nine). An
//!    object 20 levels off the background under noise of σ 12 is cored away pixel by pixel (θ = 36) and shows gated
//!    (its mean clears 12); in dim light with a noisy sensor that is most of what moves (E43). Where σ̂ = 0 (every
//!    clean render) both give the same bytes.
//! 4. **Update.** `B ← B + α(A − B)` with `α = 1 − exp(−1 / (τ·fps))`: the background forgets with time constant τ.
//!
//! The first frame of a clip becomes the background and comes out uniform mid-grey (128). The background is learnt
//! afresh with each clip ([`Background::reset`], called when the pipeline starts a clip), as in training. With
//! luminance normalisation on, the cored difference is what is normalised.
//!
//! Screened as E39b (`docs/eval/experiments.md`): on the visual read-out's validation clips, occlusion's error fell by
//! a third, shake's by 8 %, sensor noise's rose 5 %, clean's 1 %.
//!
//! Cost per frame at 64×64: up to 49 interior sums of 58² absolute differences (about 165,000) and four passes over
//! the frame (gated, where the frame has noise, three more). The search sums the seven shifts of a grid row together
//! and abandons a shift once its partial sum exceeds the least complete one; a grid row is a kernel of the pipeline's
//! table ([`Kernels::background_row_sads`]: one pass over the row for all seven shifts in AVX2 or NEON registers, the
//! same bits on every level); the passes are written so that they vectorise. All of it gives the straightforward
//! code's bytes exactly (the unit tests keep that code and compare, frame by frame, on every level the CPU runs); what
//! it saves depends on the scene (the `visual_background` bench, per level).
//!
//! The rows' levelling costs one division per pixel, a median of `w` ratios per row (a linear-time selection in
//! place) and one multiplication per pixel of a row whose gain is not 1 (the `visual_background` bench's ids without
//! `_unlevelled` have it).
//!
//! Run state, carved from the arena once: the background (`h·w` floats), the frame as floats (`h·w`; gated, it holds
//! `d` once the search is done), the neighbourhood sums (`h·w` floats, gated only), the aligned frame, the previous
//! aligned frame and the output (`h·w` bytes each), and with the rows levelled the levelled frame (`h·w` bytes), one
//! row's ratios (`w` floats) and the rows' gains (`h` floats). Nothing allocates; after the frame's length is checked
//! nothing fails.

use crate::core::arena::Arena;
use crate::core::config::{InputConfig, VisualConfig};
use crate::core::error::{ConfigError, Error, InputError};
use crate::core::kernels::{Kernels, BG_GRID};

/// The largest shift, in pixels, tried when aligning a frame to the background.
pub const SHIFT: usize = 3;
/// The coring threshold in units of the frame's noise σ̂.
pub const CORE_SIGMAS: f32 = 3.0;
/// Output level of "no difference from the background".
pub const MID: f32 = 128.0;
/// The gains a row's levelling accepts (background / frame): outside them a row's change is not the light's (a row
/// where a moved edge sets the floor against the backdrop gives 0.5 or 2), and the row's gain drops out.
pub const LEVEL_GAINS: core::ops::RangeInclusive<f32> = 0.6..=1.7;
/// The rows on either side whose gains a row's levelling takes the median of (seven rows in all).
pub const LEVEL_REACH: usize = 3;

/// The per-frame weight of a new frame in the background: `1 − exp(−1/(τ·fps))` (τ in ms; 0 for τ = 0).
pub fn update_weight(tau_ms: u16, fps: u16) -> f32 {
    if tau_ms == 0 || fps == 0 {
        return 0.0;
    }
    let frames = f64::from(tau_ms) * 1e-3 * f64::from(fps);
    (1.0 - libm::exp(-1.0 / frames)) as f32
}

/// The running background and its scratch (see the module docs).
pub struct Background<'a> {
    width: usize,
    height: usize,
    alpha: f32,
    /// The kernel table whose [`Kernels::background_row_sads`] the search runs (chosen once).
    kernels: Kernels,
    plane: &'a mut [f32],
    frame: &'a mut [f32],
    aligned: &'a mut [u8],
    prev: &'a mut [u8],
    out: &'a mut [u8],
    /// The difference's 3×3 neighbourhood sums (gated coring only; empty otherwise).
    local: &'a mut [f32],
    /// Whether a difference passes by its neighbourhood's mean (the gate) rather than by its own size.
    gate: bool,
    /// The frame with its rows levelled (`h·w` bytes; empty where the levelling is off).
    levelled: &'a mut [u8],
    /// One row's ratios background / frame (`w` floats; empty where the levelling is off).
    ratios: &'a mut [f32],
    /// Each row's own gain, NaN where it dropped out (`h` floats; empty where the levelling is off).
    gains: &'a mut [f32],
    /// Whether a frame has been seen since the last reset (the first becomes the background).
    started: bool,
    /// The shift chosen for the most recent frame.
    shift: (i8, i8),
}

impl<'a> Background<'a> {
    /// Floats of scratch a background for frames of `cfg`'s size takes, gated or not, its rows levelled or not (a dry
    /// run of the construction with both, the largest; 0 for a configuration that does not validate).
    pub fn scratch_len(cfg: &VisualConfig) -> usize {
        let mut arena = Arena::counting();
        let _ = Self::in_arena(cfg, 1, true, true, Kernels::portable(), &mut arena);
        arena.used()
    }

    /// Build over `scratch` (at least [`Self::scratch_len`] floats) for frames of `cfg`'s size and a background time
    /// constant of `tau_ms` milliseconds (1 … 60,000; at `cfg.fps`), its difference cored by each pixel's
    /// neighbourhood (`gate`, `InputConfig::background_gate`) or by the pixel alone, searching with the best kernels
    /// this CPU runs ([`Kernels::detect`]).
    ///
    /// The rows are not levelled (see [`Self::for_input`]).
    pub fn new(cfg: &VisualConfig, tau_ms: u16, gate: bool, scratch: &'a mut [f32]) -> Result<Self, Error> {
        Self::in_arena(cfg, tau_ms, gate, false, Kernels::detect(), &mut Arena::new(scratch))
    }

    /// The background a model's input configuration asks for (its time constant, gate and rows' levelling; an error
    /// for `background_tau_ms` 0, which asks for none), over `scratch` (at least [`Self::scratch_len`] floats), with
    /// a given kernel table.
    pub fn for_input(
        cfg: &VisualConfig,
        input: &InputConfig,
        scratch: &'a mut [f32],
        kernels: Kernels,
    ) -> Result<Self, Error> {
        let (tau, gate, rows) = (input.background_tau_ms, input.background_gate, input.background_level_rows);
        Self::in_arena(cfg, tau, gate, rows, kernels, &mut Arena::new(scratch))
    }

    /// [`Self::new`] with a given kernel table (every level gives the same bytes; they differ in speed).
    pub fn with_kernels(
        cfg: &VisualConfig,
        tau_ms: u16,
        gate: bool,
        scratch: &'a mut [f32],
        kernels: Kernels,
    ) -> Result<Self, Error> {
        Self::in_arena(cfg, tau_ms, gate, false, kernels, &mut Arena::new(scratch))
    }

    /// [`Self::with_kernels`] with the rows levelled or not (`level_rows`, `InputConfig::background_level_rows`) and
    /// the state carved from `arena` (on a counting arena: only the size is taken).
    pub(crate) fn in_arena(
        cfg: &VisualConfig,
        tau_ms: u16,
        gate: bool,
        level_rows: bool,
        kernels: Kernels,
        arena: &mut Arena<'a>,
    ) -> Result<Self, Error> {
        cfg.validate()?;
        if tau_ms == 0 || tau_ms > 60_000 {
            return Err(ConfigError::BadParameter("input.background_tau_ms").into());
        }
        let (height, width) = (cfg.height as usize, cfg.width as usize);
        let n = height * width;
        Ok(Background {
            width,
            height,
            alpha: update_weight(tau_ms, cfg.fps),
            kernels,
            plane: arena.take(n)?,
            frame: arena.take(n)?,
            aligned: arena.take_bytes(n)?,
            prev: arena.take_bytes(n)?,
            out: arena.take_bytes(n)?,
            local: arena.take(if gate { n } else { 0 })?,
            gate,
            levelled: arena.take_bytes(if level_rows { n } else { 0 })?,
            ratios: arena.take(if level_rows { width } else { 0 })?,
            gains: arena.take(if level_rows { height } else { 0 })?,
            started: false,
            shift: (0, 0),
        })
    }

    /// Forget the scene: the next frame becomes the background.
    pub fn reset(&mut self) {
        self.started = false;
        self.shift = (0, 0);
    }

    /// The shift `(sx, sy)` that aligned the most recent frame to the background: the frame's content sat `sx`
    /// pixels right of and `sy` below where the background has it (a camera's motion, to the nearest pixel; (0, 0)
    /// for a clip's first frame).
    pub fn shift(&self) -> (i8, i8) {
        self.shift
    }

    /// Take one frame (`height·width` bytes, row-major) and return the cored difference from the background (same
    /// size), updating the background.
    pub fn apply(&mut self, frame: &[u8]) -> Result<&[u8], Error> {
        let n = self.width * self.height;
        if frame.len() != n || self.plane.len() != n {
            return Err(InputError::FrameSize { expected: n, got: frame.len() }.into());
        }
        if !self.started {
            for (d, &v) in self.frame.iter_mut().zip(frame) {
                *d = f32::from(v);
            }
            self.plane.copy_from_slice(self.frame);
            self.prev.copy_from_slice(frame);
            self.out.fill(MID as u8);
            self.started = true;
            return Ok(self.out);
        }
        let frame: &[u8] = if self.levelled.is_empty() {
            frame
        } else {
            self.level_rows(frame);
            self.levelled
        };
        for (d, &v) in self.frame.iter_mut().zip(frame) {
            *d = f32::from(v);
        }
        let (sx, sy) = self.best_shift()?;
        // |sx|, |sy| ≤ SHIFT = 3.
        self.shift = (sx as i8, sy as i8);
        align(self.aligned, frame, (self.height, self.width), sx, sy);
        let sigma = noise_sigma(self.aligned, self.prev);
        let theta = CORE_SIGMAS * sigma;
        if self.gate && theta > 0.0 {
            self.gated_difference(theta);
            core::mem::swap(&mut self.prev, &mut self.aligned);
            return Ok(self.out);
        }
        let alpha = self.alpha;
        for ((o, &a), b) in self.out.iter_mut().zip(self.aligned.iter()).zip(self.plane.iter_mut()) {
            let a = f32::from(a);
            let d = a - *b;
            // sign(d)·max(|d| − θ, 0), without branches so that the loop vectorises: for |d| > θ it is d − θ or
            // d + θ to the bit (negation is exact and rounding symmetric); otherwise ±0, and 128 ± 0 is 128.
            let cored = (d.abs() - theta).max(0.0).copysign(d);
            // Non-negative after the clamp, so `+ 0.5` then truncation rounds to nearest. `max` before `min` maps
            // even a NaN into 0..=255 (there is none: every term is a finite pixel level).
            #[allow(clippy::manual_clamp)] // `clamp` would pass a NaN through
            let level = (MID + cored + 0.5).max(0.0).min(255.0);
            // SAFETY: `level` is finite and in 0..=255, inside i32's range, which is all `to_int_unchecked` asks; the
            // checked `as` conversion would keep the loop from vectorising (its out-of-range and NaN cases).
            *o = unsafe { level.to_int_unchecked::<i32>() } as u8;
            *b += alpha * (a - *b);
        }
        // This frame's aligned copy is the next frame's `prev`; the old `prev` is overwritten by the next `align`.
        core::mem::swap(&mut self.prev, &mut self.aligned);
        Ok(self.out)
    }

    /// Step 0 (see the module docs): `frame` with each row scaled to the background's light, into `levelled`. A row's
    /// own gain is the median over the row of background / frame (a black pixel's ratio taken as the largest float);
    /// it drops out outside [`LEVEL_GAINS`]; each row is scaled by the median (the upper of two middle ones) of the
    /// gains left among the rows within [`LEVEL_REACH`] of it, and copied as it is where none is left or that median
    /// is 1. A scaled level is rounded to nearest and saturates at 255.
    fn level_rows(&mut self, frame: &[u8]) {
        let (w, h) = (self.width, self.height);
        for ((row, bg), gain) in frame.chunks_exact(w).zip(self.plane.chunks_exact(w)).zip(self.gains.iter_mut()) {
            // The ratios as their bit patterns: every one is +0 or positive and finite (the background is a weighted
            // mean of levels, never negative, and a black pixel's ratio is the largest float), and for such floats the
            // bit patterns order as the values do, so an integer selection finds the median the float order would.
            let bits: &mut [u32] = bytemuck::cast_slice_mut(self.ratios);
            for ((q, &a), &b) in bits.iter_mut().zip(row).zip(bg) {
                debug_assert!(b.is_sign_positive() && b.is_finite(), "a background level of {b}");
                *q = if a > 0 { b / f32::from(a) } else { f32::MAX }.to_bits();
            }
            // The median (the element a full sort would put at `w/2`), in linear time.
            let (_, &mut m, _) = bits.select_nth_unstable(w / 2);
            let m = f32::from_bits(m);
            *gain = if LEVEL_GAINS.contains(&m) { m } else { f32::NAN };
        }
        for (y, (dst, src)) in self.levelled.chunks_exact_mut(w).zip(frame.chunks_exact(w)).enumerate() {
            let mut near = [0.0f32; 2 * LEVEL_REACH + 1];
            let mut k = 0;
            for &g in &self.gains[y.saturating_sub(LEVEL_REACH)..(y + LEVEL_REACH + 1).min(h)] {
                if !g.is_nan() {
                    near[k] = g;
                    k += 1;
                }
            }
            let g = if k == 0 {
                1.0
            } else {
                near[..k].sort_unstable_by(f32::total_cmp);
                near[k / 2]
            };
            if g == 1.0 {
                dst.copy_from_slice(src);
            } else {
                for (d, &a) in dst.iter_mut().zip(src) {
                    // Non-negative: `+ 0.5` then the saturating conversion rounds to nearest and caps at 255.
                    *d = (f32::from(a) * g + 0.5).min(255.0) as u8;
                }
            }
        }
    }

    /// Step 3 gated (see the module docs), and step 4: `d = A − B` passes as `d·max(|m| − θ/3, 0)/|m|`, `m` the mean
    /// of `d` over the pixel's 3×3 neighbourhood (edge pixels repeated), and the background moves towards `A`. Worked
    /// on the neighbourhood's sum `s = 9m`: `max(|s| − 3θ, 0)/|s|` is the same share.
    fn gated_difference(&mut self, theta: f32) {
        let w = self.width;
        let h = self.height;
        // `d` into the frame's floats (the search, their only other reader, is done).
        for (d, (&a, &b)) in self.frame.iter_mut().zip(self.aligned.iter().zip(self.plane.iter())) {
            *d = f32::from(a) - b;
        }
        // Sums of three along each row, the edge pixel standing in for the one beyond it (w ≥ 16: validated).
        for (d, l) in self.frame.chunks_exact(w).zip(self.local.chunks_exact_mut(w)) {
            l[0] = (d[0] + d[0]) + d[1];
            for (l, t) in l[1..w - 1].iter_mut().zip(d.windows(3)) {
                *l = (t[0] + t[1]) + t[2];
            }
            l[w - 1] = (d[w - 2] + d[w - 1]) + d[w - 1];
        }
        let bound = 3.0 * theta;
        let alpha = self.alpha;
        for y in 0..h {
            // The rows above and below, the edge row standing in for the one beyond it.
            let (above, below) = (y.saturating_sub(1) * w, (y + 1).min(h - 1) * w);
            let rows = y * w..(y + 1) * w;
            let (up, mid, down) =
                (&self.local[above..above + w], &self.local[rows.clone()], &self.local[below..below + w]);
            let d = &self.frame[rows.clone()];
            for ((((o, b), &d), &u), (&m, &dn)) in
                self.out[rows.clone()].iter_mut().zip(&mut self.plane[rows]).zip(d).zip(up).zip(mid.iter().zip(down))
            {
                let s = ((u + m) + dn).abs();
                // 0 for |s| ≤ 3θ (also for s = 0, where the divisor is the least positive float, not 0).
                let share = (s - bound).max(0.0) / s.max(f32::MIN_POSITIVE);
                #[allow(clippy::manual_clamp)] // as in `apply`: `clamp` would pass a NaN through
                let level = (MID + d * share + 0.5).max(0.0).min(255.0);
                // SAFETY: as in `apply`: `level` is finite and in 0..=255.
                *o = unsafe { level.to_int_unchecked::<i32>() } as u8;
                // `a − b` is `d` to the bit, so this is `apply`'s update.
                *b += alpha * d;
            }
        }
    }

    /// The shift within ±[`SHIFT`] whose interior sum of absolute differences to the background is least; of equal
    /// sums, the first in the order of the module docs (nearest ring first, then row by row).
    ///
    /// Exactly the exhaustive search's answer, found faster in two ways that change no sum's value: the seven shifts of
    /// one row of the 7×7 grid are summed together ([`Kernels::background_row_sads`]: independent chains of additions
    /// the CPU overlaps; on the SIMD levels one pass over the row for all seven), and a shift is abandoned as soon as
    /// its partial sum exceeds the least complete sum so far. Every term is non-negative and rounded addition is
    /// monotone, so a partial sum never exceeds its total: an abandoned shift's total is larger than the least one, and
    /// it could neither win nor tie. On a textured scene most shifts are abandoned within a few rows; on a plain one
    /// few are, and the overlap is the gain.
    ///
    /// The sizes were checked at construction, so the kernel's checks cannot fail; they are propagated all the same.
    fn best_shift(&self) -> Result<(isize, isize), Error> {
        let r = SHIFT as isize;
        let mut sads = [[f32::INFINITY; BG_GRID]; BG_GRID];
        let mut least = f32::INFINITY;
        // The row of no vertical shift first: it holds no shift at all, the usual winner and so the tightest bound.
        for sy in core::iter::once(0).chain((1..=r).flat_map(|d| [-d, d])) {
            let row = self.kernels.background_row_sads(self.frame, self.plane, (self.height, self.width), sy, least)?;
            for (slot, &sad) in sads[(sy + r) as usize].iter_mut().zip(&row) {
                *slot = sad;
                least = least.min(sad);
            }
        }
        let sad = |sx: isize, sy: isize| sads[(sy + r) as usize][(sx + r) as usize];
        let mut best = (sad(0, 0), 0isize, 0isize);
        // Nearer shifts first, so that a tie keeps the smaller move.
        for ring in 1..=r {
            for sy in -ring..=ring {
                for sx in -ring..=ring {
                    if sx.abs() != ring && sy.abs() != ring {
                        continue;
                    }
                    if sad(sx, sy) < best.0 {
                        best = (sad(sx, sy), sx, sy);
                    }
                }
            }
        }
        Ok((best.1, best.2))
    }

    /// Σ |F(x + sx, y + sy) − B(x, y)| over the interior for one shift: the reference form of the sum, which
    /// [`Kernels::background_row_sads`] reproduces seven at a time (the tests hold the search to it).
    #[cfg(test)]
    fn interior_sad(&self, sx: isize, sy: isize) -> f32 {
        let (w, h, r) = (self.width, self.height, SHIFT);
        let cols = w - 2 * r;
        let mut acc = [0.0f32; 8];
        let mut tail = 0.0f32;
        for y in r..h - r {
            let fy = (y as isize + sy) as usize;
            let fx = (r as isize + sx) as usize;
            let f = &self.frame[fy * w + fx..fy * w + fx + cols];
            let b = &self.plane[y * w + r..y * w + r + cols];
            let mut fc = f.chunks_exact(8);
            let mut bc = b.chunks_exact(8);
            for (f8, b8) in (&mut fc).zip(&mut bc) {
                for i in 0..8 {
                    acc[i] += (f8[i] - b8[i]).abs();
                }
            }
            for (&fv, &bv) in fc.remainder().iter().zip(bc.remainder()) {
                tail += (fv - bv).abs();
            }
        }
        ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
    }
}

/// `aligned(x, y) = frame(x + sx, y + sy)` for frames of `(h, w)`, edge pixels repeated.
fn align(aligned: &mut [u8], frame: &[u8], (h, w): (usize, usize), sx: isize, sy: isize) {
    // |sx| ≤ SHIFT < w: columns x with 0 ≤ x + sx < w are copied, the rest repeat the edge pixel.
    let s = sx.unsigned_abs();
    for (y, dst) in aligned.chunks_exact_mut(w).enumerate() {
        let fy = (y as isize + sy).clamp(0, h as isize - 1) as usize;
        let row = &frame[fy * w..(fy + 1) * w];
        if sx >= 0 {
            dst[..w - s].copy_from_slice(&row[s..]);
            dst[w - s..].fill(row[w - 1]);
        } else {
            dst[s..].copy_from_slice(&row[..w - s]);
            dst[..s].fill(row[0]);
        }
    }
}

/// `1.4826 · median|a − b| / √2`: the standard deviation of one frame's noise, estimated from the change between two
/// aligned frames (the median is the element at index `len/2` of the sorted changes).
pub fn noise_sigma(a: &[u8], b: &[u8]) -> f32 {
    // Four histograms filled in turn and then added: most changes fall in one bin (0 on a still scene), and one
    // histogram would make every count wait for the previous one's store.
    let mut parts = [[0u32; 256]; 4];
    let n = a.len().min(b.len());
    let (a4, b4) = (a[..n].chunks_exact(4), b[..n].chunks_exact(4));
    let (ar, br) = (a4.remainder(), b4.remainder());
    for (x, y) in a4.zip(b4) {
        for (part, (&x, &y)) in parts.iter_mut().zip(x.iter().zip(y)) {
            part[usize::from(x.abs_diff(y))] += 1;
        }
    }
    for (&x, &y) in ar.iter().zip(br) {
        parts[0][usize::from(x.abs_diff(y))] += 1;
    }
    let mut hist = [0u32; 256];
    for (v, h) in hist.iter_mut().enumerate() {
        *h = parts[0][v] + parts[1][v] + parts[2][v] + parts[3][v];
    }
    if n == 0 {
        return 0.0;
    }
    let mid = n / 2;
    let mut seen = 0usize;
    let mut median = 0u8;
    for (v, &c) in hist.iter().enumerate() {
        seen += c as usize;
        if seen > mid {
            median = v as u8;
            break;
        }
    }
    1.4826 * f32::from(median) / core::f32::consts::SQRT_2
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::ModelConfig;
    use crate::core::kernels::Level;

    /// Every kernel level this CPU runs (portable always): each must give the reference's answers.
    fn levels() -> Vec<Kernels> {
        Level::ALL.into_iter().filter_map(|l| Kernels::for_level(l).ok()).collect()
    }

    /// The search as first written: every shift's whole sum, nearest ring first, a strict `<` so a tie keeps the
    /// earlier shift. [`Background::best_shift`] must give its answer on every scene.
    fn exhaustive(bg: &Background) -> (isize, isize) {
        let r = SHIFT as isize;
        let mut best = (bg.interior_sad(0, 0), 0isize, 0isize);
        for ring in 1..=r {
            for sy in -ring..=ring {
                for sx in -ring..=ring {
                    if sx.abs() != ring && sy.abs() != ring {
                        continue;
                    }
                    let sad = bg.interior_sad(sx, sy);
                    if sad < best.0 {
                        best = (sad, sx, sy);
                    }
                }
            }
        }
        (best.1, best.2)
    }

    /// The rows' levelling as first written (E49c's one-off, `docs/eval/e49c-row-levels.patch`): every row's ratios
    /// sorted whole, the seven rows' gains gathered into a vector, a floor and a clamp for the rounding.
    fn level_reference(plane: &[f32], frame: &[u8], w: usize) -> Vec<u8> {
        let h = frame.len() / w;
        let gains: Vec<Option<f32>> = (0..h)
            .map(|y| {
                let mut r: Vec<f32> = (0..w)
                    .map(|x| {
                        let a = frame[y * w + x];
                        if a > 0 {
                            plane[y * w + x] / f32::from(a)
                        } else {
                            f32::MAX
                        }
                    })
                    .collect();
                r.sort_by(f32::total_cmp);
                let m = r[w / 2];
                (0.6..=1.7).contains(&m).then_some(m)
            })
            .collect();
        let mut out = frame.to_vec();
        for y in 0..h {
            let lo = y.saturating_sub(3);
            let mut near: Vec<f32> = gains[lo..(y + 4).min(h)].iter().flatten().copied().collect();
            if near.is_empty() {
                continue;
            }
            near.sort_by(f32::total_cmp);
            let g = near[near.len() / 2];
            for x in 0..w {
                out[y * w + x] = (f32::from(frame[y * w + x]) * g + 0.5).floor().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }

    /// [`Background::apply`] as first written (the rows levelled by [`level_reference`] where the background levels
    /// them, the exhaustive search, the branching coring, a checked conversion, one histogram, per-pixel clamped
    /// indices): the optimised one must give its bytes and its background.
    fn apply_reference(bg: &mut Background, frame: &[u8]) -> Vec<u8> {
        if !bg.started {
            for (d, &v) in bg.frame.iter_mut().zip(frame) {
                *d = f32::from(v);
            }
            bg.plane.copy_from_slice(bg.frame);
            bg.prev.copy_from_slice(frame);
            bg.out.fill(MID as u8);
            bg.started = true;
            return bg.out.to_vec();
        }
        let levelled = if bg.levelled.is_empty() { frame.to_vec() } else { level_reference(bg.plane, frame, bg.width) };
        let frame = &levelled[..];
        for (d, &v) in bg.frame.iter_mut().zip(frame) {
            *d = f32::from(v);
        }
        let (sx, sy) = exhaustive(bg);
        bg.shift = (sx as i8, sy as i8);
        let (w, h) = (bg.width as isize, bg.height as isize);
        for y in 0..h {
            let fy = (y + sy).clamp(0, h - 1) as usize;
            for x in 0..w {
                bg.aligned[(y * w + x) as usize] = frame[fy * w as usize + (x + sx).clamp(0, w - 1) as usize];
            }
        }
        let mut hist = [0u32; 256];
        for (&x, &y) in bg.aligned.iter().zip(bg.prev.iter()) {
            hist[usize::from(x.abs_diff(y))] += 1;
        }
        let (mut seen, mut median) = (0usize, 0u8);
        for (v, &c) in hist.iter().enumerate() {
            seen += c as usize;
            if seen > bg.aligned.len() / 2 {
                median = v as u8;
                break;
            }
        }
        let theta = CORE_SIGMAS * (1.4826 * f32::from(median) / core::f32::consts::SQRT_2);
        for ((o, &a), b) in bg.out.iter_mut().zip(bg.aligned.iter()).zip(bg.plane.iter_mut()) {
            let a = f32::from(a);
            let d = a - *b;
            let cored = if d > theta {
                d - theta
            } else if d < -theta {
                d + theta
            } else {
                0.0
            };
            *o = (MID + cored + 0.5).clamp(0.0, 255.0) as u8;
            *b += bg.alpha * (a - *b);
        }
        core::mem::swap(&mut bg.prev, &mut bg.aligned);
        bg.out.to_vec()
    }

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) as u32
        }
    }

    /// Scenes of every sort the search meets: textured (abandoned shifts), plain and flat (ties everywhere), smooth
    /// ramps (near-ties), noise, moves within and beyond ±3 px, and widths whose interior is not a multiple of 8.
    #[test]
    fn the_fast_search_is_the_exhaustive_one() {
        let levels = levels();
        let mut checked = 0;
        let mut moved = 0;
        for &kernels in &levels {
            let mut rng = Lcg(7);
            for (h, w) in [(16u16, 16u16), (32, 32), (64, 64), (29, 40), (17, 61)] {
                let vc = crate::core::config::VisualConfig { height: h, width: w, ..ModelConfig::tiny().visual };
                let mut scratch = vec![0.0; Background::scratch_len(&vc)];
                let mut bg = Background::with_kernels(&vc, 500, false, &mut scratch, kernels).unwrap();
                let (h, w) = (usize::from(h), usize::from(w));
                for scene in 0..40 {
                    let kind = scene % 5;
                    // A wide base image, so a shifted view has real content at its edges.
                    let (bh, bw) = (h + 10, w + 10);
                    let amp = [200u32, 0, 2, 60, 255][kind];
                    let base: Vec<u8> = (0..bh * bw)
                        .map(|i| match kind {
                            1 => 90,
                            3 => ((i % bw) * 3 + (i / bw) * 2) as u8,
                            _ => (20 + rng.next() % (amp + 1)).min(255) as u8,
                        })
                        .collect();
                    let view = |dx: usize, dy: usize| -> Vec<u8> {
                        (0..h * w).map(|i| base[(i / w + dy) * bw + i % w + dx]).collect()
                    };
                    bg.reset();
                    bg.apply(&view(5, 5)).unwrap();
                    for _ in 0..4 {
                        let (dx, dy) = (1 + rng.next() as usize % 9, 1 + rng.next() as usize % 9);
                        let mut frame = view(dx, dy);
                        if kind == 4 {
                            for v in frame.iter_mut() {
                                *v = v.saturating_add((rng.next() % 5) as u8);
                            }
                        }
                        for (d, &v) in bg.frame.iter_mut().zip(&frame) {
                            *d = f32::from(v);
                        }
                        let want = exhaustive(&bg);
                        let level = kernels.level();
                        let at = format!("{level}: {h}x{w}, scene {scene}, view moved to ({dx}, {dy})");
                        assert_eq!(bg.best_shift().unwrap(), want, "{at}");
                        // The sums the search completes are the reference's, to the bit.
                        for sy in -(SHIFT as isize)..=SHIFT as isize {
                            let row =
                                kernels.background_row_sads(bg.frame, bg.plane, (h, w), sy, f32::INFINITY).unwrap();
                            for (k, &sad) in row.iter().enumerate() {
                                let sx = k as isize - SHIFT as isize;
                                assert_eq!(sad.to_bits(), bg.interior_sad(sx, sy).to_bits(), "{at}: ({sx}, {sy})");
                            }
                        }
                        moved += usize::from(want != (0, 0));
                        checked += 1;
                        bg.apply(&frame).unwrap();
                    }
                }
            }
        }
        assert_eq!(checked, levels.len() * 5 * 40 * 4);
        assert!(moved > checked / 3, "the scenes move the view ({moved} of {checked} found a shift)");
    }

    /// Whole clips through the optimised [`Background::apply`] and through [`apply_reference`]: the same output bytes,
    /// the same shift, the same background plane to the bit, frame after frame. The clips cover a shaking textured
    /// scene with sensor noise (θ > 0), a plain backdrop with a moving bright blob (near-ties), an occluder that
    /// appears, saturating jumps to black and white (the clamp at both ends), turns beyond ±3 px, rolling bands of
    /// light (flicker through a rolling shutter, levels saturating at 255) and a whole frame's exposure swinging; each
    /// with the rows as given and levelled.
    #[test]
    fn the_optimised_frame_step_is_the_reference_one() {
        let levels = levels();
        let mut frames_checked = 0;
        let mut rows_scaled = 0;
        for &kernels in &levels {
            let mut rng = Lcg(21);
            for ((h, w), level_rows) in
                [(32u16, 32u16), (64, 64), (23, 45)].into_iter().flat_map(|s| [(s, false), (s, true)])
            {
                let vc = crate::core::config::VisualConfig { height: h, width: w, ..ModelConfig::tiny().visual };
                let input = crate::core::config::InputConfig {
                    background_tau_ms: 300,
                    background_gate: false,
                    background_level_rows: level_rows,
                    ..crate::core::config::InputConfig::OFF
                };
                let mut fast_scratch = vec![0.0; Background::scratch_len(&vc)];
                let mut ref_scratch = vec![0.0; Background::scratch_len(&vc)];
                let mut fast = Background::for_input(&vc, &input, &mut fast_scratch, kernels).unwrap();
                let mut reference = Background::for_input(&vc, &input, &mut ref_scratch, Kernels::portable()).unwrap();
                let (h, w) = (usize::from(h), usize::from(w));
                let (bh, bw) = (h + 12, w + 12);
                for clip in 0..8 {
                    fast.reset();
                    reference.reset();
                    let texture: Vec<u8> = (0..bh * bw).map(|_| (30 + rng.next() % 200) as u8).collect();
                    let (mut dx, mut dy) = (6usize, 6usize);
                    for t in 0..20 {
                        let frame: Vec<u8> =
                            match clip {
                                // A textured scene, shaken by up to ±2 px, with noise of about ±6 levels.
                                0 | 1 => {
                                    dx = 4 + rng.next() as usize % 5;
                                    dy = 4 + rng.next() as usize % 5;
                                    (0..h * w)
                                        .map(|i| {
                                            let v = texture[(i / w + dy) * bw + i % w + dx];
                                            v.saturating_add((rng.next() % 13) as u8).saturating_sub(6)
                                        })
                                        .collect()
                                }
                                // A plain backdrop and a bright blob that moves 2 px a frame.
                                2 => (0..h * w)
                                    .map(|i| {
                                        let (y, x) = ((i / w) as isize, (i % w) as isize);
                                        let (cy, cx) = (h as isize / 2, (2 * t as isize) % w as isize);
                                        if (y - cy).pow(2) + (x - cx).pow(2) < 20 {
                                            230
                                        } else {
                                            70
                                        }
                                    })
                                    .collect(),
                                // The textured scene, an occluder from frame 5 on.
                                3 => (0..h * w)
                                    .map(|i| {
                                        if t >= 5 && i % w < w / 3 {
                                            15
                                        } else {
                                            texture[(i / w + 6) * bw + i % w + 6]
                                        }
                                    })
                                    .collect(),
                                // Jumps to black and to white.
                                4 => (0..h * w)
                                    .map(|i| {
                                        if t % 3 == 1 {
                                            0
                                        } else if t % 3 == 2 {
                                            255
                                        } else {
                                            texture[i]
                                        }
                                    })
                                    .collect(),
                                // Bands of ±30 % rolling down the textured scene (some levels saturate at 255).
                                6 => (0..h * w)
                                    .map(|i| {
                                        let phase = (i / w) as f32 / h as f32 * 10.0 + t as f32 * 2.1;
                                        let v = f32::from(texture[(i / w + 6) * bw + i % w + 6]);
                                        (v * (1.0 + 0.3 * phase.sin())).min(255.0) as u8
                                    })
                                    .collect(),
                                // The whole frame's exposure swinging by ±25 % with sensor noise.
                                7 => {
                                    let gain = 1.0 + 0.25 * (t as f32 * 0.7).sin();
                                    (0..h * w)
                                        .map(|i| {
                                            let v = f32::from(texture[(i / w + 6) * bw + i % w + 6]) * gain;
                                            (v + (rng.next() % 7) as f32 - 3.0).clamp(0.0, 255.0) as u8
                                        })
                                        .collect()
                                }
                                // A turn of 1 px a frame, well past the search's reach.
                                _ => {
                                    dx = (dx + 1).min(12);
                                    dy = (dy + usize::from(t % 2 == 0)).min(12);
                                    (0..h * w).map(|i| texture[(i / w + dy) * bw + i % w + dx]).collect()
                                }
                            };
                        let want = apply_reference(&mut reference, &frame);
                        let got = fast.apply(&frame).unwrap().to_vec();
                        let at =
                            format!("{}: {h}x{w}, rows levelled {level_rows}, clip {clip}, frame {t}", kernels.level());
                        if level_rows && t > 0 {
                            rows_scaled += usize::from(fast.levelled[..] != frame[..]);
                        }
                        assert_eq!(got, want, "{at}: output");
                        assert_eq!(fast.shift(), reference.shift(), "{at}: shift");
                        assert!(
                            fast.plane.iter().zip(reference.plane.iter()).all(|(a, b)| a.to_bits() == b.to_bits()),
                            "{at}: background plane"
                        );
                        frames_checked += 1;
                    }
                }
            }
        }
        assert_eq!(frames_checked, levels.len() * 3 * 2 * 8 * 20);
        // The levelling acted: on the bands and the swinging exposure at least, every frame after the first.
        assert!(rows_scaled >= levels.len() * 3 * 2 * 19, "rows scaled in {rows_scaled} frames");
    }
}
