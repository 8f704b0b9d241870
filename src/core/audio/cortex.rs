//! PYR/PV/SOM auditory cortex after Litwin-Kumar, Rosenbaum & Doiron (2016), driven by the sound.
//!
//! A spiking network of `n_pyr` pyramidal cells (two-compartment AdEx: soma + dendrite), `n_pv` PV and `n_som` SOM
//! interneurons (AdEx), with the constants, conductance kinetics, connection probabilities and short-term
//! depression/facilitation of the thalamic drive of spec §3.2. Everything lives in the caller's scratch buffer;
//! nothing allocates, nothing panics, and the crate's `no_std` build uses it unchanged (maths through `libm`).
//!
//! # Sound drive
//! PYR and PV cells are split into `groups` contiguous tonotopic groups (cell `i` of a population of `n` is in group
//! `⌊i·G/n⌋`). Group `g` listens to mel bins `[⌊g·M/G⌋, ⌊(g+1)·M/G⌋)` of the frame's `mel_db` (M = its length). Per
//! frame:
//! * band level `L_g = 10·log10(mean over the band's bins of 10^(dB/10))` (the band's mean power, in dB);
//! * normalised level `x_g = clamp((L_g − floor_db) / (ceil_db − floor_db), 0, 1)` (defaults −40 dB and +20 dB, see
//!   [`DriveConfig`]; fixed, so louder sound drives harder);
//! * onset `o = clamp(onset / onset_ref, 0, 1)` from the front-end's onset strength (default `onset_ref` 10);
//! * drive `s_g = x_g · (1 − β + β·o)` with `β = onset_share` (default 0.5): a sounding band drives at half strength,
//!   and at full strength on a frame the front-end marks as an onset (so re-struck notes in the same band still
//!   produce a rise of `s`);
//! * `s_b,g = max(s_g(frame k), s_g(frame k−1))`: the same drive with a one-frame tail (spec: one bin).
//!
//! `s` and `s_b` are held constant over the frame (one spec "bin" = one analysis frame, ≈ 23.2 ms by default).
//! Non-finite values are made safe before use: a NaN mel bin counts as silence (zero power), +∞ dB is capped at
//! +200 dB and −∞ dB is silence; a NaN or negative onset counts as no onset. The other [`FrameFeatures`] fields
//! (`rms`, `pitch_mean`, `tonnetz`) are not used: loudness and pitch reach the network through the mel spectrum.
//! SOM cells get no thalamic input (spec).
//!
//! # Equations (units mV, ms, nS, pF, pA; Euler step `dt = dt_us` µs)
//! Per group: `dI_F/dt = (s − I_F)/τ_IF`, `dD_S/dt = (1 − D_S)/τ_S1 − D_S·s/τ_S2`,
//! `dD_F,pyr/dt = (1 − D_F,pyr − s_b)/τ_DF`, `dD_F,pv/dt = (1 − D_F,pv − s)/τ_DF`; the thalamic current is
//! `gain · q · I_F · 1 nA · D_S · D_F` (PYR with `D_F,pyr`, PV with `D_F,pv`). These ODEs are the same for every cell
//! of a group, so they are integrated once per group, which is exactly equivalent to integrating them per cell.
//! Neurons: spec §3.2 verbatim (PYR soma/dendrite AdEx, PV, SOM), with noise `σ·√(dt·1 nS/C)·N(0,1)` per step
//! (Euler–Maruyama of `σ ξ √(nS·C)` on the `C dv/dt` side). Conductances decay as `g ← g·(1 − dt/τ_g)` and jump by
//! `g_max/N_pre` on each presynaptic spike; a spike in step `n` acts on step `n + 1`.
//! See `docs/cortex.md` for the full list and for the deviations from the published model file.
//!
//! # Features
//! [`Cortex::features`] writes `6·G` values (G = `groups`), each an average over the frames of the clip so far, in
//! three-by-two blocks of `G`:
//! `[0, G)` PYR group mean rate (Hz), `[G, 2G)` PV group mean rate, `[2G, 3G)` SOM "group" mean rate,
//! `[3G, 4G)`, `[4G, 5G)`, `[5G, 6G)`: the standard deviation over frames of the same per-frame group rates
//! (temporal modulation; population standard deviation, Hz). SOM cells are not tonotopic: their "groups" are
//! contiguous index blocks, which differ only through their random inputs from PYR. The per-frame rates themselves
//! (`3·G` values in the same PYR/PV/SOM block order) are available from [`Cortex::last_frame_rates`].
//!
//! # Connectivity: memory against time
//! The seven connection matrices are drawn once from `seed` (splitmix64) in [`Cortex::new`] and kept as bitsets
//! (one row of 32-bit words per presynaptic cell): `n_pyr·(⌈n_pyr/32⌉+⌈n_pv/32⌉+⌈n_som/32⌉) + (n_pv+n_som)·
//! (⌈n_pyr/32⌉+⌈n_pv/32⌉)` words, 176 KB at the default size. Recomputing each connection from a hash of
//! `(seed, pre, post)` on every spike would need no memory but costs one hash per candidate target (≈1,200 per PYR
//! spike) instead of a scan of 39 words; at the default size the bitsets are the cheaper choice, and they fit in the
//! RAM of the microcontrollers this crate targets (scale the populations down, as `ModelConfig::tiny`, otherwise).
//! Self-connections (PYR→PYR, PV→PV autapses) are excluded. On a spike, the sparse PYR→PYR row (p = 0.1) is walked
//! bit by bit; the dense rows (p = 0.6) add `inc` or +0 to every target through a bit mask, a loop that vectorises.
//!
//! # Implementation (for speed; the equations are unchanged)
//! * State is a structure of arrays: each population's region holds one contiguous `f32` array per field (PYR: v,
//!   v_D, w, refractory count, g_ee, g_ep, g_es; PV: v, w, ref, g_pe, g_pp, g_ps; SOM: v, w, ref, g_se), in the same
//!   scratch size as before.
//! * Each population is updated in chunks of 128 cells by a branch-free loop (refractoriness, threshold, reset and the
//!   AdEx exponential's cut-off are selects and masks: a refractory cell's update is computed and discarded) that
//!   LLVM auto-vectorises; the chunk's spikes are then found (only if its spike count is non-zero) as the cells whose
//!   refractory count was just set to its maximum.
//! * Noise: 16 independent xoshiro128++ lanes advanced together, and the Box–Muller transform with branch-free
//!   polynomial log, sine and cosine (see `box_muller`), 32 standard normal deviates per call, drawn for every cell
//!   of a chunk before its update. The ziggurat used before needs table look-ups and a rejection branch per deviate,
//!   which keep a loop scalar.
//! * The update is compiled three times on x86-64 (baseline SSE2, AVX2, AVX-512F) and the widest the CPU supports is
//!   picked in [`Cortex::new`] (at run time with `std`, at compile time without); the variants perform the same IEEE
//!   operations in the same order and give bit-identical output (unit test `kernels_agree_bit_for_bit`). Other
//!   targets use their baseline (NEON on aarch64, scalar on Cortex-M).
//!
//! # Cost (default configuration: 800/200/200 cells, 8 groups, dt = 0.1 ms)
//! * time step 0.1 ms; window (one frame) = hop/sample_rate = 512/22,050 s ≈ 23.2 ms ≈ 232 steps;
//! * scratch: 52,944 floats (211.8 KB), of which 44,000 are the connectivity bitsets (tiny config: 1,128 floats);
//! * CPU time per second of audio (criterion, `cargo bench --bench pipeline -- cortex`, group
//!   `audio_1s/cortex_pyr800_pv200_som200_dt0.1ms`, one core of this project's shared 2-core AMD EPYC VM):
//!   **≈ 16–17 ms** with the AVX-512 build picked on that machine (≈ 27 ms AVX2, ≈ 48 ms baseline SSE2: 4-lane code,
//!   as on a 128-bit NEON core), against 103 ms for the former scalar array-of-structures update: 12 M neuron
//!   updates per second of audio at ≈ 1.4 ns each. `dt_us = 200` halves the cost.

