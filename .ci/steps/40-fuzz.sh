#!/usr/bin/env bash
# Fuzzing (fuzz/README.md): every fuzz target builds and runs for a short bounded time from its committed seeds;
# any crash, panic, sanitizer report or hang (> 20 s on one input) fails the step and leaves the input under
# fuzz/artifacts/TARGET/. Stable toolchain: cargo-fuzz with RUSTC_BOOTSTRAP=1 (fuzz/run.sh sets it).
#
# Duration on this project's 2-core dev VMs: installing cargo-fuzz ~55 s (skipped when present), building all targets
# with AddressSanitizer ~3 minutes cold (Intel Xeon, quiet: 213 s with the crate's default features, 179 s since the
# targets build it with `std` only, fuzz/Cargo.toml), then 3 s per target (13 targets, ~1 min with start-up; 8 s,
# then 5 s each until the whole .ci/run neared its 45 minutes). About 5 minutes; the smoke run is a regression check
# from the seeds (the committed seeds run first), and the campaigns (fuzz/README.md) are where the fuzzing happens.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=never
# libFuzzer itself is C++ (built by libfuzzer-sys).
if ! command -v c++ >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq g++ >/dev/null
fi
# The fuzz crate is a workspace of its own: the main rustfmt check does not see it.
cargo fmt --manifest-path fuzz/Cargo.toml --check
fuzz/run.sh smoke 3
