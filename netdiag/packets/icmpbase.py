"""What ICMPv4 and ICMPv6 messages share: the 8-byte header, the quoted
original datagram of error messages, and RFC 4884 extensions after it.

Layout (RFC 792, RFC 4443 §2.1): type (1), code (1), checksum (2), four
type-specific bytes (``rest``). Subclasses say which types are errors and
where their RFC 4884 length lives; the dispatcher decodes ``quoted_span`` into
``quoted`` (a Packet in quoted mode).
"""

from __future__ import annotations

import struct
from typing import Any

from netdiag.errors import TruncatedError
from netdiag.packets.icmpext import Extensions, split_quote

__all__ = ["ICMPBase", "HEADER_LEN"]

_S = struct.Struct("!BBHI")
HEADER_LEN = _S.size  # 8


class ICMPBase:
    __slots__ = (
        "_buf",
        "_ip",
        "offset",
        "end",
        "type",
        "code",
        "checksum",
        "rest",
        "quoted",
        "quoted_span",
        "extensions",
        "ext_error",
    )
    _buf: bytes
    offset: int
    end: int
    type: int
    code: int
    checksum: int
    rest: int
    name = "icmp"
    header_len = HEADER_LEN
    partial = False

    def __init__(
        self, buf: bytes, off: int, end: int, ip: Any = None, quoted: bool = False
    ) -> None:
        got = end - off
        if got < HEADER_LEN:
            raise TruncatedError(self.name, off, HEADER_LEN, got)
        self.type, self.code, self.checksum, self.rest = _S.unpack_from(buf, off)
        self._buf = buf
        self._ip = ip
        self.offset = off
        self.end = end
        self.quoted: Any = None
        self.quoted_span: tuple[int, int] | None = None
        self.extensions: Extensions | None = None
        self.ext_error: str | None = None
        if self.is_error and not quoted:
            length, heuristic = self._rfc4884()
            self.quoted_span, self.extensions, self.ext_error = split_quote(
                buf, off + HEADER_LEN, end, length, heuristic
            )

    @property
    def is_error(self) -> bool:
        raise NotImplementedError

    def _rfc4884(self) -> tuple[int, bool]:
        """The original datagram's length in bytes (0: not given), and whether a
        structure at byte 128 may be taken for extensions (RFC 4884 §5)."""
        raise NotImplementedError

    @property
    def payload_offset(self) -> int:
        return self.offset + HEADER_LEN

    @property
    def payload_length(self) -> int:
        return self.end - self.offset - HEADER_LEN

    @property
    def checksum_ok(self) -> bool | None:
        raise NotImplementedError

    @property
    def text(self) -> str:
        raise NotImplementedError

    def _head_fields(self) -> dict[str, Any]:
        """The start of ``fields()``: the header and its verdict."""
        return {
            "type": self.type,
            "code": self.code,
            "checksum": self.checksum,
            "checksum_ok": self.checksum_ok,
            "text": self.text,
        }

    def _quote_fields(self, d: dict[str, Any]) -> dict[str, Any]:
        """Add the quoted datagram and the extensions to ``fields()``."""
        if self.quoted is not None:
            d["quoted"] = self.quoted.layer_fields()
            if self.quoted.error is not None:
                d["quoted_error"] = str(self.quoted.error)
        if self.extensions is not None:
            d["extensions"] = self.extensions.fields()
        if self.ext_error is not None:
            d["ext_error"] = self.ext_error
        return d
