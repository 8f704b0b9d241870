//! A small logger for the `log` facade: one line per record on stderr, `warning: message` on a terminal or in a
//! file, `<4>message` (the syslog priority prefix that journald reads) when stderr is the journal.
//!
//! systemd tells a service that its stderr is connected to the journal by setting `JOURNAL_STREAM` to the
//! `device:inode` of that stream (systemd.exec(5)); the prefix is used only when stderr really is that stream, so a
//! child process that inherited the variable but writes elsewhere still gets plain lines. Priorities follow
//! sd-daemon(3): error 3, warning 4, info 6, debug and trace 7.
//!
//! The level is chosen by the caller (the command line: `-q`/`-v`, else `AVF_BEL_LOG` or `RUST_LOG` holding one
//! of `off`, `error`, `warn`, `info`, `debug`, `trace`; default `info`).

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;

/// The environment variables read by [`level_from_env`], first wins.
pub const LEVEL_ENV: [&str; 2] = ["AVF_BEL_LOG", "RUST_LOG"];

/// The syslog priority of a level, as journald reads it from a `<N>` prefix.
pub fn journal_priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// The word printed before a plain line.
pub fn level_word(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

/// One record as the line written (with its newline): `<N>message` for the journal, `word: message` otherwise.
pub fn format_line(level: Level, message: &str, journal: bool) -> String {
    if journal {
        // Each line of a multi-line message carries the priority: journald reads the prefix per line.
        let p = journal_priority(level);
        message.lines().map(|l| format!("<{p}>{l}\n")).collect()
    } else {
        format!("{}: {message}\n", level_word(level))
    }
}

/// A level name (`off`, `error`, `warn`/`warning`, `info`, `debug`, `trace`, any case), or `None`.
pub fn parse_level(text: &str) -> Option<LevelFilter> {
    match text.trim().to_ascii_lowercase().as_str() {
        "off" => Some(LevelFilter::Off),
        "error" => Some(LevelFilter::Error),
        "warn" | "warning" => Some(LevelFilter::Warn),
        "info" => Some(LevelFilter::Info),
        "debug" => Some(LevelFilter::Debug),
        "trace" => Some(LevelFilter::Trace),
        _ => None,
    }
}

/// The level named by `AVF_BEL_LOG`, else `RUST_LOG` (a plain level name; anything else is ignored).
pub fn level_from_env() -> Option<LevelFilter> {
    LEVEL_ENV.iter().find_map(|v| std::env::var(v).ok().and_then(|t| parse_level(&t)))
}

/// Whether stderr is the journal stream systemd named in `JOURNAL_STREAM` (`device:inode`, decimal).
pub fn stderr_is_journal() -> bool {
    let Ok(v) = std::env::var("JOURNAL_STREAM") else { return false };
    let Some((dev, ino)) = v.split_once(':') else { return false };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else { return false };
    stderr_id().is_some_and(|id| id == (dev, ino))
}

/// `(st_dev, st_ino)` of the open stderr.
fn stderr_id() -> Option<(u64, u64)> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let m = std::fs::File::from(fd).metadata().ok()?;
    Some((m.dev(), m.ino()))
}

struct Logger {
    journal: bool,
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record<'_>) {
        if self.enabled(r.metadata()) {
            let line = format_line(r.level(), &r.args().to_string(), self.journal);
            // One write per record, so lines from threads do not interleave; a closed stderr is ignored.
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Install the logger at `level` (once per process; a second call is an error from `log`).
pub fn init(level: LevelFilter) -> Result<(), log::SetLoggerError> {
    log::set_boxed_logger(Box::new(Logger { journal: stderr_is_journal() }))?;
    log::set_max_level(level);
    Ok(())
}
