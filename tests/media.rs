//! WAV and YUV4MPEG2 readers: round trips through the project's writers, malformed files, random bytes.

use avf_bel::media::{read_wav, read_y4m, MediaError};
use avf_bel::model::SplitMix64;
use avf_bel::stimuli::io::{wav_bytes, y4m_bytes};

#[test]
fn wav_round_trip_within_two_lsb() {
    let x: Vec<f32> = (0..1000).map(|i| 0.8 * (i as f32 * 0.05).sin()).collect();
    let back = read_wav(&wav_bytes(&x, 22_050), 22_050).unwrap();
    assert_eq!(back.len(), x.len());
    for (a, b) in x.iter().zip(&back) {
        // Rounding (½ LSB) plus the writer's 32767 vs the reader's 32768 full scale (≤ 1 LSB): within 2 LSB.
        assert!((a - b).abs() <= 2.0 / 32767.0, "{a} vs {b}");
    }
}

#[test]
fn stereo_float_wav_is_downmixed() {
    // Hand-built: IEEE float, 2 channels, 22,050 Hz, two frames (0.5, −0.5) and (1.0, 0.0).
    let mut b = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&3u16.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&22_050u32.to_le_bytes());
    b.extend_from_slice(&(22_050u32 * 8).to_le_bytes());
    b.extend_from_slice(&8u16.to_le_bytes());
    b.extend_from_slice(&32u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&16u32.to_le_bytes());
    for v in [0.5f32, -0.5, 1.0, 0.0] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(read_wav(&b, 22_050).unwrap(), vec![0.0, 0.5]);
}

#[test]
fn bad_wavs_get_typed_errors() {
    let good = wav_bytes(&[0.1, 0.2, 0.3], 22_050);
    assert_eq!(read_wav(&good, 44_100), Err(MediaError::SampleRate { expected: 44_100, got: 22_050 }));
    assert!(matches!(read_wav(b"RIFX", 22_050), Err(MediaError::BadWav(_))));
    assert!(matches!(read_wav(&good[..40], 22_050), Err(MediaError::BadWav(_))));
    assert_eq!(read_wav(&good[..44], 22_050), Err(MediaError::Empty));
    let mut bits12 = good.clone();
    bits12[34] = 12;
    assert!(matches!(read_wav(&bits12, 22_050), Err(MediaError::UnsupportedWav(_))));
}

#[test]
fn y4m_round_trip_and_resize() {
    let frames: Vec<u8> = (0..3 * 8 * 6).map(|i| (i * 5 % 256) as u8).collect();
    let y = read_y4m(&y4m_bytes(&frames, 8, 6, 30)).unwrap();
    assert_eq!((y.width, y.height, y.frames(), y.fps), (8, 6, 3, 30.0));
    assert_eq!(y.luma, frames);
    let mut half = vec![0u8; 4 * 3];
    y.frame_resized(1, 4, 3, &mut half).unwrap();
    let f1 = &frames[48..96];
    let avg = |x: usize, yy: usize| {
        ((f1[2 * yy * 8 + 2 * x] as u32
            + f1[2 * yy * 8 + 2 * x + 1] as u32
            + f1[(2 * yy + 1) * 8 + 2 * x] as u32
            + f1[(2 * yy + 1) * 8 + 2 * x + 1] as u32
            + 2)
            / 4) as u8 // area average, rounded to nearest
    };
    assert_eq!(half[0], avg(0, 0));
    assert_eq!(half[11], avg(3, 2));
}

#[test]
fn bad_y4ms_get_typed_errors() {
    let good = y4m_bytes(&[7u8; 2 * 16], 4, 4, 30);
    assert!(matches!(read_y4m(b"YUV4MPEG3 W4 H4\n"), Err(MediaError::BadY4m(_))));
    assert!(matches!(read_y4m(b"YUV4MPEG2 W0 H4\n"), Err(MediaError::BadY4m(_))));
    assert!(matches!(read_y4m(b"YUV4MPEG2 W4 H4 C411\nFRAME\n"), Err(MediaError::BadY4m(_))));
    assert_eq!(read_y4m(b"YUV4MPEG2 W4 H4 F30:1\n"), Err(MediaError::Empty));
    assert!(matches!(read_y4m(&good[..good.len() - 1]), Err(MediaError::BadY4m(_))));
}

