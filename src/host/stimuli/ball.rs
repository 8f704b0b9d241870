//! The bouncing-ball animation (spec §7.4) drawn in 2-D as 8-bit luma frames.
//!
//! The scene is laid out on a virtual 600×600 canvas in the original sketch's pixel units and scaled to the output
//! size (scale = size/600): grey backdrop (200), a darker floor quad (100) drawn as a trapezoid, a red ball (luma 76)
//! seen from the side: an ellipse of semi-axes 75 × 97.5 (radius 50, scaled (1, 1.3) and ×1.5) outlined by
//! [`OUTLINE_VERTICES`] vertices, with two white eyes. Per note the ball bounces (vertical offset −sin(π·progress)·H),
//! its outline vertices move toward new random offsets U(−A, A) (spikes) and it turns toward the lean 60 − note degrees,
//! both interpolated linearly over the bounce. Edges are anti-aliased with 4×4 integer coverage per pixel. [`Look`]
//! draws the same scene as another renderer might (another ball or floor luma, the ball shaded by a light).

use super::melody::{NoteEvent, Score};
use super::rng::Rng;

/// Backdrop luma (grey 200).
pub const BACKGROUND: u8 = 200;
/// Floor luma (fill 100).
pub const FLOOR: u8 = 100;
/// Ball luma: BT.601 luma of red (255, 0, 0) = 0.299·255.
pub const BALL: u8 = 76;
/// Eye luma (white).
pub const EYE: u8 = 255;
/// Size of the virtual canvas the scene is laid out on (original pixels).
pub const CANVAS: f64 = 600.0;
/// Horizontal semi-axis of the ball in original pixels (50 × 1.5).
pub const BALL_RX: f64 = 75.0;
/// Vertical semi-axis of the ball in original pixels (50 × 1.3 × 1.5).
pub const BALL_RY: f64 = 97.5;
/// Where the ball touches the floor at rest, original pixels (x, y; y grows downward).
pub const CONTACT: (f64, f64) = (300.0, 515.0);
/// Number of outline vertices (the original UV sphere has 25 around).
pub const OUTLINE_VERTICES: usize = 25;
/// Eye size in original pixels (a 4-px cube ×1.5).
pub const EYE_SIZE: f64 = 6.0;
/// Eye positions in ball-local unit coordinates (x right, y down) before lean.
pub const EYES: [(f64, f64); 2] = [(0.22, -0.45), (0.6, -0.33)];

const SUB: usize = 4;

/// How the scene looks: the lumas the renderer fills its parts with, and how strongly a light shades the ball.
/// [`Look::RENDERED`] is this module's flat look; the evaluation's `ball-luma`, `shade` and `floor` draw another
/// renderer's (the study's sketch lit its 3-D scene with a spotlight, which this 2-D renderer leaves out).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Look {
    /// Backdrop luma.
    pub backdrop: u8,
    /// Floor luma.
    pub floor: u8,
    /// The ball's luma where the light leaves it as it is (all of it when `shade` is 0).
    pub ball: u8,
    /// How strongly a light from the upper left, in front, shades the ball as a sphere (0: flat; 1: the side away
    /// from the light black, the side facing it 1.6× `ball`, with a specular highlight of up to 200 levels): the
    /// ball's luma at a point is `ball·(1 − shade + 1.6·shade·max(0, n·l)) + 200·shade·max(0, n·h)^24`, n the normal
    /// of the sphere the outline bounds, l the light's direction, h the half-way vector to the viewer.
    pub shade: f64,
}

impl Look {
    /// This renderer's look: backdrop 200, floor 100, a flat red ball (76).
    pub const RENDERED: Look = Look { backdrop: BACKGROUND, floor: FLOOR, ball: BALL, shade: 0.0 };
}

/// The static scene (backdrop and floor) at `size`×`size`; every frame is this with the ball drawn over it.
pub fn background(size: usize) -> Vec<u8> {
    background_with(size, &Look::RENDERED)
}

/// [`background`] in another `look` (its backdrop and floor).
pub fn background_with(size: usize, look: &Look) -> Vec<u8> {
    let mut img = vec![look.backdrop; size * size];
    let s = size as f64 / CANVAS;
    let floor = [(300.0 - 140.0, 470.0), (300.0 + 140.0, 470.0), (300.0 + 200.0, 560.0), (300.0 - 200.0, 560.0)];
    let mut poly = [(0.0, 0.0); OUTLINE_VERTICES];
    for (d, &(x, y)) in poly.iter_mut().zip(floor.iter()) {
        *d = (x * s, y * s);
    }
    let mut raster = Raster::new(size);
    raster.fill(&mut img, &poly[..4], look.floor);
    img
}

/// The ball's pose at one instant.
#[derive(Clone, Copy, Debug)]
struct Pose {
    lean_deg: f64,
    lift: f64,
    offsets: [(f64, f64); OUTLINE_VERTICES],
}

