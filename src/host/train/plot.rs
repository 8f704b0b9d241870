//! The training and evaluation figures as PNG (plotters; see `crate::host::plot`): predicted-against-consensus
//! scatter panels named by emotion, line charts (loss curves, robustness curves) and heat maps of the BEL weights
//! with the emotions on their rows. Every figure has a title, labelled axes with units and a legend.

use crate::host::plot::{caption_style, draw_err, figure, label_style, legend, title_style, PlotError};
use plotters::prelude::*;

/// Colours of successive series (colour-blind-safe Okabe–Ito hues).
pub const SERIES_COLOURS: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
];

/// Axis descriptions of a figure (with units).
#[derive(Clone, Copy, Debug)]
pub struct Axes<'a> {
    /// The figure's title.
    pub title: &'a str,
    /// The horizontal axis, with its unit.
    pub x: &'a str,
    /// The vertical axis, with its unit.
    pub y: &'a str,
}

/// Predicted (y) against target (x), one panel per series captioned with its name (the emotions), on one common
/// square range with the identity line; `points` names the markers in the legend.
pub fn scatter_panels(axes: Axes<'_>, points: &str, series: &[(&str, Vec<(f64, f64)>)]) -> Result<Vec<u8>, PlotError> {
    if series.is_empty() {
        return Err(PlotError::Data("no series to plot".into()));
    }
    let all = || series.iter().flat_map(|(_, p)| p.iter().flat_map(|&(x, y)| [x, y])).filter(|v| v.is_finite());
    let (lo, hi) = finite_range(all()).ok_or_else(|| PlotError::Data("no finite points".into()))?;
    // Intensities start at 0: keep 0 on both axes unless the data go below it.
    let lo = if all().all(|v| v >= 0.0) { 0.0 } else { lo };
    let panel = 330u32;
    figure(
        panel * series.len() as u32,
        panel + 60,
        |root| {
            let root = root.titled(axes.title, title_style()).map_err(draw_err)?;
            for (i, (area, (name, pts))) in root.split_evenly((1, series.len())).iter().zip(series).enumerate() {
                let mut chart = ChartBuilder::on(area)
                    .caption(*name, caption_style())
                    .margin(8)
                    .x_label_area_size(40)
                    .y_label_area_size(52)
                    .build_cartesian_2d(lo..hi, lo..hi)
                    .map_err(draw_err)?;
                chart
                    .configure_mesh()
                    .x_desc(axes.x)
                    .y_desc(axes.y)
                    .x_labels(5)
                    .y_labels(5)
                    .axis_desc_style(label_style())
                    .draw()
                    .map_err(draw_err)?;
                chart
                    .draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.mix(0.4)))
                    .map_err(draw_err)?
                    .label("y = x")
                    .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.mix(0.4)));
                let dots = pts.iter().filter(|(x, y)| x.is_finite() && y.is_finite());
                chart
                    .draw_series(dots.map(|&(x, y)| Circle::new((x, y), 3, SERIES_COLOURS[0].filled())))
                    .map_err(draw_err)?
                    .label(points)
                    .legend(|(x, y)| Circle::new((x + 8, y), 3, SERIES_COLOURS[0].filled()));
                if i == 0 {
                    // One legend for the row of panels: they share markers and line.
                    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
                }
            }
            Ok(())
        },
        |_| {},
    )
}

/// Named lines on one chart (loss curves, robustness curves), the y axis optionally logarithmic.
pub fn lines(axes: Axes<'_>, log_y: bool, series: &[(&str, Vec<(f64, f64)>)]) -> Result<Vec<u8>, PlotError> {
    // A logarithmic axis is drawn as log10 of the values on a linear one, labelled with the values themselves:
    // evenly spaced ticks at any range.
    let map = |(x, y): (f64, f64)| (x, if log_y { y.log10() } else { y });
    let usable = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite();
    let mapped: Vec<Vec<(f64, f64)>> =
        series.iter().map(|(_, p)| p.iter().copied().map(map).filter(usable).collect()).collect();
    let pts = || mapped.iter().flatten();
    let none = || PlotError::Data(format!("{}: no finite{} points", axes.title, if log_y { ", positive" } else { "" }));
    let (x0, x1) = finite_range(pts().map(|p| p.0)).ok_or_else(none)?;
    let (y0, y1) = finite_range(pts().map(|p| p.1)).ok_or_else(none)?;
    let y_label = |v: &f64| if log_y { format!("{:.1e}", 10f64.powf(*v)) } else { format!("{v:.3}") };
    let x_label = |v: &f64| if v.fract() == 0.0 || v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.2}") };
    figure(
        760,
        440,
        |root| {
            let mut chart = ChartBuilder::on(root)
                .caption(axes.title, title_style())
                .margin(12)
                .x_label_area_size(44)
                .y_label_area_size(70)
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(draw_err)?;
            chart
                .configure_mesh()
                .x_desc(axes.x)
                .y_desc(axes.y)
                .y_labels(10)
                .y_label_formatter(&y_label)
                .x_label_formatter(&x_label)
                .axis_desc_style(label_style())
                .draw()
                .map_err(draw_err)?;
            for (i, ((name, _), p)) in series.iter().zip(&mapped).enumerate() {
                let colour = SERIES_COLOURS[i % SERIES_COLOURS.len()];
                chart
                    .draw_series(LineSeries::new(p.iter().copied(), colour.stroke_width(2)))
                    .map_err(draw_err)?
                    .label(*name)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
            }
            legend(&mut chart, SeriesLabelPosition::UpperRight)
        },
        |_| {},
    )
}

