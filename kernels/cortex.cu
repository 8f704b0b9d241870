// The auditory cortex (PYR/PV/SOM, docs/cortex.md) on the GPU: one launch runs whole analysis frames of 0.1-ms
// Euler steps (about 232 per frame) for the whole network in one thread block, one thread per neuron (a thread takes
// neurons t, t + blockDim, ... when the network has more cells than the block has threads: 1,200 cells by default,
// 512 threads). The block synchronises between the phases of a step (drive, noise, neuron update, synaptic jumps);
// a grid-wide barrier per step would cost more than the whole step at this size.
//
// Precision: f32 state and f32 arithmetic throughout. fp16 cannot carry this model: a PYR cell moves its membrane
// potential by about 0.005 mV per step near -60 mV, where the fp16 spacing is 0.03 mV, so an fp16 potential would
// never move. The kernel repeats the CPU core's operations in the CPU's order (no FMA contraction: --fmad=false; IEEE
// division and sqrt), with the same noise stream (16 xoshiro128++ lanes, Box-Muller with the same polynomial ln, sin
// and cos) assigned to the cells exactly as the CPU's chunked loop does, and the same conductance-jump order
// (presynaptic spikes in ascending order). It is therefore meant to reproduce the CPU spike trains bit for bit; the
// start-up self-test measures whether it does (a different rounding anywhere makes the trains diverge within a few
// hundred steps, and the test then falls back to comparing firing rates).
//
// Noise: the 16 xoshiro128++ lanes live in the registers of threads 0..15 (warp 0, which takes no neurons). They
// draw the raw 32-bit numbers of the *next* step while the other warps update the neurons and apply the synaptic
// jumps of this step (double-buffered `noise_raw`), so the serial part of the stream - 2 * calls draws per lane and
// step, 78 by default - no longer holds the block up between barriers; each lane still draws its numbers in the
// CPU's order, one step after another, and draws nothing past the last step of the launch. Every thread then does
// the Box-Muller transforms in parallel at the start of the step.
//
// Per architecture: 512 threads x <= 64 registers fit every target; shared memory is the spike bitmask (<= 2 KB) and
// the group drives; the state (210 KB by default: mostly connectivity bitsets) stays in global memory and in L2
// (sm_53 has 256 KB of L2, sm_72 512 KB, sm_87 4 MB, sm_90 50 MB). The host picks the block size: the number of
// cells rounded up to a warp, plus the noise warp, at most CX_NT (a 96-cell test network needs no 512 threads).
//
// Parameters: every size, offset, step factor and constant comes from the CPU core in one struct (CxParams, built by
// `KernelParams::new` in src/core/audio/cortex/layout.rs, same field order); nothing of the model is re-typed here.
// The polynomial coefficients of the fast exp/ln and of Box-Muller are the CPU's (fastmath.rs, noise.rs); the
// emulator test checks the spike trains bit for bit.

#define CX_NT 512
#define CX_MAX_GROUPS 64
#define CX_MAX_WORDS 512  // spike bitmask words: (8192 + 4096 + 4096) / 32
#define CX_LANES 16

// StepFactors (layout.rs): step-size dependent factors.
struct CxSteps {
    float dt, ref_steps, ke, kp, ks, kw, noise_e, noise_p, noise_s;
    float dec_ee, dec_ep, dec_es, dec_pe, dec_pp, dec_ps, dec_se;
    float inc_ee, inc_pe, inc_se, inc_ep, inc_pp, inc_es, inc_ps;
};

// KernelParams (layout.rs): sizes; offsets (in floats) of every per-cell field, group array and the connectivity in
// the state buffer; step factors and drive gain; the constants of spec section 3.2.
struct CxParams {
    int ne, np, ns, g, we, wp, ws;
    int pyr_v, pyr_vd, pyr_w, pyr_ref, pyr_gee, pyr_gep, pyr_ges;
    int pv_v, pv_w, pv_ref, pv_gpe, pv_gpp, pv_gps;
    int som_v, som_w, som_ref, som_gse;
    int grp_if, grp_ds, grp_dfe, grp_dfp, grp_s, grp_sb, grp_cnt, grp_last, grp_mean, grp_m2;
    int conn, conn_pv, conn_som, row_e, row_i;
    CxSteps st;
    float gain;
    float e_l, v_e, v_i, b_adapt, g_sd, tau_df, tau_ds1, tau_ds2, tau_if, q, nanoamp, v_spike, v_reset, v_floor,
        exp_skip, exp_cap, decay_floor;
    float gl_e, dt_e, vt_e, a_e, i_e, gl_p, dt_p, vt_p, i_p, gl_s, dt_s, vt_s, a_s, i_s;
};

