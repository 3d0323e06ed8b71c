"""MPLS label stacks (RFC 3032 §2.1), over Ethernet (EtherType 0x8847 unicast,
0x8848 multicast) and inside GRE.

Each entry is 4 bytes: label (20 bits), traffic class (3, RFC 5462), bottom of
stack (1), TTL (8). The stack ends at the entry with the bottom bit; what
follows has no type field, so dispatch.py takes the first nibble as tcpdump
does: 4 is IPv4, 6 is IPv6, anything else stops the walk (a pseudowire or a
control word). A stack is bounded: more than ``MAX_LABELS`` entries without a
bottom is reported as malformed.
"""

from __future__ import annotations

import struct

from netdiag.errors import MalformedError, TruncatedError
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["MPLS", "MplsLabel", "build", "ENTRY_LEN", "MAX_LABELS"]

_U32 = struct.Struct("!I")
ENTRY_LEN = 4
MAX_LABELS = 16


@dataclass(frozen=True, slots=True)
class MplsLabel:
    label: int
    tc: int
    bottom: bool
    ttl: int

    def fields(self) -> dict[str, Any]:
        return {"label": self.label, "tc": self.tc, "s": self.bottom, "ttl": self.ttl}


@dataclass(frozen=True, slots=True)
class MPLS:
    """The whole label stack at ``offset``, outermost entry first."""

    offset: int
    labels: tuple[MplsLabel, ...]
    end: int
    name = "mpls"

    @classmethod
    def decode(cls, buf: bytes, off: int, end: int) -> MPLS:
        if end > len(buf):
            end = len(buf)
        out: list[MplsLabel] = []
        at = off
        while True:
            if len(out) == MAX_LABELS:
                raise MalformedError("mpls", at, f"more than {MAX_LABELS} labels")
            if end - at < ENTRY_LEN:
                raise TruncatedError("mpls", at, ENTRY_LEN, end - at)
            v = _U32.unpack_from(buf, at)[0]
            at += ENTRY_LEN
            e = MplsLabel(v >> 12, v >> 9 & 7, bool(v & 0x100), v & 0xFF)
            out.append(e)
            if e.bottom:
                return cls(off, tuple(out), end)

    @property
    def header_len(self) -> int:
        return ENTRY_LEN * len(self.labels)

    @property
    def payload_offset(self) -> int:
        return self.offset + self.header_len

    def fields(self) -> dict[str, Any]:
        return {"labels": [e.fields() for e in self.labels]}


def build(labels: list[tuple[int, int, int]], payload: bytes = b"") -> bytes:
    """A stack from (label, tc, ttl) entries, outermost first; the last is the bottom."""
    out = bytearray()
    for i, (label, tc, ttl) in enumerate(labels):
        s = 1 if i == len(labels) - 1 else 0
        out += _U32.pack((label & 0xFFFFF) << 12 | (tc & 7) << 9 | s << 8 | ttl & 0xFF)
    return bytes(out) + payload
