//! Integration tests of the PYR/PV/SOM auditory cortex, on synthetic mel spectra.

use avf_bel::audio::cortex::{Cortex, DriveConfig};
use avf_bel::audio::{FrameFeatures, TONNETZ_DIMS};
use avf_bel::{AudioConfig, CortexConfig};
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
    (0..n).map(|k| Tone { start: k as f32 / rate_hz, dur, group, db }).collect()
}

fn feed(c: &mut Cortex, frames: &[Frame]) -> Vec<Vec<f32>> {
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
    let mut scratch = vec![0.0f32; Cortex::scratch_len(&cfg.cortex)];
    let mut c = Cortex::new(&cfg.cortex, &cfg.audio, &mut scratch).unwrap();
    feed(&mut c, frames);
    let mut out = vec![0.0; Cortex::n_features(&cfg.cortex)];
    c.features(&mut out);
    out
}

fn tiny() -> ModelConfig {
    ModelConfig::tiny()
}

fn tiny_seed(seed: u64) -> ModelConfig {
    let mut c = ModelConfig::tiny();
    c.cortex.seed = seed;
    c
}

/// Index of feature `blk` (0 PYR, 1 PV, 2 SOM mean rate; 3..6 their spread over frames) of group `g`.
fn at(cfg: &ModelConfig, blk: usize, g: usize) -> usize {
    blk * cfg.cortex.groups as usize + g
}

#[test]
fn scratch_too_small_is_an_error() {
    let cfg = tiny();
    let need = Cortex::scratch_len(&cfg.cortex);
    let mut scratch = vec![0.0f32; need - 1];
    match Cortex::new(&cfg.cortex, &cfg.audio, &mut scratch) {
        Err(Error::ScratchTooSmall { needed, got }) => {
            assert_eq!(needed, need);
            assert_eq!(got, need - 1);
        }
        Err(e) => panic!("wrong error {e:?}"),
        Ok(_) => panic!("accepted a scratch buffer one float too small"),
    }
}

#[test]
fn deterministic_and_reset_restores_initial_state() {
    let cfg = tiny();
    let g = cfg.cortex.groups as usize;
    let frames = clip(&cfg.audio, g, 1.0, &rhythm(4.0, 1.0, 0.08, 2, 5.0));
    let mut s1 = vec![0.0f32; Cortex::scratch_len(&cfg.cortex)];
    let mut s2 = vec![7.5f32; Cortex::scratch_len(&cfg.cortex) + 3]; // dirty and larger
    let mut a = Cortex::new(&cfg.cortex, &cfg.audio, &mut s1).unwrap();
    let mut b = Cortex::new(&cfg.cortex, &cfg.audio, &mut s2).unwrap();
    let ra = feed(&mut a, &frames);
    let rb = feed(&mut b, &frames);
    let n = Cortex::n_features(&cfg.cortex);
    let (mut fa, mut fb) = (vec![0.0; n], vec![0.0; n]);
    a.features(&mut fa);
    b.features(&mut fb);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&fa), bits(&fb));
    assert_eq!(ra, rb);
    assert!(fa.iter().any(|&x| x > 0.0), "the network never fired");

    // Reset, run again: identical frame by frame; a different clip first must not leak through the reset.
    a.reset();
    assert_eq!(a.frames(), 0);
    let mut f0 = vec![1.0; n];
    a.features(&mut f0);
    assert!(f0.iter().all(|&x| x == 0.0), "features after reset: {f0:?}");
    feed(&mut a, &clip(&cfg.audio, g, 0.5, &rhythm(7.0, 0.5, 0.03, 0, 15.0)));
    a.reset();
    let ra2 = feed(&mut a, &frames);
    a.features(&mut fa);
    assert_eq!(bits(&fa), bits(&fb));
    assert_eq!(ra2, ra);

    // Another seed: another network, other numbers.
    let other = features(&tiny_seed(3), &frames);
    assert_ne!(bits(&other), bits(&fb));
}

