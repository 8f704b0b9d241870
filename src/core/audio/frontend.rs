//! Streaming, allocation-free audio front-end reproducing the study's librosa descriptors.
//!
//! [`FrontEnd`] consumes mono PCM in chunks of any size and emits one [`FrameFeatures`] per analysis frame, then the
//! clip-level [`Descriptors`]. All state lives in the caller's `&mut [f32]` scratch (size from
//! [`FrontEnd::scratch_len`]); nothing is allocated and all math goes through `libm`, so it runs on bare metal.
//!
//! # Framing (librosa `center=True`, `pad_mode="constant"`)
//! Frame `t` covers samples `t·hop − n_fft/2 .. t·hop + n_fft/2` of the clip, zeros outside it. A clip of `L` samples has
//! `1 + L / hop` frames (integer division), as librosa. Frame `t` is emitted by [`FrontEnd::push`] as soon as sample
//! `t·hop + n_fft/2 − 1` has arrived (latency `n_fft/2` samples); the last frames, which reach past the end of the clip,
//! are emitted by [`FrontEnd::finish`]. The STFT uses a periodic Hann window of `n_fft` points and an in-house radix-2
//! real FFT ([`super::fft`]) computed in `f32`.
//!
//! # Descriptors per frame
//! - `rms`: `sqrt(mean(x²))` over the (unwindowed, zero-padded) `n_fft` samples of the frame — `librosa.feature.rms`.
//! - `pitch_mean`: `librosa.piptrack` (fmin 150 Hz, fmax min(4000, sr/2), threshold 0.1 of the frame's maximum
//!   magnitude, `ref=np.max`): magnitude bins that are local maxima (`S[k] > S[k−1]`, `S[k] ≥ S[k+1]` after zeroing bins
//!   at or below the threshold) inside `fmin ≤ f_k < fmax` get the pitch `(k + δ)·sr/n_fft`, `δ = −b/a` with
//!   `a = S[k+1] + S[k−1] − 2S[k]`, `b = (S[k+1] − S[k−1])/2` (0 where `|b| ≥ |a|`); every other bin is 0. The value is
//!   the mean over all `n_fft/2 + 1` bins, zeros included.
//! - `tonnetz`: `librosa.feature.tonnetz(chroma=librosa.feature.chroma_stft(...))`, i.e. the tonal centroid of the
//!   **STFT chroma** (librosa's own `tonnetz` default uses CQT chroma; we deliberately use STFT chroma, which streams).
//!   Chroma: the power spectrum times librosa's chroma filter bank (12 bins, A440, `tuning = 0`, `ctroct 5`,
//!   `octwidth 2`, column L2 norm, C first), normalised by its maximum (norm ∞), then L1-normalised and projected on
//!   the six tonnetz axes (fifths, minor thirds, major thirds; sin/cos; radii 1, 1, 0.5). librosa's `chroma_stft`
//!   estimates the tuning from the whole clip by default; that needs the whole clip, so we fix `tuning = 0`
//!   (the golden values are generated with `tuning=0.0`).
//! - `mel_db`: power spectrum times librosa's Slaney mel filter bank (`htk=False`, `norm='slaney'`, 0 … sr/2,
//!   `n_mels` bands) in dB: `10·log10(max(1e−10, P))`, then clipped from below at `max − 80 dB` (`top_db = 80`).
//!   **Deviation:** librosa takes that maximum over the whole spectrogram, which a stream cannot know; we use the
//!   running maximum over all mel values seen so far in the clip. Frames after the frame that holds the clip's
//!   maximum are exactly librosa's; earlier frames are clipped less (a lower floor). A host that can afford two passes
//!   gets librosa's values exactly by running once, reading [`FrontEnd::mel_db_max`], and running again after
//!   [`FrontEnd::set_mel_db_max`].
//! - `onset`: `librosa.onset.onset_strength` (lag 1, `max_size 1`, mean over mel bands, `center=True`): with
//!   `D = n_fft / (2·hop)` (integer division), frame `t` carries `mean_m max(0, S_db[t−D][m] − S_db[t−D−1][m])` for
//!   `t ≥ D + 1` and 0 before, exactly librosa's padding by `lag + D` frames; the last `D` spectral differences of a
//!   clip are dropped, as librosa truncates to the number of frames. (At the default 2048/512 the onset of frame `t`
//!   measures the change from frame `t−3` to `t−2`.) The previous frame is re-clipped at the current floor before the
//!   difference, so the running-maximum deviation above only touches pairs of frames before the clip's maximum.
//!
//! # Loudness normalisation ([`FrontEnd::set_loudness`], off by default)
//! A robot's microphone gain is arbitrary, so a model (format version 3) may ask for every analysis frame to be scaled
//! before it is analysed: frame `t`'s samples are multiplied by `k_t = 0.1 / r_t`. Here `r_t²` is the clip's running
//! mean square, an exponential average of the frames' mean squares `m_t` (over the `n_fft` raw samples, as `rms`)
//! with decay `a = exp(−hop / (τ·sr))` per frame, bias-corrected from the clip's start: `M_t = a·M_{t−1} +
//! (1−a)·m_t`, `W_t = a·W_{t−1} + (1−a)`, `r_t² = M_t / W_t`. So the first frame is scaled by its own level and a long
//! clip by roughly its last τ seconds. `r_t` is floored at 1e−3 (−60 dBFS: the gain is at most +40 dB, and silence is
//! not inflated without bound). Everything the frame yields (rms, the power spectrum, pitch, mel dB, chroma, onset)
//! is then that of the scaled frame. A constant gain `g` on the PCM multiplies every `r_t` by `g` too, so it cancels
//! exactly in `k_t·g·x` (up to rounding) as long as the level stays above the floor; a gain that changes is followed
//! within about τ. 0.1 (−20 dBFS) is the level of the clean stimuli (their frame RMS is 0.09–0.12), so a clean clip is
//! analysed almost as without normalisation. The state resets with the clip. Cost: one multiply per sample (folded
//! into the window multiply) and a few operations per frame (see the `audio_1s` benches).
//!
//! # Onset range ([`FrontEnd::set_onset_range`], librosa's 80 dB by default)
//! A model (format version 4) may narrow the levels the onset strength compares: with a range of `R` dB, both frames
//! of each band's difference are clipped from below at the running mel maximum − `R` (never below the `top_db`
//! floor), so a band that stays under that level adds no spectral flux however it fluctuates. The study's renders
//! have digital silence between the notes, where every band sits at the floor; a microphone always adds a noise
//! floor, and its frame-to-frame fluctuation otherwise becomes onsets in every quiet band (the share of frames with
//! an onset goes from about 0.6 to 0.98 with noise even 40 dB under the music; E31 in `docs/eval/experiments.md`).
//! The mel levels reported per frame (and so the cortex's drive) keep the `top_db` floor; the drive has its own
//! floor (`DriveConfig::floor_db`). With `R = 80` the onset is exactly librosa's. Cost: two comparisons per band,
//! below the noise of the `audio_1s/frontend_sound_floor` bench (1.22 ms per second of sound with `R = 40`, as
//! without, on a Zen 4 host at the `avx512vnni` level).
//!
//! # Clip descriptors ([`FrontEnd::summary`])
//! `rms_mean`, `pitch_mean`, `tonnetz_mean` are means of the per-frame values over all frames (and over the six tonnetz
//! dimensions), accumulated in `f64`. `duration_s = samples / sr`. `tempo_bpm` is `librosa.feature.tempo` on the onset
//! envelope with an autocorrelation tempogram of `win_length = tempo_frames` (librosa's own default derives 344
//! frames from `ac_size = 8 s`; set `tempo_frames = 344` to reproduce that exactly): each tempogram column `i`
//! takes the envelope from `i − W/2` to `i − W/2 + W − 1` (zeros before the clip, a linear ramp from the last value to
//! 0 after it, as `np.pad(mode="linear_ramp")`), multiplies it by a periodic Hann window of `W` points, autocorrelates
//! it (lags `0..W`), normalises by lag 0, and adds it to a running sum (Kahan-compensated). The columns are computed as
//! soon as their window is complete, from a ring buffer of the last `W` onset values, so the result equals librosa
//! for clips of any length, not only those shorter than `W`; the last `W/2` columns, which need the ramp, are
//! computed by [`FrontEnd::finish`]. The tempo is the lag `k` maximising `log1p(10⁶·mean_k) − ½·(log2(bpm_k) −
//! log2 120)²` over lags whose `bpm_k = 60·sr/(hop·k)` is below 320, and `bpm_k` is reported. Before `finish`,
//! `summary` reports the tempo of the columns completed so far (0 if none). With `tempo_frames = 1` there is no
//! candidate lag and the tempo is 0 (librosa would return infinity).
//!
//! # Agreement with librosa 0.11
//! `tests/audio_frontend.rs` compares against golden values written by `tools/golden_audio.py` (librosa 0.11, float64)
//! on six formula-defined signals (440 Hz sine, C-major chord, 10 s click track at 120 bpm, decaying three-harmonic
//! tones, LCG noise, and the tones again at the `ModelConfig::tiny()` sizes). Tolerance asserted → worst error measured:
//! - `rms` per frame and `rms_mean`: 1e−6 relative + 1e−8 → 2.9e−8 absolute (2.2e−7 relative).
//! - `pitch_mean` per frame: 1e−5 relative + 1e−3 Hz → 6.7e−5 Hz; clip `pitch_mean`: 1e−5 relative → 4e−8 relative.
//! - `tonnetz` per frame: 2e−6 absolute → 2e−7; clip `tonnetz_mean`: 1e−6 absolute → 3.4e−9.
//! - `mel_db`: 5e−3 dB → 1.3e−3 dB (on bands ~80 dB below the maximum, where `f32` FFT rounding shows).
//! - `onset`: 2e−4 relative + 2e−5 → 8.8e−6 absolute, on every frame whose two spectra have librosa's floor (every
//!   frame with the two-pass maximum). Before the clip's maximum a single pass deviates (lower floor): asserted within
//!   15 % + 0.05, measured up to 8.7 % (tiny configuration, tones whose loudest frame comes late).
//! - `tempo_bpm`: the same tempo-grid value on all six signals (single pass and two passes); `duration_s` exact.
//!
//! # Memory and cost
//! Scratch floats: `4·n_fft` (input buffer, window, FFT buffer, twiddles) `+ 15·(n_fft/2+1)` (power spectrum,
//! mel weights, 12-row chroma filter bank) `+ 4·n_mels` (mel band ranges, current and previous dB frames)
//! `+ n_fft/(2·hop) + 1` (onset delay line) `+ 5·tempo_frames` (onset ring, tempo window, column, Kahan sum). The
//! default configuration (2048/512/128 mels/344) needs 25 802 floats (103 208 bytes ≈ 101 KiB); `ModelConfig::tiny()`'s
//! audio (512/256/32/128) needs 6 673 floats (26 692 bytes ≈ 26 KiB). Per frame the work is one `n_fft` real FFT,
//! `~14·(n_fft/2+1)` multiply-adds for mel and chroma, and `~W²/2` multiply-adds for the tempogram column (the largest
//! part at the defaults). Measured with the ignored test `cost_per_second_of_audio` (release build, one core of a
//! shared 2-core AMD EPYC host): 0.96 ms of CPU per second of audio for the default configuration, 0.38 ms for the
//! tiny one.

