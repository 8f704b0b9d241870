//! Where the kernels run: the [`Launcher`] trait, which the GPU pipeline's host code ([`super::GpuPipeline`]) talks
//! to for every allocation, copy, launch and graph. Two implementations: CUDA through cudarc (`super::cuda`, feature
//! `cuda`) and the CPU emulator (`super::emulator`, feature `cuda-emulator`), which runs the same kernel sources as
//! host C++. Because the pipeline only sees this trait, the emulator exercises the real host code: layouts, weight
//! re-layouts, queues, the graph path's order and the self-test.

use crate::core::error::{BackendError, BackendStage, Error};
use std::fmt;

/// The kernels' entry points (`extern "C" __global__` functions of `kernels/*.cu`): the one list both launchers
/// and the compile check use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// V1, fp16 weights (`cornet.cu`).
    CzV1F16,
    /// V1, int8 weights.
    CzV1I8,
    /// V2, V4, IT (3×3), fp16 weights.
    CzK3F16,
    /// V2, V4, IT (3×3), int8 weights.
    CzK3I8,
    /// IT's global average and the clip's running mean and spread.
    CzGap,
    /// The auditory cortex over a batch of frames (`cortex.cu`).
    CortexFrames,
    /// The cortex's population features.
    CortexFeatures,
    /// Read-outs, fusion and BEL (`head.cu`).
    Head,
}

impl Kernel {
    /// Every entry point.
    pub const ALL: [Kernel; 8] = [
        Kernel::CzV1F16,
        Kernel::CzV1I8,
        Kernel::CzK3F16,
        Kernel::CzK3I8,
        Kernel::CzGap,
        Kernel::CortexFrames,
        Kernel::CortexFeatures,
        Kernel::Head,
    ];

    /// The function's name in the source.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::CzV1F16 => "cz_v1_f16w",
            Kernel::CzV1I8 => "cz_v1_i8w",
            Kernel::CzK3F16 => "cz_k3_f16w",
            Kernel::CzK3I8 => "cz_k3_i8w",
            Kernel::CzGap => "cz_gap_accumulate",
            Kernel::CortexFrames => "cortex_frames",
            Kernel::CortexFeatures => "cortex_features",
            Kernel::Head => "head_fusion_bel",
        }
    }
}

/// A device buffer of a [`Launcher`] (an index into its table; freed with the launcher).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buf(pub(crate) u32);

/// A captured launch sequence of a [`Launcher`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Graph(pub(crate) u32);

/// A point in the launcher's stream of work, to wait for later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fence(pub(crate) u32);

/// One kernel argument, as in `cuLaunchKernel`'s parameter list.
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    /// The device address of a buffer.
    Buf(Buf),
    /// The device address of a buffer plus a byte offset.
    BufAt(Buf, usize),
    /// An `int`.
    I32(i32),
    /// A `float`.
    F32(f32),
    /// A struct passed by value (the bytes of a `repr(C)` value whose layout is the kernel's).
    Pod(&'a [u8]),
}

impl Arg<'_> {
    /// Size of the parameter in the kernel's parameter list.
    pub fn size(&self) -> usize {
        match self {
            Arg::Buf(_) | Arg::BufAt(..) => core::mem::size_of::<u64>(),
            Arg::I32(_) => 4,
            Arg::F32(_) => 4,
            Arg::Pod(b) => b.len(),
        }
    }
}

/// What the pipeline knows about the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The GPU's name (or "CPU emulator").
    pub name: String,
    /// Compute capability (`(0, 0)` for the emulator).
    pub cc: (i32, i32),
    /// Whether the GPU shares DRAM with the CPU (Jetson): host buffers are then mapped, not copied.
    pub integrated: bool,
    /// Multiprocessors (SMs): how many blocks run at once, which the CORnet-Z tile plans fill (the emulator runs
    /// one block at a time and says 1 unless a test asks for a GPU's count).
    pub sms: u32,
    /// How the kernels were built: "NVRTC 12.2, compiled" / "… from the PTX cache" / "host C++".
    pub build: String,
}

