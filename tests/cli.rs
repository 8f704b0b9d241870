//! The command line as a user meets it: exit codes, messages, and the shapes of its outputs.

mod common;
use common::command;

fn avf(args: &[&str]) -> (i32, String, String) {
    let out = command().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("avf-bel-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn init_then_inspect_round_trip() {
    let f = tmp("tiny.avfw");
    let (code, out, err) =
        avf(&["init", "--config", "tiny", "--precision", "int8", "--seed", "4", "--out", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("UNTRAINED"));
    let (code, out, err) = avf(&["inspect", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for needle in ["model hash", "visual.v1.weight", "i8", "per-channel scales", "bel.orbitofrontal", "parameters"] {
        assert!(out.contains(needle), "inspect output lacks `{needle}`:\n{out}");
    }
}

#[test]
fn the_shipped_weights_inspect_cleanly() {
    let f = concat!(env!("CARGO_MANIFEST_DIR"), "/weights/default.avfw");
    let (code, out, err) = avf(&["inspect", f]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("CORnet-Z 5x64x64"), "{out}");
}

#[test]
fn bad_files_and_arguments_exit_non_zero_with_a_message() {
    let f = tmp("bad.avfw");
    std::fs::write(&f, b"AVFBELW\0\x01\x00\x00\x00\xff\xff\x00\x00garbage").unwrap();
    let (code, _, err) = avf(&["inspect", f.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("truncated"), "{err}");
    std::fs::write(&f, b"not a weights file at all").unwrap();
    let (code, _, err) = avf(&["inspect", f.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("magic"), "{err}");
    let (code, _, err) = avf(&["inspect", "/definitely/not/here.avfw"]);
    assert_eq!(code, 2);
    assert!(err.contains("No such file"), "{err}");
    let (code, _, err) = avf(&["frobnicate"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown command"), "{err}");
    let (code, _, err) = avf(&["bench", "--precision", "int4"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown precision"), "{err}");
    let (code, _, err) = avf(&["bench", "--size", "8"]);
    assert_eq!(code, 2);
    assert!(err.contains("16"), "{err}");
    let (code, _, err) = avf(&["bench", "--iters", "0"]);
    assert_eq!(code, 2);
    assert!(err.contains("--iters"), "{err}");
    let (code, _, err) = avf(&["init"]);
    assert_eq!(code, 2);
    assert!(err.contains("--out"), "{err}");
}

#[test]
fn bench_prints_one_json_line_with_the_median() {
    let (code, out, err) =
        avf(&["bench", "--stage", "visual", "--size", "32", "--channels", "2", "--iters", "3", "--json"]);
    assert_eq!(code, 0, "{err}");
    let line = out.trim();
    assert_eq!(line.lines().count(), 1);
    assert!(line.starts_with('{') && line.ends_with('}'));
    let median: f64 = line.split("\"median_ms\":").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert!(median > 0.0);
}

#[test]
fn run_reports_emotions_epp_and_explanation_as_json() {
    let (code, out, err) = avf(&["run", "--stimulus", "happy", "--seconds", "1", "--json"]);
    assert_eq!(code, 0, "{err}");
    let line = out.trim();
    assert_eq!(line.lines().count(), 1);
    for key in
        ["\"epp\":", "\"emotions\":{\"angry\":", "\"peaceful\":", "\"scared\":", "\"amygdala\":", "\"orbitofrontal\":"]
    {
        assert!(line.contains(key), "missing {key}: {line}");
    }
    assert!(line.contains("\"modalities\":\"audio+video\""));
    let epp: f32 = line.split("\"epp\":").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert!((0.0..=1.0).contains(&epp));
}

#[test]
fn run_with_one_modality_says_so_and_bad_inputs_are_errors() {
    let d = tmp("clip");
    let (code, _, err) = avf(&["synth", "--stimulus", "sad", "--seconds", "1", "--out", d.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let wav = d.join("audio.wav");
    let y4m = d.join("video.y4m");
    let (code, out, err) = avf(&["run", "--audio", wav.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("audio only") && !out.contains("UNTRAINED"), "{out}");
    let (code, out, _) = avf(&["run", "--video", y4m.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"modalities\":\"video only\""));
    let (code, _, err) = avf(&["run", "--audio", y4m.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("WAV"), "{err}");
    let (code, _, err) = avf(&["run"]);
    assert_eq!(code, 2);
    assert!(err.contains("nothing to run"), "{err}");
    let (code, _, err) = avf(&["run", "--stimulus", "nope"]);
    assert_eq!(code, 2);
    assert!(!err.is_empty());
}
