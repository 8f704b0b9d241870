//! `avf-bel run`: run a model on a clip (files or a rendered stimulus) and report emotions, EPP and why.

use super::device::Device;
use super::{CliResult, Failure};
use avf_bel::json::{contribution_shares, modalities_name, ClipRecord, Record};
use avf_bel::media::{read_wav_at, read_y4m};
use avf_bel::model::read_file;
use avf_bel::stimuli::{io, render, Params, RenderOptions, PROTOTYPES};
use avf_bel::Output;
use avf_bel::{Modalities, Weights, EMOTIONS};
use std::path::{Path, PathBuf};

#[repr(C, align(64))]
struct Aligned<T: ?Sized>(T);

/// The default model, built into the binary so a robot needs no file to start.
static DEFAULT_WEIGHTS: &Aligned<[u8]> = &Aligned(*include_bytes!("../../weights/default.avfw"));

/// The built-in default weights file.
pub fn default_weights() -> &'static [u8] {
    &DEFAULT_WEIGHTS.0
}

/// Examples for `run --help`.
pub const EXAMPLES: &str = "Examples:
  avf-bel run --stimulus happy                       # render the built-in \"happy\" stimulus and run the model
  avf-bel run --stimulus=sad --json                  # one JSON object (see the README, \"JSON output\")
  avf-bel run --audio clip.wav --video clip.y4m      # your own clip (22,050 Hz WAV; Y4M at any size and rate)
  avf-bel run --stimulus happy_sad_25 --data DIR     # a stimulus of the study's table (DIR/stimuli.csv)

The contribution line is each sense's share of the drive into BEL's sensory channels (the two shares sum to 1);
the JSON's \"contribution\" holds the same two numbers.";

/// `avf-bel run` options.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// A built-in stimulus (angry, happy, peaceful, sad, scared) or a name from the study's stimuli.csv.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["audio", "video"])]
    pub stimulus: Option<String>,
    /// A WAV file (mono or multi-channel, PCM or float, at the model's 22,050 Hz).
    #[arg(long, value_name = "WAV")]
    pub audio: Option<PathBuf>,
    /// A YUV4MPEG2 file (resized to the model's frame size; faster than 30 fps is decimated).
    #[arg(long, value_name = "Y4M")]
    pub video: Option<PathBuf>,
    /// A weights file (default: the model built into the binary).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Folder of the study's data, for --stimulus names that are not built in [default: $AVF_BEL_DATA, else
    /// ../shared/data].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Length of a rendered stimulus, seconds.
    #[arg(long, default_value_t = 3.0, value_name = "SECONDS")]
    pub seconds: f64,
    /// Seed of a rendered stimulus.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    pub json: bool,
    /// Where to run.
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    pub device: Device,
}

/// The slider values of `--stimulus NAME`: a built-in prototype, else a row of the study's `stimuli.csv` (found by
/// `avf_bel::data::find_data`). An unknown name is a usage error with a did-you-mean hint; a name that needs the data
/// when there are none says where to get them.
pub fn stimulus_params(command: &'static str, name: &str, data: Option<&Path>) -> Result<Params, Failure> {
    if let Some(p) = Params::prototype(name) {
        return Ok(p);
    }
    match avf_bel::data::find_data(data) {
        Ok(dir) => io::resolve_stimulus(&dir, name).map_err(|e| Failure::usage(command, format!("--stimulus: {e}"))),
        Err(e) => Err(Failure::usage(
            command,
            format!(
                "--stimulus: {name:?} is not a built-in stimulus{} (built-in: {}). Other names are read from the \
                 study's stimuli.csv, but {e}",
                io::did_you_mean(name, PROTOTYPES),
                PROTOTYPES.join(", ")
            ),
        )),
    }
}

