#!/usr/bin/env bash
# The Jetson binary (README "On a robot"): cross-build the release `avf-bel` as a board runs it (`capture,cuda`) for
# JetPack's oldest glibc (2.27: JetPack 4 on Ubuntu 18.04; JetPack 5 and 6 have 2.31 and 2.35) with cargo-zigbuild,
# check that no symbol it imports needs a newer glibc, and run it under qemu on a Nano-class CPU (cortex-a57).
#
# libasound: the binary links the board's libasound.so.2 at run time. To link here it needs an arm64 libasound, and
# Debian 12's (1.2.8, built against glibc 2.36) is the one at hand: its own references to newer glibc versions are
# not the binary's concern (the board's libasound is built for the board's glibc), hence --allow-shlib-undefined.
# The check below reads only the binary's own imports. The ALSA functions it imports (printed) are all ALSA 1.0 API,
# present in JetPack 4's alsa-lib 1.1.3.
#
# Duration on this project's 2-core dev VM: wheels (cargo-zigbuild, ziglang) ~10 s, arm64 .debs ~5 s, the build
# ~3.5 minutes (its own target directory, cold), the qemu runs ~10 s. About 4 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=never
export DEBIAN_FRONTEND=noninteractive
rustup target add aarch64-unknown-linux-gnu
if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-objdump >/dev/null \
  || [ ! -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]; then
  apt-get update -qq
  apt-get install -y -qq gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null
fi

TMP="$(mktemp -d)"
chmod 755 "$TMP" # apt-get download runs as _apt where it can
python3 -m venv "$TMP/venv"
"$TMP/venv/bin/pip" install -q --disable-pip-version-check cargo-zigbuild==0.24.1 ziglang==0.15.2
export PATH="$TMP/venv/bin:$PATH"

# Debian's arm64 libasound (multiarch index), unpacked into a sysroot of its own: nothing arm64 is installed.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
fi
apt-get update -qq
(cd "$TMP" && apt-get download -qq libasound2:arm64 libasound2-dev:arm64)
for deb in "$TMP"/*.deb; do dpkg -x "$deb" "$TMP/sysroot"; done
LIBS="$TMP/sysroot/usr/lib/aarch64-linux-gnu"
export PKG_CONFIG_ALLOW_CROSS=1 PKG_CONFIG_SYSROOT_DIR="$TMP/sysroot" PKG_CONFIG_LIBDIR="$LIBS/pkgconfig"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C link-arg=-Wl,--allow-shlib-undefined"
# `.ci/run` exports Debian's cross gcc as this target's linker (and qemu as its runner) for the aarch64 test suite; an
# inherited linker wins over zig's, and the binary would need Debian's glibc 2.36. Zig links here, in a target
# directory of its own (cargo does not relink when only the linker changes).
unset CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER
export CARGO_TARGET_DIR=target/jetson

cargo zigbuild --release --features capture,cuda --target aarch64-unknown-linux-gnu.2.27 --bin avf-bel
BIN=target/jetson/aarch64-unknown-linux-gnu/release/avf-bel

echo "libraries it needs:"
aarch64-linux-gnu-objdump -p "$BIN" | awk '/NEEDED/ {print "  " $2}'
echo "ALSA functions it imports:"
aarch64-linux-gnu-objdump -T "$BIN" | grep -o ' snd_[a-z0-9_]*' | sort -u | tr -d ' ' | paste -sd' ' | fold -s -w 110 \
  | sed 's/^/  /'
newest="$(aarch64-linux-gnu-objdump -T "$BIN" | grep -o 'GLIBC_2\.[0-9]*' | sort -t. -k2,2n -u | tail -1)"
echo "newest glibc symbol version it needs: $newest (JetPack 4 has GLIBC_2.27)"
if [ -z "$newest" ] || [ "${newest#GLIBC_2.}" -gt 27 ]; then
  echo "error: the Jetson binary needs $newest, newer than JetPack 4's glibc 2.27"
  exit 1
fi

out="$(qemu-aarch64 -cpu cortex-a57 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH="$LIBS" \
  "$BIN" run --stimulus happy --seconds 0.5 2>&1)"
echo "$out"
grep -q '^EPP 0\.[0-9]' <<<"$out" || { echo "error: the Jetson binary did not print an EPP under qemu"; exit 1; }
# Without a GPU (here, and qemu has none) the CUDA backend must refuse clearly, not crash.
if qemu-aarch64 -cpu cortex-a57 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH="$LIBS" \
  "$BIN" run --stimulus happy --seconds 0.5 --device cuda >"$TMP/cuda.log" 2>&1; then
  echo "error: --device cuda succeeded under qemu, where there is no driver"; exit 1
fi
grep -q 'no CUDA driver' "$TMP/cuda.log" || { cat "$TMP/cuda.log"; exit 1; }
echo "ok: the Jetson binary ($(du -h "$BIN" | cut -f1)) needs glibc ≤ ${newest#GLIBC_}, runs under qemu and refuses --device cuda without a driver"
