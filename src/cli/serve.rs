//! `avf-bel serve`: the robot daemon (see [`crate::link::daemon`]); options from a board profile (`--config`,
//! a TOML subset) and the command line, the command line winning.

use super::Opts;
use crate::link::daemon::{serve, ServeOptions};
use crate::link::sys::install_stop_handler;
use crate::model::read_file;
use crate::{Pipeline, Weights};
use std::path::{Path, PathBuf};

/// A board profile / config file: `[board]` and `[serve]` tables of `key = value` lines.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
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
    /// Daemon options set by the file.
    pub serve: ServeOptions,
}

/// A parsed value of the TOML subset.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
}

fn parse_value(text: &str) -> Option<Value> {
    let t = text.trim();
    if let Some(inner) = t.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        if inner.contains('"') || inner.contains('\\') {
            return None; // escapes are not part of the subset
        }
        return Some(Value::Str(inner.to_string()));
    }
    match t {
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    let n = t.replace('_', "");
    n.parse::<f64>().ok().filter(|x| x.is_finite()).map(Value::Num)
}

/// Strip a `#` comment that is not inside a string.
fn strip_comment(line: &str) -> &str {
    let mut in_str = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_str = !in_str,
            '#' if !in_str => return &line[..i],
            _ => {}
        }
    }
    line
}

impl Config {
    /// Parse the text of a profile; errors name the line and the key.
    pub fn parse(text: &str) -> Result<Config, String> {
        let mut c = Config::default();
        let mut table = String::new();
        for (i, raw) in text.lines().enumerate() {
            let line = strip_comment(raw).trim();
            let at = |m: String| format!("line {}: {m}", i + 1);
            if line.is_empty() {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                let name = name.trim();
                if name != "board" && name != "serve" {
                    return Err(at(format!("unknown table [{name}] (expected [board] or [serve])")));
                }
                table = name.to_string();
                continue;
            }
            let (key, val) = line.split_once('=').ok_or_else(|| at(format!("expected `key = value`, got `{line}`")))?;
            let key = key.trim();
            let full = if table.is_empty() { key.to_string() } else { format!("{table}.{key}") };
            let v = parse_value(val).ok_or_else(|| at(format!("`{full}`: cannot read the value `{}`", val.trim())))?;
            c.set(&full, v).map_err(at)?;
        }
        Ok(c)
    }

    fn set(&mut self, key: &str, v: Value) -> Result<(), String> {
        let s = &mut self.serve;
        let want_str = |v: &Value| match v {
            Value::Str(x) => Ok(x.clone()),
            _ => Err(format!("`{key}` must be a \"string\"")),
        };
        let want_num = |v: &Value| match v {
            Value::Num(x) => Ok(*x),
            _ => Err(format!("`{key}` must be a number")),
        };
        let want_uint = |v: &Value, max: f64| match v {
            Value::Num(x) if x.fract() == 0.0 && *x >= 0.0 && *x <= max => Ok(*x),
            _ => Err(format!("`{key}` must be a whole number 0–{max}")),
        };
        match key {
            "board.name" => self.board = Some(want_str(&v)?),
            "board.compute_capability" => self.compute_capability = Some(want_str(&v)?),
            "board.precision" => {
                let p = want_str(&v)?;
                if !["f32", "f16", "int8"].contains(&p.as_str()) {
                    return Err(format!("`{key}` must be \"f32\", \"f16\" or \"int8\""));
                }
                self.precision = Some(p);
            }
            "board.input_size" => self.input_size = Some(want_uint(&v, 1024.0)? as u32),
            "serve.weights" => self.weights = Some(want_str(&v)?),
            "serve.audio" => s.audio = Some(want_str(&v)?),
            "serve.video" => s.video = Some(want_str(&v)?),
            "serve.serial" => s.serial = Some(PathBuf::from(want_str(&v)?)),
            "serve.baud" => s.baud = want_uint(&v, 4e6)? as u32,
            "serve.socket" => s.socket = Some(PathBuf::from(want_str(&v)?)),
            "serve.state" => s.state = Some(PathBuf::from(want_str(&v)?)),
            "serve.save_every" => s.save_every = want_uint(&v, 1e9)? as u32,
            "serve.rate" => s.rate = want_num(&v)?,
            "serve.window" => s.window = want_num(&v)?,
            "serve.warmup" => s.warmup = want_num(&v)?,
            "serve.queue" => s.queue = want_uint(&v, 4096.0)? as usize,
            "serve.data" => s.data_dir = PathBuf::from(want_str(&v)?),
            "serve.seed" => s.seed = want_uint(&v, 9e15)? as u64,
            "serve.json" | "serve.stats" => match v {
                Value::Bool(b) if key == "serve.json" => s.json = b,
                Value::Bool(b) => s.stats = b,
                _ => return Err(format!("`{key}` must be true or false")),
            },
            other => return Err(format!("unknown key `{other}`")),
        }
        // Range errors name the key too.
        let probe = ServeOptions { audio: Some("synth://x".into()), json: true, ..self.serve.clone() };
        probe.validate().map_err(|e| format!("`{key}`: {e}"))
    }

