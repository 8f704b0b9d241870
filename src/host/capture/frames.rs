//! Frames of any size and rate to the model's: [`Shaper`] fits a luma frame to the model's width and height
//! (centre-crop to its aspect, then an exact area average), [`Retimer`] resamples a timestamped stream of frames to the
//! model's frame rate (sample and hold: each model tick gets the frame on screen at that instant). Both are used by
//! `run` (whole files) and `serve` (live sources), so a clip gives the model the same frames either way.

/// How [`Shaper`] maps the source rectangle onto the model's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    /// Cut the centre of the source to the model's aspect ratio, then scale (nothing is distorted).
    Crop,
    /// Scale the whole source to the model's size (distorts when the aspects differ).
    Stretch,
}

/// One axis of an area average: for each output pixel, the source pixels it covers and by how much.
///
/// In units where a source pixel is `out` long and an output pixel `span` long (the cropped source length), every
/// overlap is a whole number, so the average is exact integer arithmetic: output `j` covers `[j·span, (j+1)·span)`,
/// source pixel `i` covers `[i·out, (i+1)·out)`, and the weights of output `j` sum to `span`.
#[derive(Clone, Debug)]
struct Axis {
    /// Per output pixel: the first source index (absolute, crop offset included) and the range of `weights`.
    cells: Vec<(usize, usize, usize)>,
    weights: Vec<u32>,
    /// Sum of the weights of every output pixel (the cropped source length).
    total: u32,
}

impl Axis {
    fn new(offset: usize, span: usize, out: usize) -> Axis {
        let mut cells = Vec::with_capacity(out);
        let mut weights = Vec::new();
        for j in 0..out {
            let (lo, hi) = (j * span, (j + 1) * span);
            let first = lo / out;
            let start = weights.len();
            let mut i = first;
            while i * out < hi {
                let overlap = hi.min((i + 1) * out) - lo.max(i * out);
                weights.push(overlap as u32);
                i += 1;
            }
            cells.push((offset + first, start, weights.len()));
        }
        Axis { cells, weights, total: span as u32 }
    }
}

/// Fits `src_w`×`src_h` luma frames to `w`×`h` (see [`Fit`]); the area average is exact, rounded to nearest.
#[derive(Clone, Debug)]
pub struct Shaper {
    src_w: usize,
    src_h: usize,
    w: usize,
    h: usize,
    x: Axis,
    y: Axis,
    /// One row of horizontal sums and one row of 2-D sums (reused: no allocation per frame).
    row: Vec<u32>,
    acc: Vec<u64>,
}

impl Shaper {
    /// A shaper from `src_w`×`src_h` to `w`×`h`; `None` if a size is zero.
    pub fn new(src_w: usize, src_h: usize, w: usize, h: usize, fit: Fit) -> Option<Shaper> {
        if src_w == 0 || src_h == 0 || w == 0 || h == 0 {
            return None;
        }
        let (cw, ch) = match fit {
            Fit::Stretch => (src_w, src_h),
            // Wider than the model: keep the height, cut the width (and the other way round); rounded to nearest.
            Fit::Crop if src_w * h > src_h * w => (((src_h * w * 2 + h) / (2 * h)).clamp(1, src_w), src_h),
            Fit::Crop => (src_w, ((src_w * h * 2 + w) / (2 * w)).clamp(1, src_h)),
        };
        let x = Axis::new((src_w - cw) / 2, cw, w);
        let y = Axis::new((src_h - ch) / 2, ch, h);
        Some(Shaper { src_w, src_h, w, h, x, y, row: vec![0; w], acc: vec![0; w] })
    }

    /// Source size this shaper takes.
    pub fn source_size(&self) -> (usize, usize) {
        (self.src_w, self.src_h)
    }

    /// The crop rectangle in the source: x, y, width, height.
    pub fn crop(&self) -> (usize, usize, usize, usize) {
        (self.x.cells[0].0, self.y.cells[0].0, self.x.total as usize, self.y.total as usize)
    }

