//! The daemon behind `avf-bel serve`: live inputs → a [`Backend`] → samples on a Unix socket, a serial port, stdout
//! and ROS 2; rewards back into BEL; the learned state saved atomically.
//!
//! One inference thread runs a fixed-rate tick (default 30 per second); each input has its own capture thread
//! (`inputs.rs`). Per tick: close the clip if its window (default 3 s) is over, drain what the inputs captured
//! into the backend, apply rewards, [`Backend::peek`], publish. The units:
//! - `clock.rs`: the tick and the window;
//! - `inputs.rs`: capture threads, frame retiming, which senses are live;
//! - [`decide`]: what a sample says (flags, fresh/held/no estimate, confidence) — a pure function;
//! - `publish.rs`: transports, JSON, statistics.
//!
//! Nothing in the tick waits on a source or a reader, and every wait is a short slice, so SIGTERM/SIGINT end the
//! daemon within a second in every state.

use super::clock::{Pacer, Window};
use super::inputs::{Fed, Inputs};
use super::notify::Notifier;
use super::publish::{Histogram, Outputs, SerialLink};
use super::serial::Serial;
use super::socket::Listener;
use super::state::{self, StateError};
use super::sys::{monotonic_ns, stop_requested};
use crate::core::backend::Backend;
use crate::core::error::{Error, InputError};
use crate::core::link::{flags, Heartbeat, Message, Reward, Sample};
use crate::host::capture::{self, ModelInput, Sense, SynthOptions};
use crate::{Modalities, Output};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use super::inputs::{SenseState, STALE};
pub use super::publish::{flag_names, heartbeat_json, sample_json, Stats};

/// Everything `serve` can be told.
#[derive(Clone, Debug, PartialEq)]
pub struct ServeOptions {
    /// Audio input URI (see [`crate::host::capture::uri`]), if any.
    pub audio: Option<String>,
    /// Video input URI, if any.
    pub video: Option<String>,
    /// Serial device to publish on (and read rewards from); an empty path or `none` means no serial port.
    pub serial: Option<PathBuf>,
    /// Serial baud rate.
    pub baud: u32,
    /// Unix socket path to listen on.
    pub socket: Option<PathBuf>,
    /// Also print every sample as one JSON line on stdout.
    pub json: bool,
    /// Print latency and rate statistics on stderr at the end.
    pub stats: bool,
    /// Learned-state file (loaded at start, saved every `save_every` rewards and at shutdown).
    pub state: Option<PathBuf>,
    /// Save the state after this many rewards.
    pub save_every: u32,
    /// Stop after this many seconds (`None`: run until SIGINT/SIGTERM).
    pub duration: Option<f64>,
    /// Samples per second.
    pub rate: f64,
    /// Clip window in seconds: the model's clip is closed and restarted this often.
    pub window: f64,
    /// Seconds at the start of each window during which the previous window's result is repeated.
    pub warmup: f64,
    /// Messages queued per subscriber beyond the kernel's buffer before the oldest is dropped.
    pub queue: usize,
    /// Where `synth://` finds stimuli that are not built-in prototypes.
    pub data_dir: PathBuf,
    /// Seed of synthesised stimuli.
    pub seed: u64,
    /// Publish on ROS 2 too (feature `ros2`; see `docs/wire.md` for topics and QoS).
    pub ros2: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            audio: None,
            video: None,
            serial: None,
            baud: 115_200,
            socket: None,
            json: false,
            stats: false,
            state: None,
            save_every: 50,
            duration: None,
            rate: 30.0,
            window: 3.0,
            warmup: 0.5,
            queue: 8,
            data_dir: PathBuf::from("../shared/data"),
            seed: 0,
            ros2: false,
        }
    }
}

/// Whether a configured serial path means "no serial port" (`""` or `none`, e.g. `serial = ""` in a profile or
/// `--serial none`).
pub fn serial_off(p: &Path) -> bool {
    p.as_os_str().is_empty() || p.as_os_str() == "none"
}

