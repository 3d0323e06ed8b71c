"""What tcpdump -n prints for the fields of one header, protocol by protocol.

``text.TextFormatter`` assembles the line: the link header, the ``IP``/``IP6``
addresses, the TCP numbers it keeps per connection. The words for each
protocol's own fields come from here: an ARP operation, the IPv6 extension
headers (routing header addresses, fragment, AH), the UDP length, TCP options,
and the ICMP and ICMPv6 messages (errors name the quoted destination).

Every function here is stateless: it reads one decoded header (and, where
tcpdump does, the IP header around it) and returns its text. Where these words
differ from tcpdump on purpose, the module docstring of ``text`` says so.
"""

from __future__ import annotations

from netdiag.inspect.names import (
    ICMP6_TYPES,
    ICMP6_UNREACH,
    ICMP_REDIRECT,
    ICMP_UNREACH,
    TCP_OPTION_NAMES,
)
from netdiag.packets.addr import ip6_text
from netdiag.packets.icmp import UNREACH_NAMES as _ICMP_UNREACH_WORDS
from netdiag.packets.numbers import ETHERTYPE_NAMES

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "arp_text",
    "ipv6_ext_text",
    "udp_length_text",
    "tcp_option_text",
    "icmp_text",
    "icmp6_text",
]

_M32 = 0xFFFFFFFF
_PORT_LAYERS = frozenset(("tcp", "udp"))


# -- ARP (RFC 826) ----------------------------------------------------------------------


def arp_text(a: Any, wirelen: int, prefix: bool) -> str:
    """An ARP packet; ``prefix`` puts ``ARP, `` first (tcpdump drops it with -e)."""
    length = max(0, wirelen - a.offset)
    op = a.op
    if a.ptype != 0x0800 or a.plen != 4:
        hw = "Ethernet" if a.htype == 1 else f"Unknown Hardware ({a.htype})"
        pt = ETHERTYPE_NAMES.get(a.ptype)
        pt = f"Unknown Protocol (0x{a.ptype:04x})" if pt is None else pt
        text = f"{hw} (len {a.hlen}), {pt} (len {a.plen})"
    elif op == 1:
        tha = a.tha_raw
        seen = f" ({tha.hex(':')})" if any(tha) else ""
        text = f"Request who-has {a.tpa}{seen} tell {a.spa}"
    elif op == 2:
        text = f"Reply {a.spa} is-at {a.sha_raw.hex(':')}"
    elif op == 3:
        text = f"Reverse Request who-is {a.tha_raw.hex(':')} tell {a.sha_raw.hex(':')}"
    elif op == 4:
        text = f"Reverse Reply {a.tha_raw.hex(':')} at {a.tpa}"
    else:
        text = f"Unknown ({op})"
    return f"{'ARP, ' if prefix else ''}{text}, length {length}"


# -- IPv6 extension headers (RFC 8200) --------------------------------------------------


def ipv6_ext_text(ip: Any) -> str:
    """The extension headers of an IPv6 header, each as tcpdump names it."""
    b = ip._buf
    declared_end = ip.offset + 40 + ip.payload_len
    out = []
    for kind, pos, size in ip.extensions:
        if kind == 0:
            out.append("HBH ")
        elif kind == 60:
            out.append("DSTOPT ")
        elif kind == 43:
            out.append(_routing_text(b, pos, size))
        elif kind == 44:
            out.append(f"frag ({ip.frag_offset}|{max(0, declared_end - pos - size)}) ")
        elif kind == 51:
            spi = int.from_bytes(b[pos + 4 : pos + 8], "big")
            seq = int.from_bytes(b[pos + 8 : pos + 12], "big")
            out.append(f"AH(spi=0x{spi:08x},seq=0x{seq:x}): ")
    return "".join(out)


def _routing_text(b: bytes, pos: int, size: int) -> str:
    """An IPv6 routing header: type 0 (RFC 2460, deprecated) and segment routing
    (type 4, RFC 8754) list their addresses."""
    rtype, segleft = b[pos + 2], b[pos + 3]
    head = f"RT6 (len={b[pos + 1]}, type={rtype}"
    if rtype == 0:
        first = pos + 8
        head += f" [Deprecated], segleft={segleft}"
    elif rtype == 4:
        first = pos + 8
        head += f", segleft={segleft}, last-entry={b[pos + 4]}, tag={b[pos + 6] << 8 | b[pos + 7]}"
    else:
        return f"{head}, segleft={segleft}) "
    addrs = [ip6_text(bytes(b[a : a + 16])) for a in range(first, pos + size - 15, 16)]
    return head + "".join(f", [{i}]{x}" for i, x in enumerate(addrs)) + ") "


# -- UDP (RFC 768) ----------------------------------------------------------------------


def udp_length_text(u: Any, ip: Any) -> str:
    """``UDP, length N``, or ``bad length`` when it claims more than the IP payload."""
    if not u.length:  # IPv6 jumbogram: the length is the IP payload's
        return f"UDP, length {u.payload_length}"
    declared = ip.payload_length
    if u.length > declared and not ip.is_fragment:
        return f"UDP, bad length {u.length - 8} > {max(0, declared - 8)}"
    return f"UDP, length {u.length - 8}"


# -- TCP options (RFC 9293) -------------------------------------------------------------


