"""HTTP/1.x messages as they start in one TCP segment (RFC 9112 §2-3, §5, §6).

``decode(data)`` returns a frozen ``Http``. A payload that starts with a
request line (``METHOD target HTTP/x.y``) or a status line (``HTTP/x.y code
reason``) gives ``kind`` ``"request"`` or ``"response"`` with the line's parts
and the header fields that follow, up to the empty line or the end of the
segment (``complete`` says whether the empty line was seen); ``host``,
``content_length`` and ``content_type`` are read off them. Anything else (a
body, a continuation) is ``kind`` ``"data"``.

Bounded: at most ``MAX_HEADER_BYTES`` (16 KiB) of the payload are read for the
line and the headers, at most ``MAX_HEADERS`` (100) fields are kept, and a field
line without a colon or a Content-Length that is not a number is a
``MalformedError`` (layer ``"http"``). ``build_request``/``build_response``
write messages for tests (round trip ``decode(build_...)``).
"""

from __future__ import annotations

from netdiag.errors import MalformedError
from netdiag.records import dataclass

__all__ = ["Http", "decode", "build_request", "build_response", "MAX_HEADER_BYTES",
           "MAX_HEADERS", "METHODS"]  # fmt: skip

MAX_HEADER_BYTES = 16384
MAX_HEADERS = 100
_L = "http"
# RFC 9110 §9, WebDAV (RFC 4918), and the others tcpdump knows (print-http.c).
METHODS = frozenset(
    b"GET PUT COPY HEAD LOCK MOVE POLL POST BCOPY BMOVE MKCOL TRACE LABEL MERGE DELETE "
    b"SEARCH UNLOCK REPORT UPDATE NOTIFY BDELETE CONNECT OPTIONS CHECKIN PROPFIND CHECKOUT "
    b"CCM_POST SUBSCRIBE PROPPATCH BPROPFIND BPROPPATCH UNCHECKOUT MKACTIVITY MKWORKSPACE "
    b"UNSUBSCRIBE RPC_CONNECT VERSION-CONTROL BASELINE-CONTROL PATCH".split()
)


@dataclass(frozen=True, slots=True)
class Http:
    kind: str  # "request", "response" or "data"
    length: int  # bytes of the payload
    method: str | None = None
    uri: str | None = None
    version: str | None = None  # "HTTP/1.1"
    status: int | None = None
    reason: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    complete: bool = False  # the empty line ending the headers is in this segment
    header_length: int = 0  # bytes of the line and headers read
    line: str | None = None  # the request or status line as it came

    def header(self, name: str) -> str | None:
        """The first field ``name`` (case-insensitive)."""
        low = name.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return v
        return None

    @property
    def host(self) -> str | None:
        return self.header("host")

    @property
    def content_type(self) -> str | None:
        return self.header("content-type")

    @property
    def content_length(self) -> int | None:
        v = self.header("content-length")
        return None if v is None else int(v)


def _text(b: bytes) -> str:
    return b.decode("latin-1")


def decode(data: bytes | memoryview) -> Http:
    buf = bytes(data[:MAX_HEADER_BYTES])
    n = len(data)
    eol = buf.find(b"\n")
    line = buf if eol < 0 else buf[:eol]
    line = line[:-1] if line.endswith(b"\r") else line
    parts = line.split(b" ", 2)
    if len(parts) >= 2 and parts[0].upper() in METHODS:
        kind = "request"  # HTTP/0.9 has no version; tcpdump takes any case
    elif (
        len(parts) >= 2
        and parts[0].startswith(b"HTTP/")
        and len(parts[1]) == 3
        and parts[1].isdigit()
    ):
        kind = "response"
    else:
        return Http("data", n)
    headers: list[tuple[str, str]] = []
    at = len(buf) if eol < 0 else eol + 1
    complete = False
    while at < len(buf):
        end = buf.find(b"\n", at)
        if end < 0:
            break  # the rest of the field is in a later segment
        field = buf[at:end]
        field = field[:-1] if field.endswith(b"\r") else field
        if not field:
            complete = True
            at = end + 1
            break
        colon = field.find(b":")
        if colon <= 0:
            raise MalformedError(_L, at, "header field without a name and colon")
        if len(headers) < MAX_HEADERS:
            headers.append((_text(field[:colon]), _text(field[colon + 1 :].strip(b" \t"))))
        at = end + 1
    for k, v in headers:
        if k.lower() == "content-length" and not (v.isascii() and v.isdigit()):
            raise MalformedError(_L, 0, f"Content-Length {v!r} is not a number")
    if kind == "request":
        return Http(
            kind, n, _text(parts[0]), _text(parts[1]), _text(parts[2]) if len(parts) == 3 else "",
            headers=tuple(headers), complete=complete, header_length=at, line=_text(line),
        )  # fmt: skip
    return Http(
        kind, n, version=_text(parts[0]), status=int(parts[1]),
        reason=_text(parts[2]) if len(parts) == 3 else "",
        headers=tuple(headers), complete=complete, header_length=at, line=_text(line),
    )  # fmt: skip


def _fields(headers: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> bytes:
    return b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in headers) + b"\r\n"


def build_request(
    method: str, uri: str, headers: tuple[tuple[str, str], ...] | list[tuple[str, str]] = (),
    body: bytes = b"", version: str = "HTTP/1.1",
) -> bytes:  # fmt: skip
    return f"{method} {uri} {version}\r\n".encode("latin-1") + _fields(headers) + body


def build_response(
    status: int, reason: str, headers: tuple[tuple[str, str], ...] | list[tuple[str, str]] = (),
    body: bytes = b"", version: str = "HTTP/1.1",
) -> bytes:  # fmt: skip
    return f"{version} {status} {reason}\r\n".encode("latin-1") + _fields(headers) + body
