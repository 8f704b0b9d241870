//! `--device auto|cpu|cuda` for `run` and `bench`: a thin wrapper over the library's backend selection
//! (`avf_bel::backend`), keeping the command line's string errors.

use avf_bel::weights::Weights;
use avf_bel::{Backend, Modalities, Output};

/// The requested backend: the command line's spelling of [`avf_bel::backend::Device`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Device {
    /// CUDA if usable, else the CPU (with one line saying why).
    Auto,
    /// The CPU core.
    Cpu,
    /// CUDA or an error.
    #[value(alias = "gpu")]
    Cuda,
}

impl From<Device> for avf_bel::backend::Device {
    fn from(d: Device) -> Self {
        match d {
            Device::Auto => avf_bel::backend::Device::Auto,
            Device::Cpu => avf_bel::backend::Device::Cpu,
            Device::Cuda => avf_bel::backend::Device::Cuda,
        }
    }
}

/// The model on the chosen backend.
pub struct Engine<'a> {
    inner: Box<dyn Backend + 'a>,
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
        let inner =
            avf_bel::backend::open(device.into(), w, bytes, cpu_scratch, gpu_scratch).map_err(|e| e.to_string())?;
        Ok(Engine { inner })
    }

    /// `cpu` or `cuda`.
    pub fn name(&self) -> &'static str {
        self.inner.name()
    }

    /// Push one grayscale frame.
    pub fn push_frame(&mut self, frame: &[u8]) -> Result<(), String> {
        self.inner.push_frame(frame).map_err(|e| e.to_string())
    }

    /// Push mono PCM.
    pub fn push_audio(&mut self, pcm: &[f32]) -> Result<(), String> {
        self.inner.push_audio(pcm).map_err(|e| e.to_string())
    }

    /// Close the clip and infer.
    pub fn infer(&mut self, m: Modalities) -> Result<Output, String> {
        self.inner.infer(m).map_err(|e| e.to_string())
    }

    /// Wait until queued GPU work has finished (no-op on the CPU), for timing.
    pub fn synchronize(&mut self) -> Result<(), String> {
        self.inner.synchronize().map_err(|e| e.to_string())
    }
}
