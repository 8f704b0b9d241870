#!/usr/bin/env bash
# Visual-pathway speed against ONNX Runtime on the CPU, same network, same machine, same run, one thread.
# Usage: PY=/path/to/python-with-onnxruntime bash benches/compare.sh [channels]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
C=${1:-3}
cargo build --release --quiet
printf '%-6s %-10s %-10s %-10s %-10s %-10s\n' size ort_ms f32_ms int8_ms f32/ort int8/ort
for size in 64 96 224; do
  ort=$($PY benches/ort_anchor.py --channels "$C" --sizes "$size" --iters 50 | sed 's/.*"median_ms": \([0-9.]*\).*/\1/')
  f32=$(./target/release/avf-bel bench --stage visual --size "$size" --channels "$C" --precision f32 --iters 50 --json | sed 's/.*"median_ms":\([0-9.]*\).*/\1/')
  i8=$(./target/release/avf-bel bench --stage visual --size "$size" --channels "$C" --precision int8 --iters 50 --json | sed 's/.*"median_ms":\([0-9.]*\).*/\1/')
  awk -v s="$size" -v o="$ort" -v f="$f32" -v q="$i8" 'BEGIN { printf "%-6s %-10.3f %-10.3f %-10.3f %-10.2f %-10.2f\n", s, o, f, q, f/o, q/o }'
done
