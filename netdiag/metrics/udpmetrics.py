"""Loss and duplication of a sequenced UDP stream, and the tracker that computes
every stream metric.

Pure and clock-free: a :class:`StreamTracker` is fed arrivals
``(seq, send_ns, recv_ns)`` in arrival order and, at the end, the sequence
number the sender would have used next (when known); it returns a frozen
:class:`UdpMetrics`. The same tracker serves the live receiver, the receiver's
interim reports and the analysis of captures. It owns the arrival set and what
follows from it; the other metrics live in their own modules and are fed from here:

* **Loss** (RFC 7680 §2.4): a packet sent and not received before the receiver
  stopped waiting (its loss timeout is RFC 7680's Tmax, applied by the caller).
  ``sent`` is ``end_seq - first_seq``: packets lost after the last one that
  arrived count, unlike iperf3's receiver. Duplicates never cancel losses.
* **Loss periods** (RFC 3357 §4-5): maximal runs of consecutive lost sequence
  numbers; count, mean and maximum length.
* **Duplicates** (RFC 5560 §2-3): additional copies of a packet already
  received. Only the first copy takes part in the other metrics.
* **Reordering** (RFC 4737): :mod:`netdiag.metrics.udpreorder`; this module keeps
  NextExp (§3.3) and tells it which arrivals were in order.
* **Jitter, IPDV, PDV** (RFC 3550, RFC 5481): :mod:`netdiag.metrics.udpdelay`.
* **iperf3's out-of-order count**, emulating its receiver as iperf3 documents and
  behaves: a datagram numbered above the highest so far adds the gap to the loss
  count; any other (reordered *or* duplicated) is "out of order" and takes one
  off the loss count. So iperf3 nets late and duplicate datagrams against losses
  and never sees loss after its last datagram; both are reported side by side.
  (Eight lines, kept inline in :meth:`StreamTracker.arrive`: it runs per packet.)

Memory is bounded: arrivals are tracked as ranges (:class:`RangeSet`). Past
``max_ranges`` outstanding gaps the oldest is closed as a loss period; a packet
arriving below that floor counts as ``beyond_window`` (lost by lateness, RFC
7680 Tmax).
"""

from __future__ import annotations

from netdiag.metrics.rangeset import RangeSet
from netdiag.metrics.udpdelay import EXACT_SAMPLES, DelayVariation, Percentiles, Samples
from netdiag.metrics.udpreorder import Reordering
from netdiag.records import dataclass, field

__all__ = ["StreamTracker", "UdpMetrics", "Percentiles", "Samples", "Unwrapper", "EXACT_SAMPLES"]


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
        self.order = Reordering(max_ranges)
        self.delay = DelayVariation()
        # iperf3 emulation
        self._i3_max = -1 if first_seq is None else first_seq - 1
        self.ooo_iperf3 = 0
        self.lost_iperf3 = 0
        self._first_recv: int | None = None
        self._last_recv = 0
        # closed loss periods (memory bound)
        self._closed_periods = 0
        self._closed_lost = 0
        self._closed_max = 0
        self._closed_members = 0

    @property
    def reordered(self) -> int:
        return self.order.reordered

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
            self.order.in_order(seq, seq == nxt, recv_ns)
            self._next = seq + 1
            if seq != nxt and len(self._got) > self.max_ranges:
                self._close_oldest_gap()
        else:
            if seq < self._floor:
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
            self.order.late(seq, recv_ns)
        if self._first_recv is None:
            self._first_recv = recv_ns
        self._last_recv = recv_ns
        self.delay.add(seq, recv_ns - send_ns)

    def _close_oldest_gap(self) -> None:
        while len(self._got) > self.max_ranges:
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

    def mark_end(self, end_seq: int, recv_ns: int) -> None:
        """The sender's end-of-test packet, numbered ``end_seq`` (one past its last data
        packet), arrived: a data packet arriving after it was overtaken by it, so it
        moves NextExp (RFC 4737 §3.3) and takes an arrival position, but is not data."""
        if self._next is None:
            self.first_seq = self._next = self._floor = self._top = end_seq
            self._i3_max = end_seq - 1
        if end_seq >= self._next:
            self.order.end_marker(end_seq, recv_ns)
            self._next = end_seq + 1

    # -- the result

    def progress(self) -> tuple[int, int, int, int, float]:
        """Cheap running counts for interim reports: (received, lost so far, duplicates,
        reordered, jitter ms); "lost so far" counts gaps below the highest number seen."""
        received = self._got.members + self._closed_members
        first = self.first_seq if self.first_seq is not None else self._top
        lost = self._top - first - received
        return received, lost, self.duplicates, self.order.reordered, self.delay.jitter_ms

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
        order, delay = self.order, self.delay
        return UdpMetrics(
            sent=sent,
            received=received,
            duplicates=self.duplicates,
            reordered=order.reordered,
            reorder_extent_max=order.extent_max,
            reorder_extent_mean=order.extent_mean,
            late_time_max_ms=order.late_time_max_ms,
            late_time_mean_ms=order.late_time_mean_ms,
            n_reordering=order.n_reordering,
            out_of_order_iperf3=self.ooo_iperf3,
            lost_iperf3=self.lost_iperf3,
            jitter_ms=delay.jitter_ms,
            ipdv_ms=delay.ipdv_ms(),
            pdv_ms=delay.pdv_ms(),
            owd_min_ms=delay.owd_min_ms,
            loss_periods=periods,
            loss_period_mean=lost_in / periods if periods else 0.0,
            loss_period_max=longest,
            end_known=end_seq is not None,
            first_seq=first,
            before_start=self.before_start,
            beyond_window=self.beyond_window,
            recv_span_ns=(self._last_recv - self._first_recv) if self._first_recv else 0,
        )
