//! Incremental parsers for byte streams that arrive in pieces (pipes, FIFOs, growing files): YUV4MPEG2 video and
//! WAV or raw 16-bit PCM audio. Feed bytes as they come; take whole frames (or samples) out as soon as they are
//! complete. A malformed header is a [`StreamError`] that names what was found: such a stream is refused once, not
//! retried. Memory is bounded by one frame plus one read.

use std::fmt;

/// A stream whose format is wrong or unsupported (fatal for the source: retrying would read the same bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamError(pub String);

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StreamError {}

fn err<T>(m: impl Into<String>) -> Result<T, StreamError> {
    Err(StreamError(m.into()))
}

/// Longest header line accepted (a YUV4MPEG2 stream header, a FRAME line).
const MAX_LINE: usize = 4096;

/// Bytes received and not yet consumed, with cheap consumption from the front.
#[derive(Default, Debug)]
struct Buffer {
    bytes: Vec<u8>,
    start: usize,
}

impl Buffer {
    fn feed(&mut self, b: &[u8]) {
        if self.start > 0 && self.start >= self.bytes.len() / 2 {
            self.bytes.drain(..self.start);
            self.start = 0;
        }
        self.bytes.extend_from_slice(b);
    }
    fn data(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.bytes.len());
    }
    fn clear(&mut self) {
        self.bytes.clear();
        self.start = 0;
    }
}

/// The stream header of a YUV4MPEG2 stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Y4mHeader {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Frame rate as numerator and denominator (`F` tag), if the stream states one.
    pub rate: Option<(u32, u32)>,
    /// Bytes of chroma after each luma plane (0 for `Cmono`).
    pub chroma: usize,
}

impl Y4mHeader {
    /// Frames per second, if stated.
    pub fn fps(&self) -> Option<f64> {
        self.rate.map(|(n, d)| f64::from(n) / f64::from(d))
    }
}

/// Parse the stream header line (without its newline).
pub fn parse_y4m_header(line: &[u8]) -> Result<Y4mHeader, StreamError> {
    let text = std::str::from_utf8(line).map_err(|_| StreamError("Y4M header is not text".into()))?;
    let mut tags = text.split(' ').filter(|t| !t.is_empty());
    // The signature opens the line (no leading blanks): the streaming check before a whole line has arrived looks
    // at the first bytes, and a stream must not pass or fail depending on how its bytes were split.
    if !text.starts_with("YUV4MPEG2") || tags.next() != Some("YUV4MPEG2") {
        let shown: String = text.chars().take(20).collect();
        return err(format!("not a YUV4MPEG2 stream (starts with {shown:?})"));
    }
    let (mut w, mut h, mut rate, mut colour) = (0usize, 0usize, None, "420jpeg".to_string());
    for t in tags {
        // The first character (not byte: a header may hold any UTF-8, and splitting inside a character panics).
        let mut chars = t.chars();
        let k = chars.next();
        let v = chars.as_str();
        match k {
            Some('W') => w = v.parse().map_err(|_| StreamError(format!("Y4M width `{v}` is not a number")))?,
            Some('H') => h = v.parse().map_err(|_| StreamError(format!("Y4M height `{v}` is not a number")))?,
            Some('F') => {
                let r = v.split_once(':').and_then(|(n, d)| Some((n.parse::<u32>().ok()?, d.parse::<u32>().ok()?)));
                match r {
                    Some((n, d)) if n > 0 && d > 0 => rate = Some((n, d)),
                    // `F0:0` means "unknown" in some writers.
                    Some(_) => rate = None,
                    None => return err(format!("Y4M frame rate `F{v}` is not N:D")),
                }
            }
            Some('C') => colour = v.to_string(),
            _ => {} // interlacing, aspect, comments: irrelevant to luma
        }
    }
    if w == 0 || h == 0 || w > 8192 || h > 8192 {
        return err(format!("Y4M frame size {w}x{h} (1–8192 pixels each way are taken)"));
    }
    let c = w.div_ceil(2) * h.div_ceil(2);
    let chroma = match colour.as_str() {
        "420jpeg" | "420paldv" | "420mpeg2" | "420" => 2 * c,
        "422" => 2 * w.div_ceil(2) * h,
        "444" => 2 * w * h,
        "mono" => 0,
        other => return err(format!("Y4M colour space C{other} (8-bit 420, 422, 444 or mono are taken)")),
    };
    Ok(Y4mHeader { width: w, height: h, rate, chroma })
}

