#!/usr/bin/env bash
# Visual-pathway speed against ONNX Runtime on the CPU: the same CORnet-Z, same machine, same run, one thread,
# batch 1. ORT runs the f32 model and its own static-QDQ int8 model (per-channel s8 weights, u8 activations); avf-bel
# runs f32 and int8 on every kernel level this CPU supports (forced with AVF_BEL_KERNELS), so one run gives one table
# per instruction-set level. Each size is measured in ROUNDS interleaved rounds (ORT, then every level) and the median
# of the per-round medians is reported, so background load hits all alike. Each level's table ends with the whole
# pipeline on 1 s of input (`bench --stage pipeline`: 22,050 samples + 30 frames at 64x64x5, fused inference), f32
# and int8, measured in the same rounds (PIPE_ITERS runs each).
#
# On a machine with AVX-512, ORT's own kernels are its AVX-512 ones; with ORT_AVX2=DIR (a copy of onnxruntime made
# by `python benches/ort_avx2.py DIR`, whose MLAS skips its AVX-512 set-up) ORT is also measured at its AVX2 level in
# the same rounds, and the avx2, avxvnni and avx512 tables add ratios against that (columns ort2_*: the peer of an
# AVX2-only machine's ORT, on this CPU; where the CPU has AVX-VNNI, that copy runs ORT's AVX-VNNI int8 kernels, as
# an Alder Lake laptop's ORT would, and our peer of it is the avxvnni level).
#
# The last two columns, f32/round and int8/round, are the median over rounds of each round's own ratio (ours over
# the anchor timed seconds before it): steadier than the ratio of the medians when the host's slow stretches last
# longer than a run but shorter than the whole measurement.
#
# STAT=p10 takes each run's 10th percentile instead of its median (for a shared machine whose neighbours slow whole
# runs down: noise only adds time, so the low percentile is the steadier statistic; the header says which).
#
# Usage: PY=/path/to/python-with-onnxruntime [ORT_AVX2=DIR] [STAT=median|p10] bash benches/compare.sh [CHANNELS]
#   [ROUNDS] [SIZES] [LEVELS]
#   e.g. bash benches/compare.sh 3 5 64,96 "avx2 avx512vnni"   (default levels: all this CPU runs)
# Needs `pip install onnx onnxruntime numpy`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
C=${1:-3}
ROUNDS=${2:-5}
SIZES=${3:-64,96,224}
LEVELS=${4:-portable avx2 avxvnni avx512 avx512vnni neon dotprod}
ITERS=${ITERS:-50}
PIPE_ITERS=${PIPE_ITERS:-15}
ORT_AVX2=${ORT_AVX2:-}
STAT=${STAT:-median}
case "$STAT" in median | p10) ;; *) echo "STAT must be median or p10" >&2; exit 2 ;; esac
if [ -n "$ORT_AVX2" ] && [ ! -f "$ORT_AVX2/onnxruntime/AVX2_ONLY" ]; then
  echo "ORT_AVX2=$ORT_AVX2 is not a copy made by benches/ort_avx2.py" >&2
  exit 2
fi
cargo build --release --quiet
BIN=./target/release/avf-bel
field() { sed -n "s/.*\"$1\": *\"\{0,1\}\([^,\"}]*\).*/\1/p"; }
ours() { AVF_BEL_KERNELS=$1 $BIN bench --stage visual --size "$2" --channels "$C" --precision "$3" --iters "$ITERS" --json; }
pipe() { AVF_BEL_KERNELS=$1 $BIN bench --stage pipeline --precision "$2" --iters "$PIPE_ITERS" --json; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }

# The levels this CPU runs: a level it lacks is refused by the binary (a clear error, skipped here).
run_levels=()
for lv in $LEVELS; do
  if ours "$lv" 64 f32 >/dev/null 2>&1; then run_levels+=("$lv"); else echo "# skipping level $lv: not supported here"; fi
