//! Integration tests of the PYR/PV/SOM auditory cortex, on synthetic mel spectra.

use avf_bel::audio::cortex::{Cortex, DriveConfig};
use avf_bel::audio::{FrameFeatures, TONNETZ_DIMS};
use avf_bel::config::{AudioConfig, CortexConfig};
use avf_bel::{Error, ModelConfig};

const SILENCE_DB: f32 = -80.0;

/// A tone: start (s), duration (s), tonotopic group it sounds in, level (dB).
#[derive(Clone, Copy)]
struct Tone {
    start: f32,
    dur: f32,
    group: usize,
    db: f32,
}

/// One synthetic frame: its mel spectrum (dB) and onset strength.
struct Frame {
    mel: Vec<f32>,
    onset: f32,
}

/// Frames of a clip of `secs` seconds holding `tones`; each tone fills its group's mel band and marks an onset
/// (strength 10) on its first frame.
fn clip(audio: &AudioConfig, groups: usize, secs: f32, tones: &[Tone]) -> Vec<Frame> {
    let hop_s = audio.hop as f32 / audio.sample_rate as f32;
    let m = audio.n_mels as usize;
    let n = (secs / hop_s).round() as usize;
    (0..n)
        .map(|t| {
            let time = t as f32 * hop_s;
            let mut mel = vec![SILENCE_DB; m];
            let mut onset = 0.0f32;
            for tone in tones {
                if time >= tone.start && time < tone.start + tone.dur {
                    let (a, b) = (tone.group * m / groups, (tone.group + 1) * m / groups);
                    mel[a..b].iter_mut().for_each(|x| *x = x.max(tone.db));
                    if time - tone.start < hop_s {
                        onset = onset.max(10.0);
                    }
                }
            }
            Frame { mel, onset }
        })
        .collect()
}

/// Tones of `dur` seconds at `rate_hz` in `group`, over `secs` seconds.
fn rhythm(rate_hz: f32, secs: f32, dur: f32, group: usize, db: f32) -> Vec<Tone> {
    let n = (secs * rate_hz).floor() as usize;
    (0..n)
        .map(|k| Tone {
            start: k as f32 / rate_hz,
            dur,
            group,
            db,
        })
        .collect()
}

fn feed(c: &mut Cortex, frames: &[Frame]) -> Vec<Vec<f32>> {
    let g = Cortex::n_frame_rates(&CortexConfig {
        groups: 1,
        ..CortexConfig::default()
    }) / 3;
    let _ = g;
    let mut rates = Vec::with_capacity(frames.len());
    for (i, f) in frames.iter().enumerate() {
        c.step_frame(&FrameFeatures {
            index: i as u32,
            rms: 0.1,
            pitch_mean: 0.0,
            tonnetz: [0.0; TONNETZ_DIMS],
            onset: f.onset,
            mel_db: &f.mel,
        });
        let mut r = vec![0.0; 64 * 3];
        c.last_frame_rates(&mut r);
        rates.push(r);
    }
    rates
}

/// Features of `frames` on a fresh cortex of `cfg`.
fn features(cfg: &ModelConfig, frames: &[Frame]) -> Vec<f32> {
    let mut scratch = vec![0.0f32; Cortex::scratch_len(&cfg.cortex, &cfg.audio)];
    let mut c = Cortex::new(&cfg.cortex, &cfg.audio, &mut scratch).unwrap();
    feed(&mut c, frames);
    let mut out = vec![0.0; Cortex::n_features(&cfg.cortex)];
    c.features(&mut out);
    out
}

fn tiny() -> ModelConfig {
    ModelConfig::tiny()
}

fn print_features(label: &str, f: &[f32], g: usize) {
    println!("{label}");
    for (blk, name) in ["PYR", "PV", "SOM", "sd PYR", "sd PV", "sd SOM"]
        .iter()
        .enumerate()
    {
        println!("  {name:7} {:?}", &f[blk * g..(blk + 1) * g]);
    }
}

#[test]
#[ignore]
fn explore() {
    let cfg = tiny();
    let g = cfg.cortex.groups as usize;
    let sil = clip(&cfg.audio, g, 2.0, &[]);
    print_features("silence", &features(&cfg, &sil), g);
    for rate in [2.0, 6.0] {
        let c = clip(&cfg.audio, g, 3.0, &rhythm(rate, 3.0, 0.05, 1, 10.0));
        print_features(&format!("rhythm {rate} Hz"), &features(&cfg, &c), g);
    }
    let c = clip(&cfg.audio, g, 2.0, &rhythm(4.0, 2.0, 0.1, 3, 10.0));
    print_features("high band", &features(&cfg, &c), g);
    let cfg = ModelConfig::default();
    let g = cfg.cortex.groups as usize;
    let c = clip(&cfg.audio, g, 2.0, &rhythm(4.0, 2.0, 0.1, 2, 10.0));
    print_features("default, band 2", &features(&cfg, &c), g);
    let sil = clip(&cfg.audio, g, 2.0, &[]);
    print_features("default silence", &features(&cfg, &sil), g);
}

#[test]
fn scratch_too_small_is_an_error() {
    let cfg = tiny();
    let need = Cortex::scratch_len(&cfg.cortex, &cfg.audio);
    let mut scratch = vec![0.0f32; need - 1];
    match Cortex::new(&cfg.cortex, &cfg.audio, &mut scratch) {
        Err(Error::ScratchTooSmall { needed, got }) => {
            assert_eq!(needed, need);
            assert_eq!(got, need - 1);
        }
        Err(e) => panic!("wrong error {e:?}"),
        Ok(_) => panic!("accepted a scratch buffer one float too small"),
    }
    let _ = DriveConfig::default();
}

/// CPU cost at the default size: `cargo test --release --test cortex -- --ignored --nocapture cost`.
#[test]
#[ignore]
fn cost_per_second_of_audio() {
    let cfg = ModelConfig::default();
    let g = cfg.cortex.groups as usize;
    let secs = 10.0;
    let mut tones = rhythm(4.0, secs, 0.1, 2, 10.0);
    tones.extend(rhythm(3.0, secs, 0.2, 5, 0.0));
    let frames = clip(&cfg.audio, g, secs, &tones);
    let mut scratch = vec![0.0f32; Cortex::scratch_len(&cfg.cortex, &cfg.audio)];
    let mut c = Cortex::new(&cfg.cortex, &cfg.audio, &mut scratch).unwrap();
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        c.reset();
        let t0 = std::time::Instant::now();
        feed(&mut c, &frames);
        best = best.min(t0.elapsed().as_secs_f64());
    }
    let audio_s = frames.len() as f64 * cfg.audio.hop as f64 / cfg.audio.sample_rate as f64;
    let mut f = vec![0.0; Cortex::n_features(&cfg.cortex)];
    c.features(&mut f);
    print_features("cost clip", &f, g);
    println!(
        "scratch {} floats; {:.1} ms CPU per second of audio (best of 3, {audio_s:.2} s clip)",
        Cortex::scratch_len(&cfg.cortex, &cfg.audio),
        1e3 * best / audio_s
    );
}