use super::FrameFeatures;
use crate::core::config::{AudioConfig, CortexConfig};
use crate::core::error::{ConfigError, Error};

// ---- Constants of spec §3.2 (mV, ms, nS, pF, pA) ----
const E_L: f32 = -60.0;
const V_E: f32 = 0.0;
const V_I: f32 = -67.0;
const SIGMA: f32 = 20.0;
const TAU_W: f32 = 150.0;
const B_ADAPT: f32 = 8.0;
const G_SD: f32 = 18.75;
const TAU_DF: f32 = 10.0;
const TAU_DS1: f32 = 1000.0;
const TAU_DS2: f32 = 250.0;
const TAU_IF: f32 = 1.0;
const Q: f32 = 0.4;
/// 1 nA in pA: the unit of the thalamic term `q·I_Fast·(1 nA)`.
const NANOAMP: f32 = 1000.0;
const V_SPIKE: f32 = 20.0;
const V_RESET: f32 = -60.0;
const T_REF: f32 = 2.0;
/// Floor applied to every membrane potential after a step (also turns an impossible NaN into a finite value).
const V_FLOOR: f32 = -150.0;
/// Exponent arguments below this are skipped (the term is < 1e-8 pA, below f32 resolution of the other currents).
const EXP_SKIP: f32 = -20.0;
/// Exponent arguments are capped here: the cell crosses threshold within the step either way, and v stays finite.
const EXP_CAP: f32 = 40.0;

// Pyramidal cells.
const C_E: f32 = 180.0;
const GL_E: f32 = 6.25;
const DT_E: f32 = 1.0;
const VT_E: f32 = -40.0;
const A_E: f32 = 4.0;
const I_E: f32 = 350.0;
const V0_E: f32 = -50.0;
// PV cells.
const C_P: f32 = 80.0;
const GL_P: f32 = 5.0;
const DT_P: f32 = 0.25;
const VT_P: f32 = -40.0;
const I_P: f32 = 50.0;
// SOM cells.
const C_S: f32 = 80.0;
const GL_S: f32 = 5.0;
const DT_S: f32 = 1.0;
const VT_S: f32 = -45.0;
const A_S: f32 = 4.0;
const I_S: f32 = 100.0;

// Conductance maxima 20·W_XY nS (X post, Y pre) and decay times.
const GMAX_EE: f32 = 20.0;
const GMAX_EP: f32 = 40.0;
const GMAX_ES: f32 = 20.0;
const GMAX_PE: f32 = 2.0;
const GMAX_PP: f32 = 40.0;
const GMAX_PS: f32 = 40.0;
const GMAX_SE: f32 = 120.0;
const TAU_EE: f32 = 1.0;
const TAU_EP: f32 = 1.0;
const TAU_ES: f32 = 1.0;
const TAU_PE: f32 = 25.0;
const TAU_PP: f32 = 1.0;
const TAU_PS: f32 = 1.0;
const TAU_SE: f32 = 15.0;
const P_EE: f64 = 0.1;
const P_OTHER: f64 = 0.6;

// Per-cell state, structure of arrays: each population's region holds these fields one after another, each an array
// of that population's size (so every field is a contiguous f32 slice and the update loops vectorise).
const SE: usize = 7; // PYR: v, vd, w, ref, g_ee, g_ep, g_es
const SP: usize = 6; // PV: v, w, ref, g_pe, g_pp, g_ps
const SS: usize = 4; // SOM: v, w, ref, g_se
const MAX_GROUPS: usize = 64;
/// Cells updated per chunk: the noise and the per-cell thalamic current of a chunk live on the stack.
const CHUNK: usize = 128;
const _: () = assert!(CHUNK.is_multiple_of(NORMALS));

/// How a frame's mel spectrum and onset strength become the thalamic drive `s` (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DriveConfig {
    /// Band level (dB) that gives no drive (default −40).
    pub floor_db: f32,
    /// Band level (dB) that gives full drive (default +20; must exceed `floor_db`).
    pub ceil_db: f32,
    /// Onset strength at which the onset boost saturates (default 10; > 0).
    pub onset_ref: f32,
    /// Share β of the drive reserved for onset frames, in [0, 1] (default 0.5).
    pub onset_share: f32,
    /// Input gain on the spec's `q·I_Fast·(1 nA)` term (default 1: the spec's scale, `s` ∈ [0, 1]); in [0, 10].
    pub gain: f32,
}

impl Default for DriveConfig {
    fn default() -> Self {
        DriveConfig { floor_db: -40.0, ceil_db: 20.0, onset_ref: 10.0, onset_share: 0.5, gain: 1.0 }
    }
}

impl DriveConfig {
    /// Check that every parameter is finite and in its documented range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ok = |x: f32| x.is_finite();
        if !(ok(self.floor_db) && ok(self.ceil_db) && self.ceil_db > self.floor_db) {
            return Err(ConfigError::BadParameter("cortex.drive.floor_db/ceil_db"));
        }
        if !(ok(self.onset_ref) && self.onset_ref > 0.0) {
            return Err(ConfigError::BadParameter("cortex.drive.onset_ref"));
        }
        if !(ok(self.onset_share) && (0.0..=1.0).contains(&self.onset_share)) {
            return Err(ConfigError::BadParameter("cortex.drive.onset_share"));
        }
        if !(ok(self.gain) && (0.0..=10.0).contains(&self.gain)) {
            return Err(ConfigError::BadParameter("cortex.drive.gain"));
        }
        Ok(())
    }
}

// ---- Random numbers ----

/// splitmix64 (Steele, Lea & Flood 2014): seeding and connectivity.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Independent xoshiro128++ generators (Blackman & Vigna 2018) run side by side: the membrane-noise stream.
const LANES: usize = 16;
/// Standard normal deviates per call of [`NoiseRng::normals`].
const NORMALS: usize = 2 * LANES;