done
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs); flags: $(grep -m1 -o -w 'avx2\|avx512f\|avx512_vnni\|avx_vnni\|asimddp' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "# channels $C, rounds $ROUNDS, $ITERS iterations each, one thread, batch 1; per run: $STAT, then the median over rounds; load: $(cut -d' ' -f1-3 /proc/loadavg)"

declare -A T
IFS=, read -r -a sizes <<<"$SIZES"
for size in "${sizes[@]}"; do
  for _ in $(seq "$ROUNDS"); do
    o=$($PY benches/ort_anchor.py --channels "$C" --sizes "$size" --iters "$ITERS" 2>/dev/null)
    T[ort_f32,$size]+=" $(echo "$o" | field "f32_${STAT}_ms")"
    T[ort_int8,$size]+=" $(echo "$o" | field "int8_${STAT}_ms")"
    if [ -n "$ORT_AVX2" ]; then
      o=$(PYTHONPATH="$ORT_AVX2" $PY benches/ort_anchor.py --channels "$C" --sizes "$size" --iters "$ITERS" 2>/dev/null)
      echo "$o" | grep -q '"mlas"' || { echo "the ORT_AVX2 copy was not the one imported" >&2; exit 2; }
      T[ort2_f32,$size]+=" $(echo "$o" | field "f32_${STAT}_ms")"
      T[ort2_int8,$size]+=" $(echo "$o" | field "int8_${STAT}_ms")"
    fi
    for lv in "${run_levels[@]}"; do
      for p in f32 int8; do
        T[$lv$p,$size]+=" $(ours "$lv" "$size" "$p" | field "${STAT}_ms")"
      done
    done
  done
done
for _ in $(seq "$ROUNDS"); do
  for lv in "${run_levels[@]}"; do
    for p in f32 int8; do
      T[pipe$lv$p]+=" $(pipe "$lv" "$p" | field "${STAT}_ms")"
    done
  done
done
ort_version=$($PY -c 'import onnxruntime; print(onnxruntime.__version__)')
# One table per ORT anchor: ORT's f32 and int8 keys in T, our level, the columns' prefix (ort: ORT's own kernels,
# ort2: the ORT_AVX2 copy).
# The median over rounds of each round's ratio ours / anchor (the two lists in round order): ORT and ours are timed
# seconds apart within a round, so a slow stretch of the host that spans a round moves both.
round_ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    n = split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= n; i++) r[i] = x[i] / y[i]
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t }
    printf "%.2f", (n % 2) ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
  }'
}
# Columns: the medians over rounds and their ratios, then the per-round ratios' medians (`round_ratio`).
rows() {
  printf '%-10s %-12s %-12s %-11s %-11s %-14s %-14s %-12s %-12s\n' input "${4}_f32_ms" "${4}_int8_ms" f32_ms int8_ms \
    "f32/${4}_f32" "int8/${4}_int8" "f32/round" "int8/round"
  for size in "${sizes[@]}"; do
    of=$(echo "${T[$1,$size]}" | median); oq=$(echo "${T[$2,$size]}" | median)
    f=$(echo "${T[${3}f32,$size]}" | median); q=$(echo "${T[${3}int8,$size]}" | median)
    rf=$(round_ratio "${T[${3}f32,$size]}" "${T[$1,$size]}"); rq=$(round_ratio "${T[${3}int8,$size]}" "${T[$2,$size]}")
    awk -v s="${C}x${size}x${size}" -v of="$of" -v oq="$oq" -v f="$f" -v q="$q" -v rf="$rf" -v rq="$rq" \
      'BEGIN { printf "%-10s %-12.3f %-12.3f %-11.3f %-11.3f %-14.2f %-14.2f %-12s %-12s\n", s, of, oq, f, q, f/of, q/oq, rf, rq }'
  done
}
for lv in "${run_levels[@]}"; do
  echo
  echo "level $lv ($(AVF_BEL_KERNELS=$lv $BIN bench --stage visual --size 64 --channels "$C" --iters 1 --json | field kernel)), ORT $ort_version"
  rows ort_f32 ort_int8 "$lv" ort
  if [ -n "$ORT_AVX2" ] && { [ "$lv" = avx2 ] || [ "$lv" = avxvnni ] || [ "$lv" = avx512 ]; }; then
    rows ort2_f32 ort2_int8 "$lv" ort2
  fi
  echo "pipeline, 1 s of input: f32 $(echo "${T[pipe${lv}f32]}" | median) ms, int8 $(echo "${T[pipe${lv}int8]}" | median) ms"
done
echo
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
