//! Preparing a model's CORnet-Z for the int8 file: activation ranges balanced against the weights before quantising.
//!
//! The int8 path codes each activation tensor between CORnet-Z blocks with one scale per frame stack (its largest
//! value over 127: 7-bit codes, `kernels::ACT_MAX_CODE`). Where one channel's activations reach ten times further than
//! the others', those others get a tenth of the codes. Seeded CORnet-Z weights are Xavier-uniform and their channels'
//! ranges similar; a trained CORnet-Z's are not, and its int8 file drifted 0.021 from f32 on the study's stimuli
//! (E27 in `docs/eval/experiments.md`), over issue 13's 0.02, with the weights' own rounding only half of that.
//!
//! The remedy is SmoothQuant's migration (Xiao et al. 2023), here at strength ½ (the strength is chosen per model,
//! below): at each of the three boundaries (V1 → V2, V2 → V4, V4 → IT), channel `c`'s activation maximum `m_c` over
//! every frame stack of a few calibration clips and the largest magnitude `w_c` among the next block's weights on that
//! input channel give `f_c = √(m_c / w_c)`; the block's output channel `c` (its weight row and bias) is divided by
//! `f_c` and the next block's input channel `c` multiplied by it, so both ranges become `√(m_c·w_c)` (the boundaries
//! are balanced from IT back to V1, so `w_c` is read from weights whose rows are final). The network computes the same
//! function in real arithmetic: a positive factor passes unchanged through max-pooling and ReLU (`max(a·x) + a·b =
//! a·(max x + b)`, `ReLU(a·y) = a·ReLU(y)`), and IT's output channels, which the read-out sees, are not scaled. Only
//! the int8 file is balanced; the format and the runtime are unchanged (the per-output-channel weight scales absorb the
//! row factors exactly).
//!
//! Full strength can cost more than it gains: each weight row has one scale, set by its largest column, and
//! multiplying the columns of strongly firing channels coarsens every other column's codes (E30: the trained
//! CORnet-Z's int8 drift on the stimuli grew from 0.0213 to 0.0344 at ½, its weights' share from 0.010 to 0.033). So
//! [`for_int8`] tries `f_c = (m_c/w_c)^α` for α in [`STRENGTHS`] (α = 0 is the file quantised as trained) and keeps
//! the α whose int8 file's visual read-out stays closest to the f32 file's on further calibration clips: no ratings
//! and no study stimuli in the choice. Measured (E30b, `examples/int8_drift.rs`, max |Δemotion| against f32, study
//! stimuli / 200 unseen clips): a trained CORnet-Z (α ¼) 0.0213 / 0.0378 → 0.0188 / 0.0268; the shipped model (α ½)
//! 0.0124 / 0.0176 → 0.0139 / 0.0104, mean 0.0026 → 0.0022 on the unseen clips. The calibration runs the f32 kernels'
//! one summation order and the exact int8 sums, so an export writes the same bytes on every CPU.

use super::cornet::{boundary_maxima, normalise_frames};
use super::random_params;
use crate::core::config::{ModelConfig, VisualConfig};
use crate::core::manifest::{CONV_BIASES, CONV_WEIGHTS};
use crate::core::pipeline::{Modalities, Pipeline};
use crate::core::weights::Weights;
#[cfg(doc)]
use crate::host::model::INT8_CALIBRATION_CLIPS;
use crate::host::model::{encode_trained, Precision};
use crate::host::model::{F32Tensors, SplitMix64};
use crate::host::stimuli::{render, RenderOptions};
use crate::host::writer::AlignedBytes;

/// Render `n` calibration clips of set `set` (3 s, clean, random slider settings from seeds of their own, so they are
/// neither the study's stimuli nor the clips any evaluation draws; set 0 measures the ranges, set 1 chooses the
/// strength) and return their frames as the pathway's ring holds them.
pub fn calibration_clips(cfg: &ModelConfig, n: usize, set: u64) -> Result<Vec<Vec<u8>>, String> {
    if cfg.visual.height != cfg.visual.width {
        return Err("int8 calibration renders square frames: visual.height must equal visual.width".into());
    }
    let mut rng = SplitMix64(0xCA1B_4A7E ^ set << 32);
    let frame = usize::from(cfg.visual.width) * usize::from(cfg.visual.height);
    (0..n)
        .map(|i| {
            let params = random_params(&mut rng);
            let opts = RenderOptions::for_model(cfg, 3.0, 8_000_000 + 100_000 * set + i as u64);
            let mut frames = render(&params, &opts).map_err(|e| e.to_string())?.frames;
            if cfg.input.luma {
                normalise_frames(&mut frames, frame);
            }
            Ok(frames)
        })
        .collect()
}