impl ServeOptions {
    /// The serial port to open, if any (see [`serial_off`]).
    pub fn serial_port(&self) -> Option<&Path> {
        self.serial.as_deref().filter(|p| !serial_off(p))
    }

    /// Check ranges and inputs; the message names the option.
    pub fn validate(&self) -> Result<(), String> {
        let check =
            |ok: bool, name: &str, range: &str| if ok { Ok(()) } else { Err(format!("`{name}` must be {range}")) };
        check(self.rate.is_finite() && (0.1..=1000.0).contains(&self.rate), "rate", "0.1–1000 samples per second")?;
        check(self.window.is_finite() && (0.2..=60.0).contains(&self.window), "window", "0.2–60 seconds")?;
        check(
            self.warmup.is_finite() && self.warmup >= 0.0 && self.warmup < self.window,
            "warmup",
            "0 ≤ warmup < window",
        )?;
        check(self.save_every >= 1, "save_every", "at least 1")?;
        check((1..=4096).contains(&self.queue), "queue", "1–4096 messages")?;
        if let Some(d) = self.duration {
            check(d.is_finite() && d > 0.0, "duration", "a positive number of seconds")?;
        }
        if self.audio.is_none() && self.video.is_none() {
            return Err("no input: give --audio URI and/or --video URI (e.g. alsa://default, v4l2:///dev/video0, \
                        synth://happy)"
                .into());
        }
        if self.serial_port().is_none() && self.socket.is_none() && !self.json && !self.ros2 {
            return Err("no output: give --socket PATH, --serial DEV, --json and/or --ros2".into());
        }
        for (uri, sense) in [(&self.audio, Sense::Audio), (&self.video, Sense::Video)] {
            if let Some(u) = uri {
                capture::parse_uri(u, sense)?;
            }
        }
        Ok(())
    }

    /// Whether this build can do what the options ask (live capture needs the `capture` feature, `ros2` the
    /// `ros2` feature). Separate from [`ServeOptions::validate`] so a profile naming a camera parses anywhere.
    pub fn check_build(&self) -> Result<(), String> {
        if self.ros2 && !cfg!(feature = "ros2") {
            return Err("--ros2: this avf-bel was built without ROS 2; rebuild with `--features ros2`".into());
        }
        for (uri, sense) in [(&self.audio, Sense::Audio), (&self.video, Sense::Video)] {
            if let Some(u) = uri {
                capture::parse_uri(u, sense)?.check_build(u)?;
            }
        }
        Ok(())
    }
}

/// What each sense and the window say at one tick: the input of [`decide`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TickFacts {
    /// The audio sense.
    pub audio: SenseState,
    /// The video sense.
    pub video: SenseState,
    /// Seconds since the window started.
    pub in_window: f64,
    /// Window length, seconds.
    pub window: f64,
    /// Warm-up at the start of each window, seconds.
    pub warmup: f64,
    /// Feeding the backend failed this tick.
    pub feed_failed: bool,
    /// A reward was applied within the last second.
    pub learning: bool,
    /// Confidence of the previous window's closing result, if there is one to hold.
    pub held: Option<f32>,
}

impl TickFacts {
    fn counts(&self) -> (usize, usize) {
        let n = |s: SenseState, f: fn(SenseState) -> bool| usize::from(f(s));
        (
            n(self.audio, SenseState::live) + n(self.video, SenseState::live),
            n(self.audio, SenseState::configured) + n(self.video, SenseState::configured),
        )
    }

    /// The senses to read out now: the live ones, once the window's warm-up is over; `None`: do not peek.
    pub fn peek_modalities(&self) -> Option<Modalities> {
        let m = Modalities { audio: self.audio.live(), video: self.video.live() };
        ((m.audio || m.video) && self.in_window >= self.warmup).then_some(m)
    }
}

/// What [`Backend::peek`] gave, if it was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peeked {
    /// Not asked (warm-up, or no live sense).
    NotAsked,
    /// A fresh read-out.
    Fresh,
    /// The clip has no data of a sense yet (just after a window started).
    NotEnoughData,
    /// The backend failed.
    Failed,
}

