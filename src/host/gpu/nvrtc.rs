//! NVRTC, found and loaded by path (feature `cuda`).
//!
//! cudarc looks NVRTC up by a fixed list of names (`libnvrtc.so`, `.so.12`, `.so.11`, …), which misses the libraries
//! that matter here: JetPack 5 (CUDA 11.4) installs `libnvrtc.so.11.4` (soname `libnvrtc.so.11.2`) under
//! `/usr/local/cuda-11.4/targets/aarch64-linux/lib`, often without the unversioned link, and CUDA 13 installs
//! `libnvrtc.so.13`. So the library is searched for here: `AVF_BEL_NVRTC` (a path), then every `libnvrtc.so*` in the
//! CUDA directories (`$CUDA_HOME`, `$CUDA_PATH`, `LD_LIBRARY_PATH`, `/usr/local/cuda*/lib64` and
//! `…/targets/*/lib`, the distribution's library directories), newest version first, then the sonames through the
//! dynamic loader. Versions older than 11.4 (Jetson Nano's CUDA 10.2) are refused with a clear reason.

use super::launcher::Unavailable;
use libloading::Library;
use std::ffi::{c_char, c_int, c_void, CString};
use std::path::{Path, PathBuf};

/// Environment variable: the NVRTC library to use (a path).
pub const ENV_NVRTC: &str = "AVF_BEL_NVRTC";

/// The oldest NVRTC accepted (the driver floor is the same: CUDA 11.4, JetPack 5).
pub const MIN_VERSION: (i32, i32) = (11, 4);

type Program = *mut c_void;
type VersionFn = unsafe extern "C" fn(*mut c_int, *mut c_int) -> c_int;
type CreateFn = unsafe extern "C" fn(
    *mut Program,
    *const c_char,
    *const c_char,
    c_int,
    *const *const c_char,
    *const *const c_char,
) -> c_int;
type CompileFn = unsafe extern "C" fn(Program, c_int, *const *const c_char) -> c_int;
type SizeFn = unsafe extern "C" fn(Program, *mut usize) -> c_int;
type GetFn = unsafe extern "C" fn(Program, *mut c_char) -> c_int;
type DestroyFn = unsafe extern "C" fn(*mut Program) -> c_int;

/// A loaded NVRTC.
pub struct Nvrtc {
    lib: Library,
    /// Where it was loaded from (a path, or a soname resolved by the dynamic loader).
    pub path: String,
    /// Its version.
    pub version: (i32, i32),
}

/// Version of a `libnvrtc.so[.a[.b[.c]]]` file name, e.g. `libnvrtc.so.11.4.298` → `[11, 4, 298]`; `None` for other
/// names (`libnvrtc-builtins.so.12.2`, `libnvrtc_static.a`, …). The unversioned link gives `[]`.
pub fn name_version(name: &str) -> Option<Vec<u32>> {
    let rest = name.strip_prefix("libnvrtc.so")?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let rest = rest.strip_prefix('.')?;
    rest.split('.').map(|p| p.parse::<u32>().ok()).collect()
}

/// Directories where CUDA installs put NVRTC, in the order they are searched.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut cuda_roots: Vec<PathBuf> =
        ["CUDA_HOME", "CUDA_PATH"].iter().filter_map(std::env::var_os).map(PathBuf::from).collect();
    if let Ok(ld) = std::env::var("LD_LIBRARY_PATH") {
        dirs.extend(ld.split(':').filter(|d| !d.is_empty()).map(PathBuf::from));
    }
    cuda_roots.push(PathBuf::from("/usr/local/cuda"));
    // Versioned installs, newest first (cuda-13.0, cuda-12.6, cuda-11.4, …).
    if let Ok(rd) = std::fs::read_dir("/usr/local") {
        let mut v: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("cuda-")))
            .collect();
        v.sort_by_key(|p| std::cmp::Reverse(dir_version(p)));
        cuda_roots.extend(v);
    }
    for root in cuda_roots {
        dirs.push(root.join("lib64"));
        for t in ["aarch64-linux", "sbsa-linux", "x86_64-linux"] {
            dirs.push(root.join("targets").join(t).join("lib"));
        }
    }
    dirs.extend(
        ["/usr/lib/aarch64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"].map(PathBuf::from),
    );
    dirs.dedup();
    dirs
}

