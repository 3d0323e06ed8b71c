"""Protocol numbers, named once (STYLE habit 7).

Every code that appears on the wire is an ``IntEnum`` here, with the text that
tools print for it beside it. Decoders keep plain ints in their fields (a value
we have no name for is still a valid finding); these tables name them.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "EtherType",
    "IPProto",
    "LinkType",
    "ArpOp",
    "ICMPType",
    "ICMPv6Type",
    "ETHERTYPE_NAMES",
    "IPPROTO_NAMES",
    "VLAN_TPIDS",
]


class EtherType(IntEnum):
    """IEEE 802 EtherTypes (IANA ieee-802-numbers)."""

    IPV4 = 0x0800
    ARP = 0x0806
    VLAN = 0x8100  # IEEE 802.1Q customer tag
    IPV6 = 0x86DD
    QINQ = 0x88A8  # IEEE 802.1ad service tag
    QINQ_OLD = 0x9100  # pre-standard double tagging
    MPLS = 0x8847
    MPLS_MULTICAST = 0x8848
    LLDP = 0x88CC
    TEB = 0x6558  # transparent Ethernet bridging (an Ethernet frame inside GRE, Geneve)


ETHERTYPE_NAMES: dict[int, str] = {
    EtherType.IPV4: "IPv4",
    EtherType.ARP: "ARP",
    EtherType.VLAN: "802.1Q",
    EtherType.IPV6: "IPv6",
    EtherType.QINQ: "802.1Q-QinQ",
    EtherType.QINQ_OLD: "802.1Q-9100",
    EtherType.MPLS: "MPLS unicast",
    EtherType.MPLS_MULTICAST: "MPLS multicast",
    EtherType.LLDP: "LLDP",
    EtherType.TEB: "TEB",
}

VLAN_TPIDS = frozenset((EtherType.VLAN, EtherType.QINQ, EtherType.QINQ_OLD))


class IPProto(IntEnum):
    """IANA protocol numbers (also IPv6 next-header values)."""

    HOPOPT = 0
    ICMP = 1
    IGMP = 2
    IPIP = 4
    TCP = 6
    UDP = 17
    IPV6 = 41
    ROUTING = 43
    FRAGMENT = 44
    GRE = 47
    ESP = 50
    AH = 51
    ICMPV6 = 58
    NONE = 59
    DSTOPTS = 60
    VRRP = 112
    SCTP = 132


IPPROTO_NAMES: dict[int, str] = {
    IPProto.HOPOPT: "HBH",
    IPProto.ICMP: "ICMP",
    IPProto.IGMP: "IGMP",
    IPProto.IPIP: "IPIP",
    IPProto.TCP: "TCP",
    IPProto.UDP: "UDP",
    IPProto.IPV6: "IPv6",
    IPProto.ROUTING: "Routing",
    IPProto.FRAGMENT: "Fragment",
    IPProto.GRE: "GRE",
    IPProto.ESP: "ESP",
    IPProto.AH: "AH",
    IPProto.ICMPV6: "ICMPv6",
    IPProto.NONE: "NoNext",
    IPProto.DSTOPTS: "DstOpts",
    IPProto.VRRP: "VRRP",
    IPProto.SCTP: "SCTP",
}


class LinkType(IntEnum):
    """pcap LINKTYPE_* values (tcpdump.org linktypes)."""

    NULL = 0
    ETHERNET = 1
    PPP = 9
    PPP_HDLC = 50
    RAW = 101
    C_HDLC = 104
    IEEE802_11 = 105
    FRELAY = 107
    LOOP = 108
    LINUX_SLL = 113
    PFLOG = 117
    SUNATM = 123
    IEEE802_11_RADIO = 127
    IPV4 = 228
    IPV6 = 229
    NFLOG = 239
    LINUX_SLL2 = 276


class ArpOp(IntEnum):
    """ARP opcodes (RFC 826, RFC 903)."""

    REQUEST = 1
    REPLY = 2
    RREQUEST = 3
    RREPLY = 4


class ICMPType(IntEnum):
    """ICMPv4 types (RFC 792, RFC 1256, RFC 8335)."""

    ECHO_REPLY = 0
    DEST_UNREACH = 3
    SOURCE_QUENCH = 4
    REDIRECT = 5
    ECHO_REQUEST = 8
    ROUTER_ADVERT = 9
    ROUTER_SOLICIT = 10
    TIME_EXCEEDED = 11
    PARAM_PROBLEM = 12
    TIMESTAMP = 13
    TIMESTAMP_REPLY = 14
    INFO_REQUEST = 15
    INFO_REPLY = 16
    MASK_REQUEST = 17
    MASK_REPLY = 18


class ICMPv6Type(IntEnum):
    """ICMPv6 types (RFC 4443, RFC 4861)."""

    DEST_UNREACH = 1
    PACKET_TOO_BIG = 2
    TIME_EXCEEDED = 3
    PARAM_PROBLEM = 4
    ECHO_REQUEST = 128
    ECHO_REPLY = 129
    MLD_QUERY = 130
    MLD_REPORT = 131
    MLD_DONE = 132
    ROUTER_SOLICIT = 133
    ROUTER_ADVERT = 134
    NEIGHBOR_SOLICIT = 135
    NEIGHBOR_ADVERT = 136
    REDIRECT = 137
    MLD2_REPORT = 143
