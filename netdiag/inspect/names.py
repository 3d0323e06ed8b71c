"""The words the renderers print for protocol numbers: the one place for them.

The codecs keep plain integers; ``packets/numbers.py`` names the numbers, and the
modules of each protocol name their types and codes. This module adds the
phrases ``tcpdump -n`` uses (which differ here and there from the RFC names)
and the short names the statistics tables use, so the text, tree and stats
renderers never spell a protocol name themselves.
"""

from __future__ import annotations

from netdiag.packets.icmpv6 import TYPE_NAMES as ICMPV6_TYPE_NAMES
from netdiag.packets.linklayer import PACKET_TYPES
from netdiag.packets.numbers import ETHERTYPE_NAMES, IPPROTO_NAMES, LinkType
from netdiag.packets.tcp import OPTION_NAMES as TCP_OPTION_NAMES_

__all__ = [
    "ethertype_text",
    "ipproto_name",
    "SUPPORTED_LINKTYPES",
    "LINK_LAYERS",
    "SLL_PACKET_TYPES",
    "NULL_FAMILY_NAMES",
    "ICMP_UNREACH",
    "ICMP_REDIRECT",
    "ICMP6_UNREACH",
    "ICMP6_TYPES",
    "TCP_OPTION_NAMES",
]

#: Link types ``packets.decode`` understands; others are reported, not decoded.
SUPPORTED_LINKTYPES = frozenset(int(x) for x in LinkType)

#: Layer names that belong to the link level (skipped by ``-x``, shown by ``-e``).
LINK_LAYERS = frozenset(("ethernet", "vlan", "sll", "sll2", "loopback"))

#: Linux cooked-capture packet types as tcpdump -e prints them.
SLL_PACKET_TYPES = PACKET_TYPES

#: BSD loopback address families (``AF IPv4 (2)``).
NULL_FAMILY_NAMES = {2: "IPv4", 10: "IPv6", 24: "IPv6", 28: "IPv6", 30: "IPv6"}


def ethertype_text(t: int) -> str:
    """``IPv4 (0x0800)``, ``Unknown (0x88b5)``: tcpdump -e's ethertype field."""
    return f"{ETHERTYPE_NAMES.get(t, 'Unknown')} (0x{t:04x})"


def ipproto_name(proto: int) -> str:
    return IPPROTO_NAMES.get(proto, f"ip-proto-{proto}")


# ICMP destination unreachable (RFC 792, RFC 1812 §5.2.7.1), tcpdump's phrasing:
# (prefix before the quoted destination, suffix after it).
ICMP_UNREACH = {
    0: ("net ", " unreachable"),
    1: ("host ", " unreachable"),
    5: ("", " unreachable - source route failed"),
    6: ("net ", " unreachable - unknown"),
    7: ("host ", " unreachable - unknown"),
    8: ("", " unreachable - source host isolated"),
    9: ("net ", " unreachable - admin prohibited"),
    10: ("host ", " unreachable - admin prohibited"),
    11: ("net ", " unreachable - tos prohibited"),
    12: ("host ", " unreachable - tos prohibited"),
    13: ("host ", " unreachable - admin prohibited filter"),
    14: ("host ", " unreachable - host precedence violation"),
    15: ("host ", " unreachable - precedence cutoff"),
}
# ICMP redirect codes (RFC 792): (word after "redirect", target kind).
ICMP_REDIRECT = {
    0: ("redirect", "net"),
    1: ("redirect", "host"),
    2: ("redirect-tos", "net"),
    3: ("redirect-tos", "host"),
}

# ICMPv6 destination unreachable codes (RFC 4443 §3.1), tcpdump's phrasing.
ICMP6_UNREACH = {
    0: "unreachable route",
    1: "unreachable prohibited",
    2: "beyond scope",
    3: "unreachable address",
    5: "unreachable source address failed policy",
    6: "unreachable reject route",
}
ICMP6_TYPES = ICMPV6_TYPE_NAMES  # defined once, with the codec

TCP_OPTION_NAMES = TCP_OPTION_NAMES_  # defined once, with the codec
