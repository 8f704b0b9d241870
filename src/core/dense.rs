//! Small dense layers: matrix-vector products for heads, read-outs and fusion.

use crate::core::arena::Arena;
use crate::core::error::Error;
use crate::core::manifest::{DenseWeights, MatrixView, ReadoutWeights};

/// `y = W·x + b` with `W` `[rows][cols]` row-major.
#[derive(Clone, Copy, Debug)]
pub struct Dense<'a> {
    /// Weights `[rows][cols]`.
    pub w: &'a [f32],
    /// Bias `[rows]`.
    pub b: &'a [f32],
    /// Output size.
    pub rows: usize,
    /// Input size.
    pub cols: usize,
}

impl<'a> Dense<'a> {
    /// Bind a layer's weights: f32 is used in place, f16 is widened into `arena` once.
    pub fn new(d: &DenseWeights<'a>, arena: &mut Arena<'a>) -> Result<Self, Error> {
        let w = match d.weight {
            MatrixView::F32(v) => v,
            MatrixView::F16(v) => arena.take_widened(v)?,
        };
        Ok(Dense { w, b: d.bias, rows: d.rows, cols: d.cols })
    }

    /// `y = W·x + b`.
    pub fn forward(&self, x: &[f32], y: &mut [f32]) {
        for (r, yr) in y.iter_mut().enumerate().take(self.rows) {
            let row = &self.w[r * self.cols..(r + 1) * self.cols];
            *yr = self.b[r] + dot(row, x);
        }
    }
}

/// Dot product with eight partial sums (they vectorise, and the sum is less sensitive to summation order).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut s = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..8 {
            s[i] += x[i] * y[i];
        }
    }
    let mut t: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for v in s {
        t += v;
    }
    t
}

/// Input standardisation followed by a dense layer: `y = W·((x − mean)·inv_std) + b`.
#[derive(Clone, Copy, Debug)]
pub struct Readout<'a> {
    /// Per-input mean.
    pub mean: &'a [f32],
    /// Per-input reciprocal standard deviation.
    pub inv_std: &'a [f32],
    /// The dense layer.
    pub dense: Dense<'a>,
}

impl<'a> Readout<'a> {
    /// Bind a read-out's weights (see [`Dense::new`]).
    pub fn new(r: &ReadoutWeights<'a>, arena: &mut Arena<'a>) -> Result<Self, Error> {
        Ok(Readout { mean: r.mean, inv_std: r.inv_std, dense: Dense::new(&r.dense, arena)? })
    }

    /// Apply to `x`, using `tmp` (≥ `cols`) for the standardised input.
    pub fn forward(&self, x: &[f32], tmp: &mut [f32], y: &mut [f32]) {
        for i in 0..self.dense.cols {
            tmp[i] = (x[i] - self.mean[i]) * self.inv_std[i];
        }
        self.dense.forward(&tmp[..self.dense.cols], y);
    }
}
