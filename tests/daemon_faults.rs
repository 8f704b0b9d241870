//! Issue 14, points 2 and 5, through the real `avf-bel serve` with real FIFOs, pipes and sockets:
//! - no input kills the daemon: a malformed `file://` FIFO stream or `pipe:` stream, a bad state file, garbage
//!   rewards and a subscriber that sends junk each give a clear message while samples go on (flagged), and a source
//!   that recovers is used again;
//! - least privilege: the socket file's mode and group, the reward rate limit, no network socket.
//!
//! Every daemon here is SIGKILLed and reaped when its handle is dropped, so a failing test leaves no orphan.

mod common;
use avf_bel::link::daemon::MAX_REWARDS_PER_SECOND;
use avf_bel::link::socket::{Conn, Recv, SOCKET_MODE};
use avf_bel::link::{flags, Message, Reward, MAX_PAYLOAD};
use common::{connect, Daemon};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn dir() -> PathBuf {
    common::scratch_dir("faults")
}

fn tiny() -> &'static str {
    common::tiny_weights_file(&dir())
}

/// A daemon with the tests' defaults ([`common::serve_command`]), once it serves.
fn start(args: &[&str]) -> Daemon {
    Daemon::spawn(&mut common::serve_command(tiny(), args), "serving model", 30.0)
}

/// Messages received over `secs` (of native real time: [`common::scaled`]).
fn collect(c: &Conn, secs: f64) -> Vec<Message> {
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    let secs = common::scaled(secs);
    let t = Instant::now();
    while t.elapsed().as_secs_f64() < secs {
        if let Ok(Recv::Packet(n)) = c.recv(&mut buf, true) {
            out.push(Message::decode(&buf[..n]).expect("the daemon sends valid messages"));
        }
    }
    out
}

fn samples(m: &[Message]) -> Vec<avf_bel::link::Sample> {
    m.iter().filter_map(|m| if let Message::Sample(s) = m { Some(*s) } else { None }).collect()
}

fn latest_updates(m: &[Message]) -> Option<u32> {
    m.iter().rev().find_map(|m| if let Message::Heartbeat(h) = m { Some(h.updates) } else { None })
}

