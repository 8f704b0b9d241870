#!/usr/bin/env python3
"""Where a function's perf samples fall, loop by loop, and what each loop executes (x86-64).

    perf record -F 2000 -o FILE BINARY ARGS...
    python3 benches/perf_loops.py FILE BINARY FUNCTION [N]

Loops are the ranges between a backward jump and its target in FUNCTION's disassembly (objdump); each sample goes to
the innermost loop holding its address. For the N loops with the most samples (default 9) prints the samples, the
instructions in the loop body and how many of them are vector ALU operations, vector loads or stores (moves and
broadcasts from or to memory), and scalar instructions. Used for the README's AVX2/AVX-512 cortex table:
FUNCTION = avf_bel::core::audio::cortex::step::run_avx2 (or run_avx512) after recording `avf-bel bench --stage audio
--iters 40` with AVF_BEL_KERNELS=avx2 (avx512). Standard library, perf and objdump only.
"""
import collections
import re
import subprocess
import sys

perf_file, binary, function = sys.argv[1:4]
top = int(sys.argv[4]) if len(sys.argv) > 4 else 9

start = size = None
for line in subprocess.run(["nm", "-S", "-C", binary], capture_output=True, text=True, check=True).stdout.splitlines():
    parts = line.split(maxsplit=3)
    if len(parts) == 4 and parts[3] == function:
        start, size = int(parts[0], 16), int(parts[1], 16)
if start is None:
    sys.exit(f"{function} not found in {binary}")

samples = collections.Counter()
script = subprocess.run(["perf", "script", "-i", perf_file, "-F", "ip,sym,symoff"], capture_output=True,
                        text=True).stdout
for line in script.splitlines():
    name, _, off = line.strip().partition(" ")[2].rpartition("+")
    if name == function:
        samples[start + int(off, 16)] += 1

dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", f"--start-address={start:#x}",
                      f"--stop-address={start + size:#x}", binary], capture_output=True, text=True).stdout
insns = []
for line in dis.splitlines():
    m = re.match(r"\s*([0-9a-f]+):\s+(\S+)\s*(.*)", line)
    if m:
        insns.append((int(m.group(1), 16), m.group(2), m.group(3).split("#")[0].strip()))
loops = []
for addr, op, args in insns:
    target = re.match(r"([0-9a-f]+) <", args)
    if op.startswith("j") and target and int(target.group(1), 16) < addr:
        loops.append((int(target.group(1), 16), addr))


def innermost(addr):
    inside = [lp for lp in loops if lp[0] <= addr <= lp[1]]
    return min(inside, key=lambda lp: lp[1] - lp[0]) if inside else None


def kind(op, args):
    """'alu', 'memory' (a vector move or broadcast to or from memory) or 'scalar'."""
    if not op.startswith("v"):
        return "scalar"
    # AT&T order: the destination is last; a memory operand has parentheses.
    operands = re.findall(r"[^,(]*\([^)]*\)|[^,]+", args)
    moves = ("vmovups", "vmovaps", "vmovdqu", "vmovdqa", "vmovss", "vmovd", "vbroadcastss", "vpbroadcastd")
    if op in moves and any("(" in o for o in operands):
        return "memory"
    return "alu"


by_loop = collections.Counter()
for addr, n in samples.items():
    by_loop[innermost(addr)] += n
total = sum(samples.values())
print(f"{total} samples in {function}")
for lp, n in by_loop.most_common(top):
    if lp is None:
        print(f"{n:7} {100 * n / total:5.1f}%  outside any loop")
        continue
    body = [(op, args) for addr, op, args in insns if lp[0] <= addr <= lp[1]]
    kinds = collections.Counter(kind(op, args) for op, args in body)
    print(f"{n:7} {100 * n / total:5.1f}%  {lp[0]:x}-{lp[1]:x}: {len(body)} instructions, {kinds['alu']} vector ALU, "
          f"{kinds['memory']} vector loads/stores, {kinds['scalar']} scalar")
