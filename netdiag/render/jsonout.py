"""Packets (and capture statistics) as JSON.

One compact object per packet per line (JSON Lines)::

    {"n": 1, "ts": 1700000000.123456, "caplen": 98, "len": 98,
     "layers": [{"layer": "ethernet", ...}, ...], "error": "tcp: truncated: ..."}

``n`` counts records from 1 in file order; ``ts`` is seconds (a float with
microsecond precision); ``len`` is the length on the wire; ``layers`` is
``Packet.layer_fields()``; ``error`` is present only when decoding stopped
early. Values are made JSON-safe: bytes become hex text, tuples lists, other
objects with ``fields()`` their fields, anything else its ``str``. Non-finite
floats are refused (``allow_nan=False``), so every line is strict JSON.
"""

from __future__ import annotations

import json
from typing import Any

from netdiag.packets.packet import Packet

__all__ = ["packet_json", "to_json", "jsonable"]


def _default(o: Any) -> Any:
    if isinstance(o, bytes | bytearray | memoryview):
        return bytes(o).hex()
    if isinstance(o, set | frozenset):
        return sorted(o, key=str)
    fields = getattr(o, "fields", None)
    if callable(fields):
        return fields()
    return str(o)


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_default)


def jsonable(o: Any) -> Any:
    """``o`` with bytes, tuples and objects turned into plain JSON values."""
    return json.loads(_ENCODER.encode(o))


def to_json(o: Any) -> str:
    return _ENCODER.encode(o)


def packet_json(n: int, ts_ns: int, p: Packet, wirelen: int) -> str:
    d: dict[str, Any] = {
        "n": n,
        "ts": round(ts_ns / 1e9, 6),
        "caplen": len(p.data),
        "len": wirelen,
        "layers": p.layer_fields(),
    }
    if p.error is not None:
        d["error"] = str(p.error)
    return _ENCODER.encode(d)
