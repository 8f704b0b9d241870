// The tail of the model in one single-block launch: the visual temporal summary and read-out, the audio read-out,
// the fusion MLP (F1, F2 attention as an option) and BEL, ending in the five emotions and EPP.
//
// Precision: f32 throughout, weights included: they are the CPU core's values exactly (an f16 file's weights are
// widened, as the CPU does), and every sum is done in the CPU's order (hd_dot), so without F2 attention the head
// gives the CPU's bits (with it, the GPU's expf may differ from the CPU's by an ulp). These
// layers are tiny (at most a few hundred thousand multiply-adds and 1-2 MB of weights read once per inference); the
// point of running them on the GPU is to avoid a device-to-host round trip in the middle of the inference, not
// speed. BEL's weights are learned online on the host and uploaded after each step.

#define HD_NT 256
#define HD_MAX_SUMMARY 4096
#define HD_MAX_HIDDEN 1024
#define HD_MAX_AIN 512
#define HD_MAX_SENS 64
#define HD_MAX_FEATURES 64

// The CPU core's dot product (`dot` in src/core/dense.rs), operation for operation: eight partial sums, partial l
// over elements l, l + 8, ... of the whole chunks of eight; the remainder summed in order; then the eight partials
// added to it in order. One warp per dot product: lanes 0..7 keep the partials, lane 0 finishes. Same f32 operations
// in the same order, so the same bits (the emulator test checks the head bit for bit).
__device__ float hd_dot(const float* a, const float* b, int n, float* part) {
    const int lane = threadIdx.x % 32;
    const int full = n / 8 * 8;
    if (lane < 8) {
        float s = 0.0f;
        for (int i = lane; i < full; i += 8) s += a[i] * b[i];
        part[lane] = s;
    }
    __syncwarp();
    float t = 0.0f;
    if (lane == 0) {
        for (int i = full; i < n; i++) t += a[i] * b[i];
        for (int l = 0; l < 8; l++) t += part[l];
    }
    __syncwarp();
    return t;  // in lane 0
}

// y[r] = b[r] + W[r] . x for r < rows; W [rows][cols]; one warp per row; `part` holds 8 floats per warp.
__device__ void hd_dense(const float* W, const float* b, const float* x, int rows, int cols, float* y, float* part) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nw = blockDim.x / 32;
    for (int r = warp; r < rows; r += nw) {
        const float d = hd_dot(W + (size_t)r * cols, x, cols, part + 8 * warp);
        if (lane == 0) y[r] = b[r] + d;
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
    int substitute;  // InputConfig::substitute: a missing sense's estimate is the present one's (features == fa)
    float epp_w[5];  // EPP_WEIGHTS (src/core/epp.rs) in the order of the emotions
    float epp_div;   // their sum
};

