//! Every input a fuzz target (`fuzz/`) ever crashed on, replayed through the normal test suite: each must now give
//! a typed error (or a valid result), never a panic. Add one test per crash, named after the target, with the bytes
//! inline and where they came from.

use avf_bel::media::{read_y4m, MediaError};

/// Target `media` (now `y4m`), found in seconds: a header token that starts with a multi-byte UTF-8 character made
/// the reader split the token inside the character (`str::split_at` panicked). Minimised by `cargo fuzz tmin`.
#[test]
fn y4m_header_token_starting_with_a_multibyte_character() {
    let minimised = b"YUV4MPEG2 \xc2\xa6\n";
    assert!(matches!(read_y4m(minimised), Err(MediaError::BadY4m(_))), "{:?}", read_y4m(minimised));
    // The input as the fuzzer first found it (50 bytes).
    let found = b"YUV4MPEG2 YUV#4MPEYUV4MPEG2 \xc2\xa6UV4V4G2 Y JJ\x05J2 \x02\nJ\n";
    assert!(matches!(read_y4m(found), Err(MediaError::BadY4m(_))), "{:?}", read_y4m(found));
}

/// The 36-byte case of issue 14: an otherwise valid one-frame 2×2 4:2:0 stream whose header holds a parameter that
/// starts with a non-ASCII byte. It panicked `avf-bel run` and killed `avf-bel serve` (as a `file://` input).
const Y4M_36: &[u8] = b"YUV4MPEG2 W2 H2 F1:1 \xc2\xa6\nFRAME\n\x10\x20\x30\x40\x80\x80";

#[test]
fn y4m_36_byte_case_is_a_typed_error() {
    assert_eq!(Y4M_36.len(), 36);
    match read_y4m(Y4M_36) {
        Err(MediaError::BadY4m(m)) => assert!(m.contains("0xc2"), "the message names the byte: {m}"),
        other => panic!("expected a BadY4m error, got {other:?}"),
    }
}

/// The same file through the binary, as a user would hit it: a clear error and a non-zero exit, not a panic.
#[test]
fn y4m_36_byte_case_through_avf_bel_run() {
    let dir = std::env::temp_dir().join(format!("avf-bel-fuzz-regression-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.y4m");
    std::fs::write(&path, Y4M_36).unwrap();
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_avf-bel")).args(["run", "--video"]).arg(&path).output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a bad file must fail the command");
    assert_eq!(out.status.code(), Some(2), "the binary's error exit, not a panic (101): {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("YUV4MPEG2"), "the error says what is wrong: {stderr}");
}
