//! The hand-over between a capture thread and the inference tick: a bounded queue that drops its OLDEST item when
//! full (a late consumer gets recent data, never a backlog), each item stamped with its capture time.

use std::collections::VecDeque;
use std::sync::Mutex;

/// An item and the CLOCK_MONOTONIC time (ns) it was captured.
#[derive(Clone, Debug, PartialEq)]
pub struct Stamped<T> {
    /// Capture time, ns (the clock of [`crate::host::link::sys::monotonic_ns`]).
    pub ts_ns: u64,
    /// The data.
    pub item: T,
}

#[derive(Debug)]
struct Inner<T> {
    queue: VecDeque<Stamped<T>>,
    dropped: u64,
    pushed: u64,
    last_ts: Option<u64>,
}

/// Bounded drop-oldest queue; the lock is held only to move items in or out, never across I/O.
#[derive(Debug)]
pub struct Ring<T> {
    inner: Mutex<Inner<T>>,
    capacity: usize,
}

impl<T> Ring<T> {
    /// A ring holding at most `capacity` items (at least one).
    pub fn new(capacity: usize) -> Ring<T> {
        let capacity = capacity.max(1);
        Ring {
            inner: Mutex::new(Inner { queue: VecDeque::with_capacity(capacity), dropped: 0, pushed: 0, last_ts: None }),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<T>> {
        // A panic while the lock was held cannot leave the queue inconsistent (pushes and pops are atomic here).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Add an item; if the ring is full the oldest item is dropped (and counted).
    pub fn push(&self, item: T, ts_ns: u64) {
        let mut g = self.lock();
        if g.queue.len() >= self.capacity {
            g.queue.pop_front();
            g.dropped += 1;
        }
        g.queue.push_back(Stamped { ts_ns, item });
        g.pushed += 1;
        g.last_ts = Some(g.last_ts.map_or(ts_ns, |t| t.max(ts_ns)));
    }

    /// Move every queued item out, oldest first, into `out` (appended).
    pub fn drain_into(&self, out: &mut Vec<Stamped<T>>) {
        let mut g = self.lock();
        out.extend(g.queue.drain(..));
    }

    /// Capture time of the newest item ever pushed.
    pub fn last_ts(&self) -> Option<u64> {
        self.lock().last_ts
    }

    /// Items pushed and items dropped since the ring was made.
    pub fn counts(&self) -> (u64, u64) {
        let g = self.lock();
        (g.pushed, g.dropped)
    }

    /// Most items held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_the_oldest_when_full() {
        let r = Ring::new(3);
        for i in 0..5u64 {
            r.push(i, 100 + i);
        }
        let mut out = Vec::new();
        r.drain_into(&mut out);
        assert_eq!(out.iter().map(|s| s.item).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(out[0].ts_ns, 102);
        assert_eq!(r.counts(), (5, 2));
        assert_eq!(r.last_ts(), Some(104));
        out.clear();
        r.drain_into(&mut out);
        assert!(out.is_empty());
    }
}
