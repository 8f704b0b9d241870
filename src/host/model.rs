//! Host side: making weights files (seeded initialisation, precision conversion) and loading them from disk.

use crate::core::audio::cortex::Cortex;
use crate::core::config::{ModelConfig, N_EMOTIONS};
use crate::core::pipeline::audio_inputs;
use crate::core::visual::summary_len;
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

/// SplitMix64: a tiny, well-known generator; enough for reproducible initialisation.
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1) with 24 bits.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform in [−a, a).
    pub fn uniform(&mut self, a: f32) -> f32 {
        (2.0 * self.next_f32() - 1.0) * a
    }
}

/// Xavier-uniform values for a `[fan_out, fan_in(, k, k)]` tensor.
fn xavier(rng: &mut SplitMix64, n: usize, fan_in: usize, fan_out: usize) -> Vec<f32> {
    let a = (6.0 / (fan_in + fan_out) as f32).sqrt();
    (0..n).map(|_| rng.uniform(a)).collect()
}

/// Every tensor of a model, in f32, as (name, shape, values).
pub type F32Tensors = Vec<(String, Vec<u32>, Vec<f32>)>;

/// A seeded, untrained model: Xavier-uniform weights and zero biases (CORnet-Z's initialisation), identity
/// standardisation, small positive BEL weights.
pub fn seeded(cfg: &ModelConfig, seed: u64) -> F32Tensors {
    let mut rng = SplitMix64(seed);
    let mut t: F32Tensors = Vec::new();
    let v = &cfg.visual;
    let mut cin = v.channels as usize;
    for (i, name) in ["v1", "v2", "v4", "it"].iter().enumerate() {
        let k = if i == 0 { 7 } else { 3 };
        let cout = v.widths[i] as usize;
        let w = xavier(&mut rng, cout * cin * k * k, cin * k * k, cout * k * k);
        t.push((format!("visual.{name}.weight"), vec![cout as u32, cin as u32, k as u32, k as u32], w));
        t.push((format!("visual.{name}.bias"), vec![cout as u32], vec![0.0; cout]));
        cin = cout;
    }
    let it = v.widths[3] as usize;
    if v.head_classes > 0 {
        let h = v.head_classes as usize;
        t.push(("visual.head.weight".into(), vec![h as u32, it as u32], xavier(&mut rng, h * it, it, h)));
        t.push(("visual.head.bias".into(), vec![h as u32], vec![0.0; h]));
    }
    let readout = |t: &mut F32Tensors, rng: &mut SplitMix64, prefix: &str, n_in: usize, n_out: usize| {
        t.push((format!("{prefix}.mean"), vec![n_in as u32], vec![0.0; n_in]));
        t.push((format!("{prefix}.inv_std"), vec![n_in as u32], vec![1.0; n_in]));
        t.push((format!("{prefix}.weight"), vec![n_out as u32, n_in as u32], xavier(rng, n_out * n_in, n_in, n_out)));
        t.push((format!("{prefix}.bias"), vec![n_out as u32], vec![0.0; n_out]));
    };
    readout(&mut t, &mut rng, "visual.readout", summary_len(v), v.features as usize);
    readout(&mut t, &mut rng, "audio.readout", audio_inputs(cfg), cfg.fusion.audio_features as usize);
    let f = &cfg.fusion;
    let h = f.hidden as usize;
    let dense = |t: &mut F32Tensors, rng: &mut SplitMix64, prefix: &str, n_out: usize, n_in: usize| {
        t.push((format!("{prefix}.weight"), vec![n_out as u32, n_in as u32], xavier(rng, n_out * n_in, n_in, n_out)));
        t.push((format!("{prefix}.bias"), vec![n_out as u32], vec![0.0; n_out]));
    };
    dense(&mut t, &mut rng, "fusion.audio", h, f.audio_features as usize);
    dense(&mut t, &mut rng, "fusion.visual", h, v.features as usize);
    if f.attention {
        dense(&mut t, &mut rng, "fusion.attn_audio", h, h);
        dense(&mut t, &mut rng, "fusion.attn_visual", h, h);
    }
    dense(&mut t, &mut rng, "fusion.out", f.sensory as usize, 2 * h);
    let k = f.sensory as usize;
    let bel = |rng: &mut SplitMix64, n: usize, a: f32| (0..n).map(|_| a * rng.next_f32()).collect::<Vec<f32>>();
    t.push(("bel.amygdala".into(), vec![N_EMOTIONS as u32, k as u32], bel(&mut rng, N_EMOTIONS * k, 0.2)));
    // No innate thalamic shortcut in an untrained model: the OFC cannot inhibit it (it learns on E′ without A_th).
    t.push(("bel.thalamus".into(), vec![N_EMOTIONS as u32], vec![0.0; N_EMOTIONS]));
    t.push(("bel.orbitofrontal".into(), vec![N_EMOTIONS as u32, k as u32], bel(&mut rng, N_EMOTIONS * k, 0.05)));
    let _ = Cortex::n_features(&cfg.cortex);
    t
}

/// Names whose tensors are weight matrices (stored f16 in an f16 export).
fn is_matrix(name: &str) -> bool {
    name.ends_with(".weight")
}

/// Encode f32 tensors at a storage precision.
pub fn encode(cfg: &ModelConfig, tensors: &F32Tensors, p: Precision) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::with_capacity(tensors.len());
    for (name, shape, v) in tensors {
        let conv = name.starts_with("visual.") && shape.len() == 4;
        let t = match p {
            Precision::Int8 if conv => {
                // Reorder [cout][cin][k][k] to the int8 kernel's [cout][k][k][cpad] (channels fastest, padded to 4).
                let (cout, cin, k) = (shape[0] as usize, shape[1] as usize, shape[2] as usize);
                let cpad = cin.div_ceil(4) * 4;
                let cols = k * k * cpad;
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
            Precision::F16 if is_matrix(name) => OwnedTensor::f16(name, shape, v),
            _ => OwnedTensor::f32(name, shape, v),
        };
        out.push(t);
    }
    to_bytes(cfg, &out)
}

/// Decode every tensor of a file back to f32 (int8 convolutions come back in their `[cout, cin, k, k]` shape).
pub fn decode(w: &Weights<'_>) -> F32Tensors {
    let cfg = w.config();
    let mut out = Vec::new();
    for info in w.header().tensors.iter() {
        let view = w.get(info.name).expect("listed tensor");
        let mut shape: Vec<u32> = info.shape.to_vec();
        let values = match view {
            TensorView::F32(v) => v.to_vec(),
            TensorView::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
            TensorView::I8 { data, scales } => {
                let rows = info.shape[0] as usize;
                let stride = info.shape[1] as usize;
                let idx = ["visual.v1.weight", "visual.v2.weight", "visual.v4.weight", "visual.it.weight"]
                    .iter()
                    .position(|n| *n == info.name);
                let (cin, k) = match idx {
                    Some(0) => (cfg.visual.channels as usize, 7),
                    Some(i) => (cfg.visual.widths[i - 1] as usize, 3),
                    None => (stride, 1),
                };
                let cpad = cin.div_ceil(4) * 4;
                if idx.is_some() {
                    shape = vec![rows as u32, cin as u32, k as u32, k as u32];
                }
                let mut v = vec![0.0f32; rows * cin * k * k];
                for r in 0..rows {
                    for c in 0..cin {
                        for t in 0..k * k {
                            let q = if idx.is_some() { data[r * stride + t * cpad + c] } else { data[r * stride + c] };
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
