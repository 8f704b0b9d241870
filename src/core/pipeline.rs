//! The whole model: frames and PCM in, five emotion intensities and EPP out, in one caller-provided buffer.
//!
//! ```text
//! frames ─> Visual (CORnet-Z, temporal summary, read-out) ─> x_v ─┐
//!                                                                 ├─> Fusion ─> S ─> BEL ─> emotions, EPP
//! PCM ────> FrontEnd ─(per hop)─> Cortex ─> [descriptors; intervals; population activity] ─> read-out ─> x_a ─┘
//! ```
//!
//! [`Pipeline::new`] validates the weights against the configuration and carves every buffer from the scratch slice;
//! after that nothing allocates. A clip is: [`Pipeline::push_frame`] / [`Pipeline::push_audio`] as data arrive,
//! then [`Pipeline::infer`], which closes the clip and starts the next.

use crate::core::arena::Arena;
use crate::core::audio::cortex::{Cortex, DriveConfig};
use crate::core::audio::frontend::FrontEnd;
use crate::core::audio::{FrameFeatures, N_DESCRIPTORS, N_INTERVALS};
use crate::core::bel::{Bel, BelTerms};
use crate::core::config::{ModelConfig, N_EMOTIONS};
use crate::core::dense::Readout;
use crate::core::epp::epp;
use crate::core::error::{Error, InputError};
use crate::core::fusion::{Contribution, Fusion};
use crate::core::kernels::{KernelReport, Kernels};
use crate::core::manifest::{audio_inputs, ModelWeights};
use crate::core::visual::{FramePrep, Visual};
use crate::core::weights::Weights;

/// Which senses an inference uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Modalities {
    /// Use the audio pathway.
    pub audio: bool,
    /// Use the visual pathway.
    pub video: bool,
}

impl Modalities {
    /// Both senses.
    pub const BOTH: Modalities = Modalities { audio: true, video: true };
    /// Audio only.
    pub const AUDIO: Modalities = Modalities { audio: true, video: false };
    /// Video only.
    pub const VIDEO: Modalities = Modalities { audio: false, video: true };
}

/// One inference result.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Output {
    /// Intensities 0–1 of angry, happy, peaceful, sad, scared.
    pub emotions: [f32; N_EMOTIONS],
    /// Emotional Positivity Parameter, 0–1.
    pub epp: f32,
    /// How much each modality drove BEL's inputs.
    pub contribution: Contribution,
    /// Amygdala and orbitofrontal terms per emotion.
    pub terms: BelTerms,
}

/// Offset of the cortex features in the audio read-out input.
pub(crate) const CORTEX_AT: usize = N_DESCRIPTORS + N_INTERVALS;

/// The model's weights bound to its run state.
pub struct Pipeline<'a> {
    cfg: ModelConfig,
    model_hash: u64,
    visual: Visual<'a>,
    frontend: FrontEnd<'a>,
    cortex: Cortex<'a>,
    audio_readout: Readout<'a>,
    fusion: Fusion<'a>,
    bel: Bel<'a>,
    x_a_in: &'a mut [f32],
    tmp: &'a mut [f32],
    x_a: &'a mut [f32],
    x_v: &'a mut [f32],
    s: &'a mut [f32],
}

impl<'a> Pipeline<'a> {
    /// Floats of scratch a pipeline over `w` needs: a dry run of the construction on a counting arena, so the size is
    /// computed by the very code that carves the buffers.
    pub fn scratch_len(w: &Weights<'_>) -> usize {
        let mut arena = Arena::counting();
        match ModelWeights::resolve(w) {
            Ok(mw) => {
                let _ = Pipeline::build(&mw, w.model_hash(), &mut arena, Kernels::portable());
                arena.used()
            }
            // A file that does not resolve cannot be built; `new` reports why.
            Err(_) => 0,
        }
    }

    /// Bind validated weights to `scratch` (at least [`Self::scratch_len`] floats), with the best kernels this CPU
    /// runs; with `std`, the `AVF_BEL_KERNELS` environment variable forces a lower level (`portable`, `avx2`,
    /// `avx512`, `avx512vnni`, `neon`, `dotprod`), and a level this CPU lacks is an [`Error::Kernel`]. The tensors
    /// are resolved once ([`ModelWeights::resolve`]); afterwards nothing looks a tensor up again and nothing
    /// allocates.
    pub fn new(w: &Weights<'a>, scratch: &'a mut [f32]) -> Result<Self, Error> {
        #[cfg(feature = "std")]
        let kernels = Kernels::from_env()?;
        #[cfg(not(feature = "std"))]
        let kernels = Kernels::detect();
        Self::with_kernels(w, scratch, kernels)
    }

