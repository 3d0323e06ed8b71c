"""Application protocols above UDP and TCP: which one a port means, and its dissector.

``PORTS`` is the one literal table (STYLE habit 7) from ``(transport, port)`` to a
protocol name. ``protocol_for(transport, sport, dport)`` picks the name for a
datagram or segment by either port; where the two ports name different
protocols, the one first in ``PORTS`` wins (tcpdump's order of precedence).

``dissect(name, payload)`` decodes ``payload`` with that protocol's module
(``netdiag.packets.dns``, ``dhcp``, ``dhcp6``, ``ntp``, ``http``; ``tls``,
``quic`` where they exist), imported on first use: decoding a packet
(``dispatch.decode``) never looks above the transport header, and a reader that
never shows the application layer never imports these modules. Each
dissector raises only ``DecodeError`` subclasses (with layer and offset).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["PORTS", "UDP_PORTS", "TCP_PORTS", "DISSECTORS", "protocol_for", "dissect"]

# In tcpdump's order of precedence (print-udp.c, print-tcp.c): when the two ports
# name different protocols, the one listed first wins.
PORTS: dict[tuple[str, int], str] = {
    ("udp", 53): "dns",
    ("udp", 67): "dhcp",
    ("udp", 68): "dhcp",
    ("udp", 123): "ntp",
    ("udp", 546): "dhcp6",
    ("udp", 547): "dhcp6",
    ("udp", 5353): "mdns",
    ("udp", 5355): "llmnr",
    ("udp", 443): "quic",
    ("tcp", 53): "dns-tcp",
    ("tcp", 80): "http",
    ("tcp", 8080): "http",
    ("tcp", 443): "tls",
}

# Derived once from PORTS, so the per-packet look-up needs no tuple.
UDP_PORTS: dict[int, str] = {port: name for (t, port), name in PORTS.items() if t == "udp"}
TCP_PORTS: dict[int, str] = {port: name for (t, port), name in PORTS.items() if t == "tcp"}

# protocol name -> (module, function) that decodes its payload.
DISSECTORS: dict[str, tuple[str, str]] = {
    "dns": ("netdiag.packets.dns", "decode"),
    "mdns": ("netdiag.packets.dns", "decode"),
    "llmnr": ("netdiag.packets.dns", "decode"),
    "dns-tcp": ("netdiag.packets.dns", "decode_tcp"),
    "dhcp": ("netdiag.packets.dhcp", "decode"),
    "dhcp6": ("netdiag.packets.dhcp6", "decode"),
    "ntp": ("netdiag.packets.ntp", "decode"),
    "http": ("netdiag.packets.http", "decode"),
    "tls": ("netdiag.packets.tls", "decode_segment"),  # one segment; records span them
    "quic": ("netdiag.packets.quic", "decode"),
}

_RANK: dict[str, int] = {}
for _name in PORTS.values():
    _RANK.setdefault(_name, len(_RANK))
_loaded: dict[str, Any] = {}


def protocol_for(transport: str, sport: int, dport: int) -> str | None:
    """The application protocol of a ``"udp"``/``"tcp"`` flow by its ports, or None."""
    table = UDP_PORTS if transport == "udp" else TCP_PORTS
    d = table.get(dport)
    s = table.get(sport)
    if d is None:
        return s
    if s is None or s == d:
        return d
    return s if _RANK[s] < _RANK[d] else d


def dissector(name: str) -> Any:
    """The decode function of protocol ``name`` (KeyError for an unknown name);
    None when its module is not there (a protocol a later helper adds)."""
    fn = _loaded.get(name)
    if fn is None and name not in _loaded:
        module, attr = DISSECTORS[name]
        try:
            fn = getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            fn = None
        _loaded[name] = fn
    return fn


def dissect(name: str, payload: bytes | memoryview) -> Any:
    """``payload`` decoded as protocol ``name``; raises the dissector's DecodeError.

    Returns None for a protocol whose dissector module does not exist (yet)."""
    fn = dissector(name)
    if fn is None:
        return None
    return fn(payload)