use super::{fft, Descriptors, FrameFeatures, N_INTERVALS, TONNETZ_DIMS};
use crate::core::arena::Arena;
use crate::core::config::{AudioConfig, LIBROSA_TOP_DB};
use crate::core::error::{Error, InputError};

/// Chroma bins.
const N_CHROMA: usize = 12;
/// `top_db` of librosa's `power_to_db`.
const TOP_DB: f32 = LIBROSA_TOP_DB as f32;
/// `amin` of librosa's `power_to_db`.
const AMIN: f32 = 1e-10;
/// piptrack defaults.
const PIP_FMIN: f64 = 150.0;
const PIP_FMAX: f64 = 4000.0;
const PIP_THRESHOLD: f32 = 0.1;
/// Loudness normalisation: the running RMS each frame is scaled to (−20 dBFS, the clean stimuli's level).
pub const LOUDNESS_TARGET_RMS: f32 = 0.1;
/// Loudness normalisation: the floor of the running RMS (−60 dBFS: at most +40 dB of gain).
pub const LOUDNESS_FLOOR_RMS: f32 = 1e-3;
/// Tempo prior and limit (librosa `feature.tempo` defaults).
const START_BPM: f64 = 120.0;
const STD_BPM: f64 = 1.0;
const MAX_TEMPO: f64 = 320.0;

