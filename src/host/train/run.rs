//! The training and evaluation procedures behind `avf-bel train` and `avf-bel eval`.

use super::cornet::{train_cornet, CornetOptions};
use super::data::{self, StimulusRow};
use super::fuse::{Example, FitOptions, FuseParams};
use super::linalg::{pearson, r2, Ridge};
use super::{extract, normalised, random_params, ClipFeatures};
use crate::core::manifest::TensorId;
use crate::host::model::{encode, seeded, F32Tensors, Precision, SplitMix64};
use crate::host::writer::AlignedBytes;
use crate::{Modalities, ModelConfig};
use std::path::Path;

/// A progress bar on stderr (indicatif) for `total` items; the returned closure is called once per finished item
/// (from any thread). The bar is drawn only when stderr is a terminal; otherwise the finished stage is logged.
pub fn progress(label: &str, total: usize) -> impl Fn(usize) + Sync + '_ {
    let bar = new_bar(label, total);
    move |_done: usize| {
        bar.inc(1);
        if bar.position() == total as u64 {
            finish_bar(&bar, label);
        }
    }
}

/// One progress bar whose label changes as it goes (CORnet-Z's epochs and losses): a new bar starts whenever the
/// count restarts or the total changes.
#[derive(Default)]
pub struct ProgressLine(std::sync::Mutex<Option<(indicatif::ProgressBar, usize)>>);

impl ProgressLine {
    /// `done` of `total` items, under `label`.
    pub fn update(&self, label: &str, done: usize, total: usize) {
        let Ok(mut cur) = self.0.lock() else { return };
        if cur.as_ref().is_none_or(|(b, t)| *t != total || (done as u64) < b.position()) {
            *cur = Some((new_bar(label, total), total));
        }
        if let Some((bar, _)) = cur.as_ref() {
            bar.set_message(label.to_string());
            bar.set_position(done as u64);
            if done == total {
                finish_bar(bar, label);
            }
        }
    }
}

fn new_bar(label: &str, total: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total as u64);
    let style = indicatif::ProgressStyle::with_template("{msg:<40} [{bar:30}] {pos}/{len} ({elapsed}, eta {eta})")
        .map(|s| s.progress_chars("#>."));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar.set_message(label.to_string());
    bar
}

fn finish_bar(bar: &indicatif::ProgressBar, label: &str) {
    bar.finish();
    if bar.is_hidden() {
        log::info!("{label}: {} done in {:.0} s", bar.position(), bar.elapsed().as_secs_f64());
    }
}

/// Settings of a training run.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// The model's shape.
    pub config: ModelConfig,
    /// Random slider settings rendered to fit the perception read-outs.
    pub random_clips: usize,
    /// Renders (seeds) of each study stimulus for fitting fusion and BEL.
    pub renders: usize,
    /// Clip length in seconds.
    pub seconds: f64,
    /// Worker threads for rendering and perception.
    pub threads: usize,
    /// Seed of everything (CORnet-Z initialisation, slider draws, fusion initialisation).
    pub seed: u64,
    /// Fusion + BEL optimiser settings.
    pub fuse: FitOptions,
    /// Epochs of supervised CORnet-Z training before the read-outs are fitted (0: keep the seeded random features).
    pub cornet_epochs: usize,
    /// Rendered clips of random slider settings CORnet-Z is trained on (other seeds than the read-outs' clips).
    pub cornet_clips: usize,
}

/// What training measured.
#[derive(Clone, Debug, Default)]
pub struct TrainReport {
    /// Held-out R² per stimulus dimension of the visual read-out.
    pub visual_r2: [f64; 5],
    /// Held-out R² per stimulus dimension of the visual read-out on CORnet-Z's seeded random features, on the same
    /// clips (only when CORnet-Z is trained).
    pub visual_r2_random: Option<[f64; 5]>,
    /// CORnet-Z training loss: the untrained network's on the first batch, then each epoch's mean.
    pub cornet_curve: Vec<f32>,
    /// Held-out R² per stimulus dimension of the audio read-out.
    pub audio_r2: [f64; 5],
    /// Ridge penalty chosen per dimension (visual, audio).
    pub lambdas: ([f64; 5], [f64; 5]),
    /// Fusion + BEL loss curve (every 10 steps).
    pub fuse_curve: Vec<f32>,
    /// Final fusion + BEL training MSE.
    pub fuse_loss: f32,
}

const LAMBDAS: [f64; 6] = [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0];

