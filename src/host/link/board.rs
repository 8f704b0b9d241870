//! Board profiles and `serve --config` files: `[board]` and `[serve]` tables.

use super::daemon::ServeOptions;
use std::path::{Path, PathBuf};

/// A board profile / config file: `[board]` and `[serve]` tables of `key = value` lines.
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

impl BoardProfile {
    /// Parse the text of a profile; errors name the line and the key.
    pub fn parse(text: &str) -> Result<BoardProfile, String> {
        let mut c = BoardProfile::default();
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
            "serve.json" | "serve.stats" | "serve.ros2" => match v {
                Value::Bool(b) if key == "serve.json" => s.json = b,
                Value::Bool(b) if key == "serve.ros2" => s.ros2 = b,
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
    pub fn load(path: &Path) -> Result<BoardProfile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        BoardProfile::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}
