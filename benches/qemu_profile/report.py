#!/usr/bin/env python3
"""Instruction-count profile from insn_profile.so's output (see insn_profile.c and benches/neon_profile.sh).

    report.py BINARY SHORT.txt LONG.txt ITERS [--lines N] [--functions N] [--mnemonics N]

SHORT and LONG are counts of the same command run with two iteration counts whose difference is ITERS: their
difference is the work of ITERS iterations without the program's start-up. Prints the instructions per iteration,
the functions that execute them (a function's inlined callees count as the function) and, for the hottest source
lines, file:line of the innermost inlined code (from the binary's debug info, through aarch64-linux-gnu-addr2line);
with --mnemonics, the N most executed instruction mnemonics (aarch64-linux-gnu-objdump), the share of vector
instructions (operands in `.4s`/`.16b`/... arrangements) and of `q`-register loads and stores at fixed stack offsets
(spills and reloads, or fixed-size stack arrays).
Standard library only.
"""
import bisect
import collections
import re
import subprocess
import sys


def load_counts(path):
    per_addr = collections.Counter()
    starts = []
    for line in open(path):
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "B":
            execs = int(parts[2])
            for a in parts[3:]:
                per_addr[int(a, 16)] += execs
        elif parts[0] == "S" and len(parts) >= 3:
            starts.append((int(parts[1], 16), parts[2]))
    return per_addr, starts


def nm_symbols(binary):
    """Code symbols as (address, size, mangled name, demangled name), sorted by address."""
    def run(extra):
        out = subprocess.run(["aarch64-linux-gnu-nm", "-n", "-S", "--defined-only", *extra, binary],
                             check=True, capture_output=True, text=True).stdout
        rows = []
        for line in out.splitlines():
            parts = line.split(None, 3)
            if len(parts) == 4 and parts[2] in "tTwW":
                rows.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
        return rows
    raw, demangled = run([]), run(["-C"])
    if len(raw) != len(demangled):
        sys.exit("report.py: nm listed different symbol counts with and without -C")
    return [(a, s, n, d[2]) for (a, s, n), d in zip(raw, demangled)]


def load_bias(starts, symbols):
    """The most common offset between a block's address and the start of the symbol QEMU placed it in: every
    function that ran has an entry block, whose offset is the load bias exactly."""
    by_name = {}
    for addr, _size, name, _ in symbols:
        by_name.setdefault(name, addr)
    offsets = collections.Counter(a - by_name[n] for a, n in starts if n in by_name)
    if not offsets:
        sys.exit("report.py: no symbol QEMU named is in the binary's symbol table (stripped binary?)")
    return offsets.most_common(1)[0][0]


def mnemonics(binary, bias, diff, total, n):
    """The instruction mix of everything executed inside the binary, from its disassembly."""
    inside = [a - bias for a, c in diff.items() if c > 0 and a >= bias]
    if not inside:
        return
    out = subprocess.run(["aarch64-linux-gnu-objdump", "-d", "--no-show-raw-insn", f"--start-address={min(inside):#x}",
                          f"--stop-address={max(inside) + 4:#x}", binary], check=True, capture_output=True,
                         text=True).stdout
    per_op = collections.Counter()
    vector = stack_q = 0.0
    for line in out.splitlines():
        addr, sep, rest = line.partition(":")
        try:
            count = diff.get(int(addr.strip(), 16) + bias, 0.0)
        except ValueError:
            continue
        parts = rest.split(None, 1)
        if not sep or not parts or count <= 0:
            continue
        op, operands = parts[0], (parts[1] if len(parts) > 1 else "")
        per_op[op] += count
        if re.search(r"\.(16b|8b|8h|4h|4s|2s|2d)\b", operands):
            vector += count
        if op in ("ldr", "str", "ldp", "stp") and operands.startswith("q") and re.search(r"\[sp(, #\d+)?\]", operands):
            stack_q += count
    print(f"\ninstruction mix: vector (arrangement operands) {100 * vector / total:.1f}%, "
          f"q registers loaded/stored at fixed stack offsets {100 * stack_q / total:.1f}%")
    for op, c in per_op.most_common(n):
        print(f"{100 * c / total:6.1f}%  {op}")


def main():
    args = sys.argv[1:]
    opts = {"--lines": 25, "--functions": 15, "--mnemonics": 0}
    for flag in opts:
        if flag in args:
            i = args.index(flag)
            opts[flag] = int(args[i + 1])
            del args[i:i + 2]
    n_lines, n_funcs, n_mnem = opts["--lines"], opts["--functions"], opts["--mnemonics"]
    if len(args) != 4:
        sys.exit(__doc__)
    binary, short_path, long_path, iters = args[0], args[1], args[2], int(args[3])
    short, starts_s = load_counts(short_path)
    long_, starts_l = load_counts(long_path)
    symbols = nm_symbols(binary)
    bias = load_bias(starts_s + starts_l, symbols)
    addrs = [s[0] for s in symbols]

    diff = {a: (long_[a] - short.get(a, 0)) / iters for a in long_}
    total = sum(diff.values())
    per_func = collections.Counter()
    outside = 0.0
    for a, n in diff.items():
        off = a - bias
        i = bisect.bisect_right(addrs, off) - 1
        if i >= 0 and off < symbols[i][0] + max(symbols[i][1], 1):
            per_func[symbols[i][3]] += n
        else:
            outside += n  # shared libraries (libm, libc) or the dynamic loader
    print(f"instructions per iteration: {total:,.0f} (load bias {bias:#x})")
    print(f"{'share':>7}  {'per iteration':>15}  function")
    for name, n in per_func.most_common(n_funcs):
        print(f"{100 * n / total:6.1f}%  {n:15,.0f}  {name[:150]}")
    if outside:
        print(f"{100 * outside / total:6.1f}%  {outside:15,.0f}  (outside the binary: libc, libm, loader)")

    if n_mnem:
        mnemonics(binary, bias, diff, total, n_mnem)

    hot = sorted((a for a in diff if diff[a] > 0 and a >= bias), key=lambda a: -diff[a])[:4000]
    if not hot or n_lines == 0:
        return
    out = subprocess.run(["aarch64-linux-gnu-addr2line", "-e", binary, *[hex(a - bias) for a in hot]],
                         check=True, capture_output=True, text=True).stdout.splitlines()
    per_line = collections.Counter()
    for a, where in zip(hot, out):
        path = where.split(" (discriminator")[0]
        per_line["/".join(path.split("/")[-3:])] += diff[a]
    print(f"\nhottest source lines (innermost inlined code; {len(hot)} hottest addresses):")
    for where, n in per_line.most_common(n_lines):
        print(f"{100 * n / total:6.1f}%  {n:15,.0f}  {where}")


if __name__ == "__main__":
    main()
