//! Arbitrary frames, audio (including NaN, infinities, odd lengths) and rewards into a tiny pipeline: no panic.
#![no_main]
use avf_bel::model::{encode, seeded, Precision};
use avf_bel::weights::writer::AlignedBytes;
use avf_bel::{Modalities, ModelConfig, Pipeline, Weights};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cfg = ModelConfig::tiny();
    let buf = AlignedBytes::new(&encode(&cfg, &seeded(&cfg, 1), Precision::Int8).unwrap());
    let w = Weights::parse(buf.as_bytes()).unwrap();
    let mut scratch = vec![0.0f32; Pipeline::scratch_len(&w)];
    let mut p = Pipeline::new(&w, &mut scratch).unwrap();
    let n = cfg.visual.height as usize * cfg.visual.width as usize;
    for chunk in data.chunks(n.max(1) / 2 + 1) {
        match chunk.first().copied().unwrap_or(0) % 4 {
            0 => {
                let _ = p.push_frame(chunk);
            }
            1 => {
                let pcm: Vec<f32> = chunk.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
                let _ = p.push_audio(&pcm);
            }
            2 => {
                let _ = p.infer(Modalities::BOTH);
            }
            _ => {
                let r = chunk.get(1).copied().unwrap_or(0) as f32 / 25.0;
                let _ = p.learn(&[r; 5]);
            }
        }
    }
});
