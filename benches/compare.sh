#!/usr/bin/env bash
# Visual-pathway speed against ONNX Runtime on the CPU: same network, same machine, same run, one thread, batch 1.
# Each size is measured in ROUNDS interleaved rounds (ORT, f32, int8, ORT, …) and the best median of each is kept,
# so background load hits all three alike. Usage: PY=/path/to/python-with-onnxruntime bash benches/compare.sh [C] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
C=${1:-3}
ROUNDS=${2:-3}
cargo build --release --quiet
median() { sed 's/.*"median_ms": *\([0-9.]*\).*/\1/'; }
printf '%-6s %-10s %-10s %-10s %-10s %-10s\n' size ort_ms f32_ms int8_ms f32/ort int8/ort
for size in 64 96 224; do
  best_o=1e9; best_f=1e9; best_q=1e9
  for _ in $(seq "$ROUNDS"); do
    o=$($PY benches/ort_anchor.py --channels "$C" --sizes "$size" --iters 50 | median)
    f=$(./target/release/avf-bel bench --stage visual --size "$size" --channels "$C" --precision f32 --iters 50 --json | median)
    q=$(./target/release/avf-bel bench --stage visual --size "$size" --channels "$C" --precision int8 --iters 50 --json | median)
    best_o=$(awk -v a="$best_o" -v b="$o" 'BEGIN{print (b<a)?b:a}')
    best_f=$(awk -v a="$best_f" -v b="$f" 'BEGIN{print (b<a)?b:a}')
    best_q=$(awk -v a="$best_q" -v b="$q" 'BEGIN{print (b<a)?b:a}')
  done
  awk -v s="$size" -v o="$best_o" -v f="$best_f" -v q="$best_q" \
    'BEGIN { printf "%-6s %-10.3f %-10.3f %-10.3f %-10.2f %-10.2f\n", s, o, f, q, f/o, q/o }'
done
