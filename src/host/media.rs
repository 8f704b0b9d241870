//! Reading clips from files (host side): WAV (with `hound`) and YUV4MPEG2, validated once with typed errors.

use crate::host::capture::frames::{retime_clip, Fit, Shaper};
use crate::host::capture::sound::convert_clip;
use std::fmt;

/// A media file that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaError {
    /// Not a RIFF/WAVE file, or a chunk runs past the end of the file.
    BadWav(&'static str),
    /// A WAV encoding this reader does not take (it reads PCM 8/16/24/32-bit and IEEE float 32-bit).
    UnsupportedWav(String),
    /// The WAV sample rate differs from the model's (this reader does not resample).
    SampleRate {
        /// The model's rate.
        expected: u32,
        /// The file's rate.
        got: u32,
    },
    /// Not a YUV4MPEG2 stream, or its header is malformed; says what is wrong.
    BadY4m(String),
    /// A frame the decoded stream cannot give ([`Y4m::frame_resized`]): says which and why.
    FrameRequest(String),
    /// The stream holds no frames (or no samples).
    Empty,
}

impl fmt::Display for MediaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaError::BadWav(w) => write!(f, "not a usable WAV file: {w}"),
            MediaError::UnsupportedWav(w) => write!(f, "unsupported WAV encoding: {w}"),
            MediaError::SampleRate { expected, got } => {
                write!(f, "WAV sample rate is {got} Hz, the model needs {expected} Hz (resample it first)")
            }
            MediaError::BadY4m(w) => write!(f, "not a usable YUV4MPEG2 file: {w}"),
            MediaError::FrameRequest(w) => write!(f, "cannot resize the requested frame: {w}"),
            MediaError::Empty => write!(f, "the file holds no samples or frames"),
        }
    }
}

impl std::error::Error for MediaError {}

/// Decode a WAV file to mono f32 in −1..1 (channels averaged); checks the sample rate. Reads PCM 8/16/24/32-bit
/// and IEEE float 32-bit (also as WAVE_FORMAT_EXTENSIBLE) with `hound`. A data chunk that claims more bytes than
/// the file holds (common in streamed files) is read up to the last whole frame.
pub fn read_wav(bytes: &[u8], expected_rate: u32) -> Result<Vec<f32>, MediaError> {
    let mut reader = hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(wav_error)?;
    let spec = reader.spec();
    if spec.sample_rate != expected_rate {
        return Err(MediaError::SampleRate { expected: expected_rate, got: spec.sample_rate });
    }
    let channels = usize::from(spec.channels); // hound refuses 0 channels
                                               // Never trust the header for an allocation: at most one frame per byte of the file.
    let mut out = Vec::with_capacity((reader.len() as usize / channels).min(bytes.len()));
    let mut frame = Vec::with_capacity(channels);
    let mut push = |x: f32, out: &mut Vec<f32>| {
        frame.push(x);
        if frame.len() == channels {
            out.push(frame.iter().sum::<f32>() / channels as f32);
            frame.clear();
        }
    };
    match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => {
            for s in reader.samples::<f32>() {
                match s {
                    // Non-finite samples become silence; the rest are clipped to full scale.
                    Ok(v) => push(if v.is_finite() { v.clamp(-1.0, 1.0) } else { 0.0 }, &mut out),
                    Err(e) => return truncated_or(e, out),
                }
            }
        }
        (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            // hound gives signed values (8-bit WAV is unsigned on disk; hound re-centres it): full scale 2^(bits−1).
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            for s in reader.samples::<i32>() {
                match s {
                    Ok(v) => push(v as f32 * scale, &mut out),
                    Err(e) => return truncated_or(e, out),
                }
            }
        }
        (format, bits) => return Err(MediaError::UnsupportedWav(format!("{format:?} samples of {bits} bits"))),
    }
    if out.is_empty() {
        return Err(MediaError::Empty);
    }
    Ok(out)
}

/// A read error inside the data: the end of a truncated file keeps the whole frames read so far; anything else is
/// an error. (Reading from memory fails only at the end of the bytes, which hound reports as an I/O error.)
fn truncated_or(e: hound::Error, out: Vec<f32>) -> Result<Vec<f32>, MediaError> {
    match e {
        hound::Error::IoError(_) => {
            if out.is_empty() {
                Err(MediaError::Empty)
            } else {
                Ok(out)
            }
        }
        other => Err(wav_error(other)),
    }
}

/// hound's errors as [`MediaError`]s: encodings it (or this reader) does not take are `UnsupportedWav`, the rest
/// `BadWav`.
fn wav_error(e: hound::Error) -> MediaError {
    match e {
        hound::Error::FormatError(m) if m.starts_with("bits per sample") => MediaError::UnsupportedWav(m.to_string()),
        hound::Error::FormatError(m) => MediaError::BadWav(m),
        hound::Error::Unsupported => MediaError::UnsupportedWav("not PCM or IEEE float".to_string()),
        hound::Error::TooWide | hound::Error::InvalidSampleFormat => {
            MediaError::UnsupportedWav("sample width or format".to_string())
        }
        hound::Error::UnfinishedSample => MediaError::BadWav("unfinished sample"),
        // From memory, only the end of the bytes.
        hound::Error::IoError(_) => MediaError::BadWav("truncated before the data chunk"),
    }
}

