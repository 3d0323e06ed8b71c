"""The deciding half of ``traceroute --multipath``: MDA and MDA-Lite, pure.

No sockets, no clocks (STYLE habit 4). A *flow* is a small integer; the loop maps
it to the fields a load balancer hashes (UDP/TCP source port, the echo
identifier for ICMP) and keeps everything else constant, Paris style. Per-flow
hashing sends one flow along one path, so the answer of flow ``f`` at TTL ``t``
names the interface that flow meets there, every time it is asked.

The session is run in batches: :meth:`MdaSession.next_probes` hands out every
(flow, TTL) probe that the current knowledge calls for, the loop sends them and
feeds :meth:`answered` (and :meth:`expire` with ``now``); once the batch is
resolved the next one is planned. A probe without an answer is tried again
(``attempts``), then counted lost.

Planning is a fixpoint over the TTLs seen so far, lowest first, so a vertex found
late (by node control at a lower TTL) gets its own links checked before going on:

1. *Hop level* (MDA-Lite, Vermeulen et al., IMC 2018): at TTL ``t`` with ``k``
   vertices found, ``n_k`` answered flows (:mod:`stopping`). The flows are those
   already answered at the previous TTL, taken round-robin over its vertices (a
   hop's flows explore the next hop; nothing is re-probed at a hop whose
   successors are known), then new flows.
2. *Links*: every vertex at ``t`` gets one flow also answered at the previous
   TTL, and every vertex at the previous TTL one flow answered at ``t``.
3. *Fallback to MDA* (Augustin et al., "Multipath tracing with Paris
   traceroute"): when both the previous TTL and ``t`` have several vertices,
   the hop may be meshed or not uniform, which MDA-Lite's hop-level count would
   miss. Then each vertex ``u`` at the previous TTL with ``k_u`` successors gets
   ``n_{k_u}`` flows through it probed at ``t``; flows that reach ``u`` are made
   by probing new flows at ``u``'s TTL (node control). ``lite=False`` applies
   this everywhere (full MDA).

With :meth:`MdaSession.merge` (alias test results the loop feeds between batches:
the Mercator test) the counts are of routers, not addresses (multilevel MDA-Lite):
a router that answers from the interface each probe came in on is one vertex. A
silent TTL gets its hop-level flows and nothing more. A probe lost at a TTL that
answers others waits ``RETRY_PAUSE_NS`` before its retry (ICMP rate limits); while
it waits, the other TTLs are planned, and the next one once the frontier answered,
so the waits of rate-limited routers at successive TTLs overlap.
:class:`MpHop` says where fewer flows answered than the rule needs.

The trace ends when every flow reached a final answer (the destination, or an
unreachable), after ``max_silent`` silent TTLs, at ``max_ttl``, or when the
probe budget is spent; :attr:`MdaSession.stop_reason` says which.
"""

from __future__ import annotations

from netdiag.records import dataclass
from netdiag.trace.multipath.graph import Acc, Discovery, MpHop, MpLink, MpNode, Reply
from netdiag.trace.multipath.stopping import probes_needed

__all__ = ["Reply", "MdaSettings", "MdaSession", "MpNode", "MpLink", "MpHop", "Discovery"]


_NS = 1_000_000_000
ADAPT = 4  # a probe waits ADAPT x the largest RTT seen ...
WAIT_FLOOR_NS = 250_000_000  # ... at least this, at most MdaSettings.wait_ns
#: A probe lost at a TTL that answers others is sent again after this: Linux routers
#: give one ICMP error token per second to a peer (icmp_ratelimit 1000 ms, burst 6).
RETRY_PAUSE_NS = 1_000_000_000
#: MDA-Lite's meshing test: flows through each vertex of a one-to-one looking hop.
MESH_TEST = 2


