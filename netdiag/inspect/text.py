"""One line per packet, in the shape of ``tcpdump -n``.

``TextFormatter.line(ts_ns, packet, wirelen)`` renders a decoded ``Packet``:
the local time ``HH:MM:SS.ffffff`` (or epoch seconds with ``epoch=True``),
then what tcpdump -n prints for the common protocols: ARP, IPv4, IPv6 (with
its extension headers), TCP (flags, relative sequence numbers as tcpdump keeps
them per connection, options), UDP, ICMP and ICMPv6 (errors name the quoted
destination), tunnels (IP in IP; GRE, VXLAN, Geneve, MPLS and their inner packet,
IGMP, MLD, VRRP and LLDP in ``tunneltext``), fragments (``ip-proto-17``). With
``link=True`` the link-level header comes first, as ``tcpdump -e`` prints it.

Choices where tcpdump has nothing to copy, or where we differ on purpose:

- **Malformed packets are marked, never skipped.** The line shows every layer
  that decoded well, then `` [malformed: <layer>: <reason> (at byte N)]``
  (the ``DecodeError`` of ``Packet.error``). tcpdump prints ``[|tcp]`` and
  no reason; a diagnostics tool says why.
- **Unsupported link types** give ``[unsupported link type N], length L``.
- **Application layers by port** (``packets.app.PORTS``): DNS, mDNS, LLMNR,
  DHCP, DHCPv6, NTP and HTTP print tcpdump's text in place of ``UDP, length N``
  or after a TCP segment's ``length N`` (``inspect/apptext.py``, which says
  where we differ); other application protocols (BGP, SNMP...) are not decoded.
  Protocols above IP that we do not decode (ESP, OSPF, SCTP...) print as
  ``ip-proto-N L``, as tcpdump prints the ones it does not know.
- Linux cooked v2 lines start with ``ifindex N Out``: tcpdump looks the index up
  on the *reading* host (``ifb0  Out``), which misnames other hosts' interfaces.
- TCP flags are shown as tcpdump 4.99 shows them (the AE bit is not printed here;
  the ``-v`` tree and JSON keep it). MPTCP, TCP-AO and fast-open options are
  printed by name with their bytes in hex, not decoded.
- Non-IP EtherTypes print the link header (``src > dst, ethertype LLDP
  (0x88cc), length 60``), as tcpdump does for EtherTypes it does not know.

This module assembles the line and keeps what spans packets (TCP sequence
bases, the time cache); the words for each protocol's own fields (ARP, IPv6
extension headers, UDP length, TCP options, ICMP and ICMPv6 messages) come from
``words``. The list above covers both: it is what the line promises.

Hot path (STYLE habit 9): one formatter per run holds the per-connection TCP
sequence state and a cache of the current second's ``HH:MM:SS`` text, so a
packet costs one ``localtime`` call per new second and no other set-up.
"""

from __future__ import annotations

import time

from netdiag.inspect import apptext
from netdiag.inspect.names import (
    ICMP6_TYPES,
    LINK_LAYERS,
    NULL_FAMILY_NAMES,
    SLL_PACKET_TYPES,
    SUPPORTED_LINKTYPES,
    ethertype_text,
)
from netdiag.inspect.words import (
    arp_text,
    icmp6_text,
    icmp_text,
    ipv6_ext_text,
    tcp_option_text,
    udp_length_text,
)
from netdiag.packets.app import TCP_PORTS as _TCP_APPS
from netdiag.packets.app import UDP_PORTS as _UDP_APPS
from netdiag.packets.packet import Packet
from netdiag.packets.tcp import ACK, FIN, RST, SYN, URG
from netdiag.packets.tcp import flags_text as _flags_text

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["TextFormatter", "link_header_len", "error_text"]

_M32 = 0xFFFFFFFF
_WAN_LINKTYPES = frozenset((9, 50, 104, 105, 107, 117, 123, 127, 239))  # wanlinks.LINKTYPES
_PORT_LAYERS = frozenset(("tcp", "udp"))
_IP_LAYERS = frozenset(("ipv4", "ipv6"))
_MESSAGE_LAYERS = frozenset(("igmp", "vrrp"))
_NETWORK_PREFIX = {"ipv4": "IP", "ipv6": "IP6", "ip": "IP", "arp": "ARP,"}
_NETWORK_PREFIX.update(lldp="LLDP,", mpls="MPLS")  # a bad LLDPDU or label stack


