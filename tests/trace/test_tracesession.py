"""The trace session's sending strategy and waiting, without sockets or clocks.

The answers are built by scapy (time exceeded from each router, port unreachable
from the destination, quoting our probe). The path model answers as Linux does
with its default ICMP rate limit (ip-sysctl.rst, ``icmp_ratelimit``: a token
bucket per peer, ``XRLIM_BURST_FACTOR`` 6 tokens): a node with no token left
drops its answer, and within the simulated milliseconds no token comes back.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import pytest
from scapy.layers.inet import ICMP, IP

from netdiag.packets import decode
from netdiag.trace.core import Flow, Hop, Method, TraceSession, TraceSettings, build_probe

warnings.filterwarnings("ignore", category=DeprecationWarning)
SRC, DST = "198.18.0.1", "198.18.8.2"
FLOW = Flow(4, Method.UDP, SRC, DST, 40000, 33434, 60)
RTT_NS = 20_000


def _answer_bytes(key: int, ttl: int, routers: int) -> bytes:
    probe = bytes(IP(src=SRC, dst=DST, ttl=ttl, proto=17) / build_probe(FLOW, key))
    if ttl > routers:  # with the TTL a Linux host's answer has left after `routers` hops
        return bytes(IP(src=DST, dst=SRC, ttl=64 - routers) / ICMP(type=3, code=3) / probe[:28])
    return bytes(IP(src=f"198.18.{ttl - 1}.2", dst=SRC) / ICMP(type=11) / probe[:28])


@dataclass
class Path:
    """A chain of ``routers`` routers and the destination behind them."""

    routers: int = 8
    dst_tokens: int = 6  # answers the destination still has in its bucket
    silent: frozenset[int] = frozenset()  # TTLs whose router never answers
    at_dst: list[int] = field(default_factory=list)  # TTLs of the probes that reached it

    def answer(self, key: int, ttl: int) -> bytes | None:
        if ttl in self.silent:
            return None
        if ttl > self.routers:
            self.at_dst.append(ttl)
            if self.dst_tokens == 0:
                return None
            self.dst_tokens -= 1
        return _answer_bytes(key, ttl, self.routers)


@dataclass
class Run:
    hops: list[Hop]
    sent: list[int]  # TTLs in the order sent
    most_in_flight: int
    elapsed_ns: int


def simulate(s: TraceSession, path: Path) -> Run:
    """Drive ``s`` as the socket loop does: send what it allows (1 µs apart), deliver
    answers after ``RTT_NS``, and when nothing is on its way, jump to the next expiry."""
    now, sent, hops, most = 0, [], [], 0
    on_the_way: list[tuple[int, bytes]] = []
    in_flight: set[int] = set()
    for _ in range(10_000):
        if s.done:
            return Run(hops, sent, most, now)
        while (nxt := s.next_probe()) is not None:
            n, ttl, key = nxt
            s.sent(n, now, now)
            sent.append(ttl)
            in_flight.add(n)
            most = max(most, len(in_flight))
            pkt = path.answer(key, ttl)
            if pkt is not None:
                on_the_way.append((now + RTT_NS, pkt))
            now += 1_000
        if on_the_way:
            at, pkt = on_the_way.pop(0)
            now = max(now, at)
            in_flight.discard(s.received(decode(pkt, 228), now, now) or -1)
        else:
            deadline = s.next_deadline()
            assert deadline is not None, "nothing in flight, nothing to send, not done"
            now = max(now, deadline)
            s.expire(now)
            in_flight = {n for n in in_flight if not s._probes[n].done}
        hops += s.ready()
    raise AssertionError("the session never finished")


def test_probes_go_out_ttl_by_ttl_and_two_ttls_past_the_last_router():
    s = TraceSession(FLOW, TraceSettings(simultaneous=16, scout=False), key_base=7)
    first = s.to_send()
    assert [ttl for _n, ttl, _k in first] == [1, 1, 1, 2, 2, 2]  # not 16 at once
    for n, _ttl, _key in first:
        s.sent(n, 0, 0)
    s.received(decode(_answer_bytes(first[1][2], 1, 8), 228), 10, 10)  # router 1 answers
    assert [ttl for _n, ttl, _k in s.to_send()] == [3, 3, 3]


def test_the_session_stops_at_the_destination_and_never_waits_beyond():
    path = Path()
    run = simulate(TraceSession(FLOW, TraceSettings(simultaneous=16), key_base=500), path)
    assert [h.ttl for h in run.hops] == list(range(1, 10))
    assert run.hops[-1].addresses == [DST]
    assert [len([p for p in h.probes if p.address]) for h in run.hops] == [3] * 9
    assert run.sent == sorted(run.sent)  # every query of TTL t before TTL t+1
    assert max(run.sent) <= 10 and len(path.at_dst) <= 6  # within the burst of 6
    assert run.elapsed_ns < 1_000_000  # never waited out a timeout


@pytest.mark.parametrize("tokens", [1, 2, 3, 4, 5, 6])
def test_a_rate_limited_destination_is_found_at_its_own_ttl(tokens):
    # The destination spends its tokens on the probes it meets first: those of its own
    # TTL, since every query of TTL 9 leaves before TTL 10's.
    path = Path(dst_tokens=tokens)
    run = simulate(TraceSession(FLOW, TraceSettings(), key_base=1), path)
    assert [h.ttl for h in run.hops] == list(range(1, 10))
    last = run.hops[-1]
    assert [p.address for p in last.probes] == [DST] * min(tokens, 3) + [None] * (3 - tokens)


def test_a_silent_router_does_not_stall_the_trace():
    path = Path(silent=frozenset({3}))
    run = simulate(TraceSession(FLOW, TraceSettings(), key_base=3), path)
    assert [h.addresses for h in run.hops][2:4] == [[], ["198.18.3.2"]]
    assert run.hops[-1].addresses == [DST]
    assert run.elapsed_ns < 5_000_000  # near: 10 x the next hop's RTT, not the 5 s max


def test_silence_past_the_last_router_opens_the_window_up_to_n():
    # A firewalled destination: after one wait with nothing answered beyond router 8,
    # the trace runs to max TTL at traceroute(8)'s pace (-N probes per wait).
    path = Path(dst_tokens=0)
    s = TraceSession(
        FLOW, TraceSettings(max_ttl=30, simultaneous=16, wait=(5.0, 0, 0), max_silent=0)
    )
    run = simulate(s, path)
    assert [h.ttl for h in run.hops] == list(range(1, 31))
    assert all(h.addresses == [] for h in run.hops[8:])
    assert run.most_in_flight == 16
    waits = -(-(30 - 10) * 3 // 16)  # TTLs 9-10 first, then 60 probes 16 at a time
    assert run.elapsed_ns < (1 + waits) * 5.0e9 + 1e9


def test_an_unanswered_hop_waits_only_near_times_a_later_rtt():
    s = TraceSession(FLOW, TraceSettings(max_ttl=3, nqueries=1, wait=(5.0, 3.0, 10.0)))
    batch = s.to_send()
    assert [ttl for _n, ttl, _k in batch] == [1, 2]
    for n, _ttl, _key in batch:
        s.sent(n, 0, 0)
    s.received(decode(_answer_bytes(batch[0][2], 1, 2), 228), 100_000, None)
    (third,) = s.to_send()
    s.sent(third[0], 100_000, 100_000)
    # hop 2 is silent; hop 3 (the destination) answers in 0.1 ms
    s.received(decode(_answer_bytes(third[2], 3, 2), 228), 200_000, None)
    assert s.next_deadline() == 1_000_000  # near = 10 x 0.1 ms, not 5 s
    s.expire(1_000_000)
    assert [h.addresses for h in s.ready()] == [["198.18.0.2"], [], [DST]]
    assert s.done


def test_hops_are_handed_out_in_order():
    s = TraceSession(FLOW, TraceSettings(max_ttl=3, nqueries=1, wait=(1.0, 0, 0)))
    batch = s.to_send()
    for n, _ttl, _key in batch:
        s.sent(n, 0, 0)
    s.received(decode(_answer_bytes(batch[1][2], 2, 5), 228), 10, None)
    assert s.ready() == []  # hop 1 not complete yet
    s.received(decode(_answer_bytes(batch[0][2], 1, 5), 228), 10, None)
    assert [h.ttl for h in s.ready()] == [1, 2]


def test_a_silent_tail_stops_after_max_silent_ttls_and_waits_a_few_rtts():
    # The destination drops every probe: 8 routers answer, then TTLs 9-13 (5 in a row,
    # mtr's --max-unknown default) are probed at once, waited for ADAPT x the largest
    # RTT (at least the 0.25 s floor) instead of 5 s, and the trace stops there.
    path = Path(dst_tokens=0)
    s = TraceSession(FLOW, TraceSettings(max_ttl=30), key_base=11)
    run = simulate(s, path)
    assert [h.ttl for h in run.hops] == list(range(1, 14))
    assert all(h.addresses == [] for h in run.hops[8:])
    assert s.stopped == "silent" and s.stop_ttl == 13 and s.not_probed == 17
    assert max(run.sent) == 13  # nothing beyond the stop was sent
    assert run.elapsed_ns < 3 * 0.25e9  # a few floors, never the 5 s wait


def test_fewer_silent_ttls_than_max_silent_do_not_stop_the_trace():
    path = Path(silent=frozenset({3, 4, 5, 6}))
    s = TraceSession(FLOW, TraceSettings(max_ttl=30), key_base=13)
    run = simulate(s, path)
    assert s.stopped is None
    assert run.hops[-1].addresses == [DST]


def test_max_silent_counts_from_the_start_when_nothing_answers():
    path = Path(silent=frozenset(range(1, 31)), dst_tokens=0)
    s = TraceSession(FLOW, TraceSettings(max_ttl=30, max_silent=2), key_base=17)
    run = simulate(s, path)
    assert [h.ttl for h in run.hops] == [1, 2] and s.not_probed == 28
    assert run.elapsed_ns < 5.0e9 + 1e9  # nothing answered: the full -w once


def test_wait_max_alone_keeps_traceroute8s_meaning():
    # -w 1 (here = near = 0): every probe waits the full second, even after answers.
    s = TraceSession(FLOW, TraceSettings(max_ttl=2, nqueries=1, wait=(1.0, 0, 0)))
    batch = s.to_send()
    for n, _ttl, _key in batch:
        s.sent(n, 0, 0)
    s.received(decode(_answer_bytes(batch[0][2], 1, 5), 228), 50_000, None)
    assert s.next_deadline() == 1_000_000_000


def _delayed_run(s: TraceSession, links_ms: list[float]) -> tuple[int, list[int]]:
    """Drive ``s`` over a chain whose link k adds ``links_ms[k]`` one way (8 routers: 9
    links): an answer from TTL t comes back after twice the first t links, the
    destination's with the TTL a Linux host's answer has left after 8 hops (56).
    Returns (elapsed ns, TTLs sent in order)."""
    import heapq

    routers = len(links_ms) - 1
    now, sent, arrivals, order = 0, [], [], 0
    for _ in range(10_000):
        if s.done:
            return now, sent
        while (nxt := s.next_probe()) is not None:
            n, ttl, key = nxt
            s.sent(n, now, now)
            sent.append(ttl)
            hop = min(ttl, routers + 1)
            probe = bytes(IP(src=SRC, dst=DST, ttl=ttl, proto=17) / build_probe(FLOW, key))
            if ttl > routers:
                pkt = IP(src=DST, dst=SRC, ttl=64 - routers) / ICMP(type=3, code=3) / probe[:28]
            else:
                pkt = IP(src=f"198.18.{ttl - 1}.2", dst=SRC) / ICMP(type=11) / probe[:28]
            order += 1
            back = now + int(2e6 * sum(links_ms[:hop]))
            heapq.heappush(arrivals, (back, order, bytes(pkt)))
            now += 1_000
        deadline = s.next_deadline()
        if arrivals and (deadline is None or arrivals[0][0] <= deadline):
            at, _o, pkt = heapq.heappop(arrivals)
            now = max(now, at)
            s.received(decode(pkt, 228), now, now)
        else:
            assert deadline is not None
            now = max(now, deadline)
            s.expire(now)
        s.ready()
    raise AssertionError("the session never finished")


def test_on_a_delayed_path_a_trace_takes_about_two_round_trips():
    # 8 routers, 5 ms a link (the lab): 90 ms to the destination. The window
    # alone (two TTLs past the last router) needs 250 ms; the UDP scout, sent once the
    # first answer shows the delay (10 ms), opens it to TTL 9 at 100 ms: 190 ms.
    elapsed, sent = _delayed_run(TraceSession(FLOW, TraceSettings(), key_base=21), [5.0] * 9)
    assert elapsed <= 2.2 * 90e6 and sent.count(30) == 1
    assert max(t for t in sent if t != 30) == 9
    window, _ = _delayed_run(TraceSession(FLOW, TraceSettings(scout=False), key_base=22),
                             [5.0] * 9)  # fmt: skip
    assert window >= 2.7 * 90e6


def test_the_scout_saves_round_trips_when_the_first_link_is_long():
    # A 40 ms first link (a WAN uplink) then 1 ms links: the window would gain two TTLs
    # per 80 ms round trip; the scout's answer (TTL 56 left: 9 hops away) opens it to the
    # destination's TTL at once, and nothing goes past it.
    links = [40.0] + [1.0] * 8
    rtt = 2e6 * sum(links)
    with_scout, sent = _delayed_run(TraceSession(FLOW, TraceSettings(), key_base=23), links)
    without, _ = _delayed_run(TraceSession(FLOW, TraceSettings(scout=False), key_base=24), links)
    assert sent.count(30) == 1 and max(t for t in sent if t != 30) == 9
    assert with_scout <= 3 * rtt < 4 * rtt <= without
    # on a LAN path (the first answer under 1 ms) no scout goes out
    _, lan = _delayed_run(TraceSession(FLOW, TraceSettings(), key_base=25), [0.01] * 9)
    assert 30 not in lan


def test_when_the_probes_at_the_scouts_distance_are_lost_the_trace_goes_on():
    # The scout says 9 hops; every probe of TTL 9 is lost (a lossy last link): the
    # silence past the last router opens the window again, and the trace ends on
    # --max-silent instead of waiting for nothing.
    s = TraceSession(Flow(4, Method.ICMP, SRC, DST, 4242, 0, 60), TraceSettings(nqueries=1))
    scout = s.next_probe()
    assert scout is not None and scout[1] == 30
    s.sent(scout[0], 0, 0)
    reply = IP(src=DST, dst=SRC, ttl=56) / ICMP(type=0, id=4242, seq=scout[2])
    s.received(decode(bytes(reply), 228), 1_000_000, None)
    now = 1_000_000
    for _ in range(200):
        if s.done:
            break
        batch = s.to_send()
        assert batch or s.next_deadline() is not None, "stalled: nothing to send or wait for"
        for n, ttl, key in batch:
            s.sent(n, now, now)
            if ttl < 9:  # routers answer; TTL 9 and beyond are lost
                probe = bytes(IP(src=SRC, dst=DST, ttl=ttl) / ICMP(type=8, id=4242, seq=key))
                err = IP(src=f"198.18.{ttl - 1}.2", dst=SRC) / ICMP(type=11) / probe[:28]
                s.received(decode(bytes(err), 228), now + 1000, None)
        now = max(now + 2000, s.next_deadline() or now)
        s.expire(now)
        s.ready()
    assert s.done and s.stopped == "silent" and s.stop_ttl == 8 + 5


class _FakeTracer:
    """What ``drive`` needs of a tracer, with a path that answers each probe at the next
    read: the answers that open the window arrive while nothing is in flight."""

    def __init__(self, path: Path) -> None:
        import socket

        self.path, self.pending = path, []
        self.pair = socket.socketpair()  # a socket to wait on that never has data
        self.readers = [self.pair[0]]

    def _send(self, s: TraceSession, n: int, ttl: int, key: int) -> None:
        s.sent(n, time.monotonic_ns(), time.time_ns())
        pkt = self.path.answer(key, ttl)
        if pkt is not None:
            self.pending.append(pkt)

    def _drain(self, s: TraceSession, _sock: object) -> None:
        while self.pending:
            s.received(decode(self.pending.pop(0), 228), time.monotonic_ns(), None)


def test_the_loop_sends_again_when_answers_it_read_open_the_window():
    # The loop reads the answers after its sends; when they leave nothing in flight it
    # must go round once more (and send), not take the quiet for a stalled session.
    from netdiag.trace.drive import drive

    hops: list[Hop] = []
    session = TraceSession(FLOW, TraceSettings(scout=False), key_base=31)
    tracer = _FakeTracer(Path())
    try:
        drive(tracer, session, hops.append)
    finally:
        for sock in tracer.pair:
            sock.close()
    assert [h.ttl for h in hops] == list(range(1, 10)) and session.done