    /// [`Pipeline::new`] with a given kernel table (e.g. `Kernels::for_level(Level::Avx2)?`), whatever the
    /// environment says: how one process runs and compares several levels.
    pub fn with_kernels(w: &Weights<'a>, scratch: &'a mut [f32], kernels: Kernels) -> Result<Self, Error> {
        let mw = ModelWeights::resolve(w)?;
        let needed = Self::scratch_len(w);
        if scratch.len() < needed {
            return Err(Error::ScratchTooSmall { needed, got: scratch.len() });
        }
        let mut arena = Arena::new(scratch);
        let p = Pipeline::build(&mw, w.model_hash(), &mut arena, kernels)?;
        // The dry run and the real construction took the same buffers.
        debug_assert_eq!(arena.used(), needed);
        Ok(p)
    }

    fn build(mw: &ModelWeights<'a>, model_hash: u64, arena: &mut Arena<'a>, kernels: Kernels) -> Result<Self, Error> {
        let cfg = mw.config;
        let mut visual = Visual::new(&cfg.visual, &mw.visual, arena, kernels)?;
        visual.set_frame_prep(FramePrep::in_arena(&cfg.visual, &cfg.input, kernels, arena)?);
        let mut frontend = FrontEnd::in_arena(&cfg.audio, arena)?;
        frontend.set_loudness(cfg.input.loudness_tau_ms);
        frontend.set_onset_range(cfg.input.onset_range_db);
        let mut cortex = Cortex::in_arena(&cfg.cortex, &cfg.audio, arena)?;
        cortex.set_drive(DriveConfig::for_input(&cfg.input))?;
        // The cortex runs at the vector width of the same level as the visual kernels (one choice per pipeline).
        cortex.set_level(kernels.level())?;
        let audio_readout = Readout::new(&mw.audio_readout, arena)?;
        let fusion = Fusion::new(&cfg.fusion, &mw.fusion, arena)?;
        let bel = Bel::new(&cfg.bel, &mw.bel, arena)?;
        let n_a = audio_inputs(&cfg);
        Ok(Pipeline {
            cfg,
            model_hash,
            visual,
            frontend,
            cortex,
            audio_readout,
            fusion,
            bel,
            x_a_in: arena.take(n_a)?,
            tmp: arena.take(n_a)?,
            x_a: arena.take(cfg.fusion.audio_features as usize)?,
            x_v: arena.take(cfg.visual.features as usize)?,
            s: arena.take(cfg.fusion.sensory as usize)?,
        })
    }

    /// The model configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// CRC-64 of the weights header this pipeline was built from.
    pub fn model_hash(&self) -> u64 {
        self.model_hash
    }

    /// Which kernels this pipeline runs (level and GEMM names; `Display` prints one line).
    pub fn kernels(&self) -> KernelReport {
        self.visual.kernels().report()
    }

