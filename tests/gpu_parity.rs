//! GPU parity against the CPU core on a CUDA device (needs an NVIDIA GPU with a CUDA ≥ 11.4 driver; prints why it
//! skips otherwise): the start-up self-test on f32, f16 and int8 models with the tolerances the emulator test holds
//! (blocks within fp16 tolerance, the cortex bit for bit, the head within 1e-6, |ΔEPP| ≤ 0.005), then |ΔEPP| on the
//! five built-in 3-s stimuli with the shipped model, and the same outputs bit for bit with the auditory cortex on the
//! device or on the host. Run on an H200 (docs/gpu.md, "Measured on an H200").

mod gpu_common;

use avf_bel::backend::{open, Device};
use avf_bel::gpu::cuda::CudaLauncher;
use avf_bel::gpu::selftest::self_test;
use avf_bel::gpu::{open_on, CortexPlacement, GpuPipeline};
use avf_bel::model::{encode, seeded, Precision};
use avf_bel::weights::writer::AlignedBytes;
use avf_bel::{ModelConfig, Pipeline, Weights};
use gpu_common::{prototypes, run_clip, MAX_BLOCK_REL_ERR, MAX_EPP_DIFF, MAX_HEAD_DIFF};

/// A CUDA device, or a printed reason to skip.
fn gpu_or_skip(test: &str) -> Option<CudaLauncher> {
    match CudaLauncher::open() {
        Ok(d) => {
            let i = avf_bel::gpu::Launcher::info(&d).clone();
            eprintln!("{test}: GPU {} (sm_{}{}), {}", i.name, i.cc.0, i.cc.1, i.build);
            Some(d)
        }
        Err(why) => {
            eprintln!("SKIPPED {test}: {why}");
            None
        }
    }
}

#[test]
fn self_test_passes_for_f32_f16_and_int8_models() {
    if gpu_or_skip("self_test_passes_for_f32_f16_and_int8_models").is_none() {
        return;
    }
    for cfg in [ModelConfig::tiny(), ModelConfig::default()] {
        for p in [Precision::F32, Precision::F16, Precision::Int8] {
            let bytes = encode(&cfg, &seeded(&cfg, 3), p).unwrap();
            let buf = AlignedBytes::new(&bytes);
            let w = Weights::parse(buf.as_bytes()).unwrap();
            let mut scratch = vec![0.0f32; GpuPipeline::scratch_len(&w)];
            let dev = CudaLauncher::open().unwrap();
            let mut g =
                open_on(Box::new(dev), &w, buf.as_bytes(), &mut scratch).unwrap_or_else(|e| panic!("{p:?}: {e}"));
            let rep = self_test(&mut g, buf.as_bytes()).unwrap();
            let what = format!("{}x{} {p:?}", cfg.visual.height, cfg.visual.width);
            eprintln!("{what}: {rep}");
            for (i, (e, s)) in rep.blocks.iter().enumerate() {
                assert!(e / s.max(1e-3) <= MAX_BLOCK_REL_ERR, "{what}: block {i}");
            }
            assert!(rep.cortex_bit_exact, "{what}: cortex not bit-exact (max |Δ| {} Hz)", rep.cortex_max_diff);
            assert!(rep.head <= MAX_HEAD_DIFF, "{what}: head {}", rep.head);
            assert!(rep.epp_diff <= MAX_EPP_DIFF, "{what}: |ΔEPP| {}", rep.epp_diff);
        }
    }
}

#[test]
fn stimuli_epp_matches_the_cpu_core() {
    if gpu_or_skip("stimuli_epp_matches_the_cpu_core").is_none() {
        return;
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/default.avfw");
    let file = AlignedBytes::read(&path).unwrap();
    let w = Weights::parse(file.as_bytes()).unwrap();
    let (mut cs, mut gs) = (Vec::new(), Vec::new());
    // As `--device cuda` opens it: the cortex where AVF_BEL_GPU_CORTEX says (the host by default).
    let mut gpu = open(Device::Cuda, &w, file.as_bytes(), &mut cs, &mut gs).unwrap();
    let mut scratch = vec![0.0f32; Pipeline::scratch_len(&w)];
    let mut cpu = Pipeline::new(&w, &mut scratch).unwrap();
    let mut worst = 0.0f32;
    for (name, s) in prototypes(w.config(), 3.0) {
        let (a, b) = (run_clip(&mut cpu, &s), run_clip(gpu.as_mut(), &s));
        let d = (a.epp - b.epp).abs();
        println!("PARITY {name} epp_cpu={:.5} epp_gpu={:.5} diff={d:.2e}", a.epp, b.epp);
        worst = worst.max(d);
    }
    assert!(worst <= MAX_EPP_DIFF, "|ΔEPP| {worst}");
}

/// The cortex kernel inside the whole pipeline gives the same outputs, bit for bit, as the host cortex on the
/// shipped model's stimuli (the kernel reproduces the CPU spike trains; the test above compares with the CPU core).
#[test]
fn cortex_on_the_device_gives_the_host_cortex_bits() {
    let Some(dev) = gpu_or_skip("cortex_on_the_device_gives_the_host_cortex_bits") else {
        return;
    };
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/default.avfw");
    let file = AlignedBytes::read(&path).unwrap();
    let w = Weights::parse(file.as_bytes()).unwrap();
    let mut gs = vec![0.0f32; GpuPipeline::scratch_len(&w)];
    let mut g = open_on(Box::new(dev), &w, file.as_bytes(), &mut gs).unwrap();
    for (name, s) in prototypes(w.config(), 3.0) {
        let mut outs = Vec::new();
        for p in [CortexPlacement::Device, CortexPlacement::Host] {
            g.set_cortex_placement(p).unwrap();
            outs.push(run_clip(&mut g, &s));
        }
        let bits = |o: &avf_bel::Output| (o.epp.to_bits(), o.emotions.map(f32::to_bits));
        println!("PLACEMENT {name} epp_device={:.6} epp_host={:.6}", outs[0].epp, outs[1].epp);
        assert_eq!(bits(&outs[0]), bits(&outs[1]), "{name}: {:?} vs {:?}", outs[0], outs[1]);
    }
}
