//! `--device auto|cpu|cuda` for `run` and `bench`: the backend, chosen at run time.
//!
//! `cpu` (the default) is the CPU core. `cuda` needs the `cuda` feature, a driver, NVRTC and a passing start-up
//! self-test, and fails with a message otherwise. `auto` takes CUDA when all of that holds, else the CPU, saying why.

use avf_bel::weights::Weights;
use avf_bel::Output;
use avf_bel::{Modalities, Pipeline};

/// The requested backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Device {
    /// CUDA if usable, else the CPU (with a message).
    Auto,
    /// The CPU core.
    Cpu,
    /// CUDA or an error.
    #[value(alias = "gpu")]
    Cuda,
}

/// A pipeline on the chosen backend (one per process: the size difference of the variants does not matter).
#[allow(clippy::large_enum_variant)]
pub enum Engine<'a> {
    /// The CPU core.
    Cpu(Pipeline<'a>),
    /// The CUDA pipeline.
    #[cfg(feature = "cuda")]
    Cuda(Box<avf_bel::gpu::GpuPipeline<'a>>),
}

impl<'a> Engine<'a> {
    /// Open the backend for `device`. `bytes` is the weights file `w` was parsed from; the scratch vectors are
    /// sized here.
    pub fn open(
        device: Device,
        w: &Weights<'a>,
        bytes: &[u8],
        cpu_scratch: &'a mut Vec<f32>,
        gpu_scratch: &'a mut Vec<f32>,
    ) -> Result<Self, String> {
        if device != Device::Cpu {
            match open_cuda(w, bytes, gpu_scratch) {
                Ok(e) => return Ok(e),
                Err(why) if device == Device::Cuda => return Err(format!("--device cuda: {why}")),
                Err(why) => log::warn!("--device auto: CUDA not usable ({why}); running on the CPU"),
            }
        }
        cpu_scratch.resize(Pipeline::scratch_len(w), 0.0);
        Ok(Engine::Cpu(Pipeline::new(w, cpu_scratch).map_err(|e| e.to_string())?))
    }

    /// `cpu` or `cuda`.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Cpu(_) => "cpu",
            #[cfg(feature = "cuda")]
            Engine::Cuda(_) => "cuda",
        }
    }

    /// Push one grayscale frame.
    pub fn push_frame(&mut self, frame: &[u8]) -> Result<(), String> {
        match self {
            Engine::Cpu(p) => p.push_frame(frame).map_err(|e| e.to_string()),
            #[cfg(feature = "cuda")]
            Engine::Cuda(g) => g.push_frame(frame).map(|_| ()),
        }
    }

    /// Push mono PCM.
    pub fn push_audio(&mut self, pcm: &[f32]) -> Result<(), String> {
        match self {
            Engine::Cpu(p) => p.push_audio(pcm).map_err(|e| e.to_string()),
            #[cfg(feature = "cuda")]
            Engine::Cuda(g) => g.push_audio(pcm),
        }
    }

    /// Close the clip and infer.
    pub fn infer(&mut self, m: Modalities) -> Result<Output, String> {
        match self {
            Engine::Cpu(p) => p.infer(m).map_err(|e| e.to_string()),
            #[cfg(feature = "cuda")]
            Engine::Cuda(g) => g.infer(m),
        }
    }

    /// Wait until queued GPU work has finished (no-op on the CPU), for timing.
    pub fn synchronize(&mut self) -> Result<(), String> {
        match self {
            Engine::Cpu(_) => Ok(()),
            #[cfg(feature = "cuda")]
            Engine::Cuda(g) => g.synchronize(),
        }
    }
}

#[cfg(feature = "cuda")]
fn open_cuda<'a>(w: &Weights<'a>, bytes: &[u8], scratch: &'a mut Vec<f32>) -> Result<Engine<'a>, String> {
    scratch.resize(avf_bel::gpu::GpuPipeline::scratch_len(w), 0.0);
    avf_bel::gpu::open(w, bytes, scratch).map(|g| Engine::Cuda(Box::new(g)))
}

#[cfg(not(feature = "cuda"))]
fn open_cuda<'a>(_: &Weights<'a>, _: &[u8], _: &'a mut Vec<f32>) -> Result<Engine<'a>, String> {
    Err("this binary was built without the `cuda` feature (cargo build --release --features cuda)".into())
}
