//! WAV reading through hound: every PCM width and float, WAVE_FORMAT_EXTENSIBLE, multi-channel down-mix, streamed
//! files whose data chunk claims more than they hold.

use avf_bel::media::{read_wav, MediaError};
use hound::{SampleFormat, WavSpec, WavWriter};

/// A WAV file of `frames` (one Vec per frame) written by hound at 22,050 Hz.
fn wav_int(bits: u16, frames: &[Vec<i32>]) -> Vec<u8> {
    let spec = WavSpec {
        channels: frames[0].len() as u16,
        sample_rate: 22_050,
        bits_per_sample: bits,
        sample_format: SampleFormat::Int,
    };
    let mut c = std::io::Cursor::new(Vec::new());
    let mut w = WavWriter::new(&mut c, spec).unwrap();
    for f in frames {
        for &s in f {
            match bits {
                8 => w.write_sample(s as i8).unwrap(),
                16 => w.write_sample(s as i16).unwrap(),
                _ => w.write_sample(s).unwrap(),
            }
        }
    }
    w.finalize().unwrap();
    c.into_inner()
}

#[test]
fn every_pcm_width_reads_to_full_scale() {
    for (bits, full) in [(8u16, 128i64), (16, 32_768), (24, 8_388_608), (32, 2_147_483_648)] {
        let top = (full - 1) as i32;
        let frames =
            vec![vec![0], vec![(full / 2) as i32], vec![-((full / 4) as i32)], vec![top], vec![(-full) as i32]];
        let got = read_wav(&wav_int(bits, &frames), 22_050).unwrap();
        let want = [0.0, 0.5, -0.25, top as f32 / full as f32, -1.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{bits} bits: {got:?}");
        }
        assert_eq!(got.len(), 5);
    }
}

#[test]
fn channels_are_averaged_including_extensible_layouts() {
    // hound writes WAVE_FORMAT_EXTENSIBLE for more than two channels and for 24 bits.
    let frames = vec![vec![8_388_607, 0, -8_388_608], vec![4_194_304, 4_194_304, 4_194_304]];
    let b = wav_int(24, &frames);
    assert_eq!(u16::from_le_bytes([b[20], b[21]]), 0xFFFE, "extensible");
    let got = read_wav(&b, 22_050).unwrap();
    assert_eq!(got.len(), 2);
    assert!(got[0].abs() < 1e-6 && (got[1] - 0.5).abs() < 1e-6, "{got:?}");
    // Float: non-finite samples are silence, the rest clipped to full scale.
    let spec = WavSpec { channels: 1, sample_rate: 22_050, bits_per_sample: 32, sample_format: SampleFormat::Float };
    let mut c = std::io::Cursor::new(Vec::new());
    let mut w = WavWriter::new(&mut c, spec).unwrap();
    for v in [0.25f32, f32::NAN, 3.0, f32::NEG_INFINITY] {
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
    assert_eq!(read_wav(&c.into_inner(), 22_050).unwrap(), vec![0.25, 0.0, 1.0, 0.0]);
}

#[test]
fn a_truncated_data_chunk_keeps_its_whole_frames() {
    let b = wav_int(16, &[vec![100, 200], vec![300, 400], vec![500, 600]]);
    // Cut inside the third frame: two frames remain.
    let got = read_wav(&b[..b.len() - 3], 22_050).unwrap();
    assert_eq!(got, vec![150.0 / 32_768.0, 350.0 / 32_768.0]);
    // Cut before the first whole frame: no samples.
    assert_eq!(read_wav(&b[..44 + 3], 22_050), Err(MediaError::Empty));
    // A header that promises far more than the file holds reads what is there (and allocates no more than that).
    let mut big = b.clone();
    big[40..44].copy_from_slice(&0x7FFF_FFF8u32.to_le_bytes());
    assert_eq!(read_wav(&big, 22_050).unwrap().len(), 3);
}

#[test]
fn unsupported_encodings_are_named() {
    let mut b = wav_int(16, &[vec![1], vec![2]]);
    b[20] = 2; // ADPCM
    assert!(matches!(read_wav(&b, 22_050), Err(MediaError::UnsupportedWav(_))));
    let e = read_wav(b"RIFF\x04\x00\x00\x00WAVE", 22_050).unwrap_err();
    assert!(matches!(e, MediaError::BadWav(_)), "{e}");
    assert!(e.to_string().starts_with("not a usable WAV file"), "{e}");
}
