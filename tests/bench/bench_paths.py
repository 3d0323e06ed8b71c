"""Paths as real networks make them: netdiag against traceroute(8) and mtr, side by side.

Four scenarios, each in a lab of its own (removed at the end; needs root):

(a) a silent tail: 3 routers, then the destination drops every probe (nft), so
    TTLs 4..30 (27) are silent: traceroute(8) with its defaults and ``mtr -r -c 1``
    against ``netdiag traceroute`` (goals: <= 0.1x traceroute(8), <= 0.5x mtr);
(b) 8 routers with 5 ms one way on every link (90 ms to the destination, the
    kernel's default ICMP rate limits): traceroute(8) defaults against netdiag, as
    a command and in-process (goals: command <= 0.5x; in-process <= 2x the RTT);
(c) a clean chain of 8 routers with the kernel's default ICMP rate limits, mtr 20
    rounds at 0.2 s: netdiag's Loss% at every hop (goal 0.0) beside mtr's, and the
    wall times (goal: <= mtr's);
(d) the clean chain traced as uid 65534 (no privileges): traceroute(8) -U against
    netdiag -U (goals: the same hops, wall <= 1x).

Rate-limit buckets are per peer: every run takes a source address of its own
(``-s`` / ``-a``), so each starts with full buckets, as a first run from a host does.
"""

from __future__ import annotations

import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from netdiag.lab.lab import Lab
from netdiag.lab.netns import in_netns
from netdiag.trace.loop import TraceOptions, traceroute

ROOT_DIR = str(Path(__file__).resolve().parents[2])
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _sources(lab: Lab) -> Iterator[str]:
    for i in itertools.count(10):
        addr = f"198.18.0.{i}"
        lab.exec("src", ["ip", "addr", "add", f"{addr}/24", "dev", "eth0"], check=True)
        yield addr


def _timed(run: Callable[[], subprocess.CompletedProcess[str] | object]) -> tuple[float, object]:
    start = time.monotonic()
    out = run()
    return time.monotonic() - start, out


def _cmd(lab: Lab, argv: list[str], env: dict[str, str] | None = None) -> Callable[[], object]:
    return lambda: lab.exec("src", argv, capture_output=True, text=True, timeout=120, env=env)


def _netdiag(*argv: str) -> list[str]:
    return [sys.executable, "-m", "netdiag", *argv]


def silent_tail(env: dict[str, str]) -> None:
    with Lab.up(f"bp{os.getpid()}a", routers=3, silent_tail="dst") as lab:
        dst = lab.addr("dst")
        src = _sources(lab)
        t_tr, _ = _timed(_cmd(lab, ["traceroute", "-n", "-s", next(src), dst]))
        t_mtr, _ = _timed(_cmd(lab, ["mtr", "-r", "-n", "-c", "1", "-a", next(src), dst]))
        times = [_timed(_cmd(lab, _netdiag("traceroute", "-n", "-s", next(src), dst), env))[0]
                 for _ in range(3)]  # fmt: skip
        mine = statistics.median(times)
        print("(a) silent tail, 27 silent TTLs after the last router (-m 30)")
        print(f"    traceroute(8) {t_tr:6.2f} s   mtr -r -c 1 {t_mtr:5.2f} s   "
              f"netdiag traceroute {mine:5.2f} s (median of 3)")  # fmt: skip
        print(f"    ratio to traceroute(8) {mine / t_tr:.3f} (goal <= 0.1), "
              f"to mtr {mine / t_mtr:.2f} (goal <= 0.5)")  # fmt: skip


def delayed(env: dict[str, str]) -> None:
    with Lab.up(f"bp{os.getpid()}b", routers=8, delay=["all:5"]) as lab:
        dst = lab.addr("dst")
        src = _sources(lab)
        lab.exec("src", ["ping", "-c", "3", "-i", "0.2", "-q", dst], capture_output=True)
        out = lab.exec("src", ["ping", "-c", "5", "-i", "0.2", "-q", dst], capture_output=True,
                       text=True).stdout  # fmt: skip
        rtt = float(out.strip().splitlines()[-1].split("=")[1].split("/")[1]) / 1000
        t_tr = statistics.median(
            _timed(_cmd(lab, ["traceroute", "-n", "-s", next(src), dst]))[0] for _ in range(3)
        )
        t_cmd = statistics.median(
            _timed(_cmd(lab, _netdiag("traceroute", "-n", "-s", next(src), dst), env))[0]
            for _ in range(3))  # fmt: skip
        api = []
        for _ in range(3):
            opt = TraceOptions(source=next(src))
            with in_netns(lab.src.netns):
                start = time.monotonic()
                result = traceroute(dst, opt)
                api.append(time.monotonic() - start)
            assert result.reached
        t_api = statistics.median(api)
        print(f"(b) 8 routers, 5 ms one way per link (RTT to the destination {rtt * 1000:.1f} ms),"
              " default ICMP rate limits, median of 3")  # fmt: skip
        print(f"    traceroute(8) {t_tr:6.3f} s   netdiag command {t_cmd:6.3f} s "
              f"({t_cmd / t_tr:.2f}x, goal <= 0.5)   in-process {t_api:6.3f} s "
              f"({t_api / rtt:.2f} RTT, goal <= 2)")  # fmt: skip