/// Incremental YUV4MPEG2 reader: luma planes out.
#[derive(Debug, Default)]
pub struct Y4mStream {
    buf: Buffer,
    header: Option<Y4mHeader>,
    frame: Vec<u8>,
}

impl Y4mStream {
    /// A reader waiting for the stream header.
    pub fn new() -> Y4mStream {
        Y4mStream::default()
    }

    /// Append bytes read from the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.feed(bytes);
    }

    /// The stream header, once read.
    pub fn header(&self) -> Option<Y4mHeader> {
        self.header
    }

    /// Forget everything (a new stream starts, e.g. a FIFO's next writer or a looped file).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.header = None;
    }

    /// The next complete frame's luma plane (`width·height` bytes) with the stream header, `Ok(None)` until more
    /// bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<(Y4mHeader, &[u8])>, StreamError> {
        if self.header.is_none() {
            let d = self.buf.data();
            match d.iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    let h = parse_y4m_header(&d[..nl])?;
                    self.buf.consume(nl + 1);
                    self.header = Some(h);
                }
                None if d.len() > MAX_LINE => {
                    return err(format!("no YUV4MPEG2 header line in the first {MAX_LINE} bytes"))
                }
                None if d.len() >= 9 && !d.starts_with(b"YUV4MPEG2") => {
                    let shown = String::from_utf8_lossy(&d[..9.min(d.len())]).into_owned();
                    return err(format!("not a YUV4MPEG2 stream (starts with {shown:?})"));
                }
                None => return Ok(None),
            }
        }
        let Some(h) = self.header else { return Ok(None) };
        let d = self.buf.data();
        let Some(nl) = d.iter().take(MAX_LINE + 1).position(|&b| b == b'\n') else {
            if d.len() > MAX_LINE || (d.len() >= 5 && !d.starts_with(b"FRAME")) {
                return err("Y4M: expected a FRAME line");
            }
            return Ok(None);
        };
        if !d.starts_with(b"FRAME") {
            return err("Y4M: expected a FRAME line");
        }
        let plane = h.width * h.height;
        if d.len() < nl + 1 + plane + h.chroma {
            return Ok(None);
        }
        self.frame.clear();
        self.frame.extend_from_slice(&d[nl + 1..nl + 1 + plane]);
        self.buf.consume(nl + 1 + plane + h.chroma);
        Ok(Some((h, &self.frame)))
    }
}

/// How PCM samples are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Unsigned 8-bit.
    U8,
    /// Signed 16-bit little-endian.
    S16,
    /// Signed 24-bit little-endian (3 bytes).
    S24,
    /// Signed 32-bit little-endian.
    S32,
    /// IEEE float 32-bit little-endian.
    F32,
}

impl Encoding {
    /// Bytes per sample.
    pub fn width(self) -> usize {
        match self {
            Encoding::U8 => 1,
            Encoding::S16 => 2,
            Encoding::S24 => 3,
            Encoding::S32 | Encoding::F32 => 4,
        }
    }

    fn decode(self, s: &[u8]) -> f32 {
        match self {
            Encoding::U8 => (f32::from(s[0]) - 128.0) / 128.0,
            Encoding::S16 => f32::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0,
            Encoding::S24 => (i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8) as f32 / 8_388_608.0,
            Encoding::S32 => i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as f32 / 2_147_483_648.0,
            Encoding::F32 => f32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        }
    }
}

/// The format of a PCM stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcmFormat {
    /// Frames per second.
    pub rate: u32,
    /// Interleaved channels.
    pub channels: u16,
    /// Sample encoding.
    pub encoding: Encoding,
}

