"""mtr: rounds of traceroute probes, one probe per hop per round, and per-hop statistics.

Each round is a :class:`TraceSession` with one query per hop on the sockets of
one :class:`Tracer` (one Paris flow for the whole run, so a balanced path shows
its responders under the same hops every round). Until a round has found the
destination (or a final unreachable), a round probes as traceroute does: in TTL
order, at most two TTLs past the last router that answered, so the destination
spends at most two of its ICMP tokens (Linux: a burst of 6 per peer, then one per
second, ``icmp_ratelimit``) before its TTL is known. Later rounds probe only up
to that TTL, every hop at once in TTL order: one probe per node per round, which
the default limits sustain at ``-i 1``; with shorter intervals the routers' and
the destination's buckets run dry after a few rounds and the report shows that
loss as it is (mtr(8) meets the same limits). Rounds start every ``interval``
seconds; a probe waits at most ``min(wait, max(interval, 1 s))`` (with
traceroute(8)'s here/near hints).
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
from netdiag.trace.loop import TraceOptions, Tracer, make_flow

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
    limit = topt.max_ttl
    reached = False
    rounds = 0
    interrupted = False
    wait = (min(topt.wait[0], max(opt.interval, 1.0)), topt.wait[1], topt.wait[2])
    key_base = 0

    def report() -> MtrReport:
        hops = tuple(stats[t].summary() for t in sorted(stats) if t <= limit)
        return MtrReport(target, address, family, topt.method, rounds, reached, hops,
                         interrupted)  # fmt: skip

    with Tracer(flow, topt) as tracer:
        start = time.monotonic()
        try:
            while opt.count is None or rounds < opt.count:
                pause = start + rounds * opt.interval - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                span = max(limit - topt.first_ttl + 1, 1)
                # Until the end of the path is known, probe it as traceroute does (two TTLs
                # past the last router); then every hop at once, in TTL order.
                ahead = span if limit < topt.max_ttl else 2
                settings = TraceSettings(topt.first_ttl, limit, 1, span, wait, ahead)
                session = TraceSession(flow, settings, key_base=key_base)
                key_base = (key_base + 256) & 0xFFFFFFFF
                found: list[Hop] = []
                tracer.run(session, found.append)
                for hop in found:
                    for probe in hop.probes:
                        stats.setdefault(hop.ttl, HopStats(hop.ttl)).add(probe.address,
                                                                         probe.rtt_ms)  # fmt: skip
                limit = min(limit, session.last_ttl)
                reached = reached or session.reached
                rounds += 1
                if on_round is not None:
                    on_round(report())
        except KeyboardInterrupt:
            interrupted = True
    return report()
