//! `avf-bel train`, `avf-bel eval`, `avf-bel export` (feature `train`; without it they say how to get it).

use super::{CliResult, ConfigArg, Failure};
use std::path::PathBuf;

/// Examples for `train --help`.
pub const TRAIN_EXAMPLES: &str = "Examples:
  avf-bel train --out model/                          # the shipped model (see the README for its time)
  avf-bel train --out /tmp/c --cornet-epochs 3        # also train CORnet-Z (3 epochs on --cornet-clips clips)
  avf-bel train --out /tmp/m --augment none --aug-renders 0 --dropout 0   # clean renders only, no modality dropout
  avf-bel train --out /tmp/m --normalise off          # without the loudness and luminance normalisers
  avf-bel train --out /tmp/m --sound-floor on         # a room's noise under the music is not heard (E31)
  avf-bel train --out /tmp/m --background off         # frames as the camera gives them (the model before E41)
  avf-bel train --out /tmp/m --background-gate off    # the background cored pixel by pixel (the model of E41)
  avf-bel train --out /tmp/t --config tiny --clips 60 --renders 1 --cornet-epochs 0 --validate 0   # a quick try

Writes model.avfw, train.json and train_loss.png into --out. Needs the study's ratings (--data DIR, $AVF_BEL_DATA
or ../shared/data; see the README, \"Data\") and the `train` feature: cargo build --release --features train.";

/// Examples for `eval --help`.
pub const EVAL_EXAMPLES: &str = "Examples:
  avf-bel eval --weights model/model.avfw --out eval/   # leave-one-stimulus-out + baselines (~1 min)
  avf-bel eval --out eval/                              # the built-in model
  avf-bel eval --weights weights/default.avfw --out docs/eval --robustness   # + every perturbation, 3 severities
  avf-bel eval --weights weights/default.avfw --out docs/eval --robustness --probes   # + conditions never trained

Writes eval.md, eval.json, perceived.json (every render's read-outs), pred_vs_consensus.png, loss_curves.png and
bel_weights.png into --out; with --robustness also robustness.md, robustness.json, robustness.png and
robustness_perceived.json (each row's read-outs and the model's held-out predictions); with --probes probes.md,
probes.json, probes.png and probes_perceived.json.";

/// Examples for `draws --help`.
pub const DRAWS_EXAMPLES: &str = "Examples:
  avf-bel eval --weights model.avfw --out d1 --robustness --draw 1   # (and d2 with --draw 2)
  avf-bel draws --draw docs/eval --draw d1 --draw d2                 # every figure per draw, and the means
  avf-bel draws --draw d0 --draw d1,d1-lag --out docs/eval/draws.md  # draw 1 spread over two runs

Reads each folder's robustness.json and probes.json. The runs of one draw (comma-separated) must agree on every
figure they share, or they were not one model's runs of one draw, and nothing is written.";

/// `avf-bel draws` options.
#[derive(clap::Args, Debug)]
pub struct DrawsArgs {
    /// One draw: the `eval --out` folders of its runs, comma-separated (repeat once per draw, in order).
    #[arg(long = "draw", value_name = "DIR[,DIR...]", required = true)]
    pub draws: Vec<String>,
    /// Write the table here (Markdown) instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Examples for `export --help`.
pub const EXPORT_EXAMPLES: &str = "Examples:
  avf-bel export --weights model/model.avfw --out export/   # model-f32/-f16/-int8.avfw and their differences";

/// Fusion + BEL fitting options shared by `train` and `eval` (defaults: `FitOptions::default()`).
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct FitArgs {
    /// Adam steps of the fusion + BEL fit [default: 1500].
    #[arg(long)]
    pub steps: Option<usize>,
    /// Learning rate of the fusion + BEL fit [default: 0.003].
    #[arg(long)]
    pub lr: Option<f32>,
    /// L2 weight decay of the fusion + BEL fit [default: 0.001].
    #[arg(long)]
    pub decay: Option<f32>,
    /// Seed of the fusion + BEL initialisation [default: 1].
    #[arg(long)]
    pub fit_seed: Option<u64>,
    /// Modality dropout: the share of each two-sense example's weight given to its audio-only and video-only
    /// copies, so that the model works with one sense missing (0: none) [default: 0.5].
    #[arg(long, value_parser = unit_interval)]
    pub dropout: Option<f32>,
    /// Choose the fusion weight decay by cross-validation over this many groups of stimuli (0 or 1: use --decay)
    /// [default: 10].
    #[arg(long)]
    pub cv_folds: Option<usize>,
}

/// A share in [0, 1].
fn unit_interval(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not in [0, 1]"))
    }
}

/// `on` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// The domain randomisation of training renders, shared by `train` and `eval`.
#[derive(clap::Args, Debug, Clone)]
pub struct AugmentArgs {
    /// Perturbations of training clips: `default` (every kind), `none`, or `without:KIND,KIND` (every kind but
    /// those; the kinds are listed under `eval --perturbations`).
    #[arg(long, default_value = "default", value_name = "SPEC")]
    pub augment: String,
    /// Perturbed renders of each study stimulus for fusion + BEL, besides the clean --renders.
    #[arg(long, default_value_t = 8)]
    pub aug_renders: u32,
}

/// `avf-bel train` options.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Folder of the study's data [default: $AVF_BEL_DATA, else ../shared/data].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Model shape.
    #[arg(long, value_enum, default_value_t = ConfigArg::Default)]
    pub config: ConfigArg,
    /// Clips of random slider settings for the perception read-outs (at least 20).
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u32).range(20..))]
    pub clips: u32,
    /// Renders of each study stimulus for fusion + BEL.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub renders: u32,
    /// Clip length, seconds.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Worker threads [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// Seed of the whole run.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
    /// Epochs of CORnet-Z training (0, the shipped model: keep the seeded random features, whose visual read-out
    /// validates better on perturbed clips than the trained ones'; see the README, "Training and evaluation").
    #[arg(long, default_value_t = 0)]
    pub cornet_epochs: usize,
    /// Clips of random slider settings for CORnet-Z training.
    #[arg(long, default_value_t = 1000)]
    pub cornet_clips: usize,
    #[command(flatten)]
    pub augment: AugmentArgs,
    /// Share of the read-outs' training clips that are perturbed (the rest stay clean).
    #[arg(long, value_parser = unit_interval_f64, value_name = "P")]
    pub aug_share: Option<f64>,
    /// At most this many perturbation kinds act on one clip (0: no limit) [default: 3].
    #[arg(long)]
    pub aug_max_kinds: Option<usize>,
    /// The running loudness normaliser (audio front-end) and per-frame luminance normaliser (before CORnet-Z).
    #[arg(long, value_enum, default_value_t = Switch::On)]
    pub normalise: Switch,
    /// With one sense missing, fusion sees the present sense's estimate in place of the missing one.
    #[arg(long, value_enum, default_value_t = Switch::On)]
    pub substitute: Switch,
    /// The sound's floor: onsets compared over the top 40 dB and no cortex drive under −13 dB, so a room's noise
    /// under the music is not heard; costs clean accuracy (E31 in docs/eval/experiments.md). Off: librosa's 80 dB
    /// onset range and a −40 dB drive floor, as the shipped model.
    #[arg(long, value_enum, default_value_t = Switch::Off)]
    pub sound_floor: Switch,
    /// The onset strength's range under the running mel maximum, dB (overrides --sound-floor's; 80 is librosa's).
    #[arg(long, value_name = "DB", value_parser = clap::value_parser!(u8).range(
        i64::from(*avf_bel::ONSET_RANGE_DB.start())..=i64::from(*avf_bel::ONSET_RANGE_DB.end())))]
    pub onset_range_db: Option<u8>,
    /// The band level giving the auditory cortex no drive, dB (overrides --sound-floor's; −40 as the shipped model).
    #[arg(long, value_name = "DB", allow_negative_numbers = true, value_parser = clap::value_parser!(i8).range(
        i64::from(*avf_bel::DRIVE_FLOOR_DB.start())..=i64::from(*avf_bel::DRIVE_FLOOR_DB.end())))]
    pub drive_floor_db: Option<i8>,
    /// The visual background: each frame aligned to a running background (time constant 500 ms, shifts up to
    /// 3 px) and replaced by its difference from it, cored at 3σ of the frame's noise, before CORnet-Z, so a static
    /// object in front of the stimulus adds little once learnt (E39b, E40, E41 in docs/eval/experiments.md; on in
    /// the shipped model since E41).
    #[arg(long, value_enum, default_value_t = Switch::On)]
    pub background: Switch,
    /// The background's gate: a pixel's difference passes by the mean over its 3×3 neighbourhood (beyond σ of the
    /// frame's noise, 3σ of a mean of nine) instead of by its own size, so an object too faint against a noisy
    /// sensor to pass pixel by pixel still shows (E43; format version 6). Off: each pixel alone (the model of E41).
    #[arg(long, value_enum, default_value_t = Switch::On)]
    pub background_gate: Switch,
    /// The background's rows levelled: before the background's search, each row of a frame is scaled to the
    /// background's light (the median over the row of background / frame, gains outside 0.6–1.7 dropped, the median
    /// over seven rows), so mains flicker through a rolling shutter or an exposure that hunts neither moves the
    /// alignment nor stays in the difference (E49, E50; format version 7). Off: the frames as the camera gives them.
    #[arg(long, value_enum, default_value_t = Switch::On)]
    pub background_level_rows: Switch,
    /// Fresh random clips per condition (clean and each perturbation at moderate severity) to validate the
    /// perception read-outs on (0: none).
    #[arg(long, default_value_t = 20)]
    pub validate: usize,
    /// Also fit the visual read-out on the untrained (seeded random) CORnet-Z features, for comparison.
    #[arg(long)]
    pub cornet_compare: bool,
    #[command(flatten)]
    pub fit: FitArgs,
}

