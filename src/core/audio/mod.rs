//! Auditory pathway: a no-allocation front-end on PCM ([`frontend`]) and the PYR/PV/SOM auditory-cortex population
//! model it drives ([`cortex`]).

pub mod cortex;
pub mod fft;
pub mod frontend;

/// Number of tonnetz dimensions (fifths, minor thirds, major thirds; sine and cosine each).
pub const TONNETZ_DIMS: usize = 6;
/// Interval classes (1 to 6 semitones) in [`frontend::FrontEnd::interval_profile`].
pub const N_INTERVALS: usize = 6;
/// Number of clip-level descriptors in [`Descriptors::as_array`].
pub const N_DESCRIPTORS: usize = 5;

/// What the front-end measured on one analysis frame (one hop); handed to the cortex and to any observer.
#[derive(Clone, Copy, Debug)]
pub struct FrameFeatures<'a> {
    /// Index of this frame in the clip (0-based; frame t is centred on sample t·hop, as librosa's `center=True`).
    pub index: u32,
    /// Root-mean-square amplitude of the frame (librosa `feature.rms`).
    pub rms: f32,
    /// Mean over frequency bins of the piptrack pitch matrix column, zeros included (librosa `piptrack`).
    pub pitch_mean: f32,
    /// Tonal centroid of the frame's chroma (librosa `feature.tonnetz` given STFT chroma).
    pub tonnetz: [f32; TONNETZ_DIMS],
    /// Onset strength (librosa `onset.onset_strength`: spectral flux of the dB mel spectrum).
    pub onset: f32,
    /// The frame's mel spectrum in dB (length `AudioConfig::n_mels`, low to high frequency).
    pub mel_db: &'a [f32],
}

/// Clip-level audio descriptors (the study's `pitch_mean, tonnetz_mean, rms_mean, tempo_mean, duration_mean`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Descriptors {
    /// Mean of the piptrack pitch matrix over all bins and frames, zeros included (Hz).
    pub pitch_mean: f32,
    /// Mean of the tonnetz matrix over all dimensions and frames.
    pub tonnetz_mean: f32,
    /// Mean frame RMS.
    pub rms_mean: f32,
    /// Global tempo estimate in beats per minute (librosa `beat.tempo` on the onset envelope).
    pub tempo_bpm: f32,
    /// Clip duration in seconds (samples / sample rate).
    pub duration_s: f32,
}

impl Descriptors {
    /// The descriptors in the study's column order: pitch, tonnetz, rms, tempo, duration.
    pub fn as_array(&self) -> [f32; N_DESCRIPTORS] {
        [self.pitch_mean, self.tonnetz_mean, self.rms_mean, self.tempo_bpm, self.duration_s]
    }
}
