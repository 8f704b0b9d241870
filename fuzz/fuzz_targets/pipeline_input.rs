//! Everything a caller can feed a running pipeline, in any order: frames of any size, audio with NaN, infinities
//! and huge values in any chunking, inference and streaming read-outs with any choice of senses, learning with any
//! reward, resets, on the light tiny model (16-neuron cortex) in each precision. No panic; every read-out is in 0–1; BEL stays finite and
//! bounded whatever it was taught.
//!
//! Each input gets at most 64 operations and 4,096 audio samples, 16 analysis hops (the auditory cortex is the
//! costly stage, and longer audio would only slow the fuzzer down: it exercises nothing new).
#![no_main]
use avf_bel::model::Precision;
use avf_bel::{Modalities, N_EMOTIONS};
use avf_bel_fuzz::{check_bel, check_output, frame_from, Model};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    /// A frame of any length (mostly the wrong one).
    Frame(Vec<u8>),
    /// A frame of the model's size, filled from a pattern.
    FullFrame(Vec<u8>),
    /// PCM exactly as given (any bit pattern: NaN, ±inf, subnormals, huge).
    Audio(Vec<f32>),
    /// A loud or quiet tone of `n` samples (long audio without long inputs).
    Tone {
        amplitude: f32,
        n: u16,
    },
    Infer {
        audio: bool,
        video: bool,
    },
    Peek {
        audio: bool,
        video: bool,
    },
    Learn([f32; N_EMOTIONS]),
    Reset,
}

#[derive(Arbitrary, Debug)]
struct Input {
    precision: u8,
    ops: Vec<Op>,
}

/// Audio samples one input may push (0.19 s at 22,050 Hz: 16 hops, past the first 512-sample window).
const AUDIO_BUDGET: usize = 4096;

fuzz_target!(|input: Input| {
    let precision = [Precision::F32, Precision::F16, Precision::Int8][usize::from(input.precision % 3)];
    Model::Light.with_pipeline(precision, |p| {
        let mut audio_left = AUDIO_BUDGET;
        for op in input.ops.iter().take(64) {
            match op {
                Op::Frame(f) => {
                    let _ = p.push_frame(f);
                }
                Op::FullFrame(pattern) => {
                    let f = frame_from(p, pattern);
                    p.push_frame(&f).expect("a frame of the model's size is accepted");
                }
                Op::Audio(pcm) => {
                    let pcm = &pcm[..pcm.len().min(audio_left)];
                    audio_left -= pcm.len();
                    let _ = p.push_audio(pcm);
                }
                Op::Tone { amplitude, n } => {
                    let n = usize::from(*n).min(audio_left);
                    audio_left -= n;
                    let pcm: Vec<f32> = (0..n).map(|i| amplitude * (i as f32 * 0.07).sin()).collect();
                    let _ = p.push_audio(&pcm);
                }
                Op::Infer { audio, video } => {
                    if let Ok(o) = p.infer(Modalities { audio: *audio, video: *video }) {
                        check_output(&o);
                    }
                }
                Op::Peek { audio, video } => {
                    if let Ok(o) = p.peek(Modalities { audio: *audio, video: *video }) {
                        check_output(&o);
                    }
                }
                Op::Learn(reward) => {
                    let _ = p.learn(reward);
                }
                Op::Reset => p.reset(),
            }
            check_bel(p);
        }
    });
});
