//! `avf-bel bench`: time one stage on synthetic input and print the median (optionally as one JSON line).

use super::Opts;
use avf_bel::model::{encode, seeded, Precision};
use avf_bel::weights::Weights;
use avf_bel::{Modalities, ModelConfig};
use std::time::Instant;

/// Run.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut o = Opts::new(args);
    let stage = o.value("--stage")?.unwrap_or("visual").to_string();
    let size: u16 = o.parse("--size", 64)?;
    let channels: u8 = o.parse("--channels", 5)?;
    let threads: usize = o.parse("--threads", 1)?;
    let precision: Precision = o.parse("--precision", Precision::F32)?;
    let iters: usize = o.parse("--iters", 50)?;
    let json = o.flag("--json");
    let device: super::device::Device = o.parse("--device", super::device::Device::Cpu)?;
    o.finish()?;
    if iters == 0 {
        return Err("--iters must be at least 1".into());
    }
    if threads != 1 {
        return Err(format!("--threads {threads}: the CPU core is single-threaded by design; only --threads 1 runs"));
    }
    if precision == Precision::F16 {
        return Err("--precision f16: fp16 is a storage format on the CPU (it computes in f32); use f32 or int8".into());
    }
    let mut cfg = ModelConfig::default();
    cfg.visual.height = size;
    cfg.visual.width = size;
    cfg.visual.channels = channels;
    if stage == "visual" {
        cfg.visual.stride_frames = 1; // every timed push runs one stack
    }
    cfg.validate().map_err(|e| e.to_string())?;
    let bytes = encode(&cfg, &seeded(&cfg, 1), precision).map_err(|e| e.to_string())?;
    let buf = avf_bel::weights::writer::AlignedBytes::new(&bytes);
    let w = Weights::parse(buf.as_bytes()).map_err(|e| e.to_string())?;
    let (mut scratch, mut gpu_scratch) = (Vec::new(), Vec::new());
    let mut p = super::device::Engine::open(device, &w, buf.as_bytes(), &mut scratch, &mut gpu_scratch)?;
    let frame_len = size as usize * size as usize;
    let frames: Vec<Vec<u8>> =
        (0..8u32).map(|t| (0..frame_len as u32).map(|i| ((i * 7 + t * 13) % 251) as u8).collect()).collect();
    let sr = cfg.audio.sample_rate as usize;
    let pcm: Vec<f32> = (0..sr).map(|i| 0.3 * (i as f32 * 0.0627).sin()).collect();
    let mut times = Vec::with_capacity(iters);
    let mut err = None;
    let run_once = |p: &mut super::device::Engine<'_>, i: usize| -> Result<(), String> {
        match stage.as_str() {
            "visual" => p.push_frame(&frames[i % frames.len()]),
            "audio" => {
                p.push_audio(&pcm)?;
                p.infer(Modalities::AUDIO).map(|_| ())
            }
            _ => {
                p.push_audio(&pcm)?;
                for f in 0..30 {
                    p.push_frame(&frames[f % frames.len()])?;
                }
                p.infer(Modalities::BOTH).map(|_| ())
            }
        }
    };
    if !["visual", "audio", "pipeline"].contains(&stage.as_str()) {
        return Err(format!("unknown stage `{stage}` (expected visual, audio or pipeline)"));
    }
    // Fill the frame ring so every timed visual push runs one CORnet-Z stack.
    for i in 0..channels as usize + 2 {
        run_once(&mut p, i)?;
    }
    p.synchronize()?;
    for i in 0..iters {
        let t0 = Instant::now();
        if let Err(e) = run_once(&mut p, i).and_then(|_| p.synchronize()) {
            err = Some(e);
            break;
        }
        times.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    if let Some(e) = err {
        return Err(e);
    }
    let kernel = if p.name() == "cuda" { "cuda-fp16" } else { avf_bel::kernels::kernel_name() };
    times.sort_by(|a, b| a.total_cmp(b));
    let median = times[times.len() / 2];
    let p10 = times[times.len() / 10];
    let p90 = times[times.len() * 9 / 10];
    let unit = match stage.as_str() {
        "visual" => "one CORnet-Z stack",
        "audio" => "1 s of audio through front-end, cortex and read-out",
        _ => "1 s clip: 1 s audio + 30 frames, fused inference",
    };
    let prec = format!("{precision:?}").to_lowercase();
    if json {
        println!(
            "{{\"stage\":\"{stage}\",\"size\":{size},\"channels\":{channels},\"threads\":{threads},\"precision\":\"{prec}\",\"iters\":{iters},\"median_ms\":{median:.4},\"p10_ms\":{p10:.4},\"p90_ms\":{p90:.4},\"kernel\":\"{kernel}\"}}"
        );
    } else {
        println!(
            "{stage} ({unit}) {size}x{size}x{channels} {prec}: median {median:.3} ms (p10 {p10:.3}, p90 {p90:.3}) over {iters} runs, kernel {kernel}"
        );
    }
    Ok(())
}
