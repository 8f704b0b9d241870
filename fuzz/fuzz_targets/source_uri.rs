//! Input URIs (`serve --audio/--video`, board profiles' `serve.audio`/`serve.video`): any text through `parse_uri`
//! for each sense, then what the daemon does with an accepted one before opening it (`check_build`, the CSI
//! pipeline). No panic; errors name the URI; parsing is deterministic.
#![no_main]
use avf_bel::capture::{parse_uri, Sense, SourceUri};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let uri = String::from_utf8_lossy(data);
    for sense in [Sense::Audio, Sense::Video] {
        match parse_uri(&uri, sense) {
            Ok(src) => {
                assert_eq!(parse_uri(&uri, sense).as_ref(), Ok(&src), "parsing is deterministic");
                let _ = src.check_build(&uri);
                if let SourceUri::Csi { sensor, width, height, fps } = src {
                    let c = SourceUri::csi_command(sensor, width, height, fps);
                    assert!(c.contains("nvarguscamerasrc"), "{c}");
                }
            }
            Err(e) => assert!(!e.is_empty(), "errors say what is wrong"),
        }
    }
});
