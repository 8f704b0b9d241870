//! The weights file: a postcard header followed by 64-byte-aligned little-endian tensor data, viewed in place.
//!
//! The format is specified in `docs/weights-format.md`; this module is its reference reader. [`Weights::parse`]
//! validates everything once (magic, version, configuration, every tensor's bounds, alignment, length, hash,
//! finiteness and quantisation scales); afterwards every accessor is infallible or reports a missing/mis-shaped
//! tensor by name.

use crate::core::config::{AudioConfig, BelConfig, CortexConfig, FusionConfig, InputConfig, ModelConfig, VisualConfig};
use crate::core::error::FormatError;
use half::f16;
use serde::{Deserialize, Serialize};

/// First 8 bytes of every weights file.
pub const MAGIC: [u8; 8] = *b"AVFBELW\0";
/// The format version this build writes. It also reads [`VERSION_6`], [`VERSION_5`], [`VERSION_4`], [`VERSION_3`],
/// [`VERSION_2`] and [`VERSION_1`] files.
pub const VERSION: u16 = 7;
/// The sixth version (the background gated, its rows not levelled); still read, with the levelling off.
pub const VERSION_6: u16 = 6;
/// The fifth version (the visual background without its gate: pixel coring); still read, with the gate off.
pub const VERSION_5: u16 = 5;
/// The fourth version (no visual background in the configuration); still read, with the background off.
pub const VERSION_4: u16 = 4;
/// The third version (input normalisation without the sound's floor); still read, with the floor of
/// [`InputConfig::OFF`] (librosa's onset range, the old drive floor).
pub const VERSION_3: u16 = 3;
/// The second version (no input normalisation in the configuration); still read, as [`InputConfig::OFF`].
pub const VERSION_2: u16 = 2;
/// The first version (no frame rate in the configuration, no training mark); still read.
pub const VERSION_1: u16 = 1;
/// Alignment of the data section and of every tensor's offset, in bytes.
pub const ALIGN: usize = 64;
/// Bytes before the postcard header: magic, version, flags, header length.
pub const PREAMBLE: usize = 16;
/// Most tensors a header may list.
pub const MAX_TENSORS: usize = 64;
/// Most dimensions a tensor may have.
pub const MAX_DIMS: usize = 4;

/// CRC-64/XZ (ECMA-182 polynomial, reflected, init and xorout all ones): the content hash of tensors and models.
pub const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_XZ);

/// Element type of a tensor's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DType {
    /// IEEE-754 binary32, little-endian.
    F32,
    /// IEEE-754 binary16, little-endian (storage only: expanded to f32 when a pipeline is built).
    F16,
    /// Signed 8-bit, symmetric per-output-channel quantisation; needs [`Quant`].
    I8,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 => 2,
            DType::I8 => 1,
        }
    }
}

/// Quantisation parameters of an [`DType::I8`] tensor: one f32 scale per index of axis 0, stored in the data
/// section (real value = `scale[row] · q`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quant {
    /// Offset of the scales relative to the data section (a multiple of 64).
    pub scales_offset: u64,
    /// Number of scales (= the tensor's first dimension).
    pub scales_count: u32,
}

/// One tensor's entry in the header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorInfo<'a> {
    /// Dotted name, e.g. `visual.v1.weight`.
    #[serde(borrow)]
    pub name: &'a str,
    /// Element type.
    pub dtype: DType,
    /// Dimensions, outermost first.
    pub shape: heapless::Vec<u32, MAX_DIMS>,
    /// Quantisation parameters (present exactly for `I8`).
    pub quant: Option<Quant>,
    /// Offset of the data relative to the data section (a multiple of 64).
    pub offset: u64,
    /// Length of the data in bytes.
    pub len: u64,
    /// CRC-64/XZ of the data bytes followed by the scale bytes, if any.
    pub hash: u64,
}

impl TensorInfo<'_> {
    /// Number of elements.
    pub fn elements(&self) -> usize {
        self.shape.iter().map(|&d| d as usize).product()
    }
}

