//! The weights format: golden bytes built by hand from docs/weights-format.md in both directions, and every kind of
//! malformed file rejected with its typed error (never a panic).

use avf_bel::model::{encode, seeded, Precision, SplitMix64};
use avf_bel::weights::writer::{to_bytes, AlignedBytes, OwnedTensor};
use avf_bel::weights::{DType, TensorView, Weights, CRC64};
use avf_bel::{ConfigError, FormatError, ModelConfig, Pipeline};

fn varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// The tiny configuration encoded field by field as the spec's grammar says (`version` 1 has no `fps`, versions 1
/// and 2 no input normalisation).
fn config_bytes(c: &ModelConfig, version: u16) -> Vec<u8> {
    let mut b = Vec::new();
    let v = &c.visual;
    varint(&mut b, v.height as u64);
    varint(&mut b, v.width as u64);
    b.push(v.channels);
    for w in v.widths {
        varint(&mut b, w as u64);
    }
    b.push(v.stride_frames);
    varint(&mut b, v.head_classes as u64);
    b.push(v.features);
    if version >= 2 {
        varint(&mut b, v.fps as u64);
    }
    let a = &c.audio;
    for x in [a.sample_rate as u64, a.n_fft as u64, a.hop as u64, a.n_mels as u64, a.tempo_frames as u64] {
        varint(&mut b, x);
    }
    let k = &c.cortex;
    for x in [k.n_pyr, k.n_pv, k.n_som] {
        varint(&mut b, x as u64);
    }
    b.push(k.groups);
    varint(&mut b, k.dt_us as u64);
    varint(&mut b, k.seed);
    let f = &c.fusion;
    b.push(f.audio_features);
    varint(&mut b, f.hidden as u64);
    b.push(f.sensory);
    b.push(f.attention as u8);
    for x in [c.bel.alpha, c.bel.beta, c.bel.weight_bound] {
        b.extend_from_slice(&x.to_le_bytes());
    }
    if version >= 3 {
        varint(&mut b, c.input.loudness_tau_ms as u64);
        b.push(c.input.luma as u8);
        b.push(c.input.substitute as u8);
    }
    if version >= 4 {
        b.push(c.input.onset_range_db);
        b.push(c.input.drive_floor_db as u8); // i8: one byte, two's complement
    }
    if version >= 5 {
        varint(&mut b, c.input.background_tau_ms as u64);
    }
    if version >= 6 {
        b.push(c.input.background_gate as u8);
    }
    if version >= 7 {
        b.push(c.input.background_level_rows as u8);
    }
    b
}

/// A two-tensor file (`a`: f32 [2] = [1, −2]; `q`: i8 [2, 4] with scales [0.5, 0.25]) written by hand, in the
/// current format (version 7, marked untrained).
fn hand_written() -> Vec<u8> {
    hand_written_version(7)
}

/// The same file in format `version` (1: no frame rate, no training mark; 2: both; 3: and input normalisation; 4:
/// and the sound's floor; 5: and the visual background; 6: and the background's gate; 7: and its rows' levelling).
fn hand_written_version(version: u16) -> Vec<u8> {
    hand_written_with(&ModelConfig::tiny(), version)
}

