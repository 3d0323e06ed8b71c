"""Wall time of a complete trace of an 8-router lab: netdiag against traceroute(8).

Builds its own lab (removed at the end; needs root) and measures two scenarios in
one run: (a) the lab as it is (ICMP rate limits off), (b) the kernel's default
ICMP rate limits restored in every node (icmp_ratelimit 1000 ms per token, a
burst of 6 per peer), as on real networks. For each method (-U, -I, -T) and
family, the same query count (3) and -n; each tool runs REPEAT times,
alternating, and the median wall time is reported. traceroute(8) is timed as a
process (fork + exec included, which is how one uses it); netdiag twice: as the
in-process API call, and as a ``python -m netdiag`` process (interpreter start-up
included). Ratio = netdiag / traceroute(8); the issue's target is at most 0.1.

Rate-limit buckets are per peer, so every single run (of either tool, in both
scenarios) uses a source address of its own on the src node (``-s``): each starts
with full buckets, as a first trace from a host does, and no run drains the
buckets of the next. A run that does not reach the destination at TTL 9 with all
3 answers is counted and reported.
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from netdiag.lab.lab import Lab
from netdiag.lab.netns import in_netns
from netdiag.trace.core import Method
from netdiag.trace.loop import TraceOptions, traceroute

REPEAT = 5
ROOT_DIR = str(Path(__file__).resolve().parents[2])
METHODS = [("-U", Method.UDP), ("-I", Method.ICMP), ("-T", Method.TCP)]
RATE_LIMITS = ("net.ipv4.icmp_ratelimit", "net.ipv6.icmp.ratelimit")


def _sources(lab: Lab, family: int) -> Iterator[str]:
    """Fresh addresses of src on link 0 (the routers route all of link 0 back)."""
    for i in itertools.count(10):
        if family == 4:
            addr, extra = f"198.18.0.{i}", ["dev", "eth0"]
            lab.exec("src", ["ip", "addr", "add", f"{addr}/24", *extra], check=True)
        else:
            addr, extra = f"2001:db8::{i:x}", ["dev", "eth0", "nodad"]
            lab.exec("src", ["ip", "addr", "add", f"{addr}/64", *extra], check=True)
        yield addr


def _complete(text: str) -> bool:
    """traceroute(8)-shaped output: 9 hops, the last with 3 answers."""
    lines = text.splitlines()[1:]
    return len(lines) == 9 and lines[-1].count(" ms") == 3


def _median_s(run: Callable[[], bool], misses: list[int]) -> float:
    times = []
    for _ in range(REPEAT):
        start = time.monotonic()
        ok = run()
        times.append(time.monotonic() - start)
        misses[0] += not ok
    return statistics.median(times)


def _row(lab: Lab, env: dict[str, str], family: int, flag: str, method: Method,
         sources: Iterator[str]) -> str:  # fmt: skip
    dst = lab.addr("dst", family)
    misses = [0]

    def theirs() -> bool:
        argv = ["traceroute", f"-{family}", flag, "-n", "-q", "3", "-s", next(sources), dst]
        proc = lab.exec("src", argv, capture_output=True, text=True, check=True, timeout=60)
        return _complete(proc.stdout)

    def command() -> bool:
        argv = [sys.executable, "-m", "netdiag", "traceroute", f"-{family}", flag, "-n", "-q",
                "3", "-s", next(sources), dst]  # fmt: skip
        proc = lab.exec("src", argv, capture_output=True, text=True, check=True, timeout=60,
                        env=env)  # fmt: skip
        return _complete(proc.stdout)

    def api() -> bool:
        opt = TraceOptions(method=method, nqueries=3, source=next(sources))
        with in_netns(lab.src.netns):
            result = traceroute(dst, opt)
        last = result.hops[-1]
        return len(result.hops) == 9 and all(p.address == dst for p in last.probes)

    ref_misses = [0]
    t_ref = _median_s(theirs, ref_misses)
    t_api, t_cmd = _median_s(api, misses), _median_s(command, misses)
    note = "" if not (misses[0] or ref_misses[0]) else (
        f"  incomplete: traceroute(8) {ref_misses[0]}, netdiag {misses[0]}")  # fmt: skip
    return (f"  IPv{family} {flag:6} {t_ref * 1000:11.1f} ms {t_api * 1000:9.1f} ms "
            f"{t_cmd * 1000:9.1f} ms {t_api / t_ref:8.2f} {t_cmd / t_ref:8.2f}{note}")  # fmt: skip


def _scenario(lab: Lab, env: dict[str, str], sources: dict[int, Iterator[str]]) -> None:
    print(f"  {'':12} {'traceroute(8)':>14} {'netdiag API':>12} {'netdiag cmd':>12}"
          f" {'API/tr8':>8} {'cmd/tr8':>8}")  # fmt: skip
    for family in (4, 6):
        for flag, method in METHODS:
            print(_row(lab, env, family, flag, method, sources[family]), flush=True)


def main() -> int:
    lab = Lab.up(f"bt{os.getpid()}", routers=8, icmp_ratelimit="off")
    env = dict(os.environ, PYTHONPATH=ROOT_DIR)
    sources = {4: _sources(lab, 4), 6: _sources(lab, 6)}
    try:
        print(f"traceroute of 9 hops (8 routers), -n -q 3, own -s per run, median of {REPEAT}")
        print("(a) the lab as it is: ICMP rate limits off")
        _scenario(lab, env, sources)
        for node in lab.nodes:
            lab.exec(node, ["sysctl", "-q", "-w", *(f"{k}=1000" for k in RATE_LIMITS)],
                     check=True)  # fmt: skip
        print("(b) kernel default ICMP rate limits restored (1000 ms per token, burst 6)")
        _scenario(lab, env, sources)
    finally:
        lab.down()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
