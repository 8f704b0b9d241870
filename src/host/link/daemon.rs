//! The daemon behind `avf-bel serve`: paced inputs → [`Pipeline`] → samples on a Unix socket and a serial port,
//! rewards back into BEL, state saved atomically. One thread; every I/O is non-blocking, so a slow or vanished
//! reader costs a dropped message (counted), never a stalled pipeline.
//!
//! Per tick (default 30 per second): feed the audio and frames that "arrived" since the last tick (inputs are paced
//! in real time), close the clip if its window (default 3 s) is over, read rewards, [`Pipeline::peek`], publish.
//! Early in each window (`warmup`) the sample repeats the previous window's closing result, flagged
//! [`flags::WARMING_UP`].

use super::notify::Notifier;
use super::serial::Serial;
use super::socket::{Conn, Listener, Recv};
use super::state::{self, StateError};
use super::sys::{monotonic_ns, stop_requested};
use crate::core::error::{Error, InputError};
use crate::core::link::{
    decode_stream, flags, Heartbeat, Message, MessageDecoder, Reward, Sample, MAX_FRAME, MAX_PAYLOAD,
};
use crate::host::media::{read_wav, read_y4m};
use crate::host::stimuli::{io::resolve_stimulus, render_audio, render_frames, RenderOptions};
use crate::{Modalities, Output, Pipeline};
use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Everything `serve` can be told.
#[derive(Clone, Debug, PartialEq)]
pub struct ServeOptions {
    /// Audio input URI (`synth://NAME`, `file://clip.wav`), if any.
    pub audio: Option<String>,
    /// Video input URI (`synth://NAME`, `file://clip.y4m`), if any.
    pub video: Option<String>,
    /// Serial device to publish on (and read rewards from).
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
    /// Clip window in seconds: the pipeline's clip is closed and restarted this often.
    pub window: f64,
    /// Seconds at the start of each window during which the previous window's result is repeated.
    pub warmup: f64,
    /// Messages queued per subscriber beyond the kernel's buffer before the oldest is dropped.
    pub queue: usize,
    /// Where `synth://` finds stimuli that are not built-in prototypes.
    pub data_dir: PathBuf,
    /// Seed of synthesised stimuli.
    pub seed: u64,
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
        }
    }
}

impl ServeOptions {
    /// Check ranges; the message names the option.
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
            return Err("no input: give --audio URI and/or --video URI (e.g. synth://happy)".into());
        }
        if self.serial.is_none() && self.socket.is_none() && !self.json {
            return Err("no output: give --socket PATH, --serial DEV and/or --json".into());
        }
        for uri in [&self.audio, &self.video].into_iter().flatten() {
            parse_uri(uri)?;
        }
        Ok(())
    }
}

/// A parsed input URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A built-in (or `stimuli.csv`) stimulus, rendered and looped.
    Synth(String),
    /// A WAV or Y4M file, looped.
    File(PathBuf),
}

/// Parse `synth://NAME` or `file://PATH`; live sources are refused with a clear message.
pub fn parse_uri(uri: &str) -> Result<Source, String> {
    if let Some(name) = uri.strip_prefix("synth://") {
        if name.is_empty() {
            return Err(format!("`{uri}`: synth:// needs a stimulus name, e.g. synth://happy"));
        }
        Ok(Source::Synth(name.to_string()))
    } else if let Some(p) = uri.strip_prefix("file://") {
        if p.is_empty() {
            return Err(format!("`{uri}`: file:// needs a path"));
        }
        Ok(Source::File(PathBuf::from(p)))
    } else if uri.starts_with("v4l2://") || uri.starts_with("alsa://") {
        Err(format!(
            "`{uri}`: live capture (v4l2:// cameras, alsa:// microphones) is not implemented yet; use synth://NAME or \
             file://clip.wav / file://clip.y4m"
        ))
    } else {
        Err(format!("`{uri}`: unknown input; expected synth://NAME, file://clip.wav or file://clip.y4m"))
    }
}

/// One paced input: a clip looped in real time, or an error retried every few seconds.
struct Paced<T> {
    uri: String,
    clip: Result<Vec<T>, String>,
    /// Elements per item (1 for PCM samples, h·w for frames).
    item: usize,
    /// Items per second.
    rate: f64,
    /// Items delivered since start.
    delivered: u64,
    pos: usize,
    retry_at: f64,
    warned: bool,
}

