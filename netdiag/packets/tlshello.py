"""TLS ClientHello and ServerHello bodies (RFC 8446 §4.1.2, §4.1.3), with the
extensions netdiag interprets: server_name (RFC 6066 §3), ALPN (RFC 7301),
supported_versions (§4.2.1), supported_groups (§4.2.7), signature_algorithms
(§4.2.3), ec_point_formats (RFC 8422 §5.1.2) and key_share (§4.2.8, the groups).
The rest are kept as ``Extension(type, data)``.

Every vector is read through a bounded cursor: a length past its enclosing field
is a ``MalformedError`` at that length's offset, a body that ends early a
``TruncatedError`` (layer ``tls``, offsets in the data ``packets/tls.py`` was
given). The record layer and the handshake framing are in packets/tls.py.
"""

from __future__ import annotations

import struct
from collections import namedtuple

from netdiag.errors import MalformedError, TruncatedError
from netdiag.records import dataclass

__all__ = ["Extension", "ClientHello", "ServerHello", "HELLO_RETRY_RANDOM",
           "decode_client_hello", "decode_server_hello"]  # fmt: skip

_LAYER = "tls"

# RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest.
HELLO_RETRY_RANDOM = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
)
EXT_SERVER_NAME, EXT_GROUPS, EXT_POINT_FORMATS, EXT_SIG_ALGS = 0, 10, 11, 13
EXT_ALPN, EXT_SUPPORTED_VERSIONS, EXT_KEY_SHARE = 16, 43, 51


# One extension as sent: (type, data). A named tuple, since a ClientHello holds a
# dozen or more and a frozen record costs several times a tuple to make.
Extension = namedtuple("Extension", ("type", "data"))


@dataclass(frozen=True, slots=True)
class ClientHello:
    legacy_version: int
    random: bytes
    session_id: bytes
    cipher_suites: tuple[int, ...]
    compression_methods: bytes
    extensions: tuple[Extension, ...]
    server_name: str | None = None
    alpn: tuple[bytes, ...] = ()
    supported_versions: tuple[int, ...] = ()
    groups: tuple[int, ...] = ()
    signature_algorithms: tuple[int, ...] = ()
    ec_point_formats: tuple[int, ...] = ()
    key_share_groups: tuple[int, ...] = ()

    @property
    def extension_types(self) -> tuple[int, ...]:
        return tuple(e.type for e in self.extensions)

    @property
    def alpn_text(self) -> tuple[str, ...]:
        return tuple(p.decode("ascii", "backslashreplace") for p in self.alpn)


@dataclass(frozen=True, slots=True)
class ServerHello:
    legacy_version: int
    random: bytes
    session_id: bytes
    cipher_suite: int
    compression_method: int
    extensions: tuple[Extension, ...]
    selected_version: int | None = None
    alpn: bytes | None = None
    key_share_group: int | None = None

    @property
    def version(self) -> int:
        """The version the server chose: supported_versions if sent, else legacy."""
        return self.selected_version if self.selected_version is not None else self.legacy_version

    @property
    def hello_retry_request(self) -> bool:
        return self.random == HELLO_RETRY_RANDOM

    @property
    def extension_types(self) -> tuple[int, ...]:
        return tuple(e.type for e in self.extensions)


