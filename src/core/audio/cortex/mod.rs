//! PYR/PV/SOM auditory cortex after Litwin-Kumar, Rosenbaum & Doiron (2016), driven by the sound.
//!
//! A spiking network of `n_pyr` pyramidal cells (two-compartment AdEx), `n_pv` PV and `n_som` SOM interneurons with
//! the constants, conductance kinetics, connection probabilities and short-term depression/facilitation of spec §3.2.
//! PYR and PV cells form `groups` tonotopic groups, each driven by one band of the front-end's mel spectrum
//! ([`DriveConfig`]); [`Cortex::features`] reports each group's mean firing rate and its modulation over the clip.
//! All state lives in one region of the caller's scratch buffer; nothing allocates, nothing panics, and the `no_std`
//! build uses it unchanged.
//!
//! `docs/cortex.md` is the one description of the model as implemented (equations, constants, sound drive, features,
//! time step, cost, and the differences from the published model file). The code is split by job:
//! `constants` (spec §3.2), `drive` (sound → thalamic input), `noise` (the membrane-noise stream), `fastmath`
//! (branch-free `exp`/`ln`/`sqrt`), `layout` (where the state lives; step factors; wiring) and `step` (the
//! vectorised population update).

mod constants;
mod drive;
mod fastmath;
mod layout;
mod noise;
mod step;

pub use drive::DriveConfig;

pub(crate) use drive::band_drive;
// For the GPU runtime (src/host/gpu): the kernel's parameter block and the noise stream, from the CPU core's own code.
#[cfg(any(feature = "cuda", feature = "cuda-emulator"))]
pub(crate) use layout::KernelParams;
pub(crate) use noise::NoiseRng;
#[cfg(any(feature = "cuda", feature = "cuda-emulator"))]
pub(crate) use noise::LANES as NOISE_LANES;

use super::FrameFeatures;
use crate::core::arena::Arena;
use crate::core::config::{AudioConfig, CortexConfig};
use crate::core::error::Error;
use crate::core::kernels::{KernelError, Level};
use constants::{E_L, V0_E};
use drive::group_start;
use layout::*;
use step::{run_steps, Kernel, Network, MAX_GROUPS};

/// The spiking population model over a region of the caller's scratch buffer.
pub struct Cortex<'s> {
    cfg: CortexConfig,
    drive: DriveConfig,
    lay: StateLayout,
    st: StepFactors,
    scratch: &'s mut [f32],
    rng: NoiseRng,
    rng0: NoiseRng,
    /// Instruction set the network update is compiled for (chosen once, in [`Cortex::new`]).
    kernel: Kernel,
    /// Frames seen since the last reset.
    frames: u32,
    /// Frames that advanced the network by at least one step (the ones the statistics average over).
    stat_frames: u32,
    /// Remainder of simulated time, in units of 1/(sample_rate) µs, not yet covered by whole steps.
    time_acc: u64,
    /// Simulated time per frame and per step in the same units.
    frame_units: u64,
    step_units: u64,
}

impl<'s> Cortex<'s> {
    /// Floats of scratch this configuration needs: a dry run of `Cortex::in_arena` (crate-private) on a counting
    /// arena (the state's size depends on the populations alone, not on the audio front-end).
    pub fn scratch_len(cfg: &CortexConfig) -> usize {
        let mut a = Arena::counting();
        let _ = Cortex::in_arena(cfg, &AudioConfig::default(), &mut a);
        a.used()
    }

    /// Length of the feature vector [`Self::features`] writes: `6·groups`.
    pub fn n_features(cfg: &CortexConfig) -> usize {
        6 * cfg.groups as usize
    }

    /// Length of the vector [`Self::last_frame_rates`] writes: `3·groups`.
    pub fn n_frame_rates(cfg: &CortexConfig) -> usize {
        3 * cfg.groups as usize
    }

    /// Build over `scratch` (at least [`Self::scratch_len`] floats): draws the connectivity from `cfg.seed` and sets
    /// the initial state. Uses the default [`DriveConfig`].
    pub fn new(cfg: &CortexConfig, audio: &AudioConfig, scratch: &'s mut [f32]) -> Result<Self, Error> {
        Cortex::in_arena(cfg, audio, &mut Arena::new(scratch))
    }

