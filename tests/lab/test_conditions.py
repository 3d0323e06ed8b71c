"""The lab's conditions: ICMP rate limits, loss, delay, silent tails, blackholes.

References: iputils ``ping`` and Debian ``traceroute`` run inside the lab, the
kernel's own nft counters (the ground truth of what a lossy link dropped), and
the kernel's documented rate-limit defaults (ip-sysctl.rst).
"""

from __future__ import annotations

import math
import os
import re
import statistics
import subprocess
import sys

import pytest

from netdiag.errors import UsageError
from netdiag.lab.conditions import (
    Conditions,
    Delay,
    Loss,
    loss_placement,
    loss_script,
    parse_delay,
    parse_loss,
    parse_ratelimit,
)
from netdiag.lab.lab import STATE_DIR, Lab, make_conditions
from netdiag.lab.relay import LIMIT, DelayLine

TIMEOUT = 30
PING_RTT = re.compile(r"time=([0-9.]+) ms")


def ping(lab: Lab, dst: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return lab.exec("src", ["ping", *flags, dst], capture_output=True, text=True, timeout=TIMEOUT)


def rtts(out: str) -> list[float]:
    return [float(x) for x in PING_RTT.findall(out)]


def binomial_interval(n: int, p: float, z: float = 2.576) -> tuple[float, float]:
    """99% normal-approximation interval for the count of n Bernoulli(p) trials."""
    sd = math.sqrt(n * p * (1 - p))
    return n * p - z * sd, n * p + z * sd


# --------------------------------------------------------------------------- pure


def test_option_texts_parse_as_the_help_says():
    assert parse_ratelimit("off") == 0
    assert parse_ratelimit("default") is None
    assert parse_ratelimit("250") == 250
    assert parse_loss("3:20") == Loss(3, 20.0, "both")
    assert parse_loss("0:0.5:fwd") == Loss(0, 0.5, "fwd")
    assert parse_loss("2:100%:rev") == Loss(2, 100.0, "rev")
    assert parse_delay("2:5/0.5") == [Delay(2, 5.0, 0.5)]
    assert parse_delay("all:5", routers=2) == [Delay(0, 5.0), Delay(1, 5.0), Delay(2, 5.0)]


@pytest.mark.parametrize(
    "call, word",
    [
        (lambda: parse_ratelimit("-5"), "milliseconds"),
        (lambda: parse_loss("3"), "LINK:PCT"),
        (lambda: parse_loss("3:0"), "above 0"),
        (lambda: parse_loss("3:101"), "at most 100"),
        (lambda: parse_loss("3:20:up"), "LINK:PCT"),
        (lambda: parse_delay("1:0"), "above 0"),
        (lambda: parse_delay("1:5/6"), "jitter"),
        (lambda: parse_delay("x:5"), "LINK:MS"),
        (lambda: make_conditions(3, loss=["4:10"]), "links are 0..3"),
        (lambda: make_conditions(3, loss=["1:10", "1:5:fwd"]), "given twice"),
        (lambda: make_conditions(3, delay=["1:5", "all:2"]), "given twice"),
        (lambda: make_conditions(3, silent_tail="r4"), "r1..r3"),
        (lambda: make_conditions(3, silent_tail="src"), "dst or a router"),
        (lambda: make_conditions(3, blackhole=0), "router 1..3"),
    ],
)
def test_bad_values_are_usage_errors_naming_the_option(call, word):
    with pytest.raises(UsageError, match=word) as info:
        call()
    assert "\n" not in str(info.value)


def test_loss_sits_on_the_receiving_end_of_each_direction():
    chain = ["src", "r1", "r2", "dst"]
    assert loss_placement(Loss(0, 5.0), chain) == [("r1", "eth0", "fwd"), ("src", "eth0", "rev")]
    assert loss_placement(Loss(2, 5.0, "fwd"), chain) == [("dst", "eth0", "fwd")]
    assert loss_placement(Loss(1, 5.0, "rev"), chain) == [("r1", "eth1", "rev")]
    script = loss_script("fwd", "eth0", 12.34)
    assert "numgen random mod 10000 < 1234" in script
    assert "133, 134, 135, 136, 137" in script  # neighbour discovery always passes


def test_conditions_survive_their_json_and_describe_themselves():
    c = make_conditions(4, "250", ["3:20:fwd"], ["all:1/0.5"], "r2", 4)
    assert Conditions.from_json(c.to_json()) == c
    text = "\n".join(c.describe())
    assert "icmp-ratelimit: 250 ms" in text
    assert "loss: link 3 20% fwd" in text
    assert "delay: link 4 1 ms ±0.5 ms one way" in text
    assert "silent tail: r2" in text and "blackhole: r4" in text
    assert "kernel default (1000 ms per token, burst 6" in Conditions().describe()[0]


def test_delay_line_keeps_order_and_bounds_what_it_holds():
    line = DelayLine(5_000_000, 2_000_000)
    dues = [line.admit(t * 100_000) for t in range(200)]
    assert all(d is not None for d in dues)
    assert dues == sorted(dues)  # jitter never reorders a direction
    for t, due in enumerate(dues):
        assert due is not None and due >= t * 100_000 + 3_000_000
    full = DelayLine(1_000)
    for _ in range(LIMIT):
        assert full.admit(0) is not None
    assert full.admit(0) is None and full.dropped == 1
    full.left()
    assert full.admit(0) is not None


# --------------------------------------------------------------------------- in the lab


@pytest.mark.root
def test_default_rate_limit_is_the_kernels_burst_of_six(make_lab):
    # peers.md: `ping -t1 -i 0.01 -c 50` through a router gets 6 answers.
    limited = make_lab(routers=1, icmp_ratelimit="default")
    out = ping(limited, limited.addr("dst"), "-t", "1", "-i", "0.01", "-c", "30", "-W", "1")
    errors = out.stdout.count("Time to live exceeded")
    assert 5 <= errors <= 7, out.stdout
    with limited.inside("r1"):
        with open("/proc/sys/net/ipv6/icmp/ratelimit") as f:
            assert f.read().strip() == "100"
    free = make_lab(routers=1)  # the fixture asks for "off"
    out = ping(free, free.addr("dst"), "-t", "1", "-i", "0.01", "-c", "30", "-W", "1")
    assert out.stdout.count("Time to live exceeded") == 30


@pytest.mark.root
def test_loss_drops_the_share_asked_and_its_counters_say_exactly_what(make_lab):
    lossy = make_lab(routers=2, loss=["1:20:fwd"])
    n = 600
    out = ping(lossy, lossy.addr("dst"), "-q", "-c", str(n), "-i", "0.002", "-W", "1")
    received = int(re.search(r"(\d+) received", out.stdout).group(1))
    dropped, passed = lossy.loss_counters(1, "fwd")
    assert dropped + passed == n  # only our echo requests crossed link 1 forward
    assert received == passed  # every missing reply is a counted drop, and only those
    low, high = binomial_interval(n, 0.20)
    assert low <= dropped <= high


@pytest.mark.root
def test_loss_in_one_direction_leaves_the_other_alone(make_lab):
    lossy = make_lab(routers=1, loss=["0:50:rev"])
    out = ping(lossy, lossy.addr("dst"), "-q", "-c", "200", "-i", "0.002", "-W", "1")
    received = int(re.search(r"(\d+) received", out.stdout).group(1))
    dropped, passed = lossy.loss_counters(0, "rev")
    assert received == passed and dropped + passed == 200
    with pytest.raises(UsageError, match="no loss fwd"):
        lossy.loss_counters(0, "fwd")


@pytest.mark.root
@pytest.mark.parametrize("family", [4, 6])
def test_delay_holds_within_a_fifth_of_a_millisecond_plus_five_percent(make_lab, family):
    delayed = make_lab(routers=2, delay=["1:5"])
    dst = delayed.addr("dst", family)
    ping(delayed, dst, f"-{family}", "-c", "2", "-i", "0.1", "-W", "2")  # neighbours known
    out = ping(delayed, dst, f"-{family}", "-c", "40", "-i", "0.02", "-W", "2")
    got = rtts(out.stdout)
    assert len(got) == 40, out.stdout
    # two passes of the link (there and back); the rest of the path adds < 0.2 ms
    want, slack = 10.0, 2 * (0.2 + 0.05 * 5.0)
    assert min(got) >= want - 0.05
    assert statistics.median(got) <= want + slack
    assert sorted(got)[int(0.9 * len(got))] <= want + slack


@pytest.mark.root
def test_delay_on_every_link_adds_up_and_jitter_stays_in_its_band(make_lab):
    delayed = make_lab(routers=3, delay=["all:2/1"])
    dst = delayed.addr("dst")
    ping(delayed, dst, "-c", "2", "-i", "0.1", "-W", "2")
    got = rtts(ping(delayed, dst, "-c", "40", "-i", "0.02", "-W", "2").stdout)
    assert len(got) == 40
    # 4 links, there and back: 16 ms, each pass 2 +- 1 ms
    assert 8.0 - 0.05 <= min(got) and max(got) <= 24.0 + 8 * 0.3
    assert statistics.pstdev(got) > 0.3  # the jitter is there


@pytest.mark.root
def test_silent_destination_drops_probes_without_a_word(make_lab, require_tool):
    require_tool("traceroute")
    quiet = make_lab(routers=2, silent_tail="dst")
    dst = quiet.addr("dst")
    assert ping(quiet, dst, "-c", "2", "-i", "0.1", "-W", "1").returncode == 1
    out = quiet.exec("src", ["traceroute", "-n", "-q", "1", "-w", "0.3", "-m", "5", dst],
                     capture_output=True, text=True, timeout=TIMEOUT)  # fmt: skip
    hops = [line.split()[1] for line in out.stdout.splitlines()[1:]]
    assert hops == ["198.18.0.2", "198.18.1.2", "*", "*", "*"], out.stdout


@pytest.mark.root
def test_a_silent_router_answers_for_itself_and_a_blackhole_does_not(make_lab, require_tool):
    require_tool("traceroute")
    for options, want in (
        ({"silent_tail": "r2"}, ["198.18.0.2", "198.18.1.2", "*", "*"]),
        ({"blackhole": 2}, ["198.18.0.2", "*", "*", "*"]),
    ):
        lab = make_lab(routers=3, **options)
        argv = ["traceroute", "-n", "-q", "1", "-w", "0.3", "-m", "4", lab.addr("dst")]
        out = lab.exec("src", argv, capture_output=True, text=True, timeout=TIMEOUT)
        hops = [line.split()[1] for line in out.stdout.splitlines()[1:]]
        assert hops == want, (options, out.stdout)


@pytest.mark.root
def test_cli_builds_shows_and_removes_every_condition():
    name = f"t{os.getpid()}cond"
    netdiag = [sys.executable, "-m", "netdiag", "lab"]

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*netdiag, *argv, "--name", name], capture_output=True,
                              text=True, timeout=TIMEOUT)  # fmt: skip

    try:
        up = run("up", "--routers", "2", "--icmp-ratelimit", "off", "--loss", "1:10:fwd",
                 "--delay", "0:1/0.2", "--silent-tail", "dst")  # fmt: skip
        assert up.returncode == 0, up.stderr
        shown = run("show")
        for text in ("icmp-ratelimit: off", "loss: link 1 10% fwd",
                     "delay: link 0 1 ms ±0.2 ms one way", "silent tail: dst"):  # fmt: skip
            assert text in up.stdout and text in shown.stdout
        relay = f"nd-{name}-relay"
        pids = subprocess.run(["ip", "netns", "pids", relay], capture_output=True, text=True)
        assert pids.stdout.split(), "the delay relay runs in its own namespace"
        attached = Lab.attach(name)
        assert attached.conditions.loss == (Loss(1, 10.0, "fwd"),)
    finally:
        assert run("down").returncode == 0
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"nd-{name}-" not in listed
    for pid in pids.stdout.split():  # gone, or a zombie its new parent has yet to reap
        try:
            with open(f"/proc/{pid}/stat") as f:
                assert f.read().rpartition(")")[2].split()[0] == "Z"
        except FileNotFoundError:
            pass
    assert not os.path.exists(os.path.join(STATE_DIR, f"{name}.json"))


@pytest.mark.root
@pytest.mark.parametrize(
    "argv, word",
    [
        (["--loss", "9:10"], "links are 0..2"),
        (["--delay", "1:abc"], "LINK:MS"),
        (["--icmp-ratelimit", "fast"], "milliseconds"),
        (["--silent-tail", "r9"], "r1..r2"),
    ],
)
def test_cli_bad_values_get_one_line_and_exit_2(argv, word):
    name = f"t{os.getpid()}bad"
    proc = subprocess.run([sys.executable, "-m", "netdiag", "lab", "up", "--name", name,
                           "--routers", "2", *argv], capture_output=True, text=True,
                          timeout=TIMEOUT)  # fmt: skip
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and word in proc.stderr
    assert f"nd-{name}-" not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                               text=True).stdout  # fmt: skip
