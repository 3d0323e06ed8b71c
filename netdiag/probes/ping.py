"""The thin socket loop of ping: open, configure, send, wait, feed :mod:`pingcore`.

Sockets: raw ``AF_INET/IPPROTO_ICMP`` and ``AF_INET6/IPPROTO_ICMPV6`` when we
may (root or CAP_NET_RAW); else unprivileged ICMP datagram sockets when
``net.ipv4.ping_group_range`` admits our group (the kernel then owns the echo
identifier: it is the socket's local port); else :class:`PrivilegeError` with
the fixes.

Clocks: scheduling uses ``time.monotonic_ns()``. RTT uses the kernel receive
timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME) minus ``time.time_ns()`` read
immediately before ``sendto``, as iputils does with the time it writes into the
packet. SO_TIMESTAMPING TX stamps would remove the few hundred nanoseconds of
``sendto`` entry from the RTT, at the cost of an error-queue read per probe; not
worth it here. A wall-clock step between send and receive is caught by
pingcore, which falls back to the monotonic RTT for that sample.

Received packets are decoded by ``netdiag.decode``. IPv6 raw and all datagram
sockets hand us the ICMP message without its IP header; we put a synthetic IP
header (source from recvmsg, TTL/hop limit from ancillary data, destination
unspecified) in front, so that the one dispatcher decodes every packet.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netdiag.errors import NetdiagError, PrivilegeError, UsageError
from netdiag.packets import decode, icmp, icmpv6, ipv4, ipv6
from netdiag.probes.pingcore import (
    NoAnswerYet,
    PingError,
    PingReply,
    PingResult,
    PingSession,
    PingStart,
)

__all__ = ["PingOptions", "PingSent", "SendFailed", "ping", "resolve", "open_icmp_socket"]

# Linux values the socket module lacks (include/uapi/asm-generic/socket.h, linux/in.h,
# linux/in6.h, linux/icmp.h, linux/icmpv6.h).
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
IP_MTU_DISCOVER = getattr(socket, "IP_MTU_DISCOVER", 10)
IP_RECVTTL = getattr(socket, "IP_RECVTTL", 12)
IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
IPV6_MTU_DISCOVER = getattr(socket, "IPV6_MTU_DISCOVER", 23)
IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)
IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
IPV6_TCLASS = getattr(socket, "IPV6_TCLASS", 67)
PMTUDISC = {"dont": 0, "want": 1, "do": 2}  # IP_PMTUDISC_* == IPV6_PMTUDISC_*
SOL_RAW = 255
ICMP_FILTER = 1  # SOL_RAW: u32 mask of ICMP types to drop
ICMP6_FILTER = 1  # IPPROTO_ICMPV6: 256-bit map of ICMPv6 types to drop
MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3

_TIMESPEC = struct.Struct("@qq")
_INT = struct.Struct("@i")
_TTL_CMSGS = ((socket.IPPROTO_IP, socket.IP_TTL), (socket.IPPROTO_IPV6, IPV6_HOPLIMIT))
_EXTENDED_ERR = struct.Struct("@IBBBBII")  # struct sock_extended_err
_ANC_SIZE = 512
_RECV_SIZE = 65536 + 64
_DEFAULT_LINGER = 10.0  # seconds to wait for the last reply when none came (iputils)
MIN_USER_INTERVAL = 0.2
_FLOOD_TICK = 0.01  # flood without -i: at least 100 probes a second


@dataclass(frozen=True)
class PingOptions:
    count: int | None = None  # -c
    interval: float | None = None  # -i (default 1 s; flood 0)
    timeout: float | None = None  # -W: wait for the last reply
    deadline: float | None = None  # -w
    size: int = 56  # -s
    ttl: int | None = None  # -t
    tos: int | None = None  # -Q
    pmtudisc: str | None = None  # -M do|dont|want
    interface: str | None = None  # -I name or address
    family: int | None = None  # -4 / -6
    flood: bool = False  # -f
    report_outstanding: bool = False  # -O

    def __post_init__(self) -> None:
        if self.count is not None and self.count < 1:
            raise UsageError(f"bad number of packets to transmit: {self.count}")
        if self.interval is not None and self.interval < 0:
            raise UsageError(f"bad timing interval: {self.interval}")
        if self.timeout is not None and self.timeout < 0:
            raise UsageError(f"bad linger time: {self.timeout}")
        if self.deadline is not None and self.deadline < 0:
            raise UsageError(f"bad wait time: {self.deadline}")
        if not 0 <= self.size <= 65507:
            raise UsageError(f"invalid -s value: '{self.size}': out of range: 0 <= value <= 65507")
        if self.ttl is not None and not 1 <= self.ttl <= 255:
            raise UsageError(f"invalid -t value: '{self.ttl}': out of range: 1 <= value <= 255")
        if self.tos is not None and not 0 <= self.tos <= 255:
            raise UsageError(f"the decimal value of TOS bits must be in range 0-255: {self.tos}")
        if self.pmtudisc is not None and self.pmtudisc not in PMTUDISC:
            raise UsageError(f"invalid -M argument: {self.pmtudisc}: use do, dont or want")
        if self.family not in (None, 4, 6):
            raise UsageError(f"family {self.family}: use 4 or 6")

    @property
    def interval_s(self) -> float:
        if self.interval is not None:
            return self.interval
        return 0.0 if self.flood else 1.0


@dataclass(frozen=True)
class PingSent:
    """A probe left (flood mode prints a dot for it)."""

    seq: int


@dataclass(frozen=True)
class SendFailed:
    """``sendto`` failed for probe ``seq``; ``message`` is the strerror."""

    seq: int
    message: str


PingEvent = PingStart | PingSent | PingReply | PingError | NoAnswerYet | SendFailed


def resolve(target: str, family: int | None = None) -> tuple[int, str]:
    """``target`` (address or name) -> (4 or 6, address text as ping prints it)."""
    af = {None: socket.AF_UNSPEC, 4: socket.AF_INET, 6: socket.AF_INET6}[family]
    try:
        infos = socket.getaddrinfo(target, None, af, socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise UsageError(f"{target}: {exc.strerror}") from None
    fam, _t, _p, _c, sockaddr = infos[0]
    address = str(sockaddr[0])
    if fam == socket.AF_INET6:
        address = ipaddress.IPv6Address(address.partition("%")[0]).compressed
        return 6, address
    return 4, address


def privilege_hint() -> str:
    """The one line that says why we cannot ping and the three ways to fix it."""
    try:
        with open("/proc/sys/net/ipv4/ping_group_range") as f:
            low, high = f.read().split()
        groups = f"net.ipv4.ping_group_range ({low} {high})"
    except OSError:
        groups = "net.ipv4.ping_group_range"
    return (
        f"ping: no raw socket (needs root or CAP_NET_RAW) and {groups} excludes group "
        f"{os.getegid()}: run as root, or `setcap cap_net_raw+ep` on the interpreter, or "
        f"`sysctl -w net.ipv4.ping_group_range='0 2147483647'`"
    )


def open_icmp_socket(family: int) -> tuple[socket.socket, bool]:
    """An ICMP socket for ``family``: (socket, raw?). Raw first, then datagram."""
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    proto = socket.IPPROTO_ICMP if family == 4 else socket.IPPROTO_ICMPV6
    try:
        return socket.socket(af, socket.SOCK_RAW, proto), True
    except PermissionError:
        pass
    try:
        return socket.socket(af, socket.SOCK_DGRAM, proto), False
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise PrivilegeError(privilege_hint()) from None
        raise


def _configure(sock: socket.socket, family: int, raw: bool, opt: PingOptions) -> int:
    """Set the socket options; bind; return the echo identifier to use."""
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setblocking(False)
    if family == 4:
        if raw:  # let through only what ping reads: echo reply and the errors
            keep = (0, 3, 4, 5, 11, 12)
            mask = ~sum(1 << t for t in keep) & 0xFFFFFFFF
            sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("@I", mask))
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
        if opt.ttl is not None:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, opt.ttl)
        if opt.tos is not None:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, opt.tos)
        if opt.pmtudisc is not None:
            sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, PMTUDISC[opt.pmtudisc])
    else:
        if raw:
            words = [0xFFFFFFFF] * 8  # a set bit drops the type (linux/icmpv6.h)
            for t in (1, 2, 3, 4, 129):
                words[t >> 5] &= ~(1 << (t & 31))
            sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("@8I", *words))
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
        if opt.ttl is not None:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, opt.ttl)
        if opt.tos is not None:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_TCLASS, opt.tos)
        if opt.pmtudisc is not None:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, PMTUDISC[opt.pmtudisc])
    any_addr = "0.0.0.0" if family == 4 else "::"
    bind_addr = any_addr
    if opt.interface:
        try:
            ipaddress.ip_address(opt.interface)
            bind_addr = opt.interface
        except ValueError:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE,
                                opt.interface.encode())  # fmt: skip
            except OSError as exc:
                raise UsageError(f"-I {opt.interface}: {exc.strerror}") from None
    if raw and bind_addr == any_addr:
        return random_ident()
    try:
        sock.bind((bind_addr, 0))
    except OSError as exc:
        raise UsageError(f"-I {opt.interface}: cannot bind: {exc.strerror}") from None
    if raw:
        return random_ident()
    return int(sock.getsockname()[1])  # datagram sockets: the kernel's identifier


def random_ident() -> int:
    """The echo identifier of a raw-socket session (tests replace it to force a clash)."""
    return int.from_bytes(os.urandom(2), "big")


def _ancillary(anc: list[tuple[int, int, bytes]]) -> tuple[int | None, int]:
    """(kernel receive time in ns or None, TTL/hop limit or 0) from recvmsg ancillary data."""
    stamp, ttl = None, 0
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = _TIMESPEC.unpack_from(data)
            stamp = sec * 1_000_000_000 + nsec
        elif (level, kind) in _TTL_CMSGS and len(data) >= 4:
            ttl = _INT.unpack_from(data)[0]
    return stamp, ttl


def _with_ip_header(family: int, data: bytes, source: str, ttl: int) -> bytes:
    """Put a synthetic IP header before an ICMP message that came without one."""
    if family == 4:
        return ipv4.build(source, "0.0.0.0", 1, data, ttl=ttl)
    return ipv6.build(source.partition("%")[0], "::", 58, data, hop_limit=ttl)


class _Loop:
    """One run of ping on one socket."""

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

    def send(self) -> None:
        s = self.s
        seq = s.next_seq()
        if self.family == 4:
            msg = icmp.build_echo(s.ident, seq, s.payload())
        else:  # the kernel fills the ICMPv6 checksum of raw and datagram sockets
            msg = icmpv6.build_echo(s.ident, seq, s.payload(), "::", s.address)
        wall = time.time_ns()
        mono = time.monotonic_ns()
        try:
            self.sock.sendto(msg, (s.address, 0))
        except OSError as exc:
            s.sent(seq, mono, wall)
            s.send_failed(seq)
            self.emit(SendFailed(seq, exc.strerror or str(exc)))
            return
        s.sent(seq, mono, wall)
        if self.opt.flood:
            self.emit(PingSent(seq))

    def drain(self) -> None:
        sock, s, family = self.sock, self.s, self.family
        while True:
            try:
                data, anc, _flags, addr = sock.recvmsg(_RECV_SIZE, _ANC_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                if not self.raw:
                    self.drain_errors()
                    continue
                raise
            now = time.monotonic_ns()
            stamp, ttl = _ancillary(anc)
            source = str(addr[0])
            if family == 4 and self.raw:
                packet = decode(data, 228)
            else:
                packet = decode(_with_ip_header(family, data, source, ttl), 228 + (family == 6))
            event = s.received_packet(packet, source, now, stamp)
            if event is not None:
                if isinstance(event, PingReply) and not event.dup:
                    self.reply_arrived = True
                    self.max_rtt_ns = max(self.max_rtt_ns, int(event.rtt_ms * 1e6))
                self.emit(event)
        if not self.raw:
            self.drain_errors()

    def drain_errors(self) -> None:
        """Datagram sockets: ICMP errors come on the error queue (IP_RECVERR), as our
        own echo request plus a sock_extended_err naming the sender; rebuild the ICMP
        error around it so the one matcher in pingcore decides."""
        sock, s = self.sock, self.s
        while True:
            try:
                data, anc, _flags, _addr = sock.recvmsg(_RECV_SIZE, _ANC_SIZE, MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError):
                return
            now = time.monotonic_ns()
            stamp, _ttl = _ancillary(anc)
            for level, kind, raw_err in anc:
                if (level, kind) not in ((socket.IPPROTO_IP, IP_RECVERR),
                                         (socket.IPPROTO_IPV6, IPV6_RECVERR)):  # fmt: skip
                    continue
                _errno, origin, etype, code, _pad, info, _data = _EXTENDED_ERR.unpack_from(raw_err)
                if origin not in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6):
                    continue
                offender = raw_err[_EXTENDED_ERR.size :]
                if self.family == 4:
                    source = socket.inet_ntop(socket.AF_INET, offender[4:8])
                    original = ipv4.build("0.0.0.0", s.address, 1, data)
                    rest_mtu = info if etype == 3 else 0
                    err = icmp.build_error(etype, code, original, mtu=rest_mtu)
                    packet = decode(ipv4.build(source, "0.0.0.0", 1, err), 228)
                else:
                    source = socket.inet_ntop(socket.AF_INET6, offender[8:24])
                    original = ipv6.build("::", s.address, 58, data)
                    rest = info if etype in (2, 4) else 0
                    err = icmpv6.build(etype, code, rest, original, source, "::")
                    packet = decode(ipv6.build(source, "::", 58, err), 229)
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
                readable, _w, errs = select.select([self.sock], [], [self.sock], timeout)
                if readable or errs:
                    self.drain()
        except KeyboardInterrupt:
            interrupted = True
        return (time.monotonic_ns() - start) // 1_000_000, interrupted


def ping(
    target: str, options: PingOptions | None = None, on_event: Callable[[Any], None] | None = None
) -> PingResult:
    """Ping ``target`` (address or name); ``on_event`` sees each PingStart, PingSent
    (flood only), PingReply, PingError, NoAnswerYet and SendFailed as it happens.

    Without ``count`` and ``deadline`` it runs until Ctrl-C, which ends it like the
    other limits (the result says ``interrupted``) instead of raising.
    """
    opt = options or PingOptions()
    emit = on_event or (lambda _event: None)
    family, address = resolve(target, opt.family)
    if (opt.flood or opt.interval_s < MIN_USER_INTERVAL) and os.geteuid() != 0:
        raise UsageError("cannot flood; minimal interval allowed for user is 200ms")
    sock, raw = open_icmp_socket(family)
    with sock:
        try:
            ident = _configure(sock, family, raw, opt)
        except OSError as exc:
            raise NetdiagError(f"setsockopt: {exc.strerror}") from None
        session = PingSession(target, address, family, ident, os.urandom(8), opt.size)
        emit(PingStart(target, address, family, opt.size))
        elapsed, interrupted = _Loop(sock, raw, session, opt, emit).run()
    return session.result(elapsed, interrupted=interrupted, count=opt.count,
                          deadline=opt.deadline)  # fmt: skip
