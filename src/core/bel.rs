//! Brain Emotional Learning (Morén & Balkenius 2000): one amygdala/orbitofrontal channel per emotion.
//!
//! For sensory inputs `S` (K of them, non-negative) and emotion `e`:
//! amygdala `A_e = Σ_i V[e][i]·S_i + V_th[e]·S_th` with the thalamic input `S_th = max_i S_i`;
//! orbitofrontal `O_e = Σ_i W[e][i]·S_i`; output `E_e = A_e − O_e`, reported as the intensity `clamp(E_e, 0, 1)`.
//!
//! Online learning with a reinforcement `Rew_e` per emotion:
//! `ΔV[e][i] = α·S_i·max(0, Rew_e − A_e)` (the amygdala never unlearns: its weights only grow) and
//! `ΔW[e][i] = β·S_i·(E′_e − Rew_e)` with `E′_e = A_e − V_th[e]·S_th − O_e` (the orbitofrontal cortex learns to
//! inhibit what the amygdala over-predicts). The thalamic weight learns like the amygdala's with `S_th`.
//! Both steps are divided by the input energy `Σ S_i² + S_th²` (normalised LMS), so α and β are the fraction of the
//! error corrected per step whatever the scale of `S`; Morén & Balkenius use raw steps, which diverge once
//! `α·‖S‖² > 2`. After each step every weight is clamped to `±weight_bound`, so no sequence of finite rewards can
//! make it diverge.

use crate::core::arena::Arena;
use crate::core::config::{BelConfig, N_EMOTIONS};
use crate::core::error::{Error, InputError};
use crate::core::manifest::BelWeights;

/// The learned state of BEL: owned by the run state (copied from the file) so online learning can change it.
/// Read it with [`Bel::amygdala`] etc.; change it only through [`Bel::learn`] or [`Bel::restore`], which keep
/// every weight finite and bounded.
pub struct Bel<'a> {
    cfg: BelConfig,
    k: usize,
    amygdala: &'a mut [f32],
    thalamus: &'a mut [f32],
    orbitofrontal: &'a mut [f32],
    last_s: &'a mut [f32],
    last_s_th: f32,
}

/// Per-emotion terms behind an output: the amygdala's excitation and the orbitofrontal inhibition.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BelTerms {
    /// `A_e` including the thalamic term.
    pub amygdala: [f32; N_EMOTIONS],
    /// `O_e`.
    pub orbitofrontal: [f32; N_EMOTIONS],
}

impl<'a> Bel<'a> {
    /// Copy the file's amygdala `[5][K]`, thalamic `[5]` and orbitofrontal `[5][K]` weights into the run state.
    pub fn new(cfg: &BelConfig, bw: &BelWeights<'_>, arena: &mut Arena<'a>) -> Result<Self, Error> {
        let k = bw.amygdala.len() / N_EMOTIONS;
        Ok(Bel {
            cfg: *cfg,
            k,
            amygdala: arena.take_copy(bw.amygdala)?,
            thalamus: arena.take_copy(bw.thalamus)?,
            orbitofrontal: arena.take_copy(bw.orbitofrontal)?,
            last_s: arena.take(k)?,
            last_s_th: 0.0,
        })
    }

    /// Sensory channels.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Amygdala weights `V`, `[5][K]`.
    pub fn amygdala(&self) -> &[f32] {
        self.amygdala
    }

    /// Thalamic amygdala weights `V_th`, `[5]`.
    pub fn thalamus(&self) -> &[f32] {
        self.thalamus
    }

    /// Orbitofrontal weights `W`, `[5][K]`.
    pub fn orbitofrontal(&self) -> &[f32] {
        self.orbitofrontal
    }

