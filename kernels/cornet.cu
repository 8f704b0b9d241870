// CORnet-Z on the GPU: one fused kernel per block (conv -> bias -> ReLU -> max-pool 3/2/1), no im2col buffer, and
// the global-average-pool + temporal-summary accumulation of IT.
//
// Tiling. A thread block computes a CZ_TP x CZ_TP tile of *pooled* outputs for CZ_COB output channels. Max-pool 3/2/1
// needs conv outputs at rows 2*py-1 .. 2*py+1, so the tile needs CZ_TC = 2*CZ_TP+1 conv rows and columns (one row and
// one column are shared with the neighbouring tile and computed by both: 15 for 14 new, 7 % extra work per axis).
// The input patch those conv outputs read ((CZ_TC-1)*S + K square, per input channel) is staged in shared memory
// CZ_CCH input channels at a time, together with the weights of those channels for the block's CZ_COB outputs.
// One thread computes one conv output position for all CZ_COB output channels (225 positions, 256 threads), keeping
// CZ_COB f32 accumulators. Pooling, bias and ReLU then read the conv tile from shared memory; pooling before bias and
// ReLU is exact (both commute with max), as in the CPU core.
//
// Precision. Activations and weights are stored as fp16. The products of one input channel (K*K taps) are summed in
// fp16 with __hfma2, two output channels per half2 (the input value is broadcast, the weight pair is one 32-bit shared
// load); after each input channel the half2 partial sums are added to the f32 accumulators. So fp16 carries at most
// K*K = 9 (49 for V1) terms, and the long reduction over input channels (up to 4608 terms in IT) is f32: an all-fp16
// accumulation loses about 1 % there. The pooled output is rounded to fp16 once.
//
// int8 weights (an option per block, as in the weights file): stored [cout_pad/COB][cin][K*K][COB] i8 with one fp16
// scale per output channel; they are dequantised to fp16 while staged into shared memory, so the arithmetic is the
// fp16 path (sm_53 has no dp4a; on sm_72+ a dp4a variant would also need the activations quantised, as the CPU does).
// What int8 buys on the GPU is half the weight memory and bandwidth of fp16.
//
// Weight layout on the device (made once at load, src/gpu/runtime.rs): [cout_pad/COB][cin][K*K][COB], cout padded to
// a multiple of COB with zeros, so each stage is one contiguous copy.
//
// Per architecture: shared memory per block is 30 KB for V1 (K=7, 4 channels staged) and 21 KB for V2-IT, under the
// 48 KB sm_53 limit; 256 threads x 80-106 registers (ptxas -v in CI) leave room for two blocks per 64K-register SM.
// Tensor cores (sm_72+: mma.sync as an implicit GEMM) are not used: at batch 1 and 64x64 frames the layers are too
// small for the fragment shapes to pay for themselves; it is the first thing to try for 224x224.

#define CZ_TP 7
#define CZ_TC (2 * CZ_TP + 1)
#define CZ_COB 16
#define CZ_NT 256

