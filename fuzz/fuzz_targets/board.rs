//! Board profiles and `serve --config` files: any text through `BoardProfile::parse`. No panic; errors name a line.
#![no_main]
use avf_bel::link::board::BoardProfile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A file read from disk may hold any bytes; what reaches the parser is text (lossy, as a non-UTF-8 file would
    // be refused before it).
    let text = String::from_utf8_lossy(data);
    if let Err(e) = BoardProfile::parse(&text) {
        assert!(!e.to_string().is_empty(), "an error says what is wrong");
    }
});