/// A share in [0, 1] (f64).
fn unit_interval_f64(s: &str) -> Result<f64, String> {
    unit_interval(s).map(f64::from)
}

/// `avf-bel eval` options.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Folder of the study's data [default: $AVF_BEL_DATA, else ../shared/data].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// A weights file (default: the model built into the binary).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "eval")]
    pub out: PathBuf,
    /// Renders of each study stimulus.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub renders: u32,
    /// Clip length, seconds.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Worker threads [default: all cores].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// The training renders of each fold's fusion + BEL fit, as `train` makes them (the clean ones are --renders).
    #[command(flatten)]
    pub augment: AugmentArgs,
    /// Also evaluate the model under every named perturbation at three severities, and with one sense missing.
    #[arg(long)]
    pub robustness: bool,
    /// Renders of each stimulus per perturbation and severity (at most --renders).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub robustness_renders: u32,
    /// The perturbations of --robustness, comma-separated [default: all those training draws]: gain, white-noise,
    /// pink-noise, reverb, band-limit, clipping, talker, brightness, contrast, gamma, sensor-noise, blur, shake,
    /// translation, scale, clutter, occlusion, frame-rate, vignetting, ball-luma; and probes training never draws: hum,
    /// dropouts, roll, dead-pixels, frame-drops, passer-by, pan, room, room-sound, room-sight, pan-cut, bright,
    /// sustain, shade, floor, oblique, agc, auto-exposure, wide-angle, motion-blur, av-lag, flicker, sound-lag,
    /// flicker-120.
    #[arg(long, value_delimiter = ',', value_name = "KIND,...")]
    pub perturbations: Vec<String>,
    /// Also evaluate the probes (conditions training never draws: hum, dropouts, roll, dead-pixels, frame-drops,
    /// passer-by, pan: a robot turning its head, room: six trained kinds at once, and its sound and sight halves
    /// room-sound and room-sight, pan-cut: the head turn with a scene cut at its end, bright and sustain: another
    /// instrument, shade: the ball lit as a sphere, floor: another floor's luma, oblique: a screen watched from the
    /// side, agc: a microphone's automatic gain control, auto-exposure: a camera's exposure hunting, wide-angle: a
    /// wide-angle lens's barrel distortion, motion-blur: a shutter open for part of the frame interval, av-lag: the
    /// frames lagging the sound, flicker: lamps on the mains seen through a rolling shutter, sound-lag: the sound
    /// lagging the frames, flicker-120: the same lamps on a 60 Hz grid) at three severities each, into probes.md,
    /// probes.json and probes.png (the same folds as the rest).
    #[arg(long)]
    pub probes: bool,
    /// Which draw of the stimuli's renders: 0 (the default) renders every clip as `train` and the figures in
    /// docs/eval do; another number renders fresh clips of the same stimuli (other melodies, timings and
    /// perturbation draws, for fusion's training renders and the test renders alike), to see how far the figures
    /// move with the draw.
    #[arg(long, default_value_t = 0)]
    pub draw: u32,
    #[command(flatten)]
    pub fit: FitArgs,
}

/// `avf-bel export` options.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The weights file to convert.
    #[arg(long, value_name = "FILE")]
    pub weights: PathBuf,
    /// Output folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Folder of the study's data [default: $AVF_BEL_DATA, else ../shared/data].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Clean clips of random sliders on which the int8 file's CORnet-Z channels are balanced before quantising
    /// (activation ranges against the next block's weights; the same function in f32); 0 quantises as trained.
    #[arg(long, value_name = "N", default_value_t = avf_bel::model::INT8_CALIBRATION_CLIPS, value_parser = clap::value_parser!(u32).range(0..=4096))]
    pub int8_calibration_clips: u32,
}