    /// Build with the state carved from `arena` (on a counting arena: only the size is taken).
    pub(crate) fn in_arena(cfg: &CortexConfig, audio: &AudioConfig, arena: &mut Arena<'s>) -> Result<Self, Error> {
        cfg.validate()?;
        audio.validate()?;
        let lay = StateLayout::new(cfg);
        let scratch = arena.take(lay.total)?;
        let rng0 = NoiseRng::for_cortex(cfg.seed);
        let mut c = Cortex {
            cfg: *cfg,
            drive: DriveConfig::default(),
            lay,
            st: StepFactors::new(cfg),
            scratch,
            rng: rng0,
            rng0,
            kernel: Kernel::detect(),
            frames: 0,
            stat_frames: 0,
            time_acc: 0,
            frame_units: audio.hop as u64 * 1_000_000,
            step_units: audio.sample_rate as u64 * cfg.dt_us as u64,
        };
        if !arena.is_counting() {
            draw_connectivity(&c.cfg, &lay, bytemuck::cast_slice_mut(&mut c.scratch[lay.conn..lay.total]));
            c.reset();
        }
        Ok(c)
    }

    /// Run the network update compiled for the vector width of `level` (x86-64: `avx2` and `avxvnni` 8 lanes, `avx512` and
    /// `avx512vnni` 16 lanes, `portable` the baseline; aarch64: NEON, the baseline, at every level). The spike
    /// trains are bit-identical at every level; [`crate::Pipeline`] sets its kernel table's level here, so forcing
    /// a level (`AVF_BEL_KERNELS`) times the whole pipeline at that width. A level this CPU lacks is refused.
    pub fn set_level(&mut self, level: Level) -> Result<(), KernelError> {
        if !level.supported() {
            return Err(KernelError::Unsupported(level));
        }
        self.kernel = Kernel::for_level(level);
        Ok(())
    }

    /// Replace the drive parameters (keeps the network state; call [`Self::reset`] for a fresh clip).
    pub fn set_drive(&mut self, drive: DriveConfig) -> Result<(), Error> {
        drive.validate()?;
        self.drive = drive;
        Ok(())
    }

    /// The drive parameters in use.
    pub fn drive_config(&self) -> DriveConfig {
        self.drive
    }

    /// Frames processed since the last reset.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Forget the current clip: network, drive and statistics back to their initial values, noise stream restarted
    /// (the connectivity is kept). Running the same input again then gives bit-identical results.
    pub fn reset(&mut self) {
        let lay = self.lay;
        let p = regions(&lay, self.scratch);
        // Field 0 is v (and field 1 of PYR is v_D); everything else starts at zero.
        p.pyr.fill(0.0);
        p.pyr[..2 * lay.ne].fill(V0_E);
        p.pv.fill(0.0);
        p.pv[..lay.np].fill(E_L);
        p.som.fill(0.0);
        p.som[..lay.ns].fill(E_L);
        p.grp.fill(0.0);
        let g = lay.g;
        p.grp[GRP_DS * g..(GRP_DS + 1) * g].fill(1.0);
        p.grp[GRP_DFE * g..(GRP_DFE + 1) * g].fill(1.0);
        p.grp[GRP_DFP * g..(GRP_DFP + 1) * g].fill(1.0);
        p.spikes.fill(0);
        self.rng = self.rng0;
        self.frames = 0;
        self.stat_frames = 0;
        self.time_acc = 0;
    }

