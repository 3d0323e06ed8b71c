"""sock_diag (NETLINK_SOCK_DIAG) messages: requests built, reply streams decoded.

This module contains no networking code at all: it turns field values into the
bytes of a request, and the bytes the kernel answers with into frozen records.
The socket loop lives in ``netdiag.probes.sockets``.

Layouts (the kernel's UAPI headers; netlink integers are in host byte order,
the addresses and ports of ``inet_diag_sockid`` in network byte order):

- linux/netlink.h: ``nlmsghdr`` (len u32, type u16, flags u16, seq u32, pid
  u32), ``nlmsgerr`` (error s32, then the offending header), payloads aligned
  to 4 bytes (NLMSG_ALIGN); ``rtattr``/``nlattr`` (len u16, type u16, value,
  aligned to 4).
- linux/sock_diag.h: SOCK_DIAG_BY_FAMILY (20), SK_MEMINFO_* (u32 array).
- linux/inet_diag.h: ``inet_diag_req_v2`` (56 bytes), ``inet_diag_msg`` (72),
  INET_DIAG_* attributes; linux/tcp.h: ``struct tcp_info`` (``tcpinfo.py``).
- linux/unix_diag.h: ``unix_diag_req`` (24), ``unix_diag_msg`` (16), UNIX_DIAG_*.
- linux/packet_diag.h: ``packet_diag_req`` (20), ``packet_diag_msg`` (16), PACKET_DIAG_*.

Every reply message carries its address family in its first byte, so one
decoder serves the answers to all three requests. Input that is cut short or
holds an impossible length raises ``NetlinkTruncatedError`` or
``NetlinkMalformedError`` (both ``NetlinkDecodeError``, a ``DecodeError``)
naming the structure and the byte offset in the stream; nothing else escapes.
"""

from __future__ import annotations

import ipaddress
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from netdiag.errors import DecodeError, MalformedError, TruncatedError
from netdiag.netlink.tcpinfo import TCP_INFO_MIN_LEN, TcpInfo, decode_tcp_info

__all__ = [
    "NETLINK_SOCK_DIAG", "SOCK_DIAG_BY_FAMILY", "NLMSG_ERROR", "NLMSG_DONE",
    "NLM_F_REQUEST", "NLM_F_DUMP", "NLM_F_DUMP_INTR", "ALL_STATES",
    "INET_DIAG_MEMINFO", "INET_DIAG_INFO", "INET_DIAG_CONG", "INET_DIAG_SKMEMINFO",
    "UDIAG_SHOW_ALL", "PACKET_SHOW_ALL", "NLMSG_HDRLEN", "INET_DIAG_MSG_LEN",
    "UNIX_DIAG_MSG_LEN", "PACKET_DIAG_MSG_LEN",
    "NetlinkDecodeError", "NetlinkTruncatedError", "NetlinkMalformedError",
    "Done", "NlError", "MemInfo", "InetDiag", "UnixDiag", "PacketInfo", "PacketDiag",
    "Reply", "build_inet_request", "build_unix_request", "build_packet_request",
    "decode_stream", "TcpInfo",
]  # fmt: skip

NETLINK_SOCK_DIAG = 4  # linux/netlink.h
SOCK_DIAG_BY_FAMILY = 20  # linux/sock_diag.h
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_DUMP_INTR = 0x01, 0x02, 0x10
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
ALL_STATES = 0xFFFFFFFF  # one bit per TCP state (1 << TCP_ESTABLISHED, ...)

# INET_DIAG_* attribute types (linux/inet_diag.h); request bit = 1 << (type - 1)
INET_DIAG_MEMINFO, INET_DIAG_INFO, INET_DIAG_VEGASINFO, INET_DIAG_CONG = 1, 2, 3, 4
INET_DIAG_TOS, INET_DIAG_TCLASS, INET_DIAG_SKMEMINFO, INET_DIAG_SHUTDOWN = 5, 6, 7, 8
INET_DIAG_PROTOCOL, INET_DIAG_SKV6ONLY, INET_DIAG_MARK = 10, 11, 15
# UNIX_DIAG_* attributes and UDIAG_SHOW_* bits (linux/unix_diag.h)
UNIX_DIAG_NAME, UNIX_DIAG_VFS, UNIX_DIAG_PEER, UNIX_DIAG_ICONS = 0, 1, 2, 3
UNIX_DIAG_RQLEN, UNIX_DIAG_MEMINFO, UNIX_DIAG_SHUTDOWN, UNIX_DIAG_UID = 4, 5, 6, 7
UDIAG_SHOW_ALL = 0x7F  # NAME VFS PEER ICONS RQLEN MEMINFO UID
# PACKET_DIAG_* attributes and PACKET_SHOW_* bits (linux/packet_diag.h)
PACKET_DIAG_INFO, PACKET_DIAG_FANOUT, PACKET_DIAG_UID, PACKET_DIAG_MEMINFO = 0, 4, 5, 6
PACKET_SHOW_ALL = 0x01 | 0x08 | 0x10  # INFO FANOUT MEMINFO (UID always comes)

