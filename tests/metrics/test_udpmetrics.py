"""The UDP stream metrics against the definitions (and their examples) in the RFCs.

Arrival sequences are written as in RFC 4737's examples: the sequence numbers in
the order they arrived. Positions and times count from the first arrival.

These cases are worked by hand from the definitions in the sections each test
cites, not copied from the RFCs' own example tables (RFC 4737 §7, RFC 3357): the
stored copies of those RFCs that could be searched hold only their opening pages.
"""

from __future__ import annotations

import pytest

from netdiag.metrics.rangeset import RangeSet
from netdiag.metrics.udpmetrics import Samples, StreamTracker, Unwrapper


def run(arrivals, first=1, end=None, times=None, delays=None):
    t = StreamTracker(first_seq=first)
    for i, seq in enumerate(arrivals):
        recv = times[i] if times else i * 1_000_000
        delay = delays[i] if delays else 0
        t.arrive(seq, recv - delay, recv)
    return t.result(end)


# --- RFC 4737 -------------------------------------------------------------------------


def test_rfc4737_single_packet_reordered_extent_and_n_reordering():
    # §3.3: 4 arrives when NextExp is 9 -> reordered; nothing else is.
    # §4.2.2: i = 8 (its arrival position), j = 4 (packet 5, the first arrival above 4),
    # e = i - j = 4. §5: 4 is below each of the 3 packets before it (8, 7, 6).
    m = run([1, 2, 3, 5, 6, 7, 8, 4, 9, 10, 11])
    assert (m.reordered, m.reorder_extent_max, m.reorder_extent_mean) == (1, 4, 4.0)
    assert m.n_reordering == (1, 1, 1)
    assert m.reorder_ratio == pytest.approx(1 / 11)
    assert (m.sent, m.lost, m.duplicates) == (11, 0, 0)


def test_rfc4737_one_early_packet_makes_the_ones_it_overtook_reordered():
    # 7 arrives early: 4, 5, 6 are each below NextExp = 8 (§3.3), with extents
    # 1, 2, 3 (§4.2.2: j is 7's position for all three). Only 4 is 1-reordered (§5):
    # 5 and 6 follow a lower number.
    m = run([1, 2, 3, 7, 4, 5, 6, 8])
    assert (m.reordered, m.reorder_extent_max, m.reorder_extent_mean) == (3, 3, 2.0)
    assert m.n_reordering == (1, 0, 0)


def test_rfc4737_reversed_packets():
    # 6, 5, 4: 5 has e = 1; 4 has e = 2 and is below both 5 and 6 (2-reordered).
    m = run([1, 2, 3, 6, 5, 4, 7])
    assert (m.reordered, m.reorder_extent_max) == (2, 2)
    assert m.n_reordering == (2, 1, 0)


def test_rfc4737_late_time_is_measured_from_the_first_higher_arrival():
    # §4.3: packet 3 arrives 25 ms after packet 4, the first arrival numbered above it
    m = run([1, 2, 4, 5, 3], times=[x * 1_000_000 for x in (0, 10, 20, 30, 45)])
    assert m.late_time_max_ms == pytest.approx(25.0)


def test_rfc4737_duplicates_are_assessed_once():
    # §3.4 (discussion): only the first copy is evaluated; copies are counted by
    # RFC 5560 and are neither reordered nor received twice.
    m = run([1, 2, 2, 3, 1, 4])
    assert (m.received, m.duplicates, m.reordered) == (4, 2, 0)


# --- RFC 3357, RFC 7680, RFC 5560 --------------------------------------------------------


def test_rfc3357_loss_periods_count_mean_and_longest():
    # 1..10 sent; 2, 3, 5, 8, 9, 10 lost: loss periods {2,3}, {5}, {8,9,10}
    m = run([1, 4, 6, 7], end=11)
    assert (m.sent, m.lost) == (10, 6)
    assert (m.loss_periods, m.loss_period_mean, m.loss_period_max) == (3, 2.0, 3)
    assert m.loss_pct == pytest.approx(60.0)


def test_loss_after_the_last_received_counts_when_the_end_is_known():
    m = run([0, 1, 2, 3, 4], first=0, end=10)
    assert (m.sent, m.lost, m.loss_periods, m.loss_period_max) == (10, 5, 1, 5)
    assert m.lost_iperf3 == 0  # iperf3 cannot see it
    unknown = run([0, 1, 2, 3, 4], first=0)
    assert (unknown.sent, unknown.lost, unknown.end_known) == (5, 0, False)


def test_duplicates_never_cancel_losses():
    # 2 lost, 1 duplicated: RFC 7680 loss stays 1 (iperf3 nets them to 0)
    m = run([0, 1, 3, 1], first=0, end=4)
    assert (m.lost, m.duplicates) == (1, 1)
    assert (m.lost_iperf3, m.out_of_order_iperf3) == (0, 1)
    assert m.duplicate_pct == pytest.approx(25.0)


def test_empty_test():
    m = run([], first=0)
    assert (m.sent, m.received, m.lost, m.loss_pct, m.reordered) == (0, 0, 0, 0.0, 0)
    assert m.jitter_ms == 0.0 and m.pdv_ms is None and m.ipdv_ms is None


