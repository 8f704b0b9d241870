//! Any bytes: parsing never panics, and a file that parses binds to a pipeline or fails with a typed error.
#![no_main]
use avf_bel::weights::writer::AlignedBytes;
use avf_bel::{Pipeline, Weights};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let buf = AlignedBytes::new(data);
    if let Ok(w) = Weights::parse(buf.as_bytes()) {
        let n = Pipeline::scratch_len(&w);
        if n < 1 << 24 {
            let mut scratch = vec![0.0f32; n];
            let _ = Pipeline::new(&w, &mut scratch);
        }
    }
});
