"""ICMP multi-part messages: RFC 4884 extension structures, RFC 4950 MPLS objects.

Shared by ICMPv4 and ICMPv6. An extension structure is a header (version 2 in
the top 4 bits, 12 reserved bits, a checksum over the whole structure) followed
by objects: length (2, header included), class-num (1), C-type (1), payload.
MPLS label stack (RFC 4950 §7: class 1, C-type 1) entries are 4 bytes: label
(20 bits), traffic class/EXP (3), bottom of stack (1), TTL (8).
"""

from __future__ import annotations

import struct

from netdiag.errors import DecodeError, MalformedError, TruncatedError
from netdiag.packets.checksum import internet_checksum, verify
from netdiag.records import dataclass, field

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "MplsEntry",
    "ExtensionObject",
    "Extensions",
    "parse_extensions",
    "build_extensions",
    "build_mpls_object",
    "ORIGINAL_DATAGRAM_MIN",
    "split_quote",
]

_HDR = struct.Struct("!HH")
_OBJ = struct.Struct("!HBB")
ORIGINAL_DATAGRAM_MIN = 128  # RFC 4884 §4.1/§5.4: padded original datagram
CLASS_MPLS = 1
CLASS_INTERFACE = 2


@dataclass(frozen=True, slots=True)
class MplsEntry:
    label: int
    tc: int
    s: bool
    ttl: int

    def fields(self) -> dict[str, Any]:
        return {"label": self.label, "tc": self.tc, "s": self.s, "ttl": self.ttl}


@dataclass(frozen=True, slots=True)
class ExtensionObject:
    class_num: int
    ctype: int
    payload: bytes
    mpls: tuple[MplsEntry, ...] = ()

    def fields(self) -> dict[str, Any]:
        d: dict[str, Any] = {"class": self.class_num, "ctype": self.ctype}
        if self.mpls:
            d["mpls"] = [e.fields() for e in self.mpls]
        else:
            d["data"] = self.payload.hex()
        return d


@dataclass(frozen=True, slots=True)
class Extensions:
    version: int
    checksum: int
    checksum_ok: bool
    objects: tuple[ExtensionObject, ...] = field(default_factory=tuple)

    @property
    def mpls(self) -> tuple[MplsEntry, ...]:
        return tuple(e for o in self.objects for e in o.mpls)

    def fields(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "checksum_ok": self.checksum_ok,
            "objects": [o.fields() for o in self.objects],
        }


def looks_like_extensions(b: bytes, p: int, end: int) -> bool:
    """The RFC 4884 §5 heuristic for non-compliant senders: version 2 and a valid checksum."""
    return end - p >= 4 and b[p] >> 4 == 2 and verify(memoryview(b)[p:end])


def parse_extensions(b: bytes, p: int, end: int) -> Extensions:
    if end - p < 4:
        raise TruncatedError("icmp.ext", p, 4, end - p)
    vres, csum = _HDR.unpack_from(b, p)
    version = vres >> 12
    if version != 2:
        raise MalformedError("icmp.ext", p, f"extension version {version}, not 2")
    ok = verify(memoryview(b)[p:end]) if csum else True  # RFC 4884 §7: zero = not computed
    objs = []
    q = p + 4
    while q < end:
        if end - q < 4:
            raise TruncatedError("icmp.ext", q, 4, end - q)
        n, cls, ctype = _OBJ.unpack_from(b, q)
        if n < 4 or q + n > end:
            raise MalformedError("icmp.ext", q, f"object length {n} does not fit in {end - q}")
        payload = bytes(b[q + 4 : q + n])
        mpls: tuple[MplsEntry, ...] = ()
        if cls == CLASS_MPLS and ctype == 1:
            mpls = tuple(_mpls(payload[i : i + 4]) for i in range(0, len(payload) - 3, 4))
        objs.append(ExtensionObject(cls, ctype, payload, mpls))
        q += n
    return Extensions(version, csum, ok, tuple(objs))


def _mpls(w: bytes) -> MplsEntry:
    v = int.from_bytes(w, "big")
    return MplsEntry(label=v >> 12, tc=(v >> 9) & 7, s=bool(v & 0x100), ttl=v & 0xFF)


def build_mpls_object(entries: list[tuple[int, int, bool, int]]) -> bytes:
    """An MPLS label stack object from (label, tc, s, ttl) tuples."""
    body = b"".join(
        ((lab << 12) | (tc << 9) | (int(s) << 8) | ttl).to_bytes(4, "big")
        for lab, tc, s, ttl in entries
    )
    return _OBJ.pack(4 + len(body), CLASS_MPLS, 1) + body


def build_extensions(objects: list[bytes]) -> bytes:
    """An extension structure (version 2) with its checksum, around encoded objects."""
    body = b"".join(objects)
    head = _HDR.pack(2 << 12, 0)
    csum = internet_checksum(head + body)
    return _HDR.pack(2 << 12, csum) + body


def split_quote(
    b: bytes, start: int, end: int, length: int, heuristic: bool
) -> tuple[tuple[int, int], Extensions | None, str | None]:
    """Where the original datagram of an ICMP error ends and extensions begin.

    ``length`` is the RFC 4884 length in bytes (0: not given). Without it, and
    where ``heuristic`` allows, a valid structure at byte 128 counts (RFC 4884 §5).
    Returns the quote's span, the extensions (or None) and why they failed to decode.
    """
    qend = end
    ext_at = None
    if length:
        qend = min(end, start + length)
        if qend < end:
            ext_at = qend
    elif (
        heuristic
        and end - start > ORIGINAL_DATAGRAM_MIN
        and looks_like_extensions(b, start + ORIGINAL_DATAGRAM_MIN, end)
    ):
        qend = ext_at = start + ORIGINAL_DATAGRAM_MIN
    if ext_at is None:
        return (start, qend), None, None
    try:
        return (start, qend), parse_extensions(b, ext_at, end), None
    except DecodeError as e:
        return (start, qend), None, str(e)
