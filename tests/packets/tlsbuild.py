"""Test-side builders of TLS ClientHello/ServerHello bytes, field by field from
RFC 8446 §4.1.2-4.1.3 (netdiag never sends TLS, so it has no builder of its own).
Tests use them to write what a specification example lists (the JA4 examples)
and to cut and damage messages; real handshakes come from OpenSSL (captures/)."""

from __future__ import annotations

import struct


def vec(width: int, data: bytes) -> bytes:
    return len(data).to_bytes(width, "big") + data


def u16s(values: list[int] | tuple[int, ...]) -> bytes:
    return struct.pack(f"!{len(values)}H", *values)


def ext(etype: int, data: bytes) -> bytes:
    return struct.pack("!H", etype) + vec(2, data)


def sni_ext(name: str) -> bytes:
    return ext(0, vec(2, b"\x00" + vec(2, name.encode())))


def alpn_ext(protocols: list[bytes]) -> bytes:
    return ext(16, vec(2, b"".join(vec(1, p) for p in protocols)))


def versions_ext(versions: list[int]) -> bytes:
    return ext(43, vec(1, u16s(versions)))


def sigalgs_ext(algs: list[int]) -> bytes:
    return ext(13, vec(2, u16s(algs)))


def groups_ext(groups: list[int]) -> bytes:
    return ext(10, vec(2, u16s(groups)))


def key_share_ext(groups: list[int]) -> bytes:
    return ext(51, vec(2, b"".join(struct.pack("!H", g) + vec(2, b"\x11" * 32) for g in groups)))


def client_hello(
    ciphers: list[int],
    extensions: list[bytes],
    *,
    version: int = 0x0303,
    session_id: bytes = b"\x22" * 32,
    random: bytes = b"\x01" * 32,
) -> bytes:
    """A ClientHello handshake message (type, length, body)."""
    body = (
        struct.pack("!H", version)
        + random
        + vec(1, session_id)
        + vec(2, u16s(ciphers))
        + vec(1, b"\x00")
        + vec(2, b"".join(extensions))
    )
    return b"\x01" + vec(3, body)


def server_hello(cipher: int, extensions: list[bytes], *, version: int = 0x0303) -> bytes:
    body = (
        struct.pack("!H", version)
        + b"\x02" * 32
        + vec(1, b"\x33" * 32)
        + struct.pack("!HB", cipher, 0)
        + vec(2, b"".join(extensions))
    )
    return b"\x02" + vec(3, body)


def record(content_type: int, payload: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", content_type, version, len(payload)) + payload
