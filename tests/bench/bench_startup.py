"""Start-up: each command's whole run on a trivial input against ``python -c pass``.

Every command is the installed ``netdiag`` console script next to this
interpreter, run as a user runs it (fork, exec, imports, the work, exit), with
loopback as the only target. The bare interpreter runs interleaved with the
commands, round after round, so that a slow spell of this noisy machine falls
on both; the figures are medians over the rounds, and the ratio is the
command's median over the bare interpreter's.

The probes (ping, traceroute, mtr) need root or CAP_NET_RAW for their raw
sockets; without them those rows are skipped.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROUNDS = 15
GOAL = 2.0
SAMPLE = Path(__file__).resolve().parents[2] / "captures" / "tcp-handshake.pcap"
COMMANDS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("read", ("read", str(SAMPLE)), False),
    ("filter", ("filter", "tcp and port 80"), False),
    ("sniff --help", ("sniff", "--help"), False),
    ("ping", ("ping", "-n", "-c", "1", "127.0.0.1"), True),
    ("traceroute", ("traceroute", "-n", "-m", "2", "127.0.0.1"), True),
    ("mtr", ("mtr", "-r", "-n", "-c", "1", "127.0.0.1"), True),
    ("sockets", ("sockets", "-tan"), False),
    ("udp --help", ("udp", "--help"), False),
)


def _script() -> str:
    here = Path(sys.executable).parent / "netdiag"
    found = str(here) if here.exists() else shutil.which("netdiag")
    if found is None:
        raise SystemExit("bench_startup: no netdiag console script (pip install -e .)")
    return found


def _wall(argv: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"bench_startup: {' '.join(argv)} exited {done.returncode}: "
                         f"{done.stderr.decode(errors='replace').strip()}")  # fmt: skip
    return took * 1000


def main() -> int:
    script = _script()
    root = os.geteuid() == 0
    rows = [(name, [script, *argv]) for name, argv, needs_root in COMMANDS
            if root or not needs_root]  # fmt: skip
    bare = [sys.executable, "-c", "pass"]
    times: dict[str, list[float]] = {"python -c pass": []}
    for name, argv in rows:  # warm the caches (.pyc files, the page cache) once
        _wall(argv)
        times[name] = []
    for _ in range(ROUNDS):
        for name, argv in rows:
            times["python -c pass"].append(_wall(bare))
            times[name].append(_wall(argv))
    base = statistics.median(times["python -c pass"])
    print(f"start-up, median of {ROUNDS} runs each, interleaved with the bare interpreter")
    print(f"  {'python -c pass':16} {base:7.1f} ms")
    worst = 0.0
    for name, _argv in rows:
        mine = statistics.median(times[name])
        worst = max(worst, mine / base)
        print(f"  {name:16} {mine:7.1f} ms  {mine / base:5.2f}x"
              f"  (min {min(times[name]):.1f} ms)")  # fmt: skip
    if not root:
        print("  ping, traceroute, mtr: skipped (need root for raw sockets)")
    print(f"  worst ratio {worst:.2f}x (goal <= {GOAL:.1f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
