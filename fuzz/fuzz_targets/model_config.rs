//! The configuration half of a weights file: "a configuration that passes `ModelConfig::validate` can be run without
//! further checks". Any small configuration (odd frame sizes, CORnet-Z widths, sample rates, FFT sizes, hops, mel
//! bands, cortex populations, fusion sizes, BEL rates and bound), seeded weights in any precision, written, parsed,
//! bound and run through a clip. A configuration validate refuses is fine; one it accepts must encode, parse, bind,
//! infer with read-outs in 0–1 and learn with BEL bounded.
//!
//! Sizes are drawn small (frames ≤ 80×80, widths ≤ 24, …) so an input costs about a millisecond; the sample rate,
//! FFT size, hop, mel bands and BEL parameters cover their whole valid ranges and just past them.
#![no_main]
use avf_bel::model::{encode, seeded, Precision};
use avf_bel::weights::writer::AlignedBytes;
use avf_bel::{
    AudioConfig, BelConfig, CortexConfig, FusionConfig, InputConfig, Modalities, ModelConfig, Pipeline, VisualConfig,
    Weights,
};
use avf_bel_fuzz::{check_bel, check_output, frame_from, poisoned_scratch};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    height: u8,
    width: u8,
    channels: u8,
    widths: [u8; 4],
    stride_frames: u8,
    head_classes: u8,
    features: u8,
    fps: u8,
    sample_rate: u32,
    n_fft_log2: u8,
    hop: u16,
    n_mels: u16,
    tempo_frames: u8,
    n_pyr: u8,
    n_pv: u8,
    n_som: u8,
    groups: u8,
    dt_us: u16,
    cortex_seed: u64,
    audio_features: u8,
    hidden: u8,
    sensory: u8,
    attention: bool,
    alpha: f32,
    beta: f32,
    weight_bound: f32,
    loudness_tau_ms: u16,
    luma: bool,
    substitute: bool,
    onset_range_db: u8,
    drive_floor_db: i8,
    background_tau_ms: u16,
    background_gate: bool,
    background_level_rows: bool,
    precision: u8,
    weights_seed: u64,
    tone_hz: u16,
}

fuzz_target!(|i: Input| {
    let n_fft = 1u16 << (7 + i.n_fft_log2 % 7); // 128..=8192
    let cfg = ModelConfig {
        visual: VisualConfig {
            height: 14 + u16::from(i.height % 67), // 14..=80: just below the 16-pixel minimum too
            width: 14 + u16::from(i.width % 67),
            channels: i.channels % 7,                    // 0..=6
            widths: i.widths.map(|w| u16::from(w % 25)), // 0..=24
            stride_frames: i.stride_frames % 4,          // 0..=3
            head_classes: u16::from(i.head_classes % 4), // 0..=3
            features: i.features % 10,                   // 0..=9
            fps: u16::from(i.fps),                       // 0..=255: zero and above the 240 ceiling too
        },
        audio: AudioConfig {
            // 7,000..=97,000 Hz and the two ends of the valid range exactly.
            sample_rate: match i.sample_rate % 8 {
                0 => 8_000,
                1 => 96_000,
                _ => 7_000 + i.sample_rate % 90_001,
            },
            n_fft,
            hop: i.hop % (n_fft + 2),           // 0..=n_fft + 1
            n_mels: i.n_mels % (n_fft / 2 + 2), // 0..=n_fft/2 + 1
            tempo_frames: u16::from(i.tempo_frames),
        },
        cortex: CortexConfig {
            n_pyr: u16::from(i.n_pyr % 17),
            n_pv: u16::from(i.n_pv % 9),
            n_som: u16::from(i.n_som % 9),
            groups: i.groups % 5,
            dt_us: i.dt_us % 1100,
            seed: i.cortex_seed,
        },
        fusion: FusionConfig {
            audio_features: i.audio_features % 10,
            hidden: u16::from(i.hidden % 20),
            sensory: i.sensory % 10,
            attention: i.attention,
        },
        bel: BelConfig { alpha: i.alpha, beta: i.beta, weight_bound: i.weight_bound },
        input: InputConfig {
            loudness_tau_ms: i.loudness_tau_ms,
            luma: i.luma,
            substitute: i.substitute,
            onset_range_db: i.onset_range_db,
            drive_floor_db: i.drive_floor_db,
            background_tau_ms: i.background_tau_ms,
            background_gate: i.background_gate,
            background_level_rows: i.background_level_rows,
        },
    };
    if cfg.validate().is_err() {
        return;
    }
    let precision = [Precision::F32, Precision::F16, Precision::Int8][usize::from(i.precision % 3)];
    let bytes = encode(&cfg, &seeded(&cfg, i.weights_seed), precision).expect("a valid configuration encodes");
    let file = AlignedBytes::new(&bytes);
    let w = Weights::parse(file.as_bytes()).expect("what the writer wrote parses");
    assert_eq!(*w.config(), cfg);
    poisoned_scratch(Pipeline::scratch_len(&w), |scratch| run(&cfg, &w, scratch, &i));
});

/// Bind, feed a stack of frames and a tone, read out, learn.
fn run(cfg: &ModelConfig, w: &Weights<'_>, scratch: &mut [f32], i: &Input) {
    let mut p = Pipeline::new(w, scratch).expect("a valid configuration binds");
    let frame = frame_from(&p, &i.cortex_seed.to_le_bytes());
    for _ in 0..usize::from(cfg.visual.channels) * usize::from(cfg.visual.stride_frames) {
        p.push_frame(&frame).expect("a frame of the model's size");
    }
    // A tone of up to two FFT windows, bounded so an input stays cheap whatever the configuration: at most 8,192
    // samples, 64 hops and 5,000 cortex steps (a 1-sample hop or a 1-µs cortex step would otherwise cost seconds; more
    // steps of the same cortex exercise nothing new).
    let (sr, dt) = (cfg.audio.sample_rate as usize, usize::from(cfg.cortex.dt_us));
    let n = [2 * usize::from(cfg.audio.n_fft), 64 * usize::from(cfg.audio.hop), 8192, sr * dt / 200]
        .into_iter()
        .min()
        .unwrap_or(0);
    let step = std::f32::consts::TAU * f32::from(i.tone_hz % 8000 + 20) / cfg.audio.sample_rate as f32;
    let pcm: Vec<f32> = (0..n).map(|k| 0.5 * (k as f32 * step).sin()).collect();
    p.push_audio(&pcm).expect("audio in -1..1");
    // A streaming read-out needs one whole analysis frame; with less audio it is a typed error.
    match p.peek(Modalities::AUDIO) {
        Ok(o) => check_output(&o),
        Err(e) => assert_eq!(e, avf_bel::Error::Input(avf_bel::InputError::EmptyAudio), "{e}"),
    }
    check_output(&p.infer(Modalities::BOTH).expect("a valid model infers"));
    p.learn(&[0.0, 1.0, 0.5, 0.25, 0.75]).expect("and learns");
    check_bel(&mut p);
}
