"""``mtr --multipath``: the pure rounds (netdiag.trace.multipath.rounds) on simulated
paths, then the command in ECMP labs against the lab's nft loss counters, with mtr
run on the same lab for comparison.

Labs are removed at the end of each test; probes go only to lab addresses from the
lab's src, bounded by ``-c`` and ``-w``.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import os
import random
from contextlib import redirect_stdout

import pytest

from netdiag.cli import main
from netdiag.lab.lab import Lab
from netdiag.trace.multipath.graph import Reply
from netdiag.trace.multipath.rounds import BranchBook, RoundSession, pick_flows

_count = itertools.count(1)
DST = "198.51.100.9"


def diamond_paths(flows: int = 20, width: int = 4) -> dict:
    """Flow f takes branch f % width: r1 -> r2 -> bK -> jK (the join's Kth interface) -> dst."""
    return {f: ((1, "r1", False), (2, "r2", False), (3, f"b{f % width}", False),
                (4, f"j{f % width}", False), (5, DST, True)) for f in range(flows)}  # fmt: skip


def test_picked_flows_cross_every_address_and_link_once():
    paths = diamond_paths()
    picks = pick_flows(paths)
    assert len(picks) == 4  # one per branch: nothing is watched twice
    crossed = {(t, a) for f in picks for t, a, _ in paths[f]}
    assert crossed == {(t, a) for p in paths.values() for t, a, _ in p}


def test_a_round_ends_when_every_probe_is_answered_or_expired():
    s = RoundSession([(0, 1), (0, 2)], wait_ns=1000)
    assert s.next_probes(0) == [(0, 1), (0, 2)] and s.next_probes(1) == []
    s.answered(0, 1, Reply("r1", 10))
    s.answered(5, 1, Reply("x", 10))  # not in this round: ignored
    assert not s.done and s.next_deadline() == 1000
    s.expire(1000)
    assert s.done and s.results == {(0, 1): Reply("r1", 10), (0, 2): None}
    assert RoundSession([], 5).done


def _simulate(book: BranchBook, paths: dict, lose, rounds: int = 60, step: float = 0.1,
              answers=lambda address, at: True):  # fmt: skip
    """Run ``rounds`` rounds: probe (f, t) is lost when ``lose(f, t)`` (then every later
    TTL of that flow misses too: loss on the path), or unanswered when ``answers`` says
    its address has no token."""
    for k in range(rounds):
        at = k * step
        results = {}
        for f, t in book.plan(at):
            where = {tt: a for tt, a, _ in paths[f]}
            dropped = any(lose(f, tt) for tt in range(1, t + 1))
            a = where[t]
            ok = not dropped and answers(a, at)
            results[(f, t)] = Reply(a, 20_000, t == 5, t == 5) if ok else None
        book.record(at, results)
    return book.report()


def test_a_branch_that_loses_while_its_siblings_do_not_is_named_at_its_address():
    paths = diamond_paths()
    picks = pick_flows(paths)
    rng = random.Random(7)
    book = BranchBook(paths, picks, 4, limited_end=False)
    r = _simulate(book, paths, lambda f, t: f % 4 == 1 and t == 3 and rng.random() < 0.3)
    assert [(x.ttl, x.address, x.after) for x in r.faults] == [(3, "b1", False)]
    rows = {(x.ttl, x.address): x for x in r.rows}
    assert 15 < rows[(3, "b1")].loss_pct < 45 and rows[(3, "b1")].end_loss_pct > 15
    assert all(x.loss_pct == 0 for x in r.rows if x.address not in ("b1", "j1", DST))
    assert rows[(5, DST)].loss_pct < rows[(3, "b1")].loss_pct  # one branch in four loses
    assert not any(x.rate_limited for x in r.rows)


def test_loss_beyond_a_branch_address_is_placed_after_it():
    paths = diamond_paths()
    rng = random.Random(3)
    book = BranchBook(paths, pick_flows(paths), 4, limited_end=False)
    r = _simulate(book, paths, lambda f, t: f % 4 == 2 and t == 4 and rng.random() < 0.4)
    (fault,) = r.faults
    assert (fault.ttl, fault.address, fault.after, fault.starts) == (3, "b2", True, (4, "j2"))


def test_a_rate_limited_router_is_no_loss_and_no_fault():
    """r1 and r2 answer as a Linux router at the default limit (a token a second, 6 saved),
    the destination always (TCP): pacing keeps the probes within their buckets."""
    paths = diamond_paths()
    tokens = {"r1": 6.0, "r2": 6.0}
    last = {"r1": 0.0, "r2": 0.0}

    def answers(address: str, at: float) -> bool:
        if address not in tokens:
            return True
        tokens[address] = min(6.0, tokens[address] + at - last[address])
        last[address] = at
        if tokens[address] >= 1:
            tokens[address] -= 1
            return True
        return False

    book = BranchBook(paths, pick_flows(paths), 4, limited_end=False)
    r = _simulate(book, paths, lambda f, t: False, rounds=100, step=0.2, answers=answers)
    assert not r.faults and r.branched
    assert all(x.loss_pct == 0 for x in r.rows), [(x.ttl, x.address, x.loss_pct) for x in r.rows]
    first = next(x for x in r.rows if x.ttl == 1)
    assert first.sent < 40  # paced: about one probe a second, not four a round


def test_one_path_has_nothing_to_compare():
    paths = {0: ((1, "r1", False), (2, DST, True))}
    book = BranchBook(paths, pick_flows(paths), 4, limited_end=False)
    r = _simulate(book, paths, lambda f, t: False, rounds=5)
    assert not r.branched and not r.faults and r.rounds == 5


# --------------------------------------------------------------------------- labs


def _lab(**options) -> Lab:
    name = f"mr{os.getpid()}x{next(_count)}"
    Lab.down_name(name)
    return Lab.up(name, **options)


def _netdiag(lab: Lab, argv: list[str]) -> dict:
    out = io.StringIO()
    from netdiag.lab.netns import in_netns

    with in_netns(lab.src.netns), redirect_stdout(out):
        assert main(argv) == 0
    return json.loads(out.getvalue())


def _wilson(k: int, n: int, z: float = 2.576) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@pytest.mark.root
def test_a_lossy_branch_is_found_and_its_loss_is_the_counters(require_tool):
    """30 % forward loss on r2 -> r3b of a width-4 diamond: netdiag names r3b's branch,
    with the drop rate nft counted on that link; the other branches lose nothing. mtr on
    the same lab, for comparison, spreads its TCP probes over all branches."""
    require_tool("mtr")
    lab = _lab(routers=4, ecmp=["2:4"], icmp_ratelimit="off", loss=["r2-r3b:30:fwd"])
    try:
        gt = lab.ground_truth(4)
        link = lab.conditions.loss[0].link
        before = lab.loss_counters(link, "fwd")
        j = _netdiag(lab, ["mtr", "--multipath", "-T", "-n", "--json",
                           "-c", "60", "-i", "0.05", "-w", "1", gt.destination])  # fmt: skip
        dropped, passed = (a - b for a, b in zip(lab.loss_counters(link, "fwd"), before,
                                                 strict=True))  # fmt: skip
        theirs = lab.exec("src", ["mtr", "-n", "-r", "-T", "-P", "80", "-c", "60", "-i", "0.1",
                                  gt.destination], capture_output=True, text=True,
                          timeout=120).stdout  # fmt: skip
    finally:
        lab.down()
    rate = dropped / (dropped + passed)
    print(f"nft counted {dropped} of {dropped + passed} dropped on r2 -> r3b ({100 * rate:.1f}%)")
    for b in j["branches"]:
        print(
            f"  netdiag TTL {b['ttl']} {b['address']:>12}  flows {b['flows']}  "
            f"loss {b['loss_pct']:5.1f}%  end {b['end_loss_pct']:5.1f}%  sent {b['sent']}"
        )
    print("mtr -T on the same lab:\n" + theirs)
    r3b = set(gt.aliases["r3b"])
    (fault,) = j["faults"]
    assert fault["address"] in r3b and fault["ttl"] == 3 and not fault["after"]
    assert fault["siblings_loss_pct"] == 0.0
    row = next(b for b in j["branches"] if b["address"] in r3b)
    lo, hi = _wilson(round(row["sent"] * row["loss_pct"] / 100), row["sent"])
    assert lo <= rate <= hi or abs(row["loss_pct"] / 100 - rate) < 0.05, (row, rate)
    for b in j["branches"]:
        beyond = b["address"] in r3b or any(a in r3b for a in b["from"])
        if b["ttl"] >= 3 and not beyond and b["address"] != gt.destination:
            assert b["loss_pct"] == 0.0 and b["end_loss_pct"] == 0.0, b


@pytest.mark.root
def test_a_clean_diamond_under_default_rate_limits_shows_no_loss():
    """Width 4 at hop 2, the kernel's ICMP limits, -U (the destination's answers are
    limited too): no address shows loss and no branch is named."""
    lab = _lab(routers=4, ecmp=["2:4"], icmp_ratelimit="default")
    try:
        gt = lab.ground_truth(4)
        j = _netdiag(lab, ["mtr", "--multipath", "-n", "--json", "-c", "15", "-i", "0.2",
                           "-w", "1", gt.destination])  # fmt: skip
    finally:
        lab.down()
    for b in j["branches"]:
        print(
            f"  TTL {b['ttl']} {b['address']}  loss {b['loss_pct']}%  unans "
            f"{b['unanswered_pct']}%  RL {b['rate_limited']}  sent {b['sent']}"
        )
    assert len(j["flows"]) >= 4 and j["rounds"] == 15
    assert not j["faults"]
    assert all(b["loss_pct"] == 0.0 for b in j["branches"])


def test_mtr_multipath_bad_confidence_is_one_line_and_exit_2(capsys):
    assert main(["mtr", "--multipath", "--confidence", "20", "198.18.0.1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--confidence" in err[0]


@pytest.mark.root
def test_without_privileges_the_rounds_run_on_datagram_sockets(nobody_netdiag):
    """As uid nobody (-U on UDP sockets with IP_RECVERR, one per flow): the rounds watch
    both branches of a width-2 diamond and see no loss."""
    lab = _lab(routers=3, ecmp=["1:2"], icmp_ratelimit="off")
    try:
        gt = lab.ground_truth(4)
        code = (f"import sys; sys.path.insert(0, {nobody_netdiag.path!r}); from netdiag.cli "
                "import main; sys.exit(main(sys.argv[1:]))")  # fmt: skip
        argv = ["mtr", "--multipath", "--json", "-n", "-c", "5", "-i", "0.1", "-w", "1",
                gt.destination]  # fmt: skip
        nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
        proc = lab.exec("src", [*nobody, nobody_netdiag.python, "-c", code, *argv],
                        capture_output=True, text=True, timeout=120)  # fmt: skip
    finally:
        lab.down()
    assert proc.returncode == 0, proc.stderr
    j = json.loads(proc.stdout)
    assert "no raw sockets" in j["trace"]["notes"][0]
    branches = {b["address"] for b in j["branches"] if b["ttl"] == 2}
    assert branches == set(gt.hops[1].addresses), j["branches"]
    assert all(b["loss_pct"] == 0.0 for b in j["branches"]) and not j["faults"]