fn dir_version(p: &Path) -> Vec<u32> {
    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    n.trim_start_matches("cuda-").split('.').filter_map(|x| x.parse().ok()).collect()
}

/// Every `libnvrtc.so*` in `dirs`, newest version first within each directory (directories in the given order).
pub fn find_in(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(d) else { continue };
        let mut found: Vec<(Vec<u32>, PathBuf)> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                Some((name_version(&name)?, e.path()))
            })
            .collect();
        found.sort_by(|a, b| b.0.cmp(&a.0));
        out.extend(found.into_iter().map(|(_, p)| p));
    }
    out
}

/// Sonames tried through the dynamic loader when no file was found (`ldconfig`'s cache, `LD_LIBRARY_PATH`).
pub const SONAMES: [&str; 5] =
    ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so.11", "libnvrtc.so"];

impl Nvrtc {
    /// Find and load NVRTC (see the module docs).
    pub fn load() -> Result<Nvrtc, Unavailable> {
        let mut candidates: Vec<String> = Vec::new();
        if let Some(p) = std::env::var_os(ENV_NVRTC) {
            candidates.push(PathBuf::from(p).display().to_string());
        }
        candidates.extend(find_in(&search_dirs()).iter().map(|p| p.display().to_string()));
        candidates.extend(SONAMES.iter().map(|s| s.to_string()));
        Nvrtc::load_first(&candidates)
    }

    /// Load the first of `candidates` (paths or sonames) that is an NVRTC of at least [`MIN_VERSION`].
    pub fn load_first(candidates: &[String]) -> Result<Nvrtc, Unavailable> {
        let mut too_old = None;
        for c in candidates {
            match Nvrtc::open(c) {
                Some(n) if n.version >= MIN_VERSION => return Ok(n),
                Some(n) => too_old = too_old.or(Some(n.version)),
                None => {}
            }
        }
        match too_old {
            Some((a, b)) => Err(Unavailable::NvrtcTooOld(a, b)),
            None => Err(Unavailable::NoNvrtc(vec![
                format!("${ENV_NVRTC}"),
                "the CUDA library directories".into(),
                SONAMES.join(", "),
            ])),
        }
    }

    /// Load `path` if it is an NVRTC (it exports `nvrtcVersion` and the compile functions).
    pub fn open(path: &str) -> Option<Nvrtc> {
        // SAFETY: loading a shared library runs its initialisers; NVRTC's (and any library named libnvrtc) are
        // trusted as the CUDA installation's own.
        let lib = unsafe { Library::new(path) }.ok()?;
        let version = {
            // SAFETY: `nvrtcVersion(int*, int*)` is NVRTC's signature.
            let f = unsafe { lib.get::<VersionFn>(b"nvrtcVersion\0") }.ok()?;
            for name in [
                &b"nvrtcCreateProgram\0"[..],
                b"nvrtcCompileProgram\0",
                b"nvrtcGetPTXSize\0",
                b"nvrtcGetPTX\0",
                b"nvrtcGetProgramLogSize\0",
                b"nvrtcGetProgramLog\0",
                b"nvrtcDestroyProgram\0",
            ] {
                // SAFETY: only the symbol's presence is checked.
                unsafe { lib.get::<*const c_void>(name) }.ok()?;
            }
            let (mut a, mut b) = (0, 0);
            // SAFETY: two valid out-pointers.
            if unsafe { f(&mut a, &mut b) } != 0 {
                return None;
            }
            (a, b)
        };
        Some(Nvrtc { lib, path: path.to_string(), version })
    }

