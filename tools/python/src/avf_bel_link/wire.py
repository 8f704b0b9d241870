"""The messages and framings of docs/wire.md (protocol version 2), in pure Python.

A *payload* is the version byte 0x02, a tag (varint) and the message's fields in postcard encoding. The Unix socket
carries one payload per SOCK_SEQPACKET packet; the serial line carries ``COBS(payload + CRC-32C LE) + 0x00``.
"""

import math
import struct
from dataclasses import dataclass
from typing import Iterator, List, Sequence, Tuple, Union

#: The protocol version this package speaks (the first byte of every payload).
VERSION = 2
#: Emotion order everywhere on the wire.
EMOTIONS = ("angry", "happy", "peaceful", "sad", "scared")
#: The EPP weights of each emotion (docs/wire.md, Sample field 4): EPP = sum(w * e) / 15.
EPP_WEIGHTS = (3, 5, 4, 2, 1)

TAG_SAMPLE, TAG_HEARTBEAT, TAG_REWARD, TAG_SCENE_CUT = 0, 1, 2, 3

#: ``flags`` bits (readers ignore bits they do not know).
AUDIO_OK = 0x01
VIDEO_OK = 0x02
WARMING_UP = 0x04
DEGRADED = 0x08
LEARNING = 0x10
NO_ESTIMATE = 0x20
FLAG_NAMES = (
    (AUDIO_OK, "audio_ok"),
    (VIDEO_OK, "video_ok"),
    (WARMING_UP, "warming_up"),
    (DEGRADED, "degraded"),
    (LEARNING, "learning"),
    (NO_ESTIMATE, "no_estimate"),
)

#: Largest payload (a Sample with maximal varints) and largest serial frame, in bytes.
MAX_PAYLOAD = 66
MAX_FRAME = 72

_NAN = struct.unpack("<f", b"\x00\x00\xc0\x7f")[0]  # the quiet NaN the daemon sends


class LinkError(Exception):
    """Base class of every error this package raises."""


class DecodeError(LinkError, ValueError):
    """A payload or frame that is not a valid protocol-2 message (wrong version, unknown tag, short, trailing bytes,
    bad COBS or CRC)."""


def flag_names(flags: int) -> List[str]:
    """The names of the known bits set in ``flags``, in bit order (the ``status`` list of ``avf-bel read --json``)."""
    return [name for bit, name in FLAG_NAMES if flags & bit]


@dataclass(frozen=True)
class Sample:
    """One read-out of the model (tag 0). Without an estimate (``has_estimate`` false) ``epp`` and the five
    ``emotions`` are NaN: check ``has_estimate``, not the numbers."""

    seq: int
    capture_ns: int
    publish_ns: int
    epp: float
    emotions: Tuple[float, float, float, float, float]
    confidence: float
    flags: int
    model_hash: int

    @property
    def has_estimate(self) -> bool:
        """False when the ``no estimate`` flag is set: there is no reading (keep the robot's default behaviour)."""
        return not self.flags & NO_ESTIMATE

    @property
    def audio_ok(self) -> bool:
        return bool(self.flags & AUDIO_OK)

    @property
    def video_ok(self) -> bool:
        return bool(self.flags & VIDEO_OK)

    @property
    def warming_up(self) -> bool:
        return bool(self.flags & WARMING_UP)

    @property
    def degraded(self) -> bool:
        return bool(self.flags & DEGRADED)

    @property
    def learning(self) -> bool:
        return bool(self.flags & LEARNING)

    @property
    def status(self) -> List[str]:
        return flag_names(self.flags)

    def emotion(self, name: str) -> float:
        """One emotion's intensity by name (``angry``, ``happy``, ``peaceful``, ``sad``, ``scared``)."""
        try:
            return self.emotions[EMOTIONS.index(name)]
        except ValueError:
            raise KeyError("unknown emotion %r (known: %s)" % (name, ", ".join(EMOTIONS))) from None

    def latency_ns(self) -> int:
        """Time the sample spent in the daemon: ``publish_ns - capture_ns`` (valid across machines)."""
        return self.publish_ns - self.capture_ns

    def to_record(self) -> dict:
        """The object ``avf-bel read --json`` prints (``epp`` and ``emotions`` are ``None`` without an estimate)."""
        est = self.has_estimate
        return {
            "type": "sample",
            "seq": self.seq,
            "capture_ns": self.capture_ns,
            "publish_ns": self.publish_ns,
            "epp": self.epp if est else None,
            "emotions": dict(zip(EMOTIONS, self.emotions)) if est else None,
            "confidence": self.confidence if math.isfinite(self.confidence) else 0.0,
            "flags": self.flags,
            "status": self.status,
            "model_hash": "%016x" % self.model_hash,
        }

    @classmethod
    def without_estimate(cls, seq, capture_ns, publish_ns, flags, model_hash) -> "Sample":
        """A sample with no values: NaN EPP and emotions, confidence 0, ``no estimate`` set."""
        return cls(seq, capture_ns, publish_ns, _NAN, (_NAN,) * 5, 0.0, flags | NO_ESTIMATE, model_hash)


