"""HTTP/1.x as the line, the tree and JSON show it (``packets.http``).

The line is tcpdump's (``print-http.c``, ``txtproto_print`` without ``-v``):
after the TCP segment's ``length N``, ``: HTTP: GET / HTTP/1.1`` for a request
or status line and ``: HTTP`` for any other payload on the port (a body, a
continuation). tcpdump also treats any first line whose second word is three
digits as a status line; netdiag asks for ``HTTP/`` first, as tshark does.
The tree and JSON give the method, URI, version, status code and reason, Host,
Content-Length, Content-Type, whether the header ended in this segment, and
every header field (at most ``packets.http.MAX_HEADERS``).
"""

from __future__ import annotations

from netdiag.packets.http import Http

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["http_summary", "http_fields"]


def http_summary(m: Http, length: int) -> str:
    line = m.line
    if line is None or not line.isprintable():
        return "HTTP"
    return f"HTTP: {line}"


def http_fields(m: Http) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": m.kind, "length": m.length}
    if m.kind == "data":
        return d
    if m.kind == "request":
        d.update(method=m.method, uri=m.uri, version=m.version)
    else:
        d.update(version=m.version, status=m.status, reason=m.reason)
    d.update(host=m.host, content_length=m.content_length, content_type=m.content_type,
             complete=m.complete)  # fmt: skip
    d["headers"] = [{"name": k, "value": v} for k, v in m.headers]
    return d
