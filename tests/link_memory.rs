//! A long codec run keeps memory flat (alone in its own test binary: `/proc/self/statm` counts the whole process,
//! so no other test may run beside it).

use avf_bel::link::{decode_stream, flags, Message, MessageDecoder, Sample, MAX_FRAME};

fn sample(seq: u32) -> Sample {
    let x = (seq % 1000) as f32 / 1000.0;
    let emotions = [x, 1.0 - x, 0.5, x * x, 0.25];
    Sample {
        seq,
        capture_ns: 1_000_000 * u64::from(seq),
        publish_ns: 1_000_000 * u64::from(seq) + 1234,
        epp: avf_bel::epp(&emotions),
        emotions,
        confidence: x,
        flags: flags::AUDIO_OK | flags::VIDEO_OK,
        model_hash: 0xDEAD_BEEF_0BAD_F00D,
    }
}

fn resident_pages() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    s.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_long_run_keeps_memory_flat() {
    let mut dec = MessageDecoder::new();
    let mut ok = 0u32;
    let run = |count: u32, dec: &mut MessageDecoder, ok: &mut u32| {
        for seq in 0..count {
            let s = sample(seq);
            let mut f = [0u8; MAX_FRAME];
            let n = Message::Sample(s).encode_frame(&mut f).unwrap();
            decode_stream(dec, &f[..n], |r| {
                assert_eq!(r, Ok(Message::Sample(s)));
                *ok += 1;
            });
        }
    };
    run(10_000, &mut dec, &mut ok);
    let before = resident_pages();
    run(100_000, &mut dec, &mut ok);
    let after = resident_pages();
    assert_eq!(ok, 110_000);
    if let (Some(b), Some(a)) = (before, after) {
        assert!(a <= b + 16, "resident memory grew from {b} to {a} pages over 100,000 samples");
    }
}
