//! Start-up against an old CUDA driver, end to end through the binary (feature `cuda`): a stand-in `libcuda.so.1`
//! that reports CUDA 10.2 (Jetson Nano's JetPack 4) is put first on the library path. `--device cuda` must fail with
//! a clear message (no panic: cudarc would panic on the first entry point 10.2 lacks), and `--device auto` must run
//! on the CPU after one line saying why. Needs a C compiler (`cc`) to build the stand-in; prints why it skips without.
//! Also: an unknown `AVF_BEL_GPU_CORTEX` is refused by name.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A stand-in driver library reporting `version` (e.g. 10020) from `cuDriverGetVersion`.
fn fake_driver(dir: &Path, version: i32) -> Option<PathBuf> {
    std::fs::create_dir_all(dir).ok()?;
    let c = dir.join("libcuda.c");
    std::fs::write(
        &c,
        format!(
            "int cuInit(unsigned flags) {{ (void)flags; return 0; }}\n\
             int cuDriverGetVersion(int* v) {{ *v = {version}; return 0; }}\n"
        ),
    )
    .ok()?;
    let lib = dir.join("libcuda.so.1");
    let ok = Command::new("cc")
        .args(["-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o"])
        .arg(&lib)
        .arg(&c)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return None;
    }
    std::fs::copy(&lib, dir.join("libcuda.so")).ok()?;
    Some(dir.to_path_buf())
}

fn avf_bel(libdir: &Path, device: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_avf-bel"))
        .args(["run", "--stimulus", "happy", "--seconds", "0.5", "--device", device])
        .env("LD_LIBRARY_PATH", libdir)
        .env("AVF_BEL_NVRTC", "/nonexistent/libnvrtc.so")
        .output()
        .expect("run avf-bel")
}

#[test]
fn cuda_10_2_is_refused_cleanly_and_auto_runs_on_the_cpu() {
    // Removed when the test binary exits, pass or fail (tests/common).
    let dir = common::scratch_dir("cuda102");
    let Some(libdir) = fake_driver(&dir, 10020) else {
        eprintln!("SKIPPED cuda_10_2_is_refused_cleanly_and_auto_runs_on_the_cpu: no C compiler (`cc`)");
        return;
    };

    let out = avf_bel(&libdir, "cuda");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "--device cuda succeeded on a CUDA 10.2 driver: {err}");
    assert!(err.contains("10.2") && err.contains("older than 11.4"), "unclear message: {err}");
    assert!(!err.contains("panicked"), "it panicked: {err}");

    let out = avf_bel(&libdir, "auto");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "--device auto failed: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("--device auto")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("10.2") && lines[0].contains("running on the CPU"), "{}", lines[0]);
    assert!(!err.contains("panicked"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).to_lowercase().contains("epp"), "no result printed");
}

/// An unknown `AVF_BEL_GPU_CORTEX` (where the auditory cortex runs on a GPU) is a clear start-up error for
/// `--device cuda`, and one warning line before the CPU for `--device auto`: read before any driver is touched, so
/// this holds with or without a GPU.
#[test]
fn an_unknown_cortex_placement_is_refused_by_name() {
    let run = |device: &str| {
        Command::new(env!("CARGO_BIN_EXE_avf-bel"))
            .args(["run", "--stimulus", "happy", "--seconds", "0.5", "--device", device])
            .env("AVF_BEL_GPU_CORTEX", "both")
            .output()
            .expect("run avf-bel")
    };
    let out = run("cuda");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("AVF_BEL_GPU_CORTEX=\"both\": expected `host` or `device`"), "unclear message: {err}");
    assert!(!err.contains("panicked"), "{err}");

    let out = run("auto");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "--device auto failed: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("--device auto")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("AVF_BEL_GPU_CORTEX") && lines[0].contains("running on the CPU"), "{}", lines[0]);
    assert!(String::from_utf8_lossy(&out.stdout).to_lowercase().contains("epp"), "no result printed");
}
