#!/usr/bin/env bash
# Record the camera buffers tests/capture_convert.rs checks the V4L2 pixel conversion on: the same GStreamer test
# pattern as packed YUYV (YUY2), 8-bit grey (GRAY8) and planar I420, 30x24 pixels. GStreamer pads rows to 4 bytes,
# so the GREY and I420 buffers have 32-byte rows (a stride wider than the image, as many V4L2 drivers give).
# Needs gstreamer1.0-tools and gstreamer1.0-plugins-base. Run from the repository root.
set -euo pipefail
out=tests/data/pixels
mkdir -p "$out"
for pattern in circular smpte; do
  for fmt in YUY2:yuyv GRAY8:grey I420:i420; do
    gst-launch-1.0 -q videotestsrc pattern="$pattern" num-buffers=1 \
      ! "video/x-raw,format=${fmt%%:*},width=30,height=24" ! filesink location="$out/$pattern-30x24.${fmt##*:}"
  done
done
ls -l "$out"
