//! Stimulus renders carry their parameters, measured from the rendered audio and frames.

use avf_bel::stimuli::{
    self, ball, io, melody, render, render_audio, render_frames, ParamError, Params, RenderOptions, Slider,
    StimulusError,
};
use std::path::PathBuf;

mod common;

const SR: u32 = 22_050;

fn p(bpm: f64, jitter: f64, consonance: f64, bigsmall: f64, updown: f64) -> Params {
    Params { bpm, jitter, consonance, bigsmall, updown }
}

fn opts(seconds: f64, seed: u64, size: usize, fps: u32) -> RenderOptions {
    RenderOptions { seconds, seed, size, fps, sample_rate: SR }
}

// ---------------------------------------------------------------- audio measurements

/// Energy of `x` over 1-ms hops, each summed over an 8-ms window (a period of 125 Hz) starting at the hop.
fn energy_curve(x: &[f32]) -> Vec<f64> {
    let hop = SR as usize / 1000;
    let win = 8 * hop;
    let n = x.len().saturating_sub(win) / hop;
    (0..n).map(|k| x[k * hop..k * hop + win].iter().map(|&s| f64::from(s) * f64::from(s)).sum()).collect()
}

/// Onset times (s) detected in the audio alone: the 8-ms energy is at least 3× that of the window ending 1 ms
/// before; one onset per 30 ms at most.
fn detect_onsets(x: &[f32]) -> Vec<f64> {
    let e = energy_curve(x);
    let peak = e.iter().cloned().fold(0.0, f64::max);
    let floor = 1e-3 * peak;
    let mut onsets: Vec<f64> = Vec::new();
    let mut last: Option<usize> = None;
    for k in 0..e.len() {
        let before = if k >= 9 { e[k - 9] } else { 0.0 };
        if e[k] > floor && e[k] > 3.0 * before + floor * 0.1 {
            if last.is_none_or(|l| k >= l + 30) {
                onsets.push(k as f64 / 1000.0);
            }
            last = Some(k);
        }
    }
    onsets
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn std_dev(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let (ma, mb) = (mean(a), mean(b));
    let mut sab = 0.0;
    let mut saa = 0.0;
    let mut sbb = 0.0;
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}

/// `seg` under a Hann window, in f64: computed once per segment, not once per probed frequency (the cosines were
/// most of this file's time under qemu, where f64 maths is emulated).
fn hann_windowed(seg: &[f32]) -> Vec<f64> {
    let n = seg.len();
    seg.iter()
        .enumerate()
        .map(|(i, &x)| f64::from(x) * (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (n - 1) as f64).cos()))
        .collect()
}

/// Magnitude of the DFT of the (already windowed) `xw` at `freq` Hz (Goertzel).
fn goertzel(xw: &[f64], freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(SR);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &x in xw {
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0).sqrt()
}

/// The MIDI note (semitone grid, 12–120) whose frequency carries the most energy in `seg`.
fn dominant_midi(seg: &[f32]) -> i32 {
    let xw = hann_windowed(seg);
    (12..=120)
        .map(|m| (m, goertzel(&xw, 440.0 * 2f64.powf((f64::from(m) - 69.0) / 12.0))))
        .fold((0, -1.0), |best, c| if c.1 > best.1 { c } else { best })
        .0
}

/// Audio of `[t0, t1)` seconds.
fn segment(x: &[f32], t0: f64, t1: f64) -> &[f32] {
    let a = ((t0 * f64::from(SR)) as usize).min(x.len());
    let b = ((t1 * f64::from(SR)) as usize).min(x.len());
    &x[a..b]
}

// ---------------------------------------------------------------- frame measurements

/// How much of each pixel the ball covers, from the frame and the static scene: eyes (white) count as ball.
fn coverage(frame: &[u8], bg: &[u8]) -> Vec<f64> {
    frame
        .iter()
        .zip(bg)
        .map(|(&f, &b)| {
            if f >= 250 {
                1.0
            } else if f >= b {
                0.0
            } else {
                (f64::from(b - f) / f64::from(b - ball::BALL)).min(1.0)
            }
        })
        .collect()
}

struct Shape {
    cy: f64,
    /// Lean in degrees from the second moments: positive when the top of the ball is to the left.
    lean: f64,
    /// Outline length (gradient magnitude of the coverage) over √area: larger for a rougher outline.
    roughness: f64,
}

