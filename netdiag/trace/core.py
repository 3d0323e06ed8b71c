"""The deciding half of traceroute and mtr: which probe goes out next, when a probe has
waited long enough, when a hop is complete. No sockets, no clocks (STYLE habit 4):
the loop hands in what it sent and every decoded packet, with the times it read.

Sending strategy, shaped by ICMP rate limits. Routers and hosts limit the ICMP
errors they send to one peer (Linux: a token bucket per peer, ``icmp_ratelimit``
1 s per token, bursts of 6; most routers do likewise). Every probe whose TTL is
at or beyond the destination reaches the destination and costs it a token, and
a probe dropped there cannot be told from a silent hop. So the session

- keeps at most ``simultaneous`` probes in flight (``-N``, 16 as traceroute(8));
- sends in TTL order: every query of TTL t before the first of TTL t+1, so the
  destination meets the lowest TTL first and spends its tokens on it;
- probes at most ``ahead`` TTLs beyond the highest TTL a router has answered
  from (default 2: a single silent router never stalls the trace, and the
  destination receives at most ``2 * nqueries`` probes before it is known).
  Once every probe beyond that hop went unanswered (a firewalled destination,
  a run of silent routers, or a destination out of tokens) nothing is being
  answered there and only the window applies, as in traceroute(8);
- never sends a TTL beyond the lowest TTL the destination (or a final
  unreachable) has answered from, and from then on waits only for TTLs below it.

The scout: one probe goes out at ``max_ttl``. It reaches the destination (if the
path is shorter), whose answer tells by the TTL left in it how far the
destination is (:func:`netdiag.trace.probe.hops_from_ttl`), and from then on
every TTL up to that distance may be probed at once: on a path with real delay
the trace takes about two round trips, not one per two hops. It is not a hop of
the trace, and nothing goes past the distance it gave. With ``-I`` and ``-T``
the destination's answers (echo replies, SYN-ACK or RST) are not rate-limited,
so the scout is the first probe sent. With ``-U`` the answer is a port
unreachable, which costs the destination an ICMP token: the scout goes out only
once the first answer shows a delay worth saving (``SCOUT_RTT_NS``), never on a
LAN path. An estimate beyond ``max_ttl``, or from an answer without a TTL, is
ignored.

Silent tails: after ``max_silent`` TTLs in a row (default 5, as mtr's
``--max-unknown``; 0: probe every TTL up to ``max_ttl``) that nobody answered,
past the highest TTL that was answered, the trace stops: those TTLs were probed
(all at once), the ones beyond are not. :attr:`TraceSession.stopped` says so.

Waiting: traceroute(8)'s ``-w max,here,near``: a probe waits at most ``max``
seconds, ``here`` times the first RTT of its own hop, ``near`` times that of
the next hop that answered. A probe that neither hint covers (nothing answered
at or after its TTL yet), once anything has answered, waits ``ADAPT`` times the
largest RTT seen so far (at least ``ADAPT_FLOOR_NS``), never more than ``max``:
on a path that goes silent the silent TTLs cost a few round trips, not ``max``
seconds each. ``-w MAX`` alone (here and near 0) keeps traceroute(8)'s meaning,
every probe waits ``max``.
"""

from __future__ import annotations

from netdiag.packets.icmpext import MplsEntry
from netdiag.packets.packet import Packet
from netdiag.records import dataclass, field
from netdiag.trace.probe import (
    Answer,
    Flow,
    Method,
    annotation,
    build_probe,
    hops_from_ttl,
    match,
    min_length,
    probe_key,
)

__all__ = [
    "Method",
    "Flow",
    "Answer",
    "ProbeResult",
    "Hop",
    "TraceSettings",
    "TraceSession",
    "TraceStart",
    "TraceResult",
    "build_probe",
    "probe_key",
    "match",
    "annotation",
    "min_length",
]

