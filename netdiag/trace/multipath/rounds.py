"""The deciding half of ``mtr --multipath``: rounds over the flows a multipath trace
found, with loss and RTT per branch. Pure: the loop (:mod:`.mtr`) sends and reads.

1. :func:`pick_flows` chooses, from the trace's flow paths
   (:meth:`~netdiag.trace.multipath.core.MdaSession.paths`), a few flows that
   together cross every address and link the trace found (a greedy cover), so
   each branch is watched by at least one flow and no probe is spent twice on
   what one flow already shows.
2. :meth:`BranchBook.plan` gives a round's probes: every chosen flow at every TTL
   up to its end. The end of a flow (the destination, or an unreachable) is probed
   every round; an intermediate address only while its modelled ICMP bucket has a
   token (:class:`~netdiag.trace.ratelimit.Pacer`, one per address, shared by the
   flows crossing it), as single-path mtr paces its hops. A :class:`RoundSession`
   holds them while they are out; it speaks the session protocol of
   :class:`~netdiag.trace.multipath.core.MdaSession`, so both multipath loops (raw
   sockets, and the unprivileged datagram sockets) drive it.
3. :meth:`BranchBook.report` turns the counts into a :class:`BranchReport`. Each
   flow is one path: its per-TTL ``(sent, missed, explained)`` go through
   :func:`~netdiag.trace.ratelimit.path_loss` (misses the hop's bucket model
   explains, or that do not carry on to later hops, are unanswered, not lost). An
   address's ``Loss%`` is the mean path loss of the flows through it; ``End%`` is
   what those flows lose end to end.
4. *A branch that loses while its siblings do not* (:class:`BranchFault`): at a TTL
   with several addresses, the flows through one of them lose significantly more
   end to end than the flows through the others (two proportions, one-sided
   99.9 %, with at least ``MIN_END`` end probes on each side; fewer, and the
   report says the evidence is thin instead). Its loss starts where its flows' path
   loss first rises (that TTL's address is named), or "after" it when the address
   itself answers fine. A
   fault seen at consecutive TTLs of one branch is reported once, at its first.

A flow that answers from another address than before has moved (a route change,
or a rehash): the answer counts for the address that gave it and
:attr:`BranchReport.moved` counts such answers.
"""

from __future__ import annotations

import math

from netdiag.records import dataclass, field
from netdiag.trace.hopstats import HostAccumulator
from netdiag.trace.multipath.graph import Reply
from netdiag.trace.ratelimit import BucketModel, Pacer, PathLoss, default_period, path_loss

__all__ = ["pick_flows", "RoundSession", "BranchBook", "BranchRow", "BranchFault",
           "BranchReport"]  # fmt: skip

_Z = 3.09  # one-sided 99.9 %: the report is re-judged every round
MIN_END = 10  # end probes each side needs before branches are compared
MAX_FLOWS = 32

Path = tuple[tuple[int, str, bool], ...]


def pick_flows(paths: dict[int, Path], limit: int = MAX_FLOWS) -> list[int]:
    """Flows that together cross every (TTL, address) and link of ``paths``: each
    pick is the flow that adds most of what is not yet crossed (a flow that reached
    its end first, then the lower flow number)."""

    def items(p: Path) -> set[object]:
        nodes: set[object] = {(t, a) for t, a, _ in p}
        links = {(x[:2], y[:2]) for x, y in zip(p, p[1:], strict=False)}
        return nodes | links

    have = {f: items(p) for f, p in paths.items()}
    covered: set[object] = set()
    out: list[int] = []
    while len(out) < limit:
        best = max(have, default=None,
                   key=lambda f: (len(have[f] - covered), paths[f][-1][2], -f))  # fmt: skip
        if best is None or not have[best] - covered:
            break
        out.append(best)
        covered |= have.pop(best)
    return sorted(out)


class RoundSession:
    """One round's probes while they are out; :class:`MdaSession`'s protocol."""

    def __init__(self, probes: list[tuple[int, int]], wait_ns: int) -> None:
        self._todo = list(probes)
        self._wait = wait_ns
        self._pending: dict[tuple[int, int], int] = {}
        self.results: dict[tuple[int, int], Reply | None] = {}
        self.done = not probes
        self.stop_reason = "round" if self.done else ""

    def next_probes(self, now: int) -> list[tuple[int, int]]:
        batch, self._todo = self._todo, []
        for key in batch:
            self._pending[key] = now + self._wait
        return batch

    def answered(self, flow: int, ttl: int, reply: Reply) -> None:
        key = (flow, ttl)
        if key in self._pending:
            del self._pending[key]
            self.results[key] = reply
            self._settle()

    def failed(self, flow: int, ttl: int) -> None:
        if (flow, ttl) in self._pending:
            self._pending[(flow, ttl)] = -1

    def expire(self, now: int) -> None:
        for key, deadline in list(self._pending.items()):
            if deadline <= now:
                del self._pending[key]
                self.results[key] = None
        self._settle()

    def _settle(self) -> None:
        if not self._pending and not self._todo:
            self.done = True
            self.stop_reason = "round"

    def next_deadline(self) -> int | None:
        return min(self._pending.values()) if self._pending else None

    @property
    def in_flight(self) -> bool:
        return bool(self._pending)


