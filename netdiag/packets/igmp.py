"""IGMP v1, v2 and v3 (RFC 1112 App. I, RFC 2236 §2, RFC 3376 §4), IP protocol 2.

Layout: type (1), max response code (1; 0 in v1), checksum (2, over the whole
message), group address (4). A query (0x11) of 8 bytes is v1 when its max
response code is 0, else v2; of 12 bytes or more it is v3 (RFC 3376 §7.1), with
S flag and QRV (1), QQIC (1), number of sources (2) and the sources. A v3
report (0x22) has reserved (2), number of group records (2) and the records
(RFC 3376 §4.2.4): record type (1), aux data length (1, in words), number of
sources (2), multicast address (4), the sources, the aux data. Every count is
checked against the message length before anything is read.
"""

from __future__ import annotations

import struct

from netdiag.errors import MalformedError, TruncatedError
from netdiag.packets.addr import ip4_text, ip_bytes
from netdiag.packets.checksum import internet_checksum
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["IGMP", "GroupRecord", "build", "build_v3_query", "build_v3_report", "TYPE_NAMES"]

_S = struct.Struct("!BBH4s")
_Q3 = struct.Struct("!BBH")
_REC = struct.Struct("!BBH4s")
_U16 = struct.Struct("!H")
HEADER_LEN = _S.size  # 8

QUERY, V1_REPORT, V2_REPORT, LEAVE, V3_REPORT = 0x11, 0x12, 0x16, 0x17, 0x22
TYPE_NAMES = {
    QUERY: "membership query",
    V1_REPORT: "v1 membership report",
    V2_REPORT: "v2 membership report",
    LEAVE: "leave group",
    V3_REPORT: "v3 membership report",
    0x13: "dvmrp",
    0x14: "pim v1",
}
RECORD_NAMES = {
    1: "is_in",
    2: "is_ex",
    3: "to_in",
    4: "to_ex",
    5: "allow",
    6: "block",
}


def _addrs(buf: bytes, at: int, n: int) -> tuple[str, ...]:
    return tuple(ip4_text(bytes(buf[at + 4 * i : at + 4 * i + 4])) for i in range(n))


def code_time(code: int) -> int:
    """A v3 max response code or QQIC as its value (RFC 3376 §4.1.1): mantissa and
    exponent from 128 up."""
    return code if code < 128 else ((code & 0x0F) | 0x10) << (((code & 0x70) >> 4) + 3)


@dataclass(frozen=True, slots=True)
class GroupRecord:
    type: int
    group: str
    sources: tuple[str, ...]
    aux: bytes = b""

    def fields(self) -> dict[str, Any]:
        return {
            "name": "group record",
            "type": self.type,
            "type_name": RECORD_NAMES.get(self.type, str(self.type)),
            "group": self.group,
            "sources": list(self.sources),
        }


