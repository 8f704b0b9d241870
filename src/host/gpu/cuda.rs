//! The CUDA launcher (feature `cuda`): cudarc's driver API behind the [`Launcher`] trait, the start-up probe, and
//! mapped host memory on integrated GPUs.
//!
//! Start-up is careful because cudarc panics when a library or a symbol is missing: the driver library is probed
//! first, then its version is read with `cuDriverGetVersion` (present in every driver) and anything older than CUDA
//! 11.4 (cudarc's floor; Jetson Nano's JetPack 4 has 10.2) is refused before any newer entry point is touched; NVRTC
//! is found by path (`super::nvrtc`).

use super::compile::{arch_for, cached_ptx, PtxOptions};
use super::launcher::{Arg, Buf, DeviceInfo, Fence, GpuError, GpuResult, Graph, Kernel, Launcher, Unavailable};
use super::nvrtc::Nvrtc;
use crate::core::error::BackendStage;
use cudarc::driver::{
    result, sys, CudaContext, CudaEvent, CudaFunction, CudaGraph, CudaModule, CudaSlice, CudaStream, DevicePtr,
    LaunchConfig, PushKernelArg,
};
use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::Arc;

/// The oldest driver accepted, as `cuDriverGetVersion` reports it (11.4).
pub const MIN_DRIVER: i32 = 11040;

fn drv(stage: BackendStage, what: &'static str) -> impl Fn(result::DriverError) -> GpuError {
    move |e| GpuError::device(stage, what, e.0 as i32)
}

/// The driver's version (`cuDriverGetVersion`, e.g. 12020), without touching any newer entry point.
pub fn driver_version() -> Result<i32, Unavailable> {
    // SAFETY: only tries to open the driver library by its usual names.
    if !unsafe { sys::is_culib_present() } {
        return Err(Unavailable::NoDriver);
    }
    let mut v = 0;
    // SAFETY: cuInit and cuDriverGetVersion exist in every CUDA driver; the library is present (checked above).
    let r = unsafe {
        sys::cuInit(0);
        sys::cuDriverGetVersion(&mut v)
    };
    if r != sys::CUresult::CUDA_SUCCESS {
        return Err(Unavailable::NoDriver);
    }
    Ok(v)
}

/// Accept a driver version or say why not.
pub fn check_driver(version: i32) -> Result<(), Unavailable> {
    if version < MIN_DRIVER {
        Err(Unavailable::DriverTooOld(version))
    } else {
        Ok(())
    }
}

/// Device memory: a device allocation, or pinned host memory mapped into the device's address space.
enum Mem {
    Device(CudaSlice<u8>),
    Mapped { host: *mut u8, len: usize },
}

/// A CUDA device with the kernels loaded.
pub struct CudaLauncher {
    info: DeviceInfo,
    // Field order is drop order: graphs and events before the buffers, the stream and module before the context.
    graphs: Vec<CudaGraph>,
    fences: HashMap<u32, CudaEvent>,
    next_fence: u32,
    mem: Vec<(Mem, u64)>,
    capturing: bool,
    funcs: Vec<(Kernel, CudaFunction)>,
    _module: Arc<CudaModule>,
    stream: Arc<CudaStream>,
    ctx: Arc<CudaContext>,
}

// SAFETY: CUDA handles (context, stream, graph, events, device and mapped pointers) may be used from any thread with
// the context bound, which every call here does through cudarc; the launcher is used by one thread at a time (&mut).
unsafe impl Send for CudaLauncher {}

