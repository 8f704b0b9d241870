//! Serial framing: `COBS(P ‖ CRC-32C(P) as 4 LE bytes) ‖ 0x00` (spec: `docs/wire.md`).
//!
//! [`encode`] writes one frame into a caller buffer; [`Decoder`] takes a byte stream in chunks of any size and
//! yields the payloads of frames whose COBS structure and CRC are both intact. Everything here is `no_std` and
//! allocation-free; nothing panics on any input.
//!
//! COBS as used here: the data is cut at each zero byte into blocks; each block is sent as one code byte
//! `1 + block length` followed by the block (the zero itself is implied), and a block of 254 non-zero bytes is sent
//! with code `0xFF` and implies no zero. The encoder always ends with the block after the last zero (so an empty
//! trailing block is the single byte `0x01`). The decoder accepts any valid COBS.

use core::fmt;
use crc::{Crc, CRC_32_ISCSI};

/// CRC-32C (Castagnoli): polynomial 0x1EDC6F41 (reflected 0x82F63B78), init and xor-out 0xFFFFFFFF, reflected in
/// and out; check value of `"123456789"` is 0xE3069283.
pub const CRC32C: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// Bytes of the CRC trailer.
pub const CRC_LEN: usize = 4;

/// The frame delimiter.
pub const DELIMITER: u8 = 0x00;

/// Largest COBS encoding of `n` bytes (one code byte per started 254-byte block, plus one).
pub const fn cobs_max_len(n: usize) -> usize {
    n + n / 254 + 1
}

/// Largest whole frame (COBS of payload + CRC, plus the delimiter) for a payload of `n` bytes.
pub const fn max_frame_len(n: usize) -> usize {
    cobs_max_len(n + CRC_LEN) + 1
}

/// Why a frame was not produced or not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FrameError {
    /// The output buffer cannot hold the encoded frame.
    BufferTooSmall,
    /// The frame decodes to more bytes than the decoder's capacity; it was skipped up to its delimiter.
    Overflow,
    /// A COBS block was cut short by the delimiter (a lost or inserted byte).
    Truncated,
    /// The frame holds fewer than one payload byte plus the 4-byte CRC.
    TooShort,
    /// The CRC-32C of the payload does not match the trailer.
    BadCrc,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::BufferTooSmall => write!(f, "frame buffer too small"),
            FrameError::Overflow => write!(f, "frame longer than the decoder's capacity"),
            FrameError::Truncated => write!(f, "COBS block cut short by a delimiter"),
            FrameError::TooShort => write!(f, "frame shorter than one byte plus its CRC"),
            FrameError::BadCrc => write!(f, "frame CRC-32C mismatch"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FrameError {}

/// COBS writer over a caller buffer.
struct Cobs<'a> {
    out: &'a mut [u8],
    code_at: usize,
    w: usize,
    code: u8,
    overflow: bool,
}

impl<'a> Cobs<'a> {
    fn new(out: &'a mut [u8]) -> Self {
        let overflow = out.is_empty();
        Cobs { out, code_at: 0, w: 1, code: 1, overflow }
    }

    fn put_raw(&mut self, at: usize, b: u8) {
        match self.out.get_mut(at) {
            Some(slot) => *slot = b,
            None => self.overflow = true,
        }
    }

    fn push(&mut self, b: u8) {
        if b == 0 {
            self.close_block();
        } else {
            self.put_raw(self.w, b);
            self.w += 1;
            self.code += 1;
            if self.code == 0xFF {
                self.close_block();
            }
        }
    }

    fn close_block(&mut self) {
        self.put_raw(self.code_at, self.code);
        self.code_at = self.w;
        self.w += 1;
        self.code = 1;
    }

    /// Close the last block; the encoded length, or `None` if the buffer was too small.
    fn finish(mut self) -> Option<usize> {
        self.put_raw(self.code_at, self.code);
        // Every position below `w` has been written (a data or a code byte), so no overflow means all fit.
        (!self.overflow).then_some(self.w)
    }
}

