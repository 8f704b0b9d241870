//! The incremental WAV and headerless-PCM reader of the capture sources (`file://`, `pipe:`, `pipe:s16le:…`): any
//! bytes fed in chunks of any size. No panic; every sample is finite and in −1..1; the samples, the format and the
//! verdict do not depend on how the bytes were split (chunk by chunk = the whole stream at once).
//!
//! Input: a mode byte (bit 0: headerless s16le, its rate and channels from the next bytes; else WAV), 8 bytes
//! seeding the chunk sizes, then the stream.
#![no_main]
use avf_bel::capture::demux::{PcmFormat, PcmStream};
use libfuzzer_sys::fuzz_target;

/// Take everything available; append the samples; the format last reported; whether an error came.
fn drain(s: &mut PcmStream, all: &mut Vec<u32>, format: &mut Option<PcmFormat>) -> bool {
    let mut out = Vec::new();
    match s.take(&mut out) {
        Ok(f) => {
            assert_eq!(f.is_some(), !out.is_empty(), "a format is reported exactly when samples came out");
            if let Some(f) = f {
                assert_eq!(out.len() % usize::from(f.channels), 0, "whole frames only");
                *format = Some(f);
            }
            for x in &out {
                assert!(x.is_finite() && x.abs() <= 1.0, "sample {x}");
            }
            all.extend(out.iter().map(|x| x.to_bits()));
            false
        }
        Err(e) => {
            assert!(!e.0.is_empty(), "errors say what is wrong");
            true
        }
    }
}

fn stream(mode: &[u8]) -> PcmStream {
    if mode[0] & 1 == 1 {
        let rate = 1_000 + u32::from(u16::from_le_bytes([mode[1], mode[2]])) * 8;
        PcmStream::raw_s16(rate, u16::from(mode[3] % 8) + 1)
    } else {
        PcmStream::wav()
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first_chunk::<4>() else { return };
    let Some((seed, bytes)) = rest.split_first_chunk::<8>() else { return };
    let mut whole = stream(mode);
    whole.feed(bytes);
    let (mut want, mut want_format) = (Vec::new(), None);
    let whole_failed = drain(&mut whole, &mut want, &mut want_format);

    let mut rng = u64::from_le_bytes(*seed) | 1;
    let mut chunked = stream(mode);
    let (mut got, mut got_format, mut failed, mut at) = (Vec::new(), None, false, 0);
    while at < bytes.len() && !failed {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let n = if rng % 16 == 0 { 0 } else { 1 + (rng >> 8) as usize % 48 };
        let end = (at + n).min(bytes.len());
        chunked.feed(&bytes[at..end]);
        at = end;
        failed = drain(&mut chunked, &mut got, &mut got_format);
    }
    assert_eq!(failed, whole_failed, "the verdict depends on the chunking");
    assert_eq!(got_format, want_format, "the format depends on the chunking");
    assert!(got == want, "the samples depend on the chunking ({} vs {})", got.len(), want.len());
    assert_eq!(chunked.done(), whole.done());
});
