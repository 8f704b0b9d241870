//! Supervised training of CORnet-Z's convolutions by hand-written backpropagation.
//!
//! Clips of random slider settings are rendered once and kept in memory (64×64 u8 frames are small). For each clip a
//! few of its frame stacks (one at random in each of `stacks` equal stretches of the clip) run through a training
//! forward of CORnet-Z that keeps its activations; IT's global averages `g_t` are summarised over the clip as
//! `s = [mean_t g_t; std_t g_t]` (what the inference read-out sees), standardised (constants to the gradient), and a
//! linear head maps `z` to the five normalised slider values. The loss is the mean squared error (Huber beyond ±1);
//! its gradient flows back through the head, the standard deviation, the global average pool, and each block (ReLU,
//! bias, max-pool routed to the argmax, convolution). Adam updates the convolutions; the head is a ridge regression
//! on the summaries of the most recent clips, refitted every few steps (Adam on 1,024 correlated head inputs from
//! batches of a few clips overshoots).
//!
//! The forward keeps the inference order exactly (convolution, max-pool 3/2/1 of the raw output, + bias, ReLU) and
//! reuses the inference im2col panels and GEMM, so trained weights mean the same thing at inference. The backward
//! uses that only about a quarter of the convolution outputs are a pool's argmax: it walks the non-zero output
//! gradients and adds `dy · x_n` to the weight row (`dW = dY·colᵀ`) and `dy · w_m` to the column gradient
//! (`dX = col2im(Wᵀ·dY)`), both contiguous axpys that LLVM vectorises.
//!
//! Every clip's gradient is computed on its own and the batch sums them in clip order, so a run is reproducible bit
//! for bit whatever the number of threads.

use super::augment::{render_perturbed, Augment};
use super::{normalised, random_params};
use crate::core::config::VisualConfig;
use crate::core::kernels::{ConvShape, Kernels, NR};
use crate::core::manifest::{CONV_BIASES, CONV_WEIGHTS};
use crate::core::visual::{normalise_luma, shapes};
use crate::host::model::{F32Tensors, SplitMix64};
use crate::host::stimuli::RenderOptions;

/// Added to the variance under the square root: keeps the standard deviation differentiable at zero spread.
const VAR_EPS: f64 = 1e-6;

/// CORnet-Z's geometry.
#[derive(Clone, Copy, Debug)]
pub struct CornetGeometry {
    /// Convolution shape and output channels of each block.
    pub blocks: [(ConvShape, usize); 4],
}

impl CornetGeometry {
    /// The geometry of a visual configuration.
    pub fn new(cfg: &VisualConfig) -> Self {
        CornetGeometry { blocks: shapes(cfg) }
    }
    /// IT's width (the global-average vector's length).
    pub fn it(&self) -> usize {
        self.blocks[3].1
    }
    /// Floats of one input stack.
    pub fn input_len(&self) -> usize {
        let s = self.blocks[0].0;
        s.cin * s.h * s.w
    }
    /// Lengths of the trainable tensors: the four weights `[cout][cin·k·k]`, the four biases, the head `[5][2·it]`
    /// and its bias `[5]`.
    pub fn param_lens(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.blocks.iter().map(|(s, co)| co * s.kk()).collect();
        v.extend(self.blocks.iter().map(|(_, co)| *co));
        v.push(5 * 2 * self.it());
        v.push(5);
        v
    }
}

/// Trainable tensors in the order of [`CornetGeometry::param_lens`] (0–3 weights, 4–7 biases, 8 head weight, 9 head bias).
#[derive(Clone, Debug, PartialEq)]
pub struct CornetParams(pub Vec<Vec<f32>>);

impl CornetParams {
    /// All zeros.
    pub fn zeros(net: &CornetGeometry) -> Self {
        CornetParams(net.param_lens().into_iter().map(|n| vec![0.0; n]).collect())
    }
    /// The convolutions of `t` (seeded or trained), a zero head predicting 0.5.
    pub fn from_tensors(net: &CornetGeometry, t: &F32Tensors) -> Result<Self, String> {
        let mut p = CornetParams::zeros(net);
        for (i, name) in CONV_WEIGHTS.iter().chain(&CONV_BIASES).map(|t| t.name()).enumerate() {
            let e = t.iter().find(|x| x.0 == *name).ok_or_else(|| format!("missing tensor {name}"))?;
            if e.2.len() != p.0[i].len() {
                return Err(format!("{name}: {} values, expected {}", e.2.len(), p.0[i].len()));
            }
            p.0[i].copy_from_slice(&e.2);
        }
        p.0[9].fill(0.5);
        Ok(p)
    }
    /// Write the convolutions' weights and biases into `t`.
    pub fn write_into(&self, t: &mut F32Tensors) {
        for (i, name) in CONV_WEIGHTS.iter().chain(&CONV_BIASES).map(|t| t.name()).enumerate() {
            let e = t.iter_mut().find(|x| x.0 == *name).unwrap_or_else(|| panic!("tensor {name}"));
            assert_eq!(e.2.len(), self.0[i].len(), "{name}");
            e.2.copy_from_slice(&self.0[i]);
        }
    }
    fn fill_zero(&mut self) {
        for v in &mut self.0 {
            v.fill(0.0);
        }
    }
}

