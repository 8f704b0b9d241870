//! The robot link: one message set for every transport (spec for implementers in any language: `docs/wire.md`).
//!
//! A payload is the protocol version byte followed by a postcard-encoded [`Message`]:
//!
//! ```text
//! payload = [PROTOCOL_VERSION] ‖ postcard(Message)      Message tag: 0 Sample, 1 Heartbeat, 2 Reward, 3 SceneCut
//! serial  = COBS(payload ‖ CRC-32C(payload) as u32 LE) ‖ 0x00          (see [`frame`])
//! socket  = one payload per SOCK_SEQPACKET packet (no CRC, no COBS: the kernel keeps packets whole)
//! ```
//!
//! The daemon (`avf-bel serve`) publishes [`Sample`]s at a fixed rate and a [`Heartbeat`] once a second; a robot
//! sends [`Reward`]s back to train BEL online, and a [`SceneCut`] when its camera has just moved. The codec here is
//! `no_std` and allocation-free, so a microcontroller on the other end of the UART can use it; the OS side (sockets,
//! serial ports, the daemon) is in the `std`-only submodules.

pub mod frame;

use crate::core::config::N_EMOTIONS;
use core::fmt;
use postcard::experimental::max_size::MaxSize;
use serde::{Deserialize, Serialize};

pub use frame::FrameError;

/// Version of the message set, the first byte of every payload. A reader rejects other versions.
///
/// Version 2 (this one) added [`flags::NO_ESTIMATE`]: a sample with no usable sense carries NaN instead of numbers
/// (version 1 sent zeros, which read as "most negative").
pub const PROTOCOL_VERSION: u8 = 2;

/// Bits of [`Sample::flags`] and [`Heartbeat::flags`]; readers must ignore bits they do not know.
pub mod flags {
    /// The audio input delivered data in the last sample period and is used.
    pub const AUDIO_OK: u8 = 1 << 0;
    /// The video input delivered data in the last sample period and is used.
    pub const VIDEO_OK: u8 = 1 << 1;
    /// Early in a clip window: the values are the previous window's closing result (or neutral at start).
    pub const WARMING_UP: u8 = 1 << 2;
    /// An input is missing or failing, or inference failed: values rest on fewer senses or are held.
    pub const DEGRADED: u8 = 1 << 3;
    /// A reward was applied to BEL in the last second.
    pub const LEARNING: u8 = 1 << 4;
    /// There is no estimate: no sense is usable (none configured delivers data) and no earlier result may stand in.
    /// `epp` and `emotions` are NaN and `confidence` is 0; a reader must not use them.
    pub const NO_ESTIMATE: u8 = 1 << 5;
}

/// One read-out of the model, published at the sample rate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, MaxSize)]
pub struct Sample {
    /// Sample counter, +1 per sample (wraps at 2³²); a gap means samples were dropped on the way.
    pub seq: u32,
    /// CLOCK_MONOTONIC (ns) when the newest input the sample rests on was captured.
    pub capture_ns: u64,
    /// CLOCK_MONOTONIC (ns) when the sample was handed to the transports.
    pub publish_ns: u64,
    /// Emotional Positivity Parameter, 0–1 (NaN with [`flags::NO_ESTIMATE`]).
    pub epp: f32,
    /// Intensities 0–1 of angry, happy, peaceful, sad, scared (NaN with [`flags::NO_ESTIMATE`]).
    pub emotions: [f32; N_EMOTIONS],
    /// How much evidence the values rest on, 0–1 (see `docs/wire.md`; not a calibrated probability).
    pub confidence: f32,
    /// [`flags`] bits.
    pub flags: u8,
    /// The weights' model hash (`avf-bel inspect` prints it).
    pub model_hash: u64,
}

impl Sample {
    /// Whether the sample carries an estimate (else `epp`, `emotions` are NaN: see [`flags::NO_ESTIMATE`]).
    pub fn has_estimate(&self) -> bool {
        self.flags & flags::NO_ESTIMATE == 0 && self.epp.is_finite()
    }
}

/// The daemon's 1 Hz liveness message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, MaxSize)]
pub struct Heartbeat {
    /// Heartbeat counter, +1 per heartbeat.
    pub seq: u32,
    /// CLOCK_MONOTONIC (ns) when sent.
    pub now_ns: u64,
    /// Samples published since start.
    pub samples: u32,
    /// Messages dropped since start over all subscribers and the serial port (slow readers).
    pub dropped: u32,
    /// Rewards applied to BEL since the state was created (kept across restarts with the state file).
    pub updates: u32,
    /// [`flags`] bits as in the latest sample.
    pub flags: u8,
    /// The weights' model hash.
    pub model_hash: u64,
}

