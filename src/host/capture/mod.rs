//! Live inputs for the daemon: each source runs on its own capture thread, converts what it reads to the model's
//! format (frames: luma centre-cropped and area-averaged to the model's size; sound: mono at the model's rate) and
//! hands it over through a bounded drop-oldest [`Ring`] stamped with capture times. The inference tick only drains
//! rings: it never waits on a camera, a microphone, a pipe or a file.
//!
//! A source that fails (device missing, child process exited, writer gone) is reopened with exponential backoff
//! (0.25 s doubling to 5 s); so is a byte stream (`file://`, `pipe:`) holding malformed data, since its next writer
//! may send a good one, and a reader that panics (contained on its thread). A device or stimulus whose *format* is
//! wrong (unsupported pixel format, unknown stimulus) fails once with a message naming the URI and what was found. Every wait inside a source is bounded (≤ 100 ms slices), so a stop
//! request ends the thread promptly, killing child processes that ignore SIGTERM.
//!
//! URIs: see [`uri`]. Time resampling to the model's frame rate happens on the inference side ([`frames::Retimer`]),
//! from the capture timestamps.

pub mod demux;
mod fdio;
pub mod frames;
pub mod pixels;
mod ring;
pub mod sound;
mod stream;
mod synth;
pub mod uri;

#[cfg(feature = "capture")]
mod alsa;
#[cfg(feature = "capture")]
mod v4l2;

pub use ring::{Ring, Stamped};
pub use uri::{parse_uri, AtEnd, RawPcm, Sense, SourceUri};

use crate::host::link::sys::monotonic_ns;
use frames::{Fit, Shaper};
use sound::Converter;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Frames queued between a video capture thread and the inference tick (about half a second at 30 fps).
pub const VIDEO_RING: usize = 16;
/// Audio chunks queued (chunks are ~10–25 ms: about a second).
pub const AUDIO_RING: usize = 64;
/// How far a source may run ahead of real time before it is throttled (a writer faster than real time, an
/// unpaced ALSA device): its data is then delivered at its own content rate.
pub const MAX_LEAD: Duration = Duration::from_millis(250);

/// What the model needs from its inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInput {
    /// Frame width the model takes.
    pub width: usize,
    /// Frame height.
    pub height: usize,
    /// Model frames per second (for `synth://`, and a Y4M without an `F` tag).
    pub fps: u32,
    /// PCM sample rate the model takes.
    pub sample_rate: u32,
    /// Audio hop (ALSA periods are this long).
    pub hop: usize,
}

/// Where `synth://` finds stimuli, and how it renders them.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthOptions {
    /// Directory with `stimuli.csv` (for names that are not built-in prototypes).
    pub data_dir: PathBuf,
    /// Seconds rendered (then looped).
    pub seconds: f64,
    /// Seed of the renderer.
    pub seed: u64,
}

/// Why a source stopped delivering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaptureError {
    /// Retry later: the device, file or writer is absent, a child exited, a read failed.
    Io(String),
    /// The data is not in a format this reader takes (the message says what was found): retried with backoff for
    /// byte streams whose writer can change, final for devices and stimuli.
    Format(String),
}

impl std::fmt::Display for CaptureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaptureError::Io(m) | CaptureError::Format(m) => f.write_str(m),
        }
    }
}

/// Where a source is.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// Opening, or open and waiting for the first data (the detail says for what).
    Opening(String),
    /// Delivering data.
    Running,
    /// Failed; reopened after a pause (the error).
    Retrying(String),
    /// Failed for good (wrong format); the message names the URI and what was found.
    Failed(String),
    /// A recorded file ended (`end=stop`).
    Ended,
}

/// The state shared between a capture thread and its owner.
pub(crate) struct Shared<T> {
    stop: AtomicBool,
    ring: Ring<T>,
    status: Mutex<Status>,
    /// Process group of a child the source runs (0: none), so the owner can kill it if the thread is stuck.
    child: AtomicU32,
}

