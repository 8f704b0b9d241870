//! The visual background (weights format version 5, `InputConfig::background_tau_ms`; its gate version 6, its rows'
//! levelling version 7): each frame, its rows levelled to the background's light, aligned to a running background by
//! a whole-pixel shift, its difference from it cored at 3σ of the frame's own noise, pixel by pixel or (gated) by
//! each pixel's 3×3 neighbourhood. Checked against a second implementation
//! (tools/golden_background.py, plain Python in float64), and for what it is for: a static thing in view changes
//! nothing, a camera's shake is followed, sensor noise is cored away, a faint object under noise shows when gated, a
//! clip starts afresh, and bad input is a typed error.

mod common;

use avf_bel::kernels::Kernels;
use avf_bel::model::{encode, seeded, Precision};
use avf_bel::visual::{noise_sigma, update_weight, Background, MID};
use avf_bel::weights::writer::AlignedBytes;
use avf_bel::{ConfigError, Error, InputConfig, InputError, Modalities, ModelConfig, Pipeline, VisualConfig, Weights};

fn cfg(size: u16) -> VisualConfig {
    VisualConfig { height: size, width: size, ..ModelConfig::tiny().visual }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// A deterministic texture in 30..230 (a 64-bit LCG, top bits).
fn texture(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            30 + ((s >> 33) % 200) as u8
        })
        .collect()
}

