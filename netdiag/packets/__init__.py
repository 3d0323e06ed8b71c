"""Pure packet codecs: bytes in, headers out; field values in, bytes out.

No sockets, no clocks, no printing. One module per protocol, each owning the
decoding and the building of its header.

The names below load their module on first use: importing one codec
(``netdiag.packets.tcp``, say) loads that codec and what it needs, not the
whole dispatcher.
"""

from netdiag.lazy import lazy_attributes

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from netdiag.packets.dispatch import decode
    from netdiag.packets.numbers import EtherType, ICMPType, ICMPv6Type, IPProto, LinkType
    from netdiag.packets.packet import Packet

__all__ = ["Packet", "decode", "EtherType", "IPProto", "LinkType", "ICMPType", "ICMPv6Type"]

__getattr__ = lazy_attributes(
    __name__,
    {
        "decode": "netdiag.packets.dispatch",
        "Packet": "netdiag.packets.packet",
        "EtherType": "netdiag.packets.numbers",
        "ICMPType": "netdiag.packets.numbers",
        "ICMPv6Type": "netdiag.packets.numbers",
        "IPProto": "netdiag.packets.numbers",
        "LinkType": "netdiag.packets.numbers",
    },
)