impl<T> Shared<T> {
    fn set_status(&self, s: Status) {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = s;
    }
    #[cfg_attr(not(feature = "capture"), allow(dead_code))]
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// A running capture thread and its ring. Dropping it stops the thread (and its child processes).
pub struct Capture<T: Send + 'static> {
    uri: String,
    shared: Arc<Shared<T>>,
    thread: Option<JoinHandle<()>>,
}

/// Frames at the model's size.
pub type VideoCapture = Capture<Vec<u8>>;
/// Mono PCM at the model's rate.
pub type AudioCapture = Capture<Vec<f32>>;

impl<T: Send + 'static> Capture<T> {
    /// The URI it was opened with.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Current status.
    pub fn status(&self) -> Status {
        self.shared.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Move everything captured since the last call into `out` (appended), oldest first. Never blocks on the source.
    pub fn drain_into(&self, out: &mut Vec<Stamped<T>>) {
        self.shared.ring.drain_into(out)
    }

    /// Capture time of the newest item delivered.
    pub fn last_ts(&self) -> Option<u64> {
        self.shared.ring.last_ts()
    }

    /// Items captured and items the ring dropped because the consumer was late.
    pub fn counts(&self) -> (u64, u64) {
        self.shared.ring.counts()
    }

    /// Ask the thread to stop (returns at once).
    pub fn request_stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }

    /// Stop and wait until `deadline` for the thread to end; a thread still stuck then is left behind (its child
    /// process group is killed). Whether it ended.
    pub fn stop_until(&mut self, deadline: Instant) -> bool {
        self.request_stop();
        while self.thread.as_ref().is_some_and(|t| !t.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        match self.thread.take() {
            Some(t) if t.is_finished() => {
                let _ = t.join();
                true
            }
            Some(t) => {
                fdio::kill_group(self.shared.child.load(Ordering::SeqCst), libc::SIGKILL);
                drop(t); // detached
                false
            }
            None => true,
        }
    }
}

impl<T: Send + 'static> Drop for Capture<T> {
    fn drop(&mut self) {
        self.stop_until(Instant::now() + Duration::from_millis(500));
    }
}

/// Holds a source to its content clock: data is not delivered more than `lead` ahead of real time (a file paced
/// at its own rate has lead 0), and a source that fell more than a second behind (a paused writer) is re-anchored
/// instead of being rushed.
#[derive(Debug)]
pub(crate) struct Throttle {
    anchor: Option<u64>,
    lead: u64,
}

impl Throttle {
    pub(crate) fn new(lead: Duration) -> Throttle {
        Throttle { anchor: None, lead: lead.as_nanos() as u64 }
    }

    /// Content time `content_ns` is due: wait if it is ahead of real time, then return the delivery (capture)
    /// time, or `None` when stopped while waiting.
    pub(crate) fn wait(&mut self, content_ns: u64, stop: &AtomicBool) -> Option<u64> {
        let now = monotonic_ns();
        let anchor = *self.anchor.get_or_insert(now.saturating_sub(content_ns));
        let due = anchor.saturating_add(content_ns);
        if due > now + self.lead {
            if !fdio::sleep_unless(stop, Duration::from_nanos(due - now - self.lead)) {
                return None;
            }
        } else if now > due + 1_000_000_000 {
            self.anchor = Some(now.saturating_sub(content_ns));
        }
        Some(monotonic_ns())
    }

    /// Forget the anchor (a new stream starts).
    pub(crate) fn reset(&mut self) {
        self.anchor = None;
    }
}

/// Converts frames of any size to the model's and pushes them into the ring.
pub(crate) struct VideoSink<'a> {
    shared: &'a Shared<Vec<u8>>,
    width: usize,
    height: usize,
    shaper: Option<Shaper>,
    /// Whether anything was delivered since the source (re)opened.
    pub(crate) delivered: bool,
}

