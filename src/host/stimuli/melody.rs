//! Timing (the Max patch's metro, jitter delay and note length) and the melody walk (`noodler.js`), spec §7.2–7.3,
//! plus the per-note animation targets of §7.4 (bounce height, spike amplitude, lean).

use super::params::Params;
use super::rng::Rng;

/// The 38 five-note pitch-class sets, indexed by the consonance slider (0 most dissonant … 37 major pentatonic).
pub const PC_SETS: [[u8; 5]; 38] = [
    [0, 1, 2, 3, 4],
    [0, 1, 2, 3, 5],
    [0, 2, 3, 4, 6],
    [0, 1, 2, 3, 6],
    [0, 1, 2, 4, 6],
    [0, 1, 2, 3, 7],
    [0, 1, 2, 4, 5],
    [0, 2, 4, 6, 8],
    [0, 1, 2, 6, 8],
    [0, 1, 2, 6, 7],
    [0, 1, 2, 4, 8],
    [0, 1, 2, 5, 6],
    [0, 1, 3, 4, 6],
    [0, 1, 2, 4, 7],
    [0, 1, 3, 5, 6],
    [0, 2, 3, 6, 8],
    [0, 1, 3, 6, 7],
    [0, 1, 3, 4, 7],
    [0, 1, 3, 5, 7],
    [0, 1, 2, 5, 7],
    [0, 2, 3, 4, 7],
    [0, 2, 4, 5, 8],
    [0, 1, 4, 5, 7],
    [0, 1, 2, 5, 8],
    [0, 1, 3, 6, 9],
    [0, 1, 4, 6, 8],
    [0, 1, 5, 6, 8],
    [0, 3, 4, 5, 8],
    [0, 1, 3, 4, 8],
    [0, 1, 4, 7, 8],
    [0, 2, 3, 5, 8],
    [0, 2, 3, 5, 7],
    [0, 2, 4, 6, 9],
    [0, 1, 3, 6, 8],
    [0, 1, 4, 5, 8],
    [0, 1, 4, 6, 9],
    [0, 1, 3, 5, 8],
    [0, 2, 4, 7, 9],
];

/// Aggregate Huron consonance score of each set in [`PC_SETS`] (ascending).
pub const SET_HURON: [f64; 38] = [
    -5.884, -3.216, -3.095, -3.087, -2.449, -2.441, -2.248, -1.69, -1.674, -1.666, -1.481, -1.473, -1.065, -0.419,
    -0.419, -0.298, -0.29, -0.097, 0.219, 0.227, 0.42, 0.541, 0.549, 0.549, 1.086, 1.187, 1.195, 1.388, 1.388, 1.517,
    1.603, 2.12, 2.241, 2.249, 2.356, 2.571, 3.088, 4.788,
];

/// Huron's consonance value of each interval class, 0–11 semitones (negative = dissonant).
pub const HURON_INTERVAL: [f64; 12] =
    [1.428, -1.428, -0.582, 0.594, 0.386, 1.240, -0.453, 1.240, 0.386, 0.594, -0.582, -1.428];

/// Minimum sounding length of a note in ms (the rule `(P − d) − 10` goes negative for large delays at high rates).
pub const MIN_NOTE_MS: f64 = 10.0;

/// One note of a rendered stimulus: its timing, pitch and the animation targets it sets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoteEvent {
    /// Onset time in seconds: tick k·P plus the jitter delay d.
    pub onset_s: f64,
    /// Sounding length in seconds: (P − d) − 10 ms, at least [`MIN_NOTE_MS`].
    pub duration_s: f64,
    /// Length of the ball's bounce in seconds: 0.93·(P − d).
    pub bounce_s: f64,
    /// The jitter delay d of this note in ms (an integer).
    pub delay_ms: u32,
    /// MIDI note number.
    pub midi: i32,
    /// The previous MIDI note (the trial's start note for the first one).
    pub prev_midi: i32,
    /// |midi − prev_midi| in semitones.
    pub interval: u32,
    /// Huron value of the interval class (the interval modulo 12).
    pub huron: f64,
    /// Bounce height H in pixels at the original 600-px scene height: |Δ| 1 → 20, 7 → 100 (|Δ| = 0 counts as 1).
    pub height: f64,
    /// Spike amplitude |A| in ball-radius units: Huron −1.428 → 0.2, 0.8 → 0 (linear, unclipped, sign dropped).
    pub spikiness: f64,
    /// Lean in degrees: 60 − midi (note 0 → +60°, 120 → −60°).
    pub lean: f64,
    /// Whether this step went down (the walk's coin said "down").
    pub step_down: bool,
}

/// The notes of a clip and the trial's start note.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    /// Notes with onset inside the clip, in time order.
    pub notes: Vec<NoteEvent>,
    /// The walk's start note `12·5 + set[0] + t` (the "previous note" of the first one).
    pub start_midi: i32,
    /// The trial's transposition t, 0–11.
    pub transposition: i32,
}

