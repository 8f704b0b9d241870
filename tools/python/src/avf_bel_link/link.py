"""Transports: the daemon's Unix socket (SOCK_SEQPACKET, one payload per packet) and a serial port (COBS + CRC-32C
frames, through pyserial). Both give the same interface: iterate messages, ``samples()``, ``send_reward()``,
``send_scene_cut()``."""

import errno
import socket
import time
from collections import deque
from typing import Iterator, Optional, Sequence

from .wire import (
    MAX_PAYLOAD,
    DecodeError,
    FrameDecoder,
    Heartbeat,
    LinkError,
    Message,
    Reward,
    Sample,
    SceneCut,
    decode_payload,
    frame,
    encode_payload,
)


class DaemonNotRunning(LinkError, ConnectionError):
    """No daemon listens at the socket path (no such file, or a stale socket left by a crash)."""


class PortError(LinkError, OSError):
    """The serial port cannot be opened or used (missing device, no permission, unplugged)."""


class SerialNotInstalled(LinkError, ImportError):
    """A serial port was asked for but pyserial is not installed."""


class ConnectionLost(LinkError, ConnectionError):
    """The daemon closed the connection (it stopped or restarted)."""


class Timeout(LinkError, TimeoutError):
    """No message within the time asked for (a live daemon sends a heartbeat every second)."""


class _Link:
    """Shared by both transports: iteration, ``samples()``, the last sample's ``seq`` for rewards."""

    last_seq: Optional[int] = None
    timeout: Optional[float] = None

    def recv(self, timeout: Optional[float] = None) -> Message:  # pragma: no cover - overridden
        raise NotImplementedError

    def _send_payload(self, payload: bytes) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _note(self, m: Message) -> Message:
        if isinstance(m, Sample):
            self.last_seq = m.seq
        return m

    def __iter__(self) -> Iterator[Message]:
        """Every message (samples and heartbeats) until the daemon goes away (``ConnectionLost``) or, with a
        ``timeout``, stays silent that long (``Timeout``)."""
        while True:
            yield self.recv(self.timeout)

    def samples(self) -> Iterator[Sample]:
        """Samples only (heartbeats are skipped)."""
        for m in self:
            if isinstance(m, Sample):
                yield m

    def heartbeats(self) -> Iterator[Heartbeat]:
        """Heartbeats only."""
        for m in self:
            if isinstance(m, Heartbeat):
                yield m

    def send_reward(self, values: Sequence[float], seq: Optional[int] = None) -> Reward:
        """Send a reward (angry, happy, peaceful, sad, scared; each 0-1) for sample ``seq`` (default: the last sample
        received, else 0). ``ValueError`` for values the daemon would refuse. Returns the Reward sent."""
        if seq is None:
            seq = self.last_seq if self.last_seq is not None else 0
        r = Reward(seq, tuple(float(v) for v in values))
        self._send_payload(encode_payload(r))
        return r

    def send_scene_cut(self, seq: Optional[int] = None) -> SceneCut:
        """Tell the model the camera has just moved (a head turn, once it has ended): its visual background restarts
        from the next frame. ``seq`` defaults to the last sample received, else 0. Returns the SceneCut sent."""
        if seq is None:
            seq = self.last_seq if self.last_seq is not None else 0
        c = SceneCut(seq)
        self._send_payload(encode_payload(c))
        return c

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self) -> None:  # pragma: no cover - overridden
        pass


