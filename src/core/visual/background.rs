//! **Background subtraction** (`InputConfig::background_tau_ms`; off for format versions 1–4): what CORnet-Z is shown
//! is each frame's departure from the scene it has been looking at, so a static thing in view (a wall's texture, an
//! object in front of the stimulus, the room) adds nothing once learnt, and what moves stands out.
//!
//! Per frame, with `B` the running background (one f32 per pixel) and `F` the frame:
//!
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
//! 4. **Update.** `B ← B + α(A − B)` with `α = 1 − exp(−1 / (τ·fps))`: the background forgets with time constant τ.
//!
//! The first frame of a clip becomes the background and comes out uniform mid-grey (128). The background is learnt
//! afresh with each clip ([`Background::reset`], called when the pipeline starts a clip), as in training. With
//! luminance normalisation on, the cored difference is what is normalised.
//!
//! Screened as E39b (`docs/eval/experiments.md`): on the visual read-out's validation clips, occlusion's error fell by
//! a third, shake's by 8 %, sensor noise's rose 5 %, clean's 1 %. Cost per frame at 64×64: 49 interior sums of 58²
//! absolute differences (about 165,000) and four passes over the frame (the `visual_background` bench).
//!
//! Run state, carved from the arena once: the background (`h·w` floats), the frame as floats (`h·w`), the aligned
//! frame, the previous aligned frame and the output (`h·w` bytes each). Nothing allocates; after the frame's length
//! is checked nothing fails.

use crate::core::arena::Arena;
use crate::core::config::VisualConfig;
use crate::core::error::{ConfigError, Error, InputError};

/// The largest shift, in pixels, tried when aligning a frame to the background.
pub const SHIFT: usize = 3;
/// The coring threshold in units of the frame's noise σ̂.
pub const CORE_SIGMAS: f32 = 3.0;
/// Output level of "no difference from the background".
pub const MID: f32 = 128.0;

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
    plane: &'a mut [f32],
    frame: &'a mut [f32],
    aligned: &'a mut [u8],
    prev: &'a mut [u8],
    out: &'a mut [u8],
    /// Whether a frame has been seen since the last reset (the first becomes the background).
    started: bool,
    /// The shift chosen for the most recent frame.
    shift: (i8, i8),
}

impl<'a> Background<'a> {
    /// Floats of scratch a background for frames of `cfg`'s size takes (a dry run of the construction; 0 for a
    /// configuration that does not validate).
    pub fn scratch_len(cfg: &VisualConfig) -> usize {
        let mut arena = Arena::counting();
        let _ = Self::in_arena(cfg, 1, &mut arena);
        arena.used()
    }

    /// Build over `scratch` (at least [`Self::scratch_len`] floats) for frames of `cfg`'s size and a background time
    /// constant of `tau_ms` milliseconds (1 … 60,000; at `cfg.fps`).
    pub fn new(cfg: &VisualConfig, tau_ms: u16, scratch: &'a mut [f32]) -> Result<Self, Error> {
        Self::in_arena(cfg, tau_ms, &mut Arena::new(scratch))
    }

    /// [`Self::new`] with the state carved from `arena` (on a counting arena: only the size is taken).
    pub(crate) fn in_arena(cfg: &VisualConfig, tau_ms: u16, arena: &mut Arena<'a>) -> Result<Self, Error> {
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
            plane: arena.take(n)?,
            frame: arena.take(n)?,
            aligned: arena.take_bytes(n)?,
            prev: arena.take_bytes(n)?,
            out: arena.take_bytes(n)?,
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
        for (d, &v) in self.frame.iter_mut().zip(frame) {
            *d = f32::from(v);
        }
        if !self.started {
            self.plane.copy_from_slice(self.frame);
            self.prev.copy_from_slice(frame);
            self.out.fill(MID as u8);
            self.started = true;
            return Ok(self.out);
        }
        let (sx, sy) = self.best_shift();
        // |sx|, |sy| ≤ SHIFT = 3.
        self.shift = (sx as i8, sy as i8);
        self.align(frame, sx, sy);
        let sigma = noise_sigma(self.aligned, self.prev);
        let theta = CORE_SIGMAS * sigma;
        let alpha = self.alpha;
        for ((o, &a), b) in self.out.iter_mut().zip(self.aligned.iter()).zip(self.plane.iter_mut()) {
            let a = f32::from(a);
            let d = a - *b;
            let cored = if d > theta {
                d - theta
            } else if d < -theta {
                d + theta
            } else {
                0.0
            };
            // Non-negative after the clamp, so `+ 0.5` then truncation rounds to nearest.
            *o = (MID + cored + 0.5).clamp(0.0, 255.0) as u8;
            *b += alpha * (a - *b);
        }
        // This frame's aligned copy is the next frame's `prev`; the old `prev` is overwritten by the next `align`.
        core::mem::swap(&mut self.prev, &mut self.aligned);
        Ok(self.out)
    }

    /// The shift within ±[`SHIFT`] whose interior sum of absolute differences to the background is least.
    fn best_shift(&self) -> (isize, isize) {
        let r = SHIFT as isize;
        let mut best = (self.interior_sad(0, 0), 0isize, 0isize);
        // Nearer shifts first, so that a tie keeps the smaller move.
        for ring in 1..=r {
            for sy in -ring..=ring {
                for sx in -ring..=ring {
                    if sx.abs() != ring && sy.abs() != ring {
                        continue;
                    }
                    let sad = self.interior_sad(sx, sy);
                    if sad < best.0 {
                        best = (sad, sx, sy);
                    }
                }
            }
        }
        (best.1, best.2)
    }

    /// Σ |F(x + sx, y + sy) − B(x, y)| over the interior. Eight partial sums, added in a fixed order: the same
    /// result on every machine, and a loop the compiler can vectorise.
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

    /// `aligned(x, y) = frame(x + sx, y + sy)`, edge pixels repeated.
    fn align(&mut self, frame: &[u8], sx: isize, sy: isize) {
        let (w, h) = (self.width as isize, self.height as isize);
        for y in 0..h {
            let fy = (y + sy).clamp(0, h - 1) as usize;
            let row = &frame[fy * w as usize..(fy + 1) * w as usize];
            let dst = &mut self.aligned[y as usize * w as usize..(y as usize + 1) * w as usize];
            for (x, d) in dst.iter_mut().enumerate() {
                *d = row[(x as isize + sx).clamp(0, w - 1) as usize];
            }
        }
    }
}

/// `1.4826 · median|a − b| / √2`: the standard deviation of one frame's noise, estimated from the change between two
/// aligned frames (the median is the element at index `len/2` of the sorted changes).
pub fn noise_sigma(a: &[u8], b: &[u8]) -> f32 {
    let mut hist = [0u32; 256];
    let mut n = 0usize;
    for (&x, &y) in a.iter().zip(b) {
        hist[usize::from(x.abs_diff(y))] += 1;
        n += 1;
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
