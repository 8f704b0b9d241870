#!/usr/bin/env python3
"""Golden frames for the visual background (tests/background.rs), from a second, independent implementation.

Plain Python 3 (standard library only), float64 throughout, written from the description in
src/core/visual/background.rs (module docs), not from its code:

    python3 tools/golden_background.py   # writes tests/data/background_golden.txt, background_gated_golden.txt
                                         # and background_levelled_golden.txt

CI never runs this script; the output file is committed. The core works in float32, so its background plane drifts
from this float64 one by rounding: the test allows a difference of one level per pixel on a few pixels and requires
the same chosen shift on every frame.

The sequence (32x32, 30 frames per second, time constant 500 ms): a textured scene seen through a camera that
shakes by whole pixels, with sensor noise on some frames, a static dark block that appears half way and stays (an
occluder, which the background learns), and a bright square that moves (what should stand out).

The second file is the same sequence with the gate on (format version 6, `InputConfig::background_gate`): where the
frame has noise (sigma > 0), a pixel's difference d passes as d * max(|m| - theta/3, 0) / |m|, m the mean of d over
its 3x3 neighbourhood (edge pixels repeated), and is 0 where |m| <= theta/3; frames without noise as without the gate.

The third file is gated with the rows levelled (format version 7, `InputConfig::background_level_rows`), over the
same sequence lit unsteadily: bands of +-20 % rolling down the first twelve frames (mains flicker through a rolling
shutter), the whole frame's exposure swinging by up to 15 % over the rest. Before the search, each row r of a frame
(after its first) is scaled by a gain: g_r = the median (element len/2 of the sorted list) over the row of
background / frame (a black pixel's ratio taken as infinite), dropped where outside 0.6..1.7; the gain is the median
(element len/2) of the g left among rows r-3..r+3 (within the frame), 1 if none; a scaled level is
floor(level * gain + 0.5), at most 255. The levelled frame then goes through the search, the difference and the
update in place of the frame.

Output format (one record per line, `#` starts a comment):

    size H W TAU_MS FPS
    frame INDEX SX SY HEX(input bytes)       # the input frame, and the shift the reference chose for it
    out INDEX HEX(output bytes)              # the reference's output for that frame
"""

import math
import os

H = W = 32
TAU_MS = 500
FPS = 30
SHIFT = 3
CORE_SIGMAS = 3.0
FRAMES = 24


class Lcg:
    """A 64-bit linear congruential generator (Knuth's MMIX constants), top 31 bits out."""

    def __init__(self, seed):
        self.s = seed & (2**64 - 1)

    def next(self):
        self.s = (self.s * 6364136223846793005 + 1442695040888963407) & (2**64 - 1)
        return self.s >> 33

    def uniform(self):
        return self.next() / 2**31