/// The decoded header (version 7).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header<'a> {
    /// The model these tensors belong to.
    pub config: ModelConfig,
    /// Whether the weights were fitted (`avf-bel train`/`export`) rather than seeded (`avf-bel init`). Version 1
    /// files do not say; they read as `None`.
    pub trained: Option<bool>,
    /// Every tensor, in file order.
    #[serde(borrow)]
    pub tensors: heapless::Vec<TensorInfo<'a>, MAX_TENSORS>,
}

/// Version 6's input configuration: version 5's, then the background's gate ([`InputConfig`] without the rows'
/// levelling).
#[derive(Clone, Copy, Debug, Deserialize)]
struct InputConfigV6 {
    v5: InputConfigV5,
    background_gate: bool,
}

/// Version 5's input configuration: version 4's, then the background's time constant ([`InputConfig`] without the
/// background's gate). Postcard writes a nested struct's fields in place, so this reads the same bytes as the flat
/// list of fields.
#[derive(Clone, Copy, Debug, Deserialize)]
struct InputConfigV5 {
    v4: InputConfigV4,
    background_tau_ms: u16,
}

/// Version 4's input configuration: version 3's, then the sound's floor ([`InputConfig`] without the visual
/// background).
#[derive(Clone, Copy, Debug, Deserialize)]
struct InputConfigV4 {
    v3: InputConfigV3,
    onset_range_db: u8,
    drive_floor_db: i8,
}

/// Version 3's input configuration: [`InputConfig`] without the sound's floor (and without the background).
#[derive(Clone, Copy, Debug, Deserialize)]
struct InputConfigV3 {
    loudness_tau_ms: u16,
    luma: bool,
    substitute: bool,
}

/// An earlier version's input configuration, read as today's.
trait EarlierInput {
    fn upgrade(self) -> InputConfig;
}

impl EarlierInput for InputConfigV6 {
    fn upgrade(self) -> InputConfig {
        // Version 6 models subtracted the background from the frames as the camera gave them (the rows' levelling off,
        // as version 5's upgrade leaves it).
        InputConfig { background_gate: self.background_gate, ..self.v5.upgrade() }
    }
}

impl EarlierInput for InputConfigV5 {
    fn upgrade(self) -> InputConfig {
        // Version 5 models cored each pixel by its own difference (the gate off, as version 4's upgrade leaves it).
        InputConfig { background_tau_ms: self.background_tau_ms, ..self.v4.upgrade() }
    }
}

impl EarlierInput for InputConfigV4 {
    fn upgrade(self) -> InputConfig {
        // Version 4 models ran without a background (as version 3's upgrade leaves it).
        InputConfig { onset_range_db: self.onset_range_db, drive_floor_db: self.drive_floor_db, ..self.v3.upgrade() }
    }
}

impl EarlierInput for InputConfigV3 {
    fn upgrade(self) -> InputConfig {
        // The sound's floor (and the background) as every earlier version ran: those of `InputConfig::OFF`.
        InputConfig {
            loudness_tau_ms: self.loudness_tau_ms,
            luma: self.luma,
            substitute: self.substitute,
            ..InputConfig::OFF
        }
    }
}

/// The header of versions 3–6: the same as [`Header`] but with an earlier input configuration `I`.
#[derive(Clone, Debug, Deserialize)]
struct HeaderWithInput<'a, I> {
    config: ModelConfigWithInput<I>,
    trained: Option<bool>,
    #[serde(borrow)]
    tensors: heapless::Vec<TensorInfo<'a>, MAX_TENSORS>,
}

/// [`ModelConfig`] with an earlier input configuration `I`.
#[derive(Clone, Copy, Debug, Deserialize)]
struct ModelConfigWithInput<I> {
    visual: VisualConfig,
    audio: AudioConfig,
    cortex: CortexConfig,
    fusion: FusionConfig,
    bel: BelConfig,
    input: I,
}

impl<'a, I: EarlierInput> HeaderWithInput<'a, I> {
    fn upgrade(self) -> Header<'a> {
        let c = self.config;
        let input = c.input.upgrade();
        let config =
            ModelConfig { visual: c.visual, audio: c.audio, cortex: c.cortex, fusion: c.fusion, bel: c.bel, input };
        Header { config, trained: self.trained, tensors: self.tensors }
    }
}