/// Fit one ridge per output with its own penalty chosen on a held-out fifth; returns the refit model (all data),
/// the held-out R² per output and the penalties.
fn fit_readout(xs: &[Vec<f64>], ys: &[Vec<f64>]) -> (Ridge, [f64; 5], [f64; 5]) {
    let split = xs.len() * 4 / 5;
    let mut r2s = [0.0; 5];
    let mut lams = [0.0; 5];
    let per_lambda: Vec<Ridge> = LAMBDAS.iter().map(|&l| Ridge::fit(&xs[..split], &ys[..split], l)).collect();
    for k in 0..5 {
        let truth: Vec<f64> = ys[split..].iter().map(|y| y[k]).collect();
        let mut best = (f64::NEG_INFINITY, 0.0);
        for (m, &l) in per_lambda.iter().zip(&LAMBDAS) {
            let pred: Vec<f64> = xs[split..].iter().map(|x| m.predict(x)[k]).collect();
            let r = r2(&pred, &truth);
            if r > best.0 {
                best = (r, l);
            }
        }
        r2s[k] = best.0;
        lams[k] = best.1;
    }
    // Refit on everything, each output with its own penalty.
    let fits: Vec<Ridge> = lams.iter().map(|&l| Ridge::fit(xs, ys, l)).collect();
    let mut out = fits[0].clone();
    for k in 0..5 {
        out.w[k] = fits[k].w[k].clone();
        out.b[k] = fits[k].b[k];
    }
    (out, r2s, lams)
}

/// Replace the values of tensor `id` (present in every model `seeded` makes, with this many values).
fn set(t: &mut F32Tensors, id: TensorId, v: Vec<f32>) {
    let name = id.name();
    let e = t.iter_mut().find(|x| x.0 == name).unwrap_or_else(|| panic!("tensor {name}"));
    assert_eq!(e.2.len(), v.len(), "{name}");
    e.2 = v;
}

/// A read-out's four tensors: mean, inverse standard deviation, weight, bias.
type ReadoutIds = [TensorId; 4];
const VISUAL_READOUT: ReadoutIds = [
    TensorId::VisualReadoutMean,
    TensorId::VisualReadoutInvStd,
    TensorId::VisualReadoutWeight,
    TensorId::VisualReadoutBias,
];
const AUDIO_READOUT: ReadoutIds = [
    TensorId::AudioReadoutMean,
    TensorId::AudioReadoutInvStd,
    TensorId::AudioReadoutWeight,
    TensorId::AudioReadoutBias,
];

fn put_readout(t: &mut F32Tensors, [mean, inv_std, weight, bias]: ReadoutIds, r: &Ridge) {
    set(t, mean, r.mean.iter().map(|&v| v as f32).collect());
    set(t, inv_std, r.std.iter().map(|&v| (1.0 / v) as f32).collect());
    set(t, weight, r.w.iter().flatten().map(|&v| v as f32).collect());
    set(t, bias, r.b.iter().map(|&v| v as f32).collect());
}

fn put_fusion(t: &mut F32Tensors, p: &FuseParams) {
    set(t, TensorId::FusionAudioWeight, p.wa.clone());
    set(t, TensorId::FusionAudioBias, p.ba.clone());
    set(t, TensorId::FusionVisualWeight, p.wv.clone());
    set(t, TensorId::FusionVisualBias, p.bv.clone());
    set(t, TensorId::FusionOutWeight, p.ws.clone());
    set(t, TensorId::FusionOutBias, p.bs.clone());
    set(t, TensorId::BelAmygdala, p.amyg.clone());
    set(t, TensorId::BelThalamus, p.thal.clone());
    set(t, TensorId::BelOrbitofrontal, p.ofc.clone());
}

/// Jobs rendering each stimulus `renders` times (seeds `1000·id + r`).
fn stimulus_jobs(rows: &[StimulusRow], renders: usize) -> Vec<(crate::host::stimuli::Params, u64)> {
    rows.iter().flat_map(|s| (0..renders).map(move |r| (s.params, 1000 * s.id as u64 + r as u64))).collect()
}