def rate_limited(env: dict[str, str]) -> None:
    import json

    with Lab.up(f"bp{os.getpid()}c", routers=8) as lab:
        dst = lab.addr("dst")
        src = _sources(lab)
        t_mtr, proc = _timed(_cmd(lab, ["mtr", "-r", "-n", "-c", "20", "-i", "0.2", "-a",
                                        next(src), dst]))  # fmt: skip
        theirs = [line.split()[2] for line in proc.stdout.splitlines()[2:]]  # type: ignore[attr-defined]
        t_mine, proc = _timed(_cmd(lab, _netdiag("mtr", "--json", "-n", "-c", "20", "-i", "0.2",
                                                 "-s", next(src), dst), env))  # fmt: skip
        hosts = [h["hosts"][0] for h in json.loads(proc.stdout)["hops"]]  # type: ignore[attr-defined]
        print("(c) clean chain of 8 routers, default ICMP rate limits, 20 rounds at 0.2 s (-U)")
        print(f"    {'hop':>4} {'mtr Loss%':>10} {'netdiag Loss%':>14} {'Unans%':>7} {'RL':>3}")
        for i, h in enumerate(hosts):
            print(f"    {i + 1:>4} {theirs[i] if i < len(theirs) else '?':>10} "
                  f"{h['loss_pct']:>13.1f}% {h['unanswered_pct']:>6.1f}% "
                  f"{'RL' if h['rate_limited'] else '-':>3}")  # fmt: skip
        print(f"    wall: mtr {t_mtr:.2f} s, netdiag {t_mine:.2f} s ({t_mine / t_mtr:.2f}x, "
              "goal <= 1)")  # fmt: skip


def unprivileged(env: dict[str, str]) -> None:
    with Lab.up(f"bp{os.getpid()}d", routers=8, icmp_ratelimit="off") as lab, \
            tempfile.TemporaryDirectory() as where:  # fmt: skip
        os.chmod(where, 0o755)
        shutil.copytree(Path(ROOT_DIR) / "netdiag", Path(where) / "netdiag",
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
        import tabulate

        shutil.copy(tabulate.__file__, where)
        for path in Path(where).rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        dst = lab.addr("dst")
        python = sys.executable if os.access(sys.executable, os.X_OK) else "/usr/bin/python3"
        code = (f"import sys; sys.path.insert(0, {where!r}); from netdiag.cli import main; "
                "sys.exit(main(sys.argv[1:]))")  # fmt: skip
        t_tr = statistics.median(_timed(_cmd(lab, [*NOBODY, "traceroute", "-n", dst]))[0]
                                 for _ in range(3))  # fmt: skip
        t_mine = statistics.median(
            _timed(_cmd(lab, [*NOBODY, python, "-c", code, "traceroute", "-n", dst]))[0]
            for _ in range(3))  # fmt: skip
        a = lab.exec("src", [*NOBODY, "traceroute", "-n", dst], capture_output=True, text=True)
        b = lab.exec("src", [*NOBODY, python, "-c", code, "traceroute", "-n", dst],
                     capture_output=True, text=True)  # fmt: skip

        def hops(text: str) -> list[str]:
            return [line.split()[1] for line in text.splitlines()[1:]]

        same = hops(a.stdout) == hops(b.stdout)
        print("(d) unprivileged (uid 65534) trace of a clean chain of 8 routers, -U, median of 3")
        print(f"    traceroute(8) {t_tr:.3f} s   netdiag {t_mine:.3f} s ({t_mine / t_tr:.2f}x, "
              f"goal <= 1)   same hops: {same}")  # fmt: skip


def main() -> int:
    env = dict(os.environ, PYTHONPATH=ROOT_DIR)
    for scenario in (silent_tail, delayed, rate_limited, unprivileged):
        scenario(env)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
