//! The study's stimuli rendered from five slider values: a melody (spec §7.2–7.3) played by a piano-like tone and a
//! bouncing-ball animation (§7.4), deterministic for a seed and bit-identical across platforms (see
//! `docs/stimuli.md`).
//!
//! ```no_run
//! use avf_bel::stimuli::{render, Params, RenderOptions};
//! let p = Params::prototype("angry").unwrap();
//! let s = render(&p, &RenderOptions::default()).unwrap();
//! assert_eq!(s.frames.len(), 90 * 64 * 64);
//! ```

pub mod ball;
pub mod io;
pub mod melody;
pub mod params;
#[cfg(feature = "plot")]
pub mod preview;
pub mod rng;
pub mod tone;

pub use melody::{NoteEvent, Score};
pub use params::{ParamError, Params, Slider, PROTOTYPES};

use std::fmt;

/// How to render: clip length, seed, frame size and rate, audio rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RenderOptions {
    /// Clip length in seconds, (0, 600] (default 3, the fMRI presentation length).
    pub seconds: f64,
    /// Seed of the generator (default 0).
    pub seed: u64,
    /// Frame width and height in pixels, 8–1024 (default 64).
    pub size: usize,
    /// Frames per second, 1–240 (default 30; the original ran at 60).
    pub fps: u32,
    /// Audio sample rate in Hz, 8,000–192,000 (default 22,050).
    pub sample_rate: u32,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions { seconds: 3.0, seed: 0, size: 64, fps: 30, sample_rate: 22_050 }
    }
}

impl RenderOptions {
    /// Options that render what `cfg`'s model sees: its frame size, frame rate and sample rate (frames must be
    /// square: the renderer draws square frames).
    pub fn for_model(cfg: &crate::core::config::ModelConfig, seconds: f64, seed: u64) -> RenderOptions {
        RenderOptions {
            seconds,
            seed,
            size: cfg.visual.width as usize,
            fps: u32::from(cfg.visual.fps),
            sample_rate: cfg.audio.sample_rate,
        }
    }

    /// Checks every option against its range.
    pub fn validate(&self) -> Result<(), StimulusError> {
        let bad = |option, range| Err(StimulusError::BadOption { option, range });
        if !(self.seconds.is_finite() && self.seconds > 0.0 && self.seconds <= 600.0) {
            return bad("seconds", "a number of seconds in (0, 600]");
        }
        if !(8..=1024).contains(&self.size) {
            return bad("size", "8–1024 pixels");
        }
        if !(1..=240).contains(&self.fps) {
            return bad("fps", "1–240 frames per second");
        }
        if !(8_000..=192_000).contains(&self.sample_rate) {
            return bad("sample_rate", "8000–192000 Hz");
        }
        Ok(())
    }

    /// Number of frames of a clip: round(seconds·fps).
    pub fn n_frames(&self) -> usize {
        libm::round(self.seconds * f64::from(self.fps)) as usize
    }

    /// Number of audio samples of a clip: round(seconds·sample_rate).
    pub fn n_samples(&self) -> usize {
        libm::round(self.seconds * f64::from(self.sample_rate)) as usize
    }
}

/// A rendered stimulus: audio, frames and the notes they were made from.
#[derive(Clone, Debug, PartialEq)]
pub struct Stimulus {
    /// Mono audio at `sample_rate`, samples in about [−0.5, 0.5].
    pub audio: Vec<f32>,
    /// 8-bit luma frames, frame-major, each `size`·`size` bytes row-major.
    pub frames: Vec<u8>,
    /// The notes (and animation targets) in time order.
    pub notes: Vec<NoteEvent>,
    /// The melody's start note (the "previous note" of the first one).
    pub start_midi: i32,
    /// The trial's transposition 0–11 (pitch classes are (set + t) mod 12).
    pub transposition: i32,
    /// Frame width and height.
    pub size: usize,
    /// Frames per second.
    pub fps: u32,
    /// Audio sample rate.
    pub sample_rate: u32,
}

