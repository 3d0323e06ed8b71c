"""netdiag's UDP test: the wire format (defined here and nowhere else), the paced
sender and the receiver.

Wire format, big-endian; every datagram starts with the 28-byte header::

    magic "NDut" (4) | version 1 (1) | kind (1) | reserved 0 (2) | test id (4)
    | sequence number (8, unsigned 64-bit) | send time (8, ns since the epoch)

* DATA (kind 0): the header, padded with zeros to the payload length (``-l``).
* END (kind 1): sequence number = packets sent (one past the last DATA number),
  then duration ns (8) and send errors (4) and 4 reserved bytes. It is the last
  packet of the stream: a DATA packet arriving after it was overtaken by it.
* REPORT (kind 2): sequence number echoes the END's, then the receiver's report
  as UTF-8 JSON (``render.udp.metrics_json`` plus receiver fields).

Anything else (short, wrong magic/version/kind, bad body) is *foreign*: counted,
never trusted, never fatal. Clocks: pacing uses ``time.monotonic_ns()``; the send
time is ``time.time_ns()`` (CLOCK_REALTIME, so one-way delay means something
between hosts with synchronized clocks); the receive time is ``time.time_ns()``
right after ``recvfrom_into`` returns, which under load includes the time a
datagram waited in the socket buffer. Socket-buffer drops come from the kernel's
per-socket drop counter (the one SO_RXQ_OVFL reports), read from the ``drops``
column of /proc/thread-self/net/udp{,6} for our socket's inode, so the hot loop
needs no ancillary data.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import secrets
import select
import socket
import struct
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netdiag.errors import NetdiagError, UsageError
from netdiag.metrics.udpmetrics import StreamTracker
from netdiag.render.udp import CLOCK_NOTE, metrics_json

__all__ = [
    "MAGIC",
    "HEADER",
    "HEADER_LEN",
    "DATA",
    "END",
    "REPORT",
    "parse",
    "build",
    "SendOptions",
    "SendResult",
    "send",
    "RecvOptions",
    "TestReport",
    "Interim",
    "receive",
    "socket_drops",
]

MAGIC = b"NDut"
VERSION = 1
DATA, END, REPORT = 0, 1, 2
HEADER = struct.Struct("!4sBBHIQQ")
HEADER_LEN = HEADER.size  # 28
_END_BODY = struct.Struct("!QII")
_SEQ_TIME = struct.Struct("!QQ")  # at offset 12 of the header
_MAX_REPORT = 60_000


def build(kind: int, test_id: int, seq: int, send_ns: int, body: bytes = b"") -> bytes:
    return HEADER.pack(MAGIC, VERSION, kind, 0, test_id, seq, send_ns) + body


def parse(data: bytes | bytearray | memoryview) -> tuple[int, int, int, int] | None:
    """(kind, test id, seq, send ns) of a well-formed datagram; None if foreign."""
    if len(data) < HEADER_LEN:
        return None
    magic, version, kind, _res, tid, seq, sent = HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION or kind > REPORT:
        return None
    if kind == END and len(data) < HEADER_LEN + _END_BODY.size:
        return None
    return kind, tid, seq, sent


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


def _resolve(host: str, port: int, family: int | None) -> tuple[int, Any]:
    fam = {4: socket.AF_INET, 6: socket.AF_INET6}.get(family or 0, socket.AF_UNSPEC)
    try:
        infos = socket.getaddrinfo(host, port, fam, socket.SOCK_DGRAM)
    except socket.gaierror as e:
        raise UsageError(f"{host}: {e.strerror}") from None
    return infos[0][0], infos[0][4]


def _tight_timer() -> None:
    """Ask for 1 us timer slack (default 50 us) so short sleeps end on time."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(29, 1000, 0, 0, 0)  # PR_SET_TIMERSLACK


# --------------------------------------------------------------------------- sender


@dataclass(frozen=True)
class SendOptions:
    port: int = 5301
    rate: float | None = None  # datagrams/s; 0 = as fast as possible
    bitrate: float | None = None  # payload bits/s (iperf3's -b)
    length: int = 1400
    count: int | None = None
    duration: float | None = None
    tos: int | None = None
    family: int | None = None
    wait: float = 5.0  # bound on the end-of-test exchange
    retry: float = 0.2

    def __post_init__(self) -> None:
        if not HEADER_LEN <= self.length <= 65507:
            raise UsageError(f"-l {self.length}: must be {HEADER_LEN}..65507 bytes")
        if self.rate is not None and self.rate < 0:
            raise UsageError(f"--rate {self.rate}: must be >= 0")
        if self.bitrate is not None and self.bitrate <= 0:
            raise UsageError(f"--bitrate {self.bitrate}: must be > 0")
        if self.count is not None and self.count < 1:
            raise UsageError(f"-n {self.count}: must be >= 1")
        if self.duration is not None and self.duration <= 0:
            raise UsageError(f"-t {self.duration}: must be > 0")
        if self.tos is not None and not 0 <= self.tos <= 255:
            raise UsageError(f"--tos {self.tos}: must be 0..255")
        if not 0 < self.port < 65536:
            raise UsageError(f"-p {self.port}: must be 1..65535")

    @property
    def pps(self) -> float:
        if self.rate is not None:
            return self.rate
        bitrate = self.bitrate if self.bitrate is not None else 1_000_000.0  # iperf3's default
        return bitrate / (8 * self.length)


