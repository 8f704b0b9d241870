"""Shared fixtures: the golden examples of docs/wire.md (parsed from the document itself, so the tests and the
contract cannot drift apart), the avf-bel binary, and a live daemon."""

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
WIRE_MD = REPO / "docs" / "wire.md"


def golden_examples():
    """docs/wire.md section 4: a list of dicts {payload, crc, frame} in document order (sample, sample without an
    estimate, heartbeat, reward, scene cut)."""
    text = WIRE_MD.read_text(encoding="utf-8")
    section = text.split("## 4. Golden examples", 1)[1].split("## 5.", 1)[0]
    out = []
    for block in re.findall(r"```text\n(.*?)```", section, re.S):
        cur, ex = None, {}
        for line in block.splitlines():
            m = re.match(r"\s*(payload|frame) \((\d+) bytes\):(.*)", line)
            if m:
                cur = m.group(1)
                ex[cur] = m.group(3)
                ex[cur + "_len"] = int(m.group(2))
                continue
            m = re.match(r"\s*CRC-32C = 0x([0-9A-Fa-f]{8})", line)
            if m:
                ex["crc"], cur = int(m.group(1), 16), None
                continue
            if cur:
                ex[cur] += " " + line
        for k in ("payload", "frame"):
            ex[k] = bytes.fromhex(ex[k])
            assert len(ex[k]) == ex[k + "_len"], "docs/wire.md: %s length" % k
        out.append(ex)
    return out


@pytest.fixture(scope="session")
def golden():
    if not WIRE_MD.exists():
        pytest.skip("docs/wire.md not found next to this package (tests run from the avf-bel repository)")
    ex = golden_examples()
    assert len(ex) == 5, "docs/wire.md section 4 should hold 5 examples, found %d" % len(ex)
    return dict(zip(("sample", "no_estimate", "heartbeat", "reward", "scene_cut"), ex))


def binary():
    """The release binary: $AVF_BEL_BIN, else target/release/avf-bel of the repository."""
    p = os.environ.get("AVF_BEL_BIN") or str(REPO / "target" / "release" / "avf-bel")
    return p if os.access(p, os.X_OK) else None


@pytest.fixture(scope="session")
def avf_bel():
    p = binary()
    if p is None:
        msg = "no avf-bel binary (build it: cargo build --release, or set AVF_BEL_BIN)"
        if os.environ.get("CI"):
            pytest.fail(msg)  # CI builds it first: a missing binary there is a failure, not a skip
        pytest.skip(msg)
    return p


@pytest.fixture
def tmp_dir():
    d = tempfile.mkdtemp(prefix="avf-bel-py-")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


class Daemon:
    """`avf-bel serve` on synthetic inputs for a few seconds; killed on teardown whatever happened."""

    def __init__(self, exe, args, cwd):
        self.proc = subprocess.Popen(
            [exe, "serve"] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=str(cwd)
        )

    def wait_socket(self, path, limit=30.0):
        t = time.monotonic()
        while time.monotonic() - t < limit:
            if Path(path).exists():
                return
            if self.proc.poll() is not None:
                raise AssertionError("the daemon exited (%s): %s" % (self.proc.returncode, self.stderr()))
            time.sleep(0.02)
        raise AssertionError("the daemon never made its socket %s" % path)

    def stderr(self):
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read().decode(errors="replace")

    def finish(self, limit=30.0):
        """Wait for the daemon's own exit (--duration); return (code, stderr)."""
        try:
            _, err = self.proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return self.proc.returncode, err.decode(errors="replace")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def daemon(avf_bel, tmp_dir):
    """Start a daemon: ``daemon(seconds, *extra) -> (Daemon, socket path)``; the tiny model at 50 samples/s."""
    started = []
    weights = tmp_dir / "tiny.avfw"
    init = subprocess.run(
        [avf_bel, "init", "--config", "tiny", "--seed", "3", "--out", str(weights)], capture_output=True, text=True
    )
    assert init.returncode == 0, init.stderr

    def start(seconds, *extra):
        sock = tmp_dir / ("d%d.sock" % len(started))
        args = ["--weights", str(weights), "--audio", "synth://happy", "--video", "synth://happy", "--socket",
                str(sock), "--rate", "50", "--window", "1", "--warmup", "0.2", "--duration", str(seconds)]
        d = Daemon(avf_bel, args + list(extra), tmp_dir)
        started.append(d)
        d.wait_socket(sock)
        return d, str(sock)

    yield start
    for d in started:
        d.kill()
