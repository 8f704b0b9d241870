//! Hand-written file formats (WAV, YUV4MPEG2, grayscale PNG) and reading stimuli from `stimuli.csv`.

use super::params::{parse_number, Params, Slider};
use super::StimulusError;
use std::path::Path;

/// A 16-bit PCM mono WAV file (RIFF header written by hand); samples are clipped to [−1, 1].
pub fn wav_bytes(audio: &[f32], sample_rate: u32) -> Vec<u8> {
    let data_len = (audio.len() * 2) as u32;
    let mut b = Vec::with_capacity(44 + audio.len() * 2);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVE");
    b.extend_from_slice(b"fmt ");
    b.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    b.extend_from_slice(&1u16.to_le_bytes()); // PCM
    b.extend_from_slice(&1u16.to_le_bytes()); // mono
    b.extend_from_slice(&sample_rate.to_le_bytes());
    b.extend_from_slice(&(sample_rate * 2).to_le_bytes()); // byte rate
    b.extend_from_slice(&2u16.to_le_bytes()); // block align
    b.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for &x in audio {
        b.extend_from_slice(&pcm16(x).to_le_bytes());
    }
    b
}

/// One sample as 16-bit PCM: clip to [−1, 1], scale by 32767, round half away from zero; NaN → 0.
pub fn pcm16(x: f32) -> i16 {
    if x.is_nan() {
        return 0;
    }
    let v = f64::from(x.clamp(-1.0, 1.0)) * 32767.0;
    libm::round(v) as i16
}

/// A YUV4MPEG2 stream (`C420jpeg`, square pixels, progressive) of luma frames; chroma planes are neutral (128).
pub fn y4m_bytes(frames: &[u8], width: usize, height: usize, fps: u32) -> Vec<u8> {
    let plane = width * height;
    let n = frames.len().checked_div(plane).unwrap_or(0);
    let chroma = width.div_ceil(2) * height.div_ceil(2);
    let header = format!("YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n");
    let mut b = Vec::with_capacity(header.len() + n * (6 + plane + 2 * chroma));
    b.extend_from_slice(header.as_bytes());
    for f in 0..n {
        b.extend_from_slice(b"FRAME\n");
        b.extend_from_slice(&frames[f * plane..(f + 1) * plane]);
        b.resize(b.len() + 2 * chroma, 128);
    }
    b
}

/// An 8-bit grayscale PNG (zlib stream of stored deflate blocks, CRC-32 and Adler-32 computed here).
pub fn png_gray(width: usize, height: usize, pixels: &[u8]) -> Vec<u8> {
    // Raw scanlines, each with filter byte 0.
    let mut raw = Vec::with_capacity(height * (width + 1));
    for row in pixels.chunks_exact(width.max(1)).take(height) {
        raw.push(0);
        raw.extend_from_slice(row);
    }
    let mut z = vec![0x78, 0x01];
    let mut blocks = raw.chunks(65_535).peekable();
    if blocks.peek().is_none() {
        z.extend_from_slice(&[1, 0, 0, 0xFF, 0xFF]);
    }
    while let Some(block) = blocks.next() {
        let last = blocks.peek().is_none();
        z.push(u8::from(last));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(width as u32).to_be_bytes());
    ihdr.extend_from_slice(&(height as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit, grayscale, deflate, no filter set, no interlace
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &z);
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut d = CRC32.digest();
    d.update(kind);
    d.update(data);
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&d.finalize().to_be_bytes());
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= 65_521;
        b %= 65_521;
    }
    (b << 16) | a
}

/// Reads the slider values of stimulus `name` from `<data_dir>/stimuli.csv` (columns found by header name).
pub fn load_stimulus(data_dir: &Path, name: &str) -> Result<Params, StimulusError> {
    let path = data_dir.join("stimuli.csv");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| StimulusError::Data { path: path.display().to_string(), message: e.to_string() })?;
    let bad = |message: String| StimulusError::Data { path: path.display().to_string(), message };
    let mut lines = text.lines();
    let header: Vec<&str> =
        lines.next().ok_or_else(|| bad("the file is empty".into()))?.split(',').map(str::trim).collect();
    let col = |c: &str| header.iter().position(|h| *h == c).ok_or_else(|| bad(format!("no `{c}` column")));
    let name_col = col("stimulus")?;
    let mut cols = [0usize; 5];
    for (c, s) in cols.iter_mut().zip(Slider::ALL) {
        *c = col(s.name())?;
    }
    let mut names = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let Some(&row_name) = fields.get(name_col) else {
            return Err(bad(format!("row {} has too few fields", i + 2)));
        };
        if row_name != name {
            names.push(row_name.to_string());
            continue;
        }
        let mut p = Params { bpm: 0.0, jitter: 0.0, consonance: 0.0, bigsmall: 0.0, updown: 0.0 };
        for (&c, s) in cols.iter().zip(Slider::ALL) {
            let field = fields.get(c).ok_or_else(|| bad(format!("row {} has too few fields", i + 2)))?;
            p.set(s, parse_number(s, field)?);
        }
        p.validate()?;
        return Ok(p);
    }
    Err(StimulusError::UnknownStimulus { name: name.to_string(), known: names.join(", ") })
}

/// Resolves `--stimulus NAME`: a prototype name gives the built-in prototype, any other name is read from
/// `<data_dir>/stimuli.csv`.
pub fn resolve_stimulus(data_dir: &Path, name: &str) -> Result<Params, StimulusError> {
    match Params::prototype(name) {
        Some(p) => Ok(p),
        None => load_stimulus(data_dir, name),
    }
}