#[cfg(not(feature = "train"))]
fn needs_train(command: &'static str) -> CliResult {
    Err(Failure::usage(
        command,
        format!(
            "`{command}` needs the `train` feature, which this binary was built without: \
             cargo build --release --features train (or cargo run --release --features train -- {command} ...)"
        ),
    ))
}

/// `avf-bel train`.
#[cfg(not(feature = "train"))]
pub fn run_train(_: TrainArgs) -> CliResult {
    needs_train("train")
}

/// `avf-bel eval`.
#[cfg(not(feature = "train"))]
pub fn run_eval(_: EvalArgs) -> CliResult {
    needs_train("eval")
}

/// `avf-bel export`.
#[cfg(not(feature = "train"))]
pub fn run_export(_: ExportArgs) -> CliResult {
    needs_train("export")
}

/// `avf-bel draws`.
#[cfg(not(feature = "train"))]
pub fn run_draws(_: DrawsArgs) -> CliResult {
    needs_train("draws")
}

#[cfg(feature = "train")]
pub use with_train::{run_draws, run_eval, run_export, run_train};

#[cfg(feature = "train")]
mod with_train {
    use super::*;
    use crate::cli::init::write_atomic;
    use avf_bel::model::{decode, encode, encode_trained, read_file, Precision};
    use avf_bel::train::augment::{Augment, Kind};
    use avf_bel::train::data::{self, StimulusRow};
    use avf_bel::train::draws::{self as draws, Draw};
    use avf_bel::train::fuse::FitOptions;
    use avf_bel::train::plot::{self, Axes, Matrix};
    use avf_bel::train::run::{
        consensus_noise_mae, consensus_noise_stimulus_mae, evaluate, mae_interval, perceive, robustness,
        robustness_json, robustness_markdown, robustness_series, stimulus_profile_mae, train, training_stimulus_jobs,
        DecayChoice, EmotionError, FuseShape, Metrics, Perceived, RenderSet, TrainOptions,
    };
    use avf_bel::weights::TensorId;
    use avf_bel::{Modalities, ModelConfig, Pipeline, Weights, EMOTIONS};
    use serde_json::json;
    use std::path::Path;

    /// Bootstrap resamples for the evaluation's MAE intervals.
    const BOOTSTRAP_DRAWS: usize = 10000;

    fn threads_default() -> usize {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    }

    fn fit_options(a: &FitArgs) -> FitOptions {
        let d = FitOptions::default();
        FitOptions {
            steps: a.steps.unwrap_or(d.steps),
            lr: a.lr.unwrap_or(d.lr),
            decay: a.decay.unwrap_or(d.decay),
            seed: a.fit_seed.unwrap_or(d.seed),
            dropout: a.dropout.unwrap_or(d.dropout),
            cv_folds: a.cv_folds.unwrap_or(d.cv_folds),
        }
    }

    fn augment(command: &'static str, a: &AugmentArgs) -> Result<Augment, Failure> {
        Augment::from_spec(&a.augment).map_err(|e| Failure::usage(command, format!("--augment: {e}")))
    }

    /// The study's data folder for `command` (a runtime failure that says where to get the data when it is missing).
    fn data_dir(data: Option<&Path>) -> Result<PathBuf, Failure> {
        avf_bel::data::find_data(data).map_err(|e| Failure::Runtime(e.to_string()))
    }

    /// The optimiser step of point `i` of a fusion + BEL loss curve (`FuseParams::fit` records step 1, then every
    /// 10th step).
    fn fuse_step(i: usize) -> f64 {
        if i == 0 {
            1.0
        } else {
            10.0 * i as f64
        }
    }

    fn loss_png(title: &str, curves: &[(&str, &[f32])]) -> Result<Vec<u8>, Failure> {
        let series: Vec<(&str, Vec<(f64, f64)>)> = curves
            .iter()
            .map(|(n, c)| (*n, c.iter().enumerate().map(|(i, &v)| (fuse_step(i), f64::from(v))).collect()))
            .collect();
        let axes = Axes { title, x: "Adam step (full batch)", y: "training MSE (intensity², log scale)" };
        plot::lines(axes, true, &series).map_err(|e| Failure::Runtime(e.to_string()))
    }

