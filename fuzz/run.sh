#!/usr/bin/env bash
# Build and run the fuzz targets with cargo-fuzz on the stable toolchain (RUSTC_BOOTSTRAP=1 unlocks the -Z flags
# cargo-fuzz passes: sanitizer-coverage, AddressSanitizer). Run from anywhere; see fuzz/README.md.
#
#   fuzz/run.sh build                      build every target (cargo fuzz list)
#   fuzz/run.sh smoke SECONDS [TARGET…]    each target for SECONDS from its committed seeds, fixed seed (CI)
#   fuzz/run.sh campaign RUNS [TARGET…]    each target for RUNS executions (-runs), growing fuzz/corpus/TARGET
#
# Every run starts from fuzz/seeds/TARGET (committed) plus fuzz/corpus/TARGET (git-ignored, kept between runs).
# A crash stops that target, leaves the input in fuzz/artifacts/TARGET/ and makes the script exit non-zero after
# the other targets ran. Prints one line per target: executions, executions/s, wall seconds.
# Targets run one after another, one process each (the dev machine's 2 cores are shared).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1 CARGO_TERM_COLOR=never

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: installing it (stable, ~1 min)"
  cargo install --locked cargo-fuzz --version 0.13.2
fi

# FUZZ_FAST=1 builds without libFuzzer's compare tracing (cargo fuzz --no-trace-compares, in a target directory of
# its own): 2-3x the executions per second on the pipeline targets, whose inner loops the compare hooks otherwise
# dominate (58% of pipeline_input's time), at the cost of compare-guided mutations. For long campaigns of those
# targets over a corpus grown with tracing on; CI's smoke run keeps it.
# FUZZ_SANITIZER=none builds without AddressSanitizer (cargo fuzz -s none; debug assertions and overflow checks stay
# on): about twice the executions per second again, for the slowest target's long campaign; say so with its count.
fast=()
if [ "${FUZZ_FAST:-0}" = 1 ]; then fast+=(--no-trace-compares); fi
if [ "${FUZZ_SANITIZER:-address}" = none ]; then fast+=(-s none); fi
case "${fast[*]}" in
  "") ;;
  --no-trace-compares) fast+=(--target-dir fuzz/target/fast) ;;
  "--no-trace-compares -s none") fast+=(--target-dir fuzz/target/nosan) ;;
  *) fast+=(--target-dir fuzz/target/nosan-traced) ;;
esac

mode="${1:-}"
shift || true
case "$mode" in
  build) cargo fuzz build "${fast[@]}"; exit 0 ;;
  # The smoke run is a regression check, so it is reproducible: libFuzzer's random seed is fixed (FUZZ_SEED, 1 by
  # default), and a failure in CI is the same failure here. Campaigns draw a fresh seed each run, to explore.
  smoke) limit=(-max_total_time="${1:?seconds}" -seed="${FUZZ_SEED:-1}") ;;
  campaign) limit=(-runs="${1:?runs}") ;;
  *) sed -n "2,11p" "$0"; exit 2 ;;
esac
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
  cargo fuzz build "${fast[@]}"
else
  for t in "${targets[@]}"; do cargo fuzz build "${fast[@]}" "$t"; done
fi
failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/seeds/$t"
  log="$(mktemp)"
  start=$(date +%s)
  # -timeout: one input running 20 s is a hang, reported like a crash.
  if cargo fuzz run "${fast[@]}" "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- "${limit[@]}" -timeout=20 -print_final_stats=1 \
    >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    grep -E -A12 'panicked|ERROR: (libFuzzer|AddressSanitizer)' "$log" | head -40 || true
    grep -E 'Reproduce with|cargo fuzz run .*artifacts' "$log" | head -3 || true
  fi
  secs=$(($(date +%s) - start))
  execs=$(grep -oP 'stat::number_of_executed_units:\s*\K[0-9]+' "$log" | tail -1 || true)
  rate=$(grep -oP 'stat::average_exec_per_sec:\s*\K[0-9]+' "$log" | tail -1 || true)
  summary+=("$(printf '%-16s %-6s %12s execs %8s execs/s %6s s' "$t" "$status" "${execs:-?}" "${rate:-?}" "$secs")")
  rm -f "$log"
done
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]} (inputs under fuzz/artifacts/)"
  exit 1
fi