def error_text(p: Packet) -> str:
    """The marker appended to the line of a packet whose decoding stopped early."""
    return f"[malformed: {p.error}]"


def link_header_len(p: Packet) -> int:
    """Bytes of link-level header (Ethernet and its VLAN tags, cooked, loopback).

    ``-x`` dumps what follows them, as tcpdump does."""
    if p.linktype in _WAN_LINKTYPES:  # radiotap, 802.11, PPP...: wantext.py
        from netdiag.inspect.wantext import link_len

        return min(link_len(p), len(p.data))
    n = 0
    for layer in p.layers:
        if layer.name not in LINK_LAYERS:
            break
        n = layer.offset + layer.header_len
    return min(n, len(p.data))


class TextFormatter:
    """Formats packets one line each; keep one per capture (it holds TCP state)."""

    def __init__(
        self, *, link: bool = False, epoch: bool = False, stamp: int = 0, quick: bool = False
    ) -> None:
        self.link = link
        self.epoch = epoch or stamp == 2
        # tcpdump's -t (1) ... -ttttt (5): none, epoch, delta since the previous packet,
        # date and time, delta since the first packet; 0: local time of day
        self.stamp = 2 if epoch and not stamp else stamp
        self.quick = quick  # tcpdump -q: "tcp LENGTH" for TCP
        self._prev_us: int | None = None
        self._first_us: int | None = None
        # Canonical 4-tuple -> [seq base, ack base] (tcpdump's relative numbering).
        self._tcp: dict[tuple[bytes, bytes, int, int], list[int]] = {}
        self._sec: int | None = None
        self._sec_text = ""
        self._app_streams: Any = None

    def app_streams(self) -> Any:
        """The TCP reassembly state of this capture (inspect/appstreams.py), made on
        first use: TLS records and DNS-over-TCP messages that span segments."""
        if self._app_streams is None:
            from netdiag.inspect.appstreams import AppStreams

            self._app_streams = AppStreams()
        return self._app_streams

    # -- time ---------------------------------------------------------------------------

    def timestamp(self, ts_ns: int) -> str:
        sec, ns = divmod(ts_ns, 1_000_000_000)
        usec = ns // 1000
        if self.epoch:
            return f"{sec}.{usec:06d}"
        if self.stamp == 3 or self.stamp == 5:
            return self._delta(ts_ns // 1000)
        if sec != self._sec:
            fmt = "%Y-%m-%d %H:%M:%S" if self.stamp == 4 else "%H:%M:%S"
            try:
                self._sec_text = time.strftime(fmt, time.localtime(sec))
            except (OverflowError, OSError, ValueError):
                self._sec_text = str(sec)
            self._sec = sec
        return f"{self._sec_text}.{usec:06d}"

    # -- the line -------------------------------------------------------------------------

    def _delta(self, us: int) -> str:
        """tcpdump -ttt/-ttttt: `` HH:MM:SS.ffffff`` since the previous/first packet, the
        sign (space or ``-``) first, hours modulo 24 as tcpdump prints them."""
        if self._first_us is None:
            self._first_us = self._prev_us = us
        base = self._first_us if self.stamp == 5 else self._prev_us
        self._prev_us = us
        d = us - base  # type: ignore[operator]
        sign = "-" if d < 0 else " "
        sec, frac = divmod(abs(d), 1_000_000)
        return f"{sign}{sec // 3600 % 24:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}.{frac:06d}"

    def line(self, ts_ns: int, p: Packet, wirelen: int) -> str:
        if self.stamp == 1:
            return self.summary(p, wirelen)
        return f"{self.timestamp(ts_ns)} {self.summary(p, wirelen)}"

    def summary(self, p: Packet, wirelen: int) -> str:
        """The line without its timestamp."""
        if p.linktype not in SUPPORTED_LINKTYPES:
            return f"[unsupported link type {p.linktype}], length {wirelen}"
        if p.linktype in _WAN_LINKTYPES:  # Wi-Fi, serial lines, firewall logs: wantext.py
            from netdiag.inspect.wantext import summary

            return summary(self, p, wirelen)
        layers = p.layers
        n = len(layers)
        i = 0
        while i < n and layers[i].name in LINK_LAYERS:
            i += 1
        head = self._link_text(layers, i, wirelen) if self.link and i else ""
        if i and layers[0].name == "sll2":
            # tcpdump names the interface as the *reading* host knows its index; we give
            # the index itself, which is what the file says.
            sll = layers[0]
            kind = SLL_PACKET_TYPES.get(sll.pkttype, str(sll.pkttype))
            head = f"ifindex {sll.ifindex} {kind:<3} " + head.lstrip()
        if i == n:
            # Nothing above the link layer: an EtherType (or family) we do not decode.
            if not head and i:
                head = self._link_text(layers, i, wirelen)
            err = p.error
            if err is not None and err.layer in _NETWORK_PREFIX and not self.link:
                # The network header itself is bad: say which, as tcpdump's "IP bad-hlen".
                return f"{head}{_NETWORK_PREFIX[err.layer]} {error_text(p)}"
            text = head.rstrip(": ")
            if p.error is not None:
                text = f"{text} {error_text(p)}" if text else error_text(p)
            elif not text:
                text = f"length {wirelen}"
            return text
        first = layers[i]
        if first.name == "arp":
            body = arp_text(first, wirelen, not self.link)
        elif p.chain or first.name == "lldp":  # tunnels, LLDP: inspect/tunneltext.py
            from netdiag.inspect import tunneltext  # loaded for the first such packet

            body = tunneltext.chain_text(self, p, layers, i, wirelen, self.link)
        else:
            body = self._ip_chain(p, layers, i, wirelen, self.link)
        text = head + body
        if p.error is not None:
            text = f"{text.rstrip(': ')} {error_text(p)}"
        return text

    # -- link level (tcpdump -e) --------------------------------------------------------

    def _link_text(self, layers: list[Any], stop: int, wirelen: int) -> str:
        first = layers[0]
        name = first.name
        if name == "ethernet":
            out = f"{first.src} > {first.dst}, "
            t = first.type
            out += (
                f"802.3, length {wirelen}: "
                if t < 0x0600
                else (f"ethertype {ethertype_text(t)}, length {wirelen}: ")
            )
            for tag in layers[1:stop]:
                out += f"vlan {tag.vid}, p {tag.pcp}, {'DEI, ' if tag.dei else ''}"
                out += f"ethertype {ethertype_text(tag.type)}, "
            return out
        if name in ("sll", "sll2"):
            addr = f"{first.addr} " if first.addr else ""
            rest = f"{addr}ethertype {ethertype_text(first.type)}, length {wirelen}: "
            if name == "sll2":  # direction and index come first, with or without -e
                return rest
            kind = SLL_PACKET_TYPES.get(first.pkttype, str(first.pkttype))
            return f"{kind:>3} {rest}"
        if name == "loopback":
            fam = first.family
            return f"AF {NULL_FAMILY_NAMES.get(fam, 'Unknown')} ({fam}), length {wirelen}: "
        return ""

    # -- IP and above -------------------------------------------------------------------

    def _ip_chain(self, p: Packet, layers: list[Any], i: int, wirelen: int, linked: bool) -> str:
        # With -e (``linked``) tcpdump drops every "IP "/"IP6 " prefix, inner ones too.
        n = len(layers)
        out: list[str] = []
        while i < n:
            ip = layers[i]
            nxt = layers[i + 1] if i + 1 < n else None
            nxt_name = nxt.name if nxt is not None else None
            if ip.version == 4:
                if not linked:
                    out.append("IP ")
                missing = ip.total_length - (wirelen - ip.offset)
                if missing > 0:
                    out.append(f"truncated-ip - {missing} bytes missing! ")
                ext = ""
            else:
                if not linked:
                    out.append("IP6 ")
                ext = ipv6_ext_text(ip) if ip.extensions else ""
            if nxt_name not in _PORT_LAYERS or ext:
                out.append(f"{ip.src} > {ip.dst}: {ext}")
            if nxt_name in _IP_LAYERS:
                i += 1
                continue
            if nxt is None:
                out.append(self._no_transport(p, ip))
            elif nxt_name == "tcp":
                out.append(self._tcp_text(nxt, ip, bool(ext)))
                if not self.quick and (nxt.dport in _TCP_APPS or nxt.sport in _TCP_APPS):
                    out.append(apptext.tcp_text(p, nxt, self.app_streams()))
            elif nxt_name == "udp":
                ports = (
                    f"{nxt.sport} > {nxt.dport}: "
                    if ext
                    else f"{ip.src}.{nxt.sport} > {ip.dst}.{nxt.dport}: "
                )
                app = (
                    apptext.udp_text(p, nxt, self.app_streams())
                    if not self.quick and (nxt.dport in _UDP_APPS or nxt.sport in _UDP_APPS)
                    else None
                )  # the application layer, when a port names one (inspect/apptext.py)
                out.append(ports + (app or udp_length_text(nxt, ip)))
            elif nxt_name == "icmp":
                out.append(f"ICMP {icmp_text(nxt)}, length {max(0, ip.payload_length)}")
            elif nxt_name == "icmpv6":
                m = p.message  # MLD rides in ICMPv6 (inspect/tunneltext.py)
                if m is None:
                    words = icmp6_text(nxt)
                else:
                    from netdiag.inspect import tunneltext

                    words = tunneltext.mld_text(ICMP6_TYPES.get(nxt.type, ""), m)
                out.append(f"ICMP6, {words}, length {max(0, ip.payload_length)}")
            elif nxt_name in _MESSAGE_LAYERS:  # IGMP, VRRP (inspect/tunneltext.py)
                from netdiag.inspect import tunneltext

                out.append(tunneltext.message_text(nxt, ip))
            break
        return "".join(out).rstrip()

    def _no_transport(self, p: Packet, ip: Any) -> str:
        if p.error is not None:
            return ""
        if ip.version == 4:
            if ip.frag & 0x1FFF:
                return f"ip-proto-{ip.protocol}"
        elif ip.frag_offset:
            return ""
        lead = "" if ip.version == 6 and ip.extensions else " "  # tcpdump's double space
        return f"{lead}ip-proto-{ip.protocol} {max(0, ip.payload_length)}"

    # -- TCP (RFC 9293) -----------------------------------------------------------------

    def _tcp_text(self, t: Any, ip: Any, ports_only: bool = False) -> str:
        head = (
            f"{t.sport} > {t.dport}: "
            if ports_only
            else f"{ip.src}.{t.sport} > {ip.dst}.{t.dport}: "
        )
        if t.partial:
            return f"{head}[|tcp]"
        if self.quick:  # tcpdump -q
            return f"{head}tcp {max(0, ip.payload_length - t.header_len)}"
        flags = t.flags
        seq = t.seq
        ack = t.ack
        base_seq = base_ack = 0
        rev = False
        if flags & ACK:
            s_key = (ip.src_raw, t.sport)
            d_key = (ip.dst_raw, t.dport)
            rev = s_key > d_key
            key = (
                (d_key[0], s_key[0], t.dport, t.sport)
                if rev
                else (s_key[0], d_key[0], t.sport, t.dport)
            )
            st = self._tcp.get(key)
            if st is None or flags & SYN:
                st = [ack - 1 & _M32, seq] if rev else [seq, ack - 1 & _M32]
                self._tcp[key] = st
            elif rev:
                seq = seq - st[1] & _M32
                ack = ack - st[0] & _M32
            else:
                seq = seq - st[0] & _M32
                ack = ack - st[1] & _M32
            base_seq, base_ack = st
        length = max(0, ip.payload_length - t.header_len)
        out = [head, "Flags [", _flags_text(flags & 0xFF), "]"]
        if length or flags & (SYN | FIN | RST):
            out.append(f", seq {seq}")
            if length:
                out.append(f":{seq + length & _M32}")
        if flags & ACK:
            out.append(f", ack {ack}")
        out.append(f", win {t.window}")
        if flags & URG:
            out.append(f", urg {t.urgent}")
        if t.header_len > 20:
            sack_base = base_seq if rev else base_ack
            out.append(", options [")
            out.append(",".join(tcp_option_text(k, v, sack_base) for k, v in t.options))
            out.append("]")
        out.append(f", length {length}")
        return "".join(out)