/// Standardisation of the summary before the head: `z = (s − mean)·inv_std` (constants to the gradient).
#[derive(Clone, Debug, PartialEq)]
pub struct Norm {
    /// Per-feature mean.
    pub mean: Vec<f64>,
    /// Per-feature inverse standard deviation.
    pub inv_std: Vec<f64>,
}

impl Norm {
    /// Statistics of the summaries `ss`.
    pub fn of(ss: &[Vec<f64>]) -> Self {
        let n = ss[0].len();
        let k = ss.len() as f64;
        let mut mean = vec![0.0; n];
        for s in ss {
            for (m, v) in mean.iter_mut().zip(s) {
                *m += v / k;
            }
        }
        let mut var = vec![0.0; n];
        for s in ss {
            for ((q, v), m) in var.iter_mut().zip(s).zip(&mean) {
                *q += (v - m) * (v - m) / k;
            }
        }
        // Floor each spread at a tenth of the median: near-constant features (dead units) must not be amplified.
        let mut sds: Vec<f64> = var.iter().map(|v| v.sqrt()).collect();
        sds.sort_by(f64::total_cmp);
        let floor = 0.1 * sds[sds.len() / 2] + 1e-6;
        Norm { mean, inv_std: var.iter().map(|v| 1.0 / v.sqrt().max(floor)).collect() }
    }
}

/// Activations of one stack, kept for the backward pass.
#[derive(Clone, Debug, Default)]
struct Trace {
    /// im2col panels of each block's input.
    packed: [Vec<f32>; 4],
    /// Each block's output (pooled, + bias, ReLU), CHW.
    act: [Vec<f32>; 4],
    /// For each pooled output, the index of its maximum within the convolution output plane.
    arg: [Vec<u32>; 4],
    /// IT's global average.
    gap: Vec<f32>,
}

/// A thread's buffers.
#[derive(Debug, Default)]
pub struct Work {
    traces: Vec<Trace>,
    conv_out: Vec<f32>,
    dy: Vec<f32>,
    xt: Vec<f32>,
    dcol: Vec<f32>,
    dact: Vec<f32>,
    dx: Vec<f32>,
}

/// Max-pool 3/2/1 of the raw convolution output, + bias, ReLU (the inference order), remembering each argmax.
fn pool_argmax(y: &[f32], c: usize, h: usize, w: usize, bias: &[f32], out: &mut [f32], arg: &mut [u32]) {
    let (ph, pw) = (h.div_ceil(2), w.div_ceil(2));
    for ch in 0..c {
        let plane = &y[ch * h * w..(ch + 1) * h * w];
        for py in 0..ph {
            for px in 0..pw {
                let (mut best, mut at) = (f32::NEG_INFINITY, 0);
                for yy in (2 * py).saturating_sub(1)..(2 * py + 2).min(h) {
                    for xx in (2 * px).saturating_sub(1)..(2 * px + 2).min(w) {
                        let v = plane[yy * w + xx];
                        if v > best {
                            best = v;
                            at = yy * w + xx;
                        }
                    }
                }
                let o = ch * ph * pw + py * pw + px;
                out[o] = (best + bias[ch]).max(0.0);
                arg[o] = at as u32;
            }
        }
    }
}

/// Training forward of one stack (`input` CHW in 0..1), leaving everything the backward needs in `tr`.
fn forward(net: &CornetGeometry, p: &CornetParams, input: &[f32], tr: &mut Trace, conv_out: &mut Vec<f32>) {
    // The inference kernels of this CPU (a table lookup; detection results are cached by std).
    let k = Kernels::detect();
    for (l, &(s, cout)) in net.blocks.iter().enumerate() {
        tr.packed[l].resize(s.packed_len(), 0.0);
        let x: &[f32] = if l == 0 { input } else { &tr.act[l - 1] };
        k.im2col_f32(&s, x, &mut tr.packed[l]).expect("packed is resized to the shape above");
        conv_out.resize(cout * s.n(), 0.0);
        k.gemm_f32(&s, cout, &p.0[l], &tr.packed[l], conv_out).expect("buffers are resized to the shape above");
        let pooled = cout * s.ho().div_ceil(2) * s.wo().div_ceil(2);
        tr.act[l].resize(pooled, 0.0);
        tr.arg[l].resize(pooled, 0);
        pool_argmax(conv_out, cout, s.ho(), s.wo(), &p.0[4 + l], &mut tr.act[l], &mut tr.arg[l]);
    }
    let (s, cout) = net.blocks[3];
    let area = s.ho().div_ceil(2) * s.wo().div_ceil(2);
    tr.gap.resize(cout, 0.0);
    for c in 0..cout {
        tr.gap[c] = tr.act[3][c * area..(c + 1) * area].iter().sum::<f32>() / area as f32;
    }
}

