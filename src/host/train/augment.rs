//! What a robot's microphone, camera and room do to a stimulus: seeded, reproducible perturbations of rendered clips,
//! used two ways.
//!
//! - **Domain randomisation** ([`Augment`]): `avf-bel train` draws a [`Perturbation`] per clip from documented
//!   distributions (the table in [`Augment::draw`]) and perceives the perturbed clip, so the read-outs (and CORnet-Z
//!   when it is trained) learn what survives a microphone and a camera.
//! - **Named perturbations** ([`Kind`], [`Kind::at`]): `avf-bel eval --robustness` renders the study's stimuli under
//!   one perturbation at a time, at three severities each, and measures the damage.
//!
//! A perturbation is applied to the rendered PCM and frames before feature extraction, in the order the physical
//! chain has them:
//!
//! ```text
//! sound:  (render with the instrument, late by the microphone's lag) → room reverberation → microphone
//!         band-limit → mains hum → intermittent noise (a talker nearby) → additive noise → gain → automatic gain
//!         control → clipping (and the ADC's ±1) → dropouts
//! frames: (render at the camera's rate, the ball at its luma, lit, on another floor, integrated over the open
//!         shutter, late by the camera's lag) → background texture → occluder → a passer-by → translation, scale,
//!         roll, oblique view, per-frame shake, the wide-angle lens → blur → vignetting → exposure (and
//!         auto-exposure, and the lamps' flicker), gamma, contrast, offset → sensor noise → 8-bit → stuck pixels →
//!         dropped frames → (resample to the model's rate)
//! ```
//!
//! Hum, dropouts, roll, stuck pixels, dropped frames, a passer-by, a room (six trained kinds at once, where
//! training stacks at most three), a head turn, another instrument (`bright`, `sustain`), a lit ball (`shade`),
//! another floor (`floor`), a screen watched from the side (`oblique`), a microphone's automatic gain control
//! (`agc`), a camera's auto-exposure (`auto-exposure`), a wide-angle lens (`wide-angle`), motion blur
//! (`motion-blur`), frames that lag the sound (`av-lag`), mains flicker (`flicker`; `flicker-120` on 60 Hz grids) and
//! sound that lags the frames (`sound-lag`) are probes
//! ([`Kind::PROBES`]): the evaluation can apply them, training never draws them.
//!
//! Every random choice (noise samples, texture, occluder, shake) comes from a [`SplitMix64`] seeded by the clip's
//! render seed, so a clip and its perturbation are reproducible bit for bit. Pixel quantities (shifts, shake, blur)
//! are given in pixels of a 64-pixel frame and scale with the frame size.
//!
//! The frame-rate change renders the clip at the camera's rate and resamples it to the model's with a small
//! in-memory sample-and-hold resampler ([`resample_frames`]): output frame `k` shows the newest source frame at time
//! `k / fps_out`, as a camera read out by a model at its own rate would.

use crate::host::model::SplitMix64;
use crate::host::stimuli::tone::Timbre;
use crate::host::stimuli::{ball, render_with, Params, RenderOptions, Stimulus, StimulusError};

/// Frame size the pixel quantities of a [`VideoChain`] refer to.
pub const REFERENCE_SIZE: f64 = 64.0;

/// Spectral colour of additive noise.
#[cfg_attr(test, derive(serde::Serialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    /// Flat spectrum (microphone self-noise, hiss).
    White,
    /// 1/f power (−3 dB per octave): fans, crowds, most room noise.
    Pink,
    /// 1/f² power (−6 dB per octave): rumble, motors, wind.
    Brown,
}

/// Noise that comes and goes: bursts of one colour of noise through a pass band, each burst at its own level
/// (uniform within ±6 dB) with 10 ms ramps, burst lengths and gaps each uniform in their range. A talker nearby,
/// footsteps, a door, a machine switching on and off.
#[cfg_attr(test, derive(serde::Serialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bursts {
    /// The noise's colour before the pass band.
    pub colour: Colour,
    /// Pass band: `(high-pass Hz, low-pass Hz)`, second-order Butterworth each.
    pub band: (f64, f64),
    /// Burst lengths, seconds: `(shortest, longest)`.
    pub burst: (f64, f64),
    /// Gaps between bursts, seconds: `(shortest, longest)`.
    pub gap: (f64, f64),
}

impl Bursts {
    /// A talker: the voice band (200 Hz–4 kHz), syllable-like bursts of 80–300 ms with gaps of 30–250 ms (the
    /// evaluation's `talker`).
    pub const TALKER: Bursts =
        Bursts { colour: Colour::Pink, band: (200.0, 4000.0), burst: (0.08, 0.30), gap: (0.03, 0.25) };
}

/// Room and microphone effects on one clip's sound; a `None` or neutral field does nothing.
#[cfg_attr(test, derive(serde::Serialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AudioChain {
    /// Room reverberation: `(RT60 in seconds, wet share 0–1)`.
    pub reverb: Option<(f64, f64)>,
    /// Microphone pass band: `(high-pass Hz, low-pass Hz)`, second-order Butterworth each.
    pub band: Option<(f64, f64)>,
    /// Additive noise: colour and signal-to-noise ratio in dB (against the clip's RMS).
    pub noise: Option<(Colour, f64)>,
    /// Gain in dB (0: none).
    pub gain_db: f64,
    /// Clipping: the clip level in dB below the clip's peak (after gain).
    pub clip_db: Option<f64>,
    /// Probe, never drawn by training: mains hum (50 Hz and its harmonics 2–8 at amplitude 1/k, random phases) at
    /// this signal-to-hum ratio in dB, added before the noise.
    pub hum: Option<f64>,
    /// Probe, never drawn by training: the share of the clip lost to dropouts (buffer under-runs: gaps of 10–40 ms
    /// set to silence after the ADC; 0: none).
    pub dropouts: f64,
    /// Intermittent noise ([`Bursts`], e.g. [`Bursts::TALKER`]) at a signal-to-interference ratio in dB (against the
    /// clip's RMS), added before the stationary noise. Unlike that noise it comes and goes at about the rate of the
    /// stimuli's notes, so it reaches the onsets and the tempo.
    pub bursts: Option<(Bursts, f64)>,
    /// Probe, never drawn by training: the melody played by another instrument ([`Timbre`]; `None`: the renderer's
    /// piano-like tone). It changes the sound at its source, so it comes before every other part of the chain.
    pub timbre: Option<Timbre>,
    /// Probe, never drawn by training: the microphone's automatic gain control, after the gain and before the
    /// ADC's clipping, releasing with this time constant in seconds (`None`: none). A peak follower (attack 5 ms,
    /// this release) sets the gain that brings the envelope to [`AGC_TARGET`], at most [`AGC_MAX_BOOST_DB`]: each
    /// onset pulls the gain down and it recovers as the note decays, so the quieter parts of every note come up;
    /// the faster the release, the more of each note's decay is flattened, far faster than the core's loudness
    /// normaliser (2 s) acts.
    pub agc: Option<f64>,
    /// Probe, never drawn by training: the sound lags the frames by this many seconds, as a USB or Bluetooth
    /// microphone's buffers make it do: sample `n` carries what was played at `n/rate − lag`, and until the lag has
    /// passed nothing of the scene is heard (0: none). It acts on the sound as played, before the room and the
    /// microphone, whose noise is heard from the first sample. The opposite of [`VideoChain::lag`].
    pub lag: f64,
}

impl AudioChain {
    /// No change.
    pub const NONE: AudioChain = AudioChain {
        reverb: None,
        band: None,
        noise: None,
        gain_db: 0.0,
        clip_db: None,
        hum: None,
        dropouts: 0.0,
        bursts: None,
        timbre: None,
        agc: None,
        lag: 0.0,
    };
}

/// Scene, lens and sensor effects on one clip's frames; neutral values do nothing.
#[cfg_attr(test, derive(serde::Serialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VideoChain {
    /// The camera's frame rate (the clip is rendered at it and resampled to the model's rate); `None`: the model's.
    pub fps: Option<u32>,
    /// Background texture amplitude in luma levels (a static random texture on the backdrop and floor; 0: none).
    pub clutter: f64,
    /// Static occluder covering this fraction of the frame (0: none).
    pub occlusion: f64,
    /// Static translation in reference pixels (x, y).
    pub shift: (f64, f64),
    /// Static scale about the frame centre (1: none; < 1 zooms out).
    pub scale: f64,
    /// Camera shake: each frame is displaced by an independent uniform offset of at most this many reference pixels
    /// per axis (0: none).
    pub shake: f64,
    /// Gaussian blur σ in reference pixels (0: none).
    pub blur: f64,
    /// Exposure: scene luminance multiplied by this (1: none; 0.5 = half brightness).
    pub exposure: f64,
    /// Gamma applied to luminance in 0..1 (1: none).
    pub gamma: f64,
    /// Contrast about mid-grey (1: none).
    pub contrast: f64,
    /// Offset in luma levels (0: none).
    pub offset: f64,
    /// Sensor noise σ in luma levels, independent per pixel and frame (0: none).
    pub noise: f64,
    /// Probe, never drawn by training: camera roll in degrees about the frame centre, with the static geometry (0:
    /// none).
    pub roll: f64,
    /// Lens vignetting (lens shading a camera's ISP did not correct): luminance × (1 − v·r²) with `r` the distance
    /// from the centre relative to a corner's (0: none).
    pub vignette: f64,
    /// Probe, never drawn by training: the share of the sensor's pixels stuck at black or white (0: none).
    pub dead: f64,
    /// Probe, never drawn by training: the probability that the camera drops a frame and the previous one is shown
    /// again (irregular, unlike a lower frame rate; 0: none).
    pub drops: f64,
    /// Probe, never drawn by training: a passer-by, a second object that crosses the view during the clip in front of
    /// the scene (a disc of this share of the frame's area, dark or bright, on a straight line through the middle
    /// half of the frame at a random angle, entering and leaving at the edges; 0: none). Training's occluders stand
    /// still; this one moves, so it reaches the motion the visual read-out measures.
    pub passer_by: f64,
    /// Probe, never drawn by training: the camera turns during the clip, as a robot turning its head does: from the
    /// clip's middle the view moves by this many reference pixels horizontally and half as many vertically, linearly
    /// over 0.2 s, and stays there (the whole scene moves, occluder and texture included; edges clamped as for
    /// [`VideoChain::shift`]; 0: none). Unlike shake it is not undone within a frame or two: a running background
    /// (`visual::Background`) sees a new scene until it has followed the turn.
    pub pan: f64,
    /// With [`VideoChain::pan`]: the robot says when its turn has ended, and the clip's reader marks a scene cut there
    /// (`Pipeline::scene_cut` before the first frame at the turn's end, [`Perturbation::scene_cut_frame`]), so the
    /// background restarts from the new view. The frames are the same as without.
    pub pan_cut: bool,
    /// The ball drawn at this luma instead of the renderer's red ([`ball::BALL`], 76; `None`: that): a differently
    /// coloured ball, or another renderer's. The frames are rendered again with it, before the rest of the chain.
    pub ball_luma: Option<u8>,
    /// Probe, never drawn by training: a light shades the ball as a sphere, with this strength ([`ball::Look::shade`];
    /// 0: flat, as rendered). Rendered with it, before the rest of the chain.
    pub shade: f64,
    /// Probe, never drawn by training: the floor drawn at this luma instead of the renderer's [`ball::FLOOR`] (100;
    /// `None`: that), as another renderer's lighting gives it. Rendered with it, before the rest of the chain.
    pub floor: Option<u8>,
    /// Probe, never drawn by training: the camera sees the scene's plane obliquely, as a robot watching a screen from
    /// the side does: the plane turned by this many degrees about its vertical centre line, seen through a pinhole
    /// whose focal length is the frame's width (so its near side is magnified, its far side shrunk, and verticals
    /// converge toward the far side: keystone). Positive turns the right side away. Applied with the static
    /// geometry, before roll; edges clamped as for [`VideoChain::shift`] (0: none).
    pub oblique: f64,
    /// Probe, never drawn by training: the camera's auto-exposure hunting, the exposure swinging by ± this share
    /// sinusoidally with a period of 1 s, from a random phase (0: none). Unlike [`VideoChain::exposure`] it changes
    /// within the clip, so the scene itself departs from a running background as the light does.
    pub exposure_swing: f64,
    /// Probe, never drawn by training: a wide-angle lens's barrel distortion, uncorrected. The scene at radius `r`
    /// from the optical centre is seen at `r'` with `r = r'·(1 + k·(r'/R)²)`, `R` the half-diagonal, so the centre
    /// keeps its scale and a corner shows what lies `k`·100 % further out (lines off the centre bow outward; edges
    /// clamped as for [`VideoChain::shift`]). Applied with the static geometry, last in the light's path (0: none).
    pub barrel: f64,
    /// Probe, never drawn by training: the shutter stays open for this share of the frame interval (0: an instant,
    /// as rendered), so whatever moves is smeared along its path (motion blur; a camera lengthens its exposure in dim
    /// light). Each frame integrates the scene over the interval ending at its time, rendered at up to 8 sub-frames
    /// per frame (at most 240 per second) and averaged, before the rest of the chain.
    pub shutter: f64,
    /// Probe, never drawn by training: the frames lag the sound by this many seconds (a camera's capture pipeline is
    /// slower than a microphone's): frame `k` shows the scene of `k/fps − lag`, and until the lag has passed the
    /// clip's first frame is held (the scene before it moves). Applied at the source, before the rest of the chain
    /// (0: none).
    pub lag: f64,
    /// Probe, never drawn by training: lamps on the mains flickering at [`VideoChain::flicker_hz`] by ± this share of
    /// their light, seen through a rolling shutter that reads the rows out over one frame interval, so each row is
    /// exposed at its own phase of the flicker: at 100 Hz dark and light bands (about 3.3 per frame at 30 fps) that
    /// roll from frame to frame, from a random phase (0: none).
    pub flicker: f64,
    /// How often the lamps of [`VideoChain::flicker`] flicker: twice the grid's frequency, [`MAINS_FLICKER_HZ`]
    /// (100 Hz) on 50 Hz grids, 120 Hz on 60 Hz ones. At 120 Hz and 30 fps four whole cycles fit a frame: the bands
    /// stand still.
    pub flicker_hz: f64,
}

impl VideoChain {
    /// No change.
    pub const NONE: VideoChain = VideoChain {
        fps: None,
        clutter: 0.0,
        occlusion: 0.0,
        shift: (0.0, 0.0),
        scale: 1.0,
        shake: 0.0,
        blur: 0.0,
        exposure: 1.0,
        gamma: 1.0,
        contrast: 1.0,
        offset: 0.0,
        noise: 0.0,
        roll: 0.0,
        vignette: 0.0,
        dead: 0.0,
        drops: 0.0,
        passer_by: 0.0,
        pan: 0.0,
        pan_cut: false,
        ball_luma: None,
        shade: 0.0,
        floor: None,
        oblique: 0.0,
        exposure_swing: 0.0,
        barrel: 0.0,
        shutter: 0.0,
        lag: 0.0,
        flicker: 0.0,
        flicker_hz: MAINS_FLICKER_HZ,
    };

    fn is_none(&self) -> bool {
        *self == VideoChain::NONE
    }

    /// The scene as the renderer draws it under this chain: the ball's luma and light, the floor's luma.
    fn look(&self) -> ball::Look {
        ball::Look {
            ball: self.ball_luma.unwrap_or(ball::BALL),
            shade: self.shade,
            floor: self.floor.unwrap_or(ball::FLOOR),
            ..ball::Look::RENDERED
        }
    }

