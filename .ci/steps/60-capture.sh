#!/usr/bin/env bash
# Feature `capture` (ALSA microphones through libasound, V4L2 cameras): system packages, clippy, and the tests that
# use real libasound (ALSA's `file` plugin under a private HOME/.asoundrc), real GStreamer (`videotestsrc`,
# `audiotestsrc` behind `pipe:`), FIFOs and live daemons. No camera or sound card is needed; the V4L2 ioctl path and
# the CSI pipeline are compiled here but cannot run without hardware (README, "On a robot").
#
# The ROS 2 test has a step of its own (62-ros2.sh).
#
# Duration on an Intel Xeon 2-core VM: apt ~1 min when the packages are missing; after .ci/run's CUDA compile
# check (which built the crate with these features) 35 s, the test binaries ~10 s and the tests ~25 s (97 s while
# this step built the crate with `capture` alone). Run by itself, add ~2 minutes for that build.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=never

# shellcheck source=../capture-packages.sh
source .ci/capture-packages.sh

# With `cuda` too, as the Jetson binary is built (.ci/steps/70-jetson.sh): the library, binary and clippy run are
# then the ones .ci/run's CUDA compile check built (same features), and only the test binaries below are new here
# (a build of its own with `capture` alone cost about 70 s of every CI run). The CUDA backend stays idle: nothing
# here asks for `--device cuda`, and without a driver `auto` is the CPU.
cargo clippy --all-targets --release --features capture,cuda -- -D warnings
# (`daemon_signals` used to run one test at a time: its ALSA test waited for the input's "delivering" line, which
# the daemon skipped when the source was already delivering at its first status report — about 4 runs in 10 with
# the tests in parallel. The line is now said on every start.)
CI=true AVF_BEL_REQUIRE_GST=1 cargo test --release --features capture,cuda --test capture_alsa --test capture_convert \
  --test capture_sources --test link_daemon --test link_stream --test daemon_signals
