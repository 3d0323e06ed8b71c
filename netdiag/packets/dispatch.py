"""Decode a frame into its layers (``Packet``): the one protocol-dispatch table.

``decode(data, linktype)`` walks link layer -> network -> transport, keeping
each layer that decoded well. It never raises for bad bytes: when a header is
truncated or impossible, the walk stops, the outer layers stay, and
``Packet.error`` holds the ``DecodeError`` (layer, offset, reason).

Hot path (STYLE habit 9; ``make bench`` measures it). ``decode`` is one
straight-line walk for the common shapes: Ethernet (802.1Q/802.1ad tags), Linux
cooked, loopback or raw IP, then IPv4 without options or IPv6, then TCP, UDP,
ICMP or ICMPv6 (not an error message). It reads each header once, with the
struct of the module that owns the protocol (``ipv4.HOT`` etc.), checks the few
facts that make the header plainly valid (version, header length, lengths
within the capture; a header cut short by the capture makes its unpack raise
``struct.error``, so the common case pays no length check), and fills the
layer's slots itself (``IPv4()`` then stores; layer classes have no
``__init__``) instead of calling the layer's validating ``decode`` classmethod:
on CPython 3.11 each call, object, attribute store and executed bytecode
costs, and these are most of the cost of decoding. Each store site sees one
class (CPython specializes a store for one class; a second class undoes it).
A header that is not plainly valid (IPv4 options, a short or impossible
length, an ICMP error with its quote, IP in IP, ...) goes to its module's
``decode`` through ``_ipv4``/``_ipv6``/``_transport`` below, which validate
fully and raise the exact ``DecodeError``; both routes give equal layers
(tests/packets/test_fast_path.py).
"""

from __future__ import annotations

import struct

from netdiag.errors import DecodeError, MalformedError, TruncatedError
from netdiag.packets import ethernet, icmpbase, ipv4, ipv6, tcp, udp
from netdiag.packets.addr import PAIR_TEXT, ip4_pair_text, ip6_pair_text
from netdiag.packets.arp import Arp
from netdiag.packets.ethernet import VlanTag
from netdiag.packets.icmp import ERROR_TYPES as _ICMP_ERROR_TYPES
from netdiag.packets.icmp import ICMP
from netdiag.packets.icmpv6 import ICMPv6
from netdiag.packets.ipv4 import IPv4
from netdiag.packets.ipv6 import EXTENSION_HEADERS as _IPV6_EXTENSIONS
from netdiag.packets.ipv6 import IPv6
from netdiag.packets.linklayer import LinuxSLL, LinuxSLL2, Loopback
from netdiag.packets.packet import Packet
from netdiag.packets.tcp import TCP
from netdiag.packets.udp import UDP

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["decode"]

_VLAN_TPIDS = frozenset((0x8100, 0x88A8, 0x9100))
# Link types decoded by wanlinks.py, imported on first use (start-up time); the same
# set as wanlinks.LINKTYPES (tests/packets/test_wanlinks.py checks).
_WAN_LINKTYPES = frozenset((9, 50, 104, 105, 107, 117, 123, 127, 239))
_MAX_VLAN_TAGS = 8

_PAIR_GET = PAIR_TEXT.get
_ETH_LEN = ethernet.HEADER_LEN
_ETH_TYPE_AT = ethernet.TYPE_AT
_ETH_TYPE = ethernet.TYPE.unpack_from
_TAG_LEN = ethernet.TAG_LEN
_VLAN_HOT = ethernet.TAG.unpack_from
_IPV4_HOT = ipv4.HOT.unpack_from
_IPV4_LEN = ipv4.HEADER_LEN
_IPV6_HOT = ipv6.HOT.unpack_from
_IPV6_LEN = ipv6.HEADER_LEN
_TCP_HOT = tcp.HOT.unpack_from
_TCP_LEN = tcp.HEADER_LEN
_UDP_HOT = udp.HOT.unpack_from
_UDP_LEN = udp.HEADER_LEN
_ICMP_HOT = icmpbase.HOT.unpack_from
_ICMP_LEN = icmpbase.HEADER_LEN


