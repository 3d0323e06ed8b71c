"""IPv4 (RFC 791).

Layout (RFC 791 §3.1): version/IHL (1), TOS (1: DSCP 6 bits, ECN 2 bits,
RFC 2474/3168), total length (2), identification (2), flags/fragment offset
(2: reserved, DF, MF, 13-bit offset in 8-byte units), TTL (1), protocol (1),
header checksum (2), source (4), destination (4), options (IHL*4 - 20).

Hot path (STYLE habit 9; ``make bench`` measures it). ``IPv4`` has no
``__init__``: ``decode`` validates ``HOT`` (one unpack) and fills six slots, and
the dispatcher (dispatch.py) fills them itself for a plain header without
options. The slots hold what nearly every reader wants: protocol, addresses as
text (from the pair cache of addr.py), where the datagram is. The rest is read
from the buffer when asked (properties): on CPython 3.11 a slot store is cheap
but not free, and a property read costs a C-to-Python call, so a field is a
slot only when most packets have it read.
``end`` is where the datagram ends in the buffer: the total length, cut to what
was captured (``truncated`` says so) and never counting link-layer padding.
"""

from __future__ import annotations

import struct

from netdiag.errors import MalformedError, TruncatedError
from netdiag.packets.addr import PAIR_TEXT, ip4_pair_text, ip_bytes
from netdiag.packets.checksum import internet_checksum, verify

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["IPv4", "HEADER_LEN", "HOT", "build", "FLAG_DF", "FLAG_MF"]

_S = struct.Struct("!BBHHHBBH4s4s")
HEADER_LEN = _S.size  # 20
# What is read up front (the dispatcher reads it too): version/IHL, total length,
# flags/fragment offset, protocol, and source and destination as one 64-bit int
# (the key of addr.PAIR_TEXT).
HOT = struct.Struct("!BxH2xHxBxxQ")
_U16 = struct.Struct("!H")

FLAG_DF = 0x4000
FLAG_MF = 0x2000
_OFFSET_MASK = 0x1FFF

# RFC 791 §3.1 option types with a name; others are listed by number.
OPTION_NAMES = {
    0: "eol",
    1: "nop",
    7: "rr",
    68: "ts",
    130: "sec",
    131: "lsrr",
    137: "ssrr",
    136: "sid",
    148: "ra",
}


