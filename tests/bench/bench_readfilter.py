"""Filtered reading of the 200k mix: ``netdiag read`` vs ``tcpdump -r``, printing and -w.

The capture is bench_decode's 200,000-packet mix. For five expressions of the
oracle list (tests/capture/test_bpf_oracle.py), side by side in one run, best of
``ROUNDS`` interleaved rounds of wall time, each a fresh process (start-up
included, as a user sees it):

- ``netdiag read FILE EXPR``        vs ``tcpdump -n -r FILE EXPR``      (stdout to /dev/null)
- ``netdiag read -w OUT FILE EXPR`` vs ``tcpdump -r FILE -w OUT EXPR``

Both must agree: the same number of printed lines, and -w files identical byte
for byte. Goal (issue 16): at most 3x tcpdump's wall for both. Also shown, in
process: the filter alone over every frame, our interpreter against the
compiled form (pyjit), per packet.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_decode

from netdiag.capture.bpf import compile_filter, make_runner
from netdiag.capture.bpf.pyjit import compile_scanner
from netdiag.capture.files import read_capture

ROUNDS = 3
EXPRESSIONS = [
    "tcp port 80",
    "udp port 53",
    "icmp[icmptype] = icmp-echo",
    "vlan and ip",
    "ip6 net 2001:db8:1::/48",
]
REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "TZ": "UTC"}
NETDIAG = [sys.executable, "-m", "netdiag"]


def _wall(argv: list[str], stdout: object = subprocess.DEVNULL) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=stdout, stderr=subprocess.DEVNULL, env=ENV, check=True)  # type: ignore[arg-type]
    return time.perf_counter() - t0


def _lines(argv: list[str]) -> int:
    out = subprocess.run(argv, capture_output=True, env=ENV, check=True).stdout
    return out.count(b"\n")


def _filter_only(frames: list[bytes], expr: str) -> tuple[float, float]:
    """µs per packet of the filter alone: interpreter, compiled scanner (best of 3)."""
    program = compile_filter(expr, 1)
    run, scan = make_runner(program), compile_scanner(program)
    best = [float("inf"), float("inf")]
    for _ in range(3):
        t0 = time.perf_counter()
        for f in frames:
            run(f, len(f))
        t1 = time.perf_counter()
        for f in frames:
            scan(f, 0, len(f), len(f))
        t2 = time.perf_counter()
        best = [min(best[0], t1 - t0), min(best[1], t2 - t1)]
    return best[0] / len(frames) * 1e6, best[1] / len(frames) * 1e6


def main() -> dict[str, float]:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as d:
        mix = Path(d) / "mix.pcap"
        bench_decode.generate(mix)
        with read_capture(mix) as r:
            frames = [rec.data for rec in r]
        ours_w, theirs_w = Path(d) / "ours.pcap", Path(d) / "theirs.pcap"
        print(f"{len(frames)} packets; wall time, best of {ROUNDS}, start-up included")
        print(
            f"  {'expression':<28} {'kept':>6}  {'read':>7} {'tcpdump':>8} {'ratio':>6}"
            f"  {'read -w':>7} {'tcpdump':>8} {'ratio':>6}  filter µs/pkt interp -> compiled"
        )
        worst_print = worst_write = 0.0
        for expr in EXPRESSIONS:
            ours_print = [*NETDIAG, "read", str(mix), expr]
            theirs_print = ["tcpdump", "-n", "-r", str(mix), expr]
            ours_write = [*NETDIAG, "read", "-w", str(ours_w), str(mix), expr]
            theirs_write = ["tcpdump", "-r", str(mix), "-w", str(theirs_w), expr]
            kept = _lines(theirs_print)
            if _lines(ours_print) != kept:
                raise SystemExit(f"{expr!r}: netdiag and tcpdump print different numbers of lines")
            best = [float("inf")] * 4
            for _ in range(ROUNDS):
                for i, argv in enumerate((ours_print, theirs_print, ours_write, theirs_write)):
                    best[i] = min(best[i], _wall(argv))
            if ours_w.read_bytes() != theirs_w.read_bytes():
                raise SystemExit(f"{expr!r}: read -w and tcpdump -w wrote different files")
            interp, compiled = _filter_only(frames, expr)
            rp, rw = best[0] / best[1], best[2] / best[3]
            worst_print, worst_write = max(worst_print, rp), max(worst_write, rw)
            print(
                f"  {expr:<28} {kept:>6}  {best[0]:6.3f}s {best[1]:7.3f}s {rp:5.1f}x"
                f"  {best[2]:6.3f}s {best[3]:7.3f}s {rw:5.1f}x  {interp:.2f} -> {compiled:.2f}"
            )
            results[f"{expr} read/tcpdump"] = rp
            results[f"{expr} read -w/tcpdump -w"] = rw
        print(f"  worst ratio: read {worst_print:.1f}x, read -w {worst_write:.1f}x (goal <= 3)")
    return results


if __name__ == "__main__":
    main()
