//! Byte-stream sources: `file://` (regular files paced at their own rate, looped, stopped or followed as they grow;
//! FIFOs read as written, waiting for a writer and reopened when one leaves) and `pipe:COMMAND` / `csi://` (a child
//! process's stdout). Y4M carries video, WAV or headerless 16-bit PCM carries audio.

use super::demux::{PcmStream, Y4mStream};
use super::fdio::{self, ChildStream, Got};
use super::{AtEnd, AudioSink, CaptureError, ModelInput, Outcome, RawPcm, Throttle, VideoSink, MAX_LEAD};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// Bytes per read: small enough that a paced file is delivered smoothly (~20 ms of CD audio).
const READ: usize = 4096;
/// Bytes per read from pipes and FIFOs (a frame or more at once when the writer is ahead).
const READ_PIPE: usize = 64 * 1024;

/// A decoder: bytes in, units (frames, PCM chunks) out to the sink at their content time.
trait Decode<S> {
    /// Feed bytes; deliver every complete unit (waiting for its content time through `throttle`). `Ok(false)`
    /// when stopped while waiting.
    fn feed(&mut self, bytes: &[u8], throttle: &mut Throttle, sink: &mut S) -> Result<bool, CaptureError>;
    /// Units delivered since the stream (re)started.
    fn units(&self) -> u64;
    /// The stream starts again from its first byte; its content time continues after what was played.
    fn restart(&mut self);
    /// Whether the stream declared its own end (a sized WAV data chunk).
    fn finished(&self) -> bool {
        false
    }
    /// The stream ends for good: deliver what is held back (the resampler's delay).
    fn end(&mut self, _sink: &mut S) {}
}

struct VideoDecoder {
    y4m: Y4mStream,
    /// Frames of the current pass, and content time (ns) where the pass started.
    frames: u64,
    base_ns: u64,
    default_fps: u32,
}

impl VideoDecoder {
    fn new(default_fps: u32) -> VideoDecoder {
        VideoDecoder { y4m: Y4mStream::new(), frames: 0, base_ns: 0, default_fps }
    }
}

/// Content time (ns) of frame `i` of a stream at `rate` (numerator, denominator) frames per second.
fn frame_ns(i: u64, (n, d): (u32, u32)) -> u64 {
    (u128::from(i) * 1_000_000_000 * u128::from(d) / u128::from(n.max(1))) as u64
}

impl Decode<VideoSink<'_>> for VideoDecoder {
    fn feed(&mut self, bytes: &[u8], throttle: &mut Throttle, sink: &mut VideoSink<'_>) -> Result<bool, CaptureError> {
        let stop = &sink.shared.stop;
        self.y4m.feed(bytes);
        let default_rate = (self.default_fps.max(1), 1);
        loop {
            let Some((h, f)) = self.y4m.next_frame().map_err(|e| CaptureError::Format(e.0))? else { return Ok(true) };
            let content = self.base_ns + frame_ns(self.frames, h.rate.unwrap_or(default_rate));
            let Some(ts) = throttle.wait(content, stop) else { return Ok(false) };
            sink.frame(f, h.width, h.height, h.width, ts);
            self.frames += 1;
        }
    }
    fn units(&self) -> u64 {
        self.frames
    }
    fn restart(&mut self) {
        let rate = self.y4m.header().and_then(|h| h.rate).unwrap_or((self.default_fps.max(1), 1));
        self.base_ns += frame_ns(self.frames, rate);
        self.frames = 0;
        self.y4m.reset();
    }
}

struct AudioDecoder {
    pcm: PcmStream,
    samples: Vec<f32>,
    /// Frames of the current pass and content time (ns) where it started.
    frames: u64,
    base_ns: u64,
    units: u64,
    /// Rate of the stream (known once its header is read; kept after a sized data chunk ends).
    rate: u32,
}

impl AudioDecoder {
    fn new(raw: Option<RawPcm>) -> AudioDecoder {
        let pcm = match raw {
            Some(r) => PcmStream::raw_s16(r.rate, r.channels),
            None => PcmStream::wav(),
        };
        AudioDecoder { pcm, samples: Vec::new(), frames: 0, base_ns: 0, units: 0, rate: raw.map_or(0, |r| r.rate) }
    }

    fn frames_ns(&self, frames: u64) -> u64 {
        (u128::from(frames) * 1_000_000_000 / u128::from(self.rate.max(1))) as u64
    }
}