    /// The visual pathway (for per-stage use and benchmarks).
    pub fn visual(&mut self) -> &mut Visual<'a> {
        &mut self.visual
    }

    /// BEL's learned state (read only).
    pub fn bel(&self) -> &Bel<'a> {
        &self.bel
    }

    /// BEL, to learn or restore a saved state. Its weights can only change through [`Bel::learn`] and
    /// [`Bel::restore`], which keep them finite, bounded and of the model's size:
    ///
    /// ```compile_fail
    /// # fn f(p: &mut avf_bel::Pipeline<'_>) {
    /// p.bel_mut().amygdala = &mut []; // private: a caller cannot swap the run state's buffers
    /// # }
    /// ```
    pub fn bel_mut(&mut self) -> &mut Bel<'a> {
        &mut self.bel
    }

    /// Start a new clip: forget frames, audio and their summaries (BEL's learning is kept).
    pub fn reset(&mut self) {
        self.visual.reset();
        self.frontend.reset();
        self.cortex.reset();
    }

    /// Tell the model that the camera has just moved further than the visual background follows (±3 px), as when a
    /// robot turns its head, or that the scene changed at once: the background is learnt afresh from the next frame,
    /// as at a clip's start, while the clip goes on (frames, audio and their summaries are kept). Without it, the
    /// background shows the old view against the new one until it has followed, about a second at the shipped time
    /// constant (the `pan` probe); with it, one frame comes out uniform grey (the `pan-cut` probe, E42 in
    /// `docs/eval/experiments.md`). Call it once the move has ended, before that moment's frame; a no-op for a model
    /// without a background. Infallible and allocation-free.
    pub fn scene_cut(&mut self) {
        self.visual.scene_cut();
    }

    /// Push one grayscale frame of `height·width` bytes.
    pub fn push_frame(&mut self, frame: &[u8]) -> Result<(), Error> {
        self.visual.push_frame(frame).map(|_| ())
    }

    /// Push mono PCM samples in −1..1 at the configured sample rate (beyond ±1 they are clipped, as an ADC would);
    /// drives the cortex hop by hop.
    pub fn push_audio(&mut self, pcm: &[f32]) -> Result<(), Error> {
        let cortex = &mut self.cortex;
        self.frontend.push(pcm, &mut |f: &FrameFeatures| cortex.step_frame(f))?;
        Ok(())
    }

    /// Close the clip and infer with the chosen senses. The clip state is reset afterwards (also on error).
    pub fn infer(&mut self, m: Modalities) -> Result<Output, Error> {
        let r = self.infer_inner(m);
        self.reset();
        r
    }

    /// Infer from the clip so far without closing it: the streaming read-out a robot daemon polls (audio
    /// descriptors are provisional until the clip ends; see [`crate::audio::frontend::FrontEnd`]). The clip goes on.
    pub fn peek(&mut self, m: Modalities) -> Result<Output, Error> {
        self.output(m, false)
    }

    fn infer_inner(&mut self, m: Modalities) -> Result<Output, Error> {
        self.output(m, true)
    }

    fn output(&mut self, m: Modalities, close: bool) -> Result<Output, Error> {
        if !m.audio && !m.video {
            return Err(InputError::NoModality.into());
        }
        let audio = if m.audio {
            if close {
                let cortex = &mut self.cortex;
                self.frontend.finish(&mut |f: &FrameFeatures| cortex.step_frame(f))?;
            } else if self.frontend.frames() == 0 {
                return Err(InputError::EmptyAudio.into());
            }
            let d = self.frontend.summary().as_array();
            self.x_a_in[..N_DESCRIPTORS].copy_from_slice(&d);
            self.x_a_in[N_DESCRIPTORS..CORTEX_AT].copy_from_slice(&self.frontend.interval_profile());
            self.cortex.features(&mut self.x_a_in[CORTEX_AT..]);
            self.audio_readout.forward(self.x_a_in, self.tmp, self.x_a);
            Some(&*self.x_a)
        } else {
            None
        };
        let video = if m.video {
            self.visual.features(self.x_v)?;
            Some(&*self.x_v)
        } else {
            None
        };
        // A format-3 model replaces a missing sense by the present one (`InputConfig::substitute`).
        let (audio, video) =
            if self.cfg.input.substitute { (audio.or(video), video.or(audio)) } else { (audio, video) };
        let mut contribution = self.fusion.forward(audio, video, self.s)?;
        if self.cfg.input.substitute {
            contribution = contribution.substituted(m.audio, m.video);
        }
        let mut emotions = [0.0; N_EMOTIONS];
        let terms = self.bel.forward(self.s, &mut emotions)?;
        Ok(Output { emotions, epp: epp(&emotions), contribution, terms })
    }

    /// Close the clip and copy out what the read-outs see: the visual temporal summary (`2·IT` long) and the audio
    /// read-out input (descriptors then cortex features, [`audio_inputs`] long). Used to fit the read-outs.
    pub fn clip_features(&mut self, visual: &mut [f32], audio: &mut [f32]) -> Result<(), Error> {
        let r = self.clip_features_inner(visual, audio);
        self.reset();
        r
    }

    fn clip_features_inner(&mut self, visual: &mut [f32], audio: &mut [f32]) -> Result<(), Error> {
        if audio.len() != self.x_a_in.len() || visual.len() != crate::core::visual::summary_len(&self.cfg.visual) {
            return Err(InputError::ShapeMismatch("clip features").into());
        }
        let cortex = &mut self.cortex;
        self.frontend.finish(&mut |f: &FrameFeatures| cortex.step_frame(f))?;
        audio[..N_DESCRIPTORS].copy_from_slice(&self.frontend.summary().as_array());
        audio[N_DESCRIPTORS..CORTEX_AT].copy_from_slice(&self.frontend.interval_profile());
        self.cortex.features(&mut audio[CORTEX_AT..]);
        visual.copy_from_slice(self.visual.summary()?);
        Ok(())
    }

    /// The fused sensory vector of the last inference (BEL's input).
    pub fn sensory(&self) -> &[f32] {
        self.s
    }

    /// The audio and visual feature vectors of the last inference.
    pub fn features(&self) -> (&[f32], &[f32]) {
        (self.x_a, self.x_v)
    }

    /// One BEL learning step on the last inference's input with a reinforcement per emotion.
    pub fn learn(&mut self, reward: &[f32; N_EMOTIONS]) -> Result<(), Error> {
        self.bel.learn(reward)
    }
}
