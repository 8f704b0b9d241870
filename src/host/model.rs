//! Host side: making weights files (seeded initialisation, precision conversion) and loading them from disk.

use crate::core::config::ModelConfig;
use crate::core::manifest::{conv_geometry, conv_kk4, Role, TensorId};
use crate::core::weights::{DType, TensorView, Weights};
use crate::host::writer::{to_bytes, AlignedBytes, OwnedTensor};
use crate::FormatError;
use std::vec::Vec;

/// Storage precision of an exported file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// Everything f32.
    F32,
    /// Weight matrices f16 (biases, norms and BEL stay f32).
    F16,
    /// CORnet-Z convolutions i8 with per-output-channel scales (everything else f32).
    Int8,
}

impl core::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "f32" => Ok(Precision::F32),
            "f16" | "fp16" => Ok(Precision::F16),
            "int8" | "i8" => Ok(Precision::Int8),
            _ => Err(format!("unknown precision `{s}` (expected f32, f16 or int8)")),
        }
    }
}

pub use crate::core::rng::SplitMix64;

/// Calibration clips on which `avf-bel export` balances an int8 file's CORnet-Z channels (`train::quant`): 32 clips
/// of 3 s give every channel some hundreds of frame stacks.
pub const INT8_CALIBRATION_CLIPS: u32 = 32;

/// Xavier-uniform values for a `[fan_out, fan_in(, k, k)]` tensor.
fn xavier(rng: &mut SplitMix64, n: usize, fan_in: usize, fan_out: usize) -> Vec<f32> {
    let a = (6.0 / (fan_in + fan_out) as f32).sqrt();
    (0..n).map(|_| rng.uniform(a)).collect()
}

/// Every tensor of a model, in f32, as (name, shape, values).
pub type F32Tensors = Vec<(String, Vec<u32>, Vec<f32>)>;

/// A seeded, untrained model: Xavier-uniform weights and zero biases (CORnet-Z's initialisation), identity
/// standardisation, small positive BEL weights. Every tensor of [`TensorId::present`], in file order.
pub fn seeded(cfg: &ModelConfig, seed: u64) -> F32Tensors {
    let mut rng = SplitMix64(seed);
    let mut t: F32Tensors = Vec::new();
    for id in TensorId::present(cfg) {
        let shape: Vec<u32> = id.shape(cfg).map(|s| s.to_vec()).unwrap_or_default();
        let n: usize = shape.iter().map(|&d| d as usize).product();
        let values = match (id, id.role()) {
            (_, Role::ConvWeight(_)) => {
                // Xavier over the receptive field: fan_in = cin·k·k, fan_out = cout·k·k.
                let kk = (shape[2] * shape[3]) as usize;
                xavier(&mut rng, n, shape[1] as usize * kk, shape[0] as usize * kk)
            }
            (_, Role::Matrix) => xavier(&mut rng, n, shape[1] as usize, shape[0] as usize),
            (TensorId::VisualReadoutInvStd | TensorId::AudioReadoutInvStd, _) => vec![1.0; n],
            (TensorId::BelAmygdala, _) => (0..n).map(|_| 0.2 * rng.next_f32()).collect(),
            // No innate thalamic shortcut in an untrained model: the OFC cannot inhibit it (it learns on E′ without
            // A_th).
            (TensorId::BelOrbitofrontal, _) => (0..n).map(|_| 0.05 * rng.next_f32()).collect(),
            _ => vec![0.0; n],
        };
        t.push((id.name().to_string(), shape, values));
    }
    t
}

/// Encode f32 tensors of a seeded (untrained) model at a storage precision; see [`encode_trained`].
pub fn encode(cfg: &ModelConfig, tensors: &F32Tensors, p: Precision) -> Result<Vec<u8>, FormatError> {
    encode_marked(cfg, tensors, p, false)
}

/// Encode f32 tensors of a fitted model at a storage precision; the file is marked trained.
pub fn encode_trained(cfg: &ModelConfig, tensors: &F32Tensors, p: Precision) -> Result<Vec<u8>, FormatError> {
    encode_marked(cfg, tensors, p, true)
}

fn encode_marked(cfg: &ModelConfig, tensors: &F32Tensors, p: Precision, trained: bool) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::with_capacity(tensors.len());
    for (name, shape, v) in tensors {
        let role = TensorId::from_name(name).map(TensorId::role);
        let t = match (p, role) {
            (Precision::Int8, Some(Role::ConvWeight(b))) if shape.len() == 4 => {
                // Reorder [cout][cin][k][k] to the int8 kernel's [cout][k][k][cpad] (channels fastest, padded to 4).
                let (cout, cin, k) = (shape[0] as usize, shape[1] as usize, shape[2] as usize);
                let cpad = cin.div_ceil(4) * 4;
                let cols = conv_kk4(cfg, b);
                let mut r = vec![0.0f32; cout * cols];
                for m in 0..cout {
                    for c in 0..cin {
                        for t in 0..k * k {
                            r[m * cols + t * cpad + c] = v[(m * cin + c) * k * k + t];
                        }
                    }
                }
                OwnedTensor::i8_rows(name, cout, cols, cols, &r)
            }
            (Precision::F16, Some(Role::Matrix | Role::ConvWeight(_))) => OwnedTensor::f16(name, shape, v),
            _ => OwnedTensor::f32(name, shape, v),
        };
        out.push(t);
    }
    to_bytes(cfg, trained, &out)
}

/// Decode every tensor of a file back to f32 (int8 convolutions come back in their `[cout, cin, k, k]` shape).
pub fn decode(w: &Weights<'_>) -> F32Tensors {
    let cfg = w.config();
    let mut out = Vec::new();
    for info in w.header().tensors.iter() {
        let Some(view) = w.get(info.name) else { continue };
        let mut shape: Vec<u32> = info.shape.to_vec();
        let values = match view {
            TensorView::F32(v) => v.to_vec(),
            TensorView::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
            TensorView::I8 { data, scales } => {
                let rows = info.shape[0] as usize;
                let stride = info.shape[1] as usize;
                let conv = match TensorId::from_name(info.name).map(TensorId::role) {
                    Some(Role::ConvWeight(b)) => Some(conv_geometry(cfg, b)),
                    _ => None,
                };
                let (cin, k) = conv.map(|(_, cin, k)| (cin, k)).unwrap_or((stride, 1));
                let cpad = cin.div_ceil(4) * 4;
                if conv.is_some() {
                    shape = vec![rows as u32, cin as u32, k as u32, k as u32];
                }
                let mut v = vec![0.0f32; rows * cin * k * k];
                for r in 0..rows {
                    for c in 0..cin {
                        for t in 0..k * k {
                            let q = if conv.is_some() { data[r * stride + t * cpad + c] } else { data[r * stride + c] };
                            v[(r * cin + c) * k * k + t] = q as f32 * scales[r];
                        }
                    }
                }
                v
            }
        };
        out.push((info.name.to_string(), shape, values));
    }
    out
}

/// A weights file read from disk into an aligned buffer, ready for [`Weights::parse`].
pub fn read_file(path: &std::path::Path) -> std::io::Result<AlignedBytes> {
    AlignedBytes::read(path)
}

/// Dtype name for reports.
pub fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "f32",
        DType::F16 => "f16",
        DType::I8 => "i8",
    }
}
