//! A piano-like tone: a sum of exponentially decaying, slightly inharmonic partials with a short attack and a damper
//! release, at MIDI velocity 110/127.
//!
//! Each partial is a complex phasor multiplied by a constant per sample (only `+` and `×` in the sample loop); the
//! constants come from `libm`, so the output bits are the same on every platform.

use super::melody::NoteEvent;

/// MIDI velocity of every note (`makenote 110`).
pub const VELOCITY: f64 = 110.0;
/// Number of partials.
pub const PARTIALS: usize = 8;
/// Inharmonicity coefficient B: partial n sits at n·f0·√(1 + B·n²).
pub const INHARMONICITY: f64 = 0.0004;
/// Attack (hammer) time in seconds.
pub const ATTACK_S: f64 = 0.003;
/// Damper release time constant in seconds after note-off.
pub const RELEASE_TAU_S: f64 = 0.004;
/// Output gain at full velocity.
pub const GAIN: f64 = 0.5;

/// Frequency in Hz of a MIDI note: 440·2^((n − 69)/12).
pub fn midi_to_hz(midi: i32) -> f64 {
    440.0 * libm::exp2((f64::from(midi) - 69.0) / 12.0)
}

/// The instrument's colour: how another synthesiser's tone differs from this module's piano-like one. The study played
/// its melodies on a MIDI synthesiser whose patch is not known; a robot hears them through whatever plays them. The
/// evaluation's `bright` and `sustain` probes render with other timbres ([`render_audio_with`]).
#[cfg_attr(test, derive(serde::Serialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timbre {
    /// Spectral tilt added to the partials' amplitudes, dB per octave (partial n gains `tilt·log2 n` dB; 0: none,
    /// positive: brighter).
    pub tilt_db_per_octave: f64,
    /// Every partial's decay time constant times this (1: the piano's; larger: more sustained, organ-wards).
    pub decay: f64,
}

impl Timbre {
    /// The tone every render uses: [`render_audio`]'s.
    pub const PIANO: Timbre = Timbre { tilt_db_per_octave: 0.0, decay: 1.0 };
}

/// Renders the notes into `seconds` of mono audio at `sample_rate` Hz (samples in about [−0.5, 0.5]).
pub fn render_audio(notes: &[NoteEvent], seconds: f64, sample_rate: u32) -> Vec<f32> {
    render_audio_with(notes, seconds, sample_rate, &Timbre::PIANO)
}

/// [`render_audio`] with another instrument's colour; [`Timbre::PIANO`] gives the same bits as it.
pub fn render_audio_with(notes: &[NoteEvent], seconds: f64, sample_rate: u32, timbre: &Timbre) -> Vec<f32> {
    let sr = f64::from(sample_rate);
    let len = libm::round(seconds * sr) as usize;
    let mut out = vec![0.0f64; len];
    let mut env = Vec::new();
    for note in notes {
        add_note(&mut out, &mut env, note, sr, timbre);
    }
    out.into_iter().map(|x| x as f32).collect()
}

fn add_note(out: &mut [f64], env: &mut Vec<f64>, note: &NoteEvent, sr: f64, timbre: &Timbre) {
    let start = libm::round(note.onset_s * sr) as usize;
    if start >= out.len() {
        return;
    }
    let on_len = (libm::round(note.duration_s * sr) as usize).max(1);
    let release_len = libm::ceil(7.0 * RELEASE_TAU_S * sr) as usize;
    let len = (on_len + release_len).min(out.len() - start);
    // Shared amplitude envelope: linear attack, hold, exponential damper release after note-off.
    let attack_len = (libm::round(ATTACK_S * sr) as usize).max(1);
    let release_step = libm::exp(-1.0 / (RELEASE_TAU_S * sr));
    env.clear();
    let mut rel = 1.0;
    for i in 0..len {
        let a = if i < attack_len { (i + 1) as f64 / attack_len as f64 } else { 1.0 };
        if i >= on_len {
            rel *= release_step;
        }
        env.push(a * rel);
    }
    let f0 = midi_to_hz(note.midi);
    // Lower notes ring longer, as on a piano.
    let tau1 = (0.9 * libm::sqrt(261.63 / f0)).clamp(0.15, 3.0) * timbre.decay;
    let gain = GAIN * VELOCITY / 127.0;
    // The tilt as a factor per partial: 10^(tilt·log2(n)/20) = n^(tilt/(20·log10 2)); exactly 1 for no tilt.
    let exponent = timbre.tilt_db_per_octave / (20.0 * core::f64::consts::LOG10_2);
    let amp_of = |n: usize| partial_amp(n) * libm::pow(n as f64, exponent);
    let mut norm = 0.0;
    for n in 1..=PARTIALS {
        norm += amp_of(n);
    }
    let seg = &mut out[start..start + len];
    for n in 1..=PARTIALS {
        let nf = n as f64;
        let f = nf * f0 * libm::sqrt(1.0 + INHARMONICITY * nf * nf);
        if f >= 0.45 * sr {
            break;
        }
        let amp = gain * amp_of(n) / norm;
        let tau = tau1 / (1.0 + 0.6 * (nf - 1.0));
        let g = libm::exp(-1.0 / (tau * sr));
        let w = 2.0 * core::f64::consts::PI * f / sr;
        let (c, s) = (g * libm::cos(w), g * libm::sin(w));
        // Phasor (x, y) starts at (1, 0): the partial is y = sine starting at phase 0.
        let (mut x, mut y) = (amp, 0.0f64);
        for (o, e) in seg.iter_mut().zip(env.iter()) {
            *o += e * y;
            let nx = x * c - y * s;
            y = x * s + y * c;
            x = nx;
        }
    }
}

/// Relative amplitude of partial n (1-based): a bright but fundamental-dominated spectrum.
fn partial_amp(n: usize) -> f64 {
    match n {
        1 => 1.0,
        2 => 0.55,
        3 => 0.35,
        4 => 0.22,
        5 => 0.14,
        6 => 0.09,
        7 => 0.06,
        _ => 0.04,
    }
}
