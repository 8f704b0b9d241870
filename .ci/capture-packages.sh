#!/usr/bin/env bash
# The system packages that feature `capture` builds against and its tests use (sourced by .ci/run and
# .ci/steps/60-capture.sh; installs only what is missing): libasound's headers and pkg-config to link ALSA, and
# GStreamer's tools and base/good plugins (`videotestsrc`, `audiotestsrc`) behind the tests' `pipe:` sources.
need=()
dpkg -s libasound2-dev >/dev/null 2>&1 || need+=(libasound2-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v gst-launch-1.0 >/dev/null || need+=(gstreamer1.0-tools)
dpkg -s gstreamer1.0-plugins-base >/dev/null 2>&1 || need+=(gstreamer1.0-plugins-base)
dpkg -s gstreamer1.0-plugins-good >/dev/null 2>&1 || need+=(gstreamer1.0-plugins-good)
if ((${#need[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