_NS = 1_000_000_000
SCOUT = -1  # the probe number of the scout
SCOUT_RTT_NS = 1_000_000  # -U: a first answer this slow sends the scout
_SCOUT_KEY_N = 4000  # its key index: beyond every regular probe's (255 TTLs x 10 queries)
#: A probe no hint covers waits ADAPT x the largest RTT seen, at least the floor.
ADAPT = 4
ADAPT_FLOOR_NS = 250_000_000  # a loaded host may hand a packet over 0.1 s late


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ProbeResult:
    ttl: int
    address: str | None  # None: no answer ("*")
    rtt_ms: float | None
    annotation: str | None = None
    mpls: tuple[MplsEntry, ...] = ()


@dataclass(frozen=True)
class Hop:
    ttl: int
    probes: tuple[ProbeResult, ...]

    @property
    def addresses(self) -> list[str]:
        """Responders in order of first answer."""
        return list(dict.fromkeys(p.address for p in self.probes if p.address is not None))


@dataclass(frozen=True)
class TraceSettings:
    first_ttl: int = 1
    max_ttl: int = 30
    nqueries: int = 3
    simultaneous: int = 16
    wait: tuple[float, float, float] = (5.0, 3.0, 10.0)  # max, here, near (traceroute(8))
    ahead: int = 2  # TTLs probed beyond the highest hop a router answered from
    max_silent: int = 5  # silent TTLs in a row past the last answer that end the trace; 0: off
    scout: bool = True  # one probe at max_ttl first, to learn the destination's distance


@dataclass
class _Probe:
    n: int
    ttl: int
    key: int
    mono_ns: int = 0
    wall_ns: int = 0
    was_sent: bool = False
    done: bool = False
    answer: Answer | None = None
    rtt_ns: int | None = None


