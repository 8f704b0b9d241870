//! Compiling the embedded kernels with NVRTC, the on-disk PTX cache, and (for tests and CI) assembling PTX with
//! `ptxas` (feature `cuda`).
//!
//! On a device the source is compiled at start-up by the device's own NVRTC for the GPU's compute capability: the PTX
//! then never has a newer ISA version than the driver accepts (JetPack 5 drivers take PTX ≤ 7.4, JetPack 6.0 ≤ 8.2),
//! and Tegra GPUs, which have no binary compatibility across minor architectures, get code for their own. The result
//! is cached under `$XDG_CACHE_HOME/avf-bel` (else `~/.cache/avf-bel`), keyed by everything that decides the PTX:
//! the source, every NVRTC option (architecture, `--fmad`, `--ftz`, `--prec-div`, `--prec-sqrt`, `--std`, include
//! paths), the bytes of the `cuda_fp16.h`/`.hpp` in use, and NVRTC's version. Losing `--fmad=false` would silently
//! break the cortex's bit-exactness, so no option may be left out: the key hashes the very list given to NVRTC.

use super::kernels::SOURCE;
use super::launcher::{GpuError, GpuResult, Unavailable};
use super::nvrtc::Nvrtc;
use crate::core::weights::CRC64;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Environment variable: a directory holding `cuda_fp16.h` (default: `$CUDA_HOME/include`, `/usr/local/cuda/include`).
pub const ENV_INCLUDE: &str = "AVF_BEL_CUDA_INCLUDE";
/// Environment variable: the `ptxas` binary used by the compile test.
pub const ENV_PTXAS: &str = "AVF_BEL_PTXAS";
/// Environment variable: set to `0` to bypass the PTX cache.
pub const ENV_NO_CACHE: &str = "AVF_BEL_NO_PTX_CACHE";

/// The virtual architectures CI compiles for (Jetson Nano, Xavier, Orin, and the H100 test GPU).
pub const CI_ARCHS: [&str; 4] = ["compute_53", "compute_72", "compute_87", "compute_90"];

/// The virtual architecture for a compute capability, e.g. `(8, 7)` → `compute_87`.
pub fn arch_for(cc: (i32, i32)) -> String {
    format!("compute_{}{}", cc.0, cc.1)
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

/// Everything NVRTC is told: the options, and the headers they make it read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtxOptions {
    /// Virtual architecture, e.g. `compute_87`.
    pub arch: String,
    /// Contract multiply-adds into FMA (must be off: the cortex repeats the CPU's operations).
    pub fmad: bool,
    /// Flush subnormals to zero (off).
    pub ftz: bool,
    /// IEEE division (on).
    pub prec_div: bool,
    /// IEEE square root (on).
    pub prec_sqrt: bool,
    /// Language standard.
    pub std: &'static str,
    /// Include directories (the first holds `cuda_fp16.h`).
    pub include: Vec<PathBuf>,
}

impl PtxOptions {
    /// The options the kernels are built with, for `arch`, including the `cuda_fp16.h` found on this machine.
    pub fn for_arch(arch: &str) -> Self {
        PtxOptions {
            arch: arch.to_string(),
            fmad: false,
            ftz: false,
            prec_div: true,
            prec_sqrt: true,
            std: "c++14",
            include: include_dirs(),
        }
    }

    /// The option list given to NVRTC.
    pub fn args(&self) -> Vec<String> {
        let mut a = vec![
            format!("--gpu-architecture={}", self.arch),
            format!("--fmad={}", self.fmad),
            format!("--ftz={}", self.ftz),
            format!("--prec-div={}", self.prec_div),
            format!("--prec-sqrt={}", self.prec_sqrt),
            format!("--std={}", self.std),
        ];
        a.extend(self.include.iter().map(|d| format!("--include-path={}", d.display())));
        a
    }

    /// The bytes of the `cuda_fp16.h` and `cuda_fp16.hpp` NVRTC will read (from the first include directory that
    /// has them).
    pub fn fp16_headers(&self) -> Vec<u8> {
        let mut v = Vec::new();
        if let Some(d) = self.include.iter().find(|d| d.join("cuda_fp16.h").is_file()) {
            for f in ["cuda_fp16.h", "cuda_fp16.hpp"] {
                v.extend(std::fs::read(d.join(f)).unwrap_or_default());
            }
        }
        v
    }
}

/// Cache key: CRC-64 of the source, every NVRTC option, the fp16 headers' bytes and NVRTC's version.
pub fn cache_key(opts: &PtxOptions, fp16_headers: &[u8], nvrtc: (i32, i32)) -> String {
    let mut d = CRC64.digest();
    d.update(SOURCE.as_bytes());
    for a in opts.args() {
        d.update(a.as_bytes());
        d.update(&[0]);
    }
    d.update(&(fp16_headers.len() as u64).to_le_bytes());
    d.update(fp16_headers);
    d.update(&nvrtc.0.to_le_bytes());
    d.update(&nvrtc.1.to_le_bytes());
    format!("{}-nvrtc{}.{}-{:016x}.ptx", opts.arch, nvrtc.0, nvrtc.1, d.finalize())
}

/// The cache directory: `$XDG_CACHE_HOME/avf-bel`, else `$HOME/.cache/avf-bel`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("avf-bel"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("avf-bel"))
}

