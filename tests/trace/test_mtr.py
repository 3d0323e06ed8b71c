"""netdiag mtr in the namespace lab: report and JSON over bounded rounds (-c, -i).

The hops are checked against traceroute(8) run on the same lab; loss against the
lab's construction (a silent router never answers; every other hop always does).
"""

from __future__ import annotations

import io
import json
import os
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from netdiag.cli import main
from netdiag.lab.netns import in_netns

ROOT_DIR = str(Path(__file__).resolve().parents[2])
ROUNDS = "10"


def netdiag(lab, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with in_netns(lab.src.netns), redirect_stdout(out):
        status = main(list(argv))
    return status, out.getvalue()


def traceroute8_hops(lab, *argv: str) -> list[str | None]:
    proc = lab.exec("src", ["traceroute", "-n", "-q", "1", *argv], capture_output=True,
                    text=True, timeout=30)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return [None if line.split()[1] == "*" else line.split()[1]
            for line in proc.stdout.splitlines()[1:]]  # fmt: skip


@pytest.mark.root
@pytest.mark.parametrize("family", [4, 6])
def test_report_of_a_clean_path_has_no_loss_and_sent_equals_rounds(make_lab, require_tool, family):
    require_tool("traceroute")
    lab = make_lab(routers=8)
    dst = lab.addr("dst", family)
    status, out = netdiag(lab, "mtr", f"-{family}", "--json", "-n", "-c", ROUNDS, "-i", "0.05",
                          dst)  # fmt: skip
    assert status == 0
    doc = json.loads(out)
    assert doc["target"] == dst
    assert [h["ttl"] for h in doc["hops"]] == list(range(1, 10))
    hosts = [h["hosts"] for h in doc["hops"]]
    assert all(len(x) == 1 for x in hosts)
    assert [x[0]["address"] for x in hosts] == traceroute8_hops(lab, f"-{family}", dst)
    for (host,) in hosts:
        assert (host["loss_pct"], host["sent"]) == (0.0, 10)
        assert 0 < host["best_ms"] <= host["avg_ms"] <= host["worst_ms"]
        assert set(host) == {"address", "loss_pct", "sent", "last_ms", "avg_ms", "best_ms",
                             "worst_ms", "stdev_ms", "jitter_ms"}  # fmt: skip


@pytest.mark.root
def test_a_silent_router_is_all_loss_in_the_report(make_lab, require_tool):
    require_tool("traceroute")
    lab = make_lab(routers=8, silent_router=3)
    dst = lab.addr("dst")
    status, out = netdiag(lab, "mtr", "-r", "-n", "-c", ROUNDS, "-i", "0.05", dst)
    assert status == 0
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [r[2] for r in rows] == [a or "???" for a in traceroute8_hops(lab, "-w", "1", dst)]
    for r in rows:
        assert r[4] == ROUNDS  # Snt
        assert r[3] == ("100.0%" if r[0] == "3." else "0.0%")
    status, out = netdiag(lab, "mtr", "--json", "-n", "-c", "3", "-i", "0.05", dst)
    third = json.loads(out)["hops"][2]["hosts"]
    assert third == [{"address": None, "loss_pct": 100.0, "sent": 3, "last_ms": None,
                      "avg_ms": None, "best_ms": None, "worst_ms": None, "stdev_ms": None,
                      "jitter_ms": None}]  # fmt: skip


@pytest.mark.root
def test_without_a_terminal_mtr_prints_the_report_without_escape_codes(make_lab):
    lab = make_lab(routers=2)
    env = dict(os.environ, PYTHONPATH=ROOT_DIR)
    proc = lab.exec("src", [sys.executable, "-m", "netdiag", "mtr", "-n", "-c", "2", "-i", "0.05",
                            lab.addr("dst")], capture_output=True, text=True, timeout=30,
                    env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout
    assert proc.stdout.splitlines()[0].split()[:2] == ["HOST:", os.uname().nodename]
    assert len(proc.stdout.splitlines()) == 1 + 3


@pytest.mark.root
def test_with_default_icmp_rate_limits_one_round_a_second_loses_nothing(make_lab, require_tool):
    # Kernel defaults restored (ip-sysctl.rst: icmp_ratelimit 1000 ms per token, a burst
    # of 6 per peer): one probe per node per second is what every node sustains, so
    # the report must show no loss; the first round must not spend the destination's
    # burst on TTLs beyond it. Own source addresses: each tool starts with full buckets.
    require_tool("traceroute")
    lab = make_lab(routers=8)
    for node in lab.nodes:
        lab.exec(node, ["sysctl", "-q", "-w", "net.ipv4.icmp_ratelimit=1000",
                        "net.ipv6.icmp.ratelimit=1000"], check=True)  # fmt: skip
    for src in ("198.18.0.11", "198.18.0.12"):  # the routers route all of link 0 back
        lab.exec("src", ["ip", "addr", "add", f"{src}/24", "dev", "eth0"], check=True)
    dst = lab.addr("dst")
    expected = traceroute8_hops(lab, "-s", "198.18.0.11", dst)
    status, out = netdiag(lab, "mtr", "--json", "-n", "-s", "198.18.0.12", "-c", "4", "-i", "1",
                          dst)  # fmt: skip
    assert status == 0
    hosts = [h["hosts"] for h in json.loads(out)["hops"]]
    assert [x[0]["address"] for x in hosts] == expected == lab.hops(4)
    assert [(x[0]["loss_pct"], x[0]["sent"]) for x in hosts] == [(0.0, 4)] * 9
