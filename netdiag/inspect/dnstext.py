"""DNS (and mDNS, LLMNR) as the line, the tree and JSON show it (``packets.dns``).

The line is tcpdump's (``print-domain.c``, without ``-v``)::

    22836+ [1au] A? www.tcpdump.org. (56)                  a query
    22836*- 2/2/5 A 192.139.46.66, A 198.199.88.104 (224)  a response
    63147 BadCookie 0/0/1 (56)                             an extended rcode (EDNS)

Query: id, the opcode, ``+`` (RD), ``%`` (CD), ``[b2&3=0x...]`` for odd flag
bits, ``[Na]``/``[Nq]``/``[Nn]``/``[Nau]`` for counts other than one question,
then each question ``TYPE? name``; mDNS adds ``(QU)``/``(QM)``. Response: id,
opcode, rcode (EDNS's extended bits included), ``*`` (AA), ``-`` (no RA), ``|``
(TC), ``$`` (AD), ``an/ns/ar`` and the answers' data. Then the message length.
Differences from tcpdump: a non-printable byte in a name or TXT string is
written ``\\DDD`` (tcpdump: ``M-x``/``^X``); over TCP only the first message of
a segment is shown; a message damaged part way shows what decoded before the
damage and then the reason (tcpdump: ``[|domain]``). LLMNR (port 5355) is shown
like DNS, where tcpdump has no LLMNR printer and prints ``UDP, length N``.

The tree and JSON (``dns_fields``) give the header flags by name, the rcode
and its name, every question and every record of the three sections with its
decoded data, and the EDNS0 OPT record as ``udp_size``, ``ext_rcode``,
``version``, ``do`` and its options by name (tshark's ``dns.*`` fields hold
the same values: ``dns.id``, ``dns.flags.rcode``, ``dns.qry.name`` without the
final dot).
"""

from __future__ import annotations

from netdiag.packets.dns import CLASS_NAMES, OPCODE_NAMES, TYPE_NAMES, Message, Record

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["dns_summary", "mdns_summary", "dns_tcp_summary", "dns_fields", "EDNS_OPTION_NAMES"]

_OPS = ("", " inv_q", " stat", " op3", " notify", " update", " op6", " op7", " op8", " updateA",
        " updateD", " updateDA", " updateM", " updateMA", " zoneInit", " zoneRef")  # fmt: skip
_RESP = (
    "",
    " FormErr",
    " ServFail",
    " NXDomain",
    " NotImp",
    " Refused",
    " YXDomain",
    " YXRRSet",
    " NXRRSet",
    " NotAuth",
    " NotZone",
    " Resp11",
    " Resp12",
    " Resp13",
    " Resp14",
    " NoChange",
    " BadVers",
    "Resp17",
    " Resp18",
    " Resp19",
    " Resp20",
    "Resp21",
    " Resp22",
    " BadCookie",
)  # fmt: skip  (tcpdump's table, its typos too)
# The types tcpdump names (others are "TypeN"); it calls 104 UNSPECA.
_TCPDUMP_TYPES = {n: TYPE_NAMES[n] for n in (*range(1, 49), 99, 100, 101, 102, 103)}
_TCPDUMP_TYPES.update({104: "UNSPECA", 249: "TKEY", 250: "TSIG", 251: "IXFR", 252: "AXFR",
                       253: "MAILB", 254: "MAILA", 255: "ANY", 256: "URI"})  # fmt: skip
_TCPDUMP_CLASSES = {1: "IN", 3: "CHAOS", 4: "HS", 255: "ANY"}
# IANA "DNS EDNS0 Option Codes (OPT)"
EDNS_OPTION_NAMES = {1: "LLQ", 2: "UL", 3: "NSID", 5: "DAU", 6: "DHU", 7: "N3U", 8: "ECS",
                     9: "EXPIRE", 10: "COOKIE", 11: "KEEPALIVE", 12: "PADDING", 13: "CHAIN",
                     14: "KEY-TAG", 15: "EDE", 16: "CLIENT-TAG", 17: "SERVER-TAG"}  # fmt: skip
_QU = 0x8000  # mDNS: unicast response asked (question), cache flush (record)


def _tname(t: int) -> str:
    return _TCPDUMP_TYPES.get(t, f"Type{t}")


def _rcode_text(rcode: int) -> str:
    return _RESP[rcode] if rcode < len(_RESP) else f" Resp{rcode & 0xFFF}"


def _question(q: Any, mdns: bool) -> str:
    cls = q.qclass & ~_QU if mdns else q.qclass
    out = f" {_tname(q.qtype)}"
    if cls != 1:
        out += " " + _TCPDUMP_CLASSES.get(cls, f"(Class {cls})")
    if mdns:
        out += " (QU)" if q.qclass & _QU else " (QM)"
    return f"{out}? {q.name}"


