#!/usr/bin/env bash
# The whole pipeline on 1 s of input (`bench --stage pipeline`: 22,050 samples + 30 frames at 64x64x5, fused
# inference) at several kernel levels, f32 and int8, in ROUNDS interleaved rounds (every level and precision once per
# round), for issue 12's "AVX2 no more than 1.5x its AVX-512 cost". No ONNX Runtime needed (benches/compare.sh times
# the same cells beside ORT's visual stack).
#
# Prints, per level and precision, the median and the minimum over rounds of each run's statistic (STAT: p10 by
# default, or median), then each level's ratio to the last level named (REF), three ways: ratio of the medians,
# ratio of the minima, and the median of the per-round ratios (each round's two runs seconds apart). On a quiet
# machine the three agree; where they do not, the host's load moved between runs and no single figure is clean.
#
# Usage: [BIN=target/release/avf-bel] [STAT=p10|median] [ITERS=30] bash benches/pipeline_levels.sh [ROUNDS] [LEVELS]
#   e.g. bash benches/pipeline_levels.sh 7 "avx2 avxvnni avx512 avx512vnni"   (ratios against avx512vnni)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/avf-bel}
STAT=${STAT:-p10}
ITERS=${ITERS:-30}
ROUNDS=${1:-7}
read -r -a LEVELS <<<"${2:-avx2 avx512}"
REF=${LEVELS[${#LEVELS[@]} - 1]}
test -x "$BIN" || cargo build --release
declare -A T
for _ in $(seq "$ROUNDS"); do
  for lv in "${LEVELS[@]}"; do
    for p in f32 int8; do
      t=$(AVF_BEL_KERNELS=$lv "$BIN" bench --stage pipeline --precision "$p" --iters "$ITERS" --json |
        python3 -c "import json, sys; print(json.load(sys.stdin)['${STAT}_ms'])")
      T[$lv.$p]="${T[$lv.$p]:-} $t"
    done
  done
done
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo "pipeline, 1 s of input, ms ($STAT of $ITERS runs; $ROUNDS rounds;$cpu)"
for p in f32 int8; do
  for lv in "${LEVELS[@]}"; do
    python3 - "$lv" "$p" "$REF" "${T[$lv.$p]}" "${T[$REF.$p]}" <<'EOF'
import statistics as s, sys
lv, p, ref = sys.argv[1:4]
a, b = ([float(x) for x in arg.split()] for arg in sys.argv[4:6])
line = f"{lv:>11} {p:<4} median {s.median(a):7.2f}  min {min(a):7.2f}"
if lv != ref:
    of_medians, of_minima = s.median(a) / s.median(b), min(a) / min(b)
    per_round = s.median(x / y for x, y in zip(a, b))
    line += f"  / {ref}: {of_medians:.2f}x of medians, {of_minima:.2f}x of minima, {per_round:.2f}x per round"
print(line + "   [" + " ".join(f"{x:.1f}" for x in a) + "]")
EOF
  done
done
