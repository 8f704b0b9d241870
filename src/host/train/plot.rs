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

/// A 5×7 bitmap font for panel labels: capitals, digits, `-`, `.`, `+`, `/` and space (unknown characters are
/// blank). Each glyph is seven rows of five bits, most significant bit leftmost.
fn glyph(ch: char) -> [u8; 7] {
    match ch.to_ascii_uppercase() {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '/' => [0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10],
        _ => [0; 7],
    }
}

impl Canvas {
    /// Write `text` with its top-left corner at (x, y), 6 pixels per character.
    pub fn text(&mut self, x: usize, y: usize, text: &str, v: u8) {
        for (i, ch) in text.chars().enumerate() {
            for (row, bits) in glyph(ch).iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        self.dot((x + 6 * i + col) as isize, (y + row) as isize, v);
                    }
                }
            }
        }
    }
}

/// Robustness curves: one small panel per series (label on top), profile MAE (y, from 0 to the largest value, the
/// same scale in every panel, labelled in the first) against severity level (x: 0 = clean, then mild, moderate,
/// severe). Each panel shows the clean level (light line), the target clean + 0.01 (dashed) and the curve with its
/// points.
pub fn robustness_curves(series: &[(&str, Vec<(f64, f64)>)]) -> Vec<u8> {
    let (pw, ph, pad, top) = (150usize, 100usize, 12usize, 12usize);
    let cols = 6usize.min(series.len().max(1));
    let rows = series.len().div_ceil(cols).max(1);
    let mut c = Canvas::new(cols * (pw + pad) + pad + 36, rows * (ph + pad + top) + pad);
    let ymax = series.iter().flat_map(|s| s.1.iter().map(|p| p.1)).fold(0.05f64, f64::max) * 1.1;
    let xmax = series.iter().flat_map(|s| s.1.iter().map(|p| p.0)).fold(1.0f64, f64::max);
    for (k, (name, pts)) in series.iter().enumerate() {
        let x0 = 36 + pad + (k % cols) * (pw + pad);
        let y0 = pad + (k / cols) * (ph + pad + top) + top;
        c.text(x0, y0 - top + 1, name, 0);
        c.rect(x0, y0, x0 + pw, y0 + ph, 240);
        let at =
            |x: f64, y: f64| (x0 as f64 + 4.0 + (pw - 8) as f64 * x / xmax, (y0 + ph) as f64 - ph as f64 * y / ymax);
        if k == 0 {
            for tick in [0.0, 0.05, 0.1, 0.15, 0.2] {
                if tick <= ymax {
                    let (_, y) = at(0.0, tick);
                    c.text(x0 - 34, (y as usize).saturating_sub(3), &format!("{tick:.2}"), 0);
                }
            }
        }
        if let Some(&(_, clean)) = pts.iter().find(|p| p.0 == 0.0) {
            let (_, y) = at(0.0, clean);
            c.line(x0 as f64, y, (x0 + pw) as f64, y, 170);
            let (_, yt) = at(0.0, clean + 0.01);
            for seg in (0..pw).step_by(8) {
                c.line((x0 + seg) as f64, yt, (x0 + seg + 3) as f64, yt, 120);
            }
        }
        for w in pts.windows(2) {
            let (a, b) = (at(w[0].0, w[0].1), at(w[1].0, w[1].1));
            c.line(a.0, a.1, b.0, b.1, 0);
        }
        for p in pts {
            let (x, y) = at(p.0, p.1);
            c.marker(x, y, 2, 0);
        }
    }
    c.png()
}