// out (`HeadOut` in src/host/gpu/runtime.rs reads it): [0,5) emotions, 5 EPP, 6-7 contribution (audio, visual),
// [8,13) amygdala, [13,18) orbitofrontal, then S (sensory), x_a (fa), x_v (features).
extern "C" __global__ void __launch_bounds__(HD_NT) head_fusion_bel(
    HdDims D, const float* it_mean, const float* it_m2, float stacks, const float* v_mean, const float* v_inv_std,
    const float* v_w, const float* v_b, const float* a_in, const float* a_mean, const float* a_inv_std,
    const float* a_w, const float* a_b, const float* fa_w, const float* fa_b, const float* fv_w, const float* fv_b,
    const float* att_a_w, const float* att_a_b, const float* att_v_w, const float* att_v_b, const float* fo_w,
    const float* fo_b, const float* amyg, const float* thal, const float* orbi, float* out) {
    __shared__ float summary[HD_MAX_SUMMARY];
    __shared__ float ain[HD_MAX_AIN];
    __shared__ float x_a[HD_MAX_FEATURES], x_v[HD_MAX_FEATURES];
    __shared__ float hid[2 * HD_MAX_HIDDEN];
    __shared__ float logits[HD_MAX_HIDDEN];
    __shared__ float pa[HD_MAX_SENS], pv[HD_MAX_SENS], s[HD_MAX_SENS];
    __shared__ float part[HD_NT / 32 * 8];
    const int tid = threadIdx.x;
    const int h = D.hidden;
    // Visual: temporal summary [mean; std] of IT over the clip (running mean and sum of squared deviations, as the
    // CPU's Welford), standardised, then the read-out.
    if (D.video) {
        for (int i = tid; i < D.it; i += blockDim.x) {
            const float m = it_mean[i];
            const float var = fmaxf(it_m2[i] / stacks, 0.0f);
            summary[i] = (m - v_mean[i]) * v_inv_std[i];
            summary[D.it + i] = (__fsqrt_rn(var) - v_mean[D.it + i]) * v_inv_std[D.it + i];
        }
        __syncthreads();
        hd_dense(v_w, v_b, summary, D.features, 2 * D.it, x_v, part);
    }
    // Audio: descriptors, interval profile and cortex features, standardised, then the read-out.
    if (D.audio) {
        for (int i = tid; i < D.n_a; i += blockDim.x) ain[i] = (a_in[i] - a_mean[i]) * a_inv_std[i];
        __syncthreads();
        hd_dense(a_w, a_b, ain, D.fa, D.n_a, x_a, part);
    }
    __syncthreads();
    // With one sense missing and substitution on (as the CPU's Pipeline), fusion sees the present sense's estimate on
    // both inputs; `use_a`/`use_v` are the inputs fusion then has.
    int use_a = D.audio, use_v = D.video;
    if (D.substitute && use_a != use_v && D.fa == D.features) {
        for (int i = tid; i < D.fa; i += blockDim.x) {
            if (use_a) x_v[i] = x_a[i];
            else x_a[i] = x_v[i];
        }
        use_a = use_v = 1;
    }
    __syncthreads();
    // Fusion F1: a = ReLU(W_a x_a + b_a), v = ReLU(W_v x_v + b_v); a missing modality is a zero hidden vector.
    if (use_a) hd_dense(fa_w, fa_b, x_a, h, D.fa, hid, part);
    if (use_v) hd_dense(fv_w, fv_b, x_v, h, D.features, hid + h, part);
    __syncthreads();
    for (int i = tid; i < 2 * h; i += blockDim.x) {
        const bool present = i < h ? use_a : use_v;
        hid[i] = present ? fmaxf(hid[i], 0.0f) : 0.0f;
    }
    __syncthreads();
    if (D.attention) {
        if (use_a) {
            hd_dense(att_a_w, att_a_b, hid, h, h, logits, part);
            hd_softmax_mul(hid, logits, h);
        }
        if (use_v) {
            __syncthreads();
            hd_dense(att_v_w, att_v_b, hid + h, h, h, logits, part);
            hd_softmax_mul(hid + h, logits, h);
        }
    }
    __syncthreads();
    // S = ReLU(W_s [a; v] + b_s), with each modality's share of the pre-activation for the contribution report.
    {
        const int warp = tid / 32, lane = tid % 32, nw = blockDim.x / 32;
        for (int r = warp; r < D.sensory; r += nw) {
            const float* row = fo_w + (size_t)r * 2 * h;
            const float sa = hd_dot(row, hid, h, part + 8 * warp);
            const float sv = hd_dot(row + h, hid + h, h, part + 8 * warp);
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
            epp += D.epp_w[e] * y;
        }
        out[5] = epp / D.epp_div;
        out[6] = ca;
        out[7] = cv;
        for (int i = 0; i < k; i++) out[18 + i] = s[i];
        for (int i = 0; i < D.fa; i++) out[18 + k + i] = D.audio ? x_a[i] : 0.0f;
        for (int i = 0; i < D.features; i++) out[18 + k + D.fa + i] = D.video ? x_v[i] : 0.0f;
    }
}
