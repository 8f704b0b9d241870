//! The start-up self-test: every kernel runs on a fixed input and is checked against the CPU core.
//!
//! * CORnet-Z, per block: the device's pooled map against an f32 convolution (`crate::core::kernels`, the CPU
//!   core's portable kernels) of the device's own input to that block, so errors do not compound and each block is measured
//!   alone (int8 blocks: against the dequantised weights, which is what the device computes with).
//! * IT's global average: against the mean of the device's IT map.
//! * The cortex: the same frames through the CPU core's `Cortex` and the kernel; bit-identical features are expected
//!   (see `kernels/cortex.cu`); if not, the firing rates must agree within a statistical tolerance.
//! * The head alone: read-outs, fusion and BEL on the CPU from the device's own head inputs (IT's moments, the audio
//!   read-out input) against what the head kernel computed from them.
//! * The whole pipeline: a fixed clip through the CPU `Pipeline` and the device; |ΔEPP| and the largest emotion
//!   difference.

use super::launcher::{GpuError, GpuResult};
use super::runtime::{GpuPipeline, HeadIo};
use crate::core::arena::Arena;
use crate::core::audio::cortex::Cortex;
use crate::core::audio::FrameFeatures;
use crate::core::bel::Bel;
use crate::core::config::N_EMOTIONS;
use crate::core::dense::Readout;
use crate::core::epp::epp;
use crate::core::error::Error;
use crate::core::fusion::Fusion;
use crate::core::kernels::{ConvShape, Kernels};
use crate::core::manifest::{ConvView, ModelWeights};
use crate::core::visual::{pool_bias_relu, shapes, FramePrep};
use crate::core::weights::Weights;
use crate::{Modalities, Pipeline};

/// Largest error of a CORnet-Z block relative to the largest value of its map (fp16 storage and fp16 products).
pub const MAX_BLOCK_REL_ERR: f32 = 0.03;
/// Largest |ΔEPP| the self-test accepts between the device and the CPU core on its clip.
pub const MAX_EPP_DIFF: f32 = 0.01;
/// Largest difference of the head's outputs from the CPU's on the same inputs, relative to the value where it exceeds
/// 1 (f32 in a different summation order: a few ulp; `expf` differs by an ulp or two on a GPU).
pub const MAX_HEAD_DIFF: f32 = 1e-5;

/// How much input the self-test runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SelfTestSize {
    /// Front-end frames fed straight to the cortex.
    pub cortex_frames: usize,
    /// Seconds of audio in the whole-pipeline clip.
    pub clip_seconds: f32,
}

impl Default for SelfTestSize {
    /// What start-up runs: 48 cortex frames, a 1-s clip.
    fn default() -> Self {
        SelfTestSize { cortex_frames: 48, clip_seconds: 1.0 }
    }
}

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
    /// The head alone: max difference of everything it outputs (emotions, EPP, terms, S, x_a, x_v), absolute below 1
    /// and relative above.
    pub head: f32,
    /// Whole pipeline: |ΔEPP|.
    pub epp_diff: f32,
    /// Max |Δemotion| over the five emotions.
    pub emotion_diff: f32,
}

impl SelfTestReport {
    /// Every stage within its tolerance (the cortex bit-exact, or its rates within 25 % + 2 Hz: `cortex_rates_ok`).
    pub fn passed(&self, cortex_rates_ok: bool) -> bool {
        let blocks_ok = self.blocks.iter().all(|(e, s)| e.is_finite() && *e <= MAX_BLOCK_REL_ERR * s.max(1e-3));
        blocks_ok
            && self.gap <= 1e-2
            && (self.cortex_bit_exact || cortex_rates_ok)
            && self.head <= MAX_HEAD_DIFF
            && self.epp_diff <= MAX_EPP_DIFF
    }
}