impl Decode<AudioSink<'_>> for AudioDecoder {
    fn feed(&mut self, bytes: &[u8], throttle: &mut Throttle, sink: &mut AudioSink<'_>) -> Result<bool, CaptureError> {
        let stop = &sink.shared.stop;
        self.pcm.feed(bytes);
        let mut samples = std::mem::take(&mut self.samples);
        let r = self.pcm.take(&mut samples);
        let result = match r {
            Err(e) => Err(CaptureError::Format(e.0)),
            Ok(None) => Ok(true),
            Ok(Some(f)) => {
                self.rate = f.rate;
                let n = (samples.len() / usize::from(f.channels)) as u64;
                self.frames += n;
                self.units += 1;
                // The chunk's last sample is due at the content time of its end.
                match throttle.wait(self.base_ns + self.frames_ns(self.frames), stop) {
                    None => Ok(false),
                    Some(ts) => sink.pcm(&samples, f.rate, f.channels, ts).map(|_| true),
                }
            }
        };
        self.samples = samples;
        result
    }
    fn units(&self) -> u64 {
        self.units
    }
    fn restart(&mut self) {
        // The resampler is kept: a looped file is one continuous stream (a new format makes a new resampler).
        self.base_ns += self.frames_ns(self.frames);
        self.frames = 0;
        self.units = 0;
        self.pcm.reset();
    }
    fn finished(&self) -> bool {
        self.pcm.done()
    }
    fn end(&mut self, sink: &mut AudioSink<'_>) {
        sink.finish(crate::host::link::sys::monotonic_ns());
    }
}

/// Sinks as the stream readers see them.
trait StreamSink {
    fn stop_flag(&self) -> &AtomicBool;
    fn waiting(&self, what: String);
}

impl StreamSink for VideoSink<'_> {
    fn stop_flag(&self) -> &AtomicBool {
        &self.shared.stop
    }
    fn waiting(&self, what: String) {
        VideoSink::waiting(self, what)
    }
}

impl StreamSink for AudioSink<'_> {
    fn stop_flag(&self) -> &AtomicBool {
        &self.shared.stop
    }
    fn waiting(&self, what: String) {
        AudioSink::waiting(self, what)
    }
}

/// Read a `file://` path: FIFOs as live streams, regular files paced at their own rate.
fn file<S: StreamSink>(
    path: &Path,
    at_end: AtEnd,
    dec: &mut dyn Decode<S>,
    sink: &mut S,
) -> Result<Outcome, CaptureError> {
    let shown = path.display();
    let fifo = fdio::is_fifo(path).map_err(|e| CaptureError::Io(format!("{shown}: {e}")))?;
    if fifo {
        return fifo_stream(path, dec, sink);
    }
    let mut f = File::open(path).map_err(|e| CaptureError::Io(format!("{shown}: {e}")))?;
    let mut throttle = Throttle::new(Duration::ZERO);
    let mut buf = vec![0u8; READ];
    let mut pos = 0u64;
    loop {
        if sink.stop_flag().load(Ordering::Relaxed) {
            return Ok(Outcome::Stopped);
        }
        let n = f.read(&mut buf).map_err(|e| CaptureError::Io(format!("{shown}: {e}")))?;
        if n > 0 {
            pos += n as u64;
            if !dec.feed(&buf[..n], &mut throttle, sink)? {
                return Ok(Outcome::Stopped);
            }
            if !dec.finished() {
                continue;
            }
        }
        // End of the file (or of its WAV data).
        match at_end {
            AtEnd::Stop => {
                dec.end(sink);
                return Ok(Outcome::Ended);
            }
            AtEnd::Loop => {
                if dec.units() == 0 {
                    return Err(CaptureError::Format(format!("{shown}: no complete frame or sample in the file")));
                }
                dec.restart();
                f.seek(SeekFrom::Start(0)).map_err(|e| CaptureError::Io(format!("{shown}: {e}")))?;
                pos = 0;
            }
            AtEnd::Follow => {
                // A recording being written: wait for it to grow; a file that shrank was replaced.
                if !fdio::sleep_unless(sink.stop_flag(), Duration::from_millis(50)) {
                    return Ok(Outcome::Stopped);
                }
                let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(pos);
                if len < pos {
                    f = File::open(path).map_err(|e| CaptureError::Io(format!("{shown}: {e}")))?;
                    dec.restart();
                    throttle.reset();
                    pos = 0;
                }
            }
        }
    }
}

