"""Cisco HDLC (LINKTYPE_C_HDLC, 104).

Layout: address (1: 0x0F unicast, 0x8F broadcast), control (1, 0), protocol
(2: an EtherType; 0x8035 is SLARP).
"""

from __future__ import annotations

import struct

from netdiag.errors import TruncatedError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["CiscoHDLC", "build", "HEADER_LEN", "UNICAST", "BROADCAST"]

_S = struct.Struct("!BBH")
HEADER_LEN = _S.size
UNICAST, BROADCAST = 0x0F, 0x8F


class CiscoHDLC:
    __slots__ = ("address", "control", "type", "offset")
    name = "chdlc"
    header_len = HEADER_LEN

    address: int
    control: int
    type: int
    offset: int

    @classmethod
    def decode(cls, buf: bytes, off: int = 0) -> CiscoHDLC:
        got = len(buf) - off
        if got < HEADER_LEN:
            raise TruncatedError("chdlc", off, HEADER_LEN, got)
        h = cls()
        h.address, h.control, h.type = _S.unpack_from(buf, off)
        h.offset = off
        return h

    @property
    def ethertype(self) -> int:
        return self.type

    def fields(self) -> dict[str, Any]:
        return {"address": self.address, "control": self.control, "type": self.type}


def build(ethertype: int, payload: bytes = b"", address: int = UNICAST) -> bytes:
    return _S.pack(address, 0, ethertype) + payload
