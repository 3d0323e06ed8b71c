"""The primitives of pcap-filter as predicates, per link type, as tcpdump compiles them.

Link types: Ethernet (1; ``vlan`` shifts the offsets by 4 for the rest of the
expression), Linux cooked v1 (113) and v2 (276), raw IP (101: version nibble;
228 IPv4 only; 229 IPv6 only), BSD loopback NULL (0, family in host byte
order) and LOOP (108, network order); IPv6 there is any of the BSDs' AF_INET6
values, as libpcap compiles for capture files. Offsets are those of the captured frame:
``off_ll`` is where the EtherType is, ``off_nl`` where the network header starts.
IPv6 headers are taken as fixed 40 bytes, as tcpdump does (``tcp`` also looks
through one fragment header; ports never look past the fixed header).
"""

from __future__ import annotations

import ipaddress

from netdiag.capture.bpf import insn as I
from netdiag.capture.bpf.lexer import FilterError, Token
from netdiag.capture.bpf.linkvar import VAR_PL, WAN_FAMILIES, WLAN_DIRS, WLAN_FAMILIES
from netdiag.capture.bpf.names import ETHER_PROTO_NAMES, IP_PROTO_NAMES
from netdiag.capture.bpf.parser import Abbrev, Prim
from netdiag.capture.bpf.program import Emitter, Pred
from netdiag.capture.bpf.tunnels import Tunnels
from netdiag.capture.bpf.values import port_value, v4_value
from netdiag.packets.numbers import EtherType, IPProto

__all__ = ["Primitives", "LINKS"]

ETHERTYPE_RARP = 0x8035
VLAN_TPIDS = (EtherType.VLAN, EtherType.QINQ, EtherType.QINQ_OLD)
#: linktype -> (family, offset of the EtherType or None, offset of the network header)
LINKS: dict[int, tuple[str, int | None, int]] = {
    1: ("ether", 12, 14),
    113: ("sll", 14, 16),
    276: ("sll2", 0, 20),
    101: ("raw", None, 0),
    228: ("ipv4", None, 0),
    229: ("ipv6", None, 0),
    0: ("null", None, 4),
    108: ("loop", None, 4),
    # gencode.c init_linktype: PPP and Cisco HDLC have a 2-byte type at 2
    9: ("ppp", 2, 4),
    50: ("ppp", 2, 4),
    104: ("chdlc", 2, 4),
    # Frame Relay: libpcap takes the network header at 0 (its XXX: not past the
    # Q.922 address), and tests the NLPID at 2
    107: ("frelay", None, 0),
    117: ("pflog", None, VAR_PL),
    123: ("sunatm", None, 4 + 8),  # pseudo-header, then LLC/SNAP
    105: ("wlan", None, VAR_PL + 8),  # 802.11 header, then LLC/SNAP
    127: ("radiotap", None, VAR_PL + 8),
    239: ("nflog", None, 0),
}
_AF_INET = 2
#: AF_INET6 of OpenBSD/NetBSD, FreeBSD, Darwin: what libpcap tests in capture files
_AF_INET6_BSD = (30, 24, 28)


def _err(msg: str, tok: Token) -> FilterError:
    e = FilterError(f"filter: {msg} at column {tok.col}")
    e.col = tok.col  # type: ignore[attr-defined]
    return e


