#!/usr/bin/env bash
# One script for a machine with an NVIDIA GPU (a Jetson or a test server): parity, compute-sanitizer and the
# benchmark against PyTorch, summarised in one table. Nothing is downloaded: build the binary first (here or on a
# machine of the same architecture) and carry it with the repository.
#
#   cargo build --release --features cuda          # the binary this script drives (AVF= to point elsewhere)
#   benches/gpu_check.sh [--quick]                  # --quick: 64² only, fewer iterations
#
# Steps, each skipped with a printed reason when its tool is missing (never silently):
#   1. start-up: `--device cuda` must open the GPU and pass its self-test (every kernel against the CPU core);
#   2. parity: |ΔEPP| and max |Δemotion|, CPU against GPU, on the five built-in stimuli (target |ΔEPP| ≤ 0.005);
#   3. speed: benches/gpu_compare.py (PyTorch eager fp16 and CUDA graphs at batch 1, same GPU, same run) against
#      `avf-bel bench --device cuda` at 64² and 96² (targets: ≥ 3× eager, faster than graphs), and the whole pipeline
#      per 1-s clip on the GPU against the CPU core (the cortex where AVF_BEL_GPU_CORTEX says: host by default);
#   4. compute-sanitizer memcheck, racecheck, synccheck on short runs (target: 0 errors).
# The table goes to stdout and, with every raw record, to $OUT_DIR (default gpu-check/).
set -uo pipefail
cd "$(dirname "$0")/.."
AVF="${AVF:-target/release/avf-bel}"
OUT_DIR="${OUT_DIR:-gpu-check}"
QUICK=0
SANITIZER_TIMEOUT="${SANITIZER_TIMEOUT:-300}"   # seconds per sanitizer run (a hung kernel must not hang the check)
[ "${1:-}" = "--quick" ] && QUICK=1
mkdir -p "$OUT_DIR"
RESULTS="$OUT_DIR/results.tsv"
: >"$RESULTS"
row() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" | tee -a "$RESULTS" >/dev/null; }

if [ ! -x "$AVF" ]; then
  echo "error: $AVF not found: cargo build --release --features cuda (or AVF=path/to/avf-bel)"; exit 2
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader \
  | tee "$OUT_DIR/gpu.txt"
grep -m1 'model name' /proc/cpuinfo | tee "$OUT_DIR/cpu.txt" || true

# 1. Start-up and self-test.
if "$AVF" run --stimulus happy --seconds 1 --device cuda --json >"$OUT_DIR/startup.json" 2>"$OUT_DIR/startup.log"; then
  row "start-up + self-test" "passed" "passes" "ok"
else
  row "start-up + self-test" "failed (see $OUT_DIR/startup.log)" "passes" "FAIL"
  cat "$OUT_DIR/startup.log"
  echo "the GPU did not start: nothing else to check"; exit 1
fi

# 2. Parity on the built-in stimuli, whole 3-s clips.
worst_epp=0; worst_em=0
for s in angry happy peaceful sad scared; do
  "$AVF" run --stimulus "$s" --json --device cpu >"$OUT_DIR/cpu-$s.json" 2>/dev/null || { row "parity $s" "cpu run failed" "" "FAIL"; continue; }
  "$AVF" run --stimulus "$s" --json --device cuda >"$OUT_DIR/gpu-$s.json" 2>/dev/null || { row "parity $s" "gpu run failed" "" "FAIL"; continue; }
  read -r d_epp d_em < <(python3 - "$OUT_DIR/cpu-$s.json" "$OUT_DIR/gpu-$s.json" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
d_em = max(abs(a["emotions"][k] - b["emotions"][k]) for k in a["emotions"])
print(f'{abs(a["epp"] - b["epp"]):.6f} {d_em:.6f}')
EOF
)
  worst_epp=$(python3 -c "print(max($worst_epp, $d_epp))"); worst_em=$(python3 -c "print(max($worst_em, $d_em))")
done
ok=$(python3 -c "print('ok' if $worst_epp <= 0.005 else 'FAIL')")
row "parity: largest ΔEPP over 5 stimuli" "$worst_epp" "≤ 0.005" "$ok"
row "parity: largest Δemotion" "$worst_em" "(reported)" "-"

