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
    error: DecodeError | None = None
    vlans: tuple[VlanTag, ...] = ()
    inner_ip: tuple[IPv4 | IPv6, ...] = ()  # IP in IP, after ``ip``

    def __init__(self, data: bytes, linktype: int) -> None:
        self.data = data
        self.linktype = linktype

    @property
    def transport(self) -> TCP | UDP | ICMP | ICMPv6 | None:
        return self.tcp or self.udp or self.icmp or self.icmpv6

    @property
    def layers(self) -> list[Any]:
        """Every decoded layer, outermost first."""
        out: list[Any] = []
        if self.link is not None:
            out.append(self.link)
        out.extend(self.vlans)
        if self.arp is not None:
            out.append(self.arp)
        if self.ip is not None:
            out.append(self.ip)
            out.extend(self.inner_ip)
        t = self.transport
        if t is not None:
            out.append(t)
        return out

    @property
    def payload(self) -> bytes:
        """Bytes after the innermost decoded header, within its declared length."""
        layers = self.layers
        if not layers:
            return b""
        last = layers[-1]
        if hasattr(last, "payload_offset"):
            return bytes(self.data[last.payload_offset : last.end])
        return bytes(self.data[last.offset + last.header_len :])

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
    if type(data) is not bytes:
        data = bytes(data)
    p = Packet(data, linktype)
    try:
        if linktype == 1:
            eth = Ethernet(data, 0)
            p.link = p.eth = eth
            t = eth.type
            if t == 0x0800:  # the common case first, without a call
                _ipv4(p, data, ETH_LEN, len(data), False)
            else:
                _ethertype(p, data, ETH_LEN, t)
        elif linktype == 101:
            _raw_ip(p, data, quoted)
        elif linktype == 228:
            _ipv4(p, data, 0, len(data), quoted)
        elif linktype == 229:
            _ipv6(p, data, 0, len(data), quoted)
        elif linktype == 113 or linktype == 276:
            sll: LinuxSLL | LinuxSLL2 = LinuxSLL(data) if linktype == 113 else LinuxSLL2(data)
            p.link = sll
            _ethertype(p, data, sll.header_len, sll.type)
        elif linktype == 0 or linktype == 108:
            lo = Loopback(data, 0, linktype == 108)
            p.link = lo
            family_type = lo.ethertype
            if family_type is not None:
                _ethertype(p, data, 4, family_type)
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
    if t in _VLAN_TPIDS:
        tags: list[VlanTag] = []
        while t in _VLAN_TPIDS:
            if len(tags) == _MAX_VLAN_TAGS:
                raise MalformedError("vlan", off, f"more than {_MAX_VLAN_TAGS} VLAN tags")
            tag = VlanTag(b, off, t)
            if not tags:
                p.vlan = tag
            tags.append(tag)
            p.vlans = tuple(tags)
            off += 4
            t = tag.type
    if t == 0x0800:
        _ipv4(p, b, off, len(b), False)
    elif t == 0x86DD:
        _ipv6(p, b, off, len(b), False)
    elif t == 0x0806:
        p.arp = Arp(b, off)


def _add_ip(p: Packet, ip: IPv4 | IPv6) -> None:
    if p.ip is None:
        p.ip = ip
    else:
        p.inner_ip = (*p.inner_ip, ip)


def _ipv4(p: Packet, b: bytes, off: int, end: int, quoted: bool) -> None:
    ip = IPv4(b, off, end)
    if p.ip is None:
        p.ip = p.ipv4 = ip
    else:
        _add_ip(p, ip)
        if p.ipv4 is None:
            p.ipv4 = ip
    if ip.frag & 0x1FFF:  # not the first fragment: no transport header here
        return
    proto = ip.protocol
    if proto == 6:  # the common cases without a call
        p.tcp = TCP(b, off + ip.header_len, ip.end, ip, quoted)
    elif proto == 17:
        p.udp = UDP(b, off + ip.header_len, ip.end, ip, quoted)
    else:
        _transport(p, b, off + ip.header_len, ip.end, proto, ip, quoted)


def _ipv6(p: Packet, b: bytes, off: int, end: int, quoted: bool) -> None:
    ip = IPv6(b, off, end)
    if p.ip is None:
        p.ip = p.ipv6 = ip
    else:
        _add_ip(p, ip)
        if p.ipv6 is None:
            p.ipv6 = ip
    if ip.next_header in (0, 43, 44, 51, 60):
        ip.walk_extensions()
        if ip.frag_offset:
            return
    _transport(p, b, ip.payload_offset, ip.end, ip.protocol, ip, quoted)


def _transport(p: Packet, b: bytes, off: int, end: int, proto: int, ip: Any, quoted: bool) -> None:
    if proto == 6:
        p.tcp = TCP(b, off, end, ip, quoted)
    elif proto == 17:
        p.udp = UDP(b, off, end, ip, quoted)
    elif proto == 1:
        icmp = p.icmp = ICMP(b, off, end, ip, quoted)
        if icmp.quoted_span is not None:
            s, e = icmp.quoted_span
            icmp.quoted = decode(b[s:e], 101, quoted=True)
    elif proto == 58:
        icmp6 = p.icmpv6 = ICMPv6(b, off, end, ip, quoted)
        if icmp6.quoted_span is not None:
            s, e = icmp6.quoted_span
            icmp6.quoted = decode(b[s:e], 101, quoted=True)
    elif proto == 4 and len(p.inner_ip) < 8:
        _ipv4(p, b, off, end, quoted)
    elif proto == 41 and len(p.inner_ip) < 8:
        _ipv6(p, b, off, end, quoted)
