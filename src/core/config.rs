//! The model configuration: every size the weights and the run state depend on.
//!
//! It travels inside the weights file header (postcard), so a loaded file always knows its own shapes.

use crate::core::error::ConfigError;
use serde::{Deserialize, Serialize};

/// Visual pathway: CORnet-Z over a stack of grayscale frames, then a temporal summary and a linear read-out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisualConfig {
    /// Frame height in pixels (default 64).
    pub height: u16,
    /// Frame width in pixels (default 64).
    pub width: u16,
    /// Input channels = number of consecutive grayscale frames stacked (default 5, the paper's 5-channel CORnet-Z).
    pub channels: u8,
    /// Output channels of V1, V2, V4 and IT (CORnet-Z: 64, 128, 256, 512).
    pub widths: [u16; 4],
    /// Run CORnet-Z every `stride_frames` frames (the stacks overlap when smaller than `channels`).
    pub stride_frames: u8,
    /// Size of the optional ImageNet-style classifier head on IT (0 = no head; CORnet-Z has 1000).
    pub head_classes: u16,
    /// Size of the visual feature vector handed to fusion (default 5: the stimulus dimensions).
    pub features: u8,
    /// Frame rate the pathway expects, in frames per second (default 30): stacks of `channels` consecutive frames
    /// span `channels / fps` seconds, so sources at other rates are resampled in time to this rate first.
    pub fps: u16,
}

/// Auditory front-end: STFT-based descriptors on mono PCM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioConfig {
    /// Sample rate in Hz (default 22,050).
    pub sample_rate: u32,
    /// FFT size (a power of two; default 2048, as librosa).
    pub n_fft: u16,
    /// Hop between analysis frames in samples (default 512, as librosa).
    pub hop: u16,
    /// Mel bands for onset strength and the cortex drive (default 128, as librosa).
    pub n_mels: u16,
    /// Onset-envelope history kept for tempo estimation, in frames (default 344 = librosa's 8-second window).
    pub tempo_frames: u16,
}

/// Auditory cortex: PYR/PV/SOM spiking populations (Litwin-Kumar et al. 2016) driven by the sound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CortexConfig {
    /// Pyramidal neurons (spec: 800).
    pub n_pyr: u16,
    /// PV interneurons (spec: 200).
    pub n_pv: u16,
    /// SOM interneurons (spec: 200).
    pub n_som: u16,
    /// Tonotopic groups: each PYR/PV group is driven by one band of the mel spectrum (default 8).
    pub groups: u8,
    /// Integration step in microseconds (spec: 100 = 0.1 ms).
    pub dt_us: u16,
    /// Seed of connectivity and noise (spec: 2).
    pub seed: u64,
}

/// Fusion MLP (the paper's F1, F2 as an option).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FusionConfig {
    /// Size of the audio feature vector handed to fusion (default 5).
    pub audio_features: u8,
    /// Hidden units per modality (paper: 64).
    pub hidden: u16,
    /// Sensory channels fed to BEL (default 8).
    pub sensory: u8,
    /// F2: softmax attention over each modality's hidden features.
    pub attention: bool,
}

/// Brain Emotional Learning (Morén & Balkenius 2000): learning rates of the online step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BelConfig {
    /// Amygdala learning rate α.
    pub alpha: f32,
    /// Orbitofrontal learning rate β.
    pub beta: f32,
    /// Bound on every BEL weight's magnitude after a learning step.
    pub weight_bound: f32,
}

