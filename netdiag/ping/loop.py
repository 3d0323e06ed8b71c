"""The thin socket loop of ping: send, wait, feed :mod:`core`. The sockets are opened
and configured (:mod:`options`) by :func:`netdiag.ping.run.ping`.

Sockets: raw ``AF_INET/IPPROTO_ICMP`` and ``AF_INET6/IPPROTO_ICMPV6`` when we
may (root or CAP_NET_RAW); else unprivileged ICMP datagram sockets when
``net.ipv4.ping_group_range`` admits our group (the kernel then owns the echo
identifier: it is the socket's local port); else :class:`PrivilegeError` with
the fixes.

Clocks: scheduling uses ``time.monotonic_ns()``. RTT uses the kernel receive
timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME) minus ``time.time_ns()`` read
immediately before ``sendto``, as iputils does with the time it writes into the
packet; the monotonic reading comes first so the wall clock is the last thing
read before the syscall. ``PingOptions(kernel_tx_stamps=True)`` (raw sockets)
replaces it with the kernel's software transmit stamp (SO_TIMESTAMPING, read
from the error queue before the replies): that takes Python's and the syscall's
time out of the RTT, 30-40 us less than iputils' median in the 4-router lab, so
it is off by default to stay comparable with iputils (tests/bench/bench_ping.py
measures both). A wall-clock step between send and receive is caught by
pingcore, which falls back to the monotonic RTT for that sample.

Socket plumbing shared with the TCP/UDP probes lives in ``pingsock``; the
options and the socket set up from them (raw sockets get a classic BPF filter
for our identifier) in ``pingoptions``.

Received packets are decoded by ``netdiag.decode``. IPv6 raw and all datagram
sockets hand us the ICMP message without its IP header; we put a synthetic IP
header (source from recvmsg, TTL/hop limit from ancillary data, destination
unspecified) in front, so that the one dispatcher decodes every packet.
"""

from __future__ import annotations

import errno
import select
import socket
import time
from collections.abc import Callable

from netdiag.packets import decode, icmp, icmpv6, ipv4, ipv6
from netdiag.ping.core import PingSession
from netdiag.ping.events import NoAnswerYet, PingError, PingReply, PingStart
from netdiag.ping.options import PingOptions
from netdiag.ping.sock import (
    ANC_SIZE,
    RECV_SIZE,
    ancillary,
    enable_tx_stamps,
    path_mtu,
    read_error_queue,
    read_tx_stamps,
    with_ip_header,
)
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Loop", "PingEvent", "PingSent", "SendFailed"]

_DEFAULT_LINGER = 10.0  # seconds to wait for the last reply when none came (iputils)
_FLOOD_TICK = 0.01  # flood without -i: at least 100 probes a second


@dataclass(frozen=True)
class PingSent:
    """A probe left (flood mode prints a dot for it)."""

    seq: int


@dataclass(frozen=True)
class SendFailed:
    """``sendto`` failed for probe ``seq``; ``message`` is the strerror. A datagram too
    big for the local link with DF (EMSGSIZE) carries the route's ``mtu``."""

    seq: int
    message: str
    mtu: int | None = None
    family: int = 4

    @property
    def text(self) -> str:
        """The line iputils prints on stderr (without the ``ping: `` prefix)."""
        if self.mtu is not None:
            sep = "=" if self.family == 4 else ": "
            return f"local error: message too long, mtu{sep}{self.mtu}"
        return f"sendto: {self.message}"


PingEvent = PingStart | PingSent | PingReply | PingError | NoAnswerYet | SendFailed