#[test]
fn sound_changes_activity() {
    let cfg = tiny();
    let g = cfg.cortex.groups as usize;
    let silence = features(&cfg, &clip(&cfg.audio, g, 1.5, &[]));
    let sound = features(&cfg, &clip(&cfg.audio, g, 1.5, &rhythm(4.0, 1.5, 0.1, 1, 10.0)));
    assert!(silence.iter().all(|x| x.is_finite() && *x >= 0.0));
    // Spontaneous activity exists (noise-driven), and the sounding band's PYR and PV fire clearly more.
    assert!(silence[at(&cfg, 0, 1)] > 0.0);
    assert!(
        sound[at(&cfg, 0, 1)] > 1.5 * silence[at(&cfg, 0, 1)],
        "PYR group 1: sound {} vs silence {}",
        sound[at(&cfg, 0, 1)],
        silence[at(&cfg, 0, 1)]
    );
    assert!(sound[at(&cfg, 1, 1)] > 1.5 * silence[at(&cfg, 1, 1)]);
    assert!(sound[at(&cfg, 3, 1)] > silence[at(&cfg, 3, 1)]);
}

#[test]
fn louder_sound_drives_harder() {
    let cfg = tiny();
    let g = cfg.cortex.groups as usize;
    let soft = features(&cfg, &clip(&cfg.audio, g, 1.5, &rhythm(4.0, 1.5, 0.1, 2, -25.0)));
    let loud = features(&cfg, &clip(&cfg.audio, g, 1.5, &rhythm(4.0, 1.5, 0.1, 2, 15.0)));
    let (ps, pl) = (soft[at(&cfg, 0, 2)], loud[at(&cfg, 0, 2)]);
    let (vs, vl) = (soft[at(&cfg, 1, 2)], loud[at(&cfg, 1, 2)]);
    assert!(pl > 1.3 * ps, "PYR soft {ps} loud {pl}");
    assert!(vl > 1.3 * vs, "PV soft {vs} loud {vl}");
}

#[test]
fn tonotopy_low_and_high_bands_activate_different_groups() {
    let cfg = tiny();
    let g = cfg.cortex.groups as usize;
    let low = features(&cfg, &clip(&cfg.audio, g, 1.5, &rhythm(4.0, 1.5, 0.1, 0, 10.0)));
    let high = features(&cfg, &clip(&cfg.audio, g, 1.5, &rhythm(4.0, 1.5, 0.1, g - 1, 10.0)));
    for blk in [0, 1] {
        let (l0, lh) = (low[at(&cfg, blk, 0)], low[at(&cfg, blk, g - 1)]);
        let (h0, hh) = (high[at(&cfg, blk, 0)], high[at(&cfg, blk, g - 1)]);
        assert!(l0 > 1.5 * lh, "block {blk}: low tone, group 0 {l0} vs top {lh}");
        assert!(hh > 1.5 * h0, "block {blk}: high tone, top {hh} vs group 0 {h0}");
    }
}

