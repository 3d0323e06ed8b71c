"""RFC 4737 reordering of a sequenced stream: extent, late time and n-reordering.

Pure and clock-free. :class:`Reordering` is told, per distinct packet in arrival
order, whether it arrived in order (its number at or above NextExp, §3.3: the
caller keeps NextExp with the arrival set) or was reordered:

* §4.1 the reordered count (the ratio is taken over received packets by the caller);
* §4.2 extent ``e = i - j``: ``i`` is the reordered packet's arrival position and
  ``j`` that of the earliest arrival numbered above it;
* §4.3 late time: its receive time minus that of packet ``j``;
* §5 n-reordering, n = 1..3: reordered and numbered below each of the ``n``
  packets that arrived just before it (an n-reordered packet is counted for
  every smaller n too).

Packet ``j`` is found among *in-order runs*: maximal runs of in-order arrivals
with consecutive numbers and consecutive positions. In-order arrivals increase,
so the runs are sorted by number and by position at once, and ``j`` is the first
packet of the first run that starts above the reordered number (a reordered
packet above it arrived after some in-order one above it), found by bisection.
Runs past ``max_runs`` are forgotten oldest first (a packet that late gets no
extent, but is still counted), which bounds memory.
"""

from __future__ import annotations

from bisect import bisect_right

__all__ = ["Reordering"]

_NS_PER_MS = 1e6


class Reordering:
    __slots__ = (
        "max_runs",
        "pos",
        "_run_seq",
        "_run_pos",
        "_run_ns",
        "_run_next_pos",
        "reordered",
        "_extent_sum",
        "extent_max",
        "_late_sum",
        "_late_max",
        "n_reordered",
        "_p1",
        "_p2",
        "_p3",
    )

    def __init__(self, max_runs: int = 1 << 16) -> None:
        self.max_runs = max_runs
        self.pos = 0  # arrival position of the next distinct packet
        self._run_seq: list[int] = []  # first number of each in-order run
        self._run_pos: list[int] = []  # its arrival position
        self._run_ns: list[int] = []  # its receive time
        self._run_next_pos = -1
        self.reordered = 0
        self._extent_sum = 0
        self.extent_max = 0
        self._late_sum = 0
        self._late_max = 0
        self.n_reordered = [0, 0, 0]
        self._p1 = self._p2 = self._p3 = -1  # the previous 3 arrivals' numbers

    def in_order(self, seq: int, expected: bool, recv_ns: int) -> None:
        """An in-order arrival; ``expected``: its number was exactly NextExp (hot path)."""
        pos = self.pos
        if not expected or pos != self._run_next_pos:
            self._new_run(seq, pos, recv_ns)
        self._run_next_pos = self.pos = pos + 1
        self._p3, self._p2, self._p1 = self._p2, self._p1, seq

    def end_marker(self, seq: int, recv_ns: int) -> None:
        """The sender's END packet (numbered ``seq``) took an arrival position in order."""
        self._new_run(seq, self.pos, recv_ns)
        self.pos += 1
        self._p3, self._p2, self._p1 = self._p2, self._p1, seq

    def late(self, seq: int, recv_ns: int) -> None:
        """A reordered arrival (§3.3: its number is below NextExp)."""
        self.reordered += 1
        k = bisect_right(self._run_seq, seq)  # the first in-order run numbered above seq
        if k < len(self._run_seq):
            extent = self.pos - self._run_pos[k]
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
        self.pos += 1
        self._p3, self._p2, self._p1 = self._p2, self._p1, seq

    def _new_run(self, seq: int, pos: int, recv_ns: int) -> None:
        self._run_seq.append(seq)
        self._run_pos.append(pos)
        self._run_ns.append(recv_ns)
        if len(self._run_seq) > self.max_runs:
            del self._run_seq[0], self._run_pos[0], self._run_ns[0]

    # -- results

    @property
    def extent_mean(self) -> float:
        return self._extent_sum / (self.reordered or 1)

    @property
    def late_time_max_ms(self) -> float:
        return self._late_max / _NS_PER_MS

    @property
    def late_time_mean_ms(self) -> float:
        return self._late_sum / (self.reordered or 1) / _NS_PER_MS

    @property
    def n_reordering(self) -> tuple[int, int, int]:
        n = self.n_reordered
        return n[0], n[1], n[2]