impl VideoSink<'_> {
    #[cfg_attr(not(feature = "capture"), allow(dead_code))]
    pub(crate) fn stopped(&self) -> bool {
        self.shared.stopped()
    }

    /// One luma frame of `w`×`h` with rows `stride` bytes apart, captured at `ts_ns`.
    pub(crate) fn frame(&mut self, luma: &[u8], w: usize, h: usize, stride: usize, ts_ns: u64) {
        if self.shaper.as_ref().is_none_or(|s| s.source_size() != (w, h)) {
            self.shaper = Shaper::new(w, h, self.width, self.height, Fit::Crop);
        }
        let Some(s) = &mut self.shaper else { return };
        let mut out = vec![0u8; self.width * self.height];
        if s.shape(luma, stride, &mut out) {
            self.shared.ring.push(out, ts_ns);
            if !self.delivered {
                self.shared.set_status(Status::Running);
            }
            self.delivered = true;
        }
    }

    pub(crate) fn waiting(&self, what: impl Into<String>) {
        self.shared.set_status(Status::Opening(what.into()));
    }
}

/// Downmixes and resamples PCM to the model's rate and pushes it into the ring.
pub(crate) struct AudioSink<'a> {
    shared: &'a Shared<Vec<f32>>,
    rate: u32,
    conv: Option<Converter>,
    out: Vec<f32>,
    pub(crate) delivered: bool,
}

impl AudioSink<'_> {
    #[cfg_attr(not(feature = "capture"), allow(dead_code))]
    pub(crate) fn stopped(&self) -> bool {
        self.shared.stopped()
    }

    fn converter(&mut self, rate: u32, channels: u16) -> Result<&mut Converter, CaptureError> {
        if self.conv.as_ref().is_none_or(|c| c.input() != (rate, channels)) {
            self.conv =
                Some(Converter::new(rate, channels, self.rate).map_err(|e| CaptureError::Format(e.to_string()))?);
        }
        Ok(self.conv.as_mut().expect("set above"))
    }

    /// Interleaved float PCM captured (its last frame) at `ts_ns`.
    pub(crate) fn pcm(
        &mut self,
        interleaved: &[f32],
        rate: u32,
        channels: u16,
        ts_ns: u64,
    ) -> Result<(), CaptureError> {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        self.converter(rate, channels)?.push(interleaved, &mut out);
        self.emit(out, ts_ns);
        Ok(())
    }

    /// Interleaved 16-bit PCM captured (its last frame) at `ts_ns`.
    #[cfg_attr(not(feature = "capture"), allow(dead_code))]
    pub(crate) fn pcm_i16(
        &mut self,
        interleaved: &[i16],
        rate: u32,
        channels: u16,
        ts_ns: u64,
    ) -> Result<(), CaptureError> {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        self.converter(rate, channels)?.push_i16(interleaved, &mut out);
        self.emit(out, ts_ns);
        Ok(())
    }

    fn emit(&mut self, out: Vec<f32>, ts_ns: u64) {
        if out.is_empty() {
            self.out = out;
            return;
        }
        self.shared.ring.push(out, ts_ns);
        if !self.delivered {
            self.shared.set_status(Status::Running);
        }
        self.delivered = true;
    }

    /// The stream ended for good: flush what the resampler holds back (its delay, a partial chunk).
    pub(crate) fn finish(&mut self, ts_ns: u64) {
        let Some(c) = &mut self.conv else { return };
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        c.finish(&mut out);
        self.emit(out, ts_ns);
    }

    pub(crate) fn waiting(&self, what: impl Into<String>) {
        self.shared.set_status(Status::Opening(what.into()));
    }
}

/// How one run of a source ended (errors aside).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The owner asked to stop.
    Stopped,
    /// A recorded file ended and is not looped.
    Ended,
}