    /// Whether anything is left to do to the rendered frames once [`render_perturbed`] has rendered them (with
    /// [`VideoChain::look`], the shutter and the lag).
    fn acts_on_frames(&self) -> bool {
        !(VideoChain { ball_luma: None, shade: 0.0, floor: None, shutter: 0.0, lag: 0.0, ..*self }).is_none()
    }
}

/// A perturbation of both senses of one clip.
#[cfg_attr(test, derive(serde::Serialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Perturbation {
    /// What happens to the sound.
    pub audio: AudioChain,
    /// What happens to the frames.
    pub video: VideoChain,
}

impl Perturbation {
    /// The clean clip.
    pub const NONE: Perturbation = Perturbation { audio: AudioChain::NONE, video: VideoChain::NONE };

    /// The frame (at `fps`, of a clip of `n_frames`) before which the clip's reader marks a scene cut
    /// (`Pipeline::scene_cut`): with [`VideoChain::pan_cut`], the first frame at the turn's end, 0.2 s after the
    /// clip's middle; otherwise none.
    pub fn scene_cut_frame(&self, n_frames: usize, fps: u32) -> Option<usize> {
        let v = &self.video;
        (v.pan != 0.0 && v.pan_cut).then(|| (n_frames / 2 + turn_frames(fps)).min(n_frames))
    }
}

/// Frames a head turn ([`VideoChain::pan`]) takes at `fps`: 0.2 s, at least one.
fn turn_frames(fps: u32) -> usize {
    (0.2 * f64::from(fps.max(1))).round().max(1.0) as usize
}

impl Default for Perturbation {
    fn default() -> Self {
        Perturbation::NONE
    }
}

/// The named perturbation categories of `avf-bel eval --robustness` (and the switches of [`Augment`]).
///
/// [`Kind::ALL`] are the categories training draws from and the evaluation reports by default; [`Kind::PROBES`] are
/// conditions a robot meets that training never draws (camera roll, stuck pixels, dropped frames, a passer-by, mains
/// hum, audio dropouts), for measuring how far the invariance reaches beyond what was trained (`eval --probes`, or by
/// name in `eval --robustness --perturbations roll,…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Microphone gain (dB).
    Gain,
    /// White noise (SNR dB).
    WhiteNoise,
    /// Pink noise (SNR dB).
    PinkNoise,
    /// Room reverberation (RT60 s, wet share 0.5).
    Reverb,
    /// Cheap microphone pass band (high-pass, low-pass).
    BandLimit,
    /// Clipping (dB below the peak).
    Clipping,
    /// Exposure (luminance factor).
    Brightness,
    /// Contrast about mid-grey (factor).
    Contrast,
    /// Gamma.
    Gamma,
    /// Sensor noise (σ, luma levels).
    SensorNoise,
    /// Gaussian blur (σ, reference pixels).
    Blur,
    /// Per-frame camera shake (reference pixels).
    Shake,
    /// Static translation (reference pixels, diagonal).
    Translation,
    /// Static scale (zoom out).
    Scale,
    /// Background texture (amplitude, luma levels).
    Clutter,
    /// Static occluder (area fraction).
    Occlusion,
    /// Camera frame rate (fps), resampled to the model's rate.
    FrameRate,
    /// Probe: camera roll (degrees).
    Roll,
    /// Lens vignetting (corner darkening, 0–1). A probe until the probes showed the shipped model had no defence
    /// against it (E18 in `docs/eval/experiments.md`); drawn by training since.
    Vignetting,
    /// Probe: stuck pixels (share of the sensor).
    DeadPixels,
    /// Probe: irregularly dropped frames (probability per frame).
    FrameDrops,
    /// Probe: mains hum (signal-to-hum ratio, dB).
    Hum,
    /// Probe: audio dropouts (share of the clip).
    Dropouts,
    /// A talker nearby (signal-to-interference ratio, dB): the evaluation's setting of the intermittent noise
    /// training draws. A probe until the probes showed the shipped model had no defence against it (E22 in
    /// `docs/eval/experiments.md`); drawn by training since (E23).
    Talker,
    /// Probe: a passer-by crossing the view (area fraction).
    PasserBy,
    /// Probe: a robot turning its head (reference pixels of the view's move): the camera turns at the clip's middle
    /// by `v` px horizontally and `v/2` vertically over 0.2 s ([`VideoChain::pan`]), over a textured scene (the
    /// clutter's moderate setting, 25 luma levels, so that the turn moves something besides the ball).
    Pan,
    /// Probe: [`Kind::Pan`]'s turn, the same frames, with the robot telling the model when it has ended
    /// ([`VideoChain::pan_cut`]: a scene cut there, `Pipeline::scene_cut`).
    PanCut,
    /// Probe: a robot's room, six trained kinds at once at step `t` (1, 2, 3), each at or below its own moderate
    /// setting: the microphone 6·t dB quieter, pink noise at 40 − 10·t dB SNR, reverberation of 0.3·t s RT60; the
    /// light at 1 − 0.2·t of its level, sensor noise σ 4·t, shake ±t px. Training perturbs a clip with at most three
    /// kinds ([`Augment::max_kinds`]), so this measures whether the invariances add up.
    Room,
    /// Probe: the room's three sound parts alone ([`Kind::Room`] at the same step, the frames clean): which sense's
    /// conditions its cost comes from. The sound is the room's to the sample (the same draws).
    RoomSound,
    /// Probe: the room's three sight parts alone ([`Kind::Room`] at the same step, the sound clean). The same
    /// settings as the room's frames, not the same draws (the room's sound draws first from the clip's generator).
    RoomSight,
    /// Probe: the melody on a brighter instrument (spectral tilt, dB per octave, added to the renderer's piano-like
    /// partials; [`Timbre::tilt_db_per_octave`]).
    Bright,
    /// Probe: the melody on a more sustained instrument (every partial's decay time times this; [`Timbre::decay`]).
    Sustain,
    /// The ball drawn at another luma (the renderer's red ball is 76 on a backdrop of 200; the severe setting, 240,
    /// is brighter than the backdrop: the ball's contrast inverted). A probe until the probes showed it cost the
    /// shipped model +0.0067 at 160 and +0.0094 at 240 (E44 in `docs/eval/experiments.md`); drawn by training since.
    BallLuma,
    /// Probe: the ball lit as a sphere by a light from the upper left ([`VideoChain::shade`]; strength 0–1), as the
    /// study's 3-D sketch with its spotlight draws it and this 2-D renderer does not.
    Shade,
    /// Probe: the floor at another luma ([`VideoChain::floor`]; the renderer's is 100 on a backdrop of 200; the
    /// severe setting, 200, makes it vanish into the backdrop).
    Floor,
    /// Probe: the scene seen obliquely, a screen watched from the side ([`VideoChain::oblique`]; degrees).
    Oblique,
    /// Probe: a microphone's automatic gain control ([`AudioChain::agc`]; its release time in seconds).
    Agc,
    /// Probe: a camera's auto-exposure hunting ([`VideoChain::exposure_swing`]; ± share of the exposure).
    AutoExposure,
    /// Probe: a wide-angle lens's barrel distortion ([`VideoChain::barrel`]; how much further out a corner sees).
    WideAngle,
    /// Probe: motion blur, the shutter open for a share of the frame interval ([`VideoChain::shutter`]).
    MotionBlur,
    /// Probe: the frames lagging the sound ([`VideoChain::lag`]; seconds).
    AvLag,
    /// Probe: mains flicker through a rolling shutter ([`VideoChain::flicker`]; ± share of the light).
    Flicker,
    /// Probe: the sound lagging the frames ([`AudioChain::lag`]; seconds).
    SoundLag,
    /// Probe: mains flicker on a 60 Hz grid, at 120 Hz, through a rolling shutter ([`VideoChain::flicker_hz`]; ± share
    /// of the light). At the model's 30 fps its bands stand still.
    Flicker120,
}

impl Kind {
    /// Every kind, sound first.
    pub const ALL: [Kind; 20] = [
        Kind::Gain,
        Kind::WhiteNoise,
        Kind::PinkNoise,
        Kind::Reverb,
        Kind::BandLimit,
        Kind::Clipping,
        Kind::Talker,
        Kind::Brightness,
        Kind::Contrast,
        Kind::Gamma,
        Kind::SensorNoise,
        Kind::Blur,
        Kind::Shake,
        Kind::Translation,
        Kind::Scale,
        Kind::Clutter,
        Kind::Occlusion,
        Kind::FrameRate,
        Kind::Vignetting,
        Kind::BallLuma,
    ];

    /// The probes: conditions training never draws, sound first, then the room and its two halves (see the type's
    /// docs), then the head turn with a scene cut, the two instruments, the lit ball, the floor, the oblique view,
    /// the two automatic controls, of gain and exposure, the wide-angle lens, motion blur, the frames' lag, mains
    /// flicker, the sound's lag and a 60 Hz grid's flicker (each added last, so that the tables before it kept their
    /// order).
    pub const PROBES: [Kind; 24] = [
        Kind::Hum,
        Kind::Dropouts,
        Kind::Roll,
        Kind::DeadPixels,
        Kind::FrameDrops,
        Kind::PasserBy,
        Kind::Pan,
        Kind::Room,
        Kind::RoomSound,
        Kind::RoomSight,
        Kind::PanCut,
        Kind::Bright,
        Kind::Sustain,
        Kind::Shade,
        Kind::Floor,
        Kind::Oblique,
        Kind::Agc,
        Kind::AutoExposure,
        Kind::WideAngle,
        Kind::MotionBlur,
        Kind::AvLag,
        Kind::Flicker,
        Kind::SoundLag,
        Kind::Flicker120,
    ];

    /// Whether training never draws it (one of [`Kind::PROBES`]).
    pub fn is_probe(self) -> bool {
        Kind::PROBES.contains(&self)
    }

    /// Name used in tables, JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Gain => "gain",
            Kind::WhiteNoise => "white-noise",
            Kind::PinkNoise => "pink-noise",
            Kind::Reverb => "reverb",
            Kind::BandLimit => "band-limit",
            Kind::Clipping => "clipping",
            Kind::Brightness => "brightness",
            Kind::Contrast => "contrast",
            Kind::Gamma => "gamma",
            Kind::SensorNoise => "sensor-noise",
            Kind::Blur => "blur",
            Kind::Shake => "shake",
            Kind::Translation => "translation",
            Kind::Scale => "scale",
            Kind::Clutter => "clutter",
            Kind::Occlusion => "occlusion",
            Kind::FrameRate => "frame-rate",
            Kind::Roll => "roll",
            Kind::Vignetting => "vignetting",
            Kind::DeadPixels => "dead-pixels",
            Kind::FrameDrops => "frame-drops",
            Kind::Hum => "hum",
            Kind::Dropouts => "dropouts",
            Kind::Talker => "talker",
            Kind::PasserBy => "passer-by",
            Kind::Pan => "pan",
            Kind::PanCut => "pan-cut",
            Kind::Room => "room",
            Kind::RoomSound => "room-sound",
            Kind::RoomSight => "room-sight",
            Kind::Bright => "bright",
            Kind::Sustain => "sustain",
            Kind::BallLuma => "ball-luma",
            Kind::Shade => "shade",
            Kind::Floor => "floor",
            Kind::Oblique => "oblique",
            Kind::Agc => "agc",
            Kind::AutoExposure => "auto-exposure",
            Kind::WideAngle => "wide-angle",
            Kind::MotionBlur => "motion-blur",
            Kind::AvLag => "av-lag",
            Kind::Flicker => "flicker",
            Kind::SoundLag => "sound-lag",
            Kind::Flicker120 => "flicker-120",
        }
    }

    /// The kind of a name (see [`Kind::name`]), a probe's too.
    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().chain(Kind::PROBES).find(|k| k.name() == s)
    }

    /// Which senses it perturbs: `(sound, frames)`. Every kind but the room touches exactly one.
    pub fn senses(self) -> (bool, bool) {
        match self {
            Kind::Room => (true, true),
            Kind::Gain
            | Kind::WhiteNoise
            | Kind::PinkNoise
            | Kind::Reverb
            | Kind::BandLimit
            | Kind::Clipping
            | Kind::Hum
            | Kind::Dropouts
            | Kind::Talker
            | Kind::RoomSound
            | Kind::Bright
            | Kind::Sustain
            | Kind::Agc
            | Kind::SoundLag => (true, false),
            _ => (false, true),
        }
    }

    /// Whether it perturbs the sound only ([`Kind::senses`]).
    pub fn is_audio(self) -> bool {
        self.senses() == (true, false)
    }

    /// The unit of [`Kind::severities`], for tables.
    pub fn unit(self) -> &'static str {
        match self {
            Kind::Gain => "dB",
            Kind::WhiteNoise | Kind::PinkNoise | Kind::Hum | Kind::Talker => "dB SNR",
            Kind::Reverb => "s RT60",
            Kind::BandLimit => "Hz high-pass (low-pass 10⁶/it Hz)",
            Kind::Clipping => "dB below peak",
            Kind::Brightness | Kind::Contrast | Kind::Scale => "×",
            Kind::Gamma => "γ",
            Kind::SensorNoise | Kind::Clutter => "luma σ/amplitude",
            Kind::Blur => "px σ",
            Kind::Shake | Kind::Translation | Kind::Pan | Kind::PanCut => "px",
            Kind::Occlusion | Kind::PasserBy => "area",
            Kind::FrameRate => "fps",
            Kind::Roll => "degrees",
            Kind::Vignetting => "corner darkening",
            Kind::DeadPixels => "share of pixels",
            Kind::FrameDrops => "drop probability",
            Kind::Dropouts => "share of the clip",
            Kind::Room | Kind::RoomSound | Kind::RoomSight => "step (the kind's docs)",
            Kind::Bright => "dB per octave",
            Kind::Sustain => "× decay time",
            Kind::BallLuma => "ball luma (76 rendered)",
            Kind::Shade => "light's strength (0 flat)",
            Kind::Floor => "floor luma (100 rendered)",
            Kind::Oblique => "degrees off axis",
            Kind::Agc => "s release",
            Kind::AutoExposure => "± exposure, 1 s period",
            Kind::WideAngle => "corner's reach beyond 1",
            Kind::MotionBlur => "shutter's share of the frame interval",
            Kind::AvLag => "s the frames lag",
            Kind::SoundLag => "s the sound lags",
            Kind::Flicker120 => "± light at 120 Hz, rolling shutter",
            Kind::Flicker => "± light at 100 Hz, rolling shutter",
        }
    }

    /// Three evaluation severities, mild to severe; the middle one is the "moderate" setting the targets refer to
    /// (−18 dB gain, 20 dB SNR, half brightness, ±2 px shake, …).
    pub fn severities(self) -> [f64; 3] {
        match self {
            Kind::Gain => [-6.0, -18.0, -30.0],
            Kind::WhiteNoise | Kind::PinkNoise => [30.0, 20.0, 10.0],
            Kind::Reverb => [0.3, 0.6, 1.2],
            // High-pass cut-off; the low-pass is 1e6 / it (150 → 6.7 kHz, 300 → 3.3 kHz: telephone, 600 → 1.7 kHz).
            Kind::BandLimit => [150.0, 300.0, 600.0],
            Kind::Clipping => [6.0, 12.0, 20.0],
            Kind::Brightness => [0.75, 0.5, 0.25],
            Kind::Contrast => [0.75, 0.5, 0.3],
            Kind::Gamma => [1.4, 2.0, 2.8],
            Kind::SensorNoise => [4.0, 8.0, 16.0],
            Kind::Blur => [0.5, 1.0, 2.0],
            Kind::Shake => [1.0, 2.0, 4.0],
            Kind::Translation => [2.0, 5.0, 10.0],
            Kind::Scale => [0.9, 0.8, 0.7],
            Kind::Clutter => [10.0, 25.0, 50.0],
            Kind::Occlusion => [0.05, 0.15, 0.3],
            Kind::FrameRate => [24.0, 20.0, 15.0],
            Kind::Roll => [5.0, 10.0, 20.0],
            Kind::Vignetting => [0.25, 0.5, 0.75],
            Kind::DeadPixels => [0.002, 0.01, 0.03],
            Kind::FrameDrops => [0.1, 0.25, 0.5],
            Kind::Hum => [30.0, 20.0, 10.0],
            Kind::Dropouts => [0.02, 0.05, 0.1],
            Kind::Talker => [30.0, 20.0, 10.0],
            Kind::PasserBy => [0.02, 0.05, 0.1],
            Kind::Pan | Kind::PanCut => [4.0, 8.0, 16.0],
            Kind::Room | Kind::RoomSound | Kind::RoomSight => [1.0, 2.0, 3.0],
            Kind::Bright => [3.0, 6.0, 12.0],
            Kind::Sustain => [2.0, 4.0, 8.0],
            Kind::BallLuma => [120.0, 160.0, 240.0],
            Kind::Shade => [0.25, 0.5, 1.0],
            Kind::Floor => [130.0, 160.0, 200.0],
            Kind::Oblique => [15.0, 30.0, 45.0],
            Kind::Agc => [1.0, 0.3, 0.1],
            Kind::AutoExposure => [0.1, 0.2, 0.4],
            Kind::WideAngle => [0.1, 0.2, 0.4],
            Kind::MotionBlur => [0.25, 0.5, 1.0],
            Kind::AvLag | Kind::SoundLag => [0.1, 0.25, 0.5],
            Kind::Flicker | Kind::Flicker120 => [0.1, 0.2, 0.4],
        }
    }

    /// This kind alone at severity `v` (in the unit of [`Kind::severities`]).
    pub fn at(self, v: f64) -> Perturbation {
        let mut p = Perturbation::NONE;
        let (a, f) = (&mut p.audio, &mut p.video);
        match self {
            Kind::Gain => a.gain_db = v,
            Kind::WhiteNoise => a.noise = Some((Colour::White, v)),
            Kind::PinkNoise => a.noise = Some((Colour::Pink, v)),
            Kind::Reverb => a.reverb = Some((v, 0.5)),
            Kind::BandLimit => a.band = Some((v, 1e6 / v)),
            Kind::Clipping => a.clip_db = Some(v),
            Kind::Brightness => f.exposure = v,
            Kind::Contrast => f.contrast = v,
            Kind::Gamma => f.gamma = v,
            Kind::SensorNoise => f.noise = v,
            Kind::Blur => f.blur = v,
            Kind::Shake => f.shake = v,
            Kind::Translation => f.shift = (v, v),
            Kind::Scale => f.scale = v,
            Kind::Clutter => f.clutter = v,
            Kind::Occlusion => f.occlusion = v,
            Kind::FrameRate => f.fps = Some(v.round().clamp(1.0, 240.0) as u32),
            Kind::Roll => f.roll = v,
            Kind::Vignetting => f.vignette = v,
            Kind::DeadPixels => f.dead = v,
            Kind::FrameDrops => f.drops = v,
            Kind::Hum => a.hum = Some(v),
            Kind::Dropouts => a.dropouts = v,
            Kind::Talker => a.bursts = Some((Bursts::TALKER, v)),
            Kind::PasserBy => f.passer_by = v,
            Kind::Pan => {
                f.pan = v;
                f.clutter = Kind::Clutter.severities()[1];
            }
            Kind::PanCut => {
                *f = Kind::Pan.at(v).video;
                f.pan_cut = true;
            }
            Kind::Bright => a.timbre = Some(Timbre { tilt_db_per_octave: v, ..Timbre::PIANO }),
            Kind::Sustain => a.timbre = Some(Timbre { decay: v, ..Timbre::PIANO }),
            Kind::BallLuma => f.ball_luma = Some(v.round().clamp(0.0, 255.0) as u8),
            Kind::Shade => f.shade = v.clamp(0.0, 1.0),
            Kind::Floor => f.floor = Some(v.round().clamp(0.0, 255.0) as u8),
            Kind::Oblique => f.oblique = v,
            Kind::Agc => a.agc = Some(v.max(0.005)),
            Kind::AutoExposure => f.exposure_swing = v.clamp(0.0, 0.95),
            Kind::WideAngle => f.barrel = v.clamp(-0.5, 2.0),
            Kind::MotionBlur => f.shutter = v.clamp(0.0, 1.0),
            Kind::AvLag => f.lag = v.max(0.0),
            Kind::SoundLag => a.lag = v.max(0.0),
            Kind::Flicker120 => {
                f.flicker = v.clamp(0.0, 0.95);
                f.flicker_hz = 120.0;
            }
            Kind::Flicker => f.flicker = v.clamp(0.0, 0.95),
            Kind::Room => {
                *a = Kind::RoomSound.at(v).audio;
                *f = Kind::RoomSight.at(v).video;
            }
            Kind::RoomSound => {
                a.gain_db = -6.0 * v;
                a.noise = Some((Colour::Pink, 40.0 - 10.0 * v));
                a.reverb = Some((0.3 * v, 0.5));
            }
            Kind::RoomSight => {
                f.exposure = 1.0 - 0.2 * v;
                f.noise = 4.0 * v;
                f.shake = v;
            }
        }
        p
    }
}

