//! The wire contract byte for byte (docs/wire.md): every message's payload and serial frame written out by hand,
//! encoded and decoded both ways, plus the malformed cases.

use avf_bel::link::frame::{self, Decoder, FrameError, CRC32C};
use avf_bel::link::{
    flags, Heartbeat, LinkError, Message, MessageDecoder, Reward, Sample, SceneCut, MAX_FRAME, MAX_PAYLOAD,
};

const HASH: u64 = 0x0123_4567_89AB_CDEF;
/// `HASH` as a postcard varint: 7 bits at a time, least significant first, high bit = "more follows".
const HASH_VARINT: [u8; 9] = [0xEF, 0x9B, 0xAF, 0xCD, 0xF8, 0xAC, 0xD1, 0x91, 0x01];

fn sample() -> Sample {
    Sample {
        seq: 300,
        capture_ns: 1_000_000_000,
        publish_ns: 1_000_250_000,
        epp: 0.5,
        emotions: [0.25, 1.0, 0.5, 0.0, 0.125],
        confidence: 0.75,
        flags: flags::AUDIO_OK | flags::VIDEO_OK,
        model_hash: HASH,
    }
}

fn sample_payload() -> Vec<u8> {
    let mut p = vec![
        0x02, // protocol version
        0x00, // tag 0: Sample
        0xAC, 0x02, // seq 300
        0x80, 0x94, 0xEB, 0xDC, 0x03, // capture_ns 1_000_000_000
        0x90, 0xB5, 0xFA, 0xDC, 0x03, // publish_ns 1_000_250_000
        0x00, 0x00, 0x00, 0x3F, // epp 0.5 (f32 LE)
        0x00, 0x00, 0x80, 0x3E, // angry 0.25
        0x00, 0x00, 0x80, 0x3F, // happy 1.0
        0x00, 0x00, 0x00, 0x3F, // peaceful 0.5
        0x00, 0x00, 0x00, 0x00, // sad 0
        0x00, 0x00, 0x00, 0x3E, // scared 0.125
        0x00, 0x00, 0x40, 0x3F, // confidence 0.75
        0x03, // flags: audio ok | video ok
    ];
    p.extend_from_slice(&HASH_VARINT);
    p
}

/// COBS of `payload ‖ CRC 0x2F9AC2E8 (LE)`, then 0x00.
const SAMPLE_FRAME: [u8; 58] = [
    0x02, 0x02, // block "02" (the version), implied zero
    0x0D, 0xAC, 0x02, 0x80, 0x94, 0xEB, 0xDC, 0x03, 0x90, 0xB5, 0xFA, 0xDC, 0x03, // 12 bytes, zero
    0x01, // empty block: zero
    0x01, // zero
    0x02, 0x3F, // "3F", zero
    0x01, 0x03, 0x80, 0x3E, 0x01, 0x03, 0x80, 0x3F, 0x01, 0x01, 0x02, 0x3F, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x02,
    0x3E, 0x01, // emotions
    0x11, 0x40, 0x3F, 0x03, 0xEF, 0x9B, 0xAF, 0xCD, 0xF8, 0xAC, 0xD1, 0x91, 0x01, 0xE8, 0xC2, 0x9A,
    0x2F, // to the end
    0x00, // delimiter
];

fn heartbeat() -> Heartbeat {
    Heartbeat {
        seq: 7,
        now_ns: 2_000_000_000,
        samples: 210,
        dropped: 0,
        updates: 5,
        flags: flags::AUDIO_OK | flags::VIDEO_OK | flags::LEARNING,
        model_hash: HASH,
    }
}

fn heartbeat_payload() -> Vec<u8> {
    let mut p = vec![
        0x02, // version
        0x01, // tag 1: Heartbeat
        0x07, // seq 7
        0x80, 0xA8, 0xD6, 0xB9, 0x07, // now_ns 2_000_000_000
        0xD2, 0x01, // samples 210
        0x00, // dropped 0
        0x05, // updates 5
        0x13, // flags
    ];
    p.extend_from_slice(&HASH_VARINT);
    p
}