fn shape(cov: &[f64], size: usize) -> Shape {
    let (mut m, mut mx, mut my) = (0.0, 0.0, 0.0);
    for y in 0..size {
        for x in 0..size {
            let c = cov[y * size + x];
            m += c;
            mx += c * x as f64;
            my += c * y as f64;
        }
    }
    let (cx, cy) = (mx / m, my / m);
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    let mut perim = 0.0;
    for y in 0..size {
        for x in 0..size {
            let c = cov[y * size + x];
            let (dx, dy) = (x as f64 - cx, y as f64 - cy);
            sxx += c * dx * dx;
            syy += c * dy * dy;
            sxy += c * dx * dy;
            if x + 1 < size && y + 1 < size {
                let gx = cov[y * size + x + 1] - c;
                let gy = cov[(y + 1) * size + x] - c;
                perim += (gx * gx + gy * gy).sqrt();
            }
        }
    }
    // Major-axis angle from the x axis (y down); the upright ball has it at 90°.
    let phi = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    let mut phi_deg = phi.to_degrees();
    if phi_deg < 0.0 {
        phi_deg += 180.0;
    }
    Shape { cy, lean: 90.0 - phi_deg, roughness: perim / m.sqrt() }
}

/// The first seed (from 0) whose melody of `n` notes stays within MIDI `lo..=hi`, so that every note has at least one
/// period inside the onset detector's 8-ms window (MIDI 46 ≈ 117 Hz).
fn seed_in_register(params: &Params, seconds: f64, lo: i32, hi: i32) -> u64 {
    (0..1000)
        .find(|&seed| {
            let sc = stimuli::plan(params, &opts(seconds, seed, 32, 30)).unwrap();
            sc.notes.iter().all(|n| (lo..=hi).contains(&n.midi))
        })
        .expect("a seed with a mid-register melody")
}

// ---------------------------------------------------------------- timing

#[test]
fn onset_rate_follows_bpm() {
    for bpm in [45.0, 90.0, 180.0, 300.0, 400.0] {
        let pr = p(bpm, 0.0, 37.0, 0.0, 50.0);
        let seconds = 8.0;
        let seed = seed_in_register(&pr, seconds, 48, 100);
        let audio = render_audio(&pr, &opts(seconds, seed, 32, 30)).unwrap();
        let on = detect_onsets(&audio);
        let expected = (seconds * bpm / 60.0).ceil() as usize;
        let rate = (on.len() - 1) as f64 / (on[on.len() - 1] - on[0]) * 60.0;
        println!("bpm {bpm}: {} onsets (expected {expected}), measured rate {rate:.2}/min", on.len());
        assert_eq!(on.len(), expected, "bpm {bpm}: onset count");
        assert!((rate / bpm - 1.0).abs() < 0.01, "bpm {bpm}: measured {rate}");
    }
}

#[test]
fn onset_jitter_follows_jitter() {
    let bpm = 120.0;
    let period = 60.0 / bpm;
    let seconds = 24.0;
    let mut last_std = -1.0;
    for jitter in [0.0, 20.0, 40.0, 60.0, 80.0] {
        let pr = p(bpm, jitter, 37.0, 0.0, 50.0);
        let seed = seed_in_register(&pr, seconds, 48, 100);
        let audio = render_audio(&pr, &opts(seconds, seed, 32, 30)).unwrap();
        let on = detect_onsets(&audio);
        assert_eq!(on.len(), 48, "jitter {jitter}: onset count");
        let ioi: Vec<f64> = on.windows(2).map(|w| w[1] - w[0]).collect();
        let measured = std_dev(&ioi);
        // d ~ U[0, jP): an inter-onset interval P + d' − d has standard deviation jP/√6.
        let theory = jitter / 100.0 * period / 6f64.sqrt();
        // The delays actually drawn (from the note list), for a tighter check of the detector.
        let notes = stimuli::plan(&pr, &opts(seconds, seed, 32, 30)).unwrap().notes;
        let drawn: Vec<f64> = notes.windows(2).map(|w| w[1].onset_s - w[0].onset_s).collect();
        let drawn_std = std_dev(&drawn);
        println!(
            "jitter {jitter}: IOI std measured {:.2} ms, drawn {:.2} ms, theory {:.2} ms",
            measured * 1e3,
            drawn_std * 1e3,
            theory * 1e3
        );
        assert!((measured - drawn_std).abs() < 0.002, "jitter {jitter}: detector disagrees with the delays drawn");
        if jitter == 0.0 {
            assert!(measured < 0.002, "no jitter, yet IOI std {measured}");
        } else {
            assert!(measured / theory > 0.7 && measured / theory < 1.4, "jitter {jitter}: std {measured} vs {theory}");
        }
        assert!(measured > last_std, "IOI std must grow with jitter");
        last_std = measured;
    }
}

