//! The CUDA emulator (feature `cuda-emulator`): `kernels/*.cu`, unchanged, compiled as host C++ by `build.rs`
//! (`kernels/emu/`) and launched here through the [`Launcher`] trait, so the GPU pipeline's real host code runs
//! against kernels executing on the CPU. Each CUDA thread of a block is a host thread, `__syncthreads` a barrier,
//! `__shared__` per-block storage; device memory is host memory; launches run to completion before they return (one
//! at a time per process), so fences and synchronisation are immediate.
//!
//! Builds with a planted bug ([`PlantedBug`]) exist so that the tests can show the checks catch a kernel error: the
//! same sources with one loop bound off by one, compiled alongside the real ones.

use super::launcher::{check_range, Arg, Buf, DeviceInfo, Fence, GpuError, GpuResult, Graph, Kernel, Launcher};
use crate::core::error::BackendStage;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ffi::c_void;

/// The signature of a build's launch function (`avf_emu_<build>_launch` in `kernels/emu/emu_kernels.cpp`).
type LaunchFn = unsafe extern "C" fn(
    name: *const u8,
    name_len: usize,
    grid: *const u32,
    block: *const u32,
    params: *const *mut c_void,
    sizes: *const usize,
    n_params: u32,
    bad: *mut u32,
) -> i32;

extern "C" {
    fn avf_emu_real_launch(
        name: *const u8,
        name_len: usize,
        grid: *const u32,
        block: *const u32,
        params: *const *mut c_void,
        sizes: *const usize,
        n_params: u32,
        bad: *mut u32,
    ) -> i32;
    fn avf_emu_mut_cornet_launch(
        name: *const u8,
        name_len: usize,
        grid: *const u32,
        block: *const u32,
        params: *const *mut c_void,
        sizes: *const usize,
        n_params: u32,
        bad: *mut u32,
    ) -> i32;
    fn avf_emu_mut_cortex_launch(
        name: *const u8,
        name_len: usize,
        grid: *const u32,
        block: *const u32,
        params: *const *mut c_void,
        sizes: *const usize,
        n_params: u32,
        bad: *mut u32,
    ) -> i32;
    fn avf_emu_mut_head_launch(
        name: *const u8,
        name_len: usize,
        grid: *const u32,
        block: *const u32,
        params: *const *mut c_void,
        sizes: *const usize,
        n_params: u32,
        bad: *mut u32,
    ) -> i32;
    fn avf_emu_real_layout(out: *mut usize, n: usize) -> usize;
}

/// A copy of the kernels with one off-by-one error, built next to the real ones (see `build.rs`, which plants it and
/// fails the build if the line it changes is no longer in the source).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlantedBug {
    /// `cornet.cu`: the max-pool window stops one row short (`dy < 2` instead of `dy < 3`).
    CornetPoolRow,
    /// `cortex.cu`: the conductance jumps skip the last word of PYR spikes (`wd < P.we - 1`).
    CortexSpikeWord,
    /// `head.cu`: the dot products leave out their last partial sum (`l < 7` instead of `l < 8`).
    HeadLastInput,
}

/// One emulated device buffer: host memory (zeroed, 16-byte aligned), or mapped memory (the same, handed to the
/// host too).
struct EmuBuf {
    ptr: *mut u8,
    len: usize,
}

/// A recorded launch: everything by value, buffers by handle and offset.
struct Recorded {
    kernel: Kernel,
    grid: [u32; 3],
    block: [u32; 3],
    args: Vec<RecordedArg>,
}

enum RecordedArg {
    Buf(Buf, usize),
    Bytes(Vec<u8>),
}

/// Kernels executed on the CPU.
pub struct Emulator {
    info: DeviceInfo,
    launch_fn: LaunchFn,
    bufs: Vec<EmuBuf>,
    capturing: Option<Vec<Recorded>>,
    graphs: Vec<Vec<Recorded>>,
    integrated: bool,
    fences: u32,
}

