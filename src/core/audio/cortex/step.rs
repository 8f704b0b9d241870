//! One Euler step of the whole network: per-population chunked, branch-free updates that LLVM vectorises, spike
//! collection, synaptic transmission; compiled once per x86-64 vector width.

use super::constants::*;
use super::drive::group_start;
use super::fastmath::{above, exp_term, floored, on, ref_tick};
use super::layout::*;
use super::noise::{NoiseRng, NORMALS};

pub(super) const MAX_GROUPS: usize = 64;
/// Cells updated per chunk: the noise and the per-cell thalamic current of a chunk live on the stack.
const CHUNK: usize = 128;
const _: () = assert!(CHUNK.is_multiple_of(NORMALS));

/// Borrowed network state for the inner loop.
pub(super) struct Network<'a> {
    pub(super) lay: StateLayout,
    pub(super) st: StepFactors,
    pub(super) pyr: &'a mut [f32],
    pub(super) pv: &'a mut [f32],
    pub(super) som: &'a mut [f32],
    pub(super) spikes: &'a mut [u32],
    pub(super) conn: &'a [u32],
    pub(super) rng: &'a mut NoiseRng,
    pub(super) gain: f32,
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

/// The AdEx spike-initiation term of each cell of a chunk (at most [`CHUNK`] cells), in a loop of its own: fused
/// into the update, its dozen constants and the update's would need more than AVX2's sixteen vector registers, and
/// the spills cost more than storing and reloading one float per cell. The same operations either way. Written into
/// the step's buffer `ex` (returned by value, the 512-byte array was copied out through `memcpy` in the AVX2 build:
/// 3 % of an AVX2 pipeline).
#[inline(always)]
fn exp_terms(v: &[f32], ex: &mut [f32], gl: f32, vt: f32, delta: f32) {
    for (e, &v0) in ex.iter_mut().zip(v) {
        *e = exp_term(v0, gl, vt, delta, 1.0 / delta);
    }
}

/// The spike rule the three cell types share. A refractory cell's soma stays frozen (its update is computed anyway,
/// then discarded, so the loop has no branch); an active cell that crosses `V_SPIKE` resets, takes the adaptation
/// increment and starts its refractory count. Returns the new membrane potential, adaptation current and refractory
/// count, and whether the cell spiked.
#[inline(always)]
fn fire(st: &StepFactors, v0: f32, vn: f32, w1: f32, r0: f32) -> (f32, f32, f32, bool) {
    let active = r0 <= 0.0; // the count is never NaN
    let spike = active & (vn > V_SPIKE);
    let v = if spike {
        V_RESET
    } else if active {
        vn
    } else {
        v0
    };
    (v, w1 + on(spike, B_ADAPT), ref_tick(r0) + on(spike, st.ref_steps), spike)
}

/// One Euler step of a chunk of PYR cells (all slices the same length); returns its number of spikes.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pyr_chunk(
    st: &StepFactors,
    v: &mut [f32],
    vd: &mut [f32],
    w: &mut [f32],
    refr: &mut [f32],
    gee: &mut [f32],
    gep: &mut [f32],
    ges: &mut [f32],
    z: &[f32],
    iext: &[f32],
    ex: &mut [f32],
) -> u32 {
    let len = v.len();
    let (vd, w, refr, gee, gep, ges) =
        (&mut vd[..len], &mut w[..len], &mut refr[..len], &mut gee[..len], &mut gep[..len], &mut ges[..len]);
    let (z, iext) = (&z[..len], &iext[..len]);
    let inv_sd_s = G_SD / 0.3;
    let inv_sd_d = G_SD / 0.7;
    let ex = &mut ex[..len];
    exp_terms(v, ex, GL_E, VT_E, DT_E);
    let mut spikes = 0u32;
    for i in 0..len {
        let (v0, vd0, w0, r0, gee0, gep0, ges0) = (v[i], vd[i], w[i], refr[i], gee[i], gep[i], ges[i]);
        vd[i] = vd0 + st.ke * (-GL_E * (vd0 - E_L) - inv_sd_d * (vd0 - v0) - ges0 * (vd0 - V_I));
        let w1 = w0 + st.kw * (A_E * (v0 - E_L) - w0);
        gee[i] = floored(gee0 * st.dec_ee);
        gep[i] = floored(gep0 * st.dec_ep);
        ges[i] = floored(ges0 * st.dec_es);
        let i_tot = -inv_sd_s * (v0 - vd0) - gee0 * (v0 - V_E) - gep0 * (v0 - V_I) - GL_E * (v0 - E_L) + iext[i];
        let dv = -w0 + i_tot + ex[i];
        let vn = above(v0 + st.ke * dv + st.noise_e * z[i], V_FLOOR);
        let spike;
        (v[i], w[i], refr[i], spike) = fire(st, v0, vn, w1, r0);
        spikes += spike as u32;
    }
    spikes
}