fn mkfifo(p: &Path) {
    let _ = std::fs::remove_file(p);
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo(3) only creates a file.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Open `fifo` for writing once the daemon has it open for reading.
fn open_writer(fifo: &Path) -> std::fs::File {
    let t = Instant::now();
    loop {
        match std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(fifo) {
            Ok(f) => return f,
            Err(_) if t.elapsed() < Duration::from_secs(20) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("nobody opened {} for reading: {e}", fifo.display()),
        }
    }
}

fn reward(seq: u32, r: [f32; 5]) -> Vec<u8> {
    let mut p = [0u8; MAX_PAYLOAD];
    let n = Message::Reward(Reward { seq, reward: r }).encode(&mut p).unwrap();
    p[..n].to_vec()
}

#[test]
fn a_malformed_fifo_stream_is_reported_flagged_and_a_good_one_is_used_again() {
    let fifo = dir().join("bad.fifo");
    mkfifo(&fifo);
    let sock = dir().join("fifo.sock");
    let video = format!("file://{}", fifo.display());
    let d = start(&["--video", &video, "--audio", "synth://happy", "--socket", sock.to_str().unwrap()]);
    let c = connect(&sock);
    // A header with a non-ASCII width and garbage after it (the kind of input the fuzzer found).
    let mut w = open_writer(&fifo);
    w.write_all(b"YUV4MPEG2 W\xc3\xa9 H4 C420\nFRAME\n\x01\x02").unwrap();
    drop(w);
    d.wait_for("malformed stream", 10.0);
    assert!(d.log().contains(&video) && d.log().contains("reopening with backoff"), "{}", d.log());
    let bad = samples(&collect(&c, 1.0));
    assert!(bad.len() > 20, "samples stopped: {}", bad.len());
    assert!(bad.iter().all(|s| s.flags & flags::VIDEO_OK == 0 && s.flags & flags::DEGRADED != 0), "{bad:?}");
    // A good stream from the next writer is used again.
    let mut w = open_writer(&fifo);
    let t = Instant::now();
    let mut seen_video = false;
    let mut frame = b"FRAME\n".to_vec();
    frame.extend((0..32 * 32).map(|i| (i % 200) as u8));
    let _ = w.write_all(b"YUV4MPEG2 W32 H32 F30:1 Ip A1:1 Cmono\n");
    c.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
    let mut buf = [0u8; 256];
    while t.elapsed() < Duration::from_secs(15) && !seen_video {
        let _ = w.write_all(&frame);
        if let Ok(Recv::Packet(n)) = c.recv(&mut buf, true) {
            if let Ok(Message::Sample(s)) = Message::decode(&buf[..n]) {
                seen_video |= s.flags & flags::VIDEO_OK != 0;
            }
        }
    }
    assert!(seen_video, "the good stream after the malformed one was never used:\n{}", d.log());
    d.assert_alive();
}

#[test]
fn a_malformed_pipe_stream_as_the_only_input_never_ends_the_daemon() {
    let sock = dir().join("pipe.sock");
    let d = start(&["--video", "pipe:head -c 5000 /dev/urandom", "--socket", sock.to_str().unwrap()]);
    let c = connect(&sock);
    d.wait_for("malformed stream", 10.0);
    // Its only input is broken: every sample says so (no estimate, NaN values), and the daemon keeps serving and
    // retrying (backoff up to 5 s) instead of exiting into a restart loop.
    let got = samples(&collect(&c, 3.0));
    assert!(got.len() > 50, "samples stopped: {}", got.len());
    assert!(got.iter().all(|s| s.flags & flags::NO_ESTIMATE != 0 && s.epp.is_nan()), "{got:?}");
    d.assert_alive();
}

#[test]
fn bad_state_files_are_explained_and_the_daemon_serves_from_the_weights() {
    type Make = dyn Fn(&Path);
    let cases: [(&str, &Make); 4] = [
        ("garbage", &|p| std::fs::write(p, b"\xffnot a state file at all").unwrap()),
        ("empty", &|p| std::fs::write(p, b"").unwrap()),
        ("huge", &|p| std::fs::write(p, vec![0xa5u8; 3 << 20]).unwrap()),
        ("a directory", &|p| std::fs::create_dir_all(p).unwrap()),
    ];
    for (i, (what, make)) in cases.iter().enumerate() {
        let st = dir().join(format!("bad{i}.state"));
        let _ = std::fs::remove_dir_all(&st);
        let _ = std::fs::remove_file(&st);
        make(&st);
        let sock = dir().join(format!("state{i}.sock"));
        let d = start(&[
            "--audio",
            "synth://sad",
            "--socket",
            sock.to_str().unwrap(),
            "--state",
            st.to_str().unwrap(),
            "--save-every",
            "1",
        ]);
        assert!(d.log().contains("warning: ignoring state file"), "{what}: {}", d.log());
        let c = connect(&sock);
        c.send(&reward(1, [0.5; 5])).unwrap();
        let got = collect(&c, 1.5);
        assert!(samples(&got).iter().any(|s| s.has_estimate()), "{what}: no estimate");
        assert_eq!(latest_updates(&got), Some(1), "{what}: the reward was not applied");
        if *what == "a directory" {
            d.wait_for("could not save state", 5.0);
        }
        d.assert_alive();
    }
}

#[test]
fn garbage_rewards_and_junk_from_a_subscriber_are_refused_with_a_message() {
    let sock = dir().join("junk.sock");
    let d = start(&["--audio", "synth://happy", "--video", "synth://happy", "--socket", sock.to_str().unwrap()]);
    let junk = connect(&sock);
    let good = connect(&sock);
    for r in [[f32::NAN, 0.0, 0.0, 0.0, 0.0], [0.0, f32::INFINITY, 0.0, 0.0, 0.0], [2.0; 5], [-0.1, 0.5, 0.5, 0.5, 0.5]]
    {
        junk.send(&reward(7, r)).unwrap();
    }
    let mut rng = 0x1234_5678_9abc_def0u64;
    for i in 0..50usize {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut p = rng.to_le_bytes().repeat(1 + i % 5);
        p[0] = [0, 1, 2, 3, 255][i % 5]; // bad versions and the right one with garbage after it
        let _ = junk.send(&p);
    }
    let _ = junk.send(&[]);
    let _ = junk.send(&vec![2u8; 4000]); // oversized
    d.wait_for("refused from robots", 5.0);
    let log = d.log();
    assert!(log.contains("4 reward(s) with values outside 0–1"), "{log}");
    let got = collect(&good, 1.0);
    assert!(samples(&got).len() > 20, "the other subscriber stopped receiving");
    assert_eq!(latest_updates(&got), Some(0), "a garbage reward was applied");
    drop(junk);
    d.assert_alive();
}

#[test]
fn rewards_are_rate_limited() {
    let sock = dir().join("rate.sock");
    let d = start(&["--audio", "synth://happy", "--socket", sock.to_str().unwrap()]);
    let c = connect(&sock);
    let t = Instant::now();
    let sent = 200u32;
    for i in 0..sent {
        let _ = c.send(&reward(i, [0.3, 0.6, 0.5, 0.1, 0.0]));
    }
    let flood = t.elapsed().as_secs_f64();
    let got = collect(&c, 1.5);
    let applied = latest_updates(&got).unwrap();
    // The bucket starts full (a burst of MAX_REWARDS_PER_SECOND) and refills at that rate while the flood lasts.
    let bound = MAX_REWARDS_PER_SECOND * (1.0 + flood + 0.1);
    assert!(applied >= MAX_REWARDS_PER_SECOND as u32, "{applied} applied: the burst must pass");
    assert!(f64::from(applied) <= bound, "{applied} of {sent} applied in {flood:.3} s, limit {bound:.0}");
    d.wait_for("over the rate limit", 12.0);
    // After a pause, rewards are taken again.
    std::thread::sleep(Duration::from_millis(1100));
    c.send(&reward(999, [0.5; 5])).unwrap();
    let later = latest_updates(&collect(&c, 1.5)).unwrap();
    assert_eq!(later, applied + 1, "a reward after the pause was refused");
}

#[test]
fn the_socket_file_is_owner_and_group_only() {
    let sock = dir().join("mode.sock");
    // A permissive umask must not widen the socket's mode.
    // SAFETY: umask(2) only changes this test process's mask (inherited by the daemon); restored below.
    let old = unsafe { libc::umask(0) };
    let d = start(&["--audio", "synth://happy", "--socket", sock.to_str().unwrap()]);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let m = std::fs::metadata(&sock).unwrap();
    assert_eq!(m.mode() & 0o7777, SOCKET_MODE, "mode {:o}", m.mode() & 0o7777);
    assert_eq!(SOCKET_MODE, 0o660);
    // SAFETY: getegid(2) has no preconditions.
    assert_eq!(m.gid(), unsafe { libc::getegid() }, "the socket's group is the daemon's");
    let _c = connect(&sock);
    d.assert_alive();
}

/// Inodes of the TCP/UDP sockets of this network namespace.
fn network_socket_inodes() -> Vec<String> {
    let mut out = Vec::new();
    for f in ["tcp", "tcp6", "udp", "udp6", "raw", "raw6"] {
        if let Ok(s) = std::fs::read_to_string(format!("/proc/net/{f}")) {
            for l in s.lines().skip(1) {
                if let Some(inode) = l.split_whitespace().nth(9) {
                    out.push(inode.to_string());
                }
            }
        }
    }
    out
}

#[test]
fn the_daemon_opens_no_network_socket_without_ros2() {
    let sock = dir().join("net.sock");
    let d = start(&["--audio", "synth://happy", "--video", "synth://happy", "--socket", sock.to_str().unwrap()]);
    let _c = connect(&sock);
    std::thread::sleep(Duration::from_millis(500));
    let net = network_socket_inodes();
    let mut sockets = 0;
    for e in std::fs::read_dir(format!("/proc/{}/fd", d.child.id())).unwrap().map_while(Result::ok) {
        let target = std::fs::read_link(e.path()).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some(inode) = target.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
            sockets += 1;
            assert!(!net.iter().any(|n| n == inode), "the daemon holds a network socket (inode {inode})");
        }
    }
    assert!(sockets >= 2, "the listener and the connection should be seen ({sockets} sockets)");
}
