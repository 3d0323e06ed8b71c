"""netdiag's UDP test receiver: tests told apart by test id, interim reports,
the report sent back to the sender.

The receive time of a datagram is ``time.time_ns()`` right after
``recvfrom_into`` returns, which under load includes the time it waited in the
socket buffer. A test ends ``loss_timeout`` seconds after its END arrived (RFC
7680's Tmax: stragglers still count) or, without END, after ``idle_timeout`` of
silence; its report then goes back to the sender (and again for each repeated
END, from a bounded memory of the last 16 tests).

Socket-buffer drops come from the kernel's per-socket drop counter (the one
SO_RXQ_OVFL reports), read from the ``drops`` column of /proc/thread-self/net/udp{,6}
for our socket's inode, so the hot loop needs no ancillary data. The report
says whether lost datagrams were dropped there or on the path.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import time
from collections import OrderedDict
from collections.abc import Callable

from netdiag.errors import NetdiagError, UsageError
from netdiag.metrics.udpmetrics import StreamTracker
from netdiag.records import dataclass, field
from netdiag.udptest.report import CLOCK_NOTE, metrics_json
from netdiag.udptest.wire import (
    DATA,
    END,
    END_BODY,
    HEADER,
    HEADER_LEN,
    MAGIC,
    MAX_REPORT,
    REPORT,
    VERSION,
    build,
    resolve,
)

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["RecvOptions", "TestReport", "Interim", "receive", "socket_drops"]


def socket_drops(sock: socket.socket) -> int | None:
    """The kernel's drop counter of ``sock`` (socket-buffer overflows), or None."""
    inode = str(os.fstat(sock.fileno()).st_ino)
    for name in ("udp", "udp6"):
        try:
            with open(f"/proc/thread-self/net/{name}") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) > 12 and parts[9] == inode:
                        return int(parts[-1])
        except OSError:
            continue
    return None


@dataclass(frozen=True)
class RecvOptions:
    bind: str | None = None
    port: int = 5301
    once: bool = False
    interval: float | None = None  # interim reports
    loss_timeout: float = 0.5  # RFC 7680 Tmax after the END arrived
    idle_timeout: float = 10.0  # a test without END ends after this much silence
    deadline: float | None = None  # the receiver's total run time
    linger: float = 0.6  # --once: answer repeated ENDs this long after reporting

    def __post_init__(self) -> None:
        if not 0 <= self.port < 65536:
            raise UsageError(f"-p {self.port}: must be 0..65535")
        if self.interval is not None and self.interval <= 0:
            raise UsageError(f"-i {self.interval}: must be > 0")


@dataclass(frozen=True)
class Interim:
    """Running counts of a test at ``end_s`` seconds after its first datagram.

    ``received``, ``lost`` (gaps below the highest number so far), ``duplicates``
    and ``reordered`` are totals since the start; ``interval_received`` and
    ``rate_pps`` are for this interval alone. A last, shorter interval is reported
    when the test ends, so the ``interval_received`` of a test's interim reports
    add up to the ``received`` of its final report (as iperf3's interval lines do).
    """

    test_id: int
    start_s: float
    end_s: float
    received: int
    lost: int
    duplicates: int
    reordered: int
    jitter_ms: float
    rate_pps: float
    interval_received: int = 0


@dataclass(frozen=True)
class TestReport:
    test_id: int
    peer: str
    report: dict[str, Any] = field(compare=False)


class _Test:
    __slots__ = (
        "tid",
        "tracker",
        "peer",
        "end_seq",
        "end_at",
        "sender",
        "started",
        "foreign0",
        "drops0",
        "seen",
        "quiet_since",
        "interim_at",
        "interim_recv",
    )

    def __init__(self, tid: int, now: float, foreign: int, drops: int | None) -> None:
        self.tid = tid
        self.tracker = StreamTracker(first_seq=0)
        self.peer: Any = None
        self.end_seq: int | None = None
        self.end_at: float | None = None
        self.sender: dict[str, int] = {}
        self.started = self.interim_at = now
        self.foreign0 = foreign
        self.drops0 = drops
        self.seen = -1
        self.quiet_since = now
        self.interim_recv = 0


def _open_receiver(opts: RecvOptions) -> socket.socket:
    if opts.bind:
        family, sockaddr = resolve(opts.bind, opts.port, None)
        sock = socket.socket(family, socket.SOCK_DGRAM)
    else:
        try:
            sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sockaddr = ("::", opts.port)
        except OSError:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sockaddr = ("0.0.0.0", opts.port)
    for opt in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, 32 << 20)
            break
        except OSError:
            continue
    try:
        sock.bind(sockaddr)
    except OSError as e:
        sock.close()
        raise NetdiagError(f"bind {sockaddr[0]} port {opts.port}: {e.strerror}") from None
    sock.setblocking(False)
    return sock


def _peer_text(peer: Any) -> str:
    host = str(peer[0]).removeprefix("::ffff:")
    return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"


