"""Telling loss from ICMP rate limiting, and pacing probes so that no bucket runs dry. Pure.

Linux (and most routers) limit the ICMP errors they send to one peer with a token
bucket (``inet_peer_xrlim_allow``): a token every ``icmp_ratelimit`` ms (IPv4
default 1000; IPv6 100, shortened further for routes shorter than /128), at
most ``XRLIM_BURST_FACTOR`` = 6 of them saved up. A router that runs out drops
its time exceeded; a destination that runs out drops its port unreachable (echo
replies and TCP answers are not limited). mtr counts both as loss, which is why
it shows 55% "loss" at every router of a clean path at ``-i 0.2``.

Three pieces:

- :class:`BucketModel` follows a node's probes and answers against simulated
  buckets with the kernel's rule, started at every level from full to empty in
  half tokens (an earlier run may have left it anywhere). The start that fits
  the answers best (:attr:`BucketModel.explained`) says which misses the
  bucket explains: those are *unanswered*, not lost.
- :func:`path_loss` turns per-hop counts into path loss: a probe unanswered at
  a hop is lost only if the evidence says the path itself loses it, i.e. the
  hops after it (the destination included) lose as much (mtr's rule of thumb,
  "loss that does not carry on to later hops is not loss", made exact: a
  monotone fit of the hops' unexplained miss rates); the rest of a hop's misses
  are Unans%.
- :class:`Pacer` spends a hop's modelled tokens: an intermediate hop is probed
  in a round only while its bucket (the kernel's defaults, or slower once it
  was seen limiting) has a token to spare; the destination is probed every round.
"""

from __future__ import annotations

import math

from netdiag.records import dataclass, field

__all__ = [
    "BURST",
    "default_period",
    "BucketModel",
    "Pacer",
    "PathLoss",
    "path_loss",
]

BURST = 6  # XRLIM_BURST_FACTOR (net/ipv4/icmp.c)
_TOLERANCE = 0.05  # of a period: send times are ours, arrival and jiffies are theirs
_Z_FLAG = 3.09  # one-sided 99.9 %: mtr re-judges every round, so be sure before flagging


def default_period(family: int) -> float:
    """Seconds per token of the kernel's default ICMP error rate limit."""
    return 1.0 if family == 4 else 0.1


@dataclass
class _Sim:
    period: float
    tokens: float  # in seconds of credit, as the kernel keeps it (0 .. BURST * period)
    last: float | None = None
    contradictions: int = 0
    explained: int = 0
    unexplained: int = 0
    marks: bytearray | None = None  # per observation: 1 if a miss this start explains

    def observe(self, at: float, answered: bool) -> None:
        cap = BURST * self.period
        if self.last is not None:
            self.tokens = min(cap, self.tokens + max(0.0, at - self.last))
        self.last = at
        available = self.tokens >= self.period * (1 - _TOLERANCE)
        surely = self.tokens >= self.period * (1 + _TOLERANCE)
        if answered:
            if not available:
                self.contradictions += 1  # the bucket had more than we thought
            self.tokens = max(0.0, self.tokens - self.period)
        elif not surely:
            self.explained += 1  # no token (or too close to call): a rate-limited miss
            if self.marks is not None:
                self.marks.append(1)
            return
        else:  # a token was there: lost (if the answer was lost, the token is spent too;
            # if the probe was, the kernel kept it, and its next answer puts us right)
            self.unexplained += 1
            self.tokens = max(0.0, self.tokens - self.period)
        if self.marks is not None:
            self.marks.append(0)


