"""The socket loop of ``traceroute --multipath``: the raw sockets of
:class:`netdiag.trace.loop.Tracer`, one Paris flow per flow number, the pure
:class:`MdaSession` deciding.

Flows: the UDP or TCP *source port* varies (the destination port stays the one
traceroute uses), so every 5-tuple hash sees a new flow; for ``-I`` the echo
identifier varies, which changes the first 8 bytes of the message (a hash over
the ports' place, or over the ICMP checksum, sees it) but not Linux's: its L4
hash (``fib_multipath_hash_policy=1``) takes no ports from ICMP, so one
(source, destination) pair takes one branch and ``-I`` shows one path there
(:data:`ICMP_NOTE`, printed with the result).

Probes are told apart as in single-path tracing (:mod:`netdiag.trace.probe`): the
UDP checksum, the TCP sequence, the echo sequence. A NAT rewrites the UDP
checksum with the address, so a UDP answer is also found by the two pad bytes
that chose that checksum, when the router quoted them (Linux quotes the whole
probe). Each answer's quote is compared with the probe (:mod:`nat`).
"""

from __future__ import annotations

import os
import select
import socket
import time

from netdiag.errors import PrivilegeError
from netdiag.packets import ipv4
from netdiag.packets.packet import Packet
from netdiag.probing.resolve import resolve
from netdiag.records import dataclass, field, replace
from netdiag.trace.loop import TraceOptions, Tracer, make_flow
from netdiag.trace.multipath.core import Discovery, MdaSession, MdaSettings, Reply
from netdiag.trace.multipath.nat import quote_differences
from netdiag.trace.probe import Flow, Method, annotation, build_probe, match, probe_key

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from netdiag.trace.multipath.alias import AliasSet

__all__ = ["MultipathResult", "multipath", "ICMP_NOTE", "Flows", "Receiver"]

ICMP_NOTE = ("-I varies the echo identifier; Linux's L4 multipath hash ignores ICMP, so "
             "Linux load balancers send every -I flow one way")  # fmt: skip
_PORTS = 28000  # source ports 32768..60767


@dataclass(frozen=True)
class MultipathResult:
    target: str
    address: str
    family: int
    method: Method
    confidence: float
    lite: bool
    source: str
    discovery: Discovery
    duration_ms: float
    aliases: tuple[AliasSet, ...] = ()
    alias_probes: int = 0
    notes: tuple[str, ...] = ()
    #: flow number -> its (TTL, address, final) answers (:meth:`MdaSession.paths`)
    paths: dict[int, tuple[tuple[int, str, bool], ...]] = field(default_factory=dict)
    first_port: int = 0  # flow 0's source port (echo identifier): the flows can be rebuilt

    @property
    def probes(self) -> int:
        """Every probe sent: the trace's and alias resolution's."""
        return self.discovery.probes + self.alias_probes

    def routers(self) -> dict[str, str]:
        """Address -> the address that names its router (the first of its alias set)."""
        out = {n.address: n.address for n in self.discovery.nodes}
        for s in self.aliases:
            for a in s.addresses:
                out[a] = s.addresses[0]
        return out


class Flows:
    """Flow number -> Flow (and back, by source port or echo identifier)."""

    def __init__(self, base: Flow) -> None:
        self.base = base
        self.start = (base.sport - 32768) % _PORTS if base.method is not Method.ICMP else base.sport
        self.cache: dict[int, Flow] = {}
        self.by_port: dict[int, int] = {}

    def port(self, f: int) -> int:
        if self.base.method is Method.ICMP:
            return (self.start + f) % 0xFFFF + 1
        return 32768 + (self.start + f) % _PORTS

    def flow(self, f: int) -> Flow:
        fl = self.cache.get(f)
        if fl is None:
            b = self.base
            fl = self.cache[f] = Flow(b.family, b.method, b.src, b.dst, self.port(f), b.dport,
                                      b.length)  # fmt: skip
            self.by_port[fl.sport] = f
        return fl


