"""DHCP and DHCPv6 as the line, the tree and JSON show them (``packets.dhcp``, ``dhcp6``).

The lines are tcpdump's (``print-bootp.c``, ``print-dhcp6.c`` without ``-v``)::

    BOOTP/DHCP, Request from 00:0c:29:1f:74:06, length 300
    BOOTP/DHCP, Reply, length 280
    dhcp6 solicit

netdiag prints more than tcpdump on the line: the DHCP message type after the
op (``BOOTP/DHCP, Request from ..., DHCP-Message Discover, length 300``) is
left to the tree, so that the line stays tcpdump's; the tree and JSON give
every header field and every option by name (RFC 2132 and IANA's "BOOTP
Vendor Extensions and DHCP Options"), with addresses, lease times, the
parameter request list by name, the client id and the relay agent
sub-options decoded. DHCPv6 options are given by name, with the DUID, IA_NA,
IA_TA and IA_PD and their addresses and prefixes with lifetimes.
"""

from __future__ import annotations

from netdiag.packets.dhcp import MESSAGE_TYPES, Dhcp
from netdiag.packets.dhcp6 import Dhcp6, Option6

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["dhcp_summary", "dhcp_fields", "dhcp6_summary", "dhcp6_fields", "OPTION_NAMES",
           "OPTION6_NAMES"]  # fmt: skip

# RFC 2132 and later (IANA bootp-dhcp-parameters); tcpdump's spelling where it has one.
OPTION_NAMES = {
    1: "Subnet-Mask", 2: "Time-Zone", 3: "Default-Gateway", 4: "Time-Server",
    5: "IEN-Name-Server", 6: "Domain-Name-Server", 7: "Log-Server", 9: "LPR-Server",
    12: "Hostname", 13: "Boot-Size", 15: "Domain-Name", 17: "Root-Path", 19: "IP-Forwarding",
    23: "Default-IP-TTL", 26: "MTU", 28: "Broadcast-Address", 31: "Router-Discovery",
    33: "Static-Route", 40: "YP-Domain", 41: "YP-Server", 42: "NTP", 43: "Vendor-Option",
    44: "NETBIOS-Name-Server", 46: "NETBIOS-Node", 47: "NETBIOS-Scope",
    50: "Requested-IP", 51: "Lease-Time", 52: "Option-Overload", 53: "DHCP-Message",
    54: "Server-ID", 55: "Parameter-Request", 56: "Message", 57: "Maximum-Message-Size",
    58: "Renewal-Time", 59: "Rebinding-Time", 60: "Vendor-Class", 61: "Client-ID",
    66: "TFTP", 67: "Bootfile-Name", 77: "User-Class", 81: "Client-FQDN",
    82: "Agent-Information", 90: "Authentication", 91: "Client-Last-Transaction-Time",
    92: "Associated-IP", 93: "Client-System", 94: "Client-NDI", 97: "GUID",
    108: "IPv6-Only-Preferred", 116: "Auto-Configuration", 119: "Domain-Search",
    121: "Classless-Static-Route", 125: "Vendor-Specific", 145: "Forcerenew-Nonce",
    161: "MUD-URL", 249: "Classless-Static-Route-Microsoft", 252: "WPAD",
}  # fmt: skip
_ADDRS = frozenset((1, 3, 4, 5, 6, 7, 9, 28, 41, 42, 44, 50, 54, 92))
_U32S = frozenset((2, 51, 58, 59, 91))
_U16S = frozenset((13, 26, 57))
_TEXTS = frozenset((12, 15, 17, 40, 47, 56, 60, 66, 67, 161, 252))
_AGENT = {1: "Circuit-ID", 2: "Remote-ID", 5: "Link-Selection", 6: "Subscriber-ID",
          9: "Vendor-Specific", 11: "Server-ID-Override"}  # fmt: skip

# RFC 8415 §21 and IANA's DHCPv6 option codes.
OPTION6_NAMES = {
    1: "client-ID", 2: "server-ID", 3: "IA_NA", 4: "IA_TA", 5: "IAADDR", 6: "option-request",
    7: "preference", 8: "elapsed-time", 9: "relay-message", 11: "authentication",
    12: "server-unicast", 13: "status-code", 14: "rapid-commit", 15: "user-class",
    16: "vendor-class", 17: "vendor-specific-info", 18: "interface-ID",
    19: "reconfigure-message", 20: "reconfigure-accept", 21: "SIP-servers-domain",
    22: "SIP-servers-address", 23: "DNS-server", 24: "domain-search-list", 25: "IA_PD",
    26: "IAPREFIX", 31: "SNTP-servers", 32: "information-refresh-time", 37: "remote-ID",
    38: "subscriber-ID", 39: "client-FQDN", 56: "NTP-server", 79: "client-link-layer-address",
    82: "SOL_MAX_RT", 83: "INF_MAX_RT",
}  # fmt: skip
_DUID_TYPES = {1: "LLT", 2: "EN", 3: "LL", 4: "UUID"}
_STATUS = {0: "Success", 1: "UnspecFail", 2: "NoAddrsAvail", 3: "NoBinding", 4: "NotOnLink",
           5: "UseMulticast", 6: "NoPrefixAvail"}  # fmt: skip


def _ip4(b: bytes) -> str:
    return f"{b[0]}.{b[1]}.{b[2]}.{b[3]}"