def _record(r: Record, mdns: bool) -> str:
    cls = r.rclass & ~_QU if mdns else r.rclass
    t = r.rtype
    out = ""
    if cls != 1 and t != 41:
        out += " " + _TCPDUMP_CLASSES.get(cls, f"(Class {cls})")
    if mdns and r.rclass & _QU:
        out += " (Cache flush)"
    out += f" {_tname(t)}"
    d = r.data
    if t in (1, 28, 2, 5, 12, 39):
        out += f" {d}"
    elif t == 15:
        out += f" {d[1]} {d[0]}"
    elif t == 16:
        out += "".join(f' "{s}"' for s in d)
    elif t == 33:
        out += f" {d[3]}:{d[2]} {d[0]} {d[1]}"
    elif t == 256:
        out += f" {d[0]} {d[1]} {d[2]}"
    elif t == 41:
        out += f" UDPsize={r.rclass}"
        if r.ttl & 0x8000:
            out += " DO"
        if d:
            out += " [" + ",".join(_option_text(c, v) for c, v in d) + "]"
    return out


def _option_text(code: int, v: bytes) -> str:
    name = EDNS_OPTION_NAMES.get(code, f"Opt{code}")
    if not v:
        return name
    if code == 10 and len(v) > 8:
        return f"{name} {v[:8].hex()} {v[8:].hex()}"
    if code == 12:
        return f"{name} ({len(v)})"
    return f"{name} {v.hex()}"


def dns_summary(m: Message, length: int | None, *, mdns: bool = False) -> str:
    """tcpdump's text for the message ``m`` of ``length`` bytes (None: a message cut
    short, whose ``(length)`` is left out, as tcpdump leaves it for ``[|domain]``)."""
    f = m.flags
    out = [str(m.id), _OPS[m.opcode]]
    if m.qr:
        out.append(_rcode_text(m.rcode))
        out.append("*" if m.aa else "")
        out.append("" if m.ra else "-")
        out.append("|" if m.tc else "")
        out.append("$" if m.ad else "")
        if m.qdcount != 1:
            out.append(f" [{m.qdcount}q]")
        out.append(f" {m.ancount}/{m.nscount}/{m.arcount}")
        out.append(",".join(_record(r, mdns) for r in m.answers))
    else:
        out.append("+" if m.rd else "")
        out.append("%" if m.cd else "")
        if f & 0x6CF:
            out.append(f" [b2&3=0x{f:x}]")
        if m.opcode == 1:
            if m.qdcount:
                out.append(f" [{m.qdcount}q]")
            if m.ancount != 1:
                out.append(f" [{m.ancount}a]")
        else:
            if m.ancount:
                out.append(f" [{m.ancount}a]")
            if m.qdcount != 1:
                out.append(f" [{m.qdcount}q]")
        if m.nscount:
            out.append(f" [{m.nscount}n]")
        if m.arcount:
            out.append(f" [{m.arcount}au]")
        out.extend(_question(q, mdns) for q in m.questions)
    if length is not None:
        out.append(f" ({length})")
    return "".join(out)


def mdns_summary(m: Message, length: int | None) -> str:
    return dns_summary(m, length, mdns=True)


def dns_tcp_summary(m: Message, length: int | None) -> str:
    """Over TCP: the message after its length prefix (tcpdump's length is the message's)."""
    return dns_summary(m, None if length is None else m.length)


def _record_fields(r: Record) -> dict[str, Any]:
    d: dict[str, Any] = {"name": r.name, "type": TYPE_NAMES.get(r.rtype, r.rtype)}
    if r.rtype == 41:
        d["udp_size"] = r.rclass
        d["ext_rcode"] = r.ttl >> 24 & 0xFF
        d["version"] = r.ttl >> 16 & 0xFF
        d["do"] = bool(r.ttl & 0x8000)
        d["options"] = [
            {"name": EDNS_OPTION_NAMES.get(c, f"Opt{c}"), "code": c, "data": v} for c, v in r.data
        ]
        return d
    d["class"] = CLASS_NAMES.get(r.rclass & 0x7FFF, r.rclass)
    d["ttl"] = r.ttl
    d["rdlength"] = r.rdlength
    data = r.data
    t = r.rtype
    if t == 15:
        d["preference"], d["exchange"] = data
    elif t == 6:
        for k, v in zip(
            ("mname", "rname", "serial", "refresh", "retry", "expire", "minimum"), data, strict=True
        ):
            d[k] = v
    elif t == 33:
        d["priority"], d["weight"], d["port"], d["target"] = data
    elif t == 16:
        d["txt"] = list(data)
    elif t == 256:
        d["priority"], d["weight"], d["target"] = data
    else:
        d["data"] = data
    return d


def dns_fields(m: Message) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": m.id,
        "response": m.qr,
        "opcode": OPCODE_NAMES.get(m.opcode, m.opcode),
        "aa": m.aa,
        "tc": m.tc,
        "rd": m.rd,
        "ra": m.ra,
        "ad": m.ad,
        "cd": m.cd,
        "rcode": m.rcode,
        "rcode_name": m.rcode_name,
        "qdcount": m.qdcount,
        "ancount": m.ancount,
        "nscount": m.nscount,
        "arcount": m.arcount,
        "length": m.length,
    }
    if m.tcp_length is not None:
        d["tcp_length"] = m.tcp_length
    d["questions"] = [
        {
            "name": q.name,
            "type": TYPE_NAMES.get(q.qtype, q.qtype),
            "class": CLASS_NAMES.get(q.qclass & 0x7FFF, q.qclass),
        }
        for q in m.questions
    ]
    for key, section in (
        ("answers", m.answers),
        ("authority", m.authority),
        ("additional", m.additional),
    ):
        if section:
            d[key] = [_record_fields(r) for r in section]
    return d