// ---------------------------------------------------------------- pitch

#[test]
fn pitch_classes_are_the_consonance_set() {
    for consonance in [0usize, 7, 24, 37] {
        let pr = p(150.0, 0.0, consonance as f64, 50.0, 50.0);
        let seconds = 12.0;
        let seed = seed_in_register(&pr, seconds, 48, 100);
        let s = render(&pr, &opts(seconds, seed, 32, 30)).unwrap();
        let set = melody::PC_SETS[consonance];
        let in_set =
            |midi: i32| set.iter().any(|&c| (i32::from(c) + s.transposition).rem_euclid(12) == midi.rem_euclid(12));
        // From the note list.
        assert!(s.notes.iter().all(|n| in_set(n.midi)), "set {consonance}: note outside the set");
        // From the audio: the dominant frequency between two detected onsets.
        let on = detect_onsets(&s.audio);
        assert_eq!(on.len(), s.notes.len());
        let mut heard = [false; 12];
        for (i, n) in s.notes.iter().enumerate() {
            let end = on.get(i + 1).copied().unwrap_or(seconds);
            let m = dominant_midi(segment(&s.audio, on[i] + 0.015, end - 0.015));
            assert_eq!(m, n.midi, "set {consonance}, note {i}: heard MIDI {m}, played {}", n.midi);
            assert!(in_set(m));
            heard[(m - s.transposition).rem_euclid(12) as usize] = true;
        }
        let heard_set: Vec<u8> = (0..12u8).filter(|&c| heard[c as usize]).collect();
        println!("set {consonance}: heard pitch classes {heard_set:?} (t = {})", s.transposition);
        assert_eq!(heard_set, set.to_vec(), "set {consonance}: all five classes, nothing else");
    }
}

/// MIDI notes heard on the beat grid of a jitter-free clip (one per beat).
fn heard_on_grid(audio: &[f32], bpm: f64, n: usize) -> Vec<i32> {
    let period = 60.0 / bpm;
    (0..n)
        .map(|k| {
            let t = k as f64 * period;
            dominant_midi(segment(audio, t + 0.015, t + period - 0.02))
        })
        .collect()
}

#[test]
fn downward_share_follows_updown() {
    let bpm = 240.0;
    let seconds = 2.0;
    let mut last = -1.0;
    for updown in [10.0, 50.0, 90.0] {
        let pr = p(bpm, 0.0, 37.0, 20.0, updown);
        let (mut down, mut steps) = (0, 0);
        for seed in 0..12 {
            let o = opts(seconds, seed, 32, 30);
            let audio = render_audio(&pr, &o).unwrap();
            let heard = heard_on_grid(&audio, bpm, 8);
            let played: Vec<i32> = stimuli::plan(&pr, &o).unwrap().notes.iter().map(|n| n.midi).collect();
            assert_eq!(heard, played, "updown {updown}, seed {seed}");
            for w in heard.windows(2) {
                steps += 1;
                down += usize::from(w[1] < w[0]);
            }
        }
        let share = down as f64 / steps as f64;
        println!("updown {updown}: {down}/{steps} steps down ({share:.3})");
        assert!((share - updown / 100.0).abs() < 0.12, "updown {updown}: share {share}");
        assert!(share > last);
        last = share;
    }
}

// ---------------------------------------------------------------- animation

/// The ball's centroid height and shape in every frame.
fn shapes(frames: &[u8], size: usize) -> Vec<Shape> {
    let bg = ball::background(size);
    frames.chunks_exact(size * size).map(|f| shape(&coverage(f, &bg), size)).collect()
}

/// The ball's shape in frame `f`.
fn shape_at(frames: &[u8], size: usize, f: usize) -> Shape {
    let n = size * size;
    shape(&coverage(&frames[f * n..(f + 1) * n], &ball::background(size)), size)
}

/// Bounce heights (output pixels) measured per note: highest rise of the centroid over the rest pose at onset.
fn measured_heights(frames: &[u8], size: usize, fps: u32, notes: &[stimuli::NoteEvent]) -> Vec<f64> {
    let sh = shapes(frames, size);
    notes
        .iter()
        .map(|n| {
            let f0 = (n.onset_s * f64::from(fps)).ceil() as usize;
            let f1 = (((n.onset_s + n.bounce_s) * f64::from(fps)).floor() as usize).min(sh.len() - 1);
            (f0..=f1).map(|f| sh[f0].cy - sh[f].cy).fold(0.0, f64::max)
        })
        .collect()
}