/// Which values a sample carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readout {
    /// The read-out of this tick.
    Fresh,
    /// The previous window's closing result (warm-up).
    Held,
    /// None: NaN values, [`flags::NO_ESTIMATE`].
    NoEstimate,
}

/// A sample's status: its flags, which values it carries, its confidence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    /// [`flags`] bits.
    pub flags: u8,
    /// Which values.
    pub readout: Readout,
    /// 0–1 (see `docs/wire.md`).
    pub confidence: f32,
}

/// The sample semantics of `docs/wire.md` in one pure function.
///
/// - `AUDIO_OK` / `VIDEO_OK`: that sense is live (delivered data in the last [`STALE`]).
/// - `DEGRADED`: a configured sense is not live, feeding failed, or the backend failed.
/// - A fresh read-out's confidence is (fraction of the window seen) × (live senses / configured senses).
/// - Otherwise, with a live sense, the previous window's result is held (`WARMING_UP`) at its own confidence; with
///   nothing to hold (the first window), or with **no live sense at all**, there is no estimate (`NO_ESTIMATE`,
///   confidence 0): an old result must not pass for the present.
/// - `LEARNING`: a reward was applied in the last second.
pub fn decide(f: &TickFacts, peeked: Peeked) -> Decision {
    let (live, configured) = f.counts();
    let mut fl = 0u8;
    if f.audio.live() {
        fl |= flags::AUDIO_OK;
    }
    if f.video.live() {
        fl |= flags::VIDEO_OK;
    }
    if live < configured || f.feed_failed || peeked == Peeked::Failed {
        fl |= flags::DEGRADED;
    }
    if f.learning {
        fl |= flags::LEARNING;
    }
    let share = if configured > 0 { live as f32 / configured as f32 } else { 0.0 };
    let (readout, confidence) = match (peeked, f.held) {
        (Peeked::Fresh, _) => {
            let seen = if f.window > 0.0 { (f.in_window / f.window).clamp(0.0, 1.0) as f32 } else { 1.0 };
            (Readout::Fresh, seen * share)
        }
        _ if live == 0 => (Readout::NoEstimate, 0.0),
        (_, Some(c)) => (Readout::Held, c),
        (_, None) => (Readout::NoEstimate, 0.0),
    };
    if readout != Readout::Fresh && live > 0 && peeked != Peeked::Failed {
        fl |= flags::WARMING_UP;
    }
    if readout == Readout::NoEstimate {
        fl |= flags::NO_ESTIMATE;
    }
    Decision { flags: fl, readout, confidence }
}

/// The previous window's closing result.
#[derive(Clone, Copy)]
struct Held {
    out: Output,
    capture_ns: u64,
    confidence: f32,
}

/// Rewards applied per second at most, sustained; a burst of this many is allowed at once. A robot rewards an
/// observed reaction, about once a second: a peer sending more (a bug, a flood) cannot drive BEL's weights to their
/// bounds in a moment or wear the storage out with state saves. Rewards over the limit are refused and counted.
pub const MAX_REWARDS_PER_SECOND: f64 = 20.0;

/// How often (seconds) the daemon tells the operator what it refused from its peers, at most.
const COMPLAIN_EVERY: f64 = 10.0;

/// BEL learning from rewards, and the state file.
struct Learning {
    updates: u32,
    unsaved: bool,
    last_reward: Option<f64>,
    /// Token bucket of [`MAX_REWARDS_PER_SECOND`]: rewards that may be applied now, and when it was filled.
    tokens: f64,
    filled_at: f64,
    /// Refused since the last complaint: out-of-range rewards, rewards over the rate, junk messages.
    invalid: u64,
    limited: u64,
    junk: u64,
    complained_at: Option<f64>,
}

