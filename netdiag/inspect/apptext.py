"""The application layer of a packet, as the line, the ``-v`` tree and JSON show it.

A UDP datagram or TCP segment whose port names a protocol (``packets.app.PORTS``)
has its payload decoded here, when something shows it, never in
``dispatch.decode``; the result is kept on the packet (``p.__dict__["_app"]``),
so the line, the tree and the JSON of one packet decode it once.

- ``udp_text(p, udp)``: what replaces ``UDP, length N`` on the line (tcpdump's
  ``22836+ A? www.tcpdump.org. (56)``, ``BOOTP/DHCP, Request from ...``,
  ``NTPv4, Client, length 48``), or None.
- ``tcp_text(p, tcp)``: what follows ``length N`` of a TCP segment (tcpdump's
  `` 17177+ [1au] A? ...`` for DNS, ``: HTTP: GET / HTTP/1.1``), or ``""``.
- ``app_fields(p)``: ``{"layer": name, field: value, ...}`` (the tree's block and
  the JSON's entry in ``layers``), or None. A payload that does not decode gives
  ``{"layer": name, ...what decoded..., "error": "<layer>: <reason> (at byte N)"}``.

Per protocol, ``RENDERERS[name] = (module, summary function, fields function)``;
the module (``dnstext``, ``dhcptext``, ``ntptext``, ``httptext``...) is imported on first
use. ``summary(record, payload_length)`` returns the text, ``fields(record)``
the dict. A payload that does not decode is shown as what decoded before the
damage (a DecodeError's ``partial`` record, given to ``summary`` with length
None; or the protocol's name) followed by `` [malformed: <reason>]`` (tcpdump
prints ``[|domain]`` and no reason).
"""

from __future__ import annotations

import importlib

from netdiag.errors import DecodeError
from netdiag.packets.app import TCP_PORTS, UDP_PORTS, dissect, protocol_for

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

    from netdiag.packets.packet import Packet

__all__ = ["RENDERERS", "TCP_SEPARATORS", "app_layer", "udp_text", "tcp_text", "app_fields"]

# protocol name -> (rendering module, summary function, fields function)
RENDERERS: dict[str, tuple[str, str, str]] = {
    "dns": ("netdiag.inspect.dnstext", "dns_summary", "dns_fields"),
    "mdns": ("netdiag.inspect.dnstext", "mdns_summary", "dns_fields"),
    "llmnr": ("netdiag.inspect.dnstext", "dns_summary", "dns_fields"),
    "dns-tcp": ("netdiag.inspect.dnstext", "dns_tcp_summary", "dns_fields"),
    "dhcp": ("netdiag.inspect.dhcptext", "dhcp_summary", "dhcp_fields"),
    "dhcp6": ("netdiag.inspect.dhcptext", "dhcp6_summary", "dhcp6_fields"),
    "ntp": ("netdiag.inspect.ntptext", "ntp_summary", "ntp_fields"),
    "http": ("netdiag.inspect.httptext", "http_summary", "http_fields"),
    "tls": ("netdiag.inspect.tlstext", "tls_summary", "tls_fields"),
    "quic": ("netdiag.inspect.tlstext", "quic_summary", "quic_fields"),
}

# What comes between a TCP segment's ``length N`` and the protocol's text.
TCP_SEPARATORS: dict[str, str] = {"dns-tcp": " ", "http": ": "}

_NONE: tuple[Any, ...] = (None, None, None)
_funcs: dict[str, Any] = {}


def _renderer(name: str, which: int) -> Any:
    key = f"{name}/{which}"
    fn = _funcs.get(key)
    if fn is None:
        entry = RENDERERS.get(name)
        if entry is None:
            return None
        fn = _funcs[key] = getattr(importlib.import_module(entry[0]), entry[which])
    return fn


def app_layer(p: Packet, streams: Any = None) -> tuple[str | None, Any, DecodeError | None]:
    """``(protocol, record, error)`` of the packet's application payload.

    ``(None, None, None)`` when the ports name no protocol or there is no payload;
    ``record`` is None and ``error`` set when the payload did not decode. With
    ``streams`` (an ``appstreams.AppStreams``, kept per capture) a TCP segment of
    a protocol it frames (TLS, DNS over TCP) goes through reassembly, and a QUIC
    datagram gets its connection's Initial keys."""
    cached = p.__dict__.get("_app")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    out = _NONE
    t: Any = p.udp
    streamed = None
    if t is not None:
        name = protocol_for("udp", t.sport, t.dport)
        if streams is not None and name == "quic" and p.error is None and t.payload_length:
            streamed = streams.quic(p, t)  # Initial keys per connection (appstreams.py)
    else:
        t = p.tcp
        name = None if t is None or t.partial else protocol_for("tcp", t.sport, t.dport)
        if streams is not None and name is not None and p.error is None:
            streamed = streams.dissect(p, t, name)  # TCP reassembly (inspect/appstreams.py)
    if streamed is not None:
        out = streamed
    elif name is not None and name in RENDERERS and p.error is None:
        payload = p.data[t.payload_offset : t.end]
        if payload:
            try:
                rec = dissect(name, payload)
            except DecodeError as e:
                out = (name, None, e)
            else:
                out = _NONE if rec is None else (name, rec, None)
    p.__dict__["_app"] = out
    return out


def udp_text(p: Packet, u: Any, streams: Any = None) -> str | None:
    """The line's text for a UDP datagram with a known application, else None."""
    if u.dport not in UDP_PORTS and u.sport not in UDP_PORTS:
        return None
    name, rec, err = app_layer(p, streams)
    if name is None:
        return None
    if err is not None:
        part = getattr(err, "partial", None)  # what decoded before the damage (DNS)
        head = name.upper() if part is None else _renderer(name, 1)(part, None)
        return f"{head} [malformed: {err}]"
    return str(_renderer(name, 1)(rec, u.payload_length))


def tcp_text(p: Packet, t: Any, streams: Any = None) -> str:
    """What follows a TCP segment's ``length N`` on the line ("" for none)."""
    if t.dport not in TCP_PORTS and t.sport not in TCP_PORTS:
        return ""
    name, rec, err = app_layer(p, streams)
    if name is None:
        return ""
    if err is not None:
        part = getattr(err, "partial", None)
        if part is None:
            return f" [malformed: {err}]"
        head = _renderer(name, 1)(part, None)
        return f"{TCP_SEPARATORS.get(name, ': ')}{head} [malformed: {err}]"
    text = _renderer(name, 1)(rec, t.payload_length)
    if not text:
        return ""
    return TCP_SEPARATORS.get(name, ": ") + str(text)


def app_fields(p: Packet, streams: Any = None) -> dict[str, Any] | None:
    """The application layer as ``{"layer": name, ...}`` for the tree and JSON."""
    name, rec, err = app_layer(p, streams)
    if name is None:
        return None
    if err is not None:
        part = getattr(err, "partial", None)
        fields = {} if part is None else _renderer(name, 2)(part)
        return {"layer": name, **fields, "error": str(err)}
    return {"layer": name, **_renderer(name, 2)(rec)}
