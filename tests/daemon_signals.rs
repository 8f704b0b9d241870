//! SIGTERM and SIGINT end `avf-bel serve` within a second in every state an input or output can be stuck in: a
//! source not yet open (retrying with backoff), a FIFO with no writer, a child process that ignores SIGTERM and never
//! writes (it is killed too), a subscriber that stopped reading, and (feature `capture`) ALSA and V4L2 sources.
//! Every daemon runs the tiny model; the time measured is from the signal to the process's exit.

mod common;
use avf_bel::link::socket::Conn;
use common::{command, Reaped};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The bound the issue sets (1 s), stretched under an emulator like the tests' other real-time windows
/// (tests/common): there the time to exit is qemu's (81–306 ms under qemu with both cores busy, on an Intel Xeon).
fn within() -> Duration {
    Duration::from_secs_f64(common::scaled(1.0))
}

fn dir() -> PathBuf {
    common::scratch_dir("signals")
}

fn tiny() -> &'static str {
    common::tiny_weights_file(&dir())
}

struct Daemon {
    /// Killed on drop: a test that panics (a missed line, a slow exit) leaves no daemon behind.
    child: Reaped,
    lines: mpsc::Receiver<String>,
    stderr: Vec<String>,
}

/// Start `serve` with `args` and wait until it serves (its "serving model" line).
fn start(args: &[&str], env: &[(&str, &str)]) -> Daemon {
    let mut c = command();
    c.args(["serve", "--weights", tiny()]);
    for (k, v) in [("--rate", "50"), ("--window", "1"), ("--warmup", "0.2")] {
        if !args.contains(&k) {
            c.args([k, v]);
        }
    }
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = Reaped::new(c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap());
    // Keep stdout drained (--json), collect stderr lines.
    let mut out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut sink = [0u8; 4096];
        while out.read(&mut sink).is_ok_and(|n| n > 0) {}
    });
    let (tx, lines) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut d = Daemon { child, lines, stderr: Vec::new() };
    d.wait_for("serving model", Duration::from_secs(30));
    d
}

impl Daemon {
    fn wait_for(&mut self, what: &str, limit: Duration) {
        let t = Instant::now();
        while t.elapsed() < limit {
            if let Ok(l) = self.lines.recv_timeout(Duration::from_millis(50)) {
                let hit = l.contains(what);
                self.stderr.push(l);
                if hit {
                    return;
                }
            }
            if let Ok(Some(s)) = self.child.try_wait() {
                panic!("the daemon exited ({s}) before `{what}`: {:#?}", self.stderr);
            }
        }
        panic!("no `{what}` within {limit:?}: {:#?}", self.stderr);
    }

    /// Send `sig`; return how long the daemon took to exit, and its exit code.
    fn signal(mut self, sig: libc::c_int) -> (Duration, i32, Vec<String>) {
        let t = Instant::now();
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if t.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                panic!("the daemon ignored signal {sig} for 20 s: {:#?}", self.stderr);
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let took = t.elapsed();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.stderr.push(l);
        }
        (took, status.code().unwrap_or(-1), self.stderr)
    }
}

fn check((took, code, err): (Duration, i32, Vec<String>), state: &str) {
    eprintln!("{state}: exited {took:?} after the signal");
    assert_eq!(code, 0, "{state}: exit code {code}: {err:#?}");
    let bound = within();
    assert!(took < bound, "{state}: {took:?} from the signal to the exit (bound {bound:?}): {err:#?}");
}

#[test]
fn sigterm_while_the_sources_are_not_open_yet() {
    let d = start(&["--audio", "file:///nonexistent/a.wav", "--video", "file:///nonexistent/v.y4m", "--json"], &[]);
    std::thread::sleep(Duration::from_millis(700)); // inside the backoff sleeps
    check(d.signal(libc::SIGTERM), "sources not open");
}

fn mkfifo(p: &Path) {
    let _ = std::fs::remove_file(p);
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo(3) only creates a file.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

#[test]
fn sigint_while_a_fifo_has_no_writer() {
    let fifo = dir().join("absent-writer.fifo");
    mkfifo(&fifo);
    let uri = format!("file://{}", fifo.display());
    let mut d = start(&["--video", &uri, "--json"], &[]);
    d.wait_for("waiting for a writer", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    check(d.signal(libc::SIGINT), "FIFO without a writer");
}

#[test]
fn sigterm_while_a_child_process_is_stuck_and_ignores_sigterm() {
    let pidfile = dir().join("stuck.pid");
    let _ = std::fs::remove_file(&pidfile);
    let uri = format!("pipe:trap '' TERM; echo $$ > {}; while :; do sleep 1; done", pidfile.display());
    let mut d = start(&["--video", &uri, "--audio", "synth://happy", "--json"], &[]);
    d.wait_for("waiting for data from", Duration::from_secs(10));
    let pid: libc::pid_t = common::wait_for_pid_line(&pidfile);
    check(d.signal(libc::SIGTERM), "child process stuck");
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0 && !is_zombie(pid);
    assert!(!alive, "the stuck child {pid} outlived the daemon");
}

fn is_zombie(pid: libc::pid_t) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')))
        .unwrap_or(true)
}

#[test]
fn sigterm_while_a_subscriber_has_stopped_reading() {
    let sock = dir().join("stalled.sock");
    let s = sock.to_str().unwrap();
    let d = start(
        &["--audio", "synth://sad", "--video", "synth://sad", "--socket", s, "--rate", "300", "--queue", "4"],
        &[],
    );
    let stalled = Conn::connect(&sock).unwrap(); // never reads: its kernel buffer and queue fill up
    std::thread::sleep(Duration::from_millis(800));
    check(d.signal(libc::SIGTERM), "subscriber stalled");
    drop(stalled);
    assert!(!sock.exists());
}

#[cfg(feature = "capture")]
mod live {
    use super::*;

    #[test]
    fn sigterm_while_a_camera_is_missing() {
        let d = start(&["--video", "v4l2:///dev/video57", "--json"], &[]);
        std::thread::sleep(Duration::from_millis(700));
        check(d.signal(libc::SIGTERM), "V4L2 device missing");
    }

    #[test]
    fn sigint_while_reading_alsa() {
        let home = super::dir().join("alsa-home");
        std::fs::create_dir_all(&home).unwrap();
        let raw = home.join("mic.raw");
        std::fs::write(&raw, vec![0u8; 22_050 * 2 * 4]).unwrap();
        std::fs::write(
            home.join(".asoundrc"),
            format!(
                "pcm.mic {{ type file; slave.pcm \"null\"; file \"/dev/null\"; infile \"{}\"; format \"raw\" }}\n",
                raw.display()
            ),
        )
        .unwrap();
        let mut d = start(&["--audio", "alsa://mic", "--json"], &[("HOME", home.to_str().unwrap())]);
        d.wait_for("delivering", Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(300));
        check(d.signal(libc::SIGINT), "ALSA capture");
    }
}
