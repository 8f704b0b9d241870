//! Criterion benchmarks: each stage and the whole pipeline, f32 and int8, CORnet-Z at 64², 96² and 224², batch 1,
//! one thread, on every kernel level this CPU runs (benchmark ids name the level: `f32-avx2/64x64x3`). Run with
//! `cargo bench --bench pipeline`; compare against ONNX Runtime with `benches/compare.sh`.

use avf_bel::audio::cortex::Cortex;
use avf_bel::audio::frontend::FrontEnd;
use avf_bel::audio::FrameFeatures;
use avf_bel::kernels::{Kernels, Level};
use avf_bel::model::{encode, seeded, Precision};
use avf_bel::weights::writer::AlignedBytes;
use avf_bel::{Modalities, ModelConfig, Pipeline, Weights, LIBROSA_TOP_DB, SOUND_FLOOR};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;
use std::time::Duration;

/// A seeded model without the visual background (its own group below times it), so that the stacks and the
/// pipeline are timed as `benches/compare.sh` and the README's history time them.
fn model(size: u16, channels: u8, p: Precision) -> (ModelConfig, AlignedBytes) {
    let mut cfg = ModelConfig::default();
    cfg.input.background_tau_ms = 0;
    cfg.visual.height = size;
    cfg.visual.width = size;
    cfg.visual.channels = channels;
    cfg.visual.stride_frames = 1;
    let bytes = encode(&cfg, &seeded(&cfg, 1), p).unwrap();
    (cfg, AlignedBytes::new(&bytes))
}

fn frames(cfg: &ModelConfig, n: usize) -> Vec<Vec<u8>> {
    let len = cfg.visual.height as usize * cfg.visual.width as usize;
    (0..n).map(|t| (0..len).map(|i| ((i * 7 + t * 13) % 251) as u8).collect()).collect()
}

fn tone(cfg: &ModelConfig, seconds: f32) -> Vec<f32> {
    let sr = cfg.audio.sample_rate as f32;
    (0..(seconds * sr) as usize)
        .map(|i| {
            let t = (i % 5000) as f32 / sr;
            0.4 * (-6.0 * t).exp() * (2.0 * std::f32::consts::PI * 330.0 * t).sin()
        })
        .collect()
}

/// Every kernel level this CPU runs, lowest first.
fn levels() -> Vec<Kernels> {
    Level::ALL.into_iter().filter_map(|l| Kernels::for_level(l).ok()).collect()
}

fn visual(c: &mut Criterion) {
    let mut g = c.benchmark_group("visual_cornet_z_stack");
    g.sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    for k in levels() {
        for (p, name) in [(Precision::F32, "f32"), (Precision::Int8, "int8")] {
            for size in [64u16, 96, 224] {
                let (cfg, buf) = model(size, 3, p);
                let w = Weights::parse(buf.as_bytes()).unwrap();
                let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
                let mut pipe = Pipeline::with_kernels(&w, &mut scratch, k).unwrap();
                let fr = frames(&cfg, 4);
                for f in &fr {
                    pipe.push_frame(f).unwrap();
                }
                let mut i = 0;
                let id = BenchmarkId::new(format!("{name}-{}", k.level()), format!("{size}x{size}x3"));
                g.bench_with_input(id, &size, |b, _| {
                    b.iter(|| {
                        i += 1;
                        black_box(pipe.visual().push_frame(&fr[i % fr.len()]).unwrap())
                    })
                });
            }
        }
    }
    g.finish();
}

