"""``avf-bel-read``: print the daemon's samples as JSON lines (the schema of ``avf-bel read --json``), optionally
sending one reward after the first sample. Errors are one line on stderr and exit status 1 (2 for usage)."""

import argparse
import json
import sys

from . import __version__
from .link import connect
from .wire import Heartbeat, LinkError, Sample, check_reward

EPILOG = """examples:
  avf-bel-read --socket /run/avf-bel/avf-bel.sock
  avf-bel-read --socket /tmp/epp.sock --count 30 --reward 0,1,0.5,0,0
  avf-bel-read --serial /dev/ttyUSB0 --baud 115200 --heartbeats   (needs pyserial)
"""


def _reward(text):
    try:
        vals = [float(x) for x in text.split(",")]
        check_reward(vals)
    except ValueError as e:
        raise argparse.ArgumentTypeError("%s (give angry,happy,peaceful,sad,scared, each 0-1)" % e)
    return vals


def _positive(text):
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not v > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds, got %r" % text)
    return v


def parser():
    ap = argparse.ArgumentParser(
        prog="avf-bel-read",
        description="Read EPP from an avf-bel daemon (Unix socket or serial port) as JSON lines.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--socket", metavar="PATH", help="the daemon's Unix socket (avf-bel serve --socket)")
    src.add_argument("--serial", metavar="DEV", help="a serial port the daemon writes to (needs pyserial)")
    ap.add_argument("--baud", type=int, default=115200, help="serial line rate (default 115200)")
    ap.add_argument("--count", type=int, default=0, metavar="N", help="stop after N samples (default: run on)")
    ap.add_argument("--reward", type=_reward, metavar="A,H,P,S,C", help="send this reward after the first sample")
    ap.add_argument("--heartbeats", action="store_true", help="print heartbeats too")
    ap.add_argument("--timeout", type=_positive, default=5.0, metavar="S",
                    help="fail when the daemon is silent this long (default 5)")
    ap.add_argument("--version", action="version", version="%(prog)s " + __version__)
    return ap


def run(a, out=sys.stdout) -> int:
    n = 0
    reward = a.reward
    with connect(socket_path=a.socket, serial_port=a.serial, baud=a.baud, timeout=a.timeout) as link:
        for m in link:
            if isinstance(m, Heartbeat):
                if a.heartbeats:
                    out.write(json.dumps(m.to_record()) + "\n")
                    out.flush()
                continue
            if not isinstance(m, Sample):
                continue
            out.write(json.dumps(m.to_record()) + "\n")
            out.flush()
            if reward is not None:
                r = link.send_reward(reward, seq=m.seq)
                print("avf-bel-read: sent reward %s for sample %d" % (list(r.reward), r.seq), file=sys.stderr)
                reward = None
            n += 1
            if a.count and n >= a.count:
                return 0
    return 0


def main(argv=None) -> int:
    a = parser().parse_args(argv)
    if a.count < 0:
        parser().error("--count must be 0 (run on) or more")
    try:
        return run(a)
    except LinkError as e:
        print("avf-bel-read: error: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # stdout closed (piped into `head`): the reader is done
        try:
            sys.stdout.close()
        except BrokenPipeError:
            pass
        return 0


if __name__ == "__main__":
    sys.exit(main())
