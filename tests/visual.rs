//! CORnet-Z against ONNX Runtime golden vectors (tools/golden_cornet.py), f32 and int8, on every kernel level this
//! machine runs; and the whole pipeline on each level against the portable level.

mod common;
use avf_bel::kernels::{Kernels, Level};
use avf_bel::model::{encode, seeded, Precision, SplitMix64};
use avf_bel::weights::writer::AlignedBytes;
use avf_bel::{Modalities, ModelConfig, Pipeline, Weights};

/// The kernel levels this machine runs, portable first; prints the ones it skips.
fn levels() -> Vec<Kernels> {
    let mut out = Vec::new();
    for level in Level::ALL {
        match Kernels::for_level(level) {
            Ok(k) => out.push(k),
            Err(e) => eprintln!("skipping kernel level `{level}`: {e}"),
        }
    }
    out
}

struct Case {
    name: String,
    seed: u64,
    channels: u8,
    size: u16,
    widths: [u16; 4],
    it: Vec<f32>,
}

fn golden() -> Vec<Case> {
    let text = include_str!("data/cornet_golden.txt");
    let mut cases: Vec<Case> = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("case ") {
            let f: Vec<&str> = rest.split_whitespace().collect();
            cases.push(Case {
                name: f[0].into(),
                seed: f[1].parse().unwrap(),
                channels: f[2].parse().unwrap(),
                size: f[3].parse().unwrap(),
                widths: [f[4].parse().unwrap(), f[5].parse().unwrap(), f[6].parse().unwrap(), f[7].parse().unwrap()],
                it: Vec::new(),
            });
        } else {
            cases.last_mut().unwrap().it.push(line.parse().unwrap());
        }
    }
    assert_eq!(cases.len(), 3, "golden file lists three cases");
    cases
}

/// The same weight stream as tools/cornet_onnx.py: Xavier-uniform conv weights block by block, then biases.
fn model_bytes(c: &Case, precision: Precision) -> (ModelConfig, Vec<u8>) {
    let mut cfg = ModelConfig::tiny();
    cfg.visual.channels = c.channels;
    cfg.visual.height = c.size;
    cfg.visual.width = c.size;
    cfg.visual.widths = c.widths;
    cfg.visual.stride_frames = 1;
    // The ONNX graph is CORnet-Z alone: no input normalisation in front of it.
    cfg.input = avf_bel::InputConfig::OFF;
    let mut tensors = seeded(&cfg, 0);
    let mut rng = SplitMix64(c.seed);
    let mut cin = c.channels as usize;
    let names = ["v1", "v2", "v4", "it"];
    for (i, name) in names.iter().enumerate() {
        let k = if i == 0 { 7 } else { 3 };
        let cout = c.widths[i] as usize;
        let a = (6.0f32 / (cin * k * k + cout * k * k) as f32).sqrt();
        let w: Vec<f32> = (0..cout * cin * k * k).map(|_| rng.uniform(a)).collect();
        tensors.iter_mut().find(|t| t.0 == format!("visual.{name}.weight")).unwrap().2 = w;
        cin = cout;
    }
    for (i, name) in names.iter().enumerate() {
        let b: Vec<f32> = (0..c.widths[i] as usize).map(|_| rng.uniform(0.1)).collect();
        tensors.iter_mut().find(|t| t.0 == format!("visual.{name}.bias")).unwrap().2 = b;
    }
    (cfg, encode(&cfg, &tensors, precision).unwrap())
}

/// Frame t, pixel i = (31·i + 17·t) mod 256.
fn frames(channels: u8, size: u16) -> Vec<Vec<u8>> {
    let n = size as usize * size as usize;
    (0..channels as usize).map(|t| (0..n).map(|i| ((31 * i + 17 * t) % 256) as u8).collect()).collect()
}

fn it_features(c: &Case, precision: Precision, k: Kernels) -> Vec<f32> {
    it_features_on(c, precision, k, frames(c.channels, c.size))
}

