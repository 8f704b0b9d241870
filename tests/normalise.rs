//! Input normalisation (weights format version 3): the audio front-end's running loudness normaliser and the visual
//! pathway's per-frame luminance normaliser make a microphone gain or a camera exposure (nearly) invisible to the
//! model, and switched off (format versions 1 and 2) everything is as before. The sound's floor (format version 4:
//! the onset range and the drive floor) keeps a room's noise under the music from becoming onsets and drive.

use avf_bel::audio::frontend::FrontEnd;
use avf_bel::audio::FrameFeatures;
use avf_bel::model::{encode, seeded, Precision};
use avf_bel::stimuli::{render, Params, RenderOptions};
use avf_bel::visual::{normalise_luma, LUMA_MEAN, LUMA_STD};
use avf_bel::weights::writer::AlignedBytes;
use avf_bel::{InputConfig, ModelConfig, Pipeline, Weights};

/// Per-frame front-end output: rms, pitch, tonnetz, onset, mel dB.
type Frame = (f32, f32, [f32; 6], f32, Vec<f32>);

fn analyse(pcm: &[f32], tau_ms: u16) -> Vec<Frame> {
    analyse_range(pcm, tau_ms, None)
}

/// As [`analyse`], with the onset range set when `range_db` is given.
fn analyse_range(pcm: &[f32], tau_ms: u16, range_db: Option<u8>) -> Vec<Frame> {
    let cfg = ModelConfig::default().audio;
    let mut scratch = vec![0.0; FrontEnd::scratch_len(&cfg)];
    let mut fe = FrontEnd::new(&cfg, &mut scratch).unwrap();
    fe.set_loudness(tau_ms);
    if let Some(r) = range_db {
        fe.set_onset_range(r);
    }
    let mut out = Vec::new();
    let mut keep = |f: &FrameFeatures| out.push((f.rms, f.pitch_mean, f.tonnetz, f.onset, f.mel_db.to_vec()));
    // Small chunks, as the daemon pushes them.
    for chunk in pcm.chunks(735) {
        fe.push(chunk, &mut keep).unwrap();
    }
    fe.finish(&mut keep).unwrap();
    out
}

fn clip() -> avf_bel::stimuli::Stimulus {
    let opts = RenderOptions { seconds: 3.0, seed: 11, ..RenderOptions::default() };
    render(&Params::prototype("happy").unwrap(), &opts).unwrap()
}

#[test]
fn loudness_normalisation_cancels_a_microphone_gain() {
    let pcm = clip().audio;
    let clean = analyse(&pcm, 2000);
    for gain_db in [-30.0f32, -18.0, 6.0] {
        let g = 10f32.powf(gain_db / 20.0);
        let scaled: Vec<f32> = pcm.iter().map(|x| x * g).collect();
        let norm = analyse(&scaled, 2000);
        assert_eq!(norm.len(), clean.len());
        for (t, (a, b)) in clean.iter().zip(&norm).enumerate() {
            assert!((a.0 - b.0).abs() <= 1e-4 * a.0.max(1e-3), "{gain_db} dB frame {t}: rms {} vs {}", a.0, b.0);
            assert!((a.1 - b.1).abs() <= 1e-3 * (1.0 + a.1), "{gain_db} dB frame {t}: pitch {} vs {}", a.1, b.1);
            assert!((a.3 - b.3).abs() <= 1e-3 * (1.0 + a.3), "{gain_db} dB frame {t}: onset {} vs {}", a.3, b.3);
            for (x, y) in a.2.iter().zip(&b.2) {
                assert!((x - y).abs() <= 1e-4, "{gain_db} dB frame {t}: tonnetz {x} vs {y}");
            }
            for (x, y) in a.4.iter().zip(&b.4) {
                assert!((x - y).abs() <= 0.01, "{gain_db} dB frame {t}: mel {x} vs {y} dB");
            }
        }
        // Without normalisation the gain is there in every frame's level.
        let raw = analyse(&scaled, 0);
        let raw_clean = analyse(&pcm, 0);
        let (a, b) = (raw_clean[20].0, raw[20].0);
        assert!((b / a - g).abs() < 1e-3 * g, "off: rms ratio {} for gain {g}", b / a);
    }
}

#[test]
fn loudness_normalisation_sets_the_level_and_follows_a_change() {
    // A steady tone at −40 dBFS comes out at the target level; after a jump to −10 dBFS the running level catches up
    // within a few time constants.
    let sr = 22_050.0f32;
    let tone = |amp: f32, n: usize| -> Vec<f32> {
        (0..n).map(|i| amp * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / sr).sin()).collect()
    };
    let quiet = 0.01 * std::f32::consts::SQRT_2; // RMS 0.01
    let mut pcm = tone(quiet, 2 * 22_050);
    pcm.extend(tone(31.6 * quiet, 6 * 22_050));
    let frames = analyse(&pcm, 500);
    let hop_s = 512.0 / sr;
    let at = |s: f32| frames[(s / hop_s) as usize].0;
    assert!((at(1.5) - 0.1).abs() < 0.005, "steady quiet tone normalised to {}", at(1.5));
    assert!(at(2.05) > 0.25, "just after the jump the frame is louder than the target: {}", at(2.05));
    assert!((at(7.0) - 0.1).abs() < 0.005, "after 10 time constants back at the target: {}", at(7.0));
}