def receive(
    opts: RecvOptions,
    on_event: Callable[[Any], None] | None = None,
    sock: socket.socket | None = None,
) -> list[TestReport]:
    """Receive tests until ``--once`` is satisfied or the deadline passes; returns
    the reports (also given to ``on_event``, with Interim events)."""
    own = sock is None
    sock = sock if sock is not None else _open_receiver(opts)
    emit = on_event or (lambda _e: None)
    reports: list[TestReport] = []
    tests: dict[int, _Test] = {}
    done: OrderedDict[int, tuple[Any, bytes]] = OrderedDict()
    foreign = 0
    buf = bytearray(65536)
    recv, unpack, wall, mono = sock.recvfrom_into, HEADER.unpack_from, time.time_ns, time.monotonic
    stop_at = mono() + opts.deadline if opts.deadline is not None else None
    linger_until: float | None = None
    try:
        while True:
            for _ in range(4096):  # drain, then look at the timers
                try:
                    n, peer = recv(buf)
                except BlockingIOError:
                    break
                except OSError:
                    continue
                now = wall()
                if n < HEADER_LEN:
                    foreign += 1
                    continue
                magic, version, kind, _res, tid, seq, sent = unpack(buf)
                if magic != MAGIC or version != VERSION or kind > END:
                    foreign += 1
                    continue
                st = tests.get(tid)
                if kind == DATA:
                    if st is None:
                        if tid in done:
                            continue  # a straggler after the report
                        st = tests[tid] = _Test(tid, mono(), foreign, socket_drops(sock))
                        st.peer = peer
                    st.tracker.arrive(seq, sent, now)
                    continue
                if n < HEADER_LEN + END_BODY.size:
                    foreign += 1
                    continue
                if tid in done:  # the sender did not get our report: say it again
                    with contextlib.suppress(OSError):
                        sock.sendto(done[tid][1], peer)
                    continue
                if st is None:
                    st = tests[tid] = _Test(tid, mono(), foreign, socket_drops(sock))
                st.peer = peer
                if st.end_seq is None:
                    duration, errors, _ = END_BODY.unpack_from(buf, HEADER_LEN)
                    st.end_seq, st.end_at = seq, mono()
                    st.sender = {"sent": seq, "duration_ns": duration, "send_errors": errors}
                    st.tracker.mark_end(seq, now)
            t = mono()
            for st in list(tests.values()):
                if opts.interval and t - st.interim_at >= opts.interval:
                    emit(_interim(st, t))
                if st.tracker.arrivals != st.seen:
                    st.seen, st.quiet_since = st.tracker.arrivals, t
                if st.end_at is not None:
                    finished = t - st.end_at >= opts.loss_timeout
                else:
                    finished = t - st.quiet_since >= opts.idle_timeout
                if finished:
                    if opts.interval:  # the last, partial interval
                        emit(_interim(st, t))
                    del tests[st.tid]
                    rep = _report(sock, st, foreign)
                    reports.append(rep)
                    emit(rep)
                    done[st.tid] = (
                        st.peer,
                        build(
                            REPORT,
                            st.tid,
                            st.end_seq or 0,
                            wall(),
                            json.dumps(rep.report).encode()[:MAX_REPORT],
                        ),
                    )
                    if st.end_seq is not None:
                        with contextlib.suppress(OSError):
                            sock.sendto(done[st.tid][1], st.peer)
                    while len(done) > 16:
                        done.popitem(last=False)
                    if opts.once and linger_until is None:
                        linger_until = t + opts.linger
            if linger_until is not None and t >= linger_until:
                return reports
            if stop_at is not None and t >= stop_at:
                return reports
            select.select([sock], [], [], 0.05)
    finally:
        if own:
            sock.close()


def _interim(st: _Test, t: float) -> Interim:
    received, lost, dups, reordered, jitter = st.tracker.progress()
    span = t - st.interim_at
    rate = (received - st.interim_recv) / span if span > 0 else 0.0
    start, fresh = st.interim_at - st.started, received - st.interim_recv
    st.interim_at, st.interim_recv = t, received
    return Interim(
        st.tid, start, t - st.started, received, lost, dups, reordered, jitter, rate, fresh
    )


def _report(sock: socket.socket, st: _Test, foreign_now: int) -> TestReport:
    m = st.tracker.result(st.end_seq)
    j = metrics_json(m)
    drops_now = socket_drops(sock)
    drops = (drops_now - st.drops0) if drops_now is not None and st.drops0 is not None else 0
    in_socket = min(drops, m.lost)
    on_path = m.lost - in_socket
    cause = "none"
    if m.lost:
        cause = {(True, False): "receiver socket buffer", (False, True): "path"}.get(
            (in_socket > 0, on_path > 0), "path and receiver socket buffer"
        )
    j.update(
        {
            "test_id": st.tid,
            "peer": _peer_text(st.peer) if st.peer else None,
            "foreign": foreign_now - st.foreign0,
            "socket_drops": drops,
            "lost_socket": in_socket,
            "lost_path": on_path,
            "loss_cause": cause,
            "sender": st.sender,
            "clock_note": CLOCK_NOTE,
        }
    )
    return TestReport(st.tid, j["peer"] or "", j)