/// IT's features of `c`'s model at `precision` on `k` after one stack of `frames`.
fn it_features_on(c: &Case, precision: Precision, k: Kernels, frames: Vec<Vec<u8>>) -> Vec<f32> {
    let (_, bytes) = model_bytes(c, precision);
    let buf = AlignedBytes::new(&bytes);
    let w = Weights::parse(buf.as_bytes()).unwrap();
    let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
    let mut p = Pipeline::with_kernels(&w, &mut scratch, k).unwrap();
    assert_eq!(p.kernels(), k.report());
    let mut ran = 0;
    for f in frames {
        ran += p.visual().push_frame(&f).unwrap() as usize;
    }
    assert_eq!(ran, 1, "exactly one stack once `channels` frames are in");
    p.visual().it_features().to_vec()
}

#[test]
fn f32_pathway_matches_onnx_runtime_on_every_level() {
    for k in levels() {
        for c in golden() {
            let got = it_features(&c, Precision::F32, k);
            assert_eq!(got.len(), c.it.len());
            let scale = c.it.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(scale > 0.01, "{}: golden vector is not degenerate", c.name);
            for (i, (g, r)) in got.iter().zip(&c.it).enumerate() {
                // 1e-5 of the vector's largest value; f32 sums in another order differ by ~1e-6 relative.
                assert!((g - r).abs() <= 1e-5 * scale, "{k:?} {} [{i}]: {g} vs ORT {r}", c.name);
            }
        }
    }
}

#[test]
fn f16_storage_stays_close_to_onnx_runtime() {
    for c in golden() {
        let got = it_features(&c, Precision::F16, Kernels::detect());
        let err = rel_l2(&got, &c.it);
        // fp16 weights carry 11 significant bits: 0.5 % relative L2 error after four layers.
        assert!(err < 5e-3, "{}: relative L2 error {err}", c.name);
    }
}

#[test]
fn int8_pathway_stays_close_to_onnx_runtime_and_is_identical_on_every_level() {
    for c in golden() {
        let portable = it_features(&c, Precision::Int8, Kernels::portable());
        let err = rel_l2(&portable, &c.it);
        // Per-channel int8 weights and per-tensor u8 activations: under 3 % relative L2 error after four layers.
        assert!(err < 0.03, "{}: relative L2 error {err}", c.name);
        assert!(err > 0.0, "{}: int8 should not be bit-identical to f32", c.name);
        for k in levels() {
            // Every int8 kernel computes the exact integer sums: the pathway is bit-identical across levels.
            assert_eq!(it_features(&c, Precision::Int8, k), portable, "{k:?} {}", c.name);
        }
    }
}

/// The int8 path keeps the frames' lowest bit on average (its 7-bit codes are halved with a dither): two stacks whose
/// bytes differ only by one, odd against even (which rounding every byte half up, `(b + 1) >> 1`, read alike), give
/// different IT features on every level, and the int8 features stay as close to f32 on both.
#[test]
fn int8_v1_keeps_the_frames_lowest_bit() {
    let c = &golden()[0];
    let n = c.size as usize * c.size as usize;
    let odd: Vec<Vec<u8>> =
        (0..c.channels as usize).map(|t| (0..n).map(|i| (((7 * i + 3 * t) % 127) * 2 + 1) as u8).collect()).collect();
    let even: Vec<Vec<u8>> = odd.iter().map(|f| f.iter().map(|&b| b + 1).collect()).collect();
    for k in levels() {
        let (a, b) =
            (it_features_on(c, Precision::Int8, k, odd.clone()), it_features_on(c, Precision::Int8, k, even.clone()));
        assert_ne!(a, b, "{k:?}: int8 V1 read frames one apart as the same input");
        for (q, f) in [
            (&a, it_features_on(c, Precision::F32, k, odd.clone())),
            (&b, it_features_on(c, Precision::F32, k, even.clone())),
        ] {
            let err = rel_l2(q, &f);
            assert!(err < 0.03, "{k:?}: int8 against f32 relative L2 error {err}");
        }
    }
}

