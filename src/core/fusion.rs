//! Audio-visual fusion: the paper's F1 MLP (F2 attention as an option), producing BEL's sensory inputs.
//!
//! `a = ReLU(W_a·x_a + b_a)`, `v = ReLU(W_v·x_v + b_v)` (each `hidden` long); with F2, `a ← a ⊙ softmax(W'_a·a + b'_a)`
//! and likewise for `v`; then `S = ReLU(W_s·[a; v] + b_s)` (`sensory` long, non-negative as BEL needs). A missing
//! modality contributes a zero hidden vector, so a single-sense run uses the same weights.

use crate::core::arena::Arena;
use crate::core::config::FusionConfig;
use crate::core::dense::{dot, Dense};
use crate::core::error::{Error, InputError};
use crate::core::manifest::FusionWeights;

/// How much each modality drove the sensory channels.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Contribution {
    /// Σ over sensory channels of |W_s[:, audio]·a|.
    pub audio: f32,
    /// Σ over sensory channels of |W_s[:, visual]·v|.
    pub visual: f32,
}

impl Contribution {
    /// With one sense missing and substituted (`InputConfig::substitute`), both fusion branches carry the present
    /// sense's estimate: all of the drive is that sense's, and the missing one reports none.
    pub(crate) fn substituted(self, audio: bool, video: bool) -> Contribution {
        let all = self.audio + self.visual;
        match (audio, video) {
            (true, false) => Contribution { audio: all, visual: 0.0 },
            (false, true) => Contribution { audio: 0.0, visual: all },
            _ => self,
        }
    }
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
    /// Bind the fusion weights and carve the run state (two hidden vectors and the attention logits).
    pub fn new(cfg: &FusionConfig, fw: &FusionWeights<'a>, arena: &mut Arena<'a>) -> Result<Self, Error> {
        let h = cfg.hidden as usize;
        let attn = match &fw.attention {
            Some((a, v)) => Some((Dense::new(a, arena)?, Dense::new(v, arena)?)),
            None => None,
        };
        Ok(Fusion {
            cfg: *cfg,
            audio: Dense::new(&fw.audio, arena)?,
            visual: Dense::new(&fw.visual, arena)?,
            attn,
            out: Dense::new(&fw.out, arena)?,
            hidden: arena.take(2 * h)?,
            logits: arena.take(h)?,
        })
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
