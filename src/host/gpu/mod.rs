//! The GPU backend: the kernels of `kernels/*.cu` behind the same push/infer API as [`crate::Pipeline`] (and the
//! [`crate::Backend`] trait). See `docs/gpu.md`.
//!
//! * feature `cuda`: on an NVIDIA GPU through cudarc (driver and NVRTC loaded at run time, kernels compiled at
//!   start-up for the device's architecture, then self-tested against the CPU core);
//! * feature `cuda-emulator`: the same kernel sources compiled as host C++ and run on the CPU (`emulator`), behind
//!   the same host code, so tests and CI check the whole GPU pipeline without a GPU.

pub mod kernels;
pub mod launcher;
pub mod runtime;
pub mod selftest;

#[cfg(feature = "cuda")]
pub mod compile;
#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(feature = "cuda-emulator")]
pub mod emulator;
#[cfg(test)]
mod mock;
#[cfg(feature = "cuda")]
pub mod nvrtc;

pub use launcher::{Arg, Buf, DeviceInfo, GpuError, GpuResult, Kernel, Launcher, Unavailable};
pub use runtime::{CortexPlacement, GpuPipeline, Launch};

use crate::core::backend::Backend;
use crate::core::bel::Bel;
use crate::core::config::{ModelConfig, N_EMOTIONS};
use crate::core::error::Error;
use crate::core::pipeline::{Modalities, Output};
use crate::core::weights::Weights;

/// Open the CUDA device, build the GPU pipeline and run its start-up self-test (every kernel once, checked against
/// the CPU core); `bytes` is the weights file `w` was parsed from. Reports what it did on stderr (two lines).
/// The auditory cortex then runs where `AVF_BEL_GPU_CORTEX` says ([`CortexPlacement`]; the host by default).
#[cfg(feature = "cuda")]
pub fn open<'a>(w: &Weights<'a>, bytes: &[u8], scratch: &'a mut [f32]) -> GpuResult<GpuPipeline<'a>> {
    let placement = CortexPlacement::from_env()?;
    let dev = cuda::CudaLauncher::open()?;
    let mut g = open_on(Box::new(dev), w, bytes, scratch)?;
    g.set_cortex_placement(placement)?;
    log::info!("auditory cortex on the {} ({}: host or device)", placement.name(), CortexPlacement::ENV_VAR);
    Ok(g)
}

/// Build the GPU pipeline on `dev` and run the start-up self-test; reports on stderr (one line).
pub fn open_on<'a>(
    dev: Box<dyn Launcher>,
    w: &Weights<'a>,
    bytes: &[u8],
    scratch: &'a mut [f32],
) -> GpuResult<GpuPipeline<'a>> {
    let t0 = std::time::Instant::now();
    let mut g = GpuPipeline::with_launcher(dev, w, scratch)?;
    let rep = selftest::self_test(&mut g, bytes)?;
    let info = g.device().clone();
    let launch = match g.launch_mode() {
        Launch::Graph => "as a graph".to_string(),
        Launch::NotYet => "not launched".to_string(),
        Launch::Sequence(why) => format!("as a kernel sequence ({why})"),
    };
    log::info!(
        "GPU {} (sm_{}{}{}), {}; visual path {launch}; self-test passed in {:.0} ms: {rep}",
        info.name,
        info.cc.0,
        info.cc.1,
        if info.integrated { ", integrated: frames mapped" } else { "" },
        info.build,
        t0.elapsed().as_secs_f64() * 1e3
    );
    Ok(g)
}

impl GpuPipeline<'_> {
    fn take_pending(&mut self) -> Result<(), Error> {
        match self.pending.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl<'a> Backend for GpuPipeline<'a> {
    fn name(&self) -> &'static str {
        if self.device().cc == (0, 0) {
            "cuda-emulator"
        } else {
            "cuda"
        }
    }
    fn config(&self) -> &ModelConfig {
        GpuPipeline::config(self)
    }
    fn model_hash(&self) -> u64 {
        GpuPipeline::model_hash(self)
    }
    fn push_frame(&mut self, frame: &[u8]) -> Result<(), Error> {
        self.take_pending()?;
        GpuPipeline::push_frame(self, frame).map(|_| ()).map_err(Error::from)
    }
    fn push_audio(&mut self, pcm: &[f32]) -> Result<(), Error> {
        self.take_pending()?;
        GpuPipeline::push_audio(self, pcm).map_err(Error::from)
    }
    fn peek(&mut self, m: Modalities) -> Result<Output, Error> {
        self.take_pending()?;
        GpuPipeline::peek(self, m).map_err(Error::from)
    }
    fn infer(&mut self, m: Modalities) -> Result<Output, Error> {
        self.take_pending()?;
        GpuPipeline::infer(self, m).map_err(Error::from)
    }
    fn learn(&mut self, reward: &[f32; N_EMOTIONS]) -> Result<(), Error> {
        self.take_pending()?;
        GpuPipeline::learn(self, reward).map_err(Error::from)
    }
    fn reset(&mut self) {
        if let Err(e) = GpuPipeline::reset(self) {
            self.pending = Some(e.into());
        }
    }
    fn scene_cut(&mut self) {
        GpuPipeline::scene_cut(self)
    }
    fn bel(&self) -> &Bel<'_> {
        GpuPipeline::bel(self)
    }
    fn restore_bel(&mut self, amygdala: &[f32], thalamus: &[f32], orbitofrontal: &[f32]) -> Result<(), Error> {
        GpuPipeline::restore_bel(self, amygdala, thalamus, orbitofrontal).map_err(Error::from)
    }
    fn synchronize(&mut self) -> Result<(), Error> {
        self.take_pending()?;
        GpuPipeline::synchronize(self).map_err(Error::from)
    }
}
