//! Board profiles and `serve --config` files: TOML (read with `toml` + serde) with a `[board]` and a `[serve]`
//! table. Unknown tables and keys are refused, and every error names the line and column it is about.
//!
//! ```
//! use avf_bel::link::board::BoardProfile;
//! let p = BoardProfile::parse("[board]\nname = \"dev\"\n[serve]\nrate = 30\nsocket = \"/tmp/e.sock\"\n").unwrap();
//! assert_eq!(p.serve.rate, 30.0);
//! let e = BoardProfile::parse("[serve]\nrate = 30\nsokcet = \"/tmp/e.sock\"\n").unwrap_err();
//! assert_eq!((e.line, e.column), (3, 1));
//! ```

use super::daemon::ServeOptions;
use crate::host::capture::{parse_uri, Sense};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A board profile / config file: what the `[board]` and `[serve]` tables set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BoardProfile {
    /// Board name (informational).
    pub board: Option<String>,
    /// CUDA compute capability, e.g. "8.7" (informational until the CUDA path exists).
    pub compute_capability: Option<String>,
    /// Precision the board is meant to run (f32, f16, int8); informational: the weights file decides.
    pub precision: Option<String>,
    /// Frame width and height the model must have.
    pub input_size: Option<u32>,
    /// Weights file.
    pub weights: Option<String>,
    /// Daemon options set by the file (the rest keep their defaults).
    pub serve: ServeOptions,
    /// Whether the file set `serve.data` (so a command line can tell a chosen data folder from the default).
    pub data_set: bool,
}