def decode(data: bytes, linktype: int = 1, quoted: bool = False) -> Packet:
    """Decode ``data`` captured on a link of type ``linktype`` (a pcap LINKTYPE).

    With ``quoted`` (the original datagram inside an ICMP error, passed as raw IP,
    link type 101), IP lengths may exceed the bytes present and a TCP header may
    be its first 8 bytes only.
    """
    # Few locals on purpose: CPython clears every local slot of a frame per call.
    # No keyword-only parameters either: CPython 3.11 does not specialize calls to
    # a function that has any.
    if data.__class__ is not bytes:
        data = bytes(data)
    p = Packet()
    p.data = data
    n = len(data)
    try:
        # Link layer: where the network layer starts (off), its EtherType (t).
        # A header cut short makes its unpack raise struct.error: the rare case
        # costs a handler, the common one no length check.
        if linktype == 1:
            try:
                t = _ETH_TYPE(data, _ETH_TYPE_AT)[0]  # p.eth: built when read
            except struct.error:
                raise TruncatedError("ethernet", 0, _ETH_LEN, n) from None
            off = _ETH_LEN
            # The VLAN TPIDs are 0x8100, 0x88a8, 0x9100: one comparison spares
            # IPv4 the set lookup, two IPv6.
            if t != 0x0800 and t != 0x86DD and t in _VLAN_TPIDS:
                off, t = _vlan_tags(p, data, off, t)
        else:
            off, t = _other_link(p, data, linktype)

        # Network layer: the IP layer (ip), where its payload starts and ends
        # (l4, end), and the protocol it carries (proto).
        ip: IPv4 | IPv6
        if t == 0x0800:
            try:
                v, length, frag, proto, addrs = _IPV4_HOT(data, off)
            except struct.error:
                v = length = 0
            if v != 0x45 or length < _IPV4_LEN:  # short, options, or impossible
                _ipv4(p, data, off, n, quoted)
                return p
            ip = IPv4()
            ip._buf = data
            ip.offset = off
            ip.protocol = proto
            ip.src, ip.dst = _PAIR_GET(addrs) or ip4_pair_text(addrs)
            end = off + length
            if end > n:
                end = n
            ip.end = end
            p.ip = ip
            if frag & 0x1FFF:  # not the first fragment: no transport header here
                return p
            l4 = off + _IPV4_LEN
        elif t == 0x86DD:
            try:
                v, length, proto, addrs = _IPV6_HOT(data, off)
            except struct.error:
                v = 0
            if v >> 4 != 6:
                _ipv6(p, data, off, n, quoted)
                return p
            ip = IPv6()
            ip._buf = data
            ip.offset = off
            ip.protocol = proto
            ip.payload_offset = l4 = off + _IPV6_LEN
            ip.extensions = ()
            ip.src, ip.dst = _PAIR_GET(addrs) or ip6_pair_text(addrs)
            end = l4 + length
            # A zero payload length with hop-by-hop is a jumbogram (see ipv6.py).
            if end > n or (not length and proto == 0):
                end = n
            ip.end = end
            p.ip = ip
        else:
            if t == 0x0806:
                p.arp = Arp.decode(data, off)
            elif t in _LINK_TUNNELS:  # MPLS, LLDP: see "Tunnels" below
                _link_payload(p, data, off, n, t, quoted)
            return p

        # Transport layer: the header must lie within the IP layer (end).
        if proto == 6:
            try:
                sport, dport, flags = _TCP_HOT(data, l4)
            except struct.error:
                flags = 0
            # A data offset of 5 words (20 bytes) or more, all within the IP layer.
            if flags >= 0x5000 and end - l4 >= (flags >> 12) * 4:
                seg = p.tcp = TCP()
                seg._buf = data
                seg._ip = ip
                seg.offset = l4
                seg.end = end
                seg.sport = sport
                seg.dport = dport
                seg.offflags = flags
                return p
        elif proto == 17:
            if end - l4 >= _UDP_LEN:
                sport, dport, length = _UDP_HOT(data, l4)
                if length >= _UDP_LEN:
                    dg = p.udp = UDP()
                    dg._buf = data
                    dg._ip = ip
                    dg.offset = l4
                    dg.sport = sport
                    dg.dport = dport
                    dg.length = length
                    dg.end = l4 + length if l4 + length < end else end
                    if dport == 4789 or dport == 6081 or sport == 4789:  # VXLAN, Geneve
                        _udp_tunnel(p, data, dg, quoted)
                    return p
        # ICMP and ICMPv6 are filled at sites of their own: CPython specializes an
        # attribute store for one class, and two classes at one site undo it.
        elif proto == 1:
            if end - l4 >= _ICMP_LEN:
                msg = ICMP()
                msg.type, msg.code, msg.rest = _ICMP_HOT(data, l4)
                if msg.type not in _ICMP_ERROR_TYPES:  # an error has its quote to decode
                    p.icmp = msg
                    msg._buf = data
                    msg._ip = ip
                    msg.offset = l4
                    msg.end = end
                    msg._quote = None
                    return p
        elif proto == 58:
            if end - l4 >= _ICMP_LEN:
                msg6 = ICMPv6()
                msg6.type, msg6.code, msg6.rest = _ICMP_HOT(data, l4)
                if msg6.type >= 128:  # informational: no quote
                    p.icmpv6 = msg6
                    msg6._buf = data
                    msg6._ip = ip
                    msg6.offset = l4
                    msg6.end = end
                    msg6._quote = None
                    if 129 < msg6.type < 144 and msg6.type in _MLD_TYPES:
                        _mld(p, data, l4, end)
                    return p
        elif proto in _IPV6_EXTENSIONS and isinstance(ip, IPv6):
            ip.walk_extensions()
            if ip.frag_offset:  # not the first fragment: no transport header here
                return p
            l4, proto = ip.payload_offset, ip.protocol
        # Anything else, and what the checks above did not pass.
        _transport(p, data, l4, end, proto, ip, quoted)
    except DecodeError as e:
        p.error = e
    return p