/// The tensor called `name` in `t`, mutable.
fn tensor<'t>(t: &'t mut F32Tensors, name: &str) -> Result<&'t mut Vec<f32>, String> {
    t.iter_mut().find(|x| x.0 == name).map(|x| &mut x.2).ok_or_else(|| format!("missing tensor {name}"))
}

/// Balance `tensors`' three CORnet-Z boundaries given each boundary's per-channel activation maxima (from
/// [`boundary_maxima`]) with `f_c = (m_c/w_c)^strength` (the module docs' ½; 0 changes nothing); returns the
/// factors. A channel that never fired on the calibration clips, or whose next-block weights are all zero, keeps the
/// factors' geometric mean (it carries nothing either way); factors are kept within a factor 1000 of that mean.
pub fn balance(
    cfg: &VisualConfig,
    tensors: &mut F32Tensors,
    maxima: &[Vec<f32>; 3],
    strength: f64,
) -> Result<[Vec<f32>; 3], String> {
    let mut factors: [Vec<f32>; 3] = Default::default();
    // IT's boundary first: each boundary then reads the next block's weights with their rows already final, so every
    // live channel ends with its activation maximum equal to its largest next-block weight.
    for (l, m) in maxima.iter().enumerate().rev() {
        let cout = m.len();
        let next = tensor(tensors, CONV_WEIGHTS[l + 1].name())?;
        // The next block's weights are [cout'][cin = cout][k][k].
        let per_row = next.len() / usize::from(cfg.widths[l + 1]).max(1);
        let kk = per_row / cout.max(1);
        if kk == 0 || per_row != cout * kk || next.len() != usize::from(cfg.widths[l + 1]) * per_row {
            return Err(format!(
                "{}: {} values do not match {cout} input channels",
                CONV_WEIGHTS[l + 1].name(),
                next.len()
            ));
        }
        let mut w = vec![0.0f32; cout];
        for row in next.chunks_exact(per_row) {
            for (c, wc) in w.iter_mut().enumerate() {
                *wc = row[c * kk..(c + 1) * kk].iter().fold(*wc, |a, &b| a.max(b.abs()));
            }
        }
        let raw: Vec<Option<f64>> = m
            .iter()
            .zip(&w)
            .map(|(&mc, &wc)| {
                let f = (f64::from(mc) / f64::from(wc)).powf(strength);
                (mc > 0.0 && wc > 0.0 && f.is_finite()).then_some(f)
            })
            .collect();
        let live: Vec<f64> = raw.iter().flatten().map(|f| f.ln()).collect();
        let mean = if live.is_empty() { 1.0 } else { (live.iter().sum::<f64>() / live.len() as f64).exp() };
        let f: Vec<f32> = raw.iter().map(|r| r.unwrap_or(mean).clamp(mean / 1e3, mean * 1e3) as f32).collect();
        for row in next.chunks_exact_mut(per_row) {
            for (c, &fc) in f.iter().enumerate() {
                row[c * kk..(c + 1) * kk].iter_mut().for_each(|v| *v *= fc);
            }
        }
        let this = tensor(tensors, CONV_WEIGHTS[l].name())?;
        let row_len = this.len() / cout.max(1);
        for (row, &fc) in this.chunks_exact_mut(row_len.max(1)).zip(&f) {
            row.iter_mut().for_each(|v| *v /= fc);
        }
        for (b, &fc) in tensor(tensors, CONV_BIASES[l].name())?.iter_mut().zip(&f) {
            *b /= fc;
        }
        factors[l] = f;
    }
    Ok(factors)
}

/// The strengths [`for_int8`] tries, weakest first (0: the weights as trained).
pub const STRENGTHS: [f64; 5] = [0.0, 0.125, 0.25, 0.375, 0.5];

/// The visual read-out's output (the slider estimates fusion sees) on each clip, through `t` stored at `p`.
fn readout(cfg: &ModelConfig, t: &F32Tensors, p: Precision, clips: &[Vec<u8>]) -> Result<Vec<Vec<f32>>, String> {
    let file = AlignedBytes::new(&encode_trained(cfg, t, p).map_err(|e| e.to_string())?);
    let w = Weights::parse(file.as_bytes()).map_err(|e| e.to_string())?;
    let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
    let mut pipe = Pipeline::new(&w, &mut scratch).map_err(|e| e.to_string())?;
    let frame = usize::from(cfg.visual.width) * usize::from(cfg.visual.height);
    let mut out = Vec::with_capacity(clips.len());
    for clip in clips {
        for f in clip.chunks_exact(frame.max(1)) {
            pipe.push_frame(f).map_err(|e| e.to_string())?;
        }
        pipe.infer(Modalities::VIDEO).map_err(|e| e.to_string())?;
        out.push(pipe.features().1.to_vec());
    }
    Ok(out)
}