@dataclass(frozen=True)
class BranchRow:
    """One address at one TTL, over the flows that cross it."""

    ttl: int
    address: str | None  # None: this TTL of these flows never answered
    flows: int  # chosen flows crossing it
    sent: int
    received: int
    loss_pct: float  # path loss up to here (mean over its flows)
    unanswered_pct: float  # unanswered here but not lost
    end_loss_pct: float  # what its flows lose at their end
    rate_limited: bool
    last_ms: float | None
    avg_ms: float | None
    best_ms: float | None
    worst_ms: float | None
    stdev_ms: float | None
    jitter_ms: float | None
    preds: tuple[str, ...] = ()  # addresses one TTL lower on the same flows


@dataclass(frozen=True)
class BranchFault:
    """The flows through ``address`` lose more than those through its siblings."""

    ttl: int
    address: str
    loss_pct: float  # end-to-end loss of its flows
    siblings_pct: float  # of the flows through the other addresses at its TTL
    z: float
    starts: tuple[int, str] | None  # (TTL, address) where its flows' path loss rises
    after: bool  # the address itself answers: the loss is on the way beyond it


@dataclass(frozen=True)
class BranchReport:
    rounds: int
    flows: tuple[int, ...]
    rows: tuple[BranchRow, ...]
    faults: tuple[BranchFault, ...]
    moved: int = 0  # answers from another address than the flow met there before
    branched: bool = False  # some TTL has several addresses: there is something to compare
    thin: bool = False  # some branch had fewer than MIN_END probes at its flows' ends


@dataclass
class _Node:
    sent: int = 0
    received: int = 0
    rtt: HostAccumulator = field(default_factory=HostAccumulator)