/// The shipped int8 file against the shipped f16 file (f32 arithmetic; f16 storage moves an emotion by under 0.0003)
/// on 3-s renders of seeded random slider settings, none of them a study stimulus: max |Δemotion| within issue 13's
/// 0.02 for the int8 export. (With frames rounded half up instead of dithered, the 200 random clips of
/// `examples/int8_drift.rs` reached 0.0253; dithered, 0.0176.)
#[test]
fn shipped_int8_file_stays_within_0_02_of_the_f16_file_on_unseen_clips() {
    let load = |name: &str| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("weights").join(name);
        AlignedBytes::read(&path).unwrap()
    };
    let (f16_file, i8_file) = (load("default.avfw"), load("default-int8.avfw"));
    let (wf, wq) = (Weights::parse(f16_file.as_bytes()).unwrap(), Weights::parse(i8_file.as_bytes()).unwrap());
    let cfg = *wf.config();
    let (mut sf, mut sq) = (vec![0.0; Pipeline::scratch_len(&wf)], vec![0.0; Pipeline::scratch_len(&wq)]);
    let mut pf = Pipeline::new(&wf, &mut sf).unwrap();
    let mut pq = Pipeline::new(&wq, &mut sq).unwrap();
    let mut rng = SplitMix64(0x5EED_0113);
    let mut worst = 0.0f32;
    // Under qemu (aarch64 in CI) the first clip only: the 3-s auditory cortex of two files costs a minute there, and
    // the int8 sums are exact integers on every level and architecture, so the other eleven add nothing there. The
    // same in the debug profile (overflow checks on): one clip already runs every int8 sum under those checks, and at
    // opt-level 0 the twelve took 189 s of a plain `cargo test`; the release run keeps the twelve as the guard.
    let why = if common::emulated() {
        Some("under the emulator")
    } else if cfg!(debug_assertions) {
        Some("in the debug profile")
    } else {
        None
    };
    let clips = if why.is_some() { 1 } else { 12 };
    if let Some(why) = why {
        eprintln!("shipped int8 against f16: {clips} of the 12 random clips {why}");
    }
    for clip in 0..clips {
        // Uniform over each slider's range, as `train::random_params` draws (not called: this test also runs
        // without the `train` feature).
        let mut u = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let params = avf_bel::stimuli::Params {
            bpm: 30.0 + 370.0 * u(),
            jitter: 99.0 * u(),
            consonance: (38.0 * u()).floor().min(37.0),
            bigsmall: 100.0 * u(),
            updown: 100.0 * u(),
        };
        let opts = avf_bel::stimuli::RenderOptions::for_model(&cfg, 3.0, 9_000_000 + clip);
        let s = avf_bel::stimuli::render(&params, &opts).unwrap();
        let mut outs = Vec::new();
        for p in [&mut pf, &mut pq] {
            p.push_audio(&s.audio).unwrap();
            for fr in s.frames.chunks_exact(opts.size * opts.size) {
                p.push_frame(fr).unwrap();
            }
            outs.push(p.infer(Modalities::BOTH).unwrap());
        }
        for (a, b) in outs[0].emotions.iter().zip(&outs[1].emotions) {
            worst = worst.max((a - b).abs());
        }
    }
    eprintln!("shipped int8 against f16 on {clips} random clips: max |Δemotion| {worst:.5}");
    assert!(worst > 0.0, "the int8 file should not compute exactly what the f16 file does");
    assert!(worst <= 0.02, "int8 drifted {worst} from f16 on a random clip (bound 0.02)");
}

/// One 1-s clip (audio + frames) through the whole pipeline on `k`.
fn clip_output(precision: Precision, k: Kernels) -> avf_bel::Output {
    let (cfg, buf) = common::tiny_model(3, precision);
    let w = Weights::parse(buf.as_bytes()).unwrap();
    let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
    let mut p = Pipeline::with_kernels(&w, &mut scratch, k).unwrap();
    p.push_audio(&common::tones(&cfg, 1.0, 3000)).unwrap();
    for t in 0..12 {
        p.push_frame(&common::frame(&cfg, t)).unwrap();
    }
    p.infer(Modalities::BOTH).unwrap()
}