@dataclass
class TraceSession:
    """One trace: call :meth:`next_probe` (or :meth:`to_send`), :meth:`sent`,
    :meth:`received`, :meth:`expire` and :meth:`ready` from the loop; it is finished
    when :attr:`done`."""

    flow: Flow
    settings: TraceSettings = field(default_factory=TraceSettings)
    key_base: int = 0
    final_ttl: int | None = None
    reached: bool = False
    ttls: tuple[int, ...] | None = None  # only these TTLs (ascending; mtr's pacing); None: all
    rtt_hint_ns: int = 0  # the largest RTT known before this session (mtr's earlier rounds)
    _probes: list[_Probe] = field(default_factory=list)
    _by_key: dict[int, _Probe] = field(default_factory=dict)
    _in_flight: int = 0
    _emitted: int = 0  # hops handed out by ready()
    _first_rtt: dict[int, int] = field(default_factory=dict)  # ttl -> first answer's RTT
    _router_ttl: int = 0  # highest TTL a router (a non-final answer) answered from
    _silent_ttl: int = 0  # highest TTL of a probe that ended unanswered
    _max_rtt: int = 0  # largest RTT of any answer so far (ns)
    _silent_run: int = 0  # hops handed out in a row with no answer at all
    stop_ttl: int | None = None  # the last TTL probed when the trace stopped on silence
    _scout: _Probe | None = None
    _scout_ok: bool = False  # a scout may still be sent
    _scout_ttl: int = 0  # the destination's distance, as the scout's answer told

    def __post_init__(self) -> None:
        self._router_ttl = self.settings.first_ttl - 1
        self._max_rtt = self.rtt_hint_ns
        st = self.settings
        self._scout_ok = st.scout and self.ttls is None and st.max_ttl > st.first_ttl + st.ahead

    @property
    def last_ttl(self) -> int:
        if self.final_ttl is not None:
            return self.final_ttl
        return self.stop_ttl if self.stop_ttl is not None else self.settings.max_ttl

    @property
    def max_rtt_ns(self) -> int:
        """The largest RTT of any answer so far (or the hint it started with)."""
        return self._max_rtt

    @property
    def stopped(self) -> str | None:
        """``"silent"`` when the trace ended on ``max_silent`` unanswered TTLs."""
        return "silent" if self.stop_ttl is not None else None

    @property
    def not_probed(self) -> int:
        """TTLs up to ``max_ttl`` that were never probed because the path went silent."""
        return self.settings.max_ttl - self.stop_ttl if self.stop_ttl is not None else 0

    @property
    def _ttl_list(self) -> range | list[int]:
        """The TTLs this session probes, up to the last one (a prefix stays a prefix:
        the last TTL only ever comes down)."""
        last = self.last_ttl
        if self.ttls is None:
            return range(self.settings.first_ttl, last + 1)
        return [t for t in self.ttls if t <= last]

    @property
    def _total(self) -> int:
        return len(self._ttl_list) * self.settings.nqueries

    @property
    def done(self) -> bool:
        return self._emitted >= len(self._ttl_list)

    @property
    def horizon(self) -> int:
        """The highest TTL that may be probed now (see the module's sending strategy)."""
        if self._silent_ttl < self._scout_ttl > self._router_ttl:
            # the scout's distance, until a router answers there (the estimate was short)
            # or the probes sent there go unanswered (then silence rules, below)
            return min(self.last_ttl, self._scout_ttl)
        if self._silent_ttl > self._router_ttl:  # silence beyond the last router
            if self.settings.max_silent > 0:
                return min(self.last_ttl, self._router_ttl + self.settings.max_silent)
            return self.last_ttl
        return min(self.last_ttl, self._router_ttl + max(1, self.settings.ahead))

    def next_probe(self) -> tuple[int, int, int] | None:
        """(probe number, ttl, key) of the next probe to send now, or None: wait."""
        s = self.settings
        n = len(self._probes)
        if self._in_flight >= s.simultaneous:
            return None
        if (
            self._scout_ok
            and self.final_ttl is None
            and (self.flow.method is not Method.UDP or self._max_rtt >= SCOUT_RTT_NS)
        ):
            self._scout_ok = False
            scout = _Probe(SCOUT, s.max_ttl, probe_key(self.flow, self.key_base, _SCOUT_KEY_N))
            self._scout = scout
            self._by_key[scout.key] = scout
            self._in_flight += 1
            return scout.n, scout.ttl, scout.key
        if n >= self._total:
            return None
        ttl = self._ttl_list[n // s.nqueries]
        if ttl > self.horizon:
            return None
        p = _Probe(n, ttl, probe_key(self.flow, self.key_base, n))
        self._probes.append(p)
        self._by_key[p.key] = p
        self._in_flight += 1
        return p.n, p.ttl, p.key

    def to_send(self) -> list[tuple[int, int, int]]:
        """Every probe :meth:`next_probe` would hand out now, in order."""
        out = []
        while (nxt := self.next_probe()) is not None:
            out.append(nxt)
        return out

    def _probe(self, n: int) -> _Probe:
        if n == SCOUT and self._scout is not None:
            return self._scout
        return self._probes[n]

    def sent(self, n: int, mono_ns: int, wall_ns: int) -> None:
        p = self._probe(n)
        p.mono_ns, p.wall_ns, p.was_sent = mono_ns, wall_ns, True

    def send_failed(self, n: int) -> None:
        self._finish(self._probe(n))

    def _in_wait(self) -> list[_Probe]:
        waiting = [p for p in self._probes if not p.done and p.was_sent]
        if self._scout is not None and not self._scout.done and self._scout.was_sent:
            waiting.append(self._scout)
        return waiting

    def _finish(self, p: _Probe) -> None:
        if not p.done:
            p.done = True
            self._in_flight -= 1
            if p.n == SCOUT:
                return
            if p.answer is None and (self.final_ttl is None or p.ttl < self.final_ttl):
                self._silent_ttl = max(self._silent_ttl, p.ttl)

    def received(self, packet: Packet, mono_ns: int, wall_ns: int | None) -> int | None:
        """Feed one packet; returns the probe number it answered, or None."""
        a = match(self.flow, packet)
        if a is None:
            return None
        return self.answered(a, mono_ns, wall_ns)

    def answered(self, a: Answer, mono_ns: int, wall_ns: int | None) -> int | None:
        """Feed one answer already matched to a key (the unprivileged loop reads them off
        the error queue); returns the probe number it answered, or None."""
        p = self._by_key.get(a.key)
        if p is None or p.done or not p.was_sent:
            return None
        mono_rtt = mono_ns - p.mono_ns
        rtt = wall_ns - p.wall_ns if wall_ns is not None else mono_rtt
        p.rtt_ns = rtt if 0 <= rtt <= mono_rtt else mono_rtt  # a clock step: monotonic
        if p.n == SCOUT:
            self._finish(p)
            distance = hops_from_ttl(a.reply_ttl) if a.final and a.reply_ttl else None
            if distance is not None and self.settings.first_ttl <= distance <= p.ttl:
                self._scout_ttl = distance
            return None
        p.answer = a
        self._first_rtt.setdefault(p.ttl, p.rtt_ns)
        self._max_rtt = max(self._max_rtt, p.rtt_ns)
        self._finish(p)
        if not a.final:
            self._router_ttl = max(self._router_ttl, p.ttl)
        elif self.final_ttl is None or p.ttl < self.final_ttl:
            self.final_ttl = p.ttl
            for q in self._probes:  # never wait for probes beyond the end
                if q.ttl > p.ttl:
                    self._finish(q)
        if a.reached and p.ttl <= self.last_ttl:
            self.reached = True
        return p.n

    def _hint_ns(self, p: _Probe) -> int:
        """How long probe ``p`` may wait: traceroute(8)'s -w max,here,near."""
        wmax, here, near = self.settings.wait
        limit = int(wmax * _NS)
        first = self._first_rtt
        if here > 0 and p.ttl in first:
            return min(limit, int(first[p.ttl] * here))
        if near > 0:
            later = [ttl for ttl in first if ttl > p.ttl]
            if later:
                return min(limit, int(first[min(later)] * near))
        if (here > 0 or near > 0) and self._max_rtt:
            return min(limit, max(ADAPT * self._max_rtt, ADAPT_FLOOR_NS))
        return limit

    def expire(self, mono_ns: int) -> None:
        for p in self._in_wait():
            if mono_ns - p.mono_ns >= self._hint_ns(p):
                self._finish(p)

    def next_deadline(self) -> int | None:
        """Monotonic ns at which the next probe in flight expires (None: none waits)."""
        times = [p.mono_ns + self._hint_ns(p) for p in self._in_wait()]
        return min(times) if times else None

    def ready(self) -> list[Hop]:
        """Hops completed since the last call, in TTL order (a hop waits for those before)."""
        s = self.settings
        out = []
        while not self.done:
            ttl = self._ttl_list[self._emitted]
            lo = self._emitted * s.nqueries
            group = self._probes[lo : lo + s.nqueries]
            if len(group) < s.nqueries or not all(p.done for p in group):
                break
            out.append(Hop(ttl, tuple(_result(p) for p in group)))
            self._emitted += 1
            self._note_silence(ttl, group)
        return out

    def _note_silence(self, ttl: int, group: list[_Probe]) -> None:
        """Count unanswered hops in a row; stop after ``max_silent`` of them past the
        last answer (and only if nothing beyond them answered either)."""
        if any(p.answer is not None for p in group):
            self._silent_run = 0
            return
        self._silent_run += 1
        limit = self.settings.max_silent
        if (limit <= 0 or self._silent_run < limit or self.final_ttl is not None
                or ttl >= self.settings.max_ttl
                or any(p.answer is not None for p in self._probes if p.ttl > ttl)):  # fmt: skip
            return
        self.stop_ttl = ttl
        for q in self._probes:  # nothing beyond the stop is waited for
            if q.ttl > ttl:
                self._finish(q)


def _result(p: _Probe) -> ProbeResult:
    a = p.answer
    if a is None or p.rtt_ns is None:
        return ProbeResult(p.ttl, None, None)
    return ProbeResult(p.ttl, a.source, p.rtt_ns / 1e6, a.annotation, a.mpls)


@dataclass(frozen=True)
class TraceStart:
    """The header line's facts."""

    target: str
    address: str
    family: int
    method: Method
    max_ttl: int
    length: int


@dataclass(frozen=True)
class TraceResult:
    target: str
    address: str
    family: int
    method: Method
    max_ttl: int
    length: int
    reached: bool
    hops: tuple[Hop, ...]
    elapsed_ms: float
    stopped: str | None = None  # "silent": ended on --max-silent unanswered TTLs
    not_probed: int = 0  # TTLs up to max_ttl left unprobed when stopped
    max_silent: int = 5
