"""The many-target engine's pure core, driven with made-up times (no sockets).

References: fping 5.1's behaviour as measured here (../shared/notes/peers.md): a dead
host in the alive check costs 500 + 750 + 1125 + 1687 ms with the defaults (-t 500
-r 3 -B 1.5); sends keep a global gap (-i); count mode sends every period (-p) and
counts a probe when it is answered or timed out.  Packets for the matchers are
crafted with scapy.
"""

from __future__ import annotations

import pytest

from netdiag.multi.core import Settings, Sweep, Target
from netdiag.multi.match import EchoMatcher, fping_error_text
from netdiag.multi.results import Duplicate, Reply, Timeout
from netdiag.packets import decode

MS = 1_000_000


def targets(n: int) -> list[Target]:
    return [Target(f"198.18.1.{i + 1}", f"198.18.1.{i + 1}", 4) for i in range(n)]


def run(sweep: Sweep, answer, until_ms: int = 60_000, step_ms: float = 0.1):
    """Drive the sweep like the loop does, on a simulated clock; ``answer(target, probe,
    sent_ms)`` returns the RTT in ms for a reply, or None. Returns (events, sends)."""
    now = 0
    events, sends, inflight = [], [], []
    while not sweep.done and now < until_ms * MS:
        while (due := sweep.due(now)) is not None:
            seq = sweep.sent(due, now, now)
            sends.append((now / MS, due.target, due.probe))
            rtt = answer(due.target, due.probe, now / MS)
            if rtt is not None:
                inflight.append((now + int(rtt * MS), seq))
        for at, seq in sorted(inflight):
            if at <= now:
                inflight.remove((at, seq))
                ev = sweep.reply(seq, "x", at, None, 64, 64)
                if ev is not None:
                    events.append(ev)
        events += sweep.expire(now)
        wake = sweep.wake_ns(now)
        if wake is None:
            break
        nxt = min([wake] + [a for a, _s in inflight])
        now = max(now + int(step_ms * MS), nxt)
    return events, sends


def test_a_dead_host_gets_fpings_backoff_schedule():
    sweep = Sweep(targets(1), Settings(), 0)
    events, sends = run(sweep, lambda *_: None)
    times = [round(t) for t, _i, _p in sends]
    assert times == [0, 500, 1250, 2375]  # 500, +750, +1125; then 1687 more to give up
    assert [type(e) for e in events] == [Timeout] * 4
    st = sweep.states[0]
    assert (st.transmitted, st.received) == (4, 0)
    assert sweep.done


def test_a_retry_that_is_answered_makes_the_host_alive_and_stops():
    sweep = Sweep(targets(1), Settings(), 0)
    events, sends = run(sweep, lambda t, p, sent: 1.0 if sent >= 500 else None)
    assert len(sends) == 2
    assert isinstance(events[-1], Reply) and events[-1].rtt_ms == pytest.approx(1.0, abs=0.2)
    assert sweep.states[0].timeout_ns == 500 * MS  # the first reply resets the backoff


def test_sends_keep_the_global_gap_and_the_target_order():
    sweep = Sweep(targets(5), Settings(interval_ms=10, retries=0), 0)
    _events, sends = run(sweep, lambda *_: 0.5)
    assert [i for _t, i, _p in sends] == [0, 1, 2, 3, 4]
    gaps = [b[0] - a[0] for a, b in zip(sends, sends[1:], strict=False)]
    assert all(g >= 10 - 1e-6 for g in gaps)


def test_count_mode_sends_every_period_and_counts_timeouts():
    sweep = Sweep(targets(2), Settings(interval_ms=1, period_ms=100, timeout_ms=80, count=3), 0)
    events, sends = run(sweep, lambda t, p, _s: 2.0 if t == 0 and p != 1 else None)
    per_target = [[round(s) for s, i, _p in sends if i == t] for t in (0, 1)]
    assert per_target == [[0, 100, 200], [1, 101, 201]]
    a, b = sweep.results()
    assert (a.transmitted, a.received, a.rtts[1]) == (3, 2, None)
    assert (b.transmitted, b.received, b.rtts) == (3, 0, (None, None, None))
    assert a.loss_pct == 33 and b.loss_pct == 100  # fping's integer percentages
    assert sum(isinstance(e, Timeout) for e in events) == 4


def test_a_reply_later_than_the_timeout_is_not_a_reply():
    sweep = Sweep(targets(1), Settings(timeout_ms=50, count=1), 0)
    events, _sends = run(sweep, lambda *_: 60.0)
    assert [type(e) for e in events] == [Timeout]
    assert sweep.states[0].received == 0