#[test]
fn bounce_height_follows_interval_size() {
    let (size, fps, seconds) = (64usize, 60u32, 10.0);
    let pr = p(60.0, 0.0, 37.0, 60.0, 50.0);
    let o = opts(seconds, 3, size, fps);
    let s = render(&pr, &o).unwrap();
    let h = measured_heights(&s.frames, size, fps, &s.notes);
    let scale = size as f64 / 600.0;
    let intervals: Vec<f64> = s.notes.iter().map(|n| f64::from(n.interval)).collect();
    for (n, &m) in s.notes.iter().zip(&h) {
        // |Δ| 1 → 20 px, 7 → 100 px at the 600-px scene.
        let expect = (20.0 + (f64::from(n.interval.max(1)) - 1.0) * 80.0 / 6.0) * scale;
        println!("interval {:2}: height {m:.2} px (expected {expect:.2})", n.interval);
        assert!((m - expect).abs() < 0.4 + 0.05 * expect, "interval {}: {m} vs {expect}", n.interval);
    }
    let r = pearson(&intervals, &h);
    assert!(r > 0.98, "height vs interval r = {r}");
    // Big/small moves the heights through the interval sizes.
    let mean_h = |bigsmall: f64| {
        let pr = p(60.0, 0.0, 37.0, bigsmall, 50.0);
        let s = render(&pr, &o).unwrap();
        mean(&measured_heights(&s.frames, size, fps, &s.notes))
    };
    let (small, big) = (mean_h(5.0), mean_h(95.0));
    println!("mean bounce: bigsmall 5 → {small:.2} px, 95 → {big:.2} px");
    assert!(big > 1.5 * small);
}

/// Frame index where note `k` is at rest after its bounce (spikes and lean at their targets).
fn rest_frame(n: &stimuli::NoteEvent, fps: u32) -> usize {
    ((n.onset_s + n.bounce_s) * f64::from(fps)).ceil() as usize + 1
}

#[test]
fn spikiness_follows_dissonance() {
    let (size, fps, seconds) = (128usize, 30u32, 24.0);
    let mut by_set = Vec::new();
    for consonance in [0.0, 37.0] {
        let pr = p(60.0, 0.0, consonance, 50.0, 50.0);
        let s = render(&pr, &opts(seconds, 5, size, fps)).unwrap();
        // Before the first note the outline is the plain ellipse.
        let smooth = shape_at(&s.frames, size, 0).roughness;
        let rough: Vec<f64> =
            s.notes.iter().map(|n| shape_at(&s.frames, size, rest_frame(n, fps)).roughness - smooth).collect();
        // Expected amplitude from Huron's value of the interval: −1.428 → 0.2, 0.8 → 0.
        let amp: Vec<f64> =
            s.notes.iter().map(|n| (0.2 * (0.8 - melody::huron_of(n.interval)) / 2.228).abs()).collect();
        let r = pearson(&amp, &rough);
        println!("consonance {consonance}: smooth {smooth:.3}, roughness vs amplitude r = {r:.3}, mean rough {:.3}, mean amp {:.3}", mean(&rough), mean(&amp));
        assert!(r > 0.8, "consonance {consonance}: r = {r}");
        by_set.push(mean(&rough));
    }
    assert!(by_set[0] > 1.5 * by_set[1], "dissonant set must look rougher: {by_set:?}");
}