/// Largest frame side [`read_y4m`] takes and [`Y4m::frame_resized`] produces, in pixels (a guard against headers
/// that would ask for gigabytes).
pub const Y4M_MAX_SIDE: usize = 8192;

/// Most bytes a whole clip resampled for the model may take (1 GiB).
pub const MAX_CLIP_BYTES: usize = 1 << 30;

/// A decoded YUV4MPEG2 stream: luma planes only.
#[derive(Clone, Debug, PartialEq)]
pub struct Y4m {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Frames per second (numerator / denominator of the `F` parameter; 30 when absent or `F0:0`). Finite, > 0.
    pub fps: f32,
    /// Luma frames, frame-major.
    pub luma: Vec<u8>,
}

impl Y4m {
    /// Number of frames (0 for a value whose sizes are zero or inconsistent).
    pub fn frames(&self) -> usize {
        self.width.checked_mul(self.height).and_then(|plane| self.luma.len().checked_div(plane)).unwrap_or(0)
    }

    /// Frame `i` scaled (exact area average of the whole frame, no crop) to `w`×`h` into `out`, which must be
    /// exactly `w·h` bytes long.
    ///
    /// Errors: `i` past the last frame, a target side of 0 or over [`Y4M_MAX_SIDE`], or `out` of another length.
    pub fn frame_resized(&self, i: usize, w: usize, h: usize, out: &mut [u8]) -> Result<(), MediaError> {
        let request = |m: String| Err(MediaError::FrameRequest(m));
        if w == 0 || h == 0 || w > Y4M_MAX_SIDE || h > Y4M_MAX_SIDE {
            return request(format!("target size {w}x{h} (each side must be 1..={Y4M_MAX_SIDE})"));
        }
        if out.len() != w * h {
            return request(format!("output buffer of {} bytes for a {w}x{h} frame", out.len()));
        }
        let frames = self.frames();
        let plane = self.width * self.height; // frames() > 0 below implies this is non-zero and did not overflow
        let Some(src) = (i < frames).then(|| &self.luma[i * plane..(i + 1) * plane]) else {
            return request(format!("frame {i} of a stream of {frames} frames"));
        };
        let shaped =
            Shaper::new(self.width, self.height, w, h, Fit::Stretch).is_some_and(|mut s| s.shape(src, self.width, out));
        if !shaped {
            return request(format!("a {}x{} frame cannot be scaled to {w}x{h}", self.width, self.height));
        }
        Ok(())
    }

    /// Every frame fitted to `w`×`h` (centre-cropped to that aspect, area-averaged) and resampled in time to `fps`
    /// frames per second: output frame `k` shows the source frame on screen at `t = k/fps` (sample and hold, as a
    /// camera read at another rate would). The clip keeps its duration: ⌊frames·fps/src_fps⌋ frames (at least one).
    /// The same code ([`crate::host::capture::frames`]) retimes live sources in `serve`.
    ///
    /// Errors: an empty stream, a target side of 0 or over [`Y4M_MAX_SIDE`], or a frame rate so low that the clip
    /// would be repeated more than 240 times per frame (or exceed 1 GiB).
    pub fn frames_at(&self, fps: f64, w: usize, h: usize) -> Result<Vec<u8>, MediaError> {
        let fps = if fps.is_finite() && fps >= 1.0 { fps.round() as u32 } else { 1 };
        let src_fps = f64::from(self.fps);
        let n_src = self.frames();
        if n_src == 0 {
            return Err(MediaError::Empty);
        }
        if w == 0 || h == 0 || w > Y4M_MAX_SIDE || h > Y4M_MAX_SIDE {
            return Err(MediaError::FrameRequest(format!(
                "target size {w}x{h} (each side must be 1..={Y4M_MAX_SIDE})"
            )));
        }
        let n_out = if src_fps > 0.0 { ((n_src as f64 * f64::from(fps) / src_fps) as usize).max(1) } else { n_src };
        // A stream that claims one frame every few days (`F1:1000000`) would be repeated millions of times: refuse
        // rather than allocate without bound (found by fuzzing). 240 repeats of a frame is a 1-fps source at 240 fps.
        let bytes = n_out.checked_add(1).and_then(|n| n.checked_mul(w)).and_then(|x| x.checked_mul(h));
        if n_out > n_src.saturating_mul(240) || bytes.is_none_or(|b| b > MAX_CLIP_BYTES) {
            return Err(MediaError::FrameRequest(format!(
                "{n_src} frames at {src_fps} fps would become {n_out} frames at {fps} fps: the frame rate is implausible"
            )));
        }
        Ok(retime_clip(&self.luma, (self.width, self.height), src_fps, (w, h), fps, Fit::Crop))
    }
}

