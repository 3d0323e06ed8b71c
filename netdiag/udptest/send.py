"""netdiag's UDP test sender: the paced stream, then the end-of-test exchange.

Pacing (the issue: the measured rate within 2 % of the asked one, no bursts
larger than needed) uses ``time.monotonic_ns()`` and an absolute schedule: datagram
``k`` is due at ``start + k * interval``. The sender sleeps until about 100 us
before the due time (with 1 us timer slack instead of the default 50 us) and
spins the rest, so a datagram leaves within microseconds of its slot and the
rate holds over the run. When it falls behind (a descheduled process: the
kernel shows stalls of 1-5 ms on a busy 2-CPU machine) it catches up, but never
faster than twice the asked rate (two datagrams are at least half an interval
apart), so the stream never bursts back to back: at most twice the asked rate
over any time span, while the lateness (``max_lag_us``, the worst one) is paid
back within as long again. ``--rate 0`` sends as fast as the socket takes them.
The send time in each datagram is ``time.time_ns()`` (CLOCK_REALTIME, so one-way
delay means something between hosts with synchronized clocks).

The end-of-test exchange: END (with the count sent) is repeated every ``retry``
seconds until the receiver's REPORT for this test id comes back over the same
socket pair, for at most ``wait`` seconds.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import secrets
import select
import socket
import time

from netdiag.errors import NetdiagError, UsageError
from netdiag.records import dataclass
from netdiag.udptest.wire import (
    DATA,
    END,
    END_BODY,
    HEADER,
    HEADER_LEN,
    MAGIC,
    REPORT,
    SEQ_OFFSET,
    SEQ_TIME,
    VERSION,
    build,
    parse,
    resolve,
)

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SendOptions", "SendResult", "send"]

_STALL_NS = 50_000  # a send normally takes a few us; one that took longer was held up


def _tight_timer() -> None:
    """Ask for 1 us timer slack (default 50 us) so short sleeps end on time."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(29, 1000, 0, 0, 0)  # PR_SET_TIMERSLACK


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
    family, sockaddr = resolve(target, opts.port, opts.family)
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
    pack, mono, wall, xmit = SEQ_TIME.pack_into, time.monotonic_ns, time.time_ns, sock.send
    seq = errors = max_lag = 0
    refused = False
    first = last = start = mono()
    deadline = start + int(budget * 1e9)
    due = start
    half = interval // 2
    prev = start - half  # when the previous datagram was sent
    while seq < limit:
        if interval:
            now = mono()
            if now - prev > _STALL_NS:  # the previous send was held up: it left about now
                prev = now
            # on time: wait for the slot; late: catch up, but at most at twice the rate
            target = due if due - prev >= half else prev + half
            if now < target:
                if target - now > 200_000:
                    time.sleep((target - now - 100_000) / 1e9)
                while (now := mono()) < target:
                    pass
            if now - due > max_lag:
                max_lag = now - due
            prev = now
            due += interval
        pack(buf, SEQ_OFFSET, seq, wall())
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
    end = build(END, tid, sent, time.time_ns(), END_BODY.pack(duration, errors, 0))
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
