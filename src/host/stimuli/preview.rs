//! A contact sheet for looking at a stimulus (`synth --preview`, feature `plot`): 16 frames across time (2 rows
//! of 8, each labelled with its time), then the piano roll and the waveform on the same time axis, titled, with
//! labelled axes and legends.

use super::Stimulus;
use crate::host::plot::{caption_style, draw_err, figure, label_style, legend, title_style, PlotError};
use plotters::prelude::*;

/// Thumbnails per row.
pub const COLUMNS: usize = 8;
/// Rows of thumbnails.
pub const ROWS: usize = 2;
const GAP: usize = 6;
const TITLE_H: usize = 44;
const LABEL_H: usize = 20;
const ROLL_H: usize = 250;
const WAVE_H: usize = 210;
/// Thumbnails are at least this wide (small frames are enlarged, nearest neighbour) and at most 160 px.
const THUMB_MIN: usize = 128;
const THUMB_MAX: usize = 160;

fn thumb_width(size: usize) -> usize {
    if size >= THUMB_MAX {
        THUMB_MAX
    } else {
        size * (THUMB_MIN / size.max(1)).max(1)
    }
}

/// The frames shown, in order: the frame index at the middle of each of 16 equal slices of the clip.
pub fn thumbnail_frames(stim: &Stimulus) -> Vec<usize> {
    let n = stim.n_frames();
    let total = COLUMNS * ROWS;
    (0..total)
        .map(|i| {
            let t = (i as f64 + 0.5) / total as f64 * n as f64;
            (t as usize).min(n.saturating_sub(1))
        })
        .collect()
}

/// Where thumbnail `i` lies on the sheet of a stimulus of `size`-pixel frames: (left, top, width = height) in
/// pixels. Its pixels are the frame's, enlarged or reduced by nearest neighbour.
pub fn thumbnail_rect(size: usize, i: usize) -> (usize, usize, usize) {
    let tw = thumb_width(size);
    (GAP + (i % COLUMNS) * (tw + GAP), TITLE_H + (i / COLUMNS) * (tw + LABEL_H + GAP), tw)
}

/// The contact sheet as an RGB PNG, with `title` on top (e.g. the stimulus' name and sliders).
pub fn contact_sheet_png(stim: &Stimulus, title: &str) -> Result<Vec<u8>, PlotError> {
    let tw = thumb_width(stim.size);
    let width = COLUMNS * (tw + GAP) + GAP;
    let thumbs_h = ROWS * (tw + LABEL_H + GAP);
    let height = TITLE_H + thumbs_h + ROLL_H + WAVE_H;
    let seconds = stim.audio.len() as f64 / f64::from(stim.sample_rate.max(1));
    let fps = f64::from(stim.fps.max(1));
    let frames = thumbnail_frames(stim);
    let origin = |i: usize| {
        let (x, y, _) = thumbnail_rect(stim.size, i);
        (x, y)
    };
    figure(
        width as u32,
        height as u32,
        |root| {
            root.draw(&Text::new(title.to_string(), (GAP as i32 + 4, 10), title_style())).map_err(draw_err)?;
            if stim.n_frames() > 0 {
                for (i, &f) in frames.iter().enumerate() {
                    let (x, y) = origin(i);
                    let label = format!("frame {f}, t = {:.2} s", f as f64 / fps);
                    root.draw(&Text::new(label, (x as i32, (y + tw + 3) as i32), label_style())).map_err(draw_err)?;
                }
            }
            let (_, below) = root.split_vertically((TITLE_H + thumbs_h) as u32);
            let (roll, wave) = below.split_vertically(ROLL_H as u32);
            piano_roll(&roll, stim, seconds, &frames, fps)?;
            waveform(&wave, stim, seconds)
        },
        |buf| {
            // The frames themselves, copied pixel for pixel (grey → RGB) into the space left for them.
            if stim.n_frames() == 0 {
                return;
            }
            for (i, &f) in frames.iter().enumerate() {
                let frame = stim.frame(f);
                let (ox, oy) = origin(i);
                for y in 0..tw {
                    for x in 0..tw {
                        let v = frame[(y * stim.size / tw) * stim.size + x * stim.size / tw];
                        let p = 3 * ((oy + y) * width + ox + x);
                        buf[p..p + 3].fill(v);
                    }
                }
            }
        },
    )
}

fn piano_roll(
    area: &crate::host::plot::Area<'_>,
    stim: &Stimulus,
    seconds: f64,
    frames: &[usize],
    fps: f64,
) -> Result<(), PlotError> {
    let lo = stim.notes.iter().map(|n| n.midi).min().unwrap_or(60) - 2;
    let hi = stim.notes.iter().map(|n| n.midi).max().unwrap_or(60) + 2;
    let mut chart = ChartBuilder::on(area)
        .caption("melody (piano roll)", caption_style())
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..seconds.max(1e-3), f64::from(lo)..f64::from(hi))
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("pitch (MIDI note)")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .axis_desc_style(label_style())
        .draw()
        .map_err(draw_err)?;
    let ink = RGBColor(0, 114, 178);
    chart
        .draw_series(stim.notes.iter().map(|n| {
            let y = f64::from(n.midi);
            Rectangle::new([(n.onset_s, y - 0.4), (n.onset_s + n.duration_s, y + 0.4)], ink.filled())
        }))
        .map_err(draw_err)?
        .label("note (onset to release)")
        .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 16, y + 4)], ink.filled()));
    let tick = RGBColor(213, 94, 0);
    chart
        .draw_series(frames.iter().map(|&f| {
            let t = f as f64 / fps;
            PathElement::new([(t, f64::from(lo)), (t, f64::from(lo) + 0.12 * f64::from(hi - lo))], tick.stroke_width(2))
        }))
        .map_err(draw_err)?
        .label("time of a thumbnail above")
        .legend(move |(x, y)| PathElement::new([(x + 8, y - 6), (x + 8, y + 6)], tick.stroke_width(2)));
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

fn waveform(area: &crate::host::plot::Area<'_>, stim: &Stimulus, seconds: f64) -> Result<(), PlotError> {
    let mut chart = ChartBuilder::on(area)
        .caption("sound (waveform)", caption_style())
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..seconds.max(1e-3), -1.0f64..1.0)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc("time (s)")
        .y_desc("amplitude (full scale = 1)")
        .axis_desc_style(label_style())
        .draw()
        .map_err(draw_err)?;
    // Min and max of the samples under each of ~1,000 columns: the envelope as vertical strokes.
    let n = stim.audio.len();
    let columns = 1000.min(n);
    let sr = f64::from(stim.sample_rate.max(1));
    let ink = RGBColor(60, 60, 60);
    chart
        .draw_series((0..columns).map(|c| {
            let (a, b) = (c * n / columns, ((c + 1) * n / columns).max(c * n / columns + 1).min(n));
            let (lo, hi) = stim.audio[a..b]
                .iter()
                .filter(|v| v.is_finite())
                .fold((0.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let t = a as f64 / sr;
            PathElement::new([(t, f64::from(lo.max(-1.0))), (t, f64::from(hi.min(1.0)))], ink)
        }))
        .map_err(draw_err)?
        .label("min to max of the samples")
        .legend(move |(x, y)| PathElement::new([(x + 8, y - 6), (x + 8, y + 6)], ink.stroke_width(2)));
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}
