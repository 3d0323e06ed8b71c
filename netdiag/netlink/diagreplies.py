"""sock_diag (NETLINK_SOCK_DIAG) replies: the frozen records, and the decoder of a reply stream.

This module contains no networking code at all: it turns the bytes the kernel
answers a dump request with into frozen records (``InetDiag``, ``UnixDiag``,
``PacketDiag``, and ``Done``/``NlError`` for the end of a dump). The constants
and the requests live in ``netdiag.netlink.sockdiag``; the socket loop lives in
``netdiag.sockets.dump``. The records are what the rest of netdiag reads, so
they live here with the length-checking decoder that makes them, apart from the
requests.

Layouts (the kernel's UAPI headers; netlink integers are in host byte order,
the addresses and ports of ``inet_diag_sockid`` in network byte order):

- linux/netlink.h: ``nlmsghdr`` (len u32, type u16, flags u16, seq u32, pid
  u32), ``nlmsgerr`` (error s32, then the offending header), payloads aligned
  to 4 bytes (NLMSG_ALIGN); ``rtattr``/``nlattr`` (len u16, type u16, value,
  aligned to 4).
- linux/sock_diag.h: SK_MEMINFO_* (u32 array).
- linux/inet_diag.h: ``inet_diag_msg`` (72), INET_DIAG_* attributes;
  linux/tcp.h: ``struct tcp_info`` (``tcpinfo.py``).
- linux/unix_diag.h: ``unix_diag_msg`` (16), UNIX_DIAG_*.
- linux/packet_diag.h: ``packet_diag_msg`` (16), PACKET_DIAG_*.

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

from netdiag.errors import DecodeError, MalformedError, TruncatedError
from netdiag.netlink import sockdiag as sd
from netdiag.netlink.tcpinfo import TCP_INFO_MIN_LEN, TcpInfo, decode_tcp_info
from netdiag.records import dataclass

__all__ = [
    "INET_DIAG_MSG_LEN", "UNIX_DIAG_MSG_LEN", "PACKET_DIAG_MSG_LEN",
    "NetlinkDecodeError", "NetlinkTruncatedError", "NetlinkMalformedError",
    "Done", "NlError", "MemInfo", "InetDiag", "UnixDiag", "PacketInfo", "PacketDiag",
    "Reply", "decode_stream", "TcpInfo",
]  # fmt: skip

_RTATTR = struct.Struct("=HH")
_S32 = struct.Struct("=i")
_U32 = struct.Struct("=I")
_U32X2 = struct.Struct("=II")
_INET_MSG = struct.Struct("=BBBB2s2s16s16sI8sIIIII")  # inet_diag_msg
_UNIX_MSG = struct.Struct("=BBBxI8s")  # unix_diag_msg
_PACKET_MSG = struct.Struct("=BBHI8s")  # packet_diag_msg
_MEMINFO = struct.Struct("=IIII")  # inet_diag_meminfo
_PACKET_INFO = struct.Struct("=IIIIII")  # packet_diag_info
INET_DIAG_MSG_LEN, UNIX_DIAG_MSG_LEN, PACKET_DIAG_MSG_LEN = 72, 16, 16


class NetlinkDecodeError(DecodeError):
    """A sock_diag reply could not be decoded (layer = the structure, offset in the stream)."""


class NetlinkTruncatedError(NetlinkDecodeError, TruncatedError):
    """The stream ended before the structure did."""


class NetlinkMalformedError(NetlinkDecodeError, MalformedError):
    """A length or type field is impossible."""


def _align(n: int) -> int:
    return (n + 3) & ~3


# -- records -----------------------------------------------------------------------------


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
    family: int = sd.AF_UNIX


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
    family: int = sd.AF_PACKET


Reply = InetDiag | UnixDiag | PacketDiag | Done | NlError


# -- decoding ----------------------------------------------------------------------------


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
    if family == sd.AF_INET:
        return str(ipaddress.IPv4Address(raw[:4]))
    return str(ipaddress.IPv6Address(raw))


def _decode_inet(buf: bytes, off: int, end: int) -> InetDiag:
    _need("inet_diag_msg", off, INET_DIAG_MSG_LEN, end - off)
    (fam, state, timer, retrans, sport, dport, src, dst, ifindex, cookie,
     expires, rq, wq, uid, inode) = _INET_MSG.unpack_from(buf, off)  # fmt: skip
    extra: dict[str, object] = {}
    for kind, at, n in _attrs(buf, off + INET_DIAG_MSG_LEN, end):
        if kind == sd.INET_DIAG_INFO:
            _need("tcp_info", at, TCP_INFO_MIN_LEN, n)
            extra["tcp_info"] = decode_tcp_info(buf, at, n)
        elif kind == sd.INET_DIAG_SKMEMINFO:
            extra["meminfo"] = _meminfo(buf, at, n, "INET_DIAG_SKMEMINFO")
        elif kind == sd.INET_DIAG_CONG:
            extra["cong"] = buf[at : at + n].split(b"\0", 1)[0].decode("ascii", "replace")
        elif kind == sd.INET_DIAG_PROTOCOL:
            extra["protocol"] = _u8(buf, at, n, "INET_DIAG_PROTOCOL")
        elif kind == sd.INET_DIAG_TOS:
            extra["tos"] = _u8(buf, at, n, "INET_DIAG_TOS")
        elif kind == sd.INET_DIAG_TCLASS:
            extra["tclass"] = _u8(buf, at, n, "INET_DIAG_TCLASS")
        elif kind == sd.INET_DIAG_SHUTDOWN:
            extra["shutdown"] = _u8(buf, at, n, "INET_DIAG_SHUTDOWN")
        elif kind == sd.INET_DIAG_SKV6ONLY:
            extra["v6only"] = bool(_u8(buf, at, n, "INET_DIAG_SKV6ONLY"))
        elif kind == sd.INET_DIAG_MARK:
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
        if kind == sd.UNIX_DIAG_NAME:
            extra["name"] = _unix_name(buf[at : at + n])
        elif kind == sd.UNIX_DIAG_VFS:
            _need("UNIX_DIAG_VFS", at, 8, n)
            extra["vfs"] = _U32X2.unpack_from(buf, at)
        elif kind == sd.UNIX_DIAG_PEER:
            extra["peer"] = _u32(buf, at, n, "UNIX_DIAG_PEER")
        elif kind == sd.UNIX_DIAG_ICONS:
            extra["icons"] = struct.unpack_from(f"={n // 4}I", buf, at)
        elif kind == sd.UNIX_DIAG_RQLEN:
            _need("UNIX_DIAG_RQLEN", at, 8, n)
            extra["rqueue"], extra["wqueue"] = _U32X2.unpack_from(buf, at)
        elif kind == sd.UNIX_DIAG_MEMINFO:
            extra["meminfo"] = _meminfo(buf, at, n, "UNIX_DIAG_MEMINFO")
        elif kind == sd.UNIX_DIAG_SHUTDOWN:
            extra["shutdown"] = _u8(buf, at, n, "UNIX_DIAG_SHUTDOWN")
        elif kind == sd.UNIX_DIAG_UID:
            extra["uid"] = _u32(buf, at, n, "UNIX_DIAG_UID")
    return UnixDiag(kind_, state, inode, _cookie(cookie), **extra)  # type: ignore[arg-type]


def _decode_packet(buf: bytes, off: int, end: int) -> PacketDiag:
    _need("packet_diag_msg", off, PACKET_DIAG_MSG_LEN, end - off)
    _fam, kind_, num, inode, cookie = _PACKET_MSG.unpack_from(buf, off)
    extra: dict[str, object] = {}
    for kind, at, n in _attrs(buf, off + PACKET_DIAG_MSG_LEN, end):
        if kind == sd.PACKET_DIAG_INFO:
            _need("PACKET_DIAG_INFO", at, _PACKET_INFO.size, n)
            extra["info"] = PacketInfo(*_PACKET_INFO.unpack_from(buf, at))
        elif kind == sd.PACKET_DIAG_UID:
            extra["uid"] = _u32(buf, at, n, "PACKET_DIAG_UID")
        elif kind == sd.PACKET_DIAG_MEMINFO:
            extra["meminfo"] = _meminfo(buf, at, n, "PACKET_DIAG_MEMINFO")
        elif kind == sd.PACKET_DIAG_FANOUT:
            extra["fanout"] = _u32(buf, at, n, "PACKET_DIAG_FANOUT")
    return PacketDiag(kind_, num, inode, _cookie(cookie), **extra)  # type: ignore[arg-type]


_BY_FAMILY: dict[int, Callable[[bytes, int, int], Reply]] = {
    sd.AF_INET: _decode_inet,
    sd.AF_INET6: _decode_inet,
    sd.AF_UNIX: _decode_unix,
    sd.AF_PACKET: _decode_packet,
}


def _decode_one(buf: bytes, off: int, end: int, mtype: int, flags: int, seq: int) -> Reply | None:
    body = off + sd.NLMSG_HDRLEN
    if mtype == sd.NLMSG_DONE:  # the s32 payload is there since Linux 4.x; older sent none
        errno = -int(_S32.unpack_from(buf, body)[0]) if end - body >= 4 else 0
        return Done(seq, bool(flags & sd.NLM_F_DUMP_INTR), errno)
    if mtype == sd.NLMSG_ERROR:
        _need("nlmsgerr", body, 4, end - body)
        return NlError(seq, -int(_S32.unpack_from(buf, body)[0]))
    if mtype == sd.NLMSG_NOOP:
        return None
    if mtype == sd.NLMSG_OVERRUN:
        raise NetlinkMalformedError("nlmsghdr", off, "NLMSG_OVERRUN: the kernel lost data")
    if mtype != sd.SOCK_DIAG_BY_FAMILY:
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
        _need("nlmsghdr", off, sd.NLMSG_HDRLEN, total - off)
        length, mtype, flags, seq, _pid = sd.NLMSGHDR.unpack_from(buf, off)
        if length < sd.NLMSG_HDRLEN:
            raise NetlinkMalformedError(
                "nlmsghdr", off, f"nlmsg_len {length} below the 16-byte header"
            )
        _need("nlmsghdr", off, length, total - off)
        reply = _decode_one(buf, off, off + length, mtype, flags, seq)
        if reply is not None:
            out.append(reply)
        off += min(_align(length), total - off)
    return out