/// Encode `payload` as one frame into `out`; returns the frame's length (delimiter included).
pub fn encode(payload: &[u8], out: &mut [u8]) -> Result<usize, FrameError> {
    let crc = CRC32C.checksum(payload).to_le_bytes();
    let mut c = Cobs::new(out);
    for &b in payload.iter().chain(crc.iter()) {
        c.push(b);
    }
    let n = c.finish().ok_or(FrameError::BufferTooSmall)?;
    let slot = out.get_mut(n).ok_or(FrameError::BufferTooSmall)?;
    *slot = DELIMITER;
    Ok(n + 1)
}

/// Streaming frame decoder holding up to `N` decoded bytes (payload + CRC) per frame.
///
/// Feed bytes with [`Decoder::push`] (or [`Decoder::for_each`]); it never panics, never returns a payload whose CRC
/// or COBS structure is wrong, and after any error starts afresh at the next `0x00`. Runs of `0x00` (empty frames)
/// are ignored, so a sender may prefix frames with a zero to resynchronise a receiver.
pub struct Decoder<const N: usize> {
    buf: [u8; N],
    len: usize,
    /// Data bytes left in the current COBS block (0: the next byte is a code byte).
    remaining: u8,
    /// The current block implies a zero after it (code < 0xFF), emitted only if another block follows.
    zero_pending: bool,
    /// Any byte seen since the last delimiter.
    started: bool,
    overflow: bool,
    frames: u32,
    errors: u32,
}

impl<const N: usize> Default for Decoder<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Decoder<N> {
    /// An empty decoder.
    pub const fn new() -> Self {
        Decoder {
            buf: [0; N],
            len: 0,
            remaining: 0,
            zero_pending: false,
            started: false,
            overflow: false,
            frames: 0,
            errors: 0,
        }
    }

    /// Frames accepted so far.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Frames rejected so far (any [`FrameError`]).
    pub fn errors(&self) -> u32 {
        self.errors
    }

    /// Forget a partial frame (the next bytes are treated as the middle of an unknown frame until a delimiter).
    pub fn reset(&mut self) {
        self.len = 0;
        self.remaining = 0;
        self.zero_pending = false;
        self.started = false;
        self.overflow = false;
    }

    fn append(&mut self, b: u8) {
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = b;
                self.len += 1;
            }
            None => self.overflow = true,
        }
    }

    /// Consume bytes from `input` up to and including the next delimiter. Returns how many bytes were consumed and,
    /// if a frame ended, its payload (CRC stripped) or why it was rejected.
    pub fn push(&mut self, input: &[u8]) -> (usize, Option<Result<&[u8], FrameError>>) {
        for (i, &b) in input.iter().enumerate() {
            if b == DELIMITER {
                let r = self.end_frame();
                return (i + 1, r);
            }
            self.started = true;
            if self.remaining == 0 {
                if self.zero_pending {
                    self.append(0);
                }
                self.remaining = b - 1;
                self.zero_pending = b < 0xFF;
            } else {
                self.append(b);
                self.remaining -= 1;
            }
        }
        (input.len(), None)
    }

    fn end_frame(&mut self) -> Option<Result<&[u8], FrameError>> {
        let (started, overflow, truncated, len) = (self.started, self.overflow, self.remaining != 0, self.len);
        self.reset();
        if !started {
            return None;
        }
        let r = if overflow {
            Err(FrameError::Overflow)
        } else if truncated {
            Err(FrameError::Truncated)
        } else if len <= CRC_LEN {
            Err(FrameError::TooShort)
        } else {
            let (payload, crc) = self.buf[..len].split_at(len - CRC_LEN);
            let mut c = [0u8; CRC_LEN];
            c.copy_from_slice(crc);
            if CRC32C.checksum(payload) == u32::from_le_bytes(c) {
                Ok(len - CRC_LEN)
            } else {
                Err(FrameError::BadCrc)
            }
        };
        match r {
            Ok(n) => {
                self.frames = self.frames.wrapping_add(1);
                Some(Ok(&self.buf[..n]))
            }
            Err(e) => {
                self.errors = self.errors.wrapping_add(1);
                Some(Err(e))
            }
        }
    }

    /// Feed all of `input`, calling `f` for every frame that ends in it.
    pub fn for_each(&mut self, mut input: &[u8], mut f: impl FnMut(Result<&[u8], FrameError>)) {
        while !input.is_empty() {
            let (n, r) = self.push(input);
            if let Some(r) = r {
                f(r);
            }
            input = &input[n..];
        }
    }
}
