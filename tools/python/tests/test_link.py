"""The transports against real parts: a live `avf-bel serve` on a Unix socket and on a pseudo-terminal, the
console script, and the clear exceptions for a missing daemon or port."""

import json
import math
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import avf_bel_link
from avf_bel_link import (
    ConnectionLost,
    DaemonNotRunning,
    Heartbeat,
    PortError,
    Sample,
    SerialLink,
    SerialNotInstalled,
    SocketLink,
    Timeout,
    encode_frame,
)
from avf_bel_link.wire import epp_of

REWARD = [0.0, 1.0, 0.5, 0.0, 0.0]


def connect_retry(path, limit=20.0, **kw):
    """The socket file appears at bind(); listen() follows: retry a refused connection for a moment."""
    t = time.monotonic()
    while True:
        try:
            return SocketLink(path, **kw)
        except DaemonNotRunning:
            if time.monotonic() - t > limit:
                raise
            time.sleep(0.02)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


# --- errors without a daemon ---------------------------------------------------------------------------------------


def test_missing_socket_is_daemon_not_running(tmp_dir):
    path = tmp_dir / "nobody.sock"
    with pytest.raises(DaemonNotRunning, match="no daemon socket at .*nobody.sock"):
        SocketLink(str(path))


def test_stale_socket_is_daemon_not_running(tmp_dir):
    path = str(tmp_dir / "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.bind(path)  # bound, never listening: what a crashed daemon leaves behind
    s.close()
    with pytest.raises(DaemonNotRunning, match="stale socket"):
        SocketLink(path)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "avf_bel_link"] + list(args), capture_output=True, text=True,
                          timeout=60)


def test_cli_reports_a_missing_socket_in_one_line(tmp_dir):
    r = _cli("--socket", str(tmp_dir / "absent.sock"))
    assert r.returncode == 1
    assert "avf-bel-read: error: no daemon socket at" in r.stderr and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_cli_refuses_bad_usage():
    r = _cli("--socket", "/x", "--reward", "0,1,2,0,0")
    assert r.returncode == 2 and "0-1" in r.stderr and "Traceback" not in r.stderr
    r = _cli()
    assert r.returncode == 2 and "--socket" in r.stderr


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "avf-bel-read"
    if not exe.exists():
        pytest.skip("avf-bel-read is not installed next to %s (pip install ./tools/python installs it)"
                    % sys.executable)
    r = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and avf_bel_link.__version__ in r.stdout


def test_missing_pyserial_is_a_clear_exception(monkeypatch):
    monkeypatch.setitem(sys.modules, "serial", None)  # makes `import serial` fail
    with pytest.raises(SerialNotInstalled, match="pip install"):
        SerialLink("/dev/ttyUSB0")


def test_missing_serial_port_is_port_error(tmp_dir):
    pytest.importorskip("serial", reason="pyserial not installed (pip install pyserial)")
    with pytest.raises(PortError, match="absent-tty"):
        SerialLink(str(tmp_dir / "absent-tty"))
    r = _cli("--serial", str(tmp_dir / "absent-tty"))
    assert r.returncode == 1 and "avf-bel-read: error: serial port" in r.stderr and "Traceback" not in r.stderr


# --- serial framing over a real pseudo-terminal -----------------------------------------------------------------------


def test_serial_link_over_a_pty_reads_frames_through_noise_and_writes_rewards(golden):
    pytest.importorskip("serial", reason="pyserial not installed (pip install pyserial)")
    master, slave = os.openpty()
    try:
        link = SerialLink(os.ttyname(slave), timeout=5.0)
        assert os.read(master, 16) == b"\x00"  # the flush byte a joining reader sends
        noisy = b"\x42\x17" + golden["sample"]["frame"][:30] + b"\x00"  # joined mid-frame: dropped
        os.write(master, noisy + golden["heartbeat"]["frame"] + golden["sample"]["frame"])
        h, s = link.recv(5.0), link.recv(5.0)
        assert isinstance(h, Heartbeat) and h.samples == 210
        assert isinstance(s, Sample) and s.seq == 300 and s.epp == 0.5
        assert link.bad == 1  # the garbage and the cut frame: one bad frame up to its 0x00
        link.send_reward(REWARD)  # for the last sample received: seq 300
        got = b""
        while not got.endswith(b"\x00"):
            got += os.read(master, 128)
        from avf_bel_link import Reward

        assert got == encode_frame(Reward(300, tuple(REWARD)))
        with pytest.raises(Timeout):
            link.recv(0.3)
        link.close()
    finally:
        os.close(master)
        os.close(slave)


# --- a live daemon ------------------------------------------------------------------------------------------------


