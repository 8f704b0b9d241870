#!/usr/bin/env bash
# The kernel battery for aarch64 under qemu, on two CPU models: cortex-a57 (Jetson Nano: NEON, no dot product, so
# the `dotprod` level must be refused and skipped) and cortex-a76 (Xavier/Orin-like: NEON + dot product, so every
# aarch64 level runs). Each run tests every kernel level the emulated CPU has against the portable reference
# (tests/conv.rs), the pathway per level against ONNX Runtime golden vectors (tests/visual.rs) and the
# AVF_BEL_KERNELS override (tests/kernels_env.rs). .ci/run's aarch64 suite runs qemu's default CPU (`max`).
# Takes ~2 minutes on 2 cores; `--features train`, as .ci/run's aarch64 step, so the cross build is reused.
set -euo pipefail
cd "$(dirname "$0")/../.."
rustup target add aarch64-unknown-linux-gnu >/dev/null
if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null
fi
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
# As .ci/run's aarch64 build (no debug info), so that its test binaries are reused rather than rebuilt.
export CARGO_PROFILE_RELEASE_DEBUG=0
for cpu in cortex-a57 cortex-a76; do
  echo "--- kernel battery on qemu -cpu $cpu"
  log="$(mktemp)"
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -cpu $cpu -L /usr/aarch64-linux-gnu" \
    cargo test --release --features train --target aarch64-unknown-linux-gnu --test conv --test visual --test kernels_env \
    -- --nocapture 2>&1 | tee "$log"
  # The battery prints the levels it ran: make sure the emulated CPU got the ones it should.
  case "$cpu" in
    cortex-a57) want='testing ["portable", "neon"]' ;;
    cortex-a76) want='testing ["portable", "neon", "dotprod"]' ;;
  esac
  grep -qF "$want" "$log" || { echo "error: qemu -cpu $cpu did not run the levels $want"; exit 1; }
  rm -f "$log"
done
