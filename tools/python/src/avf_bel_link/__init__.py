"""avf-bel-link: read EPP and the five emotions from an ``avf-bel serve`` daemon and send rewards back, over its Unix
socket or a serial port. Pure Python; the wire contract is docs/wire.md of the avf-bel repository (protocol 2).

>>> from avf_bel_link import SocketLink
>>> with SocketLink("/run/avf-bel/avf-bel.sock") as link:      # doctest: +SKIP
...     for s in link.samples():
...         if s.has_estimate:                                  # check the flag, not the numbers (NaN otherwise)
...             print(s.seq, s.epp, s.emotion("happy"), s.confidence)
...             link.send_reward([0, 1, 0.5, 0, 0])             # for the last sample received
"""

from .link import (
    ConnectionLost,
    DaemonNotRunning,
    PortError,
    SerialLink,
    SerialNotInstalled,
    SocketLink,
    Timeout,
    connect,
)
from .wire import (
    EMOTIONS,
    VERSION,
    DecodeError,
    FrameDecoder,
    Heartbeat,
    LinkError,
    Reward,
    Sample,
    SceneCut,
    crc32c,
    decode_payload,
    encode_frame,
    encode_payload,
    flag_names,
    frame,
    unframe,
)

__version__ = "0.1.0"

__all__ = [
    "EMOTIONS", "VERSION", "Sample", "Heartbeat", "Reward", "SceneCut", "SocketLink", "SerialLink", "connect", "FrameDecoder",
    "decode_payload", "encode_payload", "encode_frame", "frame", "unframe", "crc32c", "flag_names",
    "LinkError", "DecodeError", "DaemonNotRunning", "PortError", "SerialNotInstalled", "ConnectionLost", "Timeout",
]
