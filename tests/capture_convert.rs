//! The conversions between what sources give and what the model takes, against references: sample-rate conversion
//! against the analytic signal, frame fitting against a direct mean, time resampling against hand-worked frame
//! sequences, and the camera pixel formats on buffers recorded with GStreamer (`tools/record_pixels.sh`).

use avf_bel::capture::frames::{retime_clip, Fit, Retimer, Shaper};
use avf_bel::capture::pixels::{to_luma, PixelFormat};
use avf_bel::capture::sound::{convert_clip, Converter};
use avf_bel::media::{read_wav, read_wav_at};
use avf_bel::stimuli::io::wav_bytes;
use std::f64::consts::PI;

fn tone(rate: u32, freq: f64, seconds: f64, amp: f64) -> Vec<f32> {
    (0..(f64::from(rate) * seconds) as usize)
        .map(|i| (amp * (2.0 * PI * freq * i as f64 / f64::from(rate)).sin()) as f32)
        .collect()
}

/// Smallest largest-error against the reference tone delayed by δ ∈ [−1, 1] output samples, and that δ: a rate
/// ratio that is not whole leaves the resampler with a delay that is not a whole number of output samples.
fn best_delay(y: &[f32], rate: u32, freq: f64, amp: f64, margin: usize) -> (f32, f64) {
    let error_at = |k: i32| {
        let d = f64::from(k) / 100.0;
        let r: Vec<f32> =
            (0..y.len()).map(|i| (amp * (2.0 * PI * freq * (i as f64 - d) / f64::from(rate)).sin()) as f32).collect();
        (max_error_inside(y, &r, margin), d)
    };
    // Coarse to fine in hundredths of a sample: against a tone, the error grows with the distance from the true
    // delay (as 2·amp·sin(π·f·|δ − δ₀|/rate)), so the best tenth holds the best hundredth within ±0.1; 40 reference
    // tones instead of 201 (their sines were most of this file's time under qemu).
    let best = |best: (f32, f64), c: (f32, f64)| if c.0 < best.0 { c } else { best };
    let coarse = (-10..=10).map(|k| error_at(10 * k)).fold((f32::MAX, 0.0), best);
    let k0 = (coarse.1 * 100.0).round() as i32;
    ((k0 - 9).max(-100)..=(k0 + 9).min(100)).map(error_at).fold((f32::MAX, 0.0), best)
}

/// Largest |a − b| away from the ends (the band-limited filter rings over its length at a cut start and end).
fn max_error_inside(a: &[f32], b: &[f32], margin: usize) -> f32 {
    assert!(a.len() > 2 * margin && b.len() > 2 * margin);
    a[margin..a.len().min(b.len()) - margin].iter().zip(&b[margin..]).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn rate_conversion_reproduces_the_analytic_signal() {
    // Each source rate to 22,050 Hz: a 440 Hz and a 3 kHz tone (well inside both bands) come out as the same tones
    // sampled at 22,050 Hz, sample for sample, within 0.2 % of full scale (the FFT resampler's ripple and f32), with
    // at most half an output sample (23 µs) of delay left after the resampler's own delay is removed.
    for &rate in &[44_100u32, 48_000, 16_000, 32_000, 96_000] {
        for &f in &[440.0, 3_000.0] {
            let x = tone(rate, f, 1.0, 0.5);
            let y = convert_clip(&x, rate, 22_050).unwrap();
            assert_eq!(y.len(), 22_050, "{rate} Hz: a second in, a second out");
            let (e, d) = best_delay(&y, 22_050, f, 0.5, 600);
            assert!(e < 2e-3 && d.abs() <= 0.5, "{rate} Hz -> 22,050 Hz, {f} Hz tone: max error {e} at delay {d}");
        }
    }
}

#[test]
fn rate_conversion_removes_what_the_new_rate_cannot_hold() {
    // A 15 kHz tone at 44.1 kHz is above 22,050 Hz's Nyquist frequency: it must not fold back to 7,050 Hz.
    let y = convert_clip(&tone(44_100, 15_000.0, 1.0, 0.5), 44_100, 22_050).unwrap();
    let rms = (y[600..y.len() - 600].iter().map(|v| v * v).sum::<f32>() / (y.len() - 1200) as f32).sqrt();
    assert!(rms < 0.5 * 0.005, "alias at {rms} RMS (the input was 0.35 RMS)");
}

#[test]
fn streaming_in_any_chunks_equals_the_whole_clip() {
    let x = tone(48_000, 1_000.0, 0.7, 0.3);
    let whole = convert_clip(&x, 48_000, 22_050).unwrap();
    let mut c = Converter::new(48_000, 1, 22_050).unwrap();
    let (mut out, mut i, mut k) = (Vec::new(), 0usize, 1usize);
    while i < x.len() {
        let n = (k * 37 % 1500 + 1).min(x.len() - i);
        c.push(&x[i..i + n], &mut out);
        i += n;
        k += 1;
    }
    c.finish(&mut out);
    assert_eq!(out.len(), whole.len());
    let e = out.iter().zip(&whole).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(e < 1e-5, "chunked vs whole: {e}");
}

#[test]
fn channels_are_averaged_before_resampling() {
    // Left = tone, right = −tone: the mono mix is silence; left = right = tone: the tone.
    let t = tone(44_100, 440.0, 0.5, 0.5);
    let mut c = Converter::new(44_100, 2, 22_050).unwrap();
    let anti: Vec<f32> = t.iter().flat_map(|&v| [v, -v]).collect();
    let mut out = Vec::new();
    c.push(&anti, &mut out);
    assert!(out.iter().all(|v| v.abs() < 1e-6));
    let mut c = Converter::new(44_100, 2, 22_050).unwrap();
    let same: Vec<f32> = t.iter().flat_map(|&v| [v, v]).collect();
    let mut out = Vec::new();
    c.push(&same, &mut out);
    c.finish(&mut out);
    let e = max_error_inside(&out, &tone(22_050, 440.0, 0.5, 0.5), 600);
    assert!(e < 2e-3, "{e}");
    assert!(Converter::new(0, 1, 22_050).is_err() && Converter::new(44_100, 0, 22_050).is_err());
}

#[test]
fn a_44k1_wav_is_resampled_for_run() {
    let x = tone(44_100, 440.0, 0.5, 0.5);
    let bytes = wav_bytes(&x, 44_100);
    assert!(read_wav(&bytes, 22_050).is_err(), "the plain reader still refuses other rates");
    let y = read_wav_at(&bytes, 22_050).unwrap();
    assert_eq!(y.len(), 11_025);
    // 16-bit quantisation adds up to 1/32768 to the resampler's error.
    assert!(max_error_inside(&y, &tone(22_050, 440.0, 0.5, 0.5), 600) < 2.5e-3);
    assert_eq!(read_wav_at(&wav_bytes(&x, 22_050), 22_050).unwrap().len(), x.len(), "same rate: as is");
}

#[test]
fn frames_are_centre_cropped_to_the_model_aspect() {
    // A 16:9 frame whose left and right quarters are black and the centre square is a ramp: the model's square
    // sees the ramp only, averaged over 2×2 blocks (160×90 → crop 90×90 → 45×45).
    let (w, h) = (160usize, 90usize);
    let frame: Vec<u8> = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            if (35..125).contains(&x) {
                (x - 35 + y) as u8
            } else {
                0
            }
        })
        .collect();
    let mut s = Shaper::new(w, h, 45, 45, Fit::Crop).unwrap();
    assert_eq!(s.crop(), (35, 0, 90, 90));
    let mut out = vec![0u8; 45 * 45];
    assert!(s.shape(&frame, w, &mut out));
    for oy in 0..45 {
        for ox in 0..45 {
            // Mean of the 2×2 block: x − 35 ∈ {2ox, 2ox+1}, y ∈ {2oy, 2oy+1}: 2ox + 2oy + 1 (exact).
            assert_eq!(out[oy * 45 + ox] as usize, 2 * ox + 2 * oy + 1, "pixel ({ox}, {oy})");
        }
    }
}

