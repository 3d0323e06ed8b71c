"""Sweeping a /24 where half the addresses answer: netdiag fping against fping 5.1.

Builds its own lab (src - r1 - dst, dst holding the even addresses of 198.18.1.0/24,
r1 .1: 128 alive, 126 silent; removed at the end; needs root) and runs, alternating,
``fping -a -r 0 -t 500 -g 198.18.1.0/24`` and the same with ``-i 1``, REPEAT times
each, for fping and for ``python -m netdiag fping`` (a process: interpreter start-up
included, as one uses it; with the bytecode cache allowed, as an installed package
has it), and the engine alone in this process (``run_sweep``, what the command runs
after its start-up). Reported: median wall time and CPU (user + sys), whether every
run found fping's alive set, and the ratio of walls to fping's (goal: <= 1).

Both tools pace the sweep by the gap (-i): 254 sends then the last timeout,
254 x 10 ms + 500 ms = 3.04 s, and 254 x 1 ms + 500 ms = 0.75 s; what is left is
each tool's start-up.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time

from netdiag.fping.targets import generate
from netdiag.lab.lab import Lab
from netdiag.lab.netns import in_netns
from netdiag.multi.core import Settings, Target
from netdiag.multi.loop import run_sweep

REPEAT = 5
SWEEP = ["-a", "-r", "0", "-t", "500", "-g", "198.18.1.0/24"]
ALIVE = {"198.18.1.1", "198.18.1.2"} | {f"198.18.1.{i}" for i in range(4, 255, 2)}


def _timed(lab: Lab, argv: list[str], env: dict[str, str]) -> tuple[float, float, bool]:
    """(wall s, child CPU s, found the alive set) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = lab.exec("src", argv, capture_output=True, text=True, timeout=60, env=env)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, set(proc.stdout.split()) == ALIVE


def _in_process(lab: Lab, interval_ms: float) -> tuple[float, float, bool]:
    """The engine alone (``run_sweep``, as ``netdiag fping`` runs it), in this process:
    (wall s, CPU s, found the alive set)."""
    targets = [Target(a, a, 4) for a in generate(["198.18.1.0/24"])]
    settings = Settings(interval_ms=interval_ms, timeout_ms=500, retries=0)
    cpu0, start = time.process_time(), time.monotonic()
    with in_netns(lab.src.netns):
        sweep, _elapsed, _i = run_sweep(targets, settings)
    wall, cpu = time.monotonic() - start, time.process_time() - cpu0
    alive = {r.target for r in sweep.results() if r.received}
    return wall, cpu, alive == ALIVE


def main() -> int:
    lab = Lab.up(f"bf{os.getpid()}", routers=1)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    try:
        batch = "".join(f"addr add 198.18.1.{i}/32 dev eth0\n" for i in range(4, 255, 2))
        subprocess.run(["ip", "-n", lab.dst.netns, "-batch", "-"], input=batch, text=True,
                       check=True, timeout=30)  # fmt: skip
        ours = [sys.executable, "-m", "netdiag", "fping"]
        _timed(lab, [*ours, "-r", "0", "-t", "10", "198.18.1.2"], env)  # writes the cache
        print(f"sweep of 198.18.1.0/24, 128 alive, {' '.join(SWEEP[:-2])}, "
              f"median of {REPEAT} (wall, CPU user+sys)")  # fmt: skip
        print(f"  {'':18} {'fping 5.1':>20} {'netdiag fping':>20} {'wall ratio':>11}  same set")
        for extra in ([], ["-i", "1"]):
            kinds = ("fping", "netdiag", "engine")
            runs: dict[str, list[tuple[float, float, bool]]] = {k: [] for k in kinds}
            for _ in range(REPEAT):
                runs["fping"].append(_timed(lab, ["fping", *extra, *SWEEP], env))
                runs["netdiag"].append(_timed(lab, [*ours, *extra, *SWEEP], env))
                runs["engine"].append(_in_process(lab, float(extra[1]) if extra else 10.0))
            (fw, fc), (nw, nc), (ew, ec) = (
                (statistics.median(r[0] for r in runs[k]), statistics.median(r[1] for r in runs[k]))
                for k in kinds
            )  # fmt: skip
            same = all(r[2] for k in kinds for r in runs[k])
            label = " ".join(extra) or "-i 10"
            print(f"  {label + ' (command)':18} {fw:8.3f} s {fc:7.3f} s  {nw:8.3f} s {nc:7.3f} s "
                  f"{nw / fw:10.2f}  {'yes' if same else 'NO'}")  # fmt: skip
            print(f"  {label + ' (engine)':18} {'':20}  {ew:8.3f} s {ec:7.3f} s "
                  f"{ew / fw:10.2f}", flush=True)  # fmt: skip
    finally:
        lab.down()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
