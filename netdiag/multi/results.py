"""The many-target engine's plain data: the events it hands back and the per-host result.

:class:`HostResult` is what ``netdiag fping --json``, ``netdiag.ping()``,
``netdiag.multiping()`` and ``netdiag.aio`` return: counts, the RTTs kept (every
probe's in count mode, a ring of the recent ones in loop mode), and the derived
numbers as properties (icmplib's names: ``avg_rtt``, ``packet_loss``,
``is_alive``, ``jitter``). RTTs are in milliseconds.

Counting follows fping: ``transmitted`` counts probes that were answered or timed
out (a probe still in flight is not counted), so the loss of a run that ended
cleanly is ``1 - received / transmitted``.
"""

from __future__ import annotations

import math

from netdiag.records import dataclass

__all__ = ["HostResult", "Reply", "Timeout", "Duplicate", "IcmpError", "SendError", "Event"]


@dataclass(frozen=True, slots=True)
class Reply:
    """Probe ``probe`` of target ``target`` (its index) was answered."""

    target: int
    probe: int
    rtt_ms: float
    size: int  # ICMP message bytes (or TCP/UDP segment bytes)
    source: str
    ttl: int
    wall_ns: int = 0
    answer: str = ""  # tcp/udp: "SYN-ACK", "RST", "data", "port unreachable"


@dataclass(frozen=True, slots=True)
class Duplicate:
    target: int
    probe: int
    rtt_ms: float
    size: int
    source: str


@dataclass(frozen=True, slots=True)
class Timeout:
    target: int
    probe: int
    wall_ns: int = 0


@dataclass(frozen=True, slots=True)
class IcmpError:
    """An ICMP error from ``source`` (a router, or the target) quoting one of our probes."""

    target: int
    probe: int
    source: str
    family: int
    type: int  # noqa: A003 -- the JSON field name
    code: int


@dataclass(frozen=True, slots=True)
class SendError:
    target: int
    probe: int
    message: str


Event = Reply | Duplicate | Timeout | IcmpError | SendError


@dataclass(frozen=True)
class HostResult:
    """One target's outcome. ``rtts`` holds one entry per probe kept, in probe order:
    the RTT in ms, or None for a probe that got no reply."""

    target: str
    address: str
    family: int
    transmitted: int
    received: int
    duplicates: int = 0
    errors: int = 0
    rtts: tuple[float | None, ...] = ()
    min_rtt: float = 0.0
    max_rtt: float = 0.0
    sum_rtt: float = 0.0
    protocol: str = "icmp"
    port: int | None = None
    icmp_errors: tuple[str, ...] = ()  # fping's lines, "ICMP Host Unreachable from ..."

    @property
    def is_alive(self) -> bool:
        return self.received > 0

    @property
    def avg_rtt(self) -> float:
        """Mean RTT over every reply (0.0 without replies, as icmplib)."""
        return self.sum_rtt / self.received if self.received else 0.0

    @property
    def packet_loss(self) -> float:
        """Lost fraction of the probes sent, 0.0 .. 1.0 (icmplib's convention)."""
        if not self.transmitted:
            return 0.0
        return max(0, self.transmitted - self.received) / self.transmitted

    @property
    def loss_pct(self) -> int:
        """fping's integer percentage."""
        if not self.transmitted:
            return 0
        return max(0, self.transmitted - self.received) * 100 // self.transmitted

    @property
    def jitter(self) -> float:
        """Mean absolute difference of consecutive RTTs kept (icmplib's jitter), in ms."""
        got = [r for r in self.rtts if r is not None]
        if len(got) < 2:
            return 0.0
        return sum(abs(b - a) for a, b in zip(got, got[1:], strict=False)) / (len(got) - 1)

    @property
    def stdev_rtt(self) -> float:
        got = [r for r in self.rtts if r is not None]
        if len(got) < 2:
            return 0.0
        mean = sum(got) / len(got)
        return math.sqrt(sum((r - mean) ** 2 for r in got) / (len(got) - 1))

    def as_json(self) -> dict[str, object]:
        """The ``--json`` object."""
        got = [r for r in self.rtts if r is not None]
        return {
            "target": self.target,
            "address": self.address,
            "family": self.family,
            "protocol": self.protocol,
            "port": self.port,
            "sent": self.transmitted,
            "received": self.received,
            "duplicates": self.duplicates,
            "loss": round(self.packet_loss, 6),
            "alive": self.is_alive,
            "rtts": [None if r is None else round(r, 6) for r in self.rtts],
            "rtt": None
            if not got
            else {
                "min": round(self.min_rtt, 6),
                "avg": round(self.avg_rtt, 6),
                "max": round(self.max_rtt, 6),
                "jitter": round(self.jitter, 6),
            },
            "errors": list(self.icmp_errors),
        }
