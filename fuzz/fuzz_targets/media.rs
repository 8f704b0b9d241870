//! Any bytes as WAV and as YUV4MPEG2: typed errors, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = avf_bel::media::read_wav(data, 22_050);
    if let Ok(y) = avf_bel::media::read_y4m(data) {
        let mut out = vec![0u8; 16 * 16];
        for i in 0..y.frames().min(4) {
            y.frame_resized(i, 16, 16, &mut out);
        }
    }
});
