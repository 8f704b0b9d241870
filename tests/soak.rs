//! A soak of the real `avf-bel serve` under faults, all at once:
//! - video from a FIFO whose writer streams for a few seconds, goes away, comes back, and now and then writes a
//!   malformed stream instead of a Y4M one;
//! - audio from a `pipe:` command that exits every two seconds (the source is reopened with backoff);
//! - socket subscribers that connect, read, stall without reading, send junk packets, send rewards (valid and
//!   invalid) and disconnect;
//! - a serial peer on a pseudo-terminal that reads, stalls and writes junk and rewards; every restart of the daemon
//!   closes and reopens the port;
//! - SIGKILL at random moments while rewards are saved (every `SAVE_EVERY` rewards), then a restart.
//!
//! Asserted: no panic on the daemon's stderr; every sample either carries finite values in range or is flagged
//! `NO_ESTIMATE` with NaN values; the state file always loads after a SIGKILL, never goes back, and holds at most
//! `SAVE_EVERY` fewer updates than the daemon had reported before the kill; a restarted daemon reports the saved
//! count; resident memory (VmRSS) of each daemon stays flat once warm.
//!
//! `AVF_BEL_SOAK_SECS` sets the duration (default 30 s, for CI); `AVF_BEL_SOAK_SECS=3600` is the long run.
//! `AVF_BEL_BIN` runs another binary than cargo's (the long run uses a copy, so rebuilding does not swap it).
//! The figures are printed at the end (and appended to `AVF_BEL_SOAK_REPORT` if set).

mod common;
use common::Daemon;

use avf_bel::link::serial::open_pty;
use avf_bel::link::socket::{Conn, Recv};
use avf_bel::link::{decode_stream, flags, state, Message, MessageDecoder, Reward, Sample, MAX_FRAME, MAX_PAYLOAD};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Rewards per state save.
const SAVE_EVERY: u32 = 5;
/// Resident memory a warm daemon may gain over its incarnation (rings, queues and allocator slack are bounded).
const RSS_SLACK_KB: u64 = 4096;

fn binary() -> PathBuf {
    std::env::var_os("AVF_BEL_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_avf-bel")))
}

fn dir() -> PathBuf {
    common::scratch_dir("soak")
}

/// xorshift64: reproducible faults (the seed is printed).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo))
    }
}

/// Everything counted across the run.
#[derive(Default)]
struct Figures {
    samples: AtomicU64,
    flagged: AtomicU64,
    serial_samples: AtomicU64,
    bad_samples: AtomicU64,
    rewards_sent: AtomicU64,
    invalid_sent: AtomicU64,
    junk_sent: AtomicU64,
    stalls: AtomicU64,
    connections: AtomicU64,
    fifo_sessions: AtomicU64,
    malformed_streams: AtomicU64,
    /// Highest `updates` a heartbeat reported since the last restart.
    updates_seen: AtomicU64,
    first_bad: Mutex<Option<String>>,
}

impl Figures {
    /// A sample is valid (finite values in range, confidence 0–1) or flagged without an estimate (NaN values).
    fn check(&self, s: &Sample, via_serial: bool) {
        if via_serial {
            self.serial_samples.fetch_add(1, Ordering::Relaxed);
        } else {
            self.samples.fetch_add(1, Ordering::Relaxed);
        }
        let ok = if s.flags & flags::NO_ESTIMATE != 0 {
            self.flagged.fetch_add(1, Ordering::Relaxed);
            s.epp.is_nan() && s.emotions.iter().all(|x| x.is_nan())
        } else {
            if s.flags & flags::DEGRADED != 0 {
                self.flagged.fetch_add(1, Ordering::Relaxed);
            }
            s.epp.is_finite()
                && s.emotions.iter().all(|x| x.is_finite() && (-1e-3..=1.001).contains(x))
                && (0.0..=1.0).contains(&s.confidence)
        };
        if !ok {
            self.bad_samples.fetch_add(1, Ordering::Relaxed);
            self.first_bad.lock().unwrap().get_or_insert_with(|| format!("{s:?}"));
        }
    }
}