const HEARTBEAT_FRAME: [u8; 28] = [
    0x0B, 0x02, 0x01, 0x07, 0x80, 0xA8, 0xD6, 0xB9, 0x07, 0xD2, 0x01, // 10 bytes, zero
    0x10, 0x05, 0x13, 0xEF, 0x9B, 0xAF, 0xCD, 0xF8, 0xAC, 0xD1, 0x91, 0x01, 0xC3, 0x2D, 0x95,
    0x5F, // CRC 0x5F952DC3
    0x00,
];

fn reward() -> Reward {
    Reward { seq: 301, reward: [0.0, 1.0, 0.5, 0.0, 0.0] }
}

const REWARD_PAYLOAD: [u8; 24] = [
    0x02, // version
    0x02, // tag 2: Reward
    0xAD, 0x02, // seq 301
    0x00, 0x00, 0x00, 0x00, // angry 0
    0x00, 0x00, 0x80, 0x3F, // happy 1
    0x00, 0x00, 0x00, 0x3F, // peaceful 0.5
    0x00, 0x00, 0x00, 0x00, // sad 0
    0x00, 0x00, 0x00, 0x00, // scared 0
];

const REWARD_FRAME: [u8; 30] = [
    0x05, 0x02, 0x02, 0xAD, 0x02, 0x01, 0x01, 0x01, 0x01, 0x01, 0x03, 0x80, 0x3F, 0x01, 0x01, 0x02, 0x3F, 0x01, 0x01,
    0x01, 0x01, 0x01, 0x01, 0x01, 0x05, 0x6A, 0xD5, 0x91, 0x8F, // CRC 0x8F91D56A
    0x00,
];

fn check(m: Message, payload: &[u8], framed: &[u8]) {
    let mut buf = [0u8; MAX_PAYLOAD];
    let n = m.encode(&mut buf).unwrap();
    assert_eq!(&buf[..n], payload, "payload of {m:?}");
    assert_eq!(Message::decode(payload), Ok(m));
    let mut f = [0u8; MAX_FRAME];
    let n = m.encode_frame(&mut f).unwrap();
    assert_eq!(&f[..n], framed, "frame of {m:?}");
    let mut dec = MessageDecoder::new();
    let mut got = Vec::new();
    avf_bel::link::decode_stream(&mut dec, framed, |r| got.push(r));
    assert_eq!(got, vec![Ok(m)]);
}

#[test]
fn crc32c_parameters() {
    assert_eq!(CRC32C.checksum(b"123456789"), 0xE306_9283);
    assert_eq!(CRC32C.checksum(&sample_payload()), 0x2F9A_C2E8);
}

/// A sample with no usable sense (protocol 2): NaN values (the daemon sends the quiet NaN 0x7FC00000), confidence
/// 0, flags degraded | no estimate.
fn no_estimate() -> Sample {
    Sample {
        seq: 301,
        capture_ns: 1_000_000_000,
        publish_ns: 1_000_250_000,
        epp: f32::NAN,
        emotions: [f32::NAN; 5],
        confidence: 0.0,
        flags: flags::DEGRADED | flags::NO_ESTIMATE,
        model_hash: HASH,
    }
}

fn no_estimate_payload() -> Vec<u8> {
    let mut p = vec![0x02, 0x00, 0xAD, 0x02, 0x80, 0x94, 0xEB, 0xDC, 0x03, 0x90, 0xB5, 0xFA, 0xDC, 0x03];
    for _ in 0..6 {
        p.extend_from_slice(&[0x00, 0x00, 0xC0, 0x7F]); // epp and the five emotions: NaN
    }
    p.extend_from_slice(&[0x00, 0x00, 0x00, 0x00, 0x28]); // confidence 0, flags 0x28
    p.extend_from_slice(&HASH_VARINT);
    p
}

