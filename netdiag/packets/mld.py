"""MLD v1 and v2 (RFC 2710 §3, RFC 3810 §5): the ICMPv6 multicast listener messages.

MLD rides in ICMPv6 (types 130 query, 131 v1 report, 132 done, 143 v2 report);
``ICMPv6`` keeps type, code and checksum, and this layer decodes the body from
the start of the ICMPv6 header. v1 (24 bytes): maximum response delay (2, ms),
reserved (2), multicast address (16). A query of 28 bytes or more is v2 (RFC
3810 §8.1): then S flag and QRV (1), QQIC (1), number of sources (2) and the
sources. A v2 report: reserved (2), number of records (2), then the records
(RFC 3810 §5.2): record type (1), aux data length (1, in words), number of
sources (2), multicast address (16), the sources, the aux data. Every count is
checked against the message length.
"""

from __future__ import annotations

import struct

from netdiag.errors import MalformedError, TruncatedError
from netdiag.packets.addr import ip6_text, ip_bytes
from netdiag.packets.checksum import internet_checksum, pseudo_header_sum
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["MLD", "MldRecord", "TYPES", "build", "build_v2_query", "build_v2_report"]

_V1 = struct.Struct("!BBHHH16s")
_Q2 = struct.Struct("!BBH")
_REC = struct.Struct("!BBH16s")
_U16 = struct.Struct("!H")
V1_LEN = _V1.size  # 24
QUERY, REPORT, DONE, V2_REPORT = 130, 131, 132, 143
TYPES = frozenset((QUERY, REPORT, DONE, V2_REPORT))


def _addrs(buf: bytes, at: int, n: int) -> tuple[str, ...]:
    return tuple(ip6_text(bytes(buf[at + 16 * i : at + 16 * i + 16])) for i in range(n))


def code_delay(code: int) -> int:
    """A v2 maximum response code as milliseconds (RFC 3810 §5.1.3)."""
    return code if code < 32768 else ((code & 0x0FFF) | 0x1000) << (((code & 0x7000) >> 12) + 3)


@dataclass(frozen=True, slots=True)
class MldRecord:
    type: int
    group: str
    sources: tuple[str, ...]
    aux: bytes = b""

    def fields(self) -> dict[str, Any]:
        return {
            "name": "record",
            "type": self.type,
            "group": self.group,
            "sources": list(self.sources),
        }


@dataclass(frozen=True, slots=True)
class MLD:
    offset: int  # of the ICMPv6 header
    type: int
    version: int
    end: int
    max_delay: int = 0  # the raw code (v1: milliseconds)
    group: str = "::"
    s_flag: bool = False
    qrv: int = 0
    qqic: int = 0
    sources: tuple[str, ...] = ()
    records: tuple[MldRecord, ...] = ()
    name = "mld"

    @classmethod
    def decode(cls, buf: bytes, off: int, end: int) -> MLD:
        if end > len(buf):
            end = len(buf)
        n = end - off
        if n < 8:
            raise TruncatedError("mld", off, 8, n)
        t = buf[off]
        if t == V2_REPORT:
            nrec = _U16.unpack_from(buf, off + 6)[0]
            recs: list[MldRecord] = []
            at = off + 8
            for _ in range(nrec):
                if end - at < _REC.size:
                    raise TruncatedError("mld", at, _REC.size, end - at)
                rt, aux, nsrc, maddr = _REC.unpack_from(buf, at)
                size = _REC.size + 16 * nsrc + 4 * aux
                if end - at < size:
                    raise MalformedError("mld", at, f"record of {size} bytes beyond the message")
                a = at + 20 + 16 * nsrc
                recs.append(
                    MldRecord(
                        rt, ip6_text(maddr), _addrs(buf, at + 20, nsrc), bytes(buf[a : a + 4 * aux])
                    )
                )
                at += size
            return cls(off, t, 2, end, records=tuple(recs))
        if n < V1_LEN:
            raise TruncatedError("mld", off, V1_LEN, n)
        _t, _c, _ck, delay, _r, maddr = _V1.unpack_from(buf, off)
        group = ip6_text(maddr)
        if t == QUERY and 24 < n < 28:  # neither a v1 query (24) nor a v2 one (28 or more)
            raise TruncatedError("mld", off, 28, n)
        if t == QUERY and n >= 28:
            sq, qqic, nsrc = _Q2.unpack_from(buf, off + 24)
            if n < 28 + 16 * nsrc:
                raise MalformedError("mld", off + 26, f"{nsrc} sources beyond the message")
            srcs = _addrs(buf, off + 28, nsrc)
            return cls(off, t, 2, end, delay, group, bool(sq & 8), sq & 7, qqic, srcs)
        return cls(off, t, 1, end, delay, group)

    @property
    def header_len(self) -> int:
        return self.end - self.offset

    @property
    def max_delay_ms(self) -> int:
        return code_delay(self.max_delay) if self.version == 2 else self.max_delay

    def fields(self) -> dict[str, Any]:
        d: dict[str, Any] = {"version": self.version, "type": self.type}
        if self.type != V2_REPORT:
            d["max_delay"] = self.max_delay
            d["group"] = self.group
        if self.type == QUERY and self.version == 2:
            d.update(s=self.s_flag, qrv=self.qrv, qqic=self.qqic, sources=list(self.sources))
        if self.type == V2_REPORT:
            d["records"] = [r.fields() for r in self.records]
        return d


def _finish(msg: bytes | bytearray, src: str | None, dst: str | None) -> bytes:
    """The ICMPv6 checksum over the pseudo-header, when the addresses are given."""
    out = bytearray(msg)
    if src is not None and dst is not None:
        start = pseudo_header_sum(ip_bytes(src), ip_bytes(dst), 58, len(out))
        out[2:4] = _U16.pack(internet_checksum(out, start))
    return bytes(out)


def build(
    type_: int,
    group: str = "::",
    max_delay: int = 0,
    src: str | None = None,
    dst: str | None = None,
) -> bytes:
    """An MLDv1 message (ICMPv6, with its checksum when ``src`` and ``dst`` are given)."""
    return _finish(_V1.pack(type_, 0, 0, max_delay, 0, ip_bytes(group)), src, dst)


def build_v2_query(
    group: str = "::",
    max_delay: int = 10000,
    sources: tuple[str, ...] = (),
    *,
    s: bool = False,
    qrv: int = 2,
    qqic: int = 125,
    src: str | None = None,
    dst: str | None = None,
) -> bytes:
    out = _V1.pack(QUERY, 0, 0, max_delay, 0, ip_bytes(group))
    out += _Q2.pack((8 if s else 0) | qrv & 7, qqic, len(sources))
    return _finish(out + b"".join(ip_bytes(a) for a in sources), src, dst)


def build_v2_report(
    records: list[tuple[int, str, tuple[str, ...]]],
    src: str | None = None,
    dst: str | None = None,
) -> bytes:
    out = bytearray(struct.pack("!BBHHH", V2_REPORT, 0, 0, 0, len(records)))
    for rt, group, srcs in records:
        out += _REC.pack(rt, 0, len(srcs), ip_bytes(group))
        out += b"".join(ip_bytes(a) for a in srcs)
    return _finish(out, src, dst)
