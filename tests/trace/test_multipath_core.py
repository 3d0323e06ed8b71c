"""MDA / MDA-Lite core against simulated load balancers: the stopping table from the
formula (checked against scamper tracelb's table in shared/notes/peers.md), and
topologies with seeded per-flow hashing, each traced 100 times at 99%.

The simulator is ours but independent of the core: a router picks one of its next
hops by a keyed hash (BLAKE2b of its seed and the flow's number), the way Linux
hashes the 5-tuple with a per-router ``fib_multipath_hash_seed``.
"""

from __future__ import annotations

import hashlib
import random

import pytest

from netdiag.trace.multipath.core import MdaSession, MdaSettings, Reply
from netdiag.trace.multipath.stopping import probes_needed, stopping_table

SCAMPER_95 = (6, 11, 16, 21, 27)  # shared/notes/peers.md: scamper tracelb -c 95
SCAMPER_99 = (8, 15, 21, 28, 36)


def test_stopping_table_at_95_is_scampers():
    assert stopping_table(95) == SCAMPER_95


def test_stopping_table_at_99_is_scampers():
    assert stopping_table(99) == SCAMPER_99


def test_stopping_rule_bounds_the_miss_probability():
    # with k+1 next hops, n_k flows all missing one of them is at most alpha (union bound)
    for c in (90, 95, 99):
        for k in range(1, 12):
            n = probes_needed(k, c)
            assert (k + 1) * (k / (k + 1)) ** n <= 1 - c / 100
            assert (k + 1) * (k / (k + 1)) ** (n - 1) > 1 - c / 100


def test_bad_confidence_is_refused():
    with pytest.raises(ValueError):
        probes_needed(1, 100)


# --------------------------------------------------------------------------- simulator


class Net:
    """Routers with next hops; ``edges[a] = [b, ...]``; the source sends to ``first``."""

    def __init__(self, first: str, edges: dict[str, list[str]], dst: str, seed: int,
                 silent: frozenset[str] = frozenset(), loss: float = 0.0,
                 budget: dict[str, int] | None = None) -> None:  # fmt: skip
        self.first, self.edges, self.dst = first, edges, dst
        self.budget = dict(budget or {})  # router -> answers it gives at all (rate limits)
        self.seed = seed
        self.silent = silent
        self.loss = loss
        self.rng = random.Random(seed * 7 + 1)

    def choose(self, router: str, flow: int) -> str:
        nxt = self.edges[router]
        if len(nxt) == 1:
            return nxt[0]
        h = hashlib.blake2b(f"{self.seed}/{router}/{flow}".encode(), digest_size=8).digest()
        return nxt[int.from_bytes(h, "big") % len(nxt)]

    def at(self, flow: int, ttl: int) -> str:
        node = self.first
        for _ in range(ttl - 1):
            if node == self.dst:
                break
            node = self.choose(node, flow)
        return node

    def truth(self) -> tuple[set[str], set[tuple[str, str]]]:
        nodes, links, todo = {self.first}, set(), [self.first]
        while todo:
            a = todo.pop()
            for b in self.edges.get(a, []):
                links.add((a, b))
                if b not in nodes:
                    nodes.add(b)
                    todo.append(b)
        return nodes - self.silent, {(a, b) for a, b in links
                                     if a not in self.silent and b not in self.silent}  # fmt: skip


def run(net: Net, confidence: float = 99, lite: bool = True,
        routers: dict[str, str] | None = None) -> tuple[MdaSession, int]:  # fmt: skip
    """Trace ``net``; ``routers`` (address -> router) answers the alias tests between
    batches, as the Mercator test does where a router answers from one address."""
    s = MdaSession(MdaSettings(confidence=confidence, lite=lite, max_ttl=20))
    now = 0
    rounds = 0
    while not s.done:
        for fresh, among in s.untested() if routers is not None else []:
            groups: dict[str, list[str]] = {}
            for a in among:
                groups.setdefault(routers.get(a, a), []).append(a)
            s.merge(fresh, [tuple(g) for g in groups.values() if len(g) > 1])
        batch = s.next_probes(now)
        for f, t in batch:
            node = net.at(f, t)
            if node in net.silent or (net.loss and net.rng.random() < net.loss):
                continue
            if node in net.budget:
                net.budget[node] -= 1
                if net.budget[node] < 0:
                    continue
            fin = node == net.dst
            s.answered(f, t, Reply(node, 100_000 + t, final=fin, reached=fin))
        now += 3_000_000_000
        s.expire(now)
        rounds += bool(batch)
        assert rounds < 2000
    return s, rounds


def chain(*levels: list[str]) -> dict[str, list[str]]:
    """Full bipartite links between consecutive levels."""
    return {a: list(nxt) for cur, nxt in zip(levels, levels[1:], strict=False) for a in cur}