    /// `avf-bel train --data DIR --out DIR [...]`.
    pub fn run_train(a: TrainArgs) -> CliResult {
        let data_dir = data_dir(a.data.as_deref())?;
        let out = a.out;
        let mut config = ModelConfig::from(a.config);
        if a.normalise == Switch::Off {
            config.input.loudness_tau_ms = 0;
            config.input.luma = false;
        }
        if a.substitute == Switch::Off {
            config.input.substitute = false;
        }
        if a.sound_floor == Switch::On {
            (config.input.onset_range_db, config.input.drive_floor_db) = avf_bel::SOUND_FLOOR;
        }
        if let Some(r) = a.onset_range_db {
            config.input.onset_range_db = r;
        }
        if let Some(f) = a.drive_floor_db {
            config.input.drive_floor_db = f;
        }
        config.input.background_tau_ms = match a.background {
            Switch::On => avf_bel::BACKGROUND_TAU_MS,
            Switch::Off => 0,
        };
        config.input.background_gate = a.background == Switch::On && a.background_gate == Switch::On;
        config.input.background_level_rows = a.background == Switch::On && a.background_level_rows == Switch::On;
        let d = Augment::default();
        let augment_spec = a.augment.augment.clone();
        let opts = TrainOptions {
            config,
            random_clips: a.clips as usize,
            renders: a.renders as usize,
            seconds: a.seconds,
            threads: a.threads.map_or_else(threads_default, |t| t as usize),
            seed: a.seed,
            fuse: fit_options(&a.fit),
            cornet_epochs: a.cornet_epochs,
            cornet_clips: a.cornet_clips,
            augment: Augment {
                share: a.aug_share.unwrap_or(d.share),
                max_kinds: a.aug_max_kinds.unwrap_or(d.max_kinds),
                ..augment("train", &a.augment)?
            },
            aug_renders: a.augment.aug_renders as usize,
            validate: a.validate,
            compare_random: a.cornet_compare,
        };
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let t0 = std::time::Instant::now();
        let (tensors, rep) = train(&data_dir, &opts)?;
        let bytes = encode_trained(&opts.config, &tensors, Precision::F32).map_err(|e| e.to_string())?;
        let model = out.join("model.avfw");
        write_atomic(&model, &bytes)?;
        write_atomic(
            &out.join("train_loss.png"),
            &loss_png(
                "Training: fusion + BEL loss on the study's stimuli",
                &[("fused (audio + video)", &rep.fuse_curve)],
            )?,
        )?;
        let dims = ["bpm", "jitter", "consonance", "bigsmall", "updown"];
        let per_dim =
            |r: [f64; 5]| dims.iter().zip(r).map(|(d, v)| (d.to_string(), json!(v))).collect::<serde_json::Map<_, _>>();
        let mut r2 = serde_json::Map::new();
        r2.insert("visual".into(), per_dim(rep.visual_r2).into());
        if let Some(r) = rep.visual_r2_random {
            r2.insert("visual_random_features".into(), per_dim(r).into());
        }
        r2.insert("audio".into(), per_dim(rep.audio_r2).into());
        // R² of the held-out clips that stayed clean and of those that were perturbed (null: none of that kind).
        let per_dim_or_null = |r: [f64; 5]| {
            dims.iter()
                .zip(r)
                .map(|(d, v)| (d.to_string(), if v.is_finite() { json!(v) } else { serde_json::Value::Null }))
                .collect::<serde_json::Map<_, _>>()
        };
        for (what, (v, au)) in [("clean", rep.clean_r2), ("perturbed", rep.perturbed_r2)] {
            r2.insert(format!("visual_{what}"), per_dim_or_null(v).into());
            r2.insert(format!("audio_{what}"), per_dim_or_null(au).into());
        }
        let validation: serde_json::Map<String, serde_json::Value> =
            rep.validation.iter().map(|(n, v, au)| (n.to_string(), json!({"visual": v, "audio": au}))).collect();
        let emotion = |rows: &[(&str, EmotionError)]| -> serde_json::Map<String, serde_json::Value> {
            rows.iter()
                .map(|(n, e)| (n.to_string(), json!({"fused": e.fused, "audio": e.audio, "visual": e.visual})))
                .collect()
        };
        let json = json!({
            "perception_r2": r2,
            "cornet_epochs": opts.cornet_epochs,
            "cornet_clips": opts.cornet_clips,
            "cornet_loss": rep.cornet_curve,
            "fusion_bel_mse": rep.fuse_loss,
            "fusion_bel_loss_first": rep.fuse_curve.first(),
            "clips": opts.random_clips,
            "renders": opts.renders,
            "seconds": t0.elapsed().as_secs_f64(),
            "validation_mse": validation,
            "validation_emotion_mae": emotion(&rep.validation_emotion),
            "validation_slider_emotion_mae": emotion(&rep.validation_slider_emotion),
            "fusion_decay": rep.fuse_decay.decay,
            "fusion_decay_cv_mae": decay_scores(&rep.fuse_decay),
            "cv_folds": opts.fuse.cv_folds,
            "augment": augment_spec,
            "aug_share": opts.augment.share,
            "aug_max_kinds": opts.augment.max_kinds,
            "aug_renders": opts.aug_renders,
            "dropout": opts.fuse.dropout,
            "input": {
                "loudness_tau_ms": opts.config.input.loudness_tau_ms,
                "luma": opts.config.input.luma,
                "substitute": opts.config.input.substitute,
                "onset_range_db": opts.config.input.onset_range_db,
                "drive_floor_db": opts.config.input.drive_floor_db,
                "background_tau_ms": opts.config.input.background_tau_ms,
                "background_gate": opts.config.input.background_gate,
                "background_level_rows": opts.config.input.background_level_rows,
            },
        });
        let json = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
        write_atomic(&out.join("train.json"), json.as_bytes())?;
        println!("held-out R² of the perception read-outs (random slider settings, never the ratings):");
        println!("  {:<8} {:>8} {:>8} {:>10} {:>8} {:>8}", "", "bpm", "jitter", "consonance", "bigsmall", "updown");
        if let Some(r) = rep.visual_r2_random {
            println!(
                "  {:<8} {:>8.3} {:>8.3} {:>10.3} {:>8.3} {:>8.3}   (CORnet-Z untrained: seeded random features)",
                "visual", r[0], r[1], r[2], r[3], r[4]
            );
            // The curve starts with the first batch under the initial head, then holds one mean loss per epoch.
            let epochs: Vec<String> = rep.cornet_curve.iter().skip(1).map(|l| format!("{l:.4}")).collect();
            println!(
                "  CORnet-Z trained {} epochs on {} clips (Huber loss per epoch: {}), then:",
                opts.cornet_epochs,
                opts.cornet_clips,
                epochs.join(", ")
            );
        }
        for (name, r) in [("visual", rep.visual_r2), ("audio", rep.audio_r2)] {
            println!("  {name:<8} {:>8.3} {:>8.3} {:>10.3} {:>8.3} {:>8.3}", r[0], r[1], r[2], r[3], r[4]);
        }
        for (what, (v, au)) in [("clean", rep.clean_r2), ("perturbed", rep.perturbed_r2)] {
            for (name, r) in [("visual", v), ("audio", au)] {
                println!(
                    "  {name:<8} {:>8.3} {:>8.3} {:>10.3} {:>8.3} {:>8.3}   (held-out {what} clips only)",
                    r[0], r[1], r[2], r[3], r[4]
                );
            }
        }
        if !rep.validation.is_empty() {
            println!("read-out mean squared error on fresh random clips (validation; sliders 0..1):");
            let (mut sv, mut sa, mut nv, mut na) = (0.0, 0.0, 0, 0);
            for (name, v, au) in &rep.validation {
                println!("  {name:<14} visual {v:.4}  audio {au:.4}");
                match Kind::from_name(name) {
                    Some(k) if k.is_audio() => (sa, na) = (sa + au, na + 1),
                    Some(_) => (sv, nv) = (sv + v, nv + 1),
                    None => {}
                }
            }
            println!(
                "  mean over the perturbations of the sense they touch: visual {:.4}, audio {:.4}",
                sv / nv.max(1) as f64,
                sa / na.max(1) as f64
            );
        }
        if !rep.validation_emotion.is_empty() {
            println!(
                "the same clips weighed as the emotions weigh them: fusion + BEL on the estimates against on the true \
                 sliders, mean |Δemotion| (fused; audio perceived, sight exact; sight perceived, audio exact):"
            );
            for (name, e) in &rep.validation_emotion {
                println!("  {name:<14} fused {:.4}  audio {:.4}  visual {:.4}", e.fused, e.audio, e.visual);
            }
            println!(
                "… and against a fixed yardstick, fusion + BEL fitted on the stimuli's true sliders (the same for every \
                 model, so comparable between trainings):"
            );
            for (name, e) in &rep.validation_slider_emotion {
                println!("  {name:<14} fused {:.4}  audio {:.4}  visual {:.4}", e.fused, e.audio, e.visual);
            }
        }
        println!(
            "fusion + BEL: MSE {:.5} → {:.5} over {} steps (weight decay {}{})",
            rep.fuse_curve.first().copied().unwrap_or(f32::NAN),
            rep.fuse_loss,
            opts.fuse.steps,
            rep.fuse_decay.decay,
            match rep.fuse_decay.margin() {
                Some(m) =>
                    format!(", chosen by cross-validation over stimuli (the runner-up scored {:.1} % worse)", 100.0 * m),
                None if rep.fuse_decay.chosen() => ", chosen by cross-validation over stimuli".into(),
                None => String::new(),
            }
        );
        println!("wrote {} ({} bytes) in {:.0} s", model.display(), bytes.len(), t0.elapsed().as_secs_f64());
        Ok(())
    }

