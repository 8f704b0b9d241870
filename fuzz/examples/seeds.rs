//! Writes the committed seed corpora, `fuzz/seeds/<target>/`: small valid inputs of each boundary, made with the
//! project's own writers, so the fuzzer starts from files that get past the first checks.
//!
//! Run from the repository root: `cargo run --manifest-path fuzz/Cargo.toml --example seeds` (deterministic: the
//! same bytes every time; the files are committed, CI does not run this).

use avf_bel::link::{state, Heartbeat, Message, Reward, Sample, MAX_FRAME, MAX_PAYLOAD};
use avf_bel::model::{Precision, SplitMix64};
use avf_bel::stimuli::io::{wav_bytes, y4m_bytes};
use avf_bel_fuzz::Model;
use std::path::Path;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("fuzz/seeds").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn payload(m: &Message) -> Vec<u8> {
    let mut b = [0u8; MAX_PAYLOAD];
    let n = m.encode(&mut b).unwrap();
    b[..n].to_vec()
}

fn frame(m: &Message) -> Vec<u8> {
    let mut b = [0u8; MAX_FRAME];
    let n = m.encode_frame(&mut b).unwrap();
    b[..n].to_vec()
}

/// A WAV file of `tag` (1 PCM, 3 float) with `bits` per sample and `channels`, holding `frames` of a ramp.
fn wav(tag: u16, bits: u16, channels: u16, frames: usize) -> Vec<u8> {
    let width = usize::from(bits / 8);
    let mut data = Vec::new();
    for i in 0..frames * usize::from(channels) {
        let x = (i as f32 / 8.0).sin() * 0.5;
        match (tag, bits) {
            (3, 32) => data.extend_from_slice(&x.to_le_bytes()),
            (_, 8) => data.push((128.0 + 100.0 * x) as u8),
            (_, 24) => data.extend_from_slice(&(((x * 8e6) as i32) << 8).to_le_bytes()[1..]),
            _ => data.extend_from_slice(&((x * 3e4) as i16).to_le_bytes()),
        }
    }
    let mut b = b"RIFF".to_vec();
    b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&tag.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&22_050u32.to_le_bytes());
    b.extend_from_slice(&(22_050 * (width * usize::from(channels)) as u32).to_le_bytes());
    b.extend_from_slice(&((width * usize::from(channels)) as u16).to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&data);
    b
}