def diamond(width: int, at: int = 2) -> tuple[str, dict[str, list[str]], str]:
    pre = [[f"r{i}"] for i in range(1, at + 1)]
    return "r1", chain(*pre, [f"b{i}" for i in range(width)], ["j"], ["d"]), "d"


def _topologies() -> dict[str, tuple[str, dict[str, list[str]], str]]:
    t = {f"diamond{w}@{at}": diamond(w, at) for w in (2, 4, 8) for at in (1, 2)}
    t["series2x3"] = ("r1", chain(["r1"], ["a0", "a1"], ["j1"], ["c0", "c1", "c2"], ["j2"],
                                  ["d"]), "d")  # fmt: skip
    t["meshed2x2"] = ("r1", chain(["r1"], ["b0", "b1"], ["c0", "c1"], ["j"], ["d"]), "d")
    t["meshed3x3"] = ("r1", chain(["r1"], ["b0", "b1", "b2"], ["c0", "c1", "c2"], ["d"]), "d")
    t["unequal"] = ("r1", {"r1": ["b0", "b1"], "b0": ["j"], "b1": ["x"], "x": ["j"],
                           "j": ["d"]}, "d")  # fmt: skip
    parallel = {f"b{i}": [f"c{i}"] for i in range(4)} | {f"c{i}": ["j"] for i in range(4)}
    t["parallel4"] = ("r1", {"r1": ["b0", "b1", "b2", "b3"], **parallel, "j": ["d"]}, "d")
    t["uneven"] = ("r1", {"r1": ["b0", "b1"], "b0": ["c0", "c1"], "b1": ["c2"], "c0": ["j"],
                          "c1": ["j"], "c2": ["j"], "j": ["d"]}, "d")  # fmt: skip
    return t


TOPOLOGIES = _topologies()


def found(s: MdaSession) -> tuple[set[str], set[tuple[str, str]]]:
    d = s.discovery()
    return {n.address for n in d.nodes}, {(link.src, link.dst) for link in d.links}


@pytest.mark.parametrize("name", sorted(TOPOLOGIES))
def test_mda_lite_finds_every_node_and_link_in_95_of_100_runs_at_99(name):
    first, edges, dst = TOPOLOGIES[name]
    ok, probes = 0, []
    for seed in range(100):
        net = Net(first, edges, dst, seed)
        s, _ = run(net, 99)
        ok += found(s) == net.truth()
        probes.append(s.probes)
        assert s.stop_reason == "reached"
    print(f"{name}: {ok}/100 complete, probes min/avg/max "
          f"{min(probes)}/{sum(probes) / len(probes):.1f}/{max(probes)}")  # fmt: skip
    assert ok >= 95


@pytest.mark.parametrize("name", ["diamond4@2", "meshed2x2", "series2x3"])
def test_full_mda_finds_the_same_and_lite_spends_fewer_probes(name):
    first, edges, dst = TOPOLOGIES[name]
    lite = full = 0
    for seed in range(20):
        s_lite, _ = run(Net(first, edges, dst, seed), 95)
        s_full, _ = run(Net(first, edges, dst, seed), 95, lite=False)
        assert found(s_full)[0] >= found(s_lite)[0] - {"x"}
        lite += s_lite.probes
        full += s_full.probes
    print(f"{name} at 95%: MDA-Lite {lite / 20:.1f} probes, MDA {full / 20:.1f}")
    assert lite <= full


def test_a_single_path_costs_n1_probes_per_hop():
    net = Net("r1", chain(["r1"], ["r2"], ["r3"], ["d"]), "d", 1)
    s, rounds = run(net, 95)
    assert s.probes == 4 * SCAMPER_95[0]
    assert [h.addresses for h in s.discovery().hops] == [("r1",), ("r2",), ("r3",), ("d",)]
    assert rounds == 4


def test_lost_probes_are_retried_and_counted_per_router():
    first, edges, dst = TOPOLOGIES["diamond4@2"]
    ok = 0
    for seed in range(30):
        net = Net(first, edges, dst, seed, loss=0.1)
        s, _ = run(net, 99)
        ok += found(s) == net.truth()
        d = s.discovery()
        assert sum(n.lost for n in d.nodes) > 0
        assert all(0 <= n.loss < 1 for n in d.nodes)
    assert ok >= 27


def test_a_silent_router_leaves_a_gap_link_and_the_trace_goes_on():
    net = Net("r1", chain(["r1"], ["r2"], ["r3"], ["d"]), "d", 1, silent=frozenset({"r2"}))
    s, _ = run(net, 95)
    d = s.discovery()
    assert {(lk.src, lk.dst, lk.gap) for lk in d.links} == {("r1", "r3", 1), ("r3", "d", 0)}
    assert s.stop_reason == "reached"