def scene(rng, size):
    """A smooth random texture over a (size x size) canvas, levels 30..220."""
    coarse = [[rng.uniform() for _ in range(size // 4 + 2)] for _ in range(size // 4 + 2)]
    img = []
    for y in range(size):
        row = []
        for x in range(size):
            fy, fx = y / 4.0, x / 4.0
            y0, x0 = int(fy), int(fx)
            ty, tx = fy - y0, fx - x0
            v = (coarse[y0][x0] * (1 - ty) * (1 - tx) + coarse[y0][x0 + 1] * (1 - ty) * tx
                 + coarse[y0 + 1][x0] * ty * (1 - tx) + coarse[y0 + 1][x0 + 1] * ty * tx)
            fine = rng.uniform()
            row.append(30 + 170 * v + 20 * fine)
        img.append(row)
    return img


def make_frames():
    rng = Lcg(2026)
    margin = 4
    big = scene(rng, H + 2 * margin)
    shakes = [(0, 0), (1, 0), (0, 0), (-2, 1), (0, 2), (3, -1), (0, 0), (-1, -1), (2, 2), (0, 0), (-3, 0), (1, -2),
              (0, 0), (0, 1), (2, 0), (0, 0), (-1, 3), (0, 0), (1, 1), (0, 0), (0, -1), (-2, -2), (0, 0), (1, 0)]
    frames = []
    for t in range(FRAMES):
        cx, cy = shakes[t]
        noisy = t >= 12 and t % 3 != 0
        f = []
        for y in range(H):
            for x in range(W):
                # The camera moved by (-cx, -cy): the scene appears (cx, cy) further on.
                v = big[y + margin - cy][x + margin - cx]
                if t >= 8 and 6 <= y < 14 and 18 <= x < 27:
                    v = 45.0  # the occluder, static in the image from frame 8 on
                sx = 2 + t
                if 20 <= y < 25 and sx <= x < sx + 5:
                    v = 245.0  # the moving square
                if noisy:
                    # Approximately normal noise, sigma 4 (sum of 12 uniforms).
                    v += 4.0 * (sum(rng.uniform() for _ in range(12)) - 6.0)
                f.append(min(255, max(0, int(math.floor(v + 0.5)))))
        frames.append(f)
    return frames


def lit_unsteadily(frames):
    """The sequence under flicker (frames 1..11) and a hunting exposure (frames 12 on); frame 0 as it was."""
    out = []
    for t, f in enumerate(frames):
        g = []
        for y in range(H):
            if t == 0:
                gain = 1.0
            elif t < 12:
                gain = 1.0 + 0.2 * math.sin(2.0 * math.pi * (1.7 * y / H + t / 3.0))
            else:
                gain = 1.0 + 0.15 * math.sin(0.9 * t)
            g.extend(min(255, int(math.floor(v * gain + 0.5))) for v in f[y * W:(y + 1) * W])
        out.append(g)
    return out


def level_rows(f, bg):
    """Frame f with each row scaled to the background bg's light (see the module docs)."""
    gains = []
    for y in range(H):
        ratios = sorted(bg[y * W + x] / f[y * W + x] if f[y * W + x] > 0 else math.inf for x in range(W))
        m = ratios[W // 2]
        gains.append(m if 0.6 <= m <= 1.7 else None)
    out = list(f)
    for y in range(H):
        near = sorted(g for g in gains[max(0, y - 3):min(H, y + 4)] if g is not None)
        if not near:
            continue
        g = near[len(near) // 2]
        for x in range(W):
            out[y * W + x] = min(255, int(math.floor(f[y * W + x] * g + 0.5)))
    return out


def gated(d, theta):
    """The gate over one frame's differences d (H*W floats): each scaled by its neighbourhood mean's excess."""
    out = []
    for y in range(H):
        for x in range(W):
            m = 0.0
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    yy = min(H - 1, max(0, y + dy))
                    xx = min(W - 1, max(0, x + dx))
                    m += d[yy * W + xx]
            m /= 9.0
            g = (abs(m) - theta / 3.0) / abs(m) if abs(m) > theta / 3.0 else 0.0
            out.append(d[y * W + x] * g)
    return out


def reference(frames, gate=False, levelled=False):
    alpha = 1.0 - math.exp(-1.0 / (TAU_MS * 1e-3 * FPS))
    bg = None
    prev = None
    outs, shifts = [], []
    for f in frames:
        if bg is None:
            bg = [float(v) for v in f]
            prev = list(f)
            outs.append([128] * (H * W))
            shifts.append((0, 0))
            continue
        if levelled:
            f = level_rows(f, bg)
        # Every shift within +-3, nearest first (Chebyshev rings), then row by row; strictly smaller wins.
        order = [(0, 0)]
        for ring in range(1, SHIFT + 1):
            for sy in range(-ring, ring + 1):
                for sx in range(-ring, ring + 1):
                    if max(abs(sx), abs(sy)) == ring:
                        order.append((sx, sy))
        best = None
        for sx, sy in order:
            sad = 0.0
            for y in range(SHIFT, H - SHIFT):
                for x in range(SHIFT, W - SHIFT):
                    sad += abs(f[(y + sy) * W + x + sx] - bg[y * W + x])
            if best is None or sad < best[0]:
                best = (sad, sx, sy)
        _, sx, sy = best
        aligned = []
        for y in range(H):
            for x in range(W):
                yy = min(H - 1, max(0, y + sy))
                xx = min(W - 1, max(0, x + sx))
                aligned.append(f[yy * W + xx])
        changes = sorted(abs(a - b) for a, b in zip(aligned, prev))
        sigma = 1.4826 * changes[len(changes) // 2] / math.sqrt(2.0)
        theta = CORE_SIGMAS * sigma
        diffs = [aligned[i] - bg[i] for i in range(H * W)]
        if gate and theta > 0:
            passed = gated(diffs, theta)
        else:
            passed = [math.copysign(max(abs(d) - theta, 0.0), d) for d in diffs]
        out = []
        for i in range(H * W):
            out.append(min(255, max(0, int(math.floor(128.0 + passed[i] + 0.5)))))
            bg[i] += alpha * (aligned[i] - bg[i])
        prev = aligned
        outs.append(out)
        shifts.append((sx, sy))
    return outs, shifts


def main():
    for gate, rows, name, what in [
        (False, False, "background_golden.txt", ""),
        (True, False, "background_gated_golden.txt", ", gated"),
        (True, True, "background_levelled_golden.txt", ", gated, rows levelled, lit unsteadily"),
    ]:
        frames = lit_unsteadily(make_frames()) if rows else make_frames()
        outs, shifts = reference(frames, gate, rows)
        path = os.path.join(os.path.dirname(__file__), "..", "tests", "data", name)
        with open(path, "w") as fh:
            fh.write(f"# Visual background reference{what} (tools/golden_background.py): plain Python, float64.\n")
            fh.write(f"size {H} {W} {TAU_MS} {FPS}\n")
            for t, (f, o, (sx, sy)) in enumerate(zip(frames, outs, shifts)):
                fh.write(f"frame {t} {sx} {sy} {bytes(f).hex()}\n")
                fh.write(f"out {t} {bytes(o).hex()}\n")
        print(f"wrote {path}: {len(frames)} frames, shifts {shifts}")


if __name__ == "__main__":
    main()