class BranchBook:
    """Everything the rounds have counted, per flow and TTL and per address."""

    def __init__(self, paths: dict[int, Path], flows: list[int], family: int,
                 limited_end: bool, first_ttl: int = 1,
                 router_of: dict[str, str] | None = None) -> None:  # fmt: skip
        """``router_of``: address -> the address naming its router (merged aliases share
        one bucket)."""
        self.flows = tuple(flows)
        self.router_of = router_of or {}
        self.first_ttl = first_ttl
        self.period = default_period(family)
        self.limited_end = limited_end  # the end answers with ICMP errors (-U): limited
        self.where: dict[tuple[int, int], str] = {}  # (flow, ttl) -> address met there
        self.end: dict[int, int] = {}
        deepest = max((t for p in paths.values() for t, _a, fin in p if fin), default=0)
        deepest = deepest or max((p[-1][0] for p in paths.values() if p), default=first_ttl)
        for f in flows:
            for t, a, fin in paths.get(f, ()):
                self.where[(f, t)] = a
                if fin:
                    self.end[f] = min(self.end.get(f, t), t)
            self.end.setdefault(f, deepest)
        self.counts: dict[tuple[int, int], list[int]] = {}  # (flow, ttl) -> [sent, missed]
        self.nodes: dict[tuple[int, str], _Node] = {}
        # A router limits the errors it sends us with one bucket, whatever the TTL: the
        # models and pacers are per address ("?" + TTL: flows not yet seen there).
        self.buckets: dict[str, BucketModel] = {}
        self.pacers: dict[str, Pacer] = {}
        self.rounds = 0
        self.moved = 0
        self.limited: dict[str, int] = {}  # misses each address's bucket explains
        #: (flow, ttl) -> its misses, as (bucket key, observation index)
        self.misses: dict[tuple[int, int], list[tuple[str, int]]] = {}

    def _node(self, ttl: int, address: str) -> _Node:
        n = self.nodes.get((ttl, address))
        if n is None:
            n = self.nodes[(ttl, address)] = _Node()
        return n

    def _pacer_key(self, f: int, t: int) -> str:
        a = self.where.get((f, t))
        return self.router_of.get(a, a) if a is not None else f"?{t}"

    def plan(self, at: float) -> list[tuple[int, int]]:
        """The round's probes at ``at`` seconds: every flow at every TTL up to its end
        while the address it meets there has a token (the trace has just spent them:
        the pacers start empty). The ends of the flows are probed every round, unless
        they answer with rate-limited errors (``-U``): then paced too, the flows taking
        turns at the head of the round."""
        out = []
        taken: set[str] = set()  # one over-budget try per address and round, at most
        n = len(self.flows)
        for i in range(n):
            f = self.flows[(i + self.rounds) % n]
            for t in range(self.first_ttl, self.end[f] + 1):
                is_end = t == self.end[f]
                if is_end and not self.limited_end:
                    out.append((f, t))
                    continue
                key = self._pacer_key(f, t)
                pacer = self.pacers.get(key)
                if pacer is None:
                    pacer = self.pacers[key] = Pacer(self.period, tokens=0.0)
                if pacer.take(at, tries=key not in taken):
                    out.append((f, t))
                taken.add(key)
        return sorted(out, key=lambda k: (k[1], k[0]))

    def _observe(self, address: str, at: float, answered: bool) -> tuple[str, int]:
        """Feed the router's bucket model; (its key, the observation's index)."""
        address = self.router_of.get(address, address)
        b = self.buckets.get(address)
        if b is None:
            b = self.buckets[address] = BucketModel(self.period, marks=True)
        return address, b.observe(at, answered)

    def record(self, at: float, results: dict[tuple[int, int], Reply | None]) -> None:
        """A round's outcomes (None: unanswered), sent at ``at`` seconds. An address that
        missed a flow the flow's later TTLs answered (no loss on the path, then) limits
        harder than its pacer thought: the pacer slows down."""
        self.rounds += 1
        for (f, t), r in sorted(results.items()):
            c = self.counts.setdefault((f, t), [0, 0])
            c[0] += 1
            pacer = self.pacers.get(self._pacer_key(f, t))
            if pacer is not None:
                pacer.outcome(at, r is not None)
                if r is None and any(results.get((f, tt)) for tt in range(t + 1, self.end[f] + 1)):
                    pacer.slow_down(at)
            known = self.where.get((f, t))
            if r is None:
                c[1] += 1
                if known is not None:
                    self._node(t, known).sent += 1
                    self.misses.setdefault((f, t), []).append(self._observe(known, at, False))
                continue
            if known is not None and known != r.address:
                self.moved += 1
            self.where[(f, t)] = r.address
            if r.final and t < self.end[f]:
                self.end[f] = t  # it ends earlier than the trace said
            n = self._node(t, r.address)
            n.sent += 1
            n.received += 1
            n.rtt.add(r.rtt_ns / 1e6)
            self._observe(r.address, at, True)

    # ------------------------------------------------------------------ report

    def _explained(self) -> dict[tuple[int, int], int]:
        """(flow, ttl) -> its misses that its router's bucket model explains: the very
        probes the likeliest start of the bucket had no token for (the flows sharing a
        router share its bucket, so which flow's probe found it empty is a matter of
        timing). :attr:`limited` gets each router's count: ``RL`` is one whose bucket
        explains 2 or more and that misses more than its flows lose (a hop missing more
        than the path for another reason, a lossy return path say, is only Unans%).
        The misses of an end that is not limited (``-T``, ``-I``) are never explained."""
        marks = {k: b.explains() for k, b in self.buckets.items()}
        out: dict[tuple[int, int], int] = {}
        self.limited = {}
        for (f, t), seen in self.misses.items():
            if t == self.end[f] and not self.limited_end:
                continue
            n = sum(marks[k][i] for k, i in seen)
            out[(f, t)] = n
            router = seen[0][0]  # the flow meets one router at one TTL
            self.limited[router] = self.limited.get(router, 0) + n
        return out

    def _flow_loss(self) -> dict[tuple[int, int], PathLoss]:
        """(flow, ttl) -> path loss along the flow. A flow with fewer than ``MIN_END``
        probes at its end is anchored on the pooled end figures of every flow ending at
        that address instead (a flow or two of one miss would make 100 % "loss")."""
        explained = self._explained()
        pool: dict[str | None, list[int]] = {}
        for f in self.flows:
            key = (f, self.end[f])
            if key in self.counts:
                p = pool.setdefault(self.where.get(key), [0, 0, 0])
                p[0] += self.counts[key][0]
                p[1] += self.counts[key][1]
                p[2] += explained.get(key, 0)
        out: dict[tuple[int, int], PathLoss] = {}
        for f in self.flows:
            ttls = [t for t in range(self.first_ttl, self.end[f] + 1) if (f, t) in self.counts]
            hops = [(self.counts[(f, t)][0], self.counts[(f, t)][1], explained.get((f, t), 0))
                    for t in ttls]  # fmt: skip
            if hops and ttls[-1] == self.end[f] and hops[-1][0] < MIN_END:
                sent, missed, expl = pool[self.where.get((f, self.end[f]))]
                hops[-1] = (sent, missed, expl)
            for t, pl in zip(ttls, path_loss(hops), strict=True):
                out[(f, t)] = pl
        return out

    def _end_counts(self, flows: list[int], loss: dict[tuple[int, int], PathLoss],
                    ) -> tuple[int, float]:  # fmt: skip
        """(sent, lost) at the end of ``flows``: lost as its path loss says (a miss the
        end's bucket explains is not lost)."""
        sent, lost = 0, 0.0
        for f in flows:
            key = (f, self.end[f])
            if key in self.counts:
                s = self.counts[key][0]
                sent, lost = sent + s, lost + s * loss[key].loss_pct / 100
        return sent, lost

    def report(self) -> BranchReport:
        loss = self._flow_loss()
        by_node: dict[tuple[int, str | None], list[int]] = {}
        for f in self.flows:
            for t in range(self.first_ttl, self.end[f] + 1):
                if (f, t) in self.counts:
                    by_node.setdefault((t, self.where.get((f, t))), []).append(f)
        rows = []
        for (t, a), fl in sorted(by_node.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            sent = sum(self.counts[(f, t)][0] for f in fl)
            pls = [(self.counts[(f, t)][0], loss[(f, t)]) for f in fl]
            lp = sum(s * p.loss_pct for s, p in pls) / sent if sent else 0.0
            up = sum(s * p.unanswered_pct for s, p in pls) / sent if sent else 0.0
            es, em = self._end_counts(fl, loss)
            node = self.nodes.get((t, a)) if a is not None else None
            h = node.rtt if node is not None and node.rtt.received else None
            preds = sorted({self.where[(f, t - 1)] for f in fl if (f, t - 1) in self.where})
            missed = sum(self.counts[(f, t)][1] for f in fl)
            # RL: its bucket explains misses, and it misses significantly more than its
            # flows lose at their end (a lossy path probed at the pace of a bucket
            # looks like one; it misses no more than the path loses)
            limited = (a is not None and self.limited.get(self.router_of.get(a, a), 0) >= 2
                       and _z(missed, sent, em, es) >= _Z)  # fmt: skip
            rows.append(BranchRow(
                t, a, len(fl), sent, node.received if node else 0, lp, up,
                100.0 * em / es if es else 0.0, limited,
                h.last if h else None, h.mean if h else None, h.best if h else None,
                h.worst if h else None, h.stdev if h else None, h.jitter if h else None,
                tuple(preds)))  # fmt: skip
        branched = any(sum(1 for t2, _a in by_node if t2 == t) > 1 for t, _a in by_node)
        faults, thin = self._faults(by_node, loss)
        return BranchReport(self.rounds, self.flows, tuple(rows), faults, self.moved, branched,
                            thin)  # fmt: skip

    def _faults(self, by_node: dict[tuple[int, str | None], list[int]],
                loss: dict[tuple[int, int], PathLoss],
                ) -> tuple[tuple[BranchFault, ...], bool]:  # fmt: skip
        """The faults, and whether some comparison lacked the probes to be made."""
        out: list[BranchFault] = []
        thin = False
        reported: set[frozenset[int]] = set()
        for (t, a), fl in sorted(by_node.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            if a is None:
                continue
            others = [f for (t2, a2), fl2 in by_node.items() if t2 == t and a2 != a
                      for f in fl2 if f not in fl]  # fmt: skip
            if not others:
                continue
            n1, x1 = self._end_counts(fl, loss)
            n2, x2 = self._end_counts(others, loss)
            if min(n1, n2) < MIN_END:
                thin = True
                continue
            z = _z(x1, n1, x2, n2)
            if z < _Z:
                continue
            key = frozenset(fl)
            if any(key >= r for r in reported):
                continue  # the same flows, already reported at a lower TTL
            reported.add(key)
            starts = None
            for tt in range(t, max(self.end[f] for f in fl) + 1):
                hit = [f for f in fl if (f, tt) in loss and loss[(f, tt)].loss_pct > 0]
                if hit:
                    starts = (tt, self.where.get((hit[0], tt), "???"))
                    break
            out.append(BranchFault(t, a, 100.0 * x1 / n1, 100.0 * x2 / n2, z, starts,
                                   starts is None or starts[0] > t))  # fmt: skip
        return tuple(out), thin


def _z(x1: float, n1: int, x2: float, n2: int) -> float:
    """Two proportions, x1/n1 above x2/n2: the one-sided z (0 without evidence)."""
    if not n1 or not n2:
        return 0.0
    p1, p2 = x1 / n1, x2 / n2
    p = (x1 + x2) / (n1 + n2)
    var = p * (1 - p) * (1 / n1 + 1 / n2)
    if var <= 0 or p1 <= p2:
        return 0.0
    return (p1 - p2) / math.sqrt(var)
