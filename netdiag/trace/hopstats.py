"""Per-hop statistics of mtr: loss, last/avg/best/worst RTT, standard deviation, jitter.

Pure: fed one probe outcome at a time (``HopStats.add(address, rtt_ms)``, address
None for a probe nobody answered), summarised into frozen :class:`HostSummary`
rows. Conventions (mtr's, where it has one):

- ``sent`` counts the probes sent to the hop; loss is the share of those that no
  one answered. It belongs to the hop, so every responder of a hop shows the
  hop's loss and sent count; the RTT figures are each responder's own.
- StDev is the sample standard deviation (n - 1 in the denominator; 0 below two
  samples), accumulated with Welford's update so it needs no list of samples.
- Jitter is the mean absolute difference of consecutive RTTs of one responder
  (as the issue defines it; RFC 3550's smoothed jitter is a different figure).
"""

from __future__ import annotations

import math

from netdiag.records import dataclass, field

__all__ = ["HostSummary", "HopSummary", "HopStats", "HostAccumulator"]


@dataclass(frozen=True)
class HostSummary:
    address: str | None  # None: the hop never answered
    loss_pct: float
    sent: int
    received: int
    last_ms: float | None
    avg_ms: float | None
    best_ms: float | None
    worst_ms: float | None
    stdev_ms: float | None
    jitter_ms: float | None


@dataclass(frozen=True)
class HopSummary:
    ttl: int
    hosts: tuple[HostSummary, ...]


@dataclass
class HostAccumulator:
    """Running figures of one responder."""

    received: int = 0
    last: float = 0.0
    best: float = math.inf
    worst: float = 0.0
    mean: float = 0.0
    m2: float = 0.0  # Welford: sum of squared deviations from the mean
    jitter_sum: float = 0.0

    def add(self, rtt_ms: float) -> None:
        if self.received:
            self.jitter_sum += abs(rtt_ms - self.last)
        self.received += 1
        self.last = rtt_ms
        self.best = min(self.best, rtt_ms)
        self.worst = max(self.worst, rtt_ms)
        delta = rtt_ms - self.mean
        self.mean += delta / self.received
        self.m2 += delta * (rtt_ms - self.mean)

    @property
    def stdev(self) -> float:
        return math.sqrt(self.m2 / (self.received - 1)) if self.received > 1 else 0.0

    @property
    def jitter(self) -> float:
        return self.jitter_sum / (self.received - 1) if self.received > 1 else 0.0


@dataclass
class HopStats:
    """Everything one hop (TTL) has answered so far, responders in order of first answer."""

    ttl: int
    sent: int = 0
    answered: int = 0
    hosts: dict[str, HostAccumulator] = field(default_factory=dict)

    def add(self, address: str | None, rtt_ms: float | None) -> None:
        self.sent += 1
        if address is None or rtt_ms is None:
            return
        self.answered += 1
        self.hosts.setdefault(address, HostAccumulator()).add(rtt_ms)

    @property
    def loss_pct(self) -> float:
        return 100.0 * (self.sent - self.answered) / self.sent if self.sent else 0.0

    def summary(self) -> HopSummary:
        loss = self.loss_pct
        if not self.hosts:
            row = HostSummary(None, loss, self.sent, 0, None, None, None, None, None, None)
            return HopSummary(self.ttl, (row,))
        rows = tuple(
            HostSummary(
                address,
                loss,
                self.sent,
                h.received,
                h.last,
                h.mean,
                h.best,
                h.worst,
                h.stdev,
                h.jitter,
            )  # fmt: skip
            for address, h in self.hosts.items()
        )
        return HopSummary(self.ttl, rows)