/// Normalise the luminance of every `frame`-byte frame of `frames` in place: what the pathway's ring of frames holds
/// for a model that normalises (`Visual::push_frame`).
pub(crate) fn normalise_frames(frames: &mut [u8], frame: usize) {
    let mut tmp = vec![0u8; frame];
    for f in frames.chunks_exact_mut(frame.max(1)) {
        normalise_luma(f, &mut tmp);
        f.copy_from_slice(&tmp);
    }
}

/// Per-channel maxima of V1's, V2's and V4's outputs (pooled, + bias, ReLU: what the int8 path codes as the inputs
/// of V2, V4 and IT) over every frame stack of `clips` (frames as the pathway's ring holds them, luma-normalised
/// where the model normalises).
pub fn boundary_maxima(cfg: &VisualConfig, tensors: &F32Tensors, clips: &[Vec<u8>]) -> Result<[Vec<f32>; 3], String> {
    let net = CornetGeometry::new(cfg);
    let p = CornetParams::from_tensors(&net, tensors)?;
    let (c, stride) = (usize::from(cfg.channels), usize::from(cfg.stride_frames).max(1));
    let frame = usize::from(cfg.width) * usize::from(cfg.height);
    let mut max: [Vec<f32>; 3] = core::array::from_fn(|l| vec![0.0; net.blocks[l].1]);
    let (mut tr, mut conv_out, mut input) = (Trace::default(), Vec::new(), Vec::new());
    for frames in clips {
        let n = frames.len() / frame.max(1);
        if n < c {
            return Err(format!("a calibration clip of {n} frames is shorter than one stack of {c}"));
        }
        for i in 0..=(n - c) / stride {
            stack(frames, frame, c, stride, i, &mut input);
            forward(&net, &p, &input, &mut tr, &mut conv_out);
            for (l, m) in max.iter_mut().enumerate() {
                let area = tr.act[l].len() / m.len();
                for (ch, mc) in m.iter_mut().enumerate() {
                    *mc = tr.act[l][ch * area..(ch + 1) * area].iter().fold(*mc, |a, &b| a.max(b));
                }
            }
        }
    }
    Ok(max)
}

/// Backward of one stack given `dgap` (the loss gradient of IT's global average): adds to the gradients in `g`.
fn backward(net: &CornetGeometry, p: &CornetParams, tr: &Trace, dgap: &[f32], g: &mut CornetParams, ws: &mut Work) {
    let (s3, c3) = net.blocks[3];
    let area = s3.ho().div_ceil(2) * s3.wo().div_ceil(2);
    ws.dact.clear();
    for c in 0..c3 {
        ws.dact.extend(std::iter::repeat_n(dgap[c] / area as f32, area));
    }
    for l in (0..4).rev() {
        let (s, cout) = net.blocks[l];
        let (n, kk) = (s.n(), s.kk());
        // ReLU and bias, then route each pooled gradient to its argmax.
        ws.dy.clear();
        ws.dy.resize(cout * n, 0.0);
        let pooled = tr.act[l].len() / cout;
        for c in 0..cout {
            let mut db = 0.0;
            for q in c * pooled..(c + 1) * pooled {
                if tr.act[l][q] > 0.0 {
                    let d = ws.dact[q];
                    db += d;
                    ws.dy[c * n + tr.arg[l][q] as usize] += d;
                }
            }
            g.0[4 + l][c] += db;
        }
        // The block's input columns, one row of `kk` per output pixel (transposed from the panels).
        ws.xt.resize(n * kk, 0.0);
        let packed = &tr.packed[l];
        for pnl in 0..s.panels() {
            let cols = (n - pnl * NR).min(NR);
            for r in 0..kk {
                let src = &packed[(pnl * kk + r) * NR..(pnl * kk + r) * NR + cols];
                for (j, &v) in src.iter().enumerate() {
                    ws.xt[(pnl * NR + j) * kk + r] = v;
                }
            }
        }
        let need_dx = l > 0;
        if need_dx {
            ws.dcol.clear();
            ws.dcol.resize(n * kk, 0.0);
        }
        let w = &p.0[l];
        let gw = &mut g.0[l];
        for m in 0..cout {
            let wrow = &w[m * kk..(m + 1) * kk];
            let grow = &mut gw[m * kk..(m + 1) * kk];
            for nn in 0..n {
                let d = ws.dy[m * n + nn];
                if d == 0.0 {
                    continue;
                }
                for (gv, &xv) in grow.iter_mut().zip(&ws.xt[nn * kk..(nn + 1) * kk]) {
                    *gv += d * xv;
                }
                if need_dx {
                    for (cv, &wv) in ws.dcol[nn * kk..(nn + 1) * kk].iter_mut().zip(wrow) {
                        *cv += d * wv;
                    }
                }
            }
        }
        if !need_dx {
            break;
        }
        // col2im: scatter the column gradients back onto the input (the previous block's output).
        ws.dx.clear();
        ws.dx.resize(s.cin * s.h * s.w, 0.0);
        let wo = s.wo();
        for nn in 0..n {
            let (oy, ox) = (nn / wo, nn % wo);
            let col = &ws.dcol[nn * kk..(nn + 1) * kk];
            for ci in 0..s.cin {
                for ky in 0..s.k {
                    let iy = (oy * s.stride + ky) as isize - s.pad as isize;
                    if iy < 0 || iy >= s.h as isize {
                        continue;
                    }
                    for kx in 0..s.k {
                        let ix = (ox * s.stride + kx) as isize - s.pad as isize;
                        if ix < 0 || ix >= s.w as isize {
                            continue;
                        }
                        ws.dx[(ci * s.h + iy as usize) * s.w + ix as usize] += col[(ci * s.k + ky) * s.k + kx];
                    }
                }
            }
        }
        std::mem::swap(&mut ws.dact, &mut ws.dx);
    }
}