class SocketLink(_Link):
    """A connection to ``avf-bel serve --socket PATH``. Each reader gets every message published after it
    connected."""

    def __init__(self, path: str, timeout: Optional[float] = 5.0):
        self.path, self.timeout = str(path), timeout
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.connect(self.path)
        except FileNotFoundError:
            s.close()
            raise DaemonNotRunning(
                "no daemon socket at %s (is `avf-bel serve --socket %s` running?)" % (self.path, self.path)
            ) from None
        except ConnectionRefusedError:
            s.close()
            raise DaemonNotRunning(
                "nothing listens at %s: a stale socket (the daemon stopped or crashed)" % self.path
            ) from None
        except PermissionError:
            s.close()
            raise LinkError(
                "permission denied on %s (is this user in the daemon's group?)" % self.path
            ) from None
        except OSError as e:
            s.close()
            if e.errno in (errno.ENOTSOCK, errno.EPROTOTYPE):
                raise DaemonNotRunning("%s is not the daemon's socket (%s)" % (self.path, e.strerror)) from None
            raise LinkError("socket %s: %s" % (self.path, e.strerror or e)) from None
        self.sock = s

    def recv(self, timeout: Optional[float] = None) -> Message:
        """The next message; ``Timeout`` after ``timeout`` seconds (None waits for ever), ``ConnectionLost`` when
        the daemon closes the connection, ``DecodeError`` for a payload this package cannot read (e.g. another
        protocol version)."""
        self.sock.settimeout(timeout)
        try:
            p = self.sock.recv(MAX_PAYLOAD + 64)
        except socket.timeout:
            raise Timeout("no message from the daemon at %s for %s s" % (self.path, timeout)) from None
        except OSError as e:
            raise ConnectionLost("socket %s: %s" % (self.path, e.strerror or e)) from None
        if not p:
            raise ConnectionLost("the daemon at %s closed the connection" % self.path)
        return self._note(decode_payload(p))

    def _send_payload(self, payload: bytes) -> None:
        self.sock.settimeout(2.0)
        try:
            self.sock.send(payload)
        except socket.timeout:
            raise Timeout("the daemon at %s did not take the message within 2 s" % self.path) from None
        except OSError as e:
            raise ConnectionLost("socket %s: %s" % (self.path, e.strerror or e)) from None

    def close(self) -> None:
        self.sock.close()


def _import_serial():
    try:
        import serial  # type: ignore
    except ImportError:
        raise SerialNotInstalled(
            "reading a serial port needs pyserial: pip install 'avf-bel-link[serial]' (or pip install pyserial)"
        ) from None
    return serial


class SerialLink(_Link):
    """``avf-bel serve --serial PORT`` on the other end of a UART (8N1, no flow control). Bad frames are dropped and
    counted in ``bad``; the reader resynchronises at the next 0x00."""

    def __init__(self, port: str, baud: int = 115200, timeout: Optional[float] = 5.0):
        serial = _import_serial()
        self.port_name, self.timeout = str(port), timeout
        try:
            self.port = serial.Serial(self.port_name, baudrate=baud, timeout=0.1, write_timeout=2.0)
        except (serial.SerialException, OSError, ValueError) as e:
            raise PortError("serial port %s: %s" % (self.port_name, _reason(e))) from None
        self._serial = serial
        self.decoder = FrameDecoder()
        self.pending = deque()
        # Join mid-frame safely: a lone 0x00 flushes the daemon's receiver (docs/wire.md section 2).
        self._write(b"\x00")

    @property
    def bad(self) -> int:
        """Frames dropped (COBS, CRC or payload errors)."""
        return self.decoder.bad

    def recv(self, timeout: Optional[float] = None) -> Message:
        """The next message; ``Timeout`` after ``timeout`` seconds (None waits for ever), ``PortError`` if the port
        goes away."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.pending:
            if deadline is not None and time.monotonic() >= deadline:
                raise Timeout("no valid frame on %s for %s s" % (self.port_name, timeout))
            try:
                chunk = self.port.read(256)
            except (self._serial.SerialException, OSError) as e:
                raise PortError("serial port %s: %s" % (self.port_name, _reason(e))) from None
            self.pending.extend(self.decoder.feed(chunk))
        return self._note(self.pending.popleft())

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except (self._serial.SerialException, OSError) as e:
            raise PortError("serial port %s: %s" % (self.port_name, _reason(e))) from None

    def _send_payload(self, payload: bytes) -> None:
        self._write(frame(payload))

    def close(self) -> None:
        self.port.close()


def _reason(e: BaseException) -> str:
    strerror = getattr(e, "strerror", None)
    if strerror:
        return strerror
    text = str(e)
    if "No such file" in text or "could not open port" in text:
        return text + " (is the device plugged in? check `ls /dev/ttyUSB* /dev/ttyTHS*`)"
    return text


def connect(socket_path: Optional[str] = None, serial_port: Optional[str] = None, baud: int = 115200,
            timeout: Optional[float] = 5.0) -> _Link:
    """Open exactly one of a daemon socket or a serial port."""
    if (socket_path is None) == (serial_port is None):
        raise ValueError("give exactly one of socket_path or serial_port")
    if socket_path is not None:
        return SocketLink(socket_path, timeout=timeout)
    return SerialLink(serial_port, baud=baud, timeout=timeout)


__all__ = [
    "SocketLink", "SerialLink", "connect", "DaemonNotRunning", "PortError", "SerialNotInstalled", "ConnectionLost",
    "Timeout", "DecodeError",
]
