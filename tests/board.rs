//! Board profiles and `serve --config` files: full TOML through `toml` + serde, unknown keys refused, every error
//! with its line and column, ranges checked by the daemon's own validation, and no input that panics.

use avf_bel::link::board::{line_column, BoardProfile};
use avf_bel::link::daemon::ServeOptions;
use avf_bel::model::SplitMix64;

fn err(text: &str) -> (usize, usize, String) {
    let e = BoardProfile::parse(text).unwrap_err();
    (e.line, e.column, e.to_string())
}

#[test]
fn the_shipped_profiles_parse() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/boards");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let b = BoardProfile::load(&p).unwrap_or_else(|e| panic!("{e}"));
            assert!(b.board.is_some() && b.input_size == Some(64), "{}", p.display());
            assert!(b.serve.rate >= 10.0 && b.serve.audio.is_some(), "{}", p.display());
            n += 1;
        }
    }
    assert!(n >= 5);
}

#[test]
fn full_toml_is_read() {
    // Comments, escapes, literal strings, integers for floats, dotted keys, inline tables' neighbours, any order.
    let text = r#"
# a comment
[serve]
audio = "synth://happy"   # trailing comment
video = 'file:///tmp/a "quoted" name.y4m'
socket = "/tmp/sock\u00e9t"
rate = 25
window = 2.5
warmup = 2.5e-1
json = true
seed = 1_000

[board]
name = """Multi
line"""
precision = "int8"
input_size = 64
"#;
    let p = BoardProfile::parse(text).unwrap();
    assert_eq!(p.serve.audio.as_deref(), Some("synth://happy"));
    assert_eq!(p.serve.video.as_deref(), Some("file:///tmp/a \"quoted\" name.y4m"));
    assert_eq!(p.serve.socket.as_deref(), Some(std::path::Path::new("/tmp/sock\u{e9}t")));
    assert_eq!((p.serve.rate, p.serve.window, p.serve.seed, p.serve.json), (25.0, 2.5, 1000, true));
    assert_eq!(p.board.as_deref(), Some("Multi\nline"));
    assert_eq!((p.precision.as_deref(), p.input_size), (Some("int8"), Some(64)));
    assert!(!p.data_set);
    // Dotted keys at the top level are the same tables.
    let p = BoardProfile::parse("serve.rate = 12\nserve.data = \"/d\"\nboard.name = \"x\"\n").unwrap();
    assert_eq!((p.serve.rate, p.board.as_deref(), p.data_set), (12.0, Some("x"), true));
    assert_eq!(p.serve.data_dir, std::path::PathBuf::from("/d"));
    // An empty file is the defaults.
    assert_eq!(BoardProfile::parse("").unwrap().serve, ServeOptions::default());
}

#[test]
fn errors_name_line_column_and_key() {
    // Unknown keys and tables are refused where they are.
    let (l, c, m) = err("[serve]\nrate = 30\n  samplerate = 5\n");
    assert_eq!((l, c), (3, 3), "{m}");
    assert!(m.contains("line 3, column 3") && m.contains("samplerate") && m.contains("expected one of"), "{m}");
    let (l, c, m) = err("[board]\nname = \"x\"\n[servce]\nrate = 1\n");
    assert_eq!((l, c), (3, 2), "{m}");
    assert!(m.contains("servce"), "{m}");
    // Wrong types name the key.
    let (l, c, m) = err("[serve]\nwindow = \"long\"\n");
    assert_eq!((l, c), (2, 10), "{m}");
    assert!(m.contains("`serve.window`") && m.contains("expected a number"), "{m}");
    let (l, _, m) = err("[board]\nprecision = \"f8\"\n");
    assert_eq!(l, 2);
    assert!(m.contains("`board.precision`") && m.contains("int8"), "{m}");
    // Ranges: the daemon's own limits, pointed at the value.
    let (l, c, m) = err("[serve]\nwindow = 2\nrate = 5000\n");
    assert_eq!((l, c), (3, 8), "{m}");
    assert!(m.contains("`serve.rate` must be 0.1–1000"), "{m}");
    let (l, _, m) = err("[serve]\nwarmup = 4\n");
    assert_eq!(l, 2, "{m}");
    assert!(m.contains("`serve.warmup`"), "{m}");
    let (l, _, m) = err("[serve]\nrate = 10\nwindow = 0.3\n");
    assert_eq!(l, 3, "the window is below the default warm-up: {m}");
    let (l, _, m) = err("[board]\ninput_size = 0\n");
    assert_eq!(l, 2);
    assert!(m.contains("1–1024"), "{m}");
    // A microphone given as the video input: the URI is checked for its sense.
    let (l, _, m) = err("[serve]\nvideo = \"alsa://default\"\n");
    assert_eq!(l, 2);
    assert!(m.contains("`serve.video`") && m.contains("not video"), "{m}");
    let (l, _, m) = err("[serve]\nrate = nan\n");
    assert_eq!(l, 2);
    assert!(m.contains("finite"), "{m}");
    let (l, _, m) = err("[serve]\nqueue = -3\n");
    assert_eq!(l, 2, "{m}");
    // Syntax errors too.
    let (l, c, m) = err("[serve]\nrate = = 3\n");
    assert_eq!((l, c), (2, 8), "{m}");
    // A file: the path comes first.
    let f = std::env::temp_dir().join(format!("avf-bel-board-{}.toml", std::process::id()));
    std::fs::write(&f, "[serve]\nbaud = 0\n").unwrap();
    let m = BoardProfile::load(&f).unwrap_err().to_string();
    assert!(m.starts_with(&format!("{}: line 2, column 8: ", f.display())), "{m}");
    let _ = std::fs::remove_file(&f);
    assert!(BoardProfile::load(std::path::Path::new("/no/such.toml")).unwrap_err().to_string().contains("No such"));
}

#[test]
fn line_column_counts_characters() {
    let t = "ab\ncé=1\n";
    assert_eq!(line_column(t, 0), (1, 1));
    assert_eq!(line_column(t, 3), (2, 1));
    assert_eq!(line_column(t, 6), (2, 3), "é is one column");
    assert_eq!(line_column(t, 999), (3, 1));
}

#[test]
fn mutated_profiles_never_panic() {
    let base = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/boards/jetson-orin-nano.toml")).unwrap();
    let mut rng = SplitMix64(11);
    let mut refused = 0;
    for _ in 0..3000 {
        let mut b = base.clone();
        for _ in 0..1 + rng.next_u64() % 4 {
            let i = (rng.next_u64() % b.len() as u64) as usize;
            b[i] = b"=\"[]#.\n 0123456789abcxyz\\'\x00\xff"[(rng.next_u64() % 27) as usize];
        }
        let text = String::from_utf8_lossy(&b);
        if let Err(e) = BoardProfile::parse(&text) {
            refused += 1;
            assert!(e.line >= 1 && e.column >= 1 && !e.message.is_empty(), "{e}");
        }
    }
    assert!(refused > 100, "the mutations should break most files ({refused})");
}