impl Stimulus {
    /// Number of frames.
    pub fn n_frames(&self) -> usize {
        self.frames.len() / (self.size * self.size).max(1)
    }

    /// Frame `i` (size·size bytes).
    pub fn frame(&self, i: usize) -> &[u8] {
        let n = self.size * self.size;
        &self.frames[i * n..(i + 1) * n]
    }
}

/// Anything that stops a stimulus from being rendered or loaded.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum StimulusError {
    /// A slider is wrong; see [`ParamError`].
    Param(ParamError),
    /// A render option is outside its range; names the option and the range.
    BadOption {
        /// The option's name.
        option: &'static str,
        /// Its accepted range, in words.
        range: &'static str,
    },
    /// The stimulus table could not be read or parsed; names the file and what went wrong.
    Data {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// No stimulus of this name in `stimuli.csv`; lists the known names.
    UnknownStimulus {
        /// The name asked for.
        name: String,
        /// The names in the table, comma-separated.
        known: String,
    },
}

impl From<ParamError> for StimulusError {
    fn from(e: ParamError) -> Self {
        StimulusError::Param(e)
    }
}

impl fmt::Display for StimulusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StimulusError::Param(e) => e.fmt(f),
            StimulusError::BadOption { option, range } => {
                write!(f, "option `{option}` must be {range}")
            }
            StimulusError::Data { path, message } => write!(f, "{path}: {message}"),
            StimulusError::UnknownStimulus { name, known } => {
                let hint = io::did_you_mean(name, PROTOTYPES.iter().copied().chain(known.split(", ")));
                write!(
                    f,
                    "no stimulus named {name:?}{hint}; prototypes: {}; in the table: {known}",
                    PROTOTYPES.join(", ")
                )
            }
        }
    }
}

impl std::error::Error for StimulusError {}

/// Plans the notes of a clip (timing, melody, animation targets) without rendering anything.
pub fn plan(params: &Params, opts: &RenderOptions) -> Result<Score, StimulusError> {
    params.validate()?;
    opts.validate()?;
    Ok(melody::plan(params, opts.seconds, opts.seed))
}

/// Renders only the audio of a clip.
pub fn render_audio(params: &Params, opts: &RenderOptions) -> Result<Vec<f32>, StimulusError> {
    let score = plan(params, opts)?;
    Ok(tone::render_audio(&score.notes, opts.seconds, opts.sample_rate))
}

/// Renders only the frames of a clip (frame-major, size·size bytes each).
pub fn render_frames(params: &Params, opts: &RenderOptions) -> Result<Vec<u8>, StimulusError> {
    let score = plan(params, opts)?;
    Ok(ball::render_frames(&score, opts.seed, opts.size, opts.fps, opts.n_frames()))
}

/// Renders a whole stimulus: audio, frames and note list, all in memory.
pub fn render(params: &Params, opts: &RenderOptions) -> Result<Stimulus, StimulusError> {
    render_with(params, opts, &tone::Timbre::PIANO, &ball::Look::RENDERED)
}

/// [`render`] as another synthesiser and another renderer would give it: the melody played with `timbre`, the scene
/// drawn in `look` (the evaluation's `bright`, `sustain`, `ball-luma`, `shade` and `floor`). [`tone::Timbre::PIANO`]
/// and [`ball::Look::RENDERED`] give [`render`]'s bytes.
pub fn render_with(
    params: &Params,
    opts: &RenderOptions,
    timbre: &tone::Timbre,
    look: &ball::Look,
) -> Result<Stimulus, StimulusError> {
    let score = plan(params, opts)?;
    let audio = tone::render_audio_with(&score.notes, opts.seconds, opts.sample_rate, timbre);
    let frames = ball::render_frames_with(&score, opts.seed, opts.size, opts.fps, opts.n_frames(), look);
    Ok(Stimulus {
        audio,
        frames,
        notes: score.notes,
        start_midi: score.start_midi,
        transposition: score.transposition,
        size: opts.size,
        fps: opts.fps,
        sample_rate: opts.sample_rate,
    })
}