/// Sizes of the scratch regions, in floats, in order.
#[derive(Clone, Copy, Debug)]
struct FrontEndLayout {
    n_fft: usize,
    bins: usize,
    n_mels: usize,
    delay: usize,
    tempo: usize,
}

impl FrontEndLayout {
    fn of(cfg: &AudioConfig) -> Self {
        let n_fft = cfg.n_fft as usize;
        FrontEndLayout {
            n_fft,
            bins: n_fft / 2 + 1,
            n_mels: cfg.n_mels as usize,
            delay: n_fft / (2 * (cfg.hop as usize).max(1)),
            tempo: cfg.tempo_frames as usize,
        }
    }

    /// Floats of all regions: what [`FrontEndRegions::split`] carves, counted by running it on an empty slice.
    fn total(&self) -> usize {
        FrontEndRegions::split(&mut [], self).1
    }
}

/// The scratch, cut into its named regions.
struct FrontEndRegions<'a> {
    input: &'a mut [f32],
    window: &'a mut [f32],
    buf: &'a mut [f32],
    cos: &'a mut [f32],
    sin: &'a mut [f32],
    power: &'a mut [f32],
    mel_w: &'a mut [f32],
    mel_range: &'a mut [u32],
    chroma: &'a mut [f32],
    mel_cur: &'a mut [f32],
    mel_prev: &'a mut [f32],
    flux: &'a mut [f32],
    onset_ring: &'a mut [f32],
    tg_window: &'a mut [f32],
    tg_x: &'a mut [f32],
    tg_sum: &'a mut [f32],
    tg_comp: &'a mut [f32],
}

/// The next `n` floats of `rest` (fewer if it runs out: then only `used` is meaningful), counting them in `used`.
fn take<'a>(rest: &mut &'a mut [f32], used: &mut usize, n: usize) -> &'a mut [f32] {
    *used += n;
    let r = core::mem::take(rest);
    let (a, b) = r.split_at_mut(n.min(r.len()));
    *rest = b;
    a
}

impl<'a> FrontEndRegions<'a> {
    /// Cut `s` into the regions, in order; also returns how many floats they take (the layout's one definition).
    fn split(s: &'a mut [f32], l: &FrontEndLayout) -> (Self, usize) {
        let mut r = s;
        let u = &mut 0usize;
        let half = l.n_fft / 2;
        let regions = FrontEndRegions {
            input: take(&mut r, u, l.n_fft),
            window: take(&mut r, u, l.n_fft),
            buf: take(&mut r, u, l.n_fft),
            cos: take(&mut r, u, half),
            sin: take(&mut r, u, half),
            power: take(&mut r, u, l.bins),
            mel_w: take(&mut r, u, 2 * l.bins),
            mel_range: bytemuck::cast_slice_mut(take(&mut r, u, 2 * l.n_mels)),
            chroma: take(&mut r, u, N_CHROMA * l.bins),
            mel_cur: take(&mut r, u, l.n_mels),
            mel_prev: take(&mut r, u, l.n_mels),
            flux: take(&mut r, u, l.delay + 1),
            onset_ring: take(&mut r, u, l.tempo),
            tg_window: take(&mut r, u, l.tempo),
            tg_x: take(&mut r, u, l.tempo),
            tg_sum: take(&mut r, u, l.tempo),
            tg_comp: take(&mut r, u, l.tempo),
        };
        (regions, *u)
    }
}

/// Read-only view of the regions `summary` needs.
fn tempo_sum<'a>(s: &'a [f32], l: &FrontEndLayout) -> &'a [f32] {
    let start = l.total() - 2 * l.tempo;
    s.get(start..start + l.tempo).unwrap_or(&[])
}

/// Dot product with eight independent accumulators (vectorisable, and less rounding than one running sum).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

fn hz_to_mel(f: f64) -> f64 {
    // Slaney: linear below 1 kHz (200/3 Hz per mel), logarithmic above (27 mels per factor 6.4).
    let f_sp = 200.0 / 3.0;
    let min_log_mel = 1000.0 / f_sp;
    if f >= 1000.0 {
        min_log_mel + libm::log(f / 1000.0) / (libm::log(6.4) / 27.0)
    } else {
        f / f_sp
    }
}

fn mel_to_hz(m: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_mel = 1000.0 / f_sp;
    if m >= min_log_mel {
        1000.0 * libm::exp(libm::log(6.4) / 27.0 * (m - min_log_mel))
    } else {
        f_sp * m
    }
}

