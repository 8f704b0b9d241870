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
             refused={}",
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
            self.refused
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

/// The running daemon's outputs.
pub(crate) struct Outputs {
    listener: Option<Listener>,
    subs: Vec<Subscriber>,
    serial: Option<Serial>,
    serial_queue: VecDeque<([u8; MAX_FRAME], usize)>,
    serial_offset: usize,
    serial_dropped: u64,
    queue: usize,
    decoder: MessageDecoder,
    json: bool,
    #[cfg(feature = "ros2")]
    pub(crate) ros2: Option<super::ros2::Ros2>,
}

impl Outputs {
    pub(crate) fn new(listener: Option<Listener>, serial: Option<Serial>, queue: usize, json: bool) -> Outputs {
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
            #[cfg(feature = "ros2")]
            ros2: None,
        }
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
        if let Some(port) = &self.serial {
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
                    Err(_) => break,
                }
            }
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
        if let Some(port) = &self.serial {
            for _ in 0..64 {
                match port.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => decode_stream(&mut self.decoder, &buf[..n], |r| match r {
                        Ok(m) => out.push(m),
                        Err(_) => *refused += 1,
                    }),
                }
            }
        }
        #[cfg(feature = "ros2")]
        if let Some(r) = &self.ros2 {
            r.rewards(out);
        }
    }
}
