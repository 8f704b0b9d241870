//! One interface to the model, whichever processor runs it: the CPU core ([`Pipeline`]) or an accelerator (the CUDA
//! pipeline of the host side). Commands (`run`, `bench`) and the robot daemon hold a `&mut dyn Backend` and do not
//! care which one they got.

use crate::core::bel::Bel;
use crate::core::config::{ModelConfig, N_EMOTIONS};
use crate::core::error::Error;
use crate::core::kernels::KernelReport;
use crate::core::pipeline::{Modalities, Output, Pipeline};

/// Frames and PCM in, emotions and EPP out; BEL learns online. Errors are typed ([`Error`]), never strings.
pub trait Backend {
    /// `"cpu"`, `"cuda"`, …: for reports.
    fn name(&self) -> &'static str;
    /// The model configuration.
    fn config(&self) -> &ModelConfig;
    /// CRC-64 of the weights header the backend was built from.
    fn model_hash(&self) -> u64;
    /// Push one grayscale frame of `height·width` bytes.
    fn push_frame(&mut self, frame: &[u8]) -> Result<(), Error>;
    /// Push mono PCM in −1..1 at the model's sample rate, any chunk size.
    fn push_audio(&mut self, pcm: &[f32]) -> Result<(), Error>;
    /// Infer from the clip so far without closing it.
    fn peek(&mut self, m: Modalities) -> Result<Output, Error>;
    /// Close the clip and infer; the clip state is reset afterwards (also on error).
    fn infer(&mut self, m: Modalities) -> Result<Output, Error>;
    /// One BEL learning step on the last inference's input.
    fn learn(&mut self, reward: &[f32; N_EMOTIONS]) -> Result<(), Error>;
    /// Start a new clip (BEL's learning is kept).
    fn reset(&mut self);
    /// The camera has just moved further than the visual background follows: the background restarts from the next
    /// frame while the clip goes on (see [`Pipeline::scene_cut`]; nothing for a model without a background).
    fn scene_cut(&mut self);
    /// BEL's learned state (read only; to save it).
    fn bel(&self) -> &Bel<'_>;
    /// Replace BEL's learned weights with a saved state (see [`Bel::restore`]).
    fn restore_bel(&mut self, amygdala: &[f32], thalamus: &[f32], orbitofrontal: &[f32]) -> Result<(), Error>;
    /// Wait until queued work has finished (for timing; a no-op on the CPU).
    fn synchronize(&mut self) -> Result<(), Error> {
        Ok(())
    }
    /// The CPU kernel table the backend runs (level and GEMM names; see [`Pipeline::kernels`]), or `None` for a
    /// backend that runs no CPU kernels (an accelerator).
    fn kernels(&self) -> Option<KernelReport> {
        None
    }
}

impl<'a> Backend for Pipeline<'a> {
    fn name(&self) -> &'static str {
        "cpu"
    }
    fn config(&self) -> &ModelConfig {
        Pipeline::config(self)
    }
    fn model_hash(&self) -> u64 {
        Pipeline::model_hash(self)
    }
    fn push_frame(&mut self, frame: &[u8]) -> Result<(), Error> {
        Pipeline::push_frame(self, frame)
    }
    fn push_audio(&mut self, pcm: &[f32]) -> Result<(), Error> {
        Pipeline::push_audio(self, pcm)
    }
    fn peek(&mut self, m: Modalities) -> Result<Output, Error> {
        Pipeline::peek(self, m)
    }
    fn infer(&mut self, m: Modalities) -> Result<Output, Error> {
        Pipeline::infer(self, m)
    }
    fn learn(&mut self, reward: &[f32; N_EMOTIONS]) -> Result<(), Error> {
        Pipeline::learn(self, reward)
    }
    fn reset(&mut self) {
        Pipeline::reset(self)
    }
    fn scene_cut(&mut self) {
        Pipeline::scene_cut(self)
    }
    fn bel(&self) -> &Bel<'_> {
        Pipeline::bel(self)
    }
    fn restore_bel(&mut self, amygdala: &[f32], thalamus: &[f32], orbitofrontal: &[f32]) -> Result<(), Error> {
        self.bel_mut().restore(amygdala, thalamus, orbitofrontal)
    }
    fn kernels(&self) -> Option<KernelReport> {
        Some(Pipeline::kernels(self))
    }
}
