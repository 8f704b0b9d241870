//! Several draws of `avf-bel eval` side by side, and their means (`avf-bel draws`).
//!
//! One draw of renders moves the figures by about as much as the smaller perturbations cost (E35, E41 in
//! `docs/eval/experiments.md`), so the targets are judged on the mean of three draws (`eval --draw 0/1/2`). This
//! module reads what each draw's runs wrote (`robustness.json`, `probes.json`), checks that the runs of one draw agree
//! on what they share, and writes one table of every figure per draw with its mean.
//!
//! A draw may be spread over several runs (a later run adding a probe, say): their clean figures must be the same to
//! the digit, since the same draw renders the same clean clips, and a perturbation found in two of them must have the
//! same figures, or the runs were not of one model and one draw, and the summary refuses them.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::augment::Kind;

/// Why a draw's runs could not be summarised.
#[derive(Debug)]
#[non_exhaustive]
pub enum DrawsError {
    /// No draw, or a draw with no run.
    Empty,
    /// A run's folder has neither `robustness.json` nor `probes.json`.
    NoResults(PathBuf),
    /// A file could not be read.
    Read(PathBuf, std::io::Error),
    /// A file is not JSON, or not the evaluation's: the file and what is wrong.
    Format(PathBuf, String),
    /// Two runs of one draw disagree on a figure they share: the draw (0-based, in the order given), the figure and
    /// the two values.
    Disagree(usize, String, f64, f64),
}

impl fmt::Display for DrawsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DrawsError::Empty => write!(f, "no draw to summarise (each --draw names one or more eval --out folders)"),
            DrawsError::NoResults(p) => {
                write!(f, "{}: neither robustness.json nor probes.json (run eval with --robustness)", p.display())
            }
            DrawsError::Read(p, e) => write!(f, "{}: {e}", p.display()),
            DrawsError::Format(p, why) => write!(f, "{}: not an evaluation's results: {why}", p.display()),
            DrawsError::Disagree(d, what, a, b) => write!(
                f,
                "the runs of draw {} disagree on {what} ({a} against {b}): not one model's runs of one draw",
                d + 1
            ),
        }
    }
}

impl std::error::Error for DrawsError {}

/// Profile MAE, EPP MAE and mean correlation of one condition, as `eval` writes them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figures {
    /// Emotion-profile MAE against the consensus.
    pub profile_mae: f64,
    /// EPP MAE.
    pub epp_mae: f64,
    /// Mean Pearson r over the emotions.
    pub mean_r: f64,
}

/// One perturbation at one severity.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Its kind's name (`talker`, `flicker`, …).
    pub kind: String,
    /// Its severity, in the kind's unit.
    pub severity: f64,
    /// 1 mild, 2 moderate, 3 severe.
    pub level: u32,
    /// What the model scored under it.
    pub figures: Figures,
}

/// What one draw's runs found.
#[derive(Clone, Debug, PartialEq)]
pub struct Draw {
    /// The clean renders the perturbations are compared with (`clean`).
    pub clean: Figures,
    /// Every clean test render (`clean_all_renders`): the clean target's figure.
    pub clean_all: Figures,
    /// The model with one sense missing, by name.
    pub single: Vec<(String, Figures)>,
    /// The perturbations, in the order first found.
    pub rows: Vec<Row>,
}

fn figures(v: &Value, what: &str) -> Result<Figures, String> {
    let num = |k: &str| v.get(k).and_then(Value::as_f64).ok_or_else(|| format!("{what}: no number {k:?}"));
    Ok(Figures { profile_mae: num("profile_mae")?, epp_mae: num("epp_mae")?, mean_r: num("mean_r")? })
}

