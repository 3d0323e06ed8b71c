"""Named constants of the pcap-filter language (pcap-filter(7)).

The filter language lets a number be written by name in packet-data
expressions (``tcp[tcpflags] & tcp-syn != 0``, ``icmp[icmptype] = icmp-echo``);
these are plain numbers to the lexer. Protocol and EtherType names used after
``proto`` come from the one table in ``netdiag.packets.numbers`` where it has
them. Nothing here is filled in at run time.
"""

from __future__ import annotations

from netdiag.packets.numbers import EtherType, ICMPType, ICMPv6Type, IPProto

__all__ = ["NUMBER_NAMES", "ETHER_PROTO_NAMES", "IP_PROTO_NAMES"]

#: Names the lexer turns into numbers (offsets into headers, field values).
NUMBER_NAMES: dict[str, int] = {
    # offsets of fields (pcap-filter: "icmptype", "icmpcode", "tcpflags", ...)
    "icmptype": 0,
    "icmpcode": 1,
    "icmp6type": 0,
    "icmp6code": 1,
    "tcpflags": 13,
    # TCP flag bits (RFC 9293 §3.1, RFC 3168 §6.1)
    "tcp-fin": 0x01,
    "tcp-syn": 0x02,
    "tcp-rst": 0x04,
    "tcp-push": 0x08,
    "tcp-ack": 0x10,
    "tcp-urg": 0x20,
    "tcp-ece": 0x40,
    "tcp-cwr": 0x80,
    # ICMPv4 types (RFC 792, RFC 1256)
    "icmp-echoreply": ICMPType.ECHO_REPLY,
    "icmp-unreach": ICMPType.DEST_UNREACH,
    "icmp-sourcequench": ICMPType.SOURCE_QUENCH,
    "icmp-redirect": ICMPType.REDIRECT,
    "icmp-echo": ICMPType.ECHO_REQUEST,
    "icmp-routeradvert": ICMPType.ROUTER_ADVERT,
    "icmp-routersolicit": ICMPType.ROUTER_SOLICIT,
    "icmp-timxceed": ICMPType.TIME_EXCEEDED,
    "icmp-paramprob": ICMPType.PARAM_PROBLEM,
    "icmp-tstamp": ICMPType.TIMESTAMP,
    "icmp-tstampreply": ICMPType.TIMESTAMP_REPLY,
    "icmp-ireq": ICMPType.INFO_REQUEST,
    "icmp-ireqreply": ICMPType.INFO_REPLY,
    "icmp-maskreq": ICMPType.MASK_REQUEST,
    "icmp-maskreply": ICMPType.MASK_REPLY,
    # ICMPv6 types (RFC 4443, RFC 4861, RFC 2710, RFC 3810, RFC 6275, RFC 3971, ...)
    "icmp6-destinationunreach": ICMPv6Type.DEST_UNREACH,
    "icmp6-packettoobig": ICMPv6Type.PACKET_TOO_BIG,
    "icmp6-timeexceeded": ICMPv6Type.TIME_EXCEEDED,
    "icmp6-parameterproblem": ICMPv6Type.PARAM_PROBLEM,
    "icmp6-echo": ICMPv6Type.ECHO_REQUEST,
    "icmp6-echoreply": ICMPv6Type.ECHO_REPLY,
    "icmp6-multicastlistenerquery": ICMPv6Type.MLD_QUERY,
    "icmp6-multicastlistenerreportv1": ICMPv6Type.MLD_REPORT,
    "icmp6-multicastlistenerdone": ICMPv6Type.MLD_DONE,
    "icmp6-routersolicit": ICMPv6Type.ROUTER_SOLICIT,
    "icmp6-routeradvert": ICMPv6Type.ROUTER_ADVERT,
    "icmp6-neighborsolicit": ICMPv6Type.NEIGHBOR_SOLICIT,
    "icmp6-neighboradvert": ICMPv6Type.NEIGHBOR_ADVERT,
    "icmp6-redirect": ICMPv6Type.REDIRECT,
    "icmp6-routerrenum": 138,
    "icmp6-nodeinformationquery": 139,
    "icmp6-nodeinformationresponse": 140,
    "icmp6-ineighbordiscoverysolicit": 141,
    "icmp6-ineighbordiscoveryadvert": 142,
    "icmp6-multicastlistenerreportv2": ICMPv6Type.MLD2_REPORT,
    "icmp6-homeagentdiscoveryrequest": 144,
    "icmp6-homeagentdiscoveryreply": 145,
    "icmp6-mobileprefixsolicit": 146,
    "icmp6-mobileprefixadvert": 147,
    "icmp6-certpathsolicit": 148,
    "icmp6-certpathadvert": 149,
    "icmp6-multicastrouteradvert": 151,
    "icmp6-multicastroutersolicit": 152,
    "icmp6-multicastrouterterm": 153,
}

#: ``ether proto NAME`` (pcap-filter: "ip, ip6, arp, rarp, ...").
ETHER_PROTO_NAMES: dict[str, int] = {
    "ip": EtherType.IPV4,
    "ip6": EtherType.IPV6,
    "arp": EtherType.ARP,
    "rarp": 0x8035,
    "atalk": 0x809B,
    "aarp": 0x80F3,
    "decnet": 0x6003,
    "lat": 0x6004,
    "sca": 0x6007,
    "moprc": 0x6002,
    "mopdl": 0x6001,
    "ipx": 0x8137,
    "vlan": EtherType.VLAN,
    "mpls": EtherType.MPLS,
}

#: ``ip proto NAME`` / ``ip6 proto NAME`` (IANA protocol numbers).
IP_PROTO_NAMES: dict[str, int] = {
    "icmp": IPProto.ICMP,
    "igmp": IPProto.IGMP,
    "ipip": IPProto.IPIP,
    "tcp": IPProto.TCP,
    "udp": IPProto.UDP,
    "ipv6": IPProto.IPV6,
    "gre": IPProto.GRE,
    "esp": IPProto.ESP,
    "ah": IPProto.AH,
    "icmp6": IPProto.ICMPV6,
    "pim": 103,
    "vrrp": 112,
    "sctp": IPProto.SCTP,
}