/// Streaming, allocation-free audio analysis over a caller-provided scratch buffer.
pub struct FrontEnd<'s> {
    cfg: AudioConfig,
    scratch: &'s mut [f32],
    lay: FrontEndLayout,
    /// Tonnetz projection (6 × 12).
    phi: [[f32; N_CHROMA]; TONNETZ_DIMS],
    /// piptrack's feasible bins `pip_lo..pip_hi`.
    pip_lo: usize,
    pip_hi: usize,
    /// Smallest lag whose tempo is below `MAX_TEMPO` (librosa's `max_idx`, at least 1).
    lag_min: usize,
    // Clip state.
    fill: usize,
    frames: u64,
    samples: u64,
    columns: u64,
    finished: bool,
    db_max: f32,
    tempo: f32,
    rms_sum: f64,
    pitch_sum: f64,
    tonnetz_sum: f64,
    /// Loudness-weighted votes of voiced frames for their strongest pitch class: the clip's pitch-class distribution.
    chroma_sum: [f64; 12],
    /// Loudness normalisation: per-frame decay of the running mean square (0: off).
    loud_decay: f64,
    /// Running (decayed) sum of frame mean squares and of the weights, for the bias-corrected average.
    loud_m: f64,
    loud_w: f64,
    /// The onset strength's range below the running maximum, dB (`TOP_DB` = librosa's).
    onset_range: f32,
}

impl<'s> FrontEnd<'s> {
    /// Floats of scratch this configuration needs (see the module docs for the breakdown).
    pub fn scratch_len(cfg: &AudioConfig) -> usize {
        FrontEndLayout::of(cfg).total()
    }

    /// Build over `scratch` (at least [`Self::scratch_len`] floats): computes the window, twiddles, mel and chroma
    /// filter banks into it and starts an empty clip.
    pub fn new(cfg: &AudioConfig, scratch: &'s mut [f32]) -> Result<Self, Error> {
        FrontEnd::in_arena(cfg, &mut Arena::new(scratch))
    }

    /// Build with the scratch carved from `arena` (on a counting arena: only the size is taken).
    pub(crate) fn in_arena(cfg: &AudioConfig, arena: &mut Arena<'s>) -> Result<Self, Error> {
        cfg.validate()?;
        let lay = FrontEndLayout::of(cfg);
        let scratch = arena.take(lay.total())?;
        let sr = cfg.sample_rate as f64;
        let n = lay.n_fft;
        let bin_hz = sr / n as f64;
        let fmax = if PIP_FMAX < sr / 2.0 { PIP_FMAX } else { sr / 2.0 };
        let mut pip_lo = lay.bins;
        let mut pip_hi = 0;
        for k in 0..lay.bins {
            let f = k as f64 * bin_hz;
            if PIP_FMIN <= f && f < fmax {
                pip_lo = pip_lo.min(k);
                pip_hi = k + 1;
            }
        }
        // Never touch bin 0 or the last bin (they have one neighbour only; librosa's stencils give 0 there).
        let pip_lo = pip_lo.max(1);
        let pip_hi = pip_hi.min(lay.bins - 1);

        let bpm = |k: usize| 60.0 * sr / (cfg.hop as f64 * k as f64);
        let lag_min = (1..lay.tempo).find(|&k| bpm(k) < MAX_TEMPO).unwrap_or(1);

        let mut phi = [[0.0f32; N_CHROMA]; TONNETZ_DIMS];
        let scale = [7.0 / 6.0, 7.0 / 6.0, 1.5, 1.5, 2.0 / 3.0, 2.0 / 3.0];
        let radius = [1.0, 1.0, 1.0, 1.0, 0.5, 0.5];
        for (p, row) in phi.iter_mut().enumerate() {
            let shift = if p % 2 == 0 { 0.5 } else { 0.0 };
            for (c, v) in row.iter_mut().enumerate() {
                let arg = core::f64::consts::PI * (scale[p] * c as f64 - shift);
                *v = (radius[p] * libm::cos(arg)) as f32;
            }
        }

        let mut fe = FrontEnd {
            cfg: *cfg,
            scratch,
            lay,
            phi,
            pip_lo,
            pip_hi,
            lag_min,
            fill: 0,
            frames: 0,
            samples: 0,
            columns: 0,
            finished: false,
            db_max: f32::NEG_INFINITY,
            tempo: 0.0,
            rms_sum: 0.0,
            pitch_sum: 0.0,
            tonnetz_sum: 0.0,
            chroma_sum: [0.0; 12],
            loud_decay: 0.0,
            loud_m: 0.0,
            loud_w: 0.0,
            onset_range: TOP_DB,
        };
        if !arena.is_counting() {
            fe.init_tables();
            fe.reset();
        }
        Ok(fe)
    }