/// `LANES` xoshiro128++ states kept as structure of arrays (`s[word][lane]`), so one call advances every lane with
/// the same few integer operations and the compiler turns the lane loop into vector code (SSE2, AVX2, NEON alike).
#[derive(Clone, Copy, Debug)]
struct NoiseRng {
    s: [[u32; LANES]; 4],
}

impl NoiseRng {
    fn from_seed(seed: u64) -> Self {
        let mut st = seed;
        // Lane by lane (in order) from one splitmix64 stream, then stored word-major.
        let lanes: [[u32; 4]; LANES] = core::array::from_fn(|_| {
            let a = splitmix64(&mut st);
            let b = splitmix64(&mut st);
            let mut w = [a as u32, (a >> 32) as u32, b as u32, (b >> 32) as u32];
            if w == [0; 4] {
                w[0] = 1;
            }
            w
        });
        NoiseRng { s: core::array::from_fn(|k| core::array::from_fn(|l| lanes[l][k])) }
    }

    /// One 32-bit output per lane.
    #[inline(always)]
    fn next_u32(&mut self, out: &mut [u32; LANES]) {
        let [s0, s1, s2, s3] = &mut self.s;
        for l in 0..LANES {
            out[l] = s0[l].wrapping_add(s3[l]).rotate_left(7).wrapping_add(s0[l]);
            let t = s1[l] << 9;
            s2[l] ^= s0[l];
            s3[l] ^= s1[l];
            s1[l] ^= s2[l];
            s0[l] ^= s3[l];
            s2[l] ^= t;
            s3[l] = s3[l].rotate_left(11);
        }
    }

    /// `NORMALS` standard normal deviates (Box–Muller, see [`box_muller`]), two 32-bit numbers per pair.
    #[inline(always)]
    fn normals(&mut self, out: &mut [f32; NORMALS]) {
        let mut a = [0u32; LANES];
        let mut b = [0u32; LANES];
        self.next_u32(&mut a);
        self.next_u32(&mut b);
        let (lo, hi) = out.split_at_mut(LANES);
        for l in 0..LANES {
            let (z1, z2) = box_muller(a[l], b[l]);
            lo[l] = z1;
            hi[l] = z2;
        }
    }
}

/// Natural logarithm of a positive, finite, normal `x` (relative error ≈ 1e-7), branch-free: `x = m·2^e` with
/// `m ∈ [√½, √2)` (found by offsetting the bits so that the mantissa range starts at √½: no compare, no select),
/// `ln m = 2·atanh(t)`, `t = (m−1)/(m+1)`, `|t| ≤ 0.172`, by its odd series to `t⁹`.
#[inline(always)]
fn ln_fast(x: f32) -> f32 {
    const SQRT_HALF_BITS: u32 = 0x3F35_04F3; // √½
    let u = x.to_bits().wrapping_add(0x3F80_0000 - SQRT_HALF_BITS);
    let e = ((u >> 23) as i32 - 127) as f32;
    let m = f32::from_bits((u & 0x007F_FFFF) + SQRT_HALF_BITS);
    let t = (m - 1.0) / (m + 1.0);
    let t2 = t * t;
    let p = 1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0 + t2 * (1.0 / 9.0))));
    e * core::f32::consts::LN_2 + 2.0 * t * p
}

/// Correctly rounded square root (IEEE 754), so both builds give the same bits: through `std` it is the LLVM
/// intrinsic, which vectorises; `libm`'s version (an SSE/NEON scalar instruction behind an opaque call on those
/// targets) would keep the noise loop scalar.
#[inline(always)]
fn sqrt(x: f32) -> f32 {
    #[cfg(feature = "std")]
    {
        x.sqrt()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::sqrtf(x)
    }
}

/// A pair of independent standard normal deviates from two uniform 32-bit numbers (Box & Muller 1958), branch-free:
/// radius `√(−2 ln u₁)` with `u₁ = (⌊a/2⁸⌋ + 1)/2²⁴ ∈ (0, 1]` (so |z| ≤ 5.77: the distribution is cut at 5.77 σ, a
/// tail of 8e-9), angle uniform on the circle from `b`: 24 bits give `θ ∈ [−π/4, π/4)` (sine and cosine by the
/// Cephes minimax polynomials, error ≈ 1e-7), bit 0 swaps the two coordinates and bit 1 negates both, which carries
/// the quarter arc onto the whole circle.
#[inline(always)]
fn box_muller(a: u32, b: u32) -> (f32, f32) {
    const TWO_M24: f32 = 1.0 / 16_777_216.0;
    let u1 = (((a >> 8) + 1) as i32 as f32) * TWO_M24;
    let r2 = -2.0 * ln_fast(u1);
    let r = sqrt(if r2 > 0.0 { r2 } else { 0.0 });
    // Bit 1 of `b` into the sign of the radius (both coordinates negated).
    let r = f32::from_bits(r.to_bits() ^ ((b & 2) << 30));
    let th = ((b >> 8) as i32 as f32) * (core::f32::consts::FRAC_PI_2 * TWO_M24) - core::f32::consts::FRAC_PI_4;
    let z = th * th;
    let sin = th + th * z * (-1.666_665_5e-1 + z * (8.332_161e-3 + z * -1.951_529_6e-4));
    let cos = 1.0 - 0.5 * z + z * z * (4.166_664_6e-2 + z * (-1.388_731_6e-3 + z * 2.443_315_7e-5));
    // Bit 0 swaps the coordinates (an exchange through XOR under an all-ones or all-zeros mask).
    let (cb, sb) = (cos.to_bits(), sin.to_bits());
    let diff = (cb ^ sb) & 0u32.wrapping_sub(b & 1);
    (r * f32::from_bits(cb ^ diff), r * f32::from_bits(sb ^ diff))
}

// ---- Scratch layout ----

fn words(n: usize) -> usize {
    n.div_ceil(32)
}

/// Offsets (in floats) of every region of the scratch buffer.
#[derive(Clone, Copy, Debug)]
struct Layout {
    ne: usize,
    np: usize,
    ns: usize,
    g: usize,
    we: usize,
    wp: usize,
    ws: usize,
    pyr: usize,
    pv: usize,
    som: usize,
    grp: usize,
    spikes: usize,
    conn: usize,
    total: usize,
}

/// Per-group float arrays, each `G` long (the last four are `3·G`: PYR, PV, SOM blocks).
const GRP_IF: usize = 0;
const GRP_DS: usize = 1;
const GRP_DFE: usize = 2;
const GRP_DFP: usize = 3;
const GRP_S: usize = 4;
const GRP_SB: usize = 5;
const GRP_SMALL: usize = 6;
const GRP_CNT: usize = 0; // blocks of 3G after the small arrays
const GRP_LAST: usize = 1;
const GRP_MEAN: usize = 2;
const GRP_M2: usize = 3;
const GRP_BIG: usize = 4;

