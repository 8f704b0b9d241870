//! The study's data as training targets: per stimulus, its slider values and the consensus emotion profile.

use crate::host::stimuli::Params;
use std::collections::BTreeMap;
use std::path::Path;

/// One stimulus with its consensus (participant-mean) ratings.
#[derive(Clone, Debug)]
pub struct StimulusRow {
    /// `stimulus_id`.
    pub id: u32,
    /// Name (e.g. `happy_scared_50`).
    pub name: String,
    /// Slider values.
    pub params: Params,
    /// Mean music rating / 127 per emotion (angry, happy, peaceful, sad, scared).
    pub music: [f64; 5],
    /// Mean animation rating / 127 per emotion.
    pub animation: [f64; 5],
    /// Standard error of [`StimulusRow::fused`] per emotion, from the raters' spread: `½·√(s²_m/n_m + s²_a/n_a)`
    /// with each modality's sample variance `s²` over its `n` raters. The consensus is itself a 20-rater sample.
    pub fused_se: [f64; 5],
}

impl StimulusRow {
    /// The fused target: mean of the music and animation profiles (the paper's audio-visual target).
    pub fn fused(&self) -> [f64; 5] {
        let mut y = [0.0; 5];
        for i in 0..5 {
            y[i] = 0.5 * (self.music[i] + self.animation[i]);
        }
        y
    }

    /// The study's kind of stimulus, read from its name as `stimuli.csv` spells them: `prototype` (one emotion's
    /// settings, e.g. `sad`), `mix` (`A_B_p`: `p` % of the way from emotion A's settings to B's) or `special` (any
    /// other, e.g. `search_one`).
    pub fn kind(&self) -> &'static str {
        let emotion = |s: &str| crate::EMOTIONS.contains(&s);
        match self.name.split('_').collect::<Vec<_>>()[..] {
            [e] if emotion(e) => "prototype",
            [a, b, p] if emotion(a) && emotion(b) && !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) => "mix",
            _ => "special",
        }
    }
}

/// Load `paired.csv`: consensus profiles per stimulus (an `angry` cell marked corrupt is left out of its mean).
pub fn load(data: &Path) -> Result<Vec<StimulusRow>, String> {
    let path = data.join("paired.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("paired.csv is empty")?.split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).ok_or(format!("paired.csv: no column `{n}`"));
    let emotions = crate::EMOTIONS;
    let mut music_cols = [0; 5];
    let mut anim_cols = [0; 5];
    for i in 0..5 {
        music_cols[i] = col(&format!("music_{}", emotions[i]))?;
        anim_cols[i] = col(&format!("anim_{}", emotions[i]))?;
    }
    let (c_id, c_name) = (col("stimulus_id")?, col("stimulus")?);
    let slider_cols = [col("bpm")?, col("jitter")?, col("consonance")?, col("bigsmall")?, col("updown")?];
    let (m_bad, a_bad) = (col("music_angry_cell_was_corrupt")?, col("anim_angry_cell_was_corrupt")?);
    struct Acc {
        name: String,
        params: [f64; 5],
        sum: [[f64; 5]; 2],
        sq: [[f64; 5]; 2],
        n: [[f64; 5]; 2],
    }
    let mut by: BTreeMap<u32, Acc> = BTreeMap::new();
    for (ln, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        let num = |i: usize| -> Result<f64, String> {
            f.get(i).and_then(|v| v.parse().ok()).ok_or(format!("paired.csv line {}: bad number in column {i}", ln + 2))
        };
        let id = num(c_id)? as u32;
        let mut params = [0.0; 5];
        for (p, &c) in params.iter_mut().zip(&slider_cols) {
            *p = num(c)?;
        }
        let acc = by.entry(id).or_insert_with(|| Acc {
            name: f.get(c_name).unwrap_or(&"").to_string(),
            params,
            sum: [[0.0; 5]; 2],
            sq: [[0.0; 5]; 2],
            n: [[0.0; 5]; 2],
        });
        for (m, (cols, bad)) in [(music_cols, m_bad), (anim_cols, a_bad)].iter().enumerate() {
            let corrupt = num(*bad)? != 0.0;
            for e in 0..5 {
                if e == 0 && corrupt {
                    continue;
                }
                let v = num(cols[e])? / 127.0;
                acc.sum[m][e] += v;
                acc.sq[m][e] += v * v;
                acc.n[m][e] += 1.0;
            }
        }
    }
    Ok(by
        .into_iter()
        .map(|(id, a)| {
            let mean = |m: usize| {
                let mut out = [0.0; 5];
                for e in 0..5 {
                    out[e] = a.sum[m][e] / a.n[m][e].max(1.0);
                }
                out
            };
            // Sample variance of the mean of modality `m`'s ratings (0 with fewer than two raters).
            let var_of_mean = |m: usize, e: usize| {
                let n = a.n[m][e];
                if n < 2.0 {
                    return 0.0;
                }
                let mean = a.sum[m][e] / n;
                ((a.sq[m][e] - n * mean * mean) / (n - 1.0)).max(0.0) / n
            };
            let fused_se = core::array::from_fn(|e| 0.5 * (var_of_mean(0, e) + var_of_mean(1, e)).sqrt());
            StimulusRow {
                id,
                name: a.name,
                params: Params {
                    bpm: a.params[0],
                    jitter: a.params[1],
                    consonance: a.params[2],
                    bigsmall: a.params[3],
                    updown: a.params[4],
                },
                music: mean(0),
                animation: mean(1),
                fused_se,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> StimulusRow {
        StimulusRow {
            id: 0,
            name: name.into(),
            params: Params { bpm: 120.0, jitter: 0.0, consonance: 0.0, bigsmall: 0.0, updown: 0.0 },
            music: [0.0; 5],
            animation: [0.0; 5],
            fused_se: [0.0; 5],
        }
    }

    #[test]
    fn kinds_follow_the_study_names() {
        for (name, kind) in [
            ("sad", "prototype"),
            ("happy", "prototype"),
            ("happy_scared_50", "mix"),
            ("angry_peaceful_25", "mix"),
            ("search_one", "special"),
            ("biggest_gap", "special"),
            ("happy_sad", "special"),
            ("happy_sad_", "special"),
            ("happy_sad_5x", "special"),
            ("joyful", "special"),
            ("", "special"),
        ] {
            assert_eq!(named(name).kind(), kind, "{name}");
        }
    }
}