    fn init_tables(&mut self) {
        let lay = self.lay;
        let sr = self.cfg.sample_rate as f64;
        let n = lay.n_fft;
        let p = FrontEndRegions::split(self.scratch, &lay).0;
        for (i, w) in p.window.iter_mut().enumerate() {
            *w = (0.5 - 0.5 * libm::cos(2.0 * core::f64::consts::PI * i as f64 / n as f64)) as f32;
        }
        let w_t = lay.tempo;
        for (i, w) in p.tg_window.iter_mut().enumerate() {
            *w = (0.5 - 0.5 * libm::cos(2.0 * core::f64::consts::PI * i as f64 / w_t as f64)) as f32;
        }
        fft::twiddles(p.cos, p.sin);

        // Slaney mel filter bank, stored as per-band (first bin, count) and the non-zero weights back to back.
        let m = lay.n_mels;
        let max_mel = hz_to_mel(sr / 2.0);
        let mel_f = |i: usize| {
            if i == m + 1 {
                mel_to_hz(max_mel)
            } else {
                mel_to_hz(i as f64 * (max_mel / (m + 1) as f64))
            }
        };
        let bin_hz = sr / n as f64;
        let fft_f = |k: usize| k as f64 * bin_hz;
        let mut used = 0usize;
        for band in 0..m {
            let (f0, f1, f2) = (mel_f(band), mel_f(band + 1), mel_f(band + 2));
            let enorm = 2.0 / (f2 - f0);
            let start = used;
            let mut first = 0usize;
            // A band's weights are non-zero only strictly between f0 and f2: visit those bins (with a bin of margin
            // each side, far beyond rounding) instead of all of them for every band, which made binding a large
            // configuration (4,096-point FFT, 2,048 bands) cost O(bands × bins). The weights are the same.
            let lo = (libm::floor(f0 / bin_hz) as usize).saturating_sub(1).min(lay.bins);
            let hi = (libm::ceil(f2 / bin_hz) as usize).saturating_add(2).min(lay.bins);
            for k in lo..hi {
                let fk = fft_f(k);
                let lower = (fk - f0) / (f1 - f0);
                let upper = (f2 - fk) / (f2 - f1);
                let w = lower.min(upper).max(0.0) * enorm;
                let w = w as f32;
                if w > 0.0 && used < p.mel_w.len() {
                    if used == start {
                        first = k;
                    }
                    // Triangles are convex: the non-zero bins are contiguous.
                    p.mel_w[used] = w;
                    used += 1;
                }
            }
            p.mel_range[2 * band] = first as u32;
            p.mel_range[2 * band + 1] = (used - start) as u32;
        }

        // Chroma filter bank (librosa.filters.chroma, tuning 0, ctroct 5, octwidth 2, norm 2, base_c).
        let frq = |k: usize| -> f64 {
            let a440_16 = 440.0 / 16.0;
            if k == 0 {
                N_CHROMA as f64 * libm::log2(fft_f(1) / a440_16) - 1.5 * N_CHROMA as f64
            } else {
                N_CHROMA as f64 * libm::log2(fft_f(k) / a440_16)
            }
        };
        let nc = N_CHROMA as f64;
        for k in 0..lay.bins {
            let fb = frq(k);
            let width = if k + 1 < n {
                let d = frq(k + 1) - fb;
                if d > 1.0 {
                    d
                } else {
                    1.0
                }
            } else {
                1.0
            };
            let mut col = [0.0f64; N_CHROMA];
            let mut norm2 = 0.0;
            for (c, v) in col.iter_mut().enumerate() {
                let x = fb - c as f64 + libm::round(nc / 2.0) + 10.0 * nc;
                let d = x - nc * libm::floor(x / nc) - libm::round(nc / 2.0);
                let z = 2.0 * d / width;
                *v = libm::exp(-0.5 * z * z);
                norm2 += *v * *v;
            }
            let norm = libm::sqrt(norm2);
            let norm = if norm < f64::MIN_POSITIVE { 1.0 } else { norm };
            let oct = (fb / nc - 5.0) / 2.0;
            let gain = libm::exp(-0.5 * oct * oct);
            for c in 0..N_CHROMA {
                // base_c: row c holds librosa's pre-roll row (c + 3) mod 12.
                let v = col[(c + 3) % N_CHROMA] / norm * gain;
                p.chroma[c * lay.bins + k] = v as f32;
            }
        }
    }

    /// Forget the current clip (including a maximum set with [`Self::set_mel_db_max`]); the tables are kept.
    pub fn reset(&mut self) {
        let lay = self.lay;
        let p = FrontEndRegions::split(self.scratch, &lay).0;
        p.input.fill(0.0);
        p.mel_prev.fill(0.0);
        p.mel_cur.fill(0.0);
        p.flux.fill(0.0);
        p.onset_ring.fill(0.0);
        p.tg_sum.fill(0.0);
        p.tg_comp.fill(0.0);
        // center=True: the first frame starts with n_fft/2 zeros.
        self.fill = lay.n_fft / 2;
        self.frames = 0;
        self.samples = 0;
        self.columns = 0;
        self.finished = false;
        self.db_max = f32::NEG_INFINITY;
        self.tempo = 0.0;
        self.rms_sum = 0.0;
        self.pitch_sum = 0.0;
        self.tonnetz_sum = 0.0;
        self.chroma_sum = [0.0; 12];
        self.loud_m = 0.0;
        self.loud_w = 0.0;
    }

    /// Switch loudness normalisation on with time constant `tau_ms` milliseconds, or off with 0 (see the module
    /// docs). Takes effect from the next frame; call it between clips.
    pub fn set_loudness(&mut self, tau_ms: u16) {
        self.loud_decay = if tau_ms == 0 {
            0.0
        } else {
            let frames = f64::from(tau_ms) * 1e-3 * self.cfg.sample_rate as f64 / self.cfg.hop as f64;
            libm::exp(-1.0 / frames)
        };
    }

    /// Compare levels within `range_db` dB of the running mel maximum for the onset strength (see the module docs;
    /// 80 or more is librosa's onset, 0 is treated as 1 dB). Takes effect from the next frame; call it between clips.
    pub fn set_onset_range(&mut self, range_db: u8) {
        self.onset_range = f32::from(range_db.max(1)).min(TOP_DB);
    }

    /// The gain `k` for a frame of mean square `ms` (1 when normalisation is off), updating the running average.
    fn loudness_gain(&mut self, ms: f32) -> f32 {
        if self.loud_decay <= 0.0 {
            return 1.0;
        }
        // Finite samples can still square to +∞ in f32; treat that as the loudest possible frame.
        let ms = if ms.is_finite() { ms as f64 } else { f32::MAX as f64 };
        let a = self.loud_decay;
        self.loud_m = a * self.loud_m + (1.0 - a) * ms;
        self.loud_w = a * self.loud_w + (1.0 - a);
        let floor = (LOUDNESS_FLOOR_RMS as f64) * (LOUDNESS_FLOOR_RMS as f64);
        let mean = self.loud_m / self.loud_w;
        let r = libm::sqrt(if mean > floor { mean } else { floor });
        (LOUDNESS_TARGET_RMS as f64 / r) as f32
    }

