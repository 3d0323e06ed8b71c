"""ARP (RFC 826). Ethernet/IPv4 ARP is decoded into addresses; other hardware
or protocol types keep their raw address bytes (``sha`` etc. are then hex)."""

from __future__ import annotations

import struct
from typing import Any

from netdiag.errors import TruncatedError
from netdiag.packets.addr import ip4_text, mac_bytes, mac_text

__all__ = ["Arp", "HEADER_LEN", "build"]

_S = struct.Struct("!HHBBH")  # htype, ptype, hlen, plen, op
HEADER_LEN = _S.size  # 8, before the variable-length addresses

OP_NAMES = {1: "Request", 2: "Reply", 3: "Reverse Request", 4: "Reverse Reply"}


class Arp:
    __slots__ = ("htype", "ptype", "hlen", "plen", "op", "sha_raw", "spa_raw", "tha_raw",
                 "tpa_raw", "offset", "length")
    name = "arp"

    def __init__(self, buf: bytes, off: int = 0) -> None:
        got = len(buf) - off
        if got < HEADER_LEN:
            raise TruncatedError("arp", off, HEADER_LEN, got)
        self.htype, self.ptype, hlen, plen, self.op = _S.unpack_from(buf, off)
        need = HEADER_LEN + 2 * (hlen + plen)
        if got < need:
            raise TruncatedError("arp", off, need, got)
        self.hlen = hlen
        self.plen = plen
        p = off + HEADER_LEN
        self.sha_raw = bytes(buf[p : p + hlen])
        p += hlen
        self.spa_raw = bytes(buf[p : p + plen])
        p += plen
        self.tha_raw = bytes(buf[p : p + hlen])
        p += hlen
        self.tpa_raw = bytes(buf[p : p + plen])
        self.offset = off
        self.length = need

    @property
    def header_len(self) -> int:
        return self.length

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
        return {"op": self.op, "htype": self.htype, "ptype": self.ptype, "sha": self.sha,
                "spa": self.spa, "tha": self.tha, "tpa": self.tpa}


def build(op: int, sha: str | bytes, spa: bytes, tha: str | bytes, tpa: bytes) -> bytes:
    """Ethernet/IPv4 ARP; ``spa``/``tpa`` are packed IPv4 addresses."""
    return _S.pack(1, 0x0800, 6, 4, op) + mac_bytes(sha) + spa + mac_bytes(tha) + tpa