/// Normalisation of the raw inputs before either pathway sees them: what makes the model indifferent to how loud the
/// microphone and how bright the camera happen to be (see `audio::frontend` and `visual` for the exact operations).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputConfig {
    /// Time constant of the running loudness normaliser in milliseconds (default 2000; 0 = off). Each analysis frame
    /// is scaled so that the clip's running mean square (an exponential average over frames with this time constant,
    /// bias-corrected from the clip's start) sits at −20 dBFS.
    pub loudness_tau_ms: u16,
    /// Normalise each frame's luminance to a fixed mean and standard deviation before CORnet-Z (default true).
    pub luma: bool,
    /// A missing sense's feature vector is replaced by the present sense's (default true; false: a missing sense
    /// contributes a zero hidden vector to fusion). Both read-outs estimate the same stimulus dimensions, so fusion
    /// then sees two agreeing estimates instead of an input it never saw; needs `visual.features ==
    /// fusion.audio_features`.
    pub substitute: bool,
    /// The sound's floor for the onset strength, in dB under the clip's running mel maximum (format version 4;
    /// 1–80; default and earlier files 80, librosa's `top_db`; `avf-bel train --sound-floor on` 40): the spectral flux
    /// compares each mel band's levels clipped from below there, so a room's noise that far under the music adds no
    /// onsets (the study's renders have digital silence, a microphone never has; E31 in `docs/eval/experiments.md`).
    pub onset_range_db: u8,
    /// The band level in dB that gives the auditory cortex no drive (format version 4; −100 … 19, below the drive's
    /// ceiling of +20 dB; default and earlier files −40; `--sound-floor on` −13, about the loudness-normalised
    /// clip's maximum − 40 dB, so that bands a room's noise fills stay undriven).
    pub drive_floor_db: i8,
    /// Time constant of the visual background in milliseconds (format version 5; 0 = off, as earlier files and
    /// [`ModelConfig::tiny`] have it; the default, `avf-bel train` and the shipped model since E41:
    /// [`BACKGROUND_TAU_MS`]; `avf-bel train --background off` writes 0): each frame, aligned to a running background
    /// by a shift of at most 3 pixels, is replaced by its difference from it, cored at 3σ of the frame's own noise,
    /// before luminance normalisation, so a static object in front of the stimulus or a textured wall adds little
    /// once learnt (`visual::Background`; E39b, E40, E41 in `docs/eval/experiments.md`).
    pub background_tau_ms: u16,
    /// How the background's difference is cored (format version 6; false for earlier files and
    /// [`InputConfig::OFF`], true for the default and `avf-bel train`; `--background-gate off` writes false): false,
    /// each pixel by its own size (`|d| > 3σ̂`); true, by its 3×3 neighbourhood's mean (`|m| > σ̂`, 3σ of a mean of
    /// nine), so an object too faint against the sensor's noise to pass pixel by pixel still shows (dim light and a
    /// noisy sensor together; E43 in `docs/eval/experiments.md`). Frames without noise (σ̂ = 0) come out the same
    /// either way.
    pub background_gate: bool,
    /// Each row of a frame levelled to the background's light before the background's search (format version 7;
    /// false for earlier files and [`InputConfig::OFF`], true for the default and `avf-bel train`;
    /// `--background-level-rows off` writes false): a lamp flickering on the mains seen through a rolling shutter, or
    /// a camera's exposure hunting, changes the rows' levels, which the search would match with a shift and the
    /// difference would keep (E49, E50 in `docs/eval/experiments.md`). A clean, steadily lit scene comes out the same
    /// either way.
    pub background_level_rows: bool,
}

/// The background's time constant E39b screened and the shipped model uses (`avf-bel train` writes it), in
/// milliseconds.
pub const BACKGROUND_TAU_MS: u16 = 500;

/// librosa's `top_db`: the onset range of format versions 1–3 and of the default.
pub const LIBROSA_TOP_DB: u8 = 80;
/// The cortex drive's floor of format versions 1–3 and of the default (dB).
pub const LEGACY_DRIVE_FLOOR_DB: i8 = -40;
/// The onset ranges a model may ask for (dB): 1 up to librosa's `top_db`, beyond which the front end's own floor
/// already clips.
pub const ONSET_RANGE_DB: core::ops::RangeInclusive<u8> = 1..=LIBROSA_TOP_DB;
/// The drive floors a model may ask for (dB): below the drive's ceiling of +20 dB (`DriveConfig::ceil_db`).
pub const DRIVE_FLOOR_DB: core::ops::RangeInclusive<i8> = -100..=19;
/// The sound's floor E31 measured (`avf-bel train --sound-floor on`): onsets over the top 40 dB, no drive under
/// −13 dB. Not the default: it made every sound fault nearly free but cost the clean and audio-only figures (E31).
pub const SOUND_FLOOR: (u8, i8) = (40, -13);

impl InputConfig {
    /// No normalisation, no substitution, librosa's onset range and the −40 dB drive floor: how models of format
    /// versions 1 and 2 ran.
    pub const OFF: InputConfig = InputConfig {
        loudness_tau_ms: 0,
        luma: false,
        substitute: false,
        onset_range_db: LIBROSA_TOP_DB,
        drive_floor_db: LEGACY_DRIVE_FLOOR_DB,
        background_tau_ms: 0,
        background_gate: false,
        background_level_rows: false,
    };

    /// Check the time constants (at most 60 s), the onset range (1–80 dB) and the drive floor (−100 … 19 dB).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.loudness_tau_ms > 60_000 {
            return Err(ConfigError::BadParameter("input.loudness_tau_ms"));
        }
        if self.background_tau_ms > 60_000 {
            return Err(ConfigError::BadParameter("input.background_tau_ms"));
        }
        if !ONSET_RANGE_DB.contains(&self.onset_range_db) {
            return Err(ConfigError::BadParameter("input.onset_range_db"));
        }
        if !DRIVE_FLOOR_DB.contains(&self.drive_floor_db) {
            return Err(ConfigError::BadParameter("input.drive_floor_db"));
        }
        Ok(())
    }
}