impl Learning {
    /// Tell the operator what peers sent that was refused: at once the first time, then at most every
    /// [`COMPLAIN_EVERY`] seconds, so a flood of junk cannot flood the log.
    fn complain(&mut self, t: f64) {
        if self.invalid + self.limited + self.junk == 0 || self.complained_at.is_some_and(|c| t - c < COMPLAIN_EVERY) {
            return;
        }
        eprintln!(
            "warning: refused from robots since the last report: {} reward(s) with values outside 0–1 or not finite,              {} reward(s) over the rate limit ({MAX_REWARDS_PER_SECOND}/s), {} message(s) that are not valid              protocol messages (bad version, bad payload, bad CRC, oversized)",
            self.invalid, self.limited, self.junk
        );
        (self.invalid, self.limited, self.junk) = (0, 0, 0);
        self.complained_at = Some(t);
    }

    fn load(backend: &mut dyn Backend, o: &ServeOptions) -> Learning {
        let mut l = Learning {
            updates: 0,
            unsaved: false,
            last_reward: None,
            tokens: MAX_REWARDS_PER_SECOND,
            filled_at: 0.0,
            invalid: 0,
            limited: 0,
            junk: 0,
            complained_at: None,
        };
        let Some(path) = &o.state else { return l };
        let hash = backend.model_hash();
        match state::load(path) {
            Ok(s) if s.model_hash != hash => eprintln!(
                "warning: ignoring state file {}: {}",
                path.display(),
                StateError::ModelMismatch { file: s.model_hash, model: hash }
            ),
            Ok(s) => match backend.restore_bel(&s.amygdala, &s.thalamus, &s.orbitofrontal) {
                Ok(()) => {
                    l.updates = s.updates;
                    eprintln!("loaded learned state {} ({} updates)", path.display(), s.updates);
                }
                Err(e) => eprintln!("warning: ignoring state file {}: {e}", path.display()),
            },
            Err(StateError::Io(_)) if !path.exists() => {
                eprintln!("no state file at {} yet; starting from the model's weights", path.display());
            }
            Err(e) => eprintln!("warning: ignoring state file {}: {e}", path.display()),
        }
        l
    }

    fn save(&mut self, backend: &dyn Backend, o: &ServeOptions) {
        if let Some(path) = &o.state {
            let bytes = state::encode(backend.bel(), backend.model_hash(), self.updates);
            match state::save(path, &bytes) {
                Ok(()) => self.unsaved = false,
                Err(e) => eprintln!("warning: could not save state: {e}"),
            }
        }
    }

    /// Apply the valid rewards among `incoming`, at most [`MAX_REWARDS_PER_SECOND`]; refused ones are counted. Scene
    /// cuts restart the visual background before the next tick's frames (cheap and harmless, so not rate-limited).
    fn apply(&mut self, incoming: &[Message], t: f64, backend: &mut dyn Backend, o: &ServeOptions, stats: &mut Stats) {
        self.tokens =
            (self.tokens + (t - self.filled_at).max(0.0) * MAX_REWARDS_PER_SECOND).min(MAX_REWARDS_PER_SECOND);
        self.filled_at = t;
        for m in incoming {
            if let Message::SceneCut(_) = m {
                backend.scene_cut();
                stats.scene_cuts += 1;
            } else if let Message::Reward(r) = m {
                if !valid_reward(r) {
                    self.invalid += 1;
                    stats.refused += 1;
                } else if self.tokens < 1.0 {
                    self.limited += 1;
                    stats.refused += 1;
                } else if backend.learn(&r.reward).is_ok() {
                    self.tokens -= 1.0;
                    self.updates = self.updates.wrapping_add(1);
                    stats.rewards += 1;
                    self.last_reward = Some(t);
                    self.unsaved = true;
                    if self.updates.is_multiple_of(o.save_every) {
                        self.save(backend, o);
                    }
                } else {
                    self.invalid += 1;
                    stats.refused += 1;
                }
            }
        }
    }
}

/// Check a reward: five finite values in 0–1.
pub fn valid_reward(r: &Reward) -> bool {
    r.reward.iter().all(|x| x.is_finite() && (0.0..=1.0).contains(x))
}

