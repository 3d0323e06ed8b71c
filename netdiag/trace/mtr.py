"""mtr: rounds of traceroute probes, one probe per hop per round, and per-hop statistics.

Each round is a :class:`TraceSession` with one query per hop on the sockets of
one :class:`Tracer` (one Paris flow for the whole run, so a balanced path shows
its responders under the same hops every round). Until a round has found the
destination (or a final unreachable, or a silent tail: ``--max-silent``), a
round probes as traceroute does: in TTL order, at most two TTLs past the last
router that answered, so the destination spends at most two of its ICMP tokens
before its TTL is known. Later rounds probe up to that TTL, all at once in TTL
order.

ICMP rate limits (:mod:`netdiag.trace.ratelimit`). Routers answer with time
exceeded, which the kernel limits per peer (IPv4: a token a second, a burst of
6). The destination is probed every round; an intermediate hop only while its
modelled bucket has a token to spare (:class:`~netdiag.trace.ratelimit.Pacer`),
so at ``-i 0.2`` it is probed 6 times and then once a second, and never runs dry.
Now and then one probe over that budget tells whether the hop limits less (its
pace then doubles, and a hop with no limit ends up probed every round). A hop
that misses significantly more than the path loses (flagged rate-limited)
limits harder than modelled: each such miss halves its pace, down to one probe
per 16 s; random loss on the path does not slow a hop down, since the hops after
it miss as much. The report then tells loss from rate limiting: ``Loss%`` is
path loss, ``Unans%`` what was unanswered but not lost, and ``RL`` marks a
rate-limited hop. A hop probed at a different rate than the destination says
so (``probe_interval_s``).

Rounds start every ``interval`` seconds; a probe waits at most
``min(wait, max(interval, 1 s))`` (with traceroute(8)'s here/near hints).
Probe keys move on by 256 each round, so a late answer never counts for the
next round. Statistics: :mod:`netdiag.trace.hopstats`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from netdiag.errors import UsageError
from netdiag.probing.resolve import resolve
from netdiag.records import dataclass
from netdiag.trace.core import Hop, Method, TraceSession, TraceSettings
from netdiag.trace.hopstats import HopStats, HopSummary
from netdiag.trace.loop import TraceOptions, make_flow, open_tracer
from netdiag.trace.ratelimit import BucketModel, Pacer, default_period, path_loss

__all__ = ["MtrOptions", "MtrReport", "mtr"]


@dataclass(frozen=True)
class MtrOptions:
    trace: TraceOptions = TraceOptions()
    count: int | None = 10  # -c; None: until Ctrl-C
    interval: float = 1.0  # -i, seconds between round starts

    def __post_init__(self) -> None:
        if self.count is not None and self.count < 1:
            raise UsageError(f"-c {self.count}: the count must be at least 1")
        if not 0.01 <= self.interval <= 3600:
            raise UsageError(f"-i {self.interval}: the interval must be 0.01..3600 seconds")


@dataclass(frozen=True)
class MtrReport:
    target: str
    address: str
    family: int
    method: Method
    rounds: int
    reached: bool
    hops: tuple[HopSummary, ...]
    interrupted: bool = False
    interval: float = 1.0  # -i: the destination's probe interval
    stopped: str | None = None  # "silent": the path went quiet (--max-silent)


def mtr(
    target: str,
    options: MtrOptions | None = None,
    on_round: Callable[[MtrReport], None] | None = None,
) -> MtrReport:
    """Run ``count`` rounds (or until Ctrl-C when count is None); ``on_round`` sees the
    report after every round. Ctrl-C ends the run like the count does."""
    opt = options or MtrOptions()
    topt = opt.trace
    family, address = resolve(target, topt.family)
    flow = make_flow(family, address, topt)
    stats: dict[int, HopStats] = {}
    pacers: dict[int, Pacer] = {}
    period = default_period(family)
    limit = topt.max_ttl
    reached = False
    stopped: str | None = None
    rounds = 0
    interrupted = False
    wait = (min(topt.wait[0], max(opt.interval, 1.0)), topt.wait[1], topt.wait[2])
    key_base = 0
    rtt_hint = 0

    def hop_stats(ttl: int) -> HopStats:
        if ttl not in stats:
            stats[ttl] = HopStats(ttl, bucket=BucketModel(period))
        return stats[ttl]

    def report() -> MtrReport:
        ttls = [t for t in sorted(stats) if t <= limit]
        # The destination's answers are limited only when they are ICMP errors (-U):
        # echo replies and TCP answers are not, so no bucket may explain their misses.
        counts = [(stats[t].sent, stats[t].missed,
                   0 if t == limit and reached and topt.method is not Method.UDP
                   else stats[t].explained) for t in ttls]  # fmt: skip
        paths = path_loss(counts)
        hops = tuple(stats[t].summary(p) for t, p in zip(ttls, paths, strict=True))
        return MtrReport(target, address, family, topt.method, rounds, reached, hops,
                         interrupted, opt.interval, stopped)  # fmt: skip

    with open_tracer(flow, topt) as tracer:
        start = time.monotonic()
        try:
            while opt.count is None or rounds < opt.count:
                pause = start + rounds * opt.interval - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                at = time.monotonic() - start
                span = max(limit - topt.first_ttl + 1, 1)
                known = limit < topt.max_ttl or rounds > 0
                ttls: tuple[int, ...] | None = None
                if known:  # the destination every round, the others while they have tokens
                    ttls = tuple(
                        t
                        for t in range(topt.first_ttl, limit + 1)
                        if t == limit or pacers.setdefault(t, Pacer(period)).take(at)
                    )
                else:  # the first round spends a token of every hop it probes
                    for t in range(topt.first_ttl, limit + 1):
                        pacers.setdefault(t, Pacer(period)).take(at)
                # Until the end of the path is known, probe it as traceroute does (two TTLs
                # past the last router); then every hop at once, in TTL order.
                ahead = span if known else 2
                settings = TraceSettings(topt.first_ttl, limit, 1, span, wait, ahead,
                                         topt.max_silent if not known else 0,
                                         scout=not known)  # fmt: skip
                session = TraceSession(flow, settings, key_base=key_base, ttls=ttls,
                                       rtt_hint_ns=rtt_hint)  # fmt: skip
                key_base = (key_base + 256) & 0xFFFFFFFF
                found: list[Hop] = []
                tracer.run(session, found.append)
                for hop in found:
                    for probe in hop.probes:
                        hop_stats(hop.ttl).add(probe.address, probe.rtt_ms, at)
                    if hop.ttl in pacers:
                        pacers[hop.ttl].outcome(at, any(p.address for p in hop.probes))
                missed = {h.ttl for h in found if not any(p.address for p in h.probes)}
                if missed:  # a hop missing more than the path loses limits harder: slow it
                    for summary in report().hops[:-1]:
                        if summary.ttl in missed and summary.hosts[0].rate_limited:
                            pacers[summary.ttl].slow_down(at)
                rtt_hint = session.max_rtt_ns
                limit = min(limit, session.last_ttl)
                stopped = stopped or session.stopped
                reached = reached or session.reached
                rounds += 1
                if on_round is not None:
                    on_round(report())
        except KeyboardInterrupt:
            interrupted = True
    return report()