template <int K, int S, int CCH, bool U8IN, bool I8W>
__device__ __forceinline__ void cz_block(const void* __restrict__ in_v, int first_slot, const void* __restrict__ w_v,
                                         const __half* __restrict__ wscale, const float* __restrict__ bias,
                                         __half* __restrict__ out, int cin, int h, int w, int cout, int ho, int wo,
                                         int ph, int pw, int tiles_x) {
    const int PS = (CZ_TC - 1) * S + K;  // input patch side
    const int KK = K * K;
    const int PAD = K / 2;
    __shared__ __half patch[CCH * PS * PS];
    __shared__ __half2 wsh[CCH * KK * (CZ_COB / 2)];
    __shared__ float conv[CZ_COB * CZ_TC * CZ_TC];

    const int tid = threadIdx.x;
    const int tile = blockIdx.x;
    const int cob = blockIdx.y;
    const int py0 = (tile / tiles_x) * CZ_TP;
    const int px0 = (tile % tiles_x) * CZ_TP;
    const int cy0 = 2 * py0 - 1;  // first conv row of the tile (may be -1: pool padding)
    const int cx0 = 2 * px0 - 1;
    const int iy0 = cy0 * S - PAD;  // first input row of the patch
    const int ix0 = cx0 * S - PAD;
    const bool active = tid < CZ_TC * CZ_TC;
    const int ly = tid / CZ_TC;
    const int lx = tid % CZ_TC;

    float acc[CZ_COB];
#pragma unroll
    for (int j = 0; j < CZ_COB; j++) acc[j] = 0.0f;

    for (int c0 = 0; c0 < cin; c0 += CCH) {
        __syncthreads();
        // Stage the input patch of channels c0 .. c0+CCH-1 (zero outside the image and past cin).
        for (int idx = tid; idx < CCH * PS * PS; idx += CZ_NT) {
            const int ci = idx / (PS * PS);
            const int r = idx - ci * PS * PS;
            const int iy = iy0 + r / PS;
            const int ix = ix0 + r % PS;
            __half v = __float2half(0.0f);
            if (c0 + ci < cin && iy >= 0 && iy < h && ix >= 0 && ix < w) {
                if (U8IN) {
                    // Channel c of the stack is ring slot (first_slot + c) % cin: the oldest frame first.
                    const int slot = (first_slot + c0 + ci) % cin;
                    const u8 b = ((const u8*)in_v)[(slot * h + iy) * w + ix];
                    v = __float2half((float)b * (1.0f / 255.0f));
                } else {
                    v = ((const __half*)in_v)[((c0 + ci) * h + iy) * w + ix];
                }
            }
            patch[idx] = v;
        }
        // Stage the weights: device layout [cob][cin][KK][COB] is contiguous per (cob, channel range).
        const size_t wbase = ((size_t)cob * cin + c0) * KK * CZ_COB;
        for (int idx = tid; idx < CCH * KK * CZ_COB; idx += CZ_NT) {
            const int ci = idx / (KK * CZ_COB);
            __half v = __float2half(0.0f);
            if (c0 + ci < cin) {
                if (I8W) {
                    const int co = cob * CZ_COB + idx % CZ_COB;
                    const float q = (float)((const i8*)w_v)[wbase + idx];
                    v = __float2half(q * __half2float(wscale[co]));
                } else {
                    v = ((const __half*)w_v)[wbase + idx];
                }
            }
            ((__half*)wsh)[idx] = v;
        }
        __syncthreads();
        if (active) {
            for (int ci = 0; ci < CCH; ci++) {
                __half2 part[CZ_COB / 2];
#pragma unroll
                for (int j = 0; j < CZ_COB / 2; j++) part[j] = __float2half2_rn(0.0f);
                const __half* prow = patch + ci * PS * PS + (ly * S) * PS + lx * S;
                const __half2* wrow = wsh + ci * KK * (CZ_COB / 2);
#pragma unroll
                for (int ky = 0; ky < K; ky++) {
#pragma unroll
                    for (int kx = 0; kx < K; kx++) {
                        const __half2 x2 = __half2half2(prow[ky * PS + kx]);
                        const __half2* wk = wrow + (ky * K + kx) * (CZ_COB / 2);
#pragma unroll
                        for (int j = 0; j < CZ_COB / 2; j++) part[j] = __hfma2(x2, wk[j], part[j]);
                    }
                }
#pragma unroll
                for (int j = 0; j < CZ_COB / 2; j++) {
                    acc[2 * j] += __low2float(part[j]);
                    acc[2 * j + 1] += __high2float(part[j]);
                }
            }
        }
    }
    // Conv tile to shared memory; positions outside the conv output are -inf (max-pool ignores them).
    if (active) {
        const int cy = cy0 + ly;
        const int cx = cx0 + lx;
        const bool inside = cy >= 0 && cy < ho && cx >= 0 && cx < wo;
#pragma unroll
        for (int j = 0; j < CZ_COB; j++) conv[j * CZ_TC * CZ_TC + tid] = inside ? acc[j] : AVF_NEG_INF;
    }
    __syncthreads();
    // Max-pool 3/2/1, then bias and ReLU, rounded to fp16 once.
    for (int idx = tid; idx < CZ_COB * CZ_TP * CZ_TP; idx += CZ_NT) {
        const int j = idx / (CZ_TP * CZ_TP);
        const int r = idx - j * CZ_TP * CZ_TP;
        const int qy = r / CZ_TP;
        const int qx = r % CZ_TP;
        const int co = cob * CZ_COB + j;
        const int gy = py0 + qy;
        const int gx = px0 + qx;
        if (co >= cout || gy >= ph || gx >= pw) continue;
        const float* c = conv + j * CZ_TC * CZ_TC + (2 * qy) * CZ_TC + 2 * qx;
        float m = AVF_NEG_INF;
#pragma unroll
        for (int dy = 0; dy < 3; dy++)
#pragma unroll
            for (int dx = 0; dx < 3; dx++) m = fmaxf(m, c[dy * CZ_TC + dx]);
        out[((size_t)co * ph + gy) * pw + gx] = __float2half(fmaxf(m + bias[co], 0.0f));
    }
}