class Primitives(Tunnels):
    def __init__(self, e: Emitter, linktype: int, little_endian: bool) -> None:
        if linktype not in LINKS:
            raise FilterError(f"filter: link type {linktype} is not supported")
        self.family, self.off_ll, self.off_nl = LINKS[linktype]
        self.linktype = linktype
        self.little = little_endian
        self.netmask = 0  # a capture file's, as tcpdump -r compiles (compile_filter sets it)
        super().__init__(e)

    # -- link layer ------------------------------------------------------------------

    @staticmethod
    def ethertype_of(proto: str) -> int:
        return ETHER_PROTO_NAMES[proto]

    def link_pred(self, ethertype: int, tok: Token) -> Pred:
        """Is the network-layer protocol ``ethertype``?"""
        if self.mpls_depth:
            return self.mpls_linktype(ethertype, tok)
        fam = self.family
        if fam in WAN_FAMILIES:
            return self.wan_link_pred(ethertype, tok)
        if self.off_ll is not None:
            if ethertype <= 1500:
                raise _err(f"ether proto {ethertype} (an 802.3 length) is not supported", tok)
            return self.cmp(self.off_ll, I.H, ethertype)
        if fam == "raw":
            nibble = {EtherType.IPV4: 0x40, EtherType.IPV6: 0x60}.get(ethertype)  # type: ignore[call-overload]
            return self.FALSE if nibble is None else self.cmp(0, I.B, nibble, 0xF0)
        if fam in ("ipv4", "ipv6"):
            want = EtherType.IPV4 if fam == "ipv4" else EtherType.IPV6
            return self.TRUE if ethertype == want else self.FALSE
        families = {EtherType.IPV4: (_AF_INET,), EtherType.IPV6: _AF_INET6_BSD}.get(ethertype)  # type: ignore[call-overload]
        if families is None:
            return self.FALSE
        if fam == "null" and self.little:
            families = tuple(int.from_bytes(v.to_bytes(4, "little"), "big") for v in families)
        return self.p_or(*(self.cmp(0, I.W, v) for v in families))

    def ether_addr(self, mac: bytes, which: str, tok: Token) -> Pred:
        if self.family in WLAN_FAMILIES:
            return self.wlan_host(mac, which, tok)
        if self.family != "ether":
            raise _err("ethernet addresses are supported only on Ethernet", tok)
        off = self.off_hdr + (6 if which == "src" else 0)
        return self.ether_ll_check(
            self.p_and(
                self.cmp(off + 2, I.W, int.from_bytes(mac[2:], "big")),
                self.cmp(off, I.H, int.from_bytes(mac[:2], "big")),
            )
        )

    # -- network layer ---------------------------------------------------------------

    def ip_proto(self, proto: int) -> Pred:
        return self.p_and(
            self.link_pred(EtherType.IPV4, _NOTOK), self.cmp(self.off_nl + 9, I.B, proto)
        )

    def ip6_nexthdr(self, proto: int, chase_fragment: bool = True) -> Pred:
        nl = self.off_nl
        direct = self.cmp(nl + 6, I.B, proto)
        if chase_fragment:
            frag = self.p_and(
                self.cmp(nl + 6, I.B, IPProto.FRAGMENT), self.cmp(nl + 40, I.B, proto)
            )
            direct = self.p_or(direct, frag)
        return self.p_and(self.link_pred(EtherType.IPV6, _NOTOK), direct)

    def not_fragment(self) -> Pred:
        """IPv4 fragment offset 0: a first (or only) fragment."""
        e, off = self.e, self.off_nl + 6
        self._reg(off)

        def emit(t: int, f: int) -> None:
            self.ld(I.H, off)
            e.jump(I.JMP | I.JSET | I.K, 0x1FFF, f, t)

        return emit

    def any_proto(self, proto: int) -> Pred:
        return self.p_or(self.ip_proto(proto), self.ip6_nexthdr(proto))

    def _dirs(self, dir_: str | None, src: Pred, dst: Pred) -> Pred:
        if dir_ == "src":
            return src
        if dir_ == "dst":
            return dst
        if dir_ is not None and " and " in dir_:
            return self.p_and(src, dst)
        return self.p_or(src, dst)

    # -- qualified primitives ----------------------------------------------------------

    def prim(self, p: Prim) -> Pred:
        kind = p.kind or "host"
        if kind in ("host", "net"):
            return self.host_or_net(p, kind)
        if kind == "port":
            protos, port = port_value(p.proto, p.tok)
            return self.ports(p.proto, protos, p.dir, port, port)
        if kind == "portrange":
            return self.portrange(p)
        if kind == "proto":
            return self.proto_prim(p)
        raise _err(f"'{kind}' is not supported", p.tok)

    def host_or_net(self, p: Prim, kind: str) -> Pred:
        tok, proto = p.tok, p.proto
        if p.dir in WLAN_DIRS and (tok.kind != "mac" or self.family not in WLAN_FAMILIES):
            words = WLAN_DIRS[p.dir]
            raise _err(
                f"{words} not valid qualifiers for addresses other than 802.11 MAC addresses", tok
            )
        if tok.kind == "mac" and self.family in WLAN_FAMILIES:
            if proto not in (None, "ether", "link") or kind != "host":
                raise _err(f"'{tok.text}' is not a {kind} here", tok)
            return self.wlan_host(tok.value, p.dir, tok)  # type: ignore[arg-type]
        if tok.kind == "mac":
            if proto not in (None, "ether", "link") or kind != "host" or p.dir and "and" in p.dir:
                raise _err(f"'{tok.text}' is not a {kind} here", tok)
            mac: bytes = tok.value  # type: ignore[assignment]
            return self._dirs(
                p.dir, self.ether_addr(mac, "src", tok), self.ether_addr(mac, "dst", tok)
            )
        if tok.kind == "ipv6" or (p.extra_kind == "/" and ":" in tok.text):
            return self.host6(p, kind)
        if tok.kind not in ("ipv4", "num"):
            raise _err(f"unknown host '{tok.text}'", tok)
        if proto not in (None, "ip", "arp", "rarp"):
            raise _err(f"'{proto}' modifier applied to {kind}", tok)
        addr, mask = v4_value(p, kind)
        nl = self.off_nl

        def addrs(src_off: int, dst_off: int) -> Pred:
            return self._dirs(
                p.dir,
                self.cmp(nl + src_off, I.W, addr, mask),
                self.cmp(nl + dst_off, I.W, addr, mask),
            )

        ip = self.p_and(self.link_pred(EtherType.IPV4, tok), addrs(12, 16))
        if proto is None and self.mpls_depth:  # no ARP/RARP inside MPLS
            return ip
        arp = self.p_and(self.link_pred(EtherType.ARP, tok), addrs(14, 24))
        rarp = self.p_and(self.link_pred(ETHERTYPE_RARP, tok), addrs(14, 24))
        if proto == "ip":
            return ip
        if proto == "arp":
            return arp
        if proto == "rarp":
            return rarp
        either = self.p_or(self.link_pred(EtherType.ARP, tok), self.link_pred(ETHERTYPE_RARP, tok))
        return self.p_or(ip, self.p_and(either, addrs(14, 24)))

    def host6(self, p: Prim, kind: str) -> Pred:
        tok = p.tok
        if p.proto not in (None, "ip6"):
            raise _err(f"'{p.proto}' modifier applied to ip6 {kind}", tok)
        try:
            addr = int(ipaddress.IPv6Address(tok.text))
        except ValueError:
            raise _err(f"unknown host '{tok.text}'", tok) from None
        bits = 128
        if p.extra_kind == "/":
            bits = p.extra.value  # type: ignore[union-attr,assignment]
            if bits > 128:
                raise _err(f"mask length must be <= 128, not {bits}", p.extra)  # type: ignore[arg-type]
        elif p.extra_kind is not None:
            raise _err("'mask' applies to IPv4 networks only", tok)
        mask = ((1 << 128) - 1) ^ ((1 << (128 - bits)) - 1)
        if addr & ~mask:
            raise _err(f'non-network bits set in "{tok.text}/{bits}"', tok)
        nl = self.off_nl

        def words(off: int) -> Pred:
            return self.p_and(
                *(
                    self.cmp(
                        off + 4 * i,
                        I.W,
                        (addr >> (96 - 32 * i)) & 0xFFFFFFFF,
                        (mask >> (96 - 32 * i)) & 0xFFFFFFFF,
                    )
                    for i in range(4)
                )
            )

        return self.p_and(
            self.link_pred(EtherType.IPV6, tok), self._dirs(p.dir, words(nl + 8), words(nl + 24))
        )

    # -- ports ---------------------------------------------------------------------------

    def ports(
        self, proto: str | None, protos: tuple[int, ...], dir_: str | None, lo: int, hi: int
    ) -> Pred:
        nl = self.off_nl
        e = self.e
        self._reg(nl)

        def atom(v6: bool, off: int) -> Pred:
            def emit(t: int, f: int) -> None:
                if v6:
                    self.ld(I.H, nl + 40 + off)
                else:
                    e.stmt(I.LD | I.IND | I.H, self.ldx_l4(nl) + off)
                if lo == hi:
                    e.jump(I.JMP | I.JEQ | I.K, lo, t, f)
                else:
                    mid = e.label()
                    e.jump(I.JMP | I.JGE | I.K, lo, mid, f)
                    e.place(mid)
                    e.jump(I.JMP | I.JGT | I.K, hi, f, t)

            return emit

        v6 = self.p_and(
            self.link_pred(EtherType.IPV6, _NOTOK),
            self.p_or(*(self.cmp(nl + 6, I.B, pr) for pr in protos)),
            self._dirs(dir_, atom(True, 0), atom(True, 2)),
        )
        v4 = self.p_and(
            self.link_pred(EtherType.IPV4, _NOTOK),
            self.p_or(*(self.cmp(nl + 9, I.B, pr) for pr in protos)),
            self.not_fragment(),
            self._dirs(dir_, atom(False, 0), atom(False, 2)),
        )
        return self.p_or(v6, v4)

    def portrange(self, p: Prim) -> Pred:
        tok = p.tok
        if p.extra is not None:
            ends = [tok, p.extra]
            los = [port_value(p.proto, t) for t in ends]
            protos, lo, hi = los[0][0], los[0][1], los[1][1]
        else:
            parts = tok.text.split("-")
            if tok.kind != "word" or len(parts) != 2 or not all(x.isdigit() for x in parts):
                raise _err(f"'{tok.text}' is not a port range", tok)
            lo, hi = int(parts[0]), int(parts[1])
            for v in (lo, hi):
                if v > 65535:
                    raise _err(f"illegal port number {v} > 65535", tok)
            protos = port_value(p.proto, Token("num", "0", tok.col, 0))[0]
        if lo > hi:
            lo, hi = hi, lo
        return self.ports(p.proto, protos, p.dir, lo, hi)

    def proto_prim(self, p: Prim) -> Pred:
        tok, proto = p.tok, p.proto
        if p.dir is not None:
            raise _err("'proto' takes no direction", tok)
        if proto in ("ether", "link"):
            if tok.kind == "num":
                v: int = tok.value  # type: ignore[assignment]
            elif tok.text in ETHER_PROTO_NAMES:
                v = ETHER_PROTO_NAMES[tok.text]
            else:
                raise _err(f"unknown ether proto '{tok.text}'", tok)
            if v > 0xFFFF:
                raise _err(f"ether proto {v} > 65535", tok)
            if v == EtherType.VLAN:
                return self.vlan(tok, None)
            return self.link_pred(v, tok)
        if proto not in (None, "ip", "ip6"):
            raise _err(f"'{proto}' modifier applied to 'proto'", tok)
        if tok.kind == "num":
            v = tok.value  # type: ignore[assignment]
        elif tok.text in IP_PROTO_NAMES:
            v = IP_PROTO_NAMES[tok.text]
        else:
            raise _err(f"unknown ip proto '{tok.text}'", tok)
        if v > 255:
            raise _err(f"ip proto {v} > 255", tok)
        if proto == "ip":
            return self.ip_proto(v)
        if proto == "ip6":
            return self.ip6_nexthdr(v)
        return self.any_proto(v)

    # -- primitives without an ID --------------------------------------------------------

    def vlan(self, tok: Token, vid: int | None) -> Pred:
        if self.mpls_depth:
            raise _err("no VLAN match after MPLS", tok)
        if self.family in WLAN_FAMILIES:  # the TPID where SNAP's EtherType is
            if vid is not None and vid > 4095:
                raise _err(f"VLAN tag {vid} greater than maximum 4095", tok)
            tag = self.p_or(*(self.link_pred(tpid, tok) for tpid in VLAN_TPIDS))
            if vid is not None:
                tag = self.p_and(tag, self.cmp(self.off_nl, I.H, vid, 0x0FFF))
            self.off_llc += 4
            self.off_nl += 4
            return tag
        if self.family != "ether" or self.off_ll is None:
            raise _err(f"no VLAN support for link type {self.linktype}", tok)
        if vid is not None and vid > 4095:
            raise _err(f"VLAN tag {vid} greater than maximum 4095", tok)
        tag = self.p_or(*(self.cmp(self.off_ll, I.H, tpid) for tpid in VLAN_TPIDS))
        if vid is not None:
            tag = self.p_and(tag, self.cmp(self.off_ll + 2, I.H, vid, 0x0FFF))
        self.off_ll += 4
        self.off_nl += 4
        return tag

    def abbrev(self, a: Abbrev) -> Pred:
        name, tok, nl = a.name, a.tok, self.off_nl
        if name in ("ip", "ip6", "arp", "rarp"):
            return self.link_pred(ETHER_PROTO_NAMES[name], tok)
        if name in ("tcp", "udp", "sctp"):
            return self.any_proto({"tcp": 6, "udp": 17, "sctp": 132}[name])
        if name in ("icmp", "igmp"):
            return self.ip_proto(1 if name == "icmp" else 2)
        if name == "icmp6":
            return self.ip6_nexthdr(IPProto.ICMPV6)
        if name == "vlan":
            return self.vlan(tok, a.arg)
        tunnel = self.tunnel_abbrev(a)
        if tunnel is not None:
            return tunnel
        if name in ("less", "greater"):
            return self._length(name == "less", a.arg or 0)
        if name in ("ether broadcast", "link broadcast"):
            return self.ether_addr(b"\xff" * 6, "dst", tok)
        if name in ("ether multicast", "link multicast"):
            if self.family in WLAN_FAMILIES:
                return self.wlan_multicast()
            if self.family != "ether":
                raise _err("ethernet addresses are supported only on Ethernet", tok)
            return self.ether_ll_check(self.jset(self.off_hdr, 0x01))
        if name == "ip multicast":
            e = self.e
            ip = self.link_pred(EtherType.IPV4, tok)

            self._reg(nl)

            def mc(t: int, f: int) -> None:
                self.ld(I.B, nl + 16)
                e.jump(I.JMP | I.JGE | I.K, 0xE0, t, f)

            return self.p_and(ip, mc)
        if name == "ip6 multicast":
            return self.p_and(self.link_pred(EtherType.IPV6, tok), self.cmp(nl + 24, I.B, 0xFF))
        if name == "ip broadcast":
            # A capture file's netmask is 0 (tcpdump -r): the host part is all 32 bits.
            hostmask = ~self.netmask & 0xFFFFFFFF
            dst = self.p_or(
                self.cmp(nl + 16, I.W, 0, hostmask), self.cmp(nl + 16, I.W, hostmask, hostmask)
            )
            return self.p_and(self.link_pred(EtherType.IPV4, tok), dst)
        raise _err(f"'{name}' is not supported", tok)

    def _length(self, at_most: bool, n: int) -> Pred:
        """``less N`` (wire length <= N) or ``greater N`` (>= N)."""
        e = self.e

        def emit(t: int, f: int) -> None:
            e.stmt(I.LD | I.LEN)
            if at_most:
                e.jump(I.JMP | I.JGT | I.K, n, f, t)
            else:
                e.jump(I.JMP | I.JGE | I.K, n, t, f)

        return emit


_NOTOK = Token("end", "", 0)