#[test]
fn lean_follows_pitch() {
    let (size, fps, seconds, bpm) = (128usize, 30u32, 30.0, 60.0);
    let pr = p(bpm, 0.0, 37.0, 50.0, 50.0);
    let seed = seed_in_register(&pr, seconds, 36, 96);
    let s = render(&pr, &opts(seconds, seed, size, fps)).unwrap();
    let heard = heard_on_grid(&s.audio, bpm, s.notes.len());
    let lean: Vec<f64> = s.notes.iter().map(|n| shape_at(&s.frames, size, rest_frame(n, fps)).lean).collect();
    let pitch: Vec<f64> = heard.iter().map(|&m| f64::from(m)).collect();
    let mut err: Vec<f64> = Vec::new();
    for ((m, l), n) in heard.iter().zip(&lean).zip(&s.notes) {
        let expect = 60.0 - f64::from(*m);
        println!("heard {m}: lean {l:.2}° (60 − note = {expect}), spike amplitude {:.3}", n.spikiness);
        // The outline's spikes bend the second moments by a few degrees, the more the spikier.
        assert!((l - expect).abs() < 3.0 + 100.0 * n.spikiness, "note {m}: lean {l}° vs {expect}°");
        err.push((l - expect).abs());
    }
    err.sort_by(f64::total_cmp);
    let median = err[err.len() / 2];
    println!("median |error| {median:.2}°");
    assert!(median < 2.0, "median lean error {median}°");
    let r = pearson(&pitch, &lean);
    let (mp, ml) = (mean(&pitch), mean(&lean));
    let slope = pitch.iter().zip(&lean).map(|(x, y)| (x - mp) * (y - ml)).sum::<f64>()
        / pitch.iter().map(|x| (x - mp) * (x - mp)).sum::<f64>();
    println!(
        "lean vs pitch: r = {r:.4}, slope {slope:.3}°/semitone, pitch range {:?}",
        (pitch.iter().cloned().fold(f64::MAX, f64::min), pitch.iter().cloned().fold(f64::MIN, f64::max))
    );
    assert!(r < -0.95, "lean vs heard pitch r = {r}");
    assert!((slope + 1.0).abs() < 0.15, "lean slope {slope}°/semitone, expected −1");
}

// ---------------------------------------------------------------- the walk and the timing, from the note list

#[test]
fn timing_and_walk_follow_the_rules() {
    // Huron's table and the mappings at their anchor points.
    assert_eq!(melody::huron_of(1), -1.428);
    assert_eq!(melody::huron_of(7), 1.240);
    assert_eq!(melody::huron_of(13), -1.428);
    assert!((melody::spike_amplitude(-1.428) - 0.2).abs() < 1e-12);
    assert!(melody::spike_amplitude(0.8).abs() < 1e-12);
    assert_eq!(melody::bounce_height(1), 20.0);
    assert_eq!(melody::bounce_height(7), 100.0);
    assert_eq!(melody::bounce_height(0), 20.0);
    // The size curve: P(c ≥ a) = a.
    for a in [0.1, 0.5, 0.8] {
        let n = 10_000;
        let hits = (0..n).filter(|&i| melody::interval_curve((i as f64 + 0.5) / n as f64, a) >= a).count();
        assert!((hits as f64 / n as f64 - a).abs() < 1e-3, "a = {a}");
    }
    assert_eq!(melody::step_size(0.25), 1);
    assert_eq!(melody::step_size(0.26), 2);
    assert_eq!(melody::step_size(0.75), 3);
    assert_eq!(melody::step_size(0.76), 4);
    let pr = p(200.0, 50.0, 21.0, 70.0, 30.0);
    let o = opts(30.0, 9, 32, 30);
    let sc = stimuli::plan(&pr, &o).unwrap();
    let period_ms = 60_000.0 / pr.bpm;
    let max_delay = (0.5 * period_ms).floor() as u32;
    assert_eq!(sc.start_midi, 60 + sc.transposition);
    for (k, n) in sc.notes.iter().enumerate() {
        assert!(n.delay_ms < max_delay);
        assert!((n.onset_s * 1000.0 - (k as f64 * period_ms + f64::from(n.delay_ms))).abs() < 1e-9);
        assert!((n.duration_s * 1000.0 - (period_ms - f64::from(n.delay_ms) - 10.0)).abs() < 1e-9);
        assert!((n.bounce_s * 1000.0 - 0.93 * (period_ms - f64::from(n.delay_ms))).abs() < 1e-9);
        assert_eq!(n.lean, 60.0 - f64::from(n.midi));
        let octave = |m: i32| (m - sc.transposition).div_euclid(12);
        if (2..=8).contains(&octave(n.midi)) && (2..=8).contains(&octave(n.prev_midi)) {
            assert_eq!(n.step_down, n.midi < n.prev_midi, "a down step lowers the pitch (away from the octave clamps)");
        }
        let pc = (n.midi - sc.transposition).rem_euclid(12) as u8;
        assert!(melody::PC_SETS[21].contains(&pc));
        if k > 0 {
            assert_eq!(n.prev_midi, sc.notes[k - 1].midi);
        }
    }
    assert_eq!(sc.notes.len(), 100);
}

