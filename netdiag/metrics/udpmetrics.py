"""Loss, duplication, reordering and delay variation of a sequenced UDP stream.

Pure and clock-free: a :class:`StreamTracker` is fed arrivals
``(seq, send_ns, recv_ns)`` in arrival order and, at the end, the sequence
number the sender would have used next (when known); it returns a frozen
:class:`UdpMetrics`. The same tracker serves the live receiver, the receiver's
interim reports and the analysis of captures.

What is counted, and where it is defined:

* **Loss** (RFC 7680 §2.4): a packet sent and not received before the receiver
  stopped waiting (its loss timeout is RFC 7680's Tmax, applied by the caller).
  ``sent`` is ``end_seq - first_seq``: packets lost after the last one that
  arrived count, unlike iperf3's receiver. Duplicates never cancel losses.
* **Loss periods** (RFC 3357 §4-5): maximal runs of consecutive lost sequence
  numbers; count, mean and maximum length.
* **Duplicates** (RFC 5560 §2-3): additional copies of a packet already
  received. Only the first copy takes part in the other metrics.
* **Reordering** (RFC 4737): §3.3 a packet is reordered when its sequence number
  is below NextExp (one more than the highest received so far); §4.1 ratio over
  received packets; §4.2 extent ``e = i - j`` where ``i`` is its arrival
  position and ``j`` that of the earliest arrival with a higher number; §4.3 late
  time (its receive time minus that of packet ``j``); §5 n-reordering: reordered
  and below each of the ``n`` packets that arrived just before it.
* **Interarrival jitter** (RFC 3550 §6.4.1 / A.8), over arrivals in arrival order:
  ``J += (|D(i-1, i)| - J) / 16``.
* **IPDV and PDV** (RFC 5481 §4.1-4.2) from one-way delay ``recv - send``: IPDV
  is the delay difference of consecutive sequence numbers both received; PDV is
  delay minus the minimum delay. A constant clock offset between sender and
  receiver cancels in both (and in jitter); clock drift does not, and the
  absolute one-way delay (``owd_min_ms``) is only meaningful with synchronized
  clocks.
* **iperf3's out-of-order count**, emulating its receiver as iperf3 documents and
  behaves: a datagram numbered above the highest so far adds the gap to the loss
  count; any other (reordered *or* duplicated) is "out of order" and takes one
  off the loss count. So iperf3 nets late and duplicate datagrams against losses
  and never sees loss after its last datagram; both are reported side by side.

Memory is bounded: arrivals are tracked as ranges (:class:`RangeSet`), in-order
runs for the extent likewise, delay samples exactly up to ``EXACT_SAMPLES`` and
then in a log-linear histogram (relative error below 1/128). Past ``max_ranges``
outstanding gaps the oldest is closed as a loss period; a packet arriving below
that floor counts as ``beyond_window`` (lost by lateness, RFC 7680 Tmax).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from dataclasses import dataclass, field

from netdiag.metrics.rangeset import RangeSet

__all__ = ["StreamTracker", "UdpMetrics", "Percentiles", "Samples", "Unwrapper", "EXACT_SAMPLES"]

EXACT_SAMPLES = 1 << 20
_NS_PER_MS = 1e6


# --------------------------------------------------------------------------- samples


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


# --------------------------------------------------------------------------- sequence wrap


class Unwrapper:
    """Extends ``bits``-bit wrapping sequence numbers to an unbounded count, choosing
    the value nearest the highest seen (RFC 3550 A.1's idea, for any width)."""

    __slots__ = ("bits", "_mod", "_half", "_high")

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self._mod = 1 << bits
        self._half = 1 << (bits - 1)
        self._high: int | None = None

    def __call__(self, raw: int) -> int:
        if self._high is None:
            self._high = raw
            return raw
        base = self._high - (self._high % self._mod)
        value = base + raw
        if value - self._high > self._half:
            value -= self._mod
        elif self._high - value > self._half:
            value += self._mod
        if value < 0:
            value += self._mod
        if value > self._high:
            self._high = value
        return value


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class UdpMetrics:
    """Everything measured about one stream. Times in ms; counts of packets."""

    sent: int
    received: int
    duplicates: int
    reordered: int
    reorder_extent_max: int
    reorder_extent_mean: float
    late_time_max_ms: float
    late_time_mean_ms: float
    n_reordering: tuple[int, int, int]
    out_of_order_iperf3: int
    lost_iperf3: int
    jitter_ms: float
    ipdv_ms: Percentiles | None
    pdv_ms: Percentiles | None
    owd_min_ms: float | None
    loss_periods: int
    loss_period_mean: float
    loss_period_max: int
    end_known: bool
    first_seq: int | None
    before_start: int = 0
    beyond_window: int = 0
    recv_span_ns: int = 0
    extra: dict[str, object] = field(default_factory=dict, compare=False)

    @property
    def lost(self) -> int:
        return self.sent - self.received

    @property
    def loss_pct(self) -> float:
        return 100.0 * self.lost / self.sent if self.sent else 0.0

    @property
    def reorder_ratio(self) -> float:
        return self.reordered / self.received if self.received else 0.0

    @property
    def duplicate_pct(self) -> float:
        """RFC 5560 style: additional copies per packet sent, in percent."""
        return 100.0 * self.duplicates / self.sent if self.sent else 0.0

    @property
    def rate_pps(self) -> float:
        """Arrival rate of distinct packets over the receive span."""
        if self.received < 2 or self.recv_span_ns <= 0:
            return 0.0
        return (self.received - 1) * 1e9 / self.recv_span_ns


# --------------------------------------------------------------------------- the tracker


class StreamTracker:
    """Feed :meth:`arrive` per datagram in arrival order, then call :meth:`result`.

    ``first_seq`` is the sender's first sequence number (0 for netdiag, 1 for
    iperf3); None takes the first arrival's (a capture that starts mid-stream,
    RTP's random start). Arrivals below it count as ``before_start``.
    """

    def __init__(self, first_seq: int | None = 0, max_ranges: int = 1 << 16) -> None:
        self.first_seq = first_seq
        self.max_ranges = max_ranges
        self._got = RangeSet()
        self._next = first_seq  # RFC 4737 NextExp (None until the first arrival)
        self._top = first_seq if first_seq is not None else 0  # one past the highest data
        self._floor = first_seq or 0  # numbers below were closed (memory bound)
        self.arrivals = 0
        self.duplicates = 0
        self.before_start = 0
        self.beyond_window = 0
        # RFC 4737: arrival positions of distinct packets, in-order runs for j
        self._pos = 0
        self._run_seq: list[int] = []
        self._run_pos: list[int] = []
        self._run_ns: list[int] = []
        self._run_next_pos = -1
        self.reordered = 0
        self._extent_sum = 0
        self.extent_max = 0
        self._late_sum = 0
        self._late_max = 0
        self.n_reordered = [0, 0, 0]
        self._p1 = self._p2 = self._p3 = -1  # previous 3 distinct arrivals' numbers
        # iperf3 emulation
        self._i3_max = -1 if first_seq is None else first_seq - 1
        self.ooo_iperf3 = 0
        self.lost_iperf3 = 0
        # delay
        self._jitter = 0.0
        self._prev_transit: int | None = None
        self._delays = Samples()
        self._ipdv = Samples()
        self._ring = 4096
        self._ring_seq = [-1] * self._ring
        self._ring_d = [0] * self._ring
        self._min_d: int | None = None
        self._first_recv: int | None = None
        self._last_recv = 0
        # closed loss periods (memory bound)
        self._closed_periods = 0
        self._closed_lost = 0
        self._closed_max = 0
        self._closed_members = 0

    # -- per arrival (hot path: keep it short)

    def arrive(self, seq: int, send_ns: int, recv_ns: int) -> None:
        self.arrivals += 1
        nxt = self._next
        if nxt is None:  # the first arrival fixes the start
            self.first_seq = self._next = self._floor = nxt = seq
            self._i3_max = seq - 1
        if seq > self._i3_max:  # iperf3's receiver
            if seq > self._i3_max + 1:
                self.lost_iperf3 += seq - self._i3_max - 1
            self._i3_max = seq
        else:
            self.ooo_iperf3 += 1
            if self.lost_iperf3 > 0:
                self.lost_iperf3 -= 1
        if seq >= nxt:  # in order (RFC 4737 §3.3)
            self._got.add(seq)
            if seq >= self._top:
                self._top = seq + 1
            pos = self._pos
            if seq != nxt or pos != self._run_next_pos:
                self._new_run(seq, pos, recv_ns)
            self._run_next_pos = pos + 1
            self._next = seq + 1
        else:
            floor = self._floor
            if seq < floor:
                if self.first_seq is not None and seq < self.first_seq:
                    self.before_start += 1
                else:
                    self.beyond_window += 1
                return
            if not self._got.add(seq):
                self.duplicates += 1
                return
            if seq >= self._top:  # overtaken only by the END packet
                self._top = seq + 1
            self._reordered(seq, recv_ns)
        self._pos += 1
        self._p3, self._p2, self._p1 = self._p2, self._p1, seq
        if self._first_recv is None:
            self._first_recv = recv_ns
        self._last_recv = recv_ns
        d = recv_ns - send_ns
        prev = self._prev_transit
        if prev is not None:
            self._jitter += (abs(d - prev) - self._jitter) / 16.0
        self._prev_transit = d
        self._delays.add(d)
        if self._min_d is None or d < self._min_d:
            self._min_d = d
        ring = self._ring
        k = seq % ring
        rs, rd = self._ring_seq, self._ring_d
        b = (seq - 1) % ring
        if rs[b] == seq - 1:
            self._ipdv.add(d - rd[b])
        a = (seq + 1) % ring
        if rs[a] == seq + 1:
            self._ipdv.add(rd[a] - d)
        rs[k] = seq
        rd[k] = d

    def _new_run(self, seq: int, pos: int, recv_ns: int) -> None:
        self._run_seq.append(seq)
        self._run_pos.append(pos)
        self._run_ns.append(recv_ns)
        if len(self._run_seq) > self.max_ranges:
            del self._run_seq[0], self._run_pos[0], self._run_ns[0]
        if len(self._got) > self.max_ranges:
            self._close_oldest_gap()

    def _close_oldest_gap(self) -> None:
        lo, hi = self._got.pop_first()
        if lo > self._floor:
            self._close_period(lo - self._floor)
        self._closed_members += hi - lo
        nxt = self._got.first
        if nxt is not None:
            self._close_period(nxt - hi)
            self._floor = nxt
        else:
            self._floor = hi

    def _close_period(self, length: int) -> None:
        self._closed_periods += 1
        self._closed_lost += length
        self._closed_max = max(self._closed_max, length)

    def _reordered(self, seq: int, recv_ns: int) -> None:
        self.reordered += 1
        k = bisect_right(self._run_seq, seq)  # first in-order run numbered above seq
        if k < len(self._run_seq):
            extent = self._pos - self._run_pos[k]
            late = recv_ns - self._run_ns[k]
            self._extent_sum += extent
            self.extent_max = max(self.extent_max, extent)
            self._late_sum += late
            self._late_max = max(self._late_max, late)
        if seq < self._p1:
            self.n_reordered[0] += 1
            if seq < self._p2:
                self.n_reordered[1] += 1
                if seq < self._p3:
                    self.n_reordered[2] += 1

    def mark_end(self, end_seq: int, recv_ns: int) -> None:
        """The sender's end-of-test packet, numbered ``end_seq`` (one past its last data
        packet), arrived: a data packet arriving after it was overtaken by it, so it
        moves NextExp (RFC 4737 §3.3) and takes an arrival position, but is not data."""
        if self._next is None:
            self.first_seq = self._next = self._floor = self._top = end_seq
            self._i3_max = end_seq - 1
        if end_seq >= self._next:
            self._new_run(end_seq, self._pos, recv_ns)
            self._next = end_seq + 1
            self._pos += 1
            self._p3, self._p2, self._p1 = self._p2, self._p1, end_seq

    # -- the result

    def progress(self) -> tuple[int, int, int, int, float]:
        """Cheap running counts for interim reports: (received, lost so far, duplicates,
        reordered, jitter ms); "lost so far" counts gaps below the highest number seen."""
        received = self._got.members + self._closed_members
        first = self.first_seq if self.first_seq is not None else self._top
        lost = self._top - first - received
        return received, lost, self.duplicates, self.reordered, self._jitter / _NS_PER_MS

    def result(self, end_seq: int | None = None) -> UdpMetrics:
        """Metrics now; ``end_seq`` is one past the sender's last number (None: unknown,
        so the highest received is taken as the last sent, as iperf3 does)."""
        first = self.first_seq
        received = self._got.members + self._closed_members
        top = self._top if end_seq is None else max(self._top, end_seq)
        sent = top - first if first is not None else 0
        periods, lost_in, longest = self._closed_periods, self._closed_lost, self._closed_max
        for lo, hi in self._got.gaps(self._floor if first is not None else top, top):
            periods += 1
            lost_in += hi - lo
            longest = max(longest, hi - lo)
        reo = self.reordered
        extents_counted = reo if reo else 1
        min_d = self._min_d
        return UdpMetrics(
            sent=sent,
            received=received,
            duplicates=self.duplicates,
            reordered=reo,
            reorder_extent_max=self.extent_max,
            reorder_extent_mean=self._extent_sum / extents_counted,
            late_time_max_ms=self._late_max / _NS_PER_MS,
            late_time_mean_ms=self._late_sum / extents_counted / _NS_PER_MS,
            n_reordering=(self.n_reordered[0], self.n_reordered[1], self.n_reordered[2]),
            out_of_order_iperf3=self.ooo_iperf3,
            lost_iperf3=self.lost_iperf3,
            jitter_ms=self._jitter / _NS_PER_MS,
            ipdv_ms=Percentiles.of(self._ipdv),
            pdv_ms=Percentiles.of(self._delays, min_d or 0),
            owd_min_ms=None if min_d is None else min_d / _NS_PER_MS,
            loss_periods=periods,
            loss_period_mean=lost_in / periods if periods else 0.0,
            loss_period_max=longest,
            end_known=end_seq is not None,
            first_seq=first,
            before_start=self.before_start,
            beyond_window=self.beyond_window,
            recv_span_ns=(self._last_recv - self._first_recv) if self._first_recv else 0,
        )