#[derive(Debug)]
enum WavState {
    /// Waiting for `RIFF....WAVE`.
    Riff,
    /// Reading chunk headers; the `fmt ` chunk's format once seen.
    Chunks(Option<PcmFormat>),
    /// Skipping `n` more bytes of a chunk before the next chunk header.
    Skip(Option<PcmFormat>, u64),
    /// In the data chunk: bytes left (`None`: to the end of the stream, as streamed WAVs declare).
    Data(PcmFormat, Option<u64>),
    /// After a sized data chunk: the rest is ignored.
    Done,
}

/// Incremental PCM reader: a WAV stream (PCM 8/16/24/32-bit or float 32-bit, any rate and channels; a data chunk of
/// size 0 or ≥ 2³¹ is read to the end of the stream, as `arecord` and GStreamer's `wavenc` write it on a pipe), or
/// headerless little-endian 16-bit PCM of a given rate and channel count.
#[derive(Debug)]
pub struct PcmStream {
    buf: Buffer,
    state: WavState,
    raw: Option<PcmFormat>,
}

impl PcmStream {
    /// A WAV stream.
    pub fn wav() -> PcmStream {
        PcmStream { buf: Buffer::default(), state: WavState::Riff, raw: None }
    }

    /// Headerless signed 16-bit little-endian PCM.
    pub fn raw_s16(rate: u32, channels: u16) -> PcmStream {
        let f = PcmFormat { rate, channels, encoding: Encoding::S16 };
        PcmStream { buf: Buffer::default(), state: WavState::Data(f, None), raw: Some(f) }
    }

    /// Forget everything (the stream restarts from its beginning).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.state = match self.raw {
            Some(f) => WavState::Data(f, None),
            None => WavState::Riff,
        };
    }

    /// Append bytes read from the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.feed(bytes);
    }

    /// The format, once the header has been read.
    pub fn format(&self) -> Option<PcmFormat> {
        match self.state {
            WavState::Data(f, _) => Some(f),
            _ => self.raw,
        }
    }

    /// Whether a sized data chunk has been read to its end (what follows is ignored).
    pub fn done(&self) -> bool {
        matches!(self.state, WavState::Done)
    }

    /// Decode every complete frame available, interleaved, into `out` (cleared first); returns the format when
    /// samples came out.
    pub fn take(&mut self, out: &mut Vec<f32>) -> Result<Option<PcmFormat>, StreamError> {
        out.clear();
        loop {
            let d = self.buf.data();
            match self.state {
                WavState::Riff => {
                    if d.len() < 12 {
                        if !b"RIFF"[..d.len().min(4)].eq(&d[..d.len().min(4)]) {
                            return err(format!("not a WAV stream (starts with {:?})", String::from_utf8_lossy(d)));
                        }
                        return Ok(None);
                    }
                    if &d[..4] != b"RIFF" || &d[8..12] != b"WAVE" {
                        let shown = String::from_utf8_lossy(&d[..12]).into_owned();
                        return err(format!("not a WAV stream (starts with {shown:?}, expected RIFF....WAVE)"));
                    }
                    self.buf.consume(12);
                    self.state = WavState::Chunks(None);
                }
                WavState::Chunks(fmt) => {
                    if d.len() < 8 {
                        return Ok(None);
                    }
                    let id = [d[0], d[1], d[2], d[3]];
                    let len = u32::from_le_bytes([d[4], d[5], d[6], d[7]]);
                    match &id {
                        b"fmt " => {
                            if !(16..=1024).contains(&len) {
                                return err(format!("WAV fmt chunk of {len} bytes"));
                            }
                            let need = 8 + len as usize + (len as usize & 1);
                            if d.len() < need {
                                return Ok(None);
                            }
                            let f = parse_fmt(&d[8..8 + len as usize])?;
                            self.buf.consume(need);
                            self.state = WavState::Chunks(Some(f));
                        }
                        b"data" => {
                            let Some(f) = fmt else { return err("WAV data chunk before its fmt chunk") };
                            self.buf.consume(8);
                            let left = if len == 0 || len >= 0x7FFF_F000 { None } else { Some(u64::from(len)) };
                            self.state = WavState::Data(f, left);
                        }
                        _ => {
                            if !id.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
                                return err(format!("WAV chunk id {id:02x?} is not text (corrupt stream)"));
                            }
                            self.buf.consume(8);
                            self.state = WavState::Skip(fmt, u64::from(len) + u64::from(len & 1));
                        }
                    }
                }
                WavState::Skip(fmt, n) => {
                    let k = (d.len() as u64).min(n);
                    self.buf.consume(k as usize);
                    if k < n {
                        self.state = WavState::Skip(fmt, n - k);
                        return Ok(None);
                    }
                    self.state = WavState::Chunks(fmt);
                }
                WavState::Data(f, left) => {
                    let frame = f.encoding.width() * usize::from(f.channels);
                    let mut avail = d.len() as u64;
                    if let Some(l) = left {
                        avail = avail.min(l);
                    }
                    let n = (avail as usize / frame) * frame;
                    for s in d[..n].chunks_exact(f.encoding.width()) {
                        let v = f.encoding.decode(s);
                        out.push(if v.is_finite() { v.clamp(-1.0, 1.0) } else { 0.0 });
                    }
                    self.buf.consume(n);
                    if let Some(l) = left {
                        let l = l - n as u64;
                        self.state = if l < frame as u64 { WavState::Done } else { WavState::Data(f, Some(l)) };
                    }
                    return Ok(if out.is_empty() { None } else { Some(f) });
                }
                WavState::Done => {
                    let n = d.len();
                    self.buf.consume(n);
                    return Ok(None);
                }
            }
        }
    }
}

