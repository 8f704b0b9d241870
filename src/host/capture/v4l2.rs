//! `v4l2:///dev/videoN`: a USB/UVC camera through V4L2 (feature `capture`), with the pure-Rust `linuxvideo` crate
//! (ioctls, no bindgen: cross-builds keep working). Asks for GREY, else YUYV, at the smallest mode that covers the
//! model's frames; takes luma. The capture time is the dequeue time (`linuxvideo` 0.3 does not expose the driver's
//! buffer timestamp). Every wait for a frame is a bounded `poll`, so a stop request or an unplugged camera never
//! hangs the thread.
//!
//! **Untested without hardware**: this machine has no camera; the pixel conversion and mode choice it relies on
//! (`pixels`) are tested on recorded buffers, this file is compiled in CI.

use super::fdio;
use super::pixels::{choose_size, to_luma, PixelFormat, Sizes};
use super::{CaptureError, ModelInput, Outcome, VideoSink};
use crate::host::link::sys::monotonic_ns;
use linuxvideo::format::{FrameSizes, PixFormat};
use linuxvideo::{BufType, Device};
use std::os::fd::AsRawFd;
use std::path::Path;

/// A camera that delivers nothing for this long is reopened.
const SILENT_NS: u64 = 5_000_000_000;

pub(crate) fn capture(path: &Path, input: &ModelInput, sink: &mut VideoSink<'_>) -> Result<Outcome, CaptureError> {
    let shown = path.display();
    let io = |what: &str, e: std::io::Error| CaptureError::Io(format!("{shown}: {what}: {e}"));
    let dev = Device::open(path).map_err(|e| io("open", e))?;
    let offered: Vec<linuxvideo::format::PixelFormat> =
        dev.formats(BufType::VIDEO_CAPTURE).filter_map(Result::ok).map(|d| d.pixel_format()).collect();
    let lv = |f: PixelFormat| linuxvideo::format::PixelFormat::from_fourcc(f.fourcc());
    let Some(format) = [PixelFormat::Grey, PixelFormat::Yuyv].into_iter().find(|f| offered.contains(&lv(*f))) else {
        let names: Vec<String> = offered.iter().map(|f| f.to_string()).collect();
        return Err(CaptureError::Format(format!(
            "the camera offers {} ; avf-bel reads GREY or YUYV (use pipe:COMMAND with GStreamer for others)",
            if names.is_empty() { "no capture format".to_string() } else { names.join(", ") }
        )));
    };
    let sizes = match dev.frame_sizes(lv(format)).map_err(|e| io("frame sizes", e))? {
        FrameSizes::Discrete(list) => Sizes::Discrete(list.iter().map(|s| (s.width(), s.height())).collect()),
        FrameSizes::Stepwise(s) | FrameSizes::Continuous(s) => Sizes::Stepwise {
            min: (s.min_width(), s.min_height()),
            max: (s.max_width(), s.max_height()),
            step: (s.step_width(), s.step_height()),
        },
    };
    let Some((w, h)) = choose_size(&sizes, (input.width as u32, input.height as u32)) else {
        return Err(CaptureError::Format(format!("the camera offers no frame size for {}", lv(format))));
    };
    let cap = dev.video_capture(PixFormat::new(w, h, lv(format))).map_err(|e| io("set format", e))?;
    let got = cap.format();
    if got.pixel_format() != lv(format) {
        return Err(CaptureError::Format(format!(
            "asked for {} but the driver chose {}",
            lv(format),
            got.pixel_format()
        )));
    }
    let (w, h) = (got.width() as usize, got.height() as usize);
    let stride = (got.bytes_per_line() as usize).max(w * format.bytes_per_pixel());
    let mut stream = cap.into_stream().map_err(|e| io("start streaming", e))?;
    let fd = stream.as_raw_fd();
    let mut luma = vec![0u8; w * h];
    let mut last = monotonic_ns();
    sink.waiting(format!("waiting for the first frame ({w}x{h} {})", lv(format)));
    loop {
        if sink.stopped() {
            return Ok(Outcome::Stopped);
        }
        if !fdio::wait_readable(fd, fdio::SLICE_MS).map_err(|e| io("poll", e))? {
            if monotonic_ns() - last > SILENT_NS {
                return Err(CaptureError::Io(format!("{shown}: no frame for 5 s")));
            }
            continue;
        }
        let ts = monotonic_ns();
        let ok = stream
            .dequeue(|buf| Ok(!buf.is_error() && to_luma(format, &buf, w, h, stride, &mut luma)))
            .map_err(|e| io("dequeue", e))?;
        if ok {
            last = ts;
            sink.frame(&luma, w, h, w, ts);
        }
    }
}
