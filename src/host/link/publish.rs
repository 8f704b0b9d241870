//! The daemon's outputs: every subscriber of the Unix socket, the serial port, JSON lines on stdout and (feature
//! `ros2`) ROS 2 topics; rewards coming back from any of them; and the run's statistics. Every send is non-blocking:
//! a slow or vanished reader costs a dropped message (counted), never a stalled pipeline.

use super::serial::Serial;
use super::socket::{Conn, Listener, Recv};
use crate::core::link::{decode_stream, flags, Heartbeat, Message, MessageDecoder, Sample, MAX_FRAME, MAX_PAYLOAD};
use std::collections::VecDeque;
use std::io::Write;

/// Latency histogram: 10 µs buckets up to 100 ms, plus an overflow bucket (fixed memory for any run length).
pub(crate) struct Histogram {
    buckets: Vec<u32>,
    n: u64,
    max_us: u64,
}

impl Histogram {
    const WIDTH_US: u64 = 10;

    pub(crate) fn new() -> Self {
        Histogram { buckets: vec![0; 10_001], n: 0, max_us: 0 }
    }

    pub(crate) fn add(&mut self, us: u64) {
        let i = ((us / Self::WIDTH_US) as usize).min(self.buckets.len() - 1);
        self.buckets[i] += 1;
        self.n += 1;
        self.max_us = self.max_us.max(us);
    }

    /// Upper edge (µs) of the bucket holding quantile `q`.
    pub(crate) fn quantile(&self, q: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let target = ((q * self.n as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.buckets.iter().enumerate() {
            seen += u64::from(c);
            if seen >= target {
                let edge = ((i as u64 + 1) * Self::WIDTH_US).min(self.max_us);
                return if i + 1 == self.buckets.len() { self.max_us as f64 } else { edge as f64 };
            }
        }
        self.max_us as f64
    }

    pub(crate) fn max_us(&self) -> u64 {
        self.max_us
    }
}

/// What a run did, for `--stats` and tests.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Samples published.
    pub samples: u64,
    /// Of which fresh read-outs (not warm-up, held or no-estimate samples).
    pub fresh: u64,
    /// Of which carried no estimate (no usable sense).
    pub no_estimate: u64,
    /// Seconds run.
    pub seconds: f64,
    /// Latency quantiles (µs) of fresh samples, capture → written to every transport: p50, p99, max.
    pub latency_us: [f64; 3],
    /// Messages dropped for slow readers.
    pub dropped: u64,
    /// Captured items (frames, audio chunks) the capture rings dropped because the inference tick was late.
    pub capture_dropped: u64,
    /// Ticks that started late by more than one period (the loop could not keep up).
    pub late: u64,
    /// Rewards applied.
    pub rewards: u64,
    /// Rewards or frames refused (out of range, bad CRC, bad payload).
    pub refused: u64,
    /// Scene cuts applied (robots' [`crate::core::link::SceneCut`] messages).
    pub scene_cuts: u64,
    /// Panics caught in the transports (a bug: each is reported on stderr, and serving went on).
    pub transport_panics: u64,
}

impl Stats {
    /// Achieved samples per second.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.samples as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// One line for `--stats`.
    pub fn line(&self) -> String {
        format!(
            "stats: samples={} fresh={} no_estimate={} seconds={:.2} rate={:.2}/s latency_p50_ms={:.3} \
             latency_p99_ms={:.3} latency_max_ms={:.3} dropped={} capture_dropped={} late_ticks={} rewards={} \
             refused={} transport_panics={} scene_cuts={}",
            self.samples,
            self.fresh,
            self.no_estimate,
            self.seconds,
            self.rate(),
            self.latency_us[0] / 1000.0,
            self.latency_us[1] / 1000.0,
            self.latency_us[2] / 1000.0,
            self.dropped,
            self.capture_dropped,
            self.late,
            self.rewards,
            self.refused,
            self.transport_panics,
            self.scene_cuts
        )
    }
}

/// Names of the set bits of [`Sample::flags`].
pub fn flag_names(f: u8) -> Vec<&'static str> {
    let names = [
        (flags::AUDIO_OK, "audio_ok"),
        (flags::VIDEO_OK, "video_ok"),
        (flags::WARMING_UP, "warming_up"),
        (flags::DEGRADED, "degraded"),
        (flags::LEARNING, "learning"),
        (flags::NO_ESTIMATE, "no_estimate"),
    ];
    names.iter().filter(|(b, _)| f & b != 0).map(|(_, n)| *n).collect()
}

