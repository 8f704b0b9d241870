#!/usr/bin/env bash
# The test suite once in the debug profile: overflow checks and debug assertions on (the release suite that .ci/run
# runs has neither, so an integer overflow would pass CI unnoticed there). Doc-tests are left to the release run
# (compiling them again here adds ~30 s and they exercise nothing the test binaries do not).
#
# Duration: 309 s in the last full `.ci/run` on this project's 2-core dev VM (AMD EPYC, nothing else running): the
# cold debug build and the tests (the tiny training test is the longest: unoptimised auditory cortex).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=never
# The augmented-training comparison trains two models: minutes unoptimised, and nothing in it is arithmetic that the
# tiny training test (which runs here) does not already exercise; it runs in the release suite.
cargo test --features train --lib --bins --tests -- --skip augmented_training_is_more_robust_to_perturbations_it_never_saw
