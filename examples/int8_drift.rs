//! Where the int8 export's drift from f32 comes from: the quantised weights, or the quantised activations (7-bit
//! codes between CORnet-Z blocks and halved frames). A diagnostic for export work, not a test.
//!
//! `cargo run --release --features train --example int8_drift -- MODEL.avfw [random clips]`
//!
//! Runs three files of one model on the study's 30 stimuli (seed `1000·id`, 3 s, as `avf-bel export`) and on seeded
//! random slider settings: f32; "weights only", the int8 file's convolutions decoded back to f32 (so activations stay
//! f32); the int8 file quantised as trained ("unbalanced"); and the int8 file as `avf-bel export` writes it, its
//! CORnet-Z channels balanced on calibration clips (`train::quant`). Prints the max and mean |Δemotion| and max
//! |ΔEPP| of each against f32.

use avf_bel::model::{decode, encode_trained, read_file, Precision, SplitMix64, INT8_CALIBRATION_CLIPS};
use avf_bel::stimuli::{render, Params, RenderOptions};
use avf_bel::weights::writer::AlignedBytes;
use avf_bel::{Modalities, Output, Pipeline, Weights};

fn outputs(bytes: &[u8], clips: &[(Params, u64)]) -> Vec<Output> {
    let w = Weights::parse(bytes).expect("parse");
    let cfg = *w.config();
    let mut scratch = vec![0.0f32; Pipeline::scratch_len(&w)];
    let mut p = Pipeline::new(&w, &mut scratch).expect("pipeline");
    clips
        .iter()
        .map(|(params, seed)| {
            let opts = RenderOptions::for_model(&cfg, 3.0, *seed);
            let s = render(params, &opts).expect("render");
            p.push_audio(&s.audio).expect("audio");
            for fr in s.frames.chunks_exact(opts.size * opts.size) {
                p.push_frame(fr).expect("frame");
            }
            p.infer(Modalities::BOTH).expect("infer")
        })
        .collect()
}

fn report(name: &str, a: &[Output], b: &[Output]) {
    let (mut max_e, mut sum_e, mut max_epp, mut worst) = (0.0f32, 0.0f64, 0.0f32, 0usize);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        max_epp = max_epp.max((x.epp - y.epp).abs());
        for e in 0..5 {
            let d = (x.emotions[e] - y.emotions[e]).abs();
            sum_e += d as f64;
            if d > max_e {
                max_e = d;
                worst = i;
            }
        }
    }
    let mean = sum_e / (5 * a.len()) as f64;
    println!("  {name:<16} max |Δemotion| {max_e:.5} (clip {worst}), mean {mean:.5}, max |ΔEPP| {max_epp:.5}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = std::path::PathBuf::from(args.get(1).expect("usage: int8_drift MODEL.avfw [random clips]"));
    let n_random: usize = args.get(2).map(|s| s.parse().expect("clips")).unwrap_or(60);
    let buf = read_file(&path).expect("read");
    let w = Weights::parse(buf.as_bytes()).expect("parse");
    let cfg = *w.config();
    let tensors = decode(&w);
    let f32_bytes = encode_trained(&cfg, &tensors, Precision::F32).expect("f32");
    let plain = AlignedBytes::new(&encode_trained(&cfg, &tensors, Precision::Int8).expect("int8"));
    let clips = INT8_CALIBRATION_CLIPS as usize;
    let (balanced, choice) = avf_bel::train::quant::for_int8(&cfg, &tensors, clips).expect("calibration");
    println!("int8 balanced at strength {} (tried {:?})", choice.strength, choice.tried);
    let i8_file = AlignedBytes::new(&encode_trained(&cfg, &balanced, Precision::Int8).expect("int8"));
    let wq = decode(&Weights::parse(i8_file.as_bytes()).expect("parse int8"));
    let wq_bytes = encode_trained(&cfg, &wq, Precision::F32).expect("weights only");

    let data = avf_bel::data::find_data(None).unwrap_or_else(|e| panic!("{e}"));
    let rows = avf_bel::train::data::load(&data).expect("data");
    let study: Vec<(Params, u64)> = rows.iter().map(|r| (r.params, 1000 * r.id as u64)).collect();
    let mut rng = SplitMix64(0xD1F7);
    let random: Vec<(Params, u64)> =
        (0..n_random).map(|i| (avf_bel::train::random_params(&mut rng), 7_000_000 + i as u64)).collect();
    for (set, clips) in [("study stimuli", &study), ("random sliders", &random)] {
        println!("{set} ({} clips):", clips.len());
        let r = outputs(AlignedBytes::new(&f32_bytes).as_bytes(), clips);
        report("weights only", &r, &outputs(AlignedBytes::new(&wq_bytes).as_bytes(), clips));
        report("int8 unbalanced", &r, &outputs(plain.as_bytes(), clips));
        report("int8", &r, &outputs(i8_file.as_bytes(), clips));
    }
}