    /// Raise the running mel maximum (dB) used for the `top_db` floor; see the module docs. Call it after
    /// [`Self::reset`] with the [`Self::mel_db_max`] of a first pass over the same clip to get librosa's exact
    /// whole-clip clipping. Non-finite values are ignored.
    pub fn set_mel_db_max(&mut self, db: f32) {
        if db.is_finite() && db > self.db_max {
            self.db_max = db;
        }
    }

    /// The largest mel dB value seen in this clip so far (−∞ before the first frame).
    pub fn mel_db_max(&self) -> f32 {
        self.db_max
    }

    /// Frames emitted since the last reset.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Feed samples; calls `on_frame` once per completed analysis frame; returns how many completed.
    ///
    /// Samples are full-scale ±1; larger magnitudes are clipped to ±1. Samples that are NaN or infinite reject the
    /// whole chunk with [`InputError::NonFiniteAudio`], leaving the state as it was. After [`Self::finish`], pushes
    /// are ignored (returning 0) until [`Self::reset`].
    pub fn push(&mut self, pcm: &[f32], on_frame: &mut dyn FnMut(&FrameFeatures)) -> Result<usize, Error> {
        if pcm.iter().any(|x| !x.is_finite()) {
            return Err(InputError::NonFiniteAudio.into());
        }
        if self.finished {
            return Ok(0);
        }
        let n = self.lay.n_fft;
        let mut rest = pcm;
        let mut emitted = 0;
        while !rest.is_empty() {
            let take = (n - self.fill).min(rest.len());
            let lay = self.lay;
            let p = FrontEndRegions::split(self.scratch, &lay).0;
            // Full scale is ±1: beyond it the sample is clipped, as the microphone's ADC (and training's
            // augmentation) would. This also bounds every later sum: a finite 1e30 would overflow the power
            // spectrum to ∞ and the mel dB scale to NaN.
            for (dst, &x) in p.input[self.fill..self.fill + take].iter_mut().zip(&rest[..take]) {
                *dst = x.clamp(-1.0, 1.0);
            }
            self.fill += take;
            rest = &rest[take..];
            if self.fill == n {
                self.frame(on_frame);
                emitted += 1;
            }
        }
        self.samples += pcm.len() as u64;
        Ok(emitted)
    }

    /// End of clip: emit the frames that reach past the last sample (zero-padded), finish the tempogram and fix the
    /// tempo. Fails with [`InputError::EmptyAudio`] if no sample was pushed. Calling it again is a no-op.
    pub fn finish(&mut self, on_frame: &mut dyn FnMut(&FrameFeatures)) -> Result<(), Error> {
        if self.samples == 0 {
            return Err(InputError::EmptyAudio.into());
        }
        if self.finished {
            return Ok(());
        }
        let n = self.lay.n_fft;
        let total = 1 + self.samples / self.cfg.hop as u64;
        while self.frames < total {
            let lay = self.lay;
            let p = FrontEndRegions::split(self.scratch, &lay).0;
            p.input[self.fill..].fill(0.0);
            self.fill = n;
            self.frame(on_frame);
        }
        // Remaining tempogram columns, with librosa's linear ramp after the last onset value.
        while self.columns < self.frames {
            self.tempo_column(self.columns, true);
        }
        self.tempo = self.estimate_tempo();
        self.finished = true;
        Ok(())
    }

    /// Interval-class profile of the clip so far: the circular autocorrelation of the clip's pitch-class
    /// distribution at lags of 1 to 6 semitones, over its energy. A melody is mostly one note at a time, so the
    /// intervals of its pitch-class set (what consonance varies) show up only in the distribution over the clip.
    /// All zeros while nothing was voiced.
    pub fn interval_profile(&self) -> [f32; N_INTERVALS] {
        let c = &self.chroma_sum;
        let energy: f64 = c.iter().map(|v| v * v).sum();
        let mut out = [0.0f32; N_INTERVALS];
        if energy > 0.0 {
            for (k, o) in out.iter_mut().enumerate() {
                let lag = k + 1;
                let r: f64 = (0..12).map(|i| c[i] * c[(i + lag) % 12]).sum();
                *o = (r / energy) as f32;
            }
        }
        out
    }

    /// Clip-level descriptors of everything pushed since the last reset (the tempo is final after
    /// [`Self::finish`]; before it, it reflects the tempogram columns completed so far).
    pub fn summary(&self) -> Descriptors {
        let frames = self.frames.max(1) as f64;
        Descriptors {
            pitch_mean: (self.pitch_sum / frames) as f32,
            tonnetz_mean: (self.tonnetz_sum / (frames * TONNETZ_DIMS as f64)) as f32,
            rms_mean: (self.rms_sum / frames) as f32,
            tempo_bpm: if self.finished { self.tempo } else { self.estimate_tempo() },
            duration_s: (self.samples as f64 / self.cfg.sample_rate as f64) as f32,
        }
    }