#[test]
fn rhythm_is_carried_by_the_activity() {
    // 50-ms tones at 2 Hz vs 6 Hz in band 1: rate and temporal modulation of that band's cells differ clearly, in
    // every one of several independently drawn networks.
    let base = tiny();
    let g = base.cortex.groups as usize;
    let slow = clip(&base.audio, g, 3.0, &rhythm(2.0, 3.0, 0.05, 1, 10.0));
    let fast = clip(&base.audio, g, 3.0, &rhythm(6.0, 3.0, 0.05, 1, 10.0));
    for seed in [2, 11, 29] {
        let cfg = tiny_seed(seed);
        let (fs, ff) = (features(&cfg, &slow), features(&cfg, &fast));
        for blk in [0, 1] {
            let (ms, mf) = (fs[at(&cfg, blk, 1)], ff[at(&cfg, blk, 1)]);
            assert!(mf > 1.25 * ms, "seed {seed} block {blk}: rate 6 Hz {mf} vs 2 Hz {ms}");
        }
        // PV temporal modulation (the PYR one is dominated by spike-count noise in 16-cell groups, and fast
        // depression makes its onset-locked variance nearly rate-independent; see docs/cortex.md).
        let (ss, sf) = (fs[at(&cfg, 4, 1)], ff[at(&cfg, 4, 1)]);
        assert!(sf > 1.1 * ss, "seed {seed}: PV spread 6 Hz {sf} vs 2 Hz {ss}");
        // The driven band's rate gains more from the faster rhythm than a band that hears nothing.
        let gain_driven = ff[at(&cfg, 0, 1)] - fs[at(&cfg, 0, 1)];
        let gain_silent = ff[at(&cfg, 0, 3)] - fs[at(&cfg, 0, 3)];
        assert!(gain_driven > 2.0 * gain_silent, "seed {seed}: {gain_driven} vs {gain_silent}");
    }
    // The per-frame PYR rate of the driven group follows the tone onsets.
    let cfg = tiny();
    let mut scratch = vec![0.0f32; Cortex::scratch_len(&cfg.cortex)];
    let mut c = Cortex::new(&cfg.cortex, &cfg.audio, &mut scratch).unwrap();
    let rates = feed(&mut c, &slow);
    let hop_s = cfg.audio.hop as f32 / cfg.audio.sample_rate as f32;
    let (mut on, mut n_on, mut off, mut n_off) = (0.0, 0, 0.0, 0);
    for (t, r) in rates.iter().enumerate() {
        let phase = (t as f32 * hop_s * 2.0).fract(); // position within the 0.5-s period
        if phase < 0.1 {
            on += r[1];
            n_on += 1;
        } else if phase > 0.3 {
            off += r[1];
            n_off += 1;
        }
    }
    let (on, off) = (on / n_on as f32, off / n_off as f32);
    assert!(on > 3.0 * off, "PYR rate at onsets {on} Hz vs between tones {off} Hz");
}

#[test]
fn tiny_and_default_configs_run() {
    let cfg = tiny();
    assert_eq!(Cortex::n_features(&cfg.cortex), 24);
    assert_eq!(Cortex::n_frame_rates(&cfg.cortex), 12);
    let f = features(&cfg, &clip(&cfg.audio, 4, 0.5, &rhythm(4.0, 0.5, 0.1, 3, 0.0)));
    assert!(f.iter().all(|x| x.is_finite() && *x >= 0.0));

    let cfg = ModelConfig::default();
    let g = cfg.cortex.groups as usize;
    assert_eq!(Cortex::n_features(&cfg.cortex), 48);
    assert_eq!(Cortex::scratch_len(&cfg.cortex), 52_944);
    let f = features(&cfg, &clip(&cfg.audio, g, 0.3, &rhythm(5.0, 0.3, 0.1, 5, 10.0)));
    assert!(f.iter().all(|x| x.is_finite() && *x >= 0.0));
    assert!(f[at(&cfg, 0, 5)] > f[at(&cfg, 0, 0)], "{f:?}");
}

#[test]
fn bad_values_never_panic_and_nan_is_silence() {
    let cfg = tiny();
    let g = cfg.cortex.groups as usize;
    let m = cfg.audio.n_mels as usize;
    let silence = clip(&cfg.audio, g, 0.5, &[]);
    let nan: Vec<Frame> = silence.iter().map(|_| Frame { mel: vec![f32::NAN; m], onset: f32::NAN }).collect();
    let a = features(&cfg, &silence);
    let b = features(&cfg, &nan);
    assert_eq!(a, b, "NaN spectrum must act as silence");

    // Infinities, huge values, negative onsets, wrong mel lengths; and short output buffers.
    let mut scratch = vec![0.0f32; Cortex::scratch_len(&cfg.cortex)];
    let mut c = Cortex::new(&cfg.cortex, &cfg.audio, &mut scratch).unwrap();
    let weird: [(&[f32], f32); 8] = [
        (&[f32::INFINITY; 32], f32::INFINITY),
        (&[f32::NEG_INFINITY; 32], f32::NEG_INFINITY),
        (&[f32::MAX; 32], -5.0),
        (&[-f32::MAX; 32], f32::MAX),
        (&[], 3.0),
        (&[10.0; 3], 1.0),
        (&[10.0; 500], 1.0),
        (&[f32::NAN, 1e30, -1e30, 0.0], f32::MIN_POSITIVE),
    ];
    for round in 0..20 {
        for (i, (mel, onset)) in weird.iter().enumerate() {
            c.step_frame(&FrameFeatures {
                index: (round * 8 + i) as u32,
                rms: f32::NAN,
                pitch_mean: f32::INFINITY,
                tonnetz: [f32::NAN; TONNETZ_DIMS],
                onset: *onset,
                mel_db: mel,
            });
        }
    }
    let mut f = vec![0.0; Cortex::n_features(&cfg.cortex)];
    c.features(&mut f);
    assert!(f.iter().all(|x| x.is_finite()), "{f:?}");
    let mut drive = [0.0; 4];
    c.last_drive(&mut drive);
    assert!(drive.iter().all(|x| (0.0..=1.0).contains(x)));
    let mut short = [0.0; 5];
    c.features(&mut short);
    c.last_frame_rates(&mut short);
    c.last_drive(&mut []);
}