def _other_link(p: Packet, b: bytes, linktype: int) -> tuple[int, int]:
    """The link layers other than Ethernet: where the network layer starts, and
    its EtherType (0 when none is known)."""
    p.linktype = linktype  # the class default is Ethernet's
    if linktype == 101:
        if not b:
            raise TruncatedError("ip", 0, 1, 0)
        v = b[0] >> 4
        if v == 4:
            return 0, 0x0800
        if v == 6:
            return 0, 0x86DD
        raise MalformedError("ip", 0, f"IP version {v}")
    if linktype == 228:
        return 0, 0x0800
    if linktype == 229:
        return 0, 0x86DD
    if linktype == 113 or linktype == 276:
        sll = LinuxSLL.decode(b) if linktype == 113 else LinuxSLL2.decode(b)
        p.link = sll
        if sll.type in _VLAN_TPIDS:
            return _vlan_tags(p, b, sll.header_len, sll.type)
        return sll.header_len, sll.type
    if linktype == 0 or linktype == 108:
        lo = Loopback.decode(b, 0, linktype == 108)
        p.link = lo
        return 4, lo.ethertype or 0
    if linktype in _WAN_LINKTYPES:  # Wi-Fi, serial lines, firewall logs
        from netdiag.packets.wanlinks import decode_link

        return decode_link(p, b, linktype)
    raise DecodeError("link", 0, f"unsupported link type {linktype}")


def _vlan_tags(p: Packet, b: bytes, off: int, t: int) -> tuple[int, int]:
    """Decode the VLAN tags from ``off``; return where they end and the next type.
    On a bad tag, the tags before it are kept."""
    tags: list[VlanTag] = []
    try:
        while t in _VLAN_TPIDS:
            if len(tags) == _MAX_VLAN_TAGS:
                raise MalformedError("vlan", off, f"more than {_MAX_VLAN_TAGS} VLAN tags")
            if len(b) - off < _TAG_LEN:
                raise TruncatedError("vlan", off, _TAG_LEN, len(b) - off)
            tag = VlanTag()  # as VlanTag.decode, after the check above
            tag.tci, tag.type = _VLAN_HOT(b, off)
            tag.tpid = t
            tag.offset = off
            tags.append(tag)
            off += _TAG_LEN
            t = tag.type
    finally:
        if tags:
            p.vlan = tags[0]
            p.vlans = tuple(tags)
    return off, t


# The general route: each layer's validating constructor. Taken by what the
# fast path leaves (see the module docstring), by IP in IP and by quotes.


def _add_ip(p: Packet, ip: IPv4 | IPv6) -> None:
    if p.ip is None:
        p.ip = ip
    else:
        p.inner_ip = (*p.inner_ip, ip)
    if p.chain:
        _push(p, ip)