impl CudaLauncher {
    /// Probe the driver, NVRTC and device 0; compile (or load from the cache) the kernels for its architecture and
    /// load them. Fails with a typed reason, never panics, when something is missing or too old.
    pub fn open() -> GpuResult<Self> {
        check_driver(driver_version()?)?;
        let nvrtc = Nvrtc::load()?;
        let count = CudaContext::device_count().map_err(drv(BackendStage::Start, "cuDeviceGetCount"))?;
        if count < 1 {
            return Err(Unavailable::NoDevice.into());
        }
        let ctx = CudaContext::new(0).map_err(drv(BackendStage::Start, "cuCtxCreate"))?;
        let name = ctx.name().map_err(drv(BackendStage::Start, "cuDeviceGetName"))?;
        let cc = ctx.compute_capability().map_err(drv(BackendStage::Start, "cuDeviceComputeCapability"))?;
        let attr = |a| ctx.attribute(a).unwrap_or(0);
        let integrated = attr(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_INTEGRATED) == 1
            && attr(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY) == 1;
        let sms = attr(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT).max(1) as u32;
        let opts = PtxOptions::for_arch(&arch_for(cc));
        let (ptx, cached) = cached_ptx(&nvrtc, &opts)?;
        // One stream, no cross-stream event tracking (and none inside graph capture).
        // SAFETY: every launch and copy of this launcher goes through `stream`, so no cross-stream sync is needed.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.new_stream().map_err(drv(BackendStage::Start, "cuStreamCreate"))?;
        let module =
            ctx.load_module(cudarc::nvrtc::Ptx::from_src(ptx)).map_err(drv(BackendStage::Start, "cuModuleLoadData"))?;
        let mut funcs = Vec::new();
        for k in Kernel::ALL {
            funcs.push((k, module.load_function(k.name()).map_err(drv(BackendStage::Start, "cuModuleGetFunction"))?));
        }
        let build = format!(
            "NVRTC {}.{} ({}), PTX for {} {}",
            nvrtc.version.0,
            nvrtc.version.1,
            nvrtc.path,
            opts.arch,
            if cached { "from the cache" } else { "compiled now" }
        );
        Ok(CudaLauncher {
            info: DeviceInfo { name, cc, integrated, sms, build },
            graphs: Vec::new(),
            fences: HashMap::new(),
            next_fence: 0,
            mem: Vec::new(),
            capturing: false,
            funcs,
            _module: module,
            stream,
            ctx,
        })
    }

    fn mem(&self, b: Buf) -> GpuResult<&(Mem, u64)> {
        self.mem.get(b.0 as usize).ok_or(GpuError::device(BackendStage::Copy, "unknown buffer", 0))
    }

    fn len(m: &Mem) -> usize {
        match m {
            Mem::Device(s) => s.len(),
            Mem::Mapped { len, .. } => *len,
        }
    }
}

impl Drop for CudaLauncher {
    fn drop(&mut self) {
        let _ = self.stream.synchronize();
        let _ = self.ctx.bind_to_thread();
        for (m, _) in self.mem.drain(..) {
            if let Mem::Mapped { host, .. } = m {
                // SAFETY: allocated by `malloc_host` in `alloc_mapped`, freed once, after the stream is idle.
                let _ = unsafe { result::free_host(host as *mut c_void) };
            }
        }
    }
}

impl Launcher for CudaLauncher {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn alloc(&mut self, bytes: usize) -> GpuResult<Buf> {
        let s = self.stream.alloc_zeros::<u8>(bytes.max(1)).map_err(drv(BackendStage::Alloc, "cuMemAlloc"))?;
        let ptr = s.device_ptr(&self.stream).0;
        self.mem.push((Mem::Device(s), ptr));
        Ok(Buf(self.mem.len() as u32 - 1))
    }

    fn alloc_mapped(&mut self, bytes: usize) -> GpuResult<Option<(Buf, *mut u8)>> {
        if !self.info.integrated {
            return Ok(None);
        }
        self.ctx.bind_to_thread().map_err(drv(BackendStage::Alloc, "cuCtxSetCurrent"))?;
        // SAFETY: a fresh pinned allocation, mapped for the device (integrated GPUs share DRAM with the CPU).
        let host = unsafe { result::malloc_host(bytes.max(1), sys::CU_MEMHOSTALLOC_DEVICEMAP) }
            .map_err(drv(BackendStage::Alloc, "cuMemHostAlloc"))? as *mut u8;
        // SAFETY: the allocation is `bytes` long.
        unsafe { core::ptr::write_bytes(host, 0, bytes) };
        let mut dptr: sys::CUdeviceptr = 0;
        // SAFETY: `host` was allocated with CU_MEMHOSTALLOC_DEVICEMAP in this context.
        let r = unsafe { sys::cuMemHostGetDevicePointer_v2(&mut dptr, host as *mut c_void, 0) };
        if r != sys::CUresult::CUDA_SUCCESS {
            // SAFETY: freed once, never used.
            let _ = unsafe { result::free_host(host as *mut c_void) };
            return Err(GpuError::device(BackendStage::Alloc, "cuMemHostGetDevicePointer", r as i32));
        }
        self.mem.push((Mem::Mapped { host, len: bytes }, dptr));
        Ok(Some((Buf(self.mem.len() as u32 - 1), host)))
    }