@dataclass(frozen=True, slots=True)
class IGMP:
    offset: int
    type: int
    max_resp: int
    checksum: int
    group: str
    end: int
    version: int
    checksum_ok: bool | None = None
    s_flag: bool = False
    qrv: int = 0
    qqic: int = 0
    sources: tuple[str, ...] = ()
    records: tuple[GroupRecord, ...] = ()
    name = "igmp"

    @classmethod
    def decode(cls, buf: bytes, off: int, end: int, complete: bool = True) -> IGMP:
        """The message from ``off`` to ``end`` (the IP payload); ``complete`` says the
        capture holds all of it, so that the checksum can be judged."""
        if end > len(buf):
            end = len(buf)
        n = end - off
        if n < HEADER_LEN:
            raise TruncatedError("igmp", off, HEADER_LEN, n)
        t, mrc, csum, group = _S.unpack_from(buf, off)
        ok = internet_checksum(buf[off:end]) == 0 if complete else None
        gtext = ip4_text(group)
        if t == QUERY and n >= 12:
            sq, qqic, nsrc = _Q3.unpack_from(buf, off + 8)
            if n < 12 + 4 * nsrc:
                raise MalformedError("igmp", off + 10, f"{nsrc} sources beyond the message")
            srcs = _addrs(buf, off + 12, nsrc)
            return cls(off, t, mrc, csum, gtext, end, 3, ok, bool(sq & 8), sq & 7, qqic, srcs)
        if t == V3_REPORT:
            nrec = _U16.unpack_from(buf, off + 6)[0]
            recs: list[GroupRecord] = []
            at = off + 8
            for _ in range(nrec):
                if end - at < _REC.size:
                    raise TruncatedError("igmp", at, _REC.size, end - at)
                rt, aux, nsrc, maddr = _REC.unpack_from(buf, at)
                size = _REC.size + 4 * nsrc + 4 * aux
                if end - at < size:
                    raise MalformedError(
                        "igmp", at, f"group record of {size} bytes beyond the message"
                    )
                srcs = _addrs(buf, at + 8, nsrc)
                a = at + 8 + 4 * nsrc
                recs.append(GroupRecord(rt, ip4_text(maddr), srcs, bytes(buf[a : a + 4 * aux])))
                at += size
            return cls(off, t, mrc, csum, "0.0.0.0", end, 3, ok, records=tuple(recs))
        if t == QUERY:
            version = 2 if mrc else 1
        elif t == V1_REPORT:
            version = 1
        else:
            version = 2
        return cls(off, t, mrc, csum, gtext, end, version, ok)

    @property
    def header_len(self) -> int:
        return self.end - self.offset

    @property
    def length(self) -> int:
        return self.end - self.offset

    @property
    def max_resp_time(self) -> float:
        """Seconds (v2 and v3 codes are in tenths; v3 codes from 128 are floating)."""
        return (code_time(self.max_resp) if self.version == 3 else self.max_resp) / 10

    def fields(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "version": self.version,
            "type": self.type,
            "type_name": TYPE_NAMES.get(self.type, f"igmp-{self.type}"),
            "max_resp": self.max_resp,
            "checksum": self.checksum,
            "checksum_ok": self.checksum_ok,
        }
        if self.type != V3_REPORT:
            d["group"] = self.group
        if self.version == 3 and self.type == QUERY:
            d.update(s=self.s_flag, qrv=self.qrv, qqic=self.qqic, sources=list(self.sources))
        if self.type == V3_REPORT:
            d["records"] = [r.fields() for r in self.records]
        return d


def _finish(msg: bytearray) -> bytes:
    msg[2:4] = _U16.pack(internet_checksum(msg))
    return bytes(msg)


def build(type_: int, group: str = "0.0.0.0", max_resp: int = 0) -> bytes:
    """A v1/v2 message (8 bytes) with its checksum."""
    return _finish(bytearray(_S.pack(type_, max_resp, 0, ip_bytes(group))))


def build_v3_query(
    group: str = "0.0.0.0",
    max_resp: int = 100,
    sources: tuple[str, ...] = (),
    *,
    s: bool = False,
    qrv: int = 2,
    qqic: int = 125,
) -> bytes:
    msg = bytearray(_S.pack(QUERY, max_resp, 0, ip_bytes(group)))
    msg += _Q3.pack((8 if s else 0) | qrv & 7, qqic, len(sources))
    for a in sources:
        msg += ip_bytes(a)
    return _finish(msg)


def build_v3_report(records: list[tuple[int, str, tuple[str, ...]]]) -> bytes:
    """A v3 report from (record type, group, sources) records, no aux data."""
    msg = bytearray(_S.pack(V3_REPORT, 0, 0, b"\0\0\0\0"))
    msg[6:8] = _U16.pack(len(records))
    for rt, group, srcs in records:
        msg += _REC.pack(rt, 0, len(srcs), ip_bytes(group))
        for a in srcs:
            msg += ip_bytes(a)
    return _finish(msg)
