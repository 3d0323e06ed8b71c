"""Packets as JSON, one compact object per packet per line (JSON Lines)::

    {"n": 1, "ts": 1700000000.123456, "caplen": 98, "len": 98,
     "layers": [{"layer": "ethernet", ...}, ...], "error": "tcp: truncated: ..."}

``n`` counts records from 1 in file order; ``ts`` is seconds (a float with
microsecond precision); ``len`` is the length on the wire; ``layers`` is
``Packet.layer_fields()``, then the application layer as an entry of its own
(``{"layer": "dns", ...}``, ``inspect/apptext.py``) when a port names one;
``error`` is present only when decoding stopped early. Values are made
JSON-safe by :func:`netdiag.render.jsonout.to_json`.
"""

from __future__ import annotations

from netdiag.inspect.apptext import app_fields
from netdiag.render.jsonout import to_json

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

    from netdiag.packets.packet import Packet

__all__ = ["packet_json"]


def packet_json(n: int, ts_ns: int, p: Packet, wirelen: int, streams: Any = None) -> str:
    """``streams``: the capture's TCP reassembly (``appstreams.AppStreams``), so TLS
    records and DNS messages spanning segments show on the segment completing them."""
    d: dict[str, Any] = {
        "n": n,
        "ts": round(ts_ns / 1e9, 6),
        "caplen": len(p.data),
        "len": wirelen,
        "layers": p.layer_fields(),
    }
    app = app_fields(p, streams)  # the application layer, an entry of its own (inspect/apptext.py)
    if app is not None:
        d["layers"].append(app)
    if p.error is not None:
        d["error"] = str(p.error)
    return to_json(d)