    /// Read and parse a profile file.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Config::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Run.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut o = Opts::new(args);
    let cfg = match o.value("--config")? {
        Some(p) => Config::load(Path::new(p))?,
        None => Config::default(),
    };
    let mut s = cfg.serve.clone();
    if let Some(v) = o.value("--audio")? {
        s.audio = Some(v.to_string());
    }
    if let Some(v) = o.value("--video")? {
        s.video = Some(v.to_string());
    }
    if let Some(v) = o.value("--serial")? {
        s.serial = Some(PathBuf::from(v));
    }
    if let Some(v) = o.value("--socket")? {
        s.socket = Some(PathBuf::from(v));
    }
    if let Some(v) = o.value("--state")? {
        s.state = Some(PathBuf::from(v));
    }
    if let Some(v) = o.value("--data")? {
        s.data_dir = PathBuf::from(v);
    }
    s.baud = o.parse("--baud", s.baud)?;
    s.rate = o.parse("--rate", s.rate)?;
    s.window = o.parse("--window", s.window)?;
    s.warmup = o.parse("--warmup", s.warmup)?;
    s.save_every = o.parse("--save-every", s.save_every)?;
    s.queue = o.parse("--queue", s.queue)?;
    s.seed = o.parse("--seed", s.seed)?;
    if let Some(v) = o.value("--duration")? {
        s.duration = Some(v.parse().map_err(|e| format!("`--duration {v}`: {e}"))?);
    }
    s.json |= o.flag("--json");
    s.stats |= o.flag("--stats");
    let weights = o.value("--weights")?.map(str::to_string).or(cfg.weights.clone());
    o.finish()?;
    s.validate()?;

    let owned;
    let bytes: &[u8] = match &weights {
        Some(p) => {
            owned = read_file(Path::new(p)).map_err(|e| format!("{p}: {e}"))?;
            owned.as_bytes()
        }
        None => super::run::default_weights(),
    };
    let w = Weights::parse(bytes).map_err(|e| format!("{}: {e}", weights.as_deref().unwrap_or("built-in weights")))?;
    if let Some(n) = cfg.input_size {
        let v = &w.config().visual;
        if (u32::from(v.height), u32::from(v.width)) != (n, n) {
            return Err(format!(
                "board input_size {n} but the model's frames are {}×{}: export weights for this board",
                v.width, v.height
            ));
        }
    }
    if let Some(b) = &cfg.board {
        eprintln!(
            "board profile: {b} (compute capability {}, precision {}; the CPU path runs the weights as stored)",
            cfg.compute_capability.as_deref().unwrap_or("-"),
            cfg.precision.as_deref().unwrap_or("-")
        );
    }
    if weights.is_none() && !super::run::DEFAULT_IS_TRAINED {
        eprintln!("warning: serving the built-in UNTRAINED model; its numbers mean nothing yet");
    }
    let mut scratch = vec![0.0f32; Pipeline::scratch_len(&w)];
    let mut p = Pipeline::new(&w, &mut scratch).map_err(|e| e.to_string())?;
    install_stop_handler().map_err(|e| format!("signal handlers: {e}"))?;
    let stats = serve(&mut p, &s)?;
    if s.stats {
        eprintln!("{}", stats.line());
    }
    Ok(())
}
