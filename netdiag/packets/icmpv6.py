"""ICMPv6 (RFC 4443) and Neighbor Discovery (RFC 4861), with RFC 4884 extensions.

Layout: type (1), code (1), checksum (2, over the IPv6 pseudo-header, RFC 4443
§2.3), four type-specific bytes: identifier/sequence (echo), MTU (packet too
big), pointer (parameter problem), length in 64-bit words (RFC 4884, for
unreachable and time exceeded, byte 4). Errors (types < 128) quote the
original packet, decoded by the dispatcher into ``quoted``.

Neighbor Discovery bodies (RFC 4861 §4): RS (4 reserved), RA (hop limit, M/O
flags, router lifetime, reachable time, retrans timer), NS (target), NA
(R/S/O flags, target), redirect (target, destination), then options of
type (1), length in 8-byte units (1): link-layer addresses (1, 2), prefix
information (3), MTU (5); others kept raw.
"""

from __future__ import annotations

import struct

from netdiag.errors import DecodeError, MalformedError, TruncatedError
from netdiag.packets.addr import ip6_text, ip_bytes, mac_text
from netdiag.packets.checksum import internet_checksum, pseudo_header_sum, transport_checksum_ok
from netdiag.packets.icmpbase import HEADER_LEN, ICMPBase

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ICMPv6", "HEADER_LEN", "TYPE_NAMES", "NDOption", "build", "build_echo"]

_S = struct.Struct("!BBHI")  # type, code, checksum, rest (see icmpbase)
_RA = struct.Struct("!BBHII")
_PREFIX = struct.Struct("!BBII4x16s")

TYPE_NAMES = {
    1: "destination unreachable",
    2: "packet too big",
    3: "time exceeded",
    4: "parameter problem",
    128: "echo request",
    129: "echo reply",
    130: "multicast listener query",
    131: "multicast listener report",
    132: "multicast listener done",
    133: "router solicitation",
    134: "router advertisement",
    135: "neighbor solicitation",
    136: "neighbor advertisement",
    137: "redirect",
    143: "multicast listener report v2",
}
UNREACH_NAMES = {
    0: "no route",
    1: "administratively prohibited",
    2: "beyond scope",
    3: "address unreachable",
    4: "port unreachable",
    5: "source address failed policy",
    6: "reject route",
    7: "source routing header error",
}
# Where options start, counted from the ICMPv6 header (RFC 4861 §4.1-4.5).
_ND_OPTIONS_AT = {133: 8, 134: 16, 135: 24, 136: 24, 137: 40}
_ND_TARGET_TYPES = frozenset((135, 136, 137))


class NDOption:
    """One Neighbor Discovery option; ``value`` is decoded where the type is known."""

    __slots__ = ("type", "length", "value")

    def __init__(self, opt_type: int, length: int, value: Any) -> None:
        self.type = opt_type
        self.length = length
        self.value = value

    def fields(self) -> dict[str, Any]:
        v = self.value
        return {
            "type": self.type,
            "len": self.length,
            "value": v.hex() if isinstance(v, bytes) else v,
        }


