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
// Noise generation is the serial part: the 16 lanes each advance 2 * calls (78 by default) times per step. Lanes
// 0..15 only draw the raw 32-bit numbers; every thread then does the Box-Muller transforms in parallel.
//
// Per architecture: 512 threads x <= 64 registers fit every target; shared memory is the spike bitmask (<= 2 KB) and
// the group drives; the state (210 KB by default: mostly connectivity bitsets) stays in global memory and in L2
// (sm_53 has 256 KB of L2, sm_72 512 KB, sm_87 4 MB, sm_90 50 MB).

#define CX_NT 512
#define CX_MAX_GROUPS 64
#define CX_MAX_WORDS 512  // spike bitmask words: (8192 + 4096 + 4096) / 32
#define CX_LANES 16

// Constants of spec section 3.2, as in src/audio/cortex.rs.
#define E_L (-60.0f)
#define V_E 0.0f
#define V_I (-67.0f)
#define B_ADAPT 8.0f
#define G_SD 18.75f
#define TAU_DF 10.0f
#define TAU_DS1 1000.0f
#define TAU_DS2 250.0f
#define TAU_IF 1.0f
#define Q_THAL 0.4f
#define NANOAMP 1000.0f
#define V_SPIKE 20.0f
#define V_RESET (-60.0f)
#define V_FLOOR (-150.0f)
#define EXP_SKIP (-20.0f)
#define EXP_CAP 40.0f
#define GL_E 6.25f
#define DT_E 1.0f
#define VT_E (-40.0f)
#define A_E 4.0f
#define I_E 350.0f
#define GL_P 5.0f
#define DT_P 0.25f
#define VT_P (-40.0f)
#define I_P 50.0f
#define GL_S 5.0f
#define DT_S 1.0f
#define VT_S (-45.0f)
#define A_S 4.0f
#define I_S 100.0f

// Step-size dependent factors, computed on the host exactly as the CPU's `Steps` (passed by value).
struct CxSteps {
    float dt, ref_steps, ke, kp, ks, kw, noise_e, noise_p, noise_s;
    float dec_ee, dec_ep, dec_es, dec_pe, dec_pp, dec_ps, dec_se;
    float inc_ee, inc_pe, inc_se, inc_ep, inc_pp, inc_es, inc_ps;
    float gain;
};

// Sizes and offsets (in floats) into the state buffer, the CPU core's scratch layout.
struct CxLayout {
    int ne, np, ns, g, we, wp, ws;
    int pyr, pv, som, grp, conn;
};

__device__ __forceinline__ float cx_above(float x, float lo) { return x > lo ? x : lo; }
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