    /// Shape one frame whose rows are `stride` bytes apart (`stride ≥ src_w`) into `out` (`w·h` bytes).
    /// Returns `false` (and leaves `out` alone) if `src` or `out` is too short.
    pub fn shape(&mut self, src: &[u8], stride: usize, out: &mut [u8]) -> bool {
        if stride < self.src_w || src.len() < stride * (self.src_h - 1) + self.src_w || out.len() < self.w * self.h {
            return false;
        }
        let total = u64::from(self.x.total) * u64::from(self.y.total);
        let (x, row, acc) = (&self.x, &mut self.row, &mut self.acc);
        for (oy, &(y0, ys, ye)) in self.y.cells.iter().enumerate() {
            acc.fill(0);
            for (k, &wy) in self.y.weights[ys..ye].iter().enumerate() {
                let line = &src[(y0 + k) * stride..(y0 + k) * stride + self.src_w];
                for (r, &(x0, xs, xe)) in row.iter_mut().zip(&x.cells) {
                    *r = x.weights[xs..xe].iter().zip(&line[x0..]).map(|(&wx, &p)| wx * u32::from(p)).sum();
                }
                for (a, &r) in acc.iter_mut().zip(row.iter()) {
                    *a += u64::from(r) * u64::from(wy);
                }
            }
            for (o, a) in out[oy * self.w..(oy + 1) * self.w].iter_mut().zip(acc.iter()) {
                *o = ((a + total / 2) / total) as u8;
            }
        }
        true
    }
}

/// Resamples a stream of timestamped frames to a fixed frame rate by sample and hold.
///
/// Model tick `k` is at `epoch + k·10⁹/fps` ns; it gets the latest frame whose timestamp is at or before the tick (the
/// frame on screen at that instant, as a camera read at another rate would show). Frames come in with
/// [`Retimer::push`]; ticks are emitted when a newer frame proves the held one was on screen
/// ([`Retimer::push`]), when the caller's clock passes them ([`Retimer::advance_to`], live sources), or at the end of a
/// recorded clip ([`Retimer::finish`]). A held frame older than `max_hold` is not repeated: the ticks of a gap in the
/// source are skipped, not filled with a frozen image.
#[derive(Clone, Debug)]
pub struct Retimer {
    fps: u64,
    epoch: u64,
    next: u64,
    held: Vec<u8>,
    held_ts: Option<u64>,
    max_hold: u64,
}

impl Retimer {
    /// Ticks at `fps` frames per second from `epoch_ns`; frames held at most `max_hold_ns` (`u64::MAX`: forever).
    pub fn new(fps: u32, epoch_ns: u64, max_hold_ns: u64) -> Retimer {
        Retimer {
            fps: u64::from(fps.max(1)),
            epoch: epoch_ns,
            next: 0,
            held: Vec::new(),
            held_ts: None,
            max_hold: max_hold_ns,
        }
    }

    /// Time of tick `k` in ns.
    pub fn tick_ns(&self, k: u64) -> u64 {
        self.epoch + ((u128::from(k) * 1_000_000_000) / u128::from(self.fps)) as u64
    }

    /// The next tick to be emitted.
    pub fn next_tick(&self) -> u64 {
        self.next
    }

    /// First tick at or after `t`.
    fn first_tick_at_or_after(&self, t: u64) -> u64 {
        if t <= self.epoch {
            return 0;
        }
        let mut k = ((u128::from(t - self.epoch) * u128::from(self.fps)) / 1_000_000_000) as u64;
        while self.tick_ns(k) < t {
            k += 1;
        }
        while k > 0 && self.tick_ns(k - 1) >= t {
            k -= 1;
        }
        k
    }

    /// Emit the held frame for every tick before `limit` (exclusive), skipping ticks the held frame is too old for.
    fn emit_before(&mut self, limit: u64, out: &mut dyn FnMut(&[u8])) {
        let Some(ts) = self.held_ts else {
            self.next = self.next.max(self.first_tick_at_or_after(limit));
            return;
        };
        let stale_after = ts.saturating_add(self.max_hold);
        while self.tick_ns(self.next) < limit {
            if self.tick_ns(self.next) > stale_after {
                self.next = self.next.max(self.first_tick_at_or_after(limit));
                return;
            }
            out(&self.held);
            self.next += 1;
        }
    }

