"""Which arriving packets are the engine's, and which probe they answer: pure.

The engine's probes share one socket per family and method, so a packet names
its probe by the 16-bit sequence number in it (:mod:`~netdiag.multi.core`):

- ICMP echo: identifier ``ident`` (one per socket: random on raw sockets, where a
  kernel filter keeps other identifiers out; the socket's port on datagram sockets)
  and the payload starting with the engine's cookie; the echo sequence number is the
  probe's. ICMP errors quoting such an echo request give it too.
- TCP SYN: from source port ``sport`` with sequence number ``isn + seq``; a SYN-ACK
  or RST acknowledging ``isn + seq + 1`` answers it (``ping --tcp``'s rule, portcore).
- UDP: a payload of cookie then ``seq``; the datagram echoed back answers it (and
  ICMP port unreachable from the target quoting it, decided by the loop).

Each matcher returns ``("reply", seq, size, ttl, answer)``, ``("error", seq, type,
code)`` or None. The words fping prints for ICMP errors are :func:`fping_error_text`.
"""

from __future__ import annotations

from netdiag.packets import tcp as tcpcodec
from netdiag.ping.events import COOKIE_LEN, make_payload

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

    Match = tuple[str, int, int, int, str] | tuple[str, int, int, int] | None

__all__ = ["EchoMatcher", "TcpMatcher", "UdpMatcher", "fping_error_text", "probe_payload"]

_SEQ32 = 1 << 32

# fping 5.1's words (its icmp_unreach_str and icmp_type_str tables)
_UNREACH4 = (
    "ICMP Network Unreachable", "ICMP Host Unreachable", "ICMP Protocol Unreachable",
    "ICMP Port Unreachable", "ICMP Unreachable (Fragmentation Needed)",
    "ICMP Unreachable (Source Route Failed)", "ICMP Unreachable (Destination Network Unknown)",
    "ICMP Unreachable (Destination Host Unknown)", "ICMP Unreachable (Source Host Isolated)",
    "ICMP Unreachable (Communication with Network Prohibited)",
    "ICMP Unreachable (Communication with Host Prohibited)",
    "ICMP Unreachable (Network Unreachable For Type Of Service)",
    "ICMP Unreachable (Host Unreachable For Type Of Service)",
    "ICMP Unreachable (Communication Administratively Prohibited)",
    "ICMP Unreachable (Host Precedence Violation)",
    "ICMP Unreachable (Precedence cutoff in effect)",
)  # fmt: skip
_TYPES4 = {4: "ICMP Source Quench", 5: "ICMP Redirect", 11: "ICMP Time Exceeded",
           12: "ICMP Parameter Problem"}  # fmt: skip
# fping 5.1 reads ICMPv6 errors with IPv4's offsets and never reports them; netdiag
# reports them in the same shape with ICMPv6's names (RFC 4443 §3).
_UNREACH6 = (
    "ICMPv6 Unreachable (No Route)", "ICMPv6 Unreachable (Administratively Prohibited)",
    "ICMPv6 Unreachable (Beyond Scope)", "ICMPv6 Address Unreachable",
    "ICMPv6 Port Unreachable", "ICMPv6 Unreachable (Source Address Failed Policy)",
    "ICMPv6 Unreachable (Reject Route)",
)  # fmt: skip
_TYPES6 = {2: "ICMPv6 Packet Too Big", 3: "ICMPv6 Time Exceeded", 4: "ICMPv6 Parameter Problem"}


def fping_error_text(family: int, icmp_type: int, code: int, source: str, target: str,
                     what: str = "ICMP Echo") -> str:  # fmt: skip
    """fping's line for an ICMP error about a probe to ``target``."""
    if family == 4:
        if icmp_type == 3:
            head = _UNREACH4[code] if code < len(_UNREACH4) else "ICMP Unreachable (Invalid Code)"
        else:
            head = _TYPES4.get(icmp_type, f"ICMP {icmp_type}")
    elif icmp_type == 1:
        head = _UNREACH6[code] if code < len(_UNREACH6) else "ICMPv6 Unreachable (Invalid Code)"
    else:
        head = _TYPES6.get(icmp_type, f"ICMPv6 {icmp_type}")
    return f"{head} from {source} for {what} sent to {target}"


def probe_payload(cookie: bytes, seq: int, size: int) -> bytes:
    """UDP probe payload: cookie, the 16-bit sequence number, then ping's pattern."""
    return make_payload(cookie[:COOKIE_LEN] + seq.to_bytes(2, "big"), size)