/// Summary `[mean; std]` over stacks of IT's global averages (f64), with the means and standard deviations.
fn summarise(gaps: &[&[f32]]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let it = gaps[0].len();
    let t = gaps.len() as f64;
    let mut mean = vec![0.0; it];
    for g in gaps {
        for (m, &v) in mean.iter_mut().zip(g.iter()) {
            *m += v as f64 / t;
        }
    }
    let mut sd = vec![0.0; it];
    for g in gaps {
        for ((q, &v), m) in sd.iter_mut().zip(g.iter()).zip(&mean) {
            *q += (v as f64 - m) * (v as f64 - m) / t;
        }
    }
    for q in &mut sd {
        *q = (*q + VAR_EPS).sqrt();
    }
    let s = mean.iter().chain(&sd).copied().collect();
    (s, mean, sd)
}

/// The head's prediction from a summary.
fn head(p: &CornetParams, norm: &Norm, s: &[f64]) -> ([f64; 5], Vec<f64>) {
    let z: Vec<f64> = s.iter().zip(&norm.mean).zip(&norm.inv_std).map(|((v, m), is)| (v - m) * is).collect();
    let n = z.len();
    let mut pred = [0.0; 5];
    for (k, pk) in pred.iter_mut().enumerate() {
        *pk = p.0[9][k] as f64 + p.0[8][k * n..(k + 1) * n].iter().zip(&z).map(|(&w, &x)| w as f64 * x).sum::<f64>();
    }
    (pred, z)
}

/// Summary of a clip's stacks (forward only).
pub fn clip_summary(net: &CornetGeometry, p: &CornetParams, stacks: &[Vec<f32>], ws: &mut Work) -> Vec<f64> {
    ws.traces.resize_with(stacks.len().max(ws.traces.len()), Trace::default);
    for (x, tr) in stacks.iter().zip(ws.traces.iter_mut()) {
        forward(net, p, x, tr, &mut ws.conv_out);
    }
    let gaps: Vec<&[f32]> = ws.traces[..stacks.len()].iter().map(|t| t.gap.as_slice()).collect();
    summarise(&gaps).0
}

/// Loss of one clip (mean Huber loss over the five dimensions: squared error within ±1) and its gradient, added to `g`; returns the
/// loss and the clip's summary.
pub fn clip_grad(
    net: &CornetGeometry,
    p: &CornetParams,
    norm: &Norm,
    stacks: &[Vec<f32>],
    y: &[f32; 5],
    g: &mut CornetParams,
    ws: &mut Work,
) -> (f64, Vec<f64>) {
    let t = stacks.len();
    let s = clip_summary(net, p, stacks, ws);
    let it = net.it();
    let (pred, z) = head(p, norm, &s);
    let mut loss = 0.0;
    let mut dpred = [0.0; 5];
    for k in 0..5 {
        // Huber (quadratic within ±1, linear beyond): an outlying clip must not swamp the batch's gradient.
        let e = pred[k] - y[k] as f64;
        loss += if e.abs() <= 1.0 { e * e } else { 2.0 * e.abs() - 1.0 } / 5.0;
        dpred[k] = 2.0 * e.clamp(-1.0, 1.0) / 5.0;
    }
    let n = 2 * it;
    let mut ds = vec![0.0f64; n];
    for k in 0..5 {
        g.0[9][k] += dpred[k] as f32;
        let wrow = &p.0[8][k * n..(k + 1) * n];
        let grow = &mut g.0[8][k * n..(k + 1) * n];
        for i in 0..n {
            grow[i] += (dpred[k] * z[i]) as f32;
            ds[i] += dpred[k] * wrow[i] as f64 * norm.inv_std[i];
        }
    }
    // Through mean and standard deviation to each stack's global average.
    let (mean, sd) = (&s[..it], &s[it..]);
    let mut dgap = vec![0.0f32; it];
    let traces = std::mem::take(&mut ws.traces);
    for tr in &traces[..t] {
        for i in 0..it {
            dgap[i] = (ds[i] / t as f64 + ds[it + i] * (tr.gap[i] as f64 - mean[i]) / (t as f64 * sd[i])) as f32;
        }
        backward(net, p, tr, &dgap, g, ws);
    }
    ws.traces = traces;
    (loss, s)
}

