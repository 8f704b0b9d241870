#!/usr/bin/env bash
# The Python package avf-bel-link (tools/python): installed with pip into a throw-away venv (pytest, pyserial and
# setuptools for the build from PyPI, nothing cached), then pytest: the golden frames of docs/wire.md both ways, the
# clear exceptions, and live daemons on a Unix socket and on pseudo-terminals (the release binary: built here if the
# earlier steps left none).
#
# Duration on this project's 2-core dev VM (AMD EPYC, shared): ~15 s of pip, ~20 s of tests (three daemons of 4 s
# each, run one after another); plus ~1 min if the release binary has to be built. Under 1.5 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=never

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq python3-venv >/dev/null
fi
test -x target/release/avf-bel || cargo build --release

PY_TMP="$(mktemp -d)"
trap 'rm -rf "$PY_TMP"' EXIT
python3 -m venv "$PY_TMP/venv"
"$PY_TMP/venv/bin/pip" install -q --disable-pip-version-check --no-cache-dir pytest pyserial
# Built from a copy so that the checkout gets no build/ or *.egg-info.
cp -r tools/python "$PY_TMP/src"
"$PY_TMP/venv/bin/pip" install -q --disable-pip-version-check --no-cache-dir "$PY_TMP/src"
# The tests find docs/wire.md and the binary through AVF_BEL_BIN / the repository path of the test files.
CI=true AVF_BEL_BIN="$PWD/target/release/avf-bel" \
  "$PY_TMP/venv/bin/python" -m pytest -q -p no:cacheprovider tools/python/tests