    /// A frame captured at `ts_ns`: emits the held frame for every tick before `ts_ns`, then holds this one. A frame
    /// older than the one held is ignored (sources deliver in order; a late duplicate must not rewind the clip).
    pub fn push(&mut self, frame: &[u8], ts_ns: u64, out: &mut dyn FnMut(&[u8])) {
        if self.held_ts.is_some_and(|h| ts_ns < h) {
            return;
        }
        self.emit_before(ts_ns, out);
        self.held.clear();
        self.held.extend_from_slice(frame);
        self.held_ts = Some(ts_ns);
    }

    /// The caller's clock reached `t_ns`: emit the held frame for every tick at or before it.
    pub fn advance_to(&mut self, t_ns: u64, out: &mut dyn FnMut(&[u8])) {
        self.emit_before(t_ns.saturating_add(1), out);
    }

    /// A recorded clip ends at `end_ns` (the end of its last frame): emit the held frame for every output frame
    /// period that fits whole before the end, and at least one frame if the clip had any.
    pub fn finish(&mut self, end_ns: u64, out: &mut dyn FnMut(&[u8])) {
        let Some(_) = self.held_ts else { return };
        let emitted_before = self.next;
        let mut n = 0u64;
        while self.tick_ns(self.next + n + 1) <= end_ns {
            n += 1;
        }
        let limit = self.tick_ns(self.next + n);
        self.emit_before(limit, out);
        if self.next == 0 && emitted_before == 0 {
            out(&self.held);
            self.next = 1;
        }
    }

    /// Forget the held frame and restart ticking at `epoch_ns`.
    pub fn restart(&mut self, epoch_ns: u64) {
        self.epoch = epoch_ns;
        self.next = 0;
        self.held_ts = None;
    }
}