impl Default for InputConfig {
    fn default() -> Self {
        InputConfig {
            loudness_tau_ms: 2000,
            luma: true,
            substitute: true,
            onset_range_db: LIBROSA_TOP_DB,
            drive_floor_db: LEGACY_DRIVE_FLOOR_DB,
            background_tau_ms: BACKGROUND_TAU_MS,
            background_gate: true,
            background_level_rows: true,
        }
    }
}

/// The whole model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct ModelConfig {
    /// Visual pathway.
    pub visual: VisualConfig,
    /// Auditory front-end.
    pub audio: AudioConfig,
    /// Auditory cortex.
    pub cortex: CortexConfig,
    /// Fusion MLP.
    pub fusion: FusionConfig,
    /// BEL stage.
    pub bel: BelConfig,
    /// Input normalisation (format version 3, the sound's floor version 4, the visual background version 5, its gate
    /// version 6, its rows' levelling version 7; earlier files read as [`InputConfig::OFF`], versions 3–6 files with
    /// the fields they lack from it).
    pub input: InputConfig,
}

/// The five emotions, in the order used everywhere (outputs, tensors, the wire).
pub const EMOTIONS: [&str; 5] = ["angry", "happy", "peaceful", "sad", "scared"];
/// Number of emotion channels.
pub const N_EMOTIONS: usize = 5;

impl Default for VisualConfig {
    fn default() -> Self {
        VisualConfig {
            height: 64,
            width: 64,
            channels: 5,
            widths: [64, 128, 256, 512],
            stride_frames: 3,
            head_classes: 0,
            features: 5,
            fps: 30,
        }
    }
}

impl Default for AudioConfig {
    fn default() -> Self {
        AudioConfig { sample_rate: 22_050, n_fft: 2048, hop: 512, n_mels: 128, tempo_frames: 344 }
    }
}

impl Default for CortexConfig {
    fn default() -> Self {
        CortexConfig { n_pyr: 800, n_pv: 200, n_som: 200, groups: 8, dt_us: 100, seed: 2 }
    }
}

impl Default for FusionConfig {
    fn default() -> Self {
        FusionConfig { audio_features: 5, hidden: 64, sensory: 8, attention: false }
    }
}

impl Default for BelConfig {
    fn default() -> Self {
        BelConfig { alpha: 0.05, beta: 0.05, weight_bound: 4.0 }
    }
}

fn nonzero(v: usize, name: &'static str, max: usize) -> Result<(), ConfigError> {
    if v == 0 || v > max {
        Err(ConfigError::BadSize(name))
    } else {
        Ok(())
    }
}

impl VisualConfig {
    /// Spatial size after each CORnet-Z block: (conv output, pooled output) per block.
    pub fn block_sizes(&self) -> [((usize, usize), (usize, usize)); 4] {
        let mut h = self.height as usize;
        let mut w = self.width as usize;
        let mut out = [((0, 0), (0, 0)); 4];
        for (i, o) in out.iter_mut().enumerate() {
            // V1: k7 s2 p3 halves the size; V2..IT: k3 s1 p1 keep it. Each block then max-pools 3/2/1.
            let (ch, cw) = if i == 0 { (h.div_ceil(2), w.div_ceil(2)) } else { (h, w) };
            let (ph, pw) = (ch.div_ceil(2), cw.div_ceil(2));
            *o = ((ch, cw), (ph, pw));
            h = ph;
            w = pw;
        }
        out
    }

    /// Check sizes: non-zero channels, frames at least 16×16, at most 1024×1024, 1–240 frames per second.
    pub fn validate(&self) -> Result<(), ConfigError> {
        nonzero(self.height as usize, "visual.height", 1024)?;
        nonzero(self.width as usize, "visual.width", 1024)?;
        if self.height < 16 || self.width < 16 {
            return Err(ConfigError::FrameTooSmall);
        }
        nonzero(self.channels as usize, "visual.channels", 16)?;
        for w in self.widths {
            nonzero(w as usize, "visual.widths", 2048)?;
        }
        nonzero(self.stride_frames as usize, "visual.stride_frames", 255)?;
        if self.head_classes > 4096 {
            return Err(ConfigError::BadSize("visual.head_classes"));
        }
        nonzero(self.features as usize, "visual.features", 64)?;
        nonzero(self.fps as usize, "visual.fps", 240)
    }
}

impl AudioConfig {
    /// Check sizes: power-of-two FFT between 256 and 4096, hop ≤ n_fft, mel bands ≤ n_fft/2.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(8_000..=96_000).contains(&self.sample_rate) {
            return Err(ConfigError::BadParameter("audio.sample_rate"));
        }
        let n = self.n_fft as usize;
        if !n.is_power_of_two() || !(256..=4096).contains(&n) {
            return Err(ConfigError::BadSize("audio.n_fft"));
        }
        nonzero(self.hop as usize, "audio.hop", n)?;
        nonzero(self.n_mels as usize, "audio.n_mels", n / 2)?;
        nonzero(self.tempo_frames as usize, "audio.tempo_frames", 4096)
    }
}