/// Why no CUDA device can be used (the one line `--device auto` prints before falling back to the CPU).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unavailable {
    /// This binary was built without the `cuda` feature.
    NotBuilt,
    /// `libcuda.so` cannot be loaded.
    NoDriver,
    /// The driver is older than CUDA 11.4 (cudarc's floor; JetPack 4 ships CUDA 10.2): the version it reports,
    /// e.g. 10020.
    DriverTooOld(i32),
    /// The driver reports no device.
    NoDevice,
    /// No NVRTC library was found: the places searched.
    NoNvrtc(Vec<String>),
    /// NVRTC is older than 11.4 (`major`, `minor`).
    NvrtcTooOld(i32, i32),
    /// `cuda_fp16.h` was not found for NVRTC: the directories searched.
    NoHeaders(Vec<String>),
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::NotBuilt => {
                write!(f, "this binary was built without the `cuda` feature (cargo build --release --features cuda)")
            }
            Unavailable::NoDriver => write!(f, "no CUDA driver: libcuda.so.1 cannot be loaded"),
            Unavailable::DriverTooOld(v) => write!(
                f,
                "the CUDA driver is version {}.{}, older than 11.4 (JetPack 4 / Jetson Nano ships 10.2; JetPack 5 or \
                 later is needed)",
                v / 1000,
                (v % 1000) / 10
            ),
            Unavailable::NoDevice => write!(f, "the CUDA driver reports no device"),
            Unavailable::NoNvrtc(searched) => write!(
                f,
                "no NVRTC library (libnvrtc.so.*) found; searched {} (set AVF_BEL_NVRTC to the library's path)",
                searched.join(", ")
            ),
            Unavailable::NvrtcTooOld(a, b) => write!(f, "NVRTC {a}.{b} is older than 11.4"),
            Unavailable::NoHeaders(searched) => write!(
                f,
                "cuda_fp16.h not found in {} (set AVF_BEL_CUDA_INCLUDE to a CUDA include directory)",
                searched.join(", ")
            ),
        }
    }
}

/// Errors of the GPU backend. Converted to the core's typed [`Error`] at the [`crate::Backend`] boundary.
#[derive(Debug)]
#[non_exhaustive]
pub enum GpuError {
    /// No usable device, driver or compiler.
    Unavailable(Unavailable),
    /// A driver (or emulator) call failed: where, what, and its status code.
    Device {
        /// The stage.
        stage: BackendStage,
        /// The call, e.g. "cuMemcpyHtoD".
        what: &'static str,
        /// The driver's `CUresult` (or the emulator's code).
        code: i32,
    },
    /// NVRTC rejected the kernel source: the architecture and NVRTC's log.
    Compile {
        /// Virtual architecture, e.g. `compute_87`.
        arch: String,
        /// NVRTC's log.
        log: String,
    },
    /// The configuration exceeds what the kernels were built for: which limit.
    Limits(&'static str),
    /// The model or an input, as the CPU core reports it.
    Model(Error),
    /// The start-up self-test found a stage out of tolerance (the measured differences).
    SelfTest(Box<super::selftest::SelfTestReport>),
    /// A setting (an environment variable) has a value the backend does not know: its name and the value.
    Setting {
        /// The setting, e.g. `AVF_BEL_GPU_CORTEX`.
        name: &'static str,
        /// Its value.
        value: String,
    },
}

impl GpuError {
    /// A failed device call.
    pub fn device(stage: BackendStage, what: &'static str, code: i32) -> Self {
        GpuError::Device { stage, what, code }
    }
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuError::Unavailable(u) => u.fmt(f),
            GpuError::Device { stage, what, code } => write!(f, "GPU {stage} failed: {what} returned {code}"),
            GpuError::Compile { arch, log } => write!(f, "NVRTC failed for {arch}:\n{log}"),
            GpuError::Limits(what) => write!(f, "the model exceeds the GPU kernels' limits: {what}"),
            GpuError::Model(e) => e.fmt(f),
            GpuError::SelfTest(rep) => write!(f, "GPU self-test failed: {rep}"),
            GpuError::Setting { name, value } => {
                write!(f, "{name}={value:?}: expected `host` or `device` (where the auditory cortex runs)")
            }
        }
    }
}

impl std::error::Error for GpuError {}

impl From<Error> for GpuError {
    fn from(e: Error) -> Self {
        GpuError::Model(e)
    }
}

impl From<Unavailable> for GpuError {
    fn from(u: Unavailable) -> Self {
        GpuError::Unavailable(u)
    }
}

impl From<GpuError> for Error {
    fn from(e: GpuError) -> Self {
        let backend = |stage, code| Error::Backend(BackendError { stage, code });
        match e {
            GpuError::Model(e) => e,
            GpuError::Device { stage, code, .. } => backend(stage, code),
            GpuError::Unavailable(_) | GpuError::Compile { .. } | GpuError::Setting { .. } => {
                backend(BackendStage::Start, 0)
            }
            GpuError::Limits(_) => backend(BackendStage::Limits, 0),
            GpuError::SelfTest(_) => backend(BackendStage::SelfTest, 0),
        }
    }
}

