"""ERSPAN: Cisco's encapsulated remote SPAN, inside GRE (draft-foschiano-erspan-03).

GRE protocol 0x88be carries type I (no sequence number in GRE, no ERSPAN header)
or type II (GRE with a sequence number, then 8 bytes: version 1 (4 bits), VLAN
(12), class of service (3), encapsulation (2), truncated (1), session id (10);
reserved (12) and index (20)); GRE protocol 0x22eb carries type III (12 bytes:
version 2, VLAN, class of service, bad/short/oversized (2), truncated, session
id; a timestamp (32); security group tag (16), P (1), frame type (5; 0 is
Ethernet), hardware id (6), direction (1), timestamp granularity (2) and O (1),
which adds an 8-byte platform-specific subheader). The mirrored Ethernet frame
follows (type III with another frame type stops the walk).
"""

from __future__ import annotations

import struct

from netdiag.errors import MalformedError, TruncatedError
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ERSPAN", "build_ii", "build_iii", "PROTO_I_II", "PROTO_III"]

_II = struct.Struct("!II")
_III = struct.Struct("!IIHH")
PROTO_I_II = 0x88BE
PROTO_III = 0x22EB
BSO_NAMES = {0: "Good/unknown", 1: "Short", 2: "Oversized", 3: "Bad"}


@dataclass(frozen=True, slots=True)
class ERSPAN:
    offset: int
    type: int  # 1, 2 or 3 (ERSPAN type; the version field is type - 1)
    header_len: int
    end: int
    vlan: int = 0
    cos: int = 0
    encap: int = 0  # type II: encapsulation; type III: bad/short/oversized
    truncated: bool = False
    session: int = 0
    index: int = 0  # type II
    timestamp: int = 0  # type III
    sgt: int = 0
    frame_type: int = 0
    hw_id: int = 0
    direction: bool = False
    granularity: int = 0
    name = "erspan"

    @classmethod
    def decode(cls, buf: bytes, off: int, end: int, proto: int, gre_seq: bool) -> ERSPAN:
        """The header after a GRE header of protocol ``proto`` (``gre_seq``: it had a
        sequence number, which tells type II from type I)."""
        if end > len(buf):
            end = len(buf)
        if proto == PROTO_I_II and not gre_seq:
            return cls(off, 1, 0, end)
        if proto == PROTO_I_II:
            if end - off < _II.size:
                raise TruncatedError("erspan", off, _II.size, end - off)
            a, b = _II.unpack_from(buf, off)
            if a >> 28 != 1:
                raise MalformedError("erspan", off, f"version {a >> 28} for type II")
            return cls(
                off, 2, 8, end, a >> 16 & 0xFFF, a >> 13 & 7, a >> 11 & 3, bool(a & 0x400),
                a & 0x3FF, b & 0xFFFFF,
            )  # fmt: skip
        if end - off < _III.size:
            raise TruncatedError("erspan", off, _III.size, end - off)
        a, ts, sgt, c = _III.unpack_from(buf, off)
        if a >> 28 != 2:
            raise MalformedError("erspan", off, f"version {a >> 28} for type III")
        hlen = _III.size + (8 if c & 1 else 0)
        if end - off < hlen:
            raise TruncatedError("erspan", off, hlen, end - off)
        return cls(
            off, 3, hlen, end, a >> 16 & 0xFFF, a >> 13 & 7, a >> 11 & 3, bool(a & 0x400),
            a & 0x3FF, 0, ts, sgt, c >> 10 & 0x1F, c >> 4 & 0x3F, bool(c & 8), c >> 1 & 3,
        )  # fmt: skip

    @property
    def payload_offset(self) -> int:
        return self.offset + self.header_len

    def fields(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type}
        if self.type == 1:
            return d
        d.update(
            session=self.session,
            vlan=self.vlan,
            cos=self.cos,
            encap=self.encap,
            truncated=self.truncated,
        )
        if self.type == 2:
            d["index"] = self.index
        else:
            d.update(
                timestamp=self.timestamp,
                sgt=self.sgt,
                frame_type=self.frame_type,
                hw_id=self.hw_id,
                direction=self.direction,
                granularity=self.granularity,
            )
        return d


def build_ii(session: int, payload: bytes = b"", *, vlan: int = 0, cos: int = 0, encap: int = 0,
             index: int = 0) -> bytes:  # fmt: skip
    """A type II header (to follow GRE protocol 0x88be with a sequence number)."""
    a = 1 << 28 | (vlan & 0xFFF) << 16 | (cos & 7) << 13 | (encap & 3) << 11 | session & 0x3FF
    return _II.pack(a, index & 0xFFFFF) + payload


def build_iii(session: int, payload: bytes = b"", *, vlan: int = 0, timestamp: int = 0,
              sgt: int = 0, hw_id: int = 0, direction: bool = False) -> bytes:  # fmt: skip
    """A type III header without platform subheader (GRE protocol 0x22eb), Ethernet."""
    a = 2 << 28 | (vlan & 0xFFF) << 16 | session & 0x3FF
    c = (hw_id & 0x3F) << 4 | (8 if direction else 0)
    return _III.pack(a, timestamp & 0xFFFFFFFF, sgt, c) + payload
