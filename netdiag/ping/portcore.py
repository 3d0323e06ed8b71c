"""The deciding half of ``ping --tcp PORT`` and ``ping --udp PORT``: no sockets, no clocks.

A :class:`PortSession` shares :class:`~netdiag.ping.core.ProbeLedger`'s
bookkeeping with ICMP ping (counts, send times, duplicate bitmap, RTT from the
kernel stamp, the result) and decides which arriving packets answer which probe.

TCP (SYN ping). Probe ``seq`` is a SYN from our source port ``sport`` to
``port`` with sequence number ``isn + seq`` (mod 2**32; ``isn`` random per
session). The answer to it is, from the target and with the ports swapped,

- SYN+ACK with ``ack == isn + seq + 1``: the port is **open**;
- RST (with ACK) and ``ack == isn + seq + 1``: the port is **closed**
  (RFC 9293 §3.10.7.1: a closed port answers a SYN with ``<SEQ=0><ACK=SEG.SEQ+1>
  <CTL=RST,ACK>``).

Our kernel answers the SYN+ACK with a RST of its own (no socket of ours is in
SYN-SENT), which tears down the half-open connection at the target: no state
is left behind.

UDP. Probe ``seq`` is a datagram whose payload starts with the session cookie
and ``seq`` (16 bits), so an echo service hands both back. Answers:

- a datagram from ``address:port`` to ``sport``: **open** -- matched by the
  echoed cookie and sequence number; a service that answers with other data is
  credited to the oldest probe not yet answered;
- ICMP port unreachable (type 3 code 3; ICMPv6 type 1 code 4) from the target
  itself, quoting our datagram: **closed**. Like nping and hping3 (iputils has
  no UDP mode) we count this as the reply: the host answered;
- silence: no reply, counted as loss (the port is open or filtered, and
  nothing can tell which).

Every other ICMP error that quotes one of our probes (time exceeded,
unreachable from a router, fragmentation needed) is a
:class:`~netdiag.ping.events.PingError`, attributed through the quoted
ports and TCP sequence number (ICMP quotes at least the first 8 bytes of the
segment, RFC 792, which hold both) or UDP payload.
"""

from __future__ import annotations

from netdiag.packets import tcp
from netdiag.ping.core import ProbeLedger
from netdiag.ping.events import (
    COOKIE_LEN,
    SEQ_SPACE,
    PingError,
    PortReply,
    error_text,
    make_payload,
)
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["PortSession", "PortReply", "PORT_UNREACHABLE", "udp_key"]

SEQ32 = 1 << 32
KEY_LEN = COOKIE_LEN + 2  # UDP payload: cookie, then the 16-bit sequence number
PORT_UNREACHABLE = {4: (3, 3), 6: (1, 4)}  # family -> (ICMP type, code)


def udp_key(cookie: bytes, seq: int) -> bytes:
    """The first bytes of UDP probe ``seq``'s payload."""
    return cookie[:COOKIE_LEN] + seq.to_bytes(2, "big")


