//! `avf-bel serve`: the robot daemon (see [`avf_bel::link::daemon`]); options from a board profile (`--config`,
//! a TOML subset) and the command line, the command line winning.

use super::Opts;
use avf_bel::link::board::BoardProfile;
use avf_bel::link::daemon::serve;
use avf_bel::link::sys::install_stop_handler;
use avf_bel::model::read_file;
use avf_bel::{Pipeline, Weights};
use std::path::{Path, PathBuf};

/// Run.
pub fn run(args: &[String]) -> Result<(), String> {
    // First: a SIGTERM while the weights load must stop the daemon, not kill it mid-way or be lost.
    install_stop_handler().map_err(|e| format!("signal handlers: {e}"))?;
    let mut o = Opts::new(args);
    let cfg = match o.value("--config")? {
        Some(p) => BoardProfile::load(Path::new(p))?,
        None => BoardProfile::default(),
    };
    let mut s = cfg.serve.clone();
    if let Some(v) = o.value("--audio")? {
        s.audio = Some(v.to_string());
    }
    if let Some(v) = o.value("--video")? {
        s.video = Some(v.to_string());
    }
    if let Some(v) = o.value("--serial")? {
        s.serial = Some(PathBuf::from(v));
    }
    if let Some(v) = o.value("--socket")? {
        s.socket = Some(PathBuf::from(v));
    }
    if let Some(v) = o.value("--state")? {
        s.state = Some(PathBuf::from(v));
    }
    if let Some(v) = o.value("--data")? {
        s.data_dir = PathBuf::from(v);
    }
    s.baud = o.parse("--baud", s.baud)?;
    s.rate = o.parse("--rate", s.rate)?;
    s.window = o.parse("--window", s.window)?;
    s.warmup = o.parse("--warmup", s.warmup)?;
    s.save_every = o.parse("--save-every", s.save_every)?;
    s.queue = o.parse("--queue", s.queue)?;
    s.seed = o.parse("--seed", s.seed)?;
    if let Some(v) = o.value("--duration")? {
        s.duration = Some(v.parse().map_err(|e| format!("`--duration {v}`: {e}"))?);
    }
    s.json |= o.flag("--json");
    s.stats |= o.flag("--stats");
    s.ros2 |= o.flag("--ros2");
    let weights = o.value("--weights")?.map(str::to_string).or(cfg.weights.clone());
    o.finish()?;
    s.validate()?;
    s.check_build()?;

    let owned;
    let bytes: &[u8] = match &weights {
        Some(p) => {
            owned = read_file(Path::new(p)).map_err(|e| format!("{p}: {e}"))?;
            owned.as_bytes()
        }
        None => super::run::default_weights(),
    };
    let w = Weights::parse(bytes).map_err(|e| format!("{}: {e}", weights.as_deref().unwrap_or("built-in weights")))?;
    if let Some(n) = cfg.input_size {
        let v = &w.config().visual;
        if (u32::from(v.height), u32::from(v.width)) != (n, n) {
            return Err(format!(
                "board input_size {n} but the model's frames are {}×{}: export weights for this board",
                v.width, v.height
            ));
        }
    }
    if let Some(b) = &cfg.board {
        eprintln!(
            "board profile: {b} (compute capability {}, precision {}; the CPU path runs the weights as stored)",
            cfg.compute_capability.as_deref().unwrap_or("-"),
            cfg.precision.as_deref().unwrap_or("-")
        );
    }
    if w.trained() == Some(false) {
        eprintln!("warning: serving an UNTRAINED (seeded) model: its numbers mean nothing");
    }
    let mut scratch = vec![0.0f32; Pipeline::scratch_len(&w)];
    let mut p = Pipeline::new(&w, &mut scratch).map_err(|e| e.to_string())?;
    let stats = serve(&mut p, &s)?;
    if s.stats {
        eprintln!("{}", stats.line());
    }
    Ok(())
}
