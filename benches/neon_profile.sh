#!/usr/bin/env bash
# An instruction-count profile of the aarch64 build at NEON width, under qemu-aarch64 (issue 12, item 7: profile the
# auditory cortex and the visual stack at NEON width without an ARM board). A small TCG plugin
# (benches/qemu_profile/insn_profile.c) counts the guest instructions executed at every address; each stage is run
# twice with different iteration counts and the difference, divided by the extra iterations, is one iteration's
# instructions without start-up. benches/qemu_profile/report.py attributes them to functions and source lines.
#
# Instruction counts are exact and the same on every host, but they are not times: a Cortex-A57 (Jetson Nano) issues
# two NEON instructions per cycle at best, an A78AE (Orin) four; loads, multiplies and divides differ in cost. Use
# them to see where the work is and what a change removes, and time on the board itself.
#
# Usage: bash benches/neon_profile.sh [STAGES]   (default: "audio visual-int8 visual-f32 pipeline-int8"; also
# pipeline-f32)
# Needs: rustup target aarch64-unknown-linux-gnu, gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user (with
# plugin support: Debian's and Ubuntu's have it), gcc for the host, python3. About 5 minutes after the cross build.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a STAGES <<<"${1:-audio visual-int8 visual-f32 pipeline-int8}"
T=aarch64-unknown-linux-gnu
BIN=target/$T/release/avf-bel
OUT=target/neon-profile
mkdir -p "$OUT"
gcc -O2 -Wall -Wextra -shared -fPIC -o "$OUT/insn_profile.so" benches/qemu_profile/insn_profile.c
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER:-aarch64-linux-gnu-gcc} \
  cargo build --release --target $T --bin avf-bel

# count NAME CPU LEVEL ITERS ARGS...: one run under the plugin.
count() {
  local name=$1 cpu=$2 level=$3 iters=$4
  shift 4
  AVF_BEL_KERNELS=$level qemu-aarch64 -cpu "$cpu" -L /usr/aarch64-linux-gnu \
    -plugin "$OUT/insn_profile.so,out=$OUT/$name.$iters.txt" "$BIN" bench "$@" --iters "$iters" >/dev/null
}

# profile NAME CPU LEVEL SHORT LONG ARGS...
profile() {
  local name=$1 cpu=$2 level=$3 short=$4 long=$5
  shift 5
  count "$name" "$cpu" "$level" "$short" "$@"
  count "$name" "$cpu" "$level" "$long" "$@"
  echo "=== $name: qemu -cpu $cpu, AVF_BEL_KERNELS=$level, avf-bel bench $* (per iteration)"
  python3 benches/qemu_profile/report.py "$BIN" "$OUT/$name.$short.txt" "$OUT/$name.$long.txt" $((long - short))
  echo
}

for s in "${STAGES[@]}"; do
  case $s in
    audio) profile audio cortex-a57 neon 1 3 --stage audio ;;
    visual-int8)
      profile visual-int8-neon cortex-a57 neon 2 10 --stage visual --size 64 --channels 5 --precision int8
      profile visual-int8-dotprod max dotprod 2 10 --stage visual --size 64 --channels 5 --precision int8
      ;;
    visual-f32) profile visual-f32 cortex-a57 neon 2 10 --stage visual --size 64 --channels 5 --precision f32 ;;
    pipeline-int8) profile pipeline-int8 cortex-a57 neon 1 3 --stage pipeline --precision int8 ;;
    pipeline-f32) profile pipeline-f32 cortex-a57 neon 1 3 --stage pipeline --precision f32 ;;
    *) echo "unknown stage $s (audio, visual-int8, visual-f32, pipeline-int8, pipeline-f32)" >&2; exit 2 ;;
  esac
done