impl Layout {
    fn new(cfg: &CortexConfig) -> Self {
        let ne = cfg.n_pyr as usize;
        let np = cfg.n_pv as usize;
        let ns = cfg.n_som as usize;
        let g = cfg.groups as usize;
        let (we, wp, ws) = (words(ne), words(np), words(ns));
        let pyr = 0;
        let pv = pyr + SE * ne;
        let som = pv + SP * np;
        let grp = som + SS * ns;
        let spikes = grp + (GRP_SMALL + 3 * GRP_BIG) * g;
        let conn = spikes + ne + np + ns;
        let total = conn + ne * (we + wp + ws) + (np + ns) * (we + wp);
        Layout { ne, np, ns, g, we, wp, ws, pyr, pv, som, grp, spikes, conn, total }
    }
    fn row_e(&self) -> usize {
        self.we + self.wp + self.ws
    }
    fn row_i(&self) -> usize {
        self.we + self.wp
    }
}

/// Mutable views of the scratch regions.
struct Parts<'a> {
    pyr: &'a mut [f32],
    pv: &'a mut [f32],
    som: &'a mut [f32],
    grp: &'a mut [f32],
    spikes: &'a mut [u32],
    conn: &'a [u32],
}

fn split<'a>(lay: &Layout, scratch: &'a mut [f32]) -> Parts<'a> {
    let scratch = &mut scratch[..lay.total];
    let (pyr, rest) = scratch.split_at_mut(lay.pv - lay.pyr);
    let (pv, rest) = rest.split_at_mut(lay.som - lay.pv);
    let (som, rest) = rest.split_at_mut(lay.grp - lay.som);
    let (grp, rest) = rest.split_at_mut(lay.spikes - lay.grp);
    let (spikes, conn) = rest.split_at_mut(lay.conn - lay.spikes);
    Parts { pyr, pv, som, grp, spikes: bytemuck::cast_slice_mut(spikes), conn: bytemuck::cast_slice(conn) }
}

/// Step-size dependent factors, computed once.
#[derive(Clone, Copy, Debug)]
struct Steps {
    dt: f32,
    ref_steps: f32,
    ke: f32,
    kp: f32,
    ks: f32,
    kw: f32,
    noise_e: f32,
    noise_p: f32,
    noise_s: f32,
    dec_ee: f32,
    dec_ep: f32,
    dec_es: f32,
    dec_pe: f32,
    dec_pp: f32,
    dec_ps: f32,
    dec_se: f32,
    inc_ee: f32,
    inc_pe: f32,
    inc_se: f32,
    inc_ep: f32,
    inc_pp: f32,
    inc_es: f32,
    inc_ps: f32,
}

impl Steps {
    fn new(cfg: &CortexConfig) -> Self {
        let dt = cfg.dt_us as f32 * 1e-3;
        let dec = |tau: f32| 1.0 - dt / tau;
        let ne = cfg.n_pyr as f32;
        let np = cfg.n_pv as f32;
        let ns = cfg.n_som as f32;
        Steps {
            dt,
            ref_steps: libm::roundf(T_REF / dt).max(1.0),
            ke: dt / C_E,
            kp: dt / C_P,
            ks: dt / C_S,
            kw: dt / TAU_W,
            // σ ξ √(1 nS · C) on the C dv/dt side: per step σ √(dt · 1 nS / C) N(0, 1); 1 nS / 1 pF = 1 / ms.
            noise_e: SIGMA * libm::sqrtf(dt / C_E),
            noise_p: SIGMA * libm::sqrtf(dt / C_P),
            noise_s: SIGMA * libm::sqrtf(dt / C_S),
            dec_ee: dec(TAU_EE),
            dec_ep: dec(TAU_EP),
            dec_es: dec(TAU_ES),
            dec_pe: dec(TAU_PE),
            dec_pp: dec(TAU_PP),
            dec_ps: dec(TAU_PS),
            dec_se: dec(TAU_SE),
            inc_ee: GMAX_EE / ne,
            inc_pe: GMAX_PE / ne,
            inc_se: GMAX_SE / ne,
            inc_ep: GMAX_EP / np,
            inc_pp: GMAX_PP / np,
            inc_es: GMAX_ES / ns,
            inc_ps: GMAX_PS / ns,
        }
    }
}

/// First cell of group `g` of a population of `n` split into `groups` blocks.
#[inline]
fn group_start(g: usize, n: usize, groups: usize) -> usize {
    g * n / groups
}

/// `e^x` for `x` in [−87, 87] (relative error below 1e-6, a few ulp): `2^n · e^y` with `n = round(x·log2 e)`,
/// `|y| ≤ ln2/2`, `e^y` by its degree-6 Taylor polynomial. About a fifth of the cost of `libm::expf`, which was a
/// third of the whole network step; the AdEx term is the only user.
#[inline(always)]
fn exp_fast(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5·2^23: adding it rounds to an integer held in the low mantissa bits
    let t = x * core::f32::consts::LOG2_E;
    let r = t + ROUND;
    let n = r.to_bits() as i32 - ROUND.to_bits() as i32;
    // y = x − n·ln2 with ln2 split in a short high part (n·LN2_HI is exact) and a correction (Cody & Waite).
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let nf = r - ROUND;
    let y = (x - nf * LN2_HI) - nf * LN2_LO;
    let p = 1.0 + y * (1.0 + y * (0.5 + y * (1.0 / 6.0 + y * (1.0 / 24.0 + y * (1.0 / 120.0 + y * (1.0 / 720.0))))));
    p * f32::from_bits(((n + 127) as u32) << 23)
}

/// `g_L Δ_T exp((v − v_T)/Δ_T)`, skipped far below threshold and capped far above it.
#[inline(always)]
fn exp_term(v: f32, gl: f32, vt: f32, delta: f32, inv_delta: f32) -> f32 {
    let arg = (v - vt) * inv_delta;
    // Branch-free (the update loops vectorise): the exponential is evaluated for every cell, at an argument clamped
    // to [EXP_SKIP, EXP_CAP] (a NaN argument becomes EXP_SKIP), and dropped where `arg` is not above EXP_SKIP.
    let clamped = above(arg, EXP_SKIP);
    let clamped = if clamped < EXP_CAP { clamped } else { EXP_CAP };
    let term = gl * delta * exp_fast(clamped);
    if arg > EXP_SKIP {
        term
    } else {
        0.0
    }
}