/// Backoff between reopen attempts.
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The text of a caught panic's payload (`panic!` with a literal or a formatted message), for the operator.
pub(crate) fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Run `attempt` until stopped, ended or failed for good, reopening with backoff after errors.
///
/// A panic inside an attempt (a bug in a reader, never expected: the fuzz targets look for them) is contained here:
/// the capture thread survives, the status says what happened and the source is reopened with backoff like after an
/// I/O error, while the daemon's samples go on flagged. Malformed data in a byte stream whose writer can change
/// (`file://`, `pipe:`: a FIFO's next writer, a file replaced, a command restarted) is retried the same way, with
/// the message naming what was found; a wrong format from a device or a stimulus name (`retry_format` false) will
/// not change by itself and fails for good.
fn supervise<T, S>(
    shared: &Shared<T>,
    uri: &str,
    sink: &mut S,
    retry_format: bool,
    mut attempt: impl FnMut(&mut S) -> Result<Outcome, CaptureError>,
) where
    S: Delivered,
{
    let mut backoff = BACKOFF_FIRST;
    loop {
        if shared.stopped() {
            return;
        }
        sink.reset_delivered();
        // Unwind boundary: after a panic the attempt's own state is dropped and a fresh attempt starts from the
        // sink's shared ring and status, which stay consistent (their locks tolerate poisoning).
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| attempt(&mut *sink)));
        let retry = match result {
            Ok(Ok(Outcome::Stopped)) => return,
            Ok(Ok(Outcome::Ended)) => {
                shared.set_status(Status::Ended);
                return;
            }
            Ok(Err(CaptureError::Format(m))) if retry_format => format!("malformed stream: {m}"),
            Ok(Err(CaptureError::Format(m))) => {
                shared.set_status(Status::Failed(format!("input {uri}: {m}")));
                return;
            }
            Ok(Err(CaptureError::Io(m))) => m,
            Err(p) => format!("its reader panicked ({}), a bug to report; the source is reopened", panic_text(&*p)),
        };
        if sink.was_delivered() {
            backoff = BACKOFF_FIRST; // it worked for a while: start the backoff again
        }
        shared.set_status(Status::Retrying(retry));
        if !fdio::sleep_unless(&shared.stop, backoff) {
            return;
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

trait Delivered {
    fn reset_delivered(&mut self);
    fn was_delivered(&self) -> bool;
}

impl Delivered for VideoSink<'_> {
    fn reset_delivered(&mut self) {
        self.delivered = false;
    }
    fn was_delivered(&self) -> bool {
        self.delivered
    }
}

impl Delivered for AudioSink<'_> {
    fn reset_delivered(&mut self) {
        self.delivered = false;
    }
    fn was_delivered(&self) -> bool {
        self.delivered
    }
}

fn start<T: Send + 'static>(
    uri: &str,
    capacity: usize,
    body: impl FnOnce(&Shared<T>) + Send + 'static,
) -> Result<Capture<T>, String> {
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        ring: Ring::new(capacity),
        status: Mutex::new(Status::Opening("starting".into())),
        child: AtomicU32::new(0),
    });
    let s2 = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name(format!("capture {}", uri.chars().take(40).collect::<String>()))
        .spawn(move || {
            // A panic outside `supervise` (while setting a source up) ends this source, never the process.
            if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&s2))) {
                s2.set_status(Status::Failed(format!("capture thread panicked: {}", panic_text(&*p))));
            }
        })
        .map_err(|e| format!("input {uri}: cannot start its capture thread: {e}"))?;
    Ok(Capture { uri: uri.to_string(), shared, thread: Some(thread) })
}

/// Start capturing video from `uri` (see [`uri`]); frames come out at `input`'s size.
pub fn open_video(uri: &str, input: &ModelInput, synth: &SynthOptions) -> Result<VideoCapture, String> {
    let src = parse_uri(uri, Sense::Video)?;
    src.check_build(uri)?;
    let (input, synth, u) = (input.clone(), synth.clone(), uri.to_string());
    start(uri, VIDEO_RING, move |shared: &Shared<Vec<u8>>| {
        let mut sink = VideoSink { shared, width: input.width, height: input.height, shaper: None, delivered: false };
        match src {
            SourceUri::Synth(name) => {
                supervise(shared, &u, &mut sink, false, |s| synth::video(&name, &input, &synth, s))
            }
            SourceUri::File { path, at_end, .. } => {
                supervise(shared, &u, &mut sink, true, |s| stream::file_video(&path, at_end, &input, s))
            }
            SourceUri::Pipe { command, .. } => {
                supervise(shared, &u, &mut sink, true, |s| stream::pipe_video(&command, &input, &shared.child, s))
            }
            SourceUri::Csi { sensor, width, height, fps } => {
                let command = SourceUri::csi_command(sensor, width, height, fps);
                supervise(shared, &u, &mut sink, true, |s| stream::pipe_video(&command, &input, &shared.child, s))
            }
            #[cfg(feature = "capture")]
            SourceUri::V4l2(path) => supervise(shared, &u, &mut sink, false, |s| v4l2::capture(&path, &input, s)),
            other => shared.set_status(Status::Failed(format!("input {u}: {other:?} does not give video"))),
        }
    })
}

