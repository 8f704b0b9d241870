// CORnet-Z on the GPU: one fused kernel per block (conv -> bias -> ReLU -> max-pool 3/2/1), no im2col buffer, and
// the global-average-pool + temporal-summary accumulation of IT.
//
// Tiling. A thread block computes a TP x TP tile of *pooled* outputs for CZ_COB output channels. Max-pool 3/2/1 needs
// conv outputs at rows 2*py-1 .. 2*py+1, so the tile needs TC = 2*TP+1 conv rows and columns (one row and one column
// are shared with the neighbouring tile and computed by both). The input patch those conv outputs read
// ((TC-1)*S + K square, per input channel) is staged in shared memory `cch` input channels at a time, together with
// the weights of those channels for the block's CZ_COB outputs. One thread computes one conv position for all CZ_COB
// output channels, keeping CZ_COB f32 accumulators. Pooling, bias and ReLU then read the conv tile from shared
// memory; pooling before bias and ReLU is exact (both commute with max), as in the CPU core.
//
// Tiles sized to the map (src/host/gpu/runtime.rs, `tile_plan`): the host picks TP in {7, 4, 3, 2, 1} so that the
// tiles cover the pooled map with the fewest conv positions (at 64x64 frames: V1 and V2 4, V4 4, IT 2 instead of a
// fixed 7, which computed 15x15 positions for V4's 8x8 and IT's 4x4). A small tile leaves threads free: then `ks`
// groups of TC*TC threads split the reduction over input channels (group s takes the staged channels s, s+ks, ...)
// and add their partial sums in shared memory at the end, so every thread of the block works.
//
// Split reductions (3x3 blocks). At 64x64 frames V2, V4 and IT are grids of 16-32 blocks, a fraction of a large
// GPU's multiprocessors, and a block's time is its chain of passes over the input channels. When the grid would leave
// most multiprocessors idle, the host splits the input channels into `kslices` slices (grid z, at most one block per
// multiprocessor, at least 16 channels a slice): each block reduces its slice, writes its conv tile's f32 sums to
// `part`, and the last block of the tile to arrive (a per-tile counter, after a fence) adds the slices in slice
// order - the same sum whichever block is last - then pools, and re-zeroes the counter for the next launch. A GPU
// with few multiprocessors (Jetson: 1-16) is already full and gets no split.
//
// Staging as a software pipeline. Each thread stages fixed elements of every pass (their offsets computed once), and
// the next pass's patch and weights are loaded into registers while this pass computes; every load of a pass is
// issued before any is used, so a pass waits for memory once, not once per element. The loop has one call site
// for each step: inlined twice, V1's unrolled loads outgrew the instruction cache (docs/gpu.md). Passes are balanced
// (as few as fit, equal in size).
//
// Precision. Activations and weights are stored as fp16. The products of one input channel (K*K taps) are summed in
// fp16 with __hfma2, two output channels per half2 (the input value is broadcast, the weight pair is one 32-bit shared
// load); after each input channel the half2 partial sums are added to the f32 accumulators. So fp16 carries at most
// K*K = 9 (49 for V1) terms, and the long reduction over input channels (up to 4608 terms in IT) is f32: an all-fp16
// accumulation loses about 1 %. The pooled output is rounded to fp16 once.
//
// int8 weights (an option per block, as in the weights file): stored [cout_pad/COB][cin][K*K][COB] i8 with one f32
// scale per output channel (f32: fp16 scales lose precision and go subnormal for small weights); they are loaded in
// 16-byte words (one word = the COB outputs of one channel and tap) and dequantised to fp16 while staged into shared
// memory, so the arithmetic is the fp16 path (sm_53 has no dp4a; on sm_72+ a dp4a variant would also need the
// activations quantised, as the CPU does). What int8 buys on the GPU is half the weight memory and bandwidth of fp16.
//
// Weight layout on the device (made once at load, src/host/gpu/runtime.rs): [cout_pad/COB][cin][K*K][COB], cout padded
// to a multiple of COB with zeros, so each stage is one contiguous copy.
//
// Per architecture: shared memory per block is 32.5 KB for V1 and 34.9 KB for the 3x3 blocks (the capacities below),
// under the 48 KB sm_53 limit; 256 threads x 127-188 registers (ptxas -v in CI; the prefetch registers cost 36-96 B
// of spills on sm_53 and on V1 elsewhere). Measured on an H200 (docs/gpu.md): a 64x64 stack, host frame to result,
// 0.130 ms before the split and the pipelined staging, 0.072 ms after. Tensor cores (sm_72+: mma.sync as an implicit
// GEMM) are not used: at batch 1 and 64x64 frames the layers are too small for the fragment shapes to pay for
// themselves; it is the first thing to try for 224x224.

