"""Geneve (RFC 8926 §3.4), over UDP port 6081.

Layout: version (2 bits) and options length (6 bits, in 4-byte words), O (OAM)
and C (critical options present) bits and 6 reserved, protocol type (2, an
EtherType: 0x6558 for an Ethernet frame, or IPv4/IPv6), VNI (3), reserved (1),
then the options (RFC 8926 §3.5): class (2), type (1; its high bit marks a
critical option), 3 reserved bits and length (5 bits, in 4-byte words), data.
The options are walked within their declared length, never beyond it.
"""

from __future__ import annotations

import struct

from netdiag.errors import MalformedError, TruncatedError
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Geneve", "GeneveOption", "build", "build_option", "HEADER_LEN", "PORT"]

_S = struct.Struct("!BBHI")
_OPT = struct.Struct("!HBB")
HEADER_LEN = _S.size  # 8
PORT = 6081
FLAG_O = 0x80
FLAG_C = 0x40


@dataclass(frozen=True, slots=True)
class GeneveOption:
    cls: int
    type: int
    data: bytes

    @property
    def critical(self) -> bool:
        return bool(self.type & 0x80)

    def fields(self) -> dict[str, Any]:
        return {"class": self.cls, "type": self.type, "len": len(self.data), "data": self.data}


@dataclass(frozen=True, slots=True)
class Geneve:
    offset: int
    version: int
    flags: int  # the O and C bits (0x80, 0x40) and the reserved ones
    protocol: int
    vni: int
    options: tuple[GeneveOption, ...]
    header_len: int
    end: int
    name = "geneve"

    @classmethod
    def decode(cls, buf: bytes, off: int, end: int) -> Geneve:
        if end > len(buf):
            end = len(buf)
        if end - off < HEADER_LEN:
            raise TruncatedError("geneve", off, HEADER_LEN, end - off)
        vo, flags, proto, vni = _S.unpack_from(buf, off)
        version = vo >> 6
        if version != 0:
            raise MalformedError("geneve", off, f"version {version}")
        hlen = HEADER_LEN + (vo & 0x3F) * 4
        if end - off < hlen:
            raise TruncatedError("geneve", off, hlen, end - off)
        opts: list[GeneveOption] = []
        at, stop = off + HEADER_LEN, off + hlen
        while at < stop:
            if stop - at < _OPT.size:
                raise MalformedError("geneve", at, f"option header of {stop - at} bytes")
            ocls, otype, olen = _OPT.unpack_from(buf, at)
            n = (olen & 0x1F) * 4
            if stop - at - _OPT.size < n:
                raise MalformedError("geneve", at, f"option length {n} beyond the options")
            opts.append(GeneveOption(ocls, otype, bytes(buf[at + 4 : at + 4 + n])))
            at += 4 + n
        return cls(off, version, flags, proto, vni >> 8, tuple(opts), hlen, end)

    @property
    def payload_offset(self) -> int:
        return self.offset + self.header_len

    @property
    def options_len(self) -> int:
        return self.header_len - HEADER_LEN

    @property
    def oam(self) -> bool:
        return bool(self.flags & FLAG_O)

    @property
    def critical(self) -> bool:
        return bool(self.flags & FLAG_C)

    def fields(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "oam": self.oam,
            "critical": self.critical,
            "proto": self.protocol,
            "vni": self.vni,
            "options_len": self.options_len,
            "options": [o.fields() for o in self.options],
        }


def build_option(cls: int, type_: int, data: bytes = b"") -> bytes:
    if len(data) % 4 or len(data) > 124:
        raise ValueError("Geneve option data is a multiple of 4 bytes, at most 124")
    return _OPT.pack(cls, type_, len(data) // 4) + data


def build(
    vni: int,
    protocol: int,
    payload: bytes = b"",
    *,
    options: bytes = b"",
    oam: bool = False,
    critical: bool = False,
) -> bytes:
    """A Geneve header with ``options`` (``build_option`` joined) and the payload."""
    if len(options) % 4 or len(options) > 252:
        raise ValueError("Geneve options are a multiple of 4 bytes, at most 252")
    flags = (FLAG_O if oam else 0) | (FLAG_C if critical else 0)
    return _S.pack(len(options) // 4, flags, protocol, (vni & 0xFFFFFF) << 8) + options + payload
