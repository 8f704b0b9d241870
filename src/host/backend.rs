//! Choosing the backend at run time (`--device auto|cpu|cuda`): the CPU core or the GPU pipeline, both behind
//! [`Backend`].
//!
//! `cpu` is the CPU core. `cuda` needs the `cuda` feature, a CUDA ≥ 11.4 driver, NVRTC and a passing start-up
//! self-test, and fails with the reason otherwise. `auto` takes the GPU when all of that holds, else the CPU, and says
//! why in one line on stderr: whatever went wrong during GPU start-up, a panic included (a driver library can panic
//! a binding; the CPU must still run).

use crate::core::backend::Backend;
use crate::core::error::Error;
use crate::core::pipeline::Pipeline;
use crate::core::weights::Weights;
use std::cell::RefCell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

/// The requested backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    /// The GPU if usable, else the CPU (with one line saying why).
    Auto,
    /// The CPU core.
    #[default]
    Cpu,
    /// The GPU, or an error.
    Cuda,
}

/// A `--device` value that is not `auto`, `cpu` or `cuda`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownDevice(pub String);

impl fmt::Display for UnknownDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown device `{}` (expected auto, cpu or cuda)", self.0)
    }
}

impl std::error::Error for UnknownDevice {}

impl core::str::FromStr for Device {
    type Err = UnknownDevice;
    fn from_str(s: &str) -> Result<Self, UnknownDevice> {
        match s {
            "auto" => Ok(Device::Auto),
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda),
            _ => Err(UnknownDevice(s.to_string())),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        })
    }
}

/// Why the GPU could not be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum GpuUnusable {
    /// The binary was built without the `cuda` feature.
    NotBuilt,
    /// The GPU backend's own error (no driver, too old, NVRTC, self-test, …).
    #[cfg(any(feature = "cuda", feature = "cuda-emulator"))]
    Failed(crate::host::gpu::GpuError),
    /// GPU start-up panicked: the panic's message and location.
    Panicked(String),
}

impl fmt::Display for GpuUnusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuUnusable::NotBuilt => {
                write!(f, "this binary was built without the `cuda` feature (cargo build --release --features cuda)")
            }
            #[cfg(any(feature = "cuda", feature = "cuda-emulator"))]
            GpuUnusable::Failed(e) => e.fmt(f),
            GpuUnusable::Panicked(msg) => write!(f, "GPU start-up panicked: {msg}"),
        }
    }
}

/// Why no backend could be opened.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// `--device cuda` and the GPU is not usable.
    Gpu(GpuUnusable),
    /// The CPU pipeline could not be built (weights, scratch).
    Cpu(Error),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Gpu(why) => write!(f, "--device cuda: {why}"),
            OpenError::Cpu(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for OpenError {}

/// Starts a GPU backend over the weights, the file's bytes and a host scratch vector (sized by the starter).
pub type GpuStarter<'a, 's> =
    &'s dyn Fn(&Weights<'a>, &[u8], &'a mut Vec<f32>) -> Result<Box<dyn Backend + 'a>, GpuUnusable>;

/// Open the backend for `device`. `bytes` is the weights file `w` was parsed from (the GPU self-test re-reads it);
/// the scratch vectors are sized here and must outlive the backend.
pub fn open<'a>(
    device: Device,
    w: &Weights<'a>,
    bytes: &[u8],
    cpu_scratch: &'a mut Vec<f32>,
    gpu_scratch: &'a mut Vec<f32>,
) -> Result<Box<dyn Backend + 'a>, OpenError> {
    open_with(device, w, bytes, cpu_scratch, gpu_scratch, &start_cuda)
}

/// [`open`] with the GPU started by `start` (the CUDA device normally; tests pass the emulator or a failing
/// starter).
pub fn open_with<'a>(
    device: Device,
    w: &Weights<'a>,
    bytes: &[u8],
    cpu_scratch: &'a mut Vec<f32>,
    gpu_scratch: &'a mut Vec<f32>,
    start: GpuStarter<'a, '_>,
) -> Result<Box<dyn Backend + 'a>, OpenError> {
    if device != Device::Cpu {
        match without_panicking(|| start(w, bytes, gpu_scratch)) {
            Ok(b) => return Ok(b),
            Err(why) if device == Device::Cuda => return Err(OpenError::Gpu(why)),
            Err(why) => log::warn!("--device auto: GPU not usable ({why}); running on the CPU"),
        }
    }
    cpu_scratch.clear();
    cpu_scratch.resize(Pipeline::scratch_len(w), 0.0);
    Ok(Box::new(Pipeline::new(w, cpu_scratch).map_err(OpenError::Cpu)?))
}

/// The CUDA device (feature `cuda`).
#[cfg(feature = "cuda")]
fn start_cuda<'a>(
    w: &Weights<'a>,
    bytes: &[u8],
    scratch: &'a mut Vec<f32>,
) -> Result<Box<dyn Backend + 'a>, GpuUnusable> {
    use crate::host::gpu;
    scratch.clear();
    scratch.resize(gpu::GpuPipeline::scratch_len(w), 0.0);
    gpu::open(w, bytes, scratch).map(|g| Box::new(g) as Box<dyn Backend + 'a>).map_err(GpuUnusable::Failed)
}