#define CZ_COB 16
#define CZ_NT 256
// Shared-memory capacities (the host plans within them; the kernel traps if a plan exceeds them).
#define CZ_PATCH_V1 4900  // halves: 4 channels of a 35x35 patch (TP 7, stride 2, K 7)
#define CZ_W_V1 3136      // halves: 4 channels x 49 taps x 16 outputs
#define CZ_PATCH_K3 4624  // halves: 16 channels of a 17x17 patch (TP 7, K 3)
#define CZ_W_K3 4608      // halves: 32 channels x 9 taps x 16 outputs
#define CZ_F32 4096       // floats: the conv tile (16 x 15^2 = 3600) or the groups' partial sums (ks*TC^2*16 <= 4096)
#define CZ_SUMS 6         // conv-tile values per thread when groups are combined (16 * 9^2 / 256, rounded up)

// One block's geometry and tile plan, from the host (`CzDims` in src/host/gpu/runtime.rs).
struct CzDims {
    int cin, h, w, cout, ho, wo, ph, pw;
    int tiles_x;  // tiles per row of the pooled map
    int tp;       // pooled tile side TP (conv tile TC = 2 TP + 1)
    int ks;       // channel groups splitting the reduction (ks * TC * TC <= CZ_NT)
    int cch;      // input channels staged per pass
    int kslices;  // blocks splitting the input channels (grid z); 1 = the block reduces over all of them
    int cps;      // input channels per slice (the last slice may have fewer)
};

