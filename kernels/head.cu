// The tail of the model in one single-block launch: the visual temporal summary and read-out, the audio read-out,
// the fusion MLP (F1, F2 attention as an option) and BEL, ending in the five emotions and EPP.
//
// Precision: the weight matrices are fp16 (half the bytes; the tail reads every weight once per inference, so it is
// bandwidth-bound), vectors and every dot product are f32 (one warp per output row, lanes over the inputs, then a
// shuffle reduction). BEL's weights stay f32 (they are learned online on the host and uploaded after each step).
// These layers are tiny (at most a few hundred thousand multiply-adds); the point of running them on the GPU is to
// avoid a device-to-host round trip in the middle of the inference, not speed.

#define HD_NT 256
#define HD_MAX_SUMMARY 4096
#define HD_MAX_HIDDEN 1024
#define HD_MAX_AIN 512
#define HD_MAX_SENS 64

__device__ __forceinline__ float hd_warp_sum(float s) {
#pragma unroll
    for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
    return s;
}

// y[r] = b[r] + W[r] . x for r < rows; W fp16 [rows][cols]; one warp per row.
__device__ void hd_dense(const __half* W, const float* b, const float* x, int rows, int cols, float* y) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nw = blockDim.x / 32;
    for (int r = warp; r < rows; r += nw) {
        const __half* row = W + (size_t)r * cols;
        float s = 0.0f;
        for (int i = lane; i < cols; i += 32) s += __half2float(row[i]) * x[i];
        s = hd_warp_sum(s);
        if (lane == 0) y[r] = b[r] + s;
    }
}

__device__ void hd_softmax_mul(float* v, float* logits, int n) {
    __syncthreads();
    if (threadIdx.x == 0) {
        float m = AVF_NEG_INF;
        for (int i = 0; i < n; i++) m = fmaxf(m, logits[i]);
        float sum = 0.0f;
        for (int i = 0; i < n; i++) {
            logits[i] = expf(logits[i] - m);
            sum += logits[i];
        }
        for (int i = 0; i < n; i++) v[i] *= logits[i] / sum;
    }
    __syncthreads();
}

struct HdDims {
    int it;          // IT width (summary is 2*it)
    int features;    // visual features
    int n_a;         // audio read-out inputs
    int fa;          // audio features
    int hidden;      // fusion hidden units per modality
    int sensory;     // BEL inputs
    int attention;   // F2
    int audio, video;
};

