//! Training (feature `train`): fit every stage from rendered stimuli and the study's ratings.
//!
//! Hand-written, no training framework: the read-outs are ridge regressions (closed form, exact, seconds to fit)
//! and the fusion MLP + BEL are small enough (≈ 1,500 parameters) for hand-written backpropagation with Adam.

// Index loops mirror the equations in this numeric code.
#![allow(clippy::needless_range_loop)]

pub mod augment;
pub mod cornet;
pub mod data;
pub mod draws;
pub mod fuse;
pub mod linalg;
pub mod plot;
pub mod quant;
pub mod run;

use crate::host::stimuli::{Params, RenderOptions, Slider};
use crate::{Pipeline, Weights};
use augment::{render_perturbed, Perturbation};

/// Slider values mapped to 0..1 (bpm, jitter, consonance, bigsmall, updown): the perception targets.
pub fn normalised(p: &Params) -> [f64; 5] {
    let mut out = [0.0; 5];
    for (o, s) in out.iter_mut().zip(Slider::ALL) {
        let (lo, hi) = s.range();
        *o = (p.get(s) - lo) / (hi - lo);
    }
    out
}

/// Random slider settings, uniform over each slider's range (consonance a whole number).
pub fn random_params(rng: &mut crate::host::model::SplitMix64) -> Params {
    let mut u = || rng.next_f32() as f64;
    Params {
        bpm: 30.0 + 370.0 * u(),
        jitter: 99.0 * u(),
        consonance: (38.0 * u()).floor().min(37.0),
        bigsmall: 100.0 * u(),
        updown: 100.0 * u(),
    }
}

/// What the read-outs see for one rendered clip.
#[derive(Clone, Debug)]
pub struct ClipFeatures {
    /// The clip's slider values.
    pub params: Params,
    /// Visual temporal summary `[mean; std]` of IT.
    pub visual: Vec<f64>,
    /// Audio read-out input: descriptors, then cortex features.
    pub audio: Vec<f64>,
}

/// One clip to render: slider settings, render seed, and what the microphone and camera do to it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Job {
    /// Slider settings.
    pub params: Params,
    /// Render seed (also seeds the perturbation's random choices).
    pub seed: u64,
    /// Perturbation applied before the model sees the clip.
    pub perturb: Perturbation,
}

impl Job {
    /// A clean clip.
    pub fn clean(params: Params, seed: u64) -> Job {
        Job { params, seed, perturb: Perturbation::NONE }
    }
}

/// Render each job's clip (perturbed as it says), push it through a pipeline over `weights`, and let `read` take
/// what it needs from the pipeline (which must close the clip). Jobs are split over `threads` threads, each with its
/// own pipeline; results come back in job order, so they do not depend on the thread count.
pub fn for_each_clip<T: Send>(
    weights: &[u8],
    jobs: &[Job],
    seconds: f64,
    threads: usize,
    progress: &(dyn Fn(usize) + Sync),
    read: &(dyn Fn(&Params, &mut Pipeline<'_>) -> Result<T, String> + Sync),
) -> Result<Vec<T>, String> {
    let w = Weights::parse(weights).map_err(|e| e.to_string())?;
    let cfg = *w.config();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<Result<T, String>>> = (0..jobs.len()).map(|_| None).collect();
    let per = jobs.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        for (ci, chunk) in results.chunks_mut(per).enumerate() {
            let my_jobs = &jobs[ci * per..ci * per + chunk.len()];
            let (w, done) = (&w, &done);
            scope.spawn(move || {
                let mut scratch = vec![0.0f32; Pipeline::scratch_len(w)];
                let mut p = match Pipeline::new(w, &mut scratch) {
                    Ok(p) => p,
                    Err(e) => {
                        for slot in chunk.iter_mut() {
                            *slot = Some(Err(e.to_string()));
                        }
                        return;
                    }
                };
                for (slot, job) in chunk.iter_mut().zip(my_jobs) {
                    let opts = RenderOptions::for_model(&cfg, seconds, job.seed);
                    let r = (|| {
                        let s = render_perturbed(&job.params, &opts, &job.perturb).map_err(|e| e.to_string())?;
                        p.push_audio(&s.audio).map_err(|e| e.to_string())?;
                        let frames = s.frames.chunks_exact(opts.size * opts.size);
                        let cut = job.perturb.scene_cut_frame(frames.len(), opts.fps);
                        for (i, f) in frames.enumerate() {
                            if cut == Some(i) {
                                p.scene_cut();
                            }
                            p.push_frame(f).map_err(|e| e.to_string())?;
                        }
                        read(&job.params, &mut p)
                    })();
                    if r.is_err() {
                        p.reset();
                    }
                    *slot = Some(r);
                    progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1);
                }
            });
        }
    });
    results.into_iter().map(|r| r.unwrap_or_else(|| Err("job not run".into()))).collect()
}

/// Render each job and collect what the read-outs see ([`ClipFeatures`]), on `threads` threads.
pub fn extract(
    weights: &[u8],
    jobs: &[Job],
    seconds: f64,
    threads: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<ClipFeatures>, String> {
    let cfg = *Weights::parse(weights).map_err(|e| e.to_string())?.config();
    let (n_v, n_a) = (crate::core::visual::summary_len(&cfg.visual), crate::core::manifest::audio_inputs(&cfg));
    for_each_clip(weights, jobs, seconds, threads, progress, &|params, p| {
        let mut v = vec![0.0f32; n_v];
        let mut a = vec![0.0f32; n_a];
        p.clip_features(&mut v, &mut a).map_err(|e| e.to_string())?;
        Ok(ClipFeatures {
            params: *params,
            visual: v.iter().map(|&x| x as f64).collect(),
            audio: a.iter().map(|&x| x as f64).collect(),
        })
    })
}
