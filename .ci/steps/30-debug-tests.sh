#!/usr/bin/env bash
# The test suite once in the debug profile: overflow checks and debug assertions on (the release suite that .ci/run
# runs has neither, so an integer overflow would pass CI unnoticed there). Doc-tests are left to the release run
# (compiling them again here adds ~30 s and they exercise nothing the test binaries do not).
#
# The dev profile at opt-level 1 (CARGO_PROFILE_DEV_OPT_LEVEL): overflow checks and debug assertions are settings of
# their own and stay on, exactly as at opt-level 0; what changes is only the machine code's speed. At opt-level 0 the
# tiny training test alone took 220 s (the unoptimised auditory cortex) and the step 9.6 minutes of an Intel Xeon
# 2-core VM's .ci/run; at 1 the cold build takes 246 s and the tests 97 s there (5.7 minutes).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=never CARGO_PROFILE_DEV_OPT_LEVEL=1
# The augmented-training comparison trains two models: minutes unoptimised, and nothing in it is arithmetic that the
# tiny training test (which runs here) does not already exercise; it runs in the release suite.
cargo test --features train --lib --bins --tests -- --skip augmented_training_is_more_robust_to_perturbations_it_never_saw
