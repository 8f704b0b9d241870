//! `avf-bel read`: the reference consumer of the robot link (serial or Unix socket), optionally sending a reward.

use super::{CliResult, Failure};
use avf_bel::link::daemon::{flag_names, heartbeat_json, sample_json};
use avf_bel::link::serial::Serial;
use avf_bel::link::socket::{Conn, Recv};
use avf_bel::link::sys::monotonic_ns;
use avf_bel::link::{decode_stream, Message, MessageDecoder, Reward, Sample, SceneCut, MAX_FRAME, MAX_PAYLOAD};
use avf_bel::EMOTIONS;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Parse `a,h,p,s,c` (five numbers 0–1).
pub fn parse_reward(text: &str) -> Result<[f32; 5], String> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() != 5 {
        return Err("give five values angry,happy,peaceful,sad,scared".to_string());
    }
    let mut r = [0.0f32; 5];
    for (x, p) in r.iter_mut().zip(&parts) {
        *x = p.parse().map_err(|_| format!("`{p}` is not a number"))?;
        if !(0.0..=1.0).contains(x) {
            return Err(format!("`{p}` is outside 0–1"));
        }
    }
    Ok(r)
}

enum Link {
    Socket(Conn),
    Serial(Serial, MessageDecoder),
}

impl Link {
    /// Wait up to ~100 ms for messages and append them; refused frames are counted.
    fn poll(&mut self, out: &mut Vec<Message>, bad: &mut u64) -> Result<bool, String> {
        match self {
            Link::Socket(c) => {
                let mut buf = [0u8; 256];
                match c.recv(&mut buf, true).map_err(|e| format!("socket: {e}"))? {
                    Recv::Packet(n) => match Message::decode(&buf[..n]) {
                        Ok(m) => out.push(m),
                        Err(_) => *bad += 1,
                    },
                    Recv::Oversize(_) => *bad += 1,
                    Recv::Empty => {}
                    Recv::Closed => return Ok(false),
                }
            }
            Link::Serial(port, dec) => {
                if port.wait_readable(100).map_err(|e| format!("serial: {e}"))? {
                    let mut buf = [0u8; 512];
                    let n = port.read(&mut buf).map_err(|e| format!("serial: {e}"))?;
                    decode_stream(dec, &buf[..n], |r| match r {
                        Ok(m) => out.push(m),
                        Err(_) => *bad += 1,
                    });
                }
            }
        }
        Ok(true)
    }

