//! Helpers shared by the integration tests.
#![allow(dead_code)]

use avf_bel::model::{encode, seeded, Precision};
use avf_bel::weights::writer::AlignedBytes;
use avf_bel::ModelConfig;
use std::process::Command;

/// A seeded tiny model as an aligned weights file.
pub fn tiny_model(seed: u64, precision: Precision) -> (ModelConfig, AlignedBytes) {
    let cfg = ModelConfig::tiny();
    let bytes = encode(&cfg, &seeded(&cfg, seed), precision).unwrap();
    (cfg, AlignedBytes::new(&bytes))
}

/// Moving test pattern: a bright square travelling across the frame.
pub fn frame(cfg: &ModelConfig, t: usize) -> Vec<u8> {
    let (h, w) = (cfg.visual.height as usize, cfg.visual.width as usize);
    let mut f = vec![40u8; h * w];
    let x0 = (t * 3) % w;
    for y in h / 4..h / 2 {
        for x in x0..(x0 + w / 4).min(w) {
            f[y * w + x] = 230;
        }
    }
    f
}

/// A decaying 440 Hz tone every `period` samples.
pub fn tones(cfg: &ModelConfig, seconds: f32, period: usize) -> Vec<f32> {
    let sr = cfg.audio.sample_rate as f32;
    (0..(seconds * sr) as usize)
        .map(|i| {
            let t = (i % period) as f32 / sr;
            0.5 * (-8.0 * t).exp() * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
        })
        .collect()
}

/// The `avf-bel` binary, through cargo's target runner when the tests themselves run under one (aarch64 under qemu).
pub fn command() -> Command {
    let bin = env!("CARGO_BIN_EXE_avf-bel");
    let runner = if cfg!(target_arch = "aarch64") {
        std::env::var("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER").ok()
    } else {
        None
    };
    match runner {
        Some(r) if !r.trim().is_empty() => {
            let mut parts = r.split_whitespace();
            let mut c = Command::new(parts.next().unwrap());
            c.args(parts).arg(bin);
            c
        }
        _ => Command::new(bin),
    }
}

/// The study's ratings (found by `avf_bel::data::find_data`: `$AVF_BEL_DATA`, else `../shared/data`), or `None`
/// after printing why `test` skips. Where the data must be there (`.ci/run`, which runs with `CI=true`, or
/// `AVF_BEL_REQUIRE_DATA=1`) a missing folder fails the test instead of skipping it.
pub fn study_data(test: &str) -> Option<std::path::PathBuf> {
    use std::io::Write;
    match avf_bel::data::find_data(None) {
        Ok(d) => Some(d),
        Err(e) => {
            let required = |v: &str| std::env::var(v).is_ok_and(|x| x == "1" || x.eq_ignore_ascii_case("true"));
            if required("AVF_BEL_REQUIRE_DATA") || required("CI") {
                panic!("{test}: the study's data are required here (CI or AVF_BEL_REQUIRE_DATA=1) but {e}");
            }
            // Written straight to the process's stderr, past the test harness's capture, so the skip is seen.
            let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {e}");
            None
        }
    }
}
