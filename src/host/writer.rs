//! Serialising weights files (the reader is the core's `weights` module; the format is `docs/weights-format.md`).

use crate::core::config::ModelConfig;
use crate::core::error::FormatError;
use crate::core::weights::{align_up, DType, Header, Quant, TensorInfo, CRC64, MAGIC, MAX_TENSORS, PREAMBLE, VERSION};
use half::f16;
use std::string::String;
use std::vec::Vec;

/// One tensor to write.
#[derive(Clone, Debug)]
pub struct OwnedTensor {
    /// Name.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Shape.
    pub shape: Vec<u32>,
    /// Little-endian data bytes.
    pub data: Vec<u8>,
    /// Per-row scales (i8 only).
    pub scales: Option<Vec<f32>>,
}

impl OwnedTensor {
    /// An f32 tensor.
    pub fn f32(name: &str, shape: &[u32], v: &[f32]) -> Self {
        OwnedTensor {
            name: name.into(),
            dtype: DType::F32,
            shape: shape.to_vec(),
            data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            scales: None,
        }
    }
    /// An f16 tensor (rounded to nearest).
    pub fn f16(name: &str, shape: &[u32], v: &[f32]) -> Self {
        OwnedTensor {
            name: name.into(),
            dtype: DType::F16,
            shape: shape.to_vec(),
            data: v.iter().flat_map(|x| f16::from_f32(*x).to_le_bytes()).collect(),
            scales: None,
        }
    }
    /// An i8 tensor quantised symmetrically per row (axis 0) from f32 `v` of shape `[rows, cols]`, each row
    /// stored with `stride ≥ cols` elements (zero padded); the stored shape is `[rows, stride]`.
    pub fn i8_rows(name: &str, rows: usize, cols: usize, stride: usize, v: &[f32]) -> Self {
        let mut data = vec![0u8; rows * stride];
        let mut scales = Vec::with_capacity(rows);
        for r in 0..rows {
            let row = &v[r * cols..(r + 1) * cols];
            let amax = row.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let s = if amax > 0.0 { amax / 127.0 } else { 1.0 };
            scales.push(s);
            for (c, x) in row.iter().enumerate() {
                let q = (x / s).round().clamp(-127.0, 127.0) as i8;
                data[r * stride + c] = q as u8;
            }
        }
        OwnedTensor {
            name: name.into(),
            dtype: DType::I8,
            shape: vec![rows as u32, stride as u32],
            data,
            scales: Some(scales),
        }
    }
}

/// Serialise `config` and `tensors` into a complete weights file of the current [`VERSION`]; `trained` marks
/// fitted weights (`false` for seeded ones, so `run` and `serve` can warn).
pub fn to_bytes(config: &ModelConfig, trained: bool, tensors: &[OwnedTensor]) -> Result<Vec<u8>, FormatError> {
    if tensors.len() > MAX_TENSORS {
        return Err(FormatError::TooManyTensors);
    }
    let mut infos: heapless::Vec<TensorInfo<'_>, MAX_TENSORS> = heapless::Vec::new();
    let mut data: Vec<u8> = Vec::new();
    for t in tensors {
        // Align before each item (not after), so the file ends exactly where its last tensor does.
        data.resize(align_up(data.len()), 0);
        let offset = data.len() as u64;
        data.extend_from_slice(&t.data);
        let mut digest = CRC64.digest();
        digest.update(&t.data);
        let quant = match &t.scales {
            Some(s) => {
                data.resize(align_up(data.len()), 0);
                let so = data.len() as u64;
                let bytes: Vec<u8> = s.iter().flat_map(|x| x.to_le_bytes()).collect();
                digest.update(&bytes);
                data.extend_from_slice(&bytes);
                Some(Quant { scales_offset: so, scales_count: s.len() as u32 })
            }
            None => None,
        };
        let shape = heapless::Vec::from_slice(&t.shape).map_err(|_| FormatError::LengthMismatch(infos.len() as u16))?;
        infos
            .push(TensorInfo {
                name: &t.name,
                dtype: t.dtype,
                shape,
                quant,
                offset,
                len: t.data.len() as u64,
                hash: digest.finalize(),
            })
            .map_err(|_| FormatError::TooManyTensors)?;
    }
    let header = Header { config: *config, trained: Some(trained), tensors: infos };
    let hbytes = postcard::to_allocvec(&header).map_err(|_| FormatError::BadHeader)?;
    let mut out = Vec::with_capacity(align_up(PREAMBLE + hbytes.len()) + data.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(hbytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&hbytes);
    out.resize(align_up(out.len()), 0);
    out.extend_from_slice(&data);
    Ok(out)
}

/// A heap buffer whose bytes start on a 64-byte boundary, as [`crate::Weights::parse`] needs.
#[derive(Clone, Debug, Default)]
pub struct AlignedBytes {
    blocks: Vec<Block>,
    len: usize,
}

#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Block([u8; 64]);

impl Default for Block {
    fn default() -> Self {
        Block([0; 64])
    }
}

impl AlignedBytes {
    /// Copy `bytes` into a fresh aligned buffer.
    pub fn new(bytes: &[u8]) -> Self {
        let mut blocks = vec![Block::default(); bytes.len().div_ceil(64)];
        let dst: &mut [u8] = bytemuck_blocks(&mut blocks);
        dst[..bytes.len()].copy_from_slice(bytes);
        AlignedBytes { blocks, len: bytes.len() }
    }
    /// Read a whole file into an aligned buffer.
    pub fn read(path: &std::path::Path) -> std::io::Result<Self> {
        Ok(Self::new(&std::fs::read(path)?))
    }
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: `Block` is 64 plain bytes with no padding; the slice covers initialised memory only.
        let all = unsafe { core::slice::from_raw_parts(self.blocks.as_ptr() as *const u8, self.blocks.len() * 64) };
        &all[..self.len]
    }
}

fn bytemuck_blocks(blocks: &mut [Block]) -> &mut [u8] {
    // SAFETY: as above; exclusive borrow of the blocks.
    unsafe { core::slice::from_raw_parts_mut(blocks.as_mut_ptr() as *mut u8, blocks.len() * 64) }
}
