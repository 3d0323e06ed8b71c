"""traceroute and mtr without privileges: datagram sockets and the kernel's error queue.

Without CAP_NET_RAW, ``-U`` goes out of an ordinary UDP socket and ``-I`` out of
an ICMP datagram socket (``net.ipv4.ping_group_range`` must admit the user; it
covers IPv6 too), both with IP_RECVERR / IPV6_RECVERR: every ICMP error about a
probe is queued on the socket that sent it, with its type and code, the
offender's address (SO_EE_OFFENDER), the quoted payload and the kernel's
receive stamp (SO_TIMESTAMPNS). Echo replies come as ordinary datagrams.

The Paris property holds as with raw sockets: one socket per trace, so ports and
the echo identifier stay constant (the ICMP socket is bound to the identifier,
which the kernel writes into every echo), and probes are told apart by their
payload: the two bytes that make the UDP checksum the probe's key, or the echo
sequence with the two bytes that keep the ICMP checksum constant
(:mod:`netdiag.trace.probe` chooses them; the kernel computes the same
checksums). A UDP probe is found again from its quoted payload, so a router
that quotes only 8 bytes of it (RFC 792's minimum; Linux quotes up to 576)
leaves it unmatched.

One socket carries many probes, so the error an ICMP answer leaves pending on it
(``sk_err``) makes the next ``sendto()`` fail with EHOSTUNREACH or ECONNREFUSED.
traceroute(8) -I loses every second probe to that. Here the error queue is
drained before each send, and a send that still meets a pending error clears it
(SO_ERROR) and is sent again, once.

``-T`` needs a raw socket: without one it is refused with the fix.
"""

from __future__ import annotations

import errno
import socket
import struct
import time
from collections.abc import Callable

from netdiag.errors import NetdiagError, PrivilegeError
from netdiag.packets import udp
from netdiag.trace.core import Answer, Flow, Hop, Method, TraceSession, annotation, build_probe
from netdiag.trace.drive import (
    IP_MTU_DISCOVER,
    IPV6_MTU_DISCOVER,
    PMTUDISC_DONT,
    PMTUDISC_PROBE,
    SO_TIMESTAMPNS,
    drive,
)

__all__ = ["DgramTracer", "TCP_HINT", "icmp_hint"]

IP_RECVERR = getattr(socket, "IP_RECVERR", 11)
IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)
MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6 = 2, 3
_EXTENDED_ERR = struct.Struct("@IBBBBII")  # struct sock_extended_err (linux/errqueue.h)
_TIMESPEC = struct.Struct("@qq")
_PENDING = frozenset((errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ECONNREFUSED,
                      errno.EHOSTDOWN, errno.EPROTO, errno.EMSGSIZE))  # fmt: skip
TCP_HINT = ("traceroute: -T needs a raw socket (root or CAP_NET_RAW): run as root, or "
            "`setcap cap_net_raw+ep` on the interpreter; -U (the default) and -I work "
            "without")  # fmt: skip


def icmp_hint() -> str:
    try:
        with open("/proc/sys/net/ipv4/ping_group_range") as f:
            low, high = f.read().split()
        groups = f"net.ipv4.ping_group_range ({low} {high})"
    except (OSError, ValueError):
        groups = "net.ipv4.ping_group_range"
    import os

    return (f"traceroute: -I without root needs an ICMP datagram socket, and {groups} "
            f"excludes group {os.getegid()}: run as root, or `sysctl -w "
            f"net.ipv4.ping_group_range='0 2147483647'`, or use -U")  # fmt: skip