/// Under a service manager (systemd sets these for its services).
fn under_systemd() -> bool {
    std::env::var_os("INVOCATION_ID").is_some() || std::env::var_os("NOTIFY_SOCKET").is_some()
}

/// Where files go when a profile's systemd-managed directory is missing outside systemd.
fn fallback_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("avf-bel"),
        // SAFETY: getuid(2) has no preconditions and cannot fail.
        _ => std::env::temp_dir().join(format!("avf-bel-{}", unsafe { libc::getuid() })),
    }
}

/// A path whose directory a profile expects systemd to create (`RuntimeDirectory=`, `StateDirectory=`): outside
/// systemd, a missing directory is explained and a per-user directory used instead; under systemd it is an error.
fn resolve_dir(path: &Path, what: &str, unit_key: &str) -> Result<PathBuf, String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => return Ok(path.to_path_buf()),
    };
    if dir.is_dir() {
        return Ok(path.to_path_buf());
    }
    if under_systemd() {
        return Err(format!(
            "{what} directory {} does not exist; the unit should create it with {unit_key} (see boards/avf-bel.service)",
            dir.display()
        ));
    }
    let fb = fallback_dir();
    std::fs::create_dir_all(&fb).map_err(|e| format!("{}: {e}", fb.display()))?;
    let new = fb.join(path.file_name().unwrap_or_else(|| "avf-bel".as_ref()));
    eprintln!(
        "note: {what} directory {} does not exist: systemd creates it for the service ({unit_key}); running outside \
         systemd, using {} instead (give a path to choose)",
        dir.display(),
        new.display()
    );
    Ok(new)
}

/// The model's input shape, from its configuration.
pub fn model_input(backend: &dyn Backend) -> ModelInput {
    let c = backend.config();
    ModelInput {
        width: c.visual.width as usize,
        height: c.visual.height as usize,
        fps: u32::from(c.visual.fps),
        sample_rate: c.audio.sample_rate,
        hop: usize::from(c.audio.hop),
    }
}