/// Results of the GPU backend.
pub type GpuResult<T> = Result<T, GpuError>;

/// A device that runs the kernels: memory, copies, launches, captured launch sequences. Every call is ordered after
/// the previous ones (one stream); `download` and `synchronize` wait for the work before them.
pub trait Launcher: Send {
    /// The device.
    fn info(&self) -> &DeviceInfo;
    /// A zero-filled device buffer of `bytes` bytes.
    fn alloc(&mut self, bytes: usize) -> GpuResult<Buf>;
    /// A zero-filled buffer the host can write directly and the device reads without a copy (pinned and mapped
    /// host memory on an integrated GPU), with its host address; `None` where the device has no such memory.
    /// The host must not write it while launches that read it are in flight (see [`Launcher::fence`]).
    fn alloc_mapped(&mut self, bytes: usize) -> GpuResult<Option<(Buf, *mut u8)>> {
        let _ = bytes;
        Ok(None)
    }
    /// Copy `src` to `dst` at byte `offset` (`src` may be reused when the call returns).
    fn upload(&mut self, dst: Buf, offset: usize, src: &[u8]) -> GpuResult<()>;
    /// Copy `dst.len()` bytes from `src` at byte `offset`, after the work queued before; waits.
    fn download(&mut self, src: Buf, offset: usize, dst: &mut [u8]) -> GpuResult<()>;
    /// Copy the whole of `src` to `dst` (same size).
    fn copy(&mut self, dst: Buf, src: Buf) -> GpuResult<()>;
    /// Fill `dst` with zeros.
    fn zero(&mut self, dst: Buf) -> GpuResult<()>;
    /// Launch `k` on a grid of `grid` blocks of `block` threads.
    ///
    /// # Safety
    /// `args` must be the kernel's parameter list (count, order, sizes and meaning), and every buffer must be large
    /// enough for the indices the kernel computes from the other arguments: a device reads and writes its memory as
    /// the kernel says, unchecked.
    unsafe fn launch(&mut self, k: Kernel, grid: [u32; 3], block: [u32; 3], args: &[Arg<'_>]) -> GpuResult<()>;
    /// Start recording launches instead of running them.
    fn begin_capture(&mut self) -> GpuResult<()>;
    /// Stop recording; the recorded sequence, ready to replay.
    fn end_capture(&mut self) -> GpuResult<Graph>;
    /// Run a recorded sequence (its arguments as they were at capture: buffers by address, values by value).
    fn replay(&mut self, g: Graph) -> GpuResult<()>;
    /// Mark the current point of the work queue.
    fn fence(&mut self) -> GpuResult<Fence>;
    /// Wait until the work before `f` has finished.
    fn wait(&mut self, f: Fence) -> GpuResult<()>;
    /// Wait for all queued work.
    fn synchronize(&mut self) -> GpuResult<()>;
}

/// Typed helpers over a launcher's byte interface.
pub(crate) trait LauncherExt: Launcher {
    /// A buffer holding `v`.
    fn alloc_from<T: bytemuck::Pod>(&mut self, v: &[T]) -> GpuResult<Buf> {
        let b = self.alloc(core::mem::size_of_val(v))?;
        self.upload(b, 0, bytemuck::cast_slice(v))?;
        Ok(b)
    }
    /// A zeroed buffer of `n` values of `T`.
    fn alloc_n<T>(&mut self, n: usize) -> GpuResult<Buf> {
        self.alloc(n * core::mem::size_of::<T>())
    }
    /// Copy `v` to element `at` of `dst`.
    fn upload_at<T: bytemuck::Pod>(&mut self, dst: Buf, at: usize, v: &[T]) -> GpuResult<()> {
        self.upload(dst, at * core::mem::size_of::<T>(), bytemuck::cast_slice(v))
    }
    /// `n` values of `T` from the start of `src`.
    fn download_vec<T: bytemuck::Pod>(&mut self, src: Buf, n: usize) -> GpuResult<Vec<T>> {
        let mut v = vec![T::zeroed(); n];
        self.download(src, 0, bytemuck::cast_slice_mut(&mut v))?;
        Ok(v)
    }
}

impl<L: Launcher + ?Sized> LauncherExt for L {}

/// Check a byte range against a buffer's size (launchers use it for every copy).
pub(crate) fn check_range(len: usize, offset: usize, n: usize) -> GpuResult<()> {
    match offset.checked_add(n) {
        Some(end) if end <= len => Ok(()),
        _ => Err(GpuError::device(BackendStage::Copy, "copy outside the buffer", 0)),
    }
}