/// COBS of `payload ‖ CRC 0x43AE85B5 (LE)`, then 0x00 (computed by tools/python's independent encoder).
const NO_ESTIMATE_FRAME: [u8; 58] = [
    0x02, 0x02, 0x0D, 0xAD, 0x02, 0x80, 0x94, 0xEB, 0xDC, 0x03, 0x90, 0xB5, 0xFA, 0xDC, 0x03, 0x01, 0x03, 0xC0, 0x7F,
    0x01, 0x03, 0xC0, 0x7F, 0x01, 0x03, 0xC0, 0x7F, 0x01, 0x03, 0xC0, 0x7F, 0x01, 0x03, 0xC0, 0x7F, 0x01, 0x03, 0xC0,
    0x7F, 0x01, 0x01, 0x01, 0x0F, 0x28, 0xEF, 0x9B, 0xAF, 0xCD, 0xF8, 0xAC, 0xD1, 0x91, 0x01, 0xB5, 0x85, 0xAE, 0x43,
    0x00,
];

#[test]
fn golden_no_estimate_sample() {
    let m = Message::Sample(no_estimate());
    let mut buf = [0u8; MAX_PAYLOAD];
    let n = m.encode(&mut buf).unwrap();
    assert_eq!(&buf[..n], &no_estimate_payload()[..]);
    let mut f = [0u8; MAX_FRAME];
    let n = m.encode_frame(&mut f).unwrap();
    assert_eq!(&f[..n], &NO_ESTIMATE_FRAME[..]);
    // NaN != NaN, so compare what matters: the flag, the NaNs, the rest of the fields.
    let Ok(Message::Sample(s)) = Message::decode(&no_estimate_payload()) else { panic!("not a sample") };
    assert!(!s.has_estimate() && s.epp.is_nan() && s.emotions.iter().all(|x| x.is_nan()));
    assert_eq!((s.seq, s.flags, s.confidence, s.model_hash), (301, 0x28, 0.0, HASH));
    assert!(sample().has_estimate());
}

#[test]
fn golden_sample() {
    check(Message::Sample(sample()), &sample_payload(), &SAMPLE_FRAME);
}

#[test]
fn golden_heartbeat() {
    check(Message::Heartbeat(heartbeat()), &heartbeat_payload(), &HEARTBEAT_FRAME);
}

#[test]
fn golden_reward() {
    check(Message::Reward(reward()), &REWARD_PAYLOAD, &REWARD_FRAME);
}

/// A scene cut after sample 301 (the CRC and the COBS frame computed independently, in Python, from docs/wire.md).
const SCENE_CUT_PAYLOAD: [u8; 4] = [
    0x02, // version
    0x03, // tag 3: SceneCut
    0xAD, 0x02, // seq 301
];

const SCENE_CUT_FRAME: [u8; 10] = [0x09, 0x02, 0x03, 0xAD, 0x02, 0x2A, 0xFB, 0x61, 0xB8, 0x00]; // CRC 0xB861FB2A

#[test]
fn golden_scene_cut() {
    check(Message::SceneCut(SceneCut { seq: 301 }), &SCENE_CUT_PAYLOAD, &SCENE_CUT_FRAME);
    // Tag 4 is still unknown: refused, not mistaken for something else.
    assert_eq!(Message::decode(&[0x02, 0x04, 0xAD, 0x02]), Err(LinkError::Decode));
}

#[test]
fn max_sizes_cover_the_largest_message() {
    let m = Message::Sample(Sample {
        seq: u32::MAX,
        capture_ns: u64::MAX,
        publish_ns: u64::MAX,
        model_hash: u64::MAX,
        flags: 0xFF,
        ..Sample::default()
    });
    let mut p = [0u8; MAX_PAYLOAD];
    let n = m.encode(&mut p).unwrap();
    assert_eq!(n, MAX_PAYLOAD, "the sample with the longest varints is the largest payload");
    let mut f = [0u8; MAX_FRAME];
    assert!(m.encode_frame(&mut f).is_ok());
    assert_eq!(m.encode_frame(&mut f[..20]), Err(LinkError::Frame(FrameError::BufferTooSmall)));
    assert_eq!(m.encode(&mut p[..10]), Err(LinkError::BufferTooSmall));
}