/// The spiking population model over a caller-provided scratch buffer.
pub struct Cortex<'s> {
    cfg: CortexConfig,
    drive: DriveConfig,
    lay: Layout,
    st: Steps,
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
    /// Floats of scratch this configuration needs.
    pub fn scratch_len(cfg: &CortexConfig, _audio: &AudioConfig) -> usize {
        Layout::new(cfg).total
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
        cfg.validate()?;
        audio.validate()?;
        let needed = Self::scratch_len(cfg, audio);
        if scratch.len() < needed {
            return Err(Error::ScratchTooSmall { needed, got: scratch.len() });
        }
        let lay = Layout::new(cfg);
        let mut noise_seed = cfg.seed ^ 0x6E6F_6973_6553_6565; // "noiseSee"
        let rng0 = NoiseRng::from_seed(splitmix64(&mut noise_seed));
        let mut c = Cortex {
            cfg: *cfg,
            drive: DriveConfig::default(),
            lay,
            st: Steps::new(cfg),
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
        c.draw_connectivity();
        c.reset();
        Ok(c)
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

    fn draw_connectivity(&mut self) {
        let lay = self.lay;
        let mut state = self.cfg.seed ^ 0x636F_6E6E_6563_7421; // "connect!"
        let conn: &mut [u32] = bytemuck::cast_slice_mut(&mut self.scratch[lay.conn..lay.total]);
        conn.fill(0);
        let thr_ee = (P_EE * 4_294_967_296.0) as u64;
        let thr = (P_OTHER * 4_294_967_296.0) as u64;
        // One row per presynaptic cell: PYR rows [PYR | PV | SOM], PV and SOM rows [PYR | PV].
        let mut fill = |row: &mut [u32], n_post: usize, thr: u64, skip: Option<usize>| {
            let mut bits = 0u64;
            let mut left = 0u32;
            for post in 0..n_post {
                if left == 0 {
                    bits = splitmix64(&mut state);
                    left = 2;
                }
                let u = bits & 0xFFFF_FFFF;
                bits >>= 32;
                left -= 1;
                if u < thr && Some(post) != skip {
                    row[post / 32] |= 1 << (post % 32);
                }
            }
        };
        let (re, ri) = (lay.row_e(), lay.row_i());
        let (e_rows, i_rows) = conn.split_at_mut(lay.ne * re);
        for (j, row) in e_rows.chunks_exact_mut(re).enumerate() {
            let (to_e, rest) = row.split_at_mut(lay.we);
            let (to_p, to_s) = rest.split_at_mut(lay.wp);
            fill(to_e, lay.ne, thr_ee, Some(j));
            fill(to_p, lay.np, thr, None);
            fill(to_s, lay.ns, thr, None);
        }
        let (p_rows, s_rows) = i_rows.split_at_mut(lay.np * ri);
        for (j, row) in p_rows.chunks_exact_mut(ri).enumerate() {
            let (to_e, to_p) = row.split_at_mut(lay.we);
            fill(to_e, lay.ne, thr, None);
            fill(to_p, lay.np, thr, Some(j));
        }
        for row in s_rows.chunks_exact_mut(ri) {
            let (to_e, to_p) = row.split_at_mut(lay.we);
            fill(to_e, lay.ne, thr, None);
            fill(to_p, lay.np, thr, None);
        }
    }

    /// Forget the current clip: network, drive and statistics back to their initial values, noise stream restarted
    /// (the connectivity is kept). Running the same input again then gives bit-identical results.
    pub fn reset(&mut self) {
        let lay = self.lay;
        let p = split(&lay, self.scratch);
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

    /// The frame's drive `s_g` (see the module docs) into `s`; NaN-safe.
    fn band_drive(&self, frame: &FrameFeatures, s: &mut [f32]) {
        let d = &self.drive;
        let mel = frame.mel_db;
        let m = mel.len();
        let groups = s.len();
        let onset = if frame.onset > 0.0 {
            (frame.onset / d.onset_ref).min(1.0)
        } else {
            0.0 // also NaN
        };
        let scale = 1.0 - d.onset_share + d.onset_share * onset;
        let span = d.ceil_db - d.floor_db;
        for (g, sg) in s.iter_mut().enumerate() {
            let (a, b) = (group_start(g, m, groups), group_start(g + 1, m, groups));
            let mut power = 0.0f32;
            for &db in &mel[a..b] {
                if db > -200.0 {
                    // 10^(dB/10), dB capped at +200 (NaN and −∞ fail the test above: silence).
                    power += libm::expf(db.min(200.0) * (core::f32::consts::LN_10 / 10.0));
                }
            }
            let x = if b > a && power > 0.0 {
                let level = 10.0 * libm::log10f(power / (b - a) as f32);
                ((level - d.floor_db) / span).clamp(0.0, 1.0)
            } else {
                0.0
            };
            // level is finite here (power ∈ (0, ∞]; +∞ clamps to 1), so x is in [0, 1].
            *sg = if x.is_nan() { 0.0 } else { x * scale };
        }
    }

    /// Advance the network by one analysis hop (hop/sample_rate seconds), driven by that frame's features.
    pub fn step_frame(&mut self, frame: &FrameFeatures) {
        let g = self.lay.g;
        let mut s_new = [0f32; MAX_GROUPS];
        self.band_drive(frame, &mut s_new[..g]);

        self.time_acc += self.frame_units;
        let steps = self.time_acc / self.step_units;
        self.time_acc %= self.step_units;
        self.frames = self.frames.wrapping_add(1);

        let Cortex { lay, st, scratch, rng, drive, stat_frames, kernel, .. } = self;
        let lay = *lay;
        let st = *st;
        let p = split(&lay, scratch);
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

        let mut net =
            Net { lay, st, pyr: p.pyr, pv: p.pv, som: p.som, spikes: p.spikes, conn: p.conn, rng, gain: drive.gain };
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

/// Borrowed network state for the inner loop.
struct Net<'a> {
    lay: Layout,
    st: Steps,
    pyr: &'a mut [f32],
    pv: &'a mut [f32],
    som: &'a mut [f32],
    spikes: &'a mut [u32],
    conn: &'a [u32],
    rng: &'a mut NoiseRng,
    gain: f32,
}

/// The `N` field arrays (each `n` long) of a population's state region.
#[inline(always)]
fn fields<const N: usize>(region: &mut [f32], n: usize) -> [&mut [f32]; N] {
    let mut rest = region;
    core::array::from_fn(|_| {
        let (a, b) = core::mem::take(&mut rest).split_at_mut(n);
        rest = b;
        a
    })
}

/// Add `inc` to `g[post]` for every cell `post` whose bit is set in `row`.
#[inline(always)]
fn scatter(row: &[u32], g: &mut [f32], inc: f32) {
    for (k, &word) in row.iter().enumerate() {
        let mut w = word;
        while w != 0 {
            let post = k * 32 + w.trailing_zeros() as usize;
            if let Some(x) = g.get_mut(post) {
                *x += inc;
            }
            w &= w - 1;
        }
    }
}

/// The same as [`scatter`] for dense rows (connection probability 0.6): every target gets `inc` or +0, so the loop
/// over a word's 32 bits has no branch and vectorises; the result is bit-identical to adding only where a bit is set
/// (conductances are never −0).
#[inline(always)]
fn scatter_dense(row: &[u32], g: &mut [f32], inc: f32) {
    let (blocks, tail) = g.as_chunks_mut::<32>();
    let full = blocks.len();
    for (gs, &word) in blocks.iter_mut().zip(row) {
        for (b, x) in gs.iter_mut().enumerate() {
            *x += on(word & (1 << b) != 0, inc);
        }
    }
    if let Some(word) = row.get(full..full + 1) {
        scatter(word, tail, inc);
    }
}

/// Fresh standard normal deviates for the first `len` cells of a chunk.
#[inline(always)]
fn fill_noise(rng: &mut NoiseRng, noise: &mut [f32; CHUNK], len: usize) {
    let (blocks, _) = noise.as_chunks_mut::<NORMALS>();
    for b in blocks.iter_mut().take(len.div_ceil(NORMALS)) {
        rng.normals(b);
    }
}

/// External current `base + drive[group]` of cells `[c, c + len)` of a population of `n` in `g` groups; `k` is the
/// group of cell `c` or an earlier one, and is left at the group of the chunk's last cell.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn fill_current(
    iext: &mut [f32; CHUNK],
    c: usize,
    len: usize,
    n: usize,
    g: usize,
    k: &mut usize,
    base: f32,
    drive: &[f32],
) {
    let mut pos = 0;
    while pos < len {
        let end = group_start(*k + 1, n, g) - c;
        if end <= pos {
            *k += 1;
            continue;
        }
        let end = end.min(len);
        iext[pos..end].fill(base + drive[*k]);
        pos = end;
    }
}

/// Record the cells of `[c, c + refr.len())` that spiked in this step (their refractory count was just set to
/// `ref_steps`, which no other cell can hold after the step) in `sp` and in the group counts `cnt`; `k` as in
/// [`fill_current`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn collect_spikes(
    refr: &[f32],
    ref_steps: f32,
    c: usize,
    n: usize,
    g: usize,
    k: &mut usize,
    sp: &mut [u32],
    n_sp: &mut usize,
    cnt: &mut [f32],
) {
    for (i, &r) in refr.iter().enumerate() {
        if r == ref_steps {
            let cell = c + i;
            while *k + 1 < g && cell >= group_start(*k + 1, n, g) {
                *k += 1;
            }
            cnt[*k] += 1.0;
            if let Some(s) = sp.get_mut(*n_sp) {
                *s = cell as u32;
                *n_sp += 1;
            }
        }
    }
}

/// `x` if `x > lo`, else `lo` (also for a NaN `x`).
#[inline(always)]
fn above(x: f32, lo: f32) -> f32 {
    if x > lo {
        x
    } else {
        lo
    }
}

/// Refractory count after a step without a spike: one less, not below zero.
#[inline(always)]
fn ref_tick(r: f32) -> f32 {
    above(r - 1.0, 0.0)
}

/// `x` where `flag` is set, else +0: a mask on the bits. The kernels add it (`w + on(spike, b)`) instead of
/// selecting, which is one instruction instead of three on SSE2 and keeps the loops within LLVM's cost model for
/// vectorisation. Exact: a spiking cell's refractory count is 0 before the addition, and adding +0 leaves every value
/// but −0 unchanged.
#[inline(always)]
fn on(flag: bool, x: f32) -> f32 {
    f32::from_bits(x.to_bits() & 0u32.wrapping_sub(flag as u32))
}

/// One Euler step of a chunk of PYR cells (all slices the same length); returns its number of spikes.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pyr_chunk(
    st: &Steps,
    v: &mut [f32],
    vd: &mut [f32],
    w: &mut [f32],
    refr: &mut [f32],
    gee: &mut [f32],
    gep: &mut [f32],
    ges: &mut [f32],
    z: &[f32],
    iext: &[f32],
) -> u32 {
    let len = v.len();
    let (vd, w, refr, gee, gep, ges) =
        (&mut vd[..len], &mut w[..len], &mut refr[..len], &mut gee[..len], &mut gep[..len], &mut ges[..len]);
    let (z, iext) = (&z[..len], &iext[..len]);
    let inv_sd_s = G_SD / 0.3;
    let inv_sd_d = G_SD / 0.7;
    let mut spikes = 0u32;
    for i in 0..len {
        let (v0, vd0, w0, r0, gee0, gep0, ges0) = (v[i], vd[i], w[i], refr[i], gee[i], gep[i], ges[i]);
        vd[i] = vd0 + st.ke * (-GL_E * (vd0 - E_L) - inv_sd_d * (vd0 - v0) - ges0 * (vd0 - V_I));
        let w1 = w0 + st.kw * (A_E * (v0 - E_L) - w0);
        gee[i] = gee0 * st.dec_ee;
        gep[i] = gep0 * st.dec_ep;
        ges[i] = ges0 * st.dec_es;
        // Refractory: soma frozen (computed anyway, then discarded).
        let active = r0 <= 0.0; // the count is never NaN
        let i_tot = -inv_sd_s * (v0 - vd0) - gee0 * (v0 - V_E) - gep0 * (v0 - V_I) - GL_E * (v0 - E_L) + iext[i];
        let dv = -w0 + i_tot + exp_term(v0, GL_E, VT_E, DT_E, 1.0 / DT_E);
        let vn = above(v0 + st.ke * dv + st.noise_e * z[i], V_FLOOR);
        let spike = active & (vn > V_SPIKE);
        v[i] = if spike {
            V_RESET
        } else if active {
            vn
        } else {
            v0
        };
        w[i] = w1 + on(spike, B_ADAPT);
        refr[i] = ref_tick(r0) + on(spike, st.ref_steps);
        spikes += spike as u32;
    }
    spikes
}