    /// Replace the learned weights (a saved state): each slice must have this model's length and every value must
    /// be finite; values are clamped to `±weight_bound` like a learning step's. On error nothing changes.
    pub fn restore(&mut self, amygdala: &[f32], thalamus: &[f32], orbitofrontal: &[f32]) -> Result<(), Error> {
        let k = self.k;
        if amygdala.len() != N_EMOTIONS * k || thalamus.len() != N_EMOTIONS || orbitofrontal.len() != N_EMOTIONS * k {
            return Err(InputError::ShapeMismatch("bel state").into());
        }
        if amygdala.iter().chain(thalamus).chain(orbitofrontal).any(|x| !x.is_finite()) {
            return Err(InputError::NonFiniteState.into());
        }
        let b = self.cfg.weight_bound;
        for (dst, src) in [
            (&mut *self.amygdala, amygdala),
            (&mut *self.thalamus, thalamus),
            (&mut *self.orbitofrontal, orbitofrontal),
        ] {
            for (d, s) in dst.iter_mut().zip(src) {
                *d = s.clamp(-b, b);
            }
        }
        Ok(())
    }

    /// Emotion intensities for sensory input `s` (remembered for the next [`Self::learn`]).
    pub fn forward(&mut self, s: &[f32], out: &mut [f32; N_EMOTIONS]) -> Result<BelTerms, Error> {
        if s.len() != self.k {
            return Err(InputError::ShapeMismatch("bel").into());
        }
        self.last_s.copy_from_slice(s);
        self.last_s_th = s.iter().fold(0.0f32, |m, &x| m.max(x));
        let mut terms = BelTerms::default();
        for (e, y) in out.iter_mut().enumerate() {
            let (a, o) = self.terms(e);
            terms.amygdala[e] = a;
            terms.orbitofrontal[e] = o;
            *y = (a - o).clamp(0.0, 1.0);
        }
        Ok(terms)
    }

    fn terms(&self, e: usize) -> (f32, f32) {
        let k = self.k;
        let mut a = self.thalamus[e] * self.last_s_th;
        let mut o = 0.0;
        for i in 0..k {
            a += self.amygdala[e * k + i] * self.last_s[i];
            o += self.orbitofrontal[e * k + i] * self.last_s[i];
        }
        (a, o)
    }

    /// The bound every learned weight is kept within (`bel.weight_bound` of the model's configuration).
    pub fn weight_bound(&self) -> f32 {
        self.cfg.weight_bound
    }

    /// One online learning step on the input of the last [`Self::forward`], with a reinforcement per emotion
    /// (the intensity the robot's environment says was right, 0–1; finite values outside are saturated to 0–1).
    /// Weights change in place, bounded.
    pub fn learn(&mut self, reward: &[f32; N_EMOTIONS]) -> Result<(), Error> {
        if reward.iter().any(|r| !r.is_finite()) {
            return Err(InputError::BadReward.into());
        }
        let k = self.k;
        let bound = self.cfg.weight_bound;
        // Normalised step (as in normalised LMS): dividing by the input's energy makes α and β fractions of the error
        // corrected per step, so learning is stable for any input scale when α, β ≤ 1.
        let energy: f32 = self.last_s.iter().map(|s| s * s).sum::<f32>() + self.last_s_th * self.last_s_th;
        let norm = 1.0 / (energy + 1e-6);
        for (e, &rew) in reward.iter().enumerate() {
            // Saturated: a huge reward times the step normaliser (up to 1e6) would overflow to ±inf, and
            // inf · (s = 0) is NaN in every weight (found by the `pipeline_input` fuzz target).
            let rew = rew.clamp(0.0, 1.0);
            let (a, o) = self.terms(e);
            let e_prime = a - self.thalamus[e] * self.last_s_th - o;
            let grow = (rew - a).max(0.0) * norm;
            let inhibit = (e_prime - rew) * norm;
            for i in 0..k {
                let s = self.last_s[i];
                let v = &mut self.amygdala[e * k + i];
                *v = (*v + self.cfg.alpha * s * grow).clamp(-bound, bound);
                let w = &mut self.orbitofrontal[e * k + i];
                *w = (*w + self.cfg.beta * s * inhibit).clamp(-bound, bound);
            }
            let th = &mut self.thalamus[e];
            *th = (*th + self.cfg.alpha * self.last_s_th * grow).clamp(-bound, bound);
        }
        Ok(())
    }
}