@dataclass
class BucketModel:
    """Which misses of one node its ICMP token bucket explains."""

    period: float
    sims: list[_Sim] = field(default_factory=list)
    marks: bool = False  # keep, per observation, which misses each start explains
    observed: int = 0

    def __post_init__(self) -> None:
        # every start from full to empty in half tokens: an earlier run (ours or another
        # tool's) may have left the bucket anywhere
        steps = 2 * BURST
        self.sims = [_Sim(self.period, self.period * BURST * (steps - k) / steps,
                          marks=bytearray() if self.marks else None)
                     for k in range(steps + 1)]  # fmt: skip

    def observe(self, at: float, answered: bool) -> int:
        """Feed one probe's outcome; returns its index (for :meth:`explains`)."""
        for sim in self.sims:
            sim.observe(at, answered)
        self.observed += 1
        return self.observed - 1

    def _best(self) -> _Sim | None:
        """The likeliest start (see :attr:`explained`), None when it is refuted."""
        k = min(range(len(self.sims)), key=lambda k: (
            3 * self.sims[k].contradictions + self.sims[k].unexplained + 0.1 * k))  # fmt: skip
        sim = self.sims[k]
        # it answers far more than this bucket allows: not its limit
        return None if sim.contradictions > max(2, sim.explained // 4) else sim

    def explains(self) -> bytearray:
        """Per observation (``marks=True``): 1 where the likeliest start explains the miss."""
        sim = self._best()
        if sim is None or sim.marks is None:
            return bytearray(self.observed)
        return sim.marks

    @property
    def explained(self) -> int:
        """Misses the likeliest start of the bucket explains. Each start is scored: an
        answer it cannot explain (a contradiction) costs 3, a miss it cannot explain 1,
        and each half token below full 0.1 (a bucket untouched by others is the rule,
        so one miss at the start is rather one lost probe than a bucket 6 s short).
        When even the best start meets more than a quarter as many answers it cannot
        give as misses it explains (and more than 2), the node limits less than
        modelled, or not at all (a node without limit, probed faster than the model
        allows, shows about as many of each): its misses are then left unexplained."""
        sim = self._best()
        return 0 if sim is None else sim.explained


@dataclass
class Pacer:
    """One intermediate hop's budget: probe it while its modelled bucket has a token.

    Over budget, one probe is tried as soon as the burst is spent and then now and
    then (``explore`` seconds after a try that went unanswered; every round while
    tries are answered): a hop that answers it limits less
    than modelled, and its modelled rate doubles (without limit, a hop with no rate
    limit ends up probed every round). A try that goes unanswered costs that hop a
    token it had anyway: it shows as Unans%, never as loss."""

    period: float
    tokens: float = float(BURST)
    last: float | None = None
    slowed: int = 0
    explore: float = 4.0
    _next_try: float = 0.0
    _trying: bool = False

    def _refill(self, at: float) -> None:
        if self.last is None:
            self._next_try = at  # a try as soon as the burst is spent, then now and then
        elif self.period > 0:
            self.tokens = min(float(BURST), self.tokens + (at - self.last) / self.period)
        self.last = at

    def take(self, at: float, tries: bool = True) -> bool:
        """True (and a token spent) if the hop may be probed at ``at``; ``tries=False``:
        only within budget (a second probe of the hop in one round: a try already out
        keeps waiting for its :meth:`outcome`)."""
        self._refill(at)
        if tries:
            self._trying = False
        if self.period <= 0 or self.tokens >= 1.0 + _TOLERANCE:
            self.tokens = max(0.0, self.tokens - 1.0)
            return True
        if tries and at >= self._next_try:
            self._trying = True
            return True
        return False

    def outcome(self, at: float, answered: bool) -> None:
        """What the probe :meth:`take` allowed at ``at`` got."""
        if not self._trying:
            return
        self._trying = False
        if answered:  # a token we did not model: the hop limits less
            self.period = self.period / 2 if self.period > 0.02 else 0.0
            self._next_try = at
        else:
            self._next_try = at + self.explore

    def slow_down(self, at: float) -> None:
        """The hop misses more than the path loses: it limits harder than modelled.
        Halve its rate (down to one probe per 16 s), start from empty."""
        self._refill(at)
        self.tokens = 0.0
        self._next_try = at + self.explore
        self.period = min(16.0, max(self.period * 2, 0.05))
        self.slowed += 1


@dataclass(frozen=True)
class PathLoss:
    loss_pct: float  # lost on the path up to this hop
    unanswered_pct: float  # unanswered here, but not lost (answered beyond, or limited)
    rate_limited: bool


def _pava(values: list[float], weights: list[int]) -> list[float]:
    """The non-decreasing sequence nearest ``values`` in weighted least squares (pool
    adjacent violators): the maximum-likelihood loss rates when loss can only grow
    along the path."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for v, w in zip(values, weights, strict=True):
        blocks.append([v, float(w), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks[-1]
            total = w1 + w2
            blocks[-1] = [(m1 * w1 + m2 * w2) / total if total else 0.0, total, c1 + c2]
    out: list[float] = []
    for mean, _w, count in blocks:
        out.extend([mean] * int(count))
    return out


def path_loss(hops: list[tuple[int, int, int]]) -> list[PathLoss]:
    """Per hop in TTL order, from ``(sent, missed, explained)`` (explained: the misses its
    rate-limit model accounts for): the path loss, the unanswered-but-not-lost share,
    and whether the hop is rate-limiting.

    1. A hop's *unexplained* miss rate is its raw estimate of the loss up to it.
    2. The rates of the hops before the destination are fitted as a non-decreasing
       sequence (loss can only grow along the path), pooling neighbours that
       disagree, so a hop beyond a lossy link shares the evidence of the hops after
       it; the destination (probed every round) keeps its own figure, and no hop
       shows more loss than the hops after it.
    3. A hop with significantly more unexplained misses than the fit of the hops
       after it (one-sided 99.9 %) is limiting or deprioritising ICMP: its excess is
       unanswered, not lost, and the fit is made again without it (its loss is that
       of the hop before it: no evidence says more), until no flag changes. A hop
       that never answered is left out the same way, unless no hop after it
       answered either: past the last answer, every probe is lost (a silent tail).
    """
    n = len(hops)
    # A miss the bucket explains says nothing about loss: the rate is over the others.
    usable = [s - e for s, _m, e in hops]
    lost = [m - e for _s, m, e in hops]
    raw = [lost[i] / usable[i] if usable[i] > 0 else 0.0 for i in range(n)]
    flagged = [False] * n
    # A hop that never answered says nothing about the path (a silent router, or the
    # silent end of one): it is left out of the fit, whatever its bucket model says.
    silent = [s > 0 and m == s for s, m, _e in hops]
    fitted: dict[int, float] = {}
    # The last hop probed (the destination: probed every round) is the anchor. Its own
    # figure is its loss; the hops before it are fitted among themselves and never
    # above the hops after them, so misses of ill-sampled earlier hops cannot pool the
    # destination's loss up (a few rate-limited routers would make loss of nothing).
    last = max((i for i in range(n) if hops[i][0]), default=-1)
    for _ in range(n + 1):  # refit without the flagged hops until the flags settle
        idx = [i for i in range(n) if usable[i] > 0 and not flagged[i] and not silent[i]]
        inner = [i for i in idx if i != last]
        fitted = dict(zip(inner, _pava([raw[i] for i in inner], [usable[i] for i in inner]),
                          strict=True))  # fmt: skip
        if last in idx:
            fitted[last] = raw[last]
        now = []
        for i in range(n):
            later = min((fitted[j] for j in idx if j > i), default=None)  # the least after
            if usable[i] <= 0 or later is None:
                now.append(False)
                continue
            excess = lost[i] - later * usable[i]
            spread = math.sqrt(max(usable[i] * later * (1 - later), 0.25))
            now.append(excess >= 2 and excess > _Z_FLAG * spread)
        if now == flagged:
            break
        flagged = now
    excess_hop = flagged
    loss = [0.0] * n
    for i in range(n):
        loss[i] = fitted.get(i, loss[i - 1] if i else 0.0)
    for i in range(n - 2, -1, -1):  # never more than the hops after it lose
        loss[i] = min(loss[i], loss[i + 1])
    answering = [i for i in range(n) if hops[i][1] < hops[i][0]]
    for i in range(answering[-1] + 1 if answering else 0, n):
        loss[i] = 1.0 if hops[i][0] else loss[i]  # past the last answer: all lost
    out = []
    for i, (sent, missed, explained) in enumerate(hops):
        if not sent:
            out.append(PathLoss(loss[i] * 100.0, 0.0, False))
            continue
        p = loss[i]
        if silent[i]:
            explained = 0  # no bucket: it never answered
        unans = max(0.0, (missed - p * (sent - explained)) / sent)
        answered_some = missed < sent  # a hop that never answers is silent, not limited
        limited = answered_some and (explained >= 2 or excess_hop[i])
        out.append(PathLoss(100.0 * p, 100.0 * unans, limited))
    return out