@dataclass
class PortSession(ProbeLedger):
    """Matches answers to TCP SYN or UDP probes from ``sport`` to ``address:port``."""

    protocol: str = "tcp"
    port: int = 0
    sport: int = 0
    isn: int = 0
    cookie: bytes = b""
    size: int = 0  # UDP payload bytes

    def __post_init__(self) -> None:
        if self.family not in (4, 6):
            raise ValueError(f"family {self.family}: 4 or 6")
        if self.protocol not in ("tcp", "udp"):
            raise ValueError(f"protocol {self.protocol!r}: tcp or udp")
        for what, value in (("port", self.port), ("source port", self.sport)):
            if not 0 < value < SEQ_SPACE:
                raise ValueError(f"{what} {value} outside 1..65535")

    # -- what the loop sends

    def tcp_seq(self, seq: int) -> int:
        """The TCP sequence number of probe ``seq``'s SYN."""
        return (self.isn + seq) % SEQ32

    def udp_payload(self, seq: int) -> bytes:
        return make_payload(udp_key(self.cookie, seq), self.size)

    def _result_extra(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "port": self.port}

    # -- what arrives

    def received_packet(
        self, packet: Any, source: str, now_ns: int, kernel_wall_ns: int | None = None
    ) -> PortReply | PingError | None:
        """Feed one decoded packet (IP + TCP, IP + UDP, or IP + ICMP/ICMPv6 error) from
        ``source``; returns the answer or error it is for us, else None."""
        icmp = packet.icmp if self.family == 4 else packet.icmpv6
        if icmp is not None:
            return self._error(packet, icmp, source, now_ns, kernel_wall_ns) if icmp.is_error \
                else None  # fmt: skip
        if source != self.address:
            return None
        if self.protocol == "tcp" and packet.tcp is not None:
            return self._tcp(packet, packet.tcp, source, now_ns, kernel_wall_ns)
        if self.protocol == "udp" and packet.udp is not None:
            return self._udp(packet, packet.udp, source, now_ns, kernel_wall_ns)
        return None

    def _tcp(
        self, packet: Any, seg: Any, source: str, now_ns: int, stamp: int | None
    ) -> PortReply | None:
        if (seg.sport, seg.dport) != (self.port, self.sport) or seg.partial:
            return None
        flags = seg.flags or 0
        if not flags & tcp.ACK:
            return None
        if flags & tcp.RST:
            state, answer = "closed", "RST"
        elif flags & tcp.SYN:
            state, answer = "open", "SYN-ACK"
        else:
            return None
        seq = (seg.ack - 1 - self.isn) % SEQ32
        if seq >= SEQ_SPACE:
            return None
        return self._reply(packet, seq, source, now_ns, stamp, state, answer,
                           seg.end - seg.offset)  # fmt: skip

    def _udp(
        self, packet: Any, dgram: Any, source: str, now_ns: int, stamp: int | None
    ) -> PortReply | None:
        if (dgram.sport, dgram.dport) != (self.port, self.sport):
            return None
        seq = self._udp_seq(bytes(packet.data[dgram.payload_offset : dgram.end]))
        if seq is None:
            return None
        return self._reply(packet, seq, source, now_ns, stamp, "open", "data",
                           dgram.end - dgram.offset)  # fmt: skip

    def _udp_seq(self, payload: bytes, quoted: bool = False) -> int | None:
        """The probe a UDP payload belongs to: by the echoed cookie and sequence number;
        else (a service that answers with data of its own, or a quote too short to hold
        the number) the oldest probe not yet answered. A quote whose cookie is not ours
        is not ours."""
        have = min(len(payload), KEY_LEN, self.size)
        part = min(have, COOKIE_LEN)
        matches = payload[:part] == self.cookie[:part]
        if matches and have >= KEY_LEN:
            return int.from_bytes(payload[COOKIE_LEN:KEY_LEN], "big")
        if matches or not quoted:
            return self._oldest_unanswered()
        return None

    def _oldest_unanswered(self) -> int | None:
        for seq in self._sent:
            if not self.answered(seq):
                return seq
        return None

    def _reply(
        self,
        packet: Any,
        seq: int,
        source: str,
        now_ns: int,
        stamp: int | None,
        state: str,
        answer: str,
        size: int,
    ) -> PortReply | None:
        sent = self._sent.get(seq)
        if sent is None:
            return None
        dup = self._mark_reply(seq)
        reply = PortReply(
            seq=seq,
            source=source,
            ttl=packet.ip.hop_limit if packet.ip else 0,
            rtt_ms=self._rtt_ns(sent, now_ns, stamp) / 1e6,
            dup=dup,
            size=size,
            wall_ns=self._wall(sent, now_ns, stamp),
            port=self.port,
            protocol=self.protocol,
            state=state,
            answer=answer,
        )
        self.replies.append(reply)
        return reply

    def _quoted_seq(self, q: Any) -> int | None:
        """The probe an ICMP error's quoted datagram is, or None if not one of ours."""
        if q is None or q.ip is None or q.ip.dst != self.address:
            return None
        if self.protocol == "tcp":
            seg = q.tcp
            if seg is None or (seg.sport, seg.dport) != (self.sport, self.port):
                return None
            seq = (seg.seq - self.isn) % SEQ32
            return seq if seq < SEQ_SPACE else None
        dgram = q.udp
        if dgram is None or (dgram.sport, dgram.dport) != (self.sport, self.port):
            return None
        return self._udp_seq(bytes(q.data[dgram.payload_offset : dgram.end]), quoted=True)

    def _error(
        self, packet: Any, icmp: Any, source: str, now_ns: int, stamp: int | None
    ) -> PortReply | PingError | None:
        seq = self._quoted_seq(icmp.quoted)
        if seq is None:
            return None
        sent = self._sent.get(seq)
        if sent is None:
            return None
        if (
            self.protocol == "udp"
            and source == self.address
            and (icmp.type, icmp.code) == PORT_UNREACHABLE[self.family]
        ):
            return self._reply(packet, seq, source, now_ns, stamp, "closed",
                               "port unreachable", icmp.end - icmp.offset)  # fmt: skip
        self._mark_error(seq)
        err = PingError(
            seq=seq,
            source=source,
            type=icmp.type,
            code=icmp.code,
            text=error_text(self.family, icmp.type, icmp.code, icmp.mtu, icmp.pointer),
            wall_ns=self._wall(sent, now_ns, stamp),
        )
        self.icmp_errors.append(err)
        return err
