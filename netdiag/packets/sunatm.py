"""SunATM (LINKTYPE_SUNATM, 123): a 4-byte pseudo-header before an AAL5 PDU.

Layout (libpcap's SUNATM_* positions): flags (1: 0x80 direction, 1 = transmitted;
the low nibble the traffic type: 0 raw, 1 LANE, 2 LLC), VPI (1), VCI (2,
big-endian). LLC traffic carries LLC/SNAP (``llc.py``), and through it IP.
"""

from __future__ import annotations

from netdiag.errors import TruncatedError
from netdiag.packets.llc import Llc

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SunATM", "build", "HEADER_LEN", "PT_LANE", "PT_LLC"]

HEADER_LEN = 4
PT_LANE, PT_LLC = 0x01, 0x02


class SunATM:
    __slots__ = ("flags", "vpi", "vci", "llc", "offset", "header_len")
    name = "sunatm"

    flags: int
    vpi: int
    vci: int
    llc: Llc | None
    offset: int
    header_len: int

    @classmethod
    def decode(cls, buf: bytes, off: int = 0) -> SunATM:
        got = len(buf) - off
        if got < HEADER_LEN:
            raise TruncatedError("sunatm", off, HEADER_LEN, got)
        h = cls()
        h.offset = off
        h.flags, h.vpi = buf[off], buf[off + 1]
        h.vci = buf[off + 2] << 8 | buf[off + 3]
        h.llc = None
        h.header_len = HEADER_LEN
        if h.traffic_type == PT_LLC and got > HEADER_LEN:
            h.llc = Llc.decode(buf, off + HEADER_LEN)
            h.header_len += h.llc.header_len
        return h

    @property
    def traffic_type(self) -> int:
        return self.flags & 0x0F

    @property
    def transmitted(self) -> bool:
        return bool(self.flags & 0x80)

    @property
    def ethertype(self) -> int:
        et = self.llc.ethertype if self.llc is not None else None
        return et or 0

    def fields(self) -> dict[str, Any]:
        d: dict[str, Any] = {"flags": self.flags, "vpi": self.vpi, "vci": self.vci}
        if self.llc is not None:
            d["llc"] = self.llc.fields()
        return d


def build(vpi: int, vci: int, payload: bytes = b"", traffic_type: int = PT_LLC,
          transmitted: bool = False) -> bytes:  # fmt: skip
    return (
        bytes((traffic_type | (0x80 if transmitted else 0), vpi)) + vci.to_bytes(2, "big") + payload
    )