/// Settings of CORnet-Z training.
#[derive(Clone, Debug)]
pub struct CornetOptions {
    /// Passes over the clips (0: no training).
    pub epochs: usize,
    /// Rendered clips of random slider settings.
    pub clips: usize,
    /// Clips per Adam step.
    pub batch: usize,
    /// Stacks per clip per step (one at random in each of as many equal stretches of the clip).
    pub stacks: usize,
    /// Adam step size (after a linear warm-up, cosine-decayed to a tenth).
    pub lr: f32,
    /// Clip length in seconds.
    pub seconds: f64,
    /// Worker threads.
    pub threads: usize,
    /// Seed of the slider draws, renders, shuffles and stack choices.
    pub seed: u64,
    /// Domain randomisation of the clips (drawn once per clip, seeded by its render seed).
    pub augment: Augment,
    /// Normalise each frame's luminance as the pathway does (the model's `InputConfig::luma`).
    pub luma: bool,
}

impl Default for CornetOptions {
    fn default() -> Self {
        CornetOptions {
            epochs: 3,
            clips: 1000,
            batch: 8,
            stacks: 6,
            lr: 1e-4,
            seconds: 3.0,
            threads: 2,
            seed: 1,
            augment: Augment::none(),
            luma: true,
        }
    }
}

/// Clips whose summaries the head is fitted on.
const HEAD_WINDOW: usize = 512;
/// Adam steps between refits of the head.
const REFIT: usize = 8;
/// Adam steps of linear learning-rate warm-up.
const WARMUP: usize = 50;
/// Ridge penalty of the head (on standardised summaries).
const HEAD_LAMBDA: f64 = 1000.0;

/// Fit the head by ridge regression to `recent` (summary, targets) pairs; returns the standardisation it uses.
fn fit_head(p: &mut CornetParams, recent: &std::collections::VecDeque<(Vec<f64>, [f32; 5])>) -> Norm {
    let xs: Vec<Vec<f64>> = recent.iter().map(|r| r.0.clone()).collect();
    let norm = Norm::of(&xs);
    let zs: Vec<Vec<f64>> = xs
        .iter()
        .map(|x| x.iter().zip(&norm.mean).zip(&norm.inv_std).map(|((v, m), is)| (v - m) * is).collect())
        .collect();
    let ys: Vec<Vec<f64>> = recent.iter().map(|r| r.1.iter().map(|&v| v as f64).collect()).collect();
    let r = super::linalg::Ridge::fit(&zs, &ys, HEAD_LAMBDA);
    // Fold the ridge's own standardisation of z into the head: pred = b + Σ w·(z − μ)/σ.
    let n = zs[0].len();
    for k in 0..5 {
        let mut b = r.b[k];
        for i in 0..n {
            let w = r.w[k][i] / r.std[i];
            p.0[8][k * n + i] = w as f32;
            b -= w * r.mean[i];
        }
        p.0[9][k] = b as f32;
    }
    norm
}

/// One rendered clip: its frames and targets.
struct Clip {
    frames: Vec<u8>,
    y: [f32; 5],
}

/// Input stacks `0..count` of a clip as the pathway forms them: every `stride` frames, the newest `c` frames oldest
/// first; returns stack `i`.
fn stack(frames: &[u8], frame: usize, c: usize, stride: usize, i: usize, out: &mut Vec<f32>) {
    let first = i * stride;
    out.clear();
    out.extend(frames[first * frame..(first + c) * frame].iter().map(|&v| v as f32 * (1.0 / 255.0)));
}

/// Choose `k` stacks of `total`: one at random within each of `k` equal stretches.
fn choose(total: usize, k: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let k = k.min(total).max(1);
    (0..k)
        .map(|j| {
            let (lo, hi) = (j * total / k, ((j + 1) * total / k).max(j * total / k + 1));
            lo + (rng.next_u64() % (hi - lo) as u64) as usize
        })
        .collect()
}

/// Run `f(index, item, work)` over `items` on `threads` threads (contiguous chunks), each with its own [`Work`].
fn par_each<T: Send>(items: &mut [T], threads: usize, f: &(dyn Fn(usize, &mut T, &mut Work) + Sync)) {
    let per = items.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|sc| {
        for (ci, chunk) in items.chunks_mut(per).enumerate() {
            sc.spawn(move || {
                let mut ws = Work::default();
                for (j, it) in chunk.iter_mut().enumerate() {
                    f(ci * per + j, it, &mut ws);
                }
            });
        }
    });
}