#[test]
fn whole_pipeline_agrees_with_the_portable_level_on_every_level() {
    for precision in [Precision::F32, Precision::Int8] {
        let reference = clip_output(precision, Kernels::portable());
        let mut simd = None;
        for k in levels() {
            let out = clip_output(precision, k);
            if precision == Precision::Int8 {
                assert_eq!(out, reference, "{k:?}: int8 pipeline output differs from the portable level");
            } else if k.level() != Level::Portable {
                // The SIMD levels' f32 GEMMs sum in one canonical order: the same bits on each of them.
                let simd = simd.get_or_insert(out);
                assert_eq!(&out, simd, "{k:?}: f32 pipeline output differs from the first SIMD level's");
            }
            if precision == Precision::F32 {
                // The portable level multiplies and adds unfused: ~1e-6 relative, far below this bound.
                assert!((out.epp - reference.epp).abs() < 1e-4, "{k:?}: EPP {} vs {}", out.epp, reference.epp);
                for (a, b) in out.emotions.iter().zip(&reference.emotions) {
                    assert!((a - b).abs() < 1e-4, "{k:?}: emotions {:?} vs {:?}", out.emotions, reference.emotions);
                }
            }
        }
    }
}

/// The shipped model's output, video only, for 12 frames made by integer arithmetic (the same input on every
/// machine, no libm), as f32 bit patterns: epp, then angry, happy, peaceful, sad, scared. Recorded on x86-64 (every
/// level from `avx2` to `avx512vnni` gives them); print them again after retraining with
/// `AVF_BEL_PRINT_BITS=1 cargo test --release --test visual shipped_model -- --nocapture`.
const SHIPPED_BITS: [u32; 6] = [0x3e4cda6d, 0x3e5d17bd, 0x3ea0e1f0, 0x3daa8a6a, 0x3dc59aa4, 0x3e830126];

/// The shipped model (`weights/default.avfw`) gives the same bits at every SIMD level of this machine, and the bits
/// recorded on another architecture: the f32 GEMMs of every SIMD level, x86-64 and aarch64, sum in one canonical
/// order (the module docs of `kernels`), and the rest of the pathway is the same IEEE operations everywhere. So a
/// model behaves, and trains, the same on a Jetson as on the workstation. (Runs under qemu in CI's aarch64 suite.)
#[test]
fn shipped_model_gives_the_same_bits_on_every_simd_level_and_architecture() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/weights/default.avfw");
    let file = AlignedBytes::read(std::path::Path::new(path)).unwrap();
    let w = Weights::parse(file.as_bytes()).unwrap();
    let pixels = w.config().visual.height as usize * w.config().visual.width as usize;
    let mut rng = SplitMix64(2026);
    let frames: Vec<Vec<u8>> = (0..12).map(|_| (0..pixels).map(|_| (rng.next_u64() >> 56) as u8).collect()).collect();
    let simd: Vec<Kernels> = levels().into_iter().filter(|k| k.level() != Level::Portable).collect();
    if simd.is_empty() {
        eprintln!(
            "shipped model bits: skipped, this machine runs no SIMD level (`portable` is unfused: not bit-exact)"
        );
        return;
    }
    for k in simd {
        let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
        let mut p = Pipeline::with_kernels(&w, &mut scratch, k).unwrap();
        for f in &frames {
            p.push_frame(f).unwrap();
        }
        let out = p.infer(Modalities::VIDEO).unwrap();
        let bits: Vec<u32> = std::iter::once(out.epp).chain(out.emotions).map(f32::to_bits).collect();
        if std::env::var_os("AVF_BEL_PRINT_BITS").is_some() {
            eprintln!("{}: {}", k.level(), bits.iter().map(|b| format!("0x{b:08x}")).collect::<Vec<_>>().join(", "));
        }
        assert_eq!(bits, SHIPPED_BITS, "{k:?}: epp {} emotions {:?}", out.epp, out.emotions);
    }
}

fn rel_l2(a: &[f32], b: &[f32]) -> f32 {
    let num: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f32 = b.iter().map(|y| y * y).sum();
    (num / den).sqrt()
}
