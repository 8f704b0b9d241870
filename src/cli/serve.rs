//! `avf-bel serve`: the robot daemon (see [`avf_bel::link::daemon`]); options from a board profile (`--config`,
//! TOML) and the command line, the command line winning.

use super::device::Device;
use super::{CliResult, Failure};
use avf_bel::capture::{parse_uri, Sense, SourceUri};
use avf_bel::link::board::BoardProfile;
use avf_bel::link::daemon::serve;
use avf_bel::link::sys::install_stop_handler;
use avf_bel::model::read_file;
use avf_bel::Weights;
use std::path::PathBuf;

/// Examples for `serve --help`.
pub const EXAMPLES: &str = "Examples:
  avf-bel serve --audio synth://happy --video synth://happy --socket /tmp/epp.sock --stats   # Ctrl-C to stop
  avf-bel serve --config boards/x86-dev.toml --serial /dev/ttyUSB0 --state /tmp/bel.state
  avf-bel serve --audio file://clip.wav --video file://clip.y4m --json --duration 10

Inputs: v4l2:///dev/videoN and alsa://DEVICE (feature `capture`), csi://N (Jetson, through GStreamer), pipe:COMMAND
(a Y4M or WAV stream on its stdout), file://PATH (files, FIFOs, growing files), synth://NAME (a built-in stimulus, or a
row of the study's stimuli.csv).
Profiles (boards/*.toml) are TOML with [board] and [serve] tables; unknown keys are refused with line and column.
Under systemd (Type=notify) the daemon signals READY=1 and feeds the watchdog; log lines carry journald priorities.";

/// `avf-bel serve` options (each overrides the board profile's).
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// A board profile / config file (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Audio input URI.
    #[arg(long, value_name = "URI")]
    pub audio: Option<String>,
    /// Video input URI.
    #[arg(long, value_name = "URI")]
    pub video: Option<String>,
    /// Serial device to publish on (and read rewards from); `none` (or an empty value) for no serial port.
    #[arg(long, value_name = "DEV")]
    pub serial: Option<PathBuf>,
    /// Serial baud rate [default: 115200].
    #[arg(long)]
    pub baud: Option<u32>,
    /// Unix socket to listen on.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Learned-state file (loaded at start, saved atomically).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Folder of the study's data, for synth:// names that are not built in [default: $AVF_BEL_DATA, else
    /// ../shared/data].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Samples per second [default: 30].
    #[arg(long)]
    pub rate: Option<f64>,
    /// Clip window, seconds [default: 3].
    #[arg(long, value_name = "SECONDS")]
    pub window: Option<f64>,
    /// Seconds at the start of each window during which the previous result is repeated [default: 0.5].
    #[arg(long, value_name = "SECONDS")]
    pub warmup: Option<f64>,
    /// Save the state after this many rewards [default: 50].
    #[arg(long, value_name = "N")]
    pub save_every: Option<u32>,
    /// Messages queued per subscriber before the oldest is dropped [default: 8].
    #[arg(long, value_name = "N")]
    pub queue: Option<usize>,
    /// Seed of synthesised stimuli [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop after this many seconds (default: run until SIGINT/SIGTERM).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Also print every sample as one JSON line on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print rate and latency statistics at the end.
    #[arg(long)]
    pub stats: bool,
    /// Also publish on ROS 2 (feature `ros2`; topics and QoS in docs/wire.md).
    #[arg(long)]
    pub ros2: bool,
    /// Where the model runs: the CPU, CUDA, or CUDA when usable else the CPU (one line says why).
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    pub device: Device,
    /// A weights file (default: the model built into the binary).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
}

/// Run.
pub fn run(a: ServeArgs) -> CliResult {
    const CMD: &str = "serve";
    // First: a SIGTERM while the weights load must stop the daemon, not kill it mid-way or be lost.
    install_stop_handler().map_err(|e| Failure::Runtime(format!("signal handlers: {e}")))?;
    let cfg = match &a.config {
        Some(p) => BoardProfile::load(p).map_err(|e| Failure::Runtime(e.to_string()))?,
        None => BoardProfile::default(),
    };
    let mut s = cfg.serve.clone();
    s.audio = a.audio.or(s.audio);
    s.video = a.video.or(s.video);
    s.serial = a.serial.or(s.serial);
    s.socket = a.socket.or(s.socket);
    s.state = a.state.or(s.state);
    s.baud = a.baud.unwrap_or(s.baud);
    s.rate = a.rate.unwrap_or(s.rate);
    s.window = a.window.unwrap_or(s.window);
    s.warmup = a.warmup.unwrap_or(s.warmup);
    s.save_every = a.save_every.unwrap_or(s.save_every);
    s.queue = a.queue.unwrap_or(s.queue);
    s.seed = a.seed.unwrap_or(s.seed);
    s.duration = a.duration.or(s.duration);
    s.json |= a.json;
    s.stats |= a.stats;
    s.ros2 |= a.ros2;
    s.validate().map_err(|e| Failure::usage(CMD, e))?;
    s.check_build().map_err(|e| Failure::usage(CMD, e))?;
    // synth:// names that are not built in come from the study's data: find it now (a clear error at start
    // rather than a retry loop later).
    let named = a.data.clone().or(cfg.data_set.then(|| s.data_dir.clone()));
    for (sense, uri) in [(Sense::Audio, &s.audio), (Sense::Video, &s.video)] {
        let Some(uri) = uri else { continue };
        if let Ok(SourceUri::Synth(name)) = parse_uri(uri, sense) {
            super::run::stimulus_params(CMD, &name, named.as_deref())?;
        }
    }
    if let Ok(dir) = avf_bel::data::find_data(named.as_deref()) {
        s.data_dir = dir;
    }
    let weights = a.weights.or(cfg.weights.as_ref().map(PathBuf::from));

    let owned;
    let bytes: &[u8] = match &weights {
        Some(p) => {
            owned = read_file(p).map_err(|e| format!("{}: {e}", p.display()))?;
            owned.as_bytes()
        }
        None => super::run::default_weights(),
    };
    let name = weights.as_ref().map_or("built-in weights".to_string(), |p| p.display().to_string());
    let w = Weights::parse(bytes).map_err(|e| format!("{name}: {e}"))?;
    if let Some(n) = cfg.input_size {
        let v = &w.config().visual;
        if (u32::from(v.height), u32::from(v.width)) != (n, n) {
            return Err(format!(
                "board input_size {n} but the model's frames are {}×{}: export weights for this board",
                v.width, v.height
            )
            .into());
        }
    }
    if let Some(b) = &cfg.board {
        log::info!(
            "board profile: {b} (compute capability {}, precision {}; the weights run as stored)",
            cfg.compute_capability.as_deref().unwrap_or("-"),
            cfg.precision.as_deref().unwrap_or("-")
        );
    }
    if w.trained() == Some(false) {
        log::warn!("serving an UNTRAINED (seeded) model: its numbers mean nothing");
    }
    let (mut cpu_scratch, mut gpu_scratch) = (Vec::new(), Vec::new());
    let mut backend = avf_bel::backend::open(a.device.into(), &w, bytes, &mut cpu_scratch, &mut gpu_scratch)
        .map_err(|e| e.to_string())?;
    log::info!("model on the {}", backend.name());
    let stats = serve(&mut *backend, &s)?;
    if s.stats {
        // Asked-for output (--stats), not a diagnostic: always printed.
        eprintln!("{}", stats.line());
    }
    Ok(())
}
