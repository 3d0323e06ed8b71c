"""netdiag's Python API in the lab: the same figures as ``netdiag fping --json`` on the
same targets, and 1,000 concurrent ``aio.ping`` calls with no stolen or duplicated
replies (dst's kernel counters, /proc/net/snmp, are the truth for what was answered).

The lab is the one of tests/fping: src - r1 - dst, dst holding the even addresses of
198.18.1.0/24. The API runs in this process, moved into src's namespace.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

import netdiag
from netdiag import aio

TIMEOUT = 30
pytestmark = pytest.mark.root


@pytest.fixture
def half(make_lab):
    lab = make_lab(routers=1)
    batch = "".join(f"addr add 198.18.1.{i}/32 dev eth0\n" for i in range(4, 255, 2))
    subprocess.run(["ip", "-n", lab.dst.netns, "-batch", "-"], input=batch, text=True,
                   check=True, timeout=TIMEOUT)  # fmt: skip
    return lab


def _echo_replies_sent(lab) -> int:
    """dst's Icmp OutEchoReps (/proc/net/snmp, per namespace)."""
    text = lab.exec("dst", ["cat", "/proc/net/snmp"], capture_output=True, text=True,
                    timeout=TIMEOUT).stdout  # fmt: skip
    rows = [ln.split() for ln in text.splitlines() if ln.startswith("Icmp:")]
    return int(rows[1][rows[0].index("OutEchoReps")])


def test_ping_and_multiping_give_the_clis_figures(half):
    names = ["198.18.1.2", "198.18.1.3", "198.18.1.4", "198.18.0.2"]
    cli = half.exec("src", [sys.executable, "-m", "netdiag", "fping", "--json", "-C", "3",
                            "-p", "20", "-t", "500", *names],
                    capture_output=True, text=True, timeout=TIMEOUT)  # fmt: skip
    assert cli.returncode == 1, cli.stderr
    by_cli = {o["target"]: o for o in map(json.loads, cli.stdout.splitlines())}
    with half.inside("src"):
        results = netdiag.multiping(names, count=3, interval=0.02, timeout=0.5)
        one = netdiag.ping("198.18.1.2", count=3, interval=0.02, timeout=0.5)
    for r in results:
        o = by_cli[r.target]
        assert (r.transmitted, r.received, r.is_alive) == (o["sent"], o["received"], o["alive"])
        assert r.packet_loss == o["loss"]
        assert [x is None for x in r.rtts] == [x is None for x in o["rtts"]]
    assert (one.transmitted, one.received, one.packet_loss) == (3, 3, 0.0)
    assert 0 < one.avg_rtt < 50 and one.jitter >= 0
    assert one.min_rtt <= one.avg_rtt <= one.max_rtt


def test_a_thousand_concurrent_aio_pings_get_their_own_replies(half):
    addresses = [f"198.18.1.{i}" for i in range(2, 255, 2)]  # dst's 127 addresses
    hosts = [addresses[i % len(addresses)] for i in range(1000)]
    before = _echo_replies_sent(half)

    async def main() -> list[netdiag.HostResult]:
        return await asyncio.gather(*(aio.ping(h, count=2, interval=0.05, timeout=2.0)
                                      for h in hosts))  # fmt: skip

    with half.inside("src"):
        results = asyncio.run(main())
    answered = _echo_replies_sent(half) - before
    assert answered == 2000  # dst answered every request once
    assert sum(r.received for r in results) == 2000  # and each reply reached its own ping
    assert all(r.received == 2 and r.duplicates == 0 for r in results)
    assert [r.target for r in results] == hosts


def test_aio_silent_host_times_out_and_traceroute_wraps_trace(half):
    async def main() -> list[netdiag.HostResult]:
        return await aio.multiping(["198.18.1.3", "198.18.1.2"], count=2, interval=0.01,
                                   timeout=0.5)  # fmt: skip

    with half.inside("src"):
        dead, alive = asyncio.run(main())
        trace = netdiag.traceroute("198.18.1.2", method="icmp", wait=1.0)
        report = netdiag.mtr("198.18.1.2", rounds=2, interval=0.1, method="icmp")
    assert (dead.received, dead.packet_loss, dead.is_alive) == (0, 1.0, False)
    assert (alive.received, alive.is_alive) == (2, True)
    assert [h.probes[0].address for h in trace.hops] == ["198.18.0.2", "198.18.1.2"]
    assert report.rounds == 2 and report.reached


def test_missing_privilege_is_a_privilege_error_with_the_fix(nobody_netdiag):
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import netdiag\n"
            "try:\n    netdiag.ping('127.0.0.1', count=1, interval=0.01)\n"
            "except netdiag.PrivilegeError as e:\n    print('PrivilegeError:', e)\n")  # fmt: skip
    done = subprocess.run([nobody_netdiag.python, "-c", code, nobody_netdiag.path],
                          user=65534, group=65534, extra_groups=[], capture_output=True,
                          text=True, timeout=TIMEOUT)  # fmt: skip
    assert done.stdout.startswith("PrivilegeError:"), done.stderr
    assert "CAP_NET_RAW" in done.stdout
