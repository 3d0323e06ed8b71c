"""DHCPv6 messages (RFC 8415 §8-9, §21; prefix delegation §21.21-22).

``decode(data)`` returns a frozen ``Dhcp6``: the message type, and either the
transaction id (client/server messages) or hop count, link address and peer
address (Relay-forward 12, Relay-reply 13), then the options. Each option is
an ``Option6(code, data, value, options)``: ``data`` is its raw value, ``value``
the decoded part and ``options`` the options nested in it:

- Client/Server Identifier (1, 2): ``value`` = ``Duid(type, hwtype, time,
  enterprise, identifier)`` (RFC 8415 §11).
- IA_NA (3) and IA_PD (25): ``(iaid, t1, t2)``; IA_TA (4): ``(iaid,)``;
  then their nested IA Address (5, ``(address, preferred, valid)``) and IA
  Prefix (26, ``(preferred, valid, prefix_len, prefix)``) options.
- Option Request (6): the requested codes; Elapsed Time (8): hundredths of a
  second; Status Code (13): ``(code, message)``; DNS servers (23): the
  addresses; Relay Message (9): the ``Dhcp6`` it carries.

Bounded: every option length is checked against its container
(``TruncatedError``), and nesting (relay in relay, options in options) stops
at depth 8 (``MalformedError``), so hostile input cannot recurse deeply.
``build(...)`` writes client/server messages (round trip ``decode(build(...))``).
"""

from __future__ import annotations

import struct

from netdiag.errors import MalformedError, TruncatedError
from netdiag.records import dataclass

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Dhcp6", "Option6", "Duid", "decode", "build", "build_option", "MESSAGE_TYPES"]

_L = "dhcp6"
_OPT = struct.Struct("!HH")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_IA = struct.Struct("!III")
_IAPREFIX = struct.Struct("!IIB16s")
_IAADDR = struct.Struct("!16sII")
_MAX_DEPTH = 8

# RFC 8415 §7.3, RFC 5007; tcpdump's names.
MESSAGE_TYPES = {1: "solicit", 2: "advertise", 3: "request", 4: "confirm", 5: "renew",
                 6: "rebind", 7: "reply", 8: "release", 9: "decline", 10: "reconfigure",
                 11: "inf-req", 12: "relay-fwd", 13: "relay-reply", 14: "leasequery",
                 15: "leasequery-reply"}  # fmt: skip
_RELAY = (12, 13)


def _ip6(b: bytes) -> str:
    from netdiag.packets.addr import ip_text

    return ip_text(b)


@dataclass(frozen=True, slots=True)
class Duid:
    type: int  # 1 LLT, 2 EN, 3 LL, 4 UUID
    hwtype: int | None
    time: int | None
    enterprise: int | None
    identifier: bytes  # link-layer address, enterprise identifier, UUID, or the raw DUID


@dataclass(frozen=True, slots=True)
class Option6:
    code: int
    data: bytes
    value: Any = None
    options: tuple[Option6, ...] = ()


@dataclass(frozen=True, slots=True)
class Dhcp6:
    msg_type: int
    xid: int | None  # client/server messages
    hop_count: int | None  # relay messages
    link_address: str | None
    peer_address: str | None
    options: tuple[Option6, ...]
    length: int

    @property
    def msg_type_name(self) -> str:
        return MESSAGE_TYPES.get(self.msg_type, f"msgtype-{self.msg_type}")

    def option(self, code: int) -> Option6 | None:
        for o in self.options:
            if o.code == code:
                return o
        return None


def _duid(b: bytes, at: int) -> Duid:
    if len(b) < 2:
        raise TruncatedError(_L, at, 2, len(b))
    t = _U16.unpack_from(b)[0]
    if t == 1:
        if len(b) < 8:
            raise TruncatedError(_L, at, 8, len(b))
        return Duid(t, _U16.unpack_from(b, 2)[0], _U32.unpack_from(b, 4)[0], None, b[8:])
    if t == 2:
        if len(b) < 6:
            raise TruncatedError(_L, at, 6, len(b))
        return Duid(t, None, None, _U32.unpack_from(b, 2)[0], b[6:])
    if t == 3:
        if len(b) < 4:
            raise TruncatedError(_L, at, 4, len(b))
        return Duid(t, _U16.unpack_from(b, 2)[0], None, None, b[4:])
    return Duid(t, None, None, None, b[2:])