// SAFETY: the buffers are owned heap allocations referred to only through this value; the C++ side keeps no pointer
// to them after a launch returns.
unsafe impl Send for Emulator {}

impl Default for Emulator {
    fn default() -> Self {
        Emulator::new()
    }
}

impl Emulator {
    /// The real kernels.
    pub fn new() -> Self {
        Emulator::build(avf_emu_real_launch, "CPU emulator")
    }

    /// The kernels with a planted bug (for tests that show a check catches it).
    pub fn with_planted_bug(bug: PlantedBug) -> Self {
        let f: LaunchFn = match bug {
            PlantedBug::CornetPoolRow => avf_emu_mut_cornet_launch,
            PlantedBug::CortexSpikeWord => avf_emu_mut_cortex_launch,
            PlantedBug::HeadLastInput => avf_emu_mut_head_launch,
        };
        Emulator::build(f, "CPU emulator (planted bug)")
    }

    /// Present the emulator as an integrated GPU (as a Jetson): the pipeline then keeps its frame ring in mapped
    /// host memory instead of copying frames.
    pub fn integrated(mut self, yes: bool) -> Self {
        self.integrated = yes;
        self.info.integrated = yes;
        self
    }

    /// Present the emulator as a GPU with `n` multiprocessors, so that the pipeline plans its CORnet-Z grids for
    /// that GPU (split reductions included); the blocks still run one after another.
    pub fn multiprocessors(mut self, n: u32) -> Self {
        self.info.sms = n;
        self
    }

    fn build(launch_fn: LaunchFn, name: &str) -> Self {
        Emulator {
            info: DeviceInfo {
                name: name.into(),
                cc: (0, 0),
                integrated: false,
                sms: 1,
                build: "host C++ (g++)".into(),
            },
            launch_fn,
            bufs: Vec::new(),
            capturing: None,
            graphs: Vec::new(),
            integrated: false,
            fences: 0,
        }
    }

    fn buf(&self, b: Buf) -> GpuResult<&EmuBuf> {
        self.bufs.get(b.0 as usize).ok_or(GpuError::device(BackendStage::Copy, "unknown buffer", 0))
    }

