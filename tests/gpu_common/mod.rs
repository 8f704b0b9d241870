//! Shared by the GPU tests (`gpu_emulator` on the CPU emulator, `gpu_parity` on a CUDA device): the built-in stimuli
//! through two backends, and the tolerances the issue sets for the GPU path.
#![allow(dead_code)]

use avf_bel::stimuli::{render, Params, RenderOptions, Stimulus, PROTOTYPES};
use avf_bel::{Backend, Modalities, ModelConfig, Output};

/// Largest |ΔEPP| between the GPU and the CPU core on a stimulus.
pub const MAX_EPP_DIFF: f32 = 0.005;
/// Largest CORnet-Z block error relative to the block's largest value: fp16 storage and fp16 products of K·K taps
/// (f32 across channels); measured ≈ 2e-3.
pub const MAX_BLOCK_REL_ERR: f32 = 1e-2;
/// Largest difference of the head's outputs (absolute below 1, relative above).
pub const MAX_HEAD_DIFF: f32 = 1e-6;

/// The five built-in stimuli (the study's prototypes), rendered at the model's size, rate and sample rate.
pub fn prototypes(cfg: &ModelConfig, seconds: f64) -> Vec<(&'static str, Stimulus)> {
    PROTOTYPES
        .iter()
        .map(|&name| {
            let p = Params::prototype(name).expect("a built-in prototype");
            (name, render(&p, &RenderOptions::for_model(cfg, seconds, 0)).expect("renders"))
        })
        .collect()
}

/// One clip through a backend: all its audio (in 2048-sample chunks, as a stream), all its frames, then infer.
pub fn run_clip(b: &mut dyn Backend, s: &Stimulus) -> Output {
    for chunk in s.audio.chunks(2048) {
        b.push_audio(chunk).expect("push audio");
    }
    for i in 0..s.n_frames() {
        b.push_frame(s.frame(i)).expect("push frame");
    }
    b.infer(Modalities::BOTH).expect("infer")
}