def test_live_socket_samples_heartbeats_reward_and_shutdown(daemon):
    d, sock = daemon(4, "--stats")
    with connect_retry(sock, timeout=5.0) as link:
        samples, heartbeats, rewarded = [], [], None
        try:
            for m in link:
                if isinstance(m, Heartbeat):
                    heartbeats.append(m)
                    continue
                samples.append(m)
                if rewarded is None and m.has_estimate and m.audio_ok and m.video_ok:
                    rewarded = link.send_reward(REWARD)
                    cut = link.send_scene_cut()
                    assert cut.seq == m.seq
        except ConnectionLost:
            pass  # --duration elapsed: the daemon closed the connection
    code, err = d.finish()
    assert code == 0, err
    assert len(samples) >= 50, "%d samples in 4 s at 50/s" % len(samples)
    seqs = [s.seq for s in samples]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "sequence gaps on a reader that keeps up"
    assert len({s.model_hash for s in samples} | {h.model_hash for h in heartbeats}) == 1
    est = [s for s in samples if s.has_estimate]
    assert est, "no sample with an estimate"
    for s in est:
        assert 0 <= s.epp <= 1 and all(0 <= e <= 1 for e in s.emotions) and 0 < s.confidence <= 1
        assert s.epp == pytest.approx(epp_of(s.emotions), abs=1e-5)
        assert s.capture_ns <= s.publish_ns
    for s in samples:
        if not s.has_estimate:
            assert math.isnan(s.epp) and s.confidence == 0 and s.to_record()["epp"] is None
    assert rewarded is not None and rewarded.seq in seqs
    # The reward was applied: the heartbeats count it and samples after it carry `learning`.
    assert heartbeats and heartbeats[-1].updates >= 1, heartbeats
    after = [s for s in samples if s.seq > rewarded.seq]
    assert any(s.learning for s in after), "no `learning` flag after the reward"
    assert not any(s.learning for s in samples if s.seq <= rewarded.seq)
    assert " scene_cuts=1" in err, "the daemon applied the scene cut: %s" % err


def test_live_cli_prints_the_json_of_avf_bel_read(daemon, avf_bel):
    d, sock = daemon(4)
    # The Rust reader and the Python one on the same daemon: the same seq gives the same record.
    rust = subprocess.Popen([avf_bel, "read", "--socket", sock, "--json", "--count", "40"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    connect_retry(sock).close()
    r = subprocess.run([sys.executable, "-m", "avf_bel_link", "--socket", sock, "--count", "40", "--reward",
                        ",".join(map(str, REWARD))], capture_output=True, text=True, timeout=60)
    out, rerr = rust.communicate(timeout=60)
    assert r.returncode == 0, r.stderr
    assert rust.returncode == 0, rerr
    py = {o["seq"]: o for o in map(json.loads, r.stdout.splitlines())}
    rs = {o["seq"]: o for o in map(json.loads, out.splitlines())}
    assert len(py) == 40 and "sent reward" in r.stderr
    common = sorted(set(py) & set(rs))
    assert len(common) >= 20, (sorted(py), sorted(rs))
    for seq in common:
        a, b = py[seq], rs[seq]
        assert a.keys() == b.keys()
        for k in a:
            if k == "epp" and a[k] is not None:
                assert f32(a[k]) == f32(b[k])
            elif k == "emotions" and a[k] is not None:
                assert {e: f32(v) for e, v in a[k].items()} == {e: f32(v) for e, v in b[k].items()}
            elif k == "confidence":
                assert f32(a[k]) == f32(b[k])
            else:
                assert a[k] == b[k], (k, a, b)
    d.finish()


def _relay(a, b, stop):
    """Copy bytes both ways between two pty masters until `stop` is set (the 'cable')."""
    import select

    while not stop.is_set():
        r, _, _ = select.select([a, b], [], [], 0.05)
        for src in r:
            dst = b if src == a else a
            try:
                data = os.read(src, 4096)
            except OSError:
                continue
            os.write(dst, data)


def test_live_serial_through_a_pty_cable(daemon):
    pytest.importorskip("serial", reason="pyserial not installed (pip install pyserial)")
    import tty

    ma, sa = os.openpty()  # the daemon's end
    tty.setraw(sa)  # as the daemon will; until it opens the port, a cooked pty would echo our 0x00 as "^@"
    mb, sb = os.openpty()  # the robot's end
    stop = threading.Event()
    t = threading.Thread(target=_relay, args=(ma, mb, stop), daemon=True)
    t.start()
    try:
        link = SerialLink(os.ttyname(sb), timeout=5.0)
        d, _ = daemon(4, "--serial", os.ttyname(sa))
        samples, updates, sent = [], 0, False
        try:
            for m in link:
                if isinstance(m, Heartbeat):
                    updates = m.updates
                    continue
                samples.append(m)
                if m.has_estimate and not sent:
                    link.send_reward(REWARD)
                    sent = True
        except Timeout:
            pass  # the daemon stopped after --duration: the line went quiet
        code, err = d.finish()
        assert code == 0, err
        assert len(samples) >= 50 and link.bad == 0
        seqs = [s.seq for s in samples]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert updates >= 1, "the reward sent over the serial line was not applied: %s" % err
        link.close()
    finally:
        stop.set()
        t.join()
        for fd in (ma, sa, mb, sb):
            os.close(fd)
