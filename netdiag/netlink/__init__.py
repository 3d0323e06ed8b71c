"""Netlink message codecs (sans-IO): ``sockdiag`` for NETLINK_SOCK_DIAG, the
interface ``ss`` uses to list sockets; ``tcpinfo`` for ``struct tcp_info``."""

from netdiag.netlink.sockdiag import (
    Done,
    InetDiag,
    MemInfo,
    NetlinkDecodeError,
    NetlinkMalformedError,
    NetlinkTruncatedError,
    NlError,
    PacketDiag,
    PacketInfo,
    UnixDiag,
    build_inet_request,
    build_packet_request,
    build_unix_request,
    decode_stream,
)
from netdiag.netlink.tcpinfo import TcpInfo

__all__ = [
    "decode_stream",
    "build_inet_request",
    "build_unix_request",
    "build_packet_request",
    "Done",
    "NlError",
    "InetDiag",
    "UnixDiag",
    "PacketDiag",
    "PacketInfo",
    "MemInfo",
    "TcpInfo",
    "NetlinkDecodeError",
    "NetlinkTruncatedError",
    "NetlinkMalformedError",
]
