//! Where the cortex state lives in its scratch region, and the step-size dependent factors: plain `repr(C)`
//! structs, so the CUDA kernel receives exactly the values and offsets the CPU uses ([`KernelParams`]).

use super::constants::*;
use super::drive::DriveConfig;
use crate::core::config::CortexConfig;
use crate::core::rng::splitmix64;

// Per-cell state, structure of arrays: each population's region holds these fields one after another, each an array
// of that population's size (so every field is a contiguous f32 slice and the update loops vectorise).
pub(super) const SE: usize = 7; // PYR: v, vd, w, ref, g_ee, g_ep, g_es
pub(super) const SP: usize = 6; // PV: v, w, ref, g_pe, g_pp, g_ps
pub(super) const SS: usize = 4; // SOM: v, w, ref, g_se

/// 32-bit words of a bitset over `n` cells.
fn words(n: usize) -> usize {
    n.div_ceil(32)
}

/// Sizes and offsets (in floats) of every region of the cortex state. The GPU runtime derives its kernel parameter
/// from this struct, so both sides use one layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StateLayout {
    pub(crate) ne: usize,
    pub(crate) np: usize,
    pub(crate) ns: usize,
    pub(crate) g: usize,
    pub(crate) we: usize,
    pub(crate) wp: usize,
    pub(crate) ws: usize,
    pub(crate) pyr: usize,
    pub(crate) pv: usize,
    pub(crate) som: usize,
    pub(crate) grp: usize,
    pub(crate) spikes: usize,
    pub(crate) conn: usize,
    pub(crate) total: usize,
}

// Field order within each population's region (`fields::<SE>` etc. in step.rs destructure in this order; the
// reset in mod.rs relies on field 0 being v and PYR's field 1 being v_D).
const PYR_V: usize = 0;
const PYR_VD: usize = 1;
const PYR_W: usize = 2;
const PYR_REF: usize = 3;
const PYR_GEE: usize = 4;
const PYR_GEP: usize = 5;
const PYR_GES: usize = 6;
const PV_V: usize = 0;
const PV_W: usize = 1;
const PV_REF: usize = 2;
const PV_GPE: usize = 3;
const PV_GPP: usize = 4;
const PV_GPS: usize = 5;
const SOM_V: usize = 0;
const SOM_W: usize = 1;
const SOM_REF: usize = 2;
const SOM_GSE: usize = 3;

/// Per-group float arrays, each `G` long (the last four are `3·G`: PYR, PV, SOM blocks).
pub(super) const GRP_IF: usize = 0;
pub(super) const GRP_DS: usize = 1;
pub(super) const GRP_DFE: usize = 2;
pub(super) const GRP_DFP: usize = 3;
pub(super) const GRP_S: usize = 4;
pub(super) const GRP_SB: usize = 5;
pub(super) const GRP_SMALL: usize = 6;
pub(super) const GRP_CNT: usize = 0; // blocks of 3G after the small arrays
pub(super) const GRP_LAST: usize = 1;
pub(super) const GRP_MEAN: usize = 2;
pub(super) const GRP_M2: usize = 3;
pub(super) const GRP_BIG: usize = 4;

impl StateLayout {
    /// The layout of `cfg`.
    pub(crate) fn new(cfg: &CortexConfig) -> Self {
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
        StateLayout { ne, np, ns, g, we, wp, ws, pyr, pv, som, grp, spikes, conn, total }
    }
    /// Words per PYR connectivity row (to PYR, PV and SOM).
    pub(crate) fn row_e(&self) -> usize {
        self.we + self.wp + self.ws
    }
    /// Words per PV or SOM connectivity row (to PYR and PV).
    pub(crate) fn row_i(&self) -> usize {
        self.we + self.wp
    }
}

/// Mutable views of the scratch regions.
pub(super) struct StateRegions<'a> {
    pub(super) pyr: &'a mut [f32],
    pub(super) pv: &'a mut [f32],
    pub(super) som: &'a mut [f32],
    pub(super) grp: &'a mut [f32],
    pub(super) spikes: &'a mut [u32],
    pub(super) conn: &'a [u32],
}

pub(super) fn regions<'a>(lay: &StateLayout, scratch: &'a mut [f32]) -> StateRegions<'a> {
    let scratch = &mut scratch[..lay.total];
    let (pyr, rest) = scratch.split_at_mut(lay.pv - lay.pyr);
    let (pv, rest) = rest.split_at_mut(lay.som - lay.pv);
    let (som, rest) = rest.split_at_mut(lay.grp - lay.som);
    let (grp, rest) = rest.split_at_mut(lay.spikes - lay.grp);
    let (spikes, conn) = rest.split_at_mut(lay.conn - lay.spikes);
    StateRegions { pyr, pv, som, grp, spikes: bytemuck::cast_slice_mut(spikes), conn: bytemuck::cast_slice(conn) }
}