/// Loss curves: one line per named curve against the optimiser step, MSE on a logarithmic axis.
pub fn loss_curves(title: &str, curves: &[(&str, &[f32])]) -> Result<Vec<u8>, PlotError> {
    let series: Vec<(&str, Vec<(f64, f64)>)> = curves
        .iter()
        .map(|(name, c)| (*name, c.iter().enumerate().map(|(i, &v)| (i as f64 + 1.0, f64::from(v))).collect()))
        .collect();
    lines(Axes { title, x: "Adam step (full batch)", y: "mean squared error (intensity², log scale)" }, true, &series)
}

/// One matrix of a heat-map figure.
#[derive(Clone, Copy, Debug)]
pub struct Matrix<'a> {
    /// The panel's caption.
    pub caption: &'a str,
    /// Rows (one per row label).
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Row-major values, `rows × cols`.
    pub values: &'a [f32],
}

/// Heat maps side by side, rows named by `row_labels` (the emotions), columns numbered along `col_desc`; each cell
/// coloured on one diverging scale (red positive, blue negative, white 0; the strongest |value| of all panels is
/// full colour) and printed with its value. The legend under the panels states the scale.
pub fn heatmaps(title: &str, row_labels: &[&str], col_desc: &str, mats: &[Matrix<'_>]) -> Result<Vec<u8>, PlotError> {
    for m in mats {
        if m.rows != row_labels.len() || m.values.len() != m.rows * m.cols || m.cols == 0 || m.rows == 0 {
            return Err(PlotError::Data(format!("{}: {}×{} values do not fit the labels", m.caption, m.rows, m.cols)));
        }
    }
    if mats.is_empty() {
        return Err(PlotError::Data("no matrix to plot".into()));
    }
    let amax = mats.iter().flat_map(|m| m.values).filter(|v| v.is_finite()).fold(1e-12f32, |a, v| a.max(v.abs()));
    let colour = |v: f32| {
        let t = if v.is_finite() { (v / amax).clamp(-1.0, 1.0) } else { 0.0 };
        let fade = |c: u8| (255.0 - (255.0 - f32::from(c)) * t.abs()) as u8;
        if t >= 0.0 {
            RGBColor(fade(178), fade(24), fade(43))
        } else {
            RGBColor(fade(33), fade(102), fade(172))
        }
    };
    let width = 110 + mats.iter().map(|m| 60 * m.cols as u32 + 40).sum::<u32>();
    figure(
        width,
        110 + 44 * row_labels.len() as u32 + 60,
        |root| {
            let root = root.titled(title, title_style()).map_err(draw_err)?;
            let (panels, foot) = root.split_vertically(root.dim_in_pixel().1 - 34);
            let widths: Vec<u32> = mats.iter().map(|m| 60 * m.cols as u32 + 40).collect();
            let mut rest = panels;
            for (i, m) in mats.iter().enumerate() {
                let w = widths[i] + if i == 0 { 110 } else { 0 };
                let (area, r) = rest.split_horizontally(w);
                rest = r;
                let rows = m.rows;
                let mut chart = ChartBuilder::on(&area)
                    .caption(m.caption, caption_style())
                    .margin(6)
                    .x_label_area_size(40)
                    .y_label_area_size(if i == 0 { 90 } else { 0 })
                    // plotters' integer ranges include their end: 0..cols−1 holds `cols` segments.
                    .build_cartesian_2d((0..m.cols - 1).into_segmented(), (0..rows - 1).into_segmented())
                    .map_err(draw_err)?;
                let row_name = |v: &SegmentValue<usize>| match v {
                    // Row 0 (the first emotion) is drawn at the top.
                    SegmentValue::CenterOf(y) if *y < rows => row_labels[rows - 1 - y].to_string(),
                    _ => String::new(),
                };
                let col_name = |v: &SegmentValue<usize>| match v {
                    SegmentValue::CenterOf(x) => x.to_string(),
                    _ => String::new(),
                };
                chart
                    .configure_mesh()
                    .disable_mesh()
                    .x_desc(col_desc)
                    .x_labels(m.cols)
                    .y_labels(rows)
                    .x_label_formatter(&col_name)
                    .y_label_formatter(&row_name)
                    .axis_desc_style(label_style())
                    .label_style(label_style())
                    .draw()
                    .map_err(draw_err)?;
                let cells = (0..rows).flat_map(|r| (0..m.cols).map(move |c| (r, c)));
                chart
                    .draw_series(cells.clone().map(|(r, c)| {
                        let y = rows - 1 - r;
                        Rectangle::new(
                            [
                                (SegmentValue::Exact(c), SegmentValue::Exact(y)),
                                (SegmentValue::Exact(c + 1), SegmentValue::Exact(y + 1)),
                            ],
                            colour(m.values[r * m.cols + c]).filled(),
                        )
                    }))
                    .map_err(draw_err)?;
                let small = label_style().pos(plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                ));
                chart
                    .draw_series(cells.map(|(r, c)| {
                        let v = m.values[r * m.cols + c];
                        Text::new(
                            format!("{v:.2}"),
                            (SegmentValue::CenterOf(c), SegmentValue::CenterOf(rows - 1 - r)),
                            small.clone(),
                        )
                    }))
                    .map_err(draw_err)?;
            }
            foot.draw(&Text::new(
                format!(
                    "colour: weight value, red > 0, blue < 0, white 0; full colour = ±{amax:.3} (the largest |weight| shown); \
                     numbers: the weights"
                ),
                (20, 8),
                label_style(),
            ))
            .map_err(draw_err)?;
            Ok(())
        },
        |_| {},
    )
}