/// Run the daemon until `duration`, SIGINT or SIGTERM (install [`super::sys::install_stop_handler`] first).
/// Human messages go to stderr; `--json` samples to stdout.
pub fn serve(backend: &mut dyn Backend, o: &ServeOptions) -> Result<Stats, String> {
    o.validate()?;
    o.check_build()?;
    let hash = backend.model_hash();
    let mut o = o.clone();
    if let Some(p) = &o.socket {
        o.socket = Some(resolve_dir(p, "socket", "RuntimeDirectory=avf-bel")?);
    }
    if let Some(p) = &o.state {
        o.state = Some(resolve_dir(p, "state", "StateDirectory=avf-bel")?);
    }
    let o = &o;
    let mut learning = Learning::load(backend, o);

    // Warm-up inference: proves the model runs before we tell systemd we are ready.
    warm_up(backend).map_err(|e| format!("warm-up inference failed: {e}"))?;

    // Outputs first (a bad path fails before any thread starts), then the inputs.
    let listener = match &o.socket {
        Some(p) => Some(Listener::bind(p).map_err(|e| format!("socket {}: {e}", p.display()))?),
        None => None,
    };
    let serial = match o.serial_port() {
        Some(p) => Some(SerialLink::new(
            Serial::open(p, o.baud).map_err(|e| {
                format!(
                    "serial {}: {e} (no serial port here? `--serial none` or `serial = \"\"` turns it off)",
                    p.display()
                )
            })?,
            p,
            o.baud,
        )),
        None => None,
    };
    let mut outs = Outputs::new(listener, serial, o.queue, o.json);
    #[cfg(feature = "ros2")]
    if o.ros2 {
        outs.ros2 = Some(super::ros2::Ros2::start().map_err(|e| format!("ROS 2: {e}"))?);
    }
    let synth = SynthOptions { data_dir: o.data_dir.clone(), seconds: o.window, seed: o.seed };
    let mut pacer = Pacer::new(o.rate);
    let epoch_ns = monotonic_ns();
    let mut inputs = Inputs::open(o.audio.as_deref(), o.video.as_deref(), &model_input(backend), &synth, epoch_ns)?;

    let notifier = Notifier::from_env();
    if let Some(n) = &notifier {
        n.send("READY=1\nSTATUS=publishing");
    }
    let watchdog_every = notifier.as_ref().and_then(|n| n.watchdog()).map(|d| d / 2);
    eprintln!(
        "serving model {hash:016x} ({}): {} samples/s, {} s windows{}{}{}",
        backend.name(),
        o.rate,
        o.window,
        o.socket.as_ref().map(|p| format!(", socket {}", p.display())).unwrap_or_default(),
        o.serial_port().map(|p| format!(", serial {} at {} baud", p.display(), o.baud)).unwrap_or_default(),
        if o.ros2 { ", ROS 2" } else { "" }
    );

    let mut stats = Stats::default();
    let mut hist = Histogram::new();
    let mut window = Window::new(o.window);
    let mut held: Option<Held> = None;
    let (mut seq, mut hb_seq) = (0u32, 0u32);
    let mut last_flags: u8;
    let mut incoming = Vec::with_capacity(64);
    let (mut next_heartbeat, mut next_watchdog) = (0.0f64, 0.0f64);
    let mut result = Ok(());

    while let Some(t) = pacer.next(&stop_requested) {
        if o.duration.is_some_and(|d| t >= d) {
            break;
        }
        let now_ns = monotonic_ns();

        // Close the window: its full clip's result is what warm-up samples hold.
        if window.close_due(t) {
            let (a, v) = inputs.states(now_ns);
            let m = Modalities { audio: a.live(), video: v.live() };
            let n_live = usize::from(m.audio) + usize::from(m.video);
            held = if n_live > 0 {
                backend.infer(m).ok().map(|out| Held {
                    out,
                    capture_ns: now_ns,
                    confidence: n_live as f32 / inputs.configured() as f32,
                })
            } else {
                None
            };
            backend.reset();
        }

        // Feed what the capture threads delivered since the last tick.
        let fed: Fed = inputs.feed(now_ns, backend);
        if let Some(why) = inputs.all_gone() {
            result = Err(format!("no usable input left: {why}"));
            break;
        }

        // Rewards (the step applies to the read-out BEL last computed).
        incoming.clear();
        let refused_before = stats.refused;
        outs.guarded("taking subscribers and reading rewards", |outs| {
            outs.accept();
            outs.incoming(&mut incoming, &mut stats.refused);
        });
        learning.junk += stats.refused - refused_before;
        learning.apply(&incoming, t, backend, o, &mut stats);
        learning.complain(t);

        // Read out.
        let facts = TickFacts {
            audio: fed.audio,
            video: fed.video,
            in_window: window.elapsed(t),
            window: o.window,
            warmup: o.warmup,
            feed_failed: fed.error,
            learning: learning.last_reward.is_some_and(|r| t - r < 1.0),
            held: held.map(|h| h.confidence),
        };
        let (peeked, fresh) = match facts.peek_modalities() {
            None => (Peeked::NotAsked, None),
            Some(m) => match backend.peek(m) {
                Ok(out) => (Peeked::Fresh, Some(out)),
                Err(Error::Input(InputError::EmptyAudio | InputError::NoFrames)) => (Peeked::NotEnoughData, None),
                Err(_) => (Peeked::Failed, None),
            },
        };
        let d = decide(&facts, peeked);
        let capture_ns = fed.newest_ns.unwrap_or(now_ns);
        let (values, cap) = match (d.readout, fresh, held) {
            (Readout::Fresh, Some(out), _) => (Some(out), capture_ns),
            (Readout::Held, _, Some(h)) => (Some(h.out), h.capture_ns),
            _ => (None, capture_ns),
        };
        let sample = make_sample(seq, cap, values, d, hash);
        outs.guarded("publishing a sample", |outs| outs.publish(&Message::Sample(sample)));
        let written = monotonic_ns();
        seq = seq.wrapping_add(1);
        stats.samples += 1;
        last_flags = sample.flags;
        match d.readout {
            Readout::Fresh => {
                stats.fresh += 1;
                hist.add(written.saturating_sub(cap) / 1000);
            }
            Readout::NoEstimate => stats.no_estimate += 1,
            Readout::Held => {}
        }

        // Heartbeat once a second; watchdog from this loop.
        if t >= next_heartbeat {
            next_heartbeat += 1.0;
            stats.dropped = outs.dropped();
            let hb = Heartbeat {
                seq: hb_seq,
                now_ns: monotonic_ns(),
                samples: stats.samples as u32,
                dropped: stats.dropped as u32,
                updates: learning.updates,
                flags: last_flags,
                model_hash: hash,
            };
            hb_seq = hb_seq.wrapping_add(1);
            outs.guarded("publishing a heartbeat", |outs| outs.publish(&Message::Heartbeat(hb)));
        }
        if let (Some(every), Some(n)) = (watchdog_every, &notifier) {
            if t >= next_watchdog {
                n.send("WATCHDOG=1");
                next_watchdog = t + every.as_secs_f64();
            }
        }
    }

    // Shut down within a second: inputs (threads, child processes) first, bounded; then the state, the readers.
    if let Some(n) = &notifier {
        n.send("STOPPING=1");
    }
    inputs.stop(Instant::now() + Duration::from_millis(600));
    if learning.unsaved {
        learning.save(backend, o);
    }
    outs.guarded("flushing at shutdown", Outputs::flush);
    stats.transport_panics = outs.panics();
    stats.seconds = pacer.elapsed();
    stats.late = pacer.late();
    stats.dropped = outs.dropped();
    stats.capture_dropped = inputs.dropped();
    stats.latency_us = [hist.quantile(0.5), hist.quantile(0.99), hist.max_us() as f64];
    result.map(|_| stats)
}

