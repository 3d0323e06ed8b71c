"""ICMP for IPv4 (RFC 792) with RFC 1191 next-hop MTU and RFC 4884 extensions.

Layout: type (1), code (1), checksum (2), four type-specific bytes, body.
The four bytes are: identifier/sequence (echo, timestamp, information, mask);
gateway (redirect); pointer (parameter problem); unused/length/next-hop MTU
(unreachable: byte 5 is the RFC 4884 length in 32-bit words, bytes 6-7 the
RFC 1191 MTU for code 4); unused/length (time exceeded).

Error messages quote the original datagram. Its bytes are ``quoted_span``;
the dispatcher decodes them into ``quoted`` (a Packet, in quoted mode, where a
TCP header may be only its first 8 bytes). Extensions (``extensions``) follow
the quote: where the RFC 4884 length says, or, for senders from before it, at
byte 128 when a valid version-2 structure is found there (RFC 4884 §5).
"""

from __future__ import annotations

import struct

from netdiag.packets.checksum import internet_checksum, verify
from netdiag.packets.icmpbase import HEADER_LEN, ICMPBase
from netdiag.packets.icmpext import ORIGINAL_DATAGRAM_MIN

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ICMP",
    "HEADER_LEN",
    "ERROR_TYPES",
    "TYPE_NAMES",
    "UNREACH_NAMES",
    "build",
    "build_echo",
    "build_error",
]

_S = struct.Struct("!BBHI")  # type, code, checksum, rest (see icmpbase)
_ECHO = struct.Struct("!BBHHH")

ERROR_TYPES = frozenset((3, 4, 5, 11, 12))
_RFC4884_TYPES = frozenset((3, 11, 12))
_ID_SEQ_TYPES = frozenset((0, 8, 13, 14, 15, 16, 17, 18))

TYPE_NAMES = {
    0: "echo reply",
    3: "unreachable",
    4: "source quench",
    5: "redirect",
    8: "echo request",
    9: "router advertisement",
    10: "router solicitation",
    11: "time exceeded",
    12: "parameter problem",
    13: "time stamp request",
    14: "time stamp reply",
    15: "information request",
    16: "information reply",
    17: "address mask request",
    18: "address mask reply",
}
UNREACH_NAMES = {
    0: "net unreachable",
    1: "host unreachable",
    2: "protocol unreachable",
    3: "port unreachable",
    4: "fragmentation needed",
    5: "source route failed",
    6: "net unknown",
    7: "host unknown",
    8: "source host isolated",
    9: "net prohibited",
    10: "host prohibited",
    11: "net unreachable for TOS",
    12: "host unreachable for TOS",
    13: "communication prohibited",
    14: "host precedence violation",
    15: "precedence cutoff",
}
TIMXCEED_NAMES = {0: "in-transit", 1: "reassembly"}
REDIRECT_NAMES = {0: "net", 1: "host", 2: "tos net", 3: "tos host"}


class ICMP(ICMPBase):
    __slots__ = ()
    name = "icmp"

    def _rfc4884(self) -> tuple[int, bool]:
        return 4 * self.length, True

    @property
    def id(self) -> int | None:
        return self.rest >> 16 if self.type in _ID_SEQ_TYPES else None

    @property
    def seq(self) -> int | None:
        return self.rest & 0xFFFF if self.type in _ID_SEQ_TYPES else None

    @property
    def mtu(self) -> int | None:
        """Next-hop MTU of 'fragmentation needed' (RFC 1191 §4)."""
        return self.rest & 0xFFFF if self.type == 3 and self.code == 4 else None

    @property
    def gateway(self) -> str | None:
        if self.type != 5:
            return None
        return ".".join(str(x) for x in self.rest.to_bytes(4, "big"))

    @property
    def pointer(self) -> int | None:
        return self.rest >> 24 if self.type == 12 else None

    @property
    def length(self) -> int:
        """RFC 4884 length of the original datagram, in 32-bit words (0: not given)."""
        return (self.rest >> 16) & 0xFF if self.type in _RFC4884_TYPES else 0

    @property
    def is_error(self) -> bool:
        return self.type in ERROR_TYPES

    @property
    def checksum_ok(self) -> bool | None:
        ip = self._ip
        if ip is not None and (
            ip.truncated or self.end - self.offset != ip.payload_length or ip.mf
        ):  # a first fragment: the checksum covers the whole
            return None
        return verify(memoryview(self._buf)[self.offset : self.end])

    @property
    def text(self) -> str:
        """The type and code in words: 'port unreachable', 'time exceeded in-transit'."""
        t, c = self.type, self.code
        if t == 3:
            return UNREACH_NAMES.get(c, f"unreachable code {c}")
        if t == 11:
            return "time exceeded " + TIMXCEED_NAMES.get(c, f"code {c}")
        if t == 5:
            return "redirect " + REDIRECT_NAMES.get(c, f"code {c}")
        return TYPE_NAMES.get(t, f"type {t}") + (f" code {c}" if c and t not in (12,) else "")

    def fields(self) -> dict[str, Any]:
        d = self._head_fields()
        if self.type in _ID_SEQ_TYPES:
            d["id"] = self.id
            d["seq"] = self.seq
        elif self.type == 3 and self.code == 4:
            d["mtu"] = self.mtu
        elif self.type == 5:
            d["gateway"] = self.gateway
        elif self.type == 12:
            d["pointer"] = self.pointer
        if self.type in _RFC4884_TYPES:
            d["length"] = self.length
        return self._quote_fields(d)


def build(icmp_type: int, code: int, rest: int = 0, body: bytes = b"") -> bytes:
    """Any ICMP message, checksum filled in; ``rest`` is the 4 type-specific bytes."""
    msg = bytearray(_S.pack(icmp_type, code, 0, rest) + body)
    msg[2:4] = internet_checksum(msg).to_bytes(2, "big")
    return bytes(msg)


def build_echo(ident: int, seq: int, payload: bytes = b"", reply: bool = False) -> bytes:
    """An echo request (type 8) or reply (type 0)."""
    return build(0 if reply else 8, 0, (ident << 16) | seq, payload)


def build_error(
    icmp_type: int,
    code: int,
    original: bytes,
    *,
    mtu: int = 0,
    pointer: int = 0,
    extensions: bytes = b"",
) -> bytes:
    """An error quoting ``original``; with ``extensions`` (from icmpext.build_extensions)
    the quote is padded to 128 bytes and its length set as RFC 4884 §4.1 says."""
    rest = mtu if icmp_type == 3 else (pointer << 24 if icmp_type == 12 else 0)
    if extensions:
        if len(original) < ORIGINAL_DATAGRAM_MIN:
            original += b"\x00" * (ORIGINAL_DATAGRAM_MIN - len(original))
        original += b"\x00" * (-len(original) % 4)
        rest |= (len(original) // 4) << 16
    return build(icmp_type, code, rest, original + extensions)