/// One Euler step of a chunk of PV cells; returns its number of spikes.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pv_chunk(
    st: &Steps,
    v: &mut [f32],
    w: &mut [f32],
    refr: &mut [f32],
    gpe: &mut [f32],
    gpp: &mut [f32],
    gps: &mut [f32],
    z: &[f32],
    iext: &[f32],
) -> u32 {
    let len = v.len();
    let (w, refr, gpe, gpp, gps) = (&mut w[..len], &mut refr[..len], &mut gpe[..len], &mut gpp[..len], &mut gps[..len]);
    let (z, iext) = (&z[..len], &iext[..len]);
    let mut spikes = 0u32;
    for i in 0..len {
        let (v0, w0, r0, gpe0, gpp0, gps0) = (v[i], w[i], refr[i], gpe[i], gpp[i], gps[i]);
        let w1 = w0 + st.kw * (-w0); // a = 0
        gpe[i] = gpe0 * st.dec_pe;
        gpp[i] = gpp0 * st.dec_pp;
        gps[i] = gps0 * st.dec_ps;
        let active = r0 <= 0.0; // the count is never NaN
        let dv = iext[i] - w0 - GL_P * (v0 - E_L) + exp_term(v0, GL_P, VT_P, DT_P, 1.0 / DT_P)
            - gpe0 * (v0 - V_E)
            - (gpp0 + gps0) * (v0 - V_I);
        let vn = above(v0 + st.kp * dv + st.noise_p * z[i], V_FLOOR);
        let spike = active & (vn > V_SPIKE);
        v[i] = if spike {
            V_RESET
        } else if active {
            vn
        } else {
            v0
        };
        w[i] = w1 + on(spike, B_ADAPT);
        refr[i] = ref_tick(r0) + on(spike, st.ref_steps);
        spikes += spike as u32;
    }
    spikes
}

