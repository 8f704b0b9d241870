//! Fitting fusion (F1) and BEL offline by hand-written backpropagation with Adam.
//!
//! Forward, per example: `a = ReLU(W_a·x_a + b_a)`, `v = ReLU(W_v·x_v + b_v)` (a missing modality gives a zero
//! vector), `S = ReLU(W_s·[a; v] + b_s)`, `E_e = Σ_i (V[e][i] − W[e][i])·S_i + V_th[e]·max_i S_i`, loss = mean squared
//! error of `E` against the consensus profile. The amygdala (`V`, `V_th`) and orbitofrontal (`W`) weights are kept
//! non-negative by projection after each step, as Morén–Balkenius units are (the amygdala excites, the orbitofrontal
//! cortex inhibits). L2 weight decay on the fusion matrices; full-batch Adam (the data are a few hundred examples).
//!
//! **Modality dropout** ([`FitOptions::dropout`]): a robot loses a sense now and then (a camera unplugged, a
//! microphone muted), and the pipeline then hands fusion a zero hidden vector for it. So each two-sense example also
//! enters the loss once with its audio missing and once with its video missing, with weights `1 − p`, `p/2`, `p/2`:
//! the one set of weights learns to read each sense alone as well as both together.

use crate::host::model::SplitMix64;

/// Fusion + BEL parameters in f32, shaped as the weights file stores them.
#[derive(Clone, Debug)]
pub struct FuseParams {
    /// Hidden units per modality.
    pub h: usize,
    /// Sensory channels.
    pub k: usize,
    /// Audio features in.
    pub na: usize,
    /// Visual features in.
    pub nv: usize,
    /// `[h][na]`, `[h]`.
    pub wa: Vec<f32>,
    /// Audio hidden bias.
    pub ba: Vec<f32>,
    /// `[h][nv]`.
    pub wv: Vec<f32>,
    /// Visual hidden bias.
    pub bv: Vec<f32>,
    /// `[k][2h]`.
    pub ws: Vec<f32>,
    /// Sensory bias.
    pub bs: Vec<f32>,
    /// Amygdala `[5][k]`.
    pub amyg: Vec<f32>,
    /// Thalamic amygdala `[5]`.
    pub thal: Vec<f32>,
    /// Orbitofrontal `[5][k]`.
    pub ofc: Vec<f32>,
    /// A missing sense's features are replaced by the present sense's, as the pipeline does for a model whose
    /// `InputConfig::substitute` is set (both must then have the same length).
    pub substitute: bool,
}

/// One training example: perceived features (either may be absent) and the target profile.
#[derive(Clone, Debug)]
pub struct Example {
    /// Audio features (`na`), or `None` for a video-only model.
    pub xa: Option<Vec<f32>>,
    /// Visual features (`nv`), or `None` for an audio-only model.
    pub xv: Option<Vec<f32>>,
    /// Consensus emotion profile (0..1).
    pub y: [f32; 5],
}

/// Training settings.
#[derive(Clone, Copy, Debug)]
pub struct FitOptions {
    /// Adam steps (full batch).
    pub steps: usize,
    /// Learning rate.
    pub lr: f32,
    /// L2 weight decay.
    pub decay: f32,
    /// Seed of the initialisation.
    pub seed: u64,
    /// Modality dropout: the share `p` of each two-sense example's weight given to its single-sense copies (half
    /// audio-only, half video-only); 0 trains on the examples as given.
    pub dropout: f32,
    /// Choose `decay` among [`DECAYS`] by cross-validation over this many groups of stimuli (0 or 1: use `decay`).
    pub cv_folds: usize,
}

/// The weight decays cross-validation chooses from (see `run::choose_decay`).
pub const DECAYS: [f32; 4] = [3e-5, 1e-4, 3e-4, 1e-3];

impl FitOptions {
    /// Whether a fit on `stimuli` stimuli chooses its decay by cross-validation: `cv_folds` ≥ 2 and at least one
    /// stimulus per group; otherwise it uses `decay` as given. The one rule [`run::choose_decay`] follows and the
    /// reports state.
    ///
    /// [`run::choose_decay`]: super::run::choose_decay
    pub fn cross_validates(&self, stimuli: usize) -> bool {
        self.cv_folds >= 2 && stimuli >= self.cv_folds
    }
}