// V1: 7x7 stride 2 pad 3 over the u8 frame ring (4 input channels staged per pass: 37 KB of shared memory).
extern "C" __global__ void __launch_bounds__(CZ_NT) cz_v1_f16w(const u8* ring, const int* params, const __half* w,
                                                               const __half* wscale, const float* bias, __half* out,
                                                               int cin, int h, int w_, int cout, int ho, int wo,
                                                               int ph, int pw, int tiles_x) {
    cz_block<7, 2, 4, true, false>(ring, params[0], w, wscale, bias, out, cin, h, w_, cout, ho, wo, ph, pw, tiles_x);
}

extern "C" __global__ void __launch_bounds__(CZ_NT) cz_v1_i8w(const u8* ring, const int* params, const i8* w,
                                                              const __half* wscale, const float* bias, __half* out,
                                                              int cin, int h, int w_, int cout, int ho, int wo,
                                                              int ph, int pw, int tiles_x) {
    cz_block<7, 2, 4, true, true>(ring, params[0], w, wscale, bias, out, cin, h, w_, cout, ho, wo, ph, pw, tiles_x);
}

// V2, V4, IT: 3x3 stride 1 pad 1 over the previous block's fp16 pooled map (8 input channels staged per pass).
extern "C" __global__ void __launch_bounds__(CZ_NT) cz_k3_f16w(const __half* in, const int* params, const __half* w,
                                                               const __half* wscale, const float* bias, __half* out,
                                                               int cin, int h, int w_, int cout, int ho, int wo,
                                                               int ph, int pw, int tiles_x) {
    cz_block<3, 1, 8, false, false>(in, 0, w, wscale, bias, out, cin, h, w_, cout, ho, wo, ph, pw, tiles_x);
}

extern "C" __global__ void __launch_bounds__(CZ_NT) cz_k3_i8w(const __half* in, const int* params, const i8* w,
                                                              const __half* wscale, const float* bias, __half* out,
                                                              int cin, int h, int w_, int cout, int ho, int wo,
                                                              int ph, int pw, int tiles_x) {
    cz_block<3, 1, 8, false, true>(in, 0, w, wscale, bias, out, cin, h, w_, cout, ho, wo, ph, pw, tiles_x);
}

// IT's global average pool (f32 sum of the fp16 map) and the clip's running sum and sum of squares of it (the
// temporal summary's moments, f32). One warp per channel; `gap` keeps the last stack's vector.
extern "C" __global__ void cz_gap_accumulate(const __half* act, int c, int hw, float* gap, float* sum, float* sumsq) {
    const int warp = (blockIdx.x * blockDim.x + threadIdx.x) / 32;
    const int lane = threadIdx.x % 32;
    if (warp >= c) return;
    const __half* m = act + (size_t)warp * hw;
    float s = 0.0f;
    for (int i = lane; i < hw; i += 32) s += __half2float(m[i]);
#pragma unroll
    for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) {
        const float g = s / (float)hw;
        gap[warp] = g;
        sum[warp] += g;
        sumsq[warp] += g * g;
    }
}