/// A sample as one JSON object on one line (`{"type":"sample", ...}`, the schema of [`crate::json`]); without an
/// estimate, `epp` and `emotions` are `null`.
pub fn sample_json(s: &Sample) -> String {
    crate::host::json::Record::Sample(s.into()).to_line()
}

/// A heartbeat as one JSON object on one line (`{"type":"heartbeat", ...}`, the schema of [`crate::json`]).
pub fn heartbeat_json(h: &Heartbeat) -> String {
    crate::host::json::Record::Heartbeat(h.into()).to_line()
}

/// A queued socket packet.
#[derive(Clone, Copy)]
struct Packet {
    len: u8,
    bytes: [u8; MAX_PAYLOAD],
}

struct Subscriber {
    conn: Conn,
    queue: VecDeque<Packet>,
    dropped: u64,
}

/// The serial port as the daemon keeps it: a port that disappears (a USB adapter unplugged, the peer hanging up)
/// is closed, said once on stderr, and reopened from the same path once a second until it is back; meanwhile
/// frames queue (the oldest dropped and counted) and the daemon goes on serving its other outputs.
pub(crate) struct SerialLink {
    path: std::path::PathBuf,
    baud: u32,
    port: Option<Serial>,
    /// When to try reopening a lost port next.
    retry_at: std::time::Instant,
}

impl SerialLink {
    /// How often a lost port is reopened.
    const RETRY: std::time::Duration = std::time::Duration::from_secs(1);

    /// The link over an open port (`path` and `baud` are what it was opened with, for reopening).
    pub(crate) fn new(port: Serial, path: &std::path::Path, baud: u32) -> SerialLink {
        SerialLink { path: path.to_path_buf(), baud, port: Some(port), retry_at: std::time::Instant::now() }
    }

    /// Close the port after `why` (an I/O error, a hang-up); it is reopened by [`Self::port`].
    fn lose(&mut self, why: &str) {
        if self.port.take().is_some() {
            eprintln!("warning: serial {}: {why}; reopening it every second", self.path.display());
            self.retry_at = std::time::Instant::now() + Self::RETRY;
        }
    }

    /// The open port, reopening a lost one when its retry is due.
    fn port(&mut self) -> Option<&Serial> {
        if self.port.is_none() && std::time::Instant::now() >= self.retry_at {
            match Serial::open(&self.path, self.baud) {
                Ok(p) => {
                    eprintln!("serial {}: back", self.path.display());
                    self.port = Some(p);
                }
                Err(_) => self.retry_at = std::time::Instant::now() + Self::RETRY,
            }
        }
        self.port.as_ref()
    }
}

/// The running daemon's outputs.
pub(crate) struct Outputs {
    listener: Option<Listener>,
    subs: Vec<Subscriber>,
    serial: Option<SerialLink>,
    serial_queue: VecDeque<([u8; MAX_FRAME], usize)>,
    serial_offset: usize,
    serial_dropped: u64,
    queue: usize,
    decoder: MessageDecoder,
    json: bool,
    panics: u64,
    #[cfg(feature = "ros2")]
    pub(crate) ros2: Option<super::ros2::Ros2>,
}

impl Outputs {
    pub(crate) fn new(listener: Option<Listener>, serial: Option<SerialLink>, queue: usize, json: bool) -> Outputs {
        Outputs {
            listener,
            subs: Vec::new(),
            serial,
            serial_queue: VecDeque::with_capacity(queue),
            serial_offset: 0,
            serial_dropped: 0,
            queue,
            decoder: MessageDecoder::new(),
            json,
            panics: 0,
            #[cfg(feature = "ros2")]
            ros2: None,
        }
    }