template <int K, int S, bool U8IN, bool I8W, int PATCH, int WCAP>
__device__ __forceinline__ void cz_block(const void* __restrict__ in_v, int first_slot, const void* __restrict__ w_v,
                                         const float* __restrict__ wscale, const float* __restrict__ bias,
                                         __half* __restrict__ out, float* part, int* count, const CzDims D) {
    const int TC = 2 * D.tp + 1;
    const int TC2 = TC * TC;
    const int PS = (TC - 1) * S + K;  // input patch side
    const int PSPS = PS * PS;
    const int KK = K * K;
    const int PAD = K / 2;
    // Staging work per thread and pass, fixed at compile time so that the prefetch lives in registers.
    constexpr int PPT = (PATCH + CZ_NT - 1) / CZ_NT;            // patch halves
    constexpr int WB = I8W ? 16 : 8;                             // weights per 16-byte word
    constexpr int WPT = (WCAP / WB + CZ_NT - 1) / CZ_NT;         // weight words
    __shared__ __half patch[PATCH];
    // 16-byte words, so that fp16 weights are staged with 16-byte copies; read as half2 pairs.
    __shared__ uint4 wsh16[WCAP / 8];
    __half2* const wsh = (__half2*)wsh16;
    static_assert((K * K * CZ_COB) % 16 == 0 && WCAP % 16 == 0, "weights are staged in 16-byte words");
    __shared__ float f32s[CZ_F32];
    __shared__ float wsc[CZ_COB];
    __shared__ int last_slice;
    if (D.tp < 1 || D.ks < 1 || D.cch < 1 || D.ks * TC2 > CZ_NT || D.cch * PSPS > PATCH ||
        D.cch * KK * CZ_COB > WCAP || CZ_COB * TC2 > CZ_F32 || D.ks * TC2 * CZ_COB > CZ_F32 ||
        (D.ks > 1 && CZ_COB * TC2 > CZ_SUMS * CZ_NT) || D.kslices < 1 || D.cps < 1 ||
        (D.kslices - 1) * D.cps >= D.cin || D.kslices * D.cps < D.cin || (D.kslices > 1 && part == nullptr) ||
        D.cch >= (1 << 11) || D.h * D.w > (1 << 20))
        __trap();

    const int tid = threadIdx.x;
    const int tile = blockIdx.x;
    const int cob = blockIdx.y;
    const int py0 = (tile / D.tiles_x) * D.tp;
    const int px0 = (tile % D.tiles_x) * D.tp;
    const int cy0 = 2 * py0 - 1;  // first conv row of the tile (may be -1: pool padding)
    const int cx0 = 2 * px0 - 1;
    const int iy0 = cy0 * S - PAD;  // first input row of the patch
    const int ix0 = cx0 * S - PAD;
    const int split = tid / TC2;  // this thread's channel group
    const int pos = tid % TC2;    // and conv position in the tile
    const bool active = split < D.ks;
    const int ly = pos / TC;
    const int lx = pos % TC;
    // This block's slice of the input channels (all of them unless the host split the reduction across blocks).
    const int cbeg = blockIdx.z * D.cps;
    const int cend = min(D.cin, cbeg + D.cps);
    if (I8W && tid < CZ_COB) wsc[tid] = wscale[cob * CZ_COB + tid];

    // The patch elements this thread stages, the same in every pass: channel within the pass (bits 20 and up) and
    // offset in the input map, or -1 outside the image (zero padding) or past the pass's patch.
    int poff[PPT];
#pragma unroll
    for (int u = 0; u < PPT; u++) {
        const int idx = tid + u * CZ_NT;
        int o = -1;
        if (idx < D.cch * PSPS) {
            const int ci = idx / PSPS;
            const int r = idx - ci * PSPS;
            const int iy = iy0 + r / PS;
            const int ix = ix0 + r % PS;
            if (iy >= 0 && iy < D.h && ix >= 0 && ix < D.w) o = (ci << 20) | (iy * D.w + ix);
        }
        poff[u] = o;
    }

    // Software pipeline: the next pass's patch and weights are loaded into registers while this pass computes, and
    // every load of a pass is issued before any is used, so a pass waits for global memory once, not once per element.
    __half2 pv[(PPT + 1) / 2];  // two patch halves a register
    uint4 wv[WPT];
    // Zeroed once so that no path reads them unset (the first pass's fetch always runs before its stage).
#pragma unroll
    for (int u = 0; u < (PPT + 1) / 2; u++) pv[u] = __float2half2_rn(0.0f);
#pragma unroll
    for (int u = 0; u < WPT; u++) wv[u] = make_uint4(0u, 0u, 0u, 0u);
    auto fetch = [&](int c0) {
        const int nvalid = min(D.cch, cend - c0);  // channels of the pass inside the slice; the rest stage as zero
#pragma unroll
        for (int u = 0; u < PPT; u++) {
            const int o = poff[u];
            __half v = __float2half(0.0f);
            if (o >= 0 && (o >> 20) < nvalid) {
                const int ci = o >> 20;
                const int sp = o & 0xfffff;
                if (U8IN) {
                    // Channel c of the stack is ring slot (first_slot + c) % cin: the oldest frame first.
                    const int slot = (first_slot + c0 + ci) % D.cin;
                    const u8 b = ((const u8*)in_v)[(size_t)slot * D.h * D.w + sp];
                    v = __float2half((float)b * (1.0f / 255.0f));
                } else {
                    v = ((const __half*)in_v)[(size_t)(c0 + ci) * D.h * D.w + sp];
                }
            }
            if (u % 2 == 0)
                pv[u / 2] = __halves2half2(v, __float2half(0.0f));
            else
                pv[u / 2] = __halves2half2(__low2half(pv[u / 2]), v);
        }
        // Device layout [cob][cin][KK][COB] is contiguous per (cob, channel range); a channel's KK * CZ_COB weights
        // are a whole number of 16-byte words and the range starts on one (device buffers are 256-byte aligned).
        const int valid = nvalid * KK * CZ_COB / WB;
        const uint4* src =
            (const uint4*)((const char*)w_v + ((size_t)cob * D.cin + c0) * KK * CZ_COB * (I8W ? 1 : 2));
#pragma unroll
        for (int u = 0; u < WPT; u++) {
            const int idx = tid + u * CZ_NT;
            uint4 v;
            v.x = v.y = v.z = v.w = 0u;
            if (idx < valid) v = src[idx];
            wv[u] = v;
        }
    };
    auto stage = [&]() {
#pragma unroll
        for (int u = 0; u < PPT; u++) {
            const int idx = tid + u * CZ_NT;
            if (idx < D.cch * PSPS) patch[idx] = u % 2 == 0 ? __low2half(pv[u / 2]) : __high2half(pv[u / 2]);
        }
        const int words = D.cch * KK * CZ_COB / WB;
#pragma unroll
        for (int u = 0; u < WPT; u++) {
            const int idx = tid + u * CZ_NT;
            if (idx >= words) continue;
            if (I8W) {
                // One word is the CZ_COB output channels of one (channel, tap): byte j has output channel j's
                // scale. Dequantised to fp16 here, so the arithmetic is the fp16 path's.
                const u32 q[4] = {wv[u].x, wv[u].y, wv[u].z, wv[u].w};
                __half h[CZ_COB];
#pragma unroll
                for (int j = 0; j < CZ_COB; j++) {
                    const i8 b = (i8)(u8)((q[j / 4] >> (8 * (j % 4))) & 0xffu);
                    h[j] = __float2half((float)b * wsc[j]);
                }
                __half2* dst = wsh + idx * (CZ_COB / 2);
#pragma unroll
                for (int j = 0; j < CZ_COB / 2; j++) dst[j] = __halves2half2(h[2 * j], h[2 * j + 1]);
            } else {
                wsh16[idx] = wv[u];
            }
        }
    };

    float acc[CZ_COB];
#pragma unroll
    for (int j = 0; j < CZ_COB; j++) acc[j] = 0.0f;

    // One call site each for fetch, stage and compute (the loop starts one pass early to fetch the first). With the
    // fetch inlined twice, V1 stalled on instruction fetch on an H200 (ncu: 19.1 us, 4 % more instructions than the
    // 14.8 us of the unpipelined kernel); with one call site 17.7 us.
    for (int c0 = cbeg - D.cch; c0 < cend; c0 += D.cch) {
        if (c0 >= cbeg) {
            __syncthreads();  // the previous pass has finished reading shared memory (and the scales are written)
            stage();
            __syncthreads();
        }
        if (c0 + D.cch < cend) fetch(c0 + D.cch);
        if (c0 < cbeg) continue;
        const int nch = min(D.cch, cend - c0);
        if (active) {
            for (int ci = split; ci < nch; ci += D.ks) {
                __half2 part2[CZ_COB / 2];
#pragma unroll
                for (int j = 0; j < CZ_COB / 2; j++) part2[j] = __float2half2_rn(0.0f);
                const __half* prow = patch + ci * PSPS + (ly * S) * PS + lx * S;
                const __half2* wrow = wsh + ci * KK * (CZ_COB / 2);
#pragma unroll
                for (int ky = 0; ky < K; ky++) {
#pragma unroll
                    for (int kx = 0; kx < K; kx++) {
                        const __half2 x2 = __half2half2(prow[ky * PS + kx]);
                        const __half2* wk = wrow + (ky * K + kx) * (CZ_COB / 2);
#pragma unroll
                        for (int j = 0; j < CZ_COB / 2; j++) part2[j] = __hfma2(x2, wk[j], part2[j]);
                    }
                }
#pragma unroll
                for (int j = 0; j < CZ_COB / 2; j++) {
                    acc[2 * j] += __low2float(part2[j]);
                    acc[2 * j + 1] += __high2float(part2[j]);
                }
            }
        }
    }
    // Conv tile [COB][TC][TC] in shared memory; positions outside the conv output are -inf (max-pool ignores them).
    // With channel groups, their partial sums are added first (group order, f32), into registers, and the tile is
    // written over the partial sums once every thread has read its own. With the reduction split across blocks,
    // each block writes its tile's sums to `part` instead, and the last block of the tile to finish adds the slices
    // (in slice order, whichever block is last) and pools.
    float* conv = f32s;
    const int tb = tile * gridDim.y + cob;  // this tile and channel block, across the slices
    float* mine = D.kslices > 1 ? part + ((size_t)tb * D.kslices + blockIdx.z) * (CZ_COB * TC2) : nullptr;
    auto inside = [&](int p) {
        const int cy = cy0 + p / TC;
        const int cx = cx0 + p % TC;
        return cy >= 0 && cy < D.ho && cx >= 0 && cx < D.wo;
    };
    if (D.ks == 1) {
        if (active) {
#pragma unroll
            for (int j = 0; j < CZ_COB; j++) {
                if (mine)
                    mine[j * TC2 + pos] = acc[j];
                else
                    conv[j * TC2 + pos] = inside(pos) ? acc[j] : AVF_NEG_INF;
            }
        }
    } else {
        if (active) {
#pragma unroll
            for (int j = 0; j < CZ_COB; j++) f32s[(split * TC2 + pos) * CZ_COB + j] = acc[j];
        }
        __syncthreads();
        float sums[CZ_SUMS];
#pragma unroll
        for (int u = 0; u < CZ_SUMS; u++) {
            const int idx = tid + u * CZ_NT;
            float s = 0.0f;
            if (idx < TC2 * CZ_COB) {
                const int p = idx / CZ_COB, j = idx % CZ_COB;
                for (int g = 0; g < D.ks; g++) s += f32s[(g * TC2 + p) * CZ_COB + j];
            }
            sums[u] = s;
        }
        __syncthreads();
#pragma unroll
        for (int u = 0; u < CZ_SUMS; u++) {
            const int idx = tid + u * CZ_NT;
            if (idx < TC2 * CZ_COB) {
                const int p = idx / CZ_COB, j = idx % CZ_COB;
                if (mine)
                    mine[j * TC2 + p] = sums[u];
                else
                    conv[j * TC2 + p] = inside(p) ? sums[u] : AVF_NEG_INF;
            }
        }
    }
    if (D.kslices > 1) {
        // The last block of the tile: the classic fence-then-count pattern (each block's sums are visible device-wide
        // before its count), then a fence before reading the others' sums, which bypass this block's L1 (volatile).
        __threadfence();
        __syncthreads();
        if (tid == 0) last_slice = atomicAdd(count + tb, 1) == D.kslices - 1;
        __syncthreads();
        if (!last_slice) return;
        __threadfence();
        const volatile float* all = part + (size_t)tb * D.kslices * (CZ_COB * TC2);
        for (int idx = tid; idx < CZ_COB * TC2; idx += CZ_NT) {
            float s = 0.0f;
            for (int z = 0; z < D.kslices; z++) s += all[(size_t)z * (CZ_COB * TC2) + idx];
            conv[idx] = inside(idx % TC2) ? s : AVF_NEG_INF;
        }
        if (tid == 0) count[tb] = 0;  // ready for the next launch (stream order)
    }
    __syncthreads();
    // Max-pool 3/2/1, then bias and ReLU, rounded to fp16 once.
    for (int idx = tid; idx < CZ_COB * D.tp * D.tp; idx += CZ_NT) {
        const int j = idx / (D.tp * D.tp);
        const int r = idx - j * D.tp * D.tp;
        const int qy = r / D.tp;
        const int qx = r % D.tp;
        const int co = cob * CZ_COB + j;
        const int gy = py0 + qy;
        const int gx = px0 + qx;
        if (co >= D.cout || gy >= D.ph || gx >= D.pw) continue;
        const float* c = conv + j * TC2 + (2 * qy) * TC + 2 * qx;
        float m = AVF_NEG_INF;
#pragma unroll
        for (int dy = 0; dy < 3; dy++)
#pragma unroll
            for (int dx = 0; dx < 3; dx++) m = fmaxf(m, c[dy * TC + dx]);
        out[((size_t)co * D.ph + gy) * D.pw + gx] = __float2half(fmaxf(m + bias[co], 0.0f));
    }
}