    /// Compile `source` with `options`; the PTX, or NVRTC's log.
    pub fn compile(&self, source: &str, name: &str, options: &[String]) -> Result<String, String> {
        let src = CString::new(source).map_err(|_| "the source contains a NUL byte".to_string())?;
        let name = CString::new(name).map_err(|_| "the name contains a NUL byte".to_string())?;
        let opts: Vec<CString> = options
            .iter()
            .map(|o| CString::new(o.as_str()))
            .collect::<Result<_, _>>()
            .map_err(|_| "NUL in an option")?;
        let opt_ptrs: Vec<*const c_char> = opts.iter().map(|o| o.as_ptr()).collect();
        // SAFETY: the symbols were checked in `open`; the types are NVRTC's documented signatures.
        let (create, compile, ptx_size, get_ptx, log_size, get_log, destroy) = unsafe {
            (
                self.lib.get::<CreateFn>(b"nvrtcCreateProgram\0").map_err(|e| e.to_string())?,
                self.lib.get::<CompileFn>(b"nvrtcCompileProgram\0").map_err(|e| e.to_string())?,
                self.lib.get::<SizeFn>(b"nvrtcGetPTXSize\0").map_err(|e| e.to_string())?,
                self.lib.get::<GetFn>(b"nvrtcGetPTX\0").map_err(|e| e.to_string())?,
                self.lib.get::<SizeFn>(b"nvrtcGetProgramLogSize\0").map_err(|e| e.to_string())?,
                self.lib.get::<GetFn>(b"nvrtcGetProgramLog\0").map_err(|e| e.to_string())?,
                self.lib.get::<DestroyFn>(b"nvrtcDestroyProgram\0").map_err(|e| e.to_string())?,
            )
        };
        let mut prog: Program = core::ptr::null_mut();
        // SAFETY: valid NUL-terminated strings alive for the call; no headers passed (count 0, null arrays).
        let rc = unsafe { create(&mut prog, src.as_ptr(), name.as_ptr(), 0, core::ptr::null(), core::ptr::null()) };
        if rc != 0 {
            return Err(format!("nvrtcCreateProgram returned {rc}"));
        }
        // SAFETY: `prog` was created above; the option pointers outlive the call.
        let rc = unsafe { compile(prog, opt_ptrs.len() as c_int, opt_ptrs.as_ptr()) };
        let result = if rc != 0 {
            let mut n = 0usize;
            // SAFETY: `prog` is valid; the log buffer has the size NVRTC reported.
            let log = unsafe {
                if log_size(prog, &mut n) == 0 && n > 0 {
                    let mut buf = vec![0u8; n];
                    get_log(prog, buf.as_mut_ptr() as *mut c_char);
                    String::from_utf8_lossy(&buf[..n - 1]).into_owned()
                } else {
                    String::new()
                }
            };
            Err(format!("nvrtcCompileProgram returned {rc}\n{log}"))
        } else {
            let mut n = 0usize;
            // SAFETY: as above, for the PTX.
            unsafe {
                if ptx_size(prog, &mut n) != 0 || n == 0 {
                    Err("nvrtcGetPTXSize failed".to_string())
                } else {
                    let mut buf = vec![0u8; n];
                    if get_ptx(prog, buf.as_mut_ptr() as *mut c_char) != 0 {
                        Err("nvrtcGetPTX failed".to_string())
                    } else {
                        buf.truncate(n - 1);
                        String::from_utf8(buf).map_err(|_| "NVRTC returned PTX that is not UTF-8".to_string())
                    }
                }
            }
        };
        // SAFETY: destroys the program created above, once.
        unsafe { destroy(&mut prog) };
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions() {
        assert_eq!(name_version("libnvrtc.so"), Some(vec![]));
        assert_eq!(name_version("libnvrtc.so.11.4.298"), Some(vec![11, 4, 298]));
        assert_eq!(name_version("libnvrtc.so.13"), Some(vec![13]));
        assert_eq!(name_version("libnvrtc-builtins.so.12.2"), None);
        assert_eq!(name_version("libnvrtc.so.12.alt"), None);
        assert_eq!(name_version("libnvrtc_static.a"), None);
    }

    /// A stand-in NVRTC (a C shared library reporting `major.minor`), built with the system C compiler.
    fn fake_nvrtc(dir: &Path, file: &str, major: i32, minor: i32) -> Option<PathBuf> {
        let c = dir.join(format!("{file}.c"));
        std::fs::write(
            &c,
            format!(
                "int nvrtcVersion(int* a, int* b) {{ *a = {major}; *b = {minor}; return 0; }}\n\
                 int nvrtcCreateProgram(void) {{ return 1; }} int nvrtcCompileProgram(void) {{ return 1; }}\n\
                 int nvrtcGetPTXSize(void) {{ return 1; }} int nvrtcGetPTX(void) {{ return 1; }}\n\
                 int nvrtcGetProgramLogSize(void) {{ return 1; }} int nvrtcGetProgramLog(void) {{ return 1; }}\n\
                 int nvrtcDestroyProgram(void) {{ return 0; }}\n"
            ),
        )
        .ok()?;
        let out = dir.join(file);
        let ok = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&out)
            .arg(&c)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then_some(out)
    }

