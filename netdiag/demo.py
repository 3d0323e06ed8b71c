"""`make demo`: a short tour of what netdiag does on this machine.

Offline part (no privileges): decode the sample captures in ``captures/`` and
print what they hold. With root, the tour continues in a network-namespace lab
(built here and always torn down) as those capabilities land.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from netdiag import cli

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

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


def _in(lab: Any, node: str, argv: list[str], expect: int = 0) -> int:
    """Run ``netdiag ARGV`` in ``node``, echoing the command; 0 if it exited as expected."""
    print(f"[{node}]$ netdiag {' '.join(argv)}", flush=True)
    status = lab.exec(node, [sys.executable, "-m", "netdiag", *argv], timeout=60).returncode
    return 0 if status == expect else max(status, 1)


def _background(lab: Any, node: str, argv: list[str]) -> Any:
    print(f"[{node}]$ netdiag {' '.join(argv)} &", flush=True)
    return lab.popen(node, [sys.executable, "-m", "netdiag", *argv])


def tour_lab() -> int:
    """Build a 4-router lab, probe across it, tear it down (also on failure)."""
    from netdiag.lab.lab import Lab
    from netdiag.lab.render import format_lab

    name = f"demo{os.getpid() % 100000}"
    _section(f"a lab of 4 routers in network namespaces (lab {name!r})")
    worst = 0
    with Lab.up(name, routers=4) as lab:
        print(format_lab(Lab.show(name)), flush=True)
        dst4, dst6 = lab.addr("dst", 4), lab.addr("dst", 6)
        relay = lab.addr("r2", 4)
        _section("ping across the lab, IPv4 and IPv6")
        worst |= _in(lab, "src", ["ping", "-c", "3", "-i", "0.2", "-W", "1", dst4])
        worst |= _in(lab, "src", ["ping", "-6", "-c", "3", "-i", "0.2", "-W", "1", dst6])
        _section("a TTL too small: time exceeded from r2 (no reply: exit 1)")
        worst |= _in(lab, "src", ["ping", "-c", "2", "-i", "0.2", "-W", "1", "-t", "2", dst4], 1)
        _section("TCP ping to a closed port: the RST answers")
        worst |= _in(lab, "src", ["ping", "--tcp", "22", "-c", "2", "-i", "0.2", dst4])
        _section("traceroute, UDP over IPv4 and ICMP over IPv6")
        worst |= _in(lab, "src", ["traceroute", "-n", dst4])
        worst |= _in(lab, "src", ["traceroute", "-n", "-I", "-6", dst6])
        _section("mtr report, 5 rounds")
        worst |= _in(lab, "src", ["mtr", "-r", "-n", "-c", "5", "-i", "0.2", dst4])
        _section("sniffing ICMP on r2 while src pings dst")
        sniff = _background(lab, "r2", ["sniff", "-i", "eth0", "-c", "4", "--duration", "10",
                                        "icmp"])  # fmt: skip
        time.sleep(1.0)
        lab.exec("src", ["ping", "-c", "2", "-i", "0.2", "-q", dst4], capture_output=True)
        worst |= int(sniff.wait(timeout=15))
        _section("a UDP test through a relay in r2 that drops and reorders 1%")
        recv = _background(lab, "dst", ["udp", "recv", "--once", "--deadline", "30"])
        impair = _background(lab, "r2", ["impair", "--listen", f"{relay}:5300", "--to",
                                         f"{dst4}:5301", "--loss", "0.01", "--reorder", "0.01",
                                         "--seed", "1", "--duration", "15"])  # fmt: skip
        time.sleep(1.0)
        worst |= _in(lab, "src", ["udp", "send", relay, "-p", "5300", "--rate", "2000", "-n",
                                  "4000"])  # fmt: skip
        for proc in (recv, impair):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.terminate()
    print(f"\nlab {name!r} removed", flush=True)
    return worst | tour_real_network()


def tour_real_network() -> int:
    """Labs that behave as real networks do: ICMP rate limits, loss, delay, silence."""
    from netdiag.lab.lab import Lab
    from netdiag.lab.render import format_lab

    name = f"demoreal{os.getpid() % 10000}"
    worst = 0
    _section("a real network: the kernel's ICMP rate limits, 10% loss each way on link 2, "
             "2 ms one way on every link")  # fmt: skip
    with Lab.up(name, routers=4, loss=["2:10"], delay=["all:2"]) as lab:
        print(format_lab(Lab.show(name), lab.conditions), flush=True)
        dst4 = lab.addr("dst", 4)
        _section("mtr, 20 rounds at 0.2 s: rate limiting is Unans%, not loss; the loss "
                 "shows past link 2")  # fmt: skip
        worst |= _in(lab, "src", ["mtr", "-I", "-r", "-n", "-c", "20", "-i", "0.2", dst4])
    _section("a silent tail: the destination drops every probe")
    with Lab.up(name, routers=3, silent_tail="dst") as lab:
        worst |= _in(lab, "src", ["traceroute", "-n", lab.addr("dst", 4)])
    print(f"\nlabs {name!r} removed", flush=True)
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