/// Domain randomisation: which perturbation kinds training draws from, how often a clip is perturbed at all, and
/// how many kinds at most act on one clip.
#[derive(Clone, Debug, PartialEq)]
pub struct Augment {
    /// Share of clips that are perturbed (the rest stay clean, so the clean condition keeps its weight).
    pub share: f64,
    /// The kinds that may be drawn (each then with its own probability; see [`Augment::draw`]).
    pub kinds: Vec<Kind>,
    /// At most this many kinds act on one clip (a random subset of those drawn; 0: no limit).
    pub max_kinds: usize,
}

impl Default for Augment {
    /// Every kind, 80 % of clips perturbed, at most three kinds per clip.
    fn default() -> Self {
        Augment { share: 0.8, kinds: Kind::ALL.to_vec(), max_kinds: 3 }
    }
}

impl Augment {
    /// No augmentation.
    pub fn none() -> Self {
        Augment { share: 0.0, kinds: Vec::new(), max_kinds: 0 }
    }

    /// Every kind except `held_out` (the defaults otherwise).
    pub fn without(held_out: &[Kind]) -> Self {
        Augment { kinds: Kind::ALL.into_iter().filter(|k| !held_out.contains(k)).collect(), ..Augment::default() }
    }

    /// Parse `default` (every kind), `none`, or `without:KIND,KIND…` (every kind but those; names of
    /// [`Kind::name`]).
    pub fn from_spec(spec: &str) -> Result<Augment, String> {
        match spec {
            "default" => Ok(Augment::default()),
            "none" => Ok(Augment::none()),
            _ => {
                let list = spec
                    .strip_prefix("without:")
                    .ok_or_else(|| format!("augmentation `{spec}`: expected default, none or without:KIND,KIND…"))?;
                let kinds = list
                    .split(',')
                    .map(|k| {
                        Kind::from_name(k.trim()).filter(|k| !k.is_probe()).ok_or_else(|| {
                            let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                            format!("unknown perturbation `{k}` (training draws: {})", known.join(", "))
                        })
                    })
                    .collect::<Result<Vec<Kind>, String>>()?;
                Ok(Augment::without(&kinds))
            }
        }
    }

    /// Whether it never perturbs.
    pub fn is_none(&self) -> bool {
        self.share <= 0.0 || self.kinds.is_empty()
    }

    /// The perturbation drawn for the clip of render seed `seed`: its own stream per clip, so a clip's draw does not
    /// depend on which other clips are rendered or in which order.
    pub fn draw_for(&self, seed: u64) -> Perturbation {
        self.draw(&mut SplitMix64(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xA06))
    }

    /// Draw one clip's perturbation. With probability `1 − share` the clip is clean; otherwise each enabled kind is
    /// drawn independently with its probability p, and when more than `max_kinds` were drawn a uniformly random
    /// subset of `max_kinds` of them is kept (so a clip is not buried under six perturbations at once: on average
    /// about six would be drawn). Each kept kind's setting is drawn as below (U uniform, logU log-uniform):
    ///
    /// | kind | p | setting |
    /// |---|---|---|
    /// | gain | 0.8 | U(−30, +10) dB |
    /// | noise | 0.5 | white, pink or brown (equally likely), SNR U(0, 40) dB |
    /// | reverb | 0.3 | RT60 U(0.1, 1.2) s, wet share U(0.1, 0.6) |
    /// | band-limit | 0.3 | high-pass logU(50, 600) Hz, low-pass logU(1.5, 8) kHz |
    /// | clipping | 0.2 | U(0, 20) dB below the peak |
    /// | brightness | 0.5 | exposure logU(0.2, 1.6) |
    /// | contrast | 0.4 | logU(0.3, 1.3) |
    /// | gamma | 0.4 | logU(0.4, 3) |
    /// | sensor noise | 0.4 | σ U(0, 20) luma levels |
    /// | blur | 0.3 | σ U(0.3, 2.5) px |
    /// | shake | 0.3 | U(0, 5) px |
    /// | translation | 0.4 | each axis U(−10, 10) px |
    /// | scale | 0.4 | logU(0.65, 1.15) |
    /// | clutter | 0.3 | amplitude U(5, 60) luma levels |
    /// | occlusion | 0.2 | area U(0.03, 0.35) |
    /// | frame rate | 0.4 | U{15, …, 60} fps |
    /// | vignetting | 0.3 | corner darkening U(0.1, 0.85) |
    /// | intermittent noise (`talker`) | 0.3 | [`Bursts`]: below; SNR U(0, 30) dB |
    /// | ball luma | 0.3 | U{0, …, 170, 230, …, 255} (the renderer's ball is 76, the backdrop 200) |
    ///
    /// Intermittent noise is white, pink or brown (equally likely) through a pass band drawn as band-limit's
    /// (high-pass logU(50, 600) Hz, low-pass logU(1.5, 8) kHz), in bursts of U(0.5m, 1.5m) with m logU(0.03, 0.6) s
    /// and gaps of U(0.5g, 1.5g) with g logU(0.02, 0.6) s: a family that holds the evaluation's `talker`
    /// ([`Bursts::TALKER`]) and the footsteps, doors and machines a robot hears besides.
    ///
    /// The ranges reach a little past the evaluation's severe settings where a robot meets them (gain, noise,
    /// exposure), so the severe end is inside the training distribution rather than at its edge.
    pub fn draw(&self, rng: &mut SplitMix64) -> Perturbation {
        let mut p = Perturbation::NONE;
        if self.is_none() || f64::from(rng.next_f32()) >= self.share {
            return p;
        }
        let mut u = || f64::from(rng.next_f32());
        let on = |k: Kind| self.kinds.contains(&k);
        let lin = |x: f64, lo: f64, hi: f64| lo + (hi - lo) * x;
        let log = |x: f64, lo: f64, hi: f64| (lo.ln() + (hi.ln() - lo.ln()) * x).exp();
        // Every draw happens whether or not its kind is enabled, so switching one kind off leaves the others'
        // settings for the same seed unchanged.
        let r: Vec<f64> = (0..16).map(|_| u()).collect();
        let gain = r[0] < 0.8 && on(Kind::Gain);
        let noise = r[1] < 0.5 && (on(Kind::WhiteNoise) || on(Kind::PinkNoise));
        let reverb = r[2] < 0.3 && on(Kind::Reverb);
        let band = r[3] < 0.3 && on(Kind::BandLimit);
        let clip = r[4] < 0.2 && on(Kind::Clipping);
        let bright = r[5] < 0.5 && on(Kind::Brightness);
        let contrast = r[6] < 0.4 && on(Kind::Contrast);
        let gamma = r[7] < 0.4 && on(Kind::Gamma);
        let snoise = r[8] < 0.4 && on(Kind::SensorNoise);
        let blur = r[9] < 0.3 && on(Kind::Blur);
        let shake = r[10] < 0.3 && on(Kind::Shake);
        let shift = r[11] < 0.4 && on(Kind::Translation);
        let scale = r[12] < 0.4 && on(Kind::Scale);
        let clutter = r[13] < 0.3 && on(Kind::Clutter);
        let occl = r[14] < 0.2 && on(Kind::Occlusion);
        let fps = r[15] < 0.4 && on(Kind::FrameRate);
        let x: Vec<f64> = (0..20).map(|_| u()).collect();
        // Keep at most `max_kinds` of the drawn kinds: those with the smallest of one random key each.
        let mut keys: Vec<f64> = (0..16).map(|_| u()).collect();
        // Kinds added later draw after all of the above, so the earlier kinds' settings for a seed stay as they were.
        let vignette = u() < 0.3 && on(Kind::Vignetting);
        let x_vignette = u();
        keys.push(u());
        let bursts = u() < 0.3 && on(Kind::Talker);
        let x_bursts: Vec<f64> = (0..6).map(|_| u()).collect();
        keys.push(u());
        let ball = u() < 0.3 && on(Kind::BallLuma);
        let x_ball = u();
        keys.push(u());
        let mut fired = [
            gain, noise, reverb, band, clip, bright, contrast, gamma, snoise, blur, shake, shift, scale, clutter, occl,
            fps, vignette, bursts, ball,
        ];
        let count = fired.iter().filter(|f| **f).count();
        if self.max_kinds > 0 && count > self.max_kinds {
            let mut order: Vec<usize> = (0..fired.len()).filter(|&i| fired[i]).collect();
            order.sort_by(|&a, &b| keys[a].total_cmp(&keys[b]));
            for &i in &order[self.max_kinds..] {
                fired[i] = false;
            }
        }
        let [gain, noise, reverb, band, clip, bright, contrast, gamma, snoise, blur, shake, shift, scale, clutter, occl, fps, vignette, bursts, ball] =
            fired;
        let (a, f) = (&mut p.audio, &mut p.video);
        if gain {
            a.gain_db = lin(x[0], -30.0, 10.0);
        }
        if noise {
            // White, pink (as the evaluation names them) or brown (rumble); a colour whose kind is switched off
            // becomes brown.
            let c = match (x[1] * 3.0) as usize {
                0 if on(Kind::WhiteNoise) => Colour::White,
                1 if on(Kind::PinkNoise) => Colour::Pink,
                _ => Colour::Brown,
            };
            a.noise = Some((c, lin(x[2], 0.0, 40.0)));
        }
        if reverb {
            a.reverb = Some((lin(x[3], 0.1, 1.2), lin(x[4], 0.1, 0.6)));
        }
        if band {
            a.band = Some((log(x[5], 50.0, 600.0), log(x[6], 1500.0, 8000.0)));
        }
        if clip {
            a.clip_db = Some(lin(x[7], 0.0, 20.0));
        }
        if bright {
            f.exposure = log(x[8], 0.2, 1.6);
        }
        if contrast {
            f.contrast = log(x[9], 0.3, 1.3);
        }
        if gamma {
            f.gamma = log(x[10], 0.4, 3.0);
        }
        if snoise {
            f.noise = lin(x[11], 0.0, 20.0);
        }
        if blur {
            f.blur = lin(x[12], 0.3, 2.5);
        }
        if shake {
            f.shake = lin(x[13], 0.0, 5.0);
        }
        if shift {
            f.shift = (lin(x[14], -10.0, 10.0), lin(x[15], -10.0, 10.0));
        }
        if scale {
            f.scale = log(x[16], 0.65, 1.15);
        }
        if clutter {
            f.clutter = lin(x[17], 5.0, 60.0);
        }
        if occl {
            f.occlusion = lin(x[18], 0.03, 0.35);
        }
        if fps {
            f.fps = Some(15 + (x[19] * 46.0).min(45.0) as u32);
        }
        if vignette {
            f.vignette = lin(x_vignette, 0.1, 0.85);
        }
        if bursts {
            let x = &x_bursts;
            let colour = [Colour::White, Colour::Pink, Colour::Brown][((x[0] * 3.0) as usize).min(2)];
            let (m, g) = (log(x[3], 0.03, 0.6), log(x[4], 0.02, 0.6));
            let b = Bursts {
                colour,
                band: (log(x[1], 50.0, 600.0), log(x[2], 1500.0, 8000.0)),
                burst: (0.5 * m, 1.5 * m),
                gap: (0.5 * g, 1.5 * g),
            };
            a.bursts = Some((b, lin(x[5], 0.0, 30.0)));
        }
        if ball {
            // Any luma at least 30 levels from the backdrop's 200 (nearer, the ball all but vanishes), darker or
            // brighter than it: 0–170 or 230–255, uniformly over those 197 levels.
            let v = (x_ball * 197.0).min(196.0).floor();
            f.ball_luma = Some(if v <= 170.0 { v as u8 } else { (230.0 + v - 171.0) as u8 });
        }
        p
    }
}