/// Step-size dependent factors, computed once. `repr(C)`: the GPU runtime passes the same values to its kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct StepFactors {
    pub(crate) dt: f32,
    pub(crate) ref_steps: f32,
    pub(crate) ke: f32,
    pub(crate) kp: f32,
    pub(crate) ks: f32,
    pub(crate) kw: f32,
    pub(crate) noise_e: f32,
    pub(crate) noise_p: f32,
    pub(crate) noise_s: f32,
    pub(crate) dec_ee: f32,
    pub(crate) dec_ep: f32,
    pub(crate) dec_es: f32,
    pub(crate) dec_pe: f32,
    pub(crate) dec_pp: f32,
    pub(crate) dec_ps: f32,
    pub(crate) dec_se: f32,
    pub(crate) inc_ee: f32,
    pub(crate) inc_pe: f32,
    pub(crate) inc_se: f32,
    pub(crate) inc_ep: f32,
    pub(crate) inc_pp: f32,
    pub(crate) inc_es: f32,
    pub(crate) inc_ps: f32,
}

impl StepFactors {
    /// The factors of `cfg`.
    pub(crate) fn new(cfg: &CortexConfig) -> Self {
        let dt = cfg.dt_us as f32 * 1e-3;
        let dec = |tau: f32| 1.0 - dt / tau;
        let ne = cfg.n_pyr as f32;
        let np = cfg.n_pv as f32;
        let ns = cfg.n_som as f32;
        StepFactors {
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

/// The cortex kernel's parameter block (`CxParams` in `kernels/cortex.cu`, passed by value): the state layout of
/// [`StateLayout`] as offsets in floats, the [`StepFactors`], the drive gain of [`DriveConfig`] and the constants of
/// spec §3.2 from `constants.rs`. Built here from the CPU core's own values, so the GPU re-types none of them; the
/// field order is the C struct's (all 4-byte fields, no padding).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[cfg_attr(not(any(feature = "cuda", feature = "cuda-emulator")), allow(dead_code))]
pub(crate) struct KernelParams {
    // Sizes.
    pub(crate) ne: i32,
    pub(crate) np: i32,
    pub(crate) ns: i32,
    pub(crate) g: i32,
    pub(crate) we: i32,
    pub(crate) wp: i32,
    pub(crate) ws: i32,
    // Per-cell fields (offsets of arrays of `ne`, `np`, `ns` floats).
    pub(crate) pyr_v: i32,
    pub(crate) pyr_vd: i32,
    pub(crate) pyr_w: i32,
    pub(crate) pyr_ref: i32,
    pub(crate) pyr_gee: i32,
    pub(crate) pyr_gep: i32,
    pub(crate) pyr_ges: i32,
    pub(crate) pv_v: i32,
    pub(crate) pv_w: i32,
    pub(crate) pv_ref: i32,
    pub(crate) pv_gpe: i32,
    pub(crate) pv_gpp: i32,
    pub(crate) pv_gps: i32,
    pub(crate) som_v: i32,
    pub(crate) som_w: i32,
    pub(crate) som_ref: i32,
    pub(crate) som_gse: i32,
    // Per-group arrays (`g` floats; the last four `3·g`: PYR, PV, SOM blocks).
    pub(crate) grp_if: i32,
    pub(crate) grp_ds: i32,
    pub(crate) grp_dfe: i32,
    pub(crate) grp_dfp: i32,
    pub(crate) grp_s: i32,
    pub(crate) grp_sb: i32,
    pub(crate) grp_cnt: i32,
    pub(crate) grp_last: i32,
    pub(crate) grp_mean: i32,
    pub(crate) grp_m2: i32,
    // Connectivity bitsets: offset of the PYR rows (floats = words), then words from there to the PV and SOM rows,
    // and the words per PYR row and per PV/SOM row.
    pub(crate) conn: i32,
    pub(crate) conn_pv: i32,
    pub(crate) conn_som: i32,
    pub(crate) row_e: i32,
    pub(crate) row_i: i32,
    // Step factors and the drive gain.
    pub(crate) steps: StepFactors,
    pub(crate) gain: f32,
    // Constants (spec §3.2).
    pub(crate) e_l: f32,
    pub(crate) v_e: f32,
    pub(crate) v_i: f32,
    pub(crate) b_adapt: f32,
    pub(crate) g_sd: f32,
    pub(crate) tau_df: f32,
    pub(crate) tau_ds1: f32,
    pub(crate) tau_ds2: f32,
    pub(crate) tau_if: f32,
    pub(crate) q: f32,
    pub(crate) nanoamp: f32,
    pub(crate) v_spike: f32,
    pub(crate) v_reset: f32,
    pub(crate) v_floor: f32,
    pub(crate) exp_skip: f32,
    pub(crate) exp_cap: f32,
    pub(crate) decay_floor: f32,
    pub(crate) gl_e: f32,
    pub(crate) dt_e: f32,
    pub(crate) vt_e: f32,
    pub(crate) a_e: f32,
    pub(crate) i_e: f32,
    pub(crate) gl_p: f32,
    pub(crate) dt_p: f32,
    pub(crate) vt_p: f32,
    pub(crate) i_p: f32,
    pub(crate) gl_s: f32,
    pub(crate) dt_s: f32,
    pub(crate) vt_s: f32,
    pub(crate) a_s: f32,
    pub(crate) i_s: f32,
}

#[cfg_attr(not(any(feature = "cuda", feature = "cuda-emulator")), allow(dead_code))]
impl KernelParams {
    /// The parameter block of a cortex over `cfg` driven with `drive`. Fails (with the offending size) when an
    /// offset does not fit the kernel's 32-bit indices.
    pub(crate) fn new(cfg: &CortexConfig, drive: &DriveConfig) -> Option<Self> {
        let lay = StateLayout::new(cfg);
        let i = |x: usize| i32::try_from(x).ok();
        let (ne, np, ns, g) = (lay.ne, lay.np, lay.ns, lay.g);
        let small = |k: usize| i(lay.grp + k * g);
        let big = |k: usize| i(lay.grp + GRP_SMALL * g + k * 3 * g);
        let (re, ri) = (lay.row_e(), lay.row_i());
        i(lay.total)?;
        Some(KernelParams {
            ne: i(ne)?,
            np: i(np)?,
            ns: i(ns)?,
            g: i(g)?,
            we: i(lay.we)?,
            wp: i(lay.wp)?,
            ws: i(lay.ws)?,
            pyr_v: i(lay.pyr + PYR_V * ne)?,
            pyr_vd: i(lay.pyr + PYR_VD * ne)?,
            pyr_w: i(lay.pyr + PYR_W * ne)?,
            pyr_ref: i(lay.pyr + PYR_REF * ne)?,
            pyr_gee: i(lay.pyr + PYR_GEE * ne)?,
            pyr_gep: i(lay.pyr + PYR_GEP * ne)?,
            pyr_ges: i(lay.pyr + PYR_GES * ne)?,
            pv_v: i(lay.pv + PV_V * np)?,
            pv_w: i(lay.pv + PV_W * np)?,
            pv_ref: i(lay.pv + PV_REF * np)?,
            pv_gpe: i(lay.pv + PV_GPE * np)?,
            pv_gpp: i(lay.pv + PV_GPP * np)?,
            pv_gps: i(lay.pv + PV_GPS * np)?,
            som_v: i(lay.som + SOM_V * ns)?,
            som_w: i(lay.som + SOM_W * ns)?,
            som_ref: i(lay.som + SOM_REF * ns)?,
            som_gse: i(lay.som + SOM_GSE * ns)?,
            grp_if: small(GRP_IF)?,
            grp_ds: small(GRP_DS)?,
            grp_dfe: small(GRP_DFE)?,
            grp_dfp: small(GRP_DFP)?,
            grp_s: small(GRP_S)?,
            grp_sb: small(GRP_SB)?,
            grp_cnt: big(GRP_CNT)?,
            grp_last: big(GRP_LAST)?,
            grp_mean: big(GRP_MEAN)?,
            grp_m2: big(GRP_M2)?,
            conn: i(lay.conn)?,
            conn_pv: i(ne * re)?,
            conn_som: i(ne * re + np * ri)?,
            row_e: i(re)?,
            row_i: i(ri)?,
            steps: StepFactors::new(cfg),
            gain: drive.gain,
            e_l: E_L,
            v_e: V_E,
            v_i: V_I,
            b_adapt: B_ADAPT,
            g_sd: G_SD,
            tau_df: TAU_DF,
            tau_ds1: TAU_DS1,
            tau_ds2: TAU_DS2,
            tau_if: TAU_IF,
            q: Q,
            nanoamp: NANOAMP,
            v_spike: V_SPIKE,
            v_reset: V_RESET,
            v_floor: V_FLOOR,
            exp_skip: EXP_SKIP,
            exp_cap: EXP_CAP,
            decay_floor: DECAY_FLOOR,
            gl_e: GL_E,
            dt_e: DT_E,
            vt_e: VT_E,
            a_e: A_E,
            i_e: I_E,
            gl_p: GL_P,
            dt_p: DT_P,
            vt_p: VT_P,
            i_p: I_P,
            gl_s: GL_S,
            dt_s: DT_S,
            vt_s: VT_S,
            a_s: A_S,
            i_s: I_S,
        })
    }

    /// Floats of the whole state.
    pub(crate) fn total(cfg: &CortexConfig) -> usize {
        StateLayout::new(cfg).total
    }
}

/// Draw the seven connection matrices from `cfg.seed` (splitmix64, fixed order) into `conn` as bitsets: one row of
/// 32-bit words per presynaptic cell, PYR rows `[PYR | PV | SOM]`, PV and SOM rows `[PYR | PV]`; no autapses.
pub(super) fn draw_connectivity(cfg: &CortexConfig, lay: &StateLayout, conn: &mut [u32]) {
    let mut state = cfg.seed ^ 0x636F_6E6E_6563_7421; // "connect!"
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