impl<T: Copy> Paced<T> {
    fn items(&self) -> usize {
        self.clip.as_ref().map(|c| c.len() / self.item).unwrap_or(0)
    }

    /// Deliver the items due by `t` seconds (at most one loop's worth per call) to `f`; whether any were due and
    /// delivered.
    fn feed(&mut self, t: f64, f: &mut dyn FnMut(&[T]) -> Result<(), Error>) -> Result<bool, Error> {
        let due = (t * self.rate) as u64;
        let n_items = self.items();
        if n_items == 0 {
            self.delivered = due;
            return Ok(false);
        }
        let mut want = due.saturating_sub(self.delivered).min(n_items as u64) as usize;
        self.delivered = due;
        let any = want > 0;
        let clip = match &self.clip {
            Ok(c) => c,
            Err(_) => return Ok(false),
        };
        while want > 0 {
            let take = want.min(n_items - self.pos);
            f(&clip[self.pos * self.item..(self.pos + take) * self.item])?;
            self.pos = (self.pos + take) % n_items;
            want -= take;
        }
        Ok(any)
    }

    fn ok(&self) -> bool {
        self.items() > 0
    }
}

fn load_audio(src: &Source, sample_rate: u32, o: &ServeOptions) -> Result<Vec<f32>, String> {
    match src {
        Source::Synth(name) => {
            let params = resolve_stimulus(&o.data_dir, name).map_err(|e| e.to_string())?;
            let opts = RenderOptions { seconds: o.window, seed: o.seed, sample_rate, ..RenderOptions::default() };
            render_audio(&params, &opts).map_err(|e| e.to_string())
        }
        Source::File(p) => {
            let b = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
            read_wav(&b, sample_rate).map_err(|e| format!("{}: {e}", p.display()))
        }
    }
}

fn load_video(src: &Source, h: usize, w: usize, fps: u16, o: &ServeOptions) -> Result<Vec<u8>, String> {
    match src {
        Source::Synth(name) => {
            if h != w {
                return Err("synth:// renders square frames; this model's frames are not square".into());
            }
            let params = resolve_stimulus(&o.data_dir, name).map_err(|e| e.to_string())?;
            let opts = RenderOptions {
                seconds: o.window,
                seed: o.seed,
                size: w,
                fps: u32::from(fps),
                ..RenderOptions::default()
            };
            render_frames(&params, &opts).map_err(|e| e.to_string())
        }
        Source::File(p) => {
            let b = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let y = read_y4m(&b).map_err(|e| format!("{}: {e}", p.display()))?;
            y.frames_at(f64::from(fps), w, h).map_err(|e| format!("{}: {e}", p.display()))
        }
    }
}

/// Latency histogram: 10 µs buckets up to 100 ms, plus an overflow bucket (fixed memory for any run length).
struct Histogram {
    buckets: Vec<u32>,
    n: u64,
    max_us: u64,
}

impl Histogram {
    const WIDTH_US: u64 = 10;

    fn new() -> Self {
        Histogram { buckets: vec![0; 10_001], n: 0, max_us: 0 }
    }

    fn add(&mut self, us: u64) {
        let i = ((us / Self::WIDTH_US) as usize).min(self.buckets.len() - 1);
        self.buckets[i] += 1;
        self.n += 1;
        self.max_us = self.max_us.max(us);
    }