#[test]
fn luma_normalisation_cancels_exposure_offset_and_contrast() {
    let s = clip();
    let frame = s.frame(17);
    let mut base = vec![0u8; frame.len()];
    normalise_luma(frame, &mut base);
    let stats = |f: &[u8]| {
        let n = f.len() as f64;
        let m = f.iter().map(|&v| v as f64).sum::<f64>() / n;
        let sd = (f.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / n).sqrt();
        (m, sd)
    };
    let (m, sd) = stats(&base);
    assert!((m - LUMA_MEAN as f64).abs() < 1.0 && (sd - LUMA_STD as f64).abs() < 1.0, "mean {m}, sd {sd}");
    // Changes that keep the frame inside 0–255 (clipping is not affine).
    for (a, b) in [(0.5f32, 0.0f32), (0.25, 0.0), (0.8, -10.0), (0.6, 60.0)] {
        let seen: Vec<u8> = frame.iter().map(|&v| (a * v as f32 + b).round().clamp(0.0, 255.0) as u8).collect();
        let mut out = vec![0u8; frame.len()];
        normalise_luma(&seen, &mut out);
        let worst = base.iter().zip(&out).map(|(x, y)| (*x as i32 - *y as i32).abs()).max().unwrap();
        // Only the 8-bit rounding of the darkened frame remains (a quarter of the levels at 0.25).
        assert!(worst <= 3, "a = {a}, b = {b}: up to {worst} levels apart");
        let raw_worst = frame.iter().zip(&seen).map(|(x, y)| (*x as i32 - *y as i32).abs()).max().unwrap();
        assert!(raw_worst > 30, "the change itself is large ({raw_worst} levels)");
    }
    let mut out = vec![0u8; 64];
    normalise_luma(&[37u8; 64], &mut out);
    assert!(out.iter().all(|&v| v == LUMA_MEAN as u8), "a uniform frame becomes mid-grey");
}

/// The clip summaries the read-outs see (visual `[mean; std]` of IT, audio read-out input) for a model of `input`:
/// the default model's frames, audio and front ends (where the normalisers act), with CORnet-Z a quarter as wide and
/// a quarter of the cortex at twice its step. The default sizes tell the same story (visual / audio apart: 0.00055 /
/// 0.0011 normalised and 0.50 / 0.064 raw, against 0.00055 / 1e-11 and 0.50 / 0.063 with these) but took 200 s under
/// qemu instead of 35.
fn features(input: InputConfig, gain: f32, exposure: f32) -> (Vec<f32>, Vec<f32>) {
    features_noisy(input, gain, exposure, None)
}

/// White noise (a fixed LCG) at `snr_db` under the clip's mean square, added to `pcm`.
fn with_noise(pcm: &[f32], snr_db: f32) -> Vec<f32> {
    let ms = pcm.iter().map(|x| x * x).sum::<f32>() / pcm.len() as f32;
    // Uniform in [−a, a] has mean square a²/3.
    let a = (3.0 * ms * 10f32.powf(-snr_db / 10.0)).sqrt();
    let mut s: u32 = 7;
    pcm.iter()
        .map(|x| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            x + a * ((s >> 8) as f32 / 16_777_216.0 * 2.0 - 1.0)
        })
        .collect()
}

/// As [`features`], the microphone also picking up white noise at `snr_db` when given.
fn features_noisy(input: InputConfig, gain: f32, exposure: f32, snr_db: Option<f32>) -> (Vec<f32>, Vec<f32>) {
    let mut cfg = ModelConfig { input, ..ModelConfig::default() };
    cfg.visual.widths = cfg.visual.widths.map(|w| w / 4);
    let c = &mut cfg.cortex;
    (c.n_pyr, c.n_pv, c.n_som, c.dt_us) = (c.n_pyr / 4, c.n_pv / 4, c.n_som / 4, c.dt_us * 2);
    let buf = AlignedBytes::new(&encode(&cfg, &seeded(&cfg, 5), Precision::F32).unwrap());
    let w = Weights::parse(buf.as_bytes()).unwrap();
    let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
    let mut p = Pipeline::new(&w, &mut scratch).unwrap();
    let s = clip();
    let mut pcm: Vec<f32> = s.audio.iter().map(|x| x * gain).collect();
    if let Some(snr) = snr_db {
        pcm = with_noise(&pcm, snr);
    }
    for c in pcm.chunks(735) {
        p.push_audio(c).unwrap();
    }
    for f in s.frames.chunks_exact(64 * 64) {
        let dim: Vec<u8> = f.iter().map(|&v| (v as f32 * exposure).round() as u8).collect();
        p.push_frame(&dim).unwrap();
    }
    let mut v = vec![0.0; avf_bel::visual::summary_len(&cfg.visual)];
    let mut a = vec![0.0; avf_bel::audio_inputs(&cfg)];
    p.clip_features(&mut v, &mut a).unwrap();
    (v, a)
}

