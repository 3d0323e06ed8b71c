"""The tcpdump -n words for tunnels and for what a host learns about its link.

``chain_text`` renders a packet whose ``Packet.chain`` holds tunnel layers, or
that starts with LLDP or MPLS after its link header, as tcpdump prints it: the
outer header, the tunnel, then the inner packet on the same line, e.g.
``IP 10.0.0.1 > 10.0.0.2: GREv0, key=0x1, length 92: IP 192.168.1.1 >
192.168.1.2: ICMP echo request, ...``. VXLAN ends its part with a newline, as
tcpdump does (``VXLAN, flags [I] (0x08), vni 100`` then the inner frame on the
next line). An inner Ethernet header is printed only with ``-e``, as tcpdump
prints it. The innermost IP and its transport are the line of ``TextFormatter``
itself (TCP sequence state, application layers).

``message_text`` gives IGMP (v1, v2, v3 queries and reports) and VRRP (v2,
v3) words, ``chain_text`` LLDP's (length on the wire and system name), and
``mld_text`` the MLD ones between ``ICMP6, `` and ``, length N``. Where we
differ from tcpdump 4.99.3: ERSPAN is printed as tcpdump 4.99.4 and later print
it (``ERSPAN session 100 vlan 5: ...``, where 4.99.3 stops at
``gre-proto-0x88be``); GRE version 1
(PPTP) payloads (PPP) are not decoded, and tcpdump's ``-v`` details (Geneve
option contents, LLDP TLVs, VRRP addresses) are in the ``-v`` tree instead.
"""

from __future__ import annotations

from netdiag.inspect.names import ethertype_text
from netdiag.inspect.words import arp_text, ipv6_ext_text
from netdiag.packets.numbers import ETHERTYPE_NAMES

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

    from netdiag.packets.packet import Packet

__all__ = ["chain_text", "message_text", "mld_text", "relts"]

_IP = frozenset(("ipv4", "ipv6"))
_UDP_TUNNELS = frozenset(("vxlan", "geneve"))


