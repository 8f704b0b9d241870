//! `avf-bel synth`: render a stimulus to `DIR/audio.wav` and `DIR/video.y4m` (and optionally a PNG contact sheet).

use super::{CliResult, Failure};
use avf_bel::stimuli::{self, io, Params, RenderOptions};
use std::path::PathBuf;

/// Examples for `synth --help`.
pub const EXAMPLES: &str = "Examples:
  avf-bel synth --stimulus angry --out /tmp/angry --preview /tmp/angry.png
  avf-bel synth --params bpm=120,jitter=10,consonance=37,bigsmall=50,updown=50 --out /tmp/clip
  avf-bel synth --stimulus happy_sad_25 --data DIR --seconds 1 --size 32 --fps 20 --out /tmp/mix

Sliders: bpm 30–400, jitter 0–99 (% of the beat), consonance integer 0–37, bigsmall 0–100, updown 0–100.
Writes audio.wav (22,050 Hz mono 16-bit) and video.y4m (grey frames) into --out.";

/// `avf-bel synth` options.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["params", "stimulus"])))]
pub struct SynthArgs {
    /// Slider values: bpm=B,jitter=J,consonance=C,bigsmall=S,updown=U.
    #[arg(long, value_name = "SLIDERS")]
    pub params: Option<String>,
    /// A built-in stimulus (angry, happy, peaceful, sad, scared) or a name from the study's stimuli.csv.
    #[arg(long, value_name = "NAME")]
    pub stimulus: Option<String>,
    /// Folder of the study's data, for --stimulus names that are not built in [default: $AVF_BEL_DATA, else
    /// ../shared/data].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Output folder: audio.wav and video.y4m are written there.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Clip length, seconds (0–600).
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Frame width and height, pixels (8–1024).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Frames per second (1–240).
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Also write a PNG contact sheet (frames across time, piano roll, waveform; feature `plot`).
    #[arg(long, value_name = "FILE.png")]
    pub preview: Option<PathBuf>,
}

/// Runs `avf-bel synth`.
pub fn run(a: SynthArgs) -> CliResult {
    const CMD: &str = "synth";
    let (params, name) = match (&a.params, &a.stimulus) {
        (Some(text), None) => (Params::parse(text).map_err(|e| Failure::usage(CMD, format!("--params: {e}")))?, None),
        (None, Some(name)) => (super::run::stimulus_params(CMD, name, a.data.as_deref())?, Some(name.as_str())),
        // clap's argument group has already refused both and neither.
        _ => return Err(Failure::conflict(CMD, "give --params or --stimulus")),
    };
    let opts = RenderOptions { seconds: a.seconds, seed: a.seed, size: a.size, fps: a.fps, ..RenderOptions::default() };
    opts.validate().map_err(|e| Failure::usage(CMD, e.to_string()))?;
    #[cfg(not(feature = "plot"))]
    if a.preview.is_some() {
        return Err(Failure::usage(
            CMD,
            "--preview needs the `plot` feature (on by default): cargo build --release --features plot",
        ));
    }

    let stim = stimuli::render(&params, &opts).map_err(|e| e.to_string())?;
    let out = &a.out;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let write =
        |path: PathBuf, bytes: &[u8]| std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()));
    write(out.join("audio.wav"), &io::wav_bytes(&stim.audio, stim.sample_rate))?;
    write(out.join("video.y4m"), &io::y4m_bytes(&stim.frames, stim.size, stim.size, stim.fps))?;
    #[cfg(feature = "plot")]
    if let Some(p) = &a.preview {
        let title = match name {
            Some(n) => format!("{n}: {params}, seed {}", a.seed),
            None => format!("{params}, seed {}", a.seed),
        };
        let png = stimuli::preview::contact_sheet_png(&stim, &title).map_err(|e| e.to_string())?;
        write(p.clone(), &png)?;
    }
    let _ = name;
    println!(
        "{params}: {} notes, {} samples at {} Hz, {} frames {}×{} at {} fps → {}",
        stim.notes.len(),
        stim.audio.len(),
        stim.sample_rate,
        stim.n_frames(),
        stim.size,
        stim.size,
        stim.fps,
        out.display()
    );
    Ok(())
}