impl Default for FitOptions {
    /// Ten cross-validation groups: with the study's 30 stimuli each inner fit sees nine tenths of them. With three
    /// (the first default) the inner fits saw two thirds and, as cross-validation on small training sets does,
    /// preferred stronger decay than a fit on all of them needs, and often by a near tie (experiments E6, E14, E15 in
    /// `docs/eval/experiments.md`). `train` fits the candidates in parallel, so the cost stays within its budget.
    fn default() -> Self {
        FitOptions { steps: 1500, lr: 3e-3, decay: 1e-3, seed: 1, dropout: 0.5, cv_folds: 10 }
    }
}

/// The examples with modality dropout `p` applied, and each one's weight (see the module docs).
pub fn with_dropout(data: &[Example], p: f32) -> (Vec<Example>, Vec<f32>) {
    let p = p.clamp(0.0, 1.0);
    let mut out = Vec::with_capacity(3 * data.len());
    let mut w = Vec::with_capacity(3 * data.len());
    for ex in data {
        if p > 0.0 && ex.xa.is_some() && ex.xv.is_some() {
            out.push(ex.clone());
            w.push(1.0 - p);
            out.push(Example { xv: None, ..ex.clone() });
            w.push(p / 2.0);
            out.push(Example { xa: None, ..ex.clone() });
            w.push(p / 2.0);
        } else {
            out.push(ex.clone());
            w.push(1.0);
        }
    }
    (out, w)
}

impl FuseParams {
    /// He-uniform initialisation; BEL weights small and positive.
    pub fn init(na: usize, nv: usize, h: usize, k: usize, seed: u64) -> Self {
        let mut rng = SplitMix64(seed);
        let mut u = |n: usize, fan_in: usize| -> Vec<f32> {
            let a = (6.0 / fan_in as f32).sqrt();
            (0..n).map(|_| rng.uniform(a)).collect()
        };
        let wa = u(h * na, na);
        let wv = u(h * nv, nv);
        let ws = u(k * 2 * h, 2 * h);
        let mut rng2 = SplitMix64(seed ^ 0xBE1);
        let amyg = (0..5 * k).map(|_| 0.2 * rng2.next_f32() / k as f32).collect();
        let ofc = (0..5 * k).map(|_| 0.05 * rng2.next_f32() / k as f32).collect();
        FuseParams {
            h,
            k,
            na,
            nv,
            wa,
            ba: vec![0.1; h],
            wv,
            bv: vec![0.1; h],
            ws,
            bs: vec![0.1; k],
            amyg,
            thal: vec![0.0; 5],
            ofc,
            substitute: false,
        }
    }

