#!/usr/bin/env bash
# The test suite once in the debug profile: overflow checks and debug assertions on (the release suite that .ci/run
# runs has neither, so an integer overflow would pass CI unnoticed there). Doc-tests are left to the release run
# (compiling them again here adds ~30 s and they exercise nothing the test binaries do not).
#
# The dev profile at opt-level 1 (CARGO_PROFILE_DEV_OPT_LEVEL): overflow checks and debug assertions are settings of
# their own and stay on, exactly as at opt-level 0; what changes is only the machine code's speed. On an Intel Xeon
# 2-core VM (Sapphire Rapids class), at opt-level 0 the tiny training test alone took 220 s (the unoptimised auditory
# cortex) and the step 9m38s of a full .ci/run (other work ran beside part of it); at opt-level 1 the step took 5m08s
# of a full .ci/run on the same machine, nothing else running.
#
# Line tables only (CARGO_PROFILE_DEV_DEBUG): the dev profile's full debug information made the build of this step
# 256 s of a full .ci/run (Intel Xeon 2-core VM, quiet); with line tables only, 181 s measured on the same machine
# (no debug information at all: 169 s). Panic messages and backtraces keep their file and line.
#
# The soak (tests/soak.rs) runs 15 s here instead of 30: its 30-s run is the release suite's, and here it is the
# daemon's arithmetic under faults with overflow checks on that is wanted (two SIGKILLs and restarts at 15 s).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=never CARGO_PROFILE_DEV_OPT_LEVEL=1 CARGO_PROFILE_DEV_DEBUG=line-tables-only
export AVF_BEL_SOAK_SECS=15
# The augmented-training comparison trains two models: minutes unoptimised, and nothing in it is arithmetic that the
# tiny training test (which runs here) does not already exercise; it runs in the release suite.
cargo test --features train --lib --bins --tests -- --skip augmented_training_is_more_robust_to_perturbations_it_never_saw
