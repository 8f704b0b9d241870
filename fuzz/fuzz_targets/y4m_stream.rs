//! The incremental YUV4MPEG2 reader of the capture sources (`file://` FIFOs and files, `pipe:`, `csi://`): any bytes
//! fed in chunks of any size, as reads from a pipe arrive. No panic; the frames and the verdict do not depend on how
//! the bytes were split: chunk by chunk gives the same frames as the whole stream at once, and fails exactly when
//! it fails; every frame is one luma plane of the header's size.
//!
//! Input: 8 bytes seeding the chunk sizes (1–64 bytes, sometimes empty reads, sometimes 1–4 KiB), then the stream.
#![no_main]
use avf_bel::capture::demux::Y4mStream;
use libfuzzer_sys::fuzz_target;

/// Frames (luma planes) until the first error or the end of the bytes, and whether an error came.
fn drain(s: &mut Y4mStream, frames: &mut Vec<Vec<u8>>) -> bool {
    loop {
        match s.next_frame() {
            Ok(Some((h, f))) => {
                assert_eq!(f.len(), h.width * h.height, "a frame is one luma plane");
                frames.push(f.to_vec());
            }
            Ok(None) => return false,
            Err(e) => {
                assert!(!e.0.is_empty(), "errors say what is wrong");
                return true;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((seed, stream)) = data.split_first_chunk::<8>() else { return };
    let mut whole = Y4mStream::new();
    whole.feed(stream);
    let mut want = Vec::new();
    let whole_failed = drain(&mut whole, &mut want);

    let mut rng = u64::from_le_bytes(*seed) | 1;
    let mut chunked = Y4mStream::new();
    let (mut got, mut failed, mut at) = (Vec::new(), false, 0);
    while at < stream.len() && !failed {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let n = match rng % 16 {
            0 => 0,
            1 => 1024 + (rng >> 8) as usize % 3072,
            _ => 1 + (rng >> 8) as usize % 64,
        };
        let end = (at + n).min(stream.len());
        chunked.feed(&stream[at..end]);
        at = end;
        failed = drain(&mut chunked, &mut got);
    }
    assert_eq!(failed, whole_failed, "the verdict depends on the chunking");
    assert_eq!(got.len(), want.len(), "the frames depend on the chunking");
    assert!(got == want, "a frame's bytes depend on the chunking");
});
