"""Delay variation of a sequenced stream: RFC 3550 jitter, RFC 5481 IPDV and PDV.

Pure and clock-free: :class:`DelayVariation` is fed, per distinct packet in
arrival order, its sequence number and one-way delay ``recv_ns - send_ns``.

* **Interarrival jitter** (RFC 3550 §6.4.1 / A.8), over arrivals in arrival order:
  ``J += (|D(i-1, i)| - J) / 16`` where ``D`` is the difference of transit times.
* **IPDV** (RFC 5481 §4.1): the delay difference of consecutive *sequence numbers*
  both received (so a reordered pair still pairs up); kept for the last
  ``RING`` numbers, which bounds memory.
* **PDV** (RFC 5481 §4.2): delay minus the minimum delay of the stream.

A constant clock offset between sender and receiver cancels in all three; clock
drift does not, and the absolute one-way delay (``owd_min_ms``) is only
meaningful with synchronized clocks. Percentiles come from :class:`Samples`:
exact up to ``EXACT_SAMPLES`` values, then a log-linear histogram (relative
error below 1/128), so memory stays bounded however long the stream.
"""

from __future__ import annotations

from array import array

from netdiag.records import dataclass

__all__ = ["DelayVariation", "Percentiles", "Samples", "EXACT_SAMPLES", "RING"]

EXACT_SAMPLES = 1 << 20
RING = 4096
_NS_PER_MS = 1e6


def _bucket(v: int) -> int:
    """Log-linear bucket of ``v >= 0``: exact below 256, then 128 buckets per octave."""
    if v < 256:
        return v
    shift = v.bit_length() - 8
    return (shift << 8) | (v >> shift)


def _bucket_value(key: int) -> float:
    if key < 256:
        return float(key)
    shift, m = key >> 8, key & 0xFF
    return float((m << shift) + (1 << (shift - 1)))


class Samples:
    """Integer samples for percentiles: exact up to ``cap`` values, then a histogram."""

    __slots__ = ("values", "hist", "count", "cap")

    def __init__(self, cap: int = EXACT_SAMPLES) -> None:
        self.values: array[int] | None = array("q")
        self.hist: dict[int, int] = {}
        self.count = 0
        self.cap = cap

    def add(self, v: int) -> None:
        self.count += 1
        if self.values is not None:
            self.values.append(v)
            if len(self.values) >= self.cap:
                for x in self.values:
                    self._hist_add(x)
                self.values = None
        else:
            self._hist_add(v)

    def _hist_add(self, v: int) -> None:
        key = _bucket(v) if v >= 0 else -_bucket(-v) - 1
        self.hist[key] = self.hist.get(key, 0) + 1

    def quantile(self, q: float) -> float | None:
        """Nearest-rank quantile (the ceil(q*n)-th smallest); None when empty."""
        if self.count == 0:
            return None
        rank = max(1, -(-int(q * 1_000_000) * self.count // 1_000_000))
        if self.values is not None:
            return float(sorted(self.values)[rank - 1])
        seen = 0
        for key in sorted(self.hist):
            seen += self.hist[key]
            if seen >= rank:
                return _bucket_value(key) if key >= 0 else -_bucket_value(-key - 1)
        return None  # pragma: no cover (rank <= count)


@dataclass(frozen=True)
class Percentiles:
    """p50/p90/p99 in milliseconds (nearest rank)."""

    p50: float
    p90: float
    p99: float

    @classmethod
    def of(cls, samples: Samples, offset_ns: int = 0) -> Percentiles | None:
        if samples.count == 0:
            return None
        qs = [samples.quantile(q) for q in (0.5, 0.9, 0.99)]
        return cls(*((float(v or 0.0) - offset_ns) / _NS_PER_MS for v in qs))


class DelayVariation:
    """Feed :meth:`add` once per distinct packet, in arrival order (hot path)."""

    __slots__ = ("_jitter", "_prev", "_delays", "_ipdv", "_ring_seq", "_ring_d", "_min")

    def __init__(self) -> None:
        self._jitter = 0.0
        self._prev: int | None = None
        self._delays = Samples()
        self._ipdv = Samples()
        self._ring_seq = [-1] * RING
        self._ring_d = [0] * RING
        self._min: int | None = None

    def add(self, seq: int, d: int) -> None:
        """Packet ``seq`` arrived with one-way delay ``d`` ns."""
        prev = self._prev
        if prev is not None:  # RFC 3550 A.8
            self._jitter += (abs(d - prev) - self._jitter) / 16.0
        self._prev = d
        self._delays.add(d)
        if self._min is None or d < self._min:
            self._min = d
        rs, rd = self._ring_seq, self._ring_d
        b = (seq - 1) % RING
        if rs[b] == seq - 1:  # RFC 5481 §4.1: the pair (seq-1, seq)
            self._ipdv.add(d - rd[b])
        a = (seq + 1) % RING
        if rs[a] == seq + 1:  # the pair (seq, seq+1), seq+1 came first
            self._ipdv.add(rd[a] - d)
        k = seq % RING
        rs[k] = seq
        rd[k] = d

    @property
    def jitter_ms(self) -> float:
        return self._jitter / _NS_PER_MS

    @property
    def owd_min_ms(self) -> float | None:
        return None if self._min is None else self._min / _NS_PER_MS

    def ipdv_ms(self) -> Percentiles | None:
        return Percentiles.of(self._ipdv)

    def pdv_ms(self) -> Percentiles | None:
        return Percentiles.of(self._delays, self._min or 0)
