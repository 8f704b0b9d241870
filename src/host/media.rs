//! Reading clips from files (host side): WAV (with `hound`) and YUV4MPEG2, validated once with typed errors.

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

    /// Frame `i` resampled (area average) to `w`×`h`.
    pub fn frame_resized(&self, i: usize, w: usize, h: usize, out: &mut [u8]) {
        let src = &self.luma[i * self.width * self.height..(i + 1) * self.width * self.height];
        for y in 0..h {
            let y0 = y * self.height / h;
            let y1 = ((y + 1) * self.height / h).max(y0 + 1);
            for x in 0..w {
                let x0 = x * self.width / w;
                let x1 = ((x + 1) * self.width / w).max(x0 + 1);
                let mut s = 0u32;
                for yy in y0..y1 {
                    for xx in x0..x1 {
                        s += src[yy * self.width + xx] as u32;
                    }
                }
                out[y * w + x] = (s / ((y1 - y0) * (x1 - x0)) as u32) as u8;
            }
        }
    }
}

impl Y4m {
    /// Every frame resampled to `w`×`h` (area average) and in time to `fps` frames per second: output frame `k`
    /// shows the source frame on screen at `t = k/fps` (the latest one with `i/src_fps ≤ t`: sample and hold, as
    /// a camera read at another rate would). The clip keeps its duration: ⌊frames·fps/src_fps⌋ frames (at least one).
    pub fn frames_at(&self, fps: f64, w: usize, h: usize) -> Vec<u8> {
        let src_fps = f64::from(self.fps);
        let n_src = self.frames();
        let n_out = if fps > 0.0 && src_fps > 0.0 {
            ((n_src as f64 * fps / src_fps + 1e-9).floor() as usize).max(1)
        } else {
            n_src
        };
        let mut out = vec![0u8; n_out * w * h];
        for (k, dst) in out.chunks_exact_mut((w * h).max(1)).enumerate() {
            // Index arithmetic in exact rationals where the rates are whole numbers would be nicer; f64 with a tiny
            // bias towards the later frame keeps exact ratios (60 → 30, 25 → 30) on their frames.
            let i = if fps > 0.0 && src_fps > 0.0 { ((k as f64 * src_fps / fps) + 1e-9).floor() as usize } else { k };
            self.frame_resized(i.min(n_src.saturating_sub(1)), w, h, dst);
        }
        out
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
