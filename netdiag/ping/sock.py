"""Socket plumbing shared by ICMP ping (``loop``) and TCP/UDP probes (``portloop``).

Linux constants the socket module lacks, opening ICMP sockets
(with the one-line fix when we may not), ancillary data (SO_TIMESTAMPNS and
TTL/hop limit), the route MTU, and rebuilding ICMP errors read from a datagram
socket's error queue (IP_RECVERR) into packets the pure cores can match.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import time
from collections.abc import Callable

from netdiag.errors import PrivilegeError
from netdiag.packets import decode, icmp, icmpv6, ipv4, ipv6
from netdiag.probing.resolve import is_address

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "privilege_hint",
    "open_icmp_socket",
    "path_mtu",
    "ancillary",
    "with_ip_header",
    "read_error_queue",
    "enable_tx_stamps",
    "read_tx_stamps",
]

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
IP_MTU = getattr(socket, "IP_MTU", 14)
IPV6_MTU = getattr(socket, "IPV6_MTU", 24)
PMTUDISC = {"dont": 0, "want": 1, "do": 2}  # IP_PMTUDISC_* == IPV6_PMTUDISC_*
SOL_RAW = 255
ICMP_FILTER = 1  # SOL_RAW: u32 mask of ICMP types to drop
ICMP6_FILTER = 1  # IPPROTO_ICMPV6: 256-bit map of ICMPv6 types to drop
SO_TIMESTAMPING = getattr(socket, "SO_TIMESTAMPING", 37)
SCM_TIMESTAMPING = SO_TIMESTAMPING
# linux/net_tstamp.h: software TX stamps, reported, keyed by a per-socket counter, no data
SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1
SOF_TIMESTAMPING_SOFTWARE = 1 << 4
SOF_TIMESTAMPING_OPT_ID = 1 << 7
SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11
SO_EE_ORIGIN_TIMESTAMPING = 4
MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3

_TIMESPEC = struct.Struct("@qq")
_INT = struct.Struct("@i")
_TTL_CMSGS = ((socket.IPPROTO_IP, socket.IP_TTL), (socket.IPPROTO_IPV6, IPV6_HOPLIMIT))
_EXTENDED_ERR = struct.Struct("@IBBBBII")  # struct sock_extended_err
ANC_SIZE = 512
RECV_SIZE = 65536 + 64


def path_mtu(family: int, address: str, interface: str | None = None) -> int | None:
    """The kernel's MTU for the route to ``address`` (IP_MTU on a connected UDP socket;
    connecting sends nothing)."""
    af = socket.AF_INET if family == 4 else socket.AF_INET6
    try:
        with socket.socket(af, socket.SOCK_DGRAM) as probe:
            if interface and not is_address(interface):
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
            probe.connect((address, 9))
            level, name = (socket.IPPROTO_IP, IP_MTU) if family == 4 else \
                (socket.IPPROTO_IPV6, IPV6_MTU)  # fmt: skip
            return int(probe.getsockopt(level, name))
    except OSError:
        return None


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


def ancillary(anc: list[tuple[int, int, bytes]]) -> tuple[int | None, int]:
    """(kernel receive time in ns or None, TTL/hop limit or 0) from recvmsg ancillary data."""
    stamp, ttl = None, 0
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = _TIMESPEC.unpack_from(data)
            stamp = sec * 1_000_000_000 + nsec
        elif (level, kind) in _TTL_CMSGS and len(data) >= 4:
            ttl = _INT.unpack_from(data)[0]
    return stamp, ttl


def with_ip_header(
    family: int, data: bytes, source: str, ttl: int, proto: int | None = None, dst: str = ""
) -> bytes:
    """Put a synthetic IP header before a message that came without one (ICMP unless
    ``proto`` says otherwise)."""
    if family == 4:
        return ipv4.build(source, dst or "0.0.0.0", proto or 1, data, ttl=ttl)
    return ipv6.build(source.partition("%")[0], dst or "::", proto or 58, data, hop_limit=ttl)


def read_error_queue(
    sock: socket.socket, family: int, original: Callable[[bytes], bytes]
) -> list[tuple[Any, str, int, int | None]]:
    """Datagram sockets with IP_RECVERR: each ICMP error waiting on the error queue
    comes as the payload we sent plus a sock_extended_err naming the sender; rebuild
    the ICMP error around ``original(payload)`` (our datagram with its IP header) so
    that one matcher decides. Returns (decoded packet, sender, monotonic ns, stamp)."""
    out: list[tuple[Any, str, int, int | None]] = []
    while True:
        try:
            data, anc, _flags, _addr = sock.recvmsg(RECV_SIZE, ANC_SIZE, MSG_ERRQUEUE)
        except (BlockingIOError, InterruptedError):
            return out
        now = time.monotonic_ns()
        stamp, ttl = ancillary(anc)
        for level, kind, raw_err in anc:
            if (level, kind) not in ((socket.IPPROTO_IP, IP_RECVERR),
                                     (socket.IPPROTO_IPV6, IPV6_RECVERR)):  # fmt: skip
                continue
            _errno, origin, etype, code, _pad, info, _data = _EXTENDED_ERR.unpack_from(raw_err)
            if origin not in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6):
                continue
            offender = raw_err[_EXTENDED_ERR.size :]
            if family == 4:
                source = socket.inet_ntop(socket.AF_INET, offender[4:8])
                err = icmp.build_error(etype, code, original(data), mtu=info if etype == 3 else 0)
                packet = decode(ipv4.build(source, "0.0.0.0", 1, err, ttl=ttl or 64), 228)
            else:
                source = socket.inet_ntop(socket.AF_INET6, offender[8:24])
                rest = info if etype in (2, 4) else 0
                err = icmpv6.build(etype, code, rest, original(data), source, "::")
                packet = decode(ipv6.build(source, "::", 58, err, hop_limit=ttl or 64), 229)
            out.append((packet, source, now, stamp))


def enable_tx_stamps(sock: socket.socket) -> bool:
    """Ask for software transmit timestamps on the error queue; False if refused."""
    flags = (SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE
             | SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY)  # fmt: skip
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, flags)
    except OSError:
        return False
    return True


def read_tx_stamps(sock: socket.socket) -> list[tuple[int, int]]:
    """(key, CLOCK_REALTIME ns) for each transmit timestamp waiting on the error queue;
    the key counts the socket's sends from 0 (SOF_TIMESTAMPING_OPT_ID)."""
    out: list[tuple[int, int]] = []
    while True:
        try:
            _data, anc, _flags, _addr = sock.recvmsg(64, ANC_SIZE, MSG_ERRQUEUE)
        except (BlockingIOError, InterruptedError):
            return out
        stamp = key = None
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPING and len(data) >= 16:
                sec, nsec = _TIMESPEC.unpack_from(data)
                stamp = sec * 1_000_000_000 + nsec
            elif (level, kind) in ((socket.IPPROTO_IP, IP_RECVERR),
                                   (socket.IPPROTO_IPV6, IPV6_RECVERR)):  # fmt: skip
                _e, origin, _t, _c, _p, _info, data32 = _EXTENDED_ERR.unpack_from(data)
                if origin == SO_EE_ORIGIN_TIMESTAMPING:
                    key = data32
        if stamp and key is not None:
            out.append((key, stamp))