/// Run.
pub fn run(a: RunArgs) -> CliResult {
    const CMD: &str = "run";
    let owned;
    let bytes: &[u8] = match &a.weights {
        Some(p) => {
            owned = read_file(p).map_err(|e| format!("{}: {e}", p.display()))?;
            owned.as_bytes()
        }
        None => default_weights(),
    };
    let weights_name = a.weights.as_ref().map_or("built-in weights".to_string(), |p| p.display().to_string());
    let w = Weights::parse(bytes).map_err(|e| format!("{weights_name}: {e}"))?;
    let cfg = *w.config();
    let (size_h, size_w) = (cfg.visual.height as usize, cfg.visual.width as usize);

    // Gather the clip: audio samples and frames at the model's size.
    let (label, pcm, frames, modalities) = if let Some(name) = &a.stimulus {
        let params = stimulus_params(CMD, name, a.data.as_deref())?;
        if size_h != size_w {
            return Err("--stimulus renders square frames; this model's frames are not square".into());
        }
        let opts = RenderOptions::for_model(&cfg, a.seconds, a.seed);
        opts.validate().map_err(|e| Failure::usage(CMD, e.to_string()))?;
        let s = render(&params, &opts).map_err(|e| e.to_string())?;
        (format!("stimulus {name}"), Some(s.audio), Some(s.frames), Modalities::BOTH)
    } else {
        if a.audio.is_none() && a.video.is_none() {
            return Err(Failure::conflict(
                CMD,
                "nothing to run: give --stimulus NAME, or --audio WAV and/or --video Y4M",
            ));
        }
        let pcm = match &a.audio {
            Some(p) => {
                let b = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
                Some(read_wav_at(&b, cfg.audio.sample_rate).map_err(|e| format!("{}: {e}", p.display()))?)
            }
            None => None,
        };
        let frames = match &a.video {
            Some(p) => {
                let b = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
                let y = read_y4m(&b).map_err(|e| format!("{}: {e}", p.display()))?;
                Some(
                    y.frames_at(f64::from(cfg.visual.fps), size_w, size_h)
                        .map_err(|e| format!("{}: {e}", p.display()))?,
                )
            }
            None => None,
        };
        let m = Modalities { audio: pcm.is_some(), video: frames.is_some() };
        let names: Vec<String> = [&a.audio, &a.video].into_iter().flatten().map(|p| p.display().to_string()).collect();
        (names.join(" + "), pcm, frames, m)
    };

    let (mut scratch, mut gpu_scratch) = (Vec::new(), Vec::new());
    let mut p = super::device::Engine::open(a.device, &w, bytes, &mut scratch, &mut gpu_scratch)?;
    if let Some(pcm) = &pcm {
        p.push_audio(pcm)?;
    }
    if let Some(frames) = &frames {
        for f in frames.chunks_exact(size_h * size_w) {
            p.push_frame(f)?;
        }
    }
    let out = p.infer(modalities)?;
    // The file says whether it was fitted; seeded (`avf-bel init`) weights give meaningless numbers.
    let untrained = w.trained() == Some(false);
    if untrained {
        log::warn!(
            "{} is UNTRAINED (seeded by `avf-bel init`): its numbers mean nothing",
            a.weights.as_ref().map_or("the model".to_string(), |p| p.display().to_string())
        );
    }
    if a.json {
        println!("{}", Record::Clip(ClipRecord::new(label, modalities, &out, w.model_hash(), untrained)).to_line());
    } else {
        print!("{}", report(&label, modalities, &out, w.model_hash(), untrained));
    }
    Ok(())
}

/// The human-readable report.
pub fn report(label: &str, m: Modalities, o: &Output, hash: u64, untrained: bool) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "{label} ({}), model {hash:016x}", modalities_name(m));
    if untrained {
        let _ = writeln!(s, "warning: the model is UNTRAINED (seeded); its numbers mean nothing");
    }
    let _ = writeln!(s, "EPP {:.3}  (0 = negative … 1 = positive)", o.epp);
    let _ = writeln!(s, "  emotion    intensity  amygdala  orbitofrontal");
    for (i, n) in EMOTIONS.iter().enumerate() {
        let bar = "#".repeat((o.emotions[i].clamp(0.0, 1.0) * 20.0).round() as usize);
        let _ = writeln!(
            s,
            "  {n:<9}  {:>9.3}  {:>8.3}  {:>13.3}  {bar}",
            o.emotions[i], o.terms.amygdala[i], o.terms.orbitofrontal[i]
        );
    }
    let [audio, visual] = contribution_shares(&o.contribution);
    let _ = writeln!(
        s,
        "contribution (share of the drive into BEL's sensory channels): audio {audio:.3}, video {visual:.3}"
    );
    s
}