// out: [0,5) emotions, 5 EPP, 6-7 contribution (audio, visual), [8,13) amygdala, [13,18) orbitofrontal,
// then S (sensory), x_a (fa), x_v (features).
extern "C" __global__ void __launch_bounds__(HD_NT) head_fusion_bel(
    HdDims D, const float* vsum, const float* vsumsq, float stacks, const float* v_mean, const float* v_inv_std,
    const __half* v_w, const float* v_b, const float* a_in, const float* a_mean, const float* a_inv_std,
    const __half* a_w, const float* a_b, const __half* fa_w, const float* fa_b, const __half* fv_w,
    const float* fv_b, const __half* att_a_w, const float* att_a_b, const __half* att_v_w, const float* att_v_b,
    const __half* fo_w, const float* fo_b, const float* amyg, const float* thal, const float* orbi, float* out) {
    __shared__ float summary[HD_MAX_SUMMARY];
    __shared__ float ain[HD_MAX_AIN];
    __shared__ float x_a[64], x_v[64];
    __shared__ float hid[2 * HD_MAX_HIDDEN];
    __shared__ float logits[HD_MAX_HIDDEN];
    __shared__ float pa[HD_MAX_SENS], pv[HD_MAX_SENS], s[HD_MAX_SENS];
    const int tid = threadIdx.x;
    const int h = D.hidden;
    // Visual: temporal summary [mean; std] of IT over the clip, standardised, then the read-out.
    if (D.video) {
        for (int i = tid; i < D.it; i += blockDim.x) {
            const float m = vsum[i] / stacks;
            const float var = fmaxf(vsumsq[i] / stacks - m * m, 0.0f);
            summary[i] = (m - v_mean[i]) * v_inv_std[i];
            summary[D.it + i] = (__fsqrt_rn(var) - v_mean[D.it + i]) * v_inv_std[D.it + i];
        }
        __syncthreads();
        hd_dense(v_w, v_b, summary, D.features, 2 * D.it, x_v);
    }
    // Audio: descriptors, interval profile and cortex features, standardised, then the read-out.
    if (D.audio) {
        for (int i = tid; i < D.n_a; i += blockDim.x) ain[i] = (a_in[i] - a_mean[i]) * a_inv_std[i];
        __syncthreads();
        hd_dense(a_w, a_b, ain, D.fa, D.n_a, x_a);
    }
    __syncthreads();
    // Fusion F1: a = ReLU(W_a x_a + b_a), v = ReLU(W_v x_v + b_v); a missing modality is a zero hidden vector.
    if (D.audio) hd_dense(fa_w, fa_b, x_a, h, D.fa, hid);
    if (D.video) hd_dense(fv_w, fv_b, x_v, h, D.features, hid + h);
    __syncthreads();
    for (int i = tid; i < 2 * h; i += blockDim.x) {
        const bool present = i < h ? D.audio : D.video;
        hid[i] = present ? fmaxf(hid[i], 0.0f) : 0.0f;
    }
    __syncthreads();
    if (D.attention) {
        if (D.audio) {
            hd_dense(att_a_w, att_a_b, hid, h, h, logits);
            hd_softmax_mul(hid, logits, h);
        }
        if (D.video) {
            __syncthreads();
            hd_dense(att_v_w, att_v_b, hid + h, h, h, logits);
            hd_softmax_mul(hid + h, logits, h);
        }
    }
    __syncthreads();
    // S = ReLU(W_s [a; v] + b_s), with each modality's share of the pre-activation for the contribution report.
    {
        const int warp = tid / 32, lane = tid % 32, nw = blockDim.x / 32;
        for (int r = warp; r < D.sensory; r += nw) {
            const __half* row = fo_w + (size_t)r * 2 * h;
            float sa = 0.0f, sv = 0.0f;
            for (int i = lane; i < h; i += 32) {
                sa += __half2float(row[i]) * hid[i];
                sv += __half2float(row[h + i]) * hid[h + i];
            }
            sa = hd_warp_sum(sa);
            sv = hd_warp_sum(sv);
            if (lane == 0) {
                pa[r] = sa;
                pv[r] = sv;
                s[r] = fmaxf(fo_b[r] + sa + sv, 0.0f);
            }
        }
    }
    __syncthreads();
    // BEL (Moren & Balkenius): A_e = V_e . S + V_th,e max(S), O_e = W_e . S, E_e = clamp(A_e - O_e, 0, 1); EPP.
    if (tid == 0) {
        const int k = D.sensory;
        float sth = 0.0f, ca = 0.0f, cv = 0.0f;
        for (int i = 0; i < k; i++) {
            sth = fmaxf(sth, s[i]);
            ca += fabsf(pa[i]);
            cv += fabsf(pv[i]);
        }
        const float epp_w[5] = {3.0f, 5.0f, 4.0f, 2.0f, 1.0f};
        float epp = 0.0f;
        for (int e = 0; e < 5; e++) {
            float a = thal[e] * sth, o = 0.0f;
            for (int i = 0; i < k; i++) {
                a += amyg[e * k + i] * s[i];
                o += orbi[e * k + i] * s[i];
            }
            const float y = fminf(fmaxf(a - o, 0.0f), 1.0f);
            out[e] = y;
            out[8 + e] = a;
            out[13 + e] = o;
            epp += epp_w[e] * y;
        }
        out[5] = epp / 15.0f;
        out[6] = ca;
        out[7] = cv;
        for (int i = 0; i < k; i++) out[18 + i] = s[i];
        for (int i = 0; i < D.fa; i++) out[18 + k + i] = D.audio ? x_a[i] : 0.0f;
        for (int i = 0; i < D.features; i++) out[18 + k + D.fa + i] = D.video ? x_v[i] : 0.0f;
    }
}