/// The sample for a decision: values (or NaN without an estimate), never a non-finite number otherwise.
fn make_sample(seq: u32, capture_ns: u64, values: Option<Output>, d: Decision, hash: u64) -> Sample {
    let (epp, emotions, flags_) = match values {
        Some(out) => {
            let fix = |x: f32| if x.is_finite() { x } else { 0.0 };
            (fix(out.epp), out.emotions.map(fix), d.flags)
        }
        None => (f32::NAN, [f32::NAN; 5], d.flags | flags::NO_ESTIMATE),
    };
    Sample {
        seq,
        capture_ns,
        publish_ns: monotonic_ns(),
        epp,
        emotions,
        confidence: if values.is_some() && d.confidence.is_finite() { d.confidence } else { 0.0 },
        flags: flags_,
        model_hash: hash,
    }
}

/// One inference on a neutral clip (gray frames, silence), then a reset.
pub fn warm_up(p: &mut dyn Backend) -> Result<(), Error> {
    let cfg = *p.config();
    let frame = vec![128u8; cfg.visual.height as usize * cfg.visual.width as usize];
    for _ in 0..cfg.visual.channels as usize + cfg.visual.stride_frames as usize {
        p.push_frame(&frame)?;
    }
    p.push_audio(&vec![0.0f32; cfg.audio.sample_rate as usize / 4])?;
    let r = p.infer(Modalities::BOTH);
    p.reset();
    r.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use SenseState::{Live, Missing, Off};

    fn facts(audio: SenseState, video: SenseState, in_window: f64, held: Option<f32>) -> TickFacts {
        TickFacts { audio, video, in_window, window: 3.0, warmup: 0.5, feed_failed: false, learning: false, held }
    }

    #[test]
    fn a_fresh_read_out_with_every_sense() {
        let f = facts(Live, Live, 1.5, Some(0.9));
        assert_eq!(f.peek_modalities(), Some(Modalities::BOTH));
        let d = decide(&f, Peeked::Fresh);
        assert_eq!(d.flags, flags::AUDIO_OK | flags::VIDEO_OK);
        assert_eq!(d.readout, Readout::Fresh);
        assert!((d.confidence - 0.5).abs() < 1e-6);
    }

    #[test]
    fn one_sense_missing_degrades_and_halves_confidence() {
        let f = facts(Live, Missing, 3.0, None);
        assert_eq!(f.peek_modalities(), Some(Modalities { audio: true, video: false }));
        let d = decide(&f, Peeked::Fresh);
        assert_eq!(d.flags, flags::AUDIO_OK | flags::DEGRADED);
        assert!((d.confidence - 0.5).abs() < 1e-6);
        // The same sense alone, configured alone, is not degraded.
        let d = decide(&facts(Live, Off, 3.0, None), Peeked::Fresh);
        assert_eq!((d.flags, d.confidence), (flags::AUDIO_OK, 1.0));
    }

    #[test]
    fn no_live_sense_means_no_estimate_even_with_a_held_result() {
        for (a, v) in [(Missing, Missing), (Missing, Off), (Off, Missing)] {
            let f = facts(a, v, 2.0, Some(1.0));
            assert_eq!(f.peek_modalities(), None);
            let d = decide(&f, Peeked::NotAsked);
            assert_eq!(d.readout, Readout::NoEstimate, "{a:?} {v:?}");
            assert_eq!(d.flags, flags::DEGRADED | flags::NO_ESTIMATE);
            assert_eq!(d.confidence, 0.0);
        }
    }

    #[test]
    fn warm_up_holds_the_previous_window_or_says_there_is_none() {
        let f = facts(Live, Live, 0.2, Some(0.75));
        assert_eq!(f.peek_modalities(), None);
        let d = decide(&f, Peeked::NotAsked);
        assert_eq!((d.readout, d.confidence), (Readout::Held, 0.75));
        assert_eq!(d.flags, flags::AUDIO_OK | flags::VIDEO_OK | flags::WARMING_UP);
        // The very first window has nothing to hold.
        let d = decide(&facts(Live, Live, 0.2, None), Peeked::NotAsked);
        assert_eq!(d.readout, Readout::NoEstimate);
        assert_eq!(d.flags, flags::AUDIO_OK | flags::VIDEO_OK | flags::WARMING_UP | flags::NO_ESTIMATE);
        // Past warm-up but the clip has no data of a sense yet: held too.
        let d = decide(&facts(Live, Live, 0.6, Some(0.5)), Peeked::NotEnoughData);
        assert_eq!(d.readout, Readout::Held);
    }

    #[test]
    fn failures_and_learning_are_flagged() {
        let mut f = facts(Live, Live, 2.0, Some(0.5));
        f.feed_failed = true;
        f.learning = true;
        let d = decide(&f, Peeked::Fresh);
        assert_eq!(d.flags, flags::AUDIO_OK | flags::VIDEO_OK | flags::DEGRADED | flags::LEARNING);
        let d = decide(&facts(Live, Live, 2.0, Some(0.5)), Peeked::Failed);
        assert_eq!(d.readout, Readout::Held);
        assert_eq!(d.flags & (flags::DEGRADED | flags::WARMING_UP), flags::DEGRADED);
        let d = decide(&facts(Live, Live, 2.0, None), Peeked::Failed);
        assert_eq!(d.readout, Readout::NoEstimate);
    }

    #[test]
    fn samples_without_an_estimate_carry_nan_and_no_confidence() {
        let d = decide(&facts(Missing, Missing, 1.0, None), Peeked::NotAsked);
        let s = make_sample(4, 10, None, d, 7);
        assert!(s.epp.is_nan() && s.emotions.iter().all(|x| x.is_nan()));
        assert_eq!(s.confidence, 0.0);
        assert!(!s.has_estimate());
        let d = decide(&facts(Live, Off, 1.5, None), Peeked::Fresh);
        let out = Output { epp: f32::INFINITY, ..Output::default() };
        let s = make_sample(5, 10, Some(out), d, 7);
        assert!(s.has_estimate() && s.epp == 0.0, "a non-finite value is never sent as a number");
    }
}
