//! Build script. Does nothing unless the `cuda-emulator` feature is on (default and device builds need no C++
//! toolchain and no CUDA headers). With it, the CUDA kernels of `kernels/*.cu` are compiled unchanged as host C++
//! (`kernels/emu/`: a shim header, a launcher per build of the kernels, a thread pool) by the `cc` crate, once as they
//! are and once per planted bug (a copy with one loop bound off by one, for the tests that show the checks catch it).
//!
//! Needs `cuda_fp16.h` and CUDA's `crt/` headers: `AVF_BEL_CUDA_INCLUDE` (a directory with `cuda_fp16.h`, e.g. the
//! `nvidia/cuda_runtime/include` of the PyPI wheel `nvidia-cuda-runtime-cu12==12.2.140`, or `/usr/local/cuda/include`)
//! and, when `crt/host_defines.h` is not beside it, `AVF_BEL_CUDA_CRT_INCLUDE` (the wheel
//! `nvidia-cuda-nvcc-cu12==12.9.86`'s `nvidia/cuda_nvcc/include`; found by itself in the wheels' layout).
//! `AVF_BEL_EMU_SANITIZE=1` builds the emulator with AddressSanitizer and UBSan and links their runtimes into the
//! test binaries.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "cuda-emulator")]
    emulator::build();
}

#[cfg(feature = "cuda-emulator")]
mod emulator {
    use std::path::{Path, PathBuf};

    /// The kernel sources, in the order `emu_kernels.cpp` includes them.
    const SOURCES: [&str; 4] = ["common.cuh", "cornet.cu", "cortex.cu", "head.cu"];

    /// A planted bug: the build's name (`avf_emu_<build>_launch`), the file, the exact text and its replacement
    /// (first occurrence).
    struct Plant {
        build: &'static str,
        file: &'static str,
        from: &'static str,
        to: &'static str,
    }

    const PLANTED: [Plant; 3] = [
        Plant {
            build: "mut_cornet",
            file: "cornet.cu",
            from: "for (int dy = 0; dy < 3; dy++)",
            to: "for (int dy = 0; dy < 2; dy++)",
        },
        Plant {
            build: "mut_cortex",
            file: "cortex.cu",
            from: "for (int wd = 0; wd < P.we; wd++)",
            to: "for (int wd = 0; wd < P.we - 1; wd++)",
        },
        Plant {
            build: "mut_head",
            file: "head.cu",
            from: "for (int l = 0; l < 8; l++) t += part[l];",
            to: "for (int l = 0; l < 7; l++) t += part[l];",
        },
    ];

    fn fail(msg: &str) -> ! {
        eprintln!("error: feature `cuda-emulator`: {msg}");
        std::process::exit(1);
    }

    /// The directory holding `cuda_fp16.h`, and the one holding `crt/host_defines.h`.
    fn cuda_includes() -> (PathBuf, PathBuf) {
        let mut tried = Vec::new();
        let mut fp16 = None;
        let candidates = std::env::var_os("AVF_BEL_CUDA_INCLUDE")
            .map(PathBuf::from)
            .into_iter()
            .chain(std::env::var_os("CUDA_HOME").map(|h| Path::new(&h).join("include")))
            .chain([PathBuf::from("/usr/local/cuda/include")]);
        for d in candidates {
            if d.join("cuda_fp16.h").is_file() {
                fp16 = Some(d);
                break;
            }
            tried.push(d.display().to_string());
        }
        let Some(fp16) = fp16 else {
            fail(&format!(
                "cuda_fp16.h not found (tried {}). Set AVF_BEL_CUDA_INCLUDE to a CUDA include directory, e.g. after \
                 `pip install nvidia-cuda-runtime-cu12==12.2.140 nvidia-cuda-nvcc-cu12==12.9.86` in a venv: \
                 AVF_BEL_CUDA_INCLUDE=<venv>/lib/python3.X/site-packages/nvidia/cuda_runtime/include",
                tried.join(", ")
            ))
        };
        let crt_candidates = std::env::var_os("AVF_BEL_CUDA_CRT_INCLUDE")
            .map(PathBuf::from)
            .into_iter()
            .chain([fp16.clone(), fp16.join("../../cuda_nvcc/include")]);
        let mut tried = Vec::new();
        for d in crt_candidates {
            if d.join("crt/host_defines.h").is_file() {
                return (fp16, d);
            }
            tried.push(d.display().to_string());
        }
        fail(&format!(
            "crt/host_defines.h not found (tried {}). Set AVF_BEL_CUDA_CRT_INCLUDE to the include directory of the \
             `nvidia-cuda-nvcc-cu12==12.9.86` wheel (nvidia/cuda_nvcc/include) or of a CUDA toolkit",
            tried.join(", ")
        ))
    }