/// Interval-size curve of `noodler.js`: maps u ∈ [0, 1) to c with P(c ≥ a) = a.
pub fn interval_curve(u: f64, a: f64) -> f64 {
    if a <= 0.0 {
        0.0
    } else if a >= 1.0 {
        1.0
    } else if u <= a {
        1.0 - u * (1.0 - a) / a
    } else {
        a * (1.0 - u) / (1.0 - a)
    }
}

/// Step size in set positions for a curve value c: 1 if c ≤ 0.25, 2 if ≤ 0.5, 3 if ≤ 0.75, else 4.
pub fn step_size(c: f64) -> i32 {
    if c <= 0.25 {
        1
    } else if c <= 0.5 {
        2
    } else if c <= 0.75 {
        3
    } else {
        4
    }
}

/// Huron value of an interval of `semitones` (interval class = semitones mod 12).
pub fn huron_of(semitones: u32) -> f64 {
    HURON_INTERVAL[(semitones % 12) as usize]
}

/// Bounce height in original pixels for an interval: 1 → 20 px, 7 → 100 px, linear, unclipped; 0 counts as 1.
pub fn bounce_height(semitones: u32) -> f64 {
    let d = f64::from(semitones.max(1));
    20.0 + (d - 1.0) * (80.0 / 6.0)
}

/// Spike amplitude for a Huron value: −1.428 → 0.2, 0.8 → 0, linear, unclipped (returned as a magnitude).
pub fn spike_amplitude(huron: f64) -> f64 {
    let a = 0.2 * (0.8 - huron) / (0.8 + 1.428);
    if a < 0.0 {
        -a
    } else {
        a
    }
}

/// The melody walk's state (position in the set, octave, transposition, previous note).
#[derive(Clone, Debug)]
pub struct Walk {
    set: [u8; 5],
    p: i32,
    o: i32,
    t: i32,
    prev: i32,
}

impl Walk {
    /// Trial reset: p = 0, o = 5, t drawn uniformly from 0–11.
    pub fn new(set: [u8; 5], rng: &mut Rng) -> Walk {
        let t = rng.below(12) as i32;
        Walk { set, p: 0, o: 5, t, prev: 60 + i32::from(set[0]) + t }
    }

    /// The previous note.
    pub fn prev(&self) -> i32 {
        self.prev
    }

    /// The transposition t.
    pub fn transposition(&self) -> i32 {
        self.t
    }

    /// One step: `u` picks the size through the curve with articulation point `a`, `v ≤ down` makes it negative.
    /// Returns the new MIDI note and whether the step went down.
    pub fn step(&mut self, u: f64, v: f64, a: f64, down: f64) -> (i32, bool) {
        let mut s = step_size(interval_curve(u, a));
        let is_down = v <= down;
        if is_down {
            s = -s;
        }
        let q = self.p + s;
        if q > 4 {
            self.o += 1;
        }
        if q < 0 {
            self.o -= 1;
        }
        self.o = self.o.clamp(1, 9);
        self.p = q.rem_euclid(5);
        let note = 12 * self.o + i32::from(self.set[self.p as usize]) + self.t;
        self.prev = note;
        (note, is_down)
    }
}

/// Plans a clip: the metro's ticks, the jitter delays, the notes of the walk and the animation targets.
///
/// Beat period P = 60000/bpm ms; N = ⌈seconds·bpm/60⌉ ticks; tick k triggers its note at k·P + d_k with
/// d_k uniform over the integers in [0, ⌊jitter/100·P⌋). Notes whose onset falls at or after the clip's end are dropped.
/// Draw order per note (one melody stream): d, u (size), v (direction); t is drawn once first.
pub fn plan(params: &Params, seconds: f64, seed: u64) -> Score {
    let mut rng = Rng::stream(seed, 1);
    let set = PC_SETS[params.set_index()];
    let mut walk = Walk::new(set, &mut rng);
    let start_midi = walk.prev();
    let period = 60_000.0 / params.bpm;
    let ticks = libm::ceil(seconds * params.bpm / 60.0) as u64;
    let max_delay = libm::floor(params.jitter / 100.0 * period) as u64;
    let a = params.bigsmall / 100.0;
    let down = params.updown / 100.0;
    let end_ms = seconds * 1000.0;
    let mut notes = Vec::with_capacity(ticks as usize);
    for k in 0..ticks {
        let d = rng.below(max_delay);
        let u = rng.unit();
        let v = rng.unit();
        let prev = walk.prev();
        let (midi, step_down) = walk.step(u, v, a, down);
        let onset_ms = k as f64 * period + d as f64;
        if onset_ms >= end_ms {
            break;
        }
        let interval = (midi - prev).unsigned_abs();
        let huron = huron_of(interval);
        let dur_ms = (period - d as f64 - 10.0).max(MIN_NOTE_MS);
        notes.push(NoteEvent {
            onset_s: onset_ms / 1000.0,
            duration_s: dur_ms / 1000.0,
            bounce_s: 0.93 * (period - d as f64) / 1000.0,
            delay_ms: d as u32,
            midi,
            prev_midi: prev,
            interval,
            huron,
            height: bounce_height(interval),
            spikiness: spike_amplitude(huron),
            lean: 60.0 - f64::from(midi),
            step_down,
        });
    }
    Score { notes, start_midi, transposition: walk.transposition() }
}
