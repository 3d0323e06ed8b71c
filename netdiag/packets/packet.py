"""Decode a frame into its layers: the one protocol-dispatch table of netdiag.

``decode(data, linktype)`` walks link layer -> network -> transport, keeping
each layer that decoded well. It never raises for bad bytes: when a header is
truncated or impossible, the walk stops, the outer layers stay, and
``Packet.error`` holds the ``DecodeError`` (layer, offset, reason).

Hot path (STYLE habit 9): ``Packet`` has no ``__slots__`` on purpose; absent
layers are class attributes that read as ``None``, so a packet pays only for
the layers it has. Layers unpack their fixed header once and compute the rest
(addresses as text, options, checksum verdicts) on demand.
"""

from __future__ import annotations

from typing import Any

from netdiag.errors import DecodeError, MalformedError, TruncatedError
from netdiag.packets.arp import Arp
from netdiag.packets.ethernet import HEADER_LEN as ETH_LEN
from netdiag.packets.ethernet import Ethernet, VlanTag
from netdiag.packets.icmp import ICMP
from netdiag.packets.icmpv6 import ICMPv6
from netdiag.packets.ipv4 import IPv4
from netdiag.packets.ipv6 import IPv6
from netdiag.packets.linklayer import LinuxSLL, LinuxSLL2, Loopback
from netdiag.packets.tcp import TCP
from netdiag.packets.udp import UDP

__all__ = ["Packet", "decode"]

_VLAN_TPIDS = frozenset((0x8100, 0x88A8, 0x9100))
_MAX_VLAN_TAGS = 8


class Packet:
    """A decoded frame. Layers are attributes, ``None`` when absent; ``ip`` is the
    outermost IP layer of either version; ``layers`` lists all, outermost first."""

    link: Any = None
    eth: Ethernet | None = None
    vlan: VlanTag | None = None  # the outermost tag; all tags in ``vlans``
    arp: Arp | None = None
    ipv4: IPv4 | None = None
    ipv6: IPv6 | None = None
    ip: IPv4 | IPv6 | None = None
    icmp: ICMP | None = None
    icmpv6: ICMPv6 | None = None
    tcp: TCP | None = None
    udp: UDP | None = None
    transport: TCP | UDP | ICMP | ICMPv6 | None = None
    error: DecodeError | None = None
    _pay: tuple[int, int] | None = None

    def __init__(self, data: bytes, linktype: int) -> None:
        self.data = data
        self.linktype = linktype
        self.layers: list[Any] = []

    @property
    def vlans(self) -> list[VlanTag]:
        return [x for x in self.layers if x.name == "vlan"]

    @property
    def payload(self) -> bytes:
        """Bytes after the innermost decoded header, within its declared length."""
        if self._pay is None:
            return b""
        s, e = self._pay
        return bytes(self.data[s:e])

    @property
    def ok(self) -> bool:
        return self.error is None

    def layer_fields(self) -> list[dict[str, Any]]:
        """Every layer as ``{"layer": name, field: value, ...}``, outermost first."""
        return [{"layer": x.name, **x.fields()} for x in self.layers]

    def __repr__(self) -> str:
        names = "/".join(x.name for x in self.layers) or "-"
        err = f" error={self.error}" if self.error else ""
        return f"<Packet {names} {len(self.data)} bytes{err}>"


def decode(data: bytes, linktype: int = 1, *, quoted: bool = False) -> Packet:
    """Decode ``data`` captured on a link of type ``linktype`` (a pcap LINKTYPE).

    With ``quoted`` (the original datagram inside an ICMP error), IP lengths may
    exceed the bytes present and a TCP header may be its first 8 bytes only.
    """
    p = Packet(data, linktype)
    try:
        if linktype == 1:
            eth = Ethernet(data, 0)
            p.link = p.eth = eth
            p.layers.append(eth)
            _ethertype(p, data, ETH_LEN, eth.type)
        elif linktype == 101:
            _raw_ip(p, data, quoted)
        elif linktype == 228:
            _ipv4(p, data, 0, len(data), quoted)
        elif linktype == 229:
            _ipv6(p, data, 0, len(data), quoted)
        elif linktype == 113 or linktype == 276:
            sll: LinuxSLL | LinuxSLL2 = LinuxSLL(data) if linktype == 113 else LinuxSLL2(data)
            p.link = sll
            p.layers.append(sll)
            _ethertype(p, data, sll.header_len, sll.type)
        elif linktype == 0 or linktype == 108:
            lo = Loopback(data, 0, linktype == 108)
            p.link = lo
            p.layers.append(lo)
            t = lo.ethertype
            if t is None:
                p._pay = (4, len(data))
            else:
                _ethertype(p, data, 4, t)
        else:
            raise DecodeError("link", 0, f"unsupported link type {linktype}")
    except DecodeError as e:
        p.error = e
    return p


