//! The figures (feature `train`, which brings `plot`): PNGs of the stated size with a title and axes drawn in ink,
//! the data where they belong, and bad data refused without a panic.
#![cfg(feature = "train")]

use avf_bel::train::plot::{heatmaps, lines, loss_curves, scatter_panels, Axes, Matrix};
use avf_bel::EMOTIONS;

/// (width, height, RGB pixels) of a PNG.
fn decode(bytes: &[u8]) -> (usize, usize, Vec<u8>) {
    let mut r = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
    let mut px = vec![0u8; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut px).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    (info.width as usize, info.height as usize, px)
}

/// Dark (text or axis) pixels in rows `y0..y1`.
fn ink(img: &(usize, usize, Vec<u8>), y0: usize, y1: usize) -> usize {
    let (w, _, px) = img;
    px[3 * w * y0..3 * w * y1].chunks(3).filter(|c| c.iter().all(|&v| v < 90)).count()
}

#[test]
fn scatter_panels_have_a_title_a_panel_per_emotion_and_the_points() {
    let series: Vec<(&str, Vec<(f64, f64)>)> = EMOTIONS
        .iter()
        .enumerate()
        .map(|(i, e)| (*e, (0..30).map(|k| (k as f64 / 60.0, (k + i) as f64 / 70.0)).collect()))
        .collect();
    let axes = Axes { title: "Predicted against consensus", x: "consensus rating / 127", y: "predicted intensity" };
    let img = decode(&scatter_panels(axes, "stimulus", &series).unwrap());
    assert_eq!((img.0, img.1), (5 * 330, 390));
    assert!(ink(&img, 0, 30) > 50, "no title");
    // Every panel holds blue markers (the points' colour).
    let (w, h, px) = &img;
    for panel in 0..5 {
        let blue = (0..*h)
            .flat_map(|y| (panel * 330..(panel + 1) * 330).map(move |x| 3 * (y * w + x)))
            .filter(|&p| px[p..p + 3] == [0, 114, 178])
            .count();
        assert!(blue > 30, "panel {panel}: {blue} marker pixels");
    }
    assert!(scatter_panels(axes, "s", &[]).is_err());
    assert!(scatter_panels(axes, "s", &[("angry", vec![(f64::NAN, f64::INFINITY)])]).is_err());
}

#[test]
fn line_charts_and_loss_curves_draw_each_series() {
    let a: Vec<f32> = (0..150).map(|i| 0.2 * (-(i as f32) / 30.0).exp() + 0.01).collect();
    let b: Vec<f32> = a.iter().map(|v| v * 1.5).collect();
    let img = decode(&loss_curves("Loss", &[("fused", &a), ("audio only", &b)]).unwrap());
    assert_eq!((img.0, img.1), (760, 440));
    assert!(ink(&img, 0, 35) > 30, "no title");
    let (_, _, px) = &img;
    let count = |c: [u8; 3]| px.chunks(3).filter(|p| *p == c).count();
    assert!(count([0, 114, 178]) > 200 && count([213, 94, 0]) > 200, "both curves and their legend entries");
    // Linear axes (e.g. robustness curves), and nothing plottable.
    let s = [("noise", vec![(0.0, 0.9), (0.5, 0.7), (1.0, 0.2)])];
    let axes = Axes { title: "Robustness", x: "noise (fraction of full scale)", y: "mean r" };
    assert!(lines(axes, false, &s).is_ok());
    assert!(lines(axes, true, &[("zero", vec![(0.0, 0.0)])]).is_err(), "log axis with no positive value");
}

#[test]
fn heat_maps_colour_every_cell_and_refuse_mismatched_sizes() {
    let v: Vec<f32> = (0..40).map(|i| i as f32 / 39.0).collect();
    let neg: Vec<f32> = v.iter().map(|x| -x).collect();
    let mats = [
        Matrix { caption: "amygdala", rows: 5, cols: 8, values: &v },
        Matrix { caption: "orbitofrontal", rows: 5, cols: 8, values: &neg },
    ];
    let img = decode(&heatmaps("BEL weights", &EMOTIONS, "sensory channel", &mats).unwrap());
    assert!(ink(&img, 0, 30) > 30, "no title");
    let (_, _, px) = &img;
    // The strongest weight of each sign is drawn in full colour.
    assert!(px.chunks(3).any(|c| c == [178, 24, 43]) && px.chunks(3).any(|c| c == [33, 102, 172]));
    let bad = [Matrix { caption: "x", rows: 5, cols: 8, values: &v[..39] }];
    assert!(heatmaps("t", &EMOTIONS, "c", &bad).is_err());
    assert!(heatmaps("t", &EMOTIONS[..4], "c", &mats).is_err());
}