// ---------------------------------------------------------------- determinism and golden hashes

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn audio_bytes(a: &[f32]) -> Vec<u8> {
    a.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let pr = Params::prototype("happy").unwrap();
    let a = render(&pr, &opts(2.0, 5, 32, 30)).unwrap();
    let b = render(&pr, &opts(2.0, 5, 32, 30)).unwrap();
    let c = render(&pr, &opts(2.0, 6, 32, 30)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.audio, c.audio);
    assert_ne!(a.frames, c.frames);
    // The split renders are the same bytes as the whole.
    assert_eq!(render_audio(&pr, &opts(2.0, 5, 32, 30)).unwrap(), a.audio);
    assert_eq!(render_frames(&pr, &opts(2.0, 5, 32, 30)).unwrap(), a.frames);
    // Frame size and rate do not change the melody.
    let d = render(&pr, &opts(2.0, 5, 48, 24)).unwrap();
    assert_eq!(d.audio, a.audio);
    assert_eq!(d.notes, a.notes);
}

/// FNV-1a-64 of the audio (f32 little-endian) and of the frames of three renders. The same on x86_64 and aarch64:
/// only `+ − × ÷`, `sqrt` and `libm` functions touch the output, never the platform's maths library.
#[test]
fn golden_hashes() {
    let cases: [(Params, RenderOptions, u64, u64); 3] = [
        (Params::prototype("angry").unwrap(), RenderOptions::default(), 0x2bae_7905_2b88_2fd5, 0xf3e0_86e8_3965_32f5),
        (Params::prototype("peaceful").unwrap(), opts(2.0, 7, 32, 30), 0x4b7e_56e9_e519_01d7, 0xf275_49d5_2191_2370),
        (p(120.0, 30.0, 12.0, 40.0, 60.0), opts(1.5, 42, 48, 24), 0xce9c_d3c5_2271_5ca2, 0x9999_5ee1_a61a_8d2d),
    ];
    for (pr, o, audio_hash, frames_hash) in cases {
        let s = render(&pr, &o).unwrap();
        let (ha, hf) = (fnv1a64(&audio_bytes(&s.audio)), fnv1a64(&s.frames));
        println!("{pr}: audio {ha:#018x}, frames {hf:#018x}");
        assert_eq!((ha, hf), (audio_hash, frames_hash), "{pr}");
    }
}

// ---------------------------------------------------------------- bad input

#[test]
fn out_of_range_and_non_numbers_name_the_slider() {
    let good = Params::prototype("sad").unwrap();
    assert!(good.validate().is_ok());
    for (slider, bad) in [
        (Slider::Bpm, 29.0),
        (Slider::Bpm, 401.0),
        (Slider::Jitter, -0.5),
        (Slider::Jitter, 99.5),
        (Slider::Consonance, 38.0),
        (Slider::Consonance, -1.0),
        (Slider::Bigsmall, 100.1),
        (Slider::Updown, -3.0),
    ] {
        let mut q = good;
        q.set(slider, bad);
        let e = q.validate().unwrap_err();
        assert_eq!(e, ParamError::OutOfRange { slider, value: bad });
        let msg = e.to_string();
        let (lo, hi) = slider.range();
        assert!(msg.contains(slider.name()) && msg.contains(&format!("{lo}–{hi}")), "{msg}");
        // The same through render.
        assert_eq!(render(&q, &RenderOptions::default()).unwrap_err(), StimulusError::Param(e));
    }
    for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut q = good;
        q.updown = v;
        assert_eq!(q.validate().unwrap_err(), ParamError::NonFinite(Slider::Updown));
    }
    let mut q = good;
    q.consonance = 12.5;
    assert!(q.validate().unwrap_err().to_string().contains("consonance"));

    let parsed = Params::parse("bpm=46, jitter=7,consonance=30,bigsmall=12,updown=89.5").unwrap();
    assert_eq!(parsed, good);
    let err = |t: &str| Params::parse(t).unwrap_err();
    assert_eq!(
        err("bpm=46,jitter=x7,consonance=30,bigsmall=12,updown=89.5"),
        ParamError::NotANumber { slider: Slider::Jitter, text: "x7".into() }
    );
    assert!(err("bpm=46,jitter=7,consonance=30,bigsmall=12,updown=").to_string().contains("`updown` (0–100"));
    assert_eq!(err("bpm=46,jitter=7,consonance=30,bigsmall=12"), ParamError::Missing(Slider::Updown));
    assert_eq!(err("bpm=46,bpm=47,jitter=7,consonance=30,bigsmall=12,updown=1"), ParamError::Duplicate(Slider::Bpm));
    assert_eq!(err("tempo=46"), ParamError::UnknownSlider("tempo".into()));
    assert_eq!(err("bpm46"), ParamError::Syntax("bpm46".into()));
    assert_eq!(err("bpm=nan,jitter=7,consonance=30,bigsmall=12,updown=1"), ParamError::NonFinite(Slider::Bpm));

    for (o, name) in [
        (opts(0.0, 0, 64, 30), "seconds"),
        (opts(f64::NAN, 0, 64, 30), "seconds"),
        (opts(3.0, 0, 4, 30), "size"),
        (opts(3.0, 0, 64, 0), "fps"),
    ] {
        let e = render(&good, &o).unwrap_err();
        assert!(matches!(e, StimulusError::BadOption { option, .. } if option == name), "{e}");
    }
}