fn parse_fmt(b: &[u8]) -> Result<PcmFormat, StreamError> {
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let mut tag = u16_at(0);
    if tag == 0xFFFE && b.len() >= 26 {
        tag = u16_at(24); // WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the tag
    }
    let channels = u16_at(2);
    let rate = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    let bits = u16_at(14);
    let encoding = match (tag, bits) {
        (1, 8) => Encoding::U8,
        (1, 16) => Encoding::S16,
        (1, 24) => Encoding::S24,
        (1, 32) => Encoding::S32,
        (3, 32) => Encoding::F32,
        _ => return err(format!("WAV encoding: format tag {tag}, {bits} bits (PCM 8/16/24/32 or float 32 are taken)")),
    };
    if channels == 0 || channels > 64 {
        return err(format!("WAV with {channels} channels (1–64 are taken)"));
    }
    if !(1_000..=768_000).contains(&rate) {
        return err(format!("WAV sample rate {rate} Hz (1 kHz–768 kHz are taken)"));
    }
    Ok(PcmFormat { rate, channels, encoding })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y4m(w: usize, h: usize, frames: &[u8], extra: &str) -> Vec<u8> {
        let mut b = format!("YUV4MPEG2 W{w} H{h} F25:1 Ip{extra}\n").into_bytes();
        let c = w.div_ceil(2) * h.div_ceil(2);
        for f in frames.chunks_exact(w * h) {
            b.extend_from_slice(b"FRAME Ixyz\n");
            b.extend_from_slice(f);
            b.resize(b.len() + 2 * c, 128);
        }
        b
    }

    #[test]
    fn y4m_in_pieces_of_any_size_gives_the_same_frames() {
        let frames: Vec<u8> = (0..5 * 6 * 4).map(|i| (i * 7 % 251) as u8).collect();
        let bytes = y4m(6, 4, &frames, "");
        for piece in [1, 2, 7, 13, 100, bytes.len()] {
            let mut s = Y4mStream::new();
            let mut got = Vec::new();
            for p in bytes.chunks(piece) {
                s.feed(p);
                while let Some((_, f)) = s.next_frame().unwrap() {
                    got.extend_from_slice(f);
                }
            }
            assert_eq!(got, frames, "pieces of {piece}");
            assert_eq!(s.header().unwrap().rate, Some((25, 1)));
        }
    }

    #[test]
    fn bad_y4m_streams_say_what_they_found() {
        let mut s = Y4mStream::new();
        s.feed(b"RIFF\x00\x00\x00\x00WAVEfmt ");
        let e = s.next_frame().unwrap_err().0;
        assert!(e.contains("not a YUV4MPEG2 stream") && e.contains("RIFF"), "{e}");
        let mut s = Y4mStream::new();
        s.feed(b"YUV4MPEG2 W4 H4 C420p10\n");
        assert!(s.next_frame().unwrap_err().0.contains("C420p10"));
        let mut s = Y4mStream::new();
        s.feed(b"YUV4MPEG2 W4 H4 Cmono\nFRAMX\n");
        assert!(s.next_frame().unwrap_err().0.contains("FRAME"));
        let mut s = Y4mStream::new();
        s.feed(&[b'Y'; 8]); // could still become a header
        assert_eq!(s.next_frame(), Ok(None));
    }

    fn wav_header(tag: u16, channels: u16, rate: u32, bits: u16, data_len: u32) -> Vec<u8> {
        let mut b = b"RIFF\xff\xff\xff\xffWAVE".to_vec();
        b.extend_from_slice(b"LIST");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(b"abc\0"); // odd chunk + pad byte
        b.extend_from_slice(b"fmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&tag.to_le_bytes());
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&(rate * u32::from(channels * bits / 8)).to_le_bytes());
        b.extend_from_slice(&(channels * bits / 8).to_le_bytes());
        b.extend_from_slice(&bits.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&data_len.to_le_bytes());
        b
    }

    #[test]
    fn streamed_wav_in_pieces() {
        let samples: Vec<i16> = (0..300).map(|i| (i * 97 - 12_000) as i16).collect();
        let mut bytes = wav_header(1, 2, 44_100, 16, 0xFFFF_FFFF);
        for s in &samples {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        for piece in [1, 3, 64, bytes.len()] {
            let mut s = PcmStream::wav();
            let (mut got, mut out) = (Vec::new(), Vec::new());
            for p in bytes.chunks(piece) {
                s.feed(p);
                if let Some(f) = s.take(&mut out).unwrap() {
                    assert_eq!((f.rate, f.channels, f.encoding), (44_100, 2, Encoding::S16));
                    got.extend_from_slice(&out);
                }
            }
            let want: Vec<f32> = samples.iter().map(|&x| f32::from(x) / 32768.0).collect();
            assert_eq!(got, want, "pieces of {piece}");
        }
    }

    #[test]
    fn a_sized_data_chunk_ends_the_stream() {
        let mut bytes = wav_header(3, 1, 22_050, 32, 8);
        for v in [0.5f32, -0.25, 9.0] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let mut s = PcmStream::wav();
        let mut out = Vec::new();
        s.feed(&bytes);
        s.take(&mut out).unwrap();
        assert_eq!(out, vec![0.5, -0.25]);
        assert!(s.done());
    }

    #[test]
    fn bad_wav_streams_say_what_they_found() {
        let mut out = Vec::new();
        let mut s = PcmStream::wav();
        s.feed(b"YUV4MPEG2 W64 H64");
        let e = s.take(&mut out).unwrap_err().0;
        assert!(e.contains("not a WAV stream") && e.contains("YUV4MPEG2"), "{e}");
        let mut s = PcmStream::wav();
        s.feed(&wav_header(1, 1, 22_050, 12, 0));
        assert!(s.take(&mut out).unwrap_err().0.contains("12 bits"));
        let mut s = PcmStream::wav();
        s.feed(&wav_header(1, 0, 22_050, 16, 0));
        assert!(s.take(&mut out).unwrap_err().0.contains("0 channels"));
    }

    #[test]
    fn raw_s16_needs_no_header() {
        let mut s = PcmStream::raw_s16(48_000, 1);
        let mut out = Vec::new();
        s.feed(&[0x00, 0x40, 0x00]); // one sample and a half
        assert_eq!(s.take(&mut out).unwrap().map(|f| f.rate), Some(48_000));
        assert_eq!(out, vec![0.5]);
        s.feed(&[0xC0]);
        s.take(&mut out).unwrap();
        assert_eq!(out, vec![-0.5]);
    }
}