def relts(secs: int) -> str:
    """Seconds as tcpdump's relative time: ``51m12s``, ``1h``, ``0s``."""
    if secs <= 0:
        return "0s"
    out = []
    for unit, size in (("y", 31536000), ("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            out.append(f"{secs // size}{unit}")
            secs %= size
    if secs:
        out.append(f"{secs}s")
    return "".join(out)


def _ip_head(ip: Any, wirelen: int, linked: bool) -> tuple[str, str]:
    """``IP `` (or ``IP6 ``, none with -e) with the truncation note, and the IPv6
    extension headers' words."""
    if ip.version == 4:
        head = "" if linked else "IP "
        missing = ip.total_length - (wirelen - ip.offset)
        if missing > 0:
            head += f"truncated-ip - {missing} bytes missing! "
        return head, ""
    return ("" if linked else "IP6 "), (ipv6_ext_text(ip) if ip.extensions else "")


def _proto_text(t: int) -> str:
    """A tunnel's protocol type as tcpdump -e names it (``unknown``, lower case)."""
    return f"{ETHERTYPE_NAMES.get(t, 'unknown')} (0x{t:04x})"


def gre_text(g: Any, linked: bool, length: int) -> str:
    """A GRE header; ``length`` is what the IP header declares for it (tcpdump's)."""
    out = [f"GREv{g.version}"]
    if g.version == 1:
        if g.key is not None:
            out.append(f", call {g.key & 0xFFFF}")
        if g.seq is not None:
            out.append(f", seq {g.seq}")
        if g.ack is not None:
            out.append(f", ack {g.ack}")
        if g.seq is None:
            out.append(", no-payload")
    else:
        if g.flags & 0xC000:
            out.append(f", off 0x{g.routing_offset or 0:x}")
        if g.key is not None:
            out.append(f", key=0x{g.key:x}")
        if g.seq is not None:
            out.append(f", seq {g.seq}")
    if linked:
        out.append(f", proto {_proto_text(g.protocol)}")
    out.append(f", length {length}")
    return "".join(out)


def vxlan_text(v: Any) -> str:
    flags = "I" if v.flags & 0x08 else "invalid"
    vni = f"vni {v.vni}" if v.flags & 0x08 else "ERROR: I flag not set"
    return f"VXLAN, flags [{flags}] (0x{v.flags:02x}), {vni}"


def geneve_text(g: Any, linked: bool) -> str:
    names = "".join(
        n
        for bit, n in ((0x80, "O"), (0x40, "C"), (0x20, "R1"), (0x10, "R2"), (8, "R3"), (4, "R4"))
        if g.flags & bit
    )
    out = f"Geneve, Flags [{names or 'none'}], vni 0x{g.vni:x}"
    if linked:
        out += f", proto {_proto_text(g.protocol)}"
    if g.options_len:
        out += f", options [{g.options_len} bytes]"
    return out


def erspan_text(e: Any) -> str:
    """As tcpdump 4.99.4 and later print it (4.99.3 stops at ``gre-proto-0x88be``)."""
    if e.type == 1:
        return "ERSPAN type1"
    out = f"ERSPAN session {e.session}"
    if e.type == 2:
        vlan = {1: f" isl {e.vlan}", 2: f" vlan {e.vlan}", 3: " vlan payload"}
        return out + vlan.get(e.encap, "")
    bso = {0: "Good/unknown", 1: "Short", 2: "Oversized", 3: "Bad"}[e.encap]
    ft = {0: "Ethernet", 2: "IP"}.get(e.frame_type, f"unknown {e.frame_type:x}")
    return out + f" bso {bso} ft {ft}"


def mpls_text(m: Any) -> str:
    return "MPLS " + " ".join(
        f"(label {e.label}, tc {e.tc}, {'[S], ' if e.bottom else ''}ttl {e.ttl})" for e in m.labels
    )


def _ethernet_text(eth: Any, tags: list[Any], end: int) -> str:
    """An inner Ethernet header as tcpdump -e prints it."""
    length = end - eth.offset
    t = eth.type
    if not tags:
        return f"{eth.src} > {eth.dst}, ethertype {ethertype_text(t)}, length {length}: "
    out = f"{eth.src} > {eth.dst}, ethertype {ethertype_text(t)}, length {length}: "
    for tag in tags:
        out += f"vlan {tag.vid}, p {tag.pcp}, {'DEI, ' if tag.dei else ''}"
        out += f"ethertype {ethertype_text(tag.type)}, "
    return out


def chain_text(fmt: Any, p: Packet, layers: list[Any], i: int, wirelen: int, linked: bool) -> str:
    """The part of the line after the link header, for a tunneled packet."""
    out: list[str] = []
    n = len(layers)
    end = len(p.data)
    while i < n:
        x = layers[i]
        name = x.name
        nxt: Any = layers[i + 1] if i + 1 < n else None
        nxt_name = nxt.name if nxt is not None else None
        if name in _IP:
            after = layers[i + 2] if i + 2 < n else None
            if nxt_name == "udp" and after is not None and after.name in _UDP_TUNNELS:
                head, ext = _ip_head(x, wirelen, linked)
                if ext:
                    out.append(f"{head}{x.src} > {x.dst}: {ext}{nxt.sport} > {nxt.dport}: ")
                else:
                    out.append(f"{head}{x.src}.{nxt.sport} > {x.dst}.{nxt.dport}: ")
                if after.name == "vxlan":
                    out.append(vxlan_text(after) + "\n")
                else:
                    out.append(geneve_text(after, linked) + ": ")
                end = nxt.end
                i += 3
                continue
            if nxt_name == "gre":
                head, ext = _ip_head(x, wirelen, linked)
                out.append(
                    f"{head}{x.src} > {x.dst}: {ext}"
                    f"{gre_text(nxt, linked, max(0, x.payload_length))}: "
                )
                end = nxt.end
                i += 2
                continue
            # The innermost IP (and any IP in IP after it): the formatter's own line.
            out.append(fmt._ip_chain(p, layers, i, wirelen, linked))
            return "".join(out)
        if name == "ethernet":
            j = i + 1
            while j < n and layers[j].name == "vlan":
                j += 1
            if linked:
                out.append(_ethernet_text(x, layers[i + 1 : j], end))
            i = j
            continue
        if name == "mpls":
            out.append(mpls_text(x) + " ")
            i += 1
            continue
        if name == "erspan":
            out.append(erspan_text(x) + ": ")
            i += 1
            continue
        if name == "arp":
            out.append(arp_text(x, wirelen, not linked))
            i += 1
            continue
        if name == "lldp":
            out.append(_lldp_text(x, wirelen))
            i += 1
            continue
        break
    if out and not p.error:
        last = layers[-1] if layers else None
        if last is not None and last.name == "gre":
            out.append(f"gre-proto-0x{last.protocol:x}")
        elif last is not None and last.name == "geneve":
            out.append(f"geneve-proto-0x{last.protocol:x}")
        elif last is not None and last.name == "erspan":
            out.append("Frame type unknown")
    return "".join(out).rstrip(": \n")


# -- messages ---------------------------------------------------------------------------


def _igmp_text(m: Any) -> str:
    t, n = m.type, m.length
    if t == 0x11:
        if m.version == 3:
            out = "igmp query v3"
            if n & 3:
                return out + f" [invalid len {n}]"
            if m.max_resp != 100:
                mrt = int(m.max_resp_time * 10)
                out += (
                    f" [max resp time {mrt * 0.1:.1f}s]"
                    if mrt < 600
                    else f" [max resp time {relts(mrt // 10)}]"
                )
            if m.group != "0.0.0.0":
                out += f" [gaddr {m.group}"
                if m.sources:
                    out += f", {len(m.sources)} source(s)"
                out += "]"
            return out
        out = "igmp query"
        if m.max_resp:
            out += " v2" + (f" [max resp time {m.max_resp}]" if m.max_resp != 100 else "")
        else:
            out += " v1"
        if m.group != "0.0.0.0":
            out += f" [gaddr {m.group}]"
        return out + (f" [len {n}]" if n != 8 else "")
    if t == 0x12:
        return f"igmp v1 report {m.group}" + (f" [len {n}]" if n != 8 else "")
    if t == 0x16:
        return f"igmp v2 report {m.group}"
    if t == 0x17:
        return f"igmp leave {m.group}"
    if t == 0x22:
        if n < 16 or n & 3:
            return f"igmp v3 report [invalid len {n}]"
        return f"igmp v3 report, {len(m.records)} group record(s)"
    if t == 0x13:
        return "igmp dvmrp"
    if t == 0x14:
        return "igmp pimv1"
    return f"igmp-{t}"


def _vrrp_text(m: Any, ip: Any) -> str:
    kind = "Advertisement" if m.type == 1 else f"unknown type ({m.type})"
    out = f"VRRPv{m.version}, {kind}"
    if ip is not None and ip.ttl != 255:
        out += f", (ttl {ip.ttl})"
    if m.type != 1:
        return out
    out += f", vrid {m.vrid}, prio {m.priority}"
    if m.version == 2:
        auth = {0: "none", 1: "simple", 2: "ah"}.get(m.auth_type, f"#{m.auth_type}")
        return out + f", authtype {auth}, intvl {m.interval}s, length {m.length}"
    return out + f", intvl {m.interval}cs, length {m.length}"


def _lldp_text(m: Any, wirelen: int) -> str:
    out = f"LLDP, length {wirelen - m.offset}"
    for t in m.tlvs:
        if t.type == 5:
            out += ": " + t.value.decode("latin-1")
    return out


def message_text(m: Any, ip: Any) -> str:
    """IGMP or VRRP words (LLDP: ``chain_text``; MLD: ``mld_text``)."""
    if m.name == "igmp":
        return _igmp_text(m)
    if m.name == "vrrp":
        return _vrrp_text(m, ip)
    return str(m.name)


def mld_text(name: str, m: Any) -> str:
    """An MLD message after ``ICMP6, ``; ``name`` is the ICMPv6 type's name."""
    n = m.end - m.offset
    if m.type == 143:
        return f"{name}, {len(m.records)} group record(s)"
    if m.type == 130:
        if n == 24:
            return f"{name}max resp delay: {m.max_delay} addr: {m.group}"
        if n >= 28:
            src = f", {len(m.sources)} source(s)" if m.sources else ""
            return f"{name} v2 [gaddr {m.group}{src}]"
        return f"{name} unknown-version (len {n}) "
    return f"{name}max resp delay: {m.max_delay} addr: {m.group}"