    fn run(&mut self, kernel: Kernel, grid: [u32; 3], block: [u32; 3], args: &[RecordedArg]) -> GpuResult<()> {
        // Parameter values: a device address per buffer argument, the bytes of the others.
        let mut addrs: Vec<*mut u8> = Vec::with_capacity(args.len());
        for a in args {
            addrs.push(match a {
                RecordedArg::Buf(b, off) => {
                    let eb = self.buf(*b)?;
                    if *off > eb.len {
                        return Err(GpuError::device(BackendStage::Launch, "buffer offset outside the buffer", 0));
                    }
                    // SAFETY: `off <= len`: the address is within the allocation or one past its end.
                    unsafe { eb.ptr.add(*off) }
                }
                RecordedArg::Bytes(_) => core::ptr::null_mut(),
            });
        }
        let params: Vec<*mut c_void> = args
            .iter()
            .zip(addrs.iter_mut())
            .map(|(a, addr)| match a {
                RecordedArg::Buf(..) => addr as *mut *mut u8 as *mut c_void,
                RecordedArg::Bytes(v) => v.as_ptr() as *mut c_void,
            })
            .collect();
        let sizes: Vec<usize> = args
            .iter()
            .map(|a| match a {
                RecordedArg::Buf(..) => core::mem::size_of::<*mut u8>(),
                RecordedArg::Bytes(v) => v.len(),
            })
            .collect();
        let name = kernel.name();
        let mut bad = 0u32;
        // SAFETY: `params[i]` points to parameter i's value (an address in `addrs`, or bytes in `args`), alive for
        // the call; `sizes` has the same length; the launch function checks the count and each size against the
        // kernel's signature and runs the grid to completion before it returns. What the kernel does with the
        // addresses is the caller's contract (`Launcher::launch`).
        let rc = unsafe {
            (self.launch_fn)(
                name.as_ptr(),
                name.len(),
                grid.as_ptr(),
                block.as_ptr(),
                params.as_ptr(),
                sizes.as_ptr(),
                params.len() as u32,
                &mut bad,
            )
        };
        match rc {
            0 => Ok(()),
            -1 => Err(GpuError::device(BackendStage::Launch, "emulator: unknown kernel", rc)),
            -2 => Err(GpuError::device(BackendStage::Launch, "emulator: wrong number of kernel parameters", rc)),
            -3 => Err(GpuError::device(BackendStage::Launch, "emulator: a kernel parameter has the wrong size", rc)),
            _ => Err(GpuError::device(BackendStage::Launch, "emulator: empty or oversized grid or block", rc)),
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        for b in self.bufs.drain(..) {
            // SAFETY: allocated in `alloc_inner` with this layout and not freed before.
            unsafe { dealloc(b.ptr, Layout::from_size_align_unchecked(b.len.max(1), 16)) };
        }
    }
}

impl Emulator {
    fn alloc_inner(&mut self, bytes: usize) -> GpuResult<Buf> {
        let layout = Layout::from_size_align(bytes.max(1), 16)
            .map_err(|_| GpuError::device(BackendStage::Alloc, "allocation size", 0))?;
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        if ptr.is_null() {
            return Err(GpuError::device(BackendStage::Alloc, "out of host memory", 0));
        }
        self.bufs.push(EmuBuf { ptr, len: bytes });
        Ok(Buf(self.bufs.len() as u32 - 1))
    }
}

impl Launcher for Emulator {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn alloc(&mut self, bytes: usize) -> GpuResult<Buf> {
        self.alloc_inner(bytes)
    }

    fn alloc_mapped(&mut self, bytes: usize) -> GpuResult<Option<(Buf, *mut u8)>> {
        if !self.integrated {
            return Ok(None);
        }
        let b = self.alloc_inner(bytes)?;
        Ok(Some((b, self.bufs[b.0 as usize].ptr)))
    }

