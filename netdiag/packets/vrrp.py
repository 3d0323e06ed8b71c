"""VRRP v2 and v3 (RFC 3768 §5.1, RFC 5798 §5.1), IP protocol 112.

Layout: version and type (1; type 1 is an advertisement), virtual router id
(1), priority (1), count of addresses (1), then in v2 the authentication type
(1) and the advertisement interval (1, seconds), in v3 4 reserved bits and the
maximum advertisement interval (12 bits, centiseconds); checksum (2); the
addresses (v2: IPv4; v3: of the carrying IP's family); v2 ends with 8 bytes of
authentication data. The v2 checksum covers the message, the v3 one the IP
pseudo-header too (RFC 5798 §5.2.8).
"""

from __future__ import annotations

import struct

from netdiag.errors import MalformedError, TruncatedError
from netdiag.packets.addr import ip_bytes, ip_text
from netdiag.packets.checksum import internet_checksum, pseudo_header_sum
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["VRRP", "build", "AUTH_NAMES"]

_S = struct.Struct("!BBBBBBH")
_U16 = struct.Struct("!H")
HEADER_LEN = _S.size  # 8
AUTH_NAMES = {0: "none", 1: "simple", 2: "ah"}
TYPE_NAMES = {1: "Advertisement"}


@dataclass(frozen=True, slots=True)
class VRRP:
    offset: int
    version: int
    type: int
    vrid: int
    priority: int
    count: int
    auth_type: int  # v2 only (0 in v3)
    interval: int  # v2: seconds; v3: centiseconds
    checksum: int
    addresses: tuple[str, ...]
    auth: bytes
    end: int
    checksum_ok: bool | None = None
    name = "vrrp"

    @classmethod
    def decode(cls, buf: bytes, off: int, end: int, ip: Any = None) -> VRRP:
        if end > len(buf):
            end = len(buf)
        n = end - off
        if n < HEADER_LEN:
            raise TruncatedError("vrrp", off, HEADER_LEN, n)
        vt, vrid, prio, count, b4, b5, csum = _S.unpack_from(buf, off)
        version, t = vt >> 4, vt & 0x0F
        if version not in (2, 3):
            raise MalformedError("vrrp", off, f"version {version}")
        size = 16 if version == 3 and ip is not None and ip.version == 6 else 4
        need = HEADER_LEN + size * count + (8 if version == 2 else 0)
        if n < need:
            raise TruncatedError("vrrp", off, need, n)
        at = off + HEADER_LEN
        addrs = tuple(
            ip_text(bytes(buf[at + size * i : at + size * (i + 1)])) for i in range(count)
        )
        at += size * count
        whole = ip is None or (not ip.truncated and ip.end - off == ip.payload_length)
        ok: bool | None = None
        if version == 2:
            auth = bytes(buf[at : at + 8])
            if whole:
                ok = internet_checksum(buf[off:end]) == 0
            return cls(off, 2, t, vrid, prio, count, b4, b5, csum, addrs, auth, end, ok)
        if ip is not None and whole:
            dst = ip.dst_raw if ip.version == 4 else ip.final_dst_raw
            start = pseudo_header_sum(ip.src_raw, dst, 112, end - off)
            ok = internet_checksum(buf[off:end], start) == 0
        return cls(
            off, 3, t, vrid, prio, count, 0, (b4 & 0x0F) << 8 | b5, csum, addrs, b"", end, ok
        )

    @property
    def header_len(self) -> int:
        return self.end - self.offset

    @property
    def length(self) -> int:
        return self.end - self.offset

    def fields(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "version": self.version,
            "type": self.type,
            "vrid": self.vrid,
            "priority": self.priority,
            "count": self.count,
        }
        if self.version == 2:
            d["auth_type"] = self.auth_type
            d["interval_s"] = self.interval
        else:
            d["interval_cs"] = self.interval
        d["checksum"] = self.checksum
        d["checksum_ok"] = self.checksum_ok
        d["addresses"] = list(self.addresses)
        if self.version == 2 and self.auth_type == 1:
            d["auth"] = self.auth.rstrip(b"\0").decode("latin-1")
        return d


def build(
    version: int,
    vrid: int,
    priority: int,
    addresses: list[str],
    *,
    interval: int = 1,
    auth_type: int = 0,
    auth: bytes = b"",
    src: str | None = None,
    dst: str | None = None,
) -> bytes:
    """An advertisement. v3 needs ``src`` and ``dst`` for its checksum."""
    raw = [ip_bytes(a) for a in addresses]
    if version == 2:
        msg = bytearray(_S.pack(0x21, vrid, priority, len(raw), auth_type, interval, 0))
        msg += b"".join(raw) + auth[:8].ljust(8, b"\0")
        msg[6:8] = _U16.pack(internet_checksum(msg))
        return bytes(msg)
    msg = bytearray(
        _S.pack(0x31, vrid, priority, len(raw), interval >> 8 & 0x0F, interval & 0xFF, 0)
    )
    msg += b"".join(raw)
    if src is not None and dst is not None:
        start = pseudo_header_sum(ip_bytes(src), ip_bytes(dst), 112, len(msg))
        msg[6:8] = _U16.pack(internet_checksum(msg, start))
    return bytes(msg)
