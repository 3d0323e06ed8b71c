"""A decoded frame: ``Packet``, its layers as attributes.

``decode`` (dispatch.py) fills it. ``Packet`` has no ``__slots__`` on purpose:
absent layers are class attributes that read as ``None``, so a packet pays only
for the layers it has; its Ethernet header is decoded only when read
(``p.eth``), and ``p.ipv4``/``p.ipv6`` are derived from ``p.ip`` when read.
"""

from __future__ import annotations

from netdiag.errors import DecodeError
from netdiag.packets.arp import Arp
from netdiag.packets.ethernet import HEADER_LEN as _ETH_LEN
from netdiag.packets.ethernet import Ethernet, VlanTag
from netdiag.packets.icmp import ICMP
from netdiag.packets.icmpv6 import ICMPv6
from netdiag.packets.ipv4 import IPv4
from netdiag.packets.ipv6 import IPv6
from netdiag.packets.tcp import TCP
from netdiag.packets.udp import UDP

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any, Generic, TypeVar, overload
else:  # what the descriptors below need of typing at run time, so decoding never loads it
    # (ruff cannot see that this overload is typing's: hence the F811 notes below)

    class Generic:
        def __class_getitem__(cls, item: object) -> type:
            return cls

    def TypeVar(name: str, *constraints: object) -> str:  # noqa: N802
        return name

    def overload(fn: object) -> object:
        return fn


__all__ = ["Packet"]

_L = TypeVar("_L", IPv4, IPv6)


class _EthernetOnDemand:
    """``Packet.eth`` and ``Packet.link`` of an Ethernet frame, built when first read
    (most readers never look at the MACs) and then kept in the packet's ``__dict__``,
    which hides this descriptor from later reads. ``decode`` has checked the length."""

    @overload
    def __get__(self, p: None, owner: type[Packet]) -> _EthernetOnDemand: ...
    @overload
    def __get__(self, p: Packet, owner: type[Packet]) -> Ethernet | None: ...  # noqa: F811
    def __get__(self, p: Packet | None, owner: type[Packet]) -> Any:  # noqa: F811
        if p is None:
            return self
        if p.linktype != 1 or len(p.data) < _ETH_LEN:
            return None
        eth = Ethernet.decode(p.data)
        p.__dict__["eth"] = p.__dict__["link"] = eth
        return eth


class _FirstIP(Generic[_L]):
    """``Packet.ipv4`` / ``Packet.ipv6``: the first IP layer of that version, derived
    from ``ip`` and ``inner_ip`` when read, so decoding stores one IP attribute."""

    def __init__(self, version: int) -> None:
        self.version = version

    @overload
    def __get__(self, p: None, owner: type[Packet]) -> _FirstIP[_L]: ...
    @overload
    def __get__(self, p: Packet, owner: type[Packet]) -> _L | None: ...  # noqa: F811
    def __get__(self, p: Packet | None, owner: type[Packet]) -> Any:  # noqa: F811
        if p is None:
            return self
        ip = p.ip
        if ip is None or ip.version == self.version:
            return ip
        for inner in p.inner_ip:
            if inner.version == self.version:
                return inner
        return None


class Packet:
    """A decoded frame. Layers are attributes, ``None`` when absent; ``ip`` is the
    outermost IP layer of either version; ``layers`` lists all, outermost first."""

    data: bytes
    linktype: int = 1  # stored by decode only when it differs
    link: Any = _EthernetOnDemand()  # set by decode for other link types
    eth = _EthernetOnDemand()
    vlan: VlanTag | None = None  # the outermost tag; all tags in ``vlans``
    arp: Arp | None = None
    ipv4: _FirstIP[IPv4] = _FirstIP(4)
    ipv6: _FirstIP[IPv6] = _FirstIP(6)
    ip: IPv4 | IPv6 | None = None
    icmp: ICMP | None = None
    icmpv6: ICMPv6 | None = None
    tcp: TCP | None = None
    udp: UDP | None = None
    error: DecodeError | None = None
    vlans: tuple[VlanTag, ...] = ()
    inner_ip: tuple[IPv4 | IPv6, ...] = ()  # IP in IP, after ``ip``
    # Tunnels (GRE, VXLAN, Geneve, MPLS; dispatch.py): when set, every layer from the
    # outermost network layer to the innermost one, in order (outer IP, outer UDP,
    # VXLAN, inner Ethernet, inner IP...); ``ip`` stays the outermost IP, ``inner_ip``
    # the others, and tcp/udp/icmp/icmpv6 are the innermost transport.
    chain: tuple[Any, ...] = ()
    message: Any = None  # the last layer: LLDP, IGMP, MLD (after icmpv6) or VRRP

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
        if self.chain:
            out.extend(self.chain)
        elif self.ip is not None:
            out.append(self.ip)
            out.extend(self.inner_ip)
        t = self.transport
        if t is not None:
            out.append(t)
        if self.message is not None:
            out.append(self.message)
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