#[test]
fn clips_are_retimed_to_the_model_rate() {
    // Frame i is filled with i; the model at 30 fps sees frame ⌊k·src/30⌋ at tick k (sample and hold).
    let numbered = |n: usize| -> Vec<u8> { (0..n).flat_map(|i| vec![i as u8; 4]).collect() };
    let shown = |src: f64, n: usize, fps: u32| -> Vec<u8> {
        retime_clip(&numbered(n), (2, 2), src, (2, 2), fps, Fit::Crop).chunks(4).map(|f| f[0]).collect()
    };
    assert_eq!(shown(25.0, 10, 30), vec![0, 0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9]);
    assert_eq!(shown(60.0, 8, 30), vec![0, 2, 4, 6]);
    // NTSC: 3 frames last 100.1 ms, three 30 fps periods fit; each NTSC frame comes a little after its 30 fps tick.
    assert_eq!(shown(29.97, 3, 30), vec![0, 0, 1]);
    // A stream whose timestamps jitter by ±8 ms around 25 fps still lands each tick on the frame on screen.
    let ms = 1_000_000u64;
    let mut r = Retimer::new(30, 0, 500 * ms);
    let mut got = Vec::new();
    for i in 0..10u64 {
        let jitter = if i % 2 == 0 { 8 * ms } else { 0 };
        r.push(&[i as u8], i * 40 * ms + jitter, &mut |f| got.push(f[0]));
    }
    r.advance_to(400 * ms, &mut |f| got.push(f[0]));
    // Frames at 8, 40, 88, 120, 168, 200, 248, 280, 328, 360 ms; ticks at 0, 33.3, 66.7, 100, …, 400 ms. Tick 0 has
    // no frame yet (skipped); 166.7 ms still shows frame 3 (frame 4 comes at 168); 200 ms shows frame 5, due exactly.
    assert_eq!(got, vec![0, 1, 2, 3, 3, 5, 5, 6, 7, 8, 9, 9]);
}

fn recorded(name: &str) -> Vec<u8> {
    let p = format!("{}/tests/data/pixels/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

#[test]
fn camera_pixel_formats_give_the_same_luma_as_gstreamer() {
    // The same test pattern recorded by GStreamer as YUYV (rows of 60 bytes) and GREY (rows padded to 32 bytes),
    // against the Y plane of its I420 recording (rows padded to 32 bytes).
    let (w, h) = (30usize, 24usize);
    for pattern in ["circular", "smpte"] {
        let i420 = recorded(&format!("{pattern}-30x24.i420"));
        let want: Vec<u8> = i420[..32 * h].chunks(32).flat_map(|r| r[..w].to_vec()).collect();
        let mut out = vec![0u8; w * h];
        assert!(to_luma(PixelFormat::Yuyv, &recorded(&format!("{pattern}-30x24.yuyv")), w, h, 60, &mut out));
        assert_eq!(out, want, "{pattern} YUYV");
        assert!(to_luma(PixelFormat::Grey, &recorded(&format!("{pattern}-30x24.grey")), w, h, 32, &mut out));
        assert_eq!(out, want, "{pattern} GREY");
        assert!(want.iter().any(|&v| v != want[0]), "the pattern varies");
    }
}
