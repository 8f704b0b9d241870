//! `alsa://` through the real libasound with no sound card: ALSA's `file` plugin reads captured samples from an
//! `infile`, configured in a private `$HOME/.asoundrc` (the `null` slave supplies the clock-less device). Feature
//! `capture`; libasound2 must be installed (`.ci/steps/60-capture.sh` installs libasound2-dev).
//!
//! The `null` slave does not pace reads in real time; the reader's throttle delivers the data at its own rate, so
//! these tests also check that an unpaced device cannot flood the daemon.

#![cfg(feature = "capture")]

mod common;
use avf_bel::capture::{open_audio, Capture, ModelInput, Stamped, Status, SynthOptions};
use common::command;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One private `HOME` for the whole test binary, its `.asoundrc` written before libasound first reads its
/// configuration (libasound loads it once per process): `mic` (22,050 Hz mono, 440 Hz tone, 2 s) and `mic44` (a
/// 44.1 kHz stereo device, 1 kHz on the left, silence on the right, behind `plug:`).
fn alsa_home() -> &'static PathBuf {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let d = common::scratch_dir("alsa");
        std::fs::write(d.join("mic.raw"), s16(&mic_samples())).unwrap();
        let stereo: Vec<i16> = (0..88_200)
            .flat_map(|i| [(16_000.0 * (i as f64 * 2.0 * std::f64::consts::PI * 1_000.0 / 44_100.0).sin()) as i16, 0])
            .collect();
        std::fs::write(d.join("mic44.raw"), s16(&stereo)).unwrap();
        std::fs::write(
            d.join(".asoundrc"),
            format!(
                "pcm.mic {{ type file; slave.pcm \"null\"; file \"/dev/null\"; infile \"{0}/mic.raw\"; format \"raw\" }}\n\
                 pcm.raw44 {{ type file; slave {{ pcm \"null\" }}; file \"/dev/null\"; infile \"{0}/mic44.raw\"; format \"raw\" }}\n\
                 pcm.mic44 {{ type plug; slave {{ pcm \"raw44\"; rate 44100; channels 2; format S16_LE }} }}\n",
                d.display()
            ),
        )
        .unwrap();
        std::env::set_var("HOME", &d);
        d
    })
}

fn mic_samples() -> Vec<i16> {
    (0..44_100).map(|i| (12_000.0 * (i as f64 * 2.0 * std::f64::consts::PI * 440.0 / 22_050.0).sin()) as i16).collect()
}

fn input() -> ModelInput {
    ModelInput { width: 32, height: 32, fps: 30, sample_rate: 22_050, hop: 256 }
}

fn synth() -> SynthOptions {
    SynthOptions { data_dir: "../shared/data".into(), seconds: 1.0, seed: 0 }
}

fn collect(c: &Capture<Vec<f32>>, want: usize, secs: f64) -> Vec<f32> {
    let t = Instant::now();
    let mut got: Vec<Stamped<Vec<f32>>> = Vec::new();
    while t.elapsed().as_secs_f64() < secs && got.iter().map(|s| s.item.len()).sum::<usize>() < want {
        c.drain_into(&mut got);
        std::thread::sleep(Duration::from_millis(10));
    }
    got.iter().flat_map(|s| s.item.iter().copied()).collect()
}

fn s16(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

#[test]
fn alsa_capture_at_the_model_rate_returns_the_file_exactly() {
    // Two seconds of a 440 Hz tone, 16-bit mono at 22,050 Hz: what the model takes, so nothing is converted.
    alsa_home();
    let samples = mic_samples();
    let c = open_audio("alsa://mic", &input(), &synth()).unwrap();
    let t = Instant::now();
    let got = collect(&c, 22_050, 10.0);
    let took = t.elapsed();
    assert!(got.len() >= 22_050, "{} samples; status {:?}", got.len(), c.status());
    let want: Vec<f32> = samples[..22_050].iter().map(|&s| f32::from(s) / 32768.0).collect();
    assert_eq!(&got[..22_050], &want[..], "the samples ALSA read from the file");
    // A second of audio took about a second to arrive although the device is unpaced (throttled, 250 ms lead).
    assert!(took > Duration::from_millis(600), "a second of audio in {took:?}: not throttled");
    assert_eq!(c.status(), Status::Running);
}

#[test]
fn alsa_plug_converts_a_44k1_stereo_device_to_the_model_rate() {
    // A "device" that only does 44.1 kHz stereo; `plug:` in front of it is what `default` is on most systems: ALSA
    // converts the rate and the channels.
    alsa_home();
    let c = open_audio("alsa://mic44", &input(), &synth()).unwrap();
    let got = collect(&c, 22_050, 10.0);
    assert!(got.len() >= 22_050, "{} samples; status {:?}", got.len(), c.status());
    let s = &got[1_000..21_000];
    let cycles = s.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count() as f64;
    let freq = cycles * 22_050.0 / s.len() as f64;
    assert!((freq - 1_000.0).abs() < 15.0, "{freq:.1} Hz, want 1 kHz");
    // Left 16000/32768 ≈ 0.49 averaged with a silent right channel: ≈ 0.24.
    let peak = s.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!((0.2..0.3).contains(&peak), "peak {peak}");
}

#[test]
fn a_missing_alsa_device_is_retried_not_failed() {
    alsa_home();
    let c = open_audio("alsa://nosuchdevice", &input(), &synth()).unwrap();
    let t = Instant::now();
    let s = loop {
        let s = c.status();
        if matches!(s, Status::Retrying(_)) || t.elapsed() > Duration::from_secs(5) {
            break s;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(matches!(&s, Status::Retrying(m) if m.contains("nosuchdevice")), "{s:?}");
}

#[test]
fn serve_reads_the_microphone_and_flags_audio_ok() {
    let dir = alsa_home();
    let w = dir.join("tiny.avfw");
    assert!(command().args(["init", "--config", "tiny", "--out", w.to_str().unwrap()]).status().unwrap().success());
    let out = command()
        .args(["serve", "--weights", w.to_str().unwrap(), "--audio", "alsa://mic", "--json", "--duration", "2.5"])
        .args(["--window", "1", "--warmup", "0.2", "--stats"])
        .env("HOME", dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    let fresh = text.lines().filter(|l| l.contains("\"audio_ok\"") && !l.contains("warming_up")).count();
    assert!(fresh > 20, "{fresh} fresh audio samples:\n{err}");
    assert!(
        text.lines().all(|l| !l.contains("\"degraded\"") || l.contains("\"no_estimate\"") || l.contains("warming")),
        "{text}"
    );
}
