"""Addresses as canonical text, and back.

MACs are lowercase with colons; IPv6 is compressed as RFC 5952 says (glibc's
``inet_ntop`` implements §4: lowercase, longest zero run, no ``::`` for one
field). These are pure functions; nothing here opens a socket.
"""

from __future__ import annotations

# The C module itself: ``socket``'s Python layer (enum conversions of every constant)
# would cost each command that decodes a packet a few milliseconds of start-up.
from _socket import AF_INET, AF_INET6, inet_ntop, inet_pton

__all__ = [
    "mac_text",
    "mac_bytes",
    "ip4_text",
    "ip6_text",
    "ip4_pair_text",
    "ip6_pair_text",
    "PAIR_TEXT",
    "ip_text",
    "ip_bytes",
]


def mac_text(b: bytes) -> str:
    return b.hex(":")


def mac_bytes(text: str | bytes) -> bytes:
    if isinstance(text, bytes):
        if len(text) != 6:
            raise ValueError(f"a MAC address has 6 bytes, not {len(text)}")
        return text
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes(int(p, 16) for p in parts)


# Captures hold few distinct addresses: remembering their text saves the
# formatting on most packets. Bounded, and cleared whole when full.
_TEXT_CACHE: dict[bytes, str] = {}
_TEXT_CACHE_MAX = 4096

# And few (source, destination) pairs: the IP decoders take both texts from one
# lookup here (``PAIR_TEXT.get(key) or ip4_pair_text(key)``: the hit costs no
# call). Keys: an IPv4 pair is its 8 address bytes as one int (an int hashes
# faster than bytes), an IPv6 pair its 32 address bytes. Bounded, cleared whole
# when full (the dict itself is never replaced: decoders hold it).
PAIR_TEXT: dict[int | bytes, tuple[str, str]] = {}
_PAIR_TEXT_MAX = 16384


def _cached_text(family: int, b: bytes) -> str:
    t = _TEXT_CACHE.get(b)
    if t is None:
        t = inet_ntop(family, b)
        if len(_TEXT_CACHE) >= _TEXT_CACHE_MAX:
            _TEXT_CACHE.clear()
        _TEXT_CACHE[bytes(b)] = t
    return t


def ip4_text(b: bytes) -> str:
    return _cached_text(AF_INET, b)


def ip6_text(b: bytes) -> str:
    return _cached_text(AF_INET6, b)


def ip4_pair_text(key: int) -> tuple[str, str]:
    """Source and destination text of the IPv4 pair ``key`` (``src << 32 | dst``)."""
    t = PAIR_TEXT.get(key)
    if t is None:
        b = key.to_bytes(8, "big")
        t = _remember_pair(key, ip4_text(b[:4]), ip4_text(b[4:]))
    return t


def ip6_pair_text(key: bytes) -> tuple[str, str]:
    """Source and destination text of the IPv6 pair ``key`` (the 32 address bytes)."""
    t = PAIR_TEXT.get(key)
    if t is None:
        t = _remember_pair(bytes(key), ip6_text(key[:16]), ip6_text(key[16:]))
    return t


def _remember_pair(key: int | bytes, src: str, dst: str) -> tuple[str, str]:
    if len(PAIR_TEXT) >= _PAIR_TEXT_MAX:
        PAIR_TEXT.clear()
    t = PAIR_TEXT[key] = (src, dst)
    return t


def ip_text(b: bytes) -> str:
    return inet_ntop(AF_INET if len(b) == 4 else AF_INET6, b)


def ip_bytes(addr: str | bytes) -> bytes:
    """Packed form of an IPv4 or IPv6 address given as text or already packed."""
    if isinstance(addr, bytes):
        if len(addr) not in (4, 16):
            raise ValueError(f"an IP address has 4 or 16 bytes, not {len(addr)}")
        return addr
    try:
        return inet_pton(AF_INET6 if ":" in addr else AF_INET, addr)
    except OSError:
        raise ValueError(f"not an IP address: {addr!r}") from None