impl CortexConfig {
    /// Check sizes: every population non-empty, groups divide neither population to nothing.
    pub fn validate(&self) -> Result<(), ConfigError> {
        nonzero(self.n_pyr as usize, "cortex.n_pyr", 8192)?;
        nonzero(self.n_pv as usize, "cortex.n_pv", 4096)?;
        nonzero(self.n_som as usize, "cortex.n_som", 4096)?;
        nonzero(self.groups as usize, "cortex.groups", 64)?;
        if (self.groups as u16) > self.n_pyr || (self.groups as u16) > self.n_pv {
            return Err(ConfigError::BadSize("cortex.groups"));
        }
        nonzero(self.dt_us as usize, "cortex.dt_us", 1000)
    }
}

impl FusionConfig {
    /// Check sizes.
    pub fn validate(&self) -> Result<(), ConfigError> {
        nonzero(self.audio_features as usize, "fusion.audio_features", 64)?;
        nonzero(self.hidden as usize, "fusion.hidden", 1024)?;
        nonzero(self.sensory as usize, "fusion.sensory", 64)
    }
}

impl BelConfig {
    /// Check that the learning rates and bound are finite and non-negative (bound positive).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.alpha.is_finite() && self.alpha >= 0.0 && self.alpha <= 1.0) {
            return Err(ConfigError::BadParameter("bel.alpha"));
        }
        if !(self.beta.is_finite() && self.beta >= 0.0 && self.beta <= 1.0) {
            return Err(ConfigError::BadParameter("bel.beta"));
        }
        if !(self.weight_bound.is_finite() && self.weight_bound > 0.0) {
            return Err(ConfigError::BadParameter("bel.weight_bound"));
        }
        Ok(())
    }
}

impl ModelConfig {
    /// Validate every part; a configuration that passes can be run without further checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.visual.validate()?;
        self.audio.validate()?;
        self.cortex.validate()?;
        self.fusion.validate()?;
        self.bel.validate()?;
        self.input.validate()?;
        if self.input.substitute && self.visual.features != self.fusion.audio_features {
            return Err(ConfigError::BadParameter("input.substitute (needs visual.features == fusion.audio_features)"));
        }
        Ok(())
    }

    /// A small configuration for tests and microcontrollers: 32×32 frames, narrow CORnet-Z, small cortex, no visual
    /// background.
    pub fn tiny() -> Self {
        ModelConfig {
            visual: VisualConfig {
                height: 32,
                width: 32,
                channels: 2,
                widths: [8, 16, 16, 32],
                stride_frames: 2,
                head_classes: 0,
                features: 5,
                fps: 30,
            },
            audio: AudioConfig { sample_rate: 22_050, n_fft: 512, hop: 256, n_mels: 32, tempo_frames: 128 },
            cortex: CortexConfig { n_pyr: 64, n_pv: 16, n_som: 16, groups: 4, dt_us: 200, seed: 2 },
            fusion: FusionConfig { audio_features: 5, hidden: 16, sensory: 4, attention: false },
            bel: BelConfig::default(),
            // No visual background: the tests train and run on 1.5-s clips of 32×32 frames, where a clip's first
            // frame (uniform grey under a background) is a large share of what CORnet-Z sees, and they check the
            // training's mechanics, which the background's own tests (tests/background.rs) do not need.
            input: InputConfig {
                background_tau_ms: 0,
                background_gate: false,
                background_level_rows: false,
                ..InputConfig::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_block_sizes_follow_cornet_z() {
        let c = VisualConfig { height: 224, width: 224, ..Default::default() };
        let s = c.block_sizes();
        assert_eq!(s[0], ((112, 112), (56, 56)));
        assert_eq!(s[1], ((56, 56), (28, 28)));
        assert_eq!(s[2], ((28, 28), (14, 14)));
        assert_eq!(s[3], ((14, 14), (7, 7)));
    }

    #[test]
    fn default_and_tiny_validate() {
        ModelConfig::default().validate().unwrap();
        ModelConfig::tiny().validate().unwrap();
    }

    #[test]
    fn bad_configs_are_named() {
        let mut c = ModelConfig::default();
        c.visual.height = 8;
        assert_eq!(c.validate(), Err(ConfigError::FrameTooSmall));
        let mut c = ModelConfig::default();
        c.audio.n_fft = 1000;
        assert_eq!(c.validate(), Err(ConfigError::BadSize("audio.n_fft")));
        let mut c = ModelConfig::default();
        c.bel.alpha = f32::NAN;
        assert_eq!(c.validate(), Err(ConfigError::BadParameter("bel.alpha")));
    }
}
