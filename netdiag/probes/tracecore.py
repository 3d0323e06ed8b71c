"""The deciding half of traceroute and mtr: no sockets, no clocks (STYLE habit 4).

Paris-traceroute flows. Everything a load balancer may hash stays constant for
all probes of one trace: addresses, protocol, ports (UDP, TCP), and for ICMP
echo the type, code, identifier *and checksum* (the first 8 bytes of the
message). Probes are told apart by a field outside that hash, the probe *key*:

- UDP: the UDP checksum. Two payload bytes are chosen so that the checksum of
  probe ``n`` comes out as the wanted key (one's-complement arithmetic, RFC 1071).
- ICMP: the echo sequence number; two payload bytes move opposite to it, so the
  checksum stays the same for every probe (RFC 1071 §2(B): the sum is
  commutative, so ``seq + pad`` constant means checksum constant).
- TCP: the sequence number of the SYN.

An answer is matched to its probe from the datagram quoted inside the ICMP error
(RFC 792, RFC 4443 §2.4: at least IP header + 8 bytes, which hold ports and the
UDP checksum, the echo identifier and sequence, or TCP ports and sequence), or
from the destination's own answer: echo reply (identifier, sequence) or TCP
SYN-ACK/RST (``ack - 1`` is our sequence).

:class:`TraceSession` is handed what was sent and every decoded packet, with the
times read by the loop. It decides which probes go out next (at most
``simultaneous`` in flight, TTL by TTL), when a probe has waited long enough
(traceroute(8)'s ``-w max,here,near``), when the destination (or a final
unreachable) has answered, and yields hops in TTL order as each completes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from netdiag.packets import icmp, icmpv6, tcp, udp
from netdiag.packets.checksum import ones_sum, pseudo_header_sum
from netdiag.packets.icmpext import MplsEntry
from netdiag.packets.packet import Packet

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


class Method(enum.StrEnum):
    UDP = "udp"
    ICMP = "icmp"
    TCP = "tcp"


_PROTO = {Method.UDP: 17, Method.TCP: 6}
# SYN options that make a 20 + 20 byte TCP header, the 60 bytes traceroute(8) reports.
_SYN_OPTIONS = tcp.build_options([(2, 1460), (4, None), (8, (0, 0)), (1, None), (3, 7)])


@dataclass(frozen=True)
class Flow:
    """The constant fields of one trace. ``sport`` is the echo identifier for ICMP."""

    family: int
    method: Method
    src: str
    dst: str
    sport: int
    dport: int
    length: int  # total IP packet length of a probe, as traceroute(8)'s last argument

    @property
    def ip_header_len(self) -> int:
        return 20 if self.family == 4 else 40

    @property
    def protocol(self) -> int:
        return _PROTO.get(self.method, 1 if self.family == 4 else 58)


def min_length(family: int, method: Method) -> int:
    """The shortest probe we can make: IP + transport header (+ the 2 pad bytes)."""
    return (20 if family == 4 else 40) + (20 if method is Method.TCP else 10)


def _add(a: int, b: int) -> int:
    s = a + b
    return (s & 0xFFFF) + (s >> 16)


def probe_key(flow: Flow, base: int, n: int) -> int:
    """The key of probe number ``n`` of a trace whose keys start at ``base``."""
    if flow.method is Method.TCP:
        return (base + n) & 0xFFFFFFFF
    if flow.method is Method.UDP:  # checksums 0 and 0xffff mean "none" / are remapped
        return (base + n) % 0xFFFE + 1
    return (base + n) & 0xFFFF


def build_probe(flow: Flow, key: int) -> bytes:
    """The transport part of probe ``key`` (the kernel adds the IP header)."""
    size = max(0, flow.length - flow.ip_header_len)
    if flow.method is Method.TCP:
        pad = b"\x00" * max(0, size - 20 - len(_SYN_OPTIONS))
        return tcp.build(flow.sport, flow.dport, seq=key, flags=tcp.SYN, options=_SYN_OPTIONS,
                         payload=pad, src=flow.src, dst=flow.dst)  # fmt: skip
    tail = b"\x00" * max(0, size - 10)
    if flow.method is Method.ICMP:
        pad = (0xFFFF - key).to_bytes(2, "big")
        if flow.family == 4:
            return icmp.build_echo(flow.sport, key, pad + tail)
        return icmpv6.build_echo(flow.sport, key, pad + tail, flow.src, flow.dst)
    # UDP: the checksum with pad 0 is ~S; we want ~(S + w) == key, so w = ~key - S.
    n = 8 + 2 + len(tail)
    start = pseudo_header_sum(_raw(flow.src), _raw(flow.dst), 17, n)
    s = ones_sum(udp.build(flow.sport, flow.dport, b"\x00\x00" + tail), start)
    w = _add(~key & 0xFFFF, ~s & 0xFFFF)
    return udp.build(flow.sport, flow.dport, w.to_bytes(2, "big") + tail, src=flow.src,
                     dst=flow.dst)  # fmt: skip


def _raw(address: str) -> bytes:
    from netdiag.packets.addr import ip_bytes

    return ip_bytes(address)


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class Answer:
    """What one received packet says about probe ``key``."""

    key: int
    source: str
    final: bool  # the trace ends at this TTL (destination reached, or unreachable)
    reached: bool  # the destination itself answered
    annotation: str | None = None
    mpls: tuple[MplsEntry, ...] = ()


# traceroute(8)'s annotations for unreachable codes; "" = the destination answered.
_UNREACH4 = {0: "!N", 1: "!H", 2: "!P", 3: "", 5: "!S", 6: "!N", 7: "!H", 8: "!N", 9: "!X",
             10: "!X", 11: "!N", 12: "!H", 13: "!X", 14: "!V", 15: "!C"}  # fmt: skip
_UNREACH6 = {0: "!N", 1: "!X", 2: "!S", 3: "!H", 4: "", 5: "!X", 6: "!X"}


def annotation(family: int, icmp_type: int, code: int, mtu: int | None) -> str | None:
    """traceroute(8)'s mark for an ICMP error: None for time exceeded (not final),
    "" for port unreachable (the destination), "!H", "!F-1280", "!<code>", ..."""
    if family == 4:
        if icmp_type == 11:
            return None
        if icmp_type == 3:
            if code == 4:
                return f"!F-{mtu or 0}"
            return _UNREACH4.get(code, f"!<{code}>")
        return f"!<{code}>" if icmp_type == 12 else None
    if icmp_type == 3:
        return None
    if icmp_type == 2:
        return f"!F-{mtu or 0}"
    if icmp_type == 1:
        return _UNREACH6.get(code, f"!<{code}>")
    return f"!<{code}>" if icmp_type == 4 else None


def _quoted_key(flow: Flow, q: Packet) -> int | None:
    ip = q.ip
    if ip is None or ip.dst != flow.dst or ip.protocol != flow.protocol:
        return None
    if flow.method is Method.UDP:
        u = q.udp
        if u is not None and u.sport == flow.sport and u.dport == flow.dport:
            return u.checksum
    elif flow.method is Method.TCP:
        t = q.tcp
        if t is not None and t.sport == flow.sport and t.dport == flow.dport:
            return t.seq
    else:
        e = q.icmp if flow.family == 4 else q.icmpv6
        if e is not None and e.type in (8, 128) and e.id == flow.sport:
            return e.seq
    return None


def match(flow: Flow, p: Packet) -> Answer | None:
    """Which probe of ``flow`` does packet ``p`` answer, and how? None: not ours."""
    ip = p.ip
    if ip is None:
        return None
    source = ip.src
    if flow.method is Method.TCP and p.tcp is not None:
        t = p.tcp
        flags, ack = t.flags, t.ack
        if (source != flow.dst or t.sport != flow.dport or t.dport != flow.sport
                or flags is None or ack is None):  # fmt: skip
            return None
        if flags & tcp.RST or flags & (tcp.SYN | tcp.ACK) == tcp.SYN | tcp.ACK:
            return Answer((ack - 1) & 0xFFFFFFFF, source, True, True)
        return None
    e = p.icmp if flow.family == 4 else p.icmpv6
    if e is None:
        return None
    if e.type in (0, 129):  # echo reply
        if flow.method is Method.ICMP and e.id == flow.sport and source == flow.dst:
            return Answer(e.seq or 0, source, True, True)
        return None
    if e.quoted is None:
        return None
    key = _quoted_key(flow, e.quoted)
    if key is None:
        return None
    mark = annotation(flow.family, e.type, e.code, e.mtu)
    mpls = e.extensions.mpls if e.extensions is not None else ()
    if mark is None:
        return Answer(key, source, False, False, None, mpls)
    return Answer(key, source, True, mark == "", mark or None, mpls)


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
    """One trace: call :meth:`to_send`, :meth:`sent`, :meth:`received`, :meth:`expire`
    and :meth:`ready` from the loop; it is finished when :attr:`done`."""

    flow: Flow
    settings: TraceSettings = field(default_factory=TraceSettings)
    key_base: int = 0
    final_ttl: int | None = None
    reached: bool = False
    _probes: list[_Probe] = field(default_factory=list)
    _by_key: dict[int, _Probe] = field(default_factory=dict)
    _in_flight: int = 0
    _emitted: int = 0  # hops handed out by ready()
    _first_rtt: dict[int, int] = field(default_factory=dict)  # ttl -> first answer's RTT

    @property
    def last_ttl(self) -> int:
        return self.final_ttl if self.final_ttl is not None else self.settings.max_ttl

    @property
    def _total(self) -> int:
        s = self.settings
        return (self.last_ttl - s.first_ttl + 1) * s.nqueries

    @property
    def done(self) -> bool:
        return self._emitted >= self.last_ttl - self.settings.first_ttl + 1

    def to_send(self) -> list[tuple[int, int, int]]:
        """(probe number, ttl, key) of the probes to send now, in order."""
        s = self.settings
        out = []
        while self._in_flight < s.simultaneous and len(self._probes) < self._total:
            n = len(self._probes)
            p = _Probe(n, s.first_ttl + n // s.nqueries, probe_key(self.flow, self.key_base, n))
            self._probes.append(p)
            self._by_key[p.key] = p
            self._in_flight += 1
            out.append((p.n, p.ttl, p.key))
        return out

    def sent(self, n: int, mono_ns: int, wall_ns: int) -> None:
        p = self._probes[n]
        p.mono_ns, p.wall_ns, p.was_sent = mono_ns, wall_ns, True

    def send_failed(self, n: int) -> None:
        self._finish(self._probes[n])

    def _finish(self, p: _Probe) -> None:
        if not p.done:
            p.done = True
            self._in_flight -= 1

    def received(self, packet: Packet, mono_ns: int, wall_ns: int | None) -> int | None:
        """Feed one packet; returns the probe number it answered, or None."""
        a = match(self.flow, packet)
        if a is None:
            return None
        p = self._by_key.get(a.key)
        if p is None or p.done or not p.was_sent:
            return None
        mono_rtt = mono_ns - p.mono_ns
        rtt = wall_ns - p.wall_ns if wall_ns is not None else mono_rtt
        p.rtt_ns = rtt if 0 <= rtt <= mono_rtt else mono_rtt  # a clock step: monotonic
        p.answer = a
        self._first_rtt.setdefault(p.ttl, p.rtt_ns)
        self._finish(p)
        if a.final and (self.final_ttl is None or p.ttl < self.final_ttl):
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
        return limit

    def expire(self, mono_ns: int) -> None:
        for p in self._probes:
            if not p.done and p.was_sent and mono_ns - p.mono_ns >= self._hint_ns(p):
                self._finish(p)

    def next_deadline(self) -> int | None:
        """Monotonic ns at which the next probe in flight expires (None: none waits)."""
        times = [p.mono_ns + self._hint_ns(p) for p in self._probes if not p.done and p.was_sent]
        return min(times) if times else None

    def ready(self) -> list[Hop]:
        """Hops completed since the last call, in TTL order (a hop waits for those before)."""
        s = self.settings
        out = []
        while not self.done:
            ttl = s.first_ttl + self._emitted
            lo = self._emitted * s.nqueries
            group = self._probes[lo : lo + s.nqueries]
            if len(group) < s.nqueries or not all(p.done for p in group):
                break
            out.append(Hop(ttl, tuple(_result(p) for p in group)))
            self._emitted += 1
        return out


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