/// A daemon incarnation ([`common::Daemon`]: SIGKILLed and reaped on drop, so a failing test leaves no orphan); its
/// resident memory.
fn rss_kb(d: &Daemon) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{}/status", d.child.id())).ok()?;
    let l = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

struct Setup {
    weights: PathBuf,
    fifo: PathBuf,
    sock: PathBuf,
    state: PathBuf,
    serial: PathBuf,
}

fn start(s: &Setup) -> Daemon {
    let audio = "pipe:s16le:16000:1:dd if=/dev/urandom bs=3200 count=20 2>/dev/null";
    let mut c = Command::new(binary());
    c.args(["serve", "--weights"]).arg(&s.weights);
    c.args(["--video", &format!("file://{}", s.fifo.display()), "--audio", audio]);
    c.arg("--socket").arg(&s.sock).arg("--serial").arg(&s.serial).arg("--state").arg(&s.state);
    c.args(["--save-every", &SAVE_EVERY.to_string(), "--rate", "30", "--window", "1", "--warmup", "0.2"]);
    Daemon::spawn(&mut c, "serving model", 60.0)
}

fn mkfifo(p: &Path) {
    let _ = std::fs::remove_file(p);
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo(3) only creates a file.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// The FIFO writer: Y4M sessions of 1–6 s with gaps of 0.2–3 s; one session in eight is malformed.
fn fifo_writer(fifo: PathBuf, stop: Arc<AtomicBool>, fig: Arc<Figures>, seed: u64) {
    let mut rng = Rng(seed);
    let (w, h) = (48usize, 40usize);
    while !stop.load(Ordering::Relaxed) {
        // Non-blocking open (fails while no reader is there) so a stop is never stuck in open(2).
        let f = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&fifo);
        let Ok(mut f) = f else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        fig.fifo_sessions.fetch_add(1, Ordering::Relaxed);
        let session = rng.millis(1000, 6000);
        let t = Instant::now();
        if rng.below(8) == 0 {
            fig.malformed_streams.fetch_add(1, Ordering::Relaxed);
            let mut junk = vec![0u8; 64 + rng.below(4000) as usize];
            junk.iter_mut().for_each(|b| *b = rng.next() as u8);
            let _ = f.write_all(b"YUV4MPEG2 W\xff\xfe H-3 ");
            let _ = f.write_all(&junk);
        } else {
            let _ = write_all_patiently(&mut f, format!("YUV4MPEG2 W{w} H{h} F15:1 Ip A1:1 Cmono\n").as_bytes(), &stop);
            let mut n = 0u64;
            while t.elapsed() < session && !stop.load(Ordering::Relaxed) {
                let mut frame = b"FRAME\n".to_vec();
                frame.extend((0..w * h).map(|i| ((i as u64 + n * 7) % 251) as u8));
                if write_all_patiently(&mut f, &frame, &stop).is_err() {
                    break; // the reader went away (daemon killed): start a new session
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(66));
            }
        }
        drop(f);
        std::thread::sleep(rng.millis(200, 3000));
    }
}