/// Train every stage; returns the f32 tensors and the report.
pub fn train(data_dir: &Path, o: &TrainOptions) -> Result<(F32Tensors, TrainReport), String> {
    let cfg = o.config;
    cfg.validate().map_err(|e| e.to_string())?;
    if cfg.visual.features != 5 || cfg.fusion.audio_features != 5 {
        return Err("training fits read-outs to the five stimulus dimensions: visual.features and \
                    fusion.audio_features must be 5"
            .into());
    }
    let rows = data::load(data_dir)?;
    let mut tensors = seeded(&cfg, o.seed);
    let mut rng = SplitMix64(o.seed ^ 0x5EED);
    let jobs: Vec<_> = (0..o.random_clips).map(|i| (random_params(&mut rng), 1_000_000 + i as u64)).collect();

    // 0. CORnet-Z trained on its own clips of random slider settings; the visual read-out on the seeded random
    //    features is fitted first on the read-out clips, for comparison.
    let mut visual_r2_random = None;
    let mut cornet_curve = Vec::new();
    if o.cornet_epochs > 0 {
        let random = AlignedBytes::new(&encode(&cfg, &tensors, Precision::F32).map_err(|e| e.to_string())?);
        let feats =
            extract(random.as_bytes(), &jobs, o.seconds, o.threads, &progress("random-feature clips", jobs.len()))?;
        let ys: Vec<Vec<f64>> = feats.iter().map(|f| normalised(&f.params).to_vec()).collect();
        let xv: Vec<Vec<f64>> = feats.iter().map(|f| f.visual.clone()).collect();
        visual_r2_random = Some(fit_readout(&xv, &ys).1);
        let co = CornetOptions {
            epochs: o.cornet_epochs,
            clips: o.cornet_clips,
            seconds: o.seconds,
            threads: o.threads,
            seed: o.seed,
            ..CornetOptions::default()
        };
        let line = ProgressLine::default();
        cornet_curve =
            train_cornet(&cfg.visual, &mut tensors, &co, &|label, done, total| line.update(label, done, total))?;
    }
    let perception = AlignedBytes::new(&encode(&cfg, &tensors, Precision::F32).map_err(|e| e.to_string())?);

    // 1. Perception read-outs from random slider settings (never the ratings).
    let feats = extract(perception.as_bytes(), &jobs, o.seconds, o.threads, &progress("perception clips", jobs.len()))?;
    let ys: Vec<Vec<f64>> = feats.iter().map(|f| normalised(&f.params).to_vec()).collect();
    let xv: Vec<Vec<f64>> = feats.iter().map(|f| f.visual.clone()).collect();
    let xa: Vec<Vec<f64>> = feats.iter().map(|f| f.audio.clone()).collect();
    let (rv, visual_r2, lv) = fit_readout(&xv, &ys);
    let (ra, audio_r2, la) = fit_readout(&xa, &ys);
    put_readout(&mut tensors, VISUAL_READOUT, &rv);
    put_readout(&mut tensors, AUDIO_READOUT, &ra);

    // 2. Fusion + BEL on renders of the study's stimuli, targets = consensus profiles.
    let sjobs = stimulus_jobs(&rows, o.renders);
    let sfeats =
        extract(perception.as_bytes(), &sjobs, o.seconds, o.threads, &progress("stimulus renders", sjobs.len()))?;
    let examples = examples_from(&rows, &sfeats, o.renders, &rv, &ra, Modalities::BOTH);
    let mut fp = FuseParams::init(5, 5, cfg.fusion.hidden as usize, cfg.fusion.sensory as usize, o.seed);
    let curve = fp.fit(&examples, &o.fuse);
    put_fusion(&mut tensors, &fp);
    let report = TrainReport {
        visual_r2,
        visual_r2_random,
        cornet_curve,
        audio_r2,
        lambdas: (lv, la),
        fuse_loss: *curve.last().unwrap_or(&f32::NAN),
        fuse_curve: curve,
    };
    Ok((tensors, report))
}

fn to_f32(v: Vec<f64>) -> Vec<f32> {
    v.into_iter().map(|x| x as f32).collect()
}

/// Fusion examples from stimulus renders, perceived through the read-outs (`renders` consecutive clips each).
fn examples_from(
    rows: &[StimulusRow],
    feats: &[ClipFeatures],
    renders: usize,
    rv: &Ridge,
    ra: &Ridge,
    m: Modalities,
) -> Vec<Example> {
    rows.iter()
        .enumerate()
        .flat_map(|(i, s)| {
            feats[i * renders..(i + 1) * renders].iter().map(move |f| Example {
                xa: m.audio.then(|| to_f32(ra.predict(&f.audio))),
                xv: m.video.then(|| to_f32(rv.predict(&f.visual))),
                y: s.fused().map(|v| v as f32),
            })
        })
        .collect()
}

