//! Audio front-end (placeholder interface; the implementation lands with its librosa golden tests).

use super::{Descriptors, FrameFeatures, TONNETZ_DIMS};
use crate::config::AudioConfig;
use crate::error::{Error, InputError};

/// Streaming, allocation-free audio analysis over a caller-provided scratch buffer.
pub struct FrontEnd<'s> {
    cfg: AudioConfig,
    scratch: &'s mut [f32],
    frames: u32,
    samples: u64,
    rms_sum: f64,
}

impl<'s> FrontEnd<'s> {
    /// Floats of scratch this configuration needs.
    pub fn scratch_len(cfg: &AudioConfig) -> usize {
        cfg.n_mels as usize + cfg.n_fft as usize
    }

    /// Build over `scratch` (at least [`Self::scratch_len`] floats).
    pub fn new(cfg: &AudioConfig, scratch: &'s mut [f32]) -> Result<Self, Error> {
        cfg.validate()?;
        let needed = Self::scratch_len(cfg);
        if scratch.len() < needed {
            return Err(Error::ScratchTooSmall { needed, got: scratch.len() });
        }
        Ok(FrontEnd { cfg: *cfg, scratch, frames: 0, samples: 0, rms_sum: 0.0 })
    }

    /// Forget the current clip.
    pub fn reset(&mut self) {
        self.frames = 0;
        self.samples = 0;
        self.rms_sum = 0.0;
    }

    /// Feed samples; calls `on_frame` once per completed analysis frame; returns how many completed.
    pub fn push(&mut self, pcm: &[f32], on_frame: &mut dyn FnMut(&FrameFeatures)) -> Result<usize, Error> {
        if pcm.iter().any(|x| !x.is_finite()) {
            return Err(InputError::NonFiniteAudio.into());
        }
        let hop = self.cfg.hop as usize;
        let mut n = 0;
        for chunk in pcm.chunks(hop) {
            let rms = libm::sqrtf(chunk.iter().map(|x| x * x).sum::<f32>() / chunk.len() as f32);
            self.rms_sum += rms as f64;
            let mel = &self.scratch[..self.cfg.n_mels as usize];
            on_frame(&FrameFeatures {
                index: self.frames,
                rms,
                pitch_mean: 0.0,
                tonnetz: [0.0; TONNETZ_DIMS],
                onset: 0.0,
                mel_db: mel,
            });
            self.frames += 1;
            n += 1;
        }
        self.samples += pcm.len() as u64;
        Ok(n)
    }

    /// End of clip: flush the remaining frames.
    pub fn finish(&mut self, _on_frame: &mut dyn FnMut(&FrameFeatures)) -> Result<(), Error> {
        if self.frames == 0 {
            return Err(InputError::EmptyAudio.into());
        }
        Ok(())
    }

    /// Clip-level descriptors of everything pushed since the last reset.
    pub fn summary(&self) -> Descriptors {
        Descriptors {
            rms_mean: (self.rms_sum / self.frames.max(1) as f64) as f32,
            duration_s: self.samples as f32 / self.cfg.sample_rate as f32,
            ..Descriptors::default()
        }
    }
}