    /// Upper edge (µs) of the bucket holding quantile `q`.
    fn quantile(&self, q: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let target = ((q * self.n as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.buckets.iter().enumerate() {
            seen += u64::from(c);
            if seen >= target {
                let edge = ((i as u64 + 1) * Self::WIDTH_US).min(self.max_us);
                return if i + 1 == self.buckets.len() { self.max_us as f64 } else { edge as f64 };
            }
        }
        self.max_us as f64
    }
}

/// A queued socket packet.
#[derive(Clone, Copy)]
struct Packet {
    len: u8,
    bytes: [u8; MAX_PAYLOAD],
}

struct Subscriber {
    conn: Conn,
    queue: VecDeque<Packet>,
    dropped: u64,
}

/// What a run did, for `--stats` and tests.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Samples published.
    pub samples: u64,
    /// Of which fresh read-outs (not warm-up or held values).
    pub fresh: u64,
    /// Seconds run.
    pub seconds: f64,
    /// Latency quantiles (µs) of fresh samples, capture → written to every transport: p50, p99, max.
    pub latency_us: [f64; 3],
    /// Messages dropped for slow readers.
    pub dropped: u64,
    /// Ticks that started late by more than one period (the loop could not keep up).
    pub late: u64,
    /// Rewards applied.
    pub rewards: u64,
    /// Rewards or frames refused (out of range, bad CRC, bad payload).
    pub refused: u64,
}

impl Stats {
    /// Achieved samples per second.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.samples as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// One line for `--stats`.
    pub fn line(&self) -> String {
        format!(
            "stats: samples={} fresh={} seconds={:.2} rate={:.2}/s latency_p50_ms={:.3} latency_p99_ms={:.3} \
             latency_max_ms={:.3} dropped={} late_ticks={} rewards={} refused={}",
            self.samples,
            self.fresh,
            self.seconds,
            self.rate(),
            self.latency_us[0] / 1000.0,
            self.latency_us[1] / 1000.0,
            self.latency_us[2] / 1000.0,
            self.dropped,
            self.late,
            self.rewards,
            self.refused
        )
    }
}

/// Names of the set bits of [`Sample::flags`].
pub fn flag_names(f: u8) -> Vec<&'static str> {
    let names = [
        (flags::AUDIO_OK, "audio_ok"),
        (flags::VIDEO_OK, "video_ok"),
        (flags::WARMING_UP, "warming_up"),
        (flags::DEGRADED, "degraded"),
        (flags::LEARNING, "learning"),
    ];
    names.iter().filter(|(b, _)| f & b != 0).map(|(_, n)| *n).collect()
}

/// A sample as one JSON object on one line (`{"type":"sample", ...}`, the schema of [`crate::json`]).
pub fn sample_json(s: &Sample) -> String {
    crate::host::json::Record::Sample(s.into()).to_line()
}

/// A heartbeat as one JSON object on one line (`{"type":"heartbeat", ...}`, the schema of [`crate::json`]).
pub fn heartbeat_json(h: &Heartbeat) -> String {
    crate::host::json::Record::Heartbeat(h.into()).to_line()
}

/// Check a reward: five finite values in 0–1.
pub fn valid_reward(r: &Reward) -> bool {
    r.reward.iter().all(|x| x.is_finite() && (0.0..=1.0).contains(x))
}

/// The running daemon's outputs.
struct Outputs {
    listener: Option<Listener>,
    subs: Vec<Subscriber>,
    serial: Option<Serial>,
    serial_queue: VecDeque<([u8; MAX_FRAME], usize)>,
    serial_offset: usize,
    serial_dropped: u64,
    queue: usize,
    decoder: MessageDecoder,
}

impl Outputs {
    fn dropped(&self) -> u64 {
        self.serial_dropped + self.subs.iter().map(|s| s.dropped).sum::<u64>()
    }

    fn accept(&mut self) {
        let Some(l) = &self.listener else { return };
        loop {
            match l.accept() {
                Ok(Some(conn)) => {
                    let _ = conn.set_send_buffer(16 * 1024);
                    self.subs.push(Subscriber { conn, queue: VecDeque::with_capacity(self.queue), dropped: 0 });
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("warning: accept on {}: {e}", l.path().display());
                    break;
                }
            }
        }
    }

    /// Send `msg` to every subscriber and the serial port, dropping the oldest queued message when a queue is full.
    fn publish(&mut self, msg: &Message) {
        let mut p = Packet { len: 0, bytes: [0; MAX_PAYLOAD] };
        let Ok(n) = msg.encode(&mut p.bytes) else { return };
        p.len = n as u8;
        for s in &mut self.subs {
            if s.queue.len() >= self.queue {
                s.queue.pop_front();
                s.dropped += 1;
            }
            s.queue.push_back(p);
        }
        if self.serial.is_some() {
            let mut f = [0u8; MAX_FRAME];
            if let Ok(n) = crate::core::link::frame::encode(&p.bytes[..p.len as usize], &mut f) {
                // Drop the oldest frame not yet started (a started frame must finish, or the stream breaks).
                if self.serial_queue.len() >= self.queue {
                    let i = usize::from(self.serial_offset > 0);
                    if self.serial_queue.remove(i).is_some() {
                        self.serial_dropped += 1;
                    }
                }
                self.serial_queue.push_back((f, n));
            }
        }
        self.flush();
    }

