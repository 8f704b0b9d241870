//! The daemon's clock: a fixed-rate tick that never bursts to catch up ([`Pacer`]) and the clip window that is closed
//! and restarted every few seconds ([`Window`]). Waiting is done in short slices so a stop request (SIGTERM,
//! SIGINT) ends the wait within [`SLICE`], whatever the sample rate.

use std::time::{Duration, Instant};

/// Longest single sleep: the daemon notices a stop request at least this often.
pub const SLICE: Duration = Duration::from_millis(50);

/// Ticks at a fixed period from its start.
#[derive(Debug)]
pub(crate) struct Pacer {
    start: Instant,
    period: f64,
    tick: u64,
    late: u64,
}

impl Pacer {
    pub(crate) fn new(rate: f64) -> Pacer {
        Pacer { start: Instant::now(), period: 1.0 / rate, tick: 0, late: 0 }
    }

    /// Seconds since the start.
    pub(crate) fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Ticks that started more than one period late (the loop could not keep up; those ticks were skipped).
    pub(crate) fn late(&self) -> u64 {
        self.late
    }

    /// Sleep to the next tick and return its time (seconds since start); if far behind, skip ticks rather than
    /// burst. `None` as soon as `stop()` says so (checked at least every [`SLICE`]).
    pub(crate) fn next(&mut self, stop: &dyn Fn() -> bool) -> Option<f64> {
        let mut due = self.tick as f64 * self.period;
        let now = self.elapsed();
        if due > now {
            loop {
                if stop() {
                    return None;
                }
                let left = due - self.elapsed();
                if left <= 0.0 {
                    break;
                }
                std::thread::sleep(Duration::from_secs_f64(left).min(SLICE));
            }
        } else if now - due > self.period {
            self.late += 1;
            self.tick = (now / self.period).floor() as u64;
            due = self.tick as f64 * self.period;
        }
        self.tick += 1;
        if stop() {
            return None;
        }
        Some(self.elapsed().max(due))
    }
}

/// The clip window: the model's clip is closed (a full inference) and restarted every `len` seconds.
#[derive(Debug)]
pub(crate) struct Window {
    start: f64,
    len: f64,
}

impl Window {
    pub(crate) fn new(len: f64) -> Window {
        Window { start: 0.0, len }
    }

    /// Whether the window is over at `t`; if so it moves on (by whole windows: a stall does not make a burst).
    pub(crate) fn close_due(&mut self, t: f64) -> bool {
        if t - self.start >= self.len {
            self.start += self.len * ((t - self.start) / self.len).floor();
            true
        } else {
            false
        }
    }

    /// Seconds into the current window.
    pub(crate) fn elapsed(&self, t: f64) -> f64 {
        (t - self.start).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_move_by_whole_lengths() {
        let mut w = Window::new(3.0);
        assert!(!w.close_due(2.9));
        assert!(w.close_due(3.0));
        assert!((w.elapsed(3.5) - 0.5).abs() < 1e-12);
        assert!(w.close_due(10.2)); // a stall over two windows: one close, aligned to 9 s
        assert!((w.elapsed(10.2) - 1.2).abs() < 1e-9);
    }

    #[test]
    fn a_stop_request_ends_a_long_wait() {
        let mut p = Pacer::new(0.1); // a 10 s period
        assert!(p.next(&|| false).is_some()); // tick 0 is due at once
        let t = Instant::now();
        let stop_at = Instant::now() + Duration::from_millis(120);
        assert_eq!(p.next(&|| Instant::now() >= stop_at), None);
        assert!(t.elapsed() < Duration::from_secs(2), "waited {:?}", t.elapsed());
    }
}
