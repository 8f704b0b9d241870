//! PCM of any rate and channel count to the model's mono stream: channels are averaged, then the rate is converted
//! with rubato's synchronous FFT resampler (band-limited: no aliasing from 44.1/48 kHz down to 22,050 Hz). One
//! [`Converter`] per stream: it keeps the filter state between chunks, so a stream converted in pieces equals the
//! stream converted whole (up to float rounding).

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};
use std::fmt;

/// Input frames per resampler call: ~10–20 ms at common rates, which bounds the latency the converter adds.
const CHUNK: usize = 512;

/// A sample rate or channel count the converter cannot take.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConvertError {
    /// A rate of zero, or beyond 1 MHz (the input's, the output's).
    Rate(u32, u32),
    /// No channels, or more than 64.
    Channels(u16),
    /// The resampler refused the ratio (its message).
    Resampler(String),
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvertError::Rate(i, o) => write!(f, "cannot convert {i} Hz to {o} Hz (rates must be 1 Hz–1 MHz)"),
            ConvertError::Channels(c) => write!(f, "{c} audio channels (1–64 are taken)"),
            ConvertError::Resampler(m) => write!(f, "resampler: {m}"),
        }
    }
}

impl std::error::Error for ConvertError {}

/// Streaming downmix + rate conversion to mono at the model's rate.
pub struct Converter {
    channels: usize,
    in_rate: u32,
    out_rate: u32,
    /// `None` when the rates are equal (downmix only).
    fft: Option<Fft<f32>>,
    /// Mono input waiting for a whole resampler chunk.
    pending: Vec<f32>,
    /// Input frames pushed and output frames produced (after the delay), for the length of a flushed clip.
    in_total: u64,
    out_total: u64,
    /// Output frames still to drop: the resampler's delay, so output sample 0 is input sample 0.
    skip: usize,
    scratch: Vec<f32>,
}

impl fmt::Debug for Converter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Converter({} ch, {} Hz -> {} Hz)", self.channels, self.in_rate, self.out_rate)
    }
}

impl Converter {
    /// A converter from `channels` interleaved channels at `in_rate` to mono at `out_rate`.
    pub fn new(in_rate: u32, channels: u16, out_rate: u32) -> Result<Converter, ConvertError> {
        if in_rate == 0 || out_rate == 0 || in_rate > 1_000_000 || out_rate > 1_000_000 {
            return Err(ConvertError::Rate(in_rate, out_rate));
        }
        if channels == 0 || channels > 64 {
            return Err(ConvertError::Channels(channels));
        }
        let (fft, skip) = if in_rate == out_rate {
            (None, 0)
        } else {
            let f = Fft::<f32>::new(in_rate as usize, out_rate as usize, CHUNK, 1, FixedSync::Input)
                .map_err(|e| ConvertError::Resampler(e.to_string()))?;
            let d = f.output_delay();
            (Some(f), d)
        };
        Ok(Converter {
            channels: usize::from(channels),
            in_rate,
            out_rate,
            fft,
            pending: Vec::new(),
            in_total: 0,
            out_total: 0,
            skip,
            scratch: Vec::new(),
        })
    }

    /// Input rate and channel count.
    pub fn input(&self) -> (u32, u16) {
        (self.in_rate, self.channels as u16)
    }

    /// Output frames one input frame becomes, on average.
    pub fn ratio(&self) -> f64 {
        f64::from(self.out_rate) / f64::from(self.in_rate)
    }

    /// Convert interleaved samples (a whole number of frames; a trailing partial frame is ignored) and append the
    /// mono output to `out`. Non-finite samples count as silence; values are clamped to −1..1.
    pub fn push(&mut self, interleaved: &[f32], out: &mut Vec<f32>) {
        let c = self.channels;
        let mono = interleaved.chunks_exact(c).map(|f| {
            let s = f.iter().map(|&x| if x.is_finite() { x.clamp(-1.0, 1.0) } else { 0.0 }).sum::<f32>();
            s / c as f32
        });
        if self.fft.is_none() {
            out.extend(mono);
            return;
        }
        let before = self.pending.len();
        self.pending.extend(mono);
        self.in_total += (self.pending.len() - before) as u64;
        self.run(out, false);
    }

    /// Convert 16-bit interleaved samples (as ALSA and raw streams deliver them).
    pub fn push_i16(&mut self, interleaved: &[i16], out: &mut Vec<f32>) {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        buf.extend(interleaved.iter().map(|&s| f32::from(s) / 32768.0));
        self.push(&buf, out);
        self.scratch = buf;
    }

    /// End of the stream: convert what is pending and flush the resampler's delay (a whole clip then has
    /// `round(len · out_rate / in_rate)` samples).
    pub fn finish(&mut self, out: &mut Vec<f32>) {
        self.run(out, true);
    }

    /// Resample whole chunks of `pending`; with `last`, also the rest padded with silence, then chunks of silence
    /// until the output owed for every input frame so far has come out (the filter's delay flushed).
    fn run(&mut self, out: &mut Vec<f32>, last: bool) {
        let Some(fft) = &mut self.fft else { return };
        let ratio = f64::from(self.out_rate) / f64::from(self.in_rate);
        let mut used = 0usize;
        loop {
            let need = fft.input_frames_next();
            let take = (self.pending.len() - used).min(need);
            if take < need && !last {
                break;
            }
            if last && take == 0 && self.out_total >= (self.in_total as f64 * ratio).round() as u64 {
                break;
            }
            let n_out = fft.output_frames_next();
            let start = out.len();
            out.resize(start + n_out, 0.0);
            let partial = (take < need).then(|| Indexing::new().partial_len(take));
            let input = &self.pending[used..used + take];
            let done =
                match (InterleavedSlice::new(input, 1, take), InterleavedSlice::new_mut(&mut out[start..], 1, n_out)) {
                    (Ok(i), Ok(mut o)) => fft.process_into_buffer(&i, &mut o, partial.as_ref()).ok(),
                    _ => None,
                };
            let Some((_, written)) = done else {
                // Cannot happen with buffers sized from the resampler's own counts; stop rather than spin.
                out.truncate(start);
                break;
            };
            out.truncate(start + written);
            used += take;
            let dropped = self.skip.min(written);
            out.drain(start..start + dropped);
            self.skip -= dropped;
            self.out_total += (written - dropped) as u64;
        }
        self.pending.drain(..used);
        if last {
            // The padding may have produced a few samples past the end of the input.
            let owed = (self.in_total as f64 * ratio).round() as u64;
            let excess = self.out_total.saturating_sub(owed) as usize;
            out.truncate(out.len().saturating_sub(excess));
            self.out_total -= excess as u64;
        }
    }
}

/// Convert a whole mono clip from `in_rate` to `out_rate` (what `run` does with a WAV at another rate).
pub fn convert_clip(pcm: &[f32], in_rate: u32, out_rate: u32) -> Result<Vec<f32>, ConvertError> {
    let mut c = Converter::new(in_rate, 1, out_rate)?;
    let mut out = Vec::with_capacity((pcm.len() as f64 * c.ratio()) as usize + CHUNK);
    c.push(pcm, &mut out);
    c.finish(&mut out);
    Ok(out)
}