fn audio(c: &mut Criterion) {
    let cfg = ModelConfig::default();
    let pcm = tone(&cfg, 1.0);
    let mut g = c.benchmark_group("audio_1s");
    g.sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_millis(500));
    let mut scratch = vec![0.0; FrontEnd::scratch_len(&cfg.audio)];
    let mut fe = FrontEnd::new(&cfg.audio, &mut scratch).unwrap();
    // The front end as each model format asks for it; each line's cost over the one before is the difference: the
    // running loudness normaliser of format-3 models, then a sound-floor model's narrower onset range (format 4,
    // `avf-bel train --sound-floor on`; the drive's floor costs nothing, another constant in the same expression).
    for (name, loudness_tau_ms, onset_range_db) in [
        ("frontend", 0, LIBROSA_TOP_DB),
        ("frontend_loudness_normalised", 2000, LIBROSA_TOP_DB),
        ("frontend_sound_floor", 2000, SOUND_FLOOR.0),
    ] {
        fe.set_loudness(loudness_tau_ms);
        fe.set_onset_range(onset_range_db);
        g.bench_function(name, |b| {
            b.iter(|| {
                fe.reset();
                fe.push(&pcm, &mut |_f: &FrameFeatures| {}).unwrap();
                fe.finish(&mut |_f: &FrameFeatures| {}).unwrap();
                black_box(fe.summary())
            })
        });
    }
    fe.set_onset_range(LIBROSA_TOP_DB);
    fe.set_loudness(0);
    // Record the frames once, then time the cortex alone.
    let mels = cfg.audio.n_mels as usize;
    let mut recorded: Vec<(f32, Vec<f32>)> = Vec::new();
    fe.reset();
    fe.push(&pcm, &mut |f: &FrameFeatures| recorded.push((f.onset, f.mel_db.to_vec()))).unwrap();
    let mut cs = vec![0.0; Cortex::scratch_len(&cfg.cortex)];
    let mut cortex = Cortex::new(&cfg.cortex, &cfg.audio, &mut cs).unwrap();
    let mut feats = vec![0.0; Cortex::n_features(&cfg.cortex)];
    // The cortex at every level's vector width (the same compilation the pipeline of that level runs).
    for k in levels() {
        cortex.set_level(k.level()).unwrap();
        let id = BenchmarkId::new("cortex_pyr800_pv200_som200_dt0.1ms", k.level());
        g.bench_function(id, |b| {
            b.iter(|| {
                cortex.reset();
                for (i, (onset, mel)) in recorded.iter().enumerate() {
                    let f = FrameFeatures {
                        index: i as u32,
                        rms: 0.1,
                        pitch_mean: 0.0,
                        tonnetz: [0.0; 6],
                        onset: *onset,
                        mel_db: &mel[..mels],
                    };
                    cortex.step_frame(&f);
                }
                cortex.features(&mut feats);
                black_box(feats[0])
            })
        });
    }
    g.finish();
}