@dataclass(frozen=True)
class Heartbeat:
    """The daemon's liveness message (tag 1), once a second; none for ~3 s means the daemon or the line is down."""

    seq: int
    now_ns: int
    samples: int
    dropped: int
    updates: int
    flags: int
    model_hash: int

    def to_record(self) -> dict:
        """The object ``avf-bel read --json --heartbeats`` prints."""
        return {
            "type": "heartbeat",
            "seq": self.seq,
            "now_ns": self.now_ns,
            "samples": self.samples,
            "dropped": self.dropped,
            "updates": self.updates,
            "flags": self.flags,
            "model_hash": "%016x" % self.model_hash,
        }


@dataclass(frozen=True)
class Reward:
    """Robot -> daemon (tag 2): how strongly each emotion should have been felt (five values 0-1) for sample
    ``seq``."""

    seq: int
    reward: Tuple[float, float, float, float, float]

    def __post_init__(self):
        check_reward(self.reward)
        _check_uint(self.seq, 32, "seq")


@dataclass(frozen=True)
class SceneCut:
    """Robot -> daemon (tag 3): the camera has just moved further than the model's visual background follows (a head
    turn); the background restarts from the next frame. ``seq`` is the latest sample the robot had seen."""

    seq: int

    def __post_init__(self):
        _check_uint(self.seq, 32, "seq")


Message = Union[Sample, Heartbeat, Reward, SceneCut]


def check_reward(values: Sequence[float]) -> None:
    """Raise ``ValueError`` unless ``values`` are five finite numbers in 0-1 (what the daemon accepts)."""
    vals = list(values)
    if len(vals) != 5:
        raise ValueError("a reward has 5 values (%s), got %d" % (", ".join(EMOTIONS), len(vals)))
    for name, v in zip(EMOTIONS, vals):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and 0.0 <= v <= 1.0):
            raise ValueError("reward for %s must be a number in 0-1, got %r" % (name, v))


def _check_uint(v: int, bits: int, what: str) -> None:
    if not isinstance(v, int) or v < 0 or v >> bits:
        raise ValueError("%s must be an integer in 0..2^%d, got %r" % (what, bits, v))


# --- postcard ---------------------------------------------------------------------------------------------------


def _varint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


class _Cursor:
    def __init__(self, data: bytes):
        self.b, self.i = data, 0

    def u8(self) -> int:
        if self.i >= len(self.b):
            raise DecodeError("payload ends early (at byte %d)" % self.i)
        self.i += 1
        return self.b[self.i - 1]

    def varint(self, bits: int) -> int:
        max_bytes = (bits + 6) // 7
        v = 0
        for k in range(max_bytes):
            byte = self.u8()
            v |= (byte & 0x7F) << (7 * k)
            if byte < 0x80:
                if v >> bits:
                    raise DecodeError("varint overflows u%d" % bits)
                return v
        raise DecodeError("varint longer than %d bytes (u%d)" % (max_bytes, bits))

    def f32(self) -> float:
        if self.i + 4 > len(self.b):
            raise DecodeError("payload ends early (f32 at byte %d)" % self.i)
        self.i += 4
        return struct.unpack_from("<f", self.b, self.i - 4)[0]


def decode_payload(payload: bytes) -> Message:
    """One payload -> ``Sample``, ``Heartbeat``, ``Reward`` or ``SceneCut``; ``DecodeError`` if it is not a valid protocol-2
    message."""
    r = _Cursor(bytes(payload))
    version = r.u8()
    if version != VERSION:
        raise DecodeError("protocol version %d, this reader speaks %d" % (version, VERSION))
    tag = r.varint(32)
    if tag == TAG_SAMPLE:
        seq, cap, pub = r.varint(32), r.varint(64), r.varint(64)
        epp = r.f32()
        emotions = tuple(r.f32() for _ in EMOTIONS)
        m = Sample(seq, cap, pub, epp, emotions, r.f32(), r.u8(), r.varint(64))
    elif tag == TAG_HEARTBEAT:
        m = Heartbeat(r.varint(32), r.varint(64), r.varint(32), r.varint(32), r.varint(32), r.u8(), r.varint(64))
    elif tag == TAG_REWARD:
        seq = r.varint(32)
        m = Reward.__new__(Reward)  # decoded as sent, range not enforced (the daemon counts bad rewards)
        object.__setattr__(m, "seq", seq)
        object.__setattr__(m, "reward", tuple(r.f32() for _ in EMOTIONS))
    elif tag == TAG_SCENE_CUT:
        m = SceneCut(r.varint(32))
    else:
        raise DecodeError("unknown message tag %d" % tag)
    if r.i != len(r.b):
        raise DecodeError("%d bytes left after the message" % (len(r.b) - r.i))
    return m


