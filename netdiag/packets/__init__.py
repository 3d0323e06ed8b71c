"""Pure packet codecs: bytes in, headers out; field values in, bytes out.

No sockets, no clocks, no printing. One module per protocol, each owning the
decoding and the building of its header.
"""

from netdiag.packets.dispatch import decode
from netdiag.packets.numbers import EtherType, ICMPType, ICMPv6Type, IPProto, LinkType
from netdiag.packets.packet import Packet

__all__ = ["Packet", "decode", "EtherType", "IPProto", "LinkType", "ICMPType", "ICMPv6Type"]