/// A FIFO: wait for a writer without blocking, read what it writes, end this attempt when it leaves.
fn fifo_stream<S: StreamSink>(path: &Path, dec: &mut dyn Decode<S>, sink: &mut S) -> Result<Outcome, CaptureError> {
    let shown = path.display();
    let mut f = fdio::open_fifo(path).map_err(|e| CaptureError::Io(format!("{shown}: {e}")))?;
    let mut throttle = Throttle::new(MAX_LEAD);
    let mut buf = vec![0u8; READ_PIPE];
    let mut got_bytes = false;
    sink.waiting(format!("waiting for a writer on the FIFO {shown}"));
    loop {
        if sink.stop_flag().load(Ordering::Relaxed) {
            return Ok(Outcome::Stopped);
        }
        match fdio::read_some(&mut f, &mut buf).map_err(|e| CaptureError::Io(format!("{shown}: {e}")))? {
            Got::Data(n) => {
                got_bytes = true;
                if !dec.feed(&buf[..n], &mut throttle, sink)? {
                    return Ok(Outcome::Stopped);
                }
            }
            Got::Nothing => {}
            Got::End if got_bytes => {
                return Err(CaptureError::Io(format!("the writer of the FIFO {shown} closed it; waiting for the next")))
            }
            // No writer yet: reads return end-of-file at once, so wait a slice before trying again.
            Got::End => {
                if !fdio::sleep_unless(sink.stop_flag(), Duration::from_millis(fdio::SLICE_MS as u64)) {
                    return Ok(Outcome::Stopped);
                }
            }
        }
    }
}

/// `pipe:COMMAND`: run it, read its stdout until it ends (then the attempt fails and is retried with backoff).
fn pipe<S: StreamSink>(
    command: &str,
    child_slot: &AtomicU32,
    dec: &mut dyn Decode<S>,
    sink: &mut S,
) -> Result<Outcome, CaptureError> {
    let mut child =
        ChildStream::spawn(command).map_err(|e| CaptureError::Io(format!("cannot run `{command}`: {e}")))?;
    child_slot.store(child.pid(), Ordering::SeqCst);
    sink.waiting(format!("waiting for data from `{command}`"));
    let mut throttle = Throttle::new(MAX_LEAD);
    let mut buf = vec![0u8; READ_PIPE];
    let result = loop {
        if sink.stop_flag().load(Ordering::Relaxed) {
            break Ok(Outcome::Stopped);
        }
        child.collect_stderr();
        match fdio::read_some(&mut child.stdout, &mut buf) {
            Err(e) => break Err(CaptureError::Io(format!("reading from `{command}`: {e}"))),
            Ok(Got::Data(n)) => match dec.feed(&buf[..n], &mut throttle, sink) {
                Ok(true) => {}
                Ok(false) => break Ok(Outcome::Stopped),
                Err(CaptureError::Format(m)) => {
                    let why = child.stderr_text();
                    let tail = if why.is_empty() { String::new() } else { format!(" (its stderr: {why})") };
                    break Err(CaptureError::Format(format!("`{command}` wrote {m}{tail}")));
                }
                Err(e) => break Err(e),
            },
            Ok(Got::Nothing) => {}
            Ok(Got::End) => {
                let status = child.wait_exit(Duration::from_millis(200));
                let why = child.stderr_text();
                let status = match status {
                    Some(s) => s.to_string(),
                    None => "closed its stdout".to_string(),
                };
                let tail = if why.is_empty() { String::new() } else { format!(": {why}") };
                break Err(CaptureError::Io(format!("`{command}` ended ({status}){tail}")));
            }
        }
    };
    child.stop();
    child_slot.store(0, Ordering::SeqCst);
    result
}

pub(crate) fn file_video(
    path: &Path,
    at_end: AtEnd,
    input: &ModelInput,
    sink: &mut VideoSink<'_>,
) -> Result<Outcome, CaptureError> {
    file(path, at_end, &mut VideoDecoder::new(input.fps), sink)
}

pub(crate) fn file_audio(
    path: &Path,
    at_end: AtEnd,
    raw: Option<RawPcm>,
    sink: &mut AudioSink<'_>,
) -> Result<Outcome, CaptureError> {
    file(path, at_end, &mut AudioDecoder::new(raw), sink)
}

pub(crate) fn pipe_video(
    command: &str,
    input: &ModelInput,
    child: &AtomicU32,
    sink: &mut VideoSink<'_>,
) -> Result<Outcome, CaptureError> {
    pipe(command, child, &mut VideoDecoder::new(input.fps), sink)
}

pub(crate) fn pipe_audio(
    command: &str,
    raw: Option<RawPcm>,
    child: &AtomicU32,
    sink: &mut AudioSink<'_>,
) -> Result<Outcome, CaptureError> {
    pipe(command, child, &mut AudioDecoder::new(raw), sink)
}
