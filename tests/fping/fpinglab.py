"""The lab of the fping tests, and running netdiag fping and fping 5.1 in it.

src - r1 - dst (link 0: 198.18.0.0/24, link 1: 198.18.1.0/24); dst gets the even
addresses 198.18.1.4 .. .254 besides its own .2, and r1 holds .1, so half of
198.18.1.0/24 answers (128 alive, 126 silent: r1's ARP for them fails).
"""

from __future__ import annotations

import re
import subprocess
import sys

TIMEOUT = 30
ALIVE = {"198.18.1.1", "198.18.1.2"} | {f"198.18.1.{i}" for i in range(4, 255, 2)}


def half_alive_lab(make_lab):
    lab = make_lab(routers=1)
    batch = "".join(f"addr add 198.18.1.{i}/32 dev eth0\n" for i in range(4, 255, 2))
    subprocess.run(["ip", "-n", lab.dst.netns, "-batch", "-"], input=batch, text=True,
                   check=True, timeout=TIMEOUT)  # fmt: skip
    return lab


def ours(lab, *argv: str) -> subprocess.CompletedProcess[str]:
    return lab.exec("src", [sys.executable, "-m", "netdiag", "fping", *argv],
                    capture_output=True, text=True, timeout=TIMEOUT)  # fmt: skip


def theirs(lab, *argv: str) -> subprocess.CompletedProcess[str]:
    return lab.exec("src", ["fping", *argv], capture_output=True, text=True, timeout=TIMEOUT)


def both(lab, *argv: str):
    return ours(lab, *argv), theirs(lab, *argv)


def nft(lab, node: str, *script: str) -> str:
    done = lab.exec(node, ["nft", *script], capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    return done.stdout


SUMMARY = re.compile(r"^(?P<name>\S+) *: xmt/rcv/%loss = (?P<x>\d+)/(?P<r>\d+)/(?P<l>\d+)%"
                     r"(?:, min/avg/max = [\d.]+/[\d.]+/[\d.]+)?$")  # fmt: skip


def parse(pattern: re.Pattern[str], text: str) -> list[dict[str, str]]:
    """Every non-blank line of ``text`` must match ``pattern``; their groups."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    found = [pattern.match(ln) for ln in lines]
    assert all(found), [ln for ln, m in zip(lines, found, strict=True) if not m]
    return [m.groupdict() for m in found if m]
