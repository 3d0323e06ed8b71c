"""sock_diag (NETLINK_SOCK_DIAG) numbers and requests: the kernel's constants, built into dumps.

This module contains no networking code at all: it names the constants of the
kernel's sock_diag interface once, and turns field values into the bytes of a
dump request. Decoding the kernel's answers into frozen records lives in
``netdiag.netlink.diagreplies``, which takes its numbers from here; the socket
loop lives in ``netdiag.sockets.dump``.

Layouts (the kernel's UAPI headers; netlink integers are in host byte order):

- linux/netlink.h: ``nlmsghdr`` (len u32, type u16, flags u16, seq u32, pid
  u32), NLMSG_* message types, NLM_F_* flags.
- linux/sock_diag.h: SOCK_DIAG_BY_FAMILY (20).
- linux/inet_diag.h: ``inet_diag_req_v2`` (56 bytes), INET_DIAG_* attributes.
- linux/unix_diag.h: ``unix_diag_req`` (24), UNIX_DIAG_* attributes, UDIAG_SHOW_*.
- linux/packet_diag.h: ``packet_diag_req`` (20), PACKET_DIAG_* attributes, PACKET_SHOW_*.
"""

from __future__ import annotations

import struct

__all__ = [
    "NETLINK_SOCK_DIAG", "SOCK_DIAG_BY_FAMILY", "NLMSG_NOOP", "NLMSG_ERROR", "NLMSG_DONE",
    "NLMSG_OVERRUN", "NLM_F_REQUEST", "NLM_F_MULTI", "NLM_F_DUMP", "NLM_F_DUMP_INTR",
    "ALL_STATES", "INET_DIAG_MEMINFO", "INET_DIAG_INFO", "INET_DIAG_VEGASINFO",
    "INET_DIAG_CONG", "INET_DIAG_TOS", "INET_DIAG_TCLASS", "INET_DIAG_SKMEMINFO",
    "INET_DIAG_SHUTDOWN", "INET_DIAG_PROTOCOL", "INET_DIAG_SKV6ONLY", "INET_DIAG_MARK",
    "UNIX_DIAG_NAME", "UNIX_DIAG_VFS", "UNIX_DIAG_PEER", "UNIX_DIAG_ICONS", "UNIX_DIAG_RQLEN",
    "UNIX_DIAG_MEMINFO", "UNIX_DIAG_SHUTDOWN", "UNIX_DIAG_UID", "UDIAG_SHOW_ALL",
    "PACKET_DIAG_INFO", "PACKET_DIAG_FANOUT", "PACKET_DIAG_UID", "PACKET_DIAG_MEMINFO",
    "PACKET_SHOW_ALL", "AF_INET", "AF_INET6", "AF_UNIX", "AF_PACKET", "NLMSGHDR",
    "NLMSG_HDRLEN", "build_inet_request", "build_unix_request", "build_packet_request",
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

# address families (linux/socket.h), the first byte of every request and reply body
AF_INET, AF_INET6, AF_UNIX, AF_PACKET = 2, 10, 1, 17

NLMSGHDR = struct.Struct("=IHHII")  # nlmsghdr
NLMSG_HDRLEN = NLMSGHDR.size  # 16
_INET_REQ = struct.Struct("=BBBBI2s2s16s16sI8s")  # inet_diag_req_v2: 56 bytes
_UNIX_REQ = struct.Struct("=BBHIII8s")  # unix_diag_req: 24 bytes
_PACKET_REQ = struct.Struct("=BBHII8s")  # packet_diag_req: 20 bytes
_NOCOOKIE = b"\xff" * 8


def _nlmsg(payload: bytes, seq: int, pid: int) -> bytes:
    hdr = NLMSGHDR.pack(
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
    return _nlmsg(_UNIX_REQ.pack(AF_UNIX, 0, 0, states, 0, show, _NOCOOKIE), seq, pid)


def build_packet_request(*, show: int = PACKET_SHOW_ALL, seq: int = 1, pid: int = 0) -> bytes:
    return _nlmsg(_PACKET_REQ.pack(AF_PACKET, 0, 0, 0, show, _NOCOOKIE), seq, pid)
