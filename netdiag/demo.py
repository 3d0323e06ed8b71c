"""`make demo`: a short tour of what netdiag does on this machine.

Offline part (no privileges): decode the sample captures in ``captures/`` and
print what they hold. With root, the tour continues in a network-namespace lab
(built here and always torn down) as those capabilities land.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from netdiag import cli

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def _section(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def _run(argv: list[str]) -> int:
    print("$ netdiag " + " ".join(argv), flush=True)
    status = cli.main(argv)
    sys.stdout.flush()
    return status


def tour_captures() -> int:
    files = sorted(p for p in CAPTURES.glob("*.pcap*") if p.is_file())
    if not files:
        print(f"no sample captures in {CAPTURES}; run `make captures`")
        return 1
    worst = 0
    first = files[0]
    _section("decoding a capture, tcpdump style")
    worst = max(worst, _run(["read", "-c", "8", str(first)]))
    _section("one packet as a per-layer tree")
    icmp = CAPTURES / "icmp-errors.pcap"
    worst = max(worst, _run(["read", "-v", "-c", "2", str(icmp if icmp.exists() else first)]))
    for path in files:
        _section(f"statistics of {path.name}")
        # malformed.pcap is damaged on purpose; its status 1 is the expected finding
        status = _run(["read", "--stats", str(path)])
        if path.name != "malformed.pcap":
            worst = max(worst, status)
    return worst


def tour_lab() -> int:
    """Build a 4-router lab, probe across it, tear it down (also on failure)."""
    from netdiag.lab import Lab
    from netdiag.render.lab import format_lab

    name = f"demo{os.getpid() % 100000}"
    _section(f"a lab of 4 routers in network namespaces (lab {name!r})")
    worst = 0
    with Lab.up(name, routers=4) as lab:
        print(format_lab(Lab.show(name)), flush=True)
        dst4, dst6 = lab.addr("dst", 4), lab.addr("dst", 6)
        for title, argv in (
            ("ping across the lab, IPv4", ["ping", "-c", "3", "-i", "0.2", "-W", "1", dst4]),
            ("ping across the lab, IPv6", ["ping", "-6", "-c", "3", "-i", "0.2", "-W", "1", dst6]),
            (
                "a TTL too small: time exceeded from r2",
                ["ping", "-c", "2", "-i", "0.2", "-W", "1", "-t", "2", dst4],
            ),
        ):
            _section(title)
            print(f"[src]$ netdiag {' '.join(argv)}", flush=True)
            cmd = [sys.executable, "-m", "netdiag", *argv]
            status = lab.exec("src", cmd, timeout=30).returncode
            if "-t" not in argv:  # the TTL probe exits 1 by design (no reply)
                worst = max(worst, status)
    print(f"\nlab {name!r} removed", flush=True)
    return worst


def main() -> int:
    status = tour_captures()
    if os.geteuid() != 0:
        _section("lab")
        print(
            "not root: the network-namespace part of the tour (lab, ping) needs root "
            "(CAP_NET_ADMIN, CAP_NET_RAW); skipped"
        )
        return status
    return max(status, tour_lab())


if __name__ == "__main__":
    raise SystemExit(main())
