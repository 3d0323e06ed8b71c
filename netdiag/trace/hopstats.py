"""Per-hop statistics of mtr: loss, last/avg/best/worst RTT, standard deviation, jitter.

Pure: fed one probe outcome at a time (``HopStats.add(address, rtt_ms)``, address
None for a probe nobody answered), summarised into frozen :class:`HostSummary`
rows. Conventions (mtr's, where it has one):

- ``sent`` counts the probes sent to the hop. Loss is *path* loss
  (:func:`netdiag.trace.ratelimit.path_loss`): unanswered here and as much at
  every later hop; the rest of the hop's unanswered probes are ``unanswered_pct``
  (rate limiting, or a router that does not answer at all), and a hop whose
  misses its ICMP token bucket explains is ``rate_limited``. Without path
  figures (a hop on its own) loss is the plain unanswered share. Loss belongs to
  the hop, so every responder of a hop shows the hop's loss and sent count; the
  RTT figures are each responder's own.
- StDev is the sample standard deviation (n - 1 in the denominator; 0 below two
  samples), accumulated with Welford's update so it needs no list of samples.
- Jitter is the mean absolute difference of consecutive RTTs of one responder
  (as the issue defines it; RFC 3550's smoothed jitter is a different figure).
"""

from __future__ import annotations

import math

from netdiag.records import dataclass, field
from netdiag.trace.ratelimit import BucketModel, PathLoss

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
    unanswered_pct: float = 0.0
    rate_limited: bool = False


@dataclass(frozen=True)
class HopSummary:
    ttl: int
    hosts: tuple[HostSummary, ...]
    probe_interval_s: float | None = None  # mean time between probes to this hop


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
    bucket: BucketModel | None = None  # the hop's ICMP rate limit, if it has one
    first_at: float | None = None
    last_at: float | None = None

    def add(self, address: str | None, rtt_ms: float | None, at: float | None = None) -> None:
        """One probe's outcome; ``at`` (seconds, any origin) is when it was sent."""
        self.sent += 1
        answered = address is not None and rtt_ms is not None
        if at is not None:
            self.first_at = at if self.first_at is None else self.first_at
            self.last_at = at
            if self.bucket is not None:
                self.bucket.observe(at, answered)
        if address is None or rtt_ms is None:
            return
        self.answered += 1
        self.hosts.setdefault(address, HostAccumulator()).add(rtt_ms)

    @property
    def missed(self) -> int:
        return self.sent - self.answered

    @property
    def explained(self) -> int:
        """Misses the hop's rate-limit model accounts for (0 without a model)."""
        return min(self.bucket.explained, self.missed) if self.bucket is not None else 0

    @property
    def loss_pct(self) -> float:
        return 100.0 * (self.sent - self.answered) / self.sent if self.sent else 0.0

    @property
    def probe_interval_s(self) -> float | None:
        if self.first_at is None or self.last_at is None or self.sent < 2:
            return None
        return (self.last_at - self.first_at) / (self.sent - 1)

    def summary(self, path: PathLoss | None = None) -> HopSummary:
        loss = self.loss_pct if path is None else path.loss_pct
        unans = 0.0 if path is None else path.unanswered_pct
        limited = False if path is None else path.rate_limited
        if not self.hosts:
            row = HostSummary(None, loss, self.sent, 0, None, None, None, None, None, None,
                              unans, limited)  # fmt: skip
            return HopSummary(self.ttl, (row,), self.probe_interval_s)
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
                unans,
                limited,
            )  # fmt: skip
            for address, h in self.hosts.items()
        )
        return HopSummary(self.ttl, rows, self.probe_interval_s)