/// Version 2's model configuration: [`ModelConfig`] without `input` (version 2 models ran without normalisation).
#[derive(Clone, Copy, Debug, Deserialize)]
struct ModelConfigV2 {
    visual: VisualConfig,
    audio: AudioConfig,
    cortex: CortexConfig,
    fusion: FusionConfig,
    bel: BelConfig,
}

/// Version 2's header: the same as [`Header`] but with [`ModelConfigV2`].
#[derive(Clone, Debug, Deserialize)]
struct HeaderV2<'a> {
    config: ModelConfigV2,
    trained: Option<bool>,
    #[serde(borrow)]
    tensors: heapless::Vec<TensorInfo<'a>, MAX_TENSORS>,
}

impl<'a> HeaderV2<'a> {
    fn upgrade(self) -> Header<'a> {
        let c = self.config;
        let config = ModelConfig {
            visual: c.visual,
            audio: c.audio,
            cortex: c.cortex,
            fusion: c.fusion,
            bel: c.bel,
            input: InputConfig::OFF,
        };
        Header { config, trained: self.trained, tensors: self.tensors }
    }
}

/// Version 1's visual configuration: [`VisualConfig`] without `fps` (version 1 models ran at 30 frames per second).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct VisualConfigV1 {
    height: u16,
    width: u16,
    channels: u8,
    widths: [u16; 4],
    stride_frames: u8,
    head_classes: u16,
    features: u8,
}

/// Version 1's header: the same as [`Header`] up to the visual configuration, and no training mark.
#[derive(Clone, Debug, Deserialize)]
struct HeaderV1<'a> {
    visual: VisualConfigV1,
    audio: AudioConfig,
    cortex: CortexConfig,
    fusion: FusionConfig,
    bel: BelConfig,
    #[serde(borrow)]
    tensors: heapless::Vec<TensorInfo<'a>, MAX_TENSORS>,
}

impl<'a> HeaderV1<'a> {
    /// The frame rate version 1 models were built for.
    const FPS: u16 = 30;

    fn upgrade(self) -> Header<'a> {
        let v = self.visual;
        let visual = VisualConfig {
            height: v.height,
            width: v.width,
            channels: v.channels,
            widths: v.widths,
            stride_frames: v.stride_frames,
            head_classes: v.head_classes,
            features: v.features,
            fps: Self::FPS,
        };
        let config = ModelConfig {
            visual,
            audio: self.audio,
            cortex: self.cortex,
            fusion: self.fusion,
            bel: self.bel,
            input: InputConfig::OFF,
        };
        Header { config, trained: None, tensors: self.tensors }
    }
}

/// A typed view of one tensor's data, borrowed from the file.
#[derive(Clone, Copy, Debug)]
pub enum TensorView<'a> {
    /// f32 data.
    F32(&'a [f32]),
    /// f16 data.
    F16(&'a [f16]),
    /// i8 data with its per-row scales.
    I8 {
        /// Quantised values.
        data: &'a [i8],
        /// One scale per row (axis 0).
        scales: &'a [f32],
    },
}

/// A validated weights file, borrowing the bytes it was parsed from.
#[derive(Clone, Debug)]
pub struct Weights<'a> {
    bytes: &'a [u8],
    version: u16,
    data_start: usize,
    header: Header<'a>,
    model_hash: u64,
}

/// Round `x` up to a multiple of [`ALIGN`].
pub const fn align_up(x: usize) -> usize {
    x.div_ceil(ALIGN) * ALIGN
}