    /// Each stimulus' renders as perception read them (`per` consecutive clips each, stimulus-major): per clip the
    /// audio read-out's five normalised slider estimates, then the visual one's.
    fn read_outs(rows: &[StimulusRow], perceived: &[Perceived], per: usize) -> serde_json::Value {
        let stimuli: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .zip(perceived.chunks(per))
            .map(|(r, clips)| {
                let clips: Vec<Vec<f32>> = clips.iter().map(|c| c.xa.iter().chain(&c.xv).copied().collect()).collect();
                (r.name.clone(), json!(clips))
            })
            .collect();
        stimuli.into()
    }

    fn metrics_table(m: &[(&str, Metrics)]) -> String {
        let mut s = String::from(
        "| model | r angry | r happy | r peaceful | r sad | r scared | mean r | profile MAE | EPP MAE | EPP r | EPP CCC |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
        for (name, x) in m {
            s += &format!(
                "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | **{:.3}** | **{:.4}** | {:.4} | {:.2} | {:.2} |\n",
                x.r[0], x.r[1], x.r[2], x.r[3], x.r[4], x.mean_r, x.profile_mae, x.epp_mae, x.epp_r, x.epp_ccc
            );
        }
        s
    }

    /// How the folds' fusion weight decays were set, e.g. "… 3-fold cross-validation over that fold's training
    /// stimuli: 1e-3 in 20 folds, 3e-4 in 10 …", the most frequent first (a tie: the larger decay first).
    /// `cv_folds` is `Some(k)` when the folds chose by k-fold cross-validation, `None` when `--decay` was used.
    pub(super) fn decay_sentence(decays: impl Iterator<Item = f32>, cv_folds: Option<usize>) -> String {
        let mut counts: Vec<(f32, usize)> = Vec::new();
        for d in decays {
            match counts.iter_mut().find(|(v, _)| *v == d) {
                Some((_, n)) => *n += 1,
                None => counts.push((d, 1)),
            }
        }
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.total_cmp(&a.0)));
        let list: Vec<String> =
            counts.iter().map(|(d, n)| format!("{d:e} in {n} fold{}", if *n == 1 { "" } else { "s" })).collect();
        if let Some(cv_folds) = cv_folds {
            format!(
                "The fused model's weight decay, chosen in each fold by {cv_folds}-fold cross-validation over that \
                 fold's training stimuli: {} (per held-out stimulus in eval.json).",
                list.join(", ")
            )
        } else {
            format!("The fused model's weight decay, as --decay set it: {}.", list.join(", "))
        }
    }

    /// A decay choice's cross-validated MAE per candidate, keyed by the decay as `eval.md` prints it (`{}` when the
    /// decay was given).
    pub(super) fn decay_scores(c: &DecayChoice) -> serde_json::Value {
        c.cv_mae.iter().map(|(d, e)| (format!("{d:e}"), json!(e))).collect::<serde_json::Map<_, _>>().into()
    }

    /// How clear the folds' choices of decay were: in how many the runner-up scored within 1 % of the chosen
    /// candidate, and the median margin. Empty when no fold chose.
    pub(super) fn margin_sentence(choices: &[&DecayChoice]) -> String {
        let mut m: Vec<f64> = choices.iter().filter_map(|c| c.margin()).collect();
        if m.is_empty() {
            return String::new();
        }
        m.sort_by(f64::total_cmp);
        let close = m.iter().filter(|&&v| v < 0.01).count();
        format!(
            " The runner-up's cross-validated MAE was within 1 % of the chosen decay's in {close} of {} folds (median \
             margin {:.1} %): near-tied choices, which small changes in perception can flip.",
            m.len(),
            100.0 * m[m.len() / 2]
        )
    }

    /// Where the fused model's error sits: its profile MAE and the consensus' noise floor per kind of stimulus, and
    /// the stimuli furthest above their own floor.
    pub(super) fn kind_sentence(rows: &[StimulusRow], mae: &[f64]) -> String {
        let mut parts = Vec::new();
        for (kind, plural) in [("prototype", "prototypes"), ("mix", "mixes"), ("special", "specials")] {
            let of: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].kind() == kind).collect();
            if of.is_empty() {
                continue;
            }
            let mean = |f: &dyn Fn(usize) -> f64| of.iter().map(|&i| f(i)).sum::<f64>() / of.len() as f64;
            parts.push(format!(
                "{plural} ({}) {:.4} against a floor of {:.4}",
                of.len(),
                mean(&|i| mae[i]),
                mean(&|i| consensus_noise_stimulus_mae(&rows[i]))
            ));
        }
        let mut excess: Vec<(f64, usize)> =
            (0..rows.len()).map(|i| (mae[i] - consensus_noise_stimulus_mae(&rows[i]), i)).collect();
        excess.sort_by(|a, b| b.0.total_cmp(&a.0));
        let worst: Vec<String> =
            excess.iter().take(5).map(|&(x, i)| format!("{} ({}, {:+.4})", rows[i].name, rows[i].kind(), x)).collect();
        format!(
            "The fused model's profile MAE by kind of stimulus: {}. Furthest above their own floor: {} (every \
             stimulus in eval.json, `per_stimulus`).",
            parts.join("; "),
            worst.join(", ")
        )
    }

    /// `avf-bel eval --data DIR --weights W [--renders K] [--out DIR]`.
    pub fn run_eval(a: EvalArgs) -> CliResult {
        let data_dir = data_dir(a.data.as_deref())?;
        let (out, renders, seconds) = (a.out, a.renders as usize, a.seconds);
        let threads = a.threads.map_or_else(threads_default, |t| t as usize);
        let fit = fit_options(&a.fit);
        let aug_renders = a.augment.aug_renders as usize;
        let augment = augment("eval", &a.augment)?;
        let robust_renders = (a.robustness_renders as usize).min(renders);
        let kinds: Vec<Kind> = if a.perturbations.is_empty() {
            Kind::ALL.to_vec()
        } else {
            a.perturbations
                .iter()
                .map(|k| {
                    Kind::from_name(k.trim()).ok_or_else(|| {
                        let known: Vec<&str> = Kind::ALL.iter().chain(&Kind::PROBES).map(|k| k.name()).collect();
                        Failure::usage("eval", format!("unknown perturbation `{k}` (known: {})", known.join(", ")))
                    })
                })
                .collect::<Result<_, _>>()?
        };
        let buf;
        let bytes: &[u8] = match &a.weights {
            Some(p) => {
                buf = read_file(p).map_err(|e| format!("{}: {e}", p.display()))?;
                buf.as_bytes()
            }
            None => crate::cli::run::default_weights(),
        };
        let w = Weights::parse(bytes).map_err(|e| e.to_string())?;
        let cfg = *w.config();
        let rows = data::load(&data_dir)?;
        // Leave-one-out with its nested choices needs a few stimuli in every fold (the baselines' fits index them).
        if rows.len() < 3 {
            return Err(format!("{}: eval needs at least 3 stimuli, found {}", data_dir.display(), rows.len()).into());
        }
        // Training renders as `train` makes them (clean, then perturbed); the clean ones are also the test renders.
        let per = renders + aug_renders;
        let jobs = training_stimulus_jobs(&rows, renders, aug_renders, a.draw, &augment);
        let perceived = perceive(bytes, &jobs, seconds, threads, "stimulus renders")?;
        let clean: Vec<_> = perceived.chunks(per).flat_map(|c| c[..renders].to_vec()).collect();
        let (rep, folds) = evaluate(
            &rows,
            RenderSet { perceived: &perceived, per },
            RenderSet { perceived: &clean, per: renders },
            &fit,
            FuseShape::of(&cfg),
            threads,
        );
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let table = metrics_table(&rep.metrics);
        // The evaluation's resolution: bootstrap intervals over stimuli of each model's profile MAE.
        let intervals: Vec<(f64, f64)> =
            rep.preds.iter().map(|(_, p)| mae_interval(p, &rep.truth, BOOTSTRAP_DRAWS, 0.95, 0xB007)).collect();
        let (lo, hi) = intervals[0];
        let floor = consensus_noise_mae(&rows);
        // Each fold's weight decay as its nested cross-validation chose it: the fit's one discrete choice, which
        // last-bit differences in perception can flip (experiments E12, E13).
        // (Each fold fits the other stimuli.)
        let chosen = fit.cross_validates(rows.len() - 1).then_some(fit.cv_folds);
        let decays = decay_sentence(folds.iter().map(|f| f.decay.decay), chosen)
            + &margin_sentence(&folds.iter().map(|f| &f.decay).collect::<Vec<_>>());
        let fused_mae = stimulus_profile_mae(&rep.preds[0].1, &rep.truth);
        let by_kind = kind_sentence(&rows, &fused_mae);
        let draw_note = if a.draw == 0 {
            String::new()
        } else {
            format!(" (draw {} of the renders: fresh clips, `--draw`)", a.draw)
        };
        let md = format!(
            "Leave-one-stimulus-out over {} stimuli{}: fusion + BEL refit per fold on {renders} clean and {aug_renders} \
             perturbed renders of each other stimulus (modality dropout {}), perception fixed; each held-out stimulus \
             predicted as the mean over its {renders} clean renders. Targets: consensus (participant-mean) profiles, \
             mean of music and animation ratings / 127.\n\n{table}\nThe fused model's profile MAE {:.4} has a 95 % \
             bootstrap interval over the stimuli of [{lo:.4}, {hi:.4}] ({BOOTSTRAP_DRAWS} resamples of the {} \
             stimuli; every model's interval is in eval.json): how precisely this many stimuli determine an MAE. \
             The consensus is itself a mean over the raters: a model that knew every stimulus' population-mean \
             profile exactly would still be expected to score {floor:.4} against it (the consensus' sampling error, \
             from the raters' spread), a floor under every row.\n\n{by_kind}\n\n{decays}\n",
            rows.len(),
            draw_note,
            fit.dropout,
            rep.metrics[0].1.profile_mae,
            rows.len(),
        );
        write_atomic(&out.join("eval.md"), md.as_bytes())?;
        let mut json: serde_json::Map<String, serde_json::Value> = rep
            .metrics
            .iter()
            .zip(&intervals)
            .map(|((n, m), (lo, hi))| {
                let v = json!({
                    "r": m.r, "mean_r": m.mean_r, "profile_mae": m.profile_mae,
                    "profile_mae_ci95": [lo, hi],
                    "epp_mae": m.epp_mae, "epp_r": m.epp_r, "epp_ccc": m.epp_ccc,
                });
                (n.to_string(), v)
            })
            .collect();
        json.insert("consensus_noise_profile_mae".into(), json!(floor));
        json.insert("draw".into(), json!(a.draw));
        let per_stimulus: serde_json::Map<String, serde_json::Value> =
            rep.names.iter().zip(&folds).map(|(name, f)| (name.clone(), json!(f.decay.decay))).collect();
        json.insert("fused_fold_decay".into(), per_stimulus.into());
        let per_stimulus: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .zip(&folds)
            .zip(&fused_mae)
            .zip(rep.preds[0].1.iter().zip(&rep.truth))
            .enumerate()
            .map(|(i, (((r, f), mae), (pred, truth)))| {
                // Every row's held-out prediction of this stimulus, so that combinations of the models (E20 in
                // docs/eval/experiments.md) can be scored from the file without refitting.
                let models: serde_json::Map<String, serde_json::Value> =
                    rep.preds.iter().map(|(name, p)| (name.to_string(), json!(p[i]))).collect();
                let v = json!({
                    "kind": r.kind(),
                    "fused_profile_mae": mae,
                    "fused_profile": pred,
                    "consensus_profile": truth,
                    "consensus_noise_mae": consensus_noise_stimulus_mae(r),
                    "fold_decay_cv_mae": decay_scores(&f.decay),
                    "model_profiles": models,
                });
                (r.name.clone(), v)
            })
            .collect();
        json.insert("per_stimulus".into(), per_stimulus.into());
        let json = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
        write_atomic(&out.join("eval.json"), json.as_bytes())?;
        // Every render's read-outs, so that other functions of what the model perceives can be fitted and scored
        // from the file (E53 in docs/eval/experiments.md). Compact: (renders + aug-renders) × 10 numbers per stimulus.
        let stimuli = read_outs(&rows, &perceived, per);
        let seen = json!({
            "draw": a.draw,
            "clean_renders": renders,
            "perturbed_renders": aug_renders,
            "features": "per render, clean first: the audio read-out's five slider estimates (0-1), then the visual one's",
            "sliders": avf_bel::stimuli::Slider::ALL.map(|s| s.name()),
            "stimuli": stimuli,
        });
        write_atomic(&out.join("perceived.json"), seen.to_string().as_bytes())?;
        let fig = |e: avf_bel::plot::PlotError| Failure::Runtime(e.to_string());
        let fused = &rep.preds[0].1;
        let series: Vec<(&str, Vec<(f64, f64)>)> =
            (0..5).map(|e| (EMOTIONS[e], rep.truth.iter().zip(fused).map(|(t, p)| (t[e], p[e])).collect())).collect();
        let axes = Axes {
            title: "Fused model, leave-one-stimulus-out: predicted against consensus intensity",
            x: "consensus rating / 127",
            y: "predicted intensity (0–1)",
        };
        let points = format!("stimulus (mean of {renders} renders)");
        write_atomic(&out.join("pred_vs_consensus.png"), &plot::scatter_panels(axes, &points, &series).map_err(fig)?)?;
        // The fold's curves, in the order `evaluate` fits them.
        let names = ["fused (audio + video)", "audio only", "video only"];
        let curves: Vec<(&str, &[f32])> = names.iter().zip(&rep.curves).map(|(n, c)| (*n, c.as_slice())).collect();
        write_atomic(&out.join("loss_curves.png"), &loss_png("Fusion + BEL training loss, first fold", &curves)?)?;
        let k = cfg.fusion.sensory as usize;
        let get = |t: TensorId| w.require_f32(t.name(), &[5, k as u32]).map(|v| v.to_vec()).unwrap_or_default();
        let (amygdala, orbitofrontal) = (get(TensorId::BelAmygdala), get(TensorId::BelOrbitofrontal));
        let mats = [
            Matrix { caption: "amygdala (excitatory)", rows: 5, cols: k, values: &amygdala },
            Matrix { caption: "orbitofrontal (inhibitory)", rows: 5, cols: k, values: &orbitofrontal },
        ];
        let title = "BEL weights of the model: emotion × sensory channel";
        write_atomic(
            &out.join("bel_weights.png"),
            &plot::heatmaps(title, &EMOTIONS, "sensory channel (index)", &mats).map_err(fig)?,
        )?;
        println!("{md}");
        println!(
            "wrote {}/{{eval.md, eval.json, perceived.json, pred_vs_consensus.png, loss_curves.png, bel_weights.png}}",
            out.display()
        );
        let runs = [
            (a.robustness, &kinds[..], "robustness", "Robustness", ""),
            (
                a.probes,
                &Kind::PROBES[..],
                "probes",
                "Probes",
                " Training never draws these conditions: they measure how far its invariance reaches.",
            ),
        ];
        for (on, kinds, stem, name, note) in runs {
            if !on {
                continue;
            }
            let clean_set = RenderSet { perceived: &clean, per: renders };
            let r = robustness(bytes, &rows, &folds, kinds, robust_renders, a.draw, seconds, threads, clean_set)?;
            let clean_all = &rep.metrics[0].1;
            let single: Vec<(&str, Metrics)> = rep.metrics[1..3].iter().map(|(n, m)| (*n, m.clone())).collect();
            let table = robustness_markdown(&r.clean, clean_all, &single, &r.rows);
            let md = format!(
                "{name}, leave-one-stimulus-out over {} stimuli{draw_note}: the fused model (fusion + BEL refit per fold as \
                 above) on {robust_renders} renders of each held-out stimulus under one perturbation at a time (render \
                 seeds as the clean ones, so only the perturbation differs); profile MAE against the consensus; \
                 `clean` is the same renders unperturbed. The last rows are the same model on all {renders} clean \
                 test renders, with both senses and with one missing.{note}\n\n{table}",
                rows.len(),
            );
            write_atomic(&out.join(format!("{stem}.md")), md.as_bytes())?;
            write_atomic(
                &out.join(format!("{stem}.json")),
                robustness_json(&r.clean, clean_all, &single, &r.rows).as_bytes(),
            )?;
            // The held-out renders' read-outs under every row's perturbation, compact (E53: other functions of the
            // read-outs scored under the same conditions as the model), and the model's own predictions (E54: blends).
            let named = |pred: &[[f64; 5]]| -> serde_json::Value {
                rows.iter().zip(pred).map(|(r, p)| (r.name.clone(), json!(p))).collect::<serde_json::Map<_, _>>().into()
            };
            let per_row: Vec<serde_json::Value> = r
                .rows
                .iter()
                .zip(&r.perceived)
                .map(|(row, seen)| {
                    json!({
                        "kind": row.kind.name(),
                        "severity": row.severity,
                        "level": row.level,
                        "stimuli": read_outs(&rows, seen, robust_renders),
                        "fused": named(&row.predictions),
                    })
                })
                .collect();
            let seen = json!({
                "draw": a.draw,
                "renders": robust_renders,
                "clean_fused": named(&r.clean_predictions),
                "rows": per_row,
            });
            write_atomic(&out.join(format!("{stem}_perceived.json")), seen.to_string().as_bytes())?;
            let series = robustness_series(&r.clean, &r.rows);
            let title = format!("{name}: fused profile MAE against perturbation severity (leave-one-stimulus-out)");
            write_atomic(&out.join(format!("{stem}.png")), &plot::robustness_panels(&title, &series).map_err(fig)?)?;
            println!("{md}");
            println!("wrote {}/{{{stem}.md, {stem}.json, {stem}.png, {stem}_perceived.json}}", out.display());
        }
        Ok(())
    }

    /// `avf-bel draws`: every figure of several draws' runs side by side, and the means.
    pub fn run_draws(a: DrawsArgs) -> CliResult {
        let folders: Vec<Vec<PathBuf>> =
            a.draws.iter().map(|d| d.split(',').filter(|s| !s.is_empty()).map(PathBuf::from).collect()).collect();
        if folders.iter().any(Vec::is_empty) {
            return Err(Failure::usage("draws", "each --draw names at least one eval --out folder"));
        }
        let results = folders
            .iter()
            .enumerate()
            .map(|(i, f)| Draw::read(i, f))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failure::Runtime(e.to_string()))?;
        let command = std::iter::once("avf-bel draws".to_string())
            .chain(a.draws.iter().map(|d| format!("--draw {d}")))
            .collect::<Vec<_>>()
            .join(" ");
        let md = draws::markdown(&results, &draws::column_names(&folders), &command)
            .map_err(|e| Failure::Runtime(e.to_string()))?;
        match &a.out {
            Some(out) => {
                write_atomic(out, md.as_bytes())?;
                println!("wrote {} ({} draws)", out.display(), results.len());
            }
            None => print!("{md}"),
        }
        Ok(())
    }

    /// `avf-bel export --weights W --out DIR`: f32, f16 and int8 files and the int8-vs-f32 difference on the stimuli.
    pub fn run_export(a: ExportArgs) -> CliResult {
        let data_dir = data_dir(a.data.as_deref())?;
        let (out, weights) = (a.out, a.weights.display().to_string());
        let buf = read_file(&a.weights).map_err(|e| format!("{weights}: {e}"))?;
        let w = Weights::parse(buf.as_bytes()).map_err(|e| format!("{weights}: {e}"))?;
        let cfg = *w.config();
        let tensors = decode(&w);
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let clips = a.int8_calibration_clips as usize;
        let (balanced, choice) = avf_bel::train::quant::for_int8(&cfg, &tensors, clips)?;
        if clips > 0 {
            let tried: Vec<String> = choice.tried.iter().map(|(s, e)| format!("{s}: {e:.2e}")).collect();
            println!(
                "int8: CORnet-Z's channels balanced at strength {} on {clips} calibration clips (visual read-out MSE \
                 against f32 on {} more: {})",
                choice.strength,
                clips.div_ceil(2),
                tried.join(", ")
            );
        }
        let mut files = Vec::new();
        for (p, name) in [
            (Precision::F32, "model-f32.avfw"),
            (Precision::F16, "model-f16.avfw"),
            (Precision::Int8, "model-int8.avfw"),
        ] {
            let t = if p == Precision::Int8 { &balanced } else { &tensors };
            // An export keeps its source's mark: only a file that says it is seeded stays marked untrained.
            let b = if w.trained() == Some(false) { encode(&cfg, t, p) } else { encode_trained(&cfg, t, p) }
                .map_err(|e| e.to_string())?;
            write_atomic(&out.join(name), &b)?;
            println!("wrote {}: {} bytes", out.join(name).display(), b.len());
            files.push(avf_bel::weights::writer::AlignedBytes::new(&b));
        }
        // int8 and f16 against f32 on every study stimulus (seed 0 render).
        let rows = data::load(&data_dir)?;
        let mut worst = [(0.0f32, 0.0f32); 2];
        let mut outs: Vec<Vec<avf_bel::Output>> = Vec::new();
        for f in &files {
            let wf = Weights::parse(f.as_bytes()).map_err(|e| e.to_string())?;
            let mut scratch = vec![0.0f32; Pipeline::scratch_len(&wf)];
            let mut p = Pipeline::new(&wf, &mut scratch).map_err(|e| e.to_string())?;
            let mut v = Vec::new();
            for r in &rows {
                let opts = avf_bel::stimuli::RenderOptions::for_model(&cfg, 3.0, 1000 * r.id as u64);
                let s = avf_bel::stimuli::render(&r.params, &opts).map_err(|e| e.to_string())?;
                p.push_audio(&s.audio).map_err(|e| e.to_string())?;
                for fr in s.frames.chunks_exact(opts.size * opts.size) {
                    p.push_frame(fr).map_err(|e| e.to_string())?;
                }
                v.push(p.infer(Modalities::BOTH).map_err(|e| e.to_string())?);
            }
            outs.push(v);
        }
        for (k, other) in [1usize, 2].iter().enumerate() {
            for (a, b) in outs[0].iter().zip(&outs[*other]) {
                worst[k].0 = worst[k].0.max((a.epp - b.epp).abs());
                for e in 0..5 {
                    worst[k].1 = worst[k].1.max((a.emotions[e] - b.emotions[e]).abs());
                }
            }
        }
        println!("on the {} study stimuli, against f32:", rows.len());
        println!("  f16:  max |ΔEPP| {:.5}, max |Δemotion| {:.5}", worst[0].0, worst[0].1);
        println!("  int8: max |ΔEPP| {:.5}, max |Δemotion| {:.5}", worst[1].0, worst[1].1);
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::{decay_scores, decay_sentence, kind_sentence, margin_sentence};
        use avf_bel::stimuli::Params;
        use avf_bel::train::data::StimulusRow;
        use avf_bel::train::run::DecayChoice;

        #[test]
        fn the_decay_sentence_counts_each_choice_most_frequent_first() {
            let folds = [3e-4f32, 1e-3, 1e-3, 1e-4, 3e-4, 1e-3];
            let s = decay_sentence(folds.into_iter(), Some(3));
            assert!(s.contains("3-fold cross-validation"), "{s}");
            assert!(s.contains(": 1e-3 in 3 folds, 3e-4 in 2 folds, 1e-4 in 1 fold (per"), "{s}");
            // A tie puts the larger decay first; a fixed decay does not claim a choice.
            let s = decay_sentence([1e-4f32, 3e-5].into_iter(), None);
            assert_eq!(s, "The fused model's weight decay, as --decay set it: 1e-4 in 1 fold, 3e-5 in 1 fold.");
        }

        fn choice(decay: f32, scores: &[f64]) -> DecayChoice {
            let cv_mae = [3e-5f32, 1e-4, 3e-4, 1e-3].into_iter().zip(scores.iter().copied()).collect();
            DecayChoice { decay, cv_mae }
        }

        #[test]
        fn the_margin_sentence_counts_near_ties_among_the_folds_that_chose() {
            // Margins 0.5 %, 20 %, 0.9 %; a given decay has none and is left out of the count.
            let folds = [
                choice(1e-4, &[0.0410, 0.0400, 0.0402, 0.0500]),
                choice(1e-3, &[0.0700, 0.0650, 0.0600, 0.0500]),
                choice(3e-5, &[0.0440, 0.0444, 0.0460, 0.0480]),
                DecayChoice::given(1e-3),
            ];
            let refs: Vec<&DecayChoice> = folds.iter().collect();
            let s = margin_sentence(&refs);
            assert!(s.contains("within 1 % of the chosen decay's in 2 of 3 folds (median margin 0.9 %)"), "{s}");
            assert_eq!(margin_sentence(&[&DecayChoice::given(1e-3)]), "");
            assert_eq!(decay_scores(&folds[3]).to_string(), "{}");
            let json = decay_scores(&folds[0]);
            assert_eq!(json["3e-4"], 0.0402);
            assert_eq!(json.as_object().map(|m| m.len()), Some(4));
        }

        #[test]
        fn the_kind_sentence_groups_stimuli_and_names_the_worst_excess() {
            let row = |name: &str, se: f64| StimulusRow {
                id: 0,
                name: name.into(),
                params: Params { bpm: 100.0, jitter: 0.0, consonance: 0.0, bigsmall: 0.0, updown: 0.0 },
                music: [0.0; 5],
                animation: [0.0; 5],
                fused_se: [se; 5],
            };
            let rows = [row("sad", 0.0), row("happy_sad_50", 0.0), row("search_one", 0.05), row("angry_sad_25", 0.0)];
            let s = kind_sentence(&rows, &[0.01, 0.03, 0.05, 0.02]);
            // The special's floor is √(2/π)·0.05 = 0.0399; the mixes average 0.025 against 0.
            assert!(s.contains("prototypes (1) 0.0100 against a floor of 0.0000"), "{s}");
            assert!(s.contains("mixes (2) 0.0250 against a floor of 0.0000"), "{s}");
            assert!(s.contains("specials (1) 0.0500 against a floor of 0.0399"), "{s}");
            assert!(s.contains("Furthest above their own floor: happy_sad_50 (mix, +0.0300), angry_sad_25"), "{s}");
        }
    }
}