/// Resample a whole recorded clip (`n` frames of `src_w`×`src_h` luma at `src_fps`) to `w`×`h` at `fps`: the one
/// implementation behind `run` and [`crate::host::media::Y4m::frames_at`].
pub fn retime_clip(
    luma: &[u8],
    (src_w, src_h): (usize, usize),
    src_fps: f64,
    (w, h): (usize, usize),
    fps: u32,
    fit: Fit,
) -> Vec<u8> {
    let Some(mut shaper) = Shaper::new(src_w, src_h, w, h, fit) else { return Vec::new() };
    let n = luma.len() / (src_w * src_h);
    // Source frame i at i/src_fps s, in ns; a missing or bad rate counts as the model's own. Frame times are moved
    // 1 µs early and the end 1 µs late, so a frame due exactly at a tick (60 → 30 fps, 25 → 30 fps at whole seconds)
    // is on screen at that tick whatever the rounding; distinct realistic rates never come within 1 µs otherwise.
    let src_fps = if src_fps.is_finite() && src_fps > 0.0 { src_fps } else { f64::from(fps) };
    let exact = |i: usize| (i as f64 * 1e9 / src_fps).floor() as u64;
    let at = |i: usize| exact(i).saturating_sub(1_000);
    let mut retimer = Retimer::new(fps, 0, u64::MAX);
    let mut out = Vec::with_capacity(((n as f64 * f64::from(fps) / src_fps) as usize + 1) * w * h);
    let mut shaped = vec![0u8; w * h];
    for (i, f) in luma.chunks_exact(src_w * src_h).enumerate() {
        shaper.shape(f, src_w, &mut shaped);
        retimer.push(&shaped, at(i), &mut |fr| out.extend_from_slice(fr));
    }
    retimer.finish(exact(n) + 1_000, &mut |fr| out.extend_from_slice(fr));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference area average: integrate the source over each output pixel's rectangle in f64.
    fn reference(
        src: &[u8],
        sw: usize,
        sh: usize,
        (cx, cy, cw, ch): (usize, usize, usize, usize),
        w: usize,
        h: usize,
    ) -> Vec<u8> {
        let mut out = vec![0u8; w * h];
        for oy in 0..h {
            for ox in 0..w {
                let (x0, x1) =
                    (cx as f64 + ox as f64 * cw as f64 / w as f64, cx as f64 + (ox + 1) as f64 * cw as f64 / w as f64);
                let (y0, y1) =
                    (cy as f64 + oy as f64 * ch as f64 / h as f64, cy as f64 + (oy + 1) as f64 * ch as f64 / h as f64);
                let (mut s, mut a) = (0.0, 0.0);
                for y in 0..sh {
                    let oy_ = (y1.min(y as f64 + 1.0) - y0.max(y as f64)).max(0.0);
                    for x in 0..sw {
                        let ox_ = (x1.min(x as f64 + 1.0) - x0.max(x as f64)).max(0.0);
                        s += ox_ * oy_ * f64::from(src[y * sw + x]);
                        a += ox_ * oy_;
                    }
                }
                out[oy * w + ox] = (s / a).round() as u8;
            }
        }
        out
    }

    #[test]
    fn area_average_matches_a_direct_integral() {
        let mut seed = 1u32;
        for &(sw, sh, w, h) in &[(8, 6, 4, 3), (13, 7, 5, 5), (160, 120, 64, 64), (7, 9, 16, 16), (33, 20, 32, 18)] {
            let src: Vec<u8> = (0..sw * sh)
                .map(|_| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (seed >> 24) as u8
                })
                .collect();
            for fit in [Fit::Crop, Fit::Stretch] {
                let mut s = Shaper::new(sw, sh, w, h, fit).unwrap();
                let mut out = vec![0u8; w * h];
                assert!(s.shape(&src, sw, &mut out));
                let want = reference(&src, sw, sh, s.crop(), w, h);
                for (i, (a, b)) in out.iter().zip(&want).enumerate() {
                    // The integral in f64 and the exact integer sum can round a .5 differently.
                    assert!(a.abs_diff(*b) <= 1, "{sw}x{sh}->{w}x{h} {fit:?} pixel {i}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn crop_keeps_the_centre_at_the_model_aspect() {
        let s = Shaper::new(1280, 720, 64, 64, Fit::Crop).unwrap();
        assert_eq!(s.crop(), (280, 0, 720, 720));
        let s = Shaper::new(480, 640, 64, 32, Fit::Crop).unwrap();
        assert_eq!(s.crop(), (0, 200, 480, 240));
        let s = Shaper::new(64, 64, 64, 64, Fit::Crop).unwrap();
        assert_eq!(s.crop(), (0, 0, 64, 64));
    }

    #[test]
    fn strides_and_short_buffers() {
        // A 4×2 frame inside rows of 6 bytes; the padding must not leak in.
        let src = [10u8, 10, 20, 20, 255, 255, 10, 10, 20, 20, 255, 255];
        let mut s = Shaper::new(4, 2, 2, 1, Fit::Stretch).unwrap();
        let mut out = [0u8; 2];
        assert!(s.shape(&src[..10], 6, &mut out));
        assert_eq!(out, [10, 20]);
        assert!(!s.shape(&src[..9], 6, &mut out), "too short for the last row");
        assert!(!s.shape(&src, 3, &mut out), "stride below the width");
        assert!(Shaper::new(0, 2, 2, 2, Fit::Crop).is_none());
    }

    #[test]
    fn live_ticks_follow_the_clock_and_skip_gaps() {
        // 10 fps model, frames at 0, 100, 250 ms; then a 2 s gap with max_hold 0.5 s.
        let ms = 1_000_000u64;
        let mut r = Retimer::new(10, 0, 500 * ms);
        let mut got: Vec<u8> = Vec::new();
        r.push(&[1], 0, &mut |f| got.push(f[0]));
        r.advance_to(50 * ms, &mut |f| got.push(f[0])); // tick 0
        r.push(&[2], 100 * ms, &mut |f| got.push(f[0]));
        r.push(&[3], 250 * ms, &mut |f| got.push(f[0])); // ticks 1 (2), 2 (2)
        r.advance_to(2_500 * ms, &mut |f| got.push(f[0])); // ticks 3..7 (3); 8.. skipped (stale after 750 ms)
        assert_eq!(got, vec![1, 2, 2, 3, 3, 3, 3, 3]);
        r.push(&[4], 2_600 * ms, &mut |f| got.push(f[0])); // nothing: the stale frame is not repeated
        r.advance_to(2_800 * ms, &mut |f| got.push(f[0])); // ticks 26 (t 2.6 s = the frame), 27, 28
        assert_eq!(&got[8..], &[4, 4, 4]);
        // An older frame does not rewind the stream.
        r.push(&[9], 100 * ms, &mut |f| got.push(f[0]));
        r.advance_to(2_900 * ms, &mut |f| got.push(f[0]));
        assert_eq!(got.last(), Some(&4));
    }
}
