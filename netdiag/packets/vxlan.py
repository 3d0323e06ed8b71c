"""VXLAN (RFC 7348 §5), over UDP port 4789.

Layout: flags (1; bit I, 0x08, says the VNI is valid), reserved (3), VNI (3),
reserved (1). An Ethernet frame follows. dispatch.py decodes UDP datagrams to
port 4789 as VXLAN (as tshark and tcpdump do) and goes on into the inner frame.
"""

from __future__ import annotations

import struct

from netdiag.errors import TruncatedError
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["VXLAN", "build", "HEADER_LEN", "PORT", "FLAG_I"]

_S = struct.Struct("!II")
HEADER_LEN = _S.size  # 8
PORT = 4789
FLAG_I = 0x08


@dataclass(frozen=True, slots=True)
class VXLAN:
    offset: int
    flags: int
    vni: int
    reserved: int  # the 24 bits after the flags and the 8 after the VNI, as one number
    end: int
    name = "vxlan"
    header_len = HEADER_LEN

    @classmethod
    def decode(cls, buf: bytes, off: int, end: int) -> VXLAN:
        if end > len(buf):
            end = len(buf)
        if end - off < HEADER_LEN:
            raise TruncatedError("vxlan", off, HEADER_LEN, end - off)
        a, b = _S.unpack_from(buf, off)
        return cls(off, a >> 24, b >> 8, (a & 0xFFFFFF) << 8 | b & 0xFF, end)

    @property
    def payload_offset(self) -> int:
        return self.offset + HEADER_LEN

    def fields(self) -> dict[str, Any]:
        return {"flags": self.flags, "vni": self.vni}


def build(vni: int, payload: bytes = b"", flags: int = FLAG_I) -> bytes:
    """A VXLAN header (flags, VNI) and the inner Ethernet frame."""
    return _S.pack(flags << 24, (vni & 0xFFFFFF) << 8) + payload
