"""netdiag's UDP test wire format: defined here and nowhere else.

Big-endian; every datagram starts with the 28-byte header::

    magic "NDut" (4) | version 1 (1) | kind (1) | reserved 0 (2) | test id (4)
    | sequence number (8, unsigned 64-bit) | send time (8, ns since the epoch)

* DATA (kind 0): the header, padded with zeros to the payload length (``-l``).
* END (kind 1): sequence number = packets sent (one past the last DATA number),
  then duration ns (8) and send errors (4) and 4 reserved bytes. It is the last
  packet of the stream: a DATA packet arriving after it was overtaken by it.
* REPORT (kind 2): sequence number echoes the END's, then the receiver's report
  as UTF-8 JSON (``render.udp.metrics_json`` plus receiver fields), at most
  ``MAX_REPORT`` bytes.

Anything else (short, wrong magic/version/kind, an END without its body) is
*foreign*: :func:`parse` returns None, and receivers count it, never trust it,
never fail on it. The sender's and receiver's hot loops use ``HEADER`` and
``SEQ_TIME`` directly (``pack_into``/``unpack_from`` on a reused buffer) to avoid
a call per datagram; their checks are the same as :func:`parse`'s.
"""

from __future__ import annotations

import socket
import struct

from netdiag.errors import UsageError

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "MAGIC",
    "VERSION",
    "DATA",
    "END",
    "REPORT",
    "HEADER",
    "HEADER_LEN",
    "END_BODY",
    "SEQ_TIME",
    "SEQ_OFFSET",
    "MAX_REPORT",
    "build",
    "parse",
    "resolve",
]

MAGIC = b"NDut"
VERSION = 1
DATA, END, REPORT = 0, 1, 2
HEADER = struct.Struct("!4sBBHIQQ")
HEADER_LEN = HEADER.size  # 28
END_BODY = struct.Struct("!QII")
SEQ_TIME = struct.Struct("!QQ")  # sequence number and send time, at SEQ_OFFSET
SEQ_OFFSET = 12
MAX_REPORT = 60_000


def build(kind: int, test_id: int, seq: int, send_ns: int, body: bytes = b"") -> bytes:
    return HEADER.pack(MAGIC, VERSION, kind, 0, test_id, seq, send_ns) + body


def parse(data: bytes | bytearray | memoryview) -> tuple[int, int, int, int] | None:
    """(kind, test id, seq, send ns) of a well-formed datagram; None if foreign."""
    if len(data) < HEADER_LEN:
        return None
    magic, version, kind, _res, tid, seq, sent = HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION or kind > REPORT:
        return None
    if kind == END and len(data) < HEADER_LEN + END_BODY.size:
        return None
    return kind, tid, seq, sent


def resolve(host: str, port: int, family: int | None) -> tuple[int, Any]:
    """(address family, socket address) of ``host`` port ``port``; ``family`` 4, 6 or None."""
    fam = {4: socket.AF_INET, 6: socket.AF_INET6}.get(family or 0, socket.AF_UNSPEC)
    try:
        infos = socket.getaddrinfo(host, port, fam, socket.SOCK_DGRAM)
    except socket.gaierror as e:
        raise UsageError(f"{host}: {e.strerror}") from None
    return infos[0][0], infos[0][4]
