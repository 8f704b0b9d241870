//! `avf-bel synth`: render a stimulus to `DIR/audio.wav` and `DIR/video.y4m` (and optionally a PNG contact sheet).

use avf_bel::stimuli::{self, io, preview, Params, RenderOptions};
use std::path::PathBuf;

/// Usage text of the subcommand.
pub const USAGE: &str =
    "usage: avf-bel synth (--params bpm=B,jitter=J,consonance=C,bigsmall=S,updown=U | --stimulus NAME)
                    [--data DIR] [--seconds T] [--seed N] [--size N] [--fps F] --out DIR [--preview FILE.png]
  --params     slider values: bpm 30–400, jitter 0–99 (% of the beat), consonance integer 0–37,
               bigsmall 0–100, updown 0–100
  --stimulus   a stimulus name from DIR/stimuli.csv, or a prototype: angry, happy, peaceful, sad, scared
  --data       folder holding stimuli.csv (default ../shared/data)
  --seconds    clip length in seconds (default 3)
  --seed       random seed (default 0)
  --size       frame width and height in pixels (default 64)
  --fps        frames per second (default 30)
  --out        output folder: audio.wav (22,050 Hz mono 16-bit) and video.y4m are written there
  --preview    also write a PNG contact sheet (frames across time, piano roll, waveform)";

/// Runs `avf-bel synth` with the arguments after the subcommand's name.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut params_text: Option<String> = None;
    let mut stimulus: Option<String> = None;
    let mut data = PathBuf::from("../shared/data");
    let mut out: Option<PathBuf> = None;
    let mut preview_path: Option<PathBuf> = None;
    let mut opts = RenderOptions::default();

    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            return Ok(());
        }
        let mut value = || it.next().cloned().ok_or_else(|| format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--params" => params_text = Some(value()?),
            "--stimulus" => stimulus = Some(value()?),
            "--data" => data = PathBuf::from(value()?),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--preview" => preview_path = Some(PathBuf::from(value()?)),
            "--seconds" => {
                let v = value()?;
                opts.seconds = v.parse().map_err(|_| format!("--seconds: {v:?} is not a number of seconds"))?;
            }
            "--seed" => {
                let v = value()?;
                opts.seed = v.parse().map_err(|_| format!("--seed: {v:?} is not a whole number 0–2^64−1"))?;
            }
            "--size" => {
                let v = value()?;
                opts.size = v.parse().map_err(|_| format!("--size: {v:?} is not a whole number of pixels (8–1024)"))?;
            }
            "--fps" => {
                let v = value()?;
                opts.fps = v
                    .parse()
                    .map_err(|_| format!("--fps: {v:?} is not a whole number of frames per second (1–240)"))?;
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }

    let params = match (params_text, stimulus) {
        (Some(_), Some(_)) => return Err("give either --params or --stimulus, not both".into()),
        (None, None) => return Err(format!("give --params or --stimulus\n{USAGE}")),
        (Some(text), None) => Params::parse(&text).map_err(|e| format!("--params: {e}"))?,
        (None, Some(name)) => io::resolve_stimulus(&data, &name).map_err(|e| format!("--stimulus: {e}"))?,
    };
    let out = out.ok_or_else(|| format!("--out DIR is required\n{USAGE}"))?;
    opts.validate().map_err(|e| e.to_string())?;

    let stim = stimuli::render(&params, &opts).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let write =
        |path: PathBuf, bytes: Vec<u8>| std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()));
    write(out.join("audio.wav"), io::wav_bytes(&stim.audio, stim.sample_rate))?;
    write(out.join("video.y4m"), io::y4m_bytes(&stim.frames, stim.size, stim.size, stim.fps))?;
    if let Some(p) = preview_path {
        write(p, preview::contact_sheet_png(&stim))?;
    }
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
