//! Which half of the visual summary an occluder disturbs: the clip's mean IT code (where a static shape lands) or
//! its spread over the clip (what moves). A diagnostic for the occlusion work (E38 in `docs/eval/experiments.md`),
//! not a test; no ratings are read.
//!
//! `cargo run --release --features train --example readout_halves -- MODEL.avfw [training clips] [validation clips]`
//!
//! Extracts the visual summary (`[mean; std]` of IT over the clip's stacks, as the read-out sees it) of seeded random
//! slider settings drawn with training's default augmentation, and of validation clips (other seeds) clean and under
//! the evaluation's moderate visual perturbations; fits the read-out as `train` does (`run::readout_ridge`: a ridge per
//! slider, its penalty chosen on a held-out fifth of the training clips) on the whole summary, on the mean half only and on the
//! spread half only; prints each fit's validation MSE (normalised sliders) per condition.

use avf_bel::model::{read_file, SplitMix64};
use avf_bel::train::augment::{Augment, Kind, Perturbation};
use avf_bel::train::linalg::Ridge;
use avf_bel::train::run::readout_ridge;
use avf_bel::train::{extract, normalised, random_params, Job};

fn mse(model: &Ridge, xs: &[Vec<f64>], ys: &[Vec<f64>]) -> f64 {
    let mut s = 0.0;
    for (x, y) in xs.iter().zip(ys) {
        s += model.predict(x).iter().zip(y).map(|(p, t)| (p - t).powi(2)).sum::<f64>();
    }
    s / (5 * xs.len()).max(1) as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = std::path::PathBuf::from(args.get(1).expect("usage: readout_halves MODEL.avfw [training] [validation]"));
    let n_train: usize = args.get(2).map(|s| s.parse().expect("training clips")).unwrap_or(1500);
    let n_val: usize = args.get(3).map(|s| s.parse().expect("validation clips")).unwrap_or(200);
    let buf = read_file(&path).expect("read");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let quiet = |_: usize| {};

    let augment = Augment::default();
    let mut rng = SplitMix64(0x04A1_F0E5);
    let train: Vec<Job> = (0..n_train)
        .map(|i| {
            let seed = 9_500_000 + i as u64;
            Job { params: random_params(&mut rng), seed, perturb: augment.draw_for(seed) }
        })
        .collect();
    let val: Vec<(avf_bel::stimuli::Params, u64)> =
        (0..n_val).map(|i| (random_params(&mut rng), 9_800_000 + i as u64)).collect();
    let mut conditions = vec![("clean".to_string(), Perturbation::NONE)];
    for kind in [Kind::Occlusion, Kind::Clutter, Kind::Shake, Kind::Translation, Kind::Scale, Kind::SensorNoise] {
        let s = kind.severities()[1];
        conditions.push((format!("{} {s}", kind.name()), kind.at(s)));
    }

    let feats = extract(buf.as_bytes(), &train, 3.0, threads, &quiet).expect("training clips");
    let ys: Vec<Vec<f64>> = feats.iter().map(|f| normalised(&f.params).to_vec()).collect();
    let half = feats[0].visual.len() / 2;
    let parts: [(&str, std::ops::Range<usize>); 3] =
        [("mean and spread", 0..2 * half), ("mean only", 0..half), ("spread only", half..2 * half)];
    let models: Vec<Ridge> = parts
        .iter()
        .map(|(_, r)| readout_ridge(&feats.iter().map(|f| f.visual[r.clone()].to_vec()).collect::<Vec<_>>(), &ys))
        .collect();

    println!("visual read-out, {n_train} training clips (default augmentation), {n_val} validation clips");
    let names: Vec<&str> = parts.iter().map(|(n, _)| *n).collect();
    println!("{:<18} {:>16} {:>16} {:>16}", "condition", names[0], names[1], names[2]);
    for (name, p) in &conditions {
        let jobs: Vec<Job> = val.iter().map(|&(params, seed)| Job { params, seed, perturb: *p }).collect();
        let f = extract(buf.as_bytes(), &jobs, 3.0, threads, &quiet).expect("validation clips");
        let y: Vec<Vec<f64>> = f.iter().map(|c| normalised(&c.params).to_vec()).collect();
        let cells: Vec<String> = parts
            .iter()
            .zip(&models)
            .map(|((_, r), m)| {
                let x: Vec<Vec<f64>> = f.iter().map(|c| c.visual[r.clone()].to_vec()).collect();
                format!("{:>16.4}", mse(m, &x, &y))
            })
            .collect();
        println!("{:<18} {}", name, cells.join(" "));
    }
}
