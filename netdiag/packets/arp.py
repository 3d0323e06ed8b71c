"""ARP (RFC 826). Ethernet/IPv4 ARP is decoded into addresses; other hardware
or protocol types keep their raw address bytes (``sha`` etc. are then hex)."""

from __future__ import annotations

import struct

from netdiag.errors import TruncatedError
from netdiag.packets.addr import ip4_text, mac_bytes, mac_text

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Arp", "HEADER_LEN", "build"]

_S = struct.Struct("!HHBBH")  # htype, ptype, hlen, plen, op
HEADER_LEN = _S.size  # 8, before the variable-length addresses
_LENS = struct.Struct("!BB")  # hlen, plen, at byte 4
_U16 = struct.Struct("!H")

OP_NAMES = {1: "Request", 2: "Reply", 3: "Reverse Request", 4: "Reverse Reply"}


class Arp:
    """No ``__init__`` (STYLE habit 9): ``decode`` validates and fills the slots;
    the other fields are read from the buffer when asked."""

    __slots__ = ("_buf", "hlen", "plen", "offset")
    _buf: bytes
    hlen: int
    plen: int
    name = "arp"
    offset: int

    @classmethod
    def decode(cls, buf: bytes, off: int = 0) -> Arp:
        """Validate and build (layer classes have no ``__init__``; see dispatch.py)."""
        got = len(buf) - off
        if got < HEADER_LEN:
            raise TruncatedError("arp", off, HEADER_LEN, got)
        hlen, plen = _LENS.unpack_from(buf, off + 4)
        need = HEADER_LEN + 2 * (hlen + plen)
        if got < need:
            raise TruncatedError("arp", off, need, got)
        a = cls()
        a._buf = buf
        a.hlen = hlen
        a.plen = plen
        a.offset = off
        return a

    @property
    def htype(self) -> int:
        return int(_U16.unpack_from(self._buf, self.offset)[0])

    @property
    def ptype(self) -> int:
        return int(_U16.unpack_from(self._buf, self.offset + 2)[0])

    @property
    def op(self) -> int:
        return int(_U16.unpack_from(self._buf, self.offset + 6)[0])

    @property
    def length(self) -> int:
        """Header and addresses."""
        return HEADER_LEN + 2 * (self.hlen + self.plen)

    @property
    def header_len(self) -> int:
        return self.length

    @property
    def payload_offset(self) -> int:
        """ARP carries nothing after its addresses: what follows is link padding."""
        return self.offset + self.length

    @property
    def end(self) -> int:
        return self.offset + self.length

    def _addr(self, index: int) -> bytes:
        """Address ``index`` of sha, spa, tha, tpa."""
        h, p = self.hlen, self.plen
        at = self.offset + HEADER_LEN + (0, h, h + p, 2 * h + p)[index]
        return bytes(self._buf[at : at + (h if index % 2 == 0 else p)])

    @property
    def sha_raw(self) -> bytes:
        return self._addr(0)

    @property
    def spa_raw(self) -> bytes:
        return self._addr(1)

    @property
    def tha_raw(self) -> bytes:
        return self._addr(2)

    @property
    def tpa_raw(self) -> bytes:
        return self._addr(3)

    def _hw(self, b: bytes) -> str:
        return mac_text(b) if self.hlen == 6 else b.hex()

    def _proto(self, b: bytes) -> str:
        return ip4_text(b) if self.plen == 4 and self.ptype == 0x0800 else b.hex()

    @property
    def sha(self) -> str:
        return self._hw(self.sha_raw)

    @property
    def tha(self) -> str:
        return self._hw(self.tha_raw)

    @property
    def spa(self) -> str:
        return self._proto(self.spa_raw)

    @property
    def tpa(self) -> str:
        return self._proto(self.tpa_raw)

    def fields(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "htype": self.htype,
            "ptype": self.ptype,
            "sha": self.sha,
            "spa": self.spa,
            "tha": self.tha,
            "tpa": self.tpa,
        }


def build(op: int, sha: str | bytes, spa: bytes, tha: str | bytes, tpa: bytes) -> bytes:
    """Ethernet/IPv4 ARP; ``spa``/``tpa`` are packed IPv4 addresses."""
    return _S.pack(1, 0x0800, 6, 4, op) + mac_bytes(sha) + spa + mac_bytes(tha) + tpa
