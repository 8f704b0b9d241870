//! PYR/PV/SOM auditory cortex (placeholder interface; the spiking model lands separately).

use super::FrameFeatures;
use crate::config::{AudioConfig, CortexConfig};
use crate::error::Error;

/// The spiking population model over a caller-provided scratch buffer.
pub struct Cortex<'s> {
    cfg: CortexConfig,
    scratch: &'s mut [f32],
    frames: u32,
}

impl<'s> Cortex<'s> {
    /// Floats of scratch this configuration needs.
    pub fn scratch_len(cfg: &CortexConfig, _audio: &AudioConfig) -> usize {
        Self::n_features(cfg)
    }

    /// Length of the feature vector [`Self::features`] writes.
    pub fn n_features(cfg: &CortexConfig) -> usize {
        3 * 2 * cfg.groups as usize
    }

    /// Build over `scratch` (at least [`Self::scratch_len`] floats).
    pub fn new(cfg: &CortexConfig, audio: &AudioConfig, scratch: &'s mut [f32]) -> Result<Self, Error> {
        cfg.validate()?;
        let needed = Self::scratch_len(cfg, audio);
        if scratch.len() < needed {
            return Err(Error::ScratchTooSmall { needed, got: scratch.len() });
        }
        Ok(Cortex { cfg: *cfg, scratch, frames: 0 })
    }

    /// Forget the current clip (network state back to its initial values).
    pub fn reset(&mut self) {
        self.frames = 0;
        self.scratch.fill(0.0);
    }

    /// Advance the network by one analysis hop, driven by that frame's features.
    pub fn step_frame(&mut self, frame: &FrameFeatures) {
        self.frames += 1;
        let g = self.cfg.groups as usize;
        self.scratch[0] += frame.rms;
        let _ = g;
    }

    /// Population-activity features over the clip so far (length [`Self::n_features`]).
    pub fn features(&self, out: &mut [f32]) {
        let n = Self::n_features(&self.cfg).min(out.len());
        out[..n].copy_from_slice(&self.scratch[..n]);
    }
}