def encode_payload(m: Message) -> bytes:
    """A message -> its payload (version byte, tag, fields)."""
    out = bytearray([VERSION])
    if isinstance(m, Sample):
        out += _varint(TAG_SAMPLE) + _varint(m.seq) + _varint(m.capture_ns) + _varint(m.publish_ns)
        out += struct.pack("<6f", m.epp, *m.emotions) + struct.pack("<fB", m.confidence, m.flags)
        out += _varint(m.model_hash)
    elif isinstance(m, Heartbeat):
        out += _varint(TAG_HEARTBEAT) + _varint(m.seq) + _varint(m.now_ns) + _varint(m.samples)
        out += _varint(m.dropped) + _varint(m.updates) + bytes([m.flags]) + _varint(m.model_hash)
    elif isinstance(m, Reward):
        out += _varint(TAG_REWARD) + _varint(m.seq) + struct.pack("<5f", *m.reward)
    elif isinstance(m, SceneCut):
        out += _varint(TAG_SCENE_CUT) + _varint(m.seq)
    else:
        raise TypeError("not a message: %r" % (m,))
    return bytes(out)


# --- serial framing: CRC-32C and COBS ------------------------------------------------------------------------------


def _crc_table() -> List[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli): reflected polynomial 0x82F63B78, init and final XOR 0xFFFFFFFF."""
    c = 0xFFFFFFFF
    for b in data:
        c = (c >> 8) ^ _CRC_TABLE[(c ^ b) & 0xFF]
    return c ^ 0xFFFFFFFF


def cobs_encode(data: bytes) -> bytes:
    """COBS without the delimiter: the result contains no 0x00."""
    out, block = bytearray(), bytearray()
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(0xFF)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(enc: bytes) -> bytes:
    """Decode one COBS-encoded frame (without its 0x00); ``DecodeError`` if malformed."""
    out, i = bytearray(), 0
    while i < len(enc):
        code = enc[i]
        if code == 0:
            raise DecodeError("COBS: zero byte inside a frame")
        if i + code > len(enc):
            raise DecodeError("COBS: block runs past the end of the frame")
        out += enc[i + 1 : i + code]
        i += code
        if code < 0xFF and i < len(enc):
            out.append(0)
    return bytes(out)


def frame(payload: bytes) -> bytes:
    """A payload -> one serial frame, delimiter included."""
    return cobs_encode(bytes(payload) + struct.pack("<I", crc32c(payload))) + b"\x00"


def unframe(enc: bytes) -> bytes:
    """One frame's bytes (delimiter stripped) -> payload; ``DecodeError`` on bad COBS, length or CRC."""
    d = cobs_decode(enc)
    if len(d) < 5:
        raise DecodeError("frame of %d bytes after COBS (at least 5 needed)" % len(d))
    want, got = struct.unpack("<I", d[-4:])[0], crc32c(d[:-4])
    if want != got:
        raise DecodeError("CRC-32C mismatch (frame says %08x, data gives %08x)" % (want, got))
    return d[:-4]


def encode_frame(m: Message) -> bytes:
    """A message -> one serial frame."""
    return frame(encode_payload(m))


class FrameDecoder:
    """Serial receiver: feed it bytes as they come, get messages out. A frame that fails (COBS, CRC, payload) is
    dropped and counted in ``bad``; the decoder starts afresh after the next 0x00 (the whole resynchronisation rule).
    Empty frames are ignored; a frame longer than ``MAX_FRAME`` is dropped without being buffered whole."""

    def __init__(self):
        self.buf = bytearray()
        self.bad = 0
        self.overlong = False

    def feed(self, data: bytes) -> Iterator[Message]:
        for b in bytes(data):
            if b != 0:
                if len(self.buf) >= MAX_FRAME:
                    self.overlong = True
                else:
                    self.buf.append(b)
                continue
            if self.overlong:
                self.bad += 1
            elif self.buf:
                try:
                    m = decode_payload(unframe(bytes(self.buf)))
                except DecodeError:
                    self.bad += 1
                else:
                    yield m
            self.buf.clear()
            self.overlong = False


def decode_stream(data: bytes) -> Tuple[List[Message], int]:
    """Every message in a byte stream of serial frames, and the number of bad frames."""
    d = FrameDecoder()
    msgs = list(d.feed(data))
    return msgs, d.bad


def nan() -> float:
    """The quiet NaN the daemon sends without an estimate (``00 00 c0 7f``)."""
    return _NAN


def epp_of(emotions: Sequence[float]) -> float:
    """EPP from the five intensities: (3 angry + 5 happy + 4 peaceful + 2 sad + 1 scared) / 15."""
    return sum(w * e for w, e in zip(EPP_WEIGHTS, emotions)) / 15.0


__all__ = [
    "VERSION", "EMOTIONS", "Sample", "Heartbeat", "Reward", "Message", "LinkError", "DecodeError",
    "decode_payload", "encode_payload", "crc32c", "cobs_encode", "cobs_decode", "frame", "unframe",
    "encode_frame", "FrameDecoder", "decode_stream", "flag_names", "check_reward",
]