class Receiver:
    """What :meth:`Tracer._drain` feeds: matches answers to (flow, TTL) probes."""

    def __init__(self, flows: Flows, session: MdaSession, key_base: int = 0) -> None:
        self.flows = flows
        self.session = session
        self.key_base = key_base
        self.serial = 0
        #: (port, key) -> flow, ttl, wall time sent, IPv4 ID sent (None: the kernel's)
        self.keys: dict[tuple[int, int], tuple[int, int, int, int | None]] = {}
        self.pads: dict[tuple[int, bytes], int] = {}  # (port, pad bytes) -> key (UDP)

    def ident(self) -> int:
        """The IPv4 ID for the next probe we write the header of (never 0: the kernel
        would choose one)."""
        return (self.key_base + self.serial) % 0xFFFF + 1

    def register(self, f: int, ttl: int, wall_ns: int, ident: int | None = None) -> bytes:
        """The transport bytes of a new probe of flow ``f`` at ``ttl``, remembered, with
        the IPv4 ``ident`` its header carries if we write it."""
        flow = self.flows.flow(f)
        key = probe_key(flow, self.key_base, self.serial)
        self.serial += 1
        data = build_probe(flow, key)
        if flow.method is Method.UDP:
            self.pads[(flow.sport, data[8:10])] = key
        self.keys[(flow.sport, key)] = (f, ttl, wall_ns, ident)
        return data

    def _port(self, p: Packet) -> int | None:
        base = self.flows.base
        if base.method is Method.TCP and p.tcp is not None:
            return p.tcp.dport
        e = p.icmp if base.family == 4 else p.icmpv6
        if e is None:
            return None
        if e.type in (0, 129):
            return e.id
        q = e.quoted
        if q is None:
            return None
        if base.method is Method.UDP:
            return q.udp.sport if q.udp is not None else None
        if base.method is Method.TCP:
            return q.tcp.sport if q.tcp is not None else None
        qe = q.icmp if base.family == 4 else q.icmpv6
        return qe.id if qe is not None else None

    def received(self, p: Packet, mono: int, stamp: int | None) -> None:
        port = self._port(p)
        f = self.flows.by_port.get(port) if port is not None else None
        if f is None or p.ip is None:
            return
        flow = self.flows.flow(f)
        answer = match(flow, p)
        e = p.icmp if flow.family == 4 else p.icmpv6
        quoted = e.quoted if e is not None and e.type not in (0, 129) else None
        key = answer.key if answer is not None else None
        if (port, key) not in self.keys and quoted is not None and quoted.udp is not None:
            u = quoted.udp  # a rewritten checksum: find the probe by its pad bytes
            pad = bytes(u._buf[u.payload_offset : u.payload_offset + 2])
            key = self.pads.get((flow.sport, pad))
        if key is None or (port, key) not in self.keys:
            return
        if answer is not None:
            rep = Reply(answer.source, 0, answer.final, answer.reached, answer.annotation)
        else:  # the quote does not name our destination (a NAT rewrote it)
            if e is None or quoted is None:
                return
            mark = annotation(flow.family, e.type, e.code, e.mtu)
            rep = Reply(p.ip.src, 0, mark is not None, mark == "", mark or None)
        self._feed(port, key, rep, quoted, stamp)  # type: ignore[arg-type]  # port: in keys

    def _feed(self, port: int, key: int, rep: Reply, quoted: Packet | None,
              stamp: int | None) -> None:  # fmt: skip
        f, ttl, wall, ident = self.keys[(port, key)]
        flow = self.flows.flow(f)
        rtt = max(0, (stamp or time.time_ns()) - wall)
        nat: tuple[str, ...] = ()
        if quoted is not None:
            cks = key if flow.method is Method.UDP else None
            nat = quote_differences(quoted, flow.src, flow.dst, flow.sport, flow.dport, cks,
                                    ident)  # fmt: skip
        self.session.answered(f, ttl, Reply(rep.address, rtt, rep.final, rep.reached,
                                            rep.annotation, nat, quoted is not None))  # fmt: skip


def header_socket(opt: TraceOptions) -> socket.socket | None:
    """An IPv4 raw socket we write whole datagrams to (IPPROTO_RAW: our header, so our IP
    ID, which the quotes are then checked against); None where it cannot be had."""
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    except OSError:
        return None
    try:
        if opt.interface:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, opt.interface.encode())
        s.setblocking(False)
    except OSError:
        s.close()
        return None
    return s


def _send_all(tracer: Tracer, rx: Receiver, batch: list[tuple[int, int]],
              head: socket.socket | None = None) -> None:  # fmt: skip
    """Send ``batch``; IPv4 through ``head`` (our header, TTL and ID) when given."""
    sock = tracer.send_sock
    base = rx.flows.base
    fam = base.family
    for f, ttl in batch:
        ident = None
        if fam == 4 and head is not None:
            ident = rx.ident()
            data = ipv4.build(base.src, base.dst, base.protocol,
                              rx.register(f, ttl, time.time_ns(), ident), ttl=ttl, ident=ident,
                              df=tracer.dont_fragment)  # fmt: skip
            out = head
        else:
            if fam == 4:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            else:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
            data = rx.register(f, ttl, time.time_ns())
            out = sock
        try:
            out.sendto(data, (base.dst, 0))
        except OSError:
            rx.session.failed(f, ttl)
        for s in tracer.readers:
            tracer._drain(rx, s)  # type: ignore[arg-type]