def tcp_option_text(kind: int, value: Any, sack_base: int) -> str:
    """One TCP option; SACK edges are shown relative to ``sack_base``."""
    if kind == 2 and isinstance(value, int):
        return f"mss {value}"
    if kind == 3 and isinstance(value, int):
        return f"wscale {value}"
    if kind == 8 and isinstance(value, tuple):
        return f"TS val {value[0]} ecr {value[1]}"
    if kind == 5 and isinstance(value, list):
        blocks = "".join(
            f"{{{left - sack_base & _M32}:{right - sack_base & _M32}}}" for left, right in value
        )
        return f"sack {len(value)} {blocks}"
    if kind in (0, 1, 4) and value is None:
        return TCP_OPTION_NAMES[kind]
    if kind < 0:
        return "bad opt"
    if kind in (253, 254) and isinstance(value, bytes) and len(value) >= 2:
        return f"exp-{int.from_bytes(value[:2], 'big'):x}"
    if kind == 19 and isinstance(value, bytes):
        return f"md5 shared secret not supplied with -M, can't check - {value.hex()}"
    name = TCP_OPTION_NAMES.get(kind)
    data = value.hex() if isinstance(value, bytes) else ""
    if name is None:
        return f"unknown-{kind}" + (f" 0x{data}" if data else "")
    return f"{name} 0x{data}" if data else name


# -- ICMP (RFC 792) ---------------------------------------------------------------------


def icmp_text(ic: Any) -> str:
    """An ICMP message, between ``ICMP `` and ``, length N``."""
    t, c = ic.type, ic.code
    if t == 8 or t == 0:
        return f"echo {'request' if t == 8 else 'reply'}, id {ic.id}, seq {ic.seq}"
    if t == 11:
        if c == 0:
            return "time exceeded in-transit"
        return "ip reassembly time exceeded" if c == 1 else f"time exceeded-#{c}"
    if t == 3:
        return _icmp_unreach(ic)
    if t == 5:
        word, kind = ICMP_REDIRECT.get(c, (f"redirect-#{c}", "host"))
        q = ic.quoted
        qdst = q.ip.dst if q is not None and q.ip is not None else "?"
        return f"{word} {qdst} to {kind} {ic.gateway}"
    if t == 12:
        return f"parameter problem - code {c}" if c else (f"parameter problem - octet {ic.pointer}")
    if t == 13 or t == 14:
        return f"time stamp {'request' if t == 13 else 'reply'} id {ic.id} seq {ic.seq}"
    simple = {
        4: "source quench",
        9: "router advertisement",
        10: "router solicitation",
        15: "information request",
        16: "information reply",
        17: "address mask request",
        18: "address mask reply",
    }.get(t)
    return simple if simple is not None else f"type-#{t}"


def _icmp_unreach(ic: Any) -> str:
    c = ic.code
    q = ic.quoted
    qip = q.ip if q is not None else None
    if qip is None:
        return _ICMP_UNREACH_WORDS.get(c, f"unreachable code {c}")
    qdst = qip.dst
    if c == 2:
        return f"{qdst} protocol {qip.protocol} unreachable"
    if c == 3:
        tr = q.transport
        if tr is not None and tr.name in _PORT_LAYERS:
            return f"{qdst} {tr.name} port {tr.dport} unreachable"
        return f"{qdst} protocol {qip.protocol} port unreachable"
    if c == 4:
        mtu = ic.mtu
        return f"{qdst} unreachable - need to frag" + (f" (mtu {mtu})" if mtu else "")
    pre, suf = ICMP_UNREACH.get(c, ("", f" unreachable - #{c}"))
    return f"{pre}{qdst}{suf}"


# -- ICMPv6 (RFC 4443, RFC 4861) --------------------------------------------------------


def icmp6_text(ic: Any) -> str:
    """An ICMPv6 message, between ``ICMP6, `` and ``, length N``."""
    t, c = ic.type, ic.code
    name = ICMP6_TYPES.get(t, f"unknown icmp6 type ({t})")
    if t == 128 or t == 129:
        return f"{name}, id {ic.id}, seq {ic.seq}"
    q = ic.quoted
    qip = q.ip if q is not None else None
    qdst = qip.dst if qip is not None else "?"
    if t == 1:
        if c == 4:
            tr = q.transport if q is not None else None
            if tr is not None and tr.name in _PORT_LAYERS:
                return f"{name}, unreachable port, {qdst} {tr.name} port {tr.dport}"
            return f"{name}, unreachable port, {qdst}"
        return f"{name}, {ICMP6_UNREACH.get(c, f'unknown unreach code ({c})')} {qdst}"
    if t == 2:
        return f"{name}, mtu {ic.mtu}"
    if t == 3:
        if c == 0:
            return f"{name} in-transit for {qdst}"
        return f"{name} reassembly" if c == 1 else f"{name} code-#{c}"
    if t == 4:
        return (
            f"{name}, code-#{c}, pointer {ic.pointer}"
            if c
            else (f"{name}, erroneous - octet {ic.pointer}")
        )
    if t == 143:
        return f"{name}, {ic.rest & 0xFFFF} group record(s)"
    if t == 135:
        return f"{name}, who has {ic.target}"
    if t == 136:
        return f"{name}, tgt is {ic.target}"
    return name
