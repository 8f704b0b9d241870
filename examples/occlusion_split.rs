//! Where an occluder's cost to the visual read-out comes from: the part of the ball's path it hides, or the static
//! shape it adds to the scene. A diagnostic for the occlusion work (E38 in `docs/eval/experiments.md`), not a test;
//! no ratings are read.
//!
//! `cargo run --release --features train --example occlusion_split -- MODEL.avfw [clips] [area]`
//!
//! Renders seeded random slider settings (3 s, as training's clips), clean and with the evaluation's static occluder
//! (`occlusion` at `area`, default its moderate 0.15, placed and shaded by the clip's seed as in every evaluation),
//! and measures on the rendered frames: the share of the ball's path the occluder hides (pixels that change over the
//! clean clip and stand still behind the occluder) and the occluder's contrast with the scene it covers (mean
//! absolute luma change where the ball never goes). Each clip's visual read-out (video only) gives a squared error
//! against the clip's true normalised sliders, clean and occluded. Prints the error's mean by how much of the path is
//! hidden, among clips whose path is not hidden at all by the occluder's contrast, and by how the occluder changes the
//! first frame's luma spread (what the luminance normalisation divides by).

use avf_bel::model::{read_file, SplitMix64};
use avf_bel::stimuli::{Params, RenderOptions};
use avf_bel::train::augment::{render_perturbed, Kind, Perturbation};
use avf_bel::train::{normalised, random_params};
use avf_bel::{Modalities, Pipeline, Weights};

/// One clip's measurements.
struct Clip {
    hidden: f64,
    contrast: f64,
    spread: f64,
    clean: f64,
    occluded: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = std::path::PathBuf::from(args.get(1).expect("usage: occlusion_split MODEL.avfw [clips] [area]"));
    let n: usize = args.get(2).map(|s| s.parse().expect("clips")).unwrap_or(300);
    let area: f64 = args.get(3).map(|s| s.parse().expect("area")).unwrap_or(0.15);
    if !(area > 0.0 && area <= 1.0) {
        eprintln!("occlusion_split: the occluder's area is a share of the frame in (0, 1], got {area}");
        std::process::exit(2);
    }
    let buf = read_file(&path).expect("read");
    let w = Weights::parse(buf.as_bytes()).expect("parse");
    let cfg = *w.config();
    let mut scratch = vec![0.0f32; Pipeline::scratch_len(&w)];
    let mut pipe = Pipeline::new(&w, &mut scratch).expect("pipeline");
    let occluder = Kind::Occlusion.at(area);

    let mut rng = SplitMix64(0x0CC1_0DE5);
    let clips: Vec<(Params, u64)> = (0..n).map(|i| (random_params(&mut rng), 9_300_000 + i as u64)).collect();
    let mut out = Vec::with_capacity(n);
    for (params, seed) in &clips {
        let opts = RenderOptions::for_model(&cfg, 3.0, *seed);
        let truth = normalised(params);
        let mut read = |p: &Perturbation| {
            let s = render_perturbed(params, &opts, p).expect("render");
            pipe.reset();
            for f in s.frames.chunks_exact(opts.size * opts.size) {
                pipe.push_frame(f).expect("frame");
            }
            pipe.infer(Modalities::VIDEO).expect("infer");
            let err = pipe.features().1.iter().zip(truth).map(|(e, t)| (f64::from(*e) - t).powi(2)).sum::<f64>() / 5.0;
            (s.frames, err)
        };
        let (clean_frames, clean) = read(&Perturbation::NONE);
        let (occl_frames, occluded) = read(&occluder);
        let px = opts.size * opts.size;
        let range = |frames: &[u8], i: usize| {
            let (lo, hi) = frames.chunks_exact(px).fold((255u8, 0u8), |(lo, hi), f| (lo.min(f[i]), hi.max(f[i])));
            hi - lo
        };
        let (mut path_px, mut hidden_px, mut still_px, mut contrast) = (0usize, 0usize, 0usize, 0.0f64);
        for i in 0..px {
            if range(&clean_frames, i) > 8 {
                path_px += 1;
                hidden_px += usize::from(range(&occl_frames, i) <= 2);
            } else {
                still_px += 1;
                contrast += f64::from(clean_frames[i].abs_diff(occl_frames[i]));
            }
        }
        // The luma normalisation divides each frame by its spread: the occluder's share of that change.
        let sd = |frames: &[u8]| {
            let f = &frames[..px];
            let mean = f.iter().map(|&v| f64::from(v)).sum::<f64>() / px as f64;
            (f.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / px as f64).sqrt()
        };
        out.push(Clip {
            spread: sd(&occl_frames) / sd(&clean_frames).max(1.0),
            hidden: hidden_px as f64 / path_px.max(1) as f64,
            contrast: contrast / still_px.max(1) as f64 / area,
            clean,
            occluded,
        });
    }

    println!("{n} random clips, occluder area {area}, model {}", path.display());
    println!("{:<34} {:>6} {:>10} {:>10} {:>10}", "clips", "count", "MSE clean", "occluded", "change");
    let row = |name: &str, sel: &dyn Fn(&Clip) -> bool| {
        let s: Vec<&Clip> = out.iter().filter(|c| sel(c)).collect();
        let m = s.len().max(1) as f64;
        let (c, o) = (s.iter().map(|c| c.clean).sum::<f64>() / m, s.iter().map(|c| c.occluded).sum::<f64>() / m);
        println!("{:<34} {:>6} {:>10.4} {:>10.4} {:>+10.4}", name, s.len(), c, o, o - c);
    };
    row("all", &|_| true);
    for (lo, hi) in [(-1.0, 0.0), (0.0, 0.1), (0.1, 0.3), (0.3, 0.6), (0.6, 1.01)] {
        let name = if lo < 0.0 { "path hidden: none".to_string() } else { format!("path hidden: ({lo}, {hi}]") };
        row(&name, &|c| c.hidden > lo && c.hidden <= hi);
    }
    // The occluder's contrast: its mean luma change over the area it covers, where no ball passes.
    for (lo, hi) in [(0.0, 30.0), (30.0, 80.0), (80.0, 256.0)] {
        row(&format!("none hidden, contrast [{lo}, {hi})"), &|c| {
            c.hidden == 0.0 && c.contrast >= lo && c.contrast < hi
        });
    }
    // How the occluder moves the first frame's luma spread, which the normalisation divides by.
    for (lo, hi) in [(0.0, 0.9), (0.9, 1.1), (1.1, 1.4), (1.4, 10.0)] {
        row(&format!("spread ratio [{lo}, {hi})"), &|c| c.spread >= lo && c.spread < hi);
    }
}