def _ipv4(p: Packet, b: bytes, off: int, end: int, quoted: bool) -> None:
    ip = IPv4.decode(b, off, end)
    _add_ip(p, ip)
    if ip.frag & 0x1FFF:  # not the first fragment: no transport header here
        return
    _transport(p, b, off + ip.header_len, ip.end, ip.protocol, ip, quoted)


def _ipv6(p: Packet, b: bytes, off: int, end: int, quoted: bool) -> None:
    ip = IPv6.decode(b, off, end)
    _add_ip(p, ip)
    if ip.next_header in _IPV6_EXTENSIONS:
        ip.walk_extensions()
        if ip.frag_offset:
            return
    _transport(p, b, ip.payload_offset, ip.end, ip.protocol, ip, quoted)


def _transport(p: Packet, b: bytes, off: int, end: int, proto: int, ip: Any, quoted: bool) -> None:
    if proto == 6:
        p.tcp = TCP.decode(b, off, end, ip, quoted)
    elif proto == 17:
        dg = p.udp = UDP.decode(b, off, end, ip, quoted)
        if dg.dport == 4789 or dg.dport == 6081 or dg.sport == 4789:
            _udp_tunnel(p, b, dg, quoted)
    elif proto == 1:
        icmp = p.icmp = ICMP.decode(b, off, end, ip, quoted)
        if icmp.quoted_span is not None:
            s, e = icmp.quoted_span
            icmp.quoted = decode(b[s:e], 101, quoted=True)
    elif proto == 58:
        icmp6 = p.icmpv6 = ICMPv6.decode(b, off, end, ip, quoted)
        if icmp6.quoted_span is not None:
            s, e = icmp6.quoted_span
            icmp6.quoted = decode(b[s:e], 101, quoted=True)
        elif icmp6.type in _MLD_TYPES:
            _mld(p, b, off, end)
    elif proto == 4 and len(p.inner_ip) < 8:
        _ipv4(p, b, off, end, quoted)
    elif proto == 41 and len(p.inner_ip) < 8:
        _ipv6(p, b, off, end, quoted)
    elif proto == 47:
        _gre(p, b, off, end, quoted, ip.mf)
    elif proto == 2:
        from netdiag.packets.igmp import IGMP

        p.message = IGMP.decode(b, off, end, not ip.truncated)
    elif proto == 112:
        from netdiag.packets.vrrp import VRRP

        p.message = VRRP.decode(b, off, end, ip)


# Tunnels (GRE and ERSPAN in it, VXLAN, Geneve, MPLS), decoded through to the inner packet, and the
# messages a host learns its link from (LLDP, IGMP, MLD, VRRP). All off the fast
# path: IP protocols 47/2/112 and EtherTypes 0x8847/0x8848/0x88cc take the general
# route anyway, a UDP datagram pays three integer comparisons (its ports against
# VXLAN's and Geneve's), an ICMPv6 informational message one or two (MLD). Their codecs are
# imported on first use (start-up time). Once a tunnel is met, ``Packet.chain``
# lists every layer from the outermost network layer in order; ``ip`` stays the
# outermost IP and the transport attributes (tcp, udp, icmp, icmpv6) name the
# innermost transport: the outer UDP of VXLAN or Geneve is in the chain only.
# Nesting is bounded: at most _MAX_CHAIN layers, then a MalformedError.

# UDP tunnels (compared as constants in ``decode``, cheaper than a set lookup there):
# VXLAN to or from port 4789 (as tcpdump), Geneve to port 6081.
_LINK_TUNNELS = frozenset((0x8847, 0x8848, 0x88CC))
_MLD_TYPES = frozenset((130, 131, 132, 143))
_MAX_CHAIN = 32


def _push(p: Packet, layer: Any) -> None:
    chain = p.chain
    if not chain and p.ip is not None:
        chain = (p.ip, *p.inner_ip)
    if len(chain) >= _MAX_CHAIN:
        raise MalformedError(layer.name, layer.offset, f"more than {_MAX_CHAIN} nested layers")
    p.chain = (*chain, layer)


def _link_payload(p: Packet, b: bytes, off: int, end: int, t: int, quoted: bool) -> None:
    """What follows an Ethernet (or inner Ethernet) header of type MPLS or LLDP."""
    if t == 0x88CC:
        from netdiag.packets.lldp import LLDP

        p.message = LLDP.decode(b, off, end)
    else:
        _mpls(p, b, off, end, quoted)