class IPv4:
    __slots__ = ("_buf", "offset", "protocol", "end", "src", "dst")
    _buf: bytes
    offset: int
    protocol: int
    proto: int  # alias of ``protocol``, bound below the class
    end: int
    src: str
    dst: str
    name = "ipv4"
    version = 4

    @classmethod
    def decode(cls, buf: bytes, off: int = 0, end: int | None = None) -> IPv4:
        """The header at ``off``; the datagram ends by ``end`` (default: the buffer's)."""
        if end is None:
            end = len(buf)
        got = end - off
        if got < HEADER_LEN:
            raise TruncatedError("ipv4", off, HEADER_LEN, got)
        vihl, tlen, _frag, proto, addrs = HOT.unpack_from(buf, off)
        if vihl >> 4 != 4:
            raise MalformedError("ipv4", off, f"version {vihl >> 4}, not 4")
        hl = (vihl & 0x0F) * 4
        if hl < HEADER_LEN:
            raise MalformedError("ipv4", off, f"header length {hl} < 20 (ihl {hl // 4})")
        if tlen < hl:
            raise MalformedError("ipv4", off, f"total length {tlen} < header length {hl}")
        if got < hl:
            raise TruncatedError("ipv4", off, hl, got)
        ip = cls()
        ip._buf = buf
        ip.offset = off
        ip.protocol = proto
        ip.end = off + tlen if off + tlen <= end else end
        ip.src, ip.dst = PAIR_TEXT.get(addrs) or ip4_pair_text(addrs)
        return ip

    # From the buffer, when asked.
    @property
    def header_len(self) -> int:
        return (self._buf[self.offset] & 0x0F) * 4

    @property
    def total_length(self) -> int:
        return int(_U16.unpack_from(self._buf, self.offset + 2)[0])

    @property
    def frag(self) -> int:
        """Flags and fragment offset, as on the wire."""
        return int(_U16.unpack_from(self._buf, self.offset + 6)[0])

    @property
    def truncated(self) -> bool:
        """The capture holds less than the total length."""
        return self.end - self.offset < self.total_length

    @property
    def ihl(self) -> int:
        return self.header_len // 4

    @property
    def tos(self) -> int:
        return self._buf[self.offset + 1]

    @property
    def id(self) -> int:
        return int(_U16.unpack_from(self._buf, self.offset + 4)[0])

    @property
    def ttl(self) -> int:
        return self._buf[self.offset + 8]

    @property
    def checksum(self) -> int:
        return int(_U16.unpack_from(self._buf, self.offset + 10)[0])

    @property
    def src_raw(self) -> bytes:
        o = self.offset + 12
        return bytes(self._buf[o : o + 4])

    @property
    def dst_raw(self) -> bytes:
        o = self.offset + 16
        return bytes(self._buf[o : o + 4])

    # Names shared with IPv6 and the issues' JSON.
    @property
    def hop_limit(self) -> int:
        return self.ttl

    @property
    def payload_offset(self) -> int:
        return self.offset + self.header_len

    @property
    def payload_length(self) -> int:
        """Upper-layer length the header declares (may exceed what was captured)."""
        return self.total_length - self.header_len

    @property
    def dscp(self) -> int:
        return self.tos >> 2

    @property
    def ecn(self) -> int:
        return self.tos & 3

    @property
    def df(self) -> bool:
        return bool(self.frag & FLAG_DF)

    @property
    def mf(self) -> bool:
        return bool(self.frag & FLAG_MF)

    @property
    def frag_offset(self) -> int:
        """Fragment offset in bytes."""
        return (self.frag & _OFFSET_MASK) * 8

    @property
    def is_fragment(self) -> bool:
        return bool(self.frag & (FLAG_MF | _OFFSET_MASK))

    @property
    def checksum_ok(self) -> bool:
        o = self.offset
        return verify(memoryview(self._buf)[o : o + self.header_len])

    @property
    def options(self) -> list[tuple[int, bytes]]:
        """Options as (type, data); a malformed remainder is listed as (-1, bytes)."""
        b = self._buf
        p = self.offset + HEADER_LEN
        stop = self.offset + self.header_len
        out: list[tuple[int, bytes]] = []
        while p < stop:
            kind = b[p]
            if kind == 0:
                out.append((0, b""))
                break
            if kind == 1:
                out.append((1, b""))
                p += 1
                continue
            if p + 1 >= stop or b[p + 1] < 2 or p + b[p + 1] > stop:
                out.append((-1, bytes(b[p:stop])))
                break
            n = b[p + 1]
            out.append((kind, bytes(b[p + 2 : p + n])))
            p += n
        return out

    def fields(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "src": self.src,
            "dst": self.dst,
            "proto": self.protocol,
            "ttl": self.ttl,
            "id": self.id,
            "tos": self.tos,
            "len": self.total_length,
            "ihl": self.ihl,
            "df": self.df,
            "mf": self.mf,
            "frag_offset": self.frag_offset,
            "checksum": self.checksum,
            "checksum_ok": self.checksum_ok,
        }
        if self.header_len > HEADER_LEN:
            d["options"] = [
                {
                    "type": t,
                    "name": OPTION_NAMES.get(t, "malformed" if t < 0 else str(t)),
                    "data": v.hex(),
                }
                for t, v in self.options
            ]
        if self.truncated:
            d["truncated"] = True
        return d


# ``proto`` (the issues' JSON name) reads the same slot as ``protocol``, at no cost.
setattr(IPv4, "proto", IPv4.__dict__["protocol"])  # noqa: B010


def build(
    src: str | bytes,
    dst: str | bytes,
    proto: int,
    payload: bytes = b"",
    *,
    ttl: int = 64,
    tos: int = 0,
    ident: int = 0,
    df: bool = False,
    mf: bool = False,
    frag_offset: int = 0,
    options: bytes = b"",
    total_length: int | None = None,
) -> bytes:
    """An IPv4 datagram with a correct header checksum. ``frag_offset`` is in bytes."""
    if len(options) % 4:
        options += b"\x00" * (4 - len(options) % 4)
    hl = HEADER_LEN + len(options)
    if hl > 60:
        raise ValueError(f"IPv4 options make a {hl}-byte header; at most 60")
    if frag_offset % 8 or not 0 <= frag_offset <= _OFFSET_MASK * 8:
        raise ValueError(f"fragment offset {frag_offset} is not a multiple of 8 within range")
    tlen = hl + len(payload) if total_length is None else total_length
    frag = (FLAG_DF if df else 0) | (FLAG_MF if mf else 0) | (frag_offset // 8)
    head = (
        _S.pack(
            0x40 | (hl // 4), tos, tlen, ident, frag, ttl, proto, 0, ip_bytes(src), ip_bytes(dst)
        )
        + options
    )
    csum = internet_checksum(head)
    return head[:10] + csum.to_bytes(2, "big") + head[12:] + payload