fn main() {
    // Weights: the tiny model in each precision.
    for (name, p) in
        [("tiny-f32.avfw", Precision::F32), ("tiny-f16.avfw", Precision::F16), ("tiny-int8.avfw", Precision::Int8)]
    {
        write("weights", name, &Model::Tiny.file(p));
    }

    // The link's messages.
    let sample = Message::Sample(Sample {
        seq: 7,
        capture_ns: 1_000_000,
        publish_ns: 1_004_000,
        epp: 0.6,
        emotions: [0.1, 0.7, 0.5, 0.2, 0.1],
        confidence: 0.9,
        flags: 0b11,
        model_hash: 0x0123_4567_89ab_cdef,
    });
    let heartbeat = Message::Heartbeat(Heartbeat {
        seq: 3,
        now_ns: 2_000_000_000,
        samples: 90,
        dropped: 1,
        updates: 2,
        flags: 0b1_0011,
        model_hash: 0x0123_4567_89ab_cdef,
    });
    let reward = Message::Reward(Reward { seq: 7, reward: [0.0, 1.0, 0.5, 0.0, 0.25] });
    let bad_reward = Message::Reward(Reward { seq: 8, reward: [f32::NAN, 2.0, -1.0, 0.5, f32::INFINITY] });
    for (name, m) in
        [("sample", &sample), ("heartbeat", &heartbeat), ("reward", &reward), ("reward-out-of-range", &bad_reward)]
    {
        write("message", name, &payload(m));
    }
    // Serial: the first byte is the read size; a stream of frames, one with junk before it.
    let stream = [frame(&sample), frame(&heartbeat), b"\x13\x37junk".to_vec(), frame(&reward)].concat();
    for chunk in [1u8, 7, 64] {
        write("frame", &format!("stream-chunk{chunk}"), &[&[chunk][..], &stream].concat());
    }
    // Rewards: `[len][payload]` sequences.
    let packets = |ms: &[&Message]| -> Vec<u8> {
        ms.iter()
            .flat_map(|m| {
                let p = payload(m);
                [vec![p.len() as u8], p].concat()
            })
            .collect()
    };
    write("reward", "three", &packets(&[&reward, &bad_reward, &reward]));
    write("reward", "mixed", &packets(&[&sample, &reward, &heartbeat]));

    // State files of the tiny model (its own hash), plain (mode 0) and with the CRC recomputed (mode 1).
    let bytes = Model::Tiny.with_pipeline(Precision::F32, |p| {
        let hash = p.model_hash();
        state::encode(p.bel(), hash, 5)
    });
    write("state", "tiny-mode0", &[&[0u8][..], &bytes].concat());
    write("state", "tiny-mode1", &[&[1u8][..], &bytes].concat());

    // Board profiles: the shipped ones.
    for e in std::fs::read_dir("boards").unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_some_and(|x| x == "toml") {
            write("board", path.file_name().unwrap().to_str().unwrap(), &std::fs::read(&path).unwrap());
        }
    }

    // WAV: 16-bit mono (the project's writer), 8/24-bit PCM, float stereo.
    let tone: Vec<f32> = (0..64).map(|i| 0.5 * (i as f32 * 0.2).sin()).collect();
    write("wav", "pcm16-mono.wav", &wav_bytes(&tone, 22_050));
    write("wav", "pcm8-mono.wav", &wav(1, 8, 1, 32));
    write("wav", "pcm24-stereo.wav", &wav(1, 24, 2, 16));
    write("wav", "float-stereo.wav", &wav(3, 32, 2, 16));

    // Y4M: `[w, h, index, flags]` then a file; 4:2:0 (the project's writer), mono, 4:2:2 and 4:4:4.
    let luma: Vec<u8> = (0..2 * 8 * 6).map(|i| (i * 7 % 256) as u8).collect();
    write("y4m", "420-8x6-to-4x3", &[&[4, 3, 1, 0][..], &y4m_bytes(&luma, 8, 6, 30)].concat());
    for (name, c, extra) in [("mono", "mono", 0usize), ("422", "422", 2 * 2 * 3), ("444", "444", 2 * 4 * 3)] {
        let mut f = format!("YUV4MPEG2 W4 H3 F30000:1001 It A1:1 C{c} XCOMMENT=seed\n").into_bytes();
        for k in 0..2u8 {
            f.extend_from_slice(b"FRAME\n");
            f.extend((0..12u8).map(|i| i * 20 + k));
            f.resize(f.len() + extra, 128);
        }
        write("y4m", &format!("{name}-4x3-to-9x7"), &[&[9, 7, 0, 0][..], &f].concat());
    }

    // Streaming readers: 8 bytes seeding the chunk sizes, then a stream (the Y4M one in three colour spaces, a
    // FRAME line with parameters); the PCM one with a mode byte first: WAV (sized data, streamed data of size 0,
    // an extra chunk before the data) or headerless s16le.
    let mut y4m_stream = y4m_bytes(&luma, 8, 6, 30);
    y4m_stream.extend_from_slice(b"FRAME Ixyz\n");
    y4m_stream.extend((0..8 * 6 * 3 / 2).map(|i| i as u8));
    for (i, seed) in [1u64, 77, 4242].into_iter().enumerate() {
        write("y4m_stream", &format!("420-seed{i}"), &[&seed.to_le_bytes()[..], &y4m_stream].concat());
    }
    let mut mono = b"YUV4MPEG2 W5 H2 F15:1 Cmono\n".to_vec();
    for k in 0..3u8 {
        mono.extend_from_slice(b"FRAME\n");
        mono.extend((0..10u8).map(|i| i * 9 + k));
    }
    write("y4m_stream", "mono", &[&9u64.to_le_bytes()[..], &mono].concat());
    let streamed = {
        let mut b = wav(1, 16, 2, 24);
        b[40..44].copy_from_slice(&0u32.to_le_bytes()); // data size 0: read to the end, as arecord writes on a pipe
        b
    };
    let with_list = {
        let b = wav(1, 24, 1, 20);
        let mut out = b[..36].to_vec();
        out.extend_from_slice(b"LIST\x05\0\0\0hello\0"); // an odd-sized chunk to skip (and its pad byte)
        out.extend_from_slice(&b[36..]);
        out
    };
    let raw: Vec<u8> = (0..200u8).map(|i| i.wrapping_mul(37)).collect();
    for (name, mode, bytes) in [
        ("wav-s16-stereo", [0u8, 0, 0, 0], wav(1, 16, 2, 32)),
        ("wav-s16-streamed", [0, 0, 0, 0], streamed),
        ("wav-u8", [0, 0, 0, 0], wav(1, 8, 1, 40)),
        ("wav-s24-list", [0, 0, 0, 0], with_list),
        ("wav-float", [0, 0, 0, 0], wav(3, 32, 2, 12)),
        ("raw-s16-stereo", [1, 0x10, 0x07, 1], raw),
    ] {
        write("pcm_stream", name, &[&mode[..], &5u64.to_le_bytes()[..], &bytes].concat());
    }

    // Input URIs, every scheme and option.
    for (i, u) in [
        "synth://happy",
        "file:///home/robot/clip.y4m?end=follow",
        "file:///tmp/mic.raw?format=s16le&rate=16000&channels=2",
        "pipe:gst-launch-1.0 -q v4l2src ! fdsink",
        "pipe:s16le:48000:2:arecord -t raw -f S16_LE",
        "csi://0?width=1280&height=720&fps=30",
        "v4l2:///dev/video0",
        "alsa://plughw:1,0",
    ]
    .iter()
    .enumerate()
    {
        write("source_uri", &format!("uri{i}"), u.as_bytes());
    }

    // Structured targets (`arbitrary`): random bytes decode to random operation lists and configurations.
    let mut rng = SplitMix64(14);
    for (target, sizes) in [("pipeline_input", [256usize, 2048]), ("model_config", [128, 512])] {
        for n in sizes {
            let b: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            write(target, &format!("random-{n}"), &b);
        }
    }
}