def _need(at: int, want: int, got: int) -> None:
    if got < want:
        raise TruncatedError(_L, at, want, got)


def _option(code: int, v: bytes, at: int, depth: int) -> Option6:
    n = len(v)
    if code in (1, 2):
        return Option6(code, v, _duid(v, at))
    if code in (3, 25):
        _need(at, 12, n)
        return Option6(code, v, _IA.unpack_from(v), _options(v, 12, n, at, depth + 1))
    if code == 4:
        _need(at, 4, n)
        return Option6(code, v, (_U32.unpack_from(v)[0],), _options(v, 4, n, at, depth + 1))
    if code == 5:
        _need(at, 24, n)
        a, pref, valid = _IAADDR.unpack_from(v)
        return Option6(code, v, (_ip6(a), pref, valid), _options(v, 24, n, at, depth + 1))
    if code == 26:
        _need(at, 25, n)
        pref, valid, plen, prefix = _IAPREFIX.unpack_from(v)
        return Option6(
            code, v, (pref, valid, plen, _ip6(prefix)), _options(v, 25, n, at, depth + 1)
        )
    if code == 6:
        if n % 2:
            raise MalformedError(_L, at, f"option request of odd length {n}")
        return Option6(code, v, tuple(_U16.unpack_from(v, i)[0] for i in range(0, n, 2)))
    if code == 8:
        if n != 2:
            raise MalformedError(_L, at, f"elapsed time of {n} bytes, not 2")
        return Option6(code, v, _U16.unpack_from(v)[0])
    if code == 13:
        _need(at, 2, n)
        return Option6(code, v, (_U16.unpack_from(v)[0], v[2:].decode("utf-8", "replace")))
    if code == 23:
        if n % 16:
            raise MalformedError(_L, at, f"DNS servers of {n} bytes, not a multiple of 16")
        return Option6(code, v, tuple(_ip6(v[i : i + 16]) for i in range(0, n, 16)))
    if code == 9:
        return Option6(code, v, _message(v, at, depth + 1))
    return Option6(code, v)


def _options(buf: bytes, at: int, end: int, base: int, depth: int) -> tuple[Option6, ...]:
    if depth > _MAX_DEPTH:
        raise MalformedError(_L, base + at, f"options nested deeper than {_MAX_DEPTH}")
    out = []
    while at < end:
        if end - at < 4:
            raise TruncatedError(_L, base + at, 4, end - at)
        code, n = _OPT.unpack_from(buf, at)
        if at + 4 + n > end:
            raise TruncatedError(_L, base + at + 4, n, end - at - 4)
        out.append(_option(code, buf[at + 4 : at + 4 + n], base + at + 4, depth))
        at += 4 + n
    return tuple(out)


def _message(buf: bytes, base: int, depth: int) -> Dhcp6:
    n = len(buf)
    if n < 4:
        raise TruncatedError(_L, base, 4, n)
    t = buf[0]
    if t in _RELAY:
        if n < 34:
            raise TruncatedError(_L, base, 34, n)
        return Dhcp6(
            t, None, buf[1], _ip6(buf[2:18]), _ip6(buf[18:34]),
            _options(buf, 34, n, base, depth), n,
        )  # fmt: skip
    xid = _U32.unpack_from(buf)[0] & 0xFFFFFF
    return Dhcp6(t, xid, None, None, None, _options(buf, 4, n, base, depth), n)


def decode(data: bytes | memoryview) -> Dhcp6:
    return _message(bytes(data), 0, 0)


def build_option(code: int, value: bytes) -> bytes:
    return _OPT.pack(code, len(value)) + value


def build(msg_type: int, xid: int, options: bytes = b"") -> bytes:
    """A client/server message; ``options`` is their wire form (``build_option``)."""
    return _U32.pack(msg_type << 24 | xid & 0xFFFFFF) + options