_AF_INET, _AF_INET6, _AF_UNIX, _AF_PACKET = 2, 10, 1, 17

_NLMSGHDR = struct.Struct("=IHHII")
NLMSG_HDRLEN = _NLMSGHDR.size  # 16
_RTATTR = struct.Struct("=HH")
_S32 = struct.Struct("=i")
_U32 = struct.Struct("=I")
_U32X2 = struct.Struct("=II")
_INET_REQ = struct.Struct("=BBBBI2s2s16s16sI8s")  # inet_diag_req_v2: 56 bytes
_UNIX_REQ = struct.Struct("=BBHIII8s")  # unix_diag_req: 24 bytes
_PACKET_REQ = struct.Struct("=BBHII8s")  # packet_diag_req: 20 bytes
_INET_MSG = struct.Struct("=BBBB2s2s16s16sI8sIIIII")  # inet_diag_msg
_UNIX_MSG = struct.Struct("=BBBxI8s")  # unix_diag_msg
_PACKET_MSG = struct.Struct("=BBHI8s")  # packet_diag_msg
_MEMINFO = struct.Struct("=IIII")  # inet_diag_meminfo
_PACKET_INFO = struct.Struct("=IIIIII")  # packet_diag_info
INET_DIAG_MSG_LEN, UNIX_DIAG_MSG_LEN, PACKET_DIAG_MSG_LEN = 72, 16, 16
_NOCOOKIE = b"\xff" * 8


class NetlinkDecodeError(DecodeError):
    """A sock_diag reply could not be decoded (layer = the structure, offset in the stream)."""


class NetlinkTruncatedError(NetlinkDecodeError, TruncatedError):
    """The stream ended before the structure did."""


class NetlinkMalformedError(NetlinkDecodeError, MalformedError):
    """A length or type field is impossible."""


def _align(n: int) -> int:
    return (n + 3) & ~3


# -- requests ----------------------------------------------------------------------------


def _nlmsg(payload: bytes, seq: int, pid: int) -> bytes:
    hdr = _NLMSGHDR.pack(
        NLMSG_HDRLEN + len(payload), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq, pid
    )
    return hdr + payload


def build_inet_request(
    family: int,
    protocol: int,
    *,
    states: int = ALL_STATES,
    ext: tuple[int, ...] = (),
    seq: int = 1,
    pid: int = 0,
    raw_protocol: int = 0,
) -> bytes:
    """A dump request for ``family`` (AF_INET/AF_INET6) and ``protocol`` (IPPROTO_TCP,
    IPPROTO_UDP, IPPROTO_RAW with ``raw_protocol``); ``ext`` lists INET_DIAG_* types
    (1..8) to include in each answer."""
    bits = 0
    for e in ext:
        if not 1 <= e <= 8:
            raise ValueError(f"INET_DIAG extension {e} cannot be requested in idiag_ext")
        bits |= 1 << (e - 1)
    zero16 = bytes(16)
    body = _INET_REQ.pack(
        family, protocol, bits, raw_protocol, states, b"\0\0", b"\0\0", zero16, zero16, 0, _NOCOOKIE
    )
    return _nlmsg(body, seq, pid)


def build_unix_request(
    *, states: int = ALL_STATES, show: int = UDIAG_SHOW_ALL, seq: int = 1, pid: int = 0
) -> bytes:
    return _nlmsg(_UNIX_REQ.pack(_AF_UNIX, 0, 0, states, 0, show, _NOCOOKIE), seq, pid)


def build_packet_request(*, show: int = PACKET_SHOW_ALL, seq: int = 1, pid: int = 0) -> bytes:
    return _nlmsg(_PACKET_REQ.pack(_AF_PACKET, 0, 0, 0, show, _NOCOOKIE), seq, pid)