/// A profile that cannot be used: where (1-based line and column, in characters) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoardError {
    /// The file, when read from one.
    pub path: Option<PathBuf>,
    /// 1-based line of the offending text (0 when the file could not be read at all).
    pub line: usize,
    /// 1-based column, in characters (0 when the file could not be read at all).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for BoardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{}: ", p.display())?;
        }
        if self.line > 0 {
            write!(f, "line {}, column {}: ", self.line, self.column)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for BoardError {}

/// 1-based (line, column in characters) of byte `offset` in `text` (clamped to the text).
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

/// The dotted key (`serve.rate`) written on the line that holds byte `offset`, if that line is `key = value`
/// (the nearest `[table]` header above it names the table).
fn key_at(text: &str, offset: usize) -> Option<String> {
    let (line, _) = line_column(text, offset);
    let lines: Vec<&str> = text.lines().collect();
    let here = lines.get(line - 1)?;
    let (key, _) = here.split_once('=')?;
    let key = key.trim().trim_matches('"');
    if key.is_empty() || key.starts_with('[') || key.starts_with('#') {
        return None;
    }
    let table = lines[..line - 1].iter().rev().find_map(|l| {
        let l = l.trim();
        l.strip_prefix('[').and_then(|r| r.split_once(']')).map(|(t, _)| t.trim().to_string())
    });
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}

/// A number in the file: TOML integers and floats alike (`rate = 30` and `rate = 30.0`), finite.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Number(f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                if v.is_finite() {
                    Ok(Number(v))
                } else {
                    Err(E::custom("a finite number is needed (not inf or nan)"))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The precisions a board may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum PrecisionName {
    F32,
    F16,
    Int8,
}

impl PrecisionName {
    fn as_str(self) -> &'static str {
        match self {
            PrecisionName::F32 => "f32",
            PrecisionName::F16 => "f16",
            PrecisionName::Int8 => "int8",
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BoardTable {
    name: Option<String>,
    compute_capability: Option<String>,
    precision: Option<PrecisionName>,
    input_size: Option<Spanned<u32>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ServeTable {
    weights: Option<String>,
    audio: Option<Spanned<String>>,
    video: Option<Spanned<String>>,
    serial: Option<PathBuf>,
    baud: Option<Spanned<u32>>,
    socket: Option<PathBuf>,
    state: Option<PathBuf>,
    save_every: Option<Spanned<u32>>,
    rate: Option<Spanned<Number>>,
    window: Option<Spanned<Number>>,
    warmup: Option<Spanned<Number>>,
    queue: Option<Spanned<usize>>,
    data: Option<PathBuf>,
    seed: Option<u64>,
    json: Option<bool>,
    stats: Option<bool>,
    ros2: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    #[serde(default)]
    board: BoardTable,
    #[serde(default)]
    serve: ServeTable,
}

/// The largest frame size a profile may ask for (as `RenderOptions` and the visual pathway accept).
const MAX_INPUT_SIZE: u32 = 1024;
/// The fastest serial line a profile may ask for, in baud.
const MAX_BAUD: u32 = 4_000_000;

impl BoardProfile {
    /// Parse the text of a profile. Never panics; errors carry the line and column.
    pub fn parse(text: &str) -> Result<BoardProfile, BoardError> {
        let at = |span: Option<Range<usize>>, message: String| {
            let (line, column) = span.map_or((1, 1), |s| line_column(text, s.start));
            BoardError { path: None, line, column, message }
        };
        let file: ProfileFile = toml::from_str(text).map_err(|e| {
            let message = e.message().trim();
            match e.span().and_then(|s| key_at(text, s.start)) {
                Some(key) => at(e.span(), format!("`{key}`: {message}")),
                None => at(e.span(), message.to_string()),
            }
        })?;
        let (b, s) = (file.board, file.serve);
        let mut p = BoardProfile {
            board: b.name,
            compute_capability: b.compute_capability,
            precision: b.precision.map(|x| x.as_str().to_string()),
            input_size: None,
            weights: s.weights,
            data_set: s.data.is_some(),
            serve: ServeOptions::default(),
        };
        if let Some(n) = b.input_size {
            if !(1..=MAX_INPUT_SIZE).contains(n.get_ref()) {
                return Err(at(Some(n.span()), format!("`board.input_size` must be 1–{MAX_INPUT_SIZE} pixels")));
            }
            p.input_size = Some(n.into_inner());
        }
        let o = &mut p.serve;
        o.serial = s.serial;
        o.socket = s.socket;
        o.state = s.state;
        if let Some(d) = s.data {
            o.data_dir = d;
        }
        o.seed = s.seed.unwrap_or(o.seed);
        o.json = s.json.unwrap_or(o.json);
        o.stats = s.stats.unwrap_or(o.stats);
        o.ros2 = s.ros2.unwrap_or(o.ros2);
        if let Some(b) = s.baud {
            if !(1..=MAX_BAUD).contains(b.get_ref()) {
                return Err(at(Some(b.span()), format!("`serve.baud` must be 1–{MAX_BAUD}")));
            }
            o.baud = b.into_inner();
        }
        for (key, sense, uri) in [("audio", Sense::Audio, &s.audio), ("video", Sense::Video, &s.video)] {
            if let Some(u) = uri {
                parse_uri(u.get_ref(), sense).map_err(|e| at(Some(u.span()), format!("`serve.{key}`: {e}")))?;
            }
        }
        // Ranges are checked by ServeOptions::validate (their one definition), whose messages name the option in
        // backticks: the error points at that key in the file.
        let mut spans: Vec<(Range<usize>, &str)> = Vec::new();
        macro_rules! set {
            ($field:ident, $key:literal, |$v:ident| $conv:expr) => {
                if let Some(x) = s.$field {
                    spans.push((x.span(), $key));
                    let $v = x.into_inner();
                    o.$field = $conv;
                }
            };
        }
        set!(audio, "audio", |v| Some(v));
        set!(video, "video", |v| Some(v));
        set!(save_every, "save_every", |v| v);
        set!(rate, "rate", |v| v.0);
        set!(window, "window", |v| v.0);
        set!(warmup, "warmup", |v| v.0);
        set!(queue, "queue", |v| v);
        // An input and an output are supplied for the check: whether there are any is for the command line to judge.
        let probe = ServeOptions { audio: o.audio.clone().or(Some("synth://happy".into())), json: true, ..o.clone() };
        if let Err(e) = probe.validate() {
            let named = |k: &str| spans.iter().find(|(_, key)| *key == k).map(|(s, _)| s.clone());
            // `warmup` must be below `window`: when the file sets only the window, point at it.
            let span = spans
                .iter()
                .find(|(_, key)| e.contains(&format!("`{key}`")))
                .map(|(s, _)| s.clone())
                .or_else(|| named("window"));
            // The message names the option as `rate`; in the file it is `serve.rate`.
            let mut message = e.clone();
            for (_, key) in &spans {
                message = message.replace(&format!("`{key}`"), &format!("`serve.{key}`"));
            }
            return Err(at(span, message));
        }
        Ok(p)
    }

    /// Read and parse a profile file; errors name the file, line and column.
    pub fn load(path: &Path) -> Result<BoardProfile, BoardError> {
        let text = std::fs::read_to_string(path).map_err(|e| BoardError {
            path: Some(path.to_path_buf()),
            line: 0,
            column: 0,
            message: e.to_string(),
        })?;
        BoardProfile::parse(&text).map_err(|e| BoardError { path: Some(path.to_path_buf()), ..e })
    }
}
