"""What ICMPv4 and ICMPv6 messages share: the 8-byte header, the quoted
original datagram of error messages, and RFC 4884 extensions after it.

Layout (RFC 792, RFC 4443 §2.1): type (1), code (1), checksum (2), four
type-specific bytes (``rest``). Subclasses say which types are errors and
where their RFC 4884 length lives; the dispatcher decodes ``quoted_span`` into
``quoted`` (a Packet in quoted mode).

The classes have no ``__init__`` (STYLE habit 9): ``decode`` validates and fills
the slots, and the dispatcher (dispatch.py) fills them itself for a message that
is not an error (nothing quoted, nothing to split). The checksum is read from
the buffer when asked; what follows an error's header lives in ``_quote``.
"""

from __future__ import annotations

import struct

from netdiag.errors import TruncatedError
from netdiag.packets.icmpext import Extensions, split_quote

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any, Self

__all__ = ["ICMPBase", "HEADER_LEN", "HOT"]

_S = struct.Struct("!BBHI")
HEADER_LEN = _S.size  # 8
HOT = struct.Struct("!BB2xI")  # all but the checksum: what the dispatcher reads
_U16 = struct.Struct("!H")


class _Quote:
    """What an error message carries after its header."""

    __slots__ = ("packet", "span", "extensions", "error")

    def __init__(self, span: tuple[int, int] | None, ext: Extensions | None, error: str | None):
        self.packet: Any = None  # a Packet (packet.py imports this module, not the reverse)
        self.span = span
        self.extensions = ext
        self.error = error


class ICMPBase:
    __slots__ = ("_buf", "_ip", "offset", "end", "type", "code", "rest", "_quote")
    _buf: bytes
    _ip: Any  # the IP layer carrying it (IPv4 | IPv6 | None), for the checksum
    offset: int
    end: int
    type: int
    code: int
    rest: int
    _quote: _Quote | None  # None: not an error message, or itself quoted
    name = "icmp"
    header_len = HEADER_LEN
    partial = False

    @classmethod
    def decode(cls, buf: bytes, off: int, end: int, ip: Any = None, quoted: bool = False) -> Self:
        """The message at ``off``, ending at ``end``, carried by ``ip``; an error
        message's quote and extensions are split unless it is itself ``quoted``."""
        got = end - off
        if got < HEADER_LEN:
            raise TruncatedError(cls.name, off, HEADER_LEN, got)
        msg = cls()
        msg.type, msg.code, msg.rest = HOT.unpack_from(buf, off)
        msg._buf = buf
        msg._ip = ip
        msg.offset = off
        msg.end = end
        msg._quote = None
        if msg.is_error and not quoted:
            length, heuristic = msg._rfc4884()
            msg._quote = _Quote(*split_quote(buf, off + HEADER_LEN, end, length, heuristic))
        return msg

    @property
    def checksum(self) -> int:
        return int(_U16.unpack_from(self._buf, self.offset + 2)[0])

    # An error message's quote (the dispatcher decodes ``quoted_span`` into
    # ``quoted``, a Packet) and RFC 4884 extensions; None for other messages.
    @property
    def quoted(self) -> Any:
        q = self._quote
        return None if q is None else q.packet

    @quoted.setter
    def quoted(self, packet: Any) -> None:
        if self._quote is None:
            self._quote = _Quote(None, None, None)
        self._quote.packet = packet

    @property
    def quoted_span(self) -> tuple[int, int] | None:
        q = self._quote
        return None if q is None else q.span

    @property
    def extensions(self) -> Extensions | None:
        q = self._quote
        return None if q is None else q.extensions

    @property
    def ext_error(self) -> str | None:
        q = self._quote
        return None if q is None else q.error

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
