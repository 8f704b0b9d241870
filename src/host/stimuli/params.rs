//! The five sliders, their validation, their text form and the five built-in emotion prototypes.

use std::fmt;

/// One of the five sliders of the stimulus generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slider {
    /// Beats (notes, bounces) per minute, 30–400.
    Bpm,
    /// Random onset delay, 0–99 % of the beat period.
    Jitter,
    /// Index of the five-note pitch-class set, integer 0 (most dissonant) – 37 (major pentatonic).
    Consonance,
    /// Interval-size articulation point ×100, 0–100 (larger → bigger steps, higher bounces).
    Bigsmall,
    /// Probability ×100 that a melodic step goes down, 0–100.
    Updown,
}

impl Slider {
    /// All sliders in their usual order.
    pub const ALL: [Slider; 5] = [Slider::Bpm, Slider::Jitter, Slider::Consonance, Slider::Bigsmall, Slider::Updown];

    /// The slider's name as written in `stimuli.csv` and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Slider::Bpm => "bpm",
            Slider::Jitter => "jitter",
            Slider::Consonance => "consonance",
            Slider::Bigsmall => "bigsmall",
            Slider::Updown => "updown",
        }
    }

    /// Inclusive range of the slider in the units of `stimuli.csv`.
    pub fn range(self) -> (f64, f64) {
        match self {
            Slider::Bpm => (30.0, 400.0),
            Slider::Jitter => (0.0, 99.0),
            Slider::Consonance => (0.0, 37.0),
            Slider::Bigsmall => (0.0, 100.0),
            Slider::Updown => (0.0, 100.0),
        }
    }

    /// The slider's unit, for messages.
    pub fn unit(self) -> &'static str {
        match self {
            Slider::Bpm => "beats per minute",
            Slider::Jitter => "% of the beat period",
            Slider::Consonance => "integer pitch-class-set index",
            Slider::Bigsmall => "interval-size articulation point ×100",
            Slider::Updown => "probability ×100 of a downward step",
        }
    }

    /// The slider with this name, if any.
    pub fn from_name(name: &str) -> Option<Slider> {
        Slider::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for Slider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (lo, hi) = self.range();
        write!(f, "`{}` ({lo}–{hi}, {})", self.name(), self.unit())
    }
}

/// A slider setting that cannot drive the generator.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ParamError {
    /// The slider's value is NaN or infinite; names the slider and its range.
    NonFinite(Slider),
    /// The slider's value lies outside its range; names the slider, its range and the value.
    OutOfRange {
        /// The offending slider.
        slider: Slider,
        /// The value given.
        value: f64,
    },
    /// The consonance slider is not a whole number; names the slider, its range and the value.
    NotInteger {
        /// The offending slider.
        slider: Slider,
        /// The value given.
        value: f64,
    },
    /// The slider's text is not a number; names the slider, its range and the text.
    NotANumber {
        /// The offending slider.
        slider: Slider,
        /// The text given.
        text: String,
    },
    /// A `name=value` item names no slider; holds the name.
    UnknownSlider(String),
    /// A slider is missing from the parameter string; names it.
    Missing(Slider),
    /// A slider is given twice in the parameter string; names it.
    Duplicate(Slider),
    /// An item of the parameter string is not of the form `name=value`; holds the item.
    Syntax(String),
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::NonFinite(s) => write!(f, "slider {s} must be a finite number"),
            ParamError::OutOfRange { slider, value } => {
                write!(f, "slider {slider} is out of range: got {value}")
            }
            ParamError::NotInteger { slider, value } => {
                write!(f, "slider {slider} must be a whole number: got {value}")
            }
            ParamError::NotANumber { slider, text } => {
                write!(f, "slider {slider} is not a number: got {text:?}")
            }
            ParamError::UnknownSlider(n) => {
                write!(f, "unknown slider {n:?} (expected bpm, jitter, consonance, bigsmall, updown)")
            }
            ParamError::Missing(s) => write!(f, "slider {s} is missing"),
            ParamError::Duplicate(s) => write!(f, "slider {s} is given twice"),
            ParamError::Syntax(item) => write!(
                f,
                "parameter item {item:?} is not `name=value` \
                 (expected bpm=B,jitter=J,consonance=C,bigsmall=S,updown=U)"
            ),
        }
    }
}

impl std::error::Error for ParamError {}

