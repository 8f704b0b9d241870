"""Rewrite a version-4 weights file as version 5 (the visual background off), tensors byte-identical.

How the weights shipped before E41 became format 5 (`git show fb06f88~1:weights/default.avfw > IN`, then
`python3 tools/weights_to_v5.py IN OUT`; the files shipped since E41 were written as format 5 by `avf-bel train`). The header gains
one byte (`background_tau_ms` = 0, a postcard varint) after the version-4 input configuration; the data section is
moved to the next 64-byte boundary if needed (tensor offsets are relative to it). Plain Python 3."""
import struct, sys
src, dst = sys.argv[1], sys.argv[2]
b = open(src, 'rb').read()
assert b[:8] == b'AVFBELW\0' and struct.unpack('<H', b[8:10])[0] == 4, 'not a version-4 weights file'
H = struct.unpack('<I', b[12:16])[0]
h = b[16:16 + H]
pos = 0
def varint():
    global pos
    v = 0; s = 0
    while True:
        x = h[pos]; pos += 1
        v |= (x & 0x7f) << s; s += 7
        if not x & 0x80: return v
def byte():
    global pos
    pos += 1
# Visual
varint(); varint(); byte(); [varint() for _ in range(4)]; byte(); varint(); byte(); varint()
# Audio
[varint() for _ in range(5)]
# Cortex
varint(); varint(); varint(); byte(); varint(); varint()
# Fusion
byte(); varint(); byte(); byte()
# Bel
pos += 12
# Input v4
varint(); byte(); byte(); byte(); byte()
h2 = h[:pos] + b'\x00' + h[pos:]
d_old = (16 + H + 63) // 64 * 64
out = bytearray(b[:8] + struct.pack('<H', 5) + b[10:12] + struct.pack('<I', len(h2)) + h2)
out += b'\0' * ((16 + len(h2) + 63) // 64 * 64 - len(out))
out += b[d_old:]
open(dst, 'wb').write(out)
print(src, '->', dst, len(b), '->', len(out))