    fn base(kernels: &Path, fp16: &Path, crt: &Path, sanitize: bool) -> cc::Build {
        let mut b = cc::Build::new();
        b.cpp(true)
            .std("c++20")
            // The emulator is too slow unoptimised, whatever the profile.
            .opt_level(2)
            // f32 results as NVRTC's --fmad=false: no contraction into fused multiply-add.
            .flag("-ffp-contract=off")
            .flag("-fno-fast-math")
            .flag("-pthread")
            .flag("-Wno-unknown-pragmas")
            .flag("-Wno-unused-parameter")
            .include(kernels.join("emu"))
            .include(fp16)
            .include(crt);
        if sanitize {
            b.flag("-fsanitize=address,undefined").flag("-fno-sanitize-recover=all").flag("-fno-omit-frame-pointer");
        }
        b
    }

    pub fn build() {
        let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
        let kernels = root.join("kernels");
        let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
        for v in ["AVF_BEL_CUDA_INCLUDE", "AVF_BEL_CUDA_CRT_INCLUDE", "CUDA_HOME", "AVF_BEL_EMU_SANITIZE"] {
            println!("cargo:rerun-if-env-changed={v}");
        }
        for f in SOURCES {
            println!("cargo:rerun-if-changed=kernels/{f}");
        }
        for f in ["cuda_emu.h", "emu_kernels.cpp", "emu_runtime.cpp", "emu_runtime.h", "nv/target"] {
            println!("cargo:rerun-if-changed=kernels/emu/{f}");
        }
        let sanitize = std::env::var("AVF_BEL_EMU_SANITIZE").map(|v| v == "1").unwrap_or(false);
        let (fp16, crt) = cuda_includes();

        base(&kernels, &fp16, &crt, sanitize).file(kernels.join("emu/emu_runtime.cpp")).compile("avf_emu_runtime");

        // The real kernels, straight from kernels/.
        base(&kernels, &fp16, &crt, sanitize)
            .include(&kernels)
            .define("AVF_EMU_VARIANT", "real")
            .file(kernels.join("emu/emu_kernels.cpp"))
            .compile("avf_emu_real");

        // Each planted bug: a copy of the sources with one change.
        for p in &PLANTED {
            let dir = out.join(p.build);
            std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&format!("{}: {e}", dir.display())));
            for f in SOURCES {
                let src =
                    std::fs::read_to_string(kernels.join(f)).unwrap_or_else(|e| fail(&format!("kernels/{f}: {e}")));
                let text = if f == p.file {
                    if !src.contains(p.from) {
                        fail(&format!(
                            "the planted bug `{}` needs `{}` in kernels/{f}, which no longer has it: update PLANTED \
                             in build.rs",
                            p.build, p.from
                        ));
                    }
                    src.replacen(p.from, p.to, 1)
                } else {
                    src
                };
                std::fs::write(dir.join(f), text).unwrap_or_else(|e| fail(&format!("{}: {e}", dir.display())));
            }
            base(&kernels, &fp16, &crt, sanitize)
                .include(&dir)
                .define("AVF_EMU_VARIANT", p.build)
                .file(kernels.join("emu/emu_kernels.cpp"))
                .compile(&format!("avf_emu_{}", p.build));
        }
        if sanitize {
            // The C++ is instrumented; the sanitizers' runtimes go into every binary that links it (rustc links with
            // -nodefaultlibs, so the driver's -fsanitize does not add them). At run time libasan must be loaded
            // first: run the binaries with LD_PRELOAD=$(gcc -print-file-name=libasan.so) (.ci/steps/50-…).
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
            println!("cargo:rustc-link-arg=-lasan");
            println!("cargo:rustc-link-arg=-lubsan");
        }
    }
}
