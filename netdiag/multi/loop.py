"""The thin socket loop of the many-target engine: open, send, wait, feed :mod:`core`.

Sockets, one per family and method, shared by every target:

- ICMP echo: ping's ICMP socket (``ping.sock.open_icmp_socket``: raw where we may,
  else the ICMP datagram socket where ``ping_group_range`` admits us, else
  :class:`PrivilegeError` with the fix), configured by ``ping.options.configure``
  (kernel receive stamps, ICMP type filter, and on raw sockets the classic BPF
  filter that keeps other identifiers out);
- TCP SYN (``tcp=PORT``): a raw TCP socket with the kernel filter for our two
  ports, a reserved source port, and a raw ICMP socket for the errors
  (``ping.portloop``'s sockets);
- UDP (``udp=PORT``): an ordinary UDP socket with IP_RECVERR.

The loop sends whatever :meth:`Sweep.due` gives, waits in ``select`` until
:meth:`Sweep.wake_ns`, hands every packet to the matcher and the core, then
expires timeouts. ``on_event(event, sweep)`` sees each event as it happens.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import time
from collections.abc import Callable

from netdiag.errors import NetdiagError, UsageError
from netdiag.multi.core import Settings, Sweep, Target
from netdiag.multi.match import EchoMatcher, TcpMatcher, UdpMatcher, fping_error_text, probe_payload
from netdiag.packets import decode, icmp, icmpv6, ipv4, ipv6, tcp, udp
from netdiag.ping.options import PingOptions, configure
from netdiag.ping.sock import (
    ANC_SIZE,
    IP_RECVERR,
    IPV6_RECVERR,
    RECV_SIZE,
    SO_TIMESTAMPNS,
    ancillary,
    open_icmp_socket,
    read_error_queue,
    with_ip_header,
)
from netdiag.probing import sockfilter
from netdiag.probing.privileges import drop_privileges
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Probing", "SystemCallError", "run_sweep", "open_probing"]


class SystemCallError(NetdiagError):
    """A system call failed (fping's exit status 4)."""

    exit_status = 4


@dataclass(frozen=True)
class Probing:
    """How to probe: method (``tcp``/``udp`` port, else ICMP echo), payload size,
    ``source`` (-S), ``interface`` (-I), TOS (-O), TTL (-H)."""

    tcp: int | None = None
    udp: int | None = None
    size: int = 56
    source: str | None = None
    interface: str | None = None
    tos: int | None = None
    ttl: int | None = None

    @property
    def protocol(self) -> str:
        return "tcp" if self.tcp is not None else "udp" if self.udp is not None else "icmp"

    @property
    def port(self) -> int | None:
        return self.tcp if self.tcp is not None else self.udp


class _Channel:
    """One family's sockets for one method, and its matcher."""

    def __init__(self, family: int, probing: Probing) -> None:
        self.family = family
        self.probing = probing
        self.socks: list[socket.socket] = []
        self.raw = False
        self.src = ""  # tcp/udp: the bound source address ("" = any)
        self.sources: dict[str, str] = {}
        self.matcher: Any = None
        cookie = os.urandom(8)
        try:
            if probing.tcp is not None:
                self._open_tcp(probing.tcp)
            elif probing.udp is not None:
                self._open_udp(probing.udp, cookie)
            else:
                self._open_icmp(cookie)
        except BaseException:
            self.close()
            raise

    def _device(self, sock: socket.socket) -> None:
        if self.probing.interface:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE,
                                self.probing.interface.encode())  # fmt: skip
            except OSError as exc:
                raise UsageError(f"-I {self.probing.interface}: {exc.strerror}") from None

    def _check_source(self) -> None:
        """-S: fping's words and status (4) when the address is not ours."""
        if not self.probing.source:
            return
        af = socket.AF_INET if self.family == 4 else socket.AF_INET6
        with socket.socket(af, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind((self.probing.source, 0))
            except OSError as exc:
                raise SystemCallError(f"cannot bind source address : {exc.strerror}") from None

    def _open_icmp(self, cookie: bytes) -> None:
        p = self.probing
        self._check_source()
        sock, self.raw = open_icmp_socket(self.family)
        self.socks.append(sock)
        self._device(sock)
        opt = PingOptions(interface=p.source, tos=p.tos, ttl=p.ttl, size=p.size,
                          family=self.family)  # fmt: skip
        try:
            ident = configure(sock, self.family, self.raw, opt)
        except OSError as exc:
            raise SystemCallError(f"setsockopt: {exc.strerror}") from None
        self.matcher = EchoMatcher(self.family, ident, cookie, p.size)
        self._payload = self.matcher.payload(p.size)

    def _open_tcp(self, port: int) -> None:
        af = socket.AF_INET if self.family == 4 else socket.AF_INET6
        try:
            sock = socket.socket(af, socket.SOCK_RAW, socket.IPPROTO_TCP)
        except PermissionError:
            from netdiag.errors import PrivilegeError

            raise PrivilegeError(
                "fping --tcp: sending a SYN needs a raw socket (root or CAP_NET_RAW): run as "
                "root, or `setcap cap_net_raw+ep` on the interpreter; --udp needs no privilege"
            ) from None
        from netdiag.ping.portloop import icmp_error_socket

        self.raw = True
        self.socks.append(sock)
        self.socks.append(icmp_error_socket(self.family))
        reserve = socket.socket(af, socket.SOCK_STREAM)  # holds our source port
        self.socks.append(reserve)
        any_addr = "0.0.0.0" if self.family == 4 else "::"
        self.src = self.probing.source or any_addr
        self._device(sock)
        reserve.bind((self.src, 0))
        sport = int(reserve.getsockname()[1])
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setblocking(False)
        sockfilter.attach_filter(sock, sockfilter.tcp_ports_filter(self.family, port, sport))
        self.matcher = TcpMatcher(self.family, sport, int.from_bytes(os.urandom(4), "big"), port)

    def _open_udp(self, port: int, cookie: bytes) -> None:
        af = socket.AF_INET if self.family == 4 else socket.AF_INET6
        sock = socket.socket(af, socket.SOCK_DGRAM)
        self.socks.append(sock)
        self._device(sock)
        any_addr = "0.0.0.0" if self.family == 4 else "::"
        self.src = self.probing.source or any_addr
        sock.bind((self.src, 0))
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        if self.family == 4:
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            sock.setsockopt(socket.IPPROTO_IP, 12, 1)  # IP_RECVTTL
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, 51, 1)  # IPV6_RECVHOPLIMIT
        sock.setblocking(False)
        self.matcher = UdpMatcher(self.family, int(sock.getsockname()[1]), port, cookie)

    def close(self) -> None:
        for sock in self.socks:
            sock.close()
        self.socks = []

    # -- sending

    def message(self, seq: int, address: str) -> tuple[bytes, tuple[str, int]]:
        m, p = self.matcher, self.probing
        if p.tcp is not None:
            src = self._source_for(address)
            seg = tcp.build(m.sport, m.port, seq=m.tcp_seq(seq), flags=tcp.SYN, src=src,
                            dst=address)  # fmt: skip
            return seg, (address, 0)
        if p.udp is not None:
            return probe_payload(m.cookie, seq, max(p.size, 10)), (address, m.port)
        if self.family == 4:
            return icmp.build_echo(m.ident, seq, self._payload), (address, 0)
        return icmpv6.build_echo(m.ident, seq, self._payload, "::", address), (address, 0)

    def _source_for(self, address: str) -> str:
        src = self.sources.get(address)
        if src is None:
            from netdiag.ping.portloop import source_address

            src = source_address(self.family, address, self.probing.source
                                 or self.probing.interface)  # fmt: skip
            self.sources[address] = src
        return src

    # -- receiving: (decoded packet, sender, monotonic ns, kernel stamp)

    def receive(self, sock: socket.socket) -> list[tuple[Any, str, int, int | None]]:
        out: list[tuple[Any, str, int, int | None]] = []
        fam, p = self.family, self.probing
        lt = 228 if fam == 4 else 229
        while True:
            try:
                data, anc, _flags, addr = sock.recvmsg(RECV_SIZE, ANC_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                if sock.type == socket.SOCK_DGRAM:
                    out += self.errors(sock)
                    continue
                raise
            now = time.monotonic_ns()
            stamp, ttl = ancillary(anc)
            source = str(addr[0]).partition("%")[0]
            if p.udp is not None and sock is self.socks[0]:
                dgram = udp.build(int(addr[1]), self.matcher.sport, data)
                wire = with_ip_header(fam, dgram, source, ttl, 17, self.src)
            elif fam == 4 and self.raw:
                wire = data
            elif p.tcp is not None and sock is self.socks[0]:
                wire = with_ip_header(6, data, source, ttl, 6, "::")
            else:
                wire = with_ip_header(fam, data, source, ttl)
            out.append((decode(wire, lt), source, now, stamp))
        if sock.type == socket.SOCK_DGRAM:
            out += self.errors(sock)
        return out

    def errors(self, sock: socket.socket) -> list[tuple[Any, str, int, int | None]]:
        fam, p = self.family, self.probing
        any_addr = "0.0.0.0" if fam == 4 else "::"
        build = ipv4.build if fam == 4 else ipv6.build

        def original(data: bytes) -> bytes:
            if p.udp is not None:
                return build(any_addr, any_addr, 17, udp.build(self.matcher.sport, p.udp, data))
            return build(any_addr, any_addr, 1 if fam == 4 else 58, data)

        return read_error_queue(sock, fam, original)


def _port_unreachable(family: int) -> tuple[int, int]:
    from netdiag.ping.portcore import PORT_UNREACHABLE  # only --udp needs it (start-up)

    return PORT_UNREACHABLE[family]


def _feed(sweep: Sweep, ch: _Channel, packet: Any, source: str, now: int, stamp: int | None,
          on_event: Callable[[Any, Sweep], None]) -> None:  # fmt: skip
    m = ch.matcher.match(packet)
    if m is None:
        return
    if m[0] == "reply":
        _kind, seq, size, ttl, answer = m
        event: Any = sweep.reply(seq, source, now, stamp, size, ttl, answer)
    else:
        _kind, seq, itype, code = m
        target = sweep.target_of(seq)
        if target is None:
            return
        address = sweep.targets[target].address
        if ch.probing.udp is not None and source == address \
                and (itype, code) == _port_unreachable(ch.family):  # fmt: skip
            ttl = packet.ip.hop_limit if packet.ip else 0
            event = sweep.reply(seq, source, now, stamp, 0, ttl, "port unreachable")
        else:
            what = {"tcp": "TCP SYN", "udp": "UDP probe"}.get(ch.probing.protocol, "ICMP Echo")
            text = fping_error_text(ch.family, itype, code, source,
                                    sweep.targets[target].name, what)  # fmt: skip
            event = sweep.error(seq, source, ch.family, itype, code, text)
    if event is not None:
        on_event(event, sweep)


def open_probing(families: set[int], probing: Probing) -> dict[int, _Channel]:
    channels: dict[int, _Channel] = {}
    try:
        for fam in sorted(families):
            try:
                channels[fam] = _Channel(fam, probing)
            except OSError as exc:
                if exc.errno in (errno.EADDRNOTAVAIL, errno.EINVAL):
                    raise UsageError(f"cannot bind source address : {exc.strerror}") from None
                raise SystemCallError(f"socket: {exc.strerror}") from None
    except BaseException:
        for ch in channels.values():
            ch.close()
        raise
    return channels


def run_sweep(
    targets: list[Target],
    settings: Settings,
    probing: Probing | None = None,
    on_event: Callable[[Any, Sweep], None] | None = None,
    *,
    on_report: Callable[[Sweep], None] | None = None,
    report_every_s: float | None = None,
    give_up_privileges: bool = False,
    deadline_s: float | None = None,
    families: set[int] | None = None,
) -> tuple[Sweep, float, bool]:
    """Probe every target as ``settings`` say; returns (the sweep, elapsed seconds,
    interrupted). ``on_report(sweep)`` runs every ``report_every_s`` (fping -Q; a
    long-running caller reads the bounded per-target state there, and may
    ``sweep.add_target``/``retire`` or ``sweep.stop()``). Ctrl-C ends the run cleanly
    (interrupted True); so does ``deadline_s``. ``families``: open these sockets too
    (for targets added later)."""
    probing = probing or Probing()
    emit = on_event or (lambda _e, _s: None)
    channels = open_probing({t.family for t in targets} | (families or set()), probing)
    try:
        if give_up_privileges:
            drop_privileges()
        return _run(targets, settings, channels, emit, on_report, report_every_s, deadline_s)
    finally:
        for ch in channels.values():
            ch.close()


def _run(targets: list[Target], settings: Settings, channels: dict[int, _Channel],
         emit: Callable[[Any, Sweep], None], on_report: Callable[[Sweep], None] | None,
         report_every_s: float | None,
         deadline_s: float | None) -> tuple[Sweep, float, bool]:  # fmt: skip
    start = time.monotonic_ns()
    sweep = Sweep(targets, settings, start, first_seq=int.from_bytes(os.urandom(2), "big"))
    by_sock = {s.fileno(): (s, ch) for ch in channels.values() for s in ch.socks
               if s.type != socket.SOCK_STREAM}  # fmt: skip
    socks = [s for s, _ch in by_sock.values()]
    report_ns = int(report_every_s * 1e9) if report_every_s else 0
    next_report = start + report_ns if report_ns else None
    end = start + int(deadline_s * 1e9) if deadline_s is not None else None
    interrupted = False
    try:
        while not sweep.done and not sweep.stopped:
            now = time.monotonic_ns()
            if end is not None and now >= end:
                break
            while (due := sweep.due(now)) is not None:
                target = sweep.targets[due.target]
                ch = channels[target.family]
                msg, dest = ch.message(sweep.reserve(), target.address)
                mono = time.monotonic_ns()
                wall = time.time_ns()
                try:
                    ch.socks[0].sendto(msg, dest)
                except OSError as exc:
                    if exc.errno == errno.EHOSTDOWN:  # fping: not an error
                        sweep.sent(due, mono, wall)
                    else:
                        emit(sweep.send_failed(due, mono, exc.strerror or str(exc)), sweep)
                else:
                    sweep.sent(due, mono, wall)
                now = time.monotonic_ns()
            wake = sweep.wake_ns(now)
            if next_report is not None:
                wake = next_report if wake is None else min(wake, next_report)
            if end is not None:
                wake = end if wake is None else min(wake, end)
            timeout = None if wake is None else max(0.0, (wake - now) / 1e9)
            readable, _w, _x = select.select(socks, [], [], timeout)
            for sock in readable:
                _s, ch = by_sock[sock.fileno()]
                for packet, source, t, stamp in ch.receive(sock):
                    _feed(sweep, ch, packet, source, t, stamp, emit)
            now = time.monotonic_ns()
            for event in sweep.expire(now, time.time_ns()):
                emit(event, sweep)
            if next_report is not None and now >= next_report and on_report is not None:
                on_report(sweep)
                next_report += report_ns
    except KeyboardInterrupt:
        interrupted = True
    return sweep, (time.monotonic_ns() - start) / 1e9, interrupted