/// The chroma layouts [`read_y4m`] reads (8 bits per sample); the value of the header's `C` parameter.
fn chroma_bytes(tag: &[u8], w: usize, h: usize) -> Option<usize> {
    let quarter = w.div_ceil(2) * h.div_ceil(2);
    match tag {
        b"420" | b"420jpeg" | b"420paldv" | b"420mpeg2" => Some(2 * quarter),
        b"422" => Some(2 * w.div_ceil(2) * h),
        b"444" => Some(2 * w * h),
        b"mono" => Some(0),
        _ => None, // 4:1:1, 10/12/16-bit (`420p10`, …), alpha (`444alpha`): other frame sizes, not read here
    }
}

/// Decode a WAV file to mono at `rate` Hz: [`read_wav`] at the file's own rate, then resampled (band-limited, rubato's
/// FFT resampler) when the rates differ. A 44.1 kHz or 48 kHz recording is therefore usable as is.
pub fn read_wav_at(bytes: &[u8], rate: u32) -> Result<Vec<f32>, MediaError> {
    match read_wav(bytes, rate) {
        Err(MediaError::SampleRate { got, .. }) => {
            let pcm = read_wav(bytes, got)?;
            convert_clip(&pcm, got, rate).map_err(|e| MediaError::UnsupportedWav(e.to_string()))
        }
        other => other,
    }
}

/// Decode a YUV4MPEG2 stream (8-bit 4:2:0, 4:2:2, 4:4:4 or mono), keeping luma.
///
/// The header is read byte by byte, as the format defines it: space-separated parameters, each a letter tag and a
/// value. `W`, `H`, `F` and `C` must be ASCII; the values of `I`, `A`, `X` and unknown letter tags are skipped
/// whatever bytes they hold; a parameter that does not start with a letter is an error naming the byte.
pub fn read_y4m(bytes: &[u8]) -> Result<Y4m, MediaError> {
    let bad = |s: &str| MediaError::BadY4m(s.to_string());
    let nl = bytes.iter().position(|&b| b == b'\n').ok_or_else(|| bad("no header line"))?;
    let mut params = bytes[..nl].split(|&b| b == b' ');
    if params.next() != Some(&b"YUV4MPEG2"[..]) {
        return Err(bad("missing YUV4MPEG2 signature"));
    }
    // An ASCII number of a header parameter (`str::parse` alone would take a leading `+`).
    fn number<T: std::str::FromStr>(v: &[u8]) -> Option<T> {
        if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(v).ok()?.parse().ok()
    }
    let (mut w, mut h, mut fps, mut chroma) = (0usize, 0usize, 30.0f32, &b"420"[..]);
    for p in params {
        let Some((&tag, v)) = p.split_first() else {
            continue; // a doubled or trailing space
        };
        match tag {
            b'W' => w = number(v).ok_or_else(|| bad("bad width"))?,
            b'H' => h = number(v).ok_or_else(|| bad("bad height"))?,
            b'F' => {
                let colon = v.iter().position(|&b| b == b':').ok_or_else(|| bad("bad frame rate"))?;
                let (n, d): (u32, u32) = number(&v[..colon])
                    .zip(number(&v[colon + 1..]))
                    .ok_or_else(|| bad("bad frame rate (expected F<num>:<den>)"))?;
                // F0:0 means "unknown": keep the default.
                if n > 0 && d > 0 {
                    fps = (f64::from(n) / f64::from(d)) as f32;
                }
            }
            b'C' => chroma = v,
            t if t.is_ascii_alphabetic() => {} // I (interlacing), A (aspect), X (extensions), future tags
            t => {
                return Err(MediaError::BadY4m(format!("a header parameter starts with byte 0x{t:02x}, not a letter")))
            }
        }
    }
    if w == 0 || h == 0 || w > Y4M_MAX_SIDE || h > Y4M_MAX_SIDE {
        return Err(MediaError::BadY4m(format!("width and height must be 1..={Y4M_MAX_SIDE}")));
    }
    let plane = w * h;
    let extra = chroma_bytes(chroma, w, h)
        .ok_or_else(|| MediaError::BadY4m(format!("unsupported colour space C{}", String::from_utf8_lossy(chroma))))?;
    let mut luma = Vec::new();
    let mut pos = nl + 1;
    while pos < bytes.len() {
        let end = bytes[pos..].iter().position(|&b| b == b'\n').ok_or_else(|| bad("frame header has no newline"))?;
        let line = &bytes[pos..pos + end];
        // `FRAME`, optionally followed by per-frame parameters (ignored).
        if !(line == b"FRAME" || line.starts_with(b"FRAME ")) {
            return Err(bad("expected FRAME"));
        }
        pos += end + 1;
        if bytes.len() - pos < plane + extra {
            return Err(bad("truncated frame"));
        }
        luma.extend_from_slice(&bytes[pos..pos + plane]);
        pos += plane + extra;
    }
    if luma.is_empty() {
        return Err(MediaError::Empty);
    }
    Ok(Y4m { width: w, height: h, fps, luma })
}
