//! The command line as a user meets it: `--version`, `--help` everywhere, `--opt=value`, did-you-mean on typos,
//! shell completions, exit codes (0 ok, 1 runtime failure, 2 usage error), one JSON schema, log levels and journald
//! priorities, and the shapes of its outputs. Every test runs the real binary.

mod common;
use avf_bel::EMOTIONS;
use common::command;
use serde_json::Value;
use std::process::{Command, Stdio};

fn output(c: &mut Command) -> (i32, String, String) {
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

// Clips here are half a second: no check depends on the length, and CI also runs this file for aarch64 under qemu,
// where `run` costs about 18 s per second of input.
fn avf(args: &[&str]) -> (i32, String, String) {
    output(command().args(args))
}

fn tmp(name: &str) -> std::path::PathBuf {
    common::scratch_dir("cli").join(name)
}

fn json(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// The shared shape of every emotions object: exactly the five names, in the model's order, numbers 0–1.
fn assert_emotions(v: &Value) {
    let m = v.as_object().unwrap_or_else(|| panic!("emotions is not an object: {v}"));
    assert_eq!(m.keys().map(String::as_str).collect::<Vec<_>>(), EMOTIONS.to_vec(), "{v}");
    for x in m.values() {
        assert!(x.as_f64().is_some(), "{v}");
    }
}

fn assert_hash(v: &Value) {
    let h = v.as_str().unwrap();
    assert!(h.len() == 16 && h.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{h}");
}

#[test]
fn version_and_help_work_everywhere() {
    let (code, out, err) = avf(&["--version"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), format!("avf-bel {}", env!("CARGO_PKG_VERSION")));
    let (code, out, _) = avf(&["--help"]);
    assert_eq!(code, 0);
    for needle in ["run", "serve", "completions", "Exit codes: 0 success, 1 runtime failure", "2 usage error"] {
        assert!(out.contains(needle), "top-level help lacks `{needle}`:\n{out}");
    }
    let subcommands =
        ["run", "train", "eval", "export", "inspect", "init", "synth", "bench", "serve", "read", "completions"];
    for sub in subcommands {
        let (code, out, err) = avf(&[sub, "--help"]);
        assert_eq!(code, 0, "{sub} --help: {err}");
        assert!(out.contains(&format!("Usage: avf-bel {sub}")), "{sub} --help:\n{out}");
        assert!(out.contains("Examples:\n  avf-bel"), "{sub} --help has no examples:\n{out}");
        // `help SUB` says the same.
        let (code, again, _) = avf(&["help", sub]);
        assert_eq!((code, again), (0, out), "help {sub}");
    }
    // No command at all: the help, on stderr, as a usage error.
    let (code, _, err) = avf(&[]);
    assert_eq!(code, 2);
    assert!(err.contains("Usage: avf-bel"), "{err}");
}

#[test]
fn options_take_equals_and_typos_get_suggestions() {
    let (code, out, err) = avf(&["run", "--stimulus=happy", "--seconds=0.5", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(out.trim())["clip"], "stimulus happy");
    // A misspelt subcommand, option or value: exit 2 with the nearest valid one.
    let (code, _, err) = avf(&["rum", "--stimulus", "happy"]);
    assert_eq!(code, 2);
    assert!(err.contains("unrecognized subcommand 'rum'") && err.contains("similar subcommand exists: 'run'"), "{err}");
    let (code, _, err) = avf(&["run", "--stimlus", "happy"]);
    assert_eq!(code, 2);
    assert!(err.contains("'--stimlus'") && err.contains("'--stimulus'"), "{err}");
    let (code, _, err) = avf(&["bench", "--stage", "visul"]);
    assert_eq!(code, 2);
    assert!(err.contains("'visual'"), "{err}");
}

#[test]
fn a_misspelt_stimulus_suggests_the_built_in_name_with_or_without_the_data() {
    // With the data (when this checkout has them), and with AVF_BEL_DATA pointing nowhere: always a usage error
    // that suggests "happy", never a bare "No such file or directory".
    let mut cases = vec![("/definitely/not/the/data", "given by AVF_BEL_DATA")];
    if common::study_data("a_misspelt_stimulus_suggests_the_built_in_name (with data)").is_some() {
        cases.push(("", "in the table"));
    }
    for (env, needle) in cases {
        let (code, _, err) = output(command().args(["run", "--stimulus", "hapy"]).env("AVF_BEL_DATA", env));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("did you mean \"happy\"?"), "{err}");
        assert!(err.contains(needle) && !err.starts_with("error: ../"), "{err}");
    }
    // A fresh clone: no AVF_BEL_DATA and no ../shared beside it. The message says where to get the ratings.
    let fresh = tmp("fresh-clone");
    std::fs::create_dir_all(&fresh).unwrap();
    let (code, _, err) =
        output(command().args(["run", "--stimulus", "hapy"]).env_remove("AVF_BEL_DATA").current_dir(&fresh));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("did you mean \"happy\"?") && err.contains("were not found"), "{err}");
    assert!(err.contains("arXiv 2503.16454") && err.contains("--data DIR"), "{err}");
    // The built-in names need no data at all.
    let (code, _, err) = output(
        command().args(["run", "--stimulus", "sad", "--seconds", "0.5"]).env_remove("AVF_BEL_DATA").current_dir(&fresh),
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn completions_are_scripts_for_each_shell() {
    for (shell, needle) in
        [("bash", "complete -F _avf__bel"), ("zsh", "#compdef avf-bel"), ("fish", "complete -c avf-bel")]
    {
        let (code, out, err) = avf(&["completions", shell]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(needle) && out.contains("stimulus"), "{shell}:\n{}", &out[..out.len().min(400)]);
    }
    let (code, _, err) = avf(&["completions", "tcsh"]);
    assert_eq!(code, 2);
    assert!(err.contains("possible values"), "{err}");
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
    assert!(
        out.contains("avf-bel weights v7")
            && out.contains("onset range 80 dB, drive floor -40 dB, background 500 ms, gated, rows levelled"),
        "{out}"
    );
}

/// `avf-bel init` (the default shape) gives the shipped model's input stage, the visual background included, so a
/// seeded model runs as the shipped one does; the tiny shape has no background.
#[test]
fn init_has_the_shipped_models_input_stage() {
    // The `input` line `inspect` prints for a weights file.
    let input_line = |path: &str| {
        let (code, out, err) = avf(&["inspect", path]);
        assert_eq!(code, 0, "inspect {path}: {err}");
        out.lines().find(|l| l.starts_with("input")).map(str::to_string).unwrap_or_else(|| panic!("{out}"))
    };
    let init = |name: &str, args: &[&str]| {
        let f = tmp(name);
        let (code, _, err) = avf(&[&["init", "--out", f.to_str().unwrap()], args].concat());
        assert_eq!(code, 0, "init {args:?}: {err}");
        input_line(f.to_str().unwrap())
    };
    let seeded = init("init-default.avfw", &["--precision", "int8"]);
    assert!(seeded.ends_with("background 500 ms, gated, rows levelled"), "{seeded}");
    assert_eq!(seeded, input_line(concat!(env!("CARGO_MANIFEST_DIR"), "/weights/default.avfw")));
    let tiny = init("init-tiny.avfw", &["--config", "tiny"]);
    assert!(tiny.ends_with("background off"), "{tiny}");
}

#[test]
fn runtime_failures_exit_1_and_usage_errors_exit_2() {
    let f = tmp("bad.avfw");
    std::fs::write(&f, b"AVFBELW\0\x01\x00\x00\x00\xff\xff\x00\x00garbage").unwrap();
    let (code, _, err) = avf(&["inspect", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.starts_with("error: ") && err.contains("truncated"), "{err}");
    std::fs::write(&f, b"not a weights file at all").unwrap();
    let (code, _, err) = avf(&["inspect", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("magic"), "{err}");
    let (code, _, err) = avf(&["inspect", "/definitely/not/here.avfw"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such file"), "{err}");
    // Usage errors: exit 2, with the subcommand's usage line.
    let (code, _, err) = avf(&["frobnicate"]);
    assert_eq!(code, 2);
    assert!(err.contains("unrecognized subcommand"), "{err}");
    let (code, _, err) = avf(&["bench", "--precision", "int4"]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid value 'int4'") && err.contains("int8"), "{err}");
    let (code, _, err) = avf(&["bench", "--size", "8"]);
    assert_eq!(code, 2);
    assert!(err.contains("16") && err.contains("Usage: avf-bel bench"), "{err}");
    let (code, _, err) = avf(&["bench", "--iters", "0"]);
    assert_eq!(code, 2);
    assert!(err.contains("--iters"), "{err}");
    let (code, _, err) = avf(&["init"]);
    assert_eq!(code, 2);
    assert!(err.contains("--out"), "{err}");
    let (code, _, err) = avf(&["inspect"]);
    assert_eq!(code, 2);
    assert!(err.contains("<FILE>"), "{err}");
}

#[cfg(not(feature = "train"))]
#[test]
fn training_commands_say_how_to_get_them() {
    // Each with arguments its full form accepts, so the refusal is the missing feature, not a usage slip.
    for args in [
        &["train", "--out", "/tmp/x"][..],
        &["eval", "--weights", "w"],
        &["export", "--weights", "w", "--out", "/tmp/x"],
        &["draws", "--draw", "d"],
    ] {
        let (code, _, err) = avf(args);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("--features train"), "{err}");
    }
}

#[test]
fn bench_prints_one_json_object_with_the_median() {
    let (code, out, err) =
        avf(&["bench", "--stage", "visual", "--size", "32", "--channels", "2", "--iters", "3", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim().lines().count(), 1);
    let v = json(out.trim());
    assert_eq!(v["type"], "bench");
    assert_eq!((v["stage"].as_str(), v["size"].as_u64(), v["iters"].as_u64()), (Some("visual"), Some(32), Some(3)));
    let (p10, median, p90) =
        (v["p10_ms"].as_f64().unwrap(), v["median_ms"].as_f64().unwrap(), v["p90_ms"].as_f64().unwrap());
    assert!(0.0 < p10 && p10 <= median && median <= p90, "{v}");
    assert_hash(&v["model_hash"]);
    // Without the visual background unless asked for: `--background on` times another model (its input stage
    // differs, and so its hash) and says so in the unit.
    let (code, out, err) = avf(&[
        "bench",
        "--stage",
        "visual",
        "--size",
        "32",
        "--channels",
        "2",
        "--iters",
        "3",
        "--json",
        "--background",
        "on",
    ]);
    assert_eq!(code, 0, "{err}");
    let with = json(out.trim());
    assert_eq!(v["unit"], "one CORnet-Z stack");
    assert_eq!(with["unit"], "one CORnet-Z stack and its frame's visual background");
    assert_hash(&with["model_hash"]);
    assert_ne!(with["model_hash"], v["model_hash"]);
}

/// `bench --json` names the kernels the pipeline ran: the level it chose (the best of this CPU, or the one
/// `AVF_BEL_KERNELS` forces) and both GEMMs of that level's table.
#[test]
fn bench_json_reports_the_kernels_that_ran() {
    use avf_bel::kernels::{Kernels, Level, ENV_VAR};
    let bench = |level: Option<&str>| {
        let mut c = command();
        c.args(["bench", "--stage", "visual", "--size", "32", "--channels", "2", "--iters", "1", "--json"]);
        match level {
            Some(l) => c.env(ENV_VAR, l),
            None => c.env_remove(ENV_VAR),
        };
        output(&mut c)
    };
    let (code, out, err) = bench(None);
    assert_eq!(code, 0, "{err}");
    let v = json(out.trim());
    let best = Kernels::detect().report();
    assert_eq!(v["kernel"], best.name(), "{v}");
    assert_eq!(v["kernels"]["level"], best.name(), "{v}");
    assert_eq!(v["kernels"]["f32_gemm"], best.f32_gemm, "{v}");
    assert_eq!(v["kernels"]["int8_gemm"], best.int8_gemm, "{v}");
    // Every level this CPU runs can be forced and is reported as forced; the others are refused (exit 1).
    for level in Level::ALL {
        let (code, out, err) = bench(Some(level.name()));
        if level.supported() {
            assert_eq!(code, 0, "{level}: {err}");
            let v = json(out.trim());
            let k = Kernels::for_level(level).unwrap().report();
            assert_eq!(v["kernel"], level.name(), "{v}");
            assert_eq!(
                (v["kernels"]["level"].as_str(), v["kernels"]["f32_gemm"].as_str(), v["kernels"]["int8_gemm"].as_str()),
                (Some(level.name()), Some(k.f32_gemm), Some(k.int8_gemm)),
                "{v}"
            );
        } else {
            assert_eq!(code, 1, "{level} is not supported here, yet bench ran: {out}");
            assert!(err.contains(level.name()) && err.contains("not supported"), "{err}");
        }
    }
    let (code, _, err) = bench(Some("sse4"));
    assert_eq!(code, 1);
    assert!(err.contains("unknown kernel level"), "{err}");
}

/// `inspect` prints the kernels this machine would run the file with, and which levels it can force.
#[test]
fn inspect_prints_the_kernels_this_machine_runs() {
    use avf_bel::kernels::{Kernels, Level, ENV_VAR};
    let f = concat!(env!("CARGO_MANIFEST_DIR"), "/weights/default.avfw");
    let (code, out, err) = output(command().args(["inspect", f]).env_remove(ENV_VAR));
    assert_eq!(code, 0, "{err}");
    let best = Kernels::detect().report();
    let line = out.lines().find(|l| l.starts_with("kernels ")).unwrap_or_else(|| panic!("no kernels line:\n{out}"));
    assert!(line.contains(&best.to_string()) && line.contains("best level of this CPU"), "{line}");
    let levels = out.lines().find(|l| l.starts_with("levels ")).unwrap_or_else(|| panic!("no levels line:\n{out}"));
    for level in Level::ALL {
        assert_eq!(levels.split_whitespace().any(|w| w == level.name()), level.supported(), "{level}: {levels}");
    }
    let (code, out, err) = output(command().args(["inspect", f]).env(ENV_VAR, "portable"));
    assert_eq!(code, 0, "{err}");
    let forced = format!("kernels     {} (forced by {ENV_VAR})", Kernels::portable().report());
    assert!(out.lines().any(|l| l == forced), "expected `{forced}` in:\n{out}");
}

#[test]
fn run_reports_emotions_epp_and_explanation_as_json() {
    let (code, out, err) = avf(&["run", "--stimulus", "happy", "--seconds", "0.5", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim().lines().count(), 1);
    let v = json(out.trim());
    assert_eq!(v["type"], "clip");
    assert_eq!(v["modalities"], "audio+video");
    for k in ["emotions", "amygdala", "orbitofrontal"] {
        assert_emotions(&v[k]);
    }
    assert_hash(&v["model_hash"]);
    assert!((0.0..=1.0).contains(&v["epp"].as_f64().unwrap()));
    // EPP is the fixed weighting of the five intensities (1e-5: f32 rounding).
    let e: Vec<f64> = EMOTIONS.iter().map(|n| v["emotions"][n].as_f64().unwrap()).collect();
    let epp = (3.0 * e[0] + 5.0 * e[1] + 4.0 * e[2] + 2.0 * e[3] + e[4]) / 15.0;
    assert!((epp - v["epp"].as_f64().unwrap()).abs() < 1e-5, "{v}");
}

#[test]
fn run_text_and_json_report_the_same_contribution() {
    let (code, text, err) = avf(&["run", "--stimulus", "angry", "--seconds", "0.5"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = avf(&["run", "--stimulus", "angry", "--seconds", "0.5", "--json"]);
    assert_eq!(code, 0, "{err}");
    let c = &json(out.trim())["contribution"];
    let (a, v) = (c["audio"].as_f64().unwrap(), c["visual"].as_f64().unwrap());
    assert!((a + v - 1.0).abs() < 1e-5 && a > 0.0 && v > 0.0, "shares {a} + {v}");
    let line = text.lines().find(|l| l.starts_with("contribution")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.ends_with(&format!("audio {a:.3}, video {v:.3}")), "text `{line}` vs JSON {c}");
}

#[test]
fn audio_alone_is_all_of_the_contribution() {
    let d = tmp("angry");
    let (code, _, err) = avf(&["synth", "--stimulus", "angry", "--seconds", "0.5", "--out", d.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = avf(&["run", "--audio", d.join("audio.wav").to_str().unwrap(), "--json"]);
    assert_eq!(code, 0, "{err}");
    let c = &json(out.trim())["contribution"];
    assert_eq!((c["audio"].as_f64(), c["visual"].as_f64()), (Some(1.0), Some(0.0)), "{c}");
}

#[test]
fn run_with_one_modality_says_so_and_bad_inputs_are_errors() {
    let d = tmp("clip");
    let (code, _, err) = avf(&["synth", "--stimulus", "sad", "--seconds", "0.5", "--out", d.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let wav = d.join("audio.wav");
    let y4m = d.join("video.y4m");
    let (code, out, err) = avf(&["run", "--audio", wav.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("audio only") && !out.contains("UNTRAINED"), "{out}");
    let (code, out, _) = avf(&["run", "--video", y4m.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    assert_eq!(json(out.trim())["modalities"], "video only");
    let (code, _, err) = avf(&["run", "--audio", y4m.to_str().unwrap()]);
    assert_eq!(code, 1, "an unusable file is a runtime failure: {err}");
    assert!(err.contains("WAV"), "{err}");
    let (code, _, err) = avf(&["run"]);
    assert_eq!(code, 2);
    assert!(err.contains("nothing to run"), "{err}");
    let (code, _, err) = avf(&["run", "--stimulus", "happy", "--audio", wav.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot be used with"), "{err}");
    let (code, _, err) = avf(&["run", "--stimulus", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("\"nope\""), "{err}");
}

/// An untrained tiny model at `name` in the scratch directory (a file per test: tests run in parallel), for tests
/// where the model's size does not matter (a daemon's real time, logging).
fn tiny_model(name: &str) -> String {
    let p = tmp(name);
    let (code, _, err) = avf(&["init", "--config", "tiny", "--seed", "2", "--out", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    p.to_str().unwrap().to_string()
}

#[test]
fn read_prints_the_shared_json_and_fails_when_the_daemon_goes_away() {
    let (weights, sock) = (tiny_model("daemon-tiny.avfw"), tmp("gone.sock"));
    let _ = std::fs::remove_file(&sock);
    let mut daemon = common::Reaped::new(
        command()
            .args(["serve", "--weights", &weights, "--audio", "synth://happy", "--video", "synth://happy"])
            // No `--duration`: the test ends the daemon itself (SIGTERM, below) once the second read has printed
            // samples. A fixed duration raced the readers: under qemu, with another emulated test beside it, the
            // daemon's rate fell to ~1 sample/s and 24 s left the first read 27 of its 30 samples.
            .args(["--rate", "50", "--window", "1", "--warmup", "0.2"])
            .arg("--socket")
            .arg(&sock)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Wait until the daemon listens: `read` below tries to connect once.
    drop(common::connect(&sock));
    // 30 samples (0.6 s, past the first warm-up) in the shared schema, then exit 0. During the first warm-up there
    // is nothing to hold yet: those samples say `no_estimate` with null values (protocol 2); later ones have values.
    // The reader's silence limit (`--timeout`, 5 s) is real time as well.
    let silence = common::scaled_arg(5.0);
    let (code, out, err) =
        avf(&["read", &format!("--socket={}", sock.display()), "--json", "--count", "30", "--timeout", &silence]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<Value> = out.lines().map(json).collect();
    assert_eq!(lines.len(), 30);
    let mut estimates = 0;
    for v in &lines {
        assert_eq!(v["type"], "sample");
        let none = v["status"].as_array().is_some_and(|s| s.iter().any(|f| f == "no_estimate"));
        if none {
            assert!(v["emotions"].is_null() && v["epp"].is_null(), "{v}");
        } else {
            assert_emotions(&v["emotions"]);
            assert!(v["epp"].as_f64().is_some_and(|e| (0.0..=1.0).contains(&e)), "{v}");
            estimates += 1;
        }
        assert_hash(&v["model_hash"]);
        assert!(v["seq"].as_u64().is_some() && v["status"].is_array(), "{v}");
    }
    assert!(estimates > 0, "no sample with values in 0.6 s:\n{out}");
    // Reading on while the daemon stops (SIGTERM, once the reader has printed four samples): the stream ends, which
    // is a runtime failure of `read`, while the daemon itself ends cleanly.
    let mut reader = common::Reaped::new(
        command()
            .args(["read", "--socket", sock.to_str().unwrap(), "--timeout", &silence])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut printed = Vec::new();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(reader.stdout.take().unwrap()));
    while printed.len() < 4 {
        match lines.next() {
            Some(Ok(l)) => printed.push(l),
            other => panic!("the reader stopped after {} lines: {other:?}", printed.len()),
        }
    }
    // SAFETY: `kill` on the daemon's pid, which is still our unreaped child (no pid reuse).
    assert_eq!(unsafe { libc::kill(daemon.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let status = daemon.wait().unwrap();
    assert!(status.success(), "the daemon ends cleanly on SIGTERM: {status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let out = reader.into_inner().wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stdout:\n{}\n{}\nstderr:\n{err}", printed.join("\n"), rest.join("\n"));
    assert!(err.contains("error: the daemon closed the connection after"), "{err}");
    // No daemon at all: a runtime failure too.
    let (code, _, err) = avf(&["read", "--socket", sock.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("is `avf-bel serve` running?"), "{err}");
    // Neither or both transports: usage errors.
    assert_eq!(avf(&["read"]).0, 2);
    assert_eq!(avf(&["read", "--socket", "a", "--serial", "b"]).0, 2);
    let (code, _, err) = avf(&["read", "--socket", "a", "--reward", "1,2"]);
    assert_eq!(code, 2);
    assert!(err.contains("five values"), "{err}");
}

/// `(st_dev, st_ino)` of a file, as systemd writes them into `JOURNAL_STREAM`.
fn dev_ino(path: &std::path::Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).unwrap();
    format!("{}:{}", m.dev(), m.ino())
}

#[test]
fn logs_have_levels_and_journald_priorities_under_systemd() {
    // `--device auto` without a usable CUDA logs one warning, then runs on the CPU. The tiny model: these are six
    // runs, and the default model's took a minute under qemu.
    let weights = tiny_model("logs-tiny.avfw");
    let args = ["run", "--weights", &weights, "--stimulus", "peaceful", "--seconds", "0.5", "--device", "auto"];
    let run_with = |stderr_file: &std::path::Path, journal: Option<&str>, extra: &[&str]| {
        let f = std::fs::File::create(stderr_file).unwrap();
        let mut c = command();
        c.args(args).args(extra).stdout(Stdio::null()).stderr(f).env_remove("AVF_BEL_LOG").env_remove("RUST_LOG");
        match journal {
            Some(j) => c.env("JOURNAL_STREAM", j),
            None => c.env_remove("JOURNAL_STREAM"),
        };
        assert!(c.status().unwrap().success());
        std::fs::read_to_string(stderr_file).unwrap()
    };
    let f = tmp("stderr.log");
    let plain = run_with(&f, None, &[]);
    assert!(plain.lines().any(|l| l.starts_with("warning: --device auto: GPU not usable")), "{plain}");
    // systemd names the journal stream by device and inode: when stderr is that stream, priorities prefix lines.
    std::fs::File::create(&f).unwrap();
    let journal = run_with(&f, Some(&dev_ino(&f)), &[]);
    assert!(journal.lines().any(|l| l.starts_with("<4>--device auto: GPU not usable")), "{journal}");
    assert!(!journal.contains("warning:"), "{journal}");
    // A JOURNAL_STREAM inherited by a process whose stderr goes elsewhere is ignored.
    let other = run_with(&f, Some("1:2"), &[]);
    assert!(other.contains("warning: --device auto"), "{other}");
    // -qq: errors only; AVF_BEL_LOG=error does the same.
    assert_eq!(run_with(&f, None, &["-qq"]), "");
    let out = command().args(args).env("AVF_BEL_LOG", "error").output().unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    // A runtime failure under the journal is priority 3.
    let out = command()
        .args(["inspect", "/definitely/not/here.avfw"])
        .env("JOURNAL_STREAM", dev_ino(&f))
        .stderr(std::fs::File::create(&f).unwrap())
        .status()
        .unwrap();
    assert_eq!(out.code(), Some(1));
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(text.starts_with("<3>/definitely/not/here.avfw: "), "{text}");
}

#[cfg(feature = "train")]
#[test]
fn training_help_states_the_library_defaults() {
    // The fit options' defaults live in FitOptions::default(); the help text must say the same.
    let d = avf_bel::train::fuse::FitOptions::default();
    let (code, out, _) = avf(&["train", "--help"]);
    assert_eq!(code, 0);
    let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
    for (opt, v) in [("--steps", d.steps.to_string()), ("--lr", d.lr.to_string()), ("--decay", d.decay.to_string())] {
        let after = flat.split(&format!("{opt} <")).nth(1).unwrap_or_else(|| panic!("{opt} missing: {out}"));
        let desc = after.split(" --").next().unwrap();
        assert!(desc.contains(&format!("[default: {v}]")), "{opt}: `{desc}` vs FitOptions::default() {v}");
    }
    let after = flat.split("--fit-seed <").nth(1).unwrap();
    assert!(after.contains(&format!("[default: {}]", d.seed)), "{after}");
}

/// The draws whose means the README's targets quote: draw 0 is `docs/eval`, draws 1 and 2 are the same model's runs
/// of `eval --robustness --draw N` (their JSON kept in `docs/eval/draws/`), each with later runs adding probes (E51,
/// E52, and every probe in E59).
#[cfg(feature = "train")]
const DOCUMENTED_DRAWS: [&str; 6] = [
    "--draw",
    "docs/eval",
    "--draw",
    "docs/eval/draws/1,docs/eval/draws/1-sound-lag,docs/eval/draws/1-flicker-120,docs/eval/draws/1-probes",
    "--draw",
    "docs/eval/draws/2,docs/eval/draws/2-sound-lag,docs/eval/draws/2-flicker-120,docs/eval/draws/2-probes",
];

#[cfg(feature = "train")]
#[test]
fn the_documented_three_draw_means_are_what_draws_makes_of_the_kept_runs() {
    // docs/eval/draws.md is `avf-bel draws` over the kept runs, to the byte: its means cannot drift from the figures.
    let (code, out, err) = avf(&[&["draws"][..], &DOCUMENTED_DRAWS].concat());
    assert_eq!(code, 0, "{err}");
    let kept = std::fs::read_to_string("docs/eval/draws.md").unwrap();
    assert!(out == kept, "docs/eval/draws.md is not what `avf-bel draws` makes now:\n{out}");
    // Every draw ran every trained kind, so the largest cost at moderate is over all three.
    assert!(out.contains("among the trained kinds run on every draw: "), "{out}");
    // --out writes the same table.
    let file = tmp("draws.md");
    let (code, _, err) = avf(&[&["draws"][..], &DOCUMENTED_DRAWS, &["--out", file.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), kept);
}

/// Three more draws of the same model (E58: `eval --robustness --draw N`, N = 3, 4, 5; E59 added the probes), run
/// after every claim on draws 0–2 was made: docs/eval/draws-six.md puts all six side by side.
#[cfg(feature = "train")]
const FRESH_DRAWS: [&str; 6] = [
    "--draw",
    "docs/eval/draws/3,docs/eval/draws/3-probes",
    "--draw",
    "docs/eval/draws/4,docs/eval/draws/4-probes",
    "--draw",
    "docs/eval/draws/5,docs/eval/draws/5-probes",
];

#[cfg(feature = "train")]
#[test]
fn the_six_draw_table_is_what_draws_makes_of_the_kept_runs() {
    let (code, out, err) = avf(&[&["draws"][..], &DOCUMENTED_DRAWS, &FRESH_DRAWS].concat());
    assert_eq!(code, 0, "{err}");
    let kept = std::fs::read_to_string("docs/eval/draws-six.md").unwrap();
    assert!(out == kept, "docs/eval/draws-six.md is not what `avf-bel draws` makes now:\n{out}");
    assert!(out.starts_with("The same model's figures on 6 draws"), "{out}");
}

#[cfg(feature = "train")]
#[test]
fn draws_refuses_runs_that_are_not_one_draw_and_folders_without_results() {
    // Draw 0 and draw 1 given as one draw's runs: their clean figures differ, so nothing is made of them.
    let (code, out, err) = avf(&["draws", "--draw", "docs/eval,docs/eval/draws/1"]);
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("the runs of draw 1 disagree on clean"), "{err}");
    let (code, _, err) = avf(&["draws", "--draw", "docs"]);
    assert_eq!(code, 1);
    assert!(err.contains("docs: neither robustness.json nor probes.json"), "{err}");
    let (code, _, err) = avf(&["draws", "--draw", ","]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = avf(&["draws"]);
    assert_eq!(code, 2);
}
