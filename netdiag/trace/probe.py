"""Probes and answers of traceroute and mtr: pure, no sockets, no clocks (STYLE habit 4).

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

A stateless NAT on the way rewrites our source address in the probes and fixes
the UDP checksum for the new pseudo-header, and the routers past it quote what
they got (a NAT with state translates the quote back). The key is then the quoted
checksum with the address change undone (RFC 1624's incremental update, run
backwards), so the hops past such a NAT are matched, not shown as ``*``.

The session that decides what to send and when a hop is complete lives in
:mod:`netdiag.trace.core`.
"""

from __future__ import annotations

import enum

from netdiag.packets import icmp, icmpv6, tcp, udp
from netdiag.packets.checksum import ones_sum, pseudo_header_sum
from netdiag.packets.icmpext import MplsEntry
from netdiag.packets.packet import Packet
from netdiag.records import dataclass

__all__ = [
    "Method",
    "Flow",
    "Answer",
    "build_probe",
    "probe_key",
    "match",
    "annotation",
    "min_length",
    "hops_from_ttl",
]


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
    reply_ttl: int | None = None  # TTL (hop limit) left in the answer, when known


def hops_from_ttl(reply_ttl: int) -> int | None:
    """How far the sender of a packet arriving with ``reply_ttl`` left is, counting it:
    the initial TTL is taken as the next of 32, 64, 128, 255 (the usual defaults)."""
    for initial in (32, 64, 128, 255):
        if reply_ttl <= initial:
            return initial - reply_ttl + 1
    return None


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


def _unrewritten(checksum: int, now: str, was: str) -> int:
    """The checksum before a source address ``was`` became ``now`` (RFC 1624 eqn. 3,
    HC' = ~(~HC + ~m + m'), solved for HC)."""
    m_now, m_was = ones_sum(_raw(now)), ones_sum(_raw(was))
    return ~_add(_add(~checksum & 0xFFFF, ~m_now & 0xFFFF), m_was) & 0xFFFF


def _quoted_key(flow: Flow, q: Packet) -> int | None:
    ip = q.ip
    if ip is None or ip.dst != flow.dst or ip.protocol != flow.protocol:
        return None
    if flow.method is Method.UDP:
        u = q.udp
        if u is not None and u.sport == flow.sport and u.dport == flow.dport:
            if ip.src == flow.src or not u.checksum:
                return u.checksum
            return _unrewritten(u.checksum, ip.src, flow.src)
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
            return Answer((ack - 1) & 0xFFFFFFFF, source, True, True, reply_ttl=ip.hop_limit)
        return None
    e = p.icmp if flow.family == 4 else p.icmpv6
    if e is None:
        return None
    if e.type in (0, 129):  # echo reply
        if flow.method is Method.ICMP and e.id == flow.sport and source == flow.dst:
            return Answer(e.seq or 0, source, True, True, reply_ttl=ip.hop_limit)
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
    return Answer(key, source, True, mark == "", mark or None, mpls, ip.hop_limit)
