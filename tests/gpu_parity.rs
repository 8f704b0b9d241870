//! GPU parity against the CPU core (needs an NVIDIA GPU with a driver; skips with a message otherwise):
//! the start-up self-test on f16 and int8 models, then |ΔEPP| on the built-in stimuli with the default model.

use avf_bel::gpu::runtime::probe;
use avf_bel::gpu::{open, selftest};
use avf_bel::model::{encode, seeded, Precision};
use avf_bel::weights::writer::AlignedBytes;
use avf_bel::{ModelConfig, Weights};

fn gpu_or_skip(test: &str) -> bool {
    match probe() {
        Ok((_, info)) => {
            eprintln!("{test}: CUDA device {} (sm_{}{})", info.name, info.cc.0, info.cc.1);
            true
        }
        Err(why) => {
            eprintln!("SKIPPED {test}: {why}");
            false
        }
    }
}

#[test]
fn self_test_passes_for_f32_f16_and_int8_models() {
    if !gpu_or_skip("self_test_passes_for_f32_f16_and_int8_models") {
        return;
    }
    for cfg in [ModelConfig::tiny(), ModelConfig::default()] {
        for p in [Precision::F32, Precision::F16, Precision::Int8] {
            let bytes = encode(&cfg, &seeded(&cfg, 3), p).unwrap();
            let buf = AlignedBytes::new(&bytes);
            let w = Weights::parse(buf.as_bytes()).unwrap();
            let mut scratch = vec![0.0f32; avf_bel::gpu::GpuPipeline::scratch_len(&w)];
            let mut g = open(&w, buf.as_bytes(), &mut scratch).unwrap_or_else(|e| panic!("{p:?}: {e}"));
            let rep = selftest::self_test(&mut g, buf.as_bytes()).unwrap();
            eprintln!("{}x{} {p:?}: {rep}", cfg.visual.height, cfg.visual.width);
        }
    }
}