def _run(tracer: Tracer, rx: Receiver, session: MdaSession, routers: bool,
         pairs: list[tuple[str, str, str]], head: socket.socket | None = None) -> int:  # fmt: skip
    """Drive the session; with ``routers``, a Mercator test of each TTL's new addresses
    between batches (their pairs go to ``pairs``), so the stopping rule counts routers.
    IPv4 probes go through ``head`` (:func:`header_socket`) when given. Returns the
    alias probes sent."""
    alias_probes = 0
    while True:
        if routers and not session.in_flight:
            from netdiag.trace.multipath.alias import mercator_test, merge

            for fresh, addresses in session.untested():
                found, n = mercator_test(tracer, rx.flows.base, fresh)
                pairs += found
                groups = [s.addresses for s in merge(0, list(addresses), pairs) if s.merged]
                session.merge(fresh, groups)
                alias_probes += n
        batch = session.next_probes(time.monotonic_ns())
        if batch:
            _send_all(tracer, rx, batch, head)
        for s in tracer.readers:
            tracer._drain(rx, s)  # type: ignore[arg-type]
        session.expire(time.monotonic_ns())
        if session.done:
            return alias_probes
        deadline = session.next_deadline()
        if deadline is None:  # nothing out: the next pass plans (next_probes never idles)
            continue
        if not session.in_flight:  # only retries waiting: no answer can come
            time.sleep(max(0.0, (deadline - time.monotonic_ns()) / 1e9))
            continue
        select.select(tracer.readers, [], [], max(0.0, (deadline - time.monotonic_ns()) / 1e9))


def raw_tracer(base: Flow, opt: TraceOptions) -> Tracer | None:
    """Raw sockets for ``base``'s flows; None without the privilege (``-T`` needs it: the
    :class:`PrivilegeError` goes on), for the datagram sockets of :mod:`.dgram`."""
    try:
        return Tracer(base, opt)
    except PrivilegeError:
        if base.method is Method.TCP:
            raise
        return None


def multipath(target: str, options: TraceOptions | None = None, confidence: float = 95,
              lite: bool = True, aliases: bool = True,
              first_port: int | None = None) -> MultipathResult:  # fmt: skip
    """Every path to ``target`` at ``confidence`` percent (MDA-Lite; ``lite=False``: MDA).
    ``first_port``: flow 0's source port (echo identifier); default random. With it, a
    trace through the same hashes takes the same flows (reproducible tests)."""
    opt = options or TraceOptions()
    family, address = resolve(target, opt.family)
    base = make_flow(family, address, opt)
    if first_port is not None:
        base = replace(base, sport=first_port)
    tracer = raw_tracer(base, opt)
    from netdiag.trace.multipath import dgram

    settings = MdaSettings(confidence=confidence, first_ttl=opt.first_ttl, max_ttl=opt.max_ttl,
                           max_silent=opt.max_silent or 255, wait_ns=int(opt.wait[0] * 1e9),
                           lite=lite, max_flows=4000 if tracer else dgram.max_flows())  # fmt: skip
    session = MdaSession(settings)
    flows = Flows(base)
    rx = Receiver(flows, session, int.from_bytes(os.urandom(2), "big"))
    start = time.monotonic_ns()
    found: tuple[AliasSet, ...] = ()
    alias_probes = 0
    notes: tuple[str, ...] = ()
    if tracer is None:
        dgram.run_unprivileged(session, flows.flow, opt, rx.key_base)
        notes = (dgram.NOTE,)
    else:
        head = header_socket(opt) if family == 4 else None
        with tracer:
            pairs: list[tuple[str, str, str]] = []
            try:
                alias_probes = _run(tracer, rx, session, aliases, pairs, head)
            finally:
                if head is not None:
                    head.close()
            if aliases:
                from netdiag.trace.multipath.alias import resolve_aliases

                found, more = resolve_aliases(tracer, base, session.discovery(), pairs,
                                              session.tested)  # fmt: skip
                alias_probes += more
    disc = session.discovery()
    notes += (ICMP_NOTE,) if base.method is Method.ICMP else ()
    return MultipathResult(target, address, family, opt.method, confidence, lite, base.src, disc,
                           (time.monotonic_ns() - start) / 1e6, found, alias_probes,
                           notes, session.paths(), base.sport)  # fmt: skip
