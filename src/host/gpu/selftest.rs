//! The start-up self-test: every kernel runs once on a fixed input and is checked against the CPU core.
//!
//! * CORnet-Z, per block: the GPU's pooled map against an f32 convolution (`crate::core::kernels`, the CPU core's
//!   portable kernels) of the GPU's own input to that block, so errors do not compound and each block is measured alone
//!   (int8 blocks: against the dequantised weights, which is what the GPU computes with).
//! * IT's global average: against the mean of the GPU's IT map.
//! * The cortex: the same frames through the CPU core's `Cortex` and the kernel; bit-identical features are expected
//!   (see `kernels/cortex.cu`); if not, the firing rates must agree within a statistical tolerance.
//! * The whole pipeline (read-outs, fusion, BEL): a fixed clip through the CPU `Pipeline` and the GPU; |ΔEPP| and
//!   the largest emotion difference.

use super::runtime::{block_shapes, GpuPipeline, GpuResult};
use crate::core::audio::cortex::Cortex;
use crate::core::audio::FrameFeatures;
use crate::core::kernels::{ConvShape, Kernels};
use crate::core::manifest::{ConvView, ModelWeights};
use crate::core::visual::pool_bias_relu;
use crate::core::weights::Weights;
use crate::{Modalities, Pipeline};

/// Tolerances of the self-test.
pub const MAX_BLOCK_REL_ERR: f32 = 0.03;
/// Largest |ΔEPP| the self-test accepts between the GPU and the CPU core on its clip.
pub const MAX_EPP_DIFF: f32 = 0.01;

/// Measured differences, stage by stage.
#[derive(Clone, Debug, Default)]
pub struct SelfTestReport {
    /// Per CORnet-Z block: (max abs error, max |reference|).
    pub blocks: [(f32, f32); 4],
    /// IT global average: max abs error.
    pub gap: f32,
    /// Cortex features bit-identical to the CPU core's.
    pub cortex_bit_exact: bool,
    /// Cortex features: max abs difference (Hz).
    pub cortex_max_diff: f32,
    /// Whole pipeline: |ΔEPP| and max |Δemotion|.
    pub epp_diff: f32,
    /// Max |Δemotion| over the five emotions.
    pub emotion_diff: f32,
}

impl core::fmt::Display for SelfTestReport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, (e, m)) in self.blocks.iter().enumerate() {
            write!(f, "{} max|err| {e:.2e} (rel {:.2e}); ", crate::core::visual::BLOCKS[i], e / m.max(1e-6))?;
        }
        write!(
            f,
            "GAP {:.2e}; cortex {} (max|Δ| {:.3} Hz); EPP |Δ| {:.4}, emotions max|Δ| {:.4}",
            self.gap,
            if self.cortex_bit_exact { "bit-exact" } else { "not bit-exact" },
            self.cortex_max_diff,
            self.epp_diff,
            self.emotion_diff
        )
    }
}

/// The fixed frames of the self-test.
pub fn test_frames(n: usize, len: usize) -> Vec<Vec<u8>> {
    (0..n as u32).map(|t| (0..len as u32).map(|i| ((i * 7 + t * 13) % 251) as u8).collect()).collect()
}

/// The fixed audio of the self-test: `seconds` of a 220 Hz tone with a 4 Hz amplitude envelope.
pub fn test_audio(sample_rate: u32, seconds: f32) -> Vec<f32> {
    let n = (sample_rate as f32 * seconds) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / sample_rate as f32;
            0.3 * (t * 220.0 * core::f32::consts::TAU).sin() * (0.5 + 0.5 * (t * 4.0 * core::f32::consts::TAU).sin())
        })
        .collect()
}

/// One CPU block: f32 conv (im2col + portable GEMM), max-pool 3/2/1, bias, ReLU.
fn cpu_block(s: &ConvShape, cout: usize, w: &[f32], bias: &[f32], input: &[f32]) -> Vec<f32> {
    let k = Kernels::portable();
    let mut packed = vec![0.0f32; s.packed_len()];
    k.im2col_f32(s, input, &mut packed).expect("input and packed sized for the shape");
    let mut conv = vec![0.0f32; cout * s.n()];
    k.gemm_f32(s, cout, w, &packed, &mut conv).expect("weights and output sized for the shape");
    let (ph, pw) = (s.ho().div_ceil(2), s.wo().div_ceil(2));
    let mut out = vec![0.0f32; cout * ph * pw];
    let mut rowmax = vec![0.0f32; s.wo() + 2]; // pool_bias_relu's −∞ sentinels need two more
    pool_bias_relu(&conv, cout, s.ho(), s.wo(), bias, &mut out, &mut rowmax).expect("buffers sized for the block");
    out
}

/// A block's weights as f32 `[cout][cin][k][k]` (int8 dequantised).
fn block_weights(w: &ConvView<'_>, s: &ConvShape, cout: usize) -> GpuResult<Vec<f32>> {
    let kk = s.k * s.k;
    Ok(match *w {
        ConvView::F32(x) => x.to_vec(),
        ConvView::F16(x) => x.iter().map(|h| h.to_f32()).collect(),
        ConvView::I8 { data, scales } => {
            let cpad = s.cpad();
            let mut out = vec![0.0f32; cout * s.cin * kk];
            for co in 0..cout {
                for ci in 0..s.cin {
                    for t in 0..kk {
                        out[(co * s.cin + ci) * kk + t] = data[co * kk * cpad + t * cpad + ci] as f32 * scales[co];
                    }
                }
            }
            out
        }
    })
}