    /// Advance the network by one analysis hop (hop/sample_rate seconds), driven by that frame's features.
    pub fn step_frame(&mut self, frame: &FrameFeatures) {
        let g = self.lay.g;
        let mut s_new = [0f32; MAX_GROUPS];
        band_drive(&self.drive, frame, &mut s_new[..g]);

        self.time_acc += self.frame_units;
        let steps = self.time_acc / self.step_units;
        self.time_acc %= self.step_units;
        self.frames = self.frames.wrapping_add(1);

        let Cortex { lay, st, scratch, rng, drive, stat_frames, kernel, .. } = self;
        let lay = *lay;
        let st = *st;
        let p = regions(&lay, scratch);
        let grp = p.grp;
        // New drive; s_b keeps the previous frame's s for one more frame (the spec's one-bin tail).
        for k in 0..g {
            let prev = grp[GRP_S * g + k];
            grp[GRP_S * g + k] = s_new[k];
            grp[GRP_SB * g + k] = s_new[k].max(prev);
        }
        let (small, big) = grp.split_at_mut(GRP_SMALL * g);
        let cnt_range = GRP_CNT * 3 * g..(GRP_CNT + 1) * 3 * g;
        big[cnt_range.clone()].fill(0.0); // spike counts of this frame

        let mut net = Network {
            lay,
            st,
            pyr: p.pyr,
            pv: p.pv,
            som: p.som,
            spikes: p.spikes,
            conn: p.conn,
            rng,
            gain: drive.gain,
        };
        run_steps(*kernel, &mut net, small, &mut big[cnt_range.clone()], steps);

        // Per-frame rates and their running mean / spread (Welford).
        if steps > 0 {
            *stat_frames += 1;
            let n = *stat_frames as f32;
            let dur_s = steps as f32 * st.dt * 1e-3;
            let (cnt, rest) = big.split_at_mut(3 * g);
            let (last, rest) = rest.split_at_mut(3 * g);
            let (mean, m2) = rest.split_at_mut(3 * g);
            for blk in 0..3 {
                let n_pop = [lay.ne, lay.np, lay.ns][blk];
                for k in 0..g {
                    let i = blk * g + k;
                    let size = group_start(k + 1, n_pop, g) - group_start(k, n_pop, g);
                    let rate = if size > 0 { cnt[i] / (size as f32 * dur_s) } else { 0.0 };
                    last[i] = rate;
                    let delta = rate - mean[i];
                    mean[i] += delta / n;
                    m2[i] += delta * (rate - mean[i]);
                }
            }
        }
    }

    /// Population-activity features over the clip so far (length [`Self::n_features`]; see the module docs for the
    /// layout). Writes at most `out.len()` values; all zeros before the first frame.
    pub fn features(&self, out: &mut [f32]) {
        let g = self.lay.g;
        let base = self.lay.grp + GRP_SMALL * g;
        let mean = &self.scratch[base + GRP_MEAN * 3 * g..base + (GRP_MEAN + 1) * 3 * g];
        let m2 = &self.scratch[base + GRP_M2 * 3 * g..base + (GRP_M2 + 1) * 3 * g];
        let n = self.stat_frames.max(1) as f32;
        for (i, o) in out.iter_mut().take(6 * g).enumerate() {
            *o = if i < 3 * g { mean[i] } else { libm::sqrtf((m2[i - 3 * g] / n).max(0.0)) };
        }
    }

    /// Firing rates (Hz) of the last frame, per group: PYR `[0, G)`, PV `[G, 2G)`, SOM `[2G, 3G)` (length
    /// [`Self::n_frame_rates`]). Writes at most `out.len()` values.
    pub fn last_frame_rates(&self, out: &mut [f32]) {
        let g = self.lay.g;
        let base = self.lay.grp + GRP_SMALL * g + GRP_LAST * 3 * g;
        let n = out.len().min(3 * g);
        out[..n].copy_from_slice(&self.scratch[base..base + n]);
    }