/// `[lo, hi]` of the finite values, widened when flat; `None` when there are none.
fn finite_range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return None;
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5 * lo.abs().max(1e-3) };
    Some((lo - pad, hi + pad))
}

/// Robustness curves: one panel per perturbation (captioned with its name), profile MAE (y, one common scale from 0
/// in every panel) against severity (x: 0 = the same renders clean, then 1 mild, 2 moderate, 3 severe). Each panel
/// shows the curve with its points, the clean level (grey) and the target clean + 0.010 (dashed red).
pub fn robustness_panels(title: &str, series: &[(&str, Vec<(f64, f64)>)]) -> Result<Vec<u8>, PlotError> {
    if series.is_empty() {
        return Err(PlotError::Data("no perturbation to plot".into()));
    }
    let all = || series.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)).filter(|v| v.is_finite());
    let ymax = all().fold(f64::NAN, f64::max);
    if !ymax.is_finite() {
        return Err(PlotError::Data(format!("{title}: no finite MAE")));
    }
    let ymax = (ymax.max(0.06)) * 1.08;
    let xmax = series.iter().flat_map(|s| s.1.iter().map(|p| p.0)).fold(1.0f64, f64::max);
    let cols = 6usize.min(series.len());
    let rows = series.len().div_ceil(cols);
    let (pw, ph) = (250u32, 210u32);
    figure(
        pw * cols as u32,
        ph * rows as u32 + 80,
        |root| {
            let root = root.titled(title, title_style()).map_err(draw_err)?;
            let (grid, foot) = root.split_vertically(root.dim_in_pixel().1 - 28);
            for (area, (name, pts)) in grid.split_evenly((rows, cols)).iter().zip(series) {
                let mut chart = ChartBuilder::on(area)
                    .caption(*name, caption_style())
                    .margin(6)
                    .x_label_area_size(34)
                    .y_label_area_size(48)
                    .build_cartesian_2d(-0.2..xmax + 0.2, 0.0..ymax)
                    .map_err(draw_err)?;
                chart
                    .configure_mesh()
                    .x_desc("severity")
                    .y_desc("profile MAE")
                    .x_labels(xmax as usize + 1)
                    .y_labels(5)
                    .x_label_formatter(&|v| format!("{v:.0}"))
                    .y_label_formatter(&|v| format!("{v:.2}"))
                    .axis_desc_style(label_style())
                    .draw()
                    .map_err(draw_err)?;
                let pts: Vec<(f64, f64)> = pts.iter().copied().filter(|p| p.0.is_finite() && p.1.is_finite()).collect();
                if let Some(&(_, clean)) = pts.iter().find(|p| p.0 == 0.0) {
                    chart
                        .draw_series(LineSeries::new([(-0.2, clean), (xmax + 0.2, clean)], BLACK.mix(0.35)))
                        .map_err(draw_err)?;
                    let target = clean + 0.010;
                    let dashes = (0..((xmax + 0.4) * 10.0) as usize).step_by(2).map(|i| {
                        let a = -0.2 + 0.1 * i as f64;
                        PathElement::new([(a, target), ((a + 0.1).min(xmax + 0.2), target)], RED.mix(0.7))
                    });
                    chart.draw_series(dashes).map_err(draw_err)?;
                }
                let colour = SERIES_COLOURS[0];
                chart.draw_series(LineSeries::new(pts.iter().copied(), colour.stroke_width(2))).map_err(draw_err)?;
                chart
                    .draw_series(pts.iter().map(|&(x, y)| Circle::new((x, y), 3, colour.filled())))
                    .map_err(draw_err)?;
            }
            foot.draw(&Text::new(
                "blue: fused profile MAE against the consensus; grey: the same renders clean; dashed red: clean + 0.010 \
                 (the target at moderate severity, level 2)",
                (20, 6),
                label_style(),
            ))
            .map_err(draw_err)?;
            Ok(())
        },
        |_| {},
    )
}