/// Run the self-test on `gpu`, built from the weights file `bytes` (64-byte aligned, as for `Weights::parse`).
/// Leaves the GPU pipeline reset. Fails with the report when a stage is out of tolerance.
pub fn self_test(gpu: &mut GpuPipeline<'_>, bytes: &[u8]) -> GpuResult<SelfTestReport> {
    let w = Weights::parse(bytes).map_err(|e| e.to_string())?;
    let cfg = *w.config();
    let mut rep = SelfTestReport::default();
    gpu.reset()?;

    // CORnet-Z, one stack, block by block.
    let vc = cfg.visual;
    let frame_len = vc.height as usize * vc.width as usize;
    let c = vc.channels as usize;
    let frames = test_frames(c, frame_len);
    let mut ran = false;
    for f in &frames {
        ran = gpu.push_frame(f)?;
    }
    if !ran {
        return Err("self-test: the first stack did not run".into());
    }
    let (maps, gap) = gpu.visual_maps()?;
    let mw = ModelWeights::resolve(&w).map_err(|e| e.to_string())?;
    let mut input: Vec<f32> = frames.iter().flat_map(|f| f.iter().map(|&b| b as f32 * (1.0 / 255.0))).collect();
    for (b, s) in block_shapes(&cfg).iter().enumerate() {
        let cout = vc.widths[b] as usize;
        let wf = block_weights(&mw.visual.blocks[b].weight, s, cout)?;
        let bias = mw.visual.blocks[b].bias;
        let reference = cpu_block(s, cout, &wf, bias, &input);
        let got = &maps[b];
        let err = reference.iter().zip(got).fold(0.0f32, |m, (r, g)| m.max((r - g).abs()));
        let scale = reference.iter().fold(0.0f32, |m, r| m.max(r.abs()));
        rep.blocks[b] = (err, scale);
        input = got.clone();
    }
    let it = &maps[3];
    let hw = it.len() / gap.len().max(1);
    rep.gap = gap
        .iter()
        .enumerate()
        .map(|(ch, g)| (g - it[ch * hw..(ch + 1) * hw].iter().sum::<f32>() / hw as f32).abs())
        .fold(0.0, f32::max);

    // The cortex: the same frames through the CPU core and the kernel.
    gpu.reset()?;
    let mut cs = vec![0.0f32; Cortex::scratch_len(&cfg.cortex)];
    let mut cpu = Cortex::new(&cfg.cortex, &cfg.audio, &mut cs).map_err(|e| e.to_string())?;
    let m = cfg.audio.n_mels as usize;
    for t in 0..48usize {
        let band = (t / 8) % m;
        let mel: Vec<f32> = (0..m).map(|i| if i.abs_diff(band) < m / 8 { 10.0 } else { -80.0 }).collect();
        let f = FrameFeatures {
            index: t as u32,
            rms: 0.1,
            pitch_mean: 0.0,
            tonnetz: [0.0; crate::core::audio::TONNETZ_DIMS],
            onset: if t % 8 == 0 { 10.0 } else { 0.0 },
            mel_db: &mel,
        };
        cpu.step_frame(&f);
        gpu.cortex_step_frame(&f)?;
    }
    let mut want = vec![0.0f32; Cortex::n_features(&cfg.cortex)];
    cpu.features(&mut want);
    let got = gpu.cortex_features()?;
    rep.cortex_bit_exact = want.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits());
    rep.cortex_max_diff = want.iter().zip(&got).fold(0.0f32, |mx, (a, b)| mx.max((a - b).abs()));
    let cortex_ok = rep.cortex_bit_exact || want.iter().zip(&got).all(|(a, b)| (a - b).abs() <= 0.25 * a.abs() + 2.0);

    // The whole pipeline on a fixed clip.
    gpu.reset()?;
    let pcm = test_audio(cfg.audio.sample_rate, 1.0);
    let clip = test_frames(2 * c + vc.stride_frames as usize, frame_len);
    let mut scratch = vec![0.0f32; Pipeline::scratch_len(&w)];
    let mut p = Pipeline::new(&w, &mut scratch).map_err(|e| e.to_string())?;
    p.push_audio(&pcm).map_err(|e| e.to_string())?;
    gpu.push_audio(&pcm)?;
    for f in &clip {
        p.push_frame(f).map_err(|e| e.to_string())?;
        gpu.push_frame(f)?;
    }
    let want = p.infer(Modalities::BOTH).map_err(|e| e.to_string())?;
    let got = gpu.infer(Modalities::BOTH)?;
    rep.epp_diff = (want.epp - got.epp).abs();
    rep.emotion_diff = want.emotions.iter().zip(&got.emotions).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    gpu.reset()?;

    let blocks_ok = rep.blocks.iter().all(|(e, s)| e.is_finite() && *e <= MAX_BLOCK_REL_ERR * s.max(1e-3));
    let gap_ok = rep.gap <= 1e-2;
    if blocks_ok && gap_ok && cortex_ok && rep.epp_diff <= MAX_EPP_DIFF {
        Ok(rep)
    } else {
        Err(format!("GPU self-test failed: {rep}"))
    }
}