/// Start capturing audio from `uri` (see [`uri`]); PCM comes out mono at `input`'s sample rate.
pub fn open_audio(uri: &str, input: &ModelInput, synth: &SynthOptions) -> Result<AudioCapture, String> {
    let src = parse_uri(uri, Sense::Audio)?;
    src.check_build(uri)?;
    let (input, synth, u) = (input.clone(), synth.clone(), uri.to_string());
    start(uri, AUDIO_RING, move |shared: &Shared<Vec<f32>>| {
        let mut sink = AudioSink { shared, rate: input.sample_rate, conv: None, out: Vec::new(), delivered: false };
        match src {
            SourceUri::Synth(name) => {
                supervise(shared, &u, &mut sink, false, |s| synth::audio(&name, &input, &synth, s))
            }
            SourceUri::File { path, at_end, raw } => {
                supervise(shared, &u, &mut sink, true, |s| stream::file_audio(&path, at_end, raw, s))
            }
            SourceUri::Pipe { command, raw } => {
                supervise(shared, &u, &mut sink, true, |s| stream::pipe_audio(&command, raw, &shared.child, s))
            }
            #[cfg(feature = "capture")]
            SourceUri::Alsa(device) => supervise(shared, &u, &mut sink, false, |s| alsa::capture(&device, &input, s)),
            other => shared.set_status(Status::Failed(format!("input {u}: {other:?} does not give audio"))),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that panics (a bug) is contained on its capture thread: the status says so, the source is reopened
    /// with backoff, and a later attempt that works delivers again.
    #[test]
    fn a_panicking_reader_is_contained_reported_and_reopened() {
        let attempts = Arc::new(AtomicU32::new(0));
        let seen = Arc::clone(&attempts);
        let cap = start("test://panics", 4, move |shared: &Shared<Vec<u8>>| {
            let mut sink = VideoSink { shared, width: 2, height: 2, shaper: None, delivered: false };
            supervise(shared, "test://panics", &mut sink, true, |s| {
                if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("reader bug at byte 36");
                }
                s.frame(&[1, 2, 3, 4], 2, 2, 2, 1);
                while !s.stopped() {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(Outcome::Stopped)
            })
        })
        .unwrap();
        let t = Instant::now();
        let mut retried = None;
        while t.elapsed() < Duration::from_secs(5) && cap.last_ts().is_none() {
            if let Status::Retrying(m) = cap.status() {
                retried = Some(m);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let m = retried.expect("the panic was reported as a retry");
        assert!(m.contains("panicked") && m.contains("reader bug at byte 36"), "{m}");
        assert!(cap.last_ts().is_some(), "the reopened source never delivered: {:?}", cap.status());
        // The frame lands in the ring before the status says so: wait for the status too (slow under qemu).
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) && cap.status() != Status::Running {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(cap.status(), Status::Running);
        assert!(attempts.load(Ordering::SeqCst) >= 2);
    }

    /// A panic outside the retry loop ends that source only, with a message.
    #[test]
    fn a_panic_while_setting_up_fails_the_source_not_the_process() {
        let cap = start("test://setup", 4, |_: &Shared<Vec<u8>>| panic!("setup bug")).unwrap();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) && !matches!(cap.status(), Status::Failed(_)) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(cap.status(), Status::Failed("capture thread panicked: setup bug".into()));
    }
}
