"""The thin socket loop of ``ping --tcp PORT`` and ``ping --udp PORT``; portcore decides.

TCP (needs a raw socket: root or CAP_NET_RAW). A SYN built by ``tcp.build``
leaves a raw ``IPPROTO_TCP`` socket from a source port we reserve by binding an
ordinary TCP socket to it (so the kernel hands it to no one else while we
probe); the same raw socket, with a classic BPF filter for the two ports,
receives the SYN-ACK or RST with its SO_TIMESTAMPNS stamp (with
``kernel_tx_stamps`` the SYN's send time is the kernel's transmit stamp, as for
ICMP). Our kernel answers a SYN-ACK with a RST (nothing of ours is in SYN-SENT),
which is what we want: no half-open connection is left at the target. ICMP errors (time exceeded,
unreachable) come on a raw ICMP/ICMPv6 socket that lets only error types through.
The raw socket is bound to the source address the route gives, so the checksum
we compute over the pseudo-header is the one the packet carries.

UDP (no privilege needed). An ordinary UDP socket bound to an ephemeral port,
not connected, with IP_RECVERR: answers come as datagrams, ICMP errors (port
unreachable, time exceeded) on the error queue, each with its kernel stamp.
``pingsock.read_error_queue`` rebuilds each error around the datagram we sent
so that portcore matches it like any ICMP error. A pending error makes the next
``sendto`` fail once (the socket error is reported there first); we then read
the error queue and send again.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Callable
from typing import Any, cast

from netdiag.errors import NetdiagError, PrivilegeError, UsageError
from netdiag.packets import decode, ipv4, ipv6, tcp, udp
from netdiag.ping.events import PingReply, PingResult, PingStart
from netdiag.ping.loop import Loop
from netdiag.ping.options import PingOptions
from netdiag.ping.portcore import PortSession
from netdiag.ping.sock import (
    ANC_SIZE,
    ICMP6_FILTER,
    ICMP_FILTER,
    IP_MTU_DISCOVER,
    IP_RECVERR,
    IP_RECVTTL,
    IPV6_MTU_DISCOVER,
    IPV6_RECVERR,
    IPV6_RECVHOPLIMIT,
    IPV6_TCLASS,
    PMTUDISC,
    RECV_SIZE,
    SO_TIMESTAMPNS,
    SOL_RAW,
    ancillary,
    read_error_queue,
    with_ip_header,
)
from netdiag.probing import sockfilter
from netdiag.probing.privileges import drop_privileges
from netdiag.probing.resolve import is_address

__all__ = ["port_ping", "source_address", "icmp_error_socket"]

_ICMP_ERRORS = {4: (3, 4, 5, 11, 12), 6: (1, 2, 3, 4)}
_LINKTYPE = {4: 228, 6: 229}  # raw IPv4 / raw IPv6


def source_address(family: int, address: str, interface: str | None) -> str:
    """The local address the route to ``address`` uses (``-I ADDR`` wins). Connecting a
    UDP socket picks it without sending anything."""
    if interface and is_address(interface):
        return interface
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    with socket.socket(af, socket.SOCK_DGRAM) as probe:
        try:
            if interface:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
            probe.connect((address, 9))
        except OSError as exc:
            raise UsageError(f"{address}: no route: {exc.strerror}") from None
        return str(probe.getsockname()[0])


def _ip_options(sock: socket.socket, family: int, opt: PingOptions) -> None:
    """-t, -Q, -M, -I (device), and kernel receive timestamps."""
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setblocking(False)
    if family == 4:
        sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
        settings = [(socket.IP_TTL, opt.ttl), (socket.IP_TOS, opt.tos)]
        level = socket.IPPROTO_IP
        mtu_opt = IP_MTU_DISCOVER
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
        settings = [(socket.IPV6_UNICAST_HOPS, opt.ttl), (IPV6_TCLASS, opt.tos)]
        level = socket.IPPROTO_IPV6
        mtu_opt = IPV6_MTU_DISCOVER
    if opt.pmtudisc is not None:
        settings.append((mtu_opt, PMTUDISC[opt.pmtudisc]))
    for name, value in settings:
        if value is not None:
            sock.setsockopt(level, name, value)
    if opt.interface and not is_address(opt.interface):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, opt.interface.encode())
        except OSError as exc:
            raise UsageError(f"-I {opt.interface}: {exc.strerror}") from None


def _bind(sock: socket.socket, addr: tuple[str, int], opt: PingOptions) -> None:
    try:
        sock.bind(addr)
    except OSError as exc:
        raise UsageError(f"-I {opt.interface or addr[0]}: cannot bind: {exc.strerror}") from None


def _raw(family: int, proto: int) -> socket.socket:
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    try:
        return socket.socket(af, socket.SOCK_RAW, proto)
    except PermissionError:
        raise PrivilegeError(
            "ping --tcp: sending a SYN needs a raw socket (root or CAP_NET_RAW): run as root, "
            "or `setcap cap_net_raw+ep` on the interpreter; --udp needs no privilege"
        ) from None


def icmp_error_socket(family: int) -> socket.socket:
    """A raw ICMP(v6) socket that receives only error messages."""
    sock = _raw(family, socket.IPPROTO_ICMP if family == 4 else socket.IPPROTO_ICMPV6)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setblocking(False)
    if family == 4:
        mask = ~sum(1 << t for t in _ICMP_ERRORS[4]) & 0xFFFFFFFF
        sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("@I", mask))
    else:
        words = [0xFFFFFFFF] * 8  # a set bit drops the type (linux/icmpv6.h)
        for t in _ICMP_ERRORS[6]:
            words[t >> 5] &= ~(1 << (t & 31))
        sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("@8I", *words))
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
    return sock


class _PortLoop(Loop):
    """Loop's scheduling (count, interval, deadline, linger, -O) with TCP/UDP send and
    receive. ``sock`` sends and receives answers; ``icmp_sock`` (TCP) receives errors."""

    def __init__(
        self,
        sock: socket.socket,
        icmp_sock: socket.socket | None,
        session: PortSession,
        opt: PingOptions,
        emit: Callable[[Any], None],
        src: str,
    ) -> None:
        # Loop's scheduling only uses the ProbeLedger part of the session
        super().__init__(sock, session.protocol == "tcp", cast(Any, session), opt, emit)
        self.p = session
        self.src = src
        self.icmp_sock = icmp_sock
        if icmp_sock is not None:
            self.socks.append(icmp_sock)

    def send(self) -> None:
        p = self.p
        seq = p.next_seq()
        if p.protocol == "tcp":
            msg = tcp.build(p.sport, p.port, seq=p.tcp_seq(seq), flags=tcp.SYN,
                            src=self.src, dst=p.address)  # fmt: skip
            dest = (p.address, 0)
        else:
            msg, dest = p.udp_payload(seq), (p.address, p.port)
        for attempt in (1, 2):
            mono = time.monotonic_ns()
            wall = time.time_ns()
            try:
                self.sock.sendto(msg, dest)
                break
            except OSError as exc:
                if attempt == 1 and p.protocol == "udp":
                    self.drain()  # a pending ICMP error was reported here: read it, resend
                    continue
                self.after_send(seq, mono, wall, exc)
                return
        self.after_send(seq, mono, wall, None)

    def _feed(self, packet: Any, source: str, now: int, stamp: int | None) -> None:
        event = self.p.received_packet(packet, source, now, stamp)
        if event is None:
            return
        if isinstance(event, PingReply) and not event.dup:
            self.reply_arrived = True
            self.max_rtt_ns = max(self.max_rtt_ns, int(event.rtt_ms * 1e6))
        self.emit(event)

    def _recv_all(self, sock: socket.socket) -> list[tuple[bytes, int | None, int, Any, int]]:
        out: list[tuple[bytes, int | None, int, Any, int]] = []
        while True:
            try:
                data, anc, _flags, addr = sock.recvmsg(RECV_SIZE, ANC_SIZE)
            except (BlockingIOError, InterruptedError):
                return out
            except OSError:  # UDP: an ICMP error reported as the socket's error
                if sock.type == socket.SOCK_DGRAM:
                    continue
                raise
            stamp, ttl = ancillary(anc)
            out.append((data, stamp, ttl, addr, time.monotonic_ns()))

    def drain(self) -> None:
        p, family = self.p, self.family
        if self.tx_stamps:
            self.read_tx()
        for data, stamp, ttl, addr, now in self._recv_all(self.sock):
            source = str(addr[0]).partition("%")[0]
            if p.protocol == "udp":
                dgram = udp.build(int(addr[1]), p.sport, data)
                wire = with_ip_header(family, dgram, source, ttl, 17, self.src)
            elif family == 4:
                wire = data
            else:
                wire = with_ip_header(6, data, source, ttl, 6, self.src)
            self._feed(decode(wire, _LINKTYPE[family]), source, now, stamp)
        if self.icmp_sock is not None:
            for data, stamp, ttl, addr, now in self._recv_all(self.icmp_sock):
                source = str(addr[0]).partition("%")[0]
                wire = data if family == 4 else with_ip_header(6, data, source, ttl)
                self._feed(decode(wire, _LINKTYPE[family]), source, now, stamp)
        if p.protocol == "udp":
            for packet, source, now, stamp in read_error_queue(self.sock, family, self._sent_udp):
                self._feed(packet, source, now, stamp)

    def _sent_udp(self, payload: bytes) -> bytes:
        """The datagram we sent, as the ICMP error quoted it, for portcore to match."""
        p = self.p
        dgram = udp.build(p.sport, p.port, payload)
        if self.family == 4:
            return ipv4.build(self.src, p.address, 17, dgram)
        return ipv6.build(self.src, p.address, 17, dgram)


def port_ping(
    target: str,
    family: int,
    address: str,
    opt: PingOptions,
    emit: Callable[[Any], None],
    give_up_privileges: bool = False,
) -> PingResult:
    """``ping --tcp PORT`` / ``--udp PORT`` to the resolved ``address``."""
    protocol, port = ("tcp", opt.tcp) if opt.tcp is not None else ("udp", opt.udp)
    assert port is not None
    src = source_address(family, address, opt.interface)
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    sockets: list[socket.socket] = []
    try:
        if protocol == "tcp":
            sock = _raw(family, socket.IPPROTO_TCP)
            sockets.append(sock)
            errors_sock = icmp_error_socket(family)
            sockets.append(errors_sock)
            icmp_sock: socket.socket | None = errors_sock
            reserve = socket.socket(af, socket.SOCK_STREAM)  # holds our source port
            sockets.append(reserve)
            _bind(reserve, (src, 0), opt)
            sport = int(reserve.getsockname()[1])
            _bind(sock, (src, 0), opt)
            sockfilter.attach_filter(sock, sockfilter.tcp_ports_filter(family, port, sport))
        else:
            sock = socket.socket(af, socket.SOCK_DGRAM)
            sockets.append(sock)
            icmp_sock = None
            _bind(sock, (src, 0), opt)
            sport = int(sock.getsockname()[1])
            if family == 4:
                sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
        try:
            _ip_options(sock, family, opt)
        except OSError as exc:
            raise NetdiagError(f"setsockopt: {exc.strerror}") from None
        if give_up_privileges:
            drop_privileges()
        isn = int.from_bytes(os.urandom(4), "big")
        session = PortSession(target, address, family, protocol=protocol, port=port,
                              sport=sport, isn=isn, cookie=os.urandom(8),
                              size=opt.size)  # fmt: skip
        emit(PingStart(target, address, family, opt.size, protocol, port))
        elapsed, interrupted = _PortLoop(sock, icmp_sock, session, opt, emit, src).run()
    finally:
        for one in sockets:
            one.close()
    return session.result(elapsed, interrupted=interrupted, count=opt.count,
                          deadline=opt.deadline)  # fmt: skip