def test_a_silent_tail_stops_after_max_silent_ttls():
    net = Net("r1", chain(["r1"], ["r2"], ["r3"], ["d"]), "d", 1, silent=frozenset({"r3", "d"}))
    s, _ = run(net, 95)
    assert s.stop_reason == "silent"
    assert s.discovery().stop_ttl == 2 + 3
    # each silent TTL costs n_1 flows, each tried twice (MdaSettings.attempts)
    assert [h.sent for h in s.discovery().hops[2:]] == [2 * SCAMPER_95[0]] * 3


def test_link_shares_follow_the_flows():
    first, edges, dst = TOPOLOGIES["diamond2@1"]
    s, _ = run(Net(first, edges, dst, 3), 99)
    shares = [lk.share for lk in s.discovery().links if lk.src == "r1"]
    assert len(shares) == 2 and abs(sum(shares) - 1) < 1e-9 and min(shares) > 0.2


def test_merged_aliases_make_the_stopping_rule_count_routers():
    # a router that answers from its ingress interface: c0..c3 are one router at TTL 3
    edges = {"r1": ["b0", "b1", "b2", "b3"], **{f"b{i}": [f"c{i}"] for i in range(4)},
             **{f"c{i}": ["d"] for i in range(4)}}  # fmt: skip
    one_router = {f"c{i}": "J" for i in range(4)}
    ok, by_address, by_router = 0, [], []
    for seed in range(100):
        net = Net("r1", edges, "d", seed)
        plain, _ = run(net, 99)
        merged, _ = run(net, 99, routers=one_router)
        ok += found(merged) == net.truth()
        by_address.append(next(h.sent for h in plain.discovery().hops if h.ttl == 3))
        by_router.append(next(h.sent for h in merged.discovery().hops if h.ttl == 3))
    print(f"TTL 3 probes: {sum(by_address) / 100:.1f} counting addresses, "
          f"{sum(by_router) / 100:.1f} counting routers")  # fmt: skip
    assert ok >= 95
    assert sorted(by_address)[5] >= SCAMPER_99[3]  # n_4: four addresses need 28 flows
    assert max(by_router) < min(by_address)


def test_a_hop_short_of_answers_says_the_confidence_was_not_reached():
    first, edges, dst = TOPOLOGIES["diamond4@2"]
    s, _ = run(Net(first, edges, dst, 5, budget={"j": 3}), 95)
    hop = next(h for h in s.discovery().hops if h.ttl == 4)
    assert hop.addresses == ("j",) and hop.short and hop.answered == 3
    assert not [h for h in s.discovery().hops if h.ttl != 4 and h.short]


def _rate_limited_run(net: Net, limited: set[str], iface: frozenset[str] = frozenset(),
                      step_ns: int = 50_000_000):  # fmt: skip
    """Trace ``net`` in 50 ms steps, each router of ``limited`` answering as Linux does
    at the default limit (a token a second, 6 saved, one bucket per router); a router
    of ``iface`` answers from the interface the probe came in on (``j@b0``). Returns
    the session and the simulated seconds it took."""
    s = MdaSession(MdaSettings(confidence=95, max_ttl=20))
    tokens = {r: 6.0 for r in limited}
    last = {r: 0 for r in limited}
    now = 0
    while not s.done:
        for f, t in s.next_probes(now):
            node = net.at(f, t)
            if node in tokens:
                tokens[node] = min(6.0, tokens[node] + (now - last[node]) / 1e9)
                last[node] = now
                if tokens[node] < 1:
                    continue
                tokens[node] -= 1
            fin = node == net.dst
            address = f"{node}@{net.at(f, t - 1)}" if node in iface else node
            s.answered(f, t, Reply(address, 100_000, final=fin, reached=fin))
        now += step_ns
        s.expire(now)
        assert now < 600e9
    return s, now / 1e9


def test_rate_limited_hops_wait_for_their_tokens_side_by_side():
    """Width 4 at hop 2, every router limited, the join answering from its four ingress
    interfaces (four vertices, one bucket: the lab's r4): the retries of the branch
    routers and the probes of the join overlap, and every branch is found."""
    first, edges, dst = diamond(4, 2)
    net = Net(first, edges, dst, seed=5)
    s, seconds = _rate_limited_run(net, set(edges) | {dst}, frozenset({"j"}))
    print(f"simulated: {seconds:.2f} s, {s.probes} probes")
    nodes, _links = found(s)
    assert {n for n in nodes if n.startswith("j@")} == {f"j@b{i}" for i in range(4)}
    assert {f"b{i}" for i in range(4)} | {"r1", "r2", "d"} <= nodes
    assert seconds < 8.0  # 6.75 s; 9.1 s when a waiting retry held every other TTL back
