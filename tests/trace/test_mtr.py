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
        assert set(host) == {"address", "loss_pct", "unanswered_pct", "rate_limited", "sent",
                             "last_ms", "avg_ms", "best_ms", "worst_ms", "stdev_ms",
                             "jitter_ms"}  # fmt: skip
        assert (host["unanswered_pct"], host["rate_limited"]) == (0.0, False)


@pytest.mark.root
def test_a_silent_router_is_all_unanswered_and_no_loss(make_lab, require_tool):
    # Every hop after it answers: the path loses nothing there (mtr would say 100%).
    require_tool("traceroute")
    lab = make_lab(routers=8, silent_router=3)
    dst = lab.addr("dst")
    status, out = netdiag(lab, "mtr", "-r", "-n", "-c", ROUNDS, "-i", "0.05", dst)
    assert status == 0
    rows = [line.split() for line in out.splitlines()[1:10]]
    assert [r[2] for r in rows] == [a or "???" for a in traceroute8_hops(lab, "-w", "1", dst)]
    for r in rows:
        # Snt: ICMP limits are off in this lab, so the pacer soon probes every round;
        # the silent router, which answers nothing, stays paced (the burst, one try)
        assert r[6] == (ROUNDS if r[0] != "3." else "7")
        assert r[3] == "0.0%"  # Loss%
        assert r[4] == ("100.0%" if r[0] == "3." else "0.0%")  # Unans%
        assert r[5] == "-"  # a silent router is not rate-limiting
    assert out.splitlines()[10].startswith("Loss%: lost on the path")
    status, out = netdiag(lab, "mtr", "--json", "-n", "-c", "3", "-i", "0.05", dst)
    third = json.loads(out)["hops"][2]["hosts"]
    assert third == [{"address": None, "loss_pct": 0.0, "unanswered_pct": 100.0,
                      "rate_limited": False, "sent": 3, "last_ms": None, "avg_ms": None,
                      "best_ms": None, "worst_ms": None, "stdev_ms": None,
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
    lines = proc.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:4]] == ["1.", "2.", "3."]
    assert lines[4].startswith("Loss%: ")  # the legend (a pacing note may follow)
    assert len(lines) <= 6, proc.stdout


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


# --------------------------------------------------------------------------- real networks


def mtr8(lab, *argv: str) -> str:
    """Debian's mtr (mtr-tiny 0.95) in the lab's src: its report."""
    proc = lab.exec("src", ["mtr", "-r", "-n", *argv], capture_output=True, text=True,
                    timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def mtr8_loss(report: str) -> list[float]:
    return [float(line.split()[2].rstrip("%")) for line in report.splitlines()[2:]]


MTR_METHODS = [("-U", "-u"), ("-I", None), ("-T", "-T")]


@pytest.mark.root
@pytest.mark.parametrize("family", [4, 6])
def test_default_rate_limits_are_not_loss_where_mtr_is_fooled(make_lab, require_tool, family):
    # A clean chain of 8 routers with the kernel's ICMP rate limits, 20 rounds at 0.2 s
    # (mtr 0.95: 55% "loss" at every router). netdiag must report 0.0% Loss at every hop
    # and at the destination, for each method, and flag what it found rate-limited.
    require_tool("mtr")
    lab = make_lab(routers=8, icmp_ratelimit="default")
    dst = lab.addr("dst", family)
    for mine, theirs in MTR_METHODS:
        status, out = netdiag(lab, "mtr", f"-{family}", mine, "-r", "-n", "-c", "20", "-i",
                              "0.2", dst)  # fmt: skip
        assert status == 0
        print(f"netdiag mtr -{family} {mine} -r -n -c 20 -i 0.2\n{out}")
        if family == 4:  # the peer, side by side (its IPv6 figures are alike)
            peer = mtr8(lab, "-4", *([theirs] if theirs else []), "-c", "20", "-i", "0.2", dst)
            print(f"mtr -4 {theirs or ''} -r -n -c 20 -i 0.2\n{peer}")
        status, doc = netdiag(lab, "mtr", f"-{family}", mine, "--json", "-n", "-c", "20", "-i",
                              "0.2", dst)  # fmt: skip
        hosts = [h["hosts"][0] for h in json.loads(doc)["hops"]]
        assert [h["address"] for h in hosts] == lab.hops(family)
        assert [h["loss_pct"] for h in hosts] == [0.0] * 9, (mine, hosts)
        if family == 4 and mine == "-U":  # port unreachables are rate-limited too
            assert hosts[-1]["rate_limited"] and hosts[-1]["unanswered_pct"] > 0
        if mine != "-U":  # echo replies and TCP answers are not limited
            assert hosts[-1]["sent"] == 20 and hosts[-1]["unanswered_pct"] == 0.0


def wilson(k: float, n: int, z: float = 2.576) -> tuple[float, float]:
    """The 99% Wilson score interval of a binomial proportion k/n."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return centre - half, centre + half


@pytest.mark.root
def test_loss_on_a_link_shows_beyond_it_within_its_binomial_interval(make_lab, require_tool):
    # --loss 3:20 both ways, default rate limits, 200 rounds: every hop beyond link 3
    # shows a Loss% whose 99% interval holds the round-trip loss the nft counters
    # measured; every hop before it 0.0%.
    require_tool("mtr")
    lab = make_lab(routers=8, icmp_ratelimit="default", loss=["3:20"])
    dst = lab.addr("dst")
    before = [lab.loss_counters(3, d) for d in ("fwd", "rev")]
    status, doc = netdiag(lab, "mtr", "-I", "--json", "-n", "-c", "200", "-i", "0.2", dst)
    assert status == 0
    after = [lab.loss_counters(3, d) for d in ("fwd", "rev")]
    rates = [
        (a[0] - b[0]) / ((a[0] - b[0]) + (a[1] - b[1])) for a, b in zip(after, before, strict=True)
    ]
    truth = 1 - (1 - rates[0]) * (1 - rates[1])
    hosts = [h["hosts"][0] for h in json.loads(doc)["hops"]]
    peer = mtr8(lab, "-c", "20", "-i", "0.2", dst)
    print(f"link 3 dropped fwd {rates[0]:.3f} rev {rates[1]:.3f}: round trip {truth:.3f}")
    print("netdiag:", [(h["loss_pct"], h["unanswered_pct"], h["sent"]) for h in hosts])
    print(f"mtr -r -n -c 20 -i 0.2\n{peer}")
    assert [h["loss_pct"] for h in hosts[:3]] == [0.0] * 3
    for h in hosts[3:]:
        low, high = wilson(h["loss_pct"] / 100 * h["sent"], h["sent"])
        assert low <= truth <= high, (h, truth)
