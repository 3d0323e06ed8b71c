"""Linux NFLOG (LINKTYPE_NFLOG, 239): netfilter log messages.

Layout (tcpdump.org LINKTYPE_NFLOG): address family (1: 2 IPv4, 10 IPv6),
version (1, 0), resource ID (2, big-endian: the log group), then TLVs: length
(2) and type (2), both in the byte order of the host that captured (we take
little-endian, and big-endian when that reads as impossible), the length
counting the 4-byte TLV header, each TLV padded to 4 bytes. TLV 9
(NFULA_PAYLOAD) holds the packet, starting at its IP header; TLV 10 the log
prefix, 1 the hardware protocol and hook.
"""

from __future__ import annotations

import struct

from netdiag.errors import MalformedError, TruncatedError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["NFLog", "build", "TLV_PAYLOAD", "TLV_PREFIX", "FAMILY_NAMES"]

HEADER_LEN = 4
TLV_PACKET_HDR, TLV_PREFIX, TLV_PAYLOAD = 1, 10, 9
FAMILY_NAMES = {2: "IPv4", 10: "IPv6"}
_ETHERTYPES = {2: 0x0800, 10: 0x86DD}


class NFLog:
    __slots__ = ("family", "version", "resource_id", "tlvs", "payload_offset", "offset",
                 "header_len", "prefix", "payload_end")  # fmt: skip
    name = "nflog"

    family: int
    version: int
    resource_id: int
    tlvs: tuple[tuple[int, int], ...]  # (type, value length)
    payload_offset: int | None
    payload_end: int
    offset: int
    header_len: int
    prefix: bytes | None

    @property
    def end(self) -> int:
        """Where the payload TLV ends (``Packet.payload`` reads up to here)."""
        return self.payload_end

    @classmethod
    def decode(cls, buf: bytes, off: int = 0) -> NFLog:
        got = len(buf) - off
        if got < HEADER_LEN:
            raise TruncatedError("nflog", off, HEADER_LEN, got)
        h = cls()
        h.offset = off
        h.family, h.version = buf[off], buf[off + 1]
        h.resource_id = buf[off + 2] << 8 | buf[off + 3]
        h.payload_offset = h.prefix = None
        h.payload_end = len(buf)
        tlvs = []
        pos = off + HEADER_LEN
        n = len(buf)
        while pos < n:
            if n - pos < 4:
                raise TruncatedError("nflog", pos, 4, n - pos)
            length, kind = struct.unpack_from("<HH", buf, pos)
            if length < 4 or pos + length > n:
                blen, bkind = struct.unpack_from(">HH", buf, pos)
                if 4 <= blen and pos + blen <= n:
                    length, kind = blen, bkind
            if length < 4:
                raise MalformedError("nflog", pos, f"TLV length {length} < 4")
            if pos + length > n:
                raise TruncatedError("nflog", pos, length, n - pos)
            tlvs.append((kind, length - 4))
            if kind == TLV_PAYLOAD and h.payload_offset is None:
                h.payload_offset = pos + 4
                h.payload_end = pos + length
            elif kind == TLV_PREFIX and h.prefix is None:
                h.prefix = bytes(buf[pos + 4 : pos + length]).rstrip(b"\0")
            pos += (length + 3) // 4 * 4
        h.tlvs = tuple(tlvs)
        h.header_len = (h.payload_offset if h.payload_offset is not None else n) - off
        return h

    @property
    def ethertype(self) -> int:
        return _ETHERTYPES.get(self.family, 0) if self.payload_offset is not None else 0

    def fields(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "family": self.family,
            "version": self.version,
            "resource_id": self.resource_id,
            "tlvs": [{"type": t, "length": n} for t, n in self.tlvs],
        }
        if self.prefix is not None:
            d["prefix"] = self.prefix.decode("latin-1")
        return d


def build(payload: bytes, family: int = 2, resource_id: int = 0, prefix: bytes = b"") -> bytes:
    """An NFLOG record (little-endian TLVs) with an optional prefix TLV and the payload TLV."""
    out = bytearray((family, 0)) + resource_id.to_bytes(2, "big")
    for kind, value in ((TLV_PREFIX, prefix + b"\0" if prefix else b""), (TLV_PAYLOAD, payload)):
        if not value and kind == TLV_PREFIX:
            continue
        out += struct.pack("<HH", len(value) + 4, kind) + value
        out += b"\0" * (-len(value) % 4)
    return bytes(out)