/// Parse one results file (`robustness.json` or `probes.json`, the format of `eval`'s `robustness_json`).
pub fn parse_results(text: &str) -> Result<Draw, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let clean = figures(v.get("clean").ok_or("no \"clean\"")?, "clean")?;
    let clean_all = figures(v.get("clean_all_renders").ok_or("no \"clean_all_renders\"")?, "clean_all_renders")?;
    let single = v
        .get("single_sense")
        .and_then(Value::as_object)
        .ok_or("no object \"single_sense\"")?
        .iter()
        .map(|(name, x)| Ok((name.clone(), figures(x, name)?)))
        .collect::<Result<Vec<_>, String>>()?;
    let rows = v
        .get("perturbations")
        .and_then(Value::as_array)
        .ok_or("no array \"perturbations\"")?
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let what = format!("perturbation {i}");
            let kind = x.get("kind").and_then(Value::as_str).ok_or_else(|| format!("{what}: no \"kind\""))?;
            let severity =
                x.get("severity").and_then(Value::as_f64).ok_or_else(|| format!("{what}: no \"severity\""))?;
            let level = x
                .get("level")
                .and_then(Value::as_u64)
                .filter(|l| (1..=3).contains(l))
                .ok_or_else(|| format!("{what}: no \"level\" 1–3"))?;
            Ok(Row { kind: kind.to_string(), severity, level: level as u32, figures: figures(x, &what)? })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Draw { clean, clean_all, single, rows })
}

impl Draw {
    /// Merge the results of several runs of one draw (`draw`: its index, for messages): they must agree on
    /// everything they share.
    pub fn merge(draw: usize, parts: Vec<Draw>) -> Result<Draw, DrawsError> {
        let mut parts = parts.into_iter();
        let mut out = parts.next().ok_or(DrawsError::Empty)?;
        let agree = |what: &str, a: &Figures, b: &Figures| -> Result<(), DrawsError> {
            for (name, x, y) in [
                ("profile MAE", a.profile_mae, b.profile_mae),
                ("EPP MAE", a.epp_mae, b.epp_mae),
                ("mean r", a.mean_r, b.mean_r),
            ] {
                if x != y {
                    return Err(DrawsError::Disagree(draw, format!("{what}'s {name}"), x, y));
                }
            }
            Ok(())
        };
        for p in parts {
            agree("clean", &out.clean, &p.clean)?;
            agree("clean, all test renders", &out.clean_all, &p.clean_all)?;
            for (name, f) in p.single {
                match out.single.iter().find(|s| s.0 == name) {
                    Some(s) => agree(&name, &s.1, &f)?,
                    None => out.single.push((name, f)),
                }
            }
            for r in p.rows {
                match out.rows.iter().find(|s| s.kind == r.kind && s.level == r.level) {
                    Some(s) => agree(&format!("{} at level {}", r.kind, r.level), &s.figures, &r.figures)?,
                    None => out.rows.push(r),
                }
            }
        }
        Ok(out)
    }

    /// Read one draw from the `eval --out` folders of its runs (each with `robustness.json`, `probes.json` or both).
    pub fn read(draw: usize, folders: &[PathBuf]) -> Result<Draw, DrawsError> {
        let mut parts = Vec::new();
        for folder in folders {
            let mut found = false;
            for name in ["robustness.json", "probes.json"] {
                let path = folder.join(name);
                if !path.exists() {
                    continue;
                }
                found = true;
                let text = std::fs::read_to_string(&path).map_err(|e| DrawsError::Read(path.clone(), e))?;
                parts.push(parse_results(&text).map_err(|why| DrawsError::Format(path.clone(), why))?);
            }
            if !found {
                return Err(DrawsError::NoResults(folder.clone()));
            }
        }
        Draw::merge(draw, parts)
    }
}

/// The mean of the values present, with how many there were.
fn mean(values: &[Option<f64>]) -> Option<(f64, usize)> {
    let got: Vec<f64> = values.iter().flatten().copied().collect();
    (!got.is_empty()).then(|| (got.iter().sum::<f64>() / got.len() as f64, got.len()))
}