/// Render a stimulus as the model would receive it through `p`: frames at `opts.fps` (rendered at the camera's rate
/// and resampled when `p` sets one), PCM at `opts.sample_rate`. The perturbation's random choices are seeded by
/// `opts.seed`.
pub fn render_perturbed(params: &Params, opts: &RenderOptions, p: &Perturbation) -> Result<Stimulus, StimulusError> {
    let camera = RenderOptions { fps: p.video.fps.unwrap_or(opts.fps), ..*opts };
    camera.validate()?;
    // The instrument and the scene's look act at the source: the clip is rendered with them.
    let timbre = p.audio.timbre.unwrap_or(Timbre::PIANO);
    let mut s = if p.video.shutter > 0.0 {
        // An open shutter: the scene rendered at `per` sub-frames per frame, and frame k the mean of the sub-frames
        // of the interval that ends at its time (the last of them is the instant frame k shows without it).
        let per = (240 / camera.fps.max(1)).clamp(1, 8);
        let fine = RenderOptions { fps: camera.fps * per, ..camera };
        let mut s = render_with(params, &fine, &timbre, &p.video.look())?;
        let (frame, n) = (s.size * s.size, camera.n_frames());
        let open = ((p.video.shutter.min(1.0) * f64::from(per)).round() as usize).max(1);
        let mut frames = vec![0u8; n * frame];
        let mut sum = vec![0u32; frame];
        for (k, out) in frames.chunks_exact_mut(frame).enumerate() {
            let last = (k * per as usize).min(s.n_frames().saturating_sub(1));
            let first = last.saturating_sub(open - 1);
            sum.fill(0);
            for j in first..=last {
                for (a, &v) in sum.iter_mut().zip(s.frame(j)) {
                    *a += u32::from(v);
                }
            }
            let count = (last - first + 1) as u32;
            for (o, &a) in out.iter_mut().zip(&sum) {
                *o = ((a + count / 2) / count) as u8;
            }
        }
        s.frames = frames;
        s.fps = camera.fps;
        s
    } else {
        render_with(params, &camera, &timbre, &p.video.look())?
    };
    if p.video.lag > 0.0 {
        // The frames lag the sound: frame k shows what frame k − late showed, the first held until then.
        let (frame, late) = (s.size * s.size, (p.video.lag * f64::from(camera.fps)).round() as usize);
        let n = s.n_frames();
        for k in (0..n).rev() {
            let from = k.saturating_sub(late);
            if from != k {
                s.frames.copy_within(from * frame..(from + 1) * frame, k * frame);
            }
        }
    }
    if p.audio.lag > 0.0 {
        // The sound lags the frames: sample n carries what sample n − late did, silence until then.
        let late = ((p.audio.lag * f64::from(opts.sample_rate)).round() as usize).min(s.audio.len());
        let n = s.audio.len();
        s.audio.copy_within(..n - late, late);
        s.audio[..late].fill(0.0);
    }
    let mut rng = SplitMix64(opts.seed ^ 0xA06_3E27);
    apply_audio(&mut s.audio, &p.audio, f64::from(opts.sample_rate), &mut rng);
    if p.video.acts_on_frames() {
        apply_video(&mut s.frames, s.size, camera.fps, &p.video, &mut rng);
    }
    if camera.fps != opts.fps {
        s.frames = resample_frames(&s.frames, s.size * s.size, camera.fps, opts.fps, opts.n_frames());
        s.fps = opts.fps;
    }
    Ok(s)
}

/// Sample-and-hold frame-rate conversion: output frame `k` (time `k/to`) is the newest source frame at that time,
/// `floor(k·from/to)` (clamped to the last); `n_out` frames of `frame` bytes.
pub fn resample_frames(frames: &[u8], frame: usize, from: u32, to: u32, n_out: usize) -> Vec<u8> {
    let n_src = frames.len() / frame.max(1);
    let mut out = Vec::with_capacity(n_out * frame);
    for k in 0..n_out {
        // Exact integer arithmetic: no rounding drift over long clips.
        let i = ((k as u64 * u64::from(from)) / u64::from(to.max(1))) as usize;
        let i = i.min(n_src.saturating_sub(1));
        out.extend_from_slice(&frames[i * frame..(i + 1) * frame]);
    }
    out
}

/// A standard normal deviate (Box–Muller).
fn gauss(rng: &mut SplitMix64) -> f64 {
    let u1 = ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// A second-order section (direct form I), coefficients normalised by a0.
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
}

impl Biquad {
    /// Butterworth (Q = 1/√2) low- or high-pass at `fc` Hz for sample rate `sr` (bilinear transform with
    /// pre-warping).
    fn butterworth(fc: f64, sr: f64, high: bool) -> Biquad {
        let fc = fc.clamp(1.0, 0.49 * sr);
        let w0 = 2.0 * std::f64::consts::PI * fc / sr;
        let (s, c) = w0.sin_cos();
        let alpha = s / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        let a0 = 1.0 + alpha;
        let b = if high {
            [(1.0 + c) / 2.0, -(1.0 + c), (1.0 + c) / 2.0]
        } else {
            [(1.0 - c) / 2.0, 1.0 - c, (1.0 - c) / 2.0]
        };
        Biquad { b: b.map(|v| v / a0), a: [-2.0 * c / a0, (1.0 - alpha) / a0] }
    }

    fn run(&self, x: &mut [f32]) {
        let (mut x1, mut x2, mut y1, mut y2) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for v in x.iter_mut() {
            let x0 = f64::from(*v);
            let y0 = self.b[0] * x0 + self.b[1] * x1 + self.b[2] * x2 - self.a[0] * y1 - self.a[1] * y2;
            (x2, x1, y2, y1) = (x1, x0, y1, y0);
            *v = y0 as f32;
        }
    }
}

/// Noise of a colour, unit RMS over the clip. Pink: white noise through five one-pole low-passes an octave-and-a-half
/// apart with gains falling 1/√f (within ±1 dB of 1/f from 20 Hz to 8 kHz); brown: leaky-integrated white noise.
fn coloured_noise(n: usize, colour: Colour, sr: f64, rng: &mut SplitMix64) -> Vec<f32> {
    let mut out: Vec<f32> = match colour {
        Colour::White => (0..n).map(|_| gauss(rng) as f32).collect(),
        Colour::Pink => {
            let poles: Vec<(f64, f64)> = (0..5)
                .map(|i| {
                    let fc = 20.0 * 2.8f64.powi(i);
                    let p = (-2.0 * std::f64::consts::PI * fc / sr).exp();
                    (p, (fc / 20.0).sqrt())
                })
                .collect();
            let mut state = [0.0f64; 5];
            (0..n)
                .map(|_| {
                    let w = gauss(rng);
                    let mut y = 0.0;
                    for (s, &(p, g)) in state.iter_mut().zip(&poles) {
                        *s = p * *s + (1.0 - p) * w;
                        y += g * *s;
                    }
                    // A little white on top for the octaves above the last pole.
                    (y + 0.15 * w) as f32
                })
                .collect()
        }
        Colour::Brown => {
            let mut s = 0.0f64;
            let leak = (-2.0 * std::f64::consts::PI * 10.0 / sr).exp();
            (0..n)
                .map(|_| {
                    s = leak * s + gauss(rng);
                    s as f32
                })
                .collect()
        }
    };
    let r = rms(&out);
    if r > 0.0 {
        out.iter_mut().for_each(|v| *v = (f64::from(*v) / r) as f32);
    }
    out
}

/// A simple room: Schroeder's reverberator (four parallel feedback combs of 29.7–43.7 ms, whose feedback gains give
/// the RT60, into two all-passes of 5 and 1.7 ms), mixed with the dry sound at `wet` and scaled to keep the RMS.
fn reverberate(x: &mut [f32], rt60: f64, wet: f64, sr: f64) {
    let dry_rms = rms(x);
    let combs = [0.0297, 0.0371, 0.0411, 0.0437];
    let mut acc = vec![0.0f64; x.len()];
    for d in combs {
        let len = ((d * sr) as usize).max(1);
        let g = 10f64.powf(-3.0 * d / rt60.max(0.05));
        let mut buf = vec![0.0f64; len];
        for (i, a) in acc.iter_mut().enumerate() {
            let y = buf[i % len];
            buf[i % len] = f64::from(x[i]) + g * y;
            *a += 0.25 * y;
        }
    }
    for d in [0.005, 0.0017] {
        // All-pass: v[n] = x[n] + g·v[n−D], y[n] = v[n−D] − g·v[n].
        let len = ((d * sr) as usize).max(1);
        let g = 0.7;
        let mut buf = vec![0.0f64; len];
        for (i, a) in acc.iter_mut().enumerate() {
            let delayed = buf[i % len];
            let v = *a + g * delayed;
            buf[i % len] = v;
            *a = delayed - g * v;
        }
    }
    let wet_rms = (acc.iter().map(|v| v * v).sum::<f64>() / acc.len().max(1) as f64).sqrt();
    let k = if wet_rms > 0.0 { dry_rms / wet_rms } else { 0.0 };
    let mut mixed: Vec<f64> = x.iter().zip(&acc).map(|(&d, &w)| (1.0 - wet) * f64::from(d) + wet * k * w).collect();
    let m_rms = (mixed.iter().map(|v| v * v).sum::<f64>() / mixed.len().max(1) as f64).sqrt();
    if m_rms > 0.0 {
        mixed.iter_mut().for_each(|v| *v *= dry_rms / m_rms);
    }
    for (o, v) in x.iter_mut().zip(mixed) {
        *o = v as f32;
    }
}

/// Apply a sound chain in place (see the module docs for the order). The result stays within the ADC's ±1.
pub fn apply_audio(x: &mut [f32], c: &AudioChain, sr: f64, rng: &mut SplitMix64) {
    if *c == AudioChain::NONE || x.is_empty() {
        return;
    }
    if let Some((rt60, wet)) = c.reverb {
        reverberate(x, rt60, wet.clamp(0.0, 1.0), sr);
    }
    if let Some((hp, lp)) = c.band {
        Biquad::butterworth(hp, sr, true).run(x);
        Biquad::butterworth(lp, sr, false).run(x);
    }
    if let Some(snr) = c.hum {
        // 50 Hz and harmonics 2–8 at amplitude 1/k: the sum's RMS is √(Σ 1/(2k²)).
        let phase: Vec<f64> = (0..8).map(|_| 2.0 * std::f64::consts::PI * f64::from(rng.next_f32())).collect();
        let unit = (1..=8).map(|k| 0.5 / f64::from(k * k)).sum::<f64>().sqrt();
        let level = rms(x) * 10f64.powf(-snr / 20.0) / unit;
        for (i, v) in x.iter_mut().enumerate() {
            let t = 2.0 * std::f64::consts::PI * 50.0 * i as f64 / sr;
            let h: f64 = (1..=8).map(|k| (f64::from(k) * t + phase[k as usize - 1]).sin() / f64::from(k)).sum();
            *v = (f64::from(*v) + level * h) as f32;
        }
    }
    if let Some((b, snr)) = c.bursts {
        add_bursts(x, &b, snr, sr, rng);
    }
    if let Some((colour, snr)) = c.noise {
        let level = rms(x) * 10f64.powf(-snr / 20.0);
        let n = coloured_noise(x.len(), colour, sr, rng);
        for (v, e) in x.iter_mut().zip(n) {
            *v = (f64::from(*v) + level * f64::from(e)) as f32;
        }
    }
    let mut g = 10f64.powf(c.gain_db / 20.0);
    if let Some(release_s) = c.agc {
        automatic_gain(x, g, release_s, sr);
        g = 1.0;
    }
    let peak = x.iter().fold(0.0f64, |m, &v| m.max(f64::from(v).abs())) * g;
    let limit = match c.clip_db {
        Some(db) => (peak * 10f64.powf(-db / 20.0)).min(1.0),
        None => 1.0,
    };
    for v in x.iter_mut() {
        *v = (f64::from(*v) * g).clamp(-limit, limit) as f32;
    }
    if c.dropouts > 0.0 {
        // Gaps of 10–40 ms at random places (they may overlap) until the share is lost.
        let target = (c.dropouts.min(0.9) * x.len() as f64) as usize;
        let mut lost = vec![false; x.len()];
        let mut count = 0;
        for _ in 0..100_000 {
            if count >= target {
                break;
            }
            let start = (rng.next_u64() % x.len() as u64) as usize;
            let gap = (sr * (0.010 + 0.030 * f64::from(rng.next_f32()))) as usize;
            for l in &mut lost[start..(start + gap).min(x.len())] {
                count += usize::from(!*l);
                *l = true;
            }
        }
        for (v, l) in x.iter_mut().zip(lost) {
            if l {
                *v = 0.0;
            }
        }
    }
}

/// How often lamps on the mains flicker ([`VideoChain::flicker`]): twice the 50 Hz of the grid.
pub const MAINS_FLICKER_HZ: f64 = 100.0;

/// The envelope level an automatic gain control ([`AudioChain::agc`]) steers the sound to: −12 dBFS (peak).
pub const AGC_TARGET: f64 = 0.25;
/// The most an automatic gain control ([`AudioChain::agc`]) amplifies, in dB.
pub const AGC_MAX_BOOST_DB: f64 = 30.0;

/// Scale `x` by `gain`, then run it through an automatic gain control releasing with time constant `release_s` (see
/// [`AudioChain::agc`]): the envelope `e` follows |x| with a 5 ms attack and that release, and each sample is
/// multiplied by `min(AGC_TARGET / e, 10^(AGC_MAX_BOOST_DB/20))`.
fn automatic_gain(x: &mut [f32], gain: f64, release_s: f64, sr: f64) {
    let attack = 1.0 - (-1.0 / (0.005 * sr)).exp();
    let release = 1.0 - (-1.0 / (release_s.max(0.005) * sr)).exp();
    let most = 10f64.powf(AGC_MAX_BOOST_DB / 20.0);
    let mut e = 0.0f64;
    for v in x.iter_mut() {
        let y = f64::from(*v) * gain;
        let k = if y.abs() > e { attack } else { release };
        e += k * (y.abs() - e);
        let g = if e * most > AGC_TARGET { AGC_TARGET / e } else { most };
        *v = (y * g) as f32;
    }
}

