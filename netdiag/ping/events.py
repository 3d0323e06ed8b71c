"""Ping's plain data: the objects it emits and the payload it sends. No logic decides here.

The frozen result objects (STYLE habit 5) that a probe session hands back and
``render/`` turns into lines and JSON: :class:`PingStart` (the header line),
:class:`PingReply`, :class:`PingError`, :class:`NoAnswerYet` (-O) and the closing
:class:`PingResult`, whose statistics are properties.

Beside them, the small facts every echo-style probe shares: the per-session cookie
length, the 16-bit sequence space, the echo payload (:func:`make_payload`) and
iputils' words for ICMP errors (:func:`error_text`).

They live apart from :mod:`~netdiag.ping.core`, which matches packets to probes
and keeps the counts, so that the renderers, the CLI and the TCP/UDP probes can use
the objects without the matching machinery.
"""

from __future__ import annotations

import math

from netdiag.records import dataclass

__all__ = [
    "PingReply",
    "PortReply",
    "PingError",
    "PingResult",
    "PingStart",
    "NoAnswerYet",
    "COOKIE_LEN",
    "SEQ_SPACE",
    "error_text",
    "make_payload",
]

COOKIE_LEN = 8
SEQ_SPACE = 1 << 16

# iputils' words for ICMP errors, one table: (family, type, code) -> text.
# Unreachable "fragmentation needed" and ICMPv6 "packet too big" add the MTU.
_ERROR_TEXTS: dict[tuple[int, int, int], str] = {
    (4, 3, 0): "Destination Net Unreachable",
    (4, 3, 1): "Destination Host Unreachable",
    (4, 3, 2): "Destination Protocol Unreachable",
    (4, 3, 3): "Destination Port Unreachable",
    (4, 3, 4): "Frag needed and DF set (mtu = {mtu})",
    (4, 3, 5): "Source Route Failed",
    (4, 3, 6): "Destination Net Unknown",
    (4, 3, 7): "Destination Host Unknown",
    (4, 3, 8): "Source Host Isolated",
    (4, 3, 9): "Destination Net Prohibited",
    (4, 3, 10): "Destination Host Prohibited",
    (4, 3, 11): "Destination Net Unreachable for Type of Service",
    (4, 3, 12): "Destination Host Unreachable for Type of Service",
    (4, 3, 13): "Packet filtered",
    (4, 3, 14): "Precedence Violation",
    (4, 3, 15): "Precedence Cutoff",
    (4, 4, 0): "Source Quench",
    (4, 5, 0): "Redirect Network",
    (4, 5, 1): "Redirect Host",
    (4, 5, 2): "Redirect Type of Service and Network",
    (4, 5, 3): "Redirect Type of Service and Host",
    (4, 11, 0): "Time to live exceeded",
    (4, 11, 1): "Frag reassembly time exceeded",
    (4, 12, 0): "Parameter problem: pointer = {pointer}",
    (6, 1, 0): "Destination unreachable: No route",
    (6, 1, 1): "Destination unreachable: Administratively prohibited",
    (6, 1, 2): "Destination unreachable: Beyond scope of source address",
    (6, 1, 3): "Destination unreachable: Address unreachable",
    (6, 1, 4): "Destination unreachable: Port unreachable",
    (6, 1, 5): "Destination unreachable: Source address failed ingress/egress policy",
    (6, 1, 6): "Destination unreachable: Reject route to destination",
    (6, 2, 0): "Packet too big: mtu={mtu}",
    (6, 3, 0): "Time exceeded: Hop limit",
    (6, 3, 1): "Time exceeded: Defragmentation failure",
    (6, 4, 0): "Parameter problem: Erroneous header field at {pointer}",
    (6, 4, 1): "Parameter problem: Unrecognized next header at {pointer}",
    (6, 4, 2): "Parameter problem: Unrecognized IPv6 option at {pointer}",
}