def test_all_lost_only_the_end_arrived():
    t = StreamTracker(first_seq=0)
    t.mark_end(100, 0)
    m = t.result(100)
    assert (m.sent, m.received, m.lost, m.loss_periods, m.loss_period_max) == (100, 0, 100, 1, 100)
    assert m.loss_pct == 100.0


def test_sequence_starting_late():
    # the sender started at 0: 0..4 never arrived and count as lost, for iperf3 too
    m = run([5, 6, 7, 8, 9], first=0, end=10)
    assert (m.lost, m.loss_periods, m.lost_iperf3, m.reordered) == (5, 1, 5, 0)
    # a capture that starts mid-stream (first number unknown) starts where it starts
    m = run([5, 6, 7, 8, 9], first=None)
    assert (m.sent, m.lost, m.first_seq) == (5, 0, 5)
    # an earlier number arriving later is before the start, not reordering
    m = run([5, 6, 4, 7], first=None)
    assert (m.received, m.before_start, m.reordered) == (3, 1, 0)


def test_32_bit_sequence_numbers_wrap_into_one_64_bit_space():
    top = 1 << 32
    raw = [top - 3, top - 2, 0, top - 1, 2, 3]  # top-1 late, 1 lost, across the wrap
    unwrap = Unwrapper(32)
    m = run([unwrap(r) for r in raw], first=top - 3, end=top + 4)
    assert (m.sent, m.received, m.lost, m.reordered) == (7, 6, 1, 1)


def test_64_bit_sequence_numbers():
    base = (1 << 63) + 5
    m = run([base, base + 2, base + 1, base + 3], first=base, end=base + 5)
    assert (m.sent, m.lost, m.reordered, m.reorder_extent_max) == (5, 1, 1, 1)


def test_data_overtaken_by_the_end_packet_is_reordered():
    t = StreamTracker(first_seq=0)
    for seq in (0, 1, 3):
        t.arrive(seq, 0, seq)
    t.mark_end(4, 10)
    t.arrive(2, 0, 20)
    m = t.result(4)
    assert (m.sent, m.received, m.lost, m.reordered) == (4, 4, 0, 1)


# --- delay variation -------------------------------------------------------------------


def test_rfc3550_jitter_follows_the_recursive_estimate():
    # transit alternates 0 and 10 ms: |D| = 10 ms each time, J_n = 10 (1 - (15/16)^n)
    ms = 1_000_000
    m = run(list(range(1, 12)), delays=[(i % 2) * 10 * ms for i in range(11)])
    assert m.jitter_ms == pytest.approx(10 * (1 - (15 / 16) ** 10))
    assert run(list(range(1, 12)), delays=[7 * ms] * 11).jitter_ms == 0.0


def test_rfc5481_pdv_and_ipdv_percentiles():
    # one-way delays 10, 12, 11, 15 ms: PDV = D - min = 0, 2, 1, 5; IPDV = 2, -1, 4
    ms = 1_000_000
    m = run([1, 2, 3, 4], delays=[10 * ms, 12 * ms, 11 * ms, 15 * ms])
    assert (m.pdv_ms.p50, m.pdv_ms.p90, m.pdv_ms.p99) == (1.0, 5.0, 5.0)  # nearest rank
    assert (m.ipdv_ms.p50, m.ipdv_ms.p90) == (2.0, 4.0)
    assert m.owd_min_ms == 10.0


def test_ipdv_pairs_consecutive_numbers_even_when_reordered():
    ms = 1_000_000
    m = run([1, 3, 2], delays=[10 * ms, 10 * ms, 13 * ms])
    # pairs (1,2): 13 - 10 = 3 ms and (2,3): 10 - 13 = -3 ms
    assert sorted([m.ipdv_ms.p50, m.ipdv_ms.p99]) == [-3.0, 3.0]


def test_samples_switch_to_a_histogram_within_its_precision():
    s = Samples(cap=1000)
    for v in range(1, 100_001):
        s.add(v * 1000)
    assert s.values is None
    assert s.quantile(0.5) == pytest.approx(50_000_000, rel=1 / 128)
    assert s.quantile(0.99) == pytest.approx(99_000_000, rel=1 / 128)


def test_memory_stays_bounded_when_gaps_never_fill():
    t = StreamTracker(first_seq=0, max_ranges=64)
    for seq in range(0, 20_000, 2):  # every other packet lost
        t.arrive(seq, 0, seq)
    assert len(t._got) <= 65
    m = t.result(20_000)
    assert (m.sent, m.received, m.lost, m.loss_periods) == (20_000, 10_000, 10_000, 10_000)


def test_rangeset_merges_and_finds_gaps():
    r = RangeSet()
    for x in (1, 2, 5, 3, 9, 4, 4):
        r.add(x)
    assert list(r) == [(1, 6), (9, 10)] and r.members == 6
    assert list(r.gaps(0, 12)) == [(0, 1), (6, 9), (10, 12)]
    assert 4 in r and 7 not in r


def test_running_counts_include_data_that_arrives_after_the_end_packet():
    t = StreamTracker(first_seq=0)
    t.arrive(0, 0, 0)
    t.mark_end(2, 1)
    t.arrive(1, 0, 2)
    assert t.progress()[:2] == (2, 0)  # (received, lost so far)