def dhcp_summary(m: Dhcp, length: int) -> str:
    op = {1: "Request", 2: "Reply"}.get(m.op, f"unknown (0x{m.op:02x})")
    mac = m.client_mac if m.op == 1 else None
    frm = f" from {mac}" if mac is not None else ""
    return f"BOOTP/DHCP, {op}{frm}, length {length}"


def _option_value(code: int, v: bytes) -> Any:
    """The option's value as text, numbers or a list; raw bytes (hex) when it does not fit."""
    n = len(v)
    if code in _ADDRS and n and n % 4 == 0:
        addrs = [_ip4(v[i : i + 4]) for i in range(0, n, 4)]
        return addrs[0] if code in (1, 50, 54) and n == 4 else addrs
    if code in _U32S and n == 4:
        return int.from_bytes(v, "big")
    if code in _U16S and n == 2:
        return int.from_bytes(v, "big")
    if code in _TEXTS:
        return v.rstrip(b"\0").decode("latin-1")
    if code == 53 and n == 1:
        return MESSAGE_TYPES.get(v[0], f"Unknown ({v[0]})")
    if code == 55:
        return [f"{OPTION_NAMES.get(c, 'Option')} ({c})" for c in v]
    if code == 61 and n == 7 and v[0] == 1:
        return "ether " + ":".join(f"{b:02x}" for b in v[1:])
    if code == 82:
        subs = []
        at = 0
        while at + 2 <= n and at + 2 + v[at + 1] <= n:
            sub, k = v[at], v[at + 1]
            subs.append(f"{_AGENT.get(sub, 'Unknown')} ({sub}): {v[at + 2 : at + 2 + k].hex()}")
            at += 2 + k
        return subs if at == n else v
    return v


def dhcp_fields(m: Dhcp) -> dict[str, Any]:
    d: dict[str, Any] = {
        "op": {1: "request", 2: "reply"}.get(m.op, m.op),
        "htype": m.htype,
        "hlen": m.hlen,
        "hops": m.hops,
        "xid": f"0x{m.xid:08x}",
        "secs": m.secs,
        "broadcast": m.broadcast,
        "ciaddr": m.ciaddr,
        "yiaddr": m.yiaddr,
        "siaddr": m.siaddr,
        "giaddr": m.giaddr,
        "chaddr": m.client_mac if m.client_mac is not None else m.chaddr[: m.hlen],
    }
    if m.sname.strip(b"\0") and not any(c == 52 for c, _ in m.options):
        d["sname"] = m.sname.rstrip(b"\0").decode("latin-1")
    if m.file.strip(b"\0") and not any(c == 52 for c, _ in m.options):
        d["file"] = m.file.rstrip(b"\0").decode("latin-1")
    if m.message_type_name is not None:
        d["message_type"] = m.message_type_name
    d["length"] = m.length
    d["options"] = [
        {"name": f"{OPTION_NAMES.get(c, 'Option')} ({c})", "length": len(v),
         "value": _option_value(c, v)}
        for c, v in m.options
    ]  # fmt: skip
    return d


def dhcp6_summary(m: Dhcp6, length: int) -> str:
    return f"dhcp6 {m.msg_type_name}"


def _duid_fields(v: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"duid_type": _DUID_TYPES.get(v.type, v.type)}
    if v.hwtype is not None:
        d["hwtype"] = v.hwtype
    if v.time is not None:
        d["time"] = v.time
    if v.enterprise is not None:
        d["enterprise"] = v.enterprise
    ident = v.identifier
    d["identifier"] = (
        ":".join(f"{b:02x}" for b in ident) if v.hwtype == 1 and len(ident) == 6 else ident
    )
    return d


def _option6(o: Option6) -> dict[str, Any]:
    d: dict[str, Any] = {"name": f"{OPTION6_NAMES.get(o.code, 'option')} ({o.code})"}
    c, v = o.code, o.value
    if c in (1, 2):
        d.update(_duid_fields(v))
    elif c in (3, 25):
        d["iaid"], d["t1"], d["t2"] = v
    elif c == 4:
        d["iaid"] = v[0]
    elif c == 5:
        d["address"], d["preferred_lifetime"], d["valid_lifetime"] = v
    elif c == 26:
        d["preferred_lifetime"], d["valid_lifetime"], plen, prefix = v
        d["prefix"] = f"{prefix}/{plen}"
    elif c == 6:
        d["requested"] = [f"{OPTION6_NAMES.get(x, 'option')} ({x})" for x in v]
    elif c == 8:
        d["elapsed"] = v
    elif c == 13:
        d["status"] = f"{_STATUS.get(v[0], 'unknown')} ({v[0]})"
        d["message"] = v[1]
    elif c == 23:
        d["servers"] = list(v)
    elif c == 9:
        d["message"] = dhcp6_fields(v)
    else:
        d["data"] = o.data
    if o.options:
        d["options"] = [_option6(x) for x in o.options]
    return d


def dhcp6_fields(m: Dhcp6) -> dict[str, Any]:
    d: dict[str, Any] = {"msg_type": f"{m.msg_type_name} ({m.msg_type})"}
    if m.xid is not None:
        d["xid"] = f"0x{m.xid:06x}"
    else:
        d["hop_count"] = m.hop_count
        d["link_address"] = m.link_address
        d["peer_address"] = m.peer_address
    d["length"] = m.length
    d["options"] = [_option6(o) for o in m.options]
    return d