def _raw_ip(p: Packet, b: bytes, quoted: bool) -> None:
    if not b:
        raise TruncatedError("ip", 0, 1, 0)
    v = b[0] >> 4
    if v == 4:
        _ipv4(p, b, 0, len(b), quoted)
    elif v == 6:
        _ipv6(p, b, 0, len(b), quoted)
    else:
        raise MalformedError("ip", 0, f"IP version {v}")


def _ethertype(p: Packet, b: bytes, off: int, t: int) -> None:
    ntags = 0
    while t in _VLAN_TPIDS:
        tag = VlanTag(b, off, t)
        if p.vlan is None:
            p.vlan = tag
        p.layers.append(tag)
        off += 4
        t = tag.type
        ntags += 1
        if ntags > _MAX_VLAN_TAGS:
            raise MalformedError("vlan", off, f"more than {_MAX_VLAN_TAGS} VLAN tags")
    if t == 0x0800:
        _ipv4(p, b, off, len(b), False)
    elif t == 0x86DD:
        _ipv6(p, b, off, len(b), False)
    elif t == 0x0806:
        arp = Arp(b, off)
        p.arp = arp
        p.layers.append(arp)
        p._pay = (off + arp.length, off + arp.length)
    else:
        p._pay = (off, len(b))


def _ipv4(p: Packet, b: bytes, off: int, end: int, quoted: bool) -> None:
    ip = IPv4(b, off, end)
    p.layers.append(ip)
    if p.ip is None:
        p.ip = ip
    if p.ipv4 is None:
        p.ipv4 = ip
    start = off + ip.header_len
    if ip.frag & 0x1FFF:  # not the first fragment: no transport header here
        p._pay = (start, ip.end)
        return
    _transport(p, b, start, ip.end, ip.protocol, ip, quoted)


def _ipv6(p: Packet, b: bytes, off: int, end: int, quoted: bool) -> None:
    ip = IPv6(b, off, end)
    p.layers.append(ip)
    if p.ip is None:
        p.ip = ip
    if p.ipv6 is None:
        p.ipv6 = ip
    if ip.next_header in (0, 43, 44, 51, 60):
        ip.walk_extensions()
        if ip.frag_offset:
            p._pay = (ip.payload_offset, ip.end)
            return
    _transport(p, b, ip.payload_offset, ip.end, ip.protocol, ip, quoted)


def _transport(p: Packet, b: bytes, off: int, end: int, proto: int, ip: Any, quoted: bool) -> None:
    layer: Any
    if proto == 6:
        layer = p.tcp = TCP(b, off, end, ip, quoted)
    elif proto == 17:
        layer = p.udp = UDP(b, off, end, ip, quoted)
    elif proto == 1:
        layer = p.icmp = ICMP(b, off, end, ip, quoted)
        if layer.quoted_span is not None:
            s, e = layer.quoted_span
            layer.quoted = decode(bytes(b[s:e]), 101, quoted=True)
    elif proto == 58:
        layer = p.icmpv6 = ICMPv6(b, off, end, ip, quoted)
        if layer.quoted_span is not None:
            s, e = layer.quoted_span
            layer.quoted = decode(bytes(b[s:e]), 101, quoted=True)
    elif proto == 4 and len(p.layers) < 16:
        _ipv4(p, b, off, end, quoted)
        return
    elif proto == 41 and len(p.layers) < 16:
        _ipv6(p, b, off, end, quoted)
        return
    else:
        p._pay = (off, end)
        return
    p.layers.append(layer)
    if p.transport is None:
        p.transport = layer
    p._pay = (off + layer.header_len, max(off + layer.header_len, layer.end))
