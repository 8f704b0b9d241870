//! The training and evaluation procedures behind `avf-bel train` and `avf-bel eval`.

use super::augment::{Augment, Kind, Perturbation};
use super::cornet::{train_cornet, CornetOptions};
use super::data::{self, StimulusRow};
use super::fuse::{Example, FitOptions, FuseParams, DECAYS};
use super::linalg::{pearson, r2, KernelRidge, Ridge};
use super::{extract, normalised, random_params, Job};
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
    /// Domain randomisation of the perception clips (read-outs and CORnet-Z) and of the extra stimulus renders.
    pub augment: Augment,
    /// Perturbed renders of each study stimulus (drawn from `augment`) added to the clean `renders` for fitting
    /// fusion and BEL.
    pub aug_renders: usize,
    /// With CORnet-Z trained, also fit the visual read-out on the seeded random features, on the same clips, for
    /// comparison (one more pass over the perception clips).
    pub compare_random: bool,
    /// Validation: clips of random slider settings (never trained on) per perturbation kind at its moderate
    /// severity, and as many clean, on which the fitted read-outs' errors are reported (0: skip).
    pub validate: usize,
}

/// What training measured.
#[derive(Clone, Debug, Default)]
pub struct TrainReport {
    /// Held-out R² per stimulus dimension of the visual read-out (on the held-out fifth, perturbed as training draws).
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
    /// Held-out R² (visual, audio) on the held-out fifth's clean clips only.
    pub clean_r2: ([f64; 5], [f64; 5]),
    /// Held-out R² (visual, audio) on the held-out fifth's perturbed clips only (NaN without augmentation).
    pub perturbed_r2: ([f64; 5], [f64; 5]),
    /// Fusion + BEL loss curve (every 10 steps).
    pub fuse_curve: Vec<f32>,
    /// Final fusion + BEL training MSE.
    pub fuse_loss: f32,
    /// The fusion weight decay used, and whether cross-validation chose it ([`FitOptions::cross_validates`]) with
    /// what every candidate scored.
    pub fuse_decay: DecayChoice,
    /// Validation ([`TrainOptions::validate`]): per condition (`clean`, then each kind at its moderate severity), the
    /// visual and the audio read-out's mean squared error against the sliders (0..1) on fresh random clips.
    pub validation: Vec<(&'static str, f64, f64)>,
    /// The same clips weighed as the emotions weigh them: per condition, [`EmotionError`] of the trained fusion +
    /// BEL fed the read-outs' estimates against the same fusion + BEL fed the clips' true sliders.
    pub validation_emotion: Vec<(&'static str, EmotionError)>,
    /// The same against a fixed yardstick: fusion + BEL fitted on the stimuli's true sliders (it depends on the
    /// ratings and the seed, not on perception, so it weighs every model's slider errors alike; E34b).
    pub validation_slider_emotion: Vec<(&'static str, EmotionError)>,
}

/// One validation clip as fusion sees it: both read-outs' estimates and the clip's true sliders (normalised, 0..1).
#[derive(Clone, Debug)]
pub struct ValidationClip {
    /// The audio read-out's estimates.
    pub xa: Vec<f32>,
    /// The visual read-out's estimates.
    pub xv: Vec<f32>,
    /// The sliders the clip was rendered with.
    pub truth: Vec<f32>,
}

/// How far a trained fusion + BEL moves on validation clips because perception is not exact: the mean absolute
/// difference (over clips and the five emotions, intensities 0..1) between its output on the read-outs' estimates
/// and its output on the true sliders. A slider error costs here as much as the fusion leans on that slider, which
/// the read-outs' mean squared error over five sliders does not say. `fused`: both senses' estimates; `audio`: the
/// audio estimates with the true sliders for sight; `visual`: the other way round. It describes a training, and is
/// no criterion for choosing perception: with the model's own fusion or with a fixed one (fitted on the stimuli's
/// true sliders) it ranked two front ends above the shipped one that the ratings' leave-one-out ranks below it (E34
/// in `docs/eval/experiments.md`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EmotionError {
    /// Both senses perceived.
    pub fused: f64,
    /// Audio perceived, sight exact.
    pub audio: f64,
    /// Sight perceived, audio exact.
    pub visual: f64,
}

/// [`EmotionError`] of `fp` on `clips` (zero for no clips).
pub fn emotion_error(fp: &FuseParams, clips: &[ValidationClip]) -> EmotionError {
    if clips.is_empty() {
        return EmotionError::default();
    }
    let gap = |a: [f32; 5], b: [f32; 5]| a.iter().zip(&b).map(|(x, y)| f64::from((x - y).abs())).sum::<f64>();
    let mut e = EmotionError::default();
    for c in clips {
        let exact = fp.predict(Some(&c.truth), Some(&c.truth));
        e.fused += gap(fp.predict(Some(&c.xa), Some(&c.xv)), exact);
        e.audio += gap(fp.predict(Some(&c.xa), Some(&c.truth)), exact);
        e.visual += gap(fp.predict(Some(&c.truth), Some(&c.xv)), exact);
    }
    let n = (5 * clips.len()) as f64;
    EmotionError { fused: e.fused / n, audio: e.audio / n, visual: e.visual / n }
}

const LAMBDAS: [f64; 6] = [0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0];

/// A fitted read-out and what its held-out fifth says about it.
struct Readout {
    /// Refit on every clip, each output with its own penalty.
    ridge: Ridge,
    /// Held-out R² per output (the penalty chosen on it).
    r2: [f64; 5],
    /// Penalty per output.
    lambdas: [f64; 5],
    /// Predictions for the held-out clips (fit on the first four fifths with the chosen penalties).
    held_out: Vec<[f64; 5]>,
}

/// Fit one ridge per output with its own penalty chosen on a held-out fifth; returns the refit model (all data),
/// the held-out R² per output, the penalties and the held-out predictions.
fn fit_readout(xs: &[Vec<f64>], ys: &[Vec<f64>]) -> Readout {
    let split = xs.len() * 4 / 5;
    let mut r2s = [0.0; 5];
    let mut lams = [0.0; 5];
    let mut held_out = vec![[0.0; 5]; xs.len() - split];
    let per_lambda: Vec<Ridge> = LAMBDAS.iter().map(|&l| Ridge::fit(&xs[..split], &ys[..split], l)).collect();
    for k in 0..5 {
        let truth: Vec<f64> = ys[split..].iter().map(|y| y[k]).collect();
        let mut best = (f64::NEG_INFINITY, 0.0, Vec::new());
        for (m, &l) in per_lambda.iter().zip(&LAMBDAS) {
            let pred: Vec<f64> = xs[split..].iter().map(|x| m.predict(x)[k]).collect();
            let r = r2(&pred, &truth);
            if r > best.0 {
                best = (r, l, pred);
            }
        }
        r2s[k] = best.0;
        lams[k] = best.1;
        for (h, p) in held_out.iter_mut().zip(best.2) {
            h[k] = p;
        }
    }
    // Refit on everything, each output with its own penalty.
    let fits: Vec<Ridge> = lams.iter().map(|&l| Ridge::fit(xs, ys, l)).collect();
    let mut out = fits[0].clone();
    for k in 0..5 {
        out.w[k] = fits[k].w[k].clone();
        out.b[k] = fits[k].b[k];
    }
    Readout { ridge: out, r2: r2s, lambdas: lams, held_out }
}

/// A read-out fitted exactly as `train` fits the visual and audio ones (a ridge per slider, its penalty chosen on the
/// last fifth of the clips, refit on all): for diagnostics that refit a read-out on other features.
pub fn readout_ridge(xs: &[Vec<f64>], ys: &[Vec<f64>]) -> Ridge {
    fit_readout(xs, ys).ridge
}

/// R² per output of held-out predictions against targets, over the clips `keep` selects.
fn r2_where(pred: &[[f64; 5]], ys: &[Vec<f64>], keep: &[bool]) -> [f64; 5] {
    let mut out = [f64::NAN; 5];
    for (k, o) in out.iter_mut().enumerate() {
        let p: Vec<f64> = pred.iter().zip(keep).filter(|x| *x.1).map(|x| x.0[k]).collect();
        let t: Vec<f64> = ys.iter().zip(keep).filter(|x| *x.1).map(|x| x.0[k]).collect();
        if p.len() >= 2 {
            *o = r2(&p, &t);
        }
    }
    out
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

/// The first render seed of draw `draw` of the study stimuli's renders: 0 for the draw `train` and the documented
/// evaluations use; each other draw's seeds lie 2³² apart, above every seed training draws (random clips from
/// 1,000,000, validation clips from 5,000,000), so a fresh draw shares no melody, timing or perturbation with them.
pub fn draw_base(draw: u32) -> u64 {
    u64::from(draw) << 32
}

/// Jobs rendering each stimulus `renders` times (seeds `draw_base(draw) + 1000·id + r`), each clip perturbed by
/// `perturb(seed)`.
pub fn stimulus_jobs(
    rows: &[StimulusRow],
    renders: usize,
    draw: u32,
    perturb: &dyn Fn(u64) -> Perturbation,
) -> Vec<Job> {
    let base = draw_base(draw);
    rows.iter()
        .flat_map(|s| (0..renders).map(move |r| base + 1000 * s.id as u64 + r as u64).map(move |seed| (s.params, seed)))
        .map(|(params, seed)| Job { params, seed, perturb: perturb(seed) })
        .collect()
}

/// Render seeds of the perturbed stimulus renders start here (`1000·id + AUG_SEEDS + r`), apart from the clean ones.
const AUG_SEEDS: u64 = 500;

/// Jobs rendering each stimulus `renders` times clean, then `aug_renders` times perturbed by draws of `augment`;
/// consecutive per stimulus (`renders + aug_renders` each); seeds from [`draw_base`]`(draw)`.
pub fn training_stimulus_jobs(
    rows: &[StimulusRow],
    renders: usize,
    aug_renders: usize,
    draw: u32,
    augment: &Augment,
) -> Vec<Job> {
    let base = draw_base(draw);
    rows.iter()
        .flat_map(|s| {
            let clean = (0..renders).map(move |r| Job::clean(s.params, base + 1000 * s.id as u64 + r as u64));
            let aug = (0..aug_renders).map(move |r| {
                let seed = base + 1000 * s.id as u64 + AUG_SEEDS + r as u64;
                Job { params: s.params, seed, perturb: augment.draw_for(seed) }
            });
            clean.chain(aug)
        })
        .collect()
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
    let jobs: Vec<Job> = (0..o.random_clips)
        .map(|i| {
            let seed = 1_000_000 + i as u64;
            Job { params: random_params(&mut rng), seed, perturb: o.augment.draw_for(seed ^ o.seed) }
        })
        .collect();

    // 0. CORnet-Z trained on its own clips of random slider settings; the visual read-out on the seeded random
    //    features is fitted first on the read-out clips, for comparison.
    let mut visual_r2_random = None;
    let mut cornet_curve = Vec::new();
    if o.cornet_epochs > 0 {
        if o.compare_random {
            let random = AlignedBytes::new(&encode(&cfg, &tensors, Precision::F32).map_err(|e| e.to_string())?);
            let feats =
                extract(random.as_bytes(), &jobs, o.seconds, o.threads, &progress("random-feature clips", jobs.len()))?;
            let ys: Vec<Vec<f64>> = feats.iter().map(|f| normalised(&f.params).to_vec()).collect();
            let xv: Vec<Vec<f64>> = feats.iter().map(|f| f.visual.clone()).collect();
            visual_r2_random = Some(fit_readout(&xv, &ys).r2);
        }
        let co = CornetOptions {
            epochs: o.cornet_epochs,
            clips: o.cornet_clips,
            seconds: o.seconds,
            threads: o.threads,
            seed: o.seed,
            augment: o.augment.clone(),
            luma: cfg.input.luma,
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
    let (vr, ar) = (fit_readout(&xv, &ys), fit_readout(&xa, &ys));
    let held = &jobs[jobs.len() * 4 / 5..];
    let clean: Vec<bool> = held.iter().map(|j| j.perturb == Perturbation::NONE).collect();
    let perturbed: Vec<bool> = clean.iter().map(|c| !c).collect();
    let ys_held = &ys[ys.len() * 4 / 5..];
    let clean_r2 = (r2_where(&vr.held_out, ys_held, &clean), r2_where(&ar.held_out, ys_held, &clean));
    let perturbed_r2 = (r2_where(&vr.held_out, ys_held, &perturbed), r2_where(&ar.held_out, ys_held, &perturbed));
    let (rv, visual_r2, lv) = (vr.ridge, vr.r2, vr.lambdas);
    let (ra, audio_r2, la) = (ar.ridge, ar.r2, ar.lambdas);
    put_readout(&mut tensors, VISUAL_READOUT, &rv);
    put_readout(&mut tensors, AUDIO_READOUT, &ra);
    let (validation, validation_clips) =
        if o.validate > 0 { validate(perception.as_bytes(), o, &rv, &ra)? } else { (Vec::new(), Vec::new()) };

    // 2. Fusion + BEL on clean and perturbed renders of the study's stimuli, targets = consensus profiles.
    let sjobs = training_stimulus_jobs(&rows, o.renders, o.aug_renders, 0, &o.augment);
    let sfeats =
        extract(perception.as_bytes(), &sjobs, o.seconds, o.threads, &progress("stimulus renders", sjobs.len()))?;
    // What the pipeline will hand fusion: the read-outs' estimates.
    let perceived: Vec<Perceived> = sfeats
        .iter()
        .map(|f| Perceived { xa: to_f32(ra.predict(&f.audio)), xv: to_f32(rv.predict(&f.visual)) })
        .collect();
    let set = RenderSet { perceived: &perceived, per: o.renders + o.aug_renders };
    let shape = FuseShape::of(&cfg);
    let all: Vec<usize> = (0..rows.len()).collect();
    let decay = choose_decay(&rows, &all, set, Modalities::BOTH, &o.fuse, shape, o.threads);
    let examples: Vec<Example> =
        all.iter().flat_map(|&i| set.examples(i, &rows[i].fused(), Modalities::BOTH)).collect();
    let mut fp = shape.init(o.seed);
    let curve = fp.fit(&examples, &FitOptions { decay: decay.decay, cv_folds: 0, ..o.fuse });
    put_fusion(&mut tensors, &fp);
    let validation_emotion = validation_clips.iter().map(|(name, clips)| (*name, emotion_error(&fp, clips))).collect();
    let validation_slider_emotion = if validation_clips.is_empty() {
        Vec::new()
    } else {
        let exact = exact_sliders(&rows);
        let exact = RenderSet { perceived: &exact, per: 1 };
        let d = choose_decay(&rows, &all, exact, Modalities::BOTH, &o.fuse, shape, o.threads);
        let examples: Vec<Example> =
            all.iter().flat_map(|&i| exact.examples(i, &rows[i].fused(), Modalities::BOTH)).collect();
        let mut yardstick = shape.init(o.seed);
        yardstick.fit(&examples, &FitOptions { decay: d.decay, cv_folds: 0, ..o.fuse });
        validation_clips.iter().map(|(name, clips)| (*name, emotion_error(&yardstick, clips))).collect()
    };
    let report = TrainReport {
        visual_r2,
        visual_r2_random,
        cornet_curve,
        audio_r2,
        lambdas: (lv, la),
        clean_r2,
        perturbed_r2,
        fuse_loss: *curve.last().unwrap_or(&f32::NAN),
        fuse_curve: curve,
        fuse_decay: decay,
        validation,
        validation_emotion,
        validation_slider_emotion,
    };
    Ok((tensors, report))
}

/// Validation rows per condition, and every condition's clips as fusion sees them.
type Validation = (Vec<(&'static str, f64, f64)>, Vec<(&'static str, Vec<ValidationClip>)>);

/// The read-outs' mean squared errors on fresh random clips: clean, and under each kind at its moderate severity
/// (see [`TrainReport::validation`]), and the clips' estimates for [`emotion_error`]. The clips' sliders and seeds
/// are their own (seeds from 5,000,000), so no training clip is among them, and the same for every condition.
fn validate(perception: &[u8], o: &TrainOptions, rv: &Ridge, ra: &Ridge) -> Result<Validation, String> {
    let mut rng = SplitMix64(o.seed ^ 0x7A11D);
    let conditions: Vec<(&'static str, Perturbation)> = std::iter::once(("clean", Perturbation::NONE))
        .chain(Kind::ALL.iter().map(|k| (k.name(), k.at(k.severities()[1]))))
        .collect();
    // The same clips under every condition (paired): only the perturbation differs between rows.
    let clips: Vec<_> = (0..o.validate).map(|i| (random_params(&mut rng), 5_000_000 + i as u64)).collect();
    let jobs: Vec<Job> = conditions
        .iter()
        .flat_map(|(_, p)| clips.iter().map(|&(params, seed)| Job { params, seed, perturb: *p }))
        .collect();
    let feats = extract(perception, &jobs, o.seconds, o.threads, &progress("validation clips", jobs.len()))?;
    // Each clip's estimates once: both figures read them (the MSE in f64, summed in the same order as ever).
    let sq = |p: &[f64], t: &[f64; 5]| p.iter().zip(t).map(|(p, t)| (p - t) * (p - t)).sum::<f64>();
    let (mut rows, mut clips) = (Vec::new(), Vec::new());
    for ((name, _), fs) in conditions.iter().zip(feats.chunks(o.validate)) {
        let (mut sv, mut sa) = (0.0, 0.0);
        let mut each = Vec::with_capacity(fs.len());
        for f in fs {
            let (pv, pa, t) = (rv.predict(&f.visual), ra.predict(&f.audio), normalised(&f.params));
            sv += sq(&pv, &t);
            sa += sq(&pa, &t);
            each.push(ValidationClip { xa: to_f32(pa), xv: to_f32(pv), truth: to_f32(t.to_vec()) });
        }
        let n = (5 * fs.len()) as f64;
        rows.push((*name, sv / n, sa / n));
        clips.push((*name, each));
    }
    Ok((rows, clips))
}

fn to_f32(v: Vec<f64>) -> Vec<f32> {
    v.into_iter().map(|x| x as f32).collect()
}

/// Perceived feature vectors of one clip as the pipeline computes them.
#[derive(Clone, Debug)]
pub struct Perceived {
    /// Audio features.
    pub xa: Vec<f32>,
    /// Visual features.
    pub xv: Vec<f32>,
}

/// Run the model's perception on `renders` clean renders of each stimulus (the pipeline's own read-outs).
pub fn perceive_stimuli(
    weights: &[u8],
    rows: &[StimulusRow],
    renders: usize,
    seconds: f64,
    threads: usize,
) -> Result<Vec<Perceived>, String> {
    perceive(weights, &stimulus_jobs(rows, renders, 0, &|_| Perturbation::NONE), seconds, threads, "stimulus renders")
}

/// Run the model's perception on each job's clip (the pipeline's own read-outs), in job order.
pub fn perceive(
    weights: &[u8],
    jobs: &[Job],
    seconds: f64,
    threads: usize,
    label: &str,
) -> Result<Vec<Perceived>, String> {
    let bar = progress(label, jobs.len());
    super::for_each_clip(weights, jobs, seconds, threads, &bar, &|_, p| {
        p.infer(Modalities::BOTH).map_err(|e| e.to_string())?;
        let (a, v) = p.features();
        Ok(Perceived { xa: a.to_vec(), xv: v.to_vec() })
    })
}

/// Every stimulus as perfect perception would hand it to fusion: its normalised sliders for both senses.
fn exact_sliders(rows: &[StimulusRow]) -> Vec<Perceived> {
    rows.iter()
        .map(|r| {
            let s: Vec<f32> = normalised(&r.params).iter().map(|&v| v as f32).collect();
            Perceived { xa: s.clone(), xv: s }
        })
        .collect()
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

/// Each stimulus' profile MAE: the mean absolute error over its five emotions, `pred[i]` against `truth[i]`.
pub fn stimulus_profile_mae(pred: &[[f64; 5]], truth: &[[f64; 5]]) -> Vec<f64> {
    pred.iter().zip(truth).map(|(p, t)| p.iter().zip(t).map(|(a, b)| (a - b).abs()).sum::<f64>() / 5.0).collect()
}

/// How precisely the stimuli pin a profile MAE down: a percentile bootstrap over stimuli (`draws` resamples of the
/// stimuli with replacement, seeded) of the MAE of `pred` against `truth`; returns the `(1 − level)/2` and
/// `(1 + level)/2` quantiles. With 30 stimuli this is the resolution of the leave-one-out evaluation.
pub fn mae_interval(pred: &[[f64; 5]], truth: &[[f64; 5]], draws: usize, level: f64, seed: u64) -> (f64, f64) {
    let per = stimulus_profile_mae(pred, truth);
    let n = per.len();
    if n == 0 || draws == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mut rng = SplitMix64(seed);
    let mut maes: Vec<f64> =
        (0..draws).map(|_| (0..n).map(|_| per[(rng.next_u64() % n as u64) as usize]).sum::<f64>() / n as f64).collect();
    maes.sort_by(f64::total_cmp);
    let at = |q: f64| maes[((q * (draws - 1) as f64).round() as usize).min(draws - 1)];
    (at((1.0 - level) / 2.0), at((1.0 + level) / 2.0))
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
    /// Held-out predictions per model, in [`EvalReport::metrics`] order.
    pub preds: Vec<(&'static str, Vec<[f64; 5]>)>,
    /// Metrics per model: the fused model, the same model with audio only and with video only, separately trained
    /// single-sense models, then the baselines.
    pub metrics: Vec<(&'static str, Metrics)>,
    /// Fusion + BEL loss curves of the first fold (fused, audio-only model, video-only model).
    pub curves: Vec<Vec<f32>>,
}

/// Perceived renders of every stimulus, `per` consecutive clips each.
#[derive(Clone, Copy, Debug)]
pub struct RenderSet<'a> {
    /// The clips, stimulus-major.
    pub perceived: &'a [Perceived],
    /// Clips per stimulus.
    pub per: usize,
}

impl RenderSet<'_> {
    fn examples(&self, i: usize, truth: &[f64; 5], m: Modalities) -> Vec<Example> {
        self.perceived[i * self.per..(i + 1) * self.per]
            .iter()
            .map(|p| Example {
                xa: m.audio.then(|| p.xa.clone()),
                xv: m.video.then(|| p.xv.clone()),
                y: truth.map(|v| v as f32),
            })
            .collect()
    }
}

/// What fusion + BEL look like in a model: sizes and how a missing sense is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuseShape {
    /// Hidden units per sense.
    pub hidden: usize,
    /// Sensory channels.
    pub sensory: usize,
    /// A missing sense takes the present one's features (`InputConfig::substitute`).
    pub substitute: bool,
}

impl FuseShape {
    /// The shape of `cfg`'s fusion + BEL.
    pub fn of(cfg: &ModelConfig) -> Self {
        FuseShape {
            hidden: cfg.fusion.hidden as usize,
            sensory: cfg.fusion.sensory as usize,
            substitute: cfg.input.substitute,
        }
    }

    /// Freshly initialised parameters of this shape (five features per sense).
    pub fn init(&self, seed: u64) -> FuseParams {
        let mut p = FuseParams::init(5, 5, self.hidden, self.sensory, seed);
        p.substitute = self.substitute;
        p
    }
}

/// Choose the fusion weight decay among [`DECAYS`] by `fit.cv_folds`-fold cross-validation over the stimuli `idx`
/// (grouped: a stimulus' renders stay together; group `g` holds every `cv_folds`-th stimulus of `idx` from the
/// `g`-th): the decay with the lowest mean profile MAE of the held-out groups' predictions (each stimulus the mean
/// over its renders), the larger on a tie. Returns `fit.decay` unless [`FitOptions::cross_validates`] on `idx`.
///
/// The `DECAYS.len() × cv_folds` fits are independent and run on up to `threads` threads; each held-out stimulus'
/// error is summed in one fixed order afterwards, so the choice and its scores do not depend on `threads`.
pub fn choose_decay(
    rows: &[StimulusRow],
    idx: &[usize],
    train: RenderSet<'_>,
    m: Modalities,
    fit: &FitOptions,
    shape: FuseShape,
    threads: usize,
) -> DecayChoice {
    let k = fit.cv_folds;
    if !fit.cross_validates(idx.len()) {
        return DecayChoice::given(fit.decay);
    }
    let truth: Vec<[f64; 5]> = rows.iter().map(|r| r.fused()).collect();
    // One job per (candidate, held-out group); each returns its held-out stimuli's errors in `idx` order.
    let jobs: Vec<(f32, usize)> = DECAYS.iter().rev().flat_map(|&d| (0..k).map(move |g| (d, g))).collect();
    let run = |&(decay, g): &(f32, usize)| -> Vec<f64> {
        // (position in `idx`, stimulus index), held out or kept for this group.
        type Picks = Vec<(usize, usize)>;
        let (held, kept): (Picks, Picks) = idx.iter().copied().enumerate().partition(|(pos, _)| pos % k == g);
        let data: Vec<Example> = kept.iter().flat_map(|&(_, i)| train.examples(i, &truth[i], m)).collect();
        let mut p = shape.init(fit.seed);
        p.fit(&data, &FitOptions { decay, cv_folds: 0, ..*fit });
        held.iter()
            .map(|&(_, i)| {
                let clips = &train.perceived[i * train.per..(i + 1) * train.per];
                let mut mean = [0.0f64; 5];
                for c in clips {
                    let y = p.predict(m.audio.then_some(&c.xa[..]), m.video.then_some(&c.xv[..]));
                    for e in 0..5 {
                        mean[e] += y[e] as f64 / clips.len() as f64;
                    }
                }
                mean.iter().zip(&truth[i]).map(|(a, b)| (a - b).abs()).sum::<f64>() / (5 * idx.len()) as f64
            })
            .collect()
    };
    let errors = interleaved(&jobs, threads, run);
    let mut best = (f64::INFINITY, fit.decay);
    let mut cv_mae = Vec::with_capacity(DECAYS.len());
    for (c, &decay) in DECAYS.iter().rev().enumerate() {
        let mut err = 0.0;
        for group in &errors[c * k..(c + 1) * k] {
            for e in group {
                err += e;
            }
        }
        if err < best.0 {
            best = (err, decay);
        }
        cv_mae.push((decay, err));
    }
    cv_mae.reverse();
    DecayChoice { decay: best.1, cv_mae }
}

/// The fusion weight decay a fit used and, when cross-validation chose it ([`choose_decay`]), what every candidate
/// scored: how clear the choice was. Near-tied candidates are how last-bit differences in perception reach the
/// figures (experiments E12–E14).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecayChoice {
    /// The decay used.
    pub decay: f32,
    /// `(decay, cross-validated profile MAE)` for each of [`DECAYS`] in order; empty when the decay was given.
    pub cv_mae: Vec<(f32, f64)>,
}

impl DecayChoice {
    /// A decay given, not chosen.
    pub fn given(decay: f32) -> Self {
        DecayChoice { decay, cv_mae: Vec::new() }
    }

    /// Whether cross-validation chose the decay.
    pub fn chosen(&self) -> bool {
        !self.cv_mae.is_empty()
    }

    /// How much higher the best other candidate's cross-validated MAE was than the chosen one's, relative to the
    /// chosen one's (0.01 = 1 %); `None` unless two or more candidates were scored.
    pub fn margin(&self) -> Option<f64> {
        let chosen = self.cv_mae.iter().find(|(d, _)| *d == self.decay)?.1;
        let other = self.cv_mae.iter().filter(|(d, _)| *d != self.decay).map(|c| c.1).min_by(f64::total_cmp)?;
        Some((other - chosen) / chosen)
    }
}

/// One leave-one-out fold's fitted fusion + BEL.
#[derive(Clone, Debug)]
pub struct Fold {
    /// The fitted model.
    pub params: FuseParams,
    /// Its training loss curve.
    pub curve: Vec<f32>,
    /// The weight decay it was fitted with, and how it was chosen.
    pub decay: DecayChoice,
}

/// Fusion + BEL fitted for each leave-one-stimulus-out fold (fold `f` never sees stimulus `f`, not even to choose the
/// weight decay: [`choose_decay`] runs on the fold's own training stimuli, unless `decays` gives each fold's decay),
/// on the training renders with senses `m`.
pub fn fit_folds(
    rows: &[StimulusRow],
    train: RenderSet<'_>,
    m: Modalities,
    fit: &FitOptions,
    shape: FuseShape,
    decays: Option<&[f32]>,
    threads: usize,
) -> Vec<Fold> {
    let n = rows.len();
    let truth: Vec<[f64; 5]> = rows.iter().map(|r| r.fused()).collect();
    let bar = progress("leave-one-out folds", n);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let folds: Vec<usize> = (0..n).collect();
    interleaved(&folds, threads, |&fold| {
        let idx: Vec<usize> = (0..n).filter(|&i| i != fold).collect();
        let decay = match decays {
            Some(d) => DecayChoice::given(d[fold]),
            // The folds already fill the threads.
            None => choose_decay(rows, &idx, train, m, fit, shape, 1),
        };
        let data: Vec<Example> = idx.iter().flat_map(|&i| train.examples(i, &truth[i], m)).collect();
        let mut params = shape.init(fit.seed);
        let curve = params.fit(&data, &FitOptions { decay: decay.decay, cv_folds: 0, ..*fit });
        bar(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
        Fold { params, curve, decay }
    })
}

/// `f` of every job, in `jobs`' order, computed on up to `threads` scoped threads, thread `t` taking jobs `t`,
/// `t + threads`, …: the jobs' costs are similar, and the results do not depend on the split.
fn interleaved<T: Sync, R: Send>(jobs: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let mut results: Vec<Option<R>> = jobs.iter().map(|_| None).collect();
    std::thread::scope(|sc| {
        let threads = threads.clamp(1, jobs.len().max(1));
        type Share<'j, T, R> = Vec<(&'j T, &'j mut Option<R>)>;
        let mut shares: Vec<Share<T, R>> = (0..threads).map(|_| Vec::new()).collect();
        for (j, (job, slot)) in jobs.iter().zip(results.iter_mut()).enumerate() {
            shares[j % threads].push((job, slot));
        }
        let f = &f;
        for mine in shares {
            sc.spawn(move || mine.into_iter().for_each(|(job, slot)| *slot = Some(f(job))));
        }
    });
    results.into_iter().map(|r| r.expect("every job ran")).collect()
}

/// Each fold's prediction for its held-out stimulus with senses `m`: the mean over that stimulus' test renders.
pub fn predict_folds(folds: &[Fold], test: RenderSet<'_>, m: Modalities) -> Vec<[f64; 5]> {
    folds
        .iter()
        .enumerate()
        .map(|(fold, Fold { params: p, .. })| {
            let clips = &test.perceived[fold * test.per..(fold + 1) * test.per];
            let mut mean = [0.0f64; 5];
            for c in clips {
                let y = p.predict(m.audio.then_some(&c.xa[..]), m.video.then_some(&c.xv[..]));
                for e in 0..5 {
                    mean[e] += y[e] as f64 / clips.len() as f64;
                }
            }
            mean
        })
        .collect()
}

/// Leave-one-stimulus-out: fusion + BEL refit per fold on the other stimuli's `train` renders (with modality dropout
/// as `fit` says); perception fixed; each held-out stimulus predicted from its `test` renders. Returns the report and
/// the fused model's folds (for [`robustness`]).
pub fn evaluate(
    rows: &[StimulusRow],
    train: RenderSet<'_>,
    test: RenderSet<'_>,
    fit: &FitOptions,
    shape: FuseShape,
    threads: usize,
) -> (EvalReport, Vec<Fold>) {
    let n = rows.len();
    let truth: Vec<[f64; 5]> = rows.iter().map(|r| r.fused()).collect();
    let fused = fit_folds(rows, train, Modalities::BOTH, fit, shape, None, threads);
    // Separately trained single-sense models: what "as good as a single-sense model" is measured against (with each
    // fold's weight decay as the fused model chose it).
    let decays: Vec<f32> = fused.iter().map(|f| f.decay.decay).collect();
    let single = FitOptions { dropout: 0.0, ..*fit };
    let single_shape = FuseShape { substitute: false, ..shape };
    let audio = fit_folds(rows, train, Modalities::AUDIO, &single, single_shape, Some(&decays), threads);
    let video = fit_folds(rows, train, Modalities::VIDEO, &single, single_shape, Some(&decays), threads);
    let mut preds: Vec<(&'static str, Vec<[f64; 5]>)> = vec![
        ("fused (the model)", predict_folds(&fused, test, Modalities::BOTH)),
        ("the model, audio only", predict_folds(&fused, test, Modalities::AUDIO)),
        ("the model, video only", predict_folds(&fused, test, Modalities::VIDEO)),
        ("audio-only model", predict_folds(&audio, test, Modalities::AUDIO)),
        ("video-only model", predict_folds(&video, test, Modalities::VIDEO)),
    ];
    let curves = vec![fused[0].curve.clone(), audio[0].curve.clone(), video[0].curve.clone()];
    // Baselines on the same folds.
    let mut constant = Vec::new();
    let mut ridge = Vec::new();
    let mut kernel_ridge = Vec::new();
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
        let p = kernel_ridge_nested(&xs, &ys, &normalised(&rows[fold].params));
        kernel_ridge.push([p[0], p[1], p[2], p[3], p[4]]);
    }
    // Diagnostic: a ridge regression from the same perceived features, to separate perception from fusion + BEL.
    let feats = |set: RenderSet<'_>, i: usize| -> Vec<Vec<f64>> {
        set.perceived[i * set.per..(i + 1) * set.per]
            .iter()
            .map(|p| p.xa.iter().chain(&p.xv).map(|&v| v as f64).collect())
            .collect()
    };
    let mut ridge_perceived = Vec::new();
    for fold in 0..n {
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for i in (0..n).filter(|&i| i != fold) {
            for x in feats(train, i) {
                xs.push(x);
                ys.push(truth[i].to_vec());
            }
        }
        let m = Ridge::fit(&xs, &ys, 10.0);
        let mut mean = [0.0; 5];
        let clips = feats(test, fold);
        for x in &clips {
            let p = m.predict(x);
            for e in 0..5 {
                mean[e] += p[e].clamp(0.0, 1.0) / clips.len() as f64;
            }
        }
        ridge_perceived.push(mean);
    }
    preds.push(("ridge on perceived features", ridge_perceived));
    // Diagnostic: a Gaussian-kernel ridge on each stimulus' mean perceived sliders (both senses' read-outs, the
    // mean over its renders), nested like the one on the true sliders. A function of the perceived sliders unlike
    // fusion + BEL's: E20 found that averaging the fused model with a kernel model of the *true* sliders passes the
    // clean target, and this asks whether one of what a robot perceives would too.
    let mean_sliders = |set: RenderSet<'_>, i: usize| -> Vec<f64> {
        let clips = feats(set, i);
        let mut mean = vec![0.0; clips.first().map_or(0, Vec::len)];
        for x in &clips {
            for (m, v) in mean.iter_mut().zip(x) {
                *m += v / clips.len() as f64;
            }
        }
        mean
    };
    let train_means: Vec<Vec<f64>> = (0..n).map(|i| mean_sliders(train, i)).collect();
    let kernel_perceived = (0..n)
        .map(|fold| {
            let idx: Vec<usize> = (0..n).filter(|&i| i != fold).collect();
            let xs: Vec<Vec<f64>> = idx.iter().map(|&i| train_means[i].clone()).collect();
            let ys: Vec<Vec<f64>> = idx.iter().map(|&i| truth[i].to_vec()).collect();
            let p = kernel_ridge_nested(&xs, &ys, &mean_sliders(test, fold));
            [p[0], p[1], p[2], p[3], p[4]]
        })
        .collect();
    preds.push(("kernel ridge on perceived sliders (nested)", kernel_perceived));
    // Diagnostic: fusion + BEL fitted (same folds, same nested choice of decay) on the true sliders in place of both
    // senses' estimates, i.e. with perfect perception: how much of the error perception could still remove.
    let exact = exact_sliders(rows);
    let exact = RenderSet { perceived: &exact, per: 1 };
    let perfect = fit_folds(rows, exact, Modalities::BOTH, fit, shape, None, threads);
    preds.push(("fusion + BEL on true sliders", predict_folds(&perfect, exact, Modalities::BOTH)));
    preds.push(("constant (fold mean)", constant));
    preds.push(("ridge on true sliders", ridge));
    preds.push(("kernel ridge on true sliders (nested)", kernel_ridge));
    let metrics = preds.iter().map(|(n, p)| (*n, metrics(p, &truth))).collect();
    let report = EvalReport { names: rows.iter().map(|r| r.name.clone()).collect(), truth, preds, metrics, curves };
    (report, fused)
}

/// The kernel ridge baseline's penalties and kernel widths (on sliders normalised to 0–1).
pub const KERNEL_LAMBDAS: [f64; 5] = [0.01, 0.03, 0.1, 0.3, 1.0];
/// See [`KERNEL_LAMBDAS`].
pub const KERNEL_GAMMAS: [f64; 5] = [0.25, 0.5, 1.0, 2.0, 4.0];

/// A Gaussian-kernel ridge regression from `xs` to `ys`, its penalty and width chosen among [`KERNEL_LAMBDAS`] ×
/// [`KERNEL_GAMMAS`] by leave-one-out over the rows it is given (so a caller's held-out row never takes part), then
/// refitted on all of them; returns its prediction for `query`, clamped to 0–1. The non-linear baseline on the true
/// sliders: a smooth function of them, tuned without the test stimulus.
pub fn kernel_ridge_nested(xs: &[Vec<f64>], ys: &[Vec<f64>], query: &[f64]) -> Vec<f64> {
    let n = xs.len();
    let clamp = |v: Vec<f64>| -> Vec<f64> { v.into_iter().map(|y| y.clamp(0.0, 1.0)).collect() };
    let mut best = (f64::INFINITY, KERNEL_LAMBDAS[0], KERNEL_GAMMAS[0]);
    if n >= 3 {
        for &lambda in &KERNEL_LAMBDAS {
            for &gamma in &KERNEL_GAMMAS {
                let mut err = 0.0;
                for h in 0..n {
                    let (kx, ky): (Vec<Vec<f64>>, Vec<Vec<f64>>) =
                        (0..n).filter(|&i| i != h).map(|i| (xs[i].clone(), ys[i].clone())).unzip();
                    let p = clamp(KernelRidge::fit(&kx, &ky, lambda, gamma).predict(&xs[h]));
                    err += p.iter().zip(&ys[h]).map(|(a, b)| (a - b).abs()).sum::<f64>();
                }
                if err < best.0 {
                    best = (err, lambda, gamma);
                }
            }
        }
    }
    clamp(KernelRidge::fit(xs, ys, best.1, best.2).predict(query))
}

/// The profile MAE that even a perfect model, one that knew each stimulus' population-mean profile, would be expected
/// to show against this consensus: the consensus is a mean of 20 raters, so it carries sampling error of standard
/// error `se` per emotion ([`StimulusRow::fused_se`]), and a normal error's expected absolute value is `se·√(2/π)`.
/// Averaged over the stimuli and emotions. A floor under every model's leave-one-out MAE, not a target.
pub fn consensus_noise_mae(rows: &[StimulusRow]) -> f64 {
    rows.iter().map(consensus_noise_stimulus_mae).sum::<f64>() / rows.len().max(1) as f64
}

/// [`consensus_noise_mae`] of one stimulus (its mean over the five emotions).
pub fn consensus_noise_stimulus_mae(row: &StimulusRow) -> f64 {
    (2.0 / std::f64::consts::PI).sqrt() * row.fused_se.iter().sum::<f64>() / 5.0
}

/// One row of the robustness evaluation: a perturbation at one severity and the fused model's metrics under it.
#[derive(Clone, Debug)]
pub struct RobustnessRow {
    /// The perturbation.
    pub kind: Kind,
    /// Its severity (unit: [`Kind::unit`]).
    pub severity: f64,
    /// Severity index 1–3 (2 = moderate).
    pub level: usize,
    /// Leave-one-stimulus-out metrics of the fused model with both senses, the held-out stimulus perturbed.
    pub metrics: Metrics,
    /// Each held-out stimulus' predicted profile (its fold's model, the mean over its perturbed renders), in the
    /// stimuli's order: for tools that blend the model with other functions of the read-outs (E54).
    pub predictions: Vec<[f64; 5]>,
}

/// The robustness evaluation: the clean baseline on the same number of renders, and one row per perturbation and
/// severity.
#[derive(Clone, Debug)]
pub struct Robustness {
    /// Metrics on the first `renders` clean renders of each stimulus (the same seeds as the perturbed ones).
    pub clean: Metrics,
    /// Each stimulus' predicted profile on those clean renders, as [`RobustnessRow::predictions`].
    pub clean_predictions: Vec<[f64; 5]>,
    /// One row per perturbation kind and severity.
    pub rows: Vec<RobustnessRow>,
    /// Each row's held-out renders as perception read them, in [`Robustness::rows`]' order (stimulus-major,
    /// `renders` clips each): for tools that score other functions of the read-outs under the same perturbations.
    pub perceived: Vec<Vec<Perceived>>,
}

/// The fused model's leave-one-stimulus-out metrics with each held-out stimulus rendered `renders` times under each
/// of `kinds` at each of its [`Kind::severities`] (render seeds `draw_base(draw) + 1000·id + r`, those of the clean
/// test renders, so only the perturbation differs); `folds` from [`evaluate`], `clean` the clean test renders (at
/// least `renders` per stimulus, of the same draw), of which the first `renders` give the baseline.
#[allow(clippy::too_many_arguments)]
pub fn robustness(
    weights: &[u8],
    rows: &[StimulusRow],
    folds: &[Fold],
    kinds: &[Kind],
    renders: usize,
    draw: u32,
    seconds: f64,
    threads: usize,
    clean: RenderSet<'_>,
) -> Result<Robustness, String> {
    if clean.per < renders {
        return Err(format!("robustness over {renders} renders needs at least as many clean test renders"));
    }
    let truth: Vec<[f64; 5]> = rows.iter().map(|r| r.fused()).collect();
    let first: Vec<Perceived> = clean.perceived.chunks(clean.per).flat_map(|c| c[..renders].to_vec()).collect();
    let base = predict_folds(folds, RenderSet { perceived: &first, per: renders }, Modalities::BOTH);
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for &kind in kinds {
        for (level, severity) in kind.severities().into_iter().enumerate() {
            let p = kind.at(severity);
            let jobs = stimulus_jobs(rows, renders, draw, &|_| p);
            let label = format!("{} {severity}", kind.name());
            let perceived = perceive(weights, &jobs, seconds, threads, &label)?;
            let pred = predict_folds(folds, RenderSet { perceived: &perceived, per: renders }, Modalities::BOTH);
            out.push(RobustnessRow {
                kind,
                severity,
                level: level + 1,
                metrics: metrics(&pred, &truth),
                predictions: pred,
            });
            seen.push(perceived);
        }
    }
    Ok(Robustness { clean: metrics(&base, &truth), clean_predictions: base, rows: out, perceived: seen })
}

/// The robustness table in Markdown: profile MAE per perturbation at each severity, the change at the moderate
/// severity against `clean` (the same renders unperturbed), and the fused model with a sense missing (`single`: the
/// model with audio only, with video only, from [`evaluate`], changes against `clean_all`, the clean metrics on all
/// its test renders).
pub fn robustness_markdown(
    clean: &Metrics,
    clean_all: &Metrics,
    single: &[(&str, Metrics)],
    rows: &[RobustnessRow],
) -> String {
    let mut s = format!(
        "| perturbation | unit | mild | moderate | severe | MAE mild | MAE moderate | MAE severe | moderate − clean |\n\
         |---|---|---|---|---|---|---|---|---|\n| clean | | | | | {0:.4} | {0:.4} | {0:.4} | |\n",
        clean.profile_mae
    );
    for kind in rows.iter().map(|r| r.kind).fold(Vec::new(), |mut v: Vec<Kind>, k| {
        if !v.contains(&k) {
            v.push(k);
        }
        v
    }) {
        let of: Vec<&RobustnessRow> = rows.iter().filter(|r| r.kind == kind).collect();
        let sev: Vec<String> = of.iter().map(|r| format!("{}", r.severity)).collect();
        let mae: Vec<String> = of.iter().map(|r| format!("{:.4}", r.metrics.profile_mae)).collect();
        let moderate = of.iter().find(|r| r.level == 2).map(|r| r.metrics.profile_mae - clean.profile_mae);
        s += &format!(
            "| {} | {} | {} | {} | {} |\n",
            kind.name(),
            kind.unit(),
            sev.join(" | "),
            mae.join(" | "),
            moderate.map(|d| format!("{d:+.4}")).unwrap_or_default()
        );
    }
    s += &format!("| clean, all test renders | | | | | | {:.4} | | |\n", clean_all.profile_mae);
    for (name, m) in single {
        s += &format!(
            "| {name}, all test renders | | | | | | {:.4} | | {:+.4} |\n",
            m.profile_mae,
            m.profile_mae - clean_all.profile_mae
        );
    }
    s
}

/// The robustness results as JSON: `{"clean": {...}, "clean_all_renders": {...}, "single_sense": {name: {...}},
/// "perturbations": [{kind, severity, level, profile_mae, epp_mae, mean_r}]}`.
pub fn robustness_json(
    clean: &Metrics,
    clean_all: &Metrics,
    single: &[(&str, Metrics)],
    rows: &[RobustnessRow],
) -> String {
    let m = |x: &Metrics| {
        format!("{{\"profile_mae\":{:.5},\"epp_mae\":{:.5},\"mean_r\":{:.4}}}", x.profile_mae, x.epp_mae, x.mean_r)
    };
    let single: Vec<String> = single.iter().map(|(n, x)| format!("{n:?}:{}", m(x))).collect();
    let rows: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{{\"kind\":{:?},\"severity\":{},\"level\":{},\"profile_mae\":{:.5},\"epp_mae\":{:.5},\"mean_r\":{:.4}}}",
                r.kind.name(),
                r.severity,
                r.level,
                r.metrics.profile_mae,
                r.metrics.epp_mae,
                r.metrics.mean_r
            )
        })
        .collect();
    format!(
        "{{\"clean\":{},\"clean_all_renders\":{},\"single_sense\":{{{}}},\"perturbations\":[{}]}}",
        m(clean),
        m(clean_all),
        single.join(","),
        rows.join(",")
    )
}

/// Series for [`super::plot::robustness_panels`]: per perturbation, (severity level 0–3, MAE) with level 0 = clean.
pub fn robustness_series(clean: &Metrics, rows: &[RobustnessRow]) -> Vec<(&'static str, Vec<(f64, f64)>)> {
    let mut out: Vec<(&'static str, Vec<(f64, f64)>)> = Vec::new();
    for r in rows {
        match out.iter_mut().find(|s| s.0 == r.kind.name()) {
            Some(s) => s.1.push((r.level as f64, r.metrics.profile_mae)),
            None => out.push((r.kind.name(), vec![(0.0, clean.profile_mae), (r.level as f64, r.metrics.profile_mae)])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(xa: [f32; 5], xv: [f32; 5], truth: [f32; 5]) -> ValidationClip {
        ValidationClip { xa: xa.to_vec(), xv: xv.to_vec(), truth: truth.to_vec() }
    }

    #[test]
    fn each_draw_renders_its_own_clips_and_draw_0_is_the_documented_one() {
        let row = |id: u32| StimulusRow {
            id,
            name: format!("s{id}"),
            params: crate::host::stimuli::Params {
                bpm: 90.0,
                jitter: 5.0,
                consonance: 30.0,
                bigsmall: 40.0,
                updown: 50.0,
            },
            music: [0.0; 5],
            animation: [0.0; 5],
            fused_se: [0.0; 5],
        };
        // The study's ids run to 37.
        let rows = [row(0), row(7), row(37)];
        let seeds = |jobs: Vec<Job>| jobs.iter().map(|j| j.seed).collect::<Vec<u64>>();
        // Draw 0: the seeds every documented figure was rendered with.
        assert_eq!(seeds(stimulus_jobs(&rows[1..2], 3, 0, &|_| Perturbation::NONE)), [7000, 7001, 7002]);
        let augment = Augment::default();
        let d0 = seeds(training_stimulus_jobs(&rows, 8, 8, 0, &augment));
        assert_eq!(&d0[..9], &[0, 1, 2, 3, 4, 5, 6, 7, AUG_SEEDS]);
        // Draw 1 and 2: the same layout 2^32 further on, so no seed is shared between draws, nor with the seeds
        // training draws its random clips (from 1,000,000) and validation clips (from 5,000,000) from.
        let d1 = seeds(training_stimulus_jobs(&rows, 8, 8, 1, &augment));
        let d2 = seeds(training_stimulus_jobs(&rows, 8, 8, 2, &augment));
        assert_eq!(d1.len(), d0.len());
        for (a, b) in d0.iter().zip(&d1) {
            assert_eq!(b - a, 1 << 32);
        }
        let mut all: Vec<u64> = d0.iter().chain(&d1).chain(&d2).copied().collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 3 * d0.len());
        assert!(d0.iter().all(|&s| s < 1_000_000) && d1.iter().chain(&d2).all(|&s| s > 5_000_000 + 1_000_000));
        // The perturbed renders' draws follow their seeds: draw 1's occluders and noises are not draw 0's.
        let p0 = training_stimulus_jobs(&rows, 0, 8, 0, &augment);
        let p1 = training_stimulus_jobs(&rows, 0, 8, 1, &augment);
        assert!(p0.iter().zip(&p1).any(|(a, b)| a.perturb != b.perturb));
    }

    #[test]
    fn the_emotion_error_is_what_each_sense_s_estimates_move_the_output() {
        let fp = FuseParams::init(5, 5, 16, 8, 7);
        let truth = [0.2, 0.4, 0.5, 0.7, 0.3];
        assert_eq!(emotion_error(&fp, &[]), EmotionError::default());
        // Exact perception costs nothing.
        assert_eq!(emotion_error(&fp, &[clip(truth, truth, truth)]), EmotionError::default());
        // A wrong audio estimate with exact sight: the audio column carries it, the visual one nothing, and the fused
        // column is the same (sight was exact).
        let off = [0.9, 0.0, 0.1, 0.2, 1.0];
        let e = emotion_error(&fp, &[clip(off, truth, truth)]);
        assert!(e.audio > 1e-4, "{e:?}");
        assert_eq!(e.visual, 0.0);
        assert_eq!(e.fused, e.audio);
        // And the other way round.
        let e = emotion_error(&fp, &[clip(truth, off, truth)]);
        assert!(e.visual > 1e-4, "{e:?}");
        assert_eq!(e.audio, 0.0);
        assert_eq!(e.fused, e.visual);
        // A mean over clips: an exact clip beside the wrong one halves it.
        let both = emotion_error(&fp, &[clip(truth, off, truth), clip(truth, truth, truth)]);
        assert!((both.visual - e.visual / 2.0).abs() < 1e-12, "{both:?} {e:?}");
    }
}