    /// The thalamic drive `s_g` of the last frame, one value in [0, 1] per group (writes at most `out.len()`).
    pub fn last_drive(&self, out: &mut [f32]) {
        let g = self.lay.g;
        let base = self.lay.grp + GRP_S * g;
        let n = out.len().min(g);
        out[..n].copy_from_slice(&self.scratch[base..base + n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every compilation of the update this CPU can run gives the same bits as the portable one.
    #[test]
    fn kernels_agree_bit_for_bit() {
        // On aarch64 the portable compilation (NEON) is the only one: the list stays as it starts.
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut, clippy::useless_vec))]
        let mut kernels = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") {
                kernels.push(Kernel::Avx2);
            }
            if std::is_x86_feature_detected!("avx512f") {
                kernels.push(Kernel::Avx512);
            }
        }
        if kernels.len() < 2 {
            // aarch64 (NEON is its baseline) and x86-64 CPUs without AVX2 have one compilation: nothing to compare
            // it with. Its spike trains are still checked against x86's, bit for bit, by the pinned fingerprint
            // (`tests/cortex.rs`, `spike_trains_match_the_pinned_fingerprint`).
            eprintln!(
                "kernels_agree_bit_for_bit: SKIPPED: this CPU runs one compilation of the cortex update ({:?}); \
                 the pinned fingerprint in tests/cortex.rs checks it",
                kernels[0]
            );
            return;
        }
        for (cfg, audio, secs) in [
            (
                CortexConfig { n_pyr: 64, n_pv: 16, n_som: 16, groups: 4, dt_us: 200, seed: 2 },
                AudioConfig::default(),
                1.0,
            ),
            (CortexConfig::default(), AudioConfig::default(), 0.25),
            // Populations that are not multiples of the vector widths or of the chunk size.
            (
                CortexConfig { n_pyr: 301, n_pv: 37, n_som: 150, groups: 5, dt_us: 100, seed: 9 },
                AudioConfig::default(),
                0.5,
            ),
        ] {
            let m = audio.n_mels as usize;
            let hop_s = audio.hop as f32 / audio.sample_rate as f32;
            let frames = (secs / hop_s) as usize;
            let run = |kernel: Kernel| {
                let mut buf = vec![0f32; Cortex::scratch_len(&cfg)];
                let mut c = Cortex::new(&cfg, &audio, &mut buf).unwrap();
                c.kernel = kernel;
                let mut bits = Vec::new();
                let mut rates = vec![0f32; Cortex::n_frame_rates(&cfg)];
                for t in 0..frames {
                    // A tone sweeping over the bands, struck every 8th frame.
                    let band = (t / 8) % m;
                    let mel: Vec<f32> = (0..m).map(|i| if i.abs_diff(band) < m / 8 { 10.0 } else { -80.0 }).collect();
                    c.step_frame(&FrameFeatures {
                        index: t as u32,
                        rms: 0.1,
                        pitch_mean: 0.0,
                        tonnetz: [0.0; crate::core::audio::TONNETZ_DIMS],
                        onset: if t % 8 == 0 { 10.0 } else { 0.0 },
                        mel_db: &mel,
                    });
                    c.last_frame_rates(&mut rates);
                    bits.extend(rates.iter().map(|x| x.to_bits()));
                }
                let mut f = vec![0f32; Cortex::n_features(&cfg)];
                c.features(&mut f);
                bits.extend(f.iter().map(|x| x.to_bits()));
                assert!(f.iter().any(|&x| x > 0.0));
                bits
            };
            let reference = run(Kernel::Portable);
            for &k in &kernels[1..] {
                assert!(run(k) == reference, "{k:?} differs from the portable update ({cfg:?})");
            }
        }
    }

    #[test]
    fn connection_probabilities_match_spec() {
        let cfg = CortexConfig::default();
        let audio = AudioConfig::default();
        let mut buf = vec![0f32; Cortex::scratch_len(&cfg)];
        let c = Cortex::new(&cfg, &audio, &mut buf).unwrap();
        let lay = c.lay;
        let conn: &[u32] = bytemuck::cast_slice(&c.scratch[lay.conn..lay.total]);
        let (re, ri) = (lay.row_e(), lay.row_i());
        let ones = |r: &[u32]| r.iter().map(|w| w.count_ones() as f64).sum::<f64>();
        let mut ee = 0.0;
        let mut pe = 0.0;
        let mut auto = 0;
        for j in 0..lay.ne {
            let row = &conn[j * re..(j + 1) * re];
            ee += ones(&row[..lay.we]);
            pe += ones(&row[lay.we..lay.we + lay.wp]);
            if row[j / 32] & (1 << (j % 32)) != 0 {
                auto += 1;
            }
        }
        let p_ee = ee / (lay.ne * (lay.ne - 1)) as f64;
        let p_pe = pe / (lay.ne * lay.np) as f64;
        assert!((p_ee - 0.1).abs() < 0.005, "p_ee {p_ee}");
        assert!((p_pe - 0.6).abs() < 0.01, "p_pe {p_pe}");
        assert_eq!(auto, 0);
        let base = lay.ne * re + lay.np * ri;
        let es = ones(&conn[base..]);
        // SOM rows hold SOM→PYR and SOM→PV: 0.6 of (ne + np) per row.
        let p_s = es / (lay.ns * (lay.ne + lay.np)) as f64;
        assert!((p_s - 0.6).abs() < 0.01, "p_s {p_s}");
    }
}
