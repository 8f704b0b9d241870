//! How much of a clip's picture the visual background keeps under a dim, noisy camera, per pixel and gated.
//! A diagnostic for the background's gate (E43 in `docs/eval/experiments.md`), not a test; no ratings or weights are
//! read.
//!
//! `cargo run --release --features train --example background_signal -- [seeds per prototype]`
//!
//! Renders each of the five prototypes (3 s, 64×64, 30 fps; seeds 200 + 10·prototype + s) clean and under each
//! condition below, runs both through the model's background (τ 500 ms), the clean clip always cored pixel by pixel
//! (it has no noise, so the gate would change nothing), and prints for each condition, cored per pixel and gated, the
//! Pearson correlation between the background's output under the condition and on the clean clip, frame by frame
//! (the first frame, uniform grey, left out), averaged over frames and clips. 1 means the condition changed nothing
//! the background shows; 0 that what it shows has nothing left of the clean picture.

use avf_bel::stimuli::{Params, RenderOptions, PROTOTYPES};
use avf_bel::train::augment::{render_perturbed, Kind, Perturbation};
use avf_bel::visual::Background;
use avf_bel::{ModelConfig, BACKGROUND_TAU_MS};

/// The background's outputs for one clip, frame by frame.
fn outputs(p: &Perturbation, proto: &str, seed: u64, gate: bool) -> Vec<Vec<u8>> {
    let cfg = ModelConfig::default().visual;
    let params = Params::prototype(proto).expect("a prototype");
    let opts = RenderOptions { seconds: 3.0, seed, size: 64, fps: 30, sample_rate: 22_050 };
    let clip = render_perturbed(&params, &opts, p).expect("render");
    let mut scratch = vec![0.0; Background::scratch_len(&cfg)];
    let mut bg = Background::new(&cfg, BACKGROUND_TAU_MS, gate, &mut scratch).expect("background");
    clip.frames.chunks_exact(64 * 64).map(|f| bg.apply(f).expect("frame").to_vec()).collect()
}

fn correlation(a: &[u8], b: &[u8]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().map(|&x| f64::from(x)).sum::<f64>() / n, b.iter().map(|&x| f64::from(x)).sum::<f64>() / n);
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa * bb).sqrt()
    }
}

fn main() {
    let seeds: u64 = std::env::args().nth(1).map(|s| s.parse().expect("seeds per prototype")).unwrap_or(2);
    let mut dim_noisy = Perturbation::NONE;
    dim_noisy.video.exposure = 0.4;
    dim_noisy.video.noise = 12.0;
    let conditions = [
        ("room-sight 1", Kind::RoomSight.at(1.0)),
        ("room-sight 2", Kind::RoomSight.at(2.0)),
        ("room-sight 3", Kind::RoomSight.at(3.0)),
        ("sensor-noise 8", Kind::SensorNoise.at(8.0)),
        ("sensor-noise 16", Kind::SensorNoise.at(16.0)),
        ("brightness 0.25", Kind::Brightness.at(0.25)),
        ("exposure 0.4 + noise σ 12", dim_noisy),
    ];
    println!("{:<26} {:>9} {:>9}", "condition", "per pixel", "gated");
    for (name, p) in &conditions {
        let mut sums = [0.0f64; 2];
        let mut frames = 0usize;
        for (i, proto) in PROTOTYPES.iter().enumerate() {
            for s in 0..seeds {
                let seed = 200 + 10 * i as u64 + s;
                let clean = outputs(&Perturbation::NONE, proto, seed, false);
                for (sum, gate) in sums.iter_mut().zip([false, true]) {
                    let seen = outputs(p, proto, seed, gate);
                    *sum += clean.iter().zip(&seen).skip(1).map(|(a, b)| correlation(a, b)).sum::<f64>();
                }
                frames += clean.len() - 1;
            }
        }
        println!("{name:<26} {:>9.3} {:>9.3}", sums[0] / frames as f64, sums[1] / frames as f64);
    }
}
