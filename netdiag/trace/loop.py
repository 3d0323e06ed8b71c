"""The thin socket loop of traceroute (and of each mtr round): open, send, wait, feed.

Sockets (root or CAP_NET_RAW): one raw ICMP (ICMPv6) socket receives every
answer, with SO_TIMESTAMPNS and a kernel ICMP type filter; it also sends the
``-I`` probes. ``-U`` probes go out of a raw UDP socket and ``-T`` SYNs out of
a raw TCP socket (which also receives the SYN-ACK or RST of the destination; our
kernel then resets the half-open connection it never made, which is fine). The
kernel adds the IP header; the TTL (hop limit) is set per probe with IP_TTL
(IPV6_UNICAST_HOPS). Transport headers and their checksums are ours
(:mod:`tracecore` builds them; the kernel fills only the ICMPv6 checksum, which
we also know in advance).

Fragmentation: as traceroute(8), the kernel may fragment long probes
(IP_PMTUDISC_DONT) unless ``-F``, which sets DF and ignores the cached path MTU
(IP_PMTUDISC_PROBE), so every probe meets the small link and ``!F-<mtu>`` shows.

Clocks: the expiry of probes uses ``time.monotonic_ns()``; RTT is the kernel
receive timestamp minus ``time.time_ns()`` read just after the probe is built and
just before ``sendto`` (as ping). The kernel stamps packets on arrival only once
its global timestamping switch is on, and it turns that on from a deferred work
item when the first socket asks (``net_enable_timestamp``); until then a packet
is stamped when it is read. A fresh process with no other timestamping socket on
the machine therefore gets read-time stamps for its first answers, and a loop
that sends its whole window before reading measured 0.3-0.7 ms for sub-0.05 ms
hops. So the loop reads its sockets after every probe it sends: a read-time
stamp is then late by one send at most (tens of microseconds).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import struct
import time
from collections.abc import Callable

from netdiag.errors import NetdiagError, PrivilegeError, UsageError
from netdiag.packets import decode, ipv6
from netdiag.probing.resolve import resolve
from netdiag.records import dataclass
from netdiag.trace.core import (
    Flow,
    Hop,
    Method,
    TraceResult,
    TraceSession,
    TraceSettings,
    TraceStart,
    build_probe,
    min_length,
)
from netdiag.trace.drive import (
    IP_MTU_DISCOVER,
    IPV6_MTU_DISCOVER,
    PMTUDISC_DONT,
    PMTUDISC_PROBE,
    SO_TIMESTAMPNS,
    drive,
)

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from netdiag.trace.dgram import DgramTracer

__all__ = ["TraceOptions", "Tracer", "open_tracer", "traceroute", "make_flow", "PRIVILEGE_HINT"]

SOL_RAW = 255
ICMP_FILTER = 1
ICMP6_FILTER = 1
_TIMESPEC = struct.Struct("@qq")
_INT = struct.Struct("@i")
IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
_RECV_SIZE = 65536
_ANC_SIZE = 256
DEFAULT_UDP_PORT = 33434  # traceroute(8)'s base port
DEFAULT_TCP_PORT = 80
PRIVILEGE_HINT = ("traceroute: raw sockets need root or CAP_NET_RAW: run as root, or "
                  "`setcap cap_net_raw+ep` on the interpreter")  # fmt: skip
# sendto errors after which the probe is just lost ("*"); any other stops the trace.
_TRANSIENT = frozenset((errno.ENOBUFS, errno.EAGAIN, errno.EHOSTUNREACH, errno.ENETUNREACH,
                        errno.ECONNREFUSED, errno.EHOSTDOWN))  # fmt: skip


@dataclass(frozen=True)
class TraceOptions:
    method: Method = Method.UDP  # -U / -I / -T
    family: int | None = None  # -4 / -6
    port: int | None = None  # -p
    nqueries: int = 3  # -q
    first_ttl: int = 1  # -f
    max_ttl: int = 30  # -m
    wait: tuple[float, float, float] = (5.0, 3.0, 10.0)  # -w max[,here,near]
    simultaneous: int = 16  # -N
    source: str | None = None  # -s
    interface: str | None = None  # -i
    length: int | None = None  # packet length (total IP bytes)
    dont_fragment: bool = False  # -F
    max_silent: int = 5  # --max-silent: stop after N silent TTLs past the last answer; 0: off

    def __post_init__(self) -> None:
        if not 1 <= self.max_ttl <= 255:
            raise UsageError(f"max hops cannot be more than 255: -m {self.max_ttl}")
        if not 1 <= self.first_ttl <= self.max_ttl:
            raise UsageError(f"first hop out of range: -f {self.first_ttl}")
        if not 1 <= self.nqueries <= 10:
            raise UsageError(f"no more than 10 probes per hop: -q {self.nqueries}")
        if self.simultaneous < 1:
            raise UsageError(f"bad simultaneous probes: -N {self.simultaneous}")
        if self.wait[0] <= 0 or min(self.wait) < 0:
            raise UsageError(f"bad wait specifications: -w {','.join(map(str, self.wait))}")
        if self.port is not None and not 1 <= self.port <= 65535:
            raise UsageError(f"bad port: -p {self.port}")
        if self.length is not None and not 0 <= self.length <= 65000:
            raise UsageError(f"too big packetlen {self.length} specified")
        if self.family not in (None, 4, 6):
            raise UsageError(f"family {self.family}: use 4 or 6")
        if not 0 <= self.max_silent <= 255:
            raise UsageError(f"--max-silent {self.max_silent}: use 0..255 (0 probes every TTL)")

    @property
    def settings(self) -> TraceSettings:
        return TraceSettings(self.first_ttl, self.max_ttl, self.nqueries, self.simultaneous,
                             self.wait, max_silent=self.max_silent)  # fmt: skip


def _random16(low: int = 1) -> int:
    return max(low, int.from_bytes(os.urandom(2), "big"))


def _route_source(family: int, dst: str, opt: TraceOptions) -> str:
    """The source address the kernel would use toward ``dst`` (connect sends nothing)."""
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    with socket.socket(af, socket.SOCK_DGRAM) as s:
        if opt.interface:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, opt.interface.encode())
            except OSError as exc:
                raise UsageError(f"-i {opt.interface}: {exc.strerror}") from None
        if opt.source:
            try:
                s.bind((opt.source, 0))
            except OSError as exc:
                raise UsageError(f"-s {opt.source}: {exc.strerror}") from None
        try:
            s.connect((dst, DEFAULT_UDP_PORT))
        except OSError as exc:
            raise NetdiagError(f"traceroute: {dst}: {exc.strerror}") from None
        return ipaddress.ip_address(str(s.getsockname()[0]).partition("%")[0]).compressed


def make_flow(family: int, address: str, opt: TraceOptions) -> Flow:
    """The constant fields of a trace to ``address`` with options ``opt``."""
    if opt.source is not None:
        try:
            src_family = ipaddress.ip_address(opt.source).version
        except ValueError:
            raise UsageError(f"-s {opt.source}: not an address") from None
        if src_family != family:
            raise UsageError(f"-s {opt.source}: not an IPv{family} address")
    src = _route_source(family, address, opt)
    default = 60 if family == 4 else 80
    length = max(opt.length if opt.length is not None else default,
                 min_length(family, opt.method))  # fmt: skip
    if opt.method is Method.ICMP:
        return Flow(family, opt.method, src, address, _random16(), 0, length)
    dport = opt.port or (DEFAULT_UDP_PORT if opt.method is Method.UDP else DEFAULT_TCP_PORT)
    sport = 32768 + _random16() % 28000
    return Flow(family, opt.method, src, address, sport, dport, length)


def _raw(family: int, proto: int) -> socket.socket:
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    try:
        return socket.socket(af, socket.SOCK_RAW, proto)
    except PermissionError:
        raise PrivilegeError(PRIVILEGE_HINT) from None


def open_tracer(flow: Flow, opt: TraceOptions) -> Tracer | DgramTracer:
    """Raw sockets where allowed; else datagram sockets and the error queue (-U, -I)."""
    try:
        return Tracer(flow, opt)
    except PrivilegeError:
        from netdiag.trace.dgram import DgramTracer

        return DgramTracer(flow, interface=opt.interface, dont_fragment=opt.dont_fragment)


class Tracer:
    """Open sockets for one flow; :meth:`run` drives a :class:`TraceSession` to its end."""

    def __init__(self, flow: Flow, opt: TraceOptions) -> None:
        self.flow = flow
        self.dont_fragment = opt.dont_fragment
        fam = flow.family
        self.icmp = _raw(fam, socket.IPPROTO_ICMP if fam == 4 else socket.IPPROTO_ICMPV6)
        self.socks = [self.icmp]
        try:
            if flow.method is Method.ICMP:
                self.send_sock = self.icmp
            else:
                self.send_sock = _raw(fam, flow.protocol)
                self.socks.append(self.send_sock)
            self.readers = [self.icmp] + ([self.send_sock] if flow.method is Method.TCP else [])
            self._configure(opt)
        except OSError as exc:
            self.close()
            raise NetdiagError(f"traceroute: socket setup: {exc.strerror}") from None
        except BaseException:
            self.close()
            raise
        self._ttl = -1

    def _configure(self, opt: TraceOptions) -> None:
        fam = self.flow.family
        for s in self.readers:
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            if fam == 6:  # the hop limit left in answers (IPv6 raw sockets give no header)
                s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
        for s in self.socks:
            s.setblocking(False)
            if opt.interface:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, opt.interface.encode())
        if fam == 4:  # receive only echo reply, unreachable, time exceeded, param problem
            mask = ~sum(1 << t for t in (0, 3, 11, 12)) & 0xFFFFFFFF
            self.icmp.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("@I", mask))
        else:
            words = [0xFFFFFFFF] * 8  # a set bit drops the type (linux/icmpv6.h)
            for t in (1, 2, 3, 4, 129):
                words[t >> 5] &= ~(1 << (t & 31))
            self.icmp.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("@8I", *words))
        if self.send_sock is not self.icmp and self.flow.method is Method.UDP:
            self.send_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)  # never read
        pmtu = PMTUDISC_PROBE if opt.dont_fragment else PMTUDISC_DONT
        if fam == 4:
            self.send_sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, pmtu)
        else:
            self.send_sock.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, pmtu)
        if opt.source:
            self.send_sock.bind((self.flow.src, 0))

    def close(self) -> None:
        for s in self.socks:
            s.close()

    def __enter__(self) -> Tracer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, session: TraceSession, n: int, ttl: int, key: int) -> None:
        sock = self.send_sock
        if ttl != self._ttl:
            if self.flow.family == 4:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            else:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
            self._ttl = ttl
        data = build_probe(self.flow, key)
        wall = time.time_ns()
        mono = time.monotonic_ns()
        try:
            sock.sendto(data, (self.flow.dst, 0))
        except OSError as exc:
            session.send_failed(n)
            if exc.errno not in _TRANSIENT:
                raise NetdiagError(f"traceroute: send: {exc.strerror}") from None
            return
        session.sent(n, mono, wall)

    def _drain(self, session: TraceSession, sock: socket.socket) -> None:
        fam, flow = self.flow.family, self.flow
        while True:
            try:
                data, anc, _flags, addr = sock.recvmsg(_RECV_SIZE, _ANC_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            mono = time.monotonic_ns()
            stamp = None
            hop_limit = 64
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(cdata) >= 16:
                    sec, nsec = _TIMESPEC.unpack_from(cdata)
                    stamp = sec * 1_000_000_000 + nsec
                elif level == socket.IPPROTO_IPV6 and kind == IPV6_HOPLIMIT and len(cdata) >= 4:
                    hop_limit = _INT.unpack_from(cdata)[0]
            if fam == 4:
                packet = decode(data, 228)
            else:  # IPv6 raw sockets give no IP header: put one back
                nh = 58 if sock is self.icmp else flow.protocol
                src = str(addr[0]).partition("%")[0]
                packet = decode(ipv6.build(src, flow.src, nh, data, hop_limit=hop_limit), 229)
            session.received(packet, mono, stamp)

    def run(self, session: TraceSession, on_hop: Callable[[Hop], None]) -> None:
        """Send, wait and feed until the session is done; hops go to ``on_hop`` in order."""
        drive(self, session, on_hop)


def traceroute(
    target: str,
    options: TraceOptions | None = None,
    on_start: Callable[[TraceStart], None] | None = None,
    on_hop: Callable[[Hop], None] | None = None,
) -> TraceResult:
    """Trace the path to ``target``; ``on_start`` sees the header facts before the first
    probe, ``on_hop`` each hop as soon as it (and every hop before it) is complete."""
    opt = options or TraceOptions()
    family, address = resolve(target, opt.family)
    flow = make_flow(family, address, opt)
    hops: list[Hop] = []

    def collect(hop: Hop) -> None:
        hops.append(hop)
        if on_hop is not None:
            on_hop(hop)

    start = time.monotonic_ns()
    with open_tracer(flow, opt) as tracer:
        if on_start is not None:
            on_start(TraceStart(target, address, family, opt.method, opt.max_ttl, flow.length))
        session = TraceSession(flow, opt.settings, key_base=_random16(0))
        tracer.run(session, collect)
    return TraceResult(target, address, family, opt.method, opt.max_ttl, flow.length,
                       session.reached, tuple(hops), (time.monotonic_ns() - start) / 1e6,
                       session.stopped, session.not_probed, opt.max_silent)  # fmt: skip
