"""How the exporter's engine threads pace 1,000 targets: in bursts spread over the
period (``burst_offset_ms`` and the engine's ``Target.offset_ms``), and the engine's
memory of timed-out probes (fping's 10 s seqmap) kept bounded. Pure: the engine is
handed the time."""

from __future__ import annotations

from netdiag.exporter.loop import BURST, burst_offset_ms, burst_size
from netdiag.multi.core import Settings, Sweep, Target

MS = 1_000_000


def _first_sends(targets: list[Target]) -> dict[int, list[int]]:
    """send time (ms) -> targets sent then, over the first period, 1 ms steps."""
    sweep = Sweep(targets, Settings(interval_ms=0, timeout_ms=1000, loop=True, ring=1), 0)
    out: dict[int, list[int]] = {}
    for ms in range(1000):
        while (due := sweep.due(ms * MS)) is not None:
            sweep.sent(due, ms * MS, ms * MS)
            out.setdefault(ms, []).append(due.target)
    return out


def test_a_thousand_targets_go_out_in_bursts_spread_over_the_period():
    targets = [Target(f"t{i}", f"198.19.0.{i % 250}", 4, period_ms=1000,
                      offset_ms=burst_offset_ms(i, 1000)) for i in range(1000)]  # fmt: skip
    sends = _first_sends(targets)
    assert sorted(t for ts in sends.values() for t in ts) == list(range(1000))  # each once
    assert max(len(ts) for ts in sends.values()) == BURST
    assert len(sends) == 1000 // BURST
    times = sorted(sends)
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 40  # ms apart


def test_bursts_of_big_probes_are_smaller_so_their_replies_fit_the_receive_buffer():
    assert burst_size(56) == BURST == 100
    assert burst_size(1400) * (1400 + 28 + 500) < 212_992 // 2
    assert burst_size(65000) >= 4


def test_without_offsets_every_target_is_due_at_the_start_in_the_order_given():
    """fping's order, kept by the engine for the other callers."""
    sends = _first_sends([Target(f"t{i}", "198.18.1.2", 4) for i in range(10)])
    assert sends == {0: list(range(10))}


def test_an_icmp_error_is_attributed_for_ten_seconds_after_the_timeout_then_forgotten():
    t = [Target("a", "198.18.1.2", 4, period_ms=1000)]
    sweep = Sweep(t, Settings(interval_ms=0, timeout_ms=500, loop=True, ring=1), 0)
    seqs = []
    for step in range(40):  # 20 s: a probe every second, a timeout each half second later
        now = step * 500 * MS
        while (due := sweep.due(now)) is not None:
            seqs.append(sweep.sent(due, now, now))
        sweep.expire(now)
    assert sweep.error(seqs[-5], "198.18.0.2", 4, 3, 1) is not None  # 5 s old
    assert sweep.error(seqs[2], "198.18.0.2", 4, 3, 1) is None  # 17 s old
    assert len(sweep._gone) <= 11 and len(sweep._gone_order) <= 11
