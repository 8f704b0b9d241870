"""An ONNX Runtime that runs its AVX2 kernels on an AVX-512 machine, for the AVX2 rows of benches/compare.sh.

ONNX Runtime picks its CPU kernels (MLAS) once, from CPUID and XGETBV, and has no switch to lower the level. On a
machine with AVX-512 the AVX2 peer of our `avx2` level could then only be measured on another machine. This script
copies the installed `onnxruntime` package into OUT_DIR and, in both of the copy's native libraries, turns the one
conditional jump that enters MLAS's AVX-512 set-up into a no-op: MLAS then keeps the AVX2 (+FMA) kernels it chose
just before (its AVX-VNNI check, which follows, stays as it is; CPUs with AVX-512 but without the VEX AVX-VNNI
extension, e.g. Zen 4, then get the plain AVX2 `vpmaddubsw` int8 kernels). The installed package is not touched.

The jump is found by its bytes (test of CPUID.7.EBX bit 16, AVX512F; then XCR0's three AVX-512 state bits; then
`je`), which belong to one ONNX Runtime build: the script refuses unless the pattern occurs exactly once in each
library that holds MLAS (and it must find it in the Python binding), so another version fails loudly instead of
being patched somewhere else. Checked with onnxruntime 1.32.0 (x86-64 manylinux wheel). The patched copy writes a marker file `AVX2_ONLY`; benches/ort_anchor.py reports
`"mlas": "avx2 (AVX-512 set-up patched out)"` when it imports such a copy.

Usage: python benches/ort_avx2.py OUT_DIR, then PYTHONPATH=OUT_DIR python benches/ort_anchor.py ...
"""
import os
import re
import shutil
import sys

import onnxruntime

# test r10d, 0x10000 (AVX512F); je +?; mov rax, r8; not rax; test al, 0xE0 (XCR0 opmask/ZMM state); je rel32
PATTERN = re.compile(rb"\x41\xf7\xc2\x00\x00\x01\x00\x74.\x4c\x89\xc0\x48\xf7\xd0\xa8\xe0(\x0f\x84)", re.DOTALL)
NOP6 = b"\x66\x0f\x1f\x44\x00\x00"


def patch(path):
    """Patch the gate in one library; returns whether the library holds MLAS (the gate) at all."""
    data = bytearray(open(path, "rb").read())
    hits = list(PATTERN.finditer(data))
    if not hits:
        return False
    if len(hits) != 1:
        sys.exit(f"{path}: the MLAS AVX-512 gate occurs {len(hits)} times (expected 1); not patching this build")
    at = hits[0].start(1)
    data[at:at + 6] = NOP6
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)  # a new inode: hard links to the original stay as they were
    print(f"patched {os.path.basename(path)} at 0x{at:x}")
    return True


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = os.path.abspath(sys.argv[1])
    src = os.path.dirname(onnxruntime.__file__)
    dst = os.path.join(out, "onnxruntime")
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    libs = [os.path.join(dst, "capi", f) for f in os.listdir(os.path.join(dst, "capi")) if ".so" in f]
    patched = []
    for lib in sorted(libs):
        with open(lib, "rb") as f:
            if f.read(4) != b"\x7fELF":
                continue
        if patch(lib):
            patched.append(os.path.basename(lib))
    # The Python binding carries its own copy of MLAS; it is the one the anchor runs.
    if not any(n.startswith("onnxruntime_pybind11_state") for n in patched):
        sys.exit("the Python binding's MLAS AVX-512 gate was not found; not a build this script knows")
    with open(os.path.join(dst, "AVX2_ONLY"), "w") as f:
        f.write(f"copied from {src}; MLAS's AVX-512 set-up patched out by benches/ort_avx2.py\n")
    print(f"PYTHONPATH={out}")


if __name__ == "__main__":
    main()