/// Approximately normal noise of standard deviation `sigma` (sum of 12 uniforms), from the same LCG.
fn noisy(frame: &[u8], sigma: f32, seed: u64) -> Vec<u8> {
    let mut s = seed;
    let mut u = || {
        s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    frame
        .iter()
        .map(|&v| {
            let g: f32 = (0..12).map(|_| u()).sum::<f32>() - 6.0;
            (f32::from(v) + sigma * g).round().clamp(0.0, 255.0) as u8
        })
        .collect()
}

/// The core against the Python reference in `file`: the same shift on every frame, every pixel within one level (the
/// core's background plane is f32, the reference's f64), and nearly all of them equal. Returns the outputs.
fn check_against_reference(file: &str, gate: bool) -> Vec<Vec<u8>> {
    check_against_reference_with(file, gate, false)
}

/// The golden file's frames (the input bytes of each).
fn golden_frames(file: &str) -> Vec<Vec<u8>> {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text =
        std::fs::read_to_string(&path).expect("tools/golden_background.py writes tests/data/background_*golden.txt");
    text.lines().filter(|l| l.starts_with("frame ")).map(|l| unhex(l.split(' ').nth(4).unwrap())).collect()
}

/// [`check_against_reference`] with the rows levelled or not (`level_rows`).
fn check_against_reference_with(file: &str, gate: bool, level_rows: bool) -> Vec<Vec<u8>> {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text =
        std::fs::read_to_string(&path).expect("tools/golden_background.py writes tests/data/background_*golden.txt");
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let size: Vec<u16> = lines.next().unwrap().split(' ').skip(1).map(|v| v.parse().unwrap()).collect();
    let vc = VisualConfig { height: size[0], width: size[1], fps: size[3], ..ModelConfig::tiny().visual };
    let mut scratch = vec![0.0; Background::scratch_len(&vc)];
    let input = InputConfig {
        background_tau_ms: size[2],
        background_gate: gate,
        background_level_rows: level_rows,
        ..InputConfig::OFF
    };
    let mut bg = Background::for_input(&vc, &input, &mut scratch, Kernels::detect()).unwrap();
    let (mut off_by_one, mut pixels, mut moved) = (0, 0, 0);
    let mut outs = Vec::new();
    while let (Some(f), Some(o)) = (lines.next(), lines.next()) {
        let f: Vec<&str> = f.split(' ').collect();
        let o: Vec<&str> = o.split(' ').collect();
        assert_eq!((f[0], o[0], f[1]), ("frame", "out", o[1]));
        let want_shift: (i8, i8) = (f[2].parse().unwrap(), f[3].parse().unwrap());
        let got = bg.apply(&unhex(f[4])).unwrap().to_vec();
        assert_eq!(bg.shift(), want_shift, "frame {}: shift", f[1]);
        moved += usize::from(want_shift != (0, 0));
        for (i, (&g, &w)) in got.iter().zip(&unhex(o[2])).enumerate() {
            assert!(g.abs_diff(w) <= 1, "{file} frame {} pixel {i}: {g} vs the reference's {w}", f[1]);
            off_by_one += usize::from(g != w);
        }
        pixels += got.len();
        outs.push(got);
    }
    assert_eq!(outs.len(), 24);
    assert!(moved >= 10, "the sequence shakes the camera ({moved} moved frames)");
    assert!(off_by_one * 200 <= pixels, "{off_by_one} of {pixels} pixels one level off (at most 0.5 %)");
    outs
}

#[test]
fn matches_the_independent_reference() {
    check_against_reference("background_golden.txt", false);
}

/// The gate (format version 6) against the same reference's gated output. The sequence has sensor noise on 8 frames
/// from frame 13 on, so from there every frame's noise estimate (from its change since the one before) is above 0 and
/// the gate changes the output (the comparison would not notice a gate that did nothing); before, it must not.
#[test]
fn the_gate_matches_the_independent_reference() {
    let per_pixel = check_against_reference("background_golden.txt", false);
    let gated = check_against_reference("background_gated_golden.txt", true);
    let differ: Vec<usize> = (0..24).filter(|&t| per_pixel[t] != gated[t]).collect();
    assert_eq!(differ, (13..24).collect::<Vec<_>>(), "the frames with noise or after one, and only they");
}

/// The rows' levelling (format version 7) against the same reference, gated, over the sequence lit unsteadily:
/// flicker's rolling bands on frames 1–11, an exposure that hunts from frame 12 on. Levelled, what comes out is
/// close to what the steadily lit sequence gives (the gated reference's frames); without the levelling it is not (the
/// comparison would not notice a levelling that did nothing): the light's changes stay in the difference.
#[test]
fn the_rows_levelling_matches_the_independent_reference() {
    let levelled = check_against_reference_with("background_levelled_golden.txt", true, true);
    let steady = check_against_reference("background_gated_golden.txt", true);
    let frames = golden_frames("background_levelled_golden.txt");
    let vc = cfg(32);
    let mut scratch = vec![0.0; Background::scratch_len(&vc)];
    let mut bg = Background::new(&vc, 500, true, &mut scratch).unwrap();
    let unlevelled: Vec<Vec<u8>> = frames.iter().map(|f| bg.apply(f).unwrap().to_vec()).collect();
    // Mean |a − b| in levels over frames `ts`.
    let off = |a: &[Vec<u8>], ts: &[usize]| {
        let sum: u64 =
            ts.iter().flat_map(|&t| a[t].iter().zip(&steady[t])).map(|(&p, &q)| u64::from(p.abs_diff(q))).sum();
        sum as f64 / (ts.len() * 1024) as f64
    };
    // The frames after the first, and those of them where the camera is where it was at the start, so the rows'
    // gains are measured against the background's own rows (the levelling comes before the search: where the camera
    // has moved a row, its ratio to the background is the texture's too, and the gains are rougher).
    let all: Vec<usize> = (1..24).collect();
    let still: Vec<usize> = all.iter().copied().filter(|&t| reference_shift(t) == (0, 0)).collect();
    assert_eq!(still.len(), 8);
    let (with, without) = (off(&levelled, &all), off(&unlevelled, &all));
    let (with_still, without_still) = (off(&levelled, &still), off(&unlevelled, &still));
    eprintln!(
        "mean |output − steady light's output|: levelled {with:.2}, unlevelled {without:.2}; the camera still: \
         {with_still:.2} against {without_still:.2}"
    );
    assert!(with < 0.75 * without, "levelled {with:.2} levels from the steady light's output, unlevelled {without:.2}");
    assert!(with_still < 0.5 * without_still, "the camera still: {with_still:.2} against {without_still:.2}");
}

/// The shift the Python reference chose for frame `t` of a golden file, read from its `frame` line (the same for the
/// three files: their camera shakes alike).
fn reference_shift(t: usize) -> (i8, i8) {
    let path = format!("{}/tests/data/background_levelled_golden.txt", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let line = text.lines().filter(|l| l.starts_with("frame ")).nth(t).unwrap();
    let f: Vec<&str> = line.split(' ').collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

/// The gate is for objects too faint against the sensor's noise to pass pixel by pixel: a still textured scene under
/// noise of σ 12 levels, in front of which a square 24 levels brighter appears. Pixel by pixel (θ = 3σ̂ ≈ 36) most of
/// the square is cored to mid-grey; gated, most of it shows; and away from it the gate removes the noise as well.
#[test]
fn the_gate_shows_a_faint_object_that_pixel_coring_hides() {
    let (n, size) = (48usize, 48u16);
    let vc = cfg(size);
    let scene = texture(n * n, 5);
    let square = |y: usize, x: usize| (16..32).contains(&y) && (16..32).contains(&x);
    let with_square: Vec<u8> =
        scene.iter().enumerate().map(|(i, &v)| if square(i / n, i % n) { v.saturating_add(24) } else { v }).collect();
    let run = |gate: bool| {
        let mut scratch = vec![0.0; Background::scratch_len(&vc)];
        let mut bg = Background::new(&vc, 500, gate, &mut scratch).unwrap();
        for t in 0..10 {
            bg.apply(&noisy(&scene, 12.0, 100 + t)).unwrap();
        }
        bg.apply(&noisy(&with_square, 12.0, 200)).unwrap().to_vec()
    };
    let share = |out: &[u8], inside: bool, test: &dyn Fn(u8) -> bool| {
        let px: Vec<u8> = (0..n * n).filter(|&i| square(i / n, i % n) == inside).map(|i| out[i]).collect();
        px.iter().filter(|&&v| test(v)).count() as f64 / px.len() as f64
    };
    let (plain, gated) = (run(false), run(true));
    let shown = |v: u8| v > MID as u8;
    let (plain_in, gated_in) = (share(&plain, true, &shown), share(&gated, true, &shown));
    assert!(plain_in < 0.35, "pixel coring shows {plain_in} of the square");
    assert!(gated_in > 0.8, "the gate shows only {gated_in} of the square");
    let grey = |v: u8| v == MID as u8;
    let (plain_out, gated_out) = (share(&plain, false, &grey), share(&gated, false, &grey));
    assert!(plain_out > 0.97 && gated_out > 0.97, "noise left outside the square: {plain_out}, {gated_out} grey");
}

/// A static object that appears in front of a static scene stands out on its first frame and fades into the
/// background with the configured time constant; the rest of the frame stays at mid-grey.
#[test]
fn a_static_occluder_is_learnt_with_the_time_constant() {
    let vc = cfg(32);
    let mut scratch = vec![0.0; Background::scratch_len(&vc)];
    let mut bg = Background::new(&vc, 500, false, &mut scratch).unwrap();
    let alpha = update_weight(500, vc.fps);
    assert!((alpha - (1.0 - (-1.0f32 / 15.0).exp())).abs() < 1e-6, "α {alpha}");
    let scene = vec![100u8; 32 * 32];
    let mut occluded = scene.clone();
    for y in 10..20 {
        for x in 8..18 {
            occluded[y * 32 + x] = 200;
        }
    }
    assert!(bg.apply(&scene).unwrap().iter().all(|&v| v == MID as u8), "the first frame becomes the background");
    for k in 0..45 {
        let out = bg.apply(&occluded).unwrap().to_vec();
        // A flat scene gives every shift the same sum at first: a tie keeps no shift.
        assert_eq!(bg.shift(), (0, 0), "frame {k}");
        let want = MID + 100.0 * (1.0 - alpha).powi(k);
        let got = f32::from(out[15 * 32 + 12]);
        assert!((got - want).abs() <= 1.0, "frame {k}: {got} vs {want}");
        assert_eq!(out[2 * 32 + 2], MID as u8, "the scene around it is unchanged");
    }
}

/// A whole-pixel shake of a textured scene is followed: the aligned difference is mid-grey away from the edges the
/// shift exposes, where without alignment it would be the texture's edges.
#[test]
fn camera_shake_is_followed() {
    let n = 32;
    let vc = cfg(n as u16);
    let mut scratch = vec![0.0; Background::scratch_len(&vc)];
    let mut bg = Background::new(&vc, 500, false, &mut scratch).unwrap();
    let big = texture(40 * 40, 7);
    let view = |cx: isize, cy: isize| -> Vec<u8> {
        let mut f = vec![0u8; n * n];
        for y in 0..n {
            for x in 0..n {
                f[y * n + x] = big[(y as isize + 4 - cy) as usize * 40 + (x as isize + 4 - cx) as usize];
            }
        }
        f
    };
    bg.apply(&view(0, 0)).unwrap();
    for (cx, cy) in [(2, 0), (-3, 1), (0, -2), (3, 3), (0, 0)] {
        let out = bg.apply(&view(cx, cy)).unwrap().to_vec();
        assert_eq!(bg.shift(), (cx as i8, cy as i8));
        for y in 3..n - 3 {
            for x in 3..n - 3 {
                assert_eq!(out[y * n + x], MID as u8, "shake ({cx}, {cy}) at ({x}, {y})");
            }
        }
    }
}

/// Sensor noise on a still scene is cored away: σ̂ estimates the noise, and nearly every output pixel is mid-grey.
#[test]
fn sensor_noise_is_cored() {
    let n = 64;
    let vc = cfg(n as u16);
    let mut scratch = vec![0.0; Background::scratch_len(&vc)];
    let mut bg = Background::new(&vc, 500, false, &mut scratch).unwrap();
    let scene = texture(n * n, 11);
    let sigma = 5.0;
    let frames: Vec<Vec<u8>> = (0..20).map(|t| noisy(&scene, sigma, 100 + t)).collect();
    let est = noise_sigma(&frames[1], &frames[2]);
    assert!((est - sigma).abs() <= 0.2 * sigma, "σ̂ {est} for σ {sigma}");
    let mut mid = 0;
    for f in &frames {
        mid += bg.apply(f).unwrap().iter().filter(|&&v| v == MID as u8).count();
    }
    let frac = mid as f32 / (20 * n * n) as f32;
    assert!(frac >= 0.97, "only {frac} of pixels cored to mid-grey");
    // The estimate is exactly the median change: identical frames give 0, a uniform change of 3 levels 3·1.4826/√2.
    assert_eq!(noise_sigma(&scene, &scene), 0.0);
    let brighter: Vec<u8> = scene.iter().map(|&v| v + 3).collect();
    assert!((noise_sigma(&brighter, &scene) - 3.0 * 1.4826 / 2f32.sqrt()).abs() < 1e-5);
}

/// A reset forgets the scene: the next frame is the background, whatever came before.
#[test]
fn reset_starts_a_clip_afresh() {
    let vc = cfg(32);
    let mut scratch = vec![0.0; Background::scratch_len(&vc)];
    let mut bg = Background::new(&vc, 500, false, &mut scratch).unwrap();
    bg.apply(&texture(32 * 32, 1)).unwrap();
    assert!(bg.apply(&texture(32 * 32, 2)).unwrap().iter().any(|&v| v != MID as u8));
    bg.reset();
    assert!(bg.apply(&texture(32 * 32, 2)).unwrap().iter().all(|&v| v == MID as u8));
}

/// Bad frames and parameters are typed errors, never panics.
#[test]
fn bad_input_is_a_typed_error() {
    let vc = cfg(32);
    let mut scratch = vec![0.0; Background::scratch_len(&vc)];
    let mut bg = Background::new(&vc, 500, false, &mut scratch).unwrap();
    for len in [0, 1, 32 * 32 - 1, 32 * 32 + 1] {
        assert!(matches!(
            bg.apply(&vec![0u8; len]),
            Err(Error::Input(InputError::FrameSize { expected: 1024, got })) if got == len
        ));
    }
    for tau in [0, 60_001] {
        let mut s = vec![0.0; Background::scratch_len(&vc)];
        assert!(matches!(
            Background::new(&vc, tau, false, &mut s),
            Err(Error::Config(ConfigError::BadParameter("input.background_tau_ms")))
        ));
    }
    // `scratch_len` is the need of the background gated and its rows levelled, the largest: one float less is refused.
    let mut small = vec![0.0; Background::scratch_len(&vc) - 1];
    let input = InputConfig { background_tau_ms: 500, ..InputConfig::default() };
    assert!((input.background_gate, input.background_level_rows) == (true, true));
    let refused = Background::for_input(&vc, &input, &mut small, Kernels::portable());
    assert!(matches!(refused, Err(Error::ScratchTooSmall { .. })));
    let mut enough = vec![0.0; Background::scratch_len(&vc)];
    assert!(Background::for_input(&vc, &input, &mut enough, Kernels::portable()).is_ok());
    let mut cfg = ModelConfig::tiny();
    cfg.input.background_tau_ms = 60_001;
    assert_eq!(cfg.validate(), Err(ConfigError::BadParameter("input.background_tau_ms")));
}

/// Through the whole pipeline: with the background on, a static object in view that the moving content never
/// touches changes nothing in the output (it is learnt from the first frame); with it off, it changes the output.
#[test]
fn a_static_object_in_view_changes_nothing_in_the_pipeline() {
    let run = |tau: u16, with_object: bool| {
        let mut cfg = ModelConfig::tiny();
        cfg.input.background_tau_ms = tau;
        let file = AlignedBytes::new(&encode(&cfg, &seeded(&cfg, 5), Precision::F32).unwrap());
        let w = Weights::parse(file.as_bytes()).unwrap();
        let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
        let mut p = Pipeline::new(&w, &mut scratch).unwrap();
        let n = cfg.visual.width as usize;
        let scene = texture(n * n, 3);
        for t in 0..12 {
            let mut f = scene.clone();
            // A bright square moving along the bottom rows.
            for y in 22..27 {
                for x in (2 + t)..(7 + t) {
                    f[y * n + x] = 245;
                }
            }
            if with_object {
                for y in 2..9 {
                    for x in 20..28 {
                        f[y * n + x] = 20;
                    }
                }
            }
            p.push_frame(&f).unwrap();
        }
        p.push_audio(&common::tones(&cfg, 0.5, 3000)).unwrap();
        // The whole output (BEL's amygdala and orbitofrontal terms too: a seeded model's emotions may saturate).
        format!("{:?}", p.infer(Modalities::BOTH).unwrap())
    };
    let (a, b) = (run(500, false), run(500, true));
    assert_eq!(a, b, "background on: the static object must not show");
    let (c, d) = (run(0, false), run(0, true));
    assert_ne!(c, d, "background off: the static object shows (else this test proves nothing)");
    assert_ne!(a, c, "the background changes what CORnet-Z sees");
}

/// A scene cut (`Pipeline::scene_cut`) after a head turn wider than the alignment reaches (8 px): from the cut on,
/// CORnet-Z sees exactly what a clip that started at the new view would show it (the same IT features, stack by
/// stack), while the clip itself goes on; without the cut it sees the old view against the new one.
#[test]
fn a_scene_cut_restarts_the_background_from_the_new_view() {
    let mut cfg = ModelConfig::tiny();
    cfg.input.background_tau_ms = 500;
    let file = AlignedBytes::new(&encode(&cfg, &seeded(&cfg, 8), Precision::F32).unwrap());
    let w = Weights::parse(file.as_bytes()).unwrap();
    let n = cfg.visual.width as usize;
    let wide = n + 16;
    let scene = texture(wide * wide, 9);
    // The view at horizontal offset `dx` into the wide scene, a bright square moving along it at time `t`.
    let view = |dx: usize, t: usize| -> Vec<u8> {
        let mut f: Vec<u8> = (0..n * n).map(|i| scene[(i / n + 4) * wide + i % n + dx]).collect();
        for y in 20..25 {
            for x in (2 + t)..(7 + t) {
                f[y * n + x] = 245;
            }
        }
        f
    };
    let (before, after): (Vec<_>, Vec<_>) =
        ((0..6).map(|t| view(0, t)).collect(), (6..12).map(|t| view(8, t)).collect());
    // IT features of every stack run on the frames after the turn (channels 2, stride 2: the stacks fall on the
    // same frames whether 6 frames came before or none).
    let stacks_after = |prefix: bool, cut: bool| {
        let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
        let mut p = Pipeline::new(&w, &mut scratch).unwrap();
        if prefix {
            for f in &before {
                p.push_frame(f).unwrap();
            }
        }
        if cut {
            p.scene_cut();
        }
        let mut out = Vec::new();
        for f in &after {
            if p.visual().push_frame(f).unwrap() {
                out.push(p.visual().it_features().to_vec());
            }
        }
        assert_eq!(p.visual().stacks(), if prefix { 3 + 3 } else { 3 }, "the clip goes on across the cut");
        out
    };
    let fresh = stacks_after(false, false);
    assert_eq!(fresh.len(), 3);
    assert_eq!(stacks_after(true, true), fresh, "after the cut, as if the clip had started at the new view");
    assert_ne!(stacks_after(true, false), fresh, "without the cut the old view still shows (else this proves nothing)");
    // A model without a background: the cut changes nothing.
    let plain = ModelConfig::tiny();
    let file = AlignedBytes::new(&encode(&plain, &seeded(&plain, 8), Precision::F32).unwrap());
    let w = Weights::parse(file.as_bytes()).unwrap();
    let run = |cut: bool| {
        let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
        let mut p = Pipeline::new(&w, &mut scratch).unwrap();
        for (i, f) in before.iter().chain(&after).enumerate() {
            if cut && i == before.len() {
                p.scene_cut();
            }
            p.push_frame(f).unwrap();
        }
        format!("{:?}", p.infer(Modalities::VIDEO).unwrap())
    };
    assert_eq!(run(true), run(false));
}