class EchoMatcher:
    """ICMP/ICMPv6 echo replies and errors for one socket: ``ident``, ``cookie``."""

    __slots__ = ("family", "ident", "cookie", "_reply", "_request")

    def __init__(self, family: int, ident: int, cookie: bytes, size: int) -> None:
        self.family, self.ident = family, ident
        self.cookie = cookie[: min(COOKIE_LEN, size)]
        self._reply, self._request = (0, 8) if family == 4 else (129, 128)

    def payload(self, size: int) -> bytes:
        return make_payload(self.cookie, size)

    def _ours(self, ident: int | None, data: Any, start: int, end: int) -> bool:
        if ident != self.ident:
            return False
        n = min(end - start, len(self.cookie))
        return bytes(data[start : start + n]) == self.cookie[:n]

    def match(self, packet: Any) -> Match:
        icmp = packet.icmp if self.family == 4 else packet.icmpv6
        if icmp is None:
            return None
        if icmp.type == self._reply:
            if icmp.end - icmp.payload_offset < len(self.cookie):
                return None
            if not self._ours(icmp.id, packet.data, icmp.payload_offset, icmp.end):
                return None
            ttl = packet.ip.hop_limit if packet.ip else 0
            return ("reply", icmp.seq, icmp.end - icmp.offset, ttl, "")
        if not icmp.is_error:
            return None
        q = icmp.quoted
        if q is None or q.ip is None:
            return None
        qicmp = q.icmp if self.family == 4 else q.icmpv6
        if qicmp is None or qicmp.type != self._request:
            return None
        if not self._ours(qicmp.id, q.data, qicmp.payload_offset, qicmp.end):
            return None
        return ("error", qicmp.seq, icmp.type, icmp.code)


class TcpMatcher:
    """SYN-ACK / RST answers to SYNs from ``sport`` numbered ``isn + seq``, and ICMP
    errors quoting them; every target is probed on ``port``."""

    __slots__ = ("family", "sport", "isn", "port")

    def __init__(self, family: int, sport: int, isn: int, port: int) -> None:
        self.family, self.sport, self.isn, self.port = family, sport, isn, port

    def tcp_seq(self, seq: int) -> int:
        return (self.isn + seq) % _SEQ32

    def match(self, packet: Any) -> Match:
        icmp = packet.icmp if self.family == 4 else packet.icmpv6
        if icmp is not None:
            if not icmp.is_error or icmp.quoted is None or icmp.quoted.tcp is None:
                return None
            seg = icmp.quoted.tcp
            if (seg.sport, seg.dport) != (self.sport, self.port):
                return None
            seq = (seg.seq - self.isn) % _SEQ32
            return None if seq >= 1 << 16 else ("error", seq, icmp.type, icmp.code)
        seg = packet.tcp
        if seg is None or seg.partial or (seg.sport, seg.dport) != (self.port, self.sport):
            return None
        flags = seg.flags or 0
        if not flags & tcpcodec.ACK:
            return None
        if flags & tcpcodec.RST:
            answer = "RST"
        elif flags & tcpcodec.SYN:
            answer = "SYN-ACK"
        else:
            return None
        seq = (seg.ack - 1 - self.isn) % _SEQ32
        if seq >= 1 << 16:
            return None
        ttl = packet.ip.hop_limit if packet.ip else 0
        return ("reply", seq, seg.end - seg.offset, ttl, answer)


class UdpMatcher:
    """Echoed UDP probes (cookie + seq) from ``port`` to ``sport``, and ICMP errors
    quoting them (the loop counts port unreachable from the target itself as the
    answer, as ``ping --udp`` does: it knows the target of each sequence number)."""

    __slots__ = ("family", "sport", "port", "cookie")

    def __init__(self, family: int, sport: int, port: int, cookie: bytes) -> None:
        self.family, self.sport, self.port, self.cookie = family, sport, port, cookie[:COOKIE_LEN]

    def _seq(self, data: bytes) -> int | None:
        if len(data) < COOKIE_LEN + 2 or data[:COOKIE_LEN] != self.cookie:
            return None
        return int.from_bytes(data[COOKIE_LEN : COOKIE_LEN + 2], "big")

    def match(self, packet: Any) -> Match:
        icmp = packet.icmp if self.family == 4 else packet.icmpv6
        if icmp is not None:
            q = icmp.quoted if icmp.is_error else None
            if q is None or q.udp is None or q.ip is None:
                return None
            if (q.udp.sport, q.udp.dport) != (self.sport, self.port):
                return None
            seq = self._seq(bytes(q.data[q.udp.payload_offset : q.udp.end]))
            if seq is None:
                return None
            return ("error", seq, icmp.type, icmp.code)
        d = packet.udp
        if d is None or (d.sport, d.dport) != (self.port, self.sport):
            return None
        seq = self._seq(bytes(packet.data[d.payload_offset : d.end]))
        if seq is None:
            return None
        ttl = packet.ip.hop_limit if packet.ip else 0
        return ("reply", seq, d.end - d.offset, ttl, "data")