    /// JetPack 5's `libnvrtc.so.11.4` and CUDA 13's `libnvrtc.so.13` are found (newest first) and loaded; an NVRTC
    /// older than 11.4 (Jetson Nano's 10.2) is refused with its version, not loaded.
    #[test]
    fn finds_jetpack5_and_cuda13_nvrtc_and_refuses_cuda10() {
        let dir = std::env::temp_dir().join(format!("avf-bel-nvrtc-test-{}", std::process::id()));
        let (jp5, cu13, nano) = (dir.join("jetpack5"), dir.join("cuda13"), dir.join("nano"));
        for d in [&jp5, &cu13, &nano] {
            std::fs::create_dir_all(d).unwrap();
        }
        let Some(a) = fake_nvrtc(&jp5, "libnvrtc.so.11.4.298", 11, 4) else {
            eprintln!("SKIPPED finds_jetpack5_and_cuda13_nvrtc_and_refuses_cuda10: no C compiler (`cc`) to build a stand-in NVRTC");
            return;
        };
        std::fs::write(jp5.join("libnvrtc-builtins.so.11.4"), b"not a library").unwrap();
        let b = fake_nvrtc(&cu13, "libnvrtc.so.13", 13, 0).unwrap();
        let c = fake_nvrtc(&nano, "libnvrtc.so.10.2", 10, 2).unwrap();

        let found = find_in(std::slice::from_ref(&jp5));
        assert_eq!(found, vec![a.clone()], "the builtins library is not NVRTC");
        let n = Nvrtc::load_first(&[a.display().to_string()]).unwrap();
        assert_eq!(n.version, (11, 4));
        let found = find_in(&[cu13.clone(), jp5.clone()]);
        assert_eq!(found, vec![b.clone(), a.clone()]);
        let n = Nvrtc::load_first(&found.iter().map(|p| p.display().to_string()).collect::<Vec<_>>()).unwrap();
        assert_eq!(n.version, (13, 0));
        match Nvrtc::load_first(&[c.display().to_string()]) {
            Err(Unavailable::NvrtcTooOld(10, 2)) => {}
            Err(e) => panic!("expected NvrtcTooOld(10, 2), got {e}"),
            Ok(_) => panic!("NVRTC 10.2 was accepted"),
        }
        assert!(matches!(
            Nvrtc::load_first(&[dir.join("missing.so").display().to_string()]),
            Err(Unavailable::NoNvrtc(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
