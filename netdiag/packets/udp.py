"""UDP (RFC 768).

Layout: source port (2), destination port (2), length (2, header included),
checksum (2). Over IPv4 a zero checksum means "not computed" (``checksum_ok``
is then None); over IPv6 it is invalid (RFC 8200 §8.1) and reported False.
"""

from __future__ import annotations

import struct
from typing import Any

from netdiag.errors import MalformedError, TruncatedError
from netdiag.packets.addr import ip_bytes
from netdiag.packets.checksum import internet_checksum, pseudo_header_sum, transport_checksum_ok

__all__ = ["UDP", "HEADER_LEN", "build"]

_S = struct.Struct("!HHHH")
HEADER_LEN = _S.size  # 8


class UDP:
    __slots__ = ("_buf", "_ip", "offset", "sport", "dport", "length", "checksum", "end")
    _buf: bytes
    offset: int
    sport: int
    dport: int
    length: int
    checksum: int
    end: int
    name = "udp"
    header_len = HEADER_LEN
    partial = False

    def __init__(
        self, buf: bytes, off: int, end: int, ip: Any = None, quoted: bool = False
    ) -> None:
        got = end - off
        if got < HEADER_LEN:
            raise TruncatedError("udp", off, HEADER_LEN, got)
        self.sport, self.dport, length, self.checksum = _S.unpack_from(buf, off)
        if length < HEADER_LEN and not (length == 0 and ip is not None and ip.version == 6):
            raise MalformedError("udp", off, f"length {length} < 8")
        self._buf = buf
        self._ip = ip
        self.offset = off
        self.length = length
        self.end = min(end, off + length) if length else end

    @property
    def payload_offset(self) -> int:
        return self.offset + HEADER_LEN

    @property
    def payload_length(self) -> int:
        return self.end - self.offset - HEADER_LEN

    @property
    def checksum_ok(self) -> bool | None:
        ip = self._ip
        if ip is None:
            return None
        if self.checksum == 0:
            return None if ip.version == 4 else False
        if self.end - self.offset != self.length:
            return None
        return transport_checksum_ok(self._buf, self.offset, self.end, ip, 17)

    def fields(self) -> dict[str, Any]:
        return {
            "sport": self.sport,
            "dport": self.dport,
            "len": self.length,
            "checksum": self.checksum,
            "checksum_ok": self.checksum_ok,
        }


def build(
    sport: int,
    dport: int,
    payload: bytes = b"",
    *,
    src: str | bytes | None = None,
    dst: str | bytes | None = None,
) -> bytes:
    """A UDP datagram; with ``src``/``dst`` its checksum covers the pseudo-header
    (a computed zero is sent as 0xffff, RFC 768)."""
    n = HEADER_LEN + len(payload)
    if n > 0xFFFF:
        raise ValueError(f"UDP datagram of {n} bytes exceeds 65535")
    csum = 0
    if src is not None and dst is not None:
        dg = _S.pack(sport, dport, n, 0) + payload
        csum = (
            internet_checksum(dg, pseudo_header_sum(ip_bytes(src), ip_bytes(dst), 17, n)) or 0xFFFF
        )
    return _S.pack(sport, dport, n, csum) + payload