/// Perceived feature vectors of one clip as the pipeline computes them.
#[derive(Clone, Debug)]
pub struct Perceived {
    /// Audio features.
    pub xa: Vec<f32>,
    /// Visual features.
    pub xv: Vec<f32>,
}

/// Run the model's perception on `renders` renders of each stimulus (the pipeline's own read-outs).
pub fn perceive_stimuli(
    weights: &[u8],
    rows: &[StimulusRow],
    renders: usize,
    seconds: f64,
    threads: usize,
) -> Result<Vec<Perceived>, String> {
    let jobs = stimulus_jobs(rows, renders);
    let bar = progress("stimulus renders", jobs.len());
    super::for_each_clip(weights, &jobs, seconds, threads, &bar, &|_, p| {
        p.infer(Modalities::BOTH).map_err(|e| e.to_string())?;
        let (a, v) = p.features();
        Ok(Perceived { xa: a.to_vec(), xv: v.to_vec() })
    })
}

/// Metrics of predicted profiles against consensus profiles (one per stimulus).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Pearson r per emotion across stimuli.
    pub r: [f64; 5],
    /// Mean of `r`.
    pub mean_r: f64,
    /// Mean absolute error over stimuli and emotions.
    pub profile_mae: f64,
    /// Mean absolute error of EPP derived from the profiles.
    pub epp_mae: f64,
    /// Pearson r of EPP.
    pub epp_r: f64,
    /// Lin's concordance correlation of EPP.
    pub epp_ccc: f64,
}

/// Compute [`Metrics`].
pub fn metrics(pred: &[[f64; 5]], truth: &[[f64; 5]]) -> Metrics {
    let mut m = Metrics::default();
    for e in 0..5 {
        let p: Vec<f64> = pred.iter().map(|v| v[e]).collect();
        let t: Vec<f64> = truth.iter().map(|v| v[e]).collect();
        m.r[e] = pearson(&p, &t);
    }
    m.mean_r = m.r.iter().sum::<f64>() / 5.0;
    let n = pred.len() as f64;
    m.profile_mae =
        pred.iter().zip(truth).map(|(p, t)| p.iter().zip(t).map(|(a, b)| (a - b).abs()).sum::<f64>()).sum::<f64>()
            / (5.0 * n);
    let ep: Vec<f64> = pred.iter().map(crate::core::epp::epp_f64).collect();
    let et: Vec<f64> = truth.iter().map(crate::core::epp::epp_f64).collect();
    m.epp_mae = ep.iter().zip(&et).map(|(a, b)| (a - b).abs()).sum::<f64>() / n;
    m.epp_r = pearson(&ep, &et);
    let (mp, mt) = (ep.iter().sum::<f64>() / n, et.iter().sum::<f64>() / n);
    let vp = ep.iter().map(|v| (v - mp) * (v - mp)).sum::<f64>() / n;
    let vt = et.iter().map(|v| (v - mt) * (v - mt)).sum::<f64>() / n;
    let cov = ep.iter().zip(&et).map(|(a, b)| (a - mp) * (b - mt)).sum::<f64>() / n;
    m.epp_ccc = 2.0 * cov / (vp + vt + (mp - mt) * (mp - mt)).max(1e-18);
    m
}