    fn upload(&mut self, dst: Buf, offset: usize, src: &[u8]) -> GpuResult<()> {
        super::launcher::check_range(Self::len(&self.mem(dst)?.0), offset, src.len())?;
        let stream = self.stream.clone();
        match &mut self.mem[dst.0 as usize].0 {
            Mem::Device(s) => stream
                .memcpy_htod(src, &mut s.slice_mut(offset..offset + src.len()))
                .map_err(drv(BackendStage::Copy, "cuMemcpyHtoD")),
            Mem::Mapped { host, .. } => {
                stream.synchronize().map_err(drv(BackendStage::Sync, "cuStreamSynchronize"))?;
                // SAFETY: range checked above; the device is idle (synchronised).
                unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), host.add(offset), src.len()) };
                Ok(())
            }
        }
    }

    fn download(&mut self, src: Buf, offset: usize, dst: &mut [u8]) -> GpuResult<()> {
        super::launcher::check_range(Self::len(&self.mem(src)?.0), offset, dst.len())?;
        let stream = self.stream.clone();
        match &self.mem[src.0 as usize].0 {
            Mem::Device(s) => stream
                .memcpy_dtoh(&s.slice(offset..offset + dst.len()), dst)
                .map_err(drv(BackendStage::Copy, "cuMemcpyDtoH"))?,
            Mem::Mapped { host, .. } => {
                stream.synchronize().map_err(drv(BackendStage::Sync, "cuStreamSynchronize"))?;
                // SAFETY: range checked above; the device is idle.
                unsafe { core::ptr::copy_nonoverlapping(host.add(offset), dst.as_mut_ptr(), dst.len()) };
            }
        }
        stream.synchronize().map_err(drv(BackendStage::Sync, "cuStreamSynchronize"))
    }

    fn copy(&mut self, dst: Buf, src: Buf) -> GpuResult<()> {
        let (d, s) = (dst.0 as usize, src.0 as usize);
        if d == s {
            return Ok(());
        }
        let (lo, hi) = self.mem.split_at_mut(d.max(s));
        let (a, b) = if d < s { (&mut lo[d].0, &hi[0].0) } else { (&mut hi[0].0, &lo[s].0) };
        match (a, b) {
            (Mem::Device(a), Mem::Device(b)) if a.len() == b.len() => {
                self.stream.memcpy_dtod(b, a).map_err(drv(BackendStage::Copy, "cuMemcpyDtoD"))
            }
            _ => Err(GpuError::device(BackendStage::Copy, "copy between buffers of different kinds or sizes", 0)),
        }
    }

    fn zero(&mut self, dst: Buf) -> GpuResult<()> {
        let stream = self.stream.clone();
        match &mut self.mem.get_mut(dst.0 as usize).ok_or(GpuError::device(BackendStage::Copy, "unknown buffer", 0))?.0
        {
            Mem::Device(s) => stream.memset_zeros(s).map_err(drv(BackendStage::Copy, "cuMemsetD8")),
            Mem::Mapped { host, len } => {
                stream.synchronize().map_err(drv(BackendStage::Sync, "cuStreamSynchronize"))?;
                // SAFETY: the whole mapped allocation; the device is idle.
                unsafe { core::ptr::write_bytes(*host, 0, *len) };
                Ok(())
            }
        }
    }

    unsafe fn launch(&mut self, k: Kernel, grid: [u32; 3], block: [u32; 3], args: &[Arg<'_>]) -> GpuResult<()> {
        let func = &self
            .funcs
            .iter()
            .find(|(kk, _)| *kk == k)
            .ok_or(GpuError::device(BackendStage::Launch, "unknown kernel", 0))?
            .1;
        // Device addresses of the buffer arguments, kept alive until the launch.
        let mut ptrs = vec![0u64; args.len()];
        for (p, a) in ptrs.iter_mut().zip(args) {
            match *a {
                Arg::Buf(b) => *p = self.mem(b)?.1,
                Arg::BufAt(b, off) => {
                    let (m, base) = self.mem(b)?;
                    if off > Self::len(m) {
                        return Err(GpuError::device(BackendStage::Launch, "buffer offset outside the buffer", 0));
                    }
                    *p = base + off as u64;
                }
                _ => {}
            }
        }
        let mut b = self.stream.launch_builder(func);
        for (a, p) in args.iter().zip(&ptrs) {
            match a {
                Arg::Buf(_) | Arg::BufAt(..) => b.arg(p),
                Arg::I32(v) => b.arg(v),
                Arg::F32(v) => b.arg(v),
                // The driver copies the parameter's size (from the kernel's signature) from this address.
                Arg::Pod(bytes) => match bytes.first() {
                    Some(first) => b.arg(first),
                    None => return Err(GpuError::device(BackendStage::Launch, "empty struct argument", 0)),
                },
            };
        }
        let cfg = LaunchConfig {
            grid_dim: (grid[0], grid[1], grid[2]),
            block_dim: (block[0], block[1], block[2]),
            shared_mem_bytes: 0,
        };
        // SAFETY: the caller's contract (`Launcher::launch`): `args` is the kernel's parameter list and the buffers
        // are large enough; every pointer pushed above stays alive until this call returns.
        unsafe { b.launch(cfg) }.map(|_| ()).map_err(drv(BackendStage::Launch, "cuLaunchKernel"))
    }

    fn begin_capture(&mut self) -> GpuResult<()> {
        self.stream
            .begin_capture(sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
            .map_err(drv(BackendStage::Graph, "cuStreamBeginCapture"))?;
        self.capturing = true;
        Ok(())
    }

    fn end_capture(&mut self) -> GpuResult<Graph> {
        self.capturing = false;
        let g = self
            .stream
            .end_capture(sys::CUgraphInstantiate_flags(0))
            .map_err(drv(BackendStage::Graph, "cuStreamEndCapture"))?
            .ok_or(GpuError::device(BackendStage::Graph, "stream capture returned no graph", 0))?;
        self.graphs.push(g);
        Ok(Graph(self.graphs.len() as u32 - 1))
    }

    fn replay(&mut self, g: Graph) -> GpuResult<()> {
        self.graphs
            .get(g.0 as usize)
            .ok_or(GpuError::device(BackendStage::Graph, "unknown graph", 0))?
            .launch()
            .map_err(drv(BackendStage::Graph, "cuGraphLaunch"))
    }

    fn fence(&mut self) -> GpuResult<Fence> {
        let e = self.stream.record_event(None).map_err(drv(BackendStage::Sync, "cuEventRecord"))?;
        self.next_fence = self.next_fence.wrapping_add(1);
        self.fences.insert(self.next_fence, e);
        Ok(Fence(self.next_fence))
    }

    fn wait(&mut self, f: Fence) -> GpuResult<()> {
        match self.fences.remove(&f.0) {
            Some(e) => e.synchronize().map_err(drv(BackendStage::Sync, "cuEventSynchronize")),
            None => Ok(()),
        }
    }

    fn synchronize(&mut self) -> GpuResult<()> {
        self.stream.synchronize().map_err(drv(BackendStage::Sync, "cuStreamSynchronize"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Jetson Nano's CUDA 10.2 driver is refused with its version; 11.4 (JetPack 5) and later are accepted.
    #[test]
    fn driver_floor_is_11_4() {
        assert_eq!(check_driver(10020), Err(Unavailable::DriverTooOld(10020)));
        assert!(Unavailable::DriverTooOld(10020).to_string().contains("10.2"));
        assert_eq!(check_driver(11040), Ok(()));
        assert_eq!(check_driver(13000), Ok(()));
    }
}