fn pipeline(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline_1s_clip");
    g.sample_size(10).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_millis(500));
    let runs = levels().into_iter().flat_map(|k| [(k, Precision::F32, "f32"), (k, Precision::Int8, "int8")]);
    for (k, p, name) in runs {
        let name = format!("{name}-{}", k.level());
        // Without the visual background, as `model` (the `visual_background` group times it).
        let cfg = ModelConfig {
            input: avf_bel::InputConfig { background_tau_ms: 0, ..Default::default() },
            ..Default::default()
        };
        let bytes = encode(&cfg, &seeded(&cfg, 1), p).unwrap();
        let buf = AlignedBytes::new(&bytes);
        let w = Weights::parse(buf.as_bytes()).unwrap();
        let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
        let mut pipe = Pipeline::with_kernels(&w, &mut scratch, k).unwrap();
        let pcm = tone(&cfg, 1.0);
        let fr = frames(&cfg, 30);
        g.bench_function(BenchmarkId::new(&name, "64x64x5_30fps_22050Hz"), |b| {
            b.iter(|| {
                pipe.push_audio(&pcm).unwrap();
                for f in &fr {
                    pipe.push_frame(f).unwrap();
                }
                black_box(pipe.infer(Modalities::BOTH).unwrap())
            })
        });
        // Fusion + BEL alone: the inference step after features exist (video-only, a single stack).
        g.bench_function(BenchmarkId::new(&name, "fusion_bel_readout"), |b| {
            b.iter_batched(
                || (),
                |_| {
                    for f in fr.iter().take(cfg.visual.channels as usize) {
                        pipe.push_frame(f).unwrap();
                    }
                    black_box(pipe.infer(Modalities::VIDEO).unwrap())
                },
                criterion::BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

/// Per-frame luminance normalisation (format-3 models) of one 64×64 frame: its whole cost on the visual side.
fn luma(c: &mut Criterion) {
    let cfg = ModelConfig::default();
    let fr = frames(&cfg, 1);
    let mut out = vec![0u8; fr[0].len()];
    let mut g = c.benchmark_group("visual_luma");
    g.sample_size(20).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(300));
    g.bench_function("normalise_64x64", |b| {
        b.iter(|| {
            avf_bel::visual::normalise_luma(black_box(&fr[0]), &mut out);
            black_box(out[0])
        })
    });
    g.finish();
}

/// The visual background (format 5 and 6 models, `--background on`; gated as the default configuration) on 64×64
/// frames, per frame: the 49-shift alignment, the noise estimate, the cored (or gated, where the frame has noise)
/// difference and the update (its whole cost: the search dominates). Three scenes, as the search's work depends on
/// them: `frame_64x64` alternates two unrelated patterns, so no shift matches and none is abandoned early (the worst
/// case); `stimulus_clip` is a rendered stimulus (the happy prototype, a ball on a plain backdrop: shifts are
/// near-ties and few are abandoned), in clip order; `textured_shaking` is a random texture seen by a camera that
/// shakes by up to ±2 px with sensor noise (a robot's room: most shifts are abandoned early).
fn background(c: &mut Criterion) {
    let cfg = ModelConfig::default();
    let (h, w) = (cfg.visual.height as usize, cfg.visual.width as usize);
    let clip = {
        let p = avf_bel::stimuli::Params::prototype("happy").unwrap();
        let opts = avf_bel::stimuli::RenderOptions::for_model(&cfg, 3.0, 0);
        let frames = avf_bel::stimuli::render_frames(&p, &opts).unwrap();
        frames.chunks_exact(h * w).map(<[u8]>::to_vec).collect::<Vec<_>>()
    };
    let shaking = {
        let mut s = 11u64;
        let mut next = move || {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (s >> 33) as usize
        };
        let (bh, bw) = (h + 4, w + 4);
        let texture: Vec<u8> = (0..bh * bw).map(|_| (30 + next() % 200) as u8).collect();
        (0..30)
            .map(|_| {
                let (dx, dy) = (next() % 5, next() % 5);
                (0..h * w).map(|i| texture[(i / w + dy) * bw + i % w + dx].saturating_add((next() % 7) as u8)).collect()
            })
            .collect::<Vec<Vec<u8>>>()
    };
    let mut g = c.benchmark_group("visual_background");
    g.sample_size(20).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(300));
    let scenes = [("frame_64x64", frames(&cfg, 2)), ("stimulus_clip", clip), ("textured_shaking", shaking)];
    // Per kernel level (ids `visual_background/portable/stimulus_clip`): the levels differ in the search only. Each
    // scene as the default configuration has the background (gated, its rows levelled; format 7 models), gated with
    // the rows as given (`…_unlevelled`, format 6) and pixel by pixel (`…_per_pixel`, format 5); gated and pixel
    // coring differ only where the frame has noise (`textured_shaking`).
    for k in levels() {
        for (name, fr) in &scenes {
            for (gate, level_rows, suffix) in
                [(true, true, ""), (true, false, "_unlevelled"), (false, false, "_per_pixel")]
            {
                let mut scratch = vec![0.0f32; avf_bel::visual::Background::scratch_len(&cfg.visual)];
                let input = avf_bel::InputConfig {
                    background_tau_ms: avf_bel::BACKGROUND_TAU_MS,
                    background_gate: gate,
                    background_level_rows: level_rows,
                    ..avf_bel::InputConfig::default()
                };
                let mut bg = avf_bel::visual::Background::for_input(&cfg.visual, &input, &mut scratch, k).unwrap();
                bg.apply(&fr[0]).unwrap();
                let mut t = 0usize;
                g.bench_function(BenchmarkId::new(k.level().name(), format!("{name}{suffix}")), |b| {
                    b.iter(|| {
                        t += 1;
                        let out = bg.apply(black_box(&fr[t % fr.len()])).unwrap();
                        black_box(out[0])
                    })
                });
            }
        }
    }
    g.finish();
}

criterion_group!(benches, visual, audio, pipeline, luma, background);
criterion_main!(benches);