/// Add intermittent noise `b` at `snr` dB below the clip's RMS (see [`AudioChain::bursts`]).
fn add_bursts(x: &mut [f32], b: &Bursts, snr: f64, sr: f64, rng: &mut SplitMix64) {
    let mut noise = coloured_noise(x.len(), b.colour, sr, rng);
    Biquad::butterworth(b.band.0, sr, true).run(&mut noise);
    Biquad::butterworth(b.band.1, sr, false).run(&mut noise);
    // Bursts and gaps of random length, each burst at its own level with 10 ms ramps at both ends.
    let ramp = (0.010 * sr).max(1.0);
    let mut i = (sr * 0.25 * f64::from(rng.next_f32())) as usize; // the clip may start inside a gap
    let mut envelope = vec![0.0f64; x.len()];
    while i < x.len() {
        let burst = ((sr * (b.burst.0 + (b.burst.1 - b.burst.0) * f64::from(rng.next_f32()))) as usize).max(1);
        let level = 10f64.powf((12.0 * f64::from(rng.next_f32()) - 6.0) / 20.0);
        for (k, e) in envelope[i..(i + burst).min(x.len())].iter_mut().enumerate() {
            *e = level * (k as f64 / ramp).min((burst - k) as f64 / ramp).min(1.0);
        }
        i += burst + (sr * (b.gap.0 + (b.gap.1 - b.gap.0) * f64::from(rng.next_f32()))) as usize;
    }
    for (v, e) in noise.iter_mut().zip(&envelope) {
        *v = (f64::from(*v) * e) as f32;
    }
    let (signal, mixed) = (rms(x), rms(&noise));
    if mixed > 0.0 {
        let k = signal * 10f64.powf(-snr / 20.0) / mixed;
        for (v, t) in x.iter_mut().zip(&noise) {
            *v = (f64::from(*v) + k * f64::from(*t)) as f32;
        }
    }
}

/// A static random texture in −1..1: four random gratings (2–10 cycles per frame, random orientation and phase) plus
/// smoothed noise, the kind of clutter a wall or a room behind a robot's subject shows.
fn texture(size: usize, rng: &mut SplitMix64) -> Vec<f64> {
    let mut t = vec![0.0f64; size * size];
    for _ in 0..4 {
        let f = 2.0 + 8.0 * f64::from(rng.next_f32());
        let th = std::f64::consts::PI * f64::from(rng.next_f32());
        let ph = 2.0 * std::f64::consts::PI * f64::from(rng.next_f32());
        let (kx, ky) = (f * th.cos() / size as f64, f * th.sin() / size as f64);
        for y in 0..size {
            for x in 0..size {
                t[y * size + x] += (2.0 * std::f64::consts::PI * (kx * x as f64 + ky * y as f64) + ph).sin();
            }
        }
    }
    let mut noise: Vec<f64> = (0..size * size).map(|_| gauss(rng)).collect();
    blur_plane(&mut noise, size, 1.0);
    let nr = (noise.iter().map(|v| v * v).sum::<f64>() / noise.len() as f64).sqrt().max(1e-12);
    for (a, n) in t.iter_mut().zip(&noise) {
        *a += 2.0 * n / nr;
    }
    let m = t.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
    t.iter_mut().for_each(|v| *v /= m);
    t
}

/// Separable Gaussian blur of one `size`×`size` plane, σ in pixels, edges clamped.
fn blur_plane(p: &mut [f64], size: usize, sigma: f64) {
    if sigma <= 0.0 {
        return;
    }
    let r = (3.0 * sigma).ceil() as isize;
    let k: Vec<f64> = (-r..=r).map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let ks: f64 = k.iter().sum();
    let mut tmp = vec![0.0f64; p.len()];
    let at = |i: isize| i.clamp(0, size as isize - 1) as usize;
    for y in 0..size {
        for x in 0..size {
            tmp[y * size + x] =
                (-r..=r).map(|d| k[(d + r) as usize] * p[y * size + at(x as isize + d)]).sum::<f64>() / ks;
        }
    }
    for y in 0..size {
        for x in 0..size {
            p[y * size + x] =
                (-r..=r).map(|d| k[(d + r) as usize] * tmp[at(y as isize + d) * size + x]).sum::<f64>() / ks;
        }
    }
}

/// Bilinear sample of a plane at (x, y), edges clamped.
fn sample(p: &[f64], size: usize, x: f64, y: f64) -> f64 {
    let m = (size - 1) as f64;
    let (x, y) = (x.clamp(0.0, m), y.clamp(0.0, m));
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(size - 1), (y0 + 1).min(size - 1));
    let (fx, fy) = (x - x0 as f64, y - y0 as f64);
    let top = p[y0 * size + x0] * (1.0 - fx) + p[y0 * size + x1] * fx;
    let bot = p[y1 * size + x0] * (1.0 - fx) + p[y1 * size + x1] * fx;
    top * (1.0 - fy) + bot * fy
}

