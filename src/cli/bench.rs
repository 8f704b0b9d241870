//! `avf-bel bench`: time one stage on synthetic input and print the median (optionally as one JSON line).

use super::device::Device;
use super::{CliResult, Failure, PrecisionArg};
use avf_bel::json::{BenchRecord, KernelsRecord, ModelHash, Record};
use avf_bel::model::{encode, seeded, Precision};
use avf_bel::weights::Weights;
use avf_bel::{Modalities, ModelConfig};
use std::time::Instant;

/// Examples for `bench --help`.
pub const EXAMPLES: &str = "Examples:
  avf-bel bench --stage visual --size 64 --channels 5 --precision int8   # one CORnet-Z stack
  avf-bel bench --stage pipeline --json                                  # 1 s clip, one JSON object
  avf-bel bench --stage audio --iters 20                                 # front-end + cortex on 1 s of audio
  avf-bel bench --stage pipeline --background on                         # as the shipped model runs

Timings are wall-clock medians on this machine; see the README, \"Performance\", for reproducible numbers.";

/// What `bench` times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Stage {
    /// One CORnet-Z stack.
    Visual,
    /// 1 s of audio through front-end, cortex and read-out.
    Audio,
    /// A 1 s clip (1 s audio + 30 frames), fused inference.
    Pipeline,
}

/// `avf-bel bench` options.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The stage to time.
    #[arg(long, value_enum, default_value_t = Stage::Visual)]
    pub stage: Stage,
    /// Frame width = height, pixels (16–1024).
    #[arg(long, default_value_t = 64)]
    pub size: u16,
    /// Frames per CORnet-Z stack.
    #[arg(long, default_value_t = 5)]
    pub channels: u8,
    /// Threads (the CPU core is single-threaded by design: only 1 runs).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Precision of the seeded model (f16 is a storage format: the CPU computes it in f32).
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32)]
    pub precision: PrecisionArg,
    /// Timed runs.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub iters: u32,
    /// Print one JSON object (see the README, "JSON output").
    #[arg(long)]
    pub json: bool,
    /// Where to run.
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    pub device: Device,
    /// The visual background (each frame aligned to a running background and replaced by its difference from it,
    /// as the shipped model does): off by default, so that the figures are CORnet-Z's and the pipeline's alone, as
    /// the README's and `benches/compare.sh`'s are; `on` adds its cost to every pushed frame.
    #[arg(long, value_enum, default_value_t = super::train::Switch::Off)]
    pub background: super::train::Switch,
}

/// Run.
pub fn run(a: BenchArgs) -> CliResult {
    const CMD: &str = "bench";
    let (stage, size, channels, threads, iters, json, device) =
        (a.stage, a.size, a.channels, a.threads, a.iters as usize, a.json, a.device);
    let precision = Precision::from(a.precision);
    if threads != 1 {
        return Err(Failure::usage(
            CMD,
            format!("--threads {threads}: the CPU core is single-threaded by design; only --threads 1 runs"),
        ));
    }
    if precision == Precision::F16 {
        return Err(Failure::usage(
            CMD,
            "--precision f16: fp16 is a storage format on the CPU (it computes in f32); use f32 or int8",
        ));
    }
    let mut cfg = ModelConfig::default();
    if a.background == super::train::Switch::Off {
        cfg.input.background_tau_ms = 0;
    }
    cfg.visual.height = size;
    cfg.visual.width = size;
    cfg.visual.channels = channels;
    if stage == Stage::Visual {
        cfg.visual.stride_frames = 1; // every timed push runs one stack
    }
    cfg.validate().map_err(|e| Failure::usage(CMD, format!("--size/--channels: {e}")))?;
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
        match stage {
            Stage::Visual => p.push_frame(&frames[i % frames.len()]),
            Stage::Audio => {
                p.push_audio(&pcm)?;
                p.infer(Modalities::AUDIO).map(|_| ())
            }
            Stage::Pipeline => {
                p.push_audio(&pcm)?;
                for f in 0..30 {
                    p.push_frame(&frames[f % frames.len()])?;
                }
                p.infer(Modalities::BOTH).map(|_| ())
            }
        }
    };
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
        return Err(e.into());
    }
    // What the pipeline itself chose at construction (AVF_BEL_KERNELS or the best level of this CPU).
    let kernels = p.kernels();
    let kernel = match kernels {
        Some(k) => k.name(),
        None if p.name() == "cuda" => "cuda-fp16",
        None => p.name(),
    };
    times.sort_by(|a, b| a.total_cmp(b));
    // Milliseconds to the nanosecond: no float noise in the JSON.
    let times: Vec<f64> = times.iter().map(|t| (t * 1e6).round() / 1e6).collect();
    let median = times[times.len() / 2];
    let p10 = times[times.len() / 10];
    let p90 = times[times.len() * 9 / 10];
    let background = cfg.input.background_tau_ms != 0;
    let unit = match (stage, background) {
        (Stage::Visual, false) => "one CORnet-Z stack",
        (Stage::Visual, true) => "one CORnet-Z stack and its frame's visual background",
        (Stage::Audio, _) => "1 s of audio through front-end, cortex and read-out",
        (Stage::Pipeline, false) => "1 s clip: 1 s audio + 30 frames, fused inference",
        (Stage::Pipeline, true) => "1 s clip: 1 s audio + 30 frames with the visual background, fused inference",
    };
    let prec = format!("{precision:?}").to_lowercase();
    let stage_name = format!("{stage:?}").to_lowercase();
    if json {
        let r = BenchRecord {
            stage: stage_name,
            unit,
            size,
            channels,
            threads,
            precision: prec,
            iters,
            median_ms: median,
            p10_ms: p10,
            p90_ms: p90,
            kernel,
            kernels: kernels.map(KernelsRecord::from),
            model_hash: ModelHash(w.model_hash()),
        };
        println!("{}", Record::Bench(r).to_line());
    } else {
        println!(
            "{stage_name} ({unit}) {size}x{size}x{channels} {prec}: median {median:.3} ms (p10 {p10:.3}, p90 {p90:.3}) over {iters} runs, kernels {}",
            kernels.map_or_else(|| kernel.to_string(), |k| k.to_string())
        );
    }
    Ok(())
}