    /// The inputs fusion sees: with [`FuseParams::substitute`], a missing sense takes the present one's features.
    fn inputs<'x>(&self, xa: Option<&'x [f32]>, xv: Option<&'x [f32]>) -> (Option<&'x [f32]>, Option<&'x [f32]>) {
        if self.substitute {
            (xa.or(xv), xv.or(xa))
        } else {
            (xa, xv)
        }
    }

    fn flat_mut(&mut self) -> [&mut Vec<f32>; 9] {
        [
            &mut self.wa,
            &mut self.ba,
            &mut self.wv,
            &mut self.bv,
            &mut self.ws,
            &mut self.bs,
            &mut self.amyg,
            &mut self.thal,
            &mut self.ofc,
        ]
    }

    /// Forward one example; returns `E` (unclamped).
    fn forward(&self, xa: Option<&[f32]>, xv: Option<&[f32]>) -> [f32; 5] {
        let (xa, xv) = self.inputs(xa, xv);
        let (h, k) = (self.h, self.k);
        let mut c = vec![0.0f32; 2 * h];
        if let Some(x) = xa {
            for j in 0..h {
                let z = self.ba[j] + (0..self.na).map(|i| self.wa[j * self.na + i] * x[i]).sum::<f32>();
                c[j] = z.max(0.0);
            }
        }
        if let Some(x) = xv {
            for j in 0..h {
                let z = self.bv[j] + (0..self.nv).map(|i| self.wv[j * self.nv + i] * x[i]).sum::<f32>();
                c[h + j] = z.max(0.0);
            }
        }
        let mut s = vec![0.0f32; k];
        for (r, sr) in s.iter_mut().enumerate() {
            let z = self.bs[r] + (0..2 * h).map(|j| self.ws[r * 2 * h + j] * c[j]).sum::<f32>();
            *sr = z.max(0.0);
        }
        let smax = s.iter().fold(0.0f32, |m, &v| m.max(v));
        let mut e = [0.0f32; 5];
        for (em, ev) in e.iter_mut().enumerate() {
            *ev = self.thal[em] * smax
                + (0..k).map(|i| (self.amyg[em * k + i] - self.ofc[em * k + i]) * s[i]).sum::<f32>();
        }
        e
    }

    /// Predicted intensities (clamped to 0..1, as the pipeline reports them).
    pub fn predict(&self, xa: Option<&[f32]>, xv: Option<&[f32]>) -> [f32; 5] {
        self.forward(xa, xv).map(|v| v.clamp(0.0, 1.0))
    }

    /// Mean squared error over examples (unclamped outputs).
    pub fn loss(&self, data: &[Example]) -> f32 {
        self.weighted_loss(data, &vec![1.0; data.len()])
    }

    /// Weighted mean squared error over examples (unclamped outputs): `Σ wᵢ·mseᵢ / Σ wᵢ`.
    pub fn weighted_loss(&self, data: &[Example], weights: &[f32]) -> f32 {
        let mut l = 0.0;
        for (ex, &w) in data.iter().zip(weights) {
            let e = self.forward(ex.xa.as_deref(), ex.xv.as_deref());
            l += w * e.iter().zip(&ex.y).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / 5.0;
        }
        l / weights.iter().sum::<f32>().max(f32::MIN_POSITIVE)
    }

    /// Gradient of the weighted mean loss (plus decay) with respect to every parameter, in `flat_mut` order.
    ///
    /// Written for speed (the leave-one-out evaluation fits hundreds of models): no allocation per example, the input
    /// layers transposed so that every inner loop runs over a contiguous row of hidden units (`axpy`), and dot
    /// products with eight accumulators, so the loops vectorise.
    fn gradient(&self, data: &[Example], weights: &[f32], decay: f32) -> [Vec<f32>; 9] {
        let (h, k, na, nv) = (self.h, self.k, self.na, self.nv);
        let wat = transpose(&self.wa, h, na);
        let wvt = transpose(&self.wv, h, nv);
        let mut gat = vec![0.0f32; na * h];
        let mut gvt = vec![0.0f32; nv * h];
        let mut g: [Vec<f32>; 9] = [
            Vec::new(),
            vec![0.0; h],
            Vec::new(),
            vec![0.0; h],
            vec![0.0; k * 2 * h],
            vec![0.0; k],
            vec![0.0; 5 * k],
            vec![0.0; 5],
            vec![0.0; 5 * k],
        ];
        let diff: Vec<f32> = self.amyg.iter().zip(&self.ofc).map(|(a, o)| a - o).collect();
        let (mut c, mut s, mut ds, mut dc) =
            (vec![0.0f32; 2 * h], vec![0.0f32; k], vec![0.0f32; k], vec![0.0f32; 2 * h]);
        let scale = 2.0 / (5.0 * weights.iter().sum::<f32>().max(f32::MIN_POSITIVE));
        for (ex, &w) in data.iter().zip(weights) {
            let (xa, xv) = self.inputs(ex.xa.as_deref(), ex.xv.as_deref());
            // Forward (as `forward`, into the reused buffers).
            for (half, x, wt, b) in [(0usize, xa, &wat, &self.ba), (1, xv, &wvt, &self.bv)] {
                let dst = &mut c[half * h..(half + 1) * h];
                match x {
                    Some(x) => {
                        dst.copy_from_slice(b);
                        for (i, &xi) in x.iter().enumerate() {
                            axpy(xi, &wt[i * h..(i + 1) * h], dst);
                        }
                        dst.iter_mut().for_each(|v| *v = v.max(0.0));
                    }
                    None => dst.fill(0.0),
                }
            }
            for (r, sr) in s.iter_mut().enumerate() {
                *sr = (self.bs[r] + dot8(&self.ws[r * 2 * h..(r + 1) * 2 * h], &c)).max(0.0);
            }
            let (imax, smax) = s.iter().enumerate().fold((0, 0.0f32), |m, (i, &v)| if v > m.1 { (i, v) } else { m });
            let mut de = [0.0f32; 5];
            for (em, d) in de.iter_mut().enumerate() {
                let e = self.thal[em] * smax + dot8(&diff[em * k..(em + 1) * k], &s);
                *d = w * scale * (e - ex.y[em]);
            }
            // BEL.
            ds.fill(0.0);
            for em in 0..5 {
                for i in 0..k {
                    g[6][em * k + i] += de[em] * s[i];
                    g[8][em * k + i] -= de[em] * s[i];
                    ds[i] += de[em] * diff[em * k + i];
                }
                g[7][em] += de[em] * smax;
                if smax > 0.0 {
                    ds[imax] += de[em] * self.thal[em];
                }
            }
            // Sensory layer.
            dc.fill(0.0);
            for r in 0..k {
                if s[r] <= 0.0 {
                    continue;
                }
                let dz = ds[r];
                g[5][r] += dz;
                axpy(dz, &c, &mut g[4][r * 2 * h..(r + 1) * 2 * h]);
                axpy(dz, &self.ws[r * 2 * h..(r + 1) * 2 * h], &mut dc);
            }
            // Hidden layers (on the inputs the forward saw): ReLU gate, then the transposed weight gradients.
            for (v, &cv) in dc.iter_mut().zip(&c) {
                if cv <= 0.0 {
                    *v = 0.0;
                }
            }
            for (half, x, gt, gb) in [(0usize, xa, &mut gat, 1usize), (1, xv, &mut gvt, 3)] {
                if let Some(x) = x {
                    let d = &dc[half * h..(half + 1) * h];
                    axpy(1.0, d, &mut g[gb]);
                    for (i, &xi) in x.iter().enumerate() {
                        axpy(xi, d, &mut gt[i * h..(i + 1) * h]);
                    }
                }
            }
        }
        g[0] = transpose(&gat, na, h);
        g[2] = transpose(&gvt, nv, h);
        // Weight decay on the fusion matrices only: BEL's weights set the output scale, and shrinking them flattens
        // emotions whose consensus varies little (happy) to a constant.
        let params = [&self.wa, &self.ba, &self.wv, &self.bv, &self.ws, &self.bs, &self.amyg, &self.thal, &self.ofc];
        for idx in [0usize, 2, 4] {
            for (gi, p) in g[idx].iter_mut().zip(params[idx].iter()) {
                *gi += 2.0 * decay * p;
            }
        }
        g
    }

    /// Fit with full-batch Adam (with [`FitOptions::dropout`] applied to `data`); returns the weighted training loss
    /// curve (one value per 10 steps).
    pub fn fit(&mut self, data: &[Example], opt: &FitOptions) -> Vec<f32> {
        let (data, weights) = with_dropout(data, opt.dropout);
        let data = &data[..];
        let mut m: Vec<Vec<f32>> = self.flat_mut().iter().map(|p| vec![0.0; p.len()]).collect();
        let mut v = m.clone();
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let mut curve = Vec::new();
        for t in 1..=opt.steps {
            let g = self.gradient(data, &weights, opt.decay);
            let c1 = 1.0 - b1.powi(t as i32);
            let c2 = 1.0 - b2.powi(t as i32);
            for (idx, p) in self.flat_mut().into_iter().enumerate() {
                for i in 0..p.len() {
                    m[idx][i] = b1 * m[idx][i] + (1.0 - b1) * g[idx][i];
                    v[idx][i] = b2 * v[idx][i] + (1.0 - b2) * g[idx][i] * g[idx][i];
                    p[i] -= opt.lr * (m[idx][i] / c1) / ((v[idx][i] / c2).sqrt() + eps);
                }
                // Amygdala, thalamic and orbitofrontal weights stay non-negative.
                if idx >= 6 {
                    p.iter_mut().for_each(|w| *w = w.max(0.0));
                }
            }
            if t % 10 == 0 || t == 1 {
                curve.push(self.weighted_loss(data, &weights));
            }
        }
        curve
    }
}