/// [`hand_written_version`] with another configuration `cfg`.
fn hand_written_with(cfg: &ModelConfig, version: u16) -> Vec<u8> {
    let a_data: Vec<u8> = [1.0f32, -2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let q_data: Vec<u8> = [1i8, -1, 127, -127, 0, 2, 4, 8].iter().map(|&x| x as u8).collect();
    let s_data: Vec<u8> = [0.5f32, 0.25].iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut h = config_bytes(cfg, version);
    if version >= 2 {
        h.extend_from_slice(&[1, 0]); // trained: Some(false)
    }
    varint(&mut h, 2); // two tensors
                       // a: name, dtype F32 = 0, shape [2], no quant, offset 0, len 8, hash
    varint(&mut h, 1);
    h.push(b'a');
    varint(&mut h, 0);
    varint(&mut h, 1);
    varint(&mut h, 2);
    h.push(0);
    varint(&mut h, 0);
    varint(&mut h, 8);
    varint(&mut h, CRC64.checksum(&a_data));
    // q: dtype I8 = 2, shape [2, 4], quant Some{scales at 128, 2}, offset 64, len 8
    varint(&mut h, 1);
    h.push(b'q');
    varint(&mut h, 2);
    varint(&mut h, 2);
    varint(&mut h, 2);
    varint(&mut h, 4);
    h.push(1);
    varint(&mut h, 128);
    varint(&mut h, 2);
    varint(&mut h, 64);
    varint(&mut h, 8);
    let mut qs = q_data.clone();
    qs.extend_from_slice(&s_data);
    varint(&mut h, CRC64.checksum(&qs));
    let mut f = b"AVFBELW\0".to_vec();
    f.extend_from_slice(&version.to_le_bytes());
    f.extend_from_slice(&0u16.to_le_bytes());
    f.extend_from_slice(&(h.len() as u32).to_le_bytes());
    f.extend_from_slice(&h);
    f.resize(f.len().div_ceil(64) * 64, 0);
    let d = f.len();
    f.resize(d + 136, 0);
    f[d..d + 8].copy_from_slice(&a_data);
    f[d + 64..d + 72].copy_from_slice(&q_data);
    f[d + 128..d + 136].copy_from_slice(&s_data);
    f
}

fn writer_file() -> Vec<u8> {
    let q = OwnedTensor {
        name: "q".into(),
        dtype: DType::I8,
        shape: vec![2, 4],
        data: [1i8, -1, 127, -127, 0, 2, 4, 8].iter().map(|&x| x as u8).collect(),
        scales: Some(vec![0.5, 0.25]),
    };
    to_bytes(&ModelConfig::tiny(), false, &[OwnedTensor::f32("a", &[2], &[1.0, -2.0]), q]).unwrap()
}

#[test]
fn crc64_is_crc64_xz() {
    assert_eq!(CRC64.checksum(b"123456789"), 0x995D_C9BB_DF19_39FA);
}

#[test]
fn writer_produces_the_hand_written_bytes() {
    assert_eq!(writer_file(), hand_written());
}

#[test]
fn reader_decodes_the_hand_written_bytes() {
    let buf = AlignedBytes::new(&hand_written());
    let w = Weights::parse(buf.as_bytes()).unwrap();
    assert_eq!(*w.config(), ModelConfig::tiny());
    assert_eq!(w.trained(), Some(false));
    match w.get("a").unwrap() {
        TensorView::F32(v) => assert_eq!(v, &[1.0, -2.0]),
        other => panic!("a decoded as {other:?}"),
    }
    match w.get("q").unwrap() {
        TensorView::I8 { data, scales } => {
            assert_eq!(data, &[1, -1, 127, -127, 0, 2, 4, 8]);
            assert_eq!(scales, &[0.5, 0.25]);
        }
        other => panic!("q decoded as {other:?}"),
    }
    assert!(w.get("missing").is_none());
    let header_len = u32::from_le_bytes(buf.as_bytes()[12..16].try_into().unwrap()) as usize;
    assert_eq!(w.model_hash(), CRC64.checksum(&buf.as_bytes()[16..16 + header_len]));
}

#[test]
fn version_2_files_still_read_without_normalisation() {
    // Version 2 had no input normalisation: its models ran on raw loudness and luminance.
    let buf = AlignedBytes::new(&hand_written_version(2));
    let w = Weights::parse(buf.as_bytes()).unwrap();
    assert_eq!(w.version(), avf_bel::weights::VERSION_2);
    assert_eq!(*w.config(), ModelConfig { input: avf_bel::InputConfig::OFF, ..ModelConfig::tiny() });
    assert_eq!(w.trained(), Some(false));
    // The current format stores the normalisation (on in the tiny and default configurations).
    let w3 = AlignedBytes::new(&hand_written());
    let w3 = Weights::parse(w3.as_bytes()).unwrap();
    assert_eq!(w3.version(), avf_bel::weights::VERSION);
    assert_eq!(
        w3.config().input,
        avf_bel::InputConfig {
            loudness_tau_ms: 2000,
            luma: true,
            substitute: true,
            onset_range_db: 80,
            drive_floor_db: -40,
            background_tau_ms: 0,
            background_gate: false,
            background_level_rows: false,
        }
    );
}

#[test]
fn version_3_files_still_read_with_librosa_onsets_and_the_old_drive_floor() {
    // Version 3 had the normalisation but not the sound's floor: its models compared onsets over librosa's 80 dB and
    // drove the cortex from −40 dB.
    let v3 = hand_written_version(3);
    let v4 = hand_written_version(4);
    assert_eq!(v4.len(), v3.len(), "two header bytes more, inside the same 64-byte padding");
    let buf = AlignedBytes::new(&v3);
    let w = Weights::parse(buf.as_bytes()).unwrap();
    assert_eq!(w.version(), avf_bel::weights::VERSION_3);
    let off = avf_bel::InputConfig::OFF;
    let input = avf_bel::InputConfig { onset_range_db: 80, drive_floor_db: -40, ..ModelConfig::tiny().input };
    assert_eq!((off.onset_range_db, off.drive_floor_db), (80, -40));
    assert_eq!(*w.config(), ModelConfig { input, ..ModelConfig::tiny() });
    // The sound's floor is the configuration's last two bytes, the drive floor one two's-complement byte: −40 is
    // 0xD8 (the default), −13 (`--sound-floor on`) 0xF3; a file written with it reads back with it.
    let cfg_len = config_bytes(&ModelConfig::tiny(), 4).len();
    assert_eq!(&v4[16 + cfg_len - 2..16 + cfg_len], &[80, 0xD8]);
    let (onset_range_db, drive_floor_db) = avf_bel::SOUND_FLOOR;
    let mut cfg = ModelConfig::tiny();
    (cfg.input.onset_range_db, cfg.input.drive_floor_db) = (onset_range_db, drive_floor_db);
    let with_floor = to_bytes(&cfg, false, &[OwnedTensor::f32("a", &[2], &[1.0, -2.0])]).unwrap();
    assert_eq!(&with_floor[16 + cfg_len - 2..16 + cfg_len], &[40, 0xF3]);
    let buf = AlignedBytes::new(&with_floor);
    assert_eq!(*Weights::parse(buf.as_bytes()).unwrap().config(), cfg);
}

#[test]
fn version_4_files_still_read_without_the_background() {
    // Version 4 had no visual background: its models showed CORnet-Z the frames themselves.
    let v4 = hand_written_version(4);
    let v5 = hand_written_version(5);
    assert_eq!(v5.len(), v4.len(), "one header byte more, inside the same 64-byte padding");
    let buf = AlignedBytes::new(&v4);
    let w = Weights::parse(buf.as_bytes()).unwrap();
    assert_eq!(w.version(), avf_bel::weights::VERSION_4);
    assert_eq!(avf_bel::InputConfig::OFF.background_tau_ms, 0);
    assert_eq!(*w.config(), ModelConfig::tiny());
    // The background's time constant is the configuration's last field, a postcard varint: 0 (off) one byte, 500 ms
    // (`--background on`) the two bytes F4 03; golden bytes in both directions.
    let cfg_len = config_bytes(&ModelConfig::tiny(), 5).len();
    assert_eq!(v5[16 + cfg_len - 1], 0);
    let mut cfg = ModelConfig::tiny();
    cfg.input.background_tau_ms = avf_bel::BACKGROUND_TAU_MS;
    assert_eq!(avf_bel::BACKGROUND_TAU_MS, 500);
    let written = to_bytes(&cfg, false, &[OwnedTensor::f32("a", &[2], &[1.0, -2.0])]).unwrap();
    let bytes = config_bytes(&cfg, 5);
    assert_eq!(&bytes[bytes.len() - 2..], &[0xF4, 0x03]);
    assert_eq!(&written[16..16 + bytes.len()], &bytes[..]);
    let buf = AlignedBytes::new(&written);
    assert_eq!(*Weights::parse(buf.as_bytes()).unwrap().config(), cfg);
    // Over a minute is refused where the header is validated: 60,001 is the varint E1 D4 03.
    let bad = with_header(|h| {
        assert_eq!(h[cfg_len - 1], 0);
        h.splice(cfg_len - 1..cfg_len, [0xE1, 0xD4, 0x03]);
    });
    let buf = AlignedBytes::new(&bad);
    assert!(matches!(
        Weights::parse(buf.as_bytes()),
        Err(FormatError::Config(avf_bel::ConfigError::BadParameter("input.background_tau_ms")))
    ));
}

#[test]
fn version_5_files_still_read_with_each_pixel_cored_alone() {
    // Version 5 had the background without its gate: its models cored each pixel by its own difference.
    let v5 = hand_written_version(5);
    let v6 = hand_written_version(6);
    assert_eq!(v6.len(), v5.len(), "one header byte more, inside the same 64-byte padding");
    let mut cfg = ModelConfig::tiny();
    cfg.input.background_tau_ms = avf_bel::BACKGROUND_TAU_MS;
    let v5_on = hand_written_with(&cfg, 5);
    let buf = AlignedBytes::new(&v5_on);
    let w = Weights::parse(buf.as_bytes()).unwrap();
    assert_eq!(w.version(), avf_bel::weights::VERSION_5);
    const { assert!(!avf_bel::InputConfig::OFF.background_gate) };
    assert_eq!(*w.config(), cfg, "the background on, the gate off");
    // The gate is the configuration's last byte, a postcard bool: 0 (off, as the tiny configuration) or 1 (on, the
    // default and `avf-bel train`); golden bytes in both directions; any other byte is not a bool.
    assert!(ModelConfig::default().input.background_gate);
    let cfg_len = config_bytes(&ModelConfig::tiny(), 6).len();
    assert_eq!(v6[16 + cfg_len - 1], 0);
    cfg.input.background_gate = true;
    let written = to_bytes(&cfg, false, &[OwnedTensor::f32("a", &[2], &[1.0, -2.0])]).unwrap();
    let bytes = config_bytes(&cfg, 6);
    assert_eq!(&bytes[bytes.len() - 3..], &[0xF4, 0x03, 1]);
    assert_eq!(&written[16..16 + bytes.len()], &bytes[..]);
    let buf = AlignedBytes::new(&written);
    assert_eq!(*Weights::parse(buf.as_bytes()).unwrap().config(), cfg);
    let bad = with_header(|h| h[cfg_len - 1] = 2);
    let buf = AlignedBytes::new(&bad);
    assert!(matches!(Weights::parse(buf.as_bytes()), Err(FormatError::BadHeader)));
}

#[test]
fn version_6_files_still_read_with_the_rows_as_the_camera_gives_them() {
    // Version 6 had the gated background without the rows' levelling: its models subtracted the frames as given.
    let v6 = hand_written_version(6);
    let v7 = hand_written();
    assert_eq!(v7.len(), v6.len(), "one header byte more, inside the same 64-byte padding");
    let mut cfg = ModelConfig::tiny();
    (cfg.input.background_tau_ms, cfg.input.background_gate) = (avf_bel::BACKGROUND_TAU_MS, true);
    let v6_on = hand_written_with(&cfg, 6);
    let buf = AlignedBytes::new(&v6_on);
    let w = Weights::parse(buf.as_bytes()).unwrap();
    assert_eq!(w.version(), avf_bel::weights::VERSION_6);
    const { assert!(!avf_bel::InputConfig::OFF.background_level_rows) };
    assert_eq!(*w.config(), cfg, "the background on and gated, its rows not levelled");
    // The levelling is the configuration's last byte, a postcard bool: 0 (off, as the tiny configuration) or 1 (on,
    // the default and `avf-bel train`); golden bytes in both directions; any other byte is not a bool.
    assert!(ModelConfig::default().input.background_level_rows);
    let cfg_len = config_bytes(&ModelConfig::tiny(), 7).len();
    assert_eq!(v7[16 + cfg_len - 1], 0);
    cfg.input.background_level_rows = true;
    let written = to_bytes(&cfg, false, &[OwnedTensor::f32("a", &[2], &[1.0, -2.0])]).unwrap();
    let bytes = config_bytes(&cfg, 7);
    assert_eq!(&bytes[bytes.len() - 4..], &[0xF4, 0x03, 1, 1]);
    assert_eq!(&written[16..16 + bytes.len()], &bytes[..]);
    let buf = AlignedBytes::new(&written);
    assert_eq!(*Weights::parse(buf.as_bytes()).unwrap().config(), cfg);
    for byte in [2u8, 0xFF] {
        let bad = with_header(|h| h[cfg_len - 1] = byte);
        let buf = AlignedBytes::new(&bad);
        assert!(matches!(Weights::parse(buf.as_bytes()), Err(FormatError::BadHeader)), "{byte:#x}");
    }
}

#[test]
fn a_sound_floor_out_of_range_is_a_config_error() {
    for (range, floor, field) in [
        (0u8, -13i8, "input.onset_range_db"),
        (81, -13, "input.onset_range_db"),
        (40, 20, "input.drive_floor_db"),
        (40, -101, "input.drive_floor_db"),
    ] {
        let mut cfg = ModelConfig::tiny();
        cfg.input.onset_range_db = range;
        cfg.input.drive_floor_db = floor;
        assert_eq!(cfg.validate(), Err(avf_bel::ConfigError::BadParameter(field)), "{range} {floor}");
        let bytes = {
            let mut f = hand_written();
            let at = 16 + config_bytes(&ModelConfig::tiny(), 4).len() - 2;
            f[at] = range;
            f[at + 1] = floor as u8;
            f
        };
        let buf = AlignedBytes::new(&bytes);
        assert!(
            matches!(Weights::parse(buf.as_bytes()), Err(avf_bel::FormatError::Config(_))),
            "{range} {floor} must be refused"
        );
    }
}

#[test]
fn version_1_files_still_read() {
    // Version 1 had no frame rate (its models ran at 30 frames per second) and no training mark.
    let buf = AlignedBytes::new(&hand_written_version(1));
    let w = Weights::parse(buf.as_bytes()).unwrap();
    assert_eq!(w.config().visual.fps, 30);
    assert_eq!(
        *w.config(),
        ModelConfig {
            visual: avf_bel::VisualConfig { fps: 30, ..ModelConfig::tiny().visual },
            input: avf_bel::InputConfig::OFF,
            ..ModelConfig::tiny()
        }
    );
    assert_eq!(w.trained(), None);
    assert!(matches!(w.get("q"), Some(TensorView::I8 { .. })));
    // The shipped model is a current file and says it was trained.
    let shipped = AlignedBytes::new(include_bytes!("../weights/default.avfw"));
    let w = Weights::parse(shipped.as_bytes()).unwrap();
    assert_eq!(u16::from_le_bytes([shipped.as_bytes()[8], shipped.as_bytes()[9]]), avf_bel::weights::VERSION);
    assert_eq!(w.trained(), Some(true));
}

fn parse(bytes: &[u8]) -> Result<(), FormatError> {
    let buf = AlignedBytes::new(bytes);
    Weights::parse(buf.as_bytes()).map(|_| ())
}

/// Rewrite the header of the hand-written file through `edit` (the data section is kept where it was).
fn with_header(edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let f = hand_written();
    let h_len = u32::from_le_bytes(f[12..16].try_into().unwrap()) as usize;
    let d = (16 + h_len).div_ceil(64) * 64;
    let mut h = f[16..16 + h_len].to_vec();
    edit(&mut h);
    let mut out = f[..12].to_vec();
    out.extend_from_slice(&(h.len() as u32).to_le_bytes());
    out.extend_from_slice(&h);
    out.resize((16 + h.len()).div_ceil(64) * 64, 0);
    out.extend_from_slice(&f[d..]);
    out
}

#[test]
fn malformed_files_get_typed_errors() {
    let good = hand_written();
    assert_eq!(parse(&good), Ok(()));
    let mut f = good.clone();
    f[0] = b'X';
    assert_eq!(parse(&f), Err(FormatError::BadMagic));
    let mut f = good.clone();
    f[8] = 8;
    assert_eq!(parse(&f), Err(FormatError::UnsupportedVersion(8)));
    let mut f = good.clone();
    f[10] = 1;
    assert_eq!(parse(&f), Err(FormatError::BadHeader));
    let mut f = good.clone();
    f[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(parse(&f), Err(FormatError::Truncated));
    // Data of tensor `a` changed: hash mismatch on tensor 0.
    let d = good.len() - 136;
    let mut f = good.clone();
    f[d] ^= 1;
    assert_eq!(parse(&f), Err(FormatError::HashMismatch(0)));
    // A scale of `q` changed: hash mismatch on tensor 1.
    let mut f = good.clone();
    f[d + 128] ^= 1;
    assert_eq!(parse(&f), Err(FormatError::HashMismatch(1)));
    // Cut inside the data section.
    assert_eq!(parse(&good[..d + 100]), Err(FormatError::BadQuantisation(1)));
    assert_eq!(parse(&good[..d + 4]), Err(FormatError::OutOfRange(0)));
    assert_eq!(parse(&good[..d - 1]), Err(FormatError::Truncated));
    // A header with trailing garbage.
    assert_eq!(parse(&with_header(|h| h.push(0))), Err(FormatError::BadHeader));
    // A bad configuration inside the header: visual.height 8 (< 16).
    assert_eq!(parse(&with_header(|h| h[0] = 8)), Err(FormatError::Config(ConfigError::FrameTooSmall)));
}

/// Write a file whose header lists `infos` over the given data section, hashes computed unless `keep_hash`.
/// (name, dtype, shape, quant (scales offset, count), offset, len) of one header entry.
type Entry<'a> = (&'a str, DType, Vec<u32>, Option<(u64, u32)>, u64, u64);

fn custom(tensors: Vec<Entry<'_>>, data: &[u8]) -> Vec<u8> {
    let mut h = config_bytes(&ModelConfig::tiny(), 2);
    h.extend_from_slice(&[1, 0]); // trained: Some(false)
    varint(&mut h, tensors.len() as u64);
    for (name, dtype, shape, quant, offset, len) in tensors {
        varint(&mut h, name.len() as u64);
        h.extend_from_slice(name.as_bytes());
        varint(&mut h, dtype as u64);
        varint(&mut h, shape.len() as u64);
        for d in &shape {
            varint(&mut h, *d as u64);
        }
        let mut digest = CRC64.digest();
        // Saturating: some entries deliberately point past any file (`u64::MAX - 63`), and the helper must still
        // hash what lies inside the data (nothing) rather than overflow.
        let end = offset.saturating_add(len).min(data.len() as u64) as usize;
        digest.update(&data[offset.min(end as u64) as usize..end]);
        match quant {
            Some((so, n)) => {
                h.push(1);
                varint(&mut h, so);
                varint(&mut h, n as u64);
                let e = so.saturating_add(4 * u64::from(n)).min(data.len() as u64) as usize;
                digest.update(&data[so.min(e as u64) as usize..e]);
            }
            None => h.push(0),
        }
        varint(&mut h, offset);
        varint(&mut h, len);
        varint(&mut h, digest.finalize());
    }
    let mut f = b"AVFBELW\0".to_vec();
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&0u16.to_le_bytes());
    f.extend_from_slice(&(h.len() as u32).to_le_bytes());
    f.extend_from_slice(&h);
    f.resize(f.len().div_ceil(64) * 64, 0);
    f.extend_from_slice(data);
    f
}