impl core::fmt::Display for SelfTestReport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, (e, m)) in self.blocks.iter().enumerate() {
            write!(f, "{} max|err| {e:.2e} (rel {:.2e}); ", crate::core::visual::BLOCKS[i], e / m.max(1e-6))?;
        }
        write!(
            f,
            "GAP {:.2e}; cortex {} (max|Δ| {:.3} Hz); head max|Δ| {:.1e}; EPP |Δ| {:.4}, emotions max|Δ| {:.4}",
            self.gap,
            if self.cortex_bit_exact { "bit-exact" } else { "not bit-exact" },
            self.cortex_max_diff,
            self.head,
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

/// The cortex test's mel frame `t` (`m` bands): a tone sweeping over all the bands every 16 frames, so that every
/// tonotopic group is driven within the test's frames.
pub fn test_mel(t: usize, m: usize) -> Vec<f32> {
    let band = (t % 16) * m / 16;
    (0..m).map(|i| if i.abs_diff(band) < m / 8 { 10.0 } else { -80.0 }).collect()
}

/// One CPU block: f32 conv (im2col + portable GEMM), max-pool 3/2/1, bias, ReLU.
pub fn cpu_block(s: &ConvShape, cout: usize, w: &[f32], bias: &[f32], input: &[f32]) -> Vec<f32> {
    let k = Kernels::portable();
    let mut packed = vec![0.0f32; s.packed_len()];
    k.im2col_f32(s, input, &mut packed).expect("input and packed sized for the shape");
    let mut conv = vec![0.0f32; cout * s.n()];
    k.gemm_f32(s, cout, w, &packed, &mut conv).expect("weights and output sized for the shape");
    let (ph, pw) = (s.ho().div_ceil(2), s.wo().div_ceil(2));
    let mut out = vec![0.0f32; cout * ph * pw];
    // pool_bias_relu keeps a −∞ sentinel on each side of its row buffer.
    let mut rowmax = vec![0.0f32; s.wo() + 2];
    pool_bias_relu(&conv, cout, s.ho(), s.wo(), bias, &mut out, &mut rowmax).expect("buffers sized for the block");
    out
}

/// A block's weights as f32 `[cout][cin][k][k]` (int8 dequantised).
pub fn block_weights(w: &ConvView<'_>, s: &ConvShape, cout: usize) -> Vec<f32> {
    let kk = s.k * s.k;
    match *w {
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
    }
}

/// The head's outputs computed on the CPU from the device's head inputs, in the head kernel's output layout.
pub fn cpu_head(mw: &ModelWeights<'_>, bel_state: &Bel<'_>, io: &HeadIo, m: Modalities) -> Result<Vec<f32>, Error> {
    let cfg = &mw.config;
    let size = {
        let mut a = Arena::counting();
        let _ = Readout::new(&mw.visual.readout, &mut a);
        let _ = Readout::new(&mw.audio_readout, &mut a);
        let _ = Fusion::new(&cfg.fusion, &mw.fusion, &mut a);
        let _ = Bel::new(&cfg.bel, &mw.bel, &mut a);
        a.used()
    };
    let mut scratch = vec![0.0f32; size];
    let mut arena = Arena::new(&mut scratch);
    let ro_v = Readout::new(&mw.visual.readout, &mut arena)?;
    let ro_a = Readout::new(&mw.audio_readout, &mut arena)?;
    let mut fusion = Fusion::new(&cfg.fusion, &mw.fusion, &mut arena)?;
    let mut bel = Bel::new(&cfg.bel, &mw.bel, &mut arena)?;
    bel.restore(bel_state.amygdala(), bel_state.thalamus(), bel_state.orbitofrontal())?;

    let it = io.it_mean.len();
    let stacks = io.stacks.max(1) as f32;
    let mut summary = vec![0.0f32; 2 * it];
    for i in 0..it {
        summary[i] = io.it_mean[i];
        summary[it + i] = libm::sqrtf((io.it_m2[i] / stacks).max(0.0));
    }
    let (fv, fa) = (cfg.visual.features as usize, cfg.fusion.audio_features as usize);
    let mut tmp = vec![0.0f32; summary.len().max(io.a_in.len())];
    let mut x_v = vec![0.0f32; fv];
    let mut x_a = vec![0.0f32; fa];
    ro_v.forward(&summary, &mut tmp, &mut x_v);
    ro_a.forward(&io.a_in, &mut tmp, &mut x_a);
    let k = cfg.fusion.sensory as usize;
    let mut s = vec![0.0f32; k];
    let (a, v) = (m.audio.then_some(&x_a[..]), m.video.then_some(&x_v[..]));
    // As the Pipeline: a missing sense replaced by the present one (`InputConfig::substitute`).
    let (a, v) = if cfg.input.substitute { (a.or(v), v.or(a)) } else { (a, v) };
    let c = fusion.forward(a, v, &mut s)?;
    let mut e = [0.0f32; N_EMOTIONS];
    let terms = bel.forward(&s, &mut e)?;
    let mut out = Vec::with_capacity(io.out.len());
    out.extend_from_slice(&e);
    out.push(epp(&e));
    out.extend_from_slice(&[c.audio, c.visual]);
    out.extend_from_slice(&terms.amygdala);
    out.extend_from_slice(&terms.orbitofrontal);
    out.extend_from_slice(&s);
    out.extend(x_a.iter().map(|&x| if m.audio { x } else { 0.0 }));
    out.extend(x_v.iter().map(|&x| if m.video { x } else { 0.0 }));
    Ok(out)
}

/// CORnet-Z on one stack of the test frames, block by block: per block (max abs error, max |reference|) against an
/// f32 CPU convolution of the device's own input to that block, and IT's global average against the mean of the
/// device's IT map. Leaves a stack in the pipeline (reset it after).
pub fn check_blocks(gpu: &mut GpuPipeline<'_>, mw: &ModelWeights<'_>) -> GpuResult<([(f32, f32); 4], f32)> {
    let vc = mw.config.visual;
    gpu.reset()?;
    let frame_len = vc.height as usize * vc.width as usize;
    let c = vc.channels as usize;
    let frames = test_frames(c, frame_len);
    let mut ran = false;
    for f in &frames {
        ran = gpu.push_frame(f)?;
    }
    if !ran {
        return Err(GpuError::Limits("self-test: the first stack did not run"));
    }
    let (maps, gap) = gpu.visual_maps()?;
    let mut blocks = [(0.0f32, 0.0f32); 4];
    // The frames as V1 sees them: prepared as the model says (`InputConfig`: background, luminance), by the same code.
    let mut seen = vec![0u8; frame_len];
    let mut input: Vec<f32> = Vec::with_capacity(c * frame_len);
    let mut prep_scratch = vec![0.0f32; FramePrep::scratch_len(&vc, &mw.config.input)];
    let mut prep = FramePrep::new(&vc, &mw.config.input, &mut prep_scratch).map_err(GpuError::from)?;
    for f in &frames {
        prep.apply(f, &mut seen).map_err(GpuError::from)?;
        input.extend(seen.iter().map(|&b| b as f32 * (1.0 / 255.0)));
    }
    for (b, (s, cout)) in shapes(&vc).iter().enumerate() {
        let wf = block_weights(&mw.visual.blocks[b].weight, s, *cout);
        let reference = cpu_block(s, *cout, &wf, mw.visual.blocks[b].bias, &input);
        let got = &maps[b];
        let err = reference.iter().zip(got).fold(0.0f32, |m, (r, g)| m.max((r - g).abs()));
        let scale = reference.iter().fold(0.0f32, |m, r| m.max(r.abs()));
        blocks[b] = (if got.len() == reference.len() { err } else { f32::INFINITY }, scale);
        input = got.clone();
    }
    let it = &maps[3];
    let hw = it.len() / gap.len().max(1);
    let gap_err = gap
        .iter()
        .enumerate()
        .map(|(ch, g)| (g - it[ch * hw..(ch + 1) * hw].iter().sum::<f32>() / hw as f32).abs())
        .fold(0.0, f32::max);
    Ok((blocks, gap_err))
}

/// Run the self-test with the start-up sizes (see [`self_test_with`]).
pub fn self_test(gpu: &mut GpuPipeline<'_>, bytes: &[u8]) -> GpuResult<SelfTestReport> {
    self_test_with(gpu, bytes, SelfTestSize::default())
}

/// Run the self-test on `gpu`, built from the weights file `bytes` (64-byte aligned, as for `Weights::parse`).
/// Leaves the pipeline reset. Fails with the report when a stage is out of tolerance.
pub fn self_test_with(gpu: &mut GpuPipeline<'_>, bytes: &[u8], size: SelfTestSize) -> GpuResult<SelfTestReport> {
    let w = Weights::parse(bytes).map_err(Error::from)?;
    let cfg = *w.config();
    let mw = ModelWeights::resolve(&w).map_err(Error::from)?;
    let mut rep = SelfTestReport::default();
    gpu.reset()?;

    (rep.blocks, rep.gap) = check_blocks(gpu, &mw)?;

    // The cortex: the same frames through the CPU core and the kernel.
    gpu.reset()?;
    let mut cs = vec![0.0f32; Cortex::scratch_len(&cfg.cortex)];
    let mut cpu = Cortex::new(&cfg.cortex, &cfg.audio, &mut cs)?;
    cpu.set_drive(gpu.drive_config())?;
    let m = cfg.audio.n_mels as usize;
    for t in 0..size.cortex_frames {
        let mel = test_mel(t, m);
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
    rep.cortex_bit_exact = want.len() == got.len() && want.iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits());
    rep.cortex_max_diff = want.iter().zip(&got).fold(0.0f32, |mx, (a, b)| mx.max((a - b).abs()));
    let cortex_rates_ok = want.iter().zip(&got).all(|(a, b)| (a - b).abs() <= 0.25 * a.abs() + 2.0);

    // The head alone and the whole pipeline, on a fixed clip.
    gpu.reset()?;
    let pcm = test_audio(cfg.audio.sample_rate, size.clip_seconds);
    let vc = cfg.visual;
    let frame_len = vc.height as usize * vc.width as usize;
    let clip = test_frames(2 * vc.channels as usize + vc.stride_frames as usize, frame_len);
    let mut scratch = vec![0.0f32; Pipeline::scratch_len(&w)];
    let mut p = Pipeline::new(&w, &mut scratch)?;
    p.bel_mut().restore(gpu.bel().amygdala(), gpu.bel().thalamus(), gpu.bel().orbitofrontal())?;
    p.push_audio(&pcm)?;
    gpu.push_audio(&pcm)?;
    for f in &clip {
        p.push_frame(f)?;
        gpu.push_frame(f)?;
    }
    gpu.peek(Modalities::BOTH)?;
    let io = gpu.head_io()?;
    let reference = cpu_head(&mw, gpu.bel(), &io, Modalities::BOTH)?;
    rep.head = if reference.len() == io.out.len() {
        reference.iter().zip(&io.out).fold(0.0f32, |mx, (a, b)| mx.max((a - b).abs() / a.abs().max(1.0)))
    } else {
        f32::INFINITY
    };
    let want = p.infer(Modalities::BOTH)?;
    let got = gpu.infer(Modalities::BOTH)?;
    rep.epp_diff = (want.epp - got.epp).abs();
    rep.emotion_diff = want.emotions.iter().zip(&got.emotions).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    // The cortex again, driven by the clip's sound through the front-end: the audio read-out input the device
    // computed at the end of the clip against the CPU core's.
    let a_gpu = gpu.head_io()?.a_in;
    p.push_audio(&pcm)?;
    for f in &clip {
        p.push_frame(f)?;
    }
    let mut v = vec![0.0f32; crate::core::visual::summary_len(&vc)];
    let mut a_cpu = vec![0.0f32; a_gpu.len()];
    p.clip_features(&mut v, &mut a_cpu)?;
    let cortex_at = crate::core::audio::N_DESCRIPTORS + crate::core::audio::N_INTERVALS;
    let (cw, cg) = (&a_cpu[cortex_at..], &a_gpu[cortex_at..]);
    rep.cortex_bit_exact &= cw.iter().zip(cg).all(|(a, b)| a.to_bits() == b.to_bits());
    rep.cortex_max_diff = cw.iter().zip(cg).fold(rep.cortex_max_diff, |mx, (a, b)| mx.max((a - b).abs()));
    gpu.reset()?;

    if rep.passed(cortex_rates_ok) {
        Ok(rep)
    } else {
        Err(GpuError::SelfTest(Box::new(rep)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The self-test's CPU reference block is a convolution + max-pool 3/2/1 + bias + ReLU (checked here against a
    /// direct loop). It once gave `pool_bias_relu` a row buffer of `wo` floats where it needs `wo + 2`: a slice
    /// panic in every self-test, so every GPU start-up died before the first inference.
    #[test]
    fn cpu_block_is_conv_pool_bias_relu() {
        for (cin, h, w, k, stride, pad, cout) in
            [(2usize, 9usize, 11usize, 3usize, 1usize, 1usize, 3usize), (3, 16, 16, 7, 2, 3, 2)]
        {
            let s = ConvShape { cin, h, w, k, stride, pad };
            let wts: Vec<f32> = (0..cout * cin * k * k).map(|i| ((i * 37 % 17) as f32 - 8.0) / 16.0).collect();
            let bias: Vec<f32> = (0..cout).map(|i| i as f32 * 0.1 - 0.1).collect();
            let x: Vec<f32> = (0..cin * h * w).map(|i| ((i * 13 % 23) as f32) / 23.0).collect();
            let got = cpu_block(&s, cout, &wts, &bias, &x);
            let (ho, wo) = (s.ho(), s.wo());
            let conv = |co: usize, oy: usize, ox: usize| {
                let mut acc = 0.0f32;
                for ci in 0..cin {
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (oy * stride + ky) as isize - pad as isize;
                            let ix = (ox * stride + kx) as isize - pad as isize;
                            if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                acc += wts[((co * cin + ci) * k + ky) * k + kx]
                                    * x[(ci * h + iy as usize) * w + ix as usize];
                            }
                        }
                    }
                }
                acc
            };
            let (ph, pw) = (ho.div_ceil(2), wo.div_ceil(2));
            assert_eq!(got.len(), cout * ph * pw);
            for co in 0..cout {
                for py in 0..ph {
                    for px in 0..pw {
                        let mut m = f32::NEG_INFINITY;
                        for cy in (2 * py).saturating_sub(1)..(2 * py + 2).min(ho) {
                            for cx in (2 * px).saturating_sub(1)..(2 * px + 2).min(wo) {
                                m = m.max(conv(co, cy, cx));
                            }
                        }
                        let want = (m + bias[co]).max(0.0);
                        let g = got[(co * ph + py) * pw + px];
                        assert!((g - want).abs() <= 1e-5 * want.abs().max(1.0), "{co} {py} {px}: {g} vs {want}");
                    }
                }
            }
        }
    }
}
