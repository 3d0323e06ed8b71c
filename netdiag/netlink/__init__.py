"""Netlink message codecs (sans-IO) for NETLINK_SOCK_DIAG, the interface ``ss``
uses to list sockets: ``sockdiag`` for its constants and requests, ``diagreplies``
for the reply records and their decoder; ``tcpinfo`` for ``struct tcp_info``."""

from netdiag.netlink.diagreplies import (
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
    decode_stream,
)
from netdiag.netlink.sockdiag import build_inet_request, build_packet_request, build_unix_request
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