/// Apply a frame chain in place to frame-major `size`×`size` frames (see the module docs for the order). What acts
/// at the source is not applied here but by [`render_perturbed`], which renders with it: the scene's look, the
/// shutter, the lag and the camera's frame rate.
pub fn apply_video(frames: &mut [u8], size: usize, fps: u32, c: &VideoChain, rng: &mut SplitMix64) {
    let n = size * size;
    if n == 0 || frames.is_empty() {
        return;
    }
    let px = size as f64 / REFERENCE_SIZE;
    // Scene: texture on the static backdrop and floor (the ball occludes it), then the occluder.
    let bg = ball::background(size);
    let tex = if c.clutter > 0.0 { Some(texture(size, rng)) } else { None };
    let occluder = if c.occlusion > 0.0 {
        let area = c.occlusion.clamp(0.0, 1.0) * n as f64;
        let aspect = (0.5f64.ln() + 2.0f64.ln() * 2.0 * f64::from(rng.next_f32())).exp();
        let w = (area * aspect).sqrt().clamp(1.0, size as f64);
        let h = (area / w).clamp(1.0, size as f64);
        let x0 = f64::from(rng.next_f32()) * (size as f64 - w);
        let y0 = f64::from(rng.next_f32()) * (size as f64 - h);
        let luma = 255.0 * f64::from(rng.next_f32());
        Some((x0, y0, x0 + w, y0 + h, luma))
    } else {
        None
    };
    // Stuck pixels: a fixed set of the sensor's, half black, half white.
    let stuck: Vec<(usize, u8)> = if c.dead > 0.0 {
        let count = (c.dead.min(1.0) * n as f64).round() as usize;
        (0..count).map(|i| ((rng.next_u64() % n as u64) as usize, if i % 2 == 0 { 0 } else { 255 })).collect()
    } else {
        Vec::new()
    };
    let centre = (size as f64 - 1.0) / 2.0;
    // The passer-by: radius, luma (dark or bright, so it stands out from the mid-grey scene), its path's direction
    // and the point of the middle half of the frame it passes through; it travels 1.5 frame widths over the clip,
    // from outside one edge to outside the other.
    let passer = if c.passer_by > 0.0 {
        let r = (c.passer_by.min(0.5) * n as f64 / std::f64::consts::PI).sqrt();
        let luma = (if rng.next_u64() & 1 == 0 { 70.0 } else { 185.0 }) + 70.0 * f64::from(rng.next_f32()) - 35.0;
        let th = 2.0 * std::f64::consts::PI * f64::from(rng.next_f32());
        let via = (
            centre + 0.5 * size as f64 * (f64::from(rng.next_f32()) - 0.5),
            centre + 0.5 * size as f64 * (f64::from(rng.next_f32()) - 0.5),
        );
        Some((r, luma, th.cos(), th.sin(), via))
    } else {
        None
    };
    let n_frames = frames.len() / n;
    let geometric = c.shift != (0.0, 0.0)
        || c.scale != 1.0
        || c.shake > 0.0
        || c.roll != 0.0
        || c.pan != 0.0
        || c.oblique != 0.0
        || c.barrel != 0.0;
    // The wide-angle lens, last in the light's path and so first in the inverse map: a pixel at (x, y) from the
    // centre shows the scene at (x, y)·(1 + k·(x² + y²)/R²), R the half-diagonal.
    let diagonal2 = (2.0 * centre * centre).max(1e-9);
    let lens = |x: f64, y: f64| {
        let f = 1.0 + c.barrel * (x * x + y * y) / diagonal2;
        (x * f, y * f)
    };
    // The turn's progress 0..1 at frame `index`: from the clip's middle, over 0.2 s of the camera's rate.
    let turn_len = turn_frames(fps) as f64;
    let turn = |index: usize| ((index as f64 - (n_frames / 2) as f64) / turn_len).clamp(0.0, 1.0);
    let (sin, cos) = c.roll.to_radians().sin_cos();
    // The oblique view: the plane's point (p, q) (centred, in pixels) turned by θ about the vertical axis lies at depth
    // f + p·sin θ in front of a pinhole of focal length f = the frame's width, and is seen at
    // (f·p·cos θ, f·q) / (f + p·sin θ). Its inverse, from where a pixel is seen back to the plane:
    // p = f·u / (f·cos θ − u·sin θ), q = v·(f + p·sin θ) / f. (Within ±80°; a pixel beyond the plane's horizon, where
    // the denominator is not positive, takes the far edge.)
    let (ob_sin, ob_cos) = c.oblique.clamp(-80.0, 80.0).to_radians().sin_cos();
    let focal = size as f64;
    let unproject = |u: f64, v: f64| {
        let den = focal * ob_cos - u * ob_sin;
        if den <= 1e-9 {
            return (u.signum() * 1e6, v);
        }
        let p = focal * u / den;
        (p, v * (focal + p * ob_sin) / focal)
    };
    // Auto-exposure's phase (drawn only when it acts, so the other kinds' random streams stay as they were).
    let swing_phase =
        if c.exposure_swing != 0.0 { 2.0 * std::f64::consts::PI * f64::from(rng.next_f32()) } else { 0.0 };
    // The flicker's phase, likewise drawn only when it acts.
    let flicker_phase = if c.flicker != 0.0 { 2.0 * std::f64::consts::PI * f64::from(rng.next_f32()) } else { 0.0 };
    let mut plane = vec![0.0f64; n];
    let mut warped = vec![0.0f64; n];
    for (index, f) in frames.chunks_exact_mut(n).enumerate() {
        for (i, (d, &v)) in plane.iter_mut().zip(f.iter()).enumerate() {
            *d = f64::from(v);
            if let Some(t) = &tex {
                if v == bg[i] {
                    *d += c.clutter * t[i];
                }
            }
        }
        if let Some((x0, y0, x1, y1, luma)) = occluder {
            for y in y0.floor() as usize..(y1.ceil() as usize).min(size) {
                for x in x0.floor() as usize..(x1.ceil() as usize).min(size) {
                    // Coverage of the pixel by the rectangle (anti-aliased edges).
                    let cx = (x1.min(x as f64 + 1.0) - x0.max(x as f64)).clamp(0.0, 1.0);
                    let cy = (y1.min(y as f64 + 1.0) - y0.max(y as f64)).clamp(0.0, 1.0);
                    let a = cx * cy;
                    plane[y * size + x] = (1.0 - a) * plane[y * size + x] + a * luma;
                }
            }
        }
        if let Some((r, luma, ux, uy, (vx, vy))) = passer {
            let along = 0.75 * size as f64 * (2.0 * index as f64 / (n_frames.max(2) - 1) as f64 - 1.0);
            let (px0, py0) = (vx + along * ux, vy + along * uy);
            for (i, d) in plane.iter_mut().enumerate() {
                let (x, y) = ((i % size) as f64 - px0, (i / size) as f64 - py0);
                // Coverage of the pixel by the disc (anti-aliased edge, one pixel wide).
                let a = (r + 0.5 - (x * x + y * y).sqrt()).clamp(0.0, 1.0);
                if a > 0.0 {
                    *d = (1.0 - a) * *d + a * luma;
                }
            }
        }
        if geometric {
            let (jx, jy) = if c.shake > 0.0 {
                (c.shake * (2.0 * f64::from(rng.next_f32()) - 1.0), c.shake * (2.0 * f64::from(rng.next_f32()) - 1.0))
            } else {
                (0.0, 0.0)
            };
            let (tx, ty) = if c.pan != 0.0 { (c.pan * turn(index), 0.5 * c.pan * turn(index)) } else { (0.0, 0.0) };
            let (dx, dy) = ((c.shift.0 + jx + tx) * px, (c.shift.1 + jy + ty) * px);
            let s = c.scale.max(0.05);
            for y in 0..size {
                for x in 0..size {
                    // Output pixel (x, y) shows the scene at the inverse map (without the lens, the same bits as
                    // before it existed).
                    let (u, v) = if c.barrel != 0.0 {
                        let (lx, ly) = lens(x as f64 - centre, y as f64 - centre);
                        ((lx - dx) / s, (ly - dy) / s)
                    } else {
                        ((x as f64 - centre - dx) / s, (y as f64 - centre - dy) / s)
                    };
                    // (Without roll exactly the map it was before roll existed: the same bits.)
                    let (u, v) = if c.roll != 0.0 { (cos * u + sin * v, cos * v - sin * u) } else { (u, v) };
                    let (u, v) = if c.oblique != 0.0 { unproject(u, v) } else { (u, v) };
                    warped[y * size + x] = sample(&plane, size, u + centre, v + centre);
                }
            }
            std::mem::swap(&mut plane, &mut warped);
        }
        blur_plane(&mut plane, size, c.blur * px);
        if c.vignette != 0.0 {
            let corner = (2.0 * centre * centre).max(1e-9);
            for (i, v) in plane.iter_mut().enumerate() {
                let (x, y) = ((i % size) as f64 - centre, (i / size) as f64 - centre);
                *v *= (1.0 - c.vignette * (x * x + y * y) / corner).max(0.0);
            }
        }
        // The frame's exposure (× 1 exactly without auto-exposure: the same bits as before it existed).
        let exposure = if c.exposure_swing != 0.0 {
            let t = index as f64 / f64::from(fps.max(1));
            c.exposure * (1.0 + c.exposure_swing * (2.0 * std::f64::consts::PI * t + swing_phase).sin())
        } else {
            c.exposure
        };
        let frame_s = 1.0 / f64::from(fps.max(1));
        for (i, (d, v)) in f.iter_mut().zip(plane.iter()).enumerate() {
            // Row by row under a flickering light (× 1 exactly without it: the same bits as before it existed).
            let exposure = if c.flicker != 0.0 {
                let t = (index as f64 + (i / size) as f64 / size as f64) * frame_s;
                exposure * (1.0 + c.flicker * (2.0 * std::f64::consts::PI * c.flicker_hz * t + flicker_phase).sin())
            } else {
                exposure
            };
            let mut l = (v / 255.0).clamp(0.0, 1.0) * exposure;
            if c.gamma != 1.0 {
                l = l.max(0.0).powf(c.gamma);
            }
            l = c.contrast * (l - 0.5) + 0.5 + c.offset / 255.0;
            let mut q = 255.0 * l;
            if c.noise > 0.0 {
                q += c.noise * gauss(rng);
            }
            *d = q.round().clamp(0.0, 255.0) as u8;
        }
        for &(i, v) in &stuck {
            f[i] = v;
        }
    }
    if c.drops > 0.0 {
        // A dropped frame shows the previous one again (so runs of drops hold one frame); the first always arrives.
        for i in 1..frames.len() / n {
            if f64::from(rng.next_f32()) < c.drops {
                frames.copy_within((i - 1) * n..i * n, i * n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::stimuli::{plan, render, tone};

    /// A perturbation's fields by chain and name (`audio.gain_db`, `video.lag`, …) with their values as JSON, so that
    /// what a kind sets can be found without naming its fields.
    fn fields(p: &Perturbation) -> Vec<(String, String)> {
        let serde_json::Value::Object(chains) = serde_json::to_value(p).unwrap() else { panic!("not an object") };
        let mut out = Vec::new();
        for (chain, v) in chains {
            let serde_json::Value::Object(fields) = v else { panic!("{chain} is not an object") };
            out.extend(fields.into_iter().map(|(name, value)| (format!("{chain}.{name}"), value.to_string())));
        }
        out
    }

    fn clip(p: &Perturbation, seed: u64) -> Stimulus {
        let params = Params::prototype("happy").unwrap();
        let opts = RenderOptions { seconds: 1.0, seed, size: 64, fps: 30, sample_rate: 22_050 };
        render_perturbed(&params, &opts, p).unwrap()
    }

    #[test]
    fn no_perturbation_is_the_clean_render() {
        let params = Params::prototype("happy").unwrap();
        let opts = RenderOptions { seconds: 1.0, seed: 4, size: 64, fps: 30, sample_rate: 22_050 };
        assert!(render_perturbed(&params, &opts, &Perturbation::NONE).unwrap() == render(&params, &opts).unwrap());
    }

    #[test]
    fn every_kind_changes_its_sense_only_and_is_reproducible() {
        let clean = clip(&Perturbation::NONE, 5);
        for k in Kind::ALL.into_iter().chain(Kind::PROBES) {
            for v in k.severities() {
                let a = clip(&k.at(v), 5);
                // Plain asserts: a failure must not print whole clips.
                assert!(a == clip(&k.at(v), 5), "{} {v} is reproducible", k.name());
                assert_eq!(a.frames.len(), clean.frames.len(), "{} keeps the model's frame count", k.name());
                if k.senses() == (true, true) {
                    assert!(a.audio != clean.audio && a.frames != clean.frames, "{} {v} changes both", k.name());
                    assert!(a.audio.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
                } else if k.is_audio() {
                    assert!(a.audio != clean.audio, "{} {v} changes the sound", k.name());
                    assert!(a.frames == clean.frames, "{} leaves the frames", k.name());
                    assert!(a.audio.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
                } else {
                    assert!(a.frames != clean.frames, "{} {v} changes the frames", k.name());
                    assert!(a.audio == clean.audio, "{} leaves the sound", k.name());
                }
            }
        }
    }

    #[test]
    fn another_instrument_changes_the_tone_and_keeps_the_notes() {
        let params = Params::prototype("peaceful").unwrap();
        let opts = RenderOptions { seconds: 2.0, seed: 9, size: 64, fps: 30, sample_rate: 22_050 };
        let piano = render(&params, &opts).unwrap();
        let again = tone::render_audio_with(&piano.notes, 2.0, 22_050, &Timbre::PIANO);
        assert!(again == piano.audio, "the piano timbre is the renderer's tone, bit for bit");
        // Spectral centroid (Hz) over the clip, from a plain DFT of 512-sample blocks.
        let centroid = |x: &[f32]| {
            let (mut num, mut den) = (0.0f64, 0.0f64);
            for block in x.chunks_exact(512) {
                for k in 1..256 {
                    let (mut re, mut im) = (0.0f64, 0.0f64);
                    for (i, &v) in block.iter().enumerate() {
                        let ph = 2.0 * std::f64::consts::PI * (k * i) as f64 / 512.0;
                        re += f64::from(v) * ph.cos();
                        im -= f64::from(v) * ph.sin();
                    }
                    let p = re * re + im * im;
                    num += p * k as f64 * 22_050.0 / 512.0;
                    den += p;
                }
            }
            num / den
        };
        let bright = render_perturbed(&params, &opts, &Kind::Bright.at(12.0)).unwrap();
        let (c0, c1) = (centroid(&piano.audio), centroid(&bright.audio));
        assert!(c1 > 1.5 * c0, "a tilt of +12 dB per octave brightens the tone: centroid {c0:.0} → {c1:.0} Hz");
        assert!(bright.notes == piano.notes && bright.frames == piano.frames, "the melody and the frames are the same");
        // Sustain: each note keeps more of its energy late in its span. Energy in the last quarter of every note
        // over the whole note's, summed over notes.
        let late = |x: &[f32], notes: &[crate::host::stimuli::NoteEvent]| {
            let (mut tail, mut all) = (0.0f64, 0.0f64);
            for n in notes {
                let a = (n.onset_s * 22_050.0) as usize;
                let b = ((n.onset_s + n.duration_s) * 22_050.0) as usize;
                let b = b.min(x.len());
                if b <= a + 8 {
                    continue;
                }
                let q = b - (b - a) / 4;
                tail += x[q..b].iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
                all += x[a..b].iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
            }
            tail / all
        };
        let sustained = render_perturbed(&params, &opts, &Kind::Sustain.at(8.0)).unwrap();
        let (l0, l1) = (late(&piano.audio, &piano.notes), late(&sustained.audio, &piano.notes));
        assert!(l1 > 1.5 * l0, "decay × 8 keeps more of each note's energy to its end: {l0:.3} → {l1:.3}");
        assert!(sustained.audio.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
    }

    #[test]
    fn another_ball_changes_its_luma_and_nothing_else() {
        let params = Params::prototype("angry").unwrap();
        let opts = RenderOptions { seconds: 1.0, seed: 3, size: 64, fps: 30, sample_rate: 22_050 };
        let clean = render(&params, &opts).unwrap();
        let score = plan(&params, &opts).unwrap();
        let same = ball::render_frames_with(&score, 3, 64, 30, opts.n_frames(), &ball::Look::RENDERED);
        assert!(same == clean.frames, "the renderer's own luma gives the renderer's frames");
        let other = render_perturbed(&params, &opts, &Kind::BallLuma.at(240.0)).unwrap();
        assert!(other.audio == clean.audio);
        let (mut inside, mut elsewhere_same, mut elsewhere) = (0usize, 0usize, 0usize);
        for (&c, &o) in clean.frames.iter().zip(&other.frames) {
            if c == ball::BALL {
                assert_eq!(o, 240, "the ball's interior takes the new luma");
                inside += 1;
            } else if c == ball::BACKGROUND || c == ball::FLOOR || c == ball::EYE {
                elsewhere += 1;
                elsewhere_same += usize::from(o == c);
            }
        }
        assert!(inside > 1000, "the ball covers pixels: {inside}");
        // Backdrop, floor and eyes stay (the margin: an anti-aliased edge pixel of the clean ball whose value happens
        // to equal one of those lumas is counted here but takes the new ball's edge value).
        assert!(elsewhere_same as f64 > 0.99 * elsewhere as f64, "{elsewhere_same} of {elsewhere}");
    }

    #[test]
    fn a_lit_ball_and_another_floor_change_what_they_say() {
        let params = Params::prototype("sad").unwrap();
        let opts = RenderOptions { seconds: 1.0, seed: 8, size: 64, fps: 30, sample_rate: 22_050 };
        let clean = render(&params, &opts).unwrap();
        let lit = render_perturbed(&params, &opts, &Kind::Shade.at(1.0)).unwrap();
        assert!(lit.audio == clean.audio);
        let (mut upper_left, mut lower_right) = ((0.0f64, 0usize), (0.0f64, 0usize));
        let (mut lo, mut hi) = (255u8, 0u8);
        let (mut kept, mut scene) = (0usize, 0usize);
        for (c, l) in clean.frames.chunks_exact(64 * 64).zip(lit.frames.chunks_exact(64 * 64)) {
            // The ball's interior in this frame (the clean render's flat luma) and its centroid.
            let inside: Vec<(usize, usize)> =
                (0..64 * 64).filter(|&i| c[i] == ball::BALL).map(|i| (i % 64, i / 64)).collect();
            let n = inside.len().max(1) as f64;
            let cx = inside.iter().map(|p| p.0 as f64).sum::<f64>() / n;
            let cy = inside.iter().map(|p| p.1 as f64).sum::<f64>() / n;
            for &(x, y) in &inside {
                let v = l[y * 64 + x];
                (lo, hi) = (lo.min(v), hi.max(v));
                let side = if (x as f64 - cx) + (y as f64 - cy) < 0.0 { &mut upper_left } else { &mut lower_right };
                side.0 += f64::from(v);
                side.1 += 1;
            }
            for (&a, &b) in c.iter().zip(l) {
                if a == ball::BACKGROUND || a == ball::FLOOR {
                    scene += 1;
                    kept += usize::from(a == b);
                }
            }
        }
        assert!(lo < 20 && hi > 200, "a fully lit sphere runs from shadow to highlight: {lo}–{hi}");
        let (ul, lr) = (upper_left.0 / upper_left.1 as f64, lower_right.0 / lower_right.1 as f64);
        assert!(ul > lr + 30.0, "the side toward the light (upper left) is brighter: {ul:.0} against {lr:.0}");
        // (The margin: anti-aliased edge pixels of the clean ball whose value equals the backdrop's or floor's.)
        assert!(kept as f64 > 0.99 * scene as f64, "the backdrop and floor stay: {kept} of {scene}");

        let floor = render_perturbed(&params, &opts, &Kind::Floor.at(200.0)).unwrap();
        assert!(floor.audio == clean.audio);
        let (mut on_floor, mut changed, mut rest, mut rest_same) = (0usize, 0usize, 0usize, 0usize);
        for (&c, &f) in clean.frames.iter().zip(&floor.frames) {
            if c == ball::FLOOR {
                on_floor += 1;
                changed += usize::from(f == 200);
            } else if c == ball::BACKGROUND || c == ball::BALL || c == ball::EYE {
                rest += 1;
                rest_same += usize::from(c == f);
            }
        }
        assert!(on_floor > 1000, "the floor covers pixels: {on_floor}");
        assert!(changed as f64 > 0.99 * on_floor as f64, "the floor takes the new luma: {changed} of {on_floor}");
        assert!(rest_same as f64 > 0.99 * rest as f64, "backdrop, ball and eyes stay: {rest_same} of {rest}");
    }

    #[test]
    fn an_oblique_view_shrinks_the_far_side() {
        // The static scene alone (backdrop and floor trapezoid, symmetric about the centre line), one frame.
        let size = 64;
        let flat = ball::background(size);
        let floor_columns = |f: &[u8]| {
            let cols: Vec<usize> = (0..size).map(|x| (0..size).filter(|&y| f[y * size + x] < 150).count()).collect();
            let left: usize = cols[..size / 2].iter().sum();
            let right: usize = cols[size / 2..].iter().sum();
            (left, right, cols)
        };
        // The tallest floor column of each half: (near, far).
        let tallest = |c: &[usize]| {
            let max = |h: &[usize]| h.iter().copied().max().unwrap_or(0);
            (max(&c[..size / 2]), max(&c[size / 2..]))
        };
        let (l0, r0, cols0) = floor_columns(&flat);
        assert!(l0 > 100 && l0.abs_diff(r0) <= l0 / 20, "the rendered floor is symmetric: {l0} against {r0}");
        let (near0, far0) = tallest(&cols0);
        assert_eq!(near0, far0, "{cols0:?}");
        for deg in Kind::Oblique.severities() {
            let mut f = flat.clone();
            let c = Kind::Oblique.at(deg).video;
            apply_video(&mut f, size, 30, &c, &mut SplitMix64(1));
            let (l, r, cols) = floor_columns(&f);
            // Turned right side away: the left (near) half of the floor is magnified, the right (far) half shrunk.
            assert!(l > r + r / 5, "{deg}°: the near half shows more floor than the far: {l} against {r}");
            // Keystone: the floor's tallest column on the near side is taller than the tallest on the far side (the
            // same plane at less depth; the rendered floor's are equal).
            let (near, far) = tallest(&cols);
            assert!(near > far, "{deg}°: the near side's floor is taller than the far side's: {cols:?}");
        }
        // A steeper view shrinks the far half further.
        let right_at = |deg: f64| {
            let mut f = flat.clone();
            apply_video(&mut f, size, 30, &Kind::Oblique.at(deg).video, &mut SplitMix64(1));
            floor_columns(&f).1
        };
        assert!(right_at(45.0) < right_at(15.0), "45° leaves less of the far half than 15°");
    }

    #[test]
    fn a_wide_angle_lens_bows_lines_and_keeps_the_centre() {
        // A test chart: a dark horizontal line near the top, a dark dot at the centre, the rest light.
        let size = 64;
        let mut chart = vec![220u8; size * size];
        chart[4 * size..5 * size].fill(20);
        for y in 31..=32 {
            chart[y * size + 31..=y * size + 32].fill(20);
        }
        // The line's row (the darkest pixel's) in a column, above the dot.
        let row = |f: &[u8], x: usize| (0..28).min_by_key(|&y| f[y * size + x]).unwrap_or(0);
        let mut bends = Vec::new();
        for k in Kind::WideAngle.severities() {
            let mut f = chart.clone();
            apply_video(&mut f, size, 30, &Kind::WideAngle.at(k).video, &mut SplitMix64(1));
            // The centre keeps its scale: the dot stays where it was, as dark.
            for y in 31..=32 {
                for x in 31..=32 {
                    assert!(f[y * size + x] < 60, "{k}: the centre's dot stays ({})", f[y * size + x]);
                }
            }
            // Barrel: the line is drawn in toward the centre (down), its ends, further out, more than its middle.
            let (mid, end) = (row(&f, 32), row(&f, 2));
            assert!(mid >= 4, "{k}: the line's middle does not move outward (row {mid})");
            assert!(end > mid, "{k}: the line's end is drawn toward the centre: row {end} against {mid} mid-line");
            bends.push(end - mid);
        }
        assert!(bends[2] > bends[0], "a stronger lens bows the line further: {bends:?}");
    }

    #[test]
    fn a_sound_lag_delays_the_sound_and_leaves_the_frames() {
        let params = Params::prototype("happy").unwrap();
        let opts = RenderOptions { seconds: 1.0, seed: 6, size: 64, fps: 30, sample_rate: 22_050 };
        let clean = render(&params, &opts).unwrap();
        let late = render_perturbed(&params, &opts, &Kind::SoundLag.at(0.1)).unwrap();
        assert!(late.frames == clean.frames && late.audio.len() == clean.audio.len());
        // 0.1 s at 22,050 Hz is 2,205 samples of silence, then the clean sound from its start.
        let n = 2_205;
        assert!(late.audio[..n].iter().all(|&x| x == 0.0));
        assert!(late.audio[n..] == clean.audio[..clean.audio.len() - n]);
        assert!(clean.audio[..clean.audio.len() - n].iter().any(|&x| x != 0.0), "the clip has sound to delay");
        // With noise, the microphone's noise is heard from the first sample, over the late sound.
        let noisy = Perturbation {
            audio: AudioChain { noise: Some((Colour::White, 20.0)), ..Kind::SoundLag.at(0.1).audio },
            ..Perturbation::NONE
        };
        let s = render_perturbed(&params, &opts, &noisy).unwrap();
        assert!(s.audio[..n].iter().filter(|&&x| x != 0.0).count() > n / 2);
        // A lag longer than the clip leaves silence only, and never panics.
        let s = render_perturbed(&params, &opts, &Kind::SoundLag.at(5.0)).unwrap();
        assert!(s.audio.len() == clean.audio.len() && s.audio.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn an_open_shutter_smears_what_moves_and_a_lag_delays_the_frames() {
        let params = Params::prototype("happy").unwrap();
        let opts = RenderOptions { seconds: 2.0, seed: 6, size: 64, fps: 30, sample_rate: 22_050 };
        let clean = render(&params, &opts).unwrap();
        let frame = 64 * 64;
        let n = clean.n_frames();
        let with = |v: VideoChain| {
            let s = render_perturbed(&params, &opts, &Perturbation { video: v, ..Perturbation::NONE }).unwrap();
            assert!(s.audio == clean.audio && s.n_frames() == n);
            s.frames
        };
        // A shutter open for less than one sub-frame integrates nothing: each frame is the clean instant, so the
        // sub-frames are timed as the frames are.
        assert!(with(VideoChain { shutter: 0.05, ..VideoChain::NONE }) == clean.frames);
        // Open longer, it changes what moves and more so the longer it is open; the first frame (nothing before it
        // to integrate) and the static backdrop stay.
        let changed = |f: &[u8]| f.iter().zip(&clean.frames).filter(|(a, b)| a != b).count();
        let (short, long) = (with(Kind::MotionBlur.at(0.25).video), with(Kind::MotionBlur.at(1.0).video));
        assert!(short[..frame] == clean.frames[..frame] && long[..frame] == clean.frames[..frame]);
        let (cs, cl) = (changed(&short), changed(&long));
        assert!(cs > 0 && cl > cs + cs / 2, "pixels changed: {cs} at a quarter open, {cl} fully open");
        assert!(long.chunks_exact(frame).all(|f| f[0] == clean.frames[0]), "the backdrop's corner stays");
        // Smearing averages: fully open, some pixels take levels between the ball's and the backdrop's that the
        // instant frame does not have at that place.
        let between = long.iter().zip(&clean.frames).filter(|(a, b)| a != b && (90..190).contains(*a)).count();
        assert!(between > 100, "{between} pixels at intermediate levels");
        // The lag: 0.1 s at 30 fps is 3 frames; the first frame is held until then.
        let late = with(Kind::AvLag.at(0.1).video);
        for k in 0..n {
            let from = k.saturating_sub(3);
            assert!(late[k * frame..(k + 1) * frame] == clean.frames[from * frame..(from + 1) * frame], "frame {k}");
        }
    }

    #[test]
    fn mains_flicker_rolls_bands_down_the_frame() {
        // The static scene's backdrop rows (above the floor) under ±0.2 flicker: each row's mean against the clean.
        let size = 64;
        let flat = ball::background(size);
        let mut frames: Vec<u8> = (0..3).flat_map(|_| flat.iter().copied()).collect();
        apply_video(&mut frames, size, 30, &Kind::Flicker.at(0.2).video, &mut SplitMix64(2));
        let rows = |k: usize| -> Vec<f64> {
            (0..size / 2)
                .map(|y| {
                    let r = &frames[(k * size + y) * size..(k * size + y + 1) * size];
                    r.iter().map(|&v| f64::from(v)).sum::<f64>() / (size as f64 * f64::from(flat[y * size]))
                })
                .collect()
        };
        let (r0, r1) = (rows(0), rows(1));
        let (lo, hi) = r0.iter().fold((f64::MAX, 0.0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        // Half the frame's height spans 1.7 of the flicker's cycles at 30 fps, so both extremes are in it.
        assert!(lo < 0.84 && hi > 1.16 && lo > 0.79 && hi < 1.21, "rows × {lo:.3} … {hi:.3}");
        // Bands: the rows' factor crosses 1 about twice per cycle, 3 or 4 times in 1.7 cycles.
        let crossings = r0.windows(2).filter(|w| (w[0] - 1.0).signum() != (w[1] - 1.0).signum()).count();
        assert!((3..=4).contains(&crossings), "{crossings} crossings: {r0:?}");
        // They roll: the next frame, a third of a cycle later, has them elsewhere.
        let moved = r0.iter().zip(&r1).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(moved > 0.1, "the bands move between frames by up to {moved:.3}");
        // On a 60 Hz grid, 120 Hz: four whole cycles per frame at 30 fps, so the same bands on every frame, twice as
        // many as 100 Hz's in the same rows.
        let mut frames: Vec<u8> = (0..3).flat_map(|_| flat.iter().copied()).collect();
        apply_video(&mut frames, size, 30, &Kind::Flicker120.at(0.2).video, &mut SplitMix64(2));
        let frame = size * size;
        assert!(frames[..frame] == frames[frame..2 * frame] && frames[..frame] == frames[2 * frame..]);
        let r = (0..size / 2)
            .map(|y| {
                frames[y * size..(y + 1) * size].iter().map(|&v| f64::from(v)).sum::<f64>()
                    / (size as f64 * f64::from(flat[y * size]))
            })
            .collect::<Vec<f64>>();
        let crossings = r.windows(2).filter(|w| (w[0] - 1.0).signum() != (w[1] - 1.0).signum()).count();
        assert!((4..=5).contains(&crossings), "{crossings} crossings at 120 Hz: {r:?}");
    }

    #[test]
    fn flicker_moves_the_backgrounds_alignment_unless_the_rows_are_levelled() {
        // E49's diagnostic, the cause of flicker's cost, and E50's defence: the background (τ 500 ms, gated) over a
        // 3 s render of `happy`, counting the frames whose alignment moved and the output's mean departure from
        // mid-grey, with the rows as the camera gives them (the background of format version 6) and levelled first
        // (the default's, `InputConfig::background_level_rows`). Unlevelled, the rolling bands are matched by a shift
        // although the camera is still, and they raise the noise estimate, whose coring then takes the ball.
        use crate::core::config::{InputConfig, VisualConfig};
        use crate::core::kernels::Kernels;
        use crate::core::visual::Background;
        let params = Params::prototype("happy").unwrap();
        let opts = RenderOptions { seconds: 3.0, seed: 3, size: 64, fps: 30, sample_rate: 22_050 };
        let cfg = VisualConfig::default();
        let run = |p: &Perturbation, level_rows: bool| {
            let s = render_perturbed(&params, &opts, p).unwrap();
            let input = InputConfig { background_level_rows: level_rows, ..InputConfig::default() };
            let mut scratch = vec![0.0f32; Background::scratch_len(&cfg)];
            let mut bg = Background::for_input(&cfg, &input, &mut scratch, Kernels::detect()).unwrap();
            let (mut shifted, mut departure) = (0usize, 0.0f64);
            for f in s.frames.chunks_exact(64 * 64) {
                let out = bg.apply(f).unwrap();
                departure += out.iter().map(|&v| (f64::from(v) - 128.0).abs()).sum::<f64>() / out.len() as f64;
                shifted += usize::from(bg.shift() != (0, 0));
            }
            (shifted, departure / s.n_frames() as f64, s.n_frames())
        };
        for level_rows in [false, true] {
            let clean = run(&Perturbation::NONE, level_rows);
            let rows = if level_rows { "levelled" } else { "as given" };
            eprintln!(
                "rows {rows}: clean: {} of {} frames shifted, mean |output − 128| {:.2}",
                clean.0, clean.2, clean.1
            );
            assert_eq!(clean.0, 0, "rows {rows}: a still camera on a clean render is never shifted");
            for (name, p) in [
                ("flicker ±0.1", Kind::Flicker.at(0.1)),
                ("flicker ±0.2", Kind::Flicker.at(0.2)),
                ("flicker ±0.4", Kind::Flicker.at(0.4)),
                ("flicker at 120 Hz ±0.2", Kind::Flicker120.at(0.2)),
                ("auto-exposure ±0.2", Kind::AutoExposure.at(0.2)),
                ("shake ±2 px", Kind::Shake.at(2.0)),
            ] {
                let (shifted, departure, n) = run(&p, level_rows);
                eprintln!("rows {rows}: {name}: {shifted} of {n} frames shifted, mean |output − 128| {departure:.2}");
                if name == "flicker ±0.1" || name == "flicker ±0.2" {
                    if level_rows {
                        assert_eq!(shifted, 0, "{name}: levelled, the bands no longer move the alignment");
                        let off = (departure - clean.1).abs();
                        assert!(off < 0.5, "{name}: levelled, the output departs as clean's ({departure:.2})");
                    } else {
                        assert!(shifted > n / 3, "{name}: the bands move the alignment in {shifted} of {n} frames");
                    }
                }
                if name.starts_with("flicker at 120 Hz") {
                    // Standing bands (four whole cycles per frame at 30 fps): the running background takes them in,
                    // levelled or not.
                    assert_eq!(shifted, 0, "{name}, rows {rows}: standing bands never move the alignment");
                    let off = (departure - clean.1).abs();
                    assert!(off < 0.5, "{name}, rows {rows}: the output departs as clean's ({departure:.2})");
                }
                if name.starts_with("auto-exposure") {
                    // The exposure's swing leaves the difference (far from clean's departure) unless levelled.
                    let far = departure > 3.0 * clean.1;
                    assert_eq!(far, !level_rows, "{name}, rows {rows}: mean |output − 128| {departure:.2}");
                }
            }
        }
    }

    #[test]
    fn automatic_controls_change_the_level_within_the_clip() {
        let params = Params::prototype("happy").unwrap();
        let opts = RenderOptions { seconds: 2.0, seed: 6, size: 64, fps: 30, sample_rate: 22_050 };
        let clean = render(&params, &opts).unwrap();
        // Auto-exposure: each frame's mean luma against the clean frame's swings by about the setting, both ways,
        // over the clip's two periods.
        let swung = render_perturbed(&params, &opts, &Kind::AutoExposure.at(0.2)).unwrap();
        assert!(swung.audio == clean.audio);
        let mean = |f: &[u8]| f.iter().map(|&v| f64::from(v)).sum::<f64>() / f.len() as f64;
        let ratios: Vec<f64> = clean
            .frames
            .chunks_exact(64 * 64)
            .zip(swung.frames.chunks_exact(64 * 64))
            .map(|(c, s)| mean(s) / mean(c))
            .collect();
        let (lo, hi) = ratios.iter().fold((f64::MAX, 0.0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        assert!(lo < 0.86 && hi > 1.12, "the exposure swings by ±0.2: frame means × {lo:.3} … {hi:.3}");
        assert!(hi < 1.21 && lo > 0.79, "and not by more: × {lo:.3} … {hi:.3}");
        // AGC: per 50 ms block, the gain it applied (the block's RMS against the clean block's). It moves within the
        // clip, lower where the sound is louder, and a faster release moves it more; digital silence stays silent.
        let blocks = |x: &[f32]| -> Vec<f64> { x.chunks_exact(1102).map(rms).collect() };
        let b0 = blocks(&clean.audio);
        let gains = |release: f64| {
            let a = render_perturbed(&params, &opts, &Kind::Agc.at(release)).unwrap();
            assert!(a.frames == clean.frames);
            for (x, y) in clean.audio.iter().zip(&a.audio) {
                assert!(*x != 0.0 || *y == 0.0, "silence stays silent");
            }
            assert!(a.audio.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
            // (The first block is left out: the envelope starts from 0 there.)
            b0.iter()
                .zip(blocks(&a.audio))
                .skip(1)
                .filter(|(c, _)| **c > 1e-3)
                .map(|(c, p)| (*c, p / c))
                .collect::<Vec<_>>()
        };
        let spread = |g: &[(f64, f64)]| {
            let mut r: Vec<f64> = g.iter().map(|p| p.1).collect();
            r.sort_by(f64::total_cmp);
            r[r.len() * 9 / 10] / r[r.len() / 10]
        };
        let (fast, slow) = (gains(0.1), gains(1.0));
        let (sf, ss) = (spread(&fast), spread(&slow));
        assert!(sf > 1.2, "a 0.1 s release moves the gain within the clip: 90th/10th percentile {sf:.2}");
        assert!(sf > ss, "a faster release moves it more: {sf:.2} against {ss:.2} at 1 s");
        // Louder blocks get less gain: the rank correlation of level and gain is negative.
        let rank = |v: Vec<f64>| {
            let mut idx: Vec<usize> = (0..v.len()).collect();
            idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
            let mut r = vec![0.0; v.len()];
            for (k, &i) in idx.iter().enumerate() {
                r[i] = k as f64;
            }
            r
        };
        let (rl, rg) = (rank(fast.iter().map(|p| p.0).collect()), rank(fast.iter().map(|p| p.1).collect()));
        let m = (rl.len() as f64 - 1.0) / 2.0;
        let cov: f64 = rl.iter().zip(&rg).map(|(a, b)| (a - m) * (b - m)).sum();
        let var: f64 = rl.iter().map(|a| (a - m) * (a - m)).sum();
        assert!(cov / var < -0.3, "louder blocks are turned down: Spearman ρ {:.2}", cov / var);
    }

    #[test]
    fn settings_do_what_they_say() {
        let clean = clip(&Perturbation::NONE, 6);
        // −20 dB gain: a tenth of the amplitude.
        let q = clip(&Kind::Gain.at(-20.0), 6);
        let r = rms(&q.audio) / rms(&clean.audio);
        assert!((r - 0.1).abs() < 1e-4, "gain ratio {r}");
        // 10 dB SNR white noise: the added noise has a tenth of the signal's power.
        let q = clip(&Kind::WhiteNoise.at(10.0), 6);
        let diff: Vec<f32> = q.audio.iter().zip(&clean.audio).map(|(a, b)| a - b).collect();
        let snr = 20.0 * (rms(&clean.audio) / rms(&diff)).log10();
        assert!((snr - 10.0).abs() < 0.1, "SNR {snr}");
        // Half brightness: the frame mean halves (up to rounding).
        let q = clip(&Kind::Brightness.at(0.5), 6);
        let mean = |f: &[u8]| f.iter().map(|&v| f64::from(v)).sum::<f64>() / f.len() as f64;
        let r = mean(&q.frames) / mean(&clean.frames);
        assert!((r - 0.5).abs() < 0.01, "brightness ratio {r}");
        // 15 fps shown at 30: every frame is held twice.
        let q = clip(&Kind::FrameRate.at(15.0), 6);
        let f = |i: usize| &q.frames[i * 64 * 64..(i + 1) * 64 * 64];
        assert!(f(0) == f(1) && f(2) == f(3) && f(1) != f(2));
    }

    #[test]
    fn probes_do_what_they_say() {
        let sr = 22_050.0;
        let clean = clip(&Perturbation::NONE, 7);
        // 20 dB signal-to-hum: the added hum has a hundredth of the signal's power, all of it at multiples of 50 Hz.
        let q = clip(&Kind::Hum.at(20.0), 7);
        let hum: Vec<f32> = q.audio.iter().zip(&clean.audio).map(|(a, b)| a - b).collect();
        let snr = 20.0 * (rms(&clean.audio) / rms(&hum)).log10();
        assert!((snr - 20.0).abs() < 0.1, "signal-to-hum {snr}");
        let power_at = |hz: f64| {
            let w = 2.0 * std::f64::consts::PI * hz / sr;
            let (re, im) = hum.iter().enumerate().fold((0.0, 0.0), |(re, im), (i, &v)| {
                (re + f64::from(v) * (w * i as f64).cos(), im + f64::from(v) * (w * i as f64).sin())
            });
            re * re + im * im
        };
        assert!(power_at(50.0) > 1e4 * power_at(75.0), "hum sits on 50 Hz");
        // 5 % dropouts: at least that share of the samples is silent (the clean clip has almost none).
        let q = clip(&Kind::Dropouts.at(0.05), 7);
        let silent = |x: &[f32]| x.iter().filter(|v| **v == 0.0).count() as f64 / x.len() as f64;
        assert!(silent(&q.audio) >= 0.05 && silent(&q.audio) < 0.05 + 0.045 + silent(&clean.audio));
        // Roll by 180°: every frame turned about its centre (up to one level of rounding).
        let q = clip(&Kind::Roll.at(180.0), 7);
        for (a, b) in q.frames.chunks_exact(64 * 64).zip(clean.frames.chunks_exact(64 * 64)) {
            assert!(a.iter().zip(b.iter().rev()).all(|(x, y)| x.abs_diff(*y) <= 1));
        }
        // On a uniform grey frame: vignetting leaves the centre and darkens the corners by the factor; stuck
        // pixels are the share asked for, half black and half white; drops repeat frames at about their rate.
        let mut rng = SplitMix64(3);
        let mut grey = vec![200u8; 64 * 64];
        apply_video(&mut grey, 64, 30, &VideoChain { vignette: 0.5, ..VideoChain::NONE }, &mut rng);
        assert_eq!((grey[32 * 64 + 32], grey[0], grey[64 * 64 - 1]), (200, 100, 100));
        let mut grey = vec![128u8; 256 * 256];
        apply_video(&mut grey, 256, 30, &VideoChain { dead: 0.01, ..VideoChain::NONE }, &mut rng);
        let (black, white) = (grey.iter().filter(|v| **v == 0).count(), grey.iter().filter(|v| **v == 255).count());
        assert!((600..=656).contains(&(black + white)) && black.abs_diff(white) < 30, "{black} + {white} stuck");
        let mut frames: Vec<u8> = (0..200u8).flat_map(|i| [i; 16]).collect();
        apply_video(&mut frames, 4, 30, &VideoChain { drops: 0.25, ..VideoChain::NONE }, &mut rng);
        let repeats = frames.chunks_exact(16).zip(frames.chunks_exact(16).skip(1)).filter(|(a, b)| a == b).count();
        assert!((30..=70).contains(&repeats), "{repeats} of 199 frames dropped at 0.25");
        // A talker at 20 dB: the added sound has a hundredth of the signal's power and comes in bursts (many 10 ms
        // stretches hold almost none of it, many hold more than its average).
        let q = clip(&Kind::Talker.at(20.0), 7);
        let talk: Vec<f32> = q.audio.iter().zip(&clean.audio).map(|(a, b)| a - b).collect();
        let sir = 20.0 * (rms(&clean.audio) / rms(&talk)).log10();
        assert!((sir - 20.0).abs() < 0.1, "signal-to-talker {sir}");
        let chunks: Vec<f64> = talk.chunks_exact(220).map(rms).collect();
        let quiet = chunks.iter().filter(|&&r| r < 0.05 * rms(&talk)).count() as f64 / chunks.len() as f64;
        let loud = chunks.iter().filter(|&&r| r > rms(&talk)).count() as f64 / chunks.len() as f64;
        assert!((0.2..0.75).contains(&quiet) && loud > 0.2, "bursts: {quiet} quiet, {loud} loud");
        // A passer-by of 5 % of the area on uniform grey: in the middle frame a disc of about that area, away from
        // the grey; it moves, and it enters and leaves (the first and last frames do not show all of it).
        let mut grey = vec![128u8; 64 * 64 * 61];
        apply_video(&mut grey, 64, 30, &VideoChain { passer_by: 0.05, ..VideoChain::NONE }, &mut rng);
        let covered = |f: &[u8]| f.iter().filter(|v| v.abs_diff(128) > 20).count();
        let frame = |i: usize| &grey[i * 4096..(i + 1) * 4096];
        assert!((175..=235).contains(&covered(frame(30))), "{} pixels covered", covered(frame(30)));
        assert!(covered(frame(0)) < 150 && covered(frame(60)) < 150);
        assert!(frame(29) != frame(31), "the passer-by moves");
        // The room at its moderate step is six trained kinds at once, each at its own setting, none past moderate.
        let mut room = Perturbation::NONE;
        room.audio.gain_db = Kind::Gain.at(-12.0).audio.gain_db;
        room.audio.noise = Kind::PinkNoise.at(20.0).audio.noise;
        room.audio.reverb = Kind::Reverb.at(0.6).audio.reverb;
        room.video.exposure = Kind::Brightness.at(0.6).video.exposure;
        room.video.noise = Kind::SensorNoise.at(8.0).video.noise;
        room.video.shake = Kind::Shake.at(2.0).video.shake;
        assert_eq!(Kind::Room.at(2.0), room);
        // Its halves: the room's sound with clean frames, the room's frames with clean sound.
        assert_eq!(Kind::RoomSound.at(2.0), Perturbation { video: Perturbation::NONE.video, ..room });
        assert_eq!(Kind::RoomSight.at(2.0), Perturbation { audio: Perturbation::NONE.audio, ..room });
        let (sound, sight) = (clip(&Kind::RoomSound.at(2.0), 7), clip(&Kind::RoomSight.at(2.0), 7));
        assert!(sound.audio == clip(&room, 7).audio && sound.frames == clean.frames, "the room's sound, to the sample");
        assert!(sight.audio == clean.audio && sight.frames != clean.frames);
        let q = clip(&room, 7);
        let mean = |f: &[u8]| f.iter().map(|&v| f64::from(v)).sum::<f64>() / f.len() as f64;
        let r = mean(&q.frames) / mean(&clean.frames);
        assert!((0.55..0.7).contains(&r), "the room's light: {r} of the clean frames' mean");
        assert!(rms(&q.audio) < 0.5 * rms(&clean.audio), "the room's microphone is 12 dB quieter (with noise)");
    }

    #[test]
    fn pan_turns_the_view_from_the_clip_middle() {
        // A textured scene with a rendered ball, a second at 30 fps: the turn starts at the middle frame and takes 6.
        let base = clip(&Perturbation::NONE, 8).frames;
        let v = Kind::Pan.severities()[1];
        let run = |c: &VideoChain| {
            let mut f = base.clone();
            apply_video(&mut f, 64, 30, c, &mut SplitMix64(3));
            f
        };
        let clutter = Kind::Pan.at(v).video.clutter;
        assert_eq!(clutter, Kind::Clutter.severities()[1], "the probe's scene is textured");
        let panned = run(&Kind::Pan.at(v).video);
        let still = run(&VideoChain { clutter, ..VideoChain::NONE });
        let moved = run(&VideoChain { clutter, shift: (v, 0.5 * v), ..VideoChain::NONE });
        let n = 64 * 64;
        let frame = |f: &[u8], i: usize| f[i * n..(i + 1) * n].to_vec();
        let frames = base.len() / n;
        // Before the middle the view is the textured scene's, untouched; from 0.2 s after it, the scene shifted by
        // (v, v/2), the same texture (the same draws).
        for i in 0..frames / 2 {
            assert!(frame(&panned, i) == frame(&still, i), "frame {i} before the turn");
        }
        for i in frames / 2 + 6..frames {
            assert!(frame(&panned, i) == frame(&moved, i), "frame {i} after the turn");
        }
        // In between, the view moves a little further each frame.
        let sad = |a: &[u8], b: &[u8]| a.iter().zip(b).map(|(x, y)| u64::from(x.abs_diff(*y))).sum::<u64>();
        let away: Vec<u64> = (frames / 2..frames / 2 + 6).map(|i| sad(&frame(&panned, i), &frame(&still, i))).collect();
        assert!(away.windows(2).all(|w| w[0] < w[1]), "the turn progresses: {away:?}");
        assert!(frame(&panned, frames / 2 + 3) != frame(&moved, frames / 2 + 3), "the turn is not a jump");
        // The turn with a scene cut: the same frames; the cut falls on the first frame at the turn's end, the one
        // from which the view equals the moved scene; no other kind has one.
        let cut = Kind::PanCut.at(v);
        assert_eq!(run(&cut.video), panned);
        assert_eq!(cut.scene_cut_frame(frames, 30), Some(frames / 2 + 6));
        assert!(frame(&panned, frames / 2 + 5) != frame(&moved, frames / 2 + 5), "the turn ends at the cut");
        assert_eq!(Kind::PanCut.at(v).scene_cut_frame(frames, 60), Some(frames / 2 + 12), "0.2 s at 60 fps");
        for k in Kind::ALL.into_iter().chain(Kind::PROBES).filter(|&k| k != Kind::PanCut) {
            assert_eq!(k.at(k.severities()[1]).scene_cut_frame(frames, 30), None, "{}", k.name());
        }
    }

    #[test]
    fn band_limit_removes_what_is_outside_the_band() {
        let sr = 22_050.0;
        let tone = |hz: f64| -> Vec<f32> {
            (0..22_050).map(|i| (0.3 * (2.0 * std::f64::consts::PI * hz * i as f64 / sr).sin()) as f32).collect()
        };
        let c = AudioChain { band: Some((300.0, 3000.0)), ..AudioChain::NONE };
        let mut rng = SplitMix64(1);
        for (hz, keep) in [(1000.0, true), (60.0, false), (9000.0, false)] {
            let mut x = tone(hz);
            let before = rms(&x[11_025..]);
            apply_audio(&mut x, &c, sr, &mut rng);
            let ratio = rms(&x[11_025..]) / before;
            assert_eq!(ratio > 0.8, keep, "{hz} Hz passes with {ratio}");
        }
    }

    #[test]
    fn augmentation_draws_are_seeded_and_respect_the_switches() {
        let a = Augment::default();
        let draws = |aug: &Augment, seed: u64| -> Vec<Perturbation> {
            let mut r = SplitMix64(seed);
            (0..200).map(|_| aug.draw(&mut r)).collect()
        };
        assert_eq!(draws(&a, 3), draws(&a, 3));
        let d = draws(&a, 3);
        let clean = d.iter().filter(|p| **p == Perturbation::NONE).count();
        assert!((20..=70).contains(&clean), "{clean} of 200 clean at share 0.8");
        assert!(d.iter().any(|p| p.video.fps.is_some()) && d.iter().any(|p| p.audio.reverb.is_some()));
        assert!(d.iter().any(|p| p.video.vignette >= 0.1) && d.iter().all(|p| p.video.vignette <= 0.85));
        // Intermittent noise: drawn with its documented ranges, every colour.
        let bursts: Vec<(Bursts, f64)> = d.iter().filter_map(|p| p.audio.bursts).collect();
        assert!(bursts.len() >= 10, "{} of 200 clips with intermittent noise", bursts.len());
        assert!(bursts.iter().all(|(b, snr)| (0.0..=30.0).contains(snr)
            && (50.0..=600.0).contains(&b.band.0)
            && (1500.0..=8000.0).contains(&b.band.1)
            && b.burst.0 >= 0.015
            && b.burst.1 <= 0.9
            && b.gap.0 >= 0.01
            && b.gap.1 <= 0.9));
        for c in [Colour::White, Colour::Pink, Colour::Brown] {
            assert!(bursts.iter().any(|(b, _)| b.colour == c), "{c:?} bursts are drawn");
        }
        let no_gain = Augment::without(&[Kind::Gain]);
        assert!(draws(&no_gain, 3).iter().all(|p| p.audio.gain_db == 0.0));
        assert!(draws(&Augment::none(), 3).iter().all(|p| *p == Perturbation::NONE));
        // The probes are never drawn, and cannot be held out (training has nothing of them to hold out). A probe's
        // fields are those its settings change and no trained kind's do (the head turn's texture is the trained
        // clutter's), found from the kinds themselves, so a new probe's field is checked without joining a list.
        let changed = |p: &Perturbation| -> Vec<String> {
            let none = fields(&Perturbation::NONE);
            fields(p).into_iter().zip(none).filter(|(a, b)| a.1 != b.1).map(|(a, _)| a.0).collect()
        };
        let set_by = |kinds: &[Kind]| -> std::collections::BTreeSet<String> {
            kinds.iter().flat_map(|k| k.severities().map(|v| changed(&k.at(v)))).flatten().collect()
        };
        let probe_fields: Vec<String> = set_by(&Kind::PROBES).difference(&set_by(&Kind::ALL)).cloned().collect();
        for f in [
            "audio.hum",
            "audio.timbre",
            "audio.agc",
            "audio.lag",
            "video.roll",
            "video.floor",
            "video.barrel",
            "video.lag",
        ] {
            assert!(probe_fields.iter().any(|g| g == f), "{f} is a probe's field: {probe_fields:?}");
        }
        assert!(!probe_fields.iter().any(|g| g == "video.clutter" || g == "audio.gain_db"), "{probe_fields:?}");
        for p in d.iter().chain(&draws(&Augment { max_kinds: 0, ..a.clone() }, 3)) {
            let set = changed(p);
            assert!(!set.iter().any(|f| probe_fields.contains(f)), "a probe's field drawn: {set:?}");
        }
        // The ball's luma: drawn, never within 30 levels of the backdrop, on both sides of it.
        let lumas: Vec<u8> = d.iter().filter_map(|p| p.video.ball_luma).collect();
        assert!(lumas.len() >= 10, "{} of 200 clips with another ball", lumas.len());
        assert!(lumas.iter().all(|&l| l <= 170 || l >= 230), "{lumas:?}");
        assert!(lumas.iter().any(|&l| l < 76) && lumas.iter().any(|&l| l > 76), "{lumas:?}");
        assert!(Augment::from_spec("without:roll").is_err() && Augment::from_spec("without:gain").is_ok());
        // At most three kinds act on a clip by default; without the limit about six do.
        let kinds = |p: &Perturbation| {
            let (a, v) = (p.audio, p.video);
            [
                a.gain_db != 0.0,
                a.noise.is_some(),
                a.reverb.is_some(),
                a.band.is_some(),
                a.clip_db.is_some(),
                v.exposure != 1.0,
                v.contrast != 1.0,
                v.gamma != 1.0,
                v.noise != 0.0,
                v.blur != 0.0,
                v.shake != 0.0,
                v.shift != (0.0, 0.0),
                v.scale != 1.0,
                v.clutter != 0.0,
                v.occlusion != 0.0,
                v.fps.is_some(),
                v.vignette != 0.0,
                a.bursts.is_some(),
                v.ball_luma.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count()
        };
        assert!(d.iter().all(|p| kinds(p) <= 3));
        assert!(d.iter().any(|p| kinds(p) == 3));
        let unlimited = draws(&Augment { max_kinds: 0, ..a.clone() }, 3);
        let perturbed: Vec<usize> = unlimited.iter().map(kinds).filter(|&k| k > 0).collect();
        let mean = perturbed.iter().sum::<usize>() as f64 / perturbed.len() as f64;
        assert!((5.5..7.5).contains(&mean), "{mean} kinds per perturbed clip without a limit");
        // Switching one kind off leaves the others' settings for the same seed as they were (without the limit,
        // which picks among the kinds drawn).
        let no_gain_unlimited = Augment { max_kinds: 0, ..no_gain.clone() };
        for (x, y) in unlimited.iter().zip(draws(&no_gain_unlimited, 3)) {
            assert_eq!(x.video, y.video);
        }
    }
}