/// One Euler step of a chunk of SOM cells (no thalamic input); returns its number of spikes.
#[inline(always)]
fn som_chunk(st: &Steps, v: &mut [f32], w: &mut [f32], refr: &mut [f32], gse: &mut [f32], z: &[f32]) -> u32 {
    let len = v.len();
    let (w, refr, gse, z) = (&mut w[..len], &mut refr[..len], &mut gse[..len], &z[..len]);
    let mut spikes = 0u32;
    for i in 0..len {
        let (v0, w0, r0, gse0) = (v[i], w[i], refr[i], gse[i]);
        let w1 = w0 + st.kw * (A_S * (v0 - E_L) - w0);
        gse[i] = gse0 * st.dec_se;
        let active = r0 <= 0.0; // the count is never NaN
        let dv = exp_term(v0, GL_S, VT_S, DT_S, 1.0 / DT_S) + I_S - w0 - GL_S * (v0 - E_L) - gse0 * (v0 - V_E);
        let vn = above(v0 + st.ks * dv + st.noise_s * z[i], V_FLOOR);
        let spike = active & (vn > V_SPIKE);
        v[i] = if spike {
            V_RESET
        } else if active {
            vn
        } else {
            v0
        };
        w[i] = w1 + on(spike, B_ADAPT);
        refr[i] = ref_tick(r0) + on(spike, st.ref_steps);
        spikes += spike as u32;
    }
    spikes
}

/// Which compilation of the network update runs. Every variant is the same Rust code, compiled for a wider vector
/// instruction set where the CPU has one (the update loops are written for LLVM's auto-vectoriser); they use the same
/// IEEE operations in the same order (no fused multiply-add, no reassociation), so they give bit-identical results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kernel {
    /// The target's baseline (SSE2 on x86-64, NEON on aarch64, scalar on Cortex-M).
    Portable,
    /// x86-64 with AVX2 (8 lanes).
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// x86-64 with AVX-512F (16 lanes).
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Kernel {
    /// The widest variant this CPU runs: detected at run time with `std`, fixed at compile time without.
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if crate::core::cpu::has_avx512() {
                return Kernel::Avx512;
            }
            #[cfg(feature = "std")]
            let avx2 = std::is_x86_feature_detected!("avx2");
            #[cfg(not(feature = "std"))]
            let avx2 = cfg!(target_feature = "avx2");
            if avx2 {
                return Kernel::Avx2;
            }
        }
        Kernel::Portable
    }
}

