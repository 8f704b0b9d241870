//! A contact sheet for looking at a stimulus: 16 frames across time (2 rows of 8), then a piano roll and the waveform,
//! all on one time axis, as one grayscale image.

use super::Stimulus;

/// Thumbnails per row.
pub const COLUMNS: usize = 8;
/// Rows of thumbnails.
pub const ROWS: usize = 2;
const GAP: usize = 4;
const ROLL_H: usize = 120;
const WAVE_H: usize = 80;

/// The contact sheet: (width, height, luma pixels). Frames smaller than 128 px are enlarged (nearest neighbour).
pub fn contact_sheet(stim: &Stimulus) -> (usize, usize, Vec<u8>) {
    let zoom = (128 / stim.size.max(1)).max(1);
    let tw = stim.size * zoom;
    let width = COLUMNS * (tw + GAP) + GAP;
    let thumbs_h = ROWS * (tw + GAP) + GAP;
    let height = thumbs_h + ROLL_H + GAP + WAVE_H + GAP;
    let mut img = vec![255u8; width * height];
    let n_frames = stim.n_frames();
    let seconds = stim.audio.len() as f64 / f64::from(stim.sample_rate);
    let total = COLUMNS * ROWS;
    let mut times = Vec::with_capacity(total);
    for i in 0..total {
        let t = (i as f64 + 0.5) * seconds / total as f64;
        let f = ((t * f64::from(stim.fps)) as usize).min(n_frames.saturating_sub(1));
        times.push(f as f64 / f64::from(stim.fps));
        if n_frames == 0 {
            continue;
        }
        let frame = stim.frame(f);
        let (ox, oy) = (GAP + (i % COLUMNS) * (tw + GAP), GAP + (i / COLUMNS) * (tw + GAP));
        for y in 0..tw {
            for x in 0..tw {
                img[(oy + y) * width + ox + x] = frame[(y / zoom) * stim.size + x / zoom];
            }
        }
    }
    let span_w = width - 2 * GAP;
    let x_of = |t: f64| GAP + ((t / seconds).clamp(0.0, 1.0) * (span_w - 1) as f64) as usize;

    // Piano roll: one bar per note, pitch upward; ticks mark the thumbnails' times.
    let roll_y = thumbs_h;
    for y in roll_y..roll_y + ROLL_H {
        img[y * width + GAP..y * width + GAP + span_w].fill(235);
    }
    if let (Some(lo), Some(hi)) = (stim.notes.iter().map(|n| n.midi).min(), stim.notes.iter().map(|n| n.midi).max()) {
        let (lo, hi) = (lo - 2, hi + 2);
        let rows = (hi - lo + 1) as usize;
        let bar_h = (ROLL_H / rows).clamp(2, 8);
        for n in &stim.notes {
            let x0 = x_of(n.onset_s);
            let x1 = x_of(n.onset_s + n.duration_s).max(x0 + 1);
            let yc = roll_y + ((hi - n.midi) as usize * (ROLL_H - bar_h)) / (rows - 1).max(1);
            for y in yc..(yc + bar_h).min(roll_y + ROLL_H) {
                img[y * width + x0..y * width + x1].fill(0);
            }
        }
    }
    for &t in &times {
        let x = x_of(t);
        for y in roll_y..roll_y + 6 {
            img[y * width + x] = 128;
        }
    }

    // Waveform: min–max of the samples under each column.
    let wave_y = roll_y + ROLL_H + GAP;
    let mid = wave_y + WAVE_H / 2;
    img[mid * width + GAP..mid * width + GAP + span_w].fill(180);
    let n = stim.audio.len();
    if n > 0 {
        for c in 0..span_w {
            let a = c * n / span_w;
            let b = ((c + 1) * n / span_w).max(a + 1).min(n);
            let (mut lo, mut hi) = (0.0f32, 0.0f32);
            for &s in &stim.audio[a..b] {
                lo = lo.min(s);
                hi = hi.max(s);
            }
            let half = (WAVE_H / 2 - 1) as f32;
            let y_hi = mid - (hi.clamp(0.0, 1.0) * half) as usize;
            let y_lo = mid + (-lo.clamp(-1.0, 0.0) * half) as usize;
            for y in y_hi..=y_lo {
                img[y * width + GAP + c] = 40;
            }
        }
    }
    (width, height, img)
}

/// The contact sheet encoded as PNG.
pub fn contact_sheet_png(stim: &Stimulus) -> Vec<u8> {
    let (w, h, px) = contact_sheet(stim);
    super::io::png_gray(w, h, &px)
}
