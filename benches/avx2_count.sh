#!/usr/bin/env bash
# The visual stack at the AVX2 level against ONNX Runtime's AVX2 kernels, as instruction counts under
# `qemu-x86_64 -cpu Haswell` (AVX2 and FMA; no AVX-512, no AVX-VNNI), for issue 12's "on an AVX2-only machine"
# without one: on a CPU with AVX-VNNI even ORT's AVX2 build multiplies int8 with VNNI (benches/compare.sh), so its
# plain-AVX2 int8 kernel (`vpmaddubsw`, the instructions ours uses) can only be run on an emulated CPU that lacks
# VNNI. The QEMU plugin of benches/neon_profile.sh counts the guest instructions; each side runs twice with iteration
# counts ITERS apart, and the difference divided by ITERS is one stack without start-up (Python's imports and ORT's
# session set-up cancel out; the models are quantised beforehand, natively).
#
# Counts are exact, but they are not times (the two kernels differ in loads, shuffles and how their multiplies
# pair); they show whether our kernels do the same work with more or fewer instructions than ORT's at one ISA level.
#
# Check that ORT runs its AVX2 kernels under this CPU model: after a run, count its int8 model with AVX2 masked off
# too (the README: 51.4 M per stack against 7.67 M), for N in 0 10:
#   qemu-x86_64 -cpu Haswell,-pcid,-x2apic,-tsc-deadline,-hle,-invpcid,-rtm,-avx2 -plugin \
#     target/avx2-count/insn_profile.so,out=noavx2.N.txt $PY benches/ort_anchor.py --count target/avx2-count/int8.onnx \
#     --iters N
#
# Usage: PY=/path/to/python-with-onnxruntime [ITERS=10] bash benches/avx2_count.sh [CHANNELS] [SIZE]
# Needs qemu-user 7.2 or newer (TCG runs AVX2 from 7.2 on), gcc, `pip install onnx onnxruntime numpy`. About 10 minutes
# on the project's 2-core VM (eight emulated runs, one after another; the f32 ones take longest).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
ITERS=${ITERS:-10}
C=${1:-3}
SIZE=${2:-64}
OUT=target/avx2-count
mkdir -p "$OUT"
gcc -O2 -Wall -Wextra -shared -fPIC -o "$OUT/insn_profile.so" benches/qemu_profile/insn_profile.c
cargo build --release --quiet
# ORT's models, quantised natively: in the counted process, the calibration's sessions would add their threads'
# spinning to the count.
"$PY" benches/ort_anchor.py --channels "$C" --sizes "$SIZE" --save "$OUT"
# Haswell's model minus the flags TCG lacks (each would print a warning per thread).
CPU=Haswell,-pcid,-x2apic,-tsc-deadline,-hle,-invpcid,-rtm
# emu NAME PROGRAM ARGS...: one run under the plugin (environment set by the caller: qemu-user passes its own on).
emu() {
  local name=$1
  shift
  qemu-x86_64 -cpu "$CPU" -plugin "$OUT/insn_profile.so,out=$OUT/$name.txt" "$@" >/dev/null 2>"$OUT/$name.log" ||
    { cat "$OUT/$name.log" >&2; exit 1; }
}
total() { awk '$1 == "B" { n += $3 * (NF - 3) } END { printf "%.0f\n", n }' "$1"; }
# per_iter NAME SHORT: instructions per iteration from the runs NAME.SHORT and NAME.(SHORT + ITERS).
per_iter() { echo $((($(total "$OUT/$1.$(($2 + ITERS)).txt") - $(total "$OUT/$1.$2.txt")) / ITERS)); }
for p in f32 int8; do
  for n in 2 $((2 + ITERS)); do
    AVF_BEL_KERNELS=avx2 emu "ours-$p.$n" target/release/avf-bel bench --stage visual --size "$SIZE" --channels "$C" \
      --precision "$p" --iters "$n" --json
  done
  for n in 0 "$ITERS"; do
    PYTHONHASHSEED=0 emu "ort-$p.$n" "$PY" benches/ort_anchor.py --count "$OUT/$p.onnx" --iters "$n"
  done
done
ort=$("$PY" -c 'import onnxruntime; print(onnxruntime.__version__)')
echo "instructions per ${C}x${SIZE}x${SIZE} CORnet-Z stack under qemu-x86_64 -cpu Haswell (AVX2+FMA), ONNX Runtime $ort"
for p in f32 int8; do
  ours=$(per_iter "ours-$p" 2) theirs=$(per_iter "ort-$p" 0)
  python3 - "$p" "$ours" "$theirs" <<'EOF'
import sys
p, o, t = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print(f"{p:>4}: ours (avx2) {o:>12,}  ORT {t:>12,}  ours/ORT {o / t:.2f}")
EOF
done