# -- replies -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Done:
    """NLMSG_DONE: the end of a dump. ``interrupted``: NLM_F_DUMP_INTR was set
    (the tables changed during the dump, which may be inconsistent). ``errno``: the
    dump's error, positive (its s32 payload, negated; ENOENT: no sock_diag handler
    for the family or protocol asked, e.g. raw sockets without CONFIG_INET_RAW_DIAG)."""

    seq: int
    interrupted: bool = False
    errno: int = 0


@dataclass(frozen=True, slots=True)
class NlError:
    """NLMSG_ERROR: ``errno`` is positive (ENOENT: no handler for that family or
    protocol); 0 is an acknowledgement."""

    seq: int
    errno: int


@dataclass(frozen=True, slots=True)
class MemInfo:
    """SK_MEMINFO_* (linux/sock_diag.h): receive/send buffer use and limits, drops."""

    rmem_alloc: int
    rcvbuf: int
    wmem_alloc: int
    sndbuf: int
    fwd_alloc: int | None = None
    wmem_queued: int | None = None
    optmem: int | None = None
    backlog: int | None = None
    drops: int | None = None


@dataclass(frozen=True, slots=True)
class InetDiag:
    """``inet_diag_msg`` and its attributes: one TCP, UDP or raw socket."""

    family: int
    state: int  # TCP_* (linux/tcp_states.h); UDP and raw use 1 connected, 7 unconnected
    timer: int
    retrans: int
    src: str
    sport: int
    dst: str
    dport: int
    ifindex: int
    cookie: int
    expires: int
    rqueue: int
    wqueue: int
    uid: int
    inode: int
    protocol: int | None = None  # INET_DIAG_PROTOCOL
    meminfo: MemInfo | None = None  # INET_DIAG_SKMEMINFO
    tcp_info: TcpInfo | None = None  # INET_DIAG_INFO
    cong: str | None = None  # INET_DIAG_CONG
    tos: int | None = None
    tclass: int | None = None
    shutdown: int | None = None
    v6only: bool | None = None
    mark: int | None = None


@dataclass(frozen=True, slots=True)
class UnixDiag:
    """``unix_diag_msg`` and its attributes. ``name`` is the path, or ``@name`` for
    an abstract address (NULs shown as ``@`` as ss does), None when unbound."""

    type: int  # SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_SEQPACKET 5
    state: int  # TCP_ESTABLISHED 1, TCP_CLOSE 7, TCP_LISTEN 10, TCP_SYN_SENT 2
    inode: int
    cookie: int
    name: str | None = None
    vfs: tuple[int, int] | None = None  # (inode, device) of the bound path
    peer: int | None = None  # the peer socket's inode
    icons: tuple[int, ...] | None = None  # inodes of connections not yet accepted
    rqueue: int | None = None  # listeners: pending connections; others: bytes queued
    wqueue: int | None = None  # listeners: backlog; others: bytes not yet read by the peer
    meminfo: MemInfo | None = None
    shutdown: int | None = None
    uid: int | None = None
    family: int = _AF_UNIX


@dataclass(frozen=True, slots=True)
class PacketInfo:
    """``packet_diag_info``: bound interface (0: any), TPACKET version, flags."""

    ifindex: int
    version: int
    reserve: int
    copy_thresh: int
    tstamp: int
    flags: int


@dataclass(frozen=True, slots=True)
class PacketDiag:
    """``packet_diag_msg`` and its attributes: one AF_PACKET socket."""

    type: int  # SOCK_RAW 3, SOCK_DGRAM 2
    protocol: int  # the ethertype given to socket()/bind(), host order (ETH_P_ALL 3)
    inode: int
    cookie: int
    info: PacketInfo | None = None
    uid: int | None = None
    meminfo: MemInfo | None = None
    fanout: int | None = None
    family: int = _AF_PACKET


Reply = InetDiag | UnixDiag | PacketDiag | Done | NlError


def _cookie(raw: bytes) -> int:
    lo, hi = _U32X2.unpack(raw)
    return int(lo | hi << 32)


def _need(layer: str, off: int, needed: int, got: int) -> None:
    if got < needed:
        raise NetlinkTruncatedError(layer, off, needed, got)