class _Reader:
    """A bounded cursor over one message body; ``base`` is its offset in the data."""

    __slots__ = ("buf", "pos", "end", "base")

    def __init__(self, buf: bytes, base: int, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.base = base
        self.pos = pos
        self.end = len(buf) if end is None else end

    def take(self, n: int) -> bytes:
        if self.end - self.pos < n:
            raise TruncatedError(_LAYER, self.base + self.pos, n, self.end - self.pos)
        v = self.buf[self.pos : self.pos + n]
        self.pos += n
        return v

    def u8(self) -> int:
        pos = self.pos
        if pos >= self.end:
            raise TruncatedError(_LAYER, self.base + pos, 1, 0)
        self.pos = pos + 1
        return self.buf[pos]

    def u16(self) -> int:
        pos = self.pos
        if self.end - pos < 2:
            raise TruncatedError(_LAYER, self.base + pos, 2, self.end - pos)
        self.pos = pos + 2
        return (self.buf[pos] << 8) | self.buf[pos + 1]

    def vec(self, width: int) -> bytes:
        n = self.u8() if width == 1 else self.u16()
        pos = self.pos
        if self.end - pos < n:
            raise MalformedError(_LAYER, self.base + pos - width,
                                 f"length {n} runs past its enclosing field "
                                 f"({self.end - pos} bytes left)")  # fmt: skip
        self.pos = pos + n
        return self.buf[pos : pos + n]

    def sub(self, data: bytes) -> _Reader:
        return _Reader(data, self.base + self.pos - len(data))


def _u16_list(data: bytes, r: _Reader, what: str) -> tuple[int, ...]:
    if len(data) % 2:
        raise MalformedError(
            _LAYER, r.base + r.pos - len(data), f"{what} length {len(data)} is odd"
        )
    return struct.unpack(f"!{len(data) // 2}H", data)


def _extensions(r: _Reader) -> list[tuple[int, bytes, _Reader]]:
    if r.pos == r.end:
        return []  # no extensions block at all (allowed before TLS 1.3)
    block = r.vec(2)
    if r.pos != r.end:
        raise MalformedError(_LAYER, r.base + r.pos, f"{r.end - r.pos} bytes after the extensions")
    er = r.sub(block)
    out = []
    while er.pos < er.end:
        etype = er.u16()
        edata = er.vec(2)
        out.append((etype, edata, er.sub(edata)))
    return out


def decode_client_hello(body: bytes, off: int = 0) -> ClientHello:
    """A ClientHello body (RFC 8446 §4.1.2); ``off`` is its offset in the data."""
    r = _Reader(body, off)
    legacy_version = r.u16()
    random = r.take(32)
    session_id = r.vec(1)
    suites_raw = r.vec(2)
    suites = _u16_list(suites_raw, r, "cipher_suites")
    compression = r.vec(1)
    exts: list[Extension] = []
    sni: str | None = None
    alpn: tuple[bytes, ...] = ()
    versions: tuple[int, ...] = ()
    groups: tuple[int, ...] = ()
    sigalgs: tuple[int, ...] = ()
    formats: tuple[int, ...] = ()
    shares: tuple[int, ...] = ()
    for etype, edata, er in _extensions(r):
        exts.append(Extension(etype, edata))
        if etype == EXT_SERVER_NAME and edata:
            sni = _server_name(er)
        elif etype == EXT_ALPN:
            alpn = _alpn(er)
        elif etype == EXT_SUPPORTED_VERSIONS:
            versions = _u16_list(er.vec(1), er, "supported_versions")
        elif etype == EXT_GROUPS:
            groups = _u16_list(er.vec(2), er, "supported_groups")
        elif etype == EXT_SIG_ALGS:
            sigalgs = _u16_list(er.vec(2), er, "signature_algorithms")
        elif etype == EXT_POINT_FORMATS:
            formats = tuple(er.vec(1))
        elif etype == EXT_KEY_SHARE:
            shares = _key_share_groups(er)
    return ClientHello(legacy_version, random, session_id, suites, compression, tuple(exts),
                       sni, alpn, versions, groups, sigalgs, formats, shares)  # fmt: skip


def _server_name(r: _Reader) -> str | None:
    lr = r.sub(r.vec(2))
    while lr.pos < lr.end:
        kind = lr.u8()
        name = lr.vec(2)
        if kind == 0:  # host_name
            return name.decode("ascii", "backslashreplace")
    return None


def _alpn(r: _Reader) -> tuple[bytes, ...]:
    lr = r.sub(r.vec(2))
    out = []
    while lr.pos < lr.end:
        out.append(lr.vec(1))
    return tuple(out)


def _key_share_groups(r: _Reader) -> tuple[int, ...]:
    lr = r.sub(r.vec(2))
    out = []
    while lr.pos < lr.end:
        out.append(lr.u16())
        lr.vec(2)
    return tuple(out)


def decode_server_hello(body: bytes, off: int = 0) -> ServerHello:
    """A ServerHello body (RFC 8446 §4.1.3); ``off`` is its offset in the data."""
    r = _Reader(body, off)
    legacy_version = r.u16()
    random = r.take(32)
    session_id = r.vec(1)
    suite = r.u16()
    compression = r.u8()
    exts: list[Extension] = []
    selected: int | None = None
    alpn: bytes | None = None
    share: int | None = None
    for etype, edata, er in _extensions(r):
        exts.append(Extension(etype, edata))
        if etype == EXT_SUPPORTED_VERSIONS:
            selected = er.u16()
        elif etype == EXT_ALPN:
            protos = _alpn(er)
            alpn = protos[0] if protos else None
        elif etype == EXT_KEY_SHARE:
            share = er.u16()
    return ServerHello(legacy_version, random, session_id, suite, compression, tuple(exts),
                       selected, alpn, share)  # fmt: skip