    fn send(&mut self, m: &Message) -> Result<(), String> {
        match self {
            Link::Socket(c) => {
                let mut p = [0u8; MAX_PAYLOAD];
                let n = m.encode(&mut p).map_err(|e| e.to_string())?;
                match c.send(&p[..n]) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err("socket: the daemon's queue is full; message not sent".into()),
                    Err(e) => Err(format!("socket: {e}")),
                }
            }
            Link::Serial(port, _) => {
                let mut f = [0u8; MAX_FRAME];
                let n = m.encode_frame(&mut f).map_err(|e| e.to_string())?;
                let mut done = 0;
                let deadline = Instant::now() + Duration::from_secs(2);
                while done < n {
                    done += port.write(&f[done..n]).map_err(|e| format!("serial: {e}"))?;
                    if Instant::now() > deadline {
                        return Err("serial: could not write the message within 2 s".into());
                    }
                    if done < n {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                Ok(())
            }
        }
    }
}

fn text_line(s: &Sample) -> String {
    let now = monotonic_ns();
    let values = if s.has_estimate() {
        let em: Vec<String> = EMOTIONS.iter().zip(&s.emotions).map(|(n, x)| format!("{n} {x:.3}")).collect();
        format!("EPP {:.3}  {}", s.epp, em.join("  "))
    } else {
        "EPP   -    no estimate (no usable sense)".to_string()
    };
    format!(
        "seq {:>6}  {values}  conf {:.2}  [{}]  age {:.1} ms",
        s.seq,
        s.confidence,
        flag_names(s.flags).join(" "),
        now.saturating_sub(s.capture_ns) as f64 / 1e6
    )
}

/// Examples for `read --help`.
pub const EXAMPLES: &str = "Examples:
  avf-bel read --socket /tmp/epp.sock --count 30           # 30 samples as text, then exit
  avf-bel read --socket=/tmp/epp.sock --json               # one JSON object per sample until the daemon stops
  avf-bel read --socket /tmp/epp.sock --reward 0,1,0.5,0,0 # send a reward after the first sample
  avf-bel read --socket /tmp/epp.sock --scene-cut --count 1  # tell the model the camera just moved
  avf-bel read --serial /dev/ttyUSB0 --baud 115200 --heartbeats

Exits 1 when the daemon closes the connection or goes silent for --timeout seconds before --count samples
arrived (or at all, without --count): a consumer must notice that its producer is gone.";

/// `avf-bel read` options.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("link").required(true).args(["serial", "socket"])))]
pub struct ReadArgs {
    /// The daemon's Unix socket.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// A serial device (COBS frames).
    #[arg(long, value_name = "DEV")]
    pub serial: Option<PathBuf>,
    /// Serial baud rate.
    #[arg(long, default_value_t = 115_200)]
    pub baud: u32,
    /// Stop after this many samples (0: until the daemon stops, which is then a failure).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub count: u64,
    /// Fail when no message arrives for this many seconds.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Send this reward (angry,happy,peaceful,sad,scared, each 0–1) after the first sample.
    #[arg(long, value_name = "A,H,P,S,C", value_parser = parse_reward)]
    pub reward: Option<[f32; 5]>,
    /// Send a scene cut after the first sample: the camera has just moved (a head turn), so the model's visual
    /// background restarts from the next frame (docs/wire.md, SceneCut).
    #[arg(long)]
    pub scene_cut: bool,
    /// One JSON object per line (see the README, "JSON output").
    #[arg(long)]
    pub json: bool,
    /// Also print the daemon's heartbeats.
    #[arg(long)]
    pub heartbeats: bool,
}

/// Run.
pub fn run(a: ReadArgs) -> CliResult {
    if !(a.timeout.is_finite() && a.timeout > 0.0) {
        return Err(Failure::usage("read", "`--timeout` must be a positive number of seconds"));
    }
    let (json, heartbeats, count, timeout) = (a.json, a.heartbeats, a.count, a.timeout);
    let mut link = match (&a.serial, &a.socket) {
        (Some(dev), None) => Link::Serial(
            Serial::open(dev, a.baud).map_err(|e| format!("serial {}: {e}", dev.display()))?,
            MessageDecoder::new(),
        ),
        (None, Some(p)) => {
            let c =
                Conn::connect(p).map_err(|e| format!("socket {}: {e} (is `avf-bel serve` running?)", p.display()))?;
            c.set_read_timeout(Some(Duration::from_millis(100))).map_err(|e| format!("socket {}: {e}", p.display()))?;
            Link::Socket(c)
        }
        _ => return Err(Failure::conflict("read", "give exactly one of --serial DEV or --socket PATH")),
    };

    let stdout = std::io::stdout();
    let mut msgs = Vec::new();
    let (mut samples, mut hbs, mut bad, mut gaps) = (0u64, 0u64, 0u64, 0u64);
    let mut last_seq: Option<u32> = None;
    let mut reward_pending = a.reward;
    let mut cut_pending = a.scene_cut;
    let mut last_data = Instant::now();
    let mut closed = false;
    'outer: loop {
        msgs.clear();
        let open = link.poll(&mut msgs, &mut bad)?;
        if !msgs.is_empty() {
            last_data = Instant::now();
        }
        for m in &msgs {
            match m {
                Message::Sample(s) => {
                    if let Some(l) = last_seq {
                        if s.seq != l.wrapping_add(1) {
                            gaps += 1;
                        }
                    }
                    last_seq = Some(s.seq);
                    samples += 1;
                    let line = if json { sample_json(s) } else { text_line(s) };
                    let mut out = stdout.lock();
                    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                        break 'outer; // stdout closed (e.g. piped into `head`): the reader is done
                    }
                    drop(out);
                    if let Some(r) = reward_pending.take() {
                        link.send(&Message::Reward(Reward { seq: s.seq, reward: r }))?;
                        log::info!("sent reward {r:?} for sample {}", s.seq);
                    }
                    if std::mem::take(&mut cut_pending) {
                        link.send(&Message::SceneCut(SceneCut { seq: s.seq }))?;
                        log::info!("sent a scene cut after sample {}", s.seq);
                    }
                    if count > 0 && samples >= count {
                        break 'outer;
                    }
                }
                Message::Heartbeat(h) => {
                    hbs += 1;
                    if heartbeats {
                        let line = if json {
                            heartbeat_json(h)
                        } else {
                            format!(
                                "heartbeat {}: {} samples, {} dropped, {} updates, model {:016x}",
                                h.seq, h.samples, h.dropped, h.updates, h.model_hash
                            )
                        };
                        println!("{line}");
                    }
                }
                // Only robots send rewards and cuts; a later protocol's messages are not for this reader either.
                _ => bad += 1,
            }
        }
        if !open {
            closed = true;
            break;
        }
        if last_data.elapsed().as_secs_f64() > timeout {
            return Err(format!("no message from the daemon for {timeout} s ({samples} samples so far)").into());
        }
    }
    log::info!("read {samples} samples, {hbs} heartbeats; {bad} bad frames, {gaps} sequence gaps");
    if closed {
        // Without --count the reader runs until stopped: a daemon that goes away is a failure either way.
        let wanted = if count > 0 { format!(" of {count}") } else { String::new() };
        return Err(format!("the daemon closed the connection after {samples}{wanted} samples").into());
    }
    Ok(())
}