def _attrs(buf: bytes, off: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(type, value offset, value length) of each rtattr in buf[off:end]."""
    while off < end:
        _need("rtattr", off, _RTATTR.size, end - off)
        rta_len, rta_type = _RTATTR.unpack_from(buf, off)
        if rta_len < _RTATTR.size:
            raise NetlinkMalformedError("rtattr", off, f"rta_len {rta_len} below the 4-byte header")
        _need("rtattr", off, rta_len, end - off)
        yield rta_type & 0x3FFF, off + _RTATTR.size, rta_len - _RTATTR.size  # minus NLA_F_*
        off += _align(rta_len)


def _u32(buf: bytes, off: int, n: int, layer: str) -> int:
    _need(layer, off, 4, n)
    return int(_U32.unpack_from(buf, off)[0])


def _u8(buf: bytes, off: int, n: int, layer: str) -> int:
    _need(layer, off, 1, n)
    return buf[off]


def _meminfo(buf: bytes, off: int, n: int, layer: str) -> MemInfo:
    _need(layer, off, 16, n)
    count = min(n // 4, 9)
    return MemInfo(*struct.unpack_from(f"={count}I", buf, off))


def _ip_text(family: int, raw: bytes) -> str:
    if family == _AF_INET:
        return str(ipaddress.IPv4Address(raw[:4]))
    return str(ipaddress.IPv6Address(raw))


def _decode_inet(buf: bytes, off: int, end: int) -> InetDiag:
    _need("inet_diag_msg", off, INET_DIAG_MSG_LEN, end - off)
    (fam, state, timer, retrans, sport, dport, src, dst, ifindex, cookie,
     expires, rq, wq, uid, inode) = _INET_MSG.unpack_from(buf, off)  # fmt: skip
    extra: dict[str, object] = {}
    for kind, at, n in _attrs(buf, off + INET_DIAG_MSG_LEN, end):
        if kind == INET_DIAG_INFO:
            _need("tcp_info", at, TCP_INFO_MIN_LEN, n)
            extra["tcp_info"] = decode_tcp_info(buf, at, n)
        elif kind == INET_DIAG_SKMEMINFO:
            extra["meminfo"] = _meminfo(buf, at, n, "INET_DIAG_SKMEMINFO")
        elif kind == INET_DIAG_CONG:
            extra["cong"] = buf[at : at + n].split(b"\0", 1)[0].decode("ascii", "replace")
        elif kind == INET_DIAG_PROTOCOL:
            extra["protocol"] = _u8(buf, at, n, "INET_DIAG_PROTOCOL")
        elif kind == INET_DIAG_TOS:
            extra["tos"] = _u8(buf, at, n, "INET_DIAG_TOS")
        elif kind == INET_DIAG_TCLASS:
            extra["tclass"] = _u8(buf, at, n, "INET_DIAG_TCLASS")
        elif kind == INET_DIAG_SHUTDOWN:
            extra["shutdown"] = _u8(buf, at, n, "INET_DIAG_SHUTDOWN")
        elif kind == INET_DIAG_SKV6ONLY:
            extra["v6only"] = bool(_u8(buf, at, n, "INET_DIAG_SKV6ONLY"))
        elif kind == INET_DIAG_MARK:
            extra["mark"] = _u32(buf, at, n, "INET_DIAG_MARK")
    return InetDiag(
        fam, state, timer, retrans, _ip_text(fam, src), int.from_bytes(sport, "big"),
        _ip_text(fam, dst), int.from_bytes(dport, "big"), ifindex, _cookie(cookie),
        expires, rq, wq, uid, inode, **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def _unix_name(raw: bytes) -> str:
    if raw[:1] == b"\0":
        return "@" + raw[1:].decode("utf-8", "replace").replace("\0", "@")
    return os.fsdecode(raw.rstrip(b"\0"))


def _decode_unix(buf: bytes, off: int, end: int) -> UnixDiag:
    _need("unix_diag_msg", off, UNIX_DIAG_MSG_LEN, end - off)
    _fam, kind_, state, inode, cookie = _UNIX_MSG.unpack_from(buf, off)
    extra: dict[str, object] = {}
    for kind, at, n in _attrs(buf, off + UNIX_DIAG_MSG_LEN, end):
        if kind == UNIX_DIAG_NAME:
            extra["name"] = _unix_name(buf[at : at + n])
        elif kind == UNIX_DIAG_VFS:
            _need("UNIX_DIAG_VFS", at, 8, n)
            extra["vfs"] = _U32X2.unpack_from(buf, at)
        elif kind == UNIX_DIAG_PEER:
            extra["peer"] = _u32(buf, at, n, "UNIX_DIAG_PEER")
        elif kind == UNIX_DIAG_ICONS:
            extra["icons"] = struct.unpack_from(f"={n // 4}I", buf, at)
        elif kind == UNIX_DIAG_RQLEN:
            _need("UNIX_DIAG_RQLEN", at, 8, n)
            extra["rqueue"], extra["wqueue"] = _U32X2.unpack_from(buf, at)
        elif kind == UNIX_DIAG_MEMINFO:
            extra["meminfo"] = _meminfo(buf, at, n, "UNIX_DIAG_MEMINFO")
        elif kind == UNIX_DIAG_SHUTDOWN:
            extra["shutdown"] = _u8(buf, at, n, "UNIX_DIAG_SHUTDOWN")
        elif kind == UNIX_DIAG_UID:
            extra["uid"] = _u32(buf, at, n, "UNIX_DIAG_UID")
    return UnixDiag(kind_, state, inode, _cookie(cookie), **extra)  # type: ignore[arg-type]


def _decode_packet(buf: bytes, off: int, end: int) -> PacketDiag:
    _need("packet_diag_msg", off, PACKET_DIAG_MSG_LEN, end - off)
    _fam, kind_, num, inode, cookie = _PACKET_MSG.unpack_from(buf, off)
    extra: dict[str, object] = {}
    for kind, at, n in _attrs(buf, off + PACKET_DIAG_MSG_LEN, end):
        if kind == PACKET_DIAG_INFO:
            _need("PACKET_DIAG_INFO", at, _PACKET_INFO.size, n)
            extra["info"] = PacketInfo(*_PACKET_INFO.unpack_from(buf, at))
        elif kind == PACKET_DIAG_UID:
            extra["uid"] = _u32(buf, at, n, "PACKET_DIAG_UID")
        elif kind == PACKET_DIAG_MEMINFO:
            extra["meminfo"] = _meminfo(buf, at, n, "PACKET_DIAG_MEMINFO")
        elif kind == PACKET_DIAG_FANOUT:
            extra["fanout"] = _u32(buf, at, n, "PACKET_DIAG_FANOUT")
    return PacketDiag(kind_, num, inode, _cookie(cookie), **extra)  # type: ignore[arg-type]


_BY_FAMILY: dict[int, Callable[[bytes, int, int], Reply]] = {
    _AF_INET: _decode_inet,
    _AF_INET6: _decode_inet,
    _AF_UNIX: _decode_unix,
    _AF_PACKET: _decode_packet,
}


def _decode_one(buf: bytes, off: int, end: int, mtype: int, flags: int, seq: int) -> Reply | None:
    body = off + NLMSG_HDRLEN
    if mtype == NLMSG_DONE:  # the s32 payload is there since Linux 4.x; older sent none
        errno = -int(_S32.unpack_from(buf, body)[0]) if end - body >= 4 else 0
        return Done(seq, bool(flags & NLM_F_DUMP_INTR), errno)
    if mtype == NLMSG_ERROR:
        _need("nlmsgerr", body, 4, end - body)
        return NlError(seq, -int(_S32.unpack_from(buf, body)[0]))
    if mtype == NLMSG_NOOP:
        return None
    if mtype == NLMSG_OVERRUN:
        raise NetlinkMalformedError("nlmsghdr", off, "NLMSG_OVERRUN: the kernel lost data")
    if mtype != SOCK_DIAG_BY_FAMILY:
        raise NetlinkMalformedError("nlmsghdr", off, f"unexpected nlmsg_type {mtype}")
    _need("sock_diag", body, 1, end - body)
    decoder = _BY_FAMILY.get(buf[body])
    if decoder is None:
        raise NetlinkMalformedError("sock_diag", body, f"unknown address family {buf[body]}")
    return decoder(buf, body, end)


def decode_stream(data: bytes | bytearray | memoryview) -> list[Reply]:
    """Every message in ``data`` (one or more netlink datagrams joined), in order.
    NLMSG_NOOP is skipped. Raises ``NetlinkDecodeError`` on truncated or impossible input."""
    buf = bytes(data)
    out: list[Reply] = []
    off, total = 0, len(buf)
    while off < total:
        _need("nlmsghdr", off, NLMSG_HDRLEN, total - off)
        length, mtype, flags, seq, _pid = _NLMSGHDR.unpack_from(buf, off)
        if length < NLMSG_HDRLEN:
            raise NetlinkMalformedError(
                "nlmsghdr", off, f"nlmsg_len {length} below the 16-byte header"
            )
        _need("nlmsghdr", off, length, total - off)
        reply = _decode_one(buf, off, off + length, mtype, flags, seq)
        if reply is not None:
            out.append(reply)
        off += min(_align(length), total - off)
    return out
