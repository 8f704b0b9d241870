//! `avf-bel read`: the reference consumer of the robot link (serial or Unix socket), optionally sending a reward.

use super::Opts;
use avf_bel::link::daemon::{flag_names, heartbeat_json, sample_json};
use avf_bel::link::serial::Serial;
use avf_bel::link::socket::{Conn, Recv};
use avf_bel::link::sys::monotonic_ns;
use avf_bel::link::{decode_stream, Message, MessageDecoder, Reward, Sample, MAX_FRAME, MAX_PAYLOAD};
use avf_bel::EMOTIONS;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Parse `a,h,p,s,c` (five numbers 0–1).
pub fn parse_reward(text: &str) -> Result<[f32; 5], String> {
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    if parts.len() != 5 {
        return Err(format!("`--reward {text}`: give five values angry,happy,peaceful,sad,scared"));
    }
    let mut r = [0.0f32; 5];
    for (x, p) in r.iter_mut().zip(&parts) {
        *x = p.parse().map_err(|_| format!("`--reward {text}`: `{p}` is not a number"))?;
        if !(0.0..=1.0).contains(x) {
            return Err(format!("`--reward {text}`: `{p}` is outside 0–1"));
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
                    Ok(false) => Err("socket: the daemon's queue is full; reward not sent".into()),
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
                        return Err("serial: could not write the reward within 2 s".into());
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

/// Run.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut o = Opts::new(args);
    let serial = o.value("--serial")?.map(str::to_string);
    let socket = o.value("--socket")?.map(str::to_string);
    let baud: u32 = o.parse("--baud", 115_200)?;
    let count: u64 = o.parse("--count", 0)?;
    let timeout: f64 = o.parse("--timeout", 5.0)?;
    let reward = match o.value("--reward")? {
        Some(t) => Some(parse_reward(t)?),
        None => None,
    };
    let json = o.flag("--json");
    let heartbeats = o.flag("--heartbeats");
    o.finish()?;
    if !(timeout.is_finite() && timeout > 0.0) {
        return Err("`--timeout` must be a positive number of seconds".into());
    }
    let mut link = match (&serial, &socket) {
        (Some(dev), None) => Link::Serial(
            Serial::open(Path::new(dev), baud).map_err(|e| format!("serial {dev}: {e}"))?,
            MessageDecoder::new(),
        ),
        (None, Some(p)) => {
            let c =
                Conn::connect(Path::new(p)).map_err(|e| format!("socket {p}: {e} (is `avf-bel serve` running?)"))?;
            c.set_read_timeout(Some(Duration::from_millis(100))).map_err(|e| format!("socket {p}: {e}"))?;
            Link::Socket(c)
        }
        _ => return Err("give exactly one of --serial DEV or --socket PATH".into()),
    };

    let stdout = std::io::stdout();
    let mut msgs = Vec::new();
    let (mut samples, mut hbs, mut bad, mut gaps) = (0u64, 0u64, 0u64, 0u64);
    let mut last_seq: Option<u32> = None;
    let mut reward_pending = reward;
    let mut last_data = Instant::now();
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
                        break 'outer; // stdout closed (e.g. piped into `head`)
                    }
                    drop(out);
                    if let Some(r) = reward_pending.take() {
                        link.send(&Message::Reward(Reward { seq: s.seq, reward: r }))?;
                        eprintln!("sent reward {r:?} for sample {}", s.seq);
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
                Message::Reward(_) => bad += 1, // only robots send rewards
            }
        }
        if !open {
            eprintln!("the daemon closed the connection");
            break;
        }
        if last_data.elapsed().as_secs_f64() > timeout {
            return Err(format!("no message for {timeout} s ({samples} samples so far)"));
        }
    }
    eprintln!("read {samples} samples, {hbs} heartbeats; {bad} bad frames, {gaps} sequence gaps");
    if count > 0 && samples < count {
        return Err(format!("stream ended after {samples} of {count} samples"));
    }
    Ok(())
}
