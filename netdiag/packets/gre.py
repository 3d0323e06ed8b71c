"""GRE: Generic Routing Encapsulation (RFC 2784, RFC 2890 key and sequence; RFC 2637
enhanced GRE, version 1, as PPTP uses it; RFC 1701 routing).

Layout (RFC 2784 §2, RFC 2890 §2): flags and version (2: C, R, K, S, s, recursion,
A for version 1, version), protocol type (2, an EtherType), then each present
optional field in order: checksum and offset (4, when C or R), key (4, when K;
in version 1 the payload length and call id), sequence number (4, when S),
acknowledgment number (4, version 1 with A), and with R the source route
entries (RFC 1701 §2.1: address family, offset, length, then the route),
ending with a null entry. ``decode`` bounds the route walk by the datagram.

The payload starts at ``payload_offset`` and is dispatched by ``protocol``
(IPv4, IPv6, transparent Ethernet bridging 0x6558, MPLS, ...) in dispatch.py.
"""

from __future__ import annotations

import struct

from netdiag.errors import MalformedError, TruncatedError
from netdiag.packets.checksum import internet_checksum
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["GRE", "build", "HEADER_LEN", "TEB", "FLAG_C", "FLAG_R", "FLAG_K", "FLAG_S"]

_S = struct.Struct("!HH")
_U32 = struct.Struct("!I")
_U16 = struct.Struct("!H")
_SRE = struct.Struct("!HBB")
HEADER_LEN = _S.size  # 4, without the optional fields
FLAG_C = 0x8000  # checksum present
FLAG_R = 0x4000  # routing present (RFC 1701)
FLAG_K = 0x2000  # key present
FLAG_S = 0x1000  # sequence number present
FLAG_SSR = 0x0800  # strict source route (RFC 1701)
FLAG_A = 0x0080  # acknowledgment number present (version 1, RFC 2637 §4.1)
TEB = 0x6558  # transparent Ethernet bridging: an Ethernet frame follows
_FLAG_NAMES = (
    (FLAG_C, "C"),
    (FLAG_R, "R"),
    (FLAG_K, "K"),
    (FLAG_S, "S"),
    (FLAG_SSR, "s"),
    (FLAG_A, "A"),
)
_MAX_SRE = 64  # source route entries walked before giving up


@dataclass(frozen=True, slots=True)
class GRE:
    """One GRE header at ``offset``; ``end`` is where the datagram carrying it ends."""

    offset: int
    flags: int  # the whole first 16-bit word: flag bits, recursion, version
    protocol: int
    header_len: int
    end: int
    checksum: int | None = None
    routing_offset: int | None = None
    key: int | None = None
    seq: int | None = None
    ack: int | None = None
    checksum_ok: bool | None = None
    name = "gre"

    @classmethod
    def decode(cls, buf: bytes, off: int, end: int) -> GRE:
        if end > len(buf):
            end = len(buf)
        if end - off < HEADER_LEN:
            raise TruncatedError("gre", off, HEADER_LEN, end - off)
        flags, proto = _S.unpack_from(buf, off)
        version = flags & 7
        if version > 1:
            raise MalformedError("gre", off, f"version {version}")
        need = HEADER_LEN
        if flags & (FLAG_C | FLAG_R):
            need += 4
        if flags & FLAG_K:
            need += 4
        if flags & FLAG_S:
            need += 4
        if version == 1 and flags & FLAG_A:
            need += 4
        if end - off < need:
            raise TruncatedError("gre", off, need, end - off)
        at = off + HEADER_LEN
        csum = roff = key = seq = ack = None
        if flags & (FLAG_C | FLAG_R):
            csum, roff = _S.unpack_from(buf, at)
            at += 4
            if not flags & FLAG_C:
                csum = None
            if not flags & FLAG_R:
                roff = None
        if flags & FLAG_K:
            key = _U32.unpack_from(buf, at)[0]
            at += 4
        if flags & FLAG_S:
            seq = _U32.unpack_from(buf, at)[0]
            at += 4
        if version == 1 and flags & FLAG_A:
            ack = _U32.unpack_from(buf, at)[0]
            at += 4
        if flags & FLAG_R:
            at = _skip_routes(buf, at, end)
        ok = None
        if csum is not None:
            ok = internet_checksum(buf[off:end]) == 0
        return cls(off, flags, proto, at - off, end, csum, roff, key, seq, ack, ok)

    @property
    def version(self) -> int:
        return self.flags & 7

    @property
    def recursion(self) -> int:
        return self.flags >> 8 & 7

    @property
    def payload_offset(self) -> int:
        return self.offset + self.header_len

    @property
    def length(self) -> int:
        """The GRE header and payload, as tcpdump's ``length``."""
        return self.end - self.offset

    @property
    def call_id(self) -> int | None:
        """Version 1: the low half of the key field (RFC 2637 §4.1)."""
        return None if self.key is None or self.version != 1 else self.key & 0xFFFF

    def fields(self) -> dict[str, Any]:
        f = self.flags
        names = [n for bit, n in _FLAG_NAMES if f & bit]
        d: dict[str, Any] = {
            "flags": ",".join(names) or "none",
            "version": self.version,
            "proto": self.protocol,
        }
        if self.checksum is not None:
            d["checksum"] = self.checksum
            d["checksum_ok"] = self.checksum_ok
        if self.routing_offset is not None:
            d["routing_offset"] = self.routing_offset
        if self.key is not None:
            d["key"] = self.key
        if self.seq is not None:
            d["seq"] = self.seq
        if self.ack is not None:
            d["ack"] = self.ack
        return d


def _skip_routes(buf: bytes, at: int, end: int) -> int:
    """Walk RFC 1701 source route entries to the null one; return where they end."""
    for _ in range(_MAX_SRE):
        if end - at < _SRE.size:
            raise TruncatedError("gre", at, _SRE.size, end - at)
        af, _sre_off, n = _SRE.unpack_from(buf, at)
        at += _SRE.size
        if af == 0 and n == 0:
            return at
        if end - at < n:
            raise TruncatedError("gre", at, n, end - at)
        at += n
    raise MalformedError("gre", at, f"more than {_MAX_SRE} source route entries")


def build(
    protocol: int,
    payload: bytes = b"",
    *,
    key: int | None = None,
    seq: int | None = None,
    checksum: bool = False,
) -> bytes:
    """A version 0 GRE header and its payload (RFC 2784/2890)."""
    flags = (FLAG_C if checksum else 0) | (FLAG_K if key is not None else 0)
    flags |= FLAG_S if seq is not None else 0
    out = bytearray(_S.pack(flags, protocol))
    if checksum:
        out += b"\0\0\0\0"
    if key is not None:
        out += _U32.pack(key)
    if seq is not None:
        out += _U32.pack(seq)
    out += payload
    if checksum:
        out[4:6] = _U16.pack(internet_checksum(out))
    return bytes(out)