def error_text(
    family: int, icmp_type: int, code: int, mtu: int | None = None, pointer: int | None = None
) -> str:
    """iputils' text for an ICMP (family 4) or ICMPv6 (family 6) error."""
    text = _ERROR_TEXTS.get((family, icmp_type, code))
    if text is None:
        return f"Bad ICMP type: {icmp_type}, code: {code}"
    return text.format(mtu=mtu, pointer=pointer)


def make_payload(cookie: bytes, size: int) -> bytes:
    """The echo payload: as much of the cookie as fits, then iputils' pattern (bytes
    counting up from the offset, as with no ``-p``)."""
    head = cookie[:size]
    return head + bytes(i & 0xFF for i in range(len(head), size))


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PingStart:
    """What ping is about to do: the header line's facts."""

    target: str
    address: str
    family: int
    size: int  # ICMP (or UDP) payload bytes (-s)
    protocol: str = "icmp"  # "tcp" / "udp" for --tcp / --udp
    port: int | None = None


@dataclass(frozen=True)
class PingReply:
    seq: int
    source: str
    ttl: int
    rtt_ms: float
    dup: bool
    size: int  # ICMP message bytes (header + payload), as ping prints "64 bytes"
    wall_ns: int = 0  # receive time (CLOCK_REALTIME ns), for -D

    def __post_init__(self) -> None:
        if not 0 <= self.seq < SEQ_SPACE:
            raise ValueError(f"seq {self.seq} outside 0..65535")
        if self.rtt_ms < 0:
            raise ValueError(f"negative rtt {self.rtt_ms}")


@dataclass(frozen=True)
class PortReply(PingReply):
    """An answer to a TCP or UDP probe: ``state`` is "open" or "closed"; ``answer``
    says what came back (``SYN-ACK``, ``RST``, ``data``, ``port unreachable``)."""

    port: int = 0
    protocol: str = "tcp"
    state: str = "open"
    answer: str = ""


@dataclass(frozen=True)
class PingError:
    seq: int
    source: str
    type: int  # noqa: A003 -- the JSON field name the issue asks for
    code: int
    text: str
    wall_ns: int = 0


@dataclass(frozen=True)
class NoAnswerYet:
    """-O: the probe ``seq`` had no answer when the next one was due."""

    seq: int
    wall_ns: int = 0


@dataclass(frozen=True)
class PingResult:
    target: str
    address: str
    transmitted: int
    received: int
    duplicates: int
    errors: int
    elapsed_ms: int
    replies: tuple[PingReply, ...] = ()
    icmp_errors: tuple[PingError, ...] = ()
    interrupted: bool = False
    count: int | None = None  # -c, for the exit status with -w
    deadline: float | None = None  # -w
    protocol: str = "icmp"  # "tcp" / "udp" for --tcp / --udp probes
    port: int | None = None  # their destination port

    @property
    def loss_pct(self) -> float:
        if not self.transmitted:
            return 0.0
        return (self.transmitted - self.received) * 100.0 / self.transmitted

    @property
    def _rtts(self) -> list[float]:
        # iputils counts duplicates' times too (its tsum covers every echo reply)
        return [r.rtt_ms for r in self.replies]

    @property
    def rtt_min(self) -> float | None:
        rtts = self._rtts
        return min(rtts) if rtts else None

    @property
    def rtt_max(self) -> float | None:
        rtts = self._rtts
        return max(rtts) if rtts else None

    @property
    def rtt_avg(self) -> float | None:
        rtts = self._rtts
        return sum(rtts) / len(rtts) if rtts else None

    @property
    def rtt_mdev(self) -> float | None:
        """iputils' mdev: sqrt(mean(rtt^2) - mean(rtt)^2), over all replies."""
        rtts = self._rtts
        if not rtts:
            return None
        mean = sum(rtts) / len(rtts)
        mean2 = sum(x * x for x in rtts) / len(rtts)
        return math.sqrt(max(0.0, mean2 - mean * mean))

    @property
    def exit_status(self) -> int:
        """iputils: 1 if no reply, or with -w and -c when fewer than COUNT replies; else 0."""
        if not self.received:
            return 1
        if self.deadline is not None and self.count and self.received < self.count:
            return 1
        return 0