@dataclass(frozen=True)
class MdaSettings:
    confidence: float = 95.0
    first_ttl: int = 1
    max_ttl: int = 30
    max_silent: int = 3
    attempts: int = 2  # sends of one (flow, TTL) before it counts as lost
    wait_ns: int = 2 * _NS
    lite: bool = True
    max_probes: int = 5000
    max_flows: int = 4000


class MdaSession:
    """One multipath trace; see the module text for the algorithm."""

    def __init__(self, settings: MdaSettings | None = None) -> None:
        self.settings = st = settings or MdaSettings()
        if not st.first_ttl <= st.max_ttl:
            raise ValueError("first_ttl beyond max_ttl")
        self.confidence = st.confidence
        self._ans: dict[int, dict[int, Reply]] = {}  # ttl -> flow -> reply
        self._lost: dict[int, set[int]] = {}  # ttl -> flows lost after every attempt
        self._tries: dict[tuple[int, int], int] = {}
        self._pending: dict[tuple[int, int], int] = {}  # (flow, ttl) -> deadline
        self._retry: dict[tuple[int, int], int] = {}  # (flow, ttl) -> when to resend
        self._final_at: dict[int, int] = {}  # flow -> lowest TTL it ended at
        self._router: dict[str, str] = {}  # address -> the address naming its router
        self._tested: set[str] = set()
        self._spawned: dict[tuple[int, str], int] = {}  # node control: (ttl, vertex) -> flows
        self._frontier = st.first_ttl
        self._next_flow = 0
        self._max_rtt = 0
        self.probes = 0
        self.done = False
        self.stop_reason = ""
        self._need = {k: probes_needed(k, st.confidence) for k in range(1, 65)}

    # ------------------------------------------------------------------ loop side

    def next_probes(self, now: int) -> list[tuple[int, int]]:
        """The (flow, TTL) probes to send now; empty while a batch is out, or when done."""
        if self.done or self._pending:
            return []
        batch = [k for k, due in self._retry.items() if due <= now]
        for k in batch:
            del self._retry[k]
        if not batch and self._retry:
            # Retries wait for a router's ICMP tokens to come back: meanwhile, what the
            # TTLs without waiting retries call for, and the next TTL once the frontier
            # answers (its flows are known: the rate-limited waits overlap).
            batch = self._plan()
            if not batch and self._may_advance_early():
                self._advance()
                batch = self._plan()
            if not batch:
                return []
        while not batch and not self.done:
            batch = self._plan()
            if not batch:
                self._advance()
        room = self.settings.max_probes - self.probes
        if len(batch) > room:
            batch = batch[: max(0, room)]
            if not batch:
                self._finish("probe budget spent")
                return []
        wait = min(self.settings.wait_ns, max(WAIT_FLOOR_NS, ADAPT * self._max_rtt))
        for key in batch:
            self._tries[key] = self._tries.get(key, 0) + 1
            self._pending[key] = now + wait
        self.probes += len(batch)
        return batch

    def answered(self, flow: int, ttl: int, reply: Reply) -> None:
        """The answer to probe (flow, ttl); late and repeated answers are fine."""
        key = (flow, ttl)
        if key not in self._tries:
            return
        self._pending.pop(key, None)
        at = self._ans.setdefault(ttl, {})
        if flow in at:
            return
        at[flow] = reply
        self._lost.get(ttl, set()).discard(flow)
        self._retry.pop(key, None)
        self._max_rtt = max(self._max_rtt, reply.rtt_ns)
        if reply.final and ttl < self._final_at.get(flow, 1 << 30):
            self._final_at[flow] = ttl

    def failed(self, flow: int, ttl: int) -> None:
        """The probe could not be sent (it counts as unanswered at once)."""
        if (flow, ttl) in self._pending:
            self._pending[(flow, ttl)] = -1

    def expire(self, now: int) -> None:
        for key, deadline in list(self._pending.items()):
            if deadline <= now:
                del self._pending[key]
                if self._tries[key] < self.settings.attempts:
                    # the hop answered other flows: rate limiting, likely; wait for a token
                    pause = RETRY_PAUSE_NS if self._ans.get(key[1]) else 0
                    self._retry[key] = now + pause
                else:
                    self._lost.setdefault(key[1], set()).add(key[0])

    def next_deadline(self) -> int | None:
        """When the loop must call :meth:`expire` or :meth:`next_probes` again."""
        times = [*self._pending.values(), *self._retry.values()]
        return min(times) if times else None

    # ------------------------------------------------------------------ knowledge

    def _alive(self, flow: int, ttl: int) -> bool:
        """The flow has not ended below ``ttl``."""
        return self._final_at.get(flow, 1 << 30) >= ttl

    def vertices(self, ttl: int, routers: bool = False) -> dict[str, list[int]]:
        """Address (``routers``: router, as merged by :meth:`merge`) -> flows that met it
        at ``ttl`` (in flow order)."""
        out: dict[str, list[int]] = {}
        name = self._router if routers else {}
        for f, r in sorted(self._ans.get(ttl, {}).items()):
            if self._alive(f, ttl):
                out.setdefault(name.get(r.address, r.address), []).append(f)
        return out

    def _at(self, ttl: int, flow: int) -> str:
        """The router flow ``flow`` met at ``ttl`` (it answered there)."""
        a = self._ans[ttl][flow].address
        return self._router.get(a, a)

    def untested(self) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
        """(new addresses, all addresses) of each TTL with several routers, where some
        addresses have not been through an alias test (see :meth:`merge`); the loop may
        test them between batches."""
        out = []
        for t in range(self.settings.first_ttl, self._frontier + 1):
            here = {a: fl for a, fl in self.vertices(t).items() if not self._is_final(t, fl)}
            fresh = tuple(a for a in here if a not in self._tested)
            if fresh and len(here) > 1:
                out.append((fresh, tuple(here)))
        return out

    @property
    def in_flight(self) -> bool:
        """Probes are out, waiting for answers or expiry."""
        return bool(self._pending)

    @property
    def tested(self) -> frozenset[str]:
        """The addresses that have been through an alias test."""
        return frozenset(self._tested)

    def merge(self, tested: tuple[str, ...], groups: list[tuple[str, ...]]) -> None:
        """Alias test results: ``tested`` addresses, ``groups`` of them that are one router.
        From then on the stopping rule counts routers, not addresses (multilevel MDA-Lite)."""
        self._tested.update(tested)
        for g in groups:
            head = self._router.get(g[0], g[0])
            for a in g:
                for b, r in list(self._router.items()):  # keep the mapping flat
                    if r == a:
                        self._router[b] = head
                self._router[a] = head

    def _prev(self, ttl: int) -> int | None:
        for t in range(ttl - 1, self.settings.first_ttl - 1, -1):
            if self._ans.get(t):
                return t
        return None

    def _tried(self, ttl: int) -> int:
        return sum(1 for f, t in self._tries if t == ttl)

    def _is_final(self, ttl: int, flows: list[int]) -> bool:
        return any(self._ans[ttl][f].final for f in flows)

    def _new_flows(self, n: int) -> list[int]:
        n = max(0, min(n, self.settings.max_flows - self._next_flow))
        first = self._next_flow
        self._next_flow += n
        return list(range(first, first + n))

    def _n(self, k: int) -> int:
        return self._need.get(max(1, k)) or probes_needed(k, self.confidence)

    # ------------------------------------------------------------------ planning

    def _plan(self) -> list[tuple[int, int]]:
        for t in range(self.settings.first_ttl, self._frontier + 1):
            want = self._plan_hop(t)
            if want:
                return list(dict.fromkeys(want))
        return []

    def _may_advance_early(self) -> bool:
        """The frontier answered, not finally, below ``max_ttl``: going on cannot end the
        trace (that waits for the retries)."""
        t = self._frontier
        here = self.vertices(t)
        return (bool(here) and t < self.settings.max_ttl
                and not all(self._is_final(t, fl) for fl in here.values()))  # fmt: skip

    def _plan_hop(self, t: int) -> list[tuple[int, int]]:
        if any(k[1] == t for k in self._retry):
            return []  # its retries decide what it still needs
        ans = self._ans.get(t, {})
        here = self.vertices(t, routers=True)
        p = self._prev(t)
        before = self.vertices(p, routers=True) if p is not None else {}
        live_before = {u: fl for u, fl in before.items() if p is not None
                       and not self._is_final(p, fl)}  # fmt: skip
        # 1. hop level
        answered = sum(len(fl) for fl in here.values())
        need = self._n(len(here))
        cap = need if not ans else 2 * need
        tried = self._tried(t)
        if answered < need and tried < cap:
            short = min(need - answered, cap - tried)
            take = self._reuse(live_before, t, short)
            take += self._new_flows(short - len(take))
            if take:
                return [(f, t) for f in take]
        if p is None:
            return []
        out: list[tuple[int, int]] = []
        # 2. links: a predecessor for every vertex here, a successor for every one before
        for fl in here.values():
            if not any(f in self._ans[p] for f in fl):
                spare = [f for f in fl if (f, p) not in self._tries]
                out += [(f, p) for f in spare[:1]]
        if out:
            return out
        if not ans:  # a silent TTL: the hop-level flows were its chance
            return []
        deficit = {u: 1 for u, fl in live_before.items() if not any(f in ans for f in fl)}
        # 3. a hop that may be meshed or uneven: full MDA per vertex before it
        if not deficit and (not self.settings.lite or (len(live_before) > 1 and len(here) > 1)):
            succ = {u: {self._at(t, f) for f in fl if f in ans} for u, fl in live_before.items()}
            preds: dict[str, set[str]] = {}
            for u, fl in live_before.items():
                for f in fl:
                    if f in ans:
                        preds.setdefault(self._at(t, f), set()).add(u)
            one_to_one = all(len(x) <= 1 for x in (*succ.values(), *preds.values()))
            for u, fl in live_before.items():
                have = sum(1 for f in fl if f in ans)
                need_u = (MESH_TEST if self.settings.lite and one_to_one
                          else self._n(len(succ[u])))  # fmt: skip
                if have < need_u:
                    deficit[u] = need_u - have
        return self._through(t, p, live_before, deficit)

    def _through(self, t: int, p: int, before: dict[str, list[int]],
                 deficit: dict[str, int]) -> list[tuple[int, int]]:  # fmt: skip
        """``deficit[u]`` more flows through vertex ``u`` (at ``p``) probed at ``t``: its
        own untried flows first, else new flows probed at ``p`` (node control), as many
        as the largest deficit times the vertices at ``p`` (a new flow meets each
        vertex of a uniform hop with probability 1 / their number)."""
        out: list[tuple[int, int]] = []
        short = 0
        width = len(before)
        for u, n in deficit.items():
            fl = before[u]
            if len(self._lost.get(t, set()).intersection(fl)) >= self._n(1):
                continue  # what follows it does not answer these flows
            spare = [f for f in fl if (f, t) not in self._tries]
            out += [(f, t) for f in spare[:n]]
            n -= len(spare[:n])
            if n <= 0:
                continue
            made = self._spawned.get((p, u), 0)
            if made >= 3 * width * max(self._n(1), n) + 8 * width:
                continue  # node control keeps missing it, or its flows are never answered
            short = max(short, n)
        if short and not out:
            new = self._new_flows(short * width)
            for u in before:
                self._spawned[(p, u)] = self._spawned.get((p, u), 0) + len(new)
            out = [(f, p) for f in new]
        return out

    def _reuse(self, before: dict[str, list[int]], t: int, n: int) -> list[int]:
        """Up to ``n`` flows answered at the previous TTL, not yet tried at ``t``,
        round-robin over its vertices."""
        queues = [[f for f in fl if (f, t) not in self._tries] for fl in before.values()]
        take: list[int] = []
        i = 0
        while len(take) < n and any(queues):
            q = queues[i % len(queues)]
            if q:
                take.append(q.pop(0))
            i += 1
        return take

    def _advance(self) -> None:
        t = self._frontier
        st = self.settings
        here = self.vertices(t)
        if here and all(self._is_final(t, fl) for fl in here.values()):
            reached = any(r.reached for r in self._ans[t].values())
            self._finish("reached" if reached else "unreachable")
            return
        silent = 0
        while t - silent >= st.first_ttl and not self._ans.get(t - silent):
            silent += 1
        if st.max_silent and silent >= st.max_silent:
            self._finish("silent")
            return
        if t >= st.max_ttl:
            self._finish("max-ttl")
            return
        self._frontier += 1

    def _finish(self, reason: str) -> None:
        self.done = True
        self.stop_reason = reason

    # ------------------------------------------------------------------ result

    def paths(self) -> dict[int, tuple[tuple[int, str, bool], ...]]:
        """Flow -> the (TTL, address, final) answers it got, in TTL order, up to its end
        (what ``mtr --multipath`` picks its flows from)."""
        out: dict[int, list[tuple[int, str, bool]]] = {}
        for t in sorted(self._ans):
            for f, r in self._ans[t].items():
                if self._alive(f, t):
                    out.setdefault(f, []).append((t, r.address, r.final))
        return {f: tuple(v) for f, v in sorted(out.items())}

    def discovery(self) -> Discovery:
        """The graph found so far (at the end: the result)."""
        acc: dict[str, Acc] = {}
        hops: list[MpHop] = []
        for t in range(self.settings.first_ttl, self._frontier + 1):
            here = self.vertices(t)
            sent_t = sum(n for (_f, tt), n in self._tries.items() if tt == t)
            lost_t = len(self._lost.get(t, ()))
            needed = self._n(len(self.vertices(t, routers=True)))
            answered = sum(map(len, here.values()))
            hops.append(MpHop(t, tuple(here), sent_t, answered, lost_t, needed))
            for a, fl in here.items():
                d = acc.setdefault(a, Acc())
                d.ttls.append(t)
                for f in fl:
                    d.add(f, self._tries[(f, t)], self._ans[t][f])
        nodes = tuple(d.node(a) for a, d in acc.items())
        return Discovery(nodes, self._links(), tuple(hops), self.probes,
                         self.stop_reason or "running", self._frontier,
                         any(n.reached for n in nodes))  # fmt: skip

    def _links(self) -> tuple[MpLink, ...]:
        count: dict[tuple[str, str, int, int], int] = {}
        base: dict[tuple[str, int], int] = {}
        first = self.settings.first_ttl
        by_flow: dict[int, list[tuple[int, str]]] = {}
        for t in range(first, self._frontier + 1):
            for f, r in self._ans.get(t, {}).items():
                if self._alive(f, t):
                    by_flow.setdefault(f, []).append((t, r.address))
        for seen in by_flow.values():
            seen.sort()
            for (t1, a), (t2, b) in zip(seen, seen[1:], strict=False):
                between = range(t1 + 1, t2)
                if any(self._ans.get(t) for t in between):
                    continue  # the flow was not asked at an answering TTL between
                if a == b:
                    continue
                count[(a, b, t1, t2 - t1 - 1)] = count.get((a, b, t1, t2 - t1 - 1), 0) + 1
                base[(a, t1)] = base.get((a, t1), 0) + 1
        ordered = sorted(count.items(), key=lambda kv: kv[0][2])
        return tuple(MpLink(a, b, t, n, n / base[(a, t)], gap) for (a, b, t, gap), n in ordered)