/// Write `bytes` to `path` atomically: into a temporary file unique to this process and call, then renamed over
/// `path`. Concurrent writers (threads or processes) each rename a complete file; a reader never sees a torn one.
pub fn store_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("ptx");
    let tmp = path.with_file_name(format!(".{name}.{}.{nanos}.{seq}.tmp", std::process::id()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let r = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// Compile the embedded source with `opts`; returns the PTX text.
pub fn compile(nvrtc: &Nvrtc, opts: &PtxOptions) -> GpuResult<String> {
    if opts.include.is_empty() {
        return Err(Unavailable::NoHeaders(vec![
            format!("${ENV_INCLUDE}"),
            "$CUDA_HOME/include".into(),
            "/usr/local/cuda/include".into(),
        ])
        .into());
    }
    nvrtc.compile(SOURCE, "avf_bel.cu", &opts.args()).map_err(|log| GpuError::Compile { arch: opts.arch.clone(), log })
}

/// PTX for `opts`, from the cache if present, else compiled and stored (a cache that cannot be written is only
/// reported). Returns the PTX and whether it came from the cache.
pub fn cached_ptx(nvrtc: &Nvrtc, opts: &PtxOptions) -> GpuResult<(String, bool)> {
    let use_cache = std::env::var(ENV_NO_CACHE).map(|v| v != "0").unwrap_or(true);
    let path = cache_dir().map(|d| d.join(cache_key(opts, &opts.fp16_headers(), nvrtc.version)));
    if use_cache {
        if let Some(p) = &path {
            if let Ok(s) = std::fs::read_to_string(p) {
                if s.contains(".entry") {
                    return Ok((s, true));
                }
            }
        }
    }
    let ptx = compile(nvrtc, opts)?;
    if use_cache {
        if let Some(p) = &path {
            if let Err(e) = store_atomic(p, ptx.as_bytes()) {
                log::warn!("could not cache PTX at {}: {e}", p.display());
            }
        }
    }
    Ok((ptx, false))
}

/// Assemble `ptx` for `sm` (e.g. `sm_87`) with the `ptxas` at `ptxas`; returns ptxas's resource report
/// (`-v`: registers, shared memory per kernel).
pub fn assemble(ptxas: &Path, ptx: &str, sm: &str) -> Result<String, String> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "avf-bel-ptxas-{}-{sm}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
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
        .map_err(|e| format!("{}: {e}", ptxas.display()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = out?;
    let report = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        Ok(report)
    } else {
        Err(format!("ptxas -arch={sm} failed:\n{report}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> PtxOptions {
        PtxOptions {
            arch: "compute_87".into(),
            fmad: false,
            ftz: false,
            prec_div: true,
            prec_sqrt: true,
            std: "c++14",
            include: vec![PathBuf::from("/usr/local/cuda/include")],
        }
    }

    /// Every flag that changes the PTX changes the key, as do the fp16 header and NVRTC's version. The key once
    /// hashed only `--std`: turning `--fmad` on (which breaks the cortex's bit-exactness) reused the stale PTX.
    #[test]
    fn cache_key_covers_every_flag_the_header_and_nvrtc() {
        let hdr = b"cuda_fp16.h of CUDA 12.2".to_vec();
        let base = cache_key(&opts(), &hdr, (12, 2));
        let variants: [(&str, PtxOptions); 6] = [
            ("fmad", PtxOptions { fmad: true, ..opts() }),
            ("ftz", PtxOptions { ftz: true, ..opts() }),
            ("prec-div", PtxOptions { prec_div: false, ..opts() }),
            ("prec-sqrt", PtxOptions { prec_sqrt: false, ..opts() }),
            ("arch", PtxOptions { arch: "compute_72".into(), ..opts() }),
            ("include", PtxOptions { include: vec![PathBuf::from("/opt/cuda/include")], ..opts() }),
        ];
        for (what, o) in variants {
            assert_ne!(cache_key(&o, &hdr, (12, 2)), base, "{what} does not change the key");
        }
        assert_ne!(cache_key(&opts(), b"cuda_fp16.h of CUDA 12.6", (12, 2)), base, "header");
        assert_ne!(cache_key(&opts(), &hdr, (12, 6)), base, "NVRTC version");
        assert_eq!(cache_key(&opts(), &hdr, (12, 2)), base, "the key is deterministic");
        // The flags are in the option list NVRTC gets (the key hashes that list).
        let args = opts().args();
        for f in ["--fmad=false", "--ftz=false", "--prec-div=true", "--prec-sqrt=true", "--gpu-architecture=compute_87"]
        {
            assert!(args.iter().any(|a| a == f), "{f} missing from {args:?}");
        }
    }

    /// Concurrent writers of one cache entry (threads here; processes alike) each store a complete file and the
    /// entry is always one writer's whole text. With one fixed temporary name (`<entry>.tmp`), writers truncated
    /// each other's temporary file and renamed it away under one another (errors, torn entries).
    #[test]
    fn cache_store_is_atomic_under_concurrent_writers() {
        let dir = std::env::temp_dir().join(format!("avf-bel-ptx-cache-test-{}", std::process::id()));
        let path = dir.join("compute_87-nvrtc12.2-0123456789abcdef.ptx");
        let texts: Vec<String> = (0..6).map(|t| format!("// writer {t}\n{}", "x".repeat(200_000 + t * 1000))).collect();
        std::thread::scope(|s| {
            for t in &texts {
                let path = &path;
                s.spawn(move || {
                    for _ in 0..20 {
                        store_atomic(path, t.as_bytes()).expect("store");
                        let got = std::fs::read_to_string(path).expect("read");
                        assert!(
                            got.starts_with("// writer ") && got.len() >= 200_000,
                            "torn entry ({} bytes)",
                            got.len()
                        );
                    }
                });
            }
        });
        let got = std::fs::read_to_string(&path).unwrap();
        assert!(texts.contains(&got));
        // No temporary files left behind.
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()).collect();
        assert_eq!(left.len(), 1, "{left:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