#[test]
fn tensor_level_errors_name_the_tensor() {
    let mut data = vec![0u8; 256];
    data[..4].copy_from_slice(&1.0f32.to_le_bytes());
    let ok = custom(vec![("a", DType::F32, vec![1], None, 0, 4)], &data);
    assert_eq!(parse(&ok), Ok(()));
    let f = custom(vec![("a", DType::F32, vec![1], None, 4, 4)], &data);
    assert_eq!(parse(&f), Err(FormatError::Misaligned(0)));
    let f = custom(vec![("a", DType::F32, vec![1], None, 0, 4), ("b", DType::F32, vec![64], None, 64, 256)], &data);
    assert_eq!(parse(&f), Err(FormatError::OutOfRange(1)));
    let f = custom(vec![("a", DType::F32, vec![2], None, 0, 4)], &data);
    assert_eq!(parse(&f), Err(FormatError::LengthMismatch(0)));
    let f = custom(vec![("a", DType::F32, vec![], None, 0, 0)], &data);
    assert_eq!(parse(&f), Err(FormatError::LengthMismatch(0)));
    let f = custom(vec![("a", DType::F32, vec![1], None, 0, 4), ("a", DType::F32, vec![1], None, 64, 4)], &data);
    assert_eq!(parse(&f), Err(FormatError::DuplicateName(1)));
    let mut nan = data.clone();
    nan[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    let f = custom(vec![("a", DType::F32, vec![1], None, 0, 4)], &nan);
    assert_eq!(parse(&f), Err(FormatError::NonFinite(0)));
    let mut inf16 = data.clone();
    inf16[..2].copy_from_slice(&0x7c00u16.to_le_bytes());
    let f = custom(vec![("h", DType::F16, vec![1], None, 0, 2)], &inf16);
    assert_eq!(parse(&f), Err(FormatError::NonFinite(0)));
    // i8 without scales, scales on f32, wrong scale count, zero scale, scales out of range.
    let f = custom(vec![("q", DType::I8, vec![1, 4], None, 0, 4)], &data);
    assert_eq!(parse(&f), Err(FormatError::BadQuantisation(0)));
    let f = custom(vec![("a", DType::F32, vec![1], Some((64, 1)), 0, 4)], &data);
    assert_eq!(parse(&f), Err(FormatError::BadQuantisation(0)));
    let f = custom(vec![("q", DType::I8, vec![1, 4], Some((64, 2)), 0, 4)], &data);
    assert_eq!(parse(&f), Err(FormatError::BadQuantisation(0)));
    let f = custom(vec![("q", DType::I8, vec![1, 4], Some((64, 1)), 0, 4)], &data);
    assert_eq!(parse(&f), Err(FormatError::BadQuantisation(0)));
    let f = custom(vec![("q", DType::I8, vec![1, 4], Some((256, 1)), 0, 4)], &data);
    assert_eq!(parse(&f), Err(FormatError::BadQuantisation(0)));
    let f = custom(vec![("a", DType::F32, vec![1], None, u64::MAX - 63, 64)], &data);
    assert_eq!(parse(&f), Err(FormatError::OutOfRange(0)));
}

#[test]
fn unaligned_buffers_are_refused_not_copied() {
    let good = hand_written();
    let buf = AlignedBytes::new(&[&[0u8][..], &good].concat());
    assert_eq!(Weights::parse(&buf.as_bytes()[1..]).map(|_| ()), Err(FormatError::UnalignedBuffer));
}

#[test]
fn every_prefix_and_random_corruption_is_an_error_or_valid_never_a_panic() {
    let cfg = ModelConfig::tiny();
    let full = encode(&cfg, &seeded(&cfg, 3), Precision::Int8).unwrap();
    for cut in 0..full.len() {
        assert!(parse(&full[..cut]).is_err(), "prefix of {cut} bytes accepted");
    }
    let mut rng = SplitMix64(99);
    for _ in 0..3000 {
        let mut f = full.clone();
        for _ in 0..1 + rng.next_u64() % 4 {
            let i = (rng.next_u64() % f.len() as u64) as usize;
            f[i] ^= 1 << (rng.next_u64() % 8);
        }
        // Any flip is either detected or (in padding / an unused bit) harmless; building a pipeline must not panic.
        let buf = AlignedBytes::new(&f);
        if let Ok(w) = Weights::parse(buf.as_bytes()) {
            let mut scratch = vec![0.0; Pipeline::scratch_len(&w).min(1 << 24)];
            let _ = Pipeline::new(&w, &mut scratch);
        };
    }
}

#[test]
fn pipeline_names_missing_and_misshapen_tensors() {
    let cfg = ModelConfig::tiny();
    let mut t = seeded(&cfg, 1);
    t.retain(|x| x.0 != "bel.thalamus");
    let bytes = encode(&cfg, &t, Precision::F32).unwrap();
    let buf = AlignedBytes::new(&bytes);
    let w = Weights::parse(buf.as_bytes()).unwrap();
    let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
    assert_eq!(Pipeline::new(&w, &mut scratch).err(), Some(FormatError::MissingTensor("bel.thalamus").into()));
    let mut t = seeded(&cfg, 1);
    let fw = t.iter_mut().find(|x| x.0 == "fusion.out.weight").unwrap();
    fw.1 = vec![fw.1[1], fw.1[0]];
    let bytes = encode(&cfg, &t, Precision::F32).unwrap();
    let buf = AlignedBytes::new(&bytes);
    let w = Weights::parse(buf.as_bytes()).unwrap();
    let mut scratch = vec![0.0; Pipeline::scratch_len(&w)];
    assert_eq!(Pipeline::new(&w, &mut scratch).err(), Some(FormatError::ShapeMismatch("fusion.out.weight").into()));
    // A bad file is reported as such before the scratch size matters; a good one with too little scratch is not
    // built.
    let mut small = vec![0.0; 10];
    assert_eq!(Pipeline::new(&w, &mut small).err(), Some(FormatError::ShapeMismatch("fusion.out.weight").into()));
    // The scratch size is a dry run of construction: exactly enough, for every precision (f16 is widened into
    // scratch) and with the optional tensors (head, attention).
    let mut big = cfg;
    big.visual.head_classes = 7;
    big.fusion.attention = true;
    for c in [cfg, big] {
        for p in [Precision::F32, Precision::F16, Precision::Int8] {
            let bytes = encode(&c, &seeded(&c, 1), p).unwrap();
            let buf = AlignedBytes::new(&bytes);
            let w = Weights::parse(buf.as_bytes()).unwrap();
            let needed = Pipeline::scratch_len(&w);
            assert!(matches!(Pipeline::new(&w, &mut small), Err(avf_bel::Error::ScratchTooSmall { got: 10, .. })));
            let mut exact = vec![0.0; needed];
            assert!(Pipeline::new(&w, &mut exact).is_ok(), "the dry run's size is enough ({p:?})");
            let mut one_less = vec![0.0; needed - 1];
            let e = Pipeline::new(&w, &mut one_less).err();
            assert_eq!(e, Some(avf_bel::Error::ScratchTooSmall { needed, got: needed - 1 }), "{p:?}");
        }
    }
}

#[test]
fn precisions_round_trip_through_decode() {
    let cfg = ModelConfig::tiny();
    let t = seeded(&cfg, 5);
    for p in [Precision::F32, Precision::F16, Precision::Int8] {
        let bytes = encode(&cfg, &t, p).unwrap();
        let buf = AlignedBytes::new(&bytes);
        let w = Weights::parse(buf.as_bytes()).unwrap();
        let back = avf_bel::model::decode(&w);
        assert_eq!(back.len(), t.len());
        for ((n0, s0, v0), (n1, s1, v1)) in t.iter().zip(&back) {
            assert_eq!((n0, s0), (n1, s1), "{p:?}");
            let amax = v0.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let tol = match p {
                Precision::F32 => 0.0,
                Precision::F16 => amax * 1e-3,
                Precision::Int8 => amax / 127.0 * 0.51,
            };
            for (a, b) in v0.iter().zip(v1) {
                assert!((a - b).abs() <= tol, "{p:?} {n0}: {a} vs {b}");
            }
        }
    }
}
