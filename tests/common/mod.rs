//! Helpers shared by the integration tests.
#![allow(dead_code)]

use avf_bel::model::{encode, seeded, Precision};
use avf_bel::weights::writer::AlignedBytes;
use avf_bel::ModelConfig;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock};

/// A seeded tiny model as an aligned weights file.
pub fn tiny_model(seed: u64, precision: Precision) -> (ModelConfig, AlignedBytes) {
    let cfg = ModelConfig::tiny();
    let bytes = encode(&cfg, &seeded(&cfg, seed), precision).unwrap();
    (cfg, AlignedBytes::new(&bytes))
}

/// Moving test pattern: a bright square travelling across the frame.
pub fn frame(cfg: &ModelConfig, t: usize) -> Vec<u8> {
    let (h, w) = (cfg.visual.height as usize, cfg.visual.width as usize);
    let mut f = vec![40u8; h * w];
    let x0 = (t * 3) % w;
    for y in h / 4..h / 2 {
        for x in x0..(x0 + w / 4).min(w) {
            f[y * w + x] = 230;
        }
    }
    f
}

/// A decaying 440 Hz tone every `period` samples.
pub fn tones(cfg: &ModelConfig, seconds: f32, period: usize) -> Vec<f32> {
    let sr = cfg.audio.sample_rate as f32;
    (0..(seconds * sr) as usize)
        .map(|i| {
            let t = (i % period) as f32 / sr;
            0.5 * (-8.0 * t).exp() * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
        })
        .collect()
}

/// The `avf-bel` binary, through cargo's target runner when the tests themselves run under one (aarch64 under qemu).
pub fn command() -> Command {
    under_runner(Path::new(env!("CARGO_BIN_EXE_avf-bel")))
}

/// A program built for the test target (`avf-bel`, or this test binary itself), through cargo's target runner when
/// the tests run under one.
pub fn under_runner(bin: &Path) -> Command {
    let runner = if cfg!(target_arch = "aarch64") {
        std::env::var("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER").ok()
    } else {
        None
    };
    match runner {
        Some(r) if !r.trim().is_empty() => {
            let mut parts = r.split_whitespace();
            let mut c = Command::new(parts.next().unwrap());
            c.args(parts).arg(bin);
            c
        }
        _ => Command::new(bin),
    }
}

/// Whether the tests run under an emulator: cargo's target runner (aarch64 under qemu), which [`command`] also
/// puts in front of every `avf-bel` it starts.
pub fn emulated() -> bool {
    cfg!(target_arch = "aarch64")
        && std::env::var("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER").is_ok_and(|r| !r.trim().is_empty())
}

/// The factor by which tests stretch the real-time windows they give a daemon (how long it runs, how long a reader
/// collects): 1 natively. Under an emulator every process is translated instruction by instruction, and on a
/// 2-core CI box two emulated daemons, their readers and the test harness share the cores, so a daemon asked for
/// 50 samples a second may publish a tenth of that; the tests' assertions (so many samples, a heartbeat, a
/// reward applied) stay as they are and get a longer clock instead: `AVF_BEL_EMULATED_TIME_SCALE` (default 10: an
/// emulated daemon with the tiny model publishes 6–7 samples a second on an Intel Xeon host, whatever `--rate`).
/// Said once on stderr where it is not 1.
pub fn time_scale() -> f64 {
    static SCALE: OnceLock<f64> = OnceLock::new();
    *SCALE.get_or_init(|| {
        if !emulated() {
            return 1.0;
        }
        let s = std::env::var("AVF_BEL_EMULATED_TIME_SCALE")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 1.0)
            .unwrap_or(10.0);
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "note: running under an emulator: real-time windows stretched {s}x");
        s
    })
}

/// `secs` of real time as a test should wait for it here (see [`time_scale`]).
pub fn scaled(secs: f64) -> f64 {
    secs * time_scale()
}