    /// Analyse the full input buffer as frame `self.frames`, report it, and slide the buffer by one hop.
    fn frame(&mut self, on_frame: &mut dyn FnMut(&FrameFeatures)) {
        let lay = self.lay;
        let n = lay.n_fft;
        let hop = self.cfg.hop as usize;
        let t = self.frames;
        let p = FrontEndRegions::split(self.scratch, &lay).0;

        // RMS of the raw frame, and the loudness gain (exactly 1 when normalisation is off).
        let ms = dot(p.input, p.input) / n as f32;
        let k = self.loudness_gain(ms);
        let p = FrontEndRegions::split(self.scratch, &lay).0;
        let rms = libm::sqrtf(ms) * k;

        // Power spectrum of the windowed (and scaled) frame.
        for ((b, x), w) in p.buf.iter_mut().zip(p.input.iter()).zip(p.window.iter()) {
            *b = x * w * k;
        }
        fft::real_power_spectrum(p.buf, p.cos, p.sin, p.power);
        let power = &*p.power;

        // piptrack.
        let max_p = power.iter().fold(0.0f32, |m, &v| if v > m { v } else { m });
        let thr = PIP_THRESHOLD * libm::sqrtf(max_p);
        let bin_hz = self.cfg.sample_rate as f32 / n as f32;
        let gated = |s: f32| if s > thr { s } else { 0.0 };
        let mut pitch_sum = 0.0f32;
        if self.pip_lo < self.pip_hi {
            let mut s_prev = libm::sqrtf(power[self.pip_lo - 1]);
            let mut s_cur = libm::sqrtf(power[self.pip_lo]);
            for k in self.pip_lo..self.pip_hi {
                let s_next = libm::sqrtf(power[k + 1]);
                let g = gated(s_cur);
                if g > gated(s_prev) && g >= gated(s_next) {
                    let a = s_next + s_prev - 2.0 * s_cur;
                    let b = 0.5 * (s_next - s_prev);
                    let shift = if libm::fabsf(b) >= libm::fabsf(a) { 0.0 } else { -b / a };
                    pitch_sum += (k as f32 + shift) * bin_hz;
                }
                s_prev = s_cur;
                s_cur = s_next;
            }
        }
        let pitch_mean = pitch_sum / lay.bins as f32;

        // Mel spectrum in dB with the running top_db floor.
        let mut off = 0usize;
        let mut frame_max = f32::NEG_INFINITY;
        for (band, out) in p.mel_cur.iter_mut().enumerate() {
            let first = p.mel_range[2 * band] as usize;
            let len = p.mel_range[2 * band + 1] as usize;
            let w = p.mel_w.get(off..off + len).unwrap_or(&[]);
            let e = power.get(first..first + len).unwrap_or(&[]);
            off += len;
            let mel = dot(w, e);
            let db = 10.0 * libm::log10f(if mel > AMIN { mel } else { AMIN });
            *out = db;
            if db > frame_max {
                frame_max = db;
            }
        }
        if frame_max > self.db_max {
            self.db_max = frame_max;
        }
        let floor = self.db_max - TOP_DB;
        // The onset's own floor (the module docs' onset range); equal to `floor` at librosa's range.
        let onset_floor = floor.max(self.db_max - self.onset_range);
        let mut flux = 0.0f32;
        for (cur, prev) in p.mel_cur.iter_mut().zip(p.mel_prev.iter()) {
            if *cur < floor {
                *cur = floor;
            }
            let before = if *prev < onset_floor { onset_floor } else { *prev };
            let after = if *cur < onset_floor { onset_floor } else { *cur };
            let d = after - before;
            if d > 0.0 {
                flux += d;
            }
        }
        let flux = flux / lay.n_mels as f32;
        // Onset (librosa alignment): frame t carries the difference between frames t−D−1 and t−D.
        let ring = lay.delay + 1;
        p.flux[(t % ring as u64) as usize] = if t >= 1 { flux } else { 0.0 };
        let onset = if t > lay.delay as u64 { p.flux[((t - lay.delay as u64) % ring as u64) as usize] } else { 0.0 };
        p.mel_prev.copy_from_slice(p.mel_cur);

        // Chroma → tonnetz.
        let mut chroma = [0.0f32; N_CHROMA];
        for (c, v) in chroma.iter_mut().enumerate() {
            *v = dot(&p.chroma[c * lay.bins..(c + 1) * lay.bins], power);
        }
        let cmax = chroma.iter().fold(0.0f32, |m, &v| if v > m { v } else { m });
        if cmax >= f32::MIN_POSITIVE {
            chroma.iter_mut().for_each(|v| *v /= cmax);
        }
        let l1: f32 = chroma.iter().sum();
        if l1 >= f32::MIN_POSITIVE {
            chroma.iter_mut().for_each(|v| *v /= l1);
        }
        // The clip's pitch-class distribution feeds the interval-class profile: each frame votes for its strongest
        // pitch class (the melody note: a tone's octave harmonics fold onto its own class), weighted by loudness,
        // so the smear of the chroma filters and the tone's fifth and third harmonics do not blur the intervals.
        if l1 >= f32::MIN_POSITIVE && rms.is_finite() {
            let top = chroma.iter().enumerate().fold(0, |b, (i, &v)| if v > chroma[b] { i } else { b });
            self.chroma_sum[top] += rms as f64;
        }
        let mut tonnetz = [0.0f32; TONNETZ_DIMS];
        for (o, row) in tonnetz.iter_mut().zip(self.phi.iter()) {
            *o = row.iter().zip(chroma.iter()).map(|(a, b)| a * b).sum();
        }

        // Onset ring for the tempogram.
        if lay.tempo > 0 {
            p.onset_ring[(t % lay.tempo as u64) as usize] = onset;
        }

        // Slide the input by one hop.
        p.input.copy_within(hop.min(n).., 0);
        self.fill = n - hop.min(n);

        self.rms_sum += rms as f64;
        self.pitch_sum += pitch_mean as f64;
        self.tonnetz_sum += tonnetz.iter().map(|&v| v as f64).sum::<f64>();
        self.frames += 1;

        // A tempogram column is complete once its window's last onset value (this frame's) is known.
        let w = lay.tempo as u64;
        let h = w / 2;
        if t + h + 1 >= w {
            let col = t + h + 1 - w;
            if col == self.columns {
                self.tempo_column(col, false);
            }
        }

        let p = FrontEndRegions::split(self.scratch, &lay).0;
        on_frame(&FrameFeatures { index: t as u32, rms, pitch_mean, tonnetz, onset, mel_db: p.mel_prev });
    }