def test_a_second_reply_is_a_duplicate():
    sweep = Sweep(targets(1), Settings(count=1), 0)
    due = sweep.due(0)
    seq = sweep.sent(due, 0, 0)
    assert isinstance(sweep.reply(seq, "x", MS, None, 64, 64), Reply)
    dup = sweep.reply(seq, "x", 2 * MS, None, 64, 64)
    assert isinstance(dup, Duplicate) and sweep.states[0].duplicates == 1
    assert sweep.states[0].received == 1


def test_loop_mode_keeps_a_bounded_ring():
    sweep = Sweep(targets(1), Settings(period_ms=10, timeout_ms=5, loop=True, ring=8), 0)
    run(sweep, lambda *_: 1.0, until_ms=1000)
    st = sweep.states[0]
    assert st.received >= 90 and len(st.ring) == 8


def test_kernel_stamp_is_used_unless_the_clock_stepped():
    sweep = Sweep(targets(1), Settings(count=2, period_ms=10), 0)
    seq = sweep.sent(sweep.due(0), 0, 1_000 * MS)
    r = sweep.reply(seq, "x", 5 * MS, 1_000 * MS + 2 * MS, 64, 64)
    assert r.rtt_ms == pytest.approx(2.0)
    seq = sweep.sent(sweep.due(10 * MS), 10 * MS, 2_000 * MS)
    r = sweep.reply(seq, "x", 13 * MS, 1_000 * MS, 64, 64)  # stamp before the send
    assert r.rtt_ms == pytest.approx(3.0)


def test_echo_matcher_takes_our_replies_and_errors_only():
    from scapy.layers.inet import ICMP, IP, ICMPerror, IPerror
    from scapy.packet import Raw

    m = EchoMatcher(4, 0x1234, b"cookie!!", 56)
    body = m.payload(56)
    ours = bytes(IP(src="198.18.1.2", dst="198.18.0.1", ttl=63)
                 / ICMP(type=0, id=0x1234, seq=77) / Raw(body))  # fmt: skip
    assert m.match(decode(ours, 228)) == ("reply", 77, 64, 63, "")
    other_id = bytes(IP() / ICMP(type=0, id=0x1235, seq=77) / Raw(body))
    assert m.match(decode(other_id, 228)) is None
    other_cookie = bytes(IP() / ICMP(type=0, id=0x1234, seq=77) / Raw(b"x" * 56))
    assert m.match(decode(other_cookie, 228)) is None
    quoted = IPerror(src="198.18.0.1", dst="198.18.1.3") / ICMPerror(type=8, id=0x1234, seq=9)
    err = bytes(IP(src="198.18.0.2") / ICMP(type=3, code=1) / quoted / Raw(body[:8]))
    assert m.match(decode(err, 228)) == ("error", 9, 3, 1)


def test_fping_words_for_icmp_errors():
    assert fping_error_text(4, 3, 1, "198.18.0.2", "198.18.1.3") == \
        "ICMP Host Unreachable from 198.18.0.2 for ICMP Echo sent to 198.18.1.3"  # fmt: skip
    assert fping_error_text(4, 11, 0, "r", "t").startswith("ICMP Time Exceeded from r")
    assert fping_error_text(4, 3, 99, "r", "t").startswith("ICMP Unreachable (Invalid Code)")


def test_a_long_running_loop_adds_and_retires_targets():
    sweep = Sweep(targets(1), Settings(period_ms=100, timeout_ms=50, loop=True, ring=4), 0)
    run(sweep, lambda *_: 1.0, until_ms=250)
    added = sweep.add_target(Target("198.18.1.9", "198.18.1.9", 4, period_ms=50), 300 * MS)
    sweep.retire(0)
    before = sweep.states[0].received
    events, sends = [], []
    now = 300 * MS
    while now < 600 * MS:
        while (due := sweep.due(now)) is not None:
            sends.append((now // MS, due.target))
            seq = sweep.sent(due, now, now)
            events.append(sweep.reply(seq, "x", now + MS, None, 64, 61))
        now += MS
    assert {t for _n, t in sends} == {added}  # the retired target gets nothing more
    assert [n for n, _t in sends] == [300, 350, 400, 450, 500, 550]  # its own 50 ms period
    assert sweep.states[0].received == before
    assert sweep.states[added].last_ttl == 61 and len(sweep.states[added].ring) == 4
    sweep.stop()
    assert sweep.stopped