/// The summary of `draws` as Markdown: the clean, EPP and one-sense figures per draw and their mean; then every
/// perturbation's cost (its profile MAE less its draw's clean one) per draw, with the mean over the draws that ran it
/// and the largest mean cost at moderate severity, of the trained kinds and of the probes. `names` label the draws'
/// columns and `command` says how the table was made.
pub fn markdown(draws: &[Draw], names: &[String], command: &str) -> Result<String, DrawsError> {
    if draws.is_empty() {
        return Err(DrawsError::Empty);
    }
    let n = draws.len();
    let mut s = String::new();
    let head = |s: &mut String, first: &str| {
        let _ = writeln!(s, "| {first} | {} | mean |", names.join(" | "));
        let _ = writeln!(s, "|---|{}---|", "---|".repeat(n));
    };
    let _ = writeln!(
        s,
        "The same model's figures on {n} draws of renders (`eval --draw`), each draw's column and the mean over them \
         (the targets are judged on the mean). Made by `{command}`.\n"
    );
    head(&mut s, "figure");
    let line = |s: &mut String, what: &str, values: Vec<Option<f64>>, digits: usize| {
        let cells: Vec<String> =
            values.iter().map(|v| v.map_or("—".to_string(), |v| format!("{v:.digits$}"))).collect();
        let m = mean(&values).map_or("—".to_string(), |(m, _)| format!("**{m:.digits$}**", digits = digits + 1));
        let _ = writeln!(s, "| {what} | {} | {m} |", cells.join(" | "));
    };
    line(
        &mut s,
        "clean fused profile MAE (all test renders)",
        draws.iter().map(|d| Some(d.clean_all.profile_mae)).collect(),
        4,
    );
    line(&mut s, "clean EPP MAE (all test renders)", draws.iter().map(|d| Some(d.clean_all.epp_mae)).collect(), 4);
    line(&mut s, "clean mean r (all test renders)", draws.iter().map(|d| Some(d.clean_all.mean_r)).collect(), 3);
    let mut singles: Vec<&str> = Vec::new();
    for d in draws {
        for (name, _) in &d.single {
            if !singles.contains(&name.as_str()) {
                singles.push(name);
            }
        }
    }
    for name in singles {
        let get = |f: fn(&Figures) -> f64| {
            draws.iter().map(|d| d.single.iter().find(|x| x.0 == name).map(|x| f(&x.1))).collect::<Vec<_>>()
        };
        line(&mut s, &format!("{name}: profile MAE"), get(|f| f.profile_mae), 4);
        line(&mut s, &format!("{name}: EPP MAE"), get(|f| f.epp_mae), 4);
    }
    line(
        &mut s,
        "clean profile MAE (the perturbations' renders)",
        draws.iter().map(|d| Some(d.clean.profile_mae)).collect(),
        4,
    );

    // Every perturbation and level, in the order first found.
    let mut keys: Vec<(&str, u32, f64)> = Vec::new();
    for d in draws {
        for r in &d.rows {
            if !keys.iter().any(|k| k.0 == r.kind && k.1 == r.level) {
                keys.push((&r.kind, r.level, r.severity));
            }
        }
    }
    let _ =
        writeln!(s, "\nEach perturbation's cost: its profile MAE less its draw's clean one (on the same renders).\n");
    let _ = writeln!(s, "| perturbation | severity | {} | mean (draws) |", names.join(" | "));
    let _ = writeln!(s, "|---|---|{}---|", "---|".repeat(n));
    let mut worst: [Option<(f64, &str)>; 2] = [None, None];
    for &(kind, level, severity) in &keys {
        let costs: Vec<Option<f64>> = draws
            .iter()
            .map(|d| {
                let r = d.rows.iter().find(|r| r.kind == kind && r.level == level)?;
                Some(r.figures.profile_mae - d.clean.profile_mae)
            })
            .collect();
        let cells: Vec<String> = costs.iter().map(|v| v.map_or("—".to_string(), |v| format!("{v:+.4}"))).collect();
        let m = mean(&costs);
        let mean_cell = m.map_or("—".to_string(), |(m, k)| format!("{m:+.4} ({k})"));
        let probe = Kind::from_name(kind).is_some_and(Kind::is_probe);
        let tag = match level {
            1 => "mild",
            2 => "moderate",
            _ => "severe",
        };
        let _ = writeln!(
            s,
            "| {kind}{} | {tag}, {severity} | {} | {mean_cell} |",
            if probe { " (probe)" } else { "" },
            cells.join(" | ")
        );
        if let (2, Some((m, k))) = (level, m) {
            let slot = &mut worst[usize::from(probe)];
            // Only a kind every draw ran: a mean over fewer draws is not the mean the targets take.
            if k == n && slot.is_none_or(|(w, _)| m > w) {
                *slot = Some((m, kind));
            }
        }
    }
    let _ = writeln!(s);
    for (what, w) in ["trained kinds", "probes"].iter().zip(worst) {
        if let Some((m, kind)) = w {
            let _ = writeln!(
                s,
                "Largest mean cost at moderate severity among the {what} run on every draw: {kind} {m:+.4}."
            );
        }
    }
    Ok(s)
}