fn write_all_patiently(f: &mut std::fs::File, mut b: &[u8], stop: &AtomicBool) -> std::io::Result<()> {
    let t = Instant::now();
    while !b.is_empty() {
        match f.write(b) {
            Ok(n) => b = &b[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if stop.load(Ordering::Relaxed) || t.elapsed() > Duration::from_secs(2) {
                    return Err(e);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn reward_packet(rng: &mut Rng, fig: &Figures) -> Vec<u8> {
    let mut r = [0f32; 5];
    r.iter_mut().for_each(|x| *x = rng.below(1001) as f32 / 1000.0);
    if rng.below(4) == 0 {
        // Invalid: NaN, infinite or out of range: refused by the daemon.
        r[rng.below(5) as usize] = [f32::NAN, f32::INFINITY, -0.5, 7.0][rng.below(4) as usize];
        fig.invalid_sent.fetch_add(1, Ordering::Relaxed);
    } else {
        fig.rewards_sent.fetch_add(1, Ordering::Relaxed);
    }
    let mut p = [0u8; MAX_PAYLOAD];
    let n = Message::Reward(Reward { seq: rng.next() as u32, reward: r }).encode(&mut p).unwrap();
    p[..n].to_vec()
}

fn handle(m: Message, fig: &Figures, via_serial: bool) {
    match m {
        Message::Sample(s) => fig.check(&s, via_serial),
        Message::Heartbeat(h) => {
            fig.updates_seen.fetch_max(u64::from(h.updates), Ordering::Relaxed);
        }
        _ => {} // rewards and scene cuts go robot → daemon only (`Message` is non-exhaustive)
    }
}

/// Socket subscribers: connect, then read, stall, send junk or rewards, and disconnect; over and over.
fn subscribers(sock: PathBuf, stop: Arc<AtomicBool>, fig: Arc<Figures>, seed: u64) {
    let mut rng = Rng(seed);
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::Relaxed) {
        let Ok(c) = Conn::connect(&sock) else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        fig.connections.fetch_add(1, Ordering::Relaxed);
        let _ = c.set_read_timeout(Some(Duration::from_millis(50)));
        let session = rng.millis(300, 3000);
        let stall = rng.below(5) == 0;
        if stall {
            fig.stalls.fetch_add(1, Ordering::Relaxed);
        }
        let t = Instant::now();
        while t.elapsed() < session && !stop.load(Ordering::Relaxed) {
            if stall {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            match rng.below(20) {
                0 => {
                    let mut junk = vec![0u8; 1 + rng.below(200) as usize];
                    junk.iter_mut().for_each(|b| *b = rng.next() as u8);
                    if rng.below(2) == 0 {
                        junk[0] = 2; // right version byte, garbage after it
                    }
                    let _ = c.send(&junk);
                    fig.junk_sent.fetch_add(1, Ordering::Relaxed);
                }
                1..=3 => {
                    let _ = c.send(&reward_packet(&mut rng, &fig));
                }
                _ => {}
            }
            match c.recv(&mut buf, true) {
                Ok(Recv::Packet(n)) => {
                    if let Ok(m) = Message::decode(&buf[..n]) {
                        handle(m, &fig, false);
                    }
                }
                Ok(Recv::Closed) | Err(_) => break,
                _ => {}
            }
        }
    }
}

/// The serial peer on the pseudo-terminal's master side: reads and checks, stalls, writes junk and rewards.
fn serial_peer(master: std::fs::File, stop: Arc<AtomicBool>, fig: Arc<Figures>, seed: u64) {
    let mut rng = Rng(seed);
    let mut master = master;
    let mut dec = MessageDecoder::new();
    let mut buf = [0u8; 1024];
    let mut phase_end = Instant::now();
    let mut stalled = false;
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= phase_end {
            stalled = rng.below(4) == 0;
            phase_end = Instant::now() + rng.millis(500, 4000);
        }
        if stalled {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let mut p = libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&master), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut p, 1, 50) } > 0;
        if ready {
            if let Ok(n) = master.read(&mut buf) {
                decode_stream(&mut dec, &buf[..n], |r| {
                    if let Ok(m) = r {
                        handle(m, &fig, true);
                    }
                });
            }
        }
        match rng.below(60) {
            0 => {
                let mut junk = vec![0u8; 1 + rng.below(100) as usize];
                junk.iter_mut().for_each(|b| *b = rng.next() as u8);
                let _ = master.write_all(&junk);
                let _ = master.write_all(&[0]); // a frame delimiter: the next frame starts clean
                fig.junk_sent.fetch_add(1, Ordering::Relaxed);
            }
            1 | 2 => {
                let payload = reward_packet(&mut rng, &fig);
                let mut f = [0u8; MAX_FRAME];
                let n = avf_bel::link::frame::encode(&payload, &mut f).unwrap();
                let _ = master.write_all(&f[..n]);
            }
            _ => {}
        }
    }
}

#[test]
fn soak_under_faults() {
    // The soak judges a real daemon's memory and timing; under qemu's user-mode emulation (the aarch64 suite that
    // CI runs on x86) both are the emulator's, so it is skipped there, saying so. It runs natively everywhere else.
    let runner = std::env::var("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER").unwrap_or_default();
    if cfg!(target_arch = "aarch64") && !runner.trim().is_empty() {
        eprintln!("SKIPPED soak_under_faults: running under an emulator ({runner}); the soak needs a native daemon");
        return;
    }
    let secs: f64 = std::env::var("AVF_BEL_SOAK_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(30.0);
    let seed: u64 = std::env::var("AVF_BEL_SOAK_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_50a6);
    // Kill about 20 times over a long run, every 6–12 s in a short one.
    let kill_every = (secs / 20.0).clamp(6.0, 240.0);
    let d = dir();
    let setup = Setup {
        weights: d.join("tiny.avfw"),
        fifo: d.join("video.fifo"),
        sock: d.join("soak.sock"),
        state: d.join("soak.state"),
        serial: PathBuf::new(),
    };
    let out = Command::new(binary())
        .args(["init", "--config", "tiny", "--seed", "5", "--out"])
        .arg(&setup.weights)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    mkfifo(&setup.fifo);
    let _ = std::fs::remove_file(&setup.state);
    let pty = open_pty().unwrap();
    let setup = Setup { serial: pty.path.clone(), ..setup };

    let stop = Arc::new(AtomicBool::new(false));
    let fig = Arc::new(Figures::default());
    let mut threads = Vec::new();
    {
        let (f, s, g) = (setup.fifo.clone(), Arc::clone(&stop), Arc::clone(&fig));
        threads.push(std::thread::spawn(move || fifo_writer(f, s, g, seed ^ 1)));
        let (p, s, g) = (setup.sock.clone(), Arc::clone(&stop), Arc::clone(&fig));
        threads.push(std::thread::spawn(move || subscribers(p, s, g, seed ^ 2)));
        let (p, s, g) = (setup.sock.clone(), Arc::clone(&stop), Arc::clone(&fig));
        threads.push(std::thread::spawn(move || subscribers(p, s, g, seed ^ 3)));
        let (m, s, g) = (pty.master.try_clone().unwrap(), Arc::clone(&stop), Arc::clone(&fig));
        threads.push(std::thread::spawn(move || serial_peer(m, s, g, seed ^ 4)));
    }

    let mut rng = Rng(seed);
    let t0 = Instant::now();
    let (mut restarts, mut saved, mut rss_first, mut rss_last, mut rss_max) = (0u32, 0u32, None, 0u64, 0u64);
    let mut failure: Option<String> = None;
    let mut daemon = start(&setup);
    let mut final_log = String::new();
    'run: while t0.elapsed().as_secs_f64() < secs {
        let incarnation = Instant::now();
        let life = Duration::from_secs_f64(kill_every * (0.5 + rng.below(1000) as f64 / 1000.0));
        let mut warm: Option<u64> = None;
        while incarnation.elapsed() < life && t0.elapsed().as_secs_f64() < secs {
            std::thread::sleep(Duration::from_millis(250));
            if let Ok(Some(s)) = daemon.child.try_wait() {
                failure = Some(format!("the daemon exited on its own ({s}): {}", daemon.log()));
                break 'run;
            }
            // Resident memory, once warm (3 s in: the model, the rings and the queues are allocated).
            if incarnation.elapsed() > Duration::from_secs(3) {
                if let Some(kb) = rss_kb(&daemon) {
                    let base = *warm.get_or_insert(kb);
                    rss_first.get_or_insert(kb);
                    rss_last = kb;
                    rss_max = rss_max.max(kb);
                    if kb > base + RSS_SLACK_KB {
                        failure = Some(format!("VmRSS grew from {base} kB to {kb} kB within one incarnation"));
                        break 'run;
                    }
                }
            }
        }
        if t0.elapsed().as_secs_f64() >= secs {
            break;
        }
        // SIGKILL (saves are frequent: every SAVE_EVERY rewards), then the state must load and not go back.
        let seen = fig.updates_seen.load(Ordering::Relaxed) as u32;
        daemon.child.kill().unwrap();
        daemon.child.wait().unwrap(); // SIGKILL + reap
        std::thread::sleep(Duration::from_millis(50)); // the stderr reader takes the last lines
        if daemon.log().contains("panicked") {
            failure = Some(format!("a panic on the daemon's stderr: {}", daemon.log()));
            break;
        }
        restarts += 1;
        if setup.state.exists() {
            match state::load(&setup.state) {
                Ok(s) => {
                    if s.updates < saved {
                        failure = Some(format!("the state went back from {saved} to {} updates", s.updates));
                        break;
                    }
                    if s.updates + SAVE_EVERY < seen {
                        failure = Some(format!(
                            "the state holds {} updates, a heartbeat had reported {seen}: more than {SAVE_EVERY} lost",
                            s.updates
                        ));
                        break;
                    }
                    saved = s.updates;
                }
                Err(e) => {
                    failure = Some(format!("the state file does not load after SIGKILL: {e}"));
                    break;
                }
            }
        }
        fig.updates_seen.store(0, Ordering::Relaxed);
        daemon = start(&setup);
        final_log.clear();
        if saved > 0 && !daemon.log().contains(&format!("({saved} updates)")) {
            std::thread::sleep(Duration::from_millis(200));
            if !daemon.log().contains(&format!("({saved} updates)")) {
                failure = Some(format!("the restarted daemon did not load {saved} updates: {}", daemon.log()));
                break;
            }
        }
    }
    if final_log.is_empty() {
        final_log = daemon.log();
    }
    drop(daemon);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let applied = state::load(&setup.state).map(|s| s.updates).unwrap_or(0);
    let summary = format!(
        "soak {:.0} s (seed {seed:#x}): samples {} on the socket + {} on serial, {} flagged, {} bad; rewards sent {} \
         valid + {} invalid, {} junk messages, {} saved to the state; {} restarts after SIGKILL; {} connections ({} \
         stalled); {} FIFO sessions ({} malformed); VmRSS warm first {} kB, last {} kB, max {} kB; panics: {}",
        t0.elapsed().as_secs_f64(),
        g(&fig.samples),
        g(&fig.serial_samples),
        g(&fig.flagged),
        g(&fig.bad_samples),
        g(&fig.rewards_sent),
        g(&fig.invalid_sent),
        g(&fig.junk_sent),
        applied,
        restarts,
        g(&fig.connections),
        g(&fig.stalls),
        g(&fig.fifo_sessions),
        g(&fig.malformed_streams),
        rss_first.unwrap_or(0),
        rss_last,
        rss_max,
        usize::from(final_log.contains("panicked"))
            + usize::from(failure.as_deref().is_some_and(|f| f.contains("panic")))
    );
    let _ = writeln!(std::io::stderr(), "{summary}");
    if let Some(p) = std::env::var_os("AVF_BEL_SOAK_REPORT") {
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(p) {
            let _ =
                writeln!(f, "{summary}{}", failure.as_deref().map(|f| format!("\nFAILED: {f}")).unwrap_or_default());
        }
    }
    if let Some(f) = failure {
        panic!("{f}\n{summary}");
    }
    assert!(!final_log.contains("panicked"), "a panic on the daemon's stderr: {final_log}");
    assert_eq!(g(&fig.bad_samples), 0, "a sample neither valid nor flagged: {:?}", fig.first_bad.lock().unwrap());
    assert!(g(&fig.samples) > (secs * 5.0) as u64, "too few samples reached the subscribers: {summary}");
    assert!(g(&fig.serial_samples) > 0, "no sample on the serial port: {summary}");
    assert!(applied > 0 && restarts > 0, "{summary}");
    let _ = std::fs::remove_dir_all(&d);
}
