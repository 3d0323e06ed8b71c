"""Pure helpers of the primitives: an ID token (and its ``/len`` or ``mask``) -> numbers.

IPv4 values follow tcpdump: ``net 10`` and ``net 192.168`` are promoted to
10.0.0.0/8 and 192.168.0.0/16; a shorter dotted ``host 192.0.2`` is matched as
the prefix 192.0.2.0/24; with ``/len`` or ``mask`` host bits are an error.
Port names come from the services database (``/etc/services``, no network),
and a name known for only one of tcp and udp restricts ``port`` to it, as
tcpdump does.
"""

from __future__ import annotations

import socket

from netdiag.capture.bpf.lexer import FilterError, Token
from netdiag.capture.bpf.parser import Prim

__all__ = ["v4_value", "port_value", "PORT_PROTOS", "err"]

PORT_PROTOS: dict[str | None, tuple[int, ...]] = {
    None: (132, 6, 17), "tcp": (6,), "udp": (17,), "sctp": (132,)
}  # fmt: skip


def err(msg: str, tok: Token) -> FilterError:
    e = FilterError(f"filter: {msg} at column {tok.col}")
    e.col = tok.col  # type: ignore[attr-defined]
    return e


def v4_value(p: Prim, kind: str) -> tuple[int, int]:
    tok = p.tok
    if tok.kind == "num":
        v, vlen = tok.value & 0xFFFFFFFF, 32  # type: ignore[operator]
    else:
        raw: bytes = tok.value  # type: ignore[assignment]
        v, vlen = int.from_bytes(raw, "big"), 8 * len(raw)
    if p.extra_kind is None:
        mask = 0xFFFFFFFF
        if kind == "net":  # "net 10" is 10.0.0.0/8, "net 192.168" 192.168.0.0/16
            if tok.kind == "ipv4":
                v, mask = v, (0xFFFFFFFF << (32 - vlen)) & 0xFFFFFFFF
                v <<= 32 - vlen
                return v & 0xFFFFFFFF, mask
            while v and v & 0xFF000000 == 0:
                v, mask = v << 8, (mask << 8) & 0xFFFFFFFF
            return v, mask
        return (v << (32 - vlen)) & 0xFFFFFFFF, (mask << (32 - vlen)) & 0xFFFFFFFF
    v = (v << (32 - vlen)) & 0xFFFFFFFF
    extra = p.extra
    assert extra is not None
    if p.extra_kind == "/":
        bits: int = extra.value  # type: ignore[assignment]
        if bits > 32:
            raise err(f"mask length must be <= 32, not {bits}", extra)
        mask = (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
    else:
        mbytes: bytes = extra.value  # type: ignore[assignment]
        mask = int.from_bytes(mbytes, "big") << (32 - 8 * len(mbytes))
    if v & ~mask & 0xFFFFFFFF:
        raise err(f'non-network bits set in "{tok.text}"', tok)
    return v, mask


def port_value(proto: str | None, tok: Token) -> tuple[tuple[int, ...], int]:
    if proto not in PORT_PROTOS:
        raise err(f"illegal qualifier of 'port': '{proto}'", tok)
    protos = PORT_PROTOS[proto]
    if tok.kind == "num":
        port: int = tok.value  # type: ignore[assignment]
        if port > 65535:
            raise err(f"illegal port number {port} > 65535", tok)
        return protos, port
    if tok.kind != "word":
        raise err(f"'{tok.text}' is not a port", tok)
    found = {}
    for name, num in (("tcp", 6), ("udp", 17)):
        try:
            found[num] = socket.getservbyname(tok.text, name)
        except OSError:
            pass
    if not found:
        raise err(f"unknown port '{tok.text}'", tok)
    if proto is None and len(found) == 1:
        protos = tuple(found)
    elif proto is not None and protos[0] not in found:
        raise err(f"port '{tok.text}' is not a {proto} port", tok)
    return protos, found.get(protos[0], next(iter(found.values())))
