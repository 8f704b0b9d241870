//! The learned BEL state on disk: small, versioned, checksummed, written atomically.
//!
//! Layout (all little-endian; K = sensory channels of the model):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `b"AVFBELS\0"` |
//! | 8 | 2 | format version, u16 = 1 |
//! | 10 | 2 | K, u16 |
//! | 12 | 8 | model hash, u64 (the weights the state was learned on) |
//! | 20 | 4 | learning updates applied so far, u32 |
//! | 24 | 20·K | amygdala weights `[5][K]`, f32 |
//! | 24+20K | 20 | thalamic weights `[5]`, f32 |
//! | 44+20K | 20·K | orbitofrontal weights `[5][K]`, f32 |
//! | 44+40K | 4 | CRC-32C of bytes 0 .. 44+40K, u32 |
//!
//! [`save`] writes `<path>.tmp`, fsyncs it, renames it over `<path>` and fsyncs the directory, so a crash at any
//! moment leaves either the old file or the new one.

use crate::core::bel::Bel;
use crate::core::config::N_EMOTIONS;
use crate::core::link::frame::CRC32C;
use std::fmt;
use std::io::Write;
use std::path::Path;

/// File magic.
pub const MAGIC: [u8; 8] = *b"AVFBELS\0";
/// Format version written and read.
pub const VERSION: u16 = 1;
const HEADER: usize = 24;

/// A state file that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    /// The file could not be read or written; the OS's message.
    Io(String),
    /// Not a state file (wrong magic bytes).
    BadMagic,
    /// A format version this build does not read.
    UnsupportedVersion(u16),
    /// The length disagrees with K (truncated or padded).
    BadLength,
    /// The CRC-32C does not match the contents.
    BadChecksum,
    /// A weight is NaN or infinite.
    NonFinite,
    /// A weight lies outside the running model's learning bound, `bel.weight_bound` (no learning step can
    /// produce it).
    OutOfBound,
    /// Learned on other weights: the file's model hash and the running model's.
    ModelMismatch {
        /// Hash in the file.
        file: u64,
        /// Hash of the running model.
        model: u64,
    },
    /// Learned for a different number of sensory channels: the file's K and the model's.
    ShapeMismatch {
        /// K in the file.
        file: usize,
        /// K of the model.
        model: usize,
    },
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::Io(m) => write!(f, "{m}"),
            StateError::BadMagic => write!(f, "not an avf-bel state file (bad magic bytes)"),
            StateError::UnsupportedVersion(v) => write!(f, "unsupported state format version {v}"),
            StateError::BadLength => write!(f, "state file length does not match its channel count"),
            StateError::BadChecksum => write!(f, "state file checksum mismatch (corrupt)"),
            StateError::NonFinite => write!(f, "state file holds NaN or infinite weights"),
            StateError::OutOfBound => {
                write!(f, "state file holds weights outside the model's learning bound (bel.weight_bound)")
            }
            StateError::ModelMismatch { file, model } => {
                write!(f, "state was learned on model {file:016x}, the running model is {model:016x}")
            }
            StateError::ShapeMismatch { file, model } => {
                write!(f, "state has {file} sensory channels, the model has {model}")
            }
        }
    }
}

impl std::error::Error for StateError {}

/// A decoded state file.
#[derive(Clone, Debug, PartialEq)]
pub struct BelState {
    /// The model the state was learned on.
    pub model_hash: u64,
    /// Learning updates applied so far.
    pub updates: u32,
    /// Amygdala weights `[5][K]`.
    pub amygdala: Vec<f32>,
    /// Thalamic weights `[5]`.
    pub thalamus: Vec<f32>,
    /// Orbitofrontal weights `[5][K]`.
    pub orbitofrontal: Vec<f32>,
}

/// Bytes of a state file for K sensory channels.
pub fn file_len(k: usize) -> usize {
    HEADER + 4 * (2 * N_EMOTIONS * k + N_EMOTIONS) + 4
}