/// `y += a·x` (vectorises).
fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// Dot product with eight independent accumulators (vectorises).
fn dot8(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// A `rows`×`cols` row-major matrix transposed.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        let mut p = FuseParams::init(3, 2, 4, 3, 5);
        p.thal = vec![0.1, 0.2, 0.0, 0.3, 0.05];
        let data = vec![
            Example { xa: Some(vec![0.3, -0.2, 0.8]), xv: Some(vec![0.5, 0.1]), y: [0.2, 0.5, 0.1, 0.0, 0.9] },
            Example { xa: Some(vec![-0.4, 0.6, 0.1]), xv: None, y: [0.7, 0.1, 0.3, 0.2, 0.0] },
        ];
        let weights = [0.7, 0.3];
        let g = p.gradient(&data, &weights, 0.01);
        let decay_loss = |q: &FuseParams| {
            let mut l = q.weighted_loss(&data, &weights);
            for w in [&q.wa, &q.wv, &q.ws] {
                l += 0.01 * w.iter().map(|x| x * x).sum::<f32>();
            }
            l
        };
        let mut checked = 0;
        for idx in 0..9 {
            for i in 0..g[idx].len() {
                let mut q = p.clone();
                let h = 1e-3;
                q.flat_mut()[idx][i] += h;
                let up = decay_loss(&q);
                q.flat_mut()[idx][i] -= 2.0 * h;
                let down = decay_loss(&q);
                let num = (up - down) / (2.0 * h);
                assert!((num - g[idx][i]).abs() < 2e-3, "param {idx}[{i}]: numeric {num} vs analytic {}", g[idx][i]);
                checked += 1;
            }
        }
        assert!(checked > 50);
    }

    #[test]
    fn gradient_matches_finite_differences_with_substitution() {
        let mut p = FuseParams::init(3, 3, 4, 3, 6);
        p.substitute = true;
        p.thal = vec![0.1, 0.2, 0.0, 0.3, 0.05];
        let data = vec![
            Example { xa: Some(vec![0.3, -0.2, 0.8]), xv: None, y: [0.2, 0.5, 0.1, 0.0, 0.9] },
            Example { xa: None, xv: Some(vec![-0.4, 0.6, 0.1]), y: [0.7, 0.1, 0.3, 0.2, 0.0] },
        ];
        let weights = [1.0, 1.0];
        let g = p.gradient(&data, &weights, 0.0);
        for idx in [0usize, 2] {
            for i in 0..g[idx].len() {
                let mut q = p.clone();
                q.flat_mut()[idx][i] += 1e-3;
                let up = q.weighted_loss(&data, &weights);
                q.flat_mut()[idx][i] -= 2e-3;
                let down = q.weighted_loss(&data, &weights);
                let num = (up - down) / 2e-3;
                assert!((num - g[idx][i]).abs() < 2e-3, "param {idx}[{i}]: numeric {num} vs analytic {}", g[idx][i]);
            }
        }
        // Both hidden layers learn from each example: the missing sense's layer runs on the present one's input.
        assert!(g[0].iter().any(|v| *v != 0.0) && g[2].iter().any(|v| *v != 0.0));
    }

    #[test]
    fn fitting_reduces_the_loss() {
        let mut rng = SplitMix64(3);
        let data: Vec<Example> = (0..40)
            .map(|_| {
                let xa: Vec<f32> = (0..3).map(|_| rng.uniform(1.0)).collect();
                let xv: Vec<f32> = (0..2).map(|_| rng.uniform(1.0)).collect();
                let y = [
                    (0.5 + 0.4 * xa[0]).clamp(0.0, 1.0),
                    (0.3 - 0.2 * xv[1]).clamp(0.0, 1.0),
                    0.2,
                    (0.1 + 0.3 * xa[2] * xv[0]).clamp(0.0, 1.0),
                    0.4,
                ];
                Example { xa: Some(xa), xv: Some(xv), y }
            })
            .collect();
        let mut p = FuseParams::init(3, 2, 16, 6, 2);
        let before = p.loss(&data);
        let curve = p.fit(&data, &FitOptions { steps: 800, lr: 5e-3, decay: 1e-4, seed: 1, dropout: 0.0, cv_folds: 0 });
        assert!(curve.last().unwrap() < &(before * 0.2), "{before} → {:?}", curve.last());
        assert!(p.amyg.iter().chain(&p.ofc).chain(&p.thal).all(|w| *w >= 0.0));
    }
}
