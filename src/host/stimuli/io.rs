//! Writing the stimuli's files (WAV with `hound`, PNG with `png`, YUV4MPEG2 by hand) and reading stimuli from
//! `stimuli.csv`.

use super::params::{parse_number, Params, Slider, PROTOTYPES};
use super::StimulusError;
use crate::host::data::WHERE_TO_GET;
use std::path::Path;

/// A 16-bit PCM mono WAV file (written with `hound`); samples are clipped to [−1, 1] and rounded by [`pcm16`].
/// A WAV file holds at most 2³² − 1 bytes: samples beyond its 2,147,483,629th are not written.
pub fn wav_bytes(audio: &[f32], sample_rate: u32) -> Vec<u8> {
    const MAX_SAMPLES: usize = (u32::MAX as usize - 36) / 2;
    let audio = &audio[..audio.len().min(MAX_SAMPLES)];
    let mut cursor = std::io::Cursor::new(Vec::with_capacity(44 + 2 * audio.len()));
    let spec =
        hound::WavSpec { channels: 1, sample_rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    // Writing into memory fails only for lengths a WAV header cannot express, which the cut above rules out.
    if let Ok(mut w) = hound::WavWriter::new(&mut cursor, spec) {
        let mut pcm = w.get_i16_writer(audio.len() as u32);
        for &x in audio {
            pcm.write_sample(pcm16(x));
        }
        let done = pcm.flush().and_then(|_| w.finalize());
        debug_assert!(done.is_ok(), "in-memory WAV write: {done:?}");
    }
    cursor.into_inner()
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

/// An 8-bit grayscale PNG of `width`×`height` pixels (row-major), written with `png`.
pub fn png_gray(width: usize, height: usize, pixels: &[u8]) -> Result<Vec<u8>, png::EncodingError> {
    encode_png(width, height, png::ColorType::Grayscale, pixels)
}

/// An 8-bit RGB PNG of `width`×`height` pixels (row-major, 3 bytes per pixel), written with `png`.
pub fn png_rgb(width: usize, height: usize, pixels: &[u8]) -> Result<Vec<u8>, png::EncodingError> {
    encode_png(width, height, png::ColorType::Rgb, pixels)
}

fn encode_png(
    width: usize,
    height: usize,
    color: png::ColorType,
    pixels: &[u8],
) -> Result<Vec<u8>, png::EncodingError> {
    let too_big = || png::EncodingError::LimitsExceeded;
    let (w, h) = (u32::try_from(width).map_err(|_| too_big())?, u32::try_from(height).map_err(|_| too_big())?);
    let mut out = Vec::new();
    let mut e = png::Encoder::new(&mut out, w, h);
    e.set_color(color);
    e.set_depth(png::BitDepth::Eight);
    let mut writer = e.write_header()?;
    // The encoder checks that `pixels` holds exactly width × height × channels bytes.
    writer.write_image_data(pixels)?;
    writer.finish()?;
    Ok(out)
}

/// Reads the slider values of stimulus `name` from `<data_dir>/stimuli.csv` (columns found by header name).
pub fn load_stimulus(data_dir: &Path, name: &str) -> Result<Params, StimulusError> {
    let path = data_dir.join("stimuli.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        let mut message = e.to_string();
        if e.kind() == std::io::ErrorKind::NotFound {
            // Most likely a typo of a built-in name, or a fresh clone without the study's data: say both.
            let hint = did_you_mean(name, PROTOTYPES);
            message = format!(
                "{message}; {name:?} is not a built-in stimulus{hint} (built-in: {}), other names are read from \
                 this file; {WHERE_TO_GET}",
                PROTOTYPES.join(", ")
            );
        }
        StimulusError::Data { path: path.display().to_string(), message }
    })?;
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

/// The candidate closest to `name` if it is close enough to be a typo of it (Damerau–Levenshtein distance at most
/// a third of the name's length, and at least 1), for "did you mean" hints.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// ` (did you mean "happy"?)` when a candidate is close to `name`, else nothing.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(name, candidates).map(|c| format!(" (did you mean {c:?}?)")).unwrap_or_default()
}