class Loop:
    """One run of ping on one socket: the scheduling (count, interval, deadline, linger,
    ``-O``) that the TCP/UDP probe (:mod:`portloop`) inherits, with ICMP send and receive."""

    def __init__(
        self,
        sock: socket.socket,
        raw: bool,
        session: PingSession,
        opt: PingOptions,
        emit: Callable[[Any], None],
    ) -> None:
        self.sock = sock
        self.raw = raw
        self.s = session
        self.opt = opt
        self.emit = emit
        self.family = session.family
        self.max_rtt_ns = 0
        self.reply_arrived = False
        self.socks = [sock]
        # raw sockets: kernel TX stamps (key -> seq of the send that made it)
        self.tx_stamps = raw and opt.kernel_tx_stamps and enable_tx_stamps(sock)
        self.tx_keys: dict[int, int] = {}
        self.tx_next_key = 0

    def send(self) -> None:
        s = self.s
        seq = s.next_seq()
        if self.family == 4:
            msg = icmp.build_echo(s.ident, seq, s.payload())
        else:  # the kernel fills the ICMPv6 checksum of raw and datagram sockets
            msg = icmpv6.build_echo(s.ident, seq, s.payload(), "::", s.address)
        dest = (s.address, 0)
        sendto = self.sock.sendto
        mono = time.monotonic_ns()
        wall = time.time_ns()
        try:
            sendto(msg, dest)
        except OSError as exc:
            self.after_send(seq, mono, wall, exc)
            return
        self.after_send(seq, mono, wall, None)

    def after_send(self, seq: int, mono: int, wall: int, exc: OSError | None) -> None:
        """Probe ``seq`` went out at ``mono``/``wall`` (or failed with ``exc``): count it,
        and report a failure, or remember it for its TX stamp and tell a flood."""
        self.s.sent(seq, mono, wall)
        if exc is not None:
            self.send_failed(seq, exc)
            return
        if self.tx_stamps:
            self.tx_keys[self.tx_next_key] = seq
            self.tx_next_key += 1
        if self.opt.flood:
            self.emit(PingSent(seq))

    def read_tx(self) -> None:
        for key, stamp in read_tx_stamps(self.sock):
            seq = self.tx_keys.pop(key, None)
            if seq is not None:
                self.s.tx_stamped(seq, stamp)

    def send_failed(self, seq: int, exc: OSError) -> None:
        self.s.send_failed(seq)
        mtu = None
        if exc.errno == errno.EMSGSIZE:
            mtu = path_mtu(self.family, self.s.address, self.opt.interface)
        self.emit(SendFailed(seq, exc.strerror or str(exc), mtu, self.family))

    def drain(self) -> None:
        sock, s, family = self.sock, self.s, self.family
        if self.tx_stamps:
            self.read_tx()
        while True:
            try:
                data, anc, _flags, addr = sock.recvmsg(RECV_SIZE, ANC_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                if not self.raw:
                    self.drain_errors()
                    continue
                raise
            now = time.monotonic_ns()
            stamp, ttl = ancillary(anc)
            source = str(addr[0])
            if family == 4 and self.raw:
                packet = decode(data, 228)
            else:
                packet = decode(with_ip_header(family, data, source, ttl), 228 + (family == 6))
            event = s.received_packet(packet, source, now, stamp)
            if event is not None:
                if isinstance(event, PingReply) and not event.dup:
                    self.reply_arrived = True
                    self.max_rtt_ns = max(self.max_rtt_ns, int(event.rtt_ms * 1e6))
                self.emit(event)
        if not self.raw:
            self.drain_errors()

    def drain_errors(self) -> None:
        """Datagram sockets: ICMP errors come on the error queue (IP_RECVERR)."""
        s = self.s
        if self.family == 4:

            def original(data: bytes) -> bytes:
                return ipv4.build("0.0.0.0", s.address, 1, data)
        else:

            def original(data: bytes) -> bytes:
                return ipv6.build("::", s.address, 58, data)

        for packet, source, now, stamp in read_error_queue(self.sock, self.family, original):
            event = s.received_packet(packet, source, now, stamp)
            if event is not None:
                self.emit(event)

    def run(self) -> tuple[int, bool]:
        """Send and receive until done; returns (elapsed ms, interrupted)."""
        opt, s = self.opt, self.s
        interval_ns = int(opt.interval_s * 1e9)
        flood_tick = int(_FLOOD_TICK * 1e9) if opt.flood and opt.interval_s == 0 else 0
        linger_ns = int((opt.timeout if opt.timeout is not None else _DEFAULT_LINGER) * 1e9)
        start = time.monotonic_ns()
        deadline = start + int(opt.deadline * 1e9) if opt.deadline is not None else None
        next_send = start
        last_send = start
        last_seq: int | None = None
        interrupted = False
        try:
            while True:
                now = time.monotonic_ns()
                if deadline is not None and now >= deadline:
                    break
                if opt.count and deadline is not None and s.received + s.errors >= opt.count:
                    break
                sending = not opt.count or deadline is not None or s.transmitted < opt.count
                wake = deadline
                if sending:
                    if flood_tick and not s.outstanding:
                        next_send = min(next_send, now)
                    if now >= next_send:
                        if opt.report_outstanding and last_seq is not None \
                                and not s.answered(last_seq):  # fmt: skip
                            self.emit(NoAnswerYet(last_seq, time.time_ns()))
                        last_seq = s.next_seq()
                        self.send()
                        last_send = now
                        next_send = now + (flood_tick or interval_ns)
                        continue
                    wake = next_send if wake is None else min(wake, next_send)
                else:
                    if not s.outstanding:
                        break
                    if self.reply_arrived:
                        wait = max(2 * self.max_rtt_ns, interval_ns, 1_000_000)
                    else:
                        wait = linger_ns
                    if now >= last_send + wait:
                        break
                    wake = last_send + wait if wake is None else min(wake, last_send + wait)
                timeout = None if wake is None else max(0.0, (wake - now) / 1e9)
                readable, _w, errs = select.select(self.socks, [], self.socks, timeout)
                if readable or errs:
                    self.drain()
        except KeyboardInterrupt:
            interrupted = True
        return (time.monotonic_ns() - start) // 1_000_000, interrupted