def _encap(p: Packet, b: bytes, off: int, end: int, t: int, quoted: bool) -> None:
    """The packet a tunnel carries: EtherType ``t`` at ``off``. Payloads of other
    types stay undecoded, as tcpdump's ``gre-proto-0x...``."""
    if t == 0x0800:
        _ipv4(p, b, off, end, quoted)
    elif t == 0x86DD:
        _ipv6(p, b, off, end, quoted)
    elif t == 0x6558:  # transparent Ethernet bridging
        _inner_ethernet(p, b, off, end, quoted)
    elif t == 0x8847 or t == 0x8848:
        _mpls(p, b, off, end, quoted)


def _inner_ethernet(p: Packet, b: bytes, off: int, end: int, quoted: bool) -> None:
    from netdiag.packets.ethernet import Ethernet

    if end - off < _ETH_LEN:
        raise TruncatedError("ethernet", off, _ETH_LEN, end - off)
    eth = Ethernet.decode(b, off)
    _push(p, eth)
    t = eth.type
    off += _ETH_LEN
    while t in _VLAN_TPIDS:  # bounded by _push
        if end - off < _TAG_LEN:
            raise TruncatedError("vlan", off, _TAG_LEN, end - off)
        tag = VlanTag.decode(b, off, t)
        _push(p, tag)
        off += _TAG_LEN
        t = tag.type
    if t == 0x0806:
        _push(p, Arp.decode(b, off))
    elif t in _LINK_TUNNELS:
        _link_payload(p, b, off, end, t, quoted)
    else:
        _encap(p, b, off, end, t, quoted)


def _mpls(p: Packet, b: bytes, off: int, end: int, quoted: bool) -> None:
    """A label stack, then IPv4 or IPv6 by the first nibble after it (as tcpdump)."""
    from netdiag.packets.mpls import MPLS

    stack = MPLS.decode(b, off, end)
    _push(p, stack)
    at = stack.payload_offset
    if at >= end:  # the bottom entry promises a payload (tcpdump: [|mpls])
        raise TruncatedError("mpls", at, 1, 0)
    if at < end:
        v = b[at] >> 4
        if v == 4:
            _ipv4(p, b, at, end, quoted)
        elif v == 6:
            _ipv6(p, b, at, end, quoted)


def _gre(p: Packet, b: bytes, off: int, end: int, quoted: bool, fragment: bool) -> None:
    """A GRE header; what it carries unless it is version 1 (PPTP: PPP, not decoded
    here) or the first fragment of a datagram (the rest is in the next fragments)."""
    from netdiag.packets.gre import GRE

    hdr = GRE.decode(b, off, end)
    _push(p, hdr)
    if hdr.version != 0 or fragment:
        return
    if hdr.protocol == 0x88BE or hdr.protocol == 0x22EB:  # ERSPAN types I-II, III
        from netdiag.packets.erspan import ERSPAN

        span = ERSPAN.decode(b, hdr.payload_offset, end, hdr.protocol, hdr.seq is not None)
        _push(p, span)
        if span.frame_type == 0:  # Ethernet (types I and II always)
            _inner_ethernet(p, b, span.payload_offset, end, quoted)
    else:
        _encap(p, b, hdr.payload_offset, end, hdr.protocol, quoted)


def _udp_tunnel(p: Packet, b: bytes, dg: UDP, quoted: bool) -> None:
    """VXLAN to or from port 4789, Geneve to port 6081 (tcpdump's and tshark's rule);
    not in a quote or in the first fragment of a datagram (the rest is elsewhere)."""
    if quoted or dg._ip.mf:
        return
    if dg.dport == 6081:
        from netdiag.packets.geneve import Geneve

        p.udp = None
        _push(p, dg)
        gen = Geneve.decode(b, dg.offset + _UDP_LEN, dg.end)
        _push(p, gen)
        _encap(p, b, gen.payload_offset, dg.end, gen.protocol, quoted)
    elif dg.dport == 4789 or dg.sport == 4789:
        from netdiag.packets.vxlan import VXLAN

        p.udp = None
        _push(p, dg)
        vx = VXLAN.decode(b, dg.offset + _UDP_LEN, dg.end)
        _push(p, vx)
        _inner_ethernet(p, b, vx.payload_offset, dg.end, quoted)


def _mld(p: Packet, b: bytes, off: int, end: int) -> None:
    from netdiag.packets.mld import MLD

    p.message = MLD.decode(b, off, end)
