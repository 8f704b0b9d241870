//! WAV files: any bytes through `read_wav`. No panic; accepted audio is non-empty, finite and within -1..1.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(pcm) = avf_bel::media::read_wav(data, 22_050) {
        assert!(!pcm.is_empty(), "an accepted file holds samples");
        for (i, x) in pcm.iter().enumerate() {
            assert!(x.is_finite() && x.abs() <= 1.0, "sample {i} = {x}");
        }
    }
});
