//! The sound drive: a frame's mel spectrum and onset strength become each tonotopic group's thalamic input `s_g`.

use crate::core::audio::FrameFeatures;
use crate::core::config::InputConfig;
use crate::core::error::ConfigError;

/// How a frame's mel spectrum and onset strength become the thalamic drive `s` (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DriveConfig {
    /// Band level (dB) that gives no drive (default −40; a model's own from [`DriveConfig::for_input`]).
    pub floor_db: f32,
    /// Band level (dB) that gives full drive (default +20; must exceed `floor_db`).
    pub ceil_db: f32,
    /// Onset strength at which the onset boost saturates (default 10; > 0).
    pub onset_ref: f32,
    /// Share β of the drive reserved for onset frames, in [0, 1] (default 0.5).
    pub onset_share: f32,
    /// Input gain on the spec's `q·I_Fast·(1 nA)` term (default 1: the spec's scale, `s` ∈ [0, 1]); in [0, 10].
    pub gain: f32,
}

impl Default for DriveConfig {
    fn default() -> Self {
        DriveConfig { floor_db: -40.0, ceil_db: 20.0, onset_ref: 10.0, onset_share: 0.5, gain: 1.0 }
    }
}

impl DriveConfig {
    /// The drive a model asks for: the defaults with the model's floor ([`InputConfig::drive_floor_db`]; −40 dB for
    /// format versions 1–3 and by default, as [`DriveConfig::default`]).
    pub fn for_input(input: &InputConfig) -> DriveConfig {
        DriveConfig { floor_db: f32::from(input.drive_floor_db), ..DriveConfig::default() }
    }

    /// Check that every parameter is finite and in its documented range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ok = |x: f32| x.is_finite();
        if !(ok(self.floor_db) && ok(self.ceil_db) && self.ceil_db > self.floor_db) {
            return Err(ConfigError::BadParameter("cortex.drive.floor_db/ceil_db"));
        }
        if !(ok(self.onset_ref) && self.onset_ref > 0.0) {
            return Err(ConfigError::BadParameter("cortex.drive.onset_ref"));
        }
        if !(ok(self.onset_share) && (0.0..=1.0).contains(&self.onset_share)) {
            return Err(ConfigError::BadParameter("cortex.drive.onset_share"));
        }
        if !(ok(self.gain) && (0.0..=10.0).contains(&self.gain)) {
            return Err(ConfigError::BadParameter("cortex.drive.gain"));
        }
        Ok(())
    }
}

/// First cell of group `g` of a population of `n` split into `groups` blocks.
#[inline]
pub(super) fn group_start(g: usize, n: usize, groups: usize) -> usize {
    g * n / groups
}

/// The frame's drive `s_g` for every group into `s` (one value in [0, 1] per group; see `docs/cortex.md`). NaN-safe:
/// a NaN mel bin counts as silence, +∞ dB is capped at +200 dB, a NaN or negative onset is no onset. The GPU runtime
/// calls this same function, so both sides drive the network with the same bits.
pub(crate) fn band_drive(d: &DriveConfig, frame: &FrameFeatures, s: &mut [f32]) {
    let mel = frame.mel_db;
    let m = mel.len();
    let groups = s.len();
    let onset = if frame.onset > 0.0 {
        (frame.onset / d.onset_ref).min(1.0)
    } else {
        0.0 // also NaN
    };
    let scale = 1.0 - d.onset_share + d.onset_share * onset;
    let span = d.ceil_db - d.floor_db;
    for (g, sg) in s.iter_mut().enumerate() {
        let (a, b) = (group_start(g, m, groups), group_start(g + 1, m, groups));
        let mut power = 0.0f32;
        for &db in &mel[a..b] {
            if db > -200.0 {
                // 10^(dB/10), dB capped at +200 (NaN and −∞ fail the test above: silence).
                power += libm::expf(db.min(200.0) * (core::f32::consts::LN_10 / 10.0));
            }
        }
        let x = if b > a && power > 0.0 {
            let level = 10.0 * libm::log10f(power / (b - a) as f32);
            ((level - d.floor_db) / span).clamp(0.0, 1.0)
        } else {
            0.0
        };
        // level is finite here (power ∈ (0, ∞]; +∞ clamps to 1), so x is in [0, 1].
        *sg = if x.is_nan() { 0.0 } else { x * scale };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One band (of one mel bin) at `db`, no onset: its drive.
    fn drive_at(d: &DriveConfig, db: f32) -> f32 {
        let mel = [db];
        let frame = FrameFeatures { index: 0, rms: 0.1, pitch_mean: 0.0, tonnetz: [0.0; 6], onset: 0.0, mel_db: &mel };
        let mut s = [0.0f32];
        band_drive(d, &frame, &mut s);
        s[0]
    }

    #[test]
    fn the_model_s_floor_sets_where_the_drive_starts() {
        let legacy = DriveConfig::for_input(&InputConfig::OFF);
        assert_eq!(legacy, DriveConfig::default(), "format 1–3 models drive as before");
        assert_eq!(DriveConfig::for_input(&InputConfig::default()), legacy, "and so does the default");
        let (range, floor_db) = crate::core::config::SOUND_FLOOR;
        let floor = DriveConfig::for_input(&InputConfig {
            onset_range_db: range,
            drive_floor_db: floor_db,
            ..InputConfig::default()
        });
        assert_eq!(floor.floor_db, -13.0);
        // A band 20 dB under the loudest a clip reaches (about +27 dB after loudness normalisation) is driven by
        // the old floor, and not at all by the new one; at the ceiling both give the same full drive.
        let half = 0.5; // no onset: a sounding band drives at 1 − β
        assert!((drive_at(&legacy, -20.0) - half * 20.0 / 60.0).abs() < 1e-6);
        assert_eq!(drive_at(&floor, -20.0), 0.0);
        assert_eq!(drive_at(&floor, -13.0), 0.0);
        assert!((drive_at(&floor, 3.5) - half * 0.5).abs() < 1e-6);
        assert_eq!(drive_at(&floor, 20.0), drive_at(&legacy, 20.0));
    }
}
