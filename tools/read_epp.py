#!/usr/bin/env python3
"""Read EPP from an avf-bel daemon in pure Python (no packages): the wire contract of docs/wire.md in ~150 lines.

    python3 tools/read_epp.py --socket /run/avf-bel/avf-bel.sock [--count N] [--reward 0,1,0.5,0,0]
    python3 tools/read_epp.py --serial /dev/ttyUSB0 [--baud 115200] [--count N]
    python3 tools/read_epp.py --selftest          # decode the golden frames of docs/wire.md

Prints one JSON object per sample. Serial: COBS + CRC-32C framing; socket: one payload per SOCK_SEQPACKET packet.
"""
import argparse
import json
import os
import socket
import struct
import sys

VERSION = 1
EMOTIONS = ("angry", "happy", "peaceful", "sad", "scared")
FLAGS = ("audio_ok", "video_ok", "warming_up", "degraded", "learning")


def crc32c(data):
    """CRC-32C (Castagnoli), reflected, init/xor-out 0xFFFFFFFF."""
    c = 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF


def cobs_decode(enc):
    """Decode one COBS frame (without its 0x00 delimiter); None if malformed."""
    out, i = bytearray(), 0
    while i < len(enc):
        code = enc[i]
        if code == 0 or i + code > len(enc):
            return None
        out += enc[i + 1:i + code]
        i += code
        if code < 0xFF and i < len(enc):
            out.append(0)
    return bytes(out)


def cobs_encode(data):
    out, block = bytearray(), bytearray()
    for b in data:
        if b == 0:
            out += bytes([len(block) + 1]) + block
            block = bytearray()
        else:
            block.append(b)
            if len(block) == 254:
                out += b"\xff" + block
                block = bytearray()
    out += bytes([len(block) + 1]) + block
    return bytes(out)


class Reader:
    """Postcard cursor: varints, f32, u8; raises ValueError when the payload ends early."""

    def __init__(self, b):
        self.b, self.i = b, 0

    def u8(self):
        if self.i >= len(self.b):
            raise ValueError("truncated")
        self.i += 1
        return self.b[self.i - 1]

    def varint(self, max_bytes):
        v = 0
        for k in range(max_bytes):
            byte = self.u8()
            v |= (byte & 0x7F) << (7 * k)
            if byte < 0x80:
                return v
        raise ValueError("varint too long")

    def f32(self):
        if self.i + 4 > len(self.b):
            raise ValueError("truncated")
        self.i += 4
        return struct.unpack_from("<f", self.b, self.i - 4)[0]


def decode_payload(p):
    """A payload → dict with "type"; raises ValueError if it is not a valid version-1 message."""
    r = Reader(p)
    if r.u8() != VERSION:
        raise ValueError("protocol version")
    tag = r.varint(5)
    if tag == 0:
        m = {"type": "sample", "seq": r.varint(5), "capture_ns": r.varint(10), "publish_ns": r.varint(10),
             "epp": r.f32()}
        m["emotions"] = {e: r.f32() for e in EMOTIONS}
        m["confidence"] = r.f32()
        f = r.u8()
        m["flags"], m["status"] = f, [n for k, n in enumerate(FLAGS) if f >> k & 1]
        m["model_hash"] = "%016x" % r.varint(10)
    elif tag == 1:
        m = {"type": "heartbeat", "seq": r.varint(5), "now_ns": r.varint(10), "samples": r.varint(5),
             "dropped": r.varint(5), "updates": r.varint(5), "flags": r.u8(), "model_hash": "%016x" % r.varint(10)}
    elif tag == 2:
        m = {"type": "reward", "seq": r.varint(5), "reward": [r.f32() for _ in EMOTIONS]}
    else:
        raise ValueError("unknown tag")
    if r.i != len(p):
        raise ValueError("trailing bytes")
    return m


def encode_reward(seq, values):
    v, p = seq, bytearray([VERSION, 2])
    while True:
        if v < 0x80:
            p.append(v)
            break
        p.append(v & 0x7F | 0x80)
        v >>= 7
    return bytes(p) + struct.pack("<5f", *values)


def frame(payload):
    return cobs_encode(payload + struct.pack("<I", crc32c(payload))) + b"\x00"


def unframe(enc):
    """One frame's bytes (delimiter stripped) → payload, or None if COBS or CRC fail."""
    d = cobs_decode(enc)
    if d is None or len(d) < 5 or crc32c(d[:-4]) != struct.unpack("<I", d[-4:])[0]:
        return None
    return d[:-4]


def serial_messages(dev, baud):
    import termios
    import tty
    fd = os.open(dev, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    speed = getattr(termios, "B%d" % baud)
    attrs[4] = attrs[5] = speed
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    buf, bad = bytearray(), 0
    while True:
        chunk = os.read(fd, 256)
        for b in chunk:
            if b != 0:
                buf.append(b)
                continue
            if buf:  # a frame ended; resynchronise here whatever happened
                p = unframe(bytes(buf))
                buf.clear()
                try:
                    yield decode_payload(p), (lambda raw: os.write(fd, raw))
                except (TypeError, ValueError):
                    bad += 1
                    print("bad frame (%d so far)" % bad, file=sys.stderr)


def socket_messages(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    while True:
        p = s.recv(256)
        if not p:
            return
        yield decode_payload(p), s.send


def selftest():
    golden = {  # docs/wire.md section 4
        "sample": "02010dac028094ebdc0390b5fadc030101023f0103803e0103803f0101023f010101010101023e0111403f03ef9b"
                  "afcdf8acd19101e7a9c5c600",
        "heartbeat": "0b010107" "80a8d6b907d20110" "0513ef9bafcdf8acd191011f1eabbb00",
        "reward": "050102ad02010101010103803f0101023f010101010101010509e4ad4400",
    }
    for kind, hexs in golden.items():
        raw = bytes.fromhex(hexs)
        assert raw[-1] == 0
        m = decode_payload(unframe(raw[:-1]))
        assert m["type"] == kind, m
        print(json.dumps(m))
    sample = decode_payload(unframe(bytes.fromhex(golden["sample"])[:-1]))
    assert sample["seq"] == 300 and sample["epp"] == 0.5 and sample["status"] == ["audio_ok", "video_ok"]
    assert frame(encode_reward(301, [0, 1, 0.5, 0, 0])) == bytes.fromhex(golden["reward"])
    assert crc32c(b"123456789") == 0xE3069283
    bad = bytearray(bytes.fromhex(golden["sample"])[:-1])
    bad[20] ^= 4
    assert unframe(bytes(bad)) is None
    print("selftest ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--socket")
    ap.add_argument("--serial")
    ap.add_argument("--baud", type=int, default=115200)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--reward", help="a,h,p,s,c in 0-1, sent once after the first sample")
    ap.add_argument("--selftest", action="store_true")
    a = ap.parse_args()
    if a.selftest:
        return selftest()
    if bool(a.socket) == bool(a.serial):
        ap.error("give exactly one of --socket PATH or --serial DEV")
    reward = [float(x) for x in a.reward.split(",")] if a.reward else None
    if reward is not None and (len(reward) != 5 or not all(0 <= x <= 1 for x in reward)):
        ap.error("--reward needs five values in 0-1")
    stream = socket_messages(a.socket) if a.socket else serial_messages(a.serial, a.baud)
    n = 0
    for m, send in stream:
        if m["type"] != "sample":
            continue
        print(json.dumps(m), flush=True)
        if reward is not None:
            p = encode_reward(m["seq"], reward)
            send(p if a.socket else frame(p))
            reward = None
        n += 1
        if a.count and n >= a.count:
            break


if __name__ == "__main__":
    main()
