"""What a reader keeps across packets to show application messages that span TCP
segments: one ``Streams`` reassembler (inspect/streams.py) and, per direction,
whether TLS has passed its ChangeCipherSpec (after it, TLS 1.2 handshake
records are encrypted).

``AppStreams.dissect(p, tcp, name)`` feeds the segment to the reassembler and
decodes the messages it completes: ``(name, record, error)`` as
``apptext.app_layer`` returns it (None for a protocol not framed here), or
``(None, None, None)`` when the segment
completes no message (its bytes wait for the next segments, repeat bytes
already shown, or come after a gap). Protocols framed this way are those in
``FRAMERS``: TLS (by records) and DNS over TCP (by its length prefix; the first
message a segment completes is shown, as dnstext does within one segment).
Other protocols keep their per-segment decoding.

``AppStreams.quic(p, udp)`` follows QUIC connections far enough to decrypt
their Initial packets (packets/quicinitial.py): the keys of both sides come
from the Destination Connection ID of the client's first Initial (after a
Retry, from the Retry's Source Connection ID), so the datagram's ``QUIC``
record is given that ID (``initial_dcid``) and whether it comes from the
server; the renderer then shows the server's ServerHello too. The first
Initial seen on a 4-tuple is taken as the client's (a capture that starts
mid-connection decrypts nothing, as the IDs were chosen before it).

Keep one per capture read (the text formatter holds one): it is the state of
that walk, and only grows within the bounds Streams sets (and ``max_quic``
connections for QUIC).
"""

from __future__ import annotations

from netdiag.errors import DecodeError
from netdiag.inspect.streams import Streams, dns_tcp_framer, tls_framer
from netdiag.packets.tcp import FIN, RST, SYN
from netdiag.packets.tls import decode

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

    from netdiag.packets.packet import Packet

__all__ = ["AppStreams", "FRAMERS"]

FRAMERS = {"tls": tls_framer, "dns-tcp": dns_tcp_framer}
_NONE: tuple[Any, ...] = (None, None, None)
_CONTROL = SYN | FIN | RST
_MAX_CARRY = 1 << 18  # a handshake message longer than this is not followed


def _remember(table: dict[Any, None], key: Any, limit: int) -> None:
    table[key] = None
    while len(table) > limit:
        del table[next(iter(table))]


class AppStreams:
    def __init__(self, streams: Streams | None = None, *, max_quic: int = 4096) -> None:
        self.streams = streams or Streams()
        # Ordered sets (dicts, oldest first), bounded like the QUIC table below.
        self._after_ccs: dict[tuple[Any, ...], None] = {}  # directions past ChangeCipherSpec
        self._tls13: dict[tuple[Any, ...], None] = {}  # directions whose connection chose 1.3
        # A handshake message begun in one record and going on in a later one.
        self._carry: dict[tuple[Any, ...], bytes] = {}
        # QUIC: client direction -> the DCID its Initial keys come from (oldest first).
        self._quic: dict[tuple[Any, ...], bytes] = {}
        self.max_quic = max_quic
        self.max_tls = self.streams.max_flows

    def quic(self, p: Packet, u: Any) -> tuple[str | None, Any, DecodeError | None] | None:
        """A QUIC datagram with what decrypting its Initials needs; None if not QUIC."""
        ip = u._ip
        if ip is None:
            return None
        from netdiag.packets import quic
        from netdiag.records import replace

        try:
            q = quic.decode(p.data[u.payload_offset : u.end])
        except DecodeError as e:
            return ("quic", None, e)
        key = (ip.src, u.sport, ip.dst, u.dport)
        reverse = (ip.dst, u.dport, ip.src, u.sport)
        table = self._quic
        for h in q.long_headers:
            if h.packet_type == quic.RETRY and reverse in table:
                table[reverse] = h.scid  # the client's next Initial goes to this ID
            elif h.packet_type == quic.INITIAL and key not in table and reverse not in table:
                table[key] = h.dcid  # the first Initial of the connection: the client's
                while len(table) > self.max_quic:
                    del table[next(iter(table))]
        if key in table:
            return ("quic", replace(q, initial_dcid=table[key], from_server=False), None)
        if reverse in table:
            return ("quic", replace(q, initial_dcid=table[reverse], from_server=True), None)
        return ("quic", q, None)

    def dissect(
        self, p: Packet, t: Any, name: str
    ) -> tuple[str | None, Any, DecodeError | None] | None:
        """None for a protocol not framed here (the caller decodes the segment alone)."""
        framer = FRAMERS.get(name)
        ip = t._ip  # the IP layer carrying the segment (an inner one in a tunnel)
        if framer is None or ip is None:
            return None
        offflags = t.offflags  # data offset and flags, one read (packets/tcp.py)
        flags = offflags & 0x1FF
        start = t.offset + (offflags >> 12) * 4
        if start >= t.end and not flags & _CONTROL:
            return _NONE  # a bare ACK: nothing for the stream (the most common segment)
        key = (ip.src, t.sport, ip.dst, t.dport)
        reverse = (ip.dst, t.dport, ip.src, t.sport)
        got = self.streams.segment(key, t.seq, p.data[start : t.end], framer,
                                   syn=bool(flags & SYN), fin=bool(flags & FIN),
                                   rst=bool(flags & RST), reverse=reverse)  # fmt: skip
        if flags & (FIN | RST):
            for k in (key, reverse) if flags & RST else (key,):
                self._after_ccs.pop(k, None)
                self._tls13.pop(k, None)
                self._carry.pop(k, None)
        if not got.messages:
            return _NONE
        if name == "tls":
            carry = self._carry.pop(key, b"")
            try:
                rec = decode(b"".join(got.messages), after_ccs=key in self._after_ccs,
                             tls13=key in self._tls13, carry=carry)  # fmt: skip
            except DecodeError as e:
                return (name, None, e)
            if rec.pending and len(rec.pending) <= _MAX_CARRY:
                self._carry[key] = rec.pending
                while len(self._carry) > self.max_tls:
                    del self._carry[next(iter(self._carry))]
            if not flags & (FIN | RST):
                if rec.after_ccs:
                    _remember(self._after_ccs, key, self.max_tls)
                if rec.tls13:
                    _remember(self._tls13, key, self.max_tls)
                    _remember(self._tls13, reverse, self.max_tls)
            return (name, rec, None)
        from netdiag.packets.app import dissect

        try:
            return (name, dissect(name, got.messages[0]), None)
        except DecodeError as e:
            return (name, None, e)