    /// Run one step of the transports (`what` names it for the report). A panic inside — a bug in a transport,
    /// never expected — is contained here rather than ending the daemon: it is reported on stderr and counted, the
    /// queued messages are dropped (a half-sent serial frame too: the reader resynchronises on the next) and the
    /// transports go on with the next tick. Subscribers stay connected.
    pub(crate) fn guarded<R>(&mut self, what: &str, step: impl FnOnce(&mut Outputs) -> R) -> Option<R> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(self))) {
            Ok(r) => Some(r),
            Err(p) => {
                self.panics += 1;
                eprintln!(
                    "error: the transports panicked while {what} ({}), a bug to report; their queues are dropped \
                     and serving goes on",
                    crate::host::capture::panic_text(&*p)
                );
                for s in &mut self.subs {
                    s.dropped += s.queue.len() as u64;
                    s.queue.clear();
                }
                self.serial_dropped += self.serial_queue.len() as u64;
                self.serial_queue.clear();
                self.serial_offset = 0;
                self.decoder = MessageDecoder::new();
                None
            }
        }
    }

    /// The serial port is gone (`why`): close it, and forget what belonged to its byte stream — the frame half
    /// written to it (counted as dropped; the reader resynchronises on the next) and the bytes of a frame begun on
    /// it — so that nothing of the old stream prefixes the new one once it is reopened.
    fn lose_serial(&mut self, why: &str) {
        let Some(link) = &mut self.serial else { return };
        link.lose(why);
        if self.serial_offset > 0 {
            self.serial_queue.pop_front();
            self.serial_offset = 0;
            self.serial_dropped += 1;
        }
        self.decoder = MessageDecoder::new();
    }

    /// Panics [`Self::guarded`] caught.
    pub(crate) fn panics(&self) -> u64 {
        self.panics
    }

    pub(crate) fn dropped(&self) -> u64 {
        #[cfg(feature = "ros2")]
        let ros = self.ros2.as_ref().map_or(0, |r| r.dropped());
        #[cfg(not(feature = "ros2"))]
        let ros = 0;
        self.serial_dropped + ros + self.subs.iter().map(|s| s.dropped).sum::<u64>()
    }

    /// Take new socket subscribers.
    pub(crate) fn accept(&mut self) {
        let Some(l) = &self.listener else { return };
        loop {
            match l.accept() {
                Ok(Some(conn)) => {
                    let _ = conn.set_send_buffer(16 * 1024);
                    self.subs.push(Subscriber { conn, queue: VecDeque::with_capacity(self.queue), dropped: 0 });
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("warning: accept on {}: {e}", l.path().display());
                    break;
                }
            }
        }
    }

    /// Send `msg` to every subscriber, the serial port, ROS 2 and (samples) stdout, dropping the oldest queued
    /// message where a queue is full.
    pub(crate) fn publish(&mut self, msg: &Message) {
        let mut p = Packet { len: 0, bytes: [0; MAX_PAYLOAD] };
        let Ok(n) = msg.encode(&mut p.bytes) else { return };
        p.len = n as u8;
        for s in &mut self.subs {
            if s.queue.len() >= self.queue {
                s.queue.pop_front();
                s.dropped += 1;
            }
            s.queue.push_back(p);
        }
        if self.serial.is_some() {
            let mut f = [0u8; MAX_FRAME];
            if let Ok(n) = crate::core::link::frame::encode(&p.bytes[..p.len as usize], &mut f) {
                // Drop the oldest frame not yet started (a started frame must finish, or the stream breaks).
                if self.serial_queue.len() >= self.queue {
                    let i = usize::from(self.serial_offset > 0);
                    if self.serial_queue.remove(i).is_some() {
                        self.serial_dropped += 1;
                    }
                }
                self.serial_queue.push_back((f, n));
            }
        }
        if let Message::Sample(s) = msg {
            #[cfg(feature = "ros2")]
            if let Some(r) = &self.ros2 {
                r.publish(s);
            }
            if self.json {
                let out = std::io::stdout();
                let mut lock = out.lock();
                let _ = writeln!(lock, "{}", sample_json(s));
            }
        }
        self.flush();
    }

    /// Push queued messages into the kernel as far as it takes them.
    pub(crate) fn flush(&mut self) {
        self.subs.retain_mut(|s| {
            while let Some(p) = s.queue.front() {
                match s.conn.send(&p.bytes[..p.len as usize]) {
                    Ok(true) => {
                        s.queue.pop_front();
                    }
                    Ok(false) => break,
                    Err(_) => return false, // gone: forget it
                }
            }
            true
        });
        let Some(port) = self.serial.as_mut().and_then(SerialLink::port) else { return };
        let mut failure = None;
        while let Some((f, n)) = self.serial_queue.front() {
            match port.write(&f[self.serial_offset..*n]) {
                Ok(0) => break,
                Ok(k) => {
                    self.serial_offset += k;
                    if self.serial_offset == *n {
                        self.serial_queue.pop_front();
                        self.serial_offset = 0;
                    }
                }
                Err(e) => {
                    failure = Some(format!("write failed ({e})"));
                    break;
                }
            }
        }
        if failure.is_none() && port.hung_up() {
            failure = Some("the device is gone or hung up".to_string());
        }
        if let Some(why) = failure {
            self.lose_serial(&why);
        }
    }

    /// Collect every message robots sent since the last call; refused payloads are counted.
    pub(crate) fn incoming(&mut self, out: &mut Vec<Message>, refused: &mut u64) {
        let mut buf = [0u8; 256];
        self.subs.retain_mut(|s| {
            for _ in 0..64 {
                match s.conn.recv(&mut buf, false) {
                    Ok(Recv::Packet(n)) => match Message::decode(&buf[..n]) {
                        Ok(m) => out.push(m),
                        Err(_) => *refused += 1,
                    },
                    Ok(Recv::Oversize(_)) => *refused += 1,
                    Ok(Recv::Empty) => return true,
                    Ok(Recv::Closed) | Err(_) => return false,
                }
            }
            true
        });
        let mut failure = None;
        if let Some(port) = self.serial.as_mut().and_then(SerialLink::port) {
            for _ in 0..64 {
                match port.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => decode_stream(&mut self.decoder, &buf[..n], |r| match r {
                        Ok(m) => out.push(m),
                        Err(_) => *refused += 1,
                    }),
                    Err(e) => {
                        failure = Some(format!("read failed ({e})"));
                        break;
                    }
                }
            }
        }
        if let Some(why) = failure {
            self.lose_serial(&why);
        }
        #[cfg(feature = "ros2")]
        if let Some(r) = &self.ros2 {
            r.incoming(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::link::Reward;
    use crate::host::link::socket::Conn;

    fn sample(seq: u32) -> Message {
        Message::Sample(Sample { seq, epp: 0.5, ..Sample::default() })
    }

    /// Samples the subscriber `c` has received so far (their sequence numbers).
    fn received(c: &Conn) -> Vec<u32> {
        let mut buf = [0u8; 256];
        let mut seqs = Vec::new();
        while let Ok(Recv::Packet(n)) = c.recv(&mut buf, false) {
            if let Ok(Message::Sample(s)) = Message::decode(&buf[..n]) {
                seqs.push(s.seq);
            }
        }
        seqs
    }

    #[test]
    fn a_panic_in_a_transport_step_is_contained_and_the_outputs_go_on() {
        let dir = std::env::temp_dir().join(format!("avf-bel-guarded-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.sock");
        let mut outs = Outputs::new(Some(Listener::bind(&path).unwrap()), None, 8, false);
        let robot = Conn::connect(&path).unwrap();
        outs.accept();
        assert_eq!(outs.guarded("publishing", |o| o.publish(&sample(1))), Some(()));
        // A bug inside a step, after it queued a message: caught, counted, the queue dropped.
        let r = outs.guarded("publishing", |o| {
            o.subs[0].queue.push_back(Packet { len: 0, bytes: [0; MAX_PAYLOAD] });
            panic!("a planted bug");
        });
        assert_eq!(r, None);
        assert_eq!(outs.panics(), 1);
        assert!(outs.subs.iter().all(|s| s.queue.is_empty()), "the step's half-done work is dropped");
        // The same subscriber gets what is published after it, and its rewards still come in.
        assert_eq!(outs.guarded("publishing", |o| o.publish(&sample(2))), Some(()));
        assert_eq!(received(&robot), vec![1, 2]);
        let mut b = [0u8; MAX_PAYLOAD];
        let n = Message::Reward(Reward { seq: 7, ..Reward::default() }).encode(&mut b).unwrap();
        robot.send(&b[..n]).unwrap();
        let (mut got, mut refused) = (Vec::new(), 0);
        outs.guarded("reading rewards", |o| o.incoming(&mut got, &mut refused));
        assert!(matches!(got.as_slice(), [Message::Reward(r)] if r.seq == 7), "{got:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