    fn flush(&mut self) {
        self.subs.retain_mut(|s| {
            while let Some(p) = s.queue.front() {
                match s.conn.send(&p.bytes[..p.len as usize]) {
                    Ok(true) => {
                        s.queue.pop_front();
                    }
                    Ok(false) => break,
                    Err(_) => return false, // gone: forget it
                }
            }
            true
        });
        if let Some(port) = &self.serial {
            while let Some((f, n)) = self.serial_queue.front() {
                match port.write(&f[self.serial_offset..*n]) {
                    Ok(0) => break,
                    Ok(k) => {
                        self.serial_offset += k;
                        if self.serial_offset == *n {
                            self.serial_queue.pop_front();
                            self.serial_offset = 0;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
    }

    /// Collect every message robots sent since the last call.
    fn incoming(&mut self, out: &mut Vec<Message>, refused: &mut u64) {
        let mut buf = [0u8; 256];
        self.subs.retain_mut(|s| {
            for _ in 0..64 {
                match s.conn.recv(&mut buf, false) {
                    Ok(Recv::Packet(n)) => match Message::decode(&buf[..n]) {
                        Ok(m) => out.push(m),
                        Err(_) => *refused += 1,
                    },
                    Ok(Recv::Oversize(_)) => *refused += 1,
                    Ok(Recv::Empty) => return true,
                    Ok(Recv::Closed) | Err(_) => return false,
                }
            }
            true
        });
        if let Some(port) = &self.serial {
            for _ in 0..64 {
                match port.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => decode_stream(&mut self.decoder, &buf[..n], |r| match r {
                        Ok(m) => out.push(m),
                        Err(_) => *refused += 1,
                    }),
                }
            }
        }
    }
}

/// The values a sample carries when no fresh read-out is possible.
#[derive(Clone, Copy)]
struct Held {
    out: Output,
    capture_ns: u64,
    confidence: f32,
}

fn neutral() -> Held {
    Held { out: Output::default(), capture_ns: monotonic_ns(), confidence: 0.0 }
}

/// Run the daemon until `duration`, SIGINT or SIGTERM (install [`super::sys::install_stop_handler`] first).
/// Human messages go to stderr; `--json` samples to stdout.
pub fn serve(pipeline: &mut Pipeline<'_>, o: &ServeOptions) -> Result<Stats, String> {
    o.validate()?;
    let cfg = *pipeline.config();
    let hash = pipeline.model_hash();
    let (h, w) = (cfg.visual.height as usize, cfg.visual.width as usize);

    // Learned state.
    let mut updates: u32 = 0;
    if let Some(path) = &o.state {
        match state::load(path) {
            Ok(s) => match s.apply(pipeline.bel_mut(), hash) {
                Ok(()) => {
                    updates = s.updates;
                    eprintln!("loaded learned state {} ({} updates)", path.display(), s.updates);
                }
                Err(e) => eprintln!("warning: ignoring state file {}: {e}", path.display()),
            },
            Err(StateError::Io(_)) if !path.exists() => {
                eprintln!("no state file at {} yet; starting from the model's weights", path.display());
            }
            Err(e) => eprintln!("warning: ignoring state file {}: {e}", path.display()),
        }
    }

    // Warm-up inference: proves the model runs before we tell systemd we are ready.
    warm_up(pipeline).map_err(|e| format!("warm-up inference failed: {e}"))?;

    // Inputs.
    let mut audio = o.audio.as_ref().map(|uri| Paced {
        uri: uri.clone(),
        clip: Err(String::new()),
        item: 1,
        rate: f64::from(cfg.audio.sample_rate),
        delivered: 0,
        pos: 0,
        retry_at: 0.0,
        warned: false,
    });
    let mut video = o.video.as_ref().map(|uri| Paced {
        uri: uri.clone(),
        clip: Err(String::new()),
        item: h * w,
        rate: f64::from(cfg.visual.fps),
        delivered: 0,
        pos: 0,
        retry_at: 0.0,
        warned: false,
    });

    // Outputs.
    let listener = match &o.socket {
        Some(p) => Some(Listener::bind(p).map_err(|e| format!("socket {}: {e}", p.display()))?),
        None => None,
    };
    let serial = match &o.serial {
        Some(p) => Some(Serial::open(p, o.baud).map_err(|e| format!("serial {}: {e}", p.display()))?),
        None => None,
    };
    let mut outs = Outputs {
        listener,
        subs: Vec::new(),
        serial,
        serial_queue: VecDeque::with_capacity(o.queue),
        serial_offset: 0,
        serial_dropped: 0,
        queue: o.queue,
        decoder: MessageDecoder::new(),
    };

    let notifier = Notifier::from_env();
    if let Some(n) = &notifier {
        n.send("READY=1\nSTATUS=publishing");
    }
    let watchdog_every = notifier.as_ref().and_then(|n| n.watchdog()).map(|d| d / 2);
    eprintln!(
        "serving model {hash:016x}: {} samples/s, {} s windows{}{}",
        o.rate,
        o.window,
        o.socket.as_ref().map(|p| format!(", socket {}", p.display())).unwrap_or_default(),
        o.serial.as_ref().map(|p| format!(", serial {} at {} baud", p.display(), o.baud)).unwrap_or_default()
    );

    let mut stats = Stats::default();
    let mut hist = Histogram::new();
    let mut held = neutral();
    let mut seq: u32 = 0;
    let mut hb_seq: u32 = 0;
    let mut last_flags: u8;
    let mut last_reward: Option<f64> = None;
    let mut unsaved = false;
    let mut incoming = Vec::with_capacity(64);
    let period = 1.0 / o.rate;
    let start = Instant::now();
    let mut tick: u64 = 0;
    let mut window_start = 0.0f64;
    let mut next_heartbeat = 0.0f64;
    let mut next_watchdog = 0.0f64;
    let stdout = std::io::stdout();
    let n_configured = usize::from(audio.is_some()) + usize::from(video.is_some());

    loop {
        // Pace: sleep to the next tick; if far behind, skip ticks rather than burst.
        let mut due = tick as f64 * period;
        let now = start.elapsed().as_secs_f64();
        if due > now {
            std::thread::sleep(Duration::from_secs_f64(due - now));
        } else if now - due > period {
            stats.late += 1;
            tick = (now / period).floor() as u64;
            due = tick as f64 * period;
        }
        tick += 1;
        let t = start.elapsed().as_secs_f64().max(due);
        if stop_requested() || o.duration.is_some_and(|d| t >= d) {
            break;
        }
        let capture_ns = monotonic_ns();

        // (Re)load failed inputs every 2 s.
        if let Some(a) = &mut audio {
            if a.clip.is_err() && t >= a.retry_at {
                a.clip = parse_uri(&a.uri).and_then(|s| load_audio(&s, cfg.audio.sample_rate, o));
                retry_report(a, t);
            }
        }
        if let Some(v) = &mut video {
            if v.clip.is_err() && t >= v.retry_at {
                v.clip = parse_uri(&v.uri).and_then(|s| load_video(&s, h, w, cfg.visual.fps, o));
                retry_report(v, t);
            }
        }

        // Close the window: the full clip's result is what warm-up samples repeat.
        let m_ok =
            Modalities { audio: audio.as_ref().is_some_and(Paced::ok), video: video.as_ref().is_some_and(Paced::ok) };
        let n_ok = usize::from(m_ok.audio) + usize::from(m_ok.video);
        if t - window_start >= o.window {
            window_start += o.window * ((t - window_start) / o.window).floor();
            if n_ok > 0 {
                if let Ok(out) = pipeline.infer(m_ok) {
                    held = Held { out, capture_ns, confidence: n_ok as f32 / n_configured as f32 };
                }
            }
            pipeline.reset();
        }

        // Feed what arrived since the last tick.
        let mut feed_err = None;
        if let Some(a) = &mut audio {
            if let Err(e) = a.feed(t, &mut |pcm| pipeline.push_audio(pcm)) {
                feed_err = Some(e);
            }
        }
        if let Some(v) = &mut video {
            let fr = &mut |frames: &[u8]| {
                for f in frames.chunks_exact(h * w) {
                    pipeline.push_frame(f)?;
                }
                Ok(())
            };
            if let Err(e) = v.feed(t, fr) {
                feed_err = Some(e);
            }
        }

        // Rewards (the step applies to the read-out BEL last computed).
        outs.accept();
        incoming.clear();
        outs.incoming(&mut incoming, &mut stats.refused);
        for m in &incoming {
            if let Message::Reward(r) = m {
                if valid_reward(r) && pipeline.learn(&r.reward).is_ok() {
                    updates = updates.wrapping_add(1);
                    stats.rewards += 1;
                    last_reward = Some(t);
                    unsaved = true;
                    if updates.is_multiple_of(o.save_every) {
                        save_state(pipeline, o, hash, updates, &mut unsaved);
                    }
                } else {
                    stats.refused += 1;
                }
            }
        }

        // Read out.
        let in_window = t - window_start;
        let mut fl = 0u8;
        if m_ok.audio {
            fl |= flags::AUDIO_OK;
        }
        if m_ok.video {
            fl |= flags::VIDEO_OK;
        }
        if n_ok < n_configured || feed_err.is_some() {
            fl |= flags::DEGRADED;
        }
        if last_reward.is_some_and(|r| t - r < 1.0) {
            fl |= flags::LEARNING;
        }
        let fresh = if n_ok > 0 && in_window >= o.warmup {
            match pipeline.peek(m_ok) {
                Ok(out) => Some(out),
                Err(Error::Input(InputError::EmptyAudio | InputError::NoFrames)) => None,
                Err(_) => {
                    fl |= flags::DEGRADED;
                    None
                }
            }
        } else {
            None
        };
        let (out, cap, confidence) = match fresh {
            Some(out) => {
                let evidence = (in_window / o.window).min(1.0) as f32;
                (out, capture_ns, evidence * n_ok as f32 / n_configured as f32)
            }
            None => {
                if n_ok > 0 {
                    fl |= flags::WARMING_UP;
                }
                (held.out, held.capture_ns, if n_ok > 0 { held.confidence } else { 0.0 })
            }
        };
        let mut sample = Sample {
            seq,
            capture_ns: cap,
            publish_ns: monotonic_ns(),
            epp: out.epp,
            emotions: out.emotions,
            confidence,
            flags: fl,
            model_hash: hash,
        };
        sanitize(&mut sample);
        outs.publish(&Message::Sample(sample));
        let written = monotonic_ns();
        seq = seq.wrapping_add(1);
        stats.samples += 1;
        last_flags = fl;
        if fresh.is_some() {
            stats.fresh += 1;
            hist.add(written.saturating_sub(capture_ns) / 1000);
        }
        if o.json {
            let mut lock = stdout.lock();
            let _ = writeln!(lock, "{}", sample_json(&sample));
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
                updates,
                flags: last_flags,
                model_hash: hash,
            };
            hb_seq = hb_seq.wrapping_add(1);
            outs.publish(&Message::Heartbeat(hb));
        }
        if let (Some(every), Some(n)) = (watchdog_every, &notifier) {
            if t >= next_watchdog {
                n.send("WATCHDOG=1");
                next_watchdog = t + every.as_secs_f64();
            }
        }
    }

    if let Some(n) = &notifier {
        n.send("STOPPING=1");
    }
    if unsaved {
        save_state(pipeline, o, hash, updates, &mut unsaved);
    }
    outs.flush();
    stats.seconds = start.elapsed().as_secs_f64();
    stats.dropped = outs.dropped();
    stats.latency_us = [hist.quantile(0.5), hist.quantile(0.99), hist.max_us as f64];
    Ok(stats)
}

fn retry_report<T: Copy>(p: &mut Paced<T>, t: f64) {
    match &p.clip {
        Ok(_) => {
            if p.warned {
                eprintln!("input {} is back", p.uri);
            }
            p.warned = false;
        }
        Err(e) => {
            if !p.warned {
                eprintln!("warning: input {} unavailable ({e}); retrying every 2 s, samples flagged degraded", p.uri);
            }
            p.warned = true;
            p.retry_at = t + 2.0;
        }
    }
}

fn save_state(p: &mut Pipeline<'_>, o: &ServeOptions, hash: u64, updates: u32, unsaved: &mut bool) {
    if let Some(path) = &o.state {
        let bytes = state::encode(p.bel(), hash, updates);
        match state::save(path, &bytes) {
            Ok(()) => *unsaved = false,
            Err(e) => eprintln!("warning: could not save state: {e}"),
        }
    }
}

/// Replace non-finite values (never expected) so a reader never sees NaN.
fn sanitize(s: &mut Sample) {
    let fix = |x: &mut f32| {
        if !x.is_finite() {
            *x = 0.0;
        }
    };
    fix(&mut s.epp);
    fix(&mut s.confidence);
    s.emotions.iter_mut().for_each(fix);
}

/// One inference on a neutral clip (gray frames, silence), then a reset.
pub fn warm_up(p: &mut Pipeline<'_>) -> Result<(), Error> {
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
