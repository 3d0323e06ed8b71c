"""UDP (RFC 768).

Layout: source port (2), destination port (2), length (2, header included),
checksum (2). Over IPv4 a zero checksum means "not computed" (``checksum_ok``
is then None); over IPv6 it is invalid (RFC 8200 §8.1) and reported False.

``UDP`` has no ``__init__`` (STYLE habit 9): ``decode`` validates and fills the
slots, and the dispatcher (dispatch.py) fills them itself for a plainly valid
header. The checksum is read from the buffer when asked.
"""

from __future__ import annotations

import struct

from netdiag.errors import MalformedError, TruncatedError
from netdiag.packets.addr import ip_bytes
from netdiag.packets.checksum import internet_checksum, pseudo_header_sum, transport_checksum_ok

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["UDP", "HEADER_LEN", "HOT", "build"]

_S = struct.Struct("!HHHH")
HEADER_LEN = _S.size  # 8
HOT = struct.Struct("!HHH")  # ports and length: what the dispatcher reads
_U16 = struct.Struct("!H")


class UDP:
    __slots__ = ("_buf", "_ip", "offset", "sport", "dport", "length", "end")
    _buf: bytes
    _ip: Any  # the IP layer carrying it (IPv4 | IPv6 | None), for the checksum
    offset: int
    sport: int
    dport: int
    length: int
    end: int
    name = "udp"
    header_len = HEADER_LEN
    partial = False

    @classmethod
    def decode(cls, buf: bytes, off: int, end: int, ip: Any = None, quoted: bool = False) -> UDP:
        """The datagram at ``off``, ending by ``end``, carried by ``ip`` (for the checksum)."""
        got = end - off
        if got < HEADER_LEN:
            raise TruncatedError("udp", off, HEADER_LEN, got)
        sport, dport, length = HOT.unpack_from(buf, off)
        if length < HEADER_LEN and not (length == 0 and ip is not None and ip.version == 6):
            raise MalformedError("udp", off, f"length {length} < 8")
        dg = cls()
        dg.sport = sport
        dg.dport = dport
        dg._buf = buf
        dg._ip = ip
        dg.offset = off
        dg.length = length
        dg.end = min(end, off + length) if length else end
        return dg

    @property
    def checksum(self) -> int:
        return int(_U16.unpack_from(self._buf, self.offset + 6)[0])

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