/// What [`for_int8`] chose.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    /// The strength kept (one of [`STRENGTHS`]; 0 where no calibration ran).
    pub strength: f64,
    /// Mean squared difference of the visual read-out's output, int8 against f32, on the choosing clips, per strength
    /// tried (empty where no calibration ran).
    pub tried: Vec<(f64, f64)>,
}

/// The tensors to quantise for a model's int8 file (`avf-bel export` uses [`INT8_CALIBRATION_CLIPS`]): the channel
/// maxima are measured on `clips` calibration clips (set 0), each of [`STRENGTHS`] balances a copy ([`balance`]), and
/// the copy whose int8 file's visual read-out stays closest to the f32 file's on `clips / 2` further clips (set 1) is
/// kept. With `clips` 0, `tensors` unchanged. Where no strength beats 0, the weights stay as trained.
pub fn for_int8(cfg: &ModelConfig, tensors: &F32Tensors, clips: usize) -> Result<(F32Tensors, Choice), String> {
    if clips == 0 {
        return Ok((tensors.clone(), Choice { strength: 0.0, tried: Vec::new() }));
    }
    let frames = calibration_clips(cfg, clips, 0)?;
    let maxima = boundary_maxima(&cfg.visual, tensors, &frames)?;
    let check = calibration_clips(cfg, clips.div_ceil(2), 1)?;
    let reference = readout(cfg, tensors, Precision::F32, &check)?;
    let (mut best, mut tried) = ((f64::INFINITY, 0.0, tensors.clone()), Vec::new());
    for strength in STRENGTHS {
        let mut t = tensors.clone();
        if strength > 0.0 {
            balance(&cfg.visual, &mut t, &maxima, strength)?;
        }
        let q = readout(cfg, &t, Precision::Int8, &check)?;
        let n = q.iter().map(Vec::len).sum::<usize>().max(1) as f64;
        let mse =
            q.iter().flatten().zip(reference.iter().flatten()).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>() / n;
        tried.push((strength, mse));
        // Strictly better only: ties keep the weaker balancing.
        if mse < best.0 {
            best = (mse, strength, t);
        }
    }
    Ok((best.2, Choice { strength: best.1, tried }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::model::seeded;

    /// IT's temporal summary (what the visual read-out sees) of `clip` through a model file made from `t` at `p`.
    fn visual(cfg: &ModelConfig, t: &F32Tensors, p: Precision, clip: &[u8]) -> Vec<f32> {
        let file = AlignedBytes::new(&encode_trained(cfg, t, p).unwrap());
        let w = Weights::parse(file.as_bytes()).unwrap();
        let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
        let mut pipe = Pipeline::new(&w, &mut scratch).unwrap();
        pipe.push_audio(&vec![0.01f32; cfg.audio.sample_rate as usize]).unwrap();
        let frame = usize::from(cfg.visual.width) * usize::from(cfg.visual.height);
        for f in clip.chunks_exact(frame) {
            pipe.push_frame(f).unwrap();
        }
        let mut v = vec![0.0; crate::core::visual::summary_len(&cfg.visual)];
        let mut a = vec![0.0; crate::core::manifest::audio_inputs(cfg)];
        pipe.clip_features(&mut v, &mut a).unwrap();
        v
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
    }

    /// The tiny model with V1's channel 0 made 256 times larger and V2's weights on it 256 times smaller: the same
    /// function in f32, and a tensor whose per-tensor 7-bit codes starve every other channel.
    fn lopsided(cfg: &ModelConfig) -> F32Tensors {
        let mut t = seeded(cfg, 11);
        let per_row = tensor(&mut t, CONV_WEIGHTS[0].name()).unwrap().len() / usize::from(cfg.visual.widths[0]);
        tensor(&mut t, CONV_WEIGHTS[0].name()).unwrap()[..per_row].iter_mut().for_each(|v| *v *= 256.0);
        tensor(&mut t, CONV_BIASES[0].name()).unwrap()[0] = 0.01 * 256.0;
        let cin = usize::from(cfg.visual.widths[0]);
        let next = tensor(&mut t, CONV_WEIGHTS[1].name()).unwrap();
        let kk = next.len() / usize::from(cfg.visual.widths[1]) / cin;
        for row in next.chunks_exact_mut(cin * kk) {
            row[..kk].iter_mut().for_each(|v| *v /= 256.0);
        }
        t
    }

    #[test]
    fn balancing_keeps_the_function_and_meets_the_ranges_in_the_middle() {
        let cfg = ModelConfig::tiny();
        let clips = calibration_clips(&cfg, 2, 0).unwrap();
        let before = lopsided(&cfg);
        let maxima = boundary_maxima(&cfg.visual, &before, &clips).unwrap();
        let mut after = before.clone();
        let f = balance(&cfg.visual, &mut after, &maxima, 0.5).unwrap();
        assert!(f[0][0] > 4.0 * f[0][1], "the large channel is scaled down the most: {:?}", f[0]);
        // The same function in f32 (up to rounding).
        let (a, b) =
            (visual(&cfg, &before, Precision::F32, &clips[1]), visual(&cfg, &after, Precision::F32, &clips[1]));
        let scale = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(max_diff(&a, &b) <= 1e-4 * scale.max(1.0), "f32 changed by {}", max_diff(&a, &b));
        // Every live channel's activation maximum now equals its largest next-block weight.
        let m2 = boundary_maxima(&cfg.visual, &after, &clips).unwrap();
        for l in 0..3 {
            let cout = m2[l].len();
            let next = &after.iter().find(|x| x.0 == CONV_WEIGHTS[l + 1].name()).unwrap().2;
            let kk = next.len() / usize::from(cfg.visual.widths[l + 1]) / cout;
            for c in 0..cout {
                let w = next
                    .chunks_exact(cout * kk)
                    .flat_map(|r| &r[c * kk..(c + 1) * kk])
                    .fold(0.0f32, |m, v| m.max(v.abs()));
                if maxima[l][c] > 0.0 {
                    assert!(
                        (m2[l][c] - w).abs() <= 1e-3 * w,
                        "boundary {l} channel {c}: activation {} weight {w}",
                        m2[l][c]
                    );
                }
            }
        }
    }

    #[test]
    fn balancing_repairs_the_int8_file_of_a_lopsided_model() {
        let cfg = ModelConfig::tiny();
        let t = lopsided(&cfg);
        let (balanced, choice) = for_int8(&cfg, &t, 2).unwrap();
        assert!(choice.strength > 0.0, "the lopsided model is balanced: {choice:?}");
        assert_eq!(choice.tried.len(), STRENGTHS.len());
        let clip = &calibration_clips(&cfg, 4, 0).unwrap()[3]; // not one of the two calibration clips
        let reference = visual(&cfg, &t, Precision::F32, clip);
        let plain = max_diff(&reference, &visual(&cfg, &t, Precision::Int8, clip));
        let fixed = max_diff(&reference, &visual(&cfg, &balanced, Precision::Int8, clip));
        let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        eprintln!("lopsided tiny model, IT summary: int8 drift {plain} unbalanced, {fixed} balanced (up to {scale})");
        assert!(fixed < 0.5 * plain, "int8 drift {plain} unbalanced, {fixed} balanced (features up to {scale})");
    }

    #[test]
    fn channels_that_never_fire_keep_the_mean_factor() {
        let cfg = ModelConfig::tiny();
        let t = seeded(&cfg, 5);
        let mut maxima = boundary_maxima(&cfg.visual, &t, &calibration_clips(&cfg, 1, 0).unwrap()).unwrap();
        // Nothing fired at all on one boundary: every factor 1, so nothing there changes.
        maxima[1].fill(0.0);
        maxima[0][0] = 0.0;
        let mut b = t.clone();
        let f = balance(&cfg.visual, &mut b, &maxima, 0.5).unwrap();
        assert!(f[1].iter().all(|&x| x == 1.0), "{:?}", f[1]);
        let live: Vec<f64> = f[0][1..].iter().map(|&x| f64::from(x).ln()).collect();
        let mean = (live.iter().sum::<f64>() / live.len() as f64).exp();
        assert!((f64::from(f[0][0]) - mean).abs() <= 1e-5 * mean, "{} against {mean}", f[0][0]);
        assert!(f.iter().flatten().all(|x| x.is_finite() && *x > 0.0));
    }

    #[test]
    fn zero_clips_change_nothing_and_bad_tensors_are_errors() {
        let cfg = ModelConfig::tiny();
        let t = seeded(&cfg, 3);
        assert_eq!(for_int8(&cfg, &t, 0).unwrap(), (t.clone(), Choice { strength: 0.0, tried: Vec::new() }));
        let mut short = t.clone();
        tensor(&mut short, CONV_WEIGHTS[2].name()).unwrap().pop();
        let maxima = boundary_maxima(&cfg.visual, &t, &calibration_clips(&cfg, 1, 0).unwrap()).unwrap();
        assert!(balance(&cfg.visual, &mut short, &maxima, 0.5).is_err());
    }
}