// ---------------------------------------------------------------- data, files and the command line

#[test]
fn stimuli_load_from_the_table_and_prototypes_match_it() {
    let Some(d) = common::study_data("stimuli_load_from_the_table_and_prototypes_match_it") else { return };
    assert_eq!(io::load_stimulus(&d, "sad_scared_75").unwrap(), p(259.75, 50.5, 11.0, 49.125, 61.0));
    for name in stimuli::PROTOTYPES {
        assert_eq!(io::load_stimulus(&d, name).unwrap(), Params::prototype(name).unwrap(), "{name}");
    }
    let e = io::load_stimulus(&d, "no_such_stimulus").unwrap_err();
    assert!(matches!(e, StimulusError::UnknownStimulus { .. }));
    assert!(e.to_string().contains("happy_scared_50"));
    let e = io::load_stimulus(&d.join("missing"), "sad_scared_75").unwrap_err();
    assert!(matches!(e, StimulusError::Data { .. }));
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = common::scratch_dir("stimuli").join(tag);
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Run `avf-bel synth ARGS`; `Err(stderr)` when it fails.
fn synth(v: &[&str]) -> Result<(), String> {
    let out = common::command().arg("synth").args(v).output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn synth_writes_wav_y4m_and_preview() {
    let Some(data) = common::study_data("synth_writes_wav_y4m_and_preview") else { return };
    let out = temp_dir("cli");
    let preview = out.join("sheet.png");
    let status = synth(&[
        "--stimulus",
        "happy_sad_25",
        "--data",
        data.to_str().unwrap(),
        "--seconds",
        "1",
        "--seed",
        "3",
        "--size",
        "32",
        "--fps",
        "20",
        "--out",
        out.to_str().unwrap(),
        "--preview",
        preview.to_str().unwrap(),
    ]);
    if cfg!(not(feature = "plot")) {
        // Without the figures, --preview says which feature it needs, and nothing else is checked here.
        assert!(status.unwrap_err().contains("`plot` feature"));
        return;
    }
    assert!(status.is_ok(), "{status:?}");
    let wav = std::fs::read(out.join("audio.wav")).unwrap();
    assert_eq!(&wav[0..4], b"RIFF");
    assert_eq!(&wav[8..16], b"WAVEfmt ");
    assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 1, "mono");
    assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 22_050);
    assert_eq!(u16::from_le_bytes([wav[34], wav[35]]), 16, "16-bit");
    assert_eq!(&wav[36..40], b"data");
    assert_eq!(u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize, 22_050 * 2);
    assert_eq!(wav.len(), 44 + 22_050 * 2);
    // The PCM is the in-memory render.
    let pr = io::load_stimulus(&data, "happy_sad_25").unwrap();
    let s = render(&pr, &opts(1.0, 3, 32, 20)).unwrap();
    for (i, &x) in s.audio.iter().enumerate().step_by(97) {
        let v = i16::from_le_bytes([wav[44 + 2 * i], wav[45 + 2 * i]]);
        assert_eq!(v, io::pcm16(x));
    }
    let y4m = std::fs::read(out.join("video.y4m")).unwrap();
    let header = b"YUV4MPEG2 W32 H32 F20:1 Ip A1:1 C420jpeg\n";
    assert_eq!(&y4m[..header.len()], header);
    let frame_len = 6 + 32 * 32 + 2 * 16 * 16;
    assert_eq!(y4m.len(), header.len() + 20 * frame_len);
    let f3 = header.len() + 3 * frame_len;
    assert_eq!(&y4m[f3..f3 + 6], b"FRAME\n");
    assert_eq!(&y4m[f3 + 6..f3 + 6 + 1024], s.frame(3));
    assert!(y4m[f3 + 6 + 1024..f3 + frame_len].iter().all(|&c| c == 128));
    #[cfg(feature = "plot")]
    check_preview(&preview, &s);
    let _ = std::fs::remove_dir_all(&out);
}