/// [`scaled`] as a command-line value (`--duration`).
pub fn scaled_arg(secs: f64) -> String {
    format!("{}", scaled(secs))
}

/// The study's ratings (found by `avf_bel::data::find_data`: `$AVF_BEL_DATA`, else `../shared/data`), or `None`
/// after printing why `test` skips. Where the data must be there (`.ci/run`, which runs with `CI=true`, or
/// `AVF_BEL_REQUIRE_DATA=1`) a missing folder fails the test instead of skipping it.
pub fn study_data(test: &str) -> Option<std::path::PathBuf> {
    use std::io::Write;
    match avf_bel::data::find_data(None) {
        Ok(d) => Some(d),
        Err(e) => {
            let required = |v: &str| std::env::var(v).is_ok_and(|x| x == "1" || x.eq_ignore_ascii_case("true"));
            if required("AVF_BEL_REQUIRE_DATA") || required("CI") {
                panic!("{test}: the study's data are required here (CI or AVF_BEL_REQUIRE_DATA=1) but {e}");
            }
            // Written straight to the process's stderr, past the test harness's capture, so the skip is seen.
            let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {e}");
            None
        }
    }
}

/// A child process (a daemon under test) that is killed and reaped when dropped, also when the test panics: an
/// orphaned daemon keeps running and keeps every descriptor it inherited, among them the lock file of the
/// `flock` that wraps the build (once it blocked every later build on the machine). Waited-for children are
/// handed back with [`Reaped::into_inner`]; killing an exited child is harmless.
pub struct Reaped(Option<Child>);

impl Reaped {
    /// Guard `child`.
    pub fn new(child: Child) -> Self {
        Reaped(Some(child))
    }

    /// The child, no longer killed on drop (for `wait_with_output`, which consumes it).
    pub fn into_inner(mut self) -> Child {
        self.0.take().expect("a Reaped holds its child until into_inner")
    }
}

impl Deref for Reaped {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.0.as_ref().expect("a Reaped holds its child until into_inner")
    }
}

impl DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        self.0.as_mut().expect("a Reaped holds its child until into_inner")
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// This test binary's scratch folder, `$TMP/avf-bel-NAME-PID` (created), removed with everything in it when the
/// binary exits, after all its tests (set `AVF_BEL_KEEP_TEST_DIRS` to keep it, e.g. to look at a failure's files).
/// One folder per binary rather than per test: tests share files in it (the tiny model of [`tiny_weights_file`]).
pub fn scratch_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("avf-bel-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let mut dirs = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
    if dirs.is_empty() {
        // SAFETY: `remove_scratch` is an `extern "C" fn()` that does not unwind (it ignores every error), as
        // `atexit` requires; registering it more than once would only repeat the removal.
        unsafe { libc::atexit(remove_scratch) };
    }
    if !dirs.contains(&d) {
        dirs.push(d.clone());
    }
    d
}

