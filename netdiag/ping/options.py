"""What ping is asked to do, and the ICMP socket set up to do it.

:class:`PingOptions` holds iputils' options (``-c -i -W -w -s -t -Q -M -I -4 -6
-f -O``, plus ``--tcp``/``--udp`` for portping), checked when built so that a
bad value is a :class:`UsageError` naming it before any socket is opened.
:func:`configure` applies them to a freshly opened ICMP socket: kernel receive
stamps, the ICMP type filter (raw) or IP_RECVERR (datagram), TTL/hop limit,
TOS/traffic class, path-MTU discovery, ``-I`` (bind to an address or a device),
and the echo identifier with its classic BPF filter (``sockfilter``).

The socket loop in ``ping`` only sends, waits and feeds; everything decided
before the first probe leaves lives here. Socket constants and helpers shared
with the TCP/UDP probes come from ``pingsock``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct

from netdiag.errors import UsageError
from netdiag.ping.sock import (
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
    SO_TIMESTAMPNS,
    SOL_RAW,
)
from netdiag.probing import sockfilter
from netdiag.records import dataclass

__all__ = ["PingOptions", "configure", "random_ident"]


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
    kernel_tx_stamps: bool = False  # raw sockets: send time from SO_TIMESTAMPING (API only)
    tcp: int | None = None  # --tcp PORT: TCP SYN probes (portping)
    udp: int | None = None  # --udp PORT: UDP probes (portping)

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
        for flag, port in (("--tcp", self.tcp), ("--udp", self.udp)):
            if port is not None and not 1 <= port <= 65535:
                raise UsageError(f"invalid {flag} port: {port}: out of range: 1 <= value <= 65535")
        if self.tcp is not None and self.udp is not None:
            raise UsageError("--tcp and --udp exclude each other")

    @property
    def interval_s(self) -> float:
        if self.interval is not None:
            return self.interval
        return 0.0 if self.flood else 1.0


def configure(sock: socket.socket, family: int, raw: bool, opt: PingOptions) -> int:
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
    if not raw or bind_addr != any_addr:
        try:
            sock.bind((bind_addr, 0))
        except OSError as exc:
            raise UsageError(f"-I {opt.interface}: cannot bind: {exc.strerror}") from None
    if not raw:
        return int(sock.getsockname()[1])  # datagram sockets: the kernel's identifier
    ident = random_ident()
    sockfilter.attach_filter(sock, sockfilter.echo_reply_filter(family, ident))
    return ident


def random_ident() -> int:
    """The echo identifier of a raw-socket session (tests replace it to force a clash)."""
    return int.from_bytes(os.urandom(2), "big")
