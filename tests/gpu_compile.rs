//! The CUDA kernels compile for every Jetson architecture: NVRTC (compute_53, compute_72, compute_87, compute_90) and
//! ptxas (sm_53, sm_72, sm_87, and sm_90). Needs no GPU: NVRTC, `cuda_fp16.h` and `ptxas` come from the PyPI wheels
//! that `.ci/run` installs (`LD_LIBRARY_PATH`, `AVF_BEL_CUDA_INCLUDE`, `AVF_BEL_PTXAS`). Without them the test prints
//! why it skips, except under CI (`CI=true`), where it fails.

use avf_bel::gpu::compile::{assemble, compile, include_dirs, PtxOptions, CI_ARCHS, ENV_PTXAS};
use avf_bel::gpu::kernels::entry_points;
use avf_bel::gpu::nvrtc::Nvrtc;
use std::path::PathBuf;

fn in_ci() -> bool {
    std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false)
}

/// Skip (locally) or fail (under CI) with a reason.
fn unavailable(why: &str) {
    if in_ci() {
        panic!("CI=true but {why}");
    }
    eprintln!("SKIPPED gpu_compile: {why}");
}

#[test]
fn every_kernel_compiles_and_assembles_for_jetson_archs() {
    let nvrtc = match Nvrtc::load() {
        Ok(n) => n,
        Err(why) => return unavailable(&why.to_string()),
    };
    if include_dirs().is_empty() {
        return unavailable("cuda_fp16.h not found (set AVF_BEL_CUDA_INCLUDE to nvidia/cuda_runtime/include)");
    }
    let ptxas = std::env::var_os(ENV_PTXAS).map(PathBuf::from).filter(|p| p.is_file());
    if ptxas.is_none() {
        unavailable("AVF_BEL_PTXAS is not set to a ptxas binary: NVRTC only, no SASS");
    }
    eprintln!("NVRTC {}.{} from {}", nvrtc.version.0, nvrtc.version.1, nvrtc.path);
    for arch in CI_ARCHS {
        let ptx = compile(&nvrtc, &PtxOptions::for_arch(arch)).unwrap_or_else(|e| panic!("{e}"));
        for name in entry_points() {
            assert!(ptx.contains(&format!(".entry {name}(")), "{arch}: entry point {name} missing from the PTX");
        }
        eprintln!("{arch}: PTX {} bytes, {} entry points", ptx.len(), entry_points().count());
        if let Some(ptxas) = &ptxas {
            let sm = arch.replace("compute_", "sm_");
            let report = assemble(ptxas, &ptx, &sm).unwrap_or_else(|e| panic!("{e}"));
            for line in report.lines().filter(|l| l.contains("Used") || l.contains("spill")) {
                eprintln!("  {sm}: {}", line.trim());
            }
            assert!(!report.contains("error"), "{sm}: {report}");
        }
    }
}