class ICMPv6(ICMPBase):
    __slots__ = ()
    name = "icmpv6"

    def _rfc4884(self) -> tuple[int, bool]:
        return 8 * self.length, self.type in (1, 3)

    @property
    def id(self) -> int | None:
        return self.rest >> 16 if self.type in (128, 129) else None

    @property
    def seq(self) -> int | None:
        return self.rest & 0xFFFF if self.type in (128, 129) else None

    @property
    def mtu(self) -> int | None:
        return self.rest if self.type == 2 else None

    @property
    def pointer(self) -> int | None:
        return self.rest if self.type == 4 else None

    @property
    def length(self) -> int:
        return self.rest >> 24 if self.type in (1, 3) else 0

    @property
    def is_error(self) -> bool:
        return self.type < 128

    @property
    def checksum_ok(self) -> bool | None:
        return transport_checksum_ok(self._buf, self.offset, self.end, self._ip, 58)

    @property
    def target(self) -> str | None:
        """Target address of NS, NA and redirect."""
        if self.type not in _ND_TARGET_TYPES or self.end - self.offset < 24:
            return None
        p = self.offset + 8
        return ip6_text(bytes(self._buf[p : p + 16]))

    @property
    def nd_flags(self) -> str:
        """NA: R/S/O (RFC 4861 §4.4); RA: M/O (§4.2)."""
        if self.type == 136:
            bits = self.rest >> 24
            return "".join(c for m, c in ((0x80, "R"), (0x40, "S"), (0x20, "O")) if bits & m)
        if self.type == 134:
            bits = (self.rest >> 16) & 0xFF
            return "".join(c for m, c in ((0x80, "M"), (0x40, "O")) if bits & m)
        return ""

    @property
    def router_advert(self) -> dict[str, int] | None:
        if self.type != 134 or self.end - self.offset < 16:
            return None
        _t, _c, _ck, hop, _f, life, reach, retrans = struct.unpack_from(
            "!BBHBBHII", self._buf, self.offset
        )
        return {
            "hop_limit": hop,
            "router_lifetime": life,
            "reachable_time": reach,
            "retrans_timer": retrans,
        }

    @property
    def nd_options(self) -> list[NDOption]:
        """Options of an ND message; raises MalformedError on a bad option length."""
        at = _ND_OPTIONS_AT.get(self.type)
        if at is None:
            return []
        b, p, end = self._buf, self.offset + at, self.end
        out: list[NDOption] = []
        while p < end:
            if end - p < 2:
                raise TruncatedError("icmpv6.option", p, 2, end - p)
            kind, n8 = b[p], b[p + 1]
            n = n8 * 8
            if n == 0:
                raise MalformedError("icmpv6.option", p, "option length 0 (RFC 4861 §4.6)")
            if p + n > end:
                raise TruncatedError("icmpv6.option", p, n, end - p)
            body = bytes(b[p + 2 : p + n])
            value: Any = body
            if kind in (1, 2) and n == 8:
                value = mac_text(body[:6])
            elif kind == 3 and n == 32:
                plen, flags, valid, pref, prefix = _PREFIX.unpack(body)
                value = {
                    "prefix": f"{ip6_text(prefix)}/{plen}",
                    "flags": flags,
                    "valid": valid,
                    "preferred": pref,
                }
            elif kind == 5 and n == 8:
                value = int.from_bytes(body[2:6], "big")
            out.append(NDOption(kind, n, value))
            p += n
        return out

    @property
    def text(self) -> str:
        t, c = self.type, self.code
        if t == 1:
            return UNREACH_NAMES.get(c, f"unreachable code {c}")
        if t == 3:
            return "time exceeded " + ("in-transit" if c == 0 else "reassembly")
        return TYPE_NAMES.get(t, f"type {t}") + (f" code {c}" if c and t != 4 else "")

    def fields(self) -> dict[str, Any]:
        d = self._head_fields()
        t = self.type
        if t in (128, 129):
            d["id"] = self.id
            d["seq"] = self.seq
        elif t == 2:
            d["mtu"] = self.mtu
        elif t == 4:
            d["pointer"] = self.pointer
        elif t in (1, 3):
            d["length"] = self.length
        if t in _ND_TARGET_TYPES:
            d["target"] = self.target
        if t in (134, 136):
            d["flags"] = self.nd_flags
        if t == 134:
            d.update(self.router_advert or {})
        if t in _ND_OPTIONS_AT:
            try:
                d["options"] = [o.fields() for o in self.nd_options]
            except DecodeError as e:
                d["options_error"] = str(e)
        return self._quote_fields(d)


def build(
    icmp_type: int, code: int, rest: int, body: bytes, src: str | bytes, dst: str | bytes
) -> bytes:
    """Any ICMPv6 message; the checksum needs the IPv6 source and destination."""
    msg = bytearray(_S.pack(icmp_type, code, 0, rest) + body)
    start = pseudo_header_sum(ip_bytes(src), ip_bytes(dst), 58, len(msg))
    msg[2:4] = internet_checksum(msg, start).to_bytes(2, "big")
    return bytes(msg)


def build_echo(
    ident: int, seq: int, payload: bytes, src: str | bytes, dst: str | bytes, reply: bool = False
) -> bytes:
    """An echo request (128) or reply (129)."""
    return build(129 if reply else 128, 0, (ident << 16) | seq, payload, src, dst)