# 3. Speed against PyTorch in the same run.
sizes="64 96"; iters=200
[ "$QUICK" = 1 ] && { sizes="64"; iters=50; }
if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  python3 benches/gpu_compare.py --sizes $sizes --iters "$iters" --avf "$AVF" >"$OUT_DIR/compare.jsonl" 2>"$OUT_DIR/compare.log"
  python3 - "$OUT_DIR/compare.jsonl" >>"$RESULTS" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    s = r["size"]
    print(f"CORnet-Z {s}² batch 1, host frame to result (wall clock): avf-bel\t{r['avf_visual_ms']:.3f} ms\t-\t-")
    print(f"CORnet-Z {s}²: PyTorch eager fp16, same work, same clock\t{r['torch_eager_fp16_host_ms']:.3f} ms ({r['speedup_vs_eager']:.2f}x)\t≥ 3x\t{'ok' if r['speedup_vs_eager'] >= 3 else 'FAIL'}")
    print(f"CORnet-Z {s}²: PyTorch CUDA graph fp16, same work, same clock\t{r['torch_cuda_graph_fp16_host_ms']:.3f} ms ({r['speedup_vs_graph']:.2f}x)\t> 1x\t{'ok' if r['speedup_vs_graph'] > 1 else 'FAIL'}")
    print(f"CORnet-Z {s}²: PyTorch device time only (CUDA events; eager / graph)\t{r['torch_eager_fp16_ms']:.3f} / {r['torch_cuda_graph_fp16_ms']:.3f} ms\t(reported)\t-")
EOF
else
  row "PyTorch comparison" "SKIPPED: python3 with a CUDA build of torch not available" "≥ 3x eager" "-"
fi
gpu_clip=$("$AVF" bench --stage pipeline --device cuda --iters 5 --json 2>/dev/null | python3 -c 'import json,sys;print(json.loads(sys.stdin.read().splitlines()[-1])["median_ms"])' || echo nan)
cpu_clip=$("$AVF" bench --stage pipeline --device cpu --iters 5 --json 2>/dev/null | python3 -c 'import json,sys;print(json.loads(sys.stdin.read().splitlines()[-1])["median_ms"])' || echo nan)
ok=$(python3 -c "print('ok' if float('$gpu_clip') < float('$cpu_clip') else 'FAIL')" 2>/dev/null || echo FAIL)
row "whole pipeline, 1-s clip (bench --stage pipeline): GPU vs CPU" "$gpu_clip ms vs $cpu_clip ms" "GPU faster" "$ok"

# 4. compute-sanitizer (last: the slowest step). racecheck is limited to the kernels it can finish in minutes:
# CORnet-Z and the head (on the cortex kernel, ~22,000 steps of 1,200 cells in the self-test alone, it ran past
# 170 s on an H200; memcheck and synccheck cover it).
if command -v compute-sanitizer >/dev/null; then
  # The kernel filter's option was renamed (--kernel-regex, then --kernel-name); use what this version has.
  kopt=--kernel-name
  compute-sanitizer --help 2>&1 | grep -q -- '--kernel-name' || kopt=--kernel-regex
  for t in "memcheck pipeline 3 all" "racecheck visual 3 cz_" "racecheck pipeline 1 head_" "synccheck audio 2 all"; do
    set -- $t
    log="$OUT_DIR/sanitizer-$1-$4.log"
    filter=()
    [ "$4" = all ] || filter=("$kopt" "kns=$4")
    timeout "$SANITIZER_TIMEOUT" compute-sanitizer --tool "$1" "${filter[@]}" --error-exitcode 99 \
      "$AVF" bench --stage "$2" --device cuda --iters "$3" >"$log" 2>&1
    rc=$?
    # memcheck and synccheck end with "ERROR SUMMARY: N errors", racecheck with "RACECHECK SUMMARY: … (N errors, …)".
    errs=$(grep -Eo 'ERROR SUMMARY: [0-9]+|\([0-9]+ errors' "$log" | grep -Eo '[0-9]+' | tail -1)
    [ "$rc" = 124 ] && errs="timed out after ${SANITIZER_TIMEOUT} s;"
    row "compute-sanitizer $1 ($2; kernels: $4)" "${errs:-?} errors, exit $rc" "0 errors" "$([ "$rc" = 0 ] && echo ok || echo FAIL)"
  done
else
  row "compute-sanitizer" "SKIPPED: compute-sanitizer not on PATH (CUDA toolkit)" "0 errors" "-"
fi

echo
echo "| check | measured | target | |"
echo "|---|---|---|---|"
awk -F'\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$RESULTS"
grep -q 'FAIL' "$RESULTS" && exit 1
exit 0