/// Results of leave-one-stimulus-out evaluation.
#[derive(Clone, Debug)]
pub struct EvalReport {
    /// Stimulus names in order.
    pub names: Vec<String>,
    /// Consensus profiles.
    pub truth: Vec<[f64; 5]>,
    /// Held-out predictions per model: fused, audio-only, video-only, constant, ridge on true parameters.
    pub preds: Vec<(&'static str, Vec<[f64; 5]>)>,
    /// Metrics per model, same order.
    pub metrics: Vec<(&'static str, Metrics)>,
    /// Fusion + BEL loss curves of the first fold (fused, audio, video).
    pub curves: Vec<Vec<f32>>,
}

/// Leave-one-stimulus-out: fusion + BEL refit per fold on the other stimuli's renders; perception fixed.
pub fn evaluate(
    rows: &[StimulusRow],
    perceived: &[Perceived],
    renders: usize,
    fit: &FitOptions,
    hidden: usize,
    sensory: usize,
    threads: usize,
) -> EvalReport {
    let n = rows.len();
    let truth: Vec<[f64; 5]> = rows.iter().map(|r| r.fused()).collect();
    let ex = |i: usize, m: Modalities| -> Vec<Example> {
        perceived[i * renders..(i + 1) * renders]
            .iter()
            .map(|p| Example {
                xa: m.audio.then(|| p.xa.clone()),
                xv: m.video.then(|| p.xv.clone()),
                y: truth[i].map(|v| v as f32),
            })
            .collect()
    };
    let kinds = [("fused", Modalities::BOTH), ("audio-only", Modalities::AUDIO), ("video-only", Modalities::VIDEO)];
    // fold × kind → (prediction, curve)
    let tasks: Vec<(usize, usize)> = (0..n).flat_map(|f| (0..3).map(move |k| (f, k))).collect();
    let bar = progress("leave-one-out folds", tasks.len());
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<([f64; 5], Vec<f32>)>> = vec![None; tasks.len()];
    let per = tasks.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|sc| {
        for (ci, chunk) in results.chunks_mut(per).enumerate() {
            let tasks = &tasks[ci * per..ci * per + chunk.len()];
            let (ex, bar, done, kinds) = (&ex, &bar, &done, &kinds);
            sc.spawn(move || {
                for (slot, &(fold, k)) in chunk.iter_mut().zip(tasks) {
                    let m = kinds[k].1;
                    let train: Vec<Example> = (0..n).filter(|&i| i != fold).flat_map(|i| ex(i, m)).collect();
                    let mut p = FuseParams::init(5, 5, hidden, sensory, fit.seed);
                    let curve = p.fit(&train, fit);
                    let test = ex(fold, m);
                    let mut mean = [0.0f64; 5];
                    for t in &test {
                        let y = p.predict(t.xa.as_deref(), t.xv.as_deref());
                        for e in 0..5 {
                            mean[e] += y[e] as f64 / test.len() as f64;
                        }
                    }
                    *slot = Some((mean, curve));
                    bar(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
                }
            });
        }
    });
    let mut preds: Vec<(&'static str, Vec<[f64; 5]>)> = kinds.iter().map(|(n, _)| (*n, Vec::new())).collect();
    let mut curves = vec![Vec::new(); 3];
    for (&(fold, k), r) in tasks.iter().zip(results) {
        let (p, c) = r.expect("every task ran");
        preds[k].1.push(p);
        if fold == 0 {
            curves[k] = c;
        }
    }
    // Baselines on the same folds.
    let mut constant = Vec::new();
    let mut ridge = Vec::new();
    for fold in 0..n {
        let idx: Vec<usize> = (0..n).filter(|&i| i != fold).collect();
        let mut mean = [0.0; 5];
        for &i in &idx {
            for e in 0..5 {
                mean[e] += truth[i][e] / idx.len() as f64;
            }
        }
        constant.push(mean);
        let xs: Vec<Vec<f64>> = idx.iter().map(|&i| normalised(&rows[i].params).to_vec()).collect();
        let ys: Vec<Vec<f64>> = idx.iter().map(|&i| truth[i].to_vec()).collect();
        let m = Ridge::fit(&xs, &ys, 1.0);
        let p = m.predict(&normalised(&rows[fold].params));
        ridge.push([p[0], p[1], p[2], p[3], p[4]].map(|v| v.clamp(0.0, 1.0)));
    }
    // Diagnostic: a ridge regression from the same perceived features, to separate perception from fusion + BEL.
    let mut ridge_perceived = Vec::new();
    for fold in 0..n {
        let feats = |i: usize| -> Vec<Vec<f64>> {
            perceived[i * renders..(i + 1) * renders]
                .iter()
                .map(|p| p.xa.iter().chain(&p.xv).map(|&v| v as f64).collect())
                .collect()
        };
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for i in (0..n).filter(|&i| i != fold) {
            for x in feats(i) {
                xs.push(x);
                ys.push(truth[i].to_vec());
            }
        }
        let m = Ridge::fit(&xs, &ys, 10.0);
        let mut mean = [0.0; 5];
        let test = feats(fold);
        for x in &test {
            let p = m.predict(x);
            for e in 0..5 {
                mean[e] += p[e].clamp(0.0, 1.0) / test.len() as f64;
            }
        }
        ridge_perceived.push(mean);
    }
    preds.push(("ridge on perceived features", ridge_perceived));
    preds.push(("constant (fold mean)", constant));
    preds.push(("ridge on true sliders", ridge));
    let metrics = preds.iter().map(|(n, p)| (*n, metrics(p, &truth))).collect();
    EvalReport { names: rows.iter().map(|r| r.name.clone()).collect(), truth, preds, metrics, curves }
}
