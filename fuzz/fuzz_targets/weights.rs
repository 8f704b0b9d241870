//! Any bytes as a weights file: parsing never panics; a file that parses binds to a pipeline or fails with a typed
//! error; a model that binds runs a short clip (frames, audio, inference, a learning step) with valid outputs.
#![no_main]
use avf_bel::weights::writer::AlignedBytes;
use avf_bel::{Modalities, Pipeline, Weights};
use avf_bel_fuzz::{check_bel, check_output, frame_from};
use libfuzzer_sys::fuzz_target;

/// Models whose run state is larger are parsed and sized but not run (the fuzzer would spend its time allocating).
const MAX_SCRATCH: usize = 1 << 22;

fuzz_target!(|data: &[u8]| {
    // The file's bytes as a robot holds them: 64-byte aligned.
    let file = AlignedBytes::new(data);
    let Ok(w) = Weights::parse(file.as_bytes()) else { return };
    let n = Pipeline::scratch_len(&w);
    if n > MAX_SCRATCH {
        return;
    }
    let mut scratch = vec![0.0f32; n];
    let Ok(mut p) = Pipeline::new(&w, &mut scratch) else { return };
    let cfg = *p.config();
    let frame = frame_from(&p, &data[..data.len().min(64)]);
    for _ in 0..cfg.visual.channels as usize * cfg.visual.stride_frames.max(1) as usize {
        p.push_frame(&frame).expect("a frame of the model's own size");
    }
    let pcm: Vec<f32> = (0..2 * cfg.audio.n_fft as usize).map(|i| 0.5 * (i as f32 * 0.05).sin()).collect();
    p.push_audio(&pcm).expect("audio in -1..1");
    match p.infer(Modalities::BOTH) {
        Ok(o) => check_output(&o),
        Err(_) => return, // a typed refusal is fine; what matters is that it is not a panic
    }
    let _ = p.learn(&[0.5; avf_bel::N_EMOTIONS]);
    check_bel(&mut p);
});
