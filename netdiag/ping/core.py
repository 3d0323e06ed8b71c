"""The deciding half of ping: no sockets, no clocks (STYLE habit 4).

A :class:`PingSession` is told what was sent (``sent(seq, now_ns, wall_ns)``)
and handed every decoded ICMP/ICMPv6 packet that arrives (``received(packet,
source, now_ns, kernel_wall_ns)``). It decides whether the packet is ours and
returns a frozen :class:`PingReply` or :class:`PingError`, or ``None`` for
someone else's traffic. ``result(elapsed_ms)`` gives the :class:`PingResult`.
Those objects, the payload and the error texts are in :mod:`~netdiag.ping.events`.

Which packets are ours:
- an echo reply with our identifier whose payload starts with our per-session
  cookie (8 random bytes; fewer when ``-s`` is smaller). On raw sockets every
  socket sees every reply, so two pings in one process with the same identifier
  (1 in 65536) still never take each other's replies;
- an ICMP error whose quoted datagram is an echo request to our target with our
  identifier (and our cookie, where the quote is long enough to hold it).

RTT: kernel receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME) minus the wall
clock read just before ``sendto``. Both are wall clock, so a step of the clock
between them would corrupt the sample; each send and receive therefore also
carries a monotonic reading, and a kernel RTT outside ``[0, monotonic RTT]``
(impossible unless the clock stepped) is replaced by the monotonic RTT.

The bookkeeping (counts, send times, bitmaps, RTT, the result) lives in
:class:`ProbeLedger`, which the TCP and UDP probes of ``portcore`` share.

Duplicates: a bitmap over the 16-bit sequence space (as iputils): sending
``seq`` clears its bit, a reply sets it, a reply finding it set is a duplicate.
Clearing on send makes the map correct across the 65535 -> 0 wrap.
"""

from __future__ import annotations

from netdiag.packets.numbers import ICMPType, ICMPv6Type
from netdiag.ping.events import (
    COOKIE_LEN,
    SEQ_SPACE,
    PingError,
    PingReply,
    PingResult,
    error_text,
    make_payload,
)
from netdiag.records import dataclass, field

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["PingSession", "ProbeLedger"]


# --------------------------------------------------------------------------- bookkeeping


@dataclass
class _Sent:
    mono_ns: int
    wall_ns: int