    fn upload(&mut self, dst: Buf, offset: usize, src: &[u8]) -> GpuResult<()> {
        let b = self.buf(dst)?;
        check_range(b.len, offset, src.len())?;
        // SAFETY: the range was checked against the allocation; `src` is a distinct host slice.
        unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), b.ptr.add(offset), src.len()) };
        Ok(())
    }

    fn download(&mut self, src: Buf, offset: usize, dst: &mut [u8]) -> GpuResult<()> {
        let b = self.buf(src)?;
        check_range(b.len, offset, dst.len())?;
        // SAFETY: as in `upload`.
        unsafe { core::ptr::copy_nonoverlapping(b.ptr.add(offset), dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    fn copy(&mut self, dst: Buf, src: Buf) -> GpuResult<()> {
        let (d, s) = (self.buf(dst)?, self.buf(src)?);
        if d.len != s.len {
            return Err(GpuError::device(BackendStage::Copy, "copy between buffers of different sizes", 0));
        }
        if dst != src {
            // SAFETY: two distinct allocations of `len` bytes each.
            unsafe { core::ptr::copy_nonoverlapping(s.ptr, d.ptr, s.len) };
        }
        Ok(())
    }

    fn zero(&mut self, dst: Buf) -> GpuResult<()> {
        let b = self.buf(dst)?;
        // SAFETY: the whole allocation.
        unsafe { core::ptr::write_bytes(b.ptr, 0, b.len) };
        Ok(())
    }

    unsafe fn launch(&mut self, k: Kernel, grid: [u32; 3], block: [u32; 3], args: &[Arg<'_>]) -> GpuResult<()> {
        let rec: Vec<RecordedArg> = args
            .iter()
            .map(|a| match *a {
                Arg::Buf(b) => RecordedArg::Buf(b, 0),
                Arg::BufAt(b, off) => RecordedArg::Buf(b, off),
                Arg::I32(v) => RecordedArg::Bytes(v.to_ne_bytes().to_vec()),
                Arg::F32(v) => RecordedArg::Bytes(v.to_ne_bytes().to_vec()),
                Arg::Pod(bytes) => RecordedArg::Bytes(bytes.to_vec()),
            })
            .collect();
        if let Some(list) = &mut self.capturing {
            list.push(Recorded { kernel: k, grid, block, args: rec });
            return Ok(());
        }
        self.run(k, grid, block, &rec)
    }

    fn begin_capture(&mut self) -> GpuResult<()> {
        if self.capturing.is_some() {
            return Err(GpuError::device(BackendStage::Graph, "capture already started", 0));
        }
        self.capturing = Some(Vec::new());
        Ok(())
    }

    fn end_capture(&mut self) -> GpuResult<Graph> {
        let list = self.capturing.take().ok_or(GpuError::device(BackendStage::Graph, "no capture started", 0))?;
        self.graphs.push(list);
        Ok(Graph(self.graphs.len() as u32 - 1))
    }

    fn replay(&mut self, g: Graph) -> GpuResult<()> {
        let list = core::mem::take(self.graphs.get_mut(g.0 as usize).ok_or(GpuError::device(
            BackendStage::Graph,
            "unknown graph",
            0,
        ))?);
        let mut r = Ok(());
        for l in &list {
            r = self.run(l.kernel, l.grid, l.block, &l.args);
            if r.is_err() {
                break;
            }
        }
        self.graphs[g.0 as usize] = list;
        r
    }

    fn fence(&mut self) -> GpuResult<Fence> {
        self.fences = self.fences.wrapping_add(1);
        Ok(Fence(self.fences))
    }

    fn wait(&mut self, _f: Fence) -> GpuResult<()> {
        Ok(())
    }

    fn synchronize(&mut self) -> GpuResult<()> {
        Ok(())
    }
}

/// `sizeof` and field offsets of the kernels' parameter structs as the C++ compiler lays them out (for the tests
/// that check them against the Rust structs): `[sizeof CxParams, offsetof st, offsetof gain, offsetof i_s,
/// sizeof CzDims, sizeof HdDims, offsetof epp_w, CX_LANES]`.
pub fn kernel_struct_layout() -> Vec<usize> {
    let mut out = vec![0usize; 16];
    // SAFETY: writes at most `out.len()` values and returns how many it wrote.
    let n = unsafe { avf_emu_real_layout(out.as_mut_ptr(), out.len()) };
    out.truncate(n.min(16));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::audio::cortex::{KernelParams, NOISE_LANES};
    use crate::host::gpu::runtime::{CzDims, HdDims};
    use core::mem::{offset_of, size_of};

    /// The kernels' parameter structs, as g++ lays them out, are the Rust `repr(C)` structs the host passes.
    #[test]
    fn kernel_parameter_structs_match_the_rust_ones() {
        let l = kernel_struct_layout();
        assert_eq!(l.len(), 8);
        assert_eq!(l[0], size_of::<KernelParams>(), "sizeof CxParams");
        assert_eq!(l[1], offset_of!(KernelParams, steps), "offsetof CxParams.st");
        assert_eq!(l[2], offset_of!(KernelParams, gain), "offsetof CxParams.gain");
        assert_eq!(l[3], offset_of!(KernelParams, i_s), "offsetof CxParams.i_s");
        assert_eq!(l[4], size_of::<CzDims>(), "sizeof CzDims");
        assert_eq!(l[5], size_of::<HdDims>(), "sizeof HdDims");
        assert_eq!(l[6], HdDims::EPP_W_OFFSET, "offsetof HdDims.epp_w");
        assert_eq!(l[7], NOISE_LANES, "CX_LANES");
    }
}