/// Renders `n_frames` frames at `fps` (frame f shows time f/fps) into one frame-major buffer of size²·n bytes.
pub fn render_frames(score: &Score, seed: u64, size: usize, fps: u32, n_frames: usize) -> Vec<u8> {
    render_frames_with(score, seed, size, fps, n_frames, &Look::RENDERED)
}

/// [`render_frames`] in another `look` (another ball's colour, the same red under another camera's colour response,
/// a lit ball, another floor); [`Look::RENDERED`] gives the same bytes as it.
pub fn render_frames_with(score: &Score, seed: u64, size: usize, fps: u32, n_frames: usize, look: &Look) -> Vec<u8> {
    let bg = background_with(size, look);
    let mut out = Vec::with_capacity(size * size * n_frames);
    // Per-note spike targets from their own stream, so the animation never shifts the melody's draws.
    let mut rng = Rng::stream(seed, 2);
    let targets: Vec<[(f64, f64); OUTLINE_VERTICES]> = score
        .notes
        .iter()
        .map(|n| {
            let mut t = [(0.0, 0.0); OUTLINE_VERTICES];
            for v in &mut t {
                let dx = rng.symmetric(n.spikiness);
                let dy = rng.symmetric(n.spikiness);
                *v = (dx, dy);
            }
            t
        })
        .collect();
    let zero = [(0.0, 0.0); OUTLINE_VERTICES];
    let start_lean = 60.0 - f64::from(score.start_midi);
    let mut raster = Raster::new(size);
    let mut k = 0usize; // index of the first note not yet started
    for f in 0..n_frames {
        let t = f as f64 / f64::from(fps);
        while k < score.notes.len() && score.notes[k].onset_s <= t {
            k += 1;
        }
        let pose = if k == 0 {
            Pose { lean_deg: start_lean, lift: 0.0, offsets: zero }
        } else {
            let note: &NoteEvent = &score.notes[k - 1];
            let (prev_lean, prev_off) =
                if k >= 2 { (score.notes[k - 2].lean, &targets[k - 2]) } else { (start_lean, &zero) };
            let progress = ((t - note.onset_s) / note.bounce_s).clamp(0.0, 1.0);
            let lift = if progress < 1.0 { libm::sin(core::f64::consts::PI * progress) * note.height } else { 0.0 };
            let mut offsets = zero;
            for ((o, p), q) in offsets.iter_mut().zip(prev_off).zip(&targets[k - 1]) {
                *o = (p.0 + (q.0 - p.0) * progress, p.1 + (q.1 - p.1) * progress);
            }
            Pose { lean_deg: prev_lean + (note.lean - prev_lean) * progress, lift, offsets }
        };
        out.extend_from_slice(&bg);
        let frame = &mut out[f * size * size..];
        draw_ball(&mut raster, frame, size, &pose, look);
    }
    out
}

fn draw_ball(raster: &mut Raster, frame: &mut [u8], size: usize, pose: &Pose, look: &Look) {
    let s = size as f64 / CANVAS;
    let th = pose.lean_deg.to_radians();
    let (sn, cs) = (libm::sin(th), libm::cos(th));
    // Rest so that the smooth rotated ellipse touches the floor, then lift.
    let half_h = libm::sqrt(BALL_RX * BALL_RX * sn * sn + BALL_RY * BALL_RY * cs * cs);
    let cx = CONTACT.0;
    let cy = CONTACT.1 - half_h - pose.lift;
    // Positive lean turns the top of the ball to the left (leaning back, away from where the eyes look).
    let place = |ux: f64, uy: f64| {
        let (lx, ly) = (BALL_RX * ux, BALL_RY * uy);
        let x = lx * cs + ly * sn;
        let y = -lx * sn + ly * cs;
        ((cx + x) * s, (cy + y) * s)
    };
    let mut poly = [(0.0, 0.0); OUTLINE_VERTICES];
    for (i, (v, off)) in poly.iter_mut().zip(pose.offsets.iter()).enumerate() {
        let phi = 2.0 * core::f64::consts::PI * i as f64 / OUTLINE_VERTICES as f64;
        *v = place(libm::cos(phi) + off.0, libm::sin(phi) + off.1);
    }
    if look.shade == 0.0 {
        raster.fill(frame, &poly, look.ball);
    } else {
        // The light's direction (x right, y down, z toward the viewer) and the half-way vector to the viewer.
        let l = unit((-0.5, -0.7, 0.6));
        let h = unit((l.0, l.1, l.2 + 1.0));
        let (base, k) = (f64::from(look.ball), look.shade);
        raster.fill_with(frame, &poly, |col, row| {
            // The pixel's centre in the ball's own unit coordinates (the inverse of `place`), then the normal of the
            // sphere seen there, turned back into the screen's frame (spikes outside the unit circle take its rim).
            let (x, y) = ((col as f64 + 0.5) / s - cx, (row as f64 + 0.5) / s - cy);
            let (ux, uy) = ((x * cs - y * sn) / BALL_RX, (x * sn + y * cs) / BALL_RY);
            let r2 = (ux * ux + uy * uy).min(1.0);
            let f = if r2 > 0.0 { libm::sqrt(r2 / (ux * ux + uy * uy)) } else { 0.0 };
            let (ux, uy) = (ux * f, uy * f);
            let n = (ux * cs + uy * sn, -ux * sn + uy * cs, libm::sqrt(1.0 - r2));
            let dot = |a: (f64, f64, f64)| (n.0 * a.0 + n.1 * a.1 + n.2 * a.2).max(0.0);
            let v = base * (1.0 - k + 1.6 * k * dot(l)) + 200.0 * k * libm::pow(dot(h), 24.0);
            libm::round(v).clamp(0.0, 255.0) as u8
        });
    }
    // Eyes: whole-pixel white squares (at least one pixel), no anti-aliasing.
    let e = libm::round(EYE_SIZE * s).max(1.0) as i64;
    for &(ex, ey) in &EYES {
        let (px, py) = place(ex, ey);
        let x0 = libm::floor(px - e as f64 / 2.0 + 0.5) as i64;
        let y0 = libm::floor(py - e as f64 / 2.0 + 0.5) as i64;
        for y in y0..y0 + e {
            for x in x0..x0 + e {
                if (0..size as i64).contains(&x) && (0..size as i64).contains(&y) {
                    frame[y as usize * size + x as usize] = EYE;
                }
            }
        }
    }
}