/// `steps` Euler steps of the network with the chosen compilation of the update.
fn run_steps(kernel: Kernel, net: &mut Net, small: &mut [f32], cnt: &mut [f32], steps: u64) {
    match kernel {
        Kernel::Portable => net.run(small, cnt, steps),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Kernel::detect` picked this variant only where the CPU has AVX2.
        Kernel::Avx2 => unsafe { run_avx2(net, small, cnt, steps) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Kernel::detect` picked this variant only where the CPU has AVX-512F.
        Kernel::Avx512 => unsafe { run_avx512(net, small, cnt, steps) },
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_avx2(net: &mut Net, small: &mut [f32], cnt: &mut [f32], steps: u64) {
    net.run(small, cnt, steps)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn run_avx512(net: &mut Net, small: &mut [f32], cnt: &mut [f32], steps: u64) {
    net.run(small, cnt, steps)
}

impl Net<'_> {
    /// `steps` Euler steps (inlined into each compilation of [`run_steps`]).
    #[inline(always)]
    fn run(&mut self, small: &mut [f32], cnt: &mut [f32], steps: u64) {
        for _ in 0..steps {
            self.step(small, cnt);
        }
    }

    /// One Euler step of the whole network; adds this step's spikes to `cnt` (PYR, PV, SOM blocks of G).
    #[inline(always)]
    fn step(&mut self, small: &mut [f32], cnt: &mut [f32]) {
        let lay = self.lay;
        let st = self.st;
        let g = lay.g;
        let dt = st.dt;

        // Thalamic drive per group (pA), from the state at the start of the step.
        let mut drive_e = [0f32; MAX_GROUPS];
        let mut drive_p = [0f32; MAX_GROUPS];
        for k in 0..g {
            let i_f = small[GRP_IF * g + k];
            let d_s = small[GRP_DS * g + k];
            let d_fe = small[GRP_DFE * g + k];
            let d_fp = small[GRP_DFP * g + k];
            let s = small[GRP_S * g + k];
            let s_b = small[GRP_SB * g + k];
            let amp = self.gain * Q * NANOAMP * i_f * d_s;
            drive_e[k] = amp * d_fe;
            drive_p[k] = amp * d_fp;
            small[GRP_IF * g + k] = i_f + dt * (s - i_f) / TAU_IF;
            small[GRP_DS * g + k] = d_s + dt * ((1.0 - d_s) / TAU_DS1 - d_s * s / TAU_DS2);
            small[GRP_DFE * g + k] = d_fe + dt * (1.0 - d_fe - s_b) / TAU_DF;
            small[GRP_DFP * g + k] = d_fp + dt * (1.0 - d_fp - s) / TAU_DF;
        }

        let (sp_e, rest) = self.spikes.split_at_mut(lay.ne);
        let (sp_p, sp_s) = rest.split_at_mut(lay.np);
        let (cnt_e, rest) = cnt.split_at_mut(g);
        let (cnt_p, cnt_s) = rest.split_at_mut(g);
        let rng = &mut *self.rng;
        let mut noise = [0f32; CHUNK];
        let mut iext = [0f32; CHUNK];

        // Each population in chunks: noise and current for the chunk, the branch-free update, then (rarely) a scan
        // for the chunk's spikes.
        let [v, vd, w, refr, gee, gep, ges] = fields::<SE>(self.pyr, lay.ne);
        let (mut n_e, mut k_cur, mut k_spk) = (0usize, 0usize, 0usize);
        for c in (0..lay.ne).step_by(CHUNK) {
            let r = c..(c + CHUNK).min(lay.ne);
            let len = r.len();
            fill_noise(rng, &mut noise, len);
            fill_current(&mut iext, c, len, lay.ne, g, &mut k_cur, I_E, &drive_e[..g]);
            let n = pyr_chunk(
                &st,
                &mut v[r.clone()],
                &mut vd[r.clone()],
                &mut w[r.clone()],
                &mut refr[r.clone()],
                &mut gee[r.clone()],
                &mut gep[r.clone()],
                &mut ges[r.clone()],
                &noise[..len],
                &iext[..len],
            );
            if n > 0 {
                collect_spikes(&refr[r], st.ref_steps, c, lay.ne, g, &mut k_spk, sp_e, &mut n_e, cnt_e);
            }
        }

        let [v, w, refr, gpe, gpp, gps] = fields::<SP>(self.pv, lay.np);
        let (mut n_p, mut k_cur, mut k_spk) = (0usize, 0usize, 0usize);
        for c in (0..lay.np).step_by(CHUNK) {
            let r = c..(c + CHUNK).min(lay.np);
            let len = r.len();
            fill_noise(rng, &mut noise, len);
            fill_current(&mut iext, c, len, lay.np, g, &mut k_cur, I_P, &drive_p[..g]);
            let n = pv_chunk(
                &st,
                &mut v[r.clone()],
                &mut w[r.clone()],
                &mut refr[r.clone()],
                &mut gpe[r.clone()],
                &mut gpp[r.clone()],
                &mut gps[r.clone()],
                &noise[..len],
                &iext[..len],
            );
            if n > 0 {
                collect_spikes(&refr[r], st.ref_steps, c, lay.np, g, &mut k_spk, sp_p, &mut n_p, cnt_p);
            }
        }

        let [v, w, refr, gse] = fields::<SS>(self.som, lay.ns);
        let (mut n_s, mut k_spk) = (0usize, 0usize);
        for c in (0..lay.ns).step_by(CHUNK) {
            let r = c..(c + CHUNK).min(lay.ns);
            let len = r.len();
            fill_noise(rng, &mut noise, len);
            let n = som_chunk(
                &st,
                &mut v[r.clone()],
                &mut w[r.clone()],
                &mut refr[r.clone()],
                &mut gse[r.clone()],
                &noise[..len],
            );
            if n > 0 {
                collect_spikes(&refr[r], st.ref_steps, c, lay.ns, g, &mut k_spk, sp_s, &mut n_s, cnt_s);
            }
        }

        // Synaptic transmission: conductance jumps g_max/N_pre, effective from the next step. PYR→PYR rows are
        // sparse (p = 0.1): visit the set bits; all other rows are dense (p = 0.6): add to every target, masked.
        let [_, _, _, _, gee, gep, ges] = fields::<SE>(self.pyr, lay.ne);
        let [_, _, _, gpe, gpp, gps] = fields::<SP>(self.pv, lay.np);
        let [_, _, _, gse] = fields::<SS>(self.som, lay.ns);
        let (re, ri) = (lay.row_e(), lay.row_i());
        let e_base = 0;
        let p_base = lay.ne * re;
        let s_base = p_base + lay.np * ri;
        for &j in &sp_e[..n_e] {
            let o = e_base + j as usize * re;
            let row = &self.conn[o..o + re];
            let (to_e, rest) = row.split_at(lay.we);
            let (to_p, to_s) = rest.split_at(lay.wp);
            scatter(to_e, gee, st.inc_ee);
            scatter_dense(to_p, gpe, st.inc_pe);
            scatter_dense(to_s, gse, st.inc_se);
        }
        for &j in &sp_p[..n_p] {
            let o = p_base + j as usize * ri;
            let (to_e, to_p) = self.conn[o..o + ri].split_at(lay.we);
            scatter_dense(to_e, gep, st.inc_ep);
            scatter_dense(to_p, gpp, st.inc_pp);
        }
        for &j in &sp_s[..n_s] {
            let o = s_base + j as usize * ri;
            let (to_e, to_p) = self.conn[o..o + ri].split_at(lay.we);
            scatter_dense(to_e, ges, st.inc_es);
            scatter_dense(to_p, gps, st.inc_ps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_fast_matches_libm() {
        let mut x = EXP_SKIP;
        while x <= EXP_CAP {
            let (a, b) = (exp_fast(x), libm::expf(x));
            assert!(((a - b) / b).abs() < 1e-6, "exp({x}) = {a}, libm {b}");
            x += 0.0137;
        }
    }

    #[test]
    fn ln_fast_matches_libm() {
        let mut x = 1.0 / 16_777_216.0f32;
        while x <= 1.0 {
            let (a, b) = (ln_fast(x), libm::logf(x));
            assert!((a - b).abs() <= 2e-7 * b.abs().max(1e-3), "ln({x}) = {a}, libm {b}");
            x *= 1.000_37;
        }
        assert_eq!(ln_fast(1.0), 0.0);
    }

    #[test]
    fn noise_is_standard_normal() {
        let mut rng = NoiseRng::from_seed(7);
        let mut buf = [0f32; NORMALS];
        let n = 400_000 / NORMALS * NORMALS;
        let (mut s1, mut s2, mut s3, mut s4, mut beyond2, mut beyond_r) = (0f64, 0f64, 0f64, 0f64, 0u32, 0u32);
        // Correlation of consecutive deviates (same lane pair and neighbouring lanes).
        let (mut lag, mut prev) = (0f64, 0f64);
        // Histogram of the deviates against the normal probabilities of 0.25-wide bins on [-4, 4].
        let mut hist = [0u32; 32];
        for _ in 0..n / NORMALS {
            rng.normals(&mut buf);
            for &x in &buf {
                let x = x as f64;
                assert!(x.is_finite() && x.abs() < 5.8);
                s1 += x;
                s2 += x * x;
                s3 += x * x * x;
                s4 += x * x * x * x;
                lag += x * prev;
                prev = x;
                if x.abs() > 2.0 {
                    beyond2 += 1;
                }
                if x.abs() > 3.442_619_855_899 {
                    beyond_r += 1;
                }
                let bin = ((x + 4.0) * 4.0).floor();
                if (0.0..32.0).contains(&bin) {
                    hist[bin as usize] += 1;
                }
            }
        }
        let nf = n as f64;
        let mean = s1 / nf;
        let var = s2 / nf - mean * mean;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "var {var}");
        assert!((s3 / nf).abs() < 0.03, "3rd moment {}", s3 / nf);
        assert!((s4 / nf - 3.0).abs() < 0.1, "4th moment {}", s4 / nf);
        assert!((lag / nf).abs() < 0.01, "lag-1 correlation {}", lag / nf);
        let p2 = beyond2 as f64 / nf;
        assert!((p2 - 0.0455).abs() < 0.002, "P(|x|>2) = {p2}");
        // P(|x| > 3.4426) ≈ 5.76e-4.
        let pr = beyond_r as f64 / nf;
        assert!((pr - 5.76e-4).abs() < 1.5e-4, "P(|x|>r) = {pr}");
        // Chi-square over the 32 bins (31 degrees of freedom: the 0.1 % point is ≈ 61).
        let cdf = |x: f64| 0.5 * libm::erfc(-x / core::f64::consts::SQRT_2);
        let mut chi2 = 0.0;
        for (i, &h) in hist.iter().enumerate() {
            let lo = -4.0 + 0.25 * i as f64;
            let expect = nf * (cdf(lo + 0.25) - cdf(lo));
            chi2 += (h as f64 - expect) * (h as f64 - expect) / expect;
        }
        assert!(chi2 < 61.0, "chi-square {chi2}");
    }

    /// Every compilation of the update this CPU can run gives the same bits as the portable one.
    #[test]
    fn kernels_agree_bit_for_bit() {
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
                let mut buf = vec![0f32; Cortex::scratch_len(&cfg, &audio)];
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
        let mut buf = vec![0f32; Cortex::scratch_len(&cfg, &audio)];
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
