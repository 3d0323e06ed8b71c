"""Wall time of a complete trace of an 8-router lab: netdiag against traceroute(8).

Builds its own lab (removed at the end; needs root). For each method (-U, -I,
-T) and family, the same query count (3) and -n; each tool runs REPEAT times,
alternating, and the median wall time is reported. traceroute(8) is timed as a
process (fork + exec included, which is how one uses it); netdiag twice: as the
in-process API call, and as a ``python -m netdiag`` process (interpreter start-up
included). Ratio = netdiag / traceroute(8); the issue's target is at most 0.1.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from netdiag.lab import Lab, in_netns
from netdiag.probes.tracecore import Method
from netdiag.probes.traceroute import TraceOptions, traceroute

REPEAT = 5
ROOT_DIR = str(Path(__file__).resolve().parents[2])
METHODS = [("-U", Method.UDP), ("-I", Method.ICMP), ("-T", Method.TCP)]


def _median_s(run: Callable[[], None]) -> float:
    times = []
    for _ in range(REPEAT):
        start = time.monotonic()
        run()
        times.append(time.monotonic() - start)
    return statistics.median(times)


def _row(lab: Lab, env: dict[str, str], family: int, flag: str, method: Method) -> str:
    dst = lab.addr("dst", family)

    def theirs() -> None:
        argv = ["traceroute", f"-{family}", flag, "-n", "-q", "3", dst]
        lab.exec("src", argv, capture_output=True, check=True, timeout=60)

    def command() -> None:
        argv = [sys.executable, "-m", "netdiag", "traceroute", f"-{family}", flag, "-n", "-q",
                "3", dst]  # fmt: skip
        lab.exec("src", argv, capture_output=True, check=True, timeout=60, env=env)

    def api() -> None:
        with in_netns(lab.src.netns):
            result = traceroute(dst, TraceOptions(method=method, nqueries=3))
        assert result.reached and len(result.hops) == 9

    t_ref, t_api, t_cmd = _median_s(theirs), _median_s(api), _median_s(command)
    return (f"  IPv{family} {flag:6} {t_ref * 1000:11.1f} ms {t_api * 1000:9.1f} ms "
            f"{t_cmd * 1000:9.1f} ms {t_api / t_ref:8.2f} {t_cmd / t_ref:8.2f}")  # fmt: skip


def main() -> int:
    lab = Lab.up(f"bt{os.getpid()}", routers=8)
    env = dict(os.environ, PYTHONPATH=ROOT_DIR)
    try:
        print(f"traceroute of 9 hops (8 routers), -n -q 3, median of {REPEAT} runs")
        print(f"  {'':12} {'traceroute(8)':>14} {'netdiag API':>12} {'netdiag cmd':>12}"
              f" {'API/tr8':>8} {'cmd/tr8':>8}")  # fmt: skip
        for family in (4, 6):
            for flag, method in METHODS:
                print(_row(lab, env, family, flag, method))
    finally:
        lab.down()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
