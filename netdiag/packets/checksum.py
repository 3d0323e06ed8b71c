"""The Internet checksum (RFC 1071) and the pseudo-headers of TCP, UDP and ICMPv6.

The sum runs in C: the bytes are viewed as native 16-bit words and added by
``sum()``; the one's-complement sum is byte-order independent (RFC 1071 §2(B)),
so the folded result is swapped back once on little-endian hosts.
"""

from __future__ import annotations

import struct
import sys

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ones_sum", "internet_checksum", "pseudo_header_sum", "verify", "transport_checksum_ok"]

_LITTLE = sys.byteorder == "little"


def ones_sum(data: bytes | bytearray | memoryview, start: int = 0) -> int:
    """The folded 16-bit one's-complement sum of ``data`` (network order), plus ``start``."""
    mv = memoryview(data)
    n = len(mv)
    if n & 1:
        total = sum(mv[: n - 1].cast("H")) if n > 1 else 0
        last = mv[n - 1]
        total += last if _LITTLE else last << 8
    else:
        total = sum(mv.cast("H")) if n else 0
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    if _LITTLE:
        total = ((total & 0xFF) << 8) | (total >> 8)
    total += start
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def internet_checksum(data: bytes | bytearray | memoryview, start: int = 0) -> int:
    """The value to put in a checksum field (RFC 1071): complement of the one's sum."""
    return ~ones_sum(data, start) & 0xFFFF


def pseudo_header_sum(src: bytes, dst: bytes, proto: int, length: int) -> int:
    """One's sum of the IPv4 (RFC 793 §3.1) or IPv6 (RFC 8200 §8.1) pseudo-header."""
    if len(src) == 4:
        ph = src + dst + struct.pack("!BBH", 0, proto, length)
    else:
        ph = src + dst + struct.pack("!I3xB", length, proto)
    return ones_sum(ph)


def verify(data: bytes | bytearray | memoryview, start: int = 0) -> bool:
    """True when ``data`` (checksum field included) sums to all ones."""
    return ones_sum(data, start) == 0xFFFF


def transport_checksum_ok(buf: bytes, off: int, end: int, ip: Any, proto: int) -> bool | None:
    """Verdict on a TCP/UDP/ICMPv6 checksum over ``buf[off:end]`` with ``ip``'s pseudo-header.

    None when it cannot be judged: no IP layer, the segment was not captured whole,
    or it is one fragment of a datagram (the checksum covers the reassembled whole).
    """
    if ip is None or ip.truncated or end - off != ip.payload_length or ip.mf or ip.frag_offset:
        return None
    dst = ip.dst_raw if ip.version == 4 else ip.final_dst_raw
    start = pseudo_header_sum(ip.src_raw, dst, proto, end - off)
    return ones_sum(memoryview(buf)[off:end], start) == 0xFFFF
