//! The host's output formats as a library user sees them: the JSON records and the log line format.

use avf_bel::json::{contribution_shares, Emotions, ModelHash, Record, SampleRecord};
use avf_bel::link::{flags, Sample};
use avf_bel::logging::{format_line, journal_priority, parse_level};
use avf_bel::{Contribution, EMOTIONS};
use log::{Level, LevelFilter};

#[test]
fn records_are_tagged_objects_with_the_shared_emotions_shape() {
    let s = Sample {
        seq: 7,
        capture_ns: 1,
        publish_ns: 2,
        epp: 0.5,
        emotions: [0.1, 0.2, 0.3, 0.4, 0.5],
        confidence: 0.75,
        flags: flags::AUDIO_OK | flags::WARMING_UP,
        model_hash: 0xABC,
    };
    let line = Record::Sample(SampleRecord::from(&s)).to_line();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["type"], "sample");
    assert_eq!(v["model_hash"], "0000000000000abc");
    assert_eq!(v["status"], serde_json::json!(["audio_ok", "warming_up"]));
    let keys: Vec<&str> = v["emotions"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, EMOTIONS.to_vec());
    // f32 values print at their shortest round-trip form: 0.4, not 0.4000000059604645.
    assert_eq!(v["emotions"]["sad"].as_f64(), Some(0.4));
    assert_eq!(serde_json::to_string(&ModelHash(u64::MAX)).unwrap(), "\"ffffffffffffffff\"");
    assert_eq!(
        serde_json::to_string(&Emotions([0.0; 5])).unwrap(),
        r#"{"angry":0.0,"happy":0.0,"peaceful":0.0,"sad":0.0,"scared":0.0}"#
    );
    // The daemon's own JSON is this record.
    assert_eq!(avf_bel::link::daemon::sample_json(&s), line);
}

#[test]
fn contribution_shares_sum_to_one() {
    assert_eq!(contribution_shares(&Contribution { audio: 3.0, visual: 1.0 }), [0.75, 0.25]);
    assert_eq!(contribution_shares(&Contribution { audio: 0.0, visual: 0.0 }), [0.0, 0.0]);
    assert_eq!(contribution_shares(&Contribution { audio: f32::NAN, visual: 1.0 }), [0.0, 0.0]);
}

#[test]
fn log_lines_are_plain_or_carry_journald_priorities() {
    assert_eq!(format_line(Level::Warn, "disk full", false), "warning: disk full\n");
    assert_eq!(format_line(Level::Error, "a\nb", true), "<3>a\n<3>b\n");
    assert_eq!(format_line(Level::Info, "up", true), "<6>up\n");
    assert_eq!(
        [Level::Error, Level::Warn, Level::Info, Level::Debug, Level::Trace].map(journal_priority),
        [3, 4, 6, 7, 7]
    );
    assert_eq!(parse_level(" WARN "), Some(LevelFilter::Warn));
    assert_eq!(parse_level("warning"), Some(LevelFilter::Warn));
    assert_eq!(parse_level("off"), Some(LevelFilter::Off));
    assert_eq!(parse_level("avf_bel=debug"), None);
}
