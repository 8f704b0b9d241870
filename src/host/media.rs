//! Reading clips from files (host side): 16-bit/float WAV and YUV4MPEG2, validated once with typed errors.

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
            MediaError::Empty => write!(f, "the file holds no samples or frames"),
        }
    }
}

impl std::error::Error for MediaError {}

/// Decode a WAV file to mono f32 in −1..1 (channels averaged); checks the sample rate.
pub fn read_wav(bytes: &[u8], expected_rate: u32) -> Result<Vec<f32>, MediaError> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(MediaError::BadWav("missing RIFF/WAVE header"));
    }
    let mut pos = 12;
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
        let body_start = pos + 8;
        let body_end = body_start.checked_add(len).ok_or(MediaError::BadWav("chunk length overflows"))?;
        if id == b"fmt " {
            if len < 16 || body_end > bytes.len() {
                return Err(MediaError::BadWav("short fmt chunk"));
            }
            let b = &bytes[body_start..];
            let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
            let mut tag = u16_at(0);
            if tag == 0xFFFE && len >= 40 {
                tag = u16_at(24); // WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the tag
            }
            fmt = Some((tag, u16_at(2), u32::from_le_bytes([b[4], b[5], b[6], b[7]]), u16_at(14)));
        } else if id == b"data" {
            let (tag, channels, rate, bits) = fmt.ok_or(MediaError::BadWav("data chunk before fmt chunk"))?;
            // A data chunk that claims more than the file holds is read up to the end (common in streamed files).
            let data = &bytes[body_start..body_end.min(bytes.len())];
            if channels == 0 {
                return Err(MediaError::BadWav("zero channels"));
            }
            if rate != expected_rate {
                return Err(MediaError::SampleRate { expected: expected_rate, got: rate });
            }
            let width = match (tag, bits) {
                (1, 8) => 1,
                (1, 16) => 2,
                (1, 24) => 3,
                (1, 32) | (3, 32) => 4,
                _ => return Err(MediaError::UnsupportedWav(format!("format tag {tag}, {bits} bits"))),
            };
            let frame = width * channels as usize;
            let n = data.len() / frame;
            if n == 0 {
                return Err(MediaError::Empty);
            }
            let mut out = Vec::with_capacity(n);
            for f in data.chunks_exact(frame) {
                let mut acc = 0.0f32;
                for s in f.chunks_exact(width) {
                    acc += match (tag, width) {
                        (1, 1) => (s[0] as f32 - 128.0) / 128.0,
                        (1, 2) => i16::from_le_bytes([s[0], s[1]]) as f32 / 32768.0,
                        (1, 3) => (i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8) as f32 / 8_388_608.0,
                        (1, 4) => i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as f32 / 2_147_483_648.0,
                        _ => {
                            let v = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
                            if v.is_finite() {
                                v.clamp(-1.0, 1.0)
                            } else {
                                0.0
                            }
                        }
                    };
                }
                out.push(acc / channels as f32);
            }
            return Ok(out);
        }
        // Chunks are padded to an even length.
        pos = body_end.saturating_add(len & 1);
    }
    Err(MediaError::BadWav("no data chunk"))
}

/// A decoded YUV4MPEG2 stream: luma planes only.
#[derive(Clone, Debug, PartialEq)]
pub struct Y4m {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Frames per second (numerator / denominator), if given.
    pub fps: f32,
    /// Luma frames, frame-major.
    pub luma: Vec<u8>,
}

impl Y4m {
    /// Number of frames.
    pub fn frames(&self) -> usize {
        self.luma.len() / (self.width * self.height)
    }

    /// Frame `i` scaled (exact area average of the whole frame, no crop) to `w`×`h`.
    pub fn frame_resized(&self, i: usize, w: usize, h: usize, out: &mut [u8]) {
        let plane = self.width * self.height;
        if let Some(mut s) = Shaper::new(self.width, self.height, w, h, Fit::Stretch) {
            if let Some(src) = self.luma.get(i * plane..(i + 1) * plane) {
                s.shape(src, self.width, out);
            }
        }
    }

    /// Every frame fitted to `w`×`h` (centre-cropped to that aspect, area-averaged) and resampled in time to `fps`
    /// frames per second: output frame `k` shows the source frame on screen at `t = k/fps` (sample and hold, as a
    /// camera read at another rate would). The clip keeps its duration: ⌊frames·fps/src_fps⌋ frames (at least one).
    /// The same code ([`crate::host::capture::frames`]) retimes live sources in `serve`.
    pub fn frames_at(&self, fps: f64, w: usize, h: usize) -> Vec<u8> {
        let fps = if fps.is_finite() && fps >= 1.0 { fps.round() as u32 } else { 1 };
        retime_clip(&self.luma, (self.width, self.height), f64::from(self.fps), (w, h), fps, Fit::Crop)
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
pub fn read_y4m(bytes: &[u8]) -> Result<Y4m, MediaError> {
    let bad = |s: &str| MediaError::BadY4m(s.to_string());
    let nl = bytes.iter().position(|&b| b == b'\n').ok_or_else(|| bad("no header line"))?;
    let header = std::str::from_utf8(&bytes[..nl]).map_err(|_| bad("header is not text"))?;
    let mut it = header.split(' ');
    if it.next() != Some("YUV4MPEG2") {
        return Err(bad("missing YUV4MPEG2 signature"));
    }
    let (mut w, mut h, mut fps, mut chroma) = (0usize, 0usize, 30.0f32, "420");
    for tok in it {
        let (k, v) = tok.split_at(tok.len().min(1));
        match k {
            "W" => w = v.parse().map_err(|_| bad("bad width"))?,
            "H" => h = v.parse().map_err(|_| bad("bad height"))?,
            "F" => {
                let (n, d) = v.split_once(':').ok_or_else(|| bad("bad frame rate"))?;
                let (n, d): (f32, f32) =
                    (n.parse().map_err(|_| bad("bad frame rate"))?, d.parse().map_err(|_| bad("bad frame rate"))?);
                if d > 0.0 && n > 0.0 {
                    fps = n / d;
                }
            }
            "C" => chroma = v,
            _ => {}
        }
    }
    if w == 0 || h == 0 || w > 8192 || h > 8192 {
        return Err(bad("width and height must be 1..8192"));
    }
    let plane = w * h;
    let c = w.div_ceil(2) * h.div_ceil(2);
    let extra = match chroma {
        c420 if c420.starts_with("420") => 2 * c,
        "422" => 2 * w.div_ceil(2) * h,
        "444" => 2 * plane,
        "mono" => 0,
        other => return Err(MediaError::BadY4m(format!("unsupported colour space C{other}"))),
    };
    let mut luma = Vec::new();
    let mut pos = nl + 1;
    while pos < bytes.len() {
        let end = bytes[pos..].iter().position(|&b| b == b'\n').ok_or_else(|| bad("frame header has no newline"))?;
        if !bytes[pos..pos + end].starts_with(b"FRAME") {
            return Err(bad("expected FRAME"));
        }
        pos += end + 1;
        if pos + plane + extra > bytes.len() {
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
