#!/usr/bin/env bash
# The CUDA kernels executed on the CPU (feature `cuda-emulator`, issue 10): kernels/*.cu compiled unchanged as host
# C++ (kernels/emu/, built by build.rs with the `cc` crate) behind the GPU pipeline's real host code, checked
# against the CPU core (tests/gpu_emulator.rs: every CORnet-Z block within fp16 tolerance, the cortex bit for bit,
# the head within 1e-6, |ΔEPP| ≤ 0.005 on the built-in stimuli, planted off-by-one bugs caught), plus the GPU host
# code's unit tests. This is the sanitizer configuration: the emulated kernels are built with AddressSanitizer and
# UBSan (device buffers are heap blocks, `__shared__` arrays globals, so out-of-bounds kernel accesses abort the run).
#
# Self-installing: the CUDA headers come from two PyPI wheels in a throw-away venv (cuda_fp16.h from the runtime
# wheel, crt/ from the nvcc wheel; ~60 MB); g++ ≥ 12 (Debian 12's) for C++20's std::barrier.
# Duration: about 5–6 minutes on 2 cores (clippy ~1 min, sanitized build ~1.5–3 min, tests ~2 min).
set -euo pipefail
cd "$(dirname "$0")/../.."

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
python3 -m venv "$TMP/venv"
"$TMP/venv/bin/pip" install -q --disable-pip-version-check \
  nvidia-cuda-runtime-cu12==12.2.140 nvidia-cuda-nvcc-cu12==12.9.86
NV="$("$TMP/venv/bin/python" -c 'import os, nvidia; print(os.path.dirname(nvidia.__file__))')"
export AVF_BEL_CUDA_INCLUDE="$NV/cuda_runtime/include"
export AVF_BEL_CUDA_CRT_INCLUDE="$NV/cuda_nvcc/include"

echo "--- clippy with the emulator (warnings denied)"
cargo clippy --all-targets --release --features cuda-emulator -- -D warnings

echo "--- GPU host code and the emulated kernels, with AddressSanitizer + UBSan"
export AVF_BEL_EMU_SANITIZE=1
# libasan must be the first library loaded; only the test binaries get it (the runner), not cargo.
ASAN_LIB="$(gcc -print-file-name=libasan.so)"
# The test binaries run on one CPU (taskset): the emulator's host threads meet at a barrier for every
# `__syncthreads`, and on a 2-core VM waking threads on the other vCPU made the run latency-bound and as slow as the
# host was busy (the gpu_emulator tests took 164, 386, 526 and 477 s in four runs, with a core idle half the time);
# pinned, the same binary took 235 s where it had just taken 477 s free, all of it CPU time.
EMU_CPU="$(python3 -c 'import os; print(max(os.sched_getaffinity(0)))')"
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="taskset -c $EMU_CPU env LD_PRELOAD=$ASAN_LIB \
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:check_initialization_order=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"
# detect_leaks=0: the Rust test harness and the emulator's thread pool are process-lifetime by design.
# Both test binaries built by one cargo (the library's unit tests and the library behind tests/gpu_emulator.rs are
# two compilations of the crate, which then share the two cores instead of following each other).
cargo test --release --features cuda-emulator --no-run --lib --test gpu_emulator
cargo test --release --features cuda-emulator --lib gpu::
cargo test --release --features cuda-emulator --lib backend::

# tests/gpu_emulator.rs in two processes at once, each pinned to a CPU of its own (within one process the emulator's
# threads still meet at their barriers on one CPU, as above), so that both cores share its ~4 minutes. Group A is
# the shipped model's test and three short ones; group B every other test, any added later included (it skips
# exactly group A's names, so each test runs in one group). Per-test times on the AMD EPYC dev VM (AVX2), pinned and
# sanitized: shipped model 82 s, tiny stimuli 53 s, planted errors 23 s, tiny models 22 s, backend trait 13 s, the
# other three 3-6 s each; so the groups take ~104 and ~103 s where the one process took 206-251 s.
GROUP_A=(shipped_model_matches_the_cpu_core_on_a_few_frames backend_trait_matches_the_cpu_core
  mapped_frames_and_graph_replay every_tile_plan_matches_the_cpu_core)
SKIP_A=()
for t in "${GROUP_A[@]}"; do SKIP_A+=(--skip "$t"); done
BIN="$(cargo test --release --features cuda-emulator --no-run --test gpu_emulator --message-format=json |
  python3 -c 'import json, sys
m = [x for x in map(json.loads, sys.stdin) if x.get("executable") and x["target"]["name"] == "gpu_emulator"]
print(m[-1]["executable"])')"
sanitized() { # CPU, then the test binary's arguments
  local cpu="$1"
  shift
  taskset -c "$cpu" env LD_PRELOAD="$ASAN_LIB" \
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:check_initialization_order=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$BIN" "$@"
}
read -r -a CPUS <<<"$(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0))[-2:])')"
if [ "${#CPUS[@]}" -ge 2 ]; then
  echo "--- tests/gpu_emulator.rs, group A on CPU ${CPUS[0]} and group B on CPU ${CPUS[1]}, at once"
  sanitized "${CPUS[0]}" --exact "${GROUP_A[@]}" >"$TMP/group-a.log" 2>&1 &
  A=$!
  sanitized "${CPUS[1]}" --exact "${SKIP_A[@]}" >"$TMP/group-b.log" 2>&1 &
  B=$!
  rc=0
  wait "$A" || rc=1
  wait "$B" || rc=1
  cat "$TMP/group-a.log" "$TMP/group-b.log"
  [ "$rc" -eq 0 ] || { echo "tests/gpu_emulator.rs failed (output above)"; exit 1; }
else
  echo "--- tests/gpu_emulator.rs on CPU ${CPUS[0]} (one CPU available)"
  sanitized "${CPUS[0]}"
fi