/// One Euler step of a chunk of PV cells; returns its number of spikes.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn pv_chunk(
    st: &StepFactors,
    v: &mut [f32],
    w: &mut [f32],
    refr: &mut [f32],
    gpe: &mut [f32],
    gpp: &mut [f32],
    gps: &mut [f32],
    z: &[f32],
    iext: &[f32],
    ex: &mut [f32],
) -> u32 {
    let len = v.len();
    let (w, refr, gpe, gpp, gps) = (&mut w[..len], &mut refr[..len], &mut gpe[..len], &mut gpp[..len], &mut gps[..len]);
    let (z, iext) = (&z[..len], &iext[..len]);
    let ex = &mut ex[..len];
    exp_terms(v, ex, GL_P, VT_P, DT_P);
    let mut spikes = 0u32;
    for i in 0..len {
        let (v0, w0, r0, gpe0, gpp0, gps0) = (v[i], w[i], refr[i], gpe[i], gpp[i], gps[i]);
        let w1 = w0 + st.kw * (-w0); // a = 0
        gpe[i] = floored(gpe0 * st.dec_pe);
        gpp[i] = floored(gpp0 * st.dec_pp);
        gps[i] = floored(gps0 * st.dec_ps);
        let dv = iext[i] - w0 - GL_P * (v0 - E_L) + ex[i] - gpe0 * (v0 - V_E) - (gpp0 + gps0) * (v0 - V_I);
        let vn = above(v0 + st.kp * dv + st.noise_p * z[i], V_FLOOR);
        let spike;
        (v[i], w[i], refr[i], spike) = fire(st, v0, vn, w1, r0);
        spikes += spike as u32;
    }
    spikes
}

/// One Euler step of a chunk of SOM cells (no thalamic input); returns its number of spikes.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn som_chunk(
    st: &StepFactors,
    v: &mut [f32],
    w: &mut [f32],
    refr: &mut [f32],
    gse: &mut [f32],
    z: &[f32],
    ex: &mut [f32],
) -> u32 {
    let len = v.len();
    let (w, refr, gse, z) = (&mut w[..len], &mut refr[..len], &mut gse[..len], &z[..len]);
    let ex = &mut ex[..len];
    exp_terms(v, ex, GL_S, VT_S, DT_S);
    let mut spikes = 0u32;
    for i in 0..len {
        let (v0, w0, r0, gse0) = (v[i], w[i], refr[i], gse[i]);
        let w1 = w0 + st.kw * (A_S * (v0 - E_L) - w0);
        gse[i] = floored(gse0 * st.dec_se);
        let dv = ex[i] + I_S - w0 - GL_S * (v0 - E_L) - gse0 * (v0 - V_E);
        let vn = above(v0 + st.ks * dv + st.noise_s * z[i], V_FLOOR);
        let spike;
        (v[i], w[i], refr[i], spike) = fire(st, v0, vn, w1, r0);
        spikes += spike as u32;
    }
    spikes
}
/// Which compilation of the network update runs. Every variant is the same Rust code, compiled for a wider vector
/// instruction set where the CPU has one (the update loops are written for LLVM's auto-vectoriser); they use the same
/// IEEE operations in the same order (no fused multiply-add, no reassociation), so they give bit-identical results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kernel {
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
    pub(super) fn detect() -> Self {
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

impl Kernel {
    /// The compilation that matches a visual kernel [`Level`](crate::core::kernels::Level) (which the caller has
    /// confirmed this CPU runs): so forcing a level with `AVF_BEL_KERNELS` runs the whole pipeline at that vector
    /// width. NEON is aarch64's baseline (the portable compilation is already NEON there).
    pub(super) fn for_level(level: crate::core::kernels::Level) -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            use crate::core::kernels::Level;
            match level {
                Level::Avx2 | Level::AvxVnni => return Kernel::Avx2,
                Level::Avx512 | Level::Avx512Vnni => return Kernel::Avx512,
                _ => {}
            }
        }
        let _ = level;
        Kernel::Portable
    }
}

/// `steps` Euler steps of the network with the chosen compilation of the update.
pub(super) fn run_steps(kernel: Kernel, net: &mut Network, small: &mut [f32], cnt: &mut [f32], steps: u64) {
    match kernel {
        Kernel::Portable => net.run(small, cnt, steps),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Kernel::detect` picks this variant only where the CPU has AVX2, `Cortex::set_level` only for a
        // level the CPU runs (`Level::Avx2` and `Level::AvxVnni` need AVX2 + FMA).
        Kernel::Avx2 => unsafe { run_avx2(net, small, cnt, steps) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Kernel::detect` picks this variant only where the CPU has AVX-512F, `Cortex::set_level` only for
        // a level the CPU runs (`Level::Avx512` and `Level::Avx512Vnni` need AVX-512F).
        Kernel::Avx512 => unsafe { run_avx512(net, small, cnt, steps) },
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn run_avx2(net: &mut Network, small: &mut [f32], cnt: &mut [f32], steps: u64) {
    net.run(small, cnt, steps)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn run_avx512(net: &mut Network, small: &mut [f32], cnt: &mut [f32], steps: u64) {
    net.run(small, cnt, steps)
}

impl Network<'_> {
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
            small[GRP_IF * g + k] = floored(i_f + dt * (s - i_f) / TAU_IF);
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
        let mut ex = [0f32; CHUNK];

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
                &mut ex,
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
                &mut ex,
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
                &mut ex,
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