#[test]
fn malformed_payloads_are_refused() {
    let mut p = sample_payload();
    assert_eq!(Message::decode(&[]), Err(LinkError::Version(0)));
    p[0] = 1;
    assert_eq!(Message::decode(&p), Err(LinkError::Version(1)), "protocol 1 readers and writers are refused");
    p[0] = 2;
    p[1] = 4; // unknown tag (3 is SceneCut)
    assert_eq!(Message::decode(&p), Err(LinkError::Decode));
    p[1] = 0;
    p.push(0);
    assert_eq!(Message::decode(&p), Err(LinkError::TrailingBytes));
    p.truncate(p.len() - 3);
    assert_eq!(Message::decode(&p), Err(LinkError::Decode), "cut inside the hash varint");
    // A 10-byte varint that overflows u64.
    let mut bad = vec![2, 1, 7];
    bad.extend_from_slice(&[0xFF; 10]);
    bad.push(0x7F);
    assert_eq!(Message::decode(&bad), Err(LinkError::Decode));
}

#[test]
fn malformed_frames_are_refused_and_the_decoder_recovers() {
    let mut dec: Decoder<64> = Decoder::new();
    let mut seen = Vec::new();
    let mut push = |bytes: &[u8], dec: &mut Decoder<64>| {
        dec.for_each(bytes, |r| seen.push(r.map(|p| p.to_vec())));
    };
    // A flipped CRC byte.
    let mut f = REWARD_FRAME;
    f[26] ^= 0x40;
    push(&f, &mut dec);
    // A block cut short by the delimiter (code promises 4 bytes, 2 follow).
    push(&[0x05, 0x11, 0x22, 0x00], &mut dec);
    // Too short: 3 bytes cannot hold a payload byte and a CRC.
    push(&[0x04, 0x11, 0x22, 0x33, 0x00], &mut dec);
    // Longer than the decoder's 64 bytes.
    let mut long = vec![0xFF];
    long.extend_from_slice(&[0x55; 254]);
    long.push(0x00);
    push(&long, &mut dec);
    // Delimiter runs are empty frames, ignored; then a good frame is accepted.
    push(&[0x00, 0x00, 0x00], &mut dec);
    push(&REWARD_FRAME, &mut dec);
    assert_eq!(
        seen,
        vec![
            Err(FrameError::BadCrc),
            Err(FrameError::Truncated),
            Err(FrameError::TooShort),
            Err(FrameError::Overflow),
            Ok(REWARD_PAYLOAD.to_vec()),
        ]
    );
    assert_eq!((dec.frames(), dec.errors()), (1, 4));
}

#[test]
fn cobs_long_runs_without_zeros() {
    // 254 and 600 non-zero bytes: code 0xFF blocks (no implied zero) and the 0x01 empty final block.
    for n in [1usize, 253, 254, 255, 600] {
        let payload: Vec<u8> = (0..n).map(|i| (i % 255 + 1) as u8).collect();
        let mut out = vec![0u8; frame::max_frame_len(n)];
        let len = frame::encode(&payload, &mut out).unwrap();
        assert_eq!(out[len - 1], 0);
        assert!(!out[..len - 1].contains(&0));
        let mut dec: Decoder<700> = Decoder::new();
        let (used, r) = dec.push(&out[..len]);
        assert_eq!(used, len);
        assert_eq!(r, Some(Ok(&payload[..])), "n = {n}");
    }
}

#[test]
fn any_chunking_gives_the_same_messages() {
    let mut stream = Vec::new();
    for m in [Message::Sample(sample()), Message::Heartbeat(heartbeat()), Message::Reward(reward())] {
        let mut f = [0u8; MAX_FRAME];
        let n = m.encode_frame(&mut f).unwrap();
        stream.extend_from_slice(&f[..n]);
    }
    for chunk in 1..=stream.len() {
        let mut dec = MessageDecoder::new();
        let mut got = Vec::new();
        for c in stream.chunks(chunk) {
            avf_bel::link::decode_stream(&mut dec, c, |r| got.push(r.unwrap()));
        }
        assert_eq!(got, vec![Message::Sample(sample()), Message::Heartbeat(heartbeat()), Message::Reward(reward())]);
    }
}
