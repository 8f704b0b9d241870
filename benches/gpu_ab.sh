#!/usr/bin/env bash
# Time builds of avf-bel against each other on one GPU, interleaved, so that drift in clocks and load hits every
# build alike: ROUNDS rounds of `bench --stage visual` per build, size and precision, then the median of the rounds'
# medians (milliseconds, host frame to result). This is how docs/gpu.md's kernel variants were compared.
#
#   benches/gpu_ab.sh before=path/to/avf-bel after=target/release/avf-bel
#   ROUNDS=3 ITERS=300 SIZES="64 96" PRECISIONS="f32 int8" DEVICE=cuda benches/gpu_ab.sh A=… B=… C=…
#
# Each build compiles its own kernels at start-up (they are embedded in the binary), so the builds may differ in
# kernels, host code or both. A build that fails to start or to run prints `nan` for that cell, with the reason on
# stderr.
set -euo pipefail
ROUNDS="${ROUNDS:-3}"
ITERS="${ITERS:-300}"
SIZES="${SIZES:-64 96}"
PRECISIONS="${PRECISIONS:-f32 int8}"
DEVICE="${DEVICE:-cuda}"
if [ $# -lt 1 ]; then
  echo "usage: $0 NAME=PATH [NAME=PATH ...]" >&2
  exit 2
fi
for b in "$@"; do
  case "$b" in
    *=*) [ -x "${b#*=}" ] || { echo "$0: not an executable: ${b#*=}" >&2; exit 2; } ;;
    *) echo "$0: expected NAME=PATH, got $b" >&2; exit 2 ;;
  esac
done
rows="$(mktemp)"
trap 'rm -f "$rows"' EXIT
for r in $(seq 1 "$ROUNDS"); do
  for b in "$@"; do
    for s in $SIZES; do
      for p in $PRECISIONS; do
        ms=nan
        if out="$("${b#*=}" bench --stage visual --size "$s" --precision "$p" --iters "$ITERS" --device "$DEVICE" \
          --json 2>/dev/null | tail -1)"; then
          ms="$(printf '%s' "$out" | python3 -c 'import json, sys; print(json.load(sys.stdin)["median_ms"])' \
            2>/dev/null || echo nan)"
        fi
        [ "$ms" = nan ] && echo "$0: ${b%%=*} ${s}² $p: no timing (run it by hand to see why)" >&2
        printf '%s\t%s\t%s\t%s\t%s\n' "$r" "${b%%=*}" "$s" "$p" "$ms" | tee -a "$rows"
      done
    done
  done
done
echo
python3 - "$rows" <<'PY'
import collections, math, statistics, sys
cells = collections.defaultdict(list)
order = []
for line in open(sys.argv[1]):
    r, name, size, prec, ms = line.rstrip("\n").split("\t")
    key = (name, size, prec)
    if key not in cells:
        order.append(key)
    cells[key].append(float(ms))
print("| build | size | weights | median of the rounds' medians, ms | rounds |")
print("|---|---|---|---|---|")
for key in order:
    v = [x for x in cells[key] if not math.isnan(x)]
    med = "%.4f" % statistics.median(v) if v else "nan"
    print("| %s | %s² | %s | %s | %s |" % (*key, med, " ".join("%.4f" % x for x in cells[key])))
PY