/// Scanline polygon filler with 4×4 sub-samples per pixel (even-odd rule).
struct Raster {
    size: usize,
    cov: Vec<u8>,
    xs: Vec<f64>,
}

impl Raster {
    fn new(size: usize) -> Raster {
        Raster { size, cov: vec![0; size], xs: Vec::with_capacity(2 * OUTLINE_VERTICES) }
    }

    /// Blends `luma` over `img` wherever the polygon (pixel coordinates) covers it.
    fn fill(&mut self, img: &mut [u8], poly: &[(f64, f64)], luma: u8) {
        self.fill_with(img, poly, |_, _| luma);
    }

    /// [`Raster::fill`] with the luma of each pixel `luma(column, row)`.
    fn fill_with(&mut self, img: &mut [u8], poly: &[(f64, f64)], luma: impl Fn(usize, usize) -> u8) {
        let size = self.size;
        let (mut ymin, mut ymax) = (f64::INFINITY, f64::NEG_INFINITY);
        for &(_, y) in poly {
            ymin = ymin.min(y);
            ymax = ymax.max(y);
        }
        let row0 = libm::floor(ymin).max(0.0) as usize;
        let row1 = (libm::ceil(ymax).max(0.0) as usize).min(size);
        let n = poly.len();
        let subw = (size * SUB) as i64;
        for row in row0..row1 {
            self.cov.iter_mut().for_each(|c| *c = 0);
            let (mut cmin, mut cmax) = (usize::MAX, 0usize);
            for sub in 0..SUB {
                let ys = row as f64 + (sub as f64 + 0.5) / SUB as f64;
                self.xs.clear();
                for i in 0..n {
                    let (x0, y0) = poly[i];
                    let (x1, y1) = poly[(i + 1) % n];
                    if (y0 <= ys && ys < y1) || (y1 <= ys && ys < y0) {
                        self.xs.push(x0 + (ys - y0) * (x1 - x0) / (y1 - y0));
                    }
                }
                // Insertion sort: a handful of crossings, and no dependence on a library sort's internals.
                for i in 1..self.xs.len() {
                    let mut j = i;
                    while j > 0 && self.xs[j - 1] > self.xs[j] {
                        self.xs.swap(j - 1, j);
                        j -= 1;
                    }
                }
                for pair in self.xs.chunks_exact(2) {
                    // Sub-sample j (centre (j + 0.5)/SUB) is inside when xa ≤ centre < xb.
                    let a = libm::ceil(pair[0] * SUB as f64 - 0.5).clamp(0.0, subw as f64) as usize;
                    let b = libm::ceil(pair[1] * SUB as f64 - 0.5).clamp(0.0, subw as f64) as usize;
                    for j in a..b {
                        self.cov[j / SUB] += 1;
                    }
                    if a < b {
                        cmin = cmin.min(a / SUB);
                        cmax = cmax.max((b - 1) / SUB);
                    }
                }
            }
            if cmin > cmax {
                continue;
            }
            let line = &mut img[row * size..(row + 1) * size];
            for (col, (px, &c)) in line[cmin..=cmax].iter_mut().zip(&self.cov[cmin..=cmax]).enumerate() {
                let c = u32::from(c);
                let full = (SUB * SUB) as u32;
                let luma = luma(cmin + col, row);
                *px = ((u32::from(*px) * (full - c) + u32::from(luma) * c + full / 2) / full) as u8;
            }
        }
    }
}

fn unit(v: (f64, f64, f64)) -> (f64, f64, f64) {
    let n = libm::sqrt(v.0 * v.0 + v.1 * v.1 + v.2 * v.2);
    (v.0 / n, v.1 / n, v.2 / n)
}
