//! Compiling the embedded kernels with NVRTC, the on-disk PTX cache, and (for tests and CI) assembling PTX with
//! `ptxas`.
//!
//! On a device the source is compiled at start-up by the device's own NVRTC (`/usr/local/cuda/lib64`) for the GPU's
//! compute capability: the PTX then never has a newer ISA version than the driver accepts (JetPack 5 drivers take PTX
//! ≤ 7.4, JetPack 6.0 ≤ 8.2), and Tegra GPUs, which have no binary compatibility across minor architectures, get code
//! for their own. The result is cached under `$XDG_CACHE_HOME/avf-bel` (else `~/.cache/avf-bel`), keyed by a hash of
//! the source, the architecture, the NVRTC version and the options.

use super::kernels::SOURCE;
use crate::core::weights::CRC64;
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions};
use std::path::{Path, PathBuf};

/// Environment variable: a directory holding `cuda_fp16.h` (default: `$CUDA_HOME/include`, `/usr/local/cuda/include`).
pub const ENV_INCLUDE: &str = "AVF_BEL_CUDA_INCLUDE";
/// Environment variable: the `ptxas` binary used by the compile test.
pub const ENV_PTXAS: &str = "AVF_BEL_PTXAS";
/// Environment variable: set to `0` to bypass the PTX cache.
pub const ENV_NO_CACHE: &str = "AVF_BEL_NO_PTX_CACHE";

/// The virtual architectures CI compiles for (Jetson Nano, Xavier, Orin, and the H100 test GPU).
pub const CI_ARCHS: [&str; 4] = ["compute_53", "compute_72", "compute_87", "compute_90"];

/// Whether the NVRTC library can be loaded (cudarc panics on first use otherwise).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to open the shared library by its usual names.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// NVRTC's version, `(major, minor)`. Call only when [`nvrtc_present`].
pub fn nvrtc_version() -> (i32, i32) {
    let (mut major, mut minor) = (0, 0);
    // SAFETY: the library is present (caller's contract); the function writes two ints.
    let r = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    if r != cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS {
        return (0, 0);
    }
    (major, minor)
}

/// The virtual architecture for a compute capability, e.g. `(8, 7)` → `compute_87`.
pub fn arch_for(cc: (i32, i32)) -> &'static str {
    match cc {
        (5, 3) => "compute_53",
        (6, 2) => "compute_62",
        (7, 2) => "compute_72",
        (7, 5) => "compute_75",
        (8, 0) => "compute_80",
        (8, 6) => "compute_86",
        (8, 7) => "compute_87",
        (8, 9) => "compute_89",
        (9, 0) => "compute_90",
        (major, minor) => Box::leak(format!("compute_{major}{minor}").into_boxed_str()),
    }
}

/// Directories searched for `cuda_fp16.h`.
pub fn include_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(d) = std::env::var(ENV_INCLUDE) {
        dirs.push(PathBuf::from(d));
    }
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Ok(d) = std::env::var(var) {
            dirs.push(Path::new(&d).join("include"));
        }
    }
    dirs.push(PathBuf::from("/usr/local/cuda/include"));
    dirs.retain(|d| d.join("cuda_fp16.h").is_file());
    dirs
}

fn options(arch: &'static str) -> CompileOptions {
    CompileOptions {
        // No contraction into FMA, IEEE division and square root, no flush to zero: the cortex kernel repeats the
        // CPU core's f32 operations (see kernels/common.cuh).
        ftz: Some(false),
        prec_sqrt: Some(true),
        prec_div: Some(true),
        fmad: Some(false),
        include_paths: include_dirs().iter().map(|d| d.display().to_string()).collect(),
        arch: Some(arch),
        options: vec!["--std=c++14".into()],
        name: Some("avf_bel.cu".into()),
        ..Default::default()
    }
}

/// Compile the embedded source for `arch` (e.g. `compute_87`); returns the PTX text. Call only when
/// [`nvrtc_present`].
pub fn compile(arch: &'static str) -> Result<String, String> {
    if include_dirs().is_empty() {
        return Err(format!(
            "cuda_fp16.h not found: set {ENV_INCLUDE} to a CUDA include directory (or CUDA_HOME), e.g. /usr/local/cuda/include"
        ));
    }
    match compile_ptx_with_opts(SOURCE, options(arch)) {
        Ok(ptx) => Ok(ptx.to_src()),
        Err(cudarc::nvrtc::CompileError::CompileError { nvrtc, log, .. }) => {
            Err(format!("NVRTC failed for {arch} ({nvrtc:?}):\n{}", log.to_string_lossy()))
        }
        Err(e) => Err(format!("NVRTC failed for {arch}: {e:?}")),
    }
}

/// Cache key: CRC-64 of the source, the architecture, the NVRTC version and the options.
pub fn cache_key(arch: &'static str) -> String {
    let (major, minor) = nvrtc_version();
    let mut d = CRC64.digest();
    d.update(SOURCE.as_bytes());
    d.update(arch.as_bytes());
    d.update(&major.to_le_bytes());
    d.update(&minor.to_le_bytes());
    for o in options(arch).options {
        d.update(o.as_bytes());
    }
    format!("{arch}-nvrtc{major}.{minor}-{:016x}.ptx", d.finalize())
}

/// The cache directory: `$XDG_CACHE_HOME/avf-bel`, else `$HOME/.cache/avf-bel`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("avf-bel"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("avf-bel"))
}

/// PTX for `arch`, from the cache if present, else compiled and stored (a cache that cannot be written is only
/// reported). Returns the PTX and whether it came from the cache.
pub fn cached_ptx(arch: &'static str) -> Result<(String, bool), String> {
    let use_cache = std::env::var(ENV_NO_CACHE).map(|v| v != "0").unwrap_or(true);
    let path = cache_dir().map(|d| d.join(cache_key(arch)));
    if use_cache {
        if let Some(p) = &path {
            if let Ok(s) = std::fs::read_to_string(p) {
                if s.contains(".entry") {
                    return Ok((s, true));
                }
            }
        }
    }
    let ptx = compile(arch)?;
    if use_cache {
        if let Some(p) = &path {
            let tmp = p.with_extension("tmp");
            let stored = p.parent().map(std::fs::create_dir_all).transpose().and_then(|_| {
                std::fs::write(&tmp, &ptx)?;
                std::fs::rename(&tmp, p)
            });
            if let Err(e) = stored {
                log::warn!("could not cache PTX at {}: {e}", p.display());
            }
        }
    }
    Ok((ptx, false))
}

/// Assemble `ptx` for `sm` (e.g. `sm_87`) with the `ptxas` at `ptxas`; returns ptxas's resource report
/// (`-v`: registers, shared memory per kernel).
pub fn assemble(ptxas: &Path, ptx: &str, sm: &str) -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!("avf-bel-ptxas-{}-{sm}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let input = dir.join("k.ptx");
    let output = dir.join("k.cubin");
    std::fs::write(&input, ptx).map_err(|e| e.to_string())?;
    let out = std::process::Command::new(ptxas)
        .arg(format!("-arch={sm}"))
        .arg("-v")
        .arg("-o")
        .arg(&output)
        .arg(&input)
        .output()
        .map_err(|e| format!("{}: {e}", ptxas.display()))?;
    let _ = std::fs::remove_dir_all(&dir);
    let report = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        Ok(report)
    } else {
        Err(format!("ptxas -arch={sm} failed:\n{report}"))
    }
}