/// The draws' column names: each draw's folders as given, joined by " + ".
pub fn column_names(draws: &[Vec<PathBuf>]) -> Vec<String> {
    draws.iter().map(|folders| folders.iter().map(|p| display(p)).collect::<Vec<_>>().join(" + ")).collect()
}

fn display(p: &Path) -> String {
    p.to_string_lossy().trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(clean: f64, rows: &[(&str, u32, f64)]) -> String {
        let f = |mae: f64| format!("{{\"profile_mae\":{mae},\"epp_mae\":{},\"mean_r\":0.85}}", mae / 2.0);
        let rows: Vec<String> = rows
            .iter()
            .map(|(k, l, mae)| {
                format!("{{\"kind\":\"{k}\",\"severity\":{l},\"level\":{l},\"profile_mae\":{mae},\"epp_mae\":0.01,\"mean_r\":0.8}}")
            })
            .collect();
        format!(
            "{{\"clean\":{},\"clean_all_renders\":{},\"single_sense\":{{\"the model, audio only\":{}}},\"perturbations\":[{}]}}",
            f(clean),
            f(clean - 0.001),
            f(clean + 0.002),
            rows.join(",")
        )
    }

    #[test]
    fn what_eval_writes_is_what_draws_reads() {
        // The reader against the writer itself, so a change to `robustness_json` that the reader does not follow fails.
        use super::super::run::{robustness_json, Metrics, RobustnessRow};
        let m = |mae: f64| Metrics { profile_mae: mae, epp_mae: mae / 3.0, mean_r: 0.81234, ..Metrics::default() };
        let row =
            RobustnessRow { kind: Kind::SoundLag, severity: 0.25, level: 2, metrics: m(0.051234), predictions: vec![] };
        let text = robustness_json(&m(0.047), &m(0.046), &[("the model, audio only", m(0.0475))], &[row]);
        let d = parse_results(&text).unwrap();
        assert_eq!(d.clean, Figures { profile_mae: 0.047, epp_mae: 0.01567, mean_r: 0.8123 });
        assert_eq!(d.clean_all.profile_mae, 0.046);
        assert_eq!(
            d.single,
            [("the model, audio only".to_string(), Figures { profile_mae: 0.0475, epp_mae: 0.01583, mean_r: 0.8123 })]
        );
        assert_eq!(d.rows.len(), 1);
        let r = &d.rows[0];
        assert_eq!((r.kind.as_str(), r.severity, r.level, r.figures.profile_mae), ("sound-lag", 0.25, 2, 0.05123));
    }

    #[test]
    fn the_means_are_over_the_draws_that_ran_each_figure() {
        let d = |clean: f64, rows: &[(&str, u32, f64)]| parse_results(&results(clean, rows)).unwrap();
        let draws = [
            d(0.040, &[("talker", 2, 0.046), ("sound-lag", 2, 0.041)]),
            d(0.050, &[("talker", 2, 0.052)]),
            d(0.045, &[("talker", 2, 0.050)]),
        ];
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let md = markdown(&draws, &names, "avf-bel draws …").unwrap();
        // Clean over all renders: 0.039, 0.049, 0.044, mean 0.044.
        assert!(
            md.contains("| clean fused profile MAE (all test renders) | 0.0390 | 0.0490 | 0.0440 | **0.04400** |"),
            "{md}"
        );
        assert!(md.contains("| the model, audio only: profile MAE | 0.0420 | 0.0520 | 0.0470 | **0.04700** |"), "{md}");
        // The talker costs +0.006, +0.002, +0.005 against each draw's own clean: mean +0.0043 over 3.
        assert!(md.contains("| talker | moderate, 2 | +0.0060 | +0.0020 | +0.0050 | +0.0043 (3) |"), "{md}");
        // The sound's lag ran on one draw only: its mean says so, and it is not a candidate for the largest cost.
        assert!(md.contains("| sound-lag (probe) | moderate, 2 | +0.0010 | — | — | +0.0010 (1) |"), "{md}");
        assert!(md.contains("among the trained kinds run on every draw: talker +0.0043."), "{md}");
        assert!(!md.contains("among the probes"), "{md}");
        assert!(matches!(markdown(&[], &[], ""), Err(DrawsError::Empty)));
    }

    #[test]
    fn runs_of_one_draw_merge_only_when_they_agree() {
        let a = parse_results(&results(0.040, &[("talker", 2, 0.046)])).unwrap();
        let b = parse_results(&results(0.040, &[("talker", 2, 0.046), ("sound-lag", 1, 0.041)])).unwrap();
        let m = Draw::merge(0, vec![a.clone(), b]).unwrap();
        assert_eq!(m.rows.len(), 2);
        assert_eq!(m.rows[1].kind, "sound-lag");
        // Another clean figure: another draw or another model.
        let other = parse_results(&results(0.041, &[])).unwrap();
        let e = Draw::merge(2, vec![a.clone(), other]).unwrap_err();
        assert!(matches!(e, DrawsError::Disagree(2, _, _, _)), "{e}");
        assert!(e.to_string().starts_with("the runs of draw 3 disagree on clean's profile MAE"), "{e}");
        // The same perturbation with another figure.
        let c = parse_results(&results(0.040, &[("talker", 2, 0.047)])).unwrap();
        let e = Draw::merge(0, vec![a, c]).unwrap_err();
        assert!(e.to_string().contains("talker at level 2"), "{e}");
    }

    #[test]
    fn malformed_results_are_refused_with_the_reason() {
        let good = results(0.040, &[("talker", 2, 0.046)]);
        assert!(parse_results(&good).is_ok());
        // Every truncation of a valid file is refused, and none panics.
        for end in 0..good.len() {
            assert!(parse_results(&good[..end]).is_err(), "accepted {:?}", &good[..end]);
        }
        for (text, why) in [
            ("[]", "no \"clean\""),
            (&good.replace("\"level\":2", "\"level\":7"), "level"),
            (&good.replace("\"epp_mae\":0.01,", ""), "perturbation 0: no number \"epp_mae\""),
            (&good.replace("\"single_sense\"", "\"single\""), "single_sense"),
        ] {
            let e = parse_results(text).unwrap_err();
            assert!(e.contains(why), "{e} should say {why}");
        }
    }

    #[test]
    fn folders_without_results_or_with_bad_ones_are_named() {
        let dir = std::env::temp_dir().join(format!("avf-bel-draws-{}", std::process::id()));
        let (empty, bad) = (dir.join("empty"), dir.join("bad"));
        std::fs::create_dir_all(&empty).unwrap();
        std::fs::create_dir_all(&bad).unwrap();
        std::fs::write(bad.join("probes.json"), "{\"clean\":").unwrap();
        let e = Draw::read(0, std::slice::from_ref(&empty)).unwrap_err();
        assert!(matches!(&e, DrawsError::NoResults(p) if *p == empty), "{e}");
        let e = Draw::read(0, std::slice::from_ref(&bad)).unwrap_err();
        assert!(matches!(&e, DrawsError::Format(p, _) if *p == bad.join("probes.json")), "{e}");
        assert!(matches!(Draw::read(0, &[]), Err(DrawsError::Empty)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