#[test]
fn drive_parameters_are_checked() {
    let cfg = tiny();
    let mut scratch = vec![0.0f32; Cortex::scratch_len(&cfg.cortex)];
    let mut c = Cortex::new(&cfg.cortex, &cfg.audio, &mut scratch).unwrap();
    assert_eq!(c.drive_config(), DriveConfig::default());
    let bad = [
        DriveConfig { ceil_db: -50.0, ..DriveConfig::default() },
        DriveConfig { onset_ref: 0.0, ..DriveConfig::default() },
        DriveConfig { onset_share: f32::NAN, ..DriveConfig::default() },
        DriveConfig { gain: -1.0, ..DriveConfig::default() },
    ];
    for d in bad {
        assert!(matches!(c.set_drive(d), Err(Error::Config(_))), "{d:?}");
    }
    let good = DriveConfig { gain: 2.0, ..DriveConfig::default() };
    c.set_drive(good).unwrap();
    assert_eq!(c.drive_config(), good);
    let mut bad_cfg = cfg.cortex;
    bad_cfg.groups = 0;
    assert!(matches!(Cortex::new(&bad_cfg, &cfg.audio, &mut scratch), Err(Error::Config(_))));
    // The spec's populations validate, and a Cortex of that size is built over exactly its scratch length.
    let spec = CortexConfig::default();
    assert_eq!((spec.n_pyr, spec.n_pv, spec.n_som, spec.dt_us, spec.seed), (800, 200, 200, 100, 2));
    let mut exact = vec![0.0; Cortex::scratch_len(&spec)];
    assert!(Cortex::new(&spec, &cfg.audio, &mut exact).is_ok());
    let mut short = vec![0.0; exact.len() - 1];
    assert!(matches!(Cortex::new(&spec, &cfg.audio, &mut short), Err(Error::ScratchTooSmall { .. })));
}

#[test]
fn multi_chunk_and_odd_sizes_are_deterministic_and_reset_cleanly() {
    // Populations larger than one update chunk and not multiples of any vector width: two fresh networks and a
    // reset one give the same bits frame by frame.
    for cortex in [
        ModelConfig::default().cortex,
        CortexConfig { n_pyr: 301, n_pv: 37, n_som: 150, groups: 5, dt_us: 100, seed: 9 },
    ] {
        let cfg = ModelConfig { cortex, ..ModelConfig::default() };
        let g = cfg.cortex.groups as usize;
        let frames = clip(&cfg.audio, g, 0.4, &rhythm(5.0, 0.4, 0.1, g - 1, 10.0));
        let len = Cortex::scratch_len(&cfg.cortex);
        let (mut s1, mut s2) = (vec![0.0f32; len], vec![-3.0f32; len]);
        let mut a = Cortex::new(&cfg.cortex, &cfg.audio, &mut s1).unwrap();
        let mut b = Cortex::new(&cfg.cortex, &cfg.audio, &mut s2).unwrap();
        let ra = feed(&mut a, &frames);
        assert_eq!(ra, feed(&mut b, &frames));
        a.reset();
        assert_eq!(ra, feed(&mut a, &frames));
        let mut f = vec![0.0; Cortex::n_features(&cfg.cortex)];
        a.features(&mut f);
        assert!(f.iter().all(|x| x.is_finite() && *x >= 0.0), "{f:?}");
        assert!(f[at(&cfg, 0, g - 1)] > f[at(&cfg, 0, 0)], "driven top band vs silent bottom band: {f:?}");
    }
}