// V1: 7x7 stride 2 pad 3 over the u8 frame ring. params[0] is the ring slot of the stack's oldest frame.
extern "C" __global__ void __launch_bounds__(CZ_NT) cz_v1_f16w(const u8* ring, const int* params, const __half* w,
                                                               const float* wscale, const float* bias, __half* out,
                                                               CzDims D) {
    cz_block<7, 2, true, false, CZ_PATCH_V1, CZ_W_V1>(ring, params[0], w, wscale, bias, out, nullptr, nullptr, D);
}

extern "C" __global__ void __launch_bounds__(CZ_NT) cz_v1_i8w(const u8* ring, const int* params, const i8* w,
                                                              const float* wscale, const float* bias, __half* out,
                                                              CzDims D) {
    cz_block<7, 2, true, true, CZ_PATCH_V1, CZ_W_V1>(ring, params[0], w, wscale, bias, out, nullptr, nullptr, D);
}

// V2, V4, IT: 3x3 stride 1 pad 1 over the previous block's fp16 pooled map.
// `part` holds the slices' conv-tile sums ([tile x channel block][slice][CZ_COB][TC^2] f32) and `count` one zeroed
// counter per tile and channel block, when the host splits the reduction (D.kslices > 1).
extern "C" __global__ void __launch_bounds__(CZ_NT) cz_k3_f16w(const __half* in, const __half* w, const float* wscale,
                                                               const float* bias, __half* out, float* part,
                                                               int* count, CzDims D) {
    cz_block<3, 1, false, false, CZ_PATCH_K3, CZ_W_K3>(in, 0, w, wscale, bias, out, part, count, D);
}

extern "C" __global__ void __launch_bounds__(CZ_NT) cz_k3_i8w(const __half* in, const i8* w, const float* wscale,
                                                              const float* bias, __half* out, float* part,
                                                              int* count, CzDims D) {
    cz_block<3, 1, false, true, CZ_PATCH_K3, CZ_W_K3>(in, 0, w, wscale, bias, out, part, count, D);
}

// IT's global average pool (f32 sum of the fp16 map) and the clip's running mean and sum of squared deviations of it
// (Welford, as the CPU core: stable where sum-of-squares minus squared-sum cancels). One warp per channel; `gap` keeps
// the last stack's vector; params[1] is the number of stacks including this one.
extern "C" __global__ void cz_gap_accumulate(const __half* act, const int* params, int c, int hw, float* gap,
                                             float* mean, float* m2) {
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
        const float n = (float)params[1];
        const float d = g - mean[warp];
        gap[warp] = g;
        mean[warp] += d / n;
        m2[warp] += d * (g - mean[warp]);
    }
}
