"""Frame Relay (LINKTYPE_FRELAY, 107): a Q.922 address, then RFC 2427 or Cisco framing.

Layout (ITU-T Q.922 §3.3): a 2-byte address (more bytes while the EA bit is 0,
up to 4): DLCI high 6 bits, C/R, EA; DLCI 4 bits, FECN, BECN, DE, EA; a 4-byte
address adds 7 DLCI bits and EA; a 3- or 4-byte one ends with 6 DLCI bits, D/C, EA.
Then either RFC 2427 (control 0x03, UI; an NLPID: 0xCC IPv4, 0x8E IPv6, 0x80
SNAP (OUI and PID follow), 0x00 a pad byte before the NLPID) or Cisco's
encapsulation (an EtherType right after the address).
"""

from __future__ import annotations

from netdiag.errors import MalformedError, TruncatedError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["FrameRelay", "build", "NLPID_NAMES"]

NLPID_NAMES = {0xCC: "IP", 0x8E: "IPv6", 0x80: "SNAP", 0x81: "CLNP", 0x82: "ES-IS",
               0x83: "IS-IS", 0x08: "Q.933", 0xB0: "FRF.15", 0xB1: "FRF.12"}  # fmt: skip
_NLPID_ETHERTYPES = {0xCC: 0x0800, 0x8E: 0x86DD}


class FrameRelay:
    __slots__ = ("addr_len", "dlci", "fecn", "becn", "de", "cr", "dc", "control", "nlpid",
                 "cisco_type", "snap_pid", "offset", "header_len")  # fmt: skip
    name = "framerelay"

    addr_len: int
    dlci: int
    fecn: bool
    becn: bool
    de: bool
    cr: bool
    dc: bool
    control: int | None
    nlpid: int | None
    cisco_type: int | None
    snap_pid: int | None
    offset: int
    header_len: int

    @classmethod
    def decode(cls, buf: bytes, off: int = 0) -> FrameRelay:
        n = len(buf)
        got = n - off
        if got < 2:
            raise TruncatedError("framerelay", off, 2, got)
        h = cls()
        h.offset = off
        b0, b1 = buf[off], buf[off + 1]
        if b0 & 1:
            raise MalformedError("framerelay", off, "EA bit set in the first address byte")
        alen = 2
        while not buf[off + alen - 1] & 1:
            alen += 1
            if alen > 4:
                raise MalformedError("framerelay", off, "address longer than 4 bytes")
            if got < alen:
                raise TruncatedError("framerelay", off, alen, got)
        h.addr_len = alen
        dlci = (b0 >> 2) << 4 | b1 >> 4
        h.dc = False
        if alen == 4:  # the third byte adds 7 DLCI bits
            dlci = dlci << 7 | buf[off + 2] >> 1
        if alen >= 3:  # the last byte adds 6 (its D/C bit set: DL-CORE control)
            last = buf[off + alen - 1]
            dlci = dlci << 6 | last >> 2
            h.dc = bool(last & 2)
        h.dlci = dlci
        h.cr, h.fecn, h.becn, h.de = bool(b0 & 2), bool(b1 & 8), bool(b1 & 4), bool(b1 & 2)
        h.control = h.nlpid = h.cisco_type = h.snap_pid = None
        pos = off + alen
        if got < alen + 1:
            raise TruncatedError("framerelay", off, alen + 1, got)
        if buf[pos] == 0x03:
            h.control = 0x03
            pos += 1
            if pos < n and buf[pos] == 0x00:  # padding before the NLPID (RFC 2427 §3)
                pos += 1
            if pos >= n:
                raise TruncatedError("framerelay", off, pos - off + 1, got)
            h.nlpid = buf[pos]
            pos += 1
            if h.nlpid == 0x80:
                if n - pos < 5:
                    raise TruncatedError("framerelay", pos, 5, n - pos)
                h.snap_pid = buf[pos + 3] << 8 | buf[pos + 4]
                pos += 5
        else:
            if got < alen + 2:
                raise TruncatedError("framerelay", off, alen + 2, got)
            h.cisco_type = buf[pos] << 8 | buf[pos + 1]
            pos += 2
        h.header_len = pos - off
        return h

    @property
    def ethertype(self) -> int:
        if self.cisco_type is not None:
            return self.cisco_type
        if self.snap_pid is not None:
            return self.snap_pid
        return _NLPID_ETHERTYPES.get(self.nlpid or -1, 0)

    @property
    def flags_text(self) -> str:
        """The flags as tcpdump lists them (C/R as ``C!``)."""
        names = [n for n, on in (("C!", self.cr), ("DE", self.de), ("BECN", self.becn),
                                 ("FECN", self.fecn), ("sdlcore", self.dc)) if on]  # fmt: skip
        return ", ".join(names) if names else "none"

    def fields(self) -> dict[str, Any]:
        d: dict[str, Any] = {"dlci": self.dlci, "addr_len": self.addr_len, "fecn": self.fecn,
                             "becn": self.becn, "de": self.de, "cr": self.cr}  # fmt: skip
        for k in ("control", "nlpid", "cisco_type", "snap_pid"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        return d


def build(dlci: int, payload: bytes = b"", nlpid: int | None = 0xCC,
          cisco_type: int | None = None) -> bytes:  # fmt: skip
    """A 2-byte Q.922 address, then RFC 2427 UI + ``nlpid`` or a Cisco EtherType."""
    addr = bytes(((dlci >> 4) << 2 & 0xFC, (dlci & 0x0F) << 4 | 1))
    if cisco_type is not None:
        return addr + cisco_type.to_bytes(2, "big") + payload
    return addr + bytes((0x03, nlpid or 0)) + payload