/// The five slider values that drive both the melody and the animation, in the units of `stimuli.csv`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// Beats per minute, 30–400.
    pub bpm: f64,
    /// Onset jitter, 0–99 % of the beat period.
    pub jitter: f64,
    /// Pitch-class-set index, a whole number 0–37.
    pub consonance: f64,
    /// Interval-size articulation point ×100, 0–100.
    pub bigsmall: f64,
    /// Probability ×100 that a step goes down, 0–100.
    pub updown: f64,
}

/// The names of the five emotion prototypes, in alphabetical order.
pub const PROTOTYPES: [&str; 5] = ["angry", "happy", "peaceful", "sad", "scared"];

impl Params {
    /// Value of one slider.
    pub fn get(&self, s: Slider) -> f64 {
        match s {
            Slider::Bpm => self.bpm,
            Slider::Jitter => self.jitter,
            Slider::Consonance => self.consonance,
            Slider::Bigsmall => self.bigsmall,
            Slider::Updown => self.updown,
        }
    }

    /// Sets one slider (without validation).
    pub fn set(&mut self, s: Slider, v: f64) {
        match s {
            Slider::Bpm => self.bpm = v,
            Slider::Jitter => self.jitter = v,
            Slider::Consonance => self.consonance = v,
            Slider::Bigsmall => self.bigsmall = v,
            Slider::Updown => self.updown = v,
        }
    }

    /// Checks every slider: finite, within its range, consonance a whole number. Reports the first failure.
    pub fn validate(&self) -> Result<(), ParamError> {
        for s in Slider::ALL {
            let v = self.get(s);
            if !v.is_finite() {
                return Err(ParamError::NonFinite(s));
            }
            let (lo, hi) = s.range();
            if !(lo..=hi).contains(&v) {
                return Err(ParamError::OutOfRange { slider: s, value: v });
            }
            if s == Slider::Consonance && v.floor() != v {
                return Err(ParamError::NotInteger { slider: s, value: v });
            }
        }
        Ok(())
    }

    /// Index of the pitch-class set (valid after [`Params::validate`]).
    pub fn set_index(&self) -> usize {
        self.consonance.clamp(0.0, 37.0) as usize
    }

    /// Parses `bpm=B,jitter=J,consonance=C,bigsmall=S,updown=U` (any order, spaces allowed) and validates it.
    pub fn parse(text: &str) -> Result<Params, ParamError> {
        let mut vals: [Option<f64>; 5] = [None; 5];
        for item in text.split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let (name, value) = item.split_once('=').ok_or_else(|| ParamError::Syntax(item.to_string()))?;
            let name = name.trim();
            let slider = Slider::from_name(name).ok_or_else(|| ParamError::UnknownSlider(name.to_string()))?;
            let idx = Slider::ALL.iter().position(|&s| s == slider).unwrap_or(0);
            if vals[idx].is_some() {
                return Err(ParamError::Duplicate(slider));
            }
            vals[idx] = Some(parse_number(slider, value.trim())?);
        }
        let mut p = Params { bpm: 0.0, jitter: 0.0, consonance: 0.0, bigsmall: 0.0, updown: 0.0 };
        for (s, v) in Slider::ALL.into_iter().zip(vals) {
            p.set(s, v.ok_or(ParamError::Missing(s))?);
        }
        p.validate()?;
        Ok(p)
    }

    /// The built-in parameters of an emotion prototype (`angry`, `happy`, `peaceful`, `sad`, `scared`).
    ///
    /// These are the study's prototype settings (Sievers et al. 2013); a test checks them against `stimuli.csv`.
    pub fn prototype(name: &str) -> Option<Params> {
        let (bpm, jitter, consonance, bigsmall, updown) = match name {
            "angry" => (347.0, 62.5, 3.0, 82.5, 81.5),
            "happy" => (288.5, 25.0, 37.0, 50.5, 38.5),
            "peaceful" => (64.5, 1.5, 37.0, 17.5, 40.0),
            "sad" => (46.0, 7.0, 30.0, 12.0, 89.5),
            "scared" => (331.0, 65.0, 5.0, 61.5, 51.5),
            _ => return None,
        };
        Some(Params { bpm, jitter, consonance, bigsmall, updown })
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bpm={},jitter={},consonance={},bigsmall={},updown={}",
            self.bpm, self.jitter, self.consonance, self.bigsmall, self.updown
        )
    }
}

/// Parses one slider value; a non-number is an error naming the slider.
pub fn parse_number(slider: Slider, text: &str) -> Result<f64, ParamError> {
    text.parse::<f64>().map_err(|_| ParamError::NotANumber { slider, text: text.to_string() })
}