__device__ __forceinline__ float cx_above(float x, float lo) { return x > lo ? x : lo; }
// fastmath::floored: zero below DECAY_FLOOR, so nothing that decays toward zero becomes subnormal.
__device__ __forceinline__ float cx_floored(float x, float floor) { return x < floor ? 0.0f : x; }
__device__ __forceinline__ float cx_on(bool flag, float x) { return __uint_as_float(__float_as_uint(x) & (flag ? 0xffffffffu : 0u)); }

__device__ __forceinline__ float cx_exp_fast(float x) {
    const float ROUND = 12582912.0f;
    const float t = x * 1.44269504f;
    const float r = t + ROUND;
    const int n = (int)__float_as_uint(r) - (int)__float_as_uint(ROUND);
    const float nf = r - ROUND;
    const float y = (x - nf * 0.69314575f) - nf * 1.4286068e-6f;
    const float p = 1.0f + y * (1.0f + y * (0.5f + y * (1.0f / 6.0f + y * (1.0f / 24.0f + y * (1.0f / 120.0f + y * (1.0f / 720.0f))))));
    return p * __uint_as_float(((u32)(n + 127)) << 23);
}

__device__ __forceinline__ float cx_exp_term(const CxParams& P, float v, float gl, float vt, float delta,
                                             float inv_delta) {
    const float arg = (v - vt) * inv_delta;
    float c = cx_above(arg, P.exp_skip);
    c = c < P.exp_cap ? c : P.exp_cap;
    const float term = gl * delta * cx_exp_fast(c);
    return arg > P.exp_skip ? term : 0.0f;
}

__device__ __forceinline__ float cx_ln_fast(float x) {
    const u32 SQRT_HALF_BITS = 0x3F3504F3u;
    const u32 u = __float_as_uint(x) + (0x3F800000u - SQRT_HALF_BITS);
    const float e = (float)((int)(u >> 23) - 127);
    const float m = __uint_as_float((u & 0x007FFFFFu) + SQRT_HALF_BITS);
    const float t = __fdiv_rn(m - 1.0f, m + 1.0f);
    const float t2 = t * t;
    const float p = 1.0f + t2 * (1.0f / 3.0f + t2 * (1.0f / 5.0f + t2 * (1.0f / 7.0f + t2 * (1.0f / 9.0f))));
    return e * 0.693147182f + 2.0f * t * p;
}

// The CPU's `box_muller`: two standard normal deviates from two uniform 32-bit numbers.
__device__ __forceinline__ void cx_box_muller(u32 a, u32 b, float* z1, float* z2) {
    const float TWO_M24 = 1.0f / 16777216.0f;
    const float u1 = (float)(int)((a >> 8) + 1u) * TWO_M24;
    const float r2 = -2.0f * cx_ln_fast(u1);
    float r = __fsqrt_rn(r2 > 0.0f ? r2 : 0.0f);
    r = __uint_as_float(__float_as_uint(r) ^ ((b & 2u) << 30));
    const float th = (float)(int)(b >> 8) * (1.57079637f * TWO_M24) - 0.785398163f;
    const float z = th * th;
    const float sn = th + th * z * (-1.6666655e-1f + z * (8.332161e-3f + z * -1.9515296e-4f));
    const float cs = 1.0f - 0.5f * z + z * z * (4.1666646e-2f + z * (-1.3887316e-3f + z * 2.4433157e-5f));
    const u32 cb = __float_as_uint(cs), sb = __float_as_uint(sn);
    const u32 diff = (cb ^ sb) & (0u - (b & 1u));
    *z1 = r * __uint_as_float(cb ^ diff);
    *z2 = r * __uint_as_float(sb ^ diff);
}

__device__ __forceinline__ u32 cx_rotl(u32 x, int k) { return (x << k) | (x >> (32 - k)); }

// xoshiro128++: one output of a lane whose state is in registers.
__device__ __forceinline__ u32 cx_next(u32& s0, u32& s1, u32& s2, u32& s3) {
    const u32 out = cx_rotl(s0 + s3, 7) + s0;
    const u32 t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = cx_rotl(s3, 11);
    return out;
}