/// Train the convolutions in `tensors` (in place); returns the mean training loss of each epoch, preceded by the
/// loss of the untrained network on the first batch.
pub fn train_cornet(
    cfg: &VisualConfig,
    tensors: &mut F32Tensors,
    o: &CornetOptions,
    progress: &(dyn Fn(&str, usize, usize) + Sync),
) -> Result<Vec<f32>, String> {
    if o.epochs == 0 || o.clips == 0 {
        return Ok(Vec::new());
    }
    let net = CornetGeometry::new(cfg);
    let size = cfg.width as usize;
    let fps = cfg.fps;
    if cfg.height != cfg.width {
        return Err("CORnet-Z training renders square frames: visual.height must equal visual.width".into());
    }
    let (c, stride, frame) = (cfg.channels as usize, cfg.stride_frames as usize, size * size);
    // 1. Render the clips once.
    let mut rng = SplitMix64(o.seed ^ 0xC0_2E7);
    let jobs: Vec<_> = (0..o.clips).map(|i| (random_params(&mut rng), 3_000_000 + i as u64)).collect();
    let mut slots: Vec<Option<Result<Clip, String>>> = (0..o.clips).map(|_| None).collect();
    let done = std::sync::atomic::AtomicUsize::new(0);
    par_each(&mut slots, o.threads, &|i, slot, _| {
        let (params, seed) = &jobs[i];
        let opts = RenderOptions { seconds: o.seconds, seed: *seed, size, fps: u32::from(fps), sample_rate: 22_050 };
        *slot = Some(
            render_perturbed(params, &opts, &o.augment.draw_for(*seed ^ o.seed)).map_err(|e| e.to_string()).map(|r| {
                let mut frames = r.frames;
                if o.luma {
                    normalise_frames(&mut frames, frame);
                }
                Clip { frames, y: normalised(params).map(|v| v as f32) }
            }),
        );
        progress("CORnet-Z clips", done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1, o.clips);
    });
    let clips: Vec<Clip> =
        slots.into_iter().map(|s| s.unwrap_or_else(|| Err("not rendered".into()))).collect::<Result<_, _>>()?;
    let total_stacks = |cl: &Clip| {
        let frames = cl.frames.len() / frame;
        if frames < c {
            0
        } else {
            (frames - c) / stride + 1
        }
    };
    if clips.iter().any(|cl| total_stacks(cl) == 0) {
        return Err("clips too short for one frame stack".into());
    }
    let stacks_of = |i: usize, epoch: usize| -> Vec<Vec<f32>> {
        let mut r = SplitMix64(o.seed ^ (epoch as u64) << 40 ^ (i as u64).wrapping_mul(0x9E37_79B9));
        let cl = &clips[i];
        choose(total_stacks(cl), o.stacks, &mut r)
            .into_iter()
            .map(|k| {
                let mut v = Vec::new();
                stack(&cl.frames, frame, c, stride, k, &mut v);
                v
            })
            .collect()
    };
    let mut p = CornetParams::from_tensors(&net, tensors)?;
    let batch = o.batch.clamp(1, o.clips);
    // 2. The head: a ridge regression on the summaries of recent clips, refitted every `REFIT` steps (Adam on 1,024
    //    correlated inputs from batches of a few clips overshoots); the convolutions learn by Adam against it.
    let mut first: Vec<(usize, Vec<f64>)> = (0..o.clips.min(HEAD_WINDOW)).map(|i| (i, Vec::new())).collect();
    par_each(&mut first, o.threads, &|_, (i, s), ws| *s = clip_summary(&net, &p, &stacks_of(*i, 0), ws));
    let mut recent: std::collections::VecDeque<(Vec<f64>, [f32; 5])> =
        first.into_iter().map(|(i, s)| (s, clips[i].y)).collect();
    let mut norm = fit_head(&mut p, &recent);
    // 3. Adam over shuffled mini-batches.
    let mut m = CornetParams::zeros(&net);
    let mut v = CornetParams::zeros(&net);
    let steps_per_epoch = o.clips.div_ceil(batch);
    let total_steps = o.epochs * steps_per_epoch;
    let mut grads: Vec<(usize, CornetParams, f64, Vec<f64>)> =
        (0..batch).map(|_| (0, CornetParams::zeros(&net), 0.0, Vec::new())).collect();
    let mut curve = Vec::new();
    let mut step = 0;
    for epoch in 0..o.epochs {
        let mut order: Vec<usize> = (0..o.clips).collect();
        let mut r = SplitMix64(o.seed ^ 0x5_4FF1E ^ epoch as u64);
        for i in (1..order.len()).rev() {
            order.swap(i, (r.next_u64() % (i as u64 + 1)) as usize);
        }
        let mut epoch_loss = 0.0;
        for (bi, idx) in order.chunks(batch).enumerate() {
            let slots = &mut grads[..idx.len()];
            for (slot, &i) in slots.iter_mut().zip(idx) {
                slot.0 = i;
            }
            par_each(slots, o.threads, &|_, (i, g, loss, s), ws| {
                g.fill_zero();
                let (l, sv) = clip_grad(&net, &p, &norm, &stacks_of(*i, epoch), &clips[*i].y, g, ws);
                *loss = l;
                *s = sv;
            });
            if step == 0 {
                curve.push((slots.iter().map(|x| x.2).sum::<f64>() / idx.len() as f64) as f32);
            }
            // Sum in clip order (reproducible whatever the thread count), then one Adam step.
            step += 1;
            let frac = (step - 1) as f32 / total_steps.max(1) as f32;
            let warm = (step as f32 / WARMUP as f32).min(1.0);
            let lr = warm * o.lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f32::consts::PI * frac).cos()));
            let (b1, b2) = (0.9f32, 0.999f32);
            let (c1, c2) = (1.0 - b1.powi(step as i32), 1.0 - b2.powi(step as i32));
            let scale = 1.0 / idx.len() as f32;
            for t in 0..8 {
                for j in 0..p.0[t].len() {
                    let mut gsum = 0.0f32;
                    for slot in slots.iter() {
                        gsum += slot.1 .0[t][j];
                    }
                    let gj = gsum * scale;
                    let (mj, vj) = (&mut m.0[t][j], &mut v.0[t][j]);
                    *mj = b1 * *mj + (1.0 - b1) * gj;
                    *vj = b2 * *vj + (1.0 - b2) * gj * gj;
                    p.0[t][j] -= lr * (*mj / c1) / ((*vj / c2).sqrt() + 1e-8);
                }
            }
            epoch_loss += slots.iter().map(|x| x.2).sum::<f64>();
            for slot in slots.iter() {
                if recent.len() == HEAD_WINDOW {
                    recent.pop_front();
                }
                recent.push_back((slot.3.clone(), clips[slot.0].y));
            }
            if step % REFIT == 0 {
                norm = fit_head(&mut p, &recent);
            }
            let seen = (bi * batch + idx.len()) as f64;
            progress(
                &format!("CORnet-Z epoch {}/{} loss {:.4}", epoch + 1, o.epochs, epoch_loss / seen),
                bi + 1,
                steps_per_epoch,
            );
        }
        curve.push((epoch_loss / o.clips as f64) as f32);
    }
    p.write_into(tensors);
    Ok(curve)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ModelConfig;

    fn setup(seed: u64) -> (CornetGeometry, CornetParams, Norm, Vec<Vec<f32>>, [f32; 5]) {
        let cfg = ModelConfig::tiny();
        let net = CornetGeometry::new(&cfg.visual);
        let mut p = CornetParams::from_tensors(&net, &crate::host::model::seeded(&cfg, seed)).unwrap();
        let mut rng = SplitMix64(seed ^ 99);
        for b in 4..8 {
            for v in &mut p.0[b] {
                *v = rng.uniform(0.1);
            }
        }
        for v in &mut p.0[8] {
            *v = rng.uniform(0.3);
        }
        let stacks: Vec<Vec<f32>> = (0..3).map(|_| (0..net.input_len()).map(|_| rng.next_f32()).collect()).collect();
        let n = 2 * net.it();
        let norm = Norm {
            mean: (0..n).map(|_| rng.uniform(0.1) as f64).collect(),
            inv_std: (0..n).map(|_| 1.0 + rng.next_f32() as f64 * 3.0).collect(),
        };
        (net, p, norm, stacks, [0.2, 0.9, 0.5, 0.1, 0.7])
    }

    /// Loss, and the pattern of max-pool choices and active units (where the loss is not smooth).
    fn loss(net: &CornetGeometry, p: &CornetParams, norm: &Norm, stacks: &[Vec<f32>], y: &[f32; 5]) -> (f64, Vec<u32>) {
        let mut ws = Work::default();
        let s = clip_summary(net, p, stacks, &mut ws);
        let (pred, _) = head(p, norm, &s);
        let mut pattern = Vec::new();
        for tr in &ws.traces {
            for l in 0..4 {
                pattern.extend(&tr.arg[l]);
                pattern.extend(tr.act[l].iter().map(|&a| (a > 0.0) as u32));
            }
        }
        let huber = |e: f64| if e.abs() <= 1.0 { e * e } else { 2.0 * e.abs() - 1.0 };
        ((0..5).map(|k| huber(pred[k] - y[k] as f64) / 5.0).sum(), pattern)
    }

    #[test]
    fn gradient_matches_finite_differences_in_every_layer() {
        let (net, p, norm, stacks, y) = setup(3);
        let mut g = CornetParams::zeros(&net);
        let (l0, _) = clip_grad(&net, &p, &norm, &stacks, &y, &mut g, &mut Work::default());
        let (l1, pattern) = loss(&net, &p, &norm, &stacks, &y);
        assert!((l0 - l1).abs() < 1e-9);
        let mut rng = SplitMix64(17);
        let (mut checked, mut kinks, mut worst) = (0, 0, 0.0f64);
        for t in 0..10 {
            let mut here = 0;
            while here < 12 {
                let j = (rng.next_u64() % p.0[t].len() as u64) as usize;
                // The largest step (for f32) that crosses no kink (a max-pool choice or a ReLU switching); samples
                // with a kink closer than the smallest step are skipped (the derivative is one-sided there).
                let mut found = None;
                for h in [1e-3f32, 3e-4, 1e-4] {
                    let mut q = p.clone();
                    q.0[t][j] = p.0[t][j] + h;
                    let (up, pu) = loss(&net, &q, &norm, &stacks, &y);
                    q.0[t][j] = p.0[t][j] - h;
                    let (down, pd) = loss(&net, &q, &norm, &stacks, &y);
                    if pu == pattern && pd == pattern {
                        found = Some((up, down, h));
                        break;
                    }
                }
                let Some((up, down, h)) = found else {
                    kinks += 1;
                    assert!(kinks < 60, "too many samples at a kink");
                    continue;
                };
                let num = (up - down) / (2.0 * h as f64);
                let ana = g.0[t][j] as f64;
                // Relative error, with a floor for small derivatives (f32 forward: the loss is exact to about 1e-7).
                let err = (num - ana).abs() / (num.abs().max(ana.abs()) + 5e-3);
                worst = worst.max(err);
                // 3 %: central differences of an f32 forward (whose rounding differs between the SIMD levels and
                // the unfused portable kernels) are that noisy; a wrong gradient is off by far more (sign, factors).
                assert!(err < 3e-2, "tensor {t} index {j}: analytic {ana:e}, numeric {num:e}");
                checked += 1;
                here += 1;
            }
            // Every layer's gradient carries signal (not all zero).
            assert!(g.0[t].iter().any(|&v| v != 0.0), "tensor {t} has no gradient");
        }
        eprintln!("{checked} derivatives ({kinks} samples at a kink skipped), worst relative error {worst:.2e}");
    }

    #[test]
    fn a_few_steps_reduce_the_loss() {
        let (net, mut p, norm, stacks, y) = setup(5);
        let before = loss(&net, &p, &norm, &stacks, &y).0;
        let mut ws = Work::default();
        for _ in 0..5 {
            let mut g = CornetParams::zeros(&net);
            clip_grad(&net, &p, &norm, &stacks, &y, &mut g, &mut ws);
            for (pt, gt) in p.0.iter_mut().zip(&g.0) {
                for (a, b) in pt.iter_mut().zip(gt) {
                    *a -= 0.01 * b;
                }
            }
        }
        let after = loss(&net, &p, &norm, &stacks, &y).0;
        assert!(after < 0.7 * before, "loss {before} → {after}");
    }

    #[test]
    fn training_forward_matches_inference() {
        // The IT global average of the training forward equals the inference pathway's on the same stack.
        let cfg = ModelConfig::tiny();
        let tensors = crate::host::model::seeded(&cfg, 11);
        let bytes = crate::host::writer::AlignedBytes::new(
            &crate::host::model::encode(&cfg, &tensors, crate::host::model::Precision::F32).unwrap(),
        );
        let w = crate::Weights::parse(bytes.as_bytes()).unwrap();
        let mw = crate::core::manifest::ModelWeights::resolve(&w).unwrap();
        let mut scratch = vec![0.0f32; crate::core::visual::Visual::scratch_len(&cfg.visual, &mw.visual)];
        let mut arena = crate::core::arena::Arena::new(&mut scratch);
        let mut vis = crate::core::visual::Visual::new(&cfg.visual, &mw.visual, &mut arena, Kernels::detect()).unwrap();
        let v = cfg.visual;
        let n = v.width as usize * v.height as usize;
        let mut rng = SplitMix64(4);
        let frames: Vec<u8> = (0..v.channels as usize * n).map(|_| (rng.next_u64() & 255) as u8).collect();
        for f in frames.chunks_exact(n) {
            vis.push_frame(f).unwrap();
        }
        assert_eq!(vis.stacks(), 1);
        let gap = vis.it_features().to_vec();
        let net = CornetGeometry::new(&v);
        let p = CornetParams::from_tensors(&net, &tensors).unwrap();
        let mut x = Vec::new();
        stack(&frames, n, v.channels as usize, v.stride_frames as usize, 0, &mut x);
        let mut tr = Trace::default();
        forward(&net, &p, &x, &mut tr, &mut Vec::new());
        assert_eq!(tr.gap.len(), gap.len());
        for (a, b) in tr.gap.iter().zip(&gap) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}