    /// Add tempogram column `col` to the running sum. `tail`: the clip has ended, values past the last onset follow
    /// librosa's linear ramp to zero.
    fn tempo_column(&mut self, col: u64, tail: bool) {
        let lay = self.lay;
        let w = lay.tempo;
        let h = (w / 2) as i64;
        let n = self.frames as i64;
        let p = FrontEndRegions::split(self.scratch, &lay).0;
        let last = if n > 0 { p.onset_ring[((n - 1) as u64 % w as u64) as usize] } else { 0.0 };
        let value = |j: i64| -> f32 {
            if j < 0 {
                0.0
            } else if j < n {
                p.onset_ring[(j as u64 % w as u64) as usize]
            } else if tail && h > 0 {
                let q = j - n + 1;
                if q <= h {
                    last * ((h - q) as f32 / h as f32)
                } else {
                    0.0
                }
            } else {
                0.0
            }
        };
        let start = col as i64 - h;
        for (m, (x, win)) in p.tg_x.iter_mut().zip(p.tg_window.iter()).enumerate() {
            *x = win * value(start + m as i64);
        }
        let x = &*p.tg_x;
        let r0 = dot(x, x);
        if r0 >= f32::MIN_POSITIVE {
            for k in self.lag_min..w {
                let v = dot(&x[..w - k], &x[k..]) / r0;
                // Kahan summation keeps long clips accurate.
                let y = v - p.tg_comp[k];
                let s = p.tg_sum[k] + y;
                p.tg_comp[k] = (s - p.tg_sum[k]) - y;
                p.tg_sum[k] = s;
            }
        }
        self.columns += 1;
    }

    /// librosa `feature.tempo` from the summed tempogram.
    fn estimate_tempo(&self) -> f32 {
        if self.columns == 0 {
            return 0.0;
        }
        let sum = tempo_sum(self.scratch, &self.lay);
        let cols = self.columns as f64;
        let sr = self.cfg.sample_rate as f64;
        let hop = self.cfg.hop as f64;
        let mut best = 0.0f32;
        let mut best_score = f64::NEG_INFINITY;
        for (k, &s) in sum.iter().enumerate().skip(self.lag_min.max(1)) {
            let bpm = 60.0 * sr / (hop * k as f64);
            let z = (libm::log2(bpm) - libm::log2(START_BPM)) / STD_BPM;
            let score = libm::log1p(1e6 * (s as f64 / cols)) - 0.5 * z * z;
            if score > best_score {
                best_score = score;
                best = bpm as f32;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// The mel bank as defined, every bin of every band tested: (weights back to back, per-band first bin and count).
    fn full_scan(cfg: &AudioConfig) -> (Vec<f32>, Vec<u32>) {
        let (sr, n, m) = (cfg.sample_rate as f64, cfg.n_fft as usize, cfg.n_mels as usize);
        let max_mel = hz_to_mel(sr / 2.0);
        let mel_f =
            |i: usize| if i == m + 1 { mel_to_hz(max_mel) } else { mel_to_hz(i as f64 * (max_mel / (m + 1) as f64)) };
        let (mut w_all, mut range) = (Vec::new(), Vec::new());
        for band in 0..m {
            let (f0, f1, f2) = (mel_f(band), mel_f(band + 1), mel_f(band + 2));
            let enorm = 2.0 / (f2 - f0);
            let (start, mut first) = (w_all.len(), 0);
            for k in 0..n / 2 + 1 {
                let fk = k as f64 * (sr / n as f64);
                let w = (((fk - f0) / (f1 - f0)).min((f2 - fk) / (f2 - f1)).max(0.0) * enorm) as f32;
                if w > 0.0 {
                    if w_all.len() == start {
                        first = k;
                    }
                    w_all.push(w);
                }
            }
            range.extend([first as u32, (w_all.len() - start) as u32]);
        }
        (w_all, range)
    }

    #[test]
    fn the_banded_mel_bank_equals_the_full_scan_bit_for_bit() {
        // Librosa's defaults, the tiny model, the extremes of the valid ranges and odd sample rates: more bands
        // than bins can fill (empty bands), bands of one bin, and bands that end at the Nyquist bin.
        for (sample_rate, n_fft, n_mels) in [
            (22_050, 2048, 128),
            (22_050, 512, 32),
            (8_000, 256, 128),
            (96_000, 4096, 2048),
            (8_000, 4096, 2048),
            (44_100, 1024, 40),
            (11_025, 256, 1),
            (47_999, 2048, 777),
        ] {
            let cfg = AudioConfig { sample_rate, n_fft, hop: n_fft / 4, n_mels, tempo_frames: 16 };
            let mut scratch = vec![0.0f32; FrontEnd::scratch_len(&cfg)];
            let fe = FrontEnd::new(&cfg, &mut scratch).expect("a valid configuration");
            let lay = fe.lay;
            let p = FrontEndRegions::split(fe.scratch, &lay).0;
            let (w, range) = full_scan(&cfg);
            assert_eq!(&p.mel_range[..2 * lay.n_mels], &range[..], "{cfg:?}: first bin and count per band");
            let got: Vec<u32> = p.mel_w[..w.len()].iter().map(|x| x.to_bits()).collect();
            let want: Vec<u32> = w.iter().map(|x| x.to_bits()).collect();
            assert_eq!(got, want, "{cfg:?}: weights");
        }
    }
}