/// Serialise BEL's learned weights.
pub fn encode(bel: &Bel<'_>, model_hash: u64, updates: u32) -> Vec<u8> {
    let k = bel.k();
    let mut b = Vec::with_capacity(file_len(k));
    b.extend_from_slice(&MAGIC);
    b.extend_from_slice(&VERSION.to_le_bytes());
    b.extend_from_slice(&(k as u16).to_le_bytes());
    b.extend_from_slice(&model_hash.to_le_bytes());
    b.extend_from_slice(&updates.to_le_bytes());
    for x in bel.amygdala().iter().chain(bel.thalamus()).chain(bel.orbitofrontal()) {
        b.extend_from_slice(&x.to_le_bytes());
    }
    let crc = CRC32C.checksum(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

/// Parse and check a state file's bytes (magic, version, length, checksum, finite weights).
pub fn decode(b: &[u8]) -> Result<BelState, StateError> {
    if b.len() < HEADER + 4 || b[..8] != MAGIC {
        return Err(StateError::BadMagic);
    }
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
    let version = u16_at(8);
    if version != VERSION {
        return Err(StateError::UnsupportedVersion(version));
    }
    let k = u16_at(10) as usize;
    if b.len() != file_len(k) {
        return Err(StateError::BadLength);
    }
    let (body, crc) = b.split_at(b.len() - 4);
    if CRC32C.checksum(body) != u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err(StateError::BadChecksum);
    }
    let mut hash = [0u8; 8];
    hash.copy_from_slice(&b[12..20]);
    let updates = u32::from_le_bytes([b[20], b[21], b[22], b[23]]);
    let floats: Vec<f32> =
        body[HEADER..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    if floats.iter().any(|x| !x.is_finite()) {
        return Err(StateError::NonFinite);
    }
    let n = N_EMOTIONS * k;
    Ok(BelState {
        model_hash: u64::from_le_bytes(hash),
        updates,
        amygdala: floats[..n].to_vec(),
        thalamus: floats[n..n + N_EMOTIONS].to_vec(),
        orbitofrontal: floats[n + N_EMOTIONS..].to_vec(),
    })
}

impl BelState {
    /// Copy the state into a running BEL stage if it was learned on this model with this shape and every weight
    /// lies within the model's learning bound (BEL is left unchanged otherwise).
    pub fn apply(&self, bel: &mut Bel<'_>, model_hash: u64) -> Result<(), StateError> {
        if self.model_hash != model_hash {
            return Err(StateError::ModelMismatch { file: self.model_hash, model: model_hash });
        }
        let k = bel.k();
        if self.thalamus.len() != N_EMOTIONS
            || self.amygdala.len() != N_EMOTIONS * k
            || self.orbitofrontal.len() != N_EMOTIONS * k
        {
            return Err(StateError::ShapeMismatch { file: self.amygdala.len() / N_EMOTIONS, model: k });
        }
        // A finite weight past the bound passes the checksum only if written so; the learning rule never
        // produces it (found by the `state` fuzz target: such a state reached BEL unchecked). Refuse the file
        // rather than load a clamped version of something we cannot vouch for.
        let bound = bel.weight_bound();
        for x in self.amygdala.iter().chain(&self.thalamus).chain(&self.orbitofrontal) {
            if !x.is_finite() {
                return Err(StateError::NonFinite); // the fields are public: a hand-made state may hold anything
            }
            if x.abs() > bound {
                return Err(StateError::OutOfBound);
            }
        }
        bel.restore(&self.amygdala, &self.thalamus, &self.orbitofrontal)
            .map_err(|_| StateError::ShapeMismatch { file: self.amygdala.len() / N_EMOTIONS, model: k })
    }
}

/// Read and check a state file.
pub fn load(path: &Path) -> Result<BelState, StateError> {
    let b = std::fs::read(path).map_err(|e| StateError::Io(format!("{}: {e}", path.display())))?;
    decode(&b)
}

/// Write `bytes` to `path` atomically: `<path>.tmp`, fsync, rename, fsync of the directory.
pub fn save(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let io = |p: &Path, e: std::io::Error| StateError::Io(format!("{}: {e}", p.display()));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = Path::new(&tmp);
    let mut f = std::fs::File::create(tmp).map_err(|e| io(tmp, e))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| io(tmp, e))?;
    drop(f);
    std::fs::rename(tmp, path).map_err(|e| io(path, e))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // The rename is durable only once the directory is synced; a failure here leaves a valid file.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
