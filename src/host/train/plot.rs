//! Minimal grayscale plots written as PNG (no plotting dependency): scatter, curves, heat maps.

use crate::host::stimuli::io::png_gray;

/// A white canvas with a plot area and simple drawing.
pub struct Canvas {
    /// Width.
    pub w: usize,
    /// Height.
    pub h: usize,
    /// Pixels, row-major, 0 = black.
    pub px: Vec<u8>,
}

impl Canvas {
    /// A white canvas.
    pub fn new(w: usize, h: usize) -> Self {
        Canvas { w, h, px: vec![255; w * h] }
    }

    /// Set a pixel (ignored outside).
    pub fn dot(&mut self, x: isize, y: isize, v: u8) {
        if x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h {
            self.px[y as usize * self.w + x as usize] = v;
        }
    }

    /// A line from (x0, y0) to (x1, y1).
    pub fn line(&mut self, x0: f64, y0: f64, x1: f64, y1: f64, v: u8) {
        let n = ((x1 - x0).abs().max((y1 - y0).abs()) as usize).max(1);
        for i in 0..=n {
            let t = i as f64 / n as f64;
            self.dot((x0 + t * (x1 - x0)).round() as isize, (y0 + t * (y1 - y0)).round() as isize, v);
        }
    }

    /// A filled square marker.
    pub fn marker(&mut self, x: f64, y: f64, r: isize, v: u8) {
        for dy in -r..=r {
            for dx in -r..=r {
                self.dot(x.round() as isize + dx, y.round() as isize + dy, v);
            }
        }
    }

    /// A filled rectangle.
    pub fn rect(&mut self, x0: usize, y0: usize, x1: usize, y1: usize, v: u8) {
        for y in y0..y1.min(self.h) {
            for x in x0..x1.min(self.w) {
                self.px[y * self.w + x] = v;
            }
        }
    }

    /// PNG bytes.
    pub fn png(&self) -> Vec<u8> {
        png_gray(self.w, self.h, &self.px)
    }
}

/// Panels of predicted (y) against target (x) on 0..1 axes, one per series, side by side, with the identity line.
pub fn scatter_panels(series: &[(&str, Vec<(f64, f64)>)]) -> Vec<u8> {
    let s = 160usize;
    let pad = 10usize;
    let mut c = Canvas::new(series.len() * (s + pad) + pad, s + 2 * pad);
    for (k, (_, pts)) in series.iter().enumerate() {
        let x0 = pad + k * (s + pad);
        let y0 = pad;
        c.rect(x0, y0, x0 + s, y0 + s, 235);
        let (fx, fy) = (x0 as f64, (y0 + s) as f64);
        c.line(fx, fy, fx + s as f64, fy - s as f64, 160);
        for &(t, p) in pts {
            c.marker(fx + t.clamp(0.0, 1.0) * s as f64, fy - p.clamp(0.0, 1.0) * s as f64, 1, 0);
        }
    }
    c.png()
}

/// Loss curves (log scale), one line per curve, darker first.
pub fn curves(lines: &[Vec<f32>]) -> Vec<u8> {
    let (w, h) = (480usize, 240usize);
    let mut c = Canvas::new(w, h);
    let all: Vec<f32> = lines.iter().flatten().copied().filter(|v| *v > 0.0).collect();
    if all.is_empty() {
        return c.png();
    }
    let lo = all.iter().fold(f32::INFINITY, |m, v| m.min(*v)).ln() as f64;
    let hi = all.iter().fold(0.0f32, |m, v| m.max(*v)).ln() as f64;
    for (k, l) in lines.iter().enumerate() {
        let shade = (40 * k).min(200) as u8;
        for i in 1..l.len() {
            let p = |j: usize| {
                let x = 10.0 + (w - 20) as f64 * j as f64 / (l.len() - 1).max(1) as f64;
                let y = 10.0 + (h - 20) as f64 * (1.0 - ((l[j].max(1e-12).ln() as f64 - lo) / (hi - lo).max(1e-9)));
                (x, y)
            };
            let (a, b) = (p(i - 1), p(i));
            c.line(a.0, a.1, b.0, b.1, shade);
        }
    }
    c.png()
}

/// Heat maps of matrices `[rows][cols]` side by side (black = largest magnitude), cells of 16 px.
pub fn heatmaps(mats: &[(usize, usize, Vec<f32>)]) -> Vec<u8> {
    let cell = 16usize;
    let pad = 10usize;
    let w = pad + mats.iter().map(|(_, cols, _)| cols * cell + pad).sum::<usize>();
    let h = pad + mats.iter().map(|(rows, _, _)| rows * cell).max().unwrap_or(0) + pad;
    let mut c = Canvas::new(w, h);
    let mut x0 = pad;
    for (rows, cols, m) in mats {
        let amax = m.iter().fold(1e-12f32, |a, v| a.max(v.abs()));
        for r in 0..*rows {
            for q in 0..*cols {
                let v = (255.0 * (1.0 - m[r * cols + q].abs() / amax)) as u8;
                c.rect(x0 + q * cell, pad + r * cell, x0 + (q + 1) * cell - 1, pad + (r + 1) * cell - 1, v);
            }
        }
        x0 += cols * cell + pad;
    }
    c.png()
}
