//! Small dense layers: matrix-vector products for heads, read-outs and fusion.

use crate::core::arena::Arena;
use crate::core::error::{Error, FormatError};
use crate::core::weights::{TensorView, Weights};
use half::f16;

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
    /// Load `{prefix}.weight` `[rows, cols]` (f32 or f16) and `{prefix}.bias` `[rows]` (f32).
    pub fn load(
        w: &Weights<'a>,
        weight: &'static str,
        bias: &'static str,
        rows: usize,
        cols: usize,
        arena: &mut Arena<'a>,
    ) -> Result<Self, Error> {
        let wt = load_f32(w, weight, &[rows as u32, cols as u32], arena)?;
        let b = w.require_f32(bias, &[rows as u32])?;
        Ok(Dense { w: wt, b, rows, cols })
    }

    /// `y = W·x + b`.
    pub fn forward(&self, x: &[f32], y: &mut [f32]) {
        for (r, yr) in y.iter_mut().enumerate().take(self.rows) {
            let row = &self.w[r * self.cols..(r + 1) * self.cols];
            *yr = self.b[r] + dot(row, x);
        }
    }
}

/// Dot product with four partial sums (vectorises, and is less sensitive to summation order).
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

/// An f32 tensor of exactly `shape`: a view into the file when stored as f32, expanded into `arena` when f16.
pub fn load_f32<'a>(
    w: &Weights<'a>,
    name: &'static str,
    shape: &[u32],
    arena: &mut Arena<'a>,
) -> Result<&'a [f32], Error> {
    match w.require(name, shape)? {
        TensorView::F32(v) => Ok(v),
        TensorView::F16(v) => {
            let dst = arena.take(v.len())?;
            for (d, s) in dst.iter_mut().zip(v) {
                *d = f16::to_f32(*s);
            }
            Ok(dst)
        }
        TensorView::I8 { .. } => Err(FormatError::ShapeMismatch(name).into()),
    }
}

/// Floats [`load_f32`] will take from the arena for `name` (its element count when stored as f16).
pub fn expansion(w: &Weights<'_>, name: &str) -> usize {
    match w.info(name) {
        Some(t) if t.dtype == crate::core::weights::DType::F16 => t.elements(),
        _ => 0,
    }
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
    /// Apply to `x`, using `tmp` (≥ `cols`) for the standardised input.
    pub fn forward(&self, x: &[f32], tmp: &mut [f32], y: &mut [f32]) {
        for i in 0..self.dense.cols {
            tmp[i] = (x[i] - self.mean[i]) * self.inv_std[i];
        }
        self.dense.forward(&tmp[..self.dense.cols], y);
    }
}