@dataclass
class ProbeLedger:
    """What every probe session keeps: counts, send times, and the two sequence
    bitmaps (replied: for duplicates; answered: reply or error, for -O and waiting).
    ICMP echo (:class:`PingSession`) and TCP/UDP probes (``portcore``) extend it."""

    target: str
    address: str
    family: int
    transmitted: int = field(default=0, init=False)
    received: int = field(default=0, init=False)
    duplicates: int = field(default=0, init=False)
    errors: int = field(default=0, init=False)
    replies: list[PingReply] = field(default_factory=list, init=False)
    icmp_errors: list[PingError] = field(default_factory=list, init=False)
    _sent: dict[int, _Sent] = field(default_factory=dict, init=False)
    _seen: bytearray = field(default_factory=lambda: bytearray(SEQ_SPACE // 8), init=False)
    _answered: bytearray = field(default_factory=lambda: bytearray(SEQ_SPACE // 8), init=False)

    def next_seq(self) -> int:
        """The sequence number of the next probe: 1, 2, ... wrapping after 65535 to 0."""
        return (self.transmitted + 1) % SEQ_SPACE

    def sent(self, seq: int, now_ns: int, wall_ns: int) -> None:
        """Probe ``seq`` left at monotonic ``now_ns`` / wall ``wall_ns``."""
        self.transmitted += 1
        self._sent[seq] = _Sent(now_ns, wall_ns)
        byte, bit = divmod(seq, 8)
        self._seen[byte] &= ~(1 << bit) & 0xFF
        self._answered[byte] &= ~(1 << bit) & 0xFF

    def tx_stamped(self, seq: int, wall_ns: int) -> bool:
        """The kernel's transmit time of probe ``seq`` (SO_TIMESTAMPING, software): it
        replaces the clock read before ``sendto``, taking our own syscall and stack time
        out of the RTT. Ignored unless it lies within 1 s after that reading (a clock step,
        or a stamp meant for another probe)."""
        sent = self._sent.get(seq)
        if sent is None:
            return False
        delta = wall_ns - sent.wall_ns
        if not 0 <= delta <= 1_000_000_000:
            return False
        sent.wall_ns, sent.mono_ns = wall_ns, sent.mono_ns + delta
        return True

    def send_failed(self, seq: int) -> None:
        """``sendto`` refused probe ``seq`` (already counted by ``sent``): iputils counts
        it as an error and does not wait for it."""
        self._mark_error(seq)

    def answered(self, seq: int) -> bool:
        """Has probe ``seq`` had a reply or an error (for -O)?"""
        byte, bit = divmod(seq, 8)
        return bool(self._answered[byte] >> bit & 1)

    @property
    def outstanding(self) -> bool:
        """Probes still waiting: fewer replies plus errors than probes sent."""
        return self.received + self.errors < self.transmitted

    def _mark_reply(self, seq: int) -> bool:
        """Count a reply to ``seq``; True when it is a duplicate."""
        byte, bit = divmod(seq, 8)
        dup = bool(self._seen[byte] >> bit & 1)
        self._seen[byte] |= 1 << bit
        self._answered[byte] |= 1 << bit
        if dup:
            self.duplicates += 1
        else:
            self.received += 1
        return dup

    def _mark_error(self, seq: int) -> None:
        byte, bit = divmod(seq, 8)
        self._answered[byte] |= 1 << bit
        self.errors += 1

    @staticmethod
    def _rtt_ns(sent: _Sent, now_ns: int, kernel_wall_ns: int | None) -> int:
        mono = max(0, now_ns - sent.mono_ns)
        if kernel_wall_ns is None:
            return mono
        kernel = kernel_wall_ns - sent.wall_ns
        return kernel if 0 <= kernel <= mono else mono  # outside: the clock stepped

    @staticmethod
    def _wall(sent: _Sent, now_ns: int, kernel_wall_ns: int | None) -> int:
        if kernel_wall_ns is not None:
            return kernel_wall_ns
        return sent.wall_ns + max(0, now_ns - sent.mono_ns)

    def _result_extra(self) -> dict[str, Any]:
        return {}

    def result(
        self,
        elapsed_ms: int,
        *,
        interrupted: bool = False,
        count: int | None = None,
        deadline: float | None = None,
    ) -> PingResult:
        return PingResult(
            target=self.target,
            address=self.address,
            transmitted=self.transmitted,
            received=self.received,
            duplicates=self.duplicates,
            errors=self.errors,
            elapsed_ms=elapsed_ms,
            replies=tuple(self.replies),
            icmp_errors=tuple(self.icmp_errors),
            interrupted=interrupted,
            count=count,
            deadline=deadline,
            **self._result_extra(),
        )


# --------------------------------------------------------------------------- the session


@dataclass
class PingSession(ProbeLedger):
    """Matches what arrives to what was sent. ``family`` is 4 or 6."""

    ident: int = 0
    cookie: bytes = b""
    size: int = 56

    def __post_init__(self) -> None:
        if self.family not in (4, 6):
            raise ValueError(f"family {self.family}: 4 or 6")
        if not 0 <= self.ident < SEQ_SPACE:
            raise ValueError(f"identifier {self.ident} outside 0..65535")
        self._echo_reply = ICMPType.ECHO_REPLY if self.family == 4 else ICMPv6Type.ECHO_REPLY
        self._echo_request = ICMPType.ECHO_REQUEST if self.family == 4 else ICMPv6Type.ECHO_REQUEST
        self._cookie = self.cookie[: min(COOKIE_LEN, self.size)]

    def payload(self) -> bytes:
        return make_payload(self.cookie, self.size)

    def received_packet(
        self, packet: Any, source: str, now_ns: int, kernel_wall_ns: int | None = None
    ) -> PingReply | PingError | None:
        """Feed one decoded packet (IP + ICMP or ICMPv6) from ``source``; returns the
        reply or error it is for us, else None. ``now_ns`` is monotonic, read when the
        packet was taken from the socket; ``kernel_wall_ns`` its SO_TIMESTAMPNS."""
        icmp = packet.icmp if self.family == 4 else packet.icmpv6
        if icmp is None:
            return None
        if icmp.type == self._echo_reply:
            return self._reply(packet, icmp, source, now_ns, kernel_wall_ns)
        if icmp.is_error:
            return self._error(icmp, source, now_ns, kernel_wall_ns)
        return None

    # -- deciding

    def _ours(self, ident: int | None, payload: bytes) -> bool:
        if ident != self.ident:
            return False
        n = min(len(payload), len(self._cookie))
        return payload[:n] == self._cookie[:n]

    def _reply(
        self, packet: Any, icmp: Any, source: str, now_ns: int, kernel_wall_ns: int | None
    ) -> PingReply | None:
        payload = bytes(packet.data[icmp.payload_offset : icmp.end])
        if len(payload) < len(self._cookie) or not self._ours(icmp.id, payload):
            return None
        seq = icmp.seq
        sent = self._sent.get(seq)
        if sent is None:
            return None  # ours, but for a probe we never sent: not a reply
        dup = self._mark_reply(seq)
        rtt_ns = self._rtt_ns(sent, now_ns, kernel_wall_ns)
        reply = PingReply(
            seq=seq,
            source=source,
            ttl=packet.ip.hop_limit if packet.ip else 0,
            rtt_ms=rtt_ns / 1e6,
            dup=dup,
            size=icmp.end - icmp.offset,
            wall_ns=self._wall(sent, now_ns, kernel_wall_ns),
        )
        self.replies.append(reply)
        return reply

    def _error(
        self, icmp: Any, source: str, now_ns: int, kernel_wall_ns: int | None
    ) -> PingError | None:
        q = icmp.quoted
        if q is None or q.ip is None or q.ip.dst != self.address:
            return None
        qicmp = q.icmp if self.family == 4 else q.icmpv6
        if qicmp is None or qicmp.type != self._echo_request:
            return None
        payload = bytes(q.data[qicmp.payload_offset : qicmp.end])
        if not self._ours(qicmp.id, payload):
            return None
        seq = qicmp.seq
        sent = self._sent.get(seq)
        if sent is None:
            return None
        self._mark_error(seq)
        text = error_text(self.family, icmp.type, icmp.code, icmp.mtu, icmp.pointer)
        err = PingError(
            seq=seq,
            source=source,
            type=icmp.type,
            code=icmp.code,
            text=text,
            wall_ns=self._wall(sent, now_ns, kernel_wall_ns),
        )
        self.icmp_errors.append(err)
        return err
