//! The serial codec under abuse: bit flips, garbage, lost bytes and random chunking. No corrupted message is ever
//! accepted and the decoder resynchronises at the next delimiter.

use avf_bel::link::frame::{self, Decoder};
use avf_bel::link::{decode_stream, Message, MessageDecoder, Sample, MAX_FRAME};

/// xorshift64*: deterministic, so every run checks the same streams.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn sample(seq: u32, rng: &mut Rng) -> Sample {
    let mut emotions = [0.0; 5];
    emotions.iter_mut().for_each(|e| *e = rng.unit());
    Sample {
        seq,
        capture_ns: 1_000_000 * u64::from(seq),
        publish_ns: 1_000_000 * u64::from(seq) + rng.below(5_000_000),
        epp: avf_bel::epp(&emotions),
        emotions,
        confidence: rng.unit(),
        flags: (rng.next() as u8) & 0x1F,
        model_hash: 0xDEAD_BEEF_0BAD_F00D,
    }
}

fn frame_of(m: &Message) -> Vec<u8> {
    let mut f = [0u8; MAX_FRAME];
    let n = m.encode_frame(&mut f).unwrap();
    f[..n].to_vec()
}

/// Feed `stream` in random chunk sizes, collecting accepted messages and the number of refused frames.
fn decode_chunked(stream: &[u8], rng: &mut Rng) -> (Vec<Message>, u32) {
    let mut dec = MessageDecoder::new();
    let mut got = Vec::new();
    let mut refused = 0;
    let mut rest = stream;
    while !rest.is_empty() {
        let n = (1 + rng.below(97) as usize).min(rest.len());
        decode_stream(&mut dec, &rest[..n], |r| match r {
            Ok(m) => got.push(m),
            Err(_) => refused += 1,
        });
        rest = &rest[n..];
    }
    (got, refused)
}

#[test]
fn bit_flips_and_garbage_never_yield_a_corrupted_sample() {
    let mut rng = Rng(0x5EED_0001);
    let n = 20_000u32;
    let originals: Vec<Sample> = (0..n).map(|s| sample(s, &mut rng)).collect();
    let mut stream = Vec::new();
    // Which frames arrive intact right after a delimiter (or at the start): those must all be accepted.
    let mut must_arrive = Vec::new();
    let (mut flipped, mut garbage) = (0, 0);
    for s in &originals {
        let mut f = frame_of(&Message::Sample(*s));
        let mut intact = true;
        match rng.below(20) {
            0 => {
                // Flip 1–3 random bits anywhere in the frame, delimiter included.
                for _ in 0..1 + rng.below(3) {
                    let i = rng.below(f.len() as u64) as usize;
                    f[i] ^= 1 << rng.below(8);
                }
                intact = false;
                flipped += 1;
            }
            1 => {
                // Drop a byte.
                let i = rng.below(f.len() as u64 - 1) as usize;
                f.remove(i);
                intact = false;
            }
            2 => {
                // Garbage (zeros included) before the frame: the frame is lost only if no zero ends the garbage.
                for _ in 0..rng.below(40) {
                    stream.push(rng.next() as u8);
                }
                garbage += 1;
            }
            _ => {}
        }
        let clean_start = stream.last().is_none_or(|&b| b == 0);
        if intact && clean_start {
            must_arrive.push(s.seq);
        }
        stream.extend_from_slice(&f);
    }
    assert!(flipped > 500 && garbage > 500);
    let (got, refused) = decode_chunked(&stream, &mut rng);
    for m in &got {
        match m {
            Message::Sample(s) => {
                assert!(s.seq < n, "accepted a sample with an impossible seq: {s:?}");
                assert_eq!(*s, originals[s.seq as usize], "accepted a corrupted sample");
            }
            other => panic!("accepted a message never sent: {other:?}"),
        }
    }
    let seqs: Vec<u32> = got
        .iter()
        .map(|m| match m {
            Message::Sample(s) => s.seq,
            _ => unreachable!(),
        })
        .collect();
    // Resynchronisation: every intact frame that starts after a delimiter is accepted, in order.
    let mut it = seqs.iter().peekable();
    for want in &must_arrive {
        while it.peek().is_some_and(|&&s| s < *want) {
            it.next();
        }
        assert_eq!(it.next(), Some(want), "intact frame {want} after a delimiter was not accepted");
    }
    assert!(refused > 1000, "the corruption was not noticed: {refused} refusals");
}

/// Property test: 20,000 random streams of frames, garbage and cut frames. Accepted payloads are exactly the intact
/// frames that start right after a delimiter.
#[test]
fn random_streams_property() {
    let mut rng = Rng(0xC0B5_2026);
    for case in 0..20_000u32 {
        let mut stream = Vec::new();
        let mut expected: Vec<Vec<u8>> = Vec::new();
        let mut sent: Vec<Vec<u8>> = Vec::new();
        for _ in 0..rng.below(6) {
            match rng.below(4) {
                0 => {
                    for _ in 0..rng.below(30) {
                        stream.push(if rng.below(4) == 0 { 0 } else { rng.next() as u8 });
                    }
                }
                1 => {
                    // A frame cut short, then a delimiter.
                    let p: Vec<u8> = (0..1 + rng.below(40)).map(|_| rng.next() as u8).collect();
                    let mut f = vec![0u8; frame::max_frame_len(p.len())];
                    let n = frame::encode(&p, &mut f).unwrap();
                    stream.extend_from_slice(&f[..rng.below(n as u64 - 1) as usize]);
                    stream.push(0);
                }
                _ => {
                    let len = if rng.below(10) == 0 { 200 + rng.below(400) } else { 1 + rng.below(60) };
                    let p: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                    let mut f = vec![0u8; frame::max_frame_len(p.len())];
                    let n = frame::encode(&p, &mut f).unwrap();
                    let clean = stream.last().is_none_or(|&b| b == 0);
                    // Payloads over the decoder's 256-byte capacity must be refused, not truncated.
                    if clean && p.len() + 4 <= 256 {
                        expected.push(p.clone());
                    }
                    sent.push(p);
                    stream.extend_from_slice(&f[..n]);
                }
            }
        }
        let mut dec: Decoder<256> = Decoder::new();
        let mut got = Vec::new();
        let mut rest = &stream[..];
        while !rest.is_empty() {
            let k = (1 + rng.below(50) as usize).min(rest.len());
            dec.for_each(&rest[..k], |r| {
                if let Ok(p) = r {
                    got.push(p.to_vec());
                }
            });
            rest = &rest[k..];
        }
        for g in &got {
            assert!(sent.contains(g), "case {case}: accepted a payload never sent: {g:02x?}");
        }
        assert_eq!(got, expected, "case {case}: stream {stream:02x?}");
    }
}