#[cfg(not(feature = "cuda"))]
fn start_cuda<'a>(_: &Weights<'a>, _: &[u8], _: &'a mut Vec<f32>) -> Result<Box<dyn Backend + 'a>, GpuUnusable> {
    Err(GpuUnusable::NotBuilt)
}

/// The CPU emulator as the GPU (feature `cuda-emulator`): the real GPU host code and self-test over kernels run on
/// the CPU. For tests and for checking the GPU path on a machine without one; far too slow for real time.
#[cfg(feature = "cuda-emulator")]
pub fn start_emulator<'a>(
    w: &Weights<'a>,
    bytes: &[u8],
    scratch: &'a mut Vec<f32>,
) -> Result<Box<dyn Backend + 'a>, GpuUnusable> {
    use crate::host::gpu;
    scratch.clear();
    scratch.resize(gpu::GpuPipeline::scratch_len(w), 0.0);
    gpu::open_on(Box::new(gpu::emulator::Emulator::new()), w, bytes, scratch)
        .map(|g| Box::new(g) as Box<dyn Backend + 'a>)
        .map_err(GpuUnusable::Failed)
}

thread_local! {
    /// Set while this thread runs a GPU start-up: a panic's message is kept here instead of printed.
    static CAUGHT: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
}

/// Run `f`, turning a panic into [`GpuUnusable::Panicked`] with its message. While `f` runs, panics on this thread
/// are not printed by the panic hook (the caller reports them in its one line); other threads' panics are printed
/// as before.
fn without_panicking<T>(f: impl FnOnce() -> Result<T, GpuUnusable>) -> Result<T, GpuUnusable> {
    type Hook = dyn Fn(&panic::PanicHookInfo<'_>) + Send + Sync + 'static;
    let prev: Arc<Hook> = Arc::from(panic::take_hook());
    let chained = prev.clone();
    panic::set_hook(Box::new(move |info| {
        let mine = CAUGHT.with(|c| {
            let mut c = c.borrow_mut();
            match c.as_mut() {
                Some(slot) => {
                    let msg = info
                        .payload()
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| info.payload().downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "(no message)".into());
                    let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
                    *slot = Some(format!("{msg}{at}"));
                    true
                }
                None => false,
            }
        });
        if !mine {
            chained(info);
        }
    }));
    CAUGHT.with(|c| *c.borrow_mut() = Some(None));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    let msg = CAUGHT.with(|c| c.borrow_mut().take()).flatten();
    let _ = panic::take_hook();
    panic::set_hook(Box::new(move |info| prev(info)));
    match r {
        Ok(r) => r,
        Err(_) => Err(GpuUnusable::Panicked(msg.unwrap_or_else(|| "(no message)".into()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::ModelConfig;
    use crate::host::model::{encode, seeded, Precision};
    use crate::host::writer::AlignedBytes;

    fn panicking<'a>(_: &Weights<'a>, _: &[u8], _: &'a mut Vec<f32>) -> Result<Box<dyn Backend + 'a>, GpuUnusable> {
        panic!("the driver binding panicked")
    }

    /// A panic during GPU start-up falls back to the CPU under `auto` and is a typed error under `cuda`; the
    /// process goes on. `Engine::open` once fell back only on `Err`, so such a panic killed `--device auto`.
    #[test]
    fn auto_falls_back_to_the_cpu_when_gpu_start_up_panics() {
        let cfg = ModelConfig::tiny();
        let file = AlignedBytes::new(&encode(&cfg, &seeded(&cfg, 9), Precision::F32).unwrap());
        let w = Weights::parse(file.as_bytes()).unwrap();
        let (mut cs, mut gs) = (Vec::new(), Vec::new());
        let b = open_with(Device::Auto, &w, file.as_bytes(), &mut cs, &mut gs, &panicking).expect("auto falls back");
        assert_eq!(b.name(), "cpu");
        drop(b);
        let (mut cs, mut gs) = (Vec::new(), Vec::new());
        match open_with(Device::Cuda, &w, file.as_bytes(), &mut cs, &mut gs, &panicking) {
            Err(OpenError::Gpu(GpuUnusable::Panicked(msg))) => {
                assert!(msg.contains("the driver binding panicked"), "{msg}")
            }
            Err(e) => panic!("expected a caught panic, got {e}"),
            Ok(b) => panic!("--device cuda opened {}", b.name()),
        }
        // The hook is back: a later panic on this thread is not swallowed as a GPU start-up one.
        assert!(CAUGHT.with(|c| c.borrow().is_none()));
        let (mut cs, mut gs) = (Vec::new(), Vec::new());
        let b = open_with(Device::Cpu, &w, file.as_bytes(), &mut cs, &mut gs, &panicking).unwrap();
        assert_eq!(b.name(), "cpu");
    }

    #[test]
    fn device_names() {
        assert_eq!("auto".parse::<Device>(), Ok(Device::Auto));
        assert_eq!("gpu".parse::<Device>(), Ok(Device::Cuda));
        assert_eq!("cpu".parse::<Device>(), Ok(Device::Cpu));
        assert!("tpu".parse::<Device>().unwrap_err().to_string().contains("auto, cpu or cuda"));
        assert_eq!(Device::Cuda.to_string(), "cuda");
    }
}