class DgramTracer:
    """The unprivileged twin of :class:`netdiag.trace.loop.Tracer` (same ``run``)."""

    def __init__(
        self, flow: Flow, interface: str | None = None, dont_fragment: bool = False
    ) -> None:
        self.flow = flow
        fam = flow.family
        af = socket.AF_INET if fam == 4 else socket.AF_INET6
        if flow.method is Method.TCP:
            raise PrivilegeError(TCP_HINT)
        if flow.method is Method.ICMP:
            proto = socket.IPPROTO_ICMP if fam == 4 else socket.IPPROTO_ICMPV6
            try:
                sock = socket.socket(af, socket.SOCK_DGRAM, proto)
            except OSError as exc:
                if exc.errno in (errno.EACCES, errno.EPERM):
                    raise PrivilegeError(icmp_hint()) from None
                raise NetdiagError(f"traceroute: socket: {exc.strerror}") from None
        else:
            sock = socket.socket(af, socket.SOCK_DGRAM)
        self.sock = sock
        self.readers = [sock]
        self._ttl = -1
        try:
            self._configure(interface, dont_fragment)
        except OSError as exc:
            sock.close()
            raise NetdiagError(f"traceroute: socket setup: {exc.strerror}") from None

    def _configure(self, interface: str | None, dont_fragment: bool) -> None:
        s, fam = self.sock, self.flow.family
        s.setblocking(False)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if interface:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
        pmtu = PMTUDISC_PROBE if dont_fragment else PMTUDISC_DONT
        if fam == 4:
            s.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, pmtu)
        else:
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, pmtu)
        # Ports (and the echo identifier, which is the ICMP socket's port) stay constant.
        s.bind((self.flow.src, self.flow.sport))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> DgramTracer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, session: TraceSession, on_hop: Callable[[Hop], None]) -> None:
        """Send, wait and feed until the session is done; hops go to ``on_hop`` in order."""
        drive(self, session, on_hop)

    # -- sending

    def _payload(self, key: int) -> bytes:
        data = build_probe(self.flow, key)
        return data[8:] if self.flow.method is Method.UDP else data  # the kernel adds UDP's

    def _send(self, session: TraceSession, n: int, ttl: int, key: int) -> None:
        s, fam = self.sock, self.flow.family
        if ttl != self._ttl:
            if fam == 4:
                s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            else:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
            self._ttl = ttl
        data = self._payload(key)
        dst = (self.flow.dst, self.flow.dport)
        self._drain(session, s)  # an answer still queued would fail this send
        for attempt in (1, 2):
            wall = time.time_ns()
            mono = time.monotonic_ns()
            try:
                s.sendto(data, dst)
            except OSError as exc:
                if exc.errno in _PENDING and attempt == 1:
                    s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)  # clears sk_err
                    continue
                session.send_failed(n)
                if exc.errno not in _PENDING and exc.errno not in (errno.ENOBUFS, errno.EAGAIN):
                    raise NetdiagError(f"traceroute: send: {exc.strerror}") from None
                return
            session.sent(n, mono, wall)
            return

    # -- receiving

    def _drain(self, session: TraceSession, sock: socket.socket) -> None:
        while self._read(session, MSG_ERRQUEUE):
            pass
        if self.flow.method is Method.ICMP:  # echo replies arrive as datagrams
            while self._read(session, 0):
                pass

    def _read(self, session: TraceSession, flags: int) -> bool:
        try:
            data, anc, _flags, addr = self.sock.recvmsg(65536, 512, flags)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:  # a pending error reported by a plain read: clear, go on
            if exc.errno in _PENDING:
                self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                return True
            raise NetdiagError(f"traceroute: receive: {exc.strerror}") from None
        mono = time.monotonic_ns()
        stamp, err, offender = None, None, None
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
                sec, nsec = _TIMESPEC.unpack_from(cdata)
                stamp = sec * 1_000_000_000 + nsec
            elif (level, kind) in ((socket.IPPROTO_IP, IP_RECVERR),
                                   (socket.IPPROTO_IPV6, IPV6_RECVERR)):  # fmt: skip
                err = _EXTENDED_ERR.unpack_from(cdata)
                offender = _offender(cdata[_EXTENDED_ERR.size :])
        answer = self._answer(data, err, offender, str(addr[0]) if addr else None)
        if answer is not None:
            session.answered(answer, mono, stamp)
        return True

    def _answer(self, data: bytes, err: tuple[int, ...] | None, offender: str | None,
                peer: str | None) -> Answer | None:  # fmt: skip
        flow = self.flow
        if err is None:  # an echo reply (ICMP socket): type, code, checksum, id, seq
            if flow.method is not Method.ICMP or len(data) < 8 or peer is None:
                return None
            if data[0] not in (0, 129) or peer.partition("%")[0] != flow.dst:
                return None
            return Answer(int.from_bytes(data[6:8], "big"), flow.dst, True, True)
        _errno, origin, icmp_type, code, _pad, info, _data = err
        if origin not in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6) or offender is None:
            return None
        key = self._key(data)
        if key is None:
            return None
        mark = annotation(flow.family, icmp_type, code, info or None)
        if mark is None:
            return Answer(key, offender, False, False)
        return Answer(key, offender, True, mark == "", mark or None)

    def _key(self, quoted: bytes) -> int | None:
        """The probe key of our payload as the error queue gives it back."""
        flow = self.flow
        if flow.method is Method.ICMP:  # the quoted echo header: our sequence
            if len(quoted) < 8 or quoted[0] not in (8, 128):
                return None
            return int.from_bytes(quoted[6:8], "big")
        if len(quoted) < 2:  # the router quoted only the UDP header: unmatched
            return None
        size = max(0, flow.length - flow.ip_header_len - 8)
        payload = quoted[:size].ljust(size, b"\x00")  # the tail is zeros
        header = udp.build(flow.sport, flow.dport, payload, src=flow.src, dst=flow.dst)
        return int.from_bytes(header[6:8], "big")


def _offender(raw: bytes) -> str | None:
    """SO_EE_OFFENDER: a sockaddr_in or sockaddr_in6 after the extended error."""
    if len(raw) < 8:
        return None
    (family,) = struct.unpack_from("=H", raw)  # sa_family: host byte order
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[4:8])
    if family == socket.AF_INET6 and len(raw) >= 24:
        return socket.inet_ntop(socket.AF_INET6, raw[8:24])
    return None
