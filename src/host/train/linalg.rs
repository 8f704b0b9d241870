//! Small dense linear algebra in f64 for fitting read-outs: ridge regression by Cholesky on the normal equations,
//! and a Gaussian-kernel ridge regression for the evaluation's baselines.

/// A fitted multi-output ridge regression on standardised inputs: `y = W·((x − mean)/std) + b`.
#[derive(Clone, Debug)]
pub struct Ridge {
    /// Input means.
    pub mean: Vec<f64>,
    /// Input standard deviations (1 where an input is constant).
    pub std: Vec<f64>,
    /// Weights `[outputs][inputs]`.
    pub w: Vec<Vec<f64>>,
    /// Biases `[outputs]`.
    pub b: Vec<f64>,
}

impl Ridge {
    /// Fit `ys` (rows of outputs) from `xs` (rows of inputs) with penalty `lambda` on the standardised weights.
    pub fn fit(xs: &[Vec<f64>], ys: &[Vec<f64>], lambda: f64) -> Ridge {
        let n = xs.len();
        let d = xs[0].len();
        let k = ys[0].len();
        let mut mean = vec![0.0; d];
        for x in xs {
            for (m, v) in mean.iter_mut().zip(x) {
                *m += v / n as f64;
            }
        }
        let mut std = vec![0.0; d];
        for x in xs {
            for ((s, v), m) in std.iter_mut().zip(x).zip(&mean) {
                *s += (v - m) * (v - m) / n as f64;
            }
        }
        for s in std.iter_mut() {
            *s = if *s > 1e-18 { s.sqrt() } else { 1.0 };
        }
        let z: Vec<Vec<f64>> =
            xs.iter().map(|x| x.iter().zip(&mean).zip(&std).map(|((v, m), s)| (v - m) / s).collect()).collect();
        let mut ymean = vec![0.0; k];
        for y in ys {
            for (m, v) in ymean.iter_mut().zip(y) {
                *m += v / n as f64;
            }
        }
        // A = ZᵀZ + λI, B = Zᵀ(Y − ȳ)
        let mut a = vec![0.0; d * d];
        for row in &z {
            for i in 0..d {
                let zi = row[i];
                if zi == 0.0 {
                    continue;
                }
                for j in i..d {
                    a[i * d + j] += zi * row[j];
                }
            }
        }
        for i in 0..d {
            for j in 0..i {
                a[i * d + j] = a[j * d + i];
            }
            a[i * d + i] += lambda;
        }
        let mut w = vec![vec![0.0; d]; k];
        let l = cholesky(&a, d);
        for (o, wo) in w.iter_mut().enumerate() {
            let mut rhs = vec![0.0; d];
            for (row, y) in z.iter().zip(ys) {
                let t = y[o] - ymean[o];
                for i in 0..d {
                    rhs[i] += row[i] * t;
                }
            }
            *wo = cholesky_solve(&l, d, &rhs);
        }
        Ridge { mean, std, w, b: ymean }
    }

    /// Predict one row.
    pub fn predict(&self, x: &[f64]) -> Vec<f64> {
        self.w
            .iter()
            .zip(&self.b)
            .map(|(w, b)| {
                b + w.iter().zip(x).zip(&self.mean).zip(&self.std).map(|(((w, v), m), s)| w * (v - m) / s).sum::<f64>()
            })
            .collect()
    }
}

/// A fitted multi-output kernel ridge regression with the Gaussian kernel `k(x, x′) = exp(−γ·‖x − x′‖²)`:
/// `y(x) = ȳ + Σ_i k(x, x_i)·α_i` with `(K + λI)·α = Y − ȳ`. A smooth non-linear function of a few inputs, fitted
/// exactly: what a small data set supports beyond a linear model.
#[derive(Clone, Debug)]
pub struct KernelRidge {
    xs: Vec<Vec<f64>>,
    /// `[examples][outputs]`.
    alpha: Vec<Vec<f64>>,
    mean: Vec<f64>,
    gamma: f64,
}

impl KernelRidge {
    /// Fit `ys` from `xs` (rows; at least one) with penalty `lambda > 0` and kernel width `gamma`.
    pub fn fit(xs: &[Vec<f64>], ys: &[Vec<f64>], lambda: f64, gamma: f64) -> KernelRidge {
        let n = xs.len();
        let k = ys.first().map_or(0, Vec::len);
        let mean: Vec<f64> = (0..k).map(|o| ys.iter().map(|y| y[o]).sum::<f64>() / n.max(1) as f64).collect();
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = kernel(&xs[i], &xs[j], gamma);
            }
            a[i * n + i] += lambda;
        }
        let l = cholesky(&a, n);
        let mut alpha = vec![vec![0.0; k]; n];
        for o in 0..k {
            let rhs: Vec<f64> = ys.iter().map(|y| y[o] - mean[o]).collect();
            for (row, v) in alpha.iter_mut().zip(cholesky_solve(&l, n, &rhs)) {
                row[o] = v;
            }
        }
        KernelRidge { xs: xs.to_vec(), alpha, mean, gamma }
    }

    /// Predict one row.
    pub fn predict(&self, x: &[f64]) -> Vec<f64> {
        let mut y = self.mean.clone();
        for (xi, ai) in self.xs.iter().zip(&self.alpha) {
            let kx = kernel(x, xi, self.gamma);
            for (o, a) in y.iter_mut().zip(ai) {
                *o += kx * a;
            }
        }
        y
    }
}

fn kernel(a: &[f64], b: &[f64], gamma: f64) -> f64 {
    (-gamma * a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>()).exp()
}

/// Lower-triangular Cholesky factor of the symmetric positive-definite `a` (`d×d`).
pub fn cholesky(a: &[f64], d: usize) -> Vec<f64> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            l[i * d + j] = if i == j { s.max(1e-12).sqrt() } else { s / l[j * d + j] };
        }
    }
    l
}

/// Solve `L·Lᵀ·x = b`.
pub fn cholesky_solve(l: &[f64], d: usize, b: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; d];
    for i in 0..d {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * d + k] * y[k];
        }
        y[i] = s / l[i * d + i];
    }
    let mut x = vec![0.0; d];
    for i in (0..d).rev() {
        let mut s = y[i];
        for k in i + 1..d {
            s -= l[k * d + i] * x[k];
        }
        x[i] = s / l[i * d + i];
    }
    x
}

/// Coefficient of determination of predictions `p` against truth `t`.
pub fn r2(p: &[f64], t: &[f64]) -> f64 {
    let m = t.iter().sum::<f64>() / t.len() as f64;
    let ss_res: f64 = p.iter().zip(t).map(|(a, b)| (a - b) * (a - b)).sum();
    let ss_tot: f64 = t.iter().map(|b| (b - m) * (b - m)).sum();
    1.0 - ss_res / ss_tot.max(1e-18)
}

/// Pearson correlation.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let mut sab = 0.0;
    let mut saa = 0.0;
    let mut sbb = 0.0;
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt().max(1e-18)
}