/// The folders [`scratch_dir`] made in this process.
static SCRATCH: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Runs at process exit (the test harness returns from `main` or calls `exit`, both of which run `atexit`
/// handlers; a test's daemons are gone by then, killed by their guards' `Drop`).
extern "C" fn remove_scratch() {
    if std::env::var_os("AVF_BEL_KEEP_TEST_DIRS").is_some() {
        return;
    }
    let dirs = SCRATCH.lock().unwrap_or_else(|e| e.into_inner());
    for d in dirs.iter() {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// A tiny seeded model (32×32 frames, small cortex: cheap enough for real time even under qemu), written once per
/// test binary into `dir` by `avf-bel init`, the way a user makes one; its path.
pub fn tiny_weights_file(dir: &Path) -> &'static str {
    static W: OnceLock<String> = OnceLock::new();
    W.get_or_init(|| {
        let p = dir.join("tiny.avfw");
        let out =
            command().args(["init", "--config", "tiny", "--seed", "3", "--out", p.to_str().unwrap()]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        p.to_str().unwrap().to_string()
    })
}

/// Connect to a daemon's socket at `path`, retrying for up to 20 s: the socket file appears at bind(2), before
/// listen(2), so neither its existence nor a first refused attempt means the daemon is not coming.
pub fn connect(path: &Path) -> avf_bel::link::socket::Conn {
    let t = std::time::Instant::now();
    loop {
        match avf_bel::link::socket::Conn::connect(path) {
            Ok(c) => return c,
            Err(e) if t.elapsed() > std::time::Duration::from_secs(20) => {
                panic!("no daemon listening at {}: {e}", path.display())
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
}

/// The pid a shell child wrote to `path` (`echo $$ > path`), waiting up to 10 s for it: the shell's `>` creates the
/// file before `echo` writes, so the file's existence is not enough (an empty read failed CI once); a whole line is.
pub fn wait_for_pid_line(path: &Path) -> i32 {
    let t = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let (true, Ok(pid)) = (text.ends_with('\n'), text.trim().parse()) {
            return pid;
        }
        assert!(t.elapsed() < std::time::Duration::from_secs(10), "no pid line in {}: {text:?}", path.display());
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A daemon under test whose stderr is collected line by line (a thread reads the pipe, so the daemon never blocks
/// on a full one); killed and reaped on drop like any [`Reaped`] child.
pub struct Daemon {
    pub child: Reaped,
    stderr: std::sync::Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    /// Spawn `cmd` (its stderr piped here, stdout discarded) and wait up to `secs` ([`scaled`]) for `ready` on its
    /// stderr, the daemon staying alive meanwhile.
    pub fn spawn(cmd: &mut Command, ready: &str, secs: f64) -> Daemon {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut child = Reaped::new(cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap());
        let stderr = std::sync::Arc::new(Mutex::new(Vec::new()));
        let (err, lines) = (child.stderr.take().unwrap(), std::sync::Arc::clone(&stderr));
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(l);
            }
        });
        let d = Daemon { child, stderr };
        d.wait_for(ready, secs);
        d
    }

    /// Everything the daemon wrote to stderr so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Wait until stderr holds `what` (up to `secs`, [`scaled`]); the daemon must stay alive meanwhile.
    pub fn wait_for(&self, what: &str, secs: f64) {
        let secs = scaled(secs);
        let t = std::time::Instant::now();
        while !self.log().contains(what) {
            assert!(t.elapsed().as_secs_f64() < secs, "no `{what}` within {secs} s:\n{}", self.log());
            self.assert_alive();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The daemon is running (not exited, not a zombie) and has not panicked.
    pub fn assert_alive(&self) {
        // SAFETY: kill(2) with signal 0 on our own child only checks that it exists.
        let alive = unsafe { libc::kill(self.child.id() as libc::pid_t, 0) } == 0
            && !std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
                .is_ok_and(|s| s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')));
        assert!(alive, "the daemon died:\n{}", self.log());
        assert!(!self.log().contains("panicked"), "a panic on the daemon's stderr:\n{}", self.log());
    }
}

/// `avf-bel serve --weights WEIGHTS ARGS` with the daemon tests' defaults (`--rate 50 --window 1 --warmup 0.2`, each
/// unless `args` sets it); a `--duration` is stretched under an emulator ([`scaled_arg`]) like every collecting
/// window of the tests, since a daemon's lifetime is real time.
pub fn serve_command(weights: &str, args: &[&str]) -> Command {
    let mut c = command();
    c.args(["serve", "--weights", weights]);
    for (k, v) in [("--rate", "50"), ("--window", "1"), ("--warmup", "0.2")] {
        if !args.contains(&k) {
            c.args([k, v]);
        }
    }
    for (i, a) in args.iter().enumerate() {
        match i.checked_sub(1).map(|p| args[p]) {
            Some("--duration") => c.arg(scaled_arg(a.parse().expect("--duration takes seconds"))),
            _ => c.arg(a),
        };
    }
    c
}