@dataclass(frozen=True)
class SendResult:
    target: str
    address: str
    port: int
    test_id: int
    length: int
    asked_pps: float
    sent: int
    duration_ns: int
    span_ns: int  # first to last send
    send_errors: int
    max_lag_us: float  # worst lateness behind the schedule
    report: dict[str, Any] | None = None
    refused: bool = False

    @property
    def rate_pps(self) -> float:
        return (self.sent - 1) * 1e9 / self.span_ns if self.sent > 1 and self.span_ns else 0.0


def send(target: str, opts: SendOptions) -> SendResult:
    """Stream DATA at the asked rate, then exchange END/REPORT with the receiver."""
    family, sockaddr = _resolve(target, opts.port, opts.family)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.connect(sockaddr)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        if opts.tos is not None:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, opts.tos)
            else:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, opts.tos)
        _tight_timer()
        tid = secrets.randbits(32)
        sent, start, span, errors, lag, refused = _stream(sock, tid, opts)
        duration = time.monotonic_ns() - start
        report, refused2 = _finish(sock, tid, sent, duration, errors, opts)
    finally:
        sock.close()
    return SendResult(
        target,
        sockaddr[0],
        opts.port,
        tid,
        opts.length,
        opts.pps,
        sent,
        duration,
        span,
        errors,
        lag / 1000,
        report,
        refused or refused2,
    )


def _stream(
    sock: socket.socket, tid: int, opts: SendOptions
) -> tuple[int, int, int, int, int, bool]:
    pps = opts.pps
    interval = round(1e9 / pps) if pps > 0 else 0
    if opts.count is not None:
        limit = opts.count
        budget = limit / pps * 1.5 + 10 if pps > 0 else 3600.0
    else:
        duration = opts.duration if opts.duration is not None else 10.0
        limit = round(pps * duration) if pps > 0 else 1 << 62
        budget = duration * 1.1 + 1 if pps > 0 else duration
    buf = bytearray(opts.length)
    HEADER.pack_into(buf, 0, MAGIC, VERSION, DATA, 0, tid, 0, 0)
    pack, mono, wall, xmit = _SEQ_TIME.pack_into, time.monotonic_ns, time.time_ns, sock.send
    seq = errors = max_lag = 0
    refused = False
    first = last = start = mono()
    deadline = start + int(budget * 1e9)
    due = start
    while seq < limit:
        if interval:
            now = mono()
            if now < due:
                if due - now > 200_000:
                    time.sleep((due - now - 100_000) / 1e9)
                while mono() < due:
                    pass
            elif now - due > max_lag:
                max_lag = now - due
            due += interval
        pack(buf, 12, seq, wall())
        try:
            xmit(buf)
        except OSError as e:  # not sent: the number is used again
            errors += 1
            if e.errno == errno.ECONNREFUSED:
                refused = True
            elif e.errno not in (errno.ENOBUFS, errno.EAGAIN, errno.EPERM):
                raise NetdiagError(f"send: {e.strerror}") from None
            if errors > 1000 and seq == 0:
                break
            continue
        if seq == 0:
            first = mono()
        seq += 1
        if not seq & 255 or interval > 1_000_000:
            last = mono()
            if last > deadline:
                break
    last = mono()
    return seq, start, last - first, errors, max_lag, refused


def _finish(
    sock: socket.socket, tid: int, sent: int, duration: int, errors: int, opts: SendOptions
) -> tuple[dict[str, Any] | None, bool]:
    end = build(END, tid, sent, time.time_ns(), _END_BODY.pack(duration, errors, 0))
    sock.setblocking(False)
    refused = False
    deadline = time.monotonic() + opts.wait
    buf = bytearray(65536)
    while time.monotonic() < deadline:
        try:
            sock.send(end)
        except OSError as e:
            refused = refused or e.errno == errno.ECONNREFUSED
        until = min(deadline, time.monotonic() + opts.retry)
        while (left := until - time.monotonic()) > 0:
            select.select([sock], [], [], left)
            try:
                n = sock.recv_into(buf)
            except BlockingIOError:
                continue
            except OSError as e:
                refused = refused or e.errno == errno.ECONNREFUSED
                continue
            head = parse(buf[:n])
            if head and head[0] == REPORT and head[1] == tid:
                with contextlib.suppress(ValueError):
                    report = json.loads(bytes(buf[HEADER_LEN:n]).decode())
                    if isinstance(report, dict):
                        return report, refused
    return None, refused


# --------------------------------------------------------------------------- receiver


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
    test_id: int
    start_s: float
    end_s: float
    received: int
    lost: int
    duplicates: int
    reordered: int
    jitter_ms: float
    rate_pps: float


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
        family, sockaddr = _resolve(opts.bind, opts.port, None)
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
                if n < HEADER_LEN + _END_BODY.size:
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
                    duration, errors, _ = _END_BODY.unpack_from(buf, HEADER_LEN)
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
                            json.dumps(rep.report).encode()[:_MAX_REPORT],
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
    start = st.interim_at - st.started
    st.interim_at, st.interim_recv = t, received
    return Interim(st.tid, start, t - st.started, received, lost, dups, reordered, jitter, rate)


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
