//! What a stationary noise floor moves in the audio pathway, and whether it depends on how loud the noise is.
//! A diagnostic for front-end work (E31 in `docs/eval/experiments.md`), not a test; no ratings are read.
//!
//! `cargo run --release --features train --example noise_shift -- MODEL.avfw [clips]`
//!
//! Renders seeded random slider settings (3 s, as training's clips), clean and with white or pink noise at 40, 30,
//! 20 and 10 dB SNR, and prints for each condition, as means over the clips: the absolute change of the mel bands'
//! mean level (dB, after the floor) from the clean render, the front end's onset strength per frame, the share of
//! frames with any onset, the tempo's absolute change, and the audio read-out's mean absolute change of each of its
//! five slider estimates (normalised to 0–1) from the clean render. The front end is the model's own (its loudness
//! normaliser and onset range).

use avf_bel::audio::frontend::FrontEnd;
use avf_bel::audio::FrameFeatures;
use avf_bel::model::{read_file, SplitMix64};
use avf_bel::stimuli::{Params, RenderOptions};
use avf_bel::train::augment::{render_perturbed, Kind, Perturbation};
use avf_bel::train::random_params;
use avf_bel::{Modalities, Pipeline, Weights};

/// Per-clip measurements of one condition.
struct Clip {
    mel: Vec<f64>,
    onset_mean: f64,
    onset_share: f64,
    tempo: f64,
    readout: Vec<f32>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = std::path::PathBuf::from(args.get(1).expect("usage: noise_shift MODEL.avfw [clips]"));
    let n: usize = args.get(2).map(|s| s.parse().expect("clips")).unwrap_or(40);
    let buf = read_file(&path).expect("read");
    let w = Weights::parse(buf.as_bytes()).expect("parse");
    let cfg = *w.config();
    let mut scratch = vec![0.0f32; Pipeline::scratch_len(&w)];
    let mut pipe = Pipeline::new(&w, &mut scratch).expect("pipeline");
    let mut fe_scratch = vec![0.0f32; FrontEnd::scratch_len(&cfg.audio)];
    let mut fe = FrontEnd::new(&cfg.audio, &mut fe_scratch).expect("front end");
    fe.set_loudness(cfg.input.loudness_tau_ms);
    fe.set_onset_range(cfg.input.onset_range_db);

    let mut rng = SplitMix64(0x0015E_5B1F7);
    let clips: Vec<(Params, u64)> = (0..n).map(|i| (random_params(&mut rng), 9_100_000 + i as u64)).collect();
    let mut conditions: Vec<(String, Perturbation)> = Vec::new();
    for (name, kind) in [("white", Kind::WhiteNoise), ("pink", Kind::PinkNoise)] {
        for snr in [40.0, 30.0, 20.0, 10.0] {
            conditions.push((format!("{name} {snr:.0} dB"), kind.at(snr)));
        }
    }

    let mut measure = |params: &Params, seed: u64, p: &Perturbation| -> Clip {
        let opts = RenderOptions::for_model(&cfg, 3.0, seed);
        let s = render_perturbed(params, &opts, p).expect("render");
        fe.reset();
        let (mut sum, mut on, mut frames) = (0.0f64, 0usize, 0usize);
        let mut mel = vec![0.0f64; cfg.audio.n_mels as usize];
        let mut each = |f: &FrameFeatures| {
            for (m, v) in mel.iter_mut().zip(f.mel_db) {
                *m += *v as f64;
            }
            sum += f.onset as f64;
            on += usize::from(f.onset > 0.0);
            frames += 1;
        };
        fe.push(&s.audio, &mut each).expect("push");
        fe.finish(&mut each).expect("finish");
        let tempo = fe.summary().tempo_bpm as f64;
        pipe.reset();
        pipe.push_audio(&s.audio).expect("audio");
        pipe.infer(Modalities::AUDIO).expect("infer");
        let readout = pipe.features().0.to_vec();
        mel.iter_mut().for_each(|m| *m /= frames as f64);
        Clip { mel, onset_mean: sum / frames as f64, onset_share: on as f64 / frames as f64, tempo, readout }
    };

    let clean: Vec<Clip> = clips.iter().map(|(p, s)| measure(p, *s, &Perturbation::NONE)).collect();
    println!("{n} random clips, model {}", path.display());
    println!(
        "{:<14} {:>7} {:>8} {:>8} {:>9}   read-out mean |Δ| per estimate (bpm jitter consonance bigsmall updown)",
        "condition", "|Δmel|", "onset", "share", "|Δtempo|"
    );
    // The clean row compares the clean renders with themselves (zero changes); it reports their onset figures.
    let rows = std::iter::once(("clean".to_string(), None)).chain(conditions.iter().map(|(n, p)| (n.clone(), Some(p))));
    for (name, p) in rows {
        let measured: Vec<Clip>;
        let runs: &[Clip] = match p {
            None => &clean,
            Some(p) => {
                measured = clips.iter().map(|(q, s)| measure(q, *s, p)).collect();
                &measured
            }
        };
        let k = runs[0].readout.len();
        let mut d = vec![0.0f64; k];
        let (mut onset, mut share, mut dtempo, mut dmel) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for (r, c) in runs.iter().zip(&clean) {
            dmel += r.mel.iter().zip(&c.mel).map(|(a, b)| (a - b).abs()).sum::<f64>() / r.mel.len() as f64;
            onset += r.onset_mean;
            share += r.onset_share;
            dtempo += (r.tempo - c.tempo).abs();
            for (j, dj) in d.iter_mut().enumerate() {
                *dj += (r.readout[j] - c.readout[j]).abs() as f64;
            }
        }
        let m = n as f64;
        let ds: Vec<String> = d.iter().map(|v| format!("{:.4}", v / m)).collect();
        println!(
            "{:<14} {:>7.2} {:>8.3} {:>8.3} {:>9.1}   {}",
            name,
            dmel / m,
            onset / m,
            share / m,
            dtempo / m,
            ds.join(" ")
        );
    }
}