#[test]
fn y4m_header_parameters_are_read_as_the_format_defines_them() {
    let frame = b"FRAME\n\x01\x02\x03\x04";
    let with = |header: &[u8]| [header, &frame[..]].concat();
    // F30000:1001 (NTSC), F0:0 (unknown: the default 30), per-frame parameters, X/I/A parameters whose values are
    // not text: all fine.
    let y = read_y4m(&with(b"YUV4MPEG2 W2 H2 F30000:1001 Cmono\n")).unwrap();
    assert!((y.fps - 29.97).abs() < 0.01, "{}", y.fps);
    assert_eq!(read_y4m(&with(b"YUV4MPEG2 W2 H2 F0:0 Cmono\n")).unwrap().fps, 30.0);
    let odd = read_y4m(&with(b"YUV4MPEG2 W2 H2 Ip A1:1 XCOMMENT=caf\xe9\xff Cmono\n")).unwrap();
    assert_eq!(odd.luma, [1, 2, 3, 4]);
    assert!(read_y4m(b"YUV4MPEG2 W2 H2 Cmono\nFRAME Ixyz\n\x01\x02\x03\x04").is_ok());
    // Doubled and trailing spaces are tolerated.
    assert!(read_y4m(&with(b"YUV4MPEG2  W2 H2 Cmono \n")).is_ok());
    let refused: [&[u8]; 9] = [
        b"YUV4MPEG2 W2 H2 F30:0x Cmono\n", // not a number
        b"YUV4MPEG2 W+2 H2 Cmono\n",       // a sign is not part of the format
        b"YUV4MPEG2 W2 H2 F-1:1 Cmono\n",  // negative rate
        b"YUV4MPEG2 W2 H2 Finf:1 Cmono\n", // f32 parsing would have taken this
        b"YUV4MPEG2 W2 H2 C420p10\n",      // 10-bit: other frame sizes, not read as 8-bit
        b"YUV4MPEG2 W2 H2 C444alpha\n",    // four planes
        b"YUV4MPEG2 W2 H2 Cmono 7\n",      // a parameter must start with a letter
        b"YUV4MPEG2 W8193 H2 Cmono\n",     // over the side limit
        b"YUV4MPEG2 W2 H\xc2\xb2 Cmono\n", // a non-ASCII value of a known tag
    ];
    for h in refused {
        assert!(matches!(read_y4m(&with(h)), Err(MediaError::BadY4m(_))), "{}", String::from_utf8_lossy(h));
    }
    assert!(matches!(read_y4m(b"YUV4MPEG2 W2 H2 Cmono\nFRAMES\n\x01\x02\x03\x04"), Err(MediaError::BadY4m(_))));
}

#[test]
fn frame_requests_outside_the_stream_are_typed_errors() {
    let y = read_y4m(&y4m_bytes(&[7u8; 2 * 16], 4, 4, 30)).unwrap();
    let mut out = vec![0u8; 6];
    assert_eq!(y.frame_resized(1, 3, 2, &mut out), Ok(()));
    assert_eq!(out, [7; 6]);
    for (i, w, h, len) in
        [(2, 3, 2, 6), (usize::MAX, 3, 2, 6), (0, 3, 2, 5), (0, 3, 2, 7), (0, 0, 2, 0), (0, 8193, 1, 8193)]
    {
        let mut out = vec![0u8; len];
        assert!(
            matches!(y.frame_resized(i, w, h, &mut out), Err(MediaError::FrameRequest(_))),
            "frame {i} at {w}x{h} into {len} bytes"
        );
    }
    // The fields are public: a hand-made value with no size or too little luma has no frames to give.
    let empty = avf_bel::media::Y4m { width: 0, height: 4, fps: 30.0, luma: vec![1; 16] };
    assert_eq!(empty.frames(), 0);
    assert!(empty.frame_resized(0, 2, 2, &mut [0; 4]).is_err());
    let huge = avf_bel::media::Y4m { width: usize::MAX, height: 2, fps: 30.0, luma: vec![1; 16] };
    assert_eq!(huge.frames(), 0);
}

#[test]
fn averaging_a_big_frame_into_one_pixel_does_not_overflow() {
    // 4200×4096 white pixels sum to 4.39e9, past u32::MAX: the sum must be wide enough.
    let y = avf_bel::media::Y4m { width: 4200, height: 4096, fps: 30.0, luma: vec![255; 4200 * 4096] };
    let mut out = [0u8; 1];
    y.frame_resized(0, 1, 1, &mut out).unwrap();
    assert_eq!(out, [255]);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = SplitMix64(5);
    let wav = wav_bytes(&[0.25; 64], 22_050);
    let y4m = y4m_bytes(&[9u8; 64], 8, 8, 30);
    for _ in 0..5000 {
        for base in [&wav, &y4m] {
            let mut f = base.clone();
            let cut = (rng.next_u64() % (f.len() as u64 + 1)) as usize;
            f.truncate(cut);
            for _ in 0..3 {
                if !f.is_empty() {
                    let i = (rng.next_u64() % f.len() as u64) as usize;
                    f[i] = rng.next_u64() as u8;
                }
            }
            let _ = read_wav(&f, 22_050);
            let _ = read_y4m(&f);
        }
    }
}