// Raw numbers of noise calls [c0, c1) of one step into `raw` (two per call and lane: [2c][lane], [2c+1][lane]).
__device__ __forceinline__ void cx_draw(u32* raw, int lane, int c0, int c1, u32& s0, u32& s1, u32& s2, u32& s3) {
    for (int c = c0; c < c1; c++) {
        raw[(2 * c) * CX_LANES + lane] = cx_next(s0, s1, s2, s3);
        raw[(2 * c + 1) * CX_LANES + lane] = cx_next(s0, s1, s2, s3);
    }
}

__device__ __forceinline__ int cx_group_start(int k, int n, int g) { return (int)(((long long)k * n) / g); }

__device__ __forceinline__ int cx_group_of(int i, int n, int g) {
    int k = (int)(((long long)i * g) / n);
    while (k + 1 < g && cx_group_start(k + 1, n, g) <= i) k++;
    while (k > 0 && cx_group_start(k, n, g) > i) k--;
    return k;
}

__device__ __forceinline__ bool cx_bit(const u32* row, int i) { return (row[i >> 5] >> (i & 31)) & 1u; }

// Run `nframes` analysis frames. For frame f: drive[f * g + k] is the group drive s_k (computed on the host from the
// mel spectrum by the CPU core's band_drive), steps[f] the number of Euler steps. `st` is the CPU core's state
// layout (see CxParams), `rng_g` the 64 words of the noise lanes ([word][lane]), `noise_raw` (2 buffers of
// 2 * 16 * calls u32) and `noise` (32 * calls f32) per-step buffers, `stat` = {frames with at least one step}.
extern "C" __global__ void __launch_bounds__(CX_NT) cortex_frames(float* st, u32* rng_g, u32* noise_raw, float* noise,
                                                                 int* stat, const float* drive, const int* steps,
                                                                 int nframes, CxParams P) {
    __shared__ u32 spk[CX_MAX_WORDS];
    __shared__ float drv_e[CX_MAX_GROUPS], drv_p[CX_MAX_GROUPS];
    __shared__ float cnt[3 * CX_MAX_GROUPS];
    const int tid = threadIdx.x;
    const int nt = blockDim.x;
    // Warp 0 draws the noise; warps 1.. update the cells (worker index w, nw workers).
    const int w = tid - 32, nw = nt - 32;
    const int g = P.g;
    const int ntot = P.ne + P.np + P.ns;
    const int calls_e = (P.ne + 31) / 32, calls_p = (P.np + 31) / 32, calls_s = (P.ns + 31) / 32;
    const int calls = calls_e + calls_p + calls_s;
    const int half_calls = calls / 2;
    const int raw_len = 2 * CX_LANES * calls;
    const int spk_words = P.we + P.wp + P.ws;
    float* small_if = st + P.grp_if;
    float* small_ds = st + P.grp_ds;
    float* small_dfe = st + P.grp_dfe;
    float* small_dfp = st + P.grp_dfp;
    float* small_s = st + P.grp_s;
    float* small_sb = st + P.grp_sb;
    const u32* conn = (const u32*)(st + P.conn);
    const CxSteps& S = P.st;
    const float inv_sd_s = P.g_sd / 0.3f;
    const float inv_sd_d = P.g_sd / 0.7f;

    // The lanes' state, in registers for the whole launch; the total number of steps tells them when to stop.
    const bool lane = tid < CX_LANES;
    u32 r0 = 0, r1 = 0, r2 = 0, r3 = 0;
    int total = 0;
    for (int f = 0; f < nframes; f++) total += steps[f];
    if (lane) {
        r0 = rng_g[tid];
        r1 = rng_g[16 + tid];
        r2 = rng_g[32 + tid];
        r3 = rng_g[48 + tid];
        if (total > 0) cx_draw(noise_raw, tid, 0, calls, r0, r1, r2, r3);
    }
    int k = 0;  // steps run so far in this launch

    for (int f = 0; f < nframes; f++) {
        if (tid < g) {
            const float prev = small_s[tid];
            const float sn = drive[f * g + tid];
            small_s[tid] = sn;
            small_sb[tid] = fmaxf(sn, prev);
        }
        for (int i = tid; i < 3 * g; i += nt) cnt[i] = 0.0f;
        const int nsteps = steps[f];
        __syncthreads();
        for (int step = 0; step < nsteps; step++, k++) {
            u32* raw = noise_raw + (k & 1) * raw_len;
            u32* raw_next = noise_raw + ((k + 1) & 1) * raw_len;
            const bool draw_next = lane && k + 1 < total;
            // 1. Thalamic drive per group from the state at the start of the step.
            if (tid < g) {
                const int q = tid;
                const float i_f = small_if[q], d_s = small_ds[q], d_fe = small_dfe[q], d_fp = small_dfp[q];
                const float s = small_s[q], s_b = small_sb[q];
                const float amp = P.gain * P.q * P.nanoamp * i_f * d_s;
                drv_e[q] = amp * d_fe;
                drv_p[q] = amp * d_fp;
                small_if[q] = cx_floored(i_f + S.dt * (s - i_f) / P.tau_if, P.decay_floor);
                small_ds[q] = d_s + S.dt * ((1.0f - d_s) / P.tau_ds1 - d_s * s / P.tau_ds2);
                small_dfe[q] = d_fe + S.dt * (1.0f - d_fe - s_b) / P.tau_df;
                small_dfp[q] = d_fp + S.dt * (1.0f - d_fp - s) / P.tau_df;
            }
            for (int i = tid; i < spk_words; i += nt) spk[i] = 0u;
            __syncthreads();
            // 2. Box-Muller in parallel: call c gives z1 of lane l at noise[c*32 + l], z2 at noise[c*32 + 16 + l].
            for (int i = tid; i < calls * CX_LANES; i += nt) {
                const int c = i / CX_LANES, l = i % CX_LANES;
                float z1, z2;
                cx_box_muller(raw[(2 * c) * CX_LANES + l], raw[(2 * c + 1) * CX_LANES + l], &z1, &z2);
                noise[c * 32 + l] = z1;
                noise[c * 32 + 16 + l] = z2;
            }
            __syncthreads();
            // 3. Neuron updates (the CPU's pyr_chunk / pv_chunk / som_chunk, expression for expression); meanwhile
            // the lanes draw the first half of the next step's numbers.
            if (draw_next) cx_draw(raw_next, tid, 0, half_calls, r0, r1, r2, r3);
            for (int cell = w; w >= 0 && cell < ntot; cell += nw) {
                bool spike;
                int pop, i;
                if (cell < P.ne) {
                    pop = 0;
                    i = cell;
                    float* v = st + P.pyr_v;
                    float* vd = st + P.pyr_vd;
                    float* wa = st + P.pyr_w;
                    float* refr = st + P.pyr_ref;
                    float* gee = st + P.pyr_gee;
                    float* gep = st + P.pyr_gep;
                    float* ges = st + P.pyr_ges;
                    const float z = noise[(i / 32) * 32 + i % 32];
                    const float iext = P.i_e + drv_e[cx_group_of(i, P.ne, g)];
                    const float v0 = v[i], vd0 = vd[i], w0 = wa[i], rf0 = refr[i], gee0 = gee[i], gep0 = gep[i],
                                ges0 = ges[i];
                    vd[i] = vd0 + S.ke * (-P.gl_e * (vd0 - P.e_l) - inv_sd_d * (vd0 - v0) - ges0 * (vd0 - P.v_i));
                    const float w1 = w0 + S.kw * (P.a_e * (v0 - P.e_l) - w0);
                    gee[i] = cx_floored(gee0 * S.dec_ee, P.decay_floor);
                    gep[i] = cx_floored(gep0 * S.dec_ep, P.decay_floor);
                    ges[i] = cx_floored(ges0 * S.dec_es, P.decay_floor);
                    const bool active = rf0 <= 0.0f;
                    const float i_tot = -inv_sd_s * (v0 - vd0) - gee0 * (v0 - P.v_e) - gep0 * (v0 - P.v_i) -
                                        P.gl_e * (v0 - P.e_l) + iext;
                    const float dv = -w0 + i_tot + cx_exp_term(P, v0, P.gl_e, P.vt_e, P.dt_e, 1.0f / P.dt_e);
                    const float vn = cx_above(v0 + S.ke * dv + S.noise_e * z, P.v_floor);
                    spike = active && (vn > P.v_spike);
                    v[i] = spike ? P.v_reset : (active ? vn : v0);
                    wa[i] = w1 + cx_on(spike, P.b_adapt);
                    refr[i] = cx_above(rf0 - 1.0f, 0.0f) + cx_on(spike, S.ref_steps);
                } else if (cell < P.ne + P.np) {
                    pop = 1;
                    i = cell - P.ne;
                    float* v = st + P.pv_v;
                    float* wa = st + P.pv_w;
                    float* refr = st + P.pv_ref;
                    float* gpe = st + P.pv_gpe;
                    float* gpp = st + P.pv_gpp;
                    float* gps = st + P.pv_gps;
                    const float z = noise[(calls_e + i / 32) * 32 + i % 32];
                    const float iext = P.i_p + drv_p[cx_group_of(i, P.np, g)];
                    const float v0 = v[i], w0 = wa[i], rf0 = refr[i], gpe0 = gpe[i], gpp0 = gpp[i], gps0 = gps[i];
                    const float w1 = w0 + S.kw * (-w0);
                    gpe[i] = cx_floored(gpe0 * S.dec_pe, P.decay_floor);
                    gpp[i] = cx_floored(gpp0 * S.dec_pp, P.decay_floor);
                    gps[i] = cx_floored(gps0 * S.dec_ps, P.decay_floor);
                    const bool active = rf0 <= 0.0f;
                    const float dv = iext - w0 - P.gl_p * (v0 - P.e_l) +
                                     cx_exp_term(P, v0, P.gl_p, P.vt_p, P.dt_p, 1.0f / P.dt_p) - gpe0 * (v0 - P.v_e) -
                                     (gpp0 + gps0) * (v0 - P.v_i);
                    const float vn = cx_above(v0 + S.kp * dv + S.noise_p * z, P.v_floor);
                    spike = active && (vn > P.v_spike);
                    v[i] = spike ? P.v_reset : (active ? vn : v0);
                    wa[i] = w1 + cx_on(spike, P.b_adapt);
                    refr[i] = cx_above(rf0 - 1.0f, 0.0f) + cx_on(spike, S.ref_steps);
                } else {
                    pop = 2;
                    i = cell - P.ne - P.np;
                    float* v = st + P.som_v;
                    float* wa = st + P.som_w;
                    float* refr = st + P.som_ref;
                    float* gse = st + P.som_gse;
                    const float z = noise[(calls_e + calls_p + i / 32) * 32 + i % 32];
                    const float v0 = v[i], w0 = wa[i], rf0 = refr[i], gse0 = gse[i];
                    const float w1 = w0 + S.kw * (P.a_s * (v0 - P.e_l) - w0);
                    gse[i] = cx_floored(gse0 * S.dec_se, P.decay_floor);
                    const bool active = rf0 <= 0.0f;
                    const float dv = cx_exp_term(P, v0, P.gl_s, P.vt_s, P.dt_s, 1.0f / P.dt_s) + P.i_s - w0 -
                                     P.gl_s * (v0 - P.e_l) - gse0 * (v0 - P.v_e);
                    const float vn = cx_above(v0 + S.ks * dv + S.noise_s * z, P.v_floor);
                    spike = active && (vn > P.v_spike);
                    v[i] = spike ? P.v_reset : (active ? vn : v0);
                    wa[i] = w1 + cx_on(spike, P.b_adapt);
                    refr[i] = cx_above(rf0 - 1.0f, 0.0f) + cx_on(spike, S.ref_steps);
                }
                if (spike) {
                    const int base = pop == 0 ? 0 : (pop == 1 ? P.we : P.we + P.wp);
                    atomicOr(&spk[base + (i >> 5)], 1u << (i & 31));
                    const int n = pop == 0 ? P.ne : (pop == 1 ? P.np : P.ns);
                    atomicAdd(&cnt[pop * g + cx_group_of(i, n, g)], 1.0f);  // integer counts: order-independent
                }
            }
            __syncthreads();
            // 4. Conductance jumps, effective from the next step: each target adds its presynaptic spikes' increments
            // in ascending presynaptic order, the CPU's order, so the f32 sums are the same. The lanes draw the rest
            // of the next step's numbers.
            if (draw_next) cx_draw(raw_next, tid, half_calls, calls, r0, r1, r2, r3);
            const u32* rows_e = conn;
            const u32* rows_p = conn + P.conn_pv;
            const u32* rows_s = conn + P.conn_som;
            for (int cell = w; w >= 0 && cell < ntot; cell += nw) {
                if (cell < P.ne) {
                    const int i = cell;
                    float* gee = st + P.pyr_gee;
                    float* gep = st + P.pyr_gep;
                    float* ges = st + P.pyr_ges;
                    float a = gee[i], b = gep[i], c = ges[i];
                    for (int wd = 0; wd < P.we; wd++)
                        for (u32 m = spk[wd]; m; m &= m - 1) {
                            const int j = wd * 32 + __ffs(m) - 1;
                            if (cx_bit(rows_e + (size_t)j * P.row_e, i)) a += S.inc_ee;
                        }
                    for (int wd = 0; wd < P.wp; wd++)
                        for (u32 m = spk[P.we + wd]; m; m &= m - 1) {
                            const int j = wd * 32 + __ffs(m) - 1;
                            if (cx_bit(rows_p + (size_t)j * P.row_i, i)) b += S.inc_ep;
                        }
                    for (int wd = 0; wd < P.ws; wd++)
                        for (u32 m = spk[P.we + P.wp + wd]; m; m &= m - 1) {
                            const int j = wd * 32 + __ffs(m) - 1;
                            if (cx_bit(rows_s + (size_t)j * P.row_i, i)) c += S.inc_es;
                        }
                    gee[i] = a;
                    gep[i] = b;
                    ges[i] = c;
                } else if (cell < P.ne + P.np) {
                    const int i = cell - P.ne;
                    float* gpe = st + P.pv_gpe;
                    float* gpp = st + P.pv_gpp;
                    float* gps = st + P.pv_gps;
                    float a = gpe[i], b = gpp[i], c = gps[i];
                    for (int wd = 0; wd < P.we; wd++)
                        for (u32 m = spk[wd]; m; m &= m - 1) {
                            const int j = wd * 32 + __ffs(m) - 1;
                            if (cx_bit(rows_e + (size_t)j * P.row_e + P.we, i)) a += S.inc_pe;
                        }
                    for (int wd = 0; wd < P.wp; wd++)
                        for (u32 m = spk[P.we + wd]; m; m &= m - 1) {
                            const int j = wd * 32 + __ffs(m) - 1;
                            if (cx_bit(rows_p + (size_t)j * P.row_i + P.we, i)) b += S.inc_pp;
                        }
                    for (int wd = 0; wd < P.ws; wd++)
                        for (u32 m = spk[P.we + P.wp + wd]; m; m &= m - 1) {
                            const int j = wd * 32 + __ffs(m) - 1;
                            if (cx_bit(rows_s + (size_t)j * P.row_i + P.we, i)) c += S.inc_ps;
                        }
                    gpe[i] = a;
                    gpp[i] = b;
                    gps[i] = c;
                } else {
                    const int i = cell - P.ne - P.np;
                    float* gse = st + P.som_gse;
                    float a = gse[i];
                    for (int wd = 0; wd < P.we; wd++)
                        for (u32 m = spk[wd]; m; m &= m - 1) {
                            const int j = wd * 32 + __ffs(m) - 1;
                            if (cx_bit(rows_e + (size_t)j * P.row_e + P.we + P.wp, i)) a += S.inc_se;
                        }
                    gse[i] = a;
                }
            }
            __syncthreads();
        }
        // Per-frame rates and their running mean and spread (Welford), as the CPU's step_frame.
        if (nsteps > 0) {
            const int frames = stat[0] + 1;
            const float nf = (float)frames;
            const float dur_s = (float)nsteps * S.dt * 1e-3f;
            for (int i = tid; i < 3 * g; i += nt) {
                const int blk = i / g, q = i % g;
                const int n_pop = blk == 0 ? P.ne : (blk == 1 ? P.np : P.ns);
                const int size = cx_group_start(q + 1, n_pop, g) - cx_group_start(q, n_pop, g);
                const float rate = size > 0 ? cnt[i] / ((float)size * dur_s) : 0.0f;
                st[P.grp_last + i] = rate;
                const float mean = st[P.grp_mean + i];
                const float delta = rate - mean;
                const float m1 = mean + delta / nf;
                st[P.grp_mean + i] = m1;
                st[P.grp_m2 + i] = st[P.grp_m2 + i] + delta * (rate - m1);
            }
            __syncthreads();
            if (tid == 0) stat[0] = frames;
        }
        for (int i = tid; i < 3 * g; i += nt) st[P.grp_cnt + i] = cnt[i];
        __syncthreads();
    }
    if (lane) {
        rng_g[tid] = r0;
        rng_g[16 + tid] = r1;
        rng_g[32 + tid] = r2;
        rng_g[48 + tid] = r3;
    }
}

// Cortex features (docs/cortex.md): group mean rates, then their standard deviation over frames, into out[0 .. 6g).
extern "C" __global__ void cortex_features(const float* st, const int* stat, CxParams P, float* out) {
    const int g = P.g;
    const float n = (float)max(stat[0], 1);
    for (int i = threadIdx.x; i < 6 * g; i += blockDim.x)
        out[i] = i < 3 * g ? st[P.grp_mean + i] : __fsqrt_rn(fmaxf(st[P.grp_m2 + i - 3 * g] / n, 0.0f));
}
