//! Audio-visual fusion: the paper's F1 MLP (F2 attention as an option), producing BEL's sensory inputs.
//!
//! `a = ReLU(W_a·x_a + b_a)`, `v = ReLU(W_v·x_v + b_v)` (each `hidden` long); with F2, `a ← a ⊙ softmax(W'_a·a + b'_a)`
//! and likewise for `v`; then `S = ReLU(W_s·[a; v] + b_s)` (`sensory` long, non-negative as BEL needs). A missing
//! modality contributes a zero hidden vector, so a single-sense run uses the same weights.

use crate::core::arena::Arena;
use crate::core::config::FusionConfig;
use crate::core::dense::{dot, Dense};
use crate::core::error::{Error, InputError};
use crate::core::weights::Weights;

/// How much each modality drove the sensory channels.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Contribution {
    /// Σ over sensory channels of |W_s[:, audio]·a|.
    pub audio: f32,
    /// Σ over sensory channels of |W_s[:, visual]·v|.
    pub visual: f32,
}

/// Fusion weights and run state.
pub struct Fusion<'a> {
    cfg: FusionConfig,
    audio: Dense<'a>,
    visual: Dense<'a>,
    attn: Option<(Dense<'a>, Dense<'a>)>,
    out: Dense<'a>,
    hidden: &'a mut [f32],
    logits: &'a mut [f32],
}

impl<'a> Fusion<'a> {
    /// Floats of run state.
    pub fn scratch_len(cfg: &FusionConfig) -> usize {
        3 * cfg.hidden as usize
    }

    /// Bind `fusion.{audio,visual,out}.{weight,bias}` (and `fusion.attn_{audio,visual}.*` for F2).
    pub fn new(w: &Weights<'a>, visual_features: usize, arena: &mut Arena<'a>) -> Result<Self, Error> {
        let cfg = w.config().fusion;
        let h = cfg.hidden as usize;
        let audio = Dense::load(w, "fusion.audio.weight", "fusion.audio.bias", h, cfg.audio_features as usize, arena)?;
        let visual = Dense::load(w, "fusion.visual.weight", "fusion.visual.bias", h, visual_features, arena)?;
        let attn = if cfg.attention {
            Some((
                Dense::load(w, "fusion.attn_audio.weight", "fusion.attn_audio.bias", h, h, arena)?,
                Dense::load(w, "fusion.attn_visual.weight", "fusion.attn_visual.bias", h, h, arena)?,
            ))
        } else {
            None
        };
        let out = Dense::load(w, "fusion.out.weight", "fusion.out.bias", cfg.sensory as usize, 2 * h, arena)?;
        Ok(Fusion { cfg, audio, visual, attn, out, hidden: arena.take(2 * h)?, logits: arena.take(h)? })
    }

    /// Fuse; `None` for a modality that is absent. Writes `S` into `s`.
    pub fn forward(&mut self, x_a: Option<&[f32]>, x_v: Option<&[f32]>, s: &mut [f32]) -> Result<Contribution, Error> {
        let h = self.cfg.hidden as usize;
        if s.len() != self.cfg.sensory as usize {
            return Err(InputError::ShapeMismatch("fusion").into());
        }
        let (ha, hv) = self.hidden.split_at_mut(h);
        for (x, layer, dst, attn) in [
            (x_a, &self.audio, &mut *ha, self.attn.map(|a| a.0)),
            (x_v, &self.visual, &mut *hv, self.attn.map(|a| a.1)),
        ] {
            match x {
                Some(x) => {
                    if x.len() != layer.cols {
                        return Err(InputError::ShapeMismatch("fusion").into());
                    }
                    layer.forward(x, dst);
                    for v in dst.iter_mut() {
                        *v = v.max(0.0);
                    }
                    if let Some(att) = attn {
                        att.forward(dst, self.logits);
                        softmax(self.logits);
                        for (v, a) in dst.iter_mut().zip(self.logits.iter()) {
                            *v *= a;
                        }
                    }
                }
                None => dst.fill(0.0),
            }
        }
        let mut c = Contribution::default();
        for (r, sr) in s.iter_mut().enumerate() {
            let row = &self.out.w[r * 2 * h..(r + 1) * 2 * h];
            let pa = dot(&row[..h], &self.hidden[..h]);
            let pv = dot(&row[h..], &self.hidden[h..]);
            c.audio += pa.abs();
            c.visual += pv.abs();
            *sr = (self.out.b[r] + pa + pv).max(0.0);
        }
        Ok(c)
    }
}

fn softmax(x: &mut [f32]) {
    let m = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = libm::expf(*v - m);
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}