/// Robot → daemon: how right each emotion would have been, as a BEL reinforcement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, MaxSize)]
pub struct Reward {
    /// The `seq` of the sample the robot is reacting to (logged; the step always applies to the latest read-out).
    pub seq: u32,
    /// Reinforcement 0–1 per emotion (angry, happy, peaceful, sad, scared); other values are refused.
    pub reward: [f32; N_EMOTIONS],
}

/// Robot → daemon: the camera has just moved further than the model's visual background follows (a head turn), or
/// the scene changed at once. The daemon restarts the background from the next frame (`Pipeline::scene_cut`); the
/// clip and its samples go on. Send it once the move has ended. Added in protocol version 2 as tag 3: the messages a
/// robot receives are unchanged; a daemon built before it refuses the message as an unknown tag (counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, MaxSize)]
pub struct SceneCut {
    /// The `seq` of the latest sample the robot had seen (logged only).
    pub seq: u32,
}

/// Every message of the link. `#[non_exhaustive]`: a later protocol may add a tag (version 2 added [`SceneCut`]), so
/// code outside the crate that matches a message keeps a wildcard arm and ignores what it does not know.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, MaxSize)]
#[non_exhaustive]
pub enum Message {
    /// Tag 0, daemon → robot.
    Sample(Sample),
    /// Tag 1, daemon → robot.
    Heartbeat(Heartbeat),
    /// Tag 2, robot → daemon.
    Reward(Reward),
    /// Tag 3, robot → daemon.
    SceneCut(SceneCut),
}

/// Largest payload (version byte + message).
pub const MAX_PAYLOAD: usize = 1 + Message::POSTCARD_MAX_SIZE;

/// Largest serial frame.
pub const MAX_FRAME: usize = frame::max_frame_len(MAX_PAYLOAD);

/// A frame decoder sized for this message set.
pub type MessageDecoder = frame::Decoder<{ MAX_PAYLOAD + frame::CRC_LEN }>;

/// Why a message could not be encoded or was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LinkError {
    /// Serial framing failed; see [`FrameError`].
    Frame(FrameError),
    /// The payload is empty or its version byte is not [`PROTOCOL_VERSION`] (the version found).
    Version(u8),
    /// The bytes after the version are not a valid postcard [`Message`].
    Decode,
    /// The message decoded but bytes were left over.
    TrailingBytes,
    /// The output buffer is too small.
    BufferTooSmall,
}

impl From<FrameError> for LinkError {
    fn from(e: FrameError) -> Self {
        LinkError::Frame(e)
    }
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::Frame(e) => e.fmt(f),
            LinkError::Version(v) => write!(f, "protocol version {v} (this build speaks {PROTOCOL_VERSION})"),
            LinkError::Decode => write!(f, "payload is not a valid message"),
            LinkError::TrailingBytes => write!(f, "payload has bytes after the message"),
            LinkError::BufferTooSmall => write!(f, "message buffer too small"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for LinkError {}

impl Message {
    /// Write the payload (version byte + postcard) into `out`; returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, LinkError> {
        let (v, rest) = out.split_first_mut().ok_or(LinkError::BufferTooSmall)?;
        *v = PROTOCOL_VERSION;
        let n = postcard::to_slice(self, rest).map_err(|_| LinkError::BufferTooSmall)?.len();
        Ok(1 + n)
    }

    /// Parse a payload: the version must match and the message must use every byte.
    pub fn decode(payload: &[u8]) -> Result<Message, LinkError> {
        match payload.split_first() {
            Some((&PROTOCOL_VERSION, rest)) => {
                let (m, tail) = postcard::take_from_bytes::<Message>(rest).map_err(|_| LinkError::Decode)?;
                if tail.is_empty() {
                    Ok(m)
                } else {
                    Err(LinkError::TrailingBytes)
                }
            }
            Some((&v, _)) => Err(LinkError::Version(v)),
            None => Err(LinkError::Version(0)),
        }
    }

    /// Write a whole serial frame into `out`; returns its length (delimiter included).
    pub fn encode_frame(&self, out: &mut [u8]) -> Result<usize, LinkError> {
        let mut p = [0u8; MAX_PAYLOAD];
        let n = self.encode(&mut p)?;
        Ok(frame::encode(&p[..n], out)?)
    }
}

/// Feed serial bytes to `dec` and call `f` with every message, or with why a frame or payload was refused.
pub fn decode_stream<const N: usize>(
    dec: &mut frame::Decoder<N>,
    bytes: &[u8],
    mut f: impl FnMut(Result<Message, LinkError>),
) {
    dec.for_each(bytes, |r| f(r.map_err(LinkError::from).and_then(Message::decode)));
}
