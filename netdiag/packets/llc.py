"""IEEE 802.2 LLC, and the SNAP header (RFC 1042) that carries an EtherType on 802 LANs.

Layout: DSAP (1), SSAP (1), control (1; 2 for I and S frames, whose low bits are
not 0b11). With DSAP = SSAP = 0xAA and control 0x03 (UI), a SNAP header follows:
OUI (3) and protocol ID (2), which for OUI 00-00-00 (or 00-00-F8) is an EtherType.
"""

from __future__ import annotations

import struct

from netdiag.errors import TruncatedError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Llc", "build", "SAP_SNAP"]

SAP_SNAP = 0xAA
_SNAP = struct.Struct("!3sH")


class Llc:
    __slots__ = ("dsap", "ssap", "control", "oui", "pid", "offset", "header_len")
    name = "llc"

    dsap: int
    ssap: int
    control: int
    oui: int | None
    pid: int | None
    offset: int
    header_len: int

    @classmethod
    def decode(cls, buf: bytes, off: int = 0) -> Llc:
        got = len(buf) - off
        if got < 3:
            raise TruncatedError("llc", off, 3, got)
        h = cls()
        h.offset = off
        h.dsap, h.ssap, h.control = buf[off], buf[off + 1], buf[off + 2]
        h.oui = h.pid = None
        if h.control & 0x03 != 0x03:  # I or S frame: a 16-bit control field
            if got < 4:
                raise TruncatedError("llc", off, 4, got)
            h.control = h.control | buf[off + 3] << 8
            h.header_len = 4
        elif h.dsap == SAP_SNAP and h.ssap == SAP_SNAP and h.control == 0x03:
            if got < 8:
                raise TruncatedError("snap", off + 3, 5, got - 3)
            oui, h.pid = _SNAP.unpack_from(buf, off + 3)
            h.oui = int.from_bytes(oui, "big")
            h.header_len = 8
        else:
            h.header_len = 3
        return h

    @property
    def ethertype(self) -> int | None:
        """The EtherType a SNAP header carries (OUI 0 or 0xF8, RFC 1042 / 802.1H)."""
        if self.pid is not None and self.oui in (0, 0xF8):
            return self.pid
        return None

    def fields(self) -> dict[str, Any]:
        d: dict[str, Any] = {"dsap": self.dsap, "ssap": self.ssap, "control": self.control}
        if self.pid is not None:
            d["oui"] = self.oui
            d["pid"] = self.pid
        return d


def build(ethertype: int, payload: bytes = b"", oui: int = 0) -> bytes:
    """A SNAP header (AA AA 03, OUI, protocol) then ``payload``."""
    return bytes((SAP_SNAP, SAP_SNAP, 3)) + _SNAP.pack(oui.to_bytes(3, "big"), ethertype) + payload