fn rel(a: &[f32], b: &[f32]) -> f32 {
    let d: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let n: f32 = a.iter().map(|x| x * x).sum();
    (d / n.max(1e-30)).sqrt()
}

// The model runs twice per test (3 s of input through the whole pipeline): the normalised and the raw halves are
// two tests, so that they run in parallel (under qemu each takes about 20 s).
#[test]
fn a_normalised_model_barely_sees_an_18_db_quieter_microphone_or_half_the_light() {
    let on = InputConfig::default();
    let (v0, a0) = features(on, 1.0, 1.0);
    let (v1, a1) = features(on, 10f32.powf(-18.0 / 20.0), 0.5);
    let (dv, da) = (rel(&v0, &v1), rel(&a0, &a1));
    eprintln!("normalised: visual summary {dv}, audio input {da} apart");
    assert!(dv < 0.05 && da < 0.02, "normalised: visual summary {dv}, audio input {da} apart");
}

#[test]
fn without_normalisation_the_same_microphone_and_light_move_the_features() {
    // The control of the test above: for the raw model the same change of gain and exposure is large, so the small
    // distance there is the normalisation's doing.
    let off = InputConfig::OFF;
    let (v0, a0) = features(off, 1.0, 1.0);
    let (v1, a1) = features(off, 10f32.powf(-18.0 / 20.0), 0.5);
    let (dv, da) = (rel(&v0, &v1), rel(&a0, &a1));
    eprintln!("raw: visual summary {dv}, audio input {da} apart");
    assert!(dv > 0.2 && da > 0.05, "raw: visual summary {dv}, audio input {da} apart");
}

/// Share of frames with a nonzero onset strength.
fn onset_share(frames: &[Frame]) -> f32 {
    frames.iter().filter(|f| f.3 > 0.0).count() as f32 / frames.len() as f32
}

#[test]
fn the_onset_range_keeps_a_noise_floor_under_the_music_from_becoming_onsets() {
    let pcm = clip().audio;
    let noisy = with_noise(&pcm, 40.0);
    // librosa's range: the render's digital silence has no flux, noise 40 dB down fluctuates in every quiet band.
    let (clean80, noisy80) = (onset_share(&analyse(&pcm, 2000)), onset_share(&analyse(&noisy, 2000)));
    // The sound's floor's range of 40 dB (`--sound-floor on`): the noise stays under it.
    let (clean40, noisy40) =
        (onset_share(&analyse_range(&pcm, 2000, Some(40))), onset_share(&analyse_range(&noisy, 2000, Some(40))));
    eprintln!("onset share, clean → noise 40 dB down: range 80 {clean80} → {noisy80}, range 40 {clean40} → {noisy40}");
    assert!(noisy80 > 0.95 && noisy80 - clean80 > 0.1, "range 80: {clean80} → {noisy80}");
    assert!((noisy40 - clean40).abs() < 0.05, "range 40: {clean40} → {noisy40}");
    // The range acts on the onset only: the mel levels (the cortex's input) are librosa's either way.
    let (a, b) = (analyse(&noisy, 2000), analyse_range(&noisy, 2000, Some(40)));
    assert!(a.iter().zip(&b).all(|(x, y)| x.4 == y.4));
    // 80 dB is librosa's `top_db`: setting it changes nothing, bit for bit.
    let c = analyse_range(&noisy, 2000, Some(80));
    assert!(a.iter().zip(&c).all(|(x, y)| x.3.to_bits() == y.3.to_bits() && x.4 == y.4));
}

#[test]
fn a_model_with_the_sound_floor_hears_a_room_s_noise_less() {
    // The same microphone picking up white noise 30 dB under the music, for a model with the sound's floor
    // (`--sound-floor on`: onset range 40 dB, drive floor −13 dB) and for the same model without (the default, as
    // format 3: 80 dB, −40 dB).
    let legacy = InputConfig::default();
    assert_eq!((legacy.onset_range_db, legacy.drive_floor_db), (80, -40));
    let (onset_range_db, drive_floor_db) = avf_bel::SOUND_FLOOR;
    let floor = InputConfig { onset_range_db, drive_floor_db, ..legacy };
    let moved = |input: InputConfig| {
        let (_, clean) = features(input, 1.0, 1.0);
        let (_, noisy) = features_noisy(input, 1.0, 1.0, Some(30.0));
        rel(&clean, &noisy)
    };
    let (with_floor, without) = (moved(floor), moved(legacy));
    eprintln!("audio input moved by white noise 30 dB down: {with_floor} with the sound's floor, {without} without");
    assert!(with_floor < 0.3 * without, "with the floor {with_floor}, without {without}");
}
