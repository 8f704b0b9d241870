//! Untrained weights say so, end to end: a file from `avf-bel init` is marked untrained in its header, and `run`
//! warns on stderr and reports `"untrained": true` in its JSON (read back with a JSON parser, not by matching text);
//! the built-in trained model says `false` and does not warn; `serve` warns too.

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

fn init_file(name: &str) -> std::path::PathBuf {
    let f = common::scratch_dir("untrained").join(name);
    let (code, _, err) = avf(&["init", "--config", "tiny", "--seed", "3", "--out", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    f
}

#[test]
fn run_on_an_init_file_warns_and_its_json_says_untrained() {
    let f = init_file("seeded.avfw");
    let w = std::fs::read(&f).unwrap();
    let buf = avf_bel::weights::writer::AlignedBytes::new(&w);
    assert_eq!(avf_bel::Weights::parse(buf.as_bytes()).unwrap().trained(), Some(false), "the header marks it");
    let (code, out, err) =
        avf(&["run", "--weights", f.to_str().unwrap(), "--stimulus", "happy", "--seconds", "0.5", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["untrained"], serde_json::Value::Bool(true), "{v}");
    assert!(err.contains("UNTRAINED"), "no warning on stderr: {err:?}");
}

#[test]
fn the_built_in_model_is_trained_and_does_not_warn() {
    let (code, out, err) = avf(&["run", "--stimulus", "happy", "--seconds", "0.5", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["untrained"], serde_json::Value::Bool(false), "{v}");
    assert!(v["epp"].as_f64().is_some_and(|e| (0.0..=1.0).contains(&e)), "{v}");
    assert!(!err.contains("UNTRAINED"), "{err}");
}

#[test]
fn serve_warns_about_an_init_file() {
    let f = init_file("served.avfw");
    let (code, _, err) = avf(&[
        "serve",
        "--weights",
        f.to_str().unwrap(),
        "--audio",
        "synth://happy",
        "--video",
        "synth://happy",
        "--json",
        "--duration",
        "0.5",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("UNTRAINED"), "no warning on stderr: {err:?}");
}