impl<'a> Weights<'a> {
    /// Parse and validate a whole weights file. `bytes` must start on a 64-byte boundary in memory.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FormatError> {
        if bytes.len() < PREAMBLE {
            return Err(if bytes.len() >= 8 && bytes[..8] != MAGIC {
                FormatError::BadMagic
            } else {
                FormatError::Truncated
            });
        }
        if bytes[..8] != MAGIC {
            return Err(FormatError::BadMagic);
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if !matches!(version, VERSION | VERSION_6 | VERSION_5 | VERSION_4 | VERSION_3 | VERSION_2 | VERSION_1) {
            return Err(FormatError::UnsupportedVersion(version));
        }
        let flags = u16::from_le_bytes([bytes[10], bytes[11]]);
        if flags != 0 {
            return Err(FormatError::BadHeader);
        }
        if !(bytes.as_ptr() as usize).is_multiple_of(ALIGN) {
            return Err(FormatError::UnalignedBuffer);
        }
        let header_len = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
        let header_end = PREAMBLE.checked_add(header_len).ok_or(FormatError::Truncated)?;
        if header_end > bytes.len() {
            return Err(FormatError::Truncated);
        }
        let header_bytes = &bytes[PREAMBLE..header_end];
        let (header, rest) = if version == VERSION_1 {
            let (h, rest): (HeaderV1<'a>, _) =
                postcard::take_from_bytes(header_bytes).map_err(|_| FormatError::BadHeader)?;
            (h.upgrade(), rest)
        } else if version == VERSION_2 {
            let (h, rest): (HeaderV2<'a>, _) =
                postcard::take_from_bytes(header_bytes).map_err(|_| FormatError::BadHeader)?;
            (h.upgrade(), rest)
        } else if version == VERSION_3 {
            let (h, rest): (HeaderWithInput<'a, InputConfigV3>, _) =
                postcard::take_from_bytes(header_bytes).map_err(|_| FormatError::BadHeader)?;
            (h.upgrade(), rest)
        } else if version == VERSION_4 {
            let (h, rest): (HeaderWithInput<'a, InputConfigV4>, _) =
                postcard::take_from_bytes(header_bytes).map_err(|_| FormatError::BadHeader)?;
            (h.upgrade(), rest)
        } else if version == VERSION_5 {
            let (h, rest): (HeaderWithInput<'a, InputConfigV5>, _) =
                postcard::take_from_bytes(header_bytes).map_err(|_| FormatError::BadHeader)?;
            (h.upgrade(), rest)
        } else if version == VERSION_6 {
            let (h, rest): (HeaderWithInput<'a, InputConfigV6>, _) =
                postcard::take_from_bytes(header_bytes).map_err(|_| FormatError::BadHeader)?;
            (h.upgrade(), rest)
        } else {
            postcard::take_from_bytes::<Header<'a>>(header_bytes).map_err(|_| FormatError::BadHeader)?
        };
        if !rest.is_empty() {
            return Err(FormatError::BadHeader);
        }
        header.config.validate()?;
        let data_start = align_up(header_end);
        if data_start > bytes.len() {
            return Err(FormatError::Truncated);
        }
        let data = &bytes[data_start..];
        for (i, t) in header.tensors.iter().enumerate() {
            let idx = i as u16;
            if header.tensors[..i].iter().any(|u| u.name == t.name) {
                return Err(FormatError::DuplicateName(idx));
            }
            let (start, end) = span(t.offset, t.len, data.len(), idx)?;
            if t.elements().checked_mul(t.dtype.size()) != Some(t.len as usize) || t.shape.is_empty() {
                return Err(FormatError::LengthMismatch(idx));
            }
            let mut digest = CRC64.digest();
            digest.update(&data[start..end]);
            let scales = match (t.dtype, t.quant) {
                (DType::I8, Some(q)) => {
                    if q.scales_count as usize != t.shape[0] as usize {
                        return Err(FormatError::BadQuantisation(idx));
                    }
                    let (s0, s1) = span(q.scales_offset, q.scales_count as u64 * 4, data.len(), idx)
                        .map_err(|_| FormatError::BadQuantisation(idx))?;
                    digest.update(&data[s0..s1]);
                    Some(&data[s0..s1])
                }
                (DType::I8, None) => return Err(FormatError::BadQuantisation(idx)),
                (_, Some(_)) => return Err(FormatError::BadQuantisation(idx)),
                _ => None,
            };
            if digest.finalize() != t.hash {
                return Err(FormatError::HashMismatch(idx));
            }
            let body = &data[start..end];
            let finite = match t.dtype {
                DType::F32 => cast::<f32>(body).iter().all(|x| x.is_finite()),
                DType::F16 => cast::<f16>(body).iter().all(|x| x.is_finite()),
                DType::I8 => true,
            };
            if !finite {
                return Err(FormatError::NonFinite(idx));
            }
            if let Some(s) = scales {
                if !cast::<f32>(s).iter().all(|x| x.is_finite() && *x > 0.0) {
                    return Err(FormatError::BadQuantisation(idx));
                }
            }
        }
        let model_hash = CRC64.checksum(header_bytes);
        Ok(Weights { bytes, version, data_start, header, model_hash })
    }

    /// The model configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.header.config
    }

    /// The file's format version ([`VERSION`], [`VERSION_6`], [`VERSION_5`], [`VERSION_4`], [`VERSION_3`],
    /// [`VERSION_2`] or [`VERSION_1`]).
    pub fn version(&self) -> u16 {
        self.version
    }

    /// Whether the file marks its weights as trained (`Some(false)`: seeded by `avf-bel init`; `None`: a version 1
    /// file, which does not say).
    pub fn trained(&self) -> Option<bool> {
        self.header.trained
    }

    /// The decoded header.
    pub fn header(&self) -> &Header<'a> {
        &self.header
    }

    /// CRC-64/XZ of the header bytes: identifies the model (the header holds every tensor's hash).
    pub fn model_hash(&self) -> u64 {
        self.model_hash
    }

    /// Total file length in bytes.
    pub fn file_len(&self) -> usize {
        self.bytes.len()
    }

    /// A tensor by name, if present.
    pub fn get(&self, name: &str) -> Option<TensorView<'a>> {
        let t = self.header.tensors.iter().find(|t| t.name == name)?;
        let data = &self.bytes[self.data_start..];
        let body = &data[t.offset as usize..(t.offset + t.len) as usize];
        Some(match t.dtype {
            DType::F32 => TensorView::F32(cast(body)),
            DType::F16 => TensorView::F16(cast(body)),
            DType::I8 => {
                let q = t.quant.expect("validated at parse");
                let s = &data[q.scales_offset as usize..q.scales_offset as usize + q.scales_count as usize * 4];
                TensorView::I8 { data: bytemuck::cast_slice(body), scales: cast(s) }
            }
        })
    }

    /// The header entry of a tensor, if present.
    pub fn info(&self, name: &str) -> Option<&TensorInfo<'a>> {
        self.header.tensors.iter().find(|t| t.name == name)
    }

    /// A tensor that must exist with exactly `shape`; any dtype.
    pub fn require(&self, name: &'static str, shape: &[u32]) -> Result<TensorView<'a>, FormatError> {
        let info = self.info(name).ok_or(FormatError::MissingTensor(name))?;
        if info.shape.as_slice() != shape {
            return Err(FormatError::ShapeMismatch(name));
        }
        Ok(self.get(name).expect("present"))
    }

    /// A tensor that must exist with exactly `shape` and be stored as f32 (biases, BEL weights, norms).
    pub fn require_f32(&self, name: &'static str, shape: &[u32]) -> Result<&'a [f32], FormatError> {
        match self.require(name, shape)? {
            TensorView::F32(v) => Ok(v),
            _ => Err(FormatError::ShapeMismatch(name)),
        }
    }
}

fn span(offset: u64, len: u64, data_len: usize, idx: u16) -> Result<(usize, usize), FormatError> {
    if !offset.is_multiple_of(ALIGN as u64) {
        return Err(FormatError::Misaligned(idx));
    }
    let end = offset.checked_add(len).ok_or(FormatError::OutOfRange(idx))?;
    if end > data_len as u64 {
        return Err(FormatError::OutOfRange(idx));
    }
    Ok((offset as usize, end as usize))
}

/// View validated, aligned bytes as `T` (the alignment was checked by [`Weights::parse`]).
fn cast<T: bytemuck::Pod>(b: &[u8]) -> &[T] {
    bytemuck::try_cast_slice(b).unwrap_or(&[])
}