__device__ __forceinline__ float cx_exp_term(float v, float gl, float vt, float delta, float inv_delta) {
    const float arg = (v - vt) * inv_delta;
    float c = cx_above(arg, EXP_SKIP);
    c = c < EXP_CAP ? c : EXP_CAP;
    const float term = gl * delta * cx_exp_fast(c);
    return arg > EXP_SKIP ? term : 0.0f;
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

// xoshiro128++ step of one lane, state s[word * 16 + lane].
__device__ __forceinline__ u32 cx_next(u32* s, int l) {
    u32 s0 = s[l], s1 = s[16 + l], s2 = s[32 + l], s3 = s[48 + l];
    const u32 out = cx_rotl(s0 + s3, 7) + s0;
    const u32 t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = cx_rotl(s3, 11);
    s[l] = s0;
    s[16 + l] = s1;
    s[32 + l] = s2;
    s[48 + l] = s3;
    return out;
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
// mel spectrum, as the CPU does), steps[f] the number of Euler steps. `st` is the CPU core's scratch layout (network,
// group arrays, spike lists, connectivity), `rng` the 64 words of the noise lanes, `noise_raw` (2 * 16 * calls u32) and
// `noise` (32 * calls f32) per-step buffers, `stat` = {frames with at least one step} (int, read and written).
extern "C" __global__ void __launch_bounds__(CX_NT) cortex_frames(float* st, u32* rng_g, u32* noise_raw, float* noise,
                                                                 int* stat, const float* drive, const int* steps,
                                                                 int nframes, CxLayout L, CxSteps P) {
    __shared__ u32 rng[64];
    __shared__ u32 spk[CX_MAX_WORDS];
    __shared__ float drv_e[CX_MAX_GROUPS], drv_p[CX_MAX_GROUPS];
    __shared__ float cnt[3 * CX_MAX_GROUPS];
    const int tid = threadIdx.x;
    const int nt = blockDim.x;
    const int g = L.g;
    const int ntot = L.ne + L.np + L.ns;
    const int calls_e = (L.ne + 31) / 32, calls_p = (L.np + 31) / 32, calls_s = (L.ns + 31) / 32;
    const int calls = calls_e + calls_p + calls_s;
    const int spk_words = L.we + L.wp + L.ws;
    float* grp = st + L.grp;
    float* small_if = grp + 0 * g;
    float* small_ds = grp + 1 * g;
    float* small_dfe = grp + 2 * g;
    float* small_dfp = grp + 3 * g;
    float* small_s = grp + 4 * g;
    float* small_sb = grp + 5 * g;
    float* big = grp + 6 * g;  // cnt, last, mean, m2 blocks of 3g
    const u32* conn = (const u32*)(st + L.conn);
    const int re = L.we + L.wp + L.ws, ri = L.we + L.wp;
    float* pyr = st + L.pyr;
    float* pv = st + L.pv;
    float* som = st + L.som;
    const float inv_sd_s = G_SD / 0.3f;
    const float inv_sd_d = G_SD / 0.7f;

    if (tid < 64) rng[tid] = rng_g[tid];
    __syncthreads();

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
        for (int step = 0; step < nsteps; step++) {
            // 1. Thalamic drive per group from the state at the start of the step; raw noise of the 16 lanes.
            if (tid < g) {
                const int k = tid;
                const float i_f = small_if[k], d_s = small_ds[k], d_fe = small_dfe[k], d_fp = small_dfp[k];
                const float s = small_s[k], s_b = small_sb[k];
                const float amp = P.gain * Q_THAL * NANOAMP * i_f * d_s;
                drv_e[k] = amp * d_fe;
                drv_p[k] = amp * d_fp;
                small_if[k] = i_f + P.dt * (s - i_f) / TAU_IF;
                small_ds[k] = d_s + P.dt * ((1.0f - d_s) / TAU_DS1 - d_s * s / TAU_DS2);
                small_dfe[k] = d_fe + P.dt * (1.0f - d_fe - s_b) / TAU_DF;
                small_dfp[k] = d_fp + P.dt * (1.0f - d_fp - s) / TAU_DF;
            }
            if (tid >= 32 && tid < 32 + CX_LANES) {
                const int l = tid - 32;
                for (int c = 0; c < calls; c++) {
                    noise_raw[(2 * c) * CX_LANES + l] = cx_next(rng, l);
                    noise_raw[(2 * c + 1) * CX_LANES + l] = cx_next(rng, l);
                }
            }
            for (int i = tid; i < spk_words; i += nt) spk[i] = 0u;
            __syncthreads();
            // 2. Box-Muller in parallel: call c gives z1 of lane l at noise[c*32 + l], z2 at noise[c*32 + 16 + l].
            for (int i = tid; i < calls * CX_LANES; i += nt) {
                const int c = i / CX_LANES, l = i % CX_LANES;
                float z1, z2;
                cx_box_muller(noise_raw[(2 * c) * CX_LANES + l], noise_raw[(2 * c + 1) * CX_LANES + l], &z1, &z2);
                noise[c * 32 + l] = z1;
                noise[c * 32 + 16 + l] = z2;
            }
            __syncthreads();
            // 3. Neuron updates (the CPU's pyr_chunk / pv_chunk / som_chunk, expression for expression).
            for (int cell = tid; cell < ntot; cell += nt) {
                bool spike;
                int pop, i;
                if (cell < L.ne) {
                    pop = 0;
                    i = cell;
                    const int n = L.ne;
                    float* v = pyr;
                    float* vd = pyr + n;
                    float* w = pyr + 2 * n;
                    float* refr = pyr + 3 * n;
                    float* gee = pyr + 4 * n;
                    float* gep = pyr + 5 * n;
                    float* ges = pyr + 6 * n;
                    const float z = noise[(i / 32) * 32 + i % 32];
                    const float iext = I_E + drv_e[cx_group_of(i, n, g)];
                    const float v0 = v[i], vd0 = vd[i], w0 = w[i], r0 = refr[i], gee0 = gee[i], gep0 = gep[i], ges0 = ges[i];
                    vd[i] = vd0 + P.ke * (-GL_E * (vd0 - E_L) - inv_sd_d * (vd0 - v0) - ges0 * (vd0 - V_I));
                    const float w1 = w0 + P.kw * (A_E * (v0 - E_L) - w0);
                    gee[i] = gee0 * P.dec_ee;
                    gep[i] = gep0 * P.dec_ep;
                    ges[i] = ges0 * P.dec_es;
                    const bool active = r0 <= 0.0f;
                    const float i_tot = -inv_sd_s * (v0 - vd0) - gee0 * (v0 - V_E) - gep0 * (v0 - V_I) - GL_E * (v0 - E_L) + iext;
                    const float dv = -w0 + i_tot + cx_exp_term(v0, GL_E, VT_E, DT_E, 1.0f / DT_E);
                    const float vn = cx_above(v0 + P.ke * dv + P.noise_e * z, V_FLOOR);
                    spike = active && (vn > V_SPIKE);
                    v[i] = spike ? V_RESET : (active ? vn : v0);
                    w[i] = w1 + cx_on(spike, B_ADAPT);
                    refr[i] = cx_above(r0 - 1.0f, 0.0f) + cx_on(spike, P.ref_steps);
                } else if (cell < L.ne + L.np) {
                    pop = 1;
                    i = cell - L.ne;
                    const int n = L.np;
                    float* v = pv;
                    float* w = pv + n;
                    float* refr = pv + 2 * n;
                    float* gpe = pv + 3 * n;
                    float* gpp = pv + 4 * n;
                    float* gps = pv + 5 * n;
                    const float z = noise[(calls_e + i / 32) * 32 + i % 32];
                    const float iext = I_P + drv_p[cx_group_of(i, n, g)];
                    const float v0 = v[i], w0 = w[i], r0 = refr[i], gpe0 = gpe[i], gpp0 = gpp[i], gps0 = gps[i];
                    const float w1 = w0 + P.kw * (-w0);
                    gpe[i] = gpe0 * P.dec_pe;
                    gpp[i] = gpp0 * P.dec_pp;
                    gps[i] = gps0 * P.dec_ps;
                    const bool active = r0 <= 0.0f;
                    const float dv = iext - w0 - GL_P * (v0 - E_L) + cx_exp_term(v0, GL_P, VT_P, DT_P, 1.0f / DT_P) -
                                     gpe0 * (v0 - V_E) - (gpp0 + gps0) * (v0 - V_I);
                    const float vn = cx_above(v0 + P.kp * dv + P.noise_p * z, V_FLOOR);
                    spike = active && (vn > V_SPIKE);
                    v[i] = spike ? V_RESET : (active ? vn : v0);
                    w[i] = w1 + cx_on(spike, B_ADAPT);
                    refr[i] = cx_above(r0 - 1.0f, 0.0f) + cx_on(spike, P.ref_steps);
                } else {
                    pop = 2;
                    i = cell - L.ne - L.np;
                    const int n = L.ns;
                    float* v = som;
                    float* w = som + n;
                    float* refr = som + 2 * n;
                    float* gse = som + 3 * n;
                    const float z = noise[(calls_e + calls_p + i / 32) * 32 + i % 32];
                    const float v0 = v[i], w0 = w[i], r0 = refr[i], gse0 = gse[i];
                    const float w1 = w0 + P.kw * (A_S * (v0 - E_L) - w0);
                    gse[i] = gse0 * P.dec_se;
                    const bool active = r0 <= 0.0f;
                    const float dv = cx_exp_term(v0, GL_S, VT_S, DT_S, 1.0f / DT_S) + I_S - w0 - GL_S * (v0 - E_L) - gse0 * (v0 - V_E);
                    const float vn = cx_above(v0 + P.ks * dv + P.noise_s * z, V_FLOOR);
                    spike = active && (vn > V_SPIKE);
                    v[i] = spike ? V_RESET : (active ? vn : v0);
                    w[i] = w1 + cx_on(spike, B_ADAPT);
                    refr[i] = cx_above(r0 - 1.0f, 0.0f) + cx_on(spike, P.ref_steps);
                }
                if (spike) {
                    const int base = pop == 0 ? 0 : (pop == 1 ? L.we : L.we + L.wp);
                    atomicOr(&spk[base + (i >> 5)], 1u << (i & 31));
                    const int n = pop == 0 ? L.ne : (pop == 1 ? L.np : L.ns);
                    atomicAdd(&cnt[pop * g + cx_group_of(i, n, g)], 1.0f);  // integer counts: order-independent
                }
            }
            __syncthreads();
            // 4. Conductance jumps, effective from the next step: each target adds its presynaptic spikes' increments
            // in ascending presynaptic order, the CPU's order, so the f32 sums are the same.
            for (int cell = tid; cell < ntot; cell += nt) {
                if (cell < L.ne) {
                    const int i = cell;
                    float* gee = pyr + 4 * L.ne;
                    float* gep = pyr + 5 * L.ne;
                    float* ges = pyr + 6 * L.ne;
                    float a = gee[i], b = gep[i], c = ges[i];
                    for (int wd = 0; wd < L.we; wd++)
                        for (u32 m = spk[wd]; m; m &= m - 1) {
                            const int j = wd * 32 + __ffs(m) - 1;
                            if (cx_bit(conn + (size_t)j * re, i)) a += P.inc_ee;
                        }
                    for (int wd = 0; wd < L.wp; wd++)
                        for (u32 m = spk[L.we + wd]; m; m &= m - 1) {
                            const int j = wd * 32 + __ffs(m) - 1;
                            if (cx_bit(conn + (size_t)L.ne * re + (size_t)j * ri, i)) b += P.inc_ep;
                        }
                    for (int wd = 0; wd < L.ws; wd++)
                        for (u32 m = spk[L.we + L.wp + wd]; m; m &= m - 1) {
                            const int j = wd * 32 + __ffs(m) - 1;
                            if (cx_bit(conn + (size_t)L.ne * re + (size_t)L.np * ri + (size_t)j * ri, i)) c += P.inc_es;
                        }
                    gee[i] = a;
                    gep[i] = b;
                    ges[i] = c;
                } else if (cell < L.ne + L.np) {
                    const int i = cell - L.ne;
                    float* gpe = pv + 3 * L.np;
                    float* gpp = pv + 4 * L.np;
                    float* gps = pv + 5 * L.np;
                    float a = gpe[i], b = gpp[i], c = gps[i];
                    for (int wd = 0; wd < L.we; wd++)
                        for (u32 m = spk[wd]; m; m &= m - 1) {
                            const int j = wd * 32 + __ffs(m) - 1;
                            if (cx_bit(conn + (size_t)j * re + L.we, i)) a += P.inc_pe;
                        }
                    for (int wd = 0; wd < L.wp; wd++)
                        for (u32 m = spk[L.we + wd]; m; m &= m - 1) {
                            const int j = wd * 32 + __ffs(m) - 1;
                            if (cx_bit(conn + (size_t)L.ne * re + (size_t)j * ri + L.we, i)) b += P.inc_pp;
                        }
                    for (int wd = 0; wd < L.ws; wd++)
                        for (u32 m = spk[L.we + L.wp + wd]; m; m &= m - 1) {
                            const int j = wd * 32 + __ffs(m) - 1;
                            if (cx_bit(conn + (size_t)L.ne * re + (size_t)L.np * ri + (size_t)j * ri + L.we, i)) c += P.inc_ps;
                        }
                    gpe[i] = a;
                    gpp[i] = b;
                    gps[i] = c;
                } else {
                    const int i = cell - L.ne - L.np;
                    float* gse = som + 3 * L.ns;
                    float a = gse[i];
                    for (int wd = 0; wd < L.we; wd++)
                        for (u32 m = spk[wd]; m; m &= m - 1) {
                            const int j = wd * 32 + __ffs(m) - 1;
                            if (cx_bit(conn + (size_t)j * re + L.we + L.wp, i)) a += P.inc_se;
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
            const float dur_s = (float)nsteps * P.dt * 1e-3f;
            for (int i = tid; i < 3 * g; i += nt) {
                const int blk = i / g, k = i % g;
                const int n_pop = blk == 0 ? L.ne : (blk == 1 ? L.np : L.ns);
                const int size = cx_group_start(k + 1, n_pop, g) - cx_group_start(k, n_pop, g);
                const float rate = size > 0 ? cnt[i] / ((float)size * dur_s) : 0.0f;
                big[3 * g + i] = rate;
                const float mean = big[6 * g + i];
                const float delta = rate - mean;
                const float m1 = mean + delta / nf;
                big[6 * g + i] = m1;
                big[9 * g + i] = big[9 * g + i] + delta * (rate - m1);
            }
            __syncthreads();
            if (tid == 0) stat[0] = frames;
        }
        for (int i = tid; i < 3 * g; i += nt) big[i] = cnt[i];
        __syncthreads();
    }
    if (tid < 64) rng_g[tid] = rng[tid];
}

// Cortex features (docs/cortex.md): group mean rates, then their standard deviation over frames, into out[0 .. 6g).
extern "C" __global__ void cortex_features(const float* st, const int* stat, CxLayout L, float* out) {
    const int g = L.g;
    const float* big = st + L.grp + 6 * g;
    const float n = (float)max(stat[0], 1);
    for (int i = threadIdx.x; i < 6 * g; i += blockDim.x)
        out[i] = i < 3 * g ? big[6 * g + i] : __fsqrt_rn(fmaxf(big[9 * g + i - 3 * g] / n, 0.0f));
}