#[test]
fn every_kernel_level_gives_the_same_spike_trains() {
    // The network update compiled for each level's vector width (`Cortex::set_level`, which `Pipeline` calls with
    // its kernel table's level) gives the same bits frame by frame as the portable compilation, on the default
    // network and on odd sizes that leave vector tails; a level this CPU lacks is refused, not run.
    use avf_bel::kernels::{KernelError, Level};
    for cortex in [
        ModelConfig::default().cortex,
        CortexConfig { n_pyr: 301, n_pv: 37, n_som: 150, groups: 5, dt_us: 100, seed: 9 },
    ] {
        let cfg = ModelConfig { cortex, ..ModelConfig::default() };
        let g = cfg.cortex.groups as usize;
        let frames = clip(&cfg.audio, g, 0.3, &rhythm(6.0, 0.3, 0.08, g / 2, 12.0));
        let run = |level: Level| -> Result<(Vec<Vec<f32>>, Vec<f32>), KernelError> {
            let mut s = vec![0.0f32; Cortex::scratch_len(&cfg.cortex)];
            let mut c = Cortex::new(&cfg.cortex, &cfg.audio, &mut s).unwrap();
            c.set_level(level)?;
            let rates = feed(&mut c, &frames);
            let mut f = vec![0.0; Cortex::n_features(&cfg.cortex)];
            c.features(&mut f);
            Ok((rates, f))
        };
        let reference = run(Level::Portable).unwrap();
        assert!(reference.1.iter().any(|&x| x > 0.0), "the clip makes the network spike");
        let mut ran = vec![Level::Portable.name()];
        // The portable level is the reference itself (run once: under qemu each run of the default network costs
        // seconds).
        for level in Level::ALL.into_iter().filter(|&l| l != Level::Portable) {
            match run(level) {
                Ok(got) => {
                    assert!(got == reference, "level {level} changed the spike trains");
                    ran.push(level.name());
                }
                Err(e) => {
                    assert!(!level.supported(), "{level}: {e}");
                    assert_eq!(e, KernelError::Unsupported(level));
                }
            }
        }
        println!("cortex bit-identical at levels {ran:?}");
    }
}

/// FNV-1a over the bits of every frame's group rates and the clip features.
fn fingerprint(rates: &[Vec<f32>], features: &[f32]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for x in rates.iter().flatten().chain(features) {
        for b in x.to_bits().to_le_bytes() {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[test]
fn spike_trains_match_the_pinned_fingerprint() {
    // Speed work on the update (loop splitting, kernel levels, register pressure) must not change what the network
    // computes: the default network's frame-by-frame group rates and features over a rhythmic clip hash to the value
    // the code gave before any such work (commit ac9fcb4). A deliberate change to the model updates the pin and says
    // why in the commit.
    const PINNED: u64 = 0xe89a_0d73_dfb5_5c15;
    let cfg = ModelConfig::default();
    let g = cfg.cortex.groups as usize;
    let frames = clip(&cfg.audio, g, 0.4, &rhythm(5.0, 0.4, 0.1, g / 3, 15.0));
    let mut s = vec![0.0f32; Cortex::scratch_len(&cfg.cortex)];
    let mut c = Cortex::new(&cfg.cortex, &cfg.audio, &mut s).unwrap();
    let rates = feed(&mut c, &frames);
    let mut f = vec![0.0; Cortex::n_features(&cfg.cortex)];
    c.features(&mut f);
    assert!(f.iter().any(|&x| x > 0.0), "the clip makes the network spike");
    let got = fingerprint(&rates, &f);
    assert_eq!(got, PINNED, "the spike trains changed: fingerprint {got:#018x}");
}