#[cfg(feature = "plot")]
fn check_preview(preview: &std::path::Path, s: &stimuli::Stimulus) {
    // The contact sheet: an RGB PNG whose thumbnails are the rendered frames, pixel for pixel (nearest neighbour),
    // under a title drawn in dark ink.
    let png = std::fs::read(preview).unwrap();
    let mut r = png::Decoder::new(std::io::Cursor::new(png)).read_info().unwrap();
    let mut px = vec![0u8; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut px).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let width = info.width as usize;
    for (i, &f) in stimuli::preview::thumbnail_frames(s).iter().enumerate() {
        let (x0, y0, tw) = stimuli::preview::thumbnail_rect(32, i);
        for (y, x) in [(0, 0), (tw - 1, tw - 1), (tw / 2, tw / 3)] {
            let want = s.frame(f)[(y * 32 / tw) * 32 + x * 32 / tw];
            let p = 3 * ((y0 + y) * width + x0 + x);
            assert_eq!(&px[p..p + 3], &[want; 3], "thumbnail {i} (frame {f}) at ({x}, {y})");
        }
    }
    let (_, top, _) = stimuli::preview::thumbnail_rect(32, 0);
    assert!(px[..3 * width * top].chunks(3).any(|c| c.iter().all(|&v| v < 100)), "no title ink above the frames");
}

#[test]
fn synth_reports_bad_arguments() {
    let out = temp_dir("bad");
    let o = out.to_str().unwrap();
    let run = |v: &[&str]| synth(v).unwrap_err();
    let e = run(&["--params", "bpm=500,jitter=1,consonance=3,bigsmall=3,updown=4", "--out", o]);
    assert!(e.contains("bpm") && e.contains("30–400"), "{e}");
    let e = run(&["--params", "bpm=50,jitter=1,consonance=x,bigsmall=3,updown=4", "--out", o]);
    assert!(e.contains("consonance") && e.contains("0–37"), "{e}");
    let e = run(&["--stimulus", "furious", "--out", o]);
    assert!(e.contains("furious"), "{e}");
    let e = run(&["--stimulus", "angry"]);
    assert!(e.contains("--out"), "{e}");
    let e = run(&["--stimulus", "angry", "--params", "bpm=50", "--out", o]);
    assert!(e.contains("cannot be used with"), "{e}");
    let e = run(&["--stimulus", "angry", "--seconds", "abc", "--out", o]);
    assert!(e.contains("--seconds"), "{e}");
    let e = run(&["--stimulus", "angry", "--size", "2", "--out", o]);
    assert!(e.contains("size"), "{e}");
    let e = run(&["--stimulus"]);
    assert!(e.contains("a value is required for '--stimulus"), "{e}");
    let e = run(&["--bogus"]);
    assert!(e.contains("--bogus"), "{e}");
    assert!(!out.exists(), "nothing is written on bad input");
}

#[test]
fn png_and_wav_writers_are_well_formed() {
    // PNGs decode (with the png crate's decoder) to exactly the pixels written, grey and RGB.
    let decode = |bytes: &[u8]| {
        let mut r = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
        let mut buf = vec![0u8; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info.width, info.height, info.color_type, buf)
    };
    let grey = io::png_gray(3, 2, &[0, 1, 2, 3, 4, 5]).unwrap();
    assert_eq!(&grey[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(decode(&grey), (3, 2, png::ColorType::Grayscale, vec![0, 1, 2, 3, 4, 5]));
    let rgb: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 7) as u8).collect();
    assert_eq!(decode(&io::png_rgb(4, 3, &rgb).unwrap()), (4, 3, png::ColorType::Rgb, rgb.clone()));
    // Too few or too many pixels for the size is an error, not a panic.
    assert!(io::png_rgb(4, 3, &rgb[1..]).is_err());
    assert!(io::png_gray(3, 2, &[0; 7]).is_err());
    assert_eq!(io::pcm16(1.5), 32767);
    assert_eq!(io::pcm16(-1.5), -32767);
    assert_eq!(io::pcm16(f32::NAN), 0);
    assert_eq!(io::wav_bytes(&[0.5], 8000)[44..], 16384i16.to_le_bytes());
    // hound reads back what the writer wrote: 16-bit mono at the given rate, the same samples.
    let x = [0.25f32, -0.5, 1.0, -1.0, 0.0];
    let mut r = hound::WavReader::new(std::io::Cursor::new(io::wav_bytes(&x, 22_050))).unwrap();
    let spec = r.spec();
    assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (1, 22_050, 16));
    let back: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(back, x.map(io::pcm16));
}
