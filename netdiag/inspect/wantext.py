"""The ``tcpdump -n`` line for the link types of ``packets/wanlinks.py``.

``summary(fmt, p, wirelen)`` gives the line without its timestamp, in the shapes
tcpdump 4.99 prints (``-e``, ``fmt.link``, adds the link header):

- radiotap: its fields in bit order (``123456us tsft``, flags, ``1.0 Mb/s``,
  ``2412 MHz 11b``, ``-40dBm signal``, ``-95dBm noise``, ``100 sq``, ``antenna 1``,
  ``57dB signal``), then the 802.11 frame;
- 802.11: management frames by name (``Beacon (SSID) [1.0* 2.0 Mbit] ESS CH: 6,
  PRIVACY``, ``Probe Request (SSID)``, ``DeAuthentication (SA): reason``), control
  frames with their addresses (``Acknowledgment RA:...``), data frames through
  LLC/SNAP to the IP line (``-e``: the addresses by role, ``CF +QoS``, and the
  LLC header), protected data as ``Data`` (we do not print the IV);
- PPP ``IP (0x0021), length N:``, PPP in HDLC framing ``ff 03 N IP:``, Cisco HDLC
  ``unicast, ethertype IPv4 (0x0800), length N:``, Frame Relay ``Q.922, hdr-len 2,
  DLCI 100, Flags [none], NLPID IPv4 (0xcc), length N:``, pflog ``rule 3/0(match):
  block out on em0:``, SunATM ``Rx: VPI:0 VCI:32`` and its LLC header, NFLOG
  ``version 0, resource ID 20, family IPv4 (2), length N:``.

Where tcpdump decodes what we do not (SLARP, LCP, the 802.11 IV, radiotap MCS and
VHT fields), the line stops at what we decode: the protocol's name and length.
"""

from __future__ import annotations

from netdiag.inspect.names import ethertype_text
from netdiag.inspect.wlanreasons import REASONS

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

    from netdiag.packets.packet import Packet

__all__ = ["summary", "link_len"]

_LINK_NAMES = frozenset(
    ("radiotap", "ieee80211", "llc", "ppp", "chdlc", "framerelay", "pflog", "sunatm", "nflog")
)
_PPP_NAMES = {0x21: "IP", 0x57: "IP6", 0xC021: "LCP", 0x8021: "IPCP", 0x8057: "IP6CP",
              0xC023: "PAP", 0xC223: "CHAP", 0x0281: "MPLS", 0x80FD: "CCP"}  # fmt: skip
_NLPID = {0xCC: "IPv4", 0x8E: "IPv6", 0x80: "SNAP", 0x81: "CLNP", 0x82: "ES-IS", 0x83: "IS-IS",
          0x08: "Q.933"}  # fmt: skip
_PF_ACTIONS = {0: "pass", 1: "block", 2: "scrub", 3: "no-scrub", 4: "nat", 5: "nat",
               6: "binat", 7: "binat", 8: "rdr", 9: "rdr", 10: "synproxy-drop"}  # fmt: skip
_PF_REASONS = ("match", "bad-offset", "fragment", "short", "normalize", "memory",
               "bad-timestamp", "congestion", "ip-option", "proto-cksum", "state-mismatch",
               "state-insert", "state-limit", "src-limit", "synproxy")  # fmt: skip
_PF_DIRS = {0: "in/out", 1: "in", 2: "out"}
_NFLOG_FAMILIES = {2: "IPv4", 10: "IPv6"}
_AUTH_ALGS = {0: "Open System", 1: "Shared Key", 2: "EAP"}
#: 802.11 status codes; only success is worded here (others print as tcpdump's "n/a")
STATUSES = {0: "Successful"}
_RT_FLAGS = ((0x01, "cfp"), (0x02, "short preamble"), (0x04, "wep"), (0x08, "fragmented"),
             (0x40, "bad-fcs"))  # fmt: skip


def summary(fmt: Any, p: Packet, wirelen: int) -> str:
    """The line of ``p``; ``fmt`` is the text.TextFormatter (its -e flag and IP line)."""
    eflag = fmt.link
    link = p.link
    layers = p.layers
    i = 1 if layers and layers[0].name in _LINK_NAMES else 0
    if link is None:
        head, ip_ok = "", False
    else:
        head, ip_ok = _head(link, p.linktype, wirelen, eflag)
    if i < len(layers) and ip_ok:
        text = head + str(fmt._ip_chain(p, layers, i, wirelen, eflag))
    else:
        text = head
    if p.error is not None:  # text.error_text's marker
        mark = f"[malformed: {p.error}]"
        text = f"{text.rstrip()} {mark}" if text.strip() else mark
    return text


def link_len(p: Packet) -> int:
    """The bytes of link-level header that ``-x`` skips, as tcpdump's printers count them:
    up to the network layer when one was found; else radiotap and the 802.11 header, or
    the link header's own length (PPP's is 4 in tcpdump's count, compressed or not)."""
    link = p.link
    if link is None:
        return 0
    if p.linktype == 9:
        return 4
    if p.linktype == 123:  # tcpdump counts the pseudo-header only
        return 4
    layers = p.layers
    if len(layers) > 1:
        return int(layers[1].offset)
    dot = link.ieee80211 if link.name == "radiotap" else link if link.name == "ieee80211" else None
    if dot is not None:
        return int(dot.offset + dot.header_len)
    return int(link.offset + link.header_len)


def _head(link: Any, lt: int, wirelen: int, e: bool) -> tuple[str, bool]:
    """The text before the IP line, and whether the IP line follows."""
    name = link.name
    if name == "radiotap":
        dot = link.ieee80211
        rt = _radiotap(link)
        if dot is None:
            return rt.rstrip(), False
        h, ok = _dot11(dot, wirelen - 4 if link.has_fcs else wirelen, e)
        return rt + h, ok
    if name == "ieee80211":
        return _dot11(link, wirelen, e)
    if name == "ppp":
        pname = _PPP_NAMES.get(link.protocol, f"unknown PPP protocol (0x{link.protocol:04x})")
        if lt == 50:
            if e:
                return f"{link.address:02x} {link.control:02x} {wirelen} {pname}: ", True
            return f"{pname}: ", True
        ip = link.ethertype in (0x0800, 0x86DD)
        if e:
            return f"{pname} (0x{link.protocol:04x}), length {wirelen}" + (": " if ip else ""), ip
        if ip:
            return "", True
        return f"{pname}, length {wirelen}", False
    if name == "chdlc":
        kind = "bcast" if link.address == 0x8F else "unicast"
        if e:
            return f"{kind}, ethertype {ethertype_text(link.type)}, length {wirelen}: ", True
        if link.type in (0x0800, 0x86DD):
            return "", True
        return f"ethertype {ethertype_text(link.type)}, length {wirelen}", False
    if name == "framerelay":
        if not e:
            return "", True
        out = f"Q.922, hdr-len {link.addr_len}, DLCI {link.dlci}, Flags [{link.flags_text}], "
        if link.cisco_type is not None:
            out += f"cisco-ethertype {ethertype_text(link.cisco_type)}, "
        elif link.nlpid is not None:
            out += f"NLPID {_NLPID.get(link.nlpid, 'unknown')} (0x{link.nlpid:02x}), "
        return out + f"length {wirelen}: ", True
    if name == "pflog":
        if not e:
            return "", True
        sub = link.subrulenr
        rule = f"{link.rulenr}/" if sub == 0xFFFFFFFF else f"{link.rulenr}.{link.ruleset}.{sub}/"
        reason = link.reason
        rname = (
            f"{reason}({_PF_REASONS[reason]})" if reason < len(_PF_REASONS) else f"unkn({reason})"
        )
        action = _PF_ACTIONS.get(link.action, f"unkn({link.action})")
        direction = _PF_DIRS.get(link.dir, f"unkn({link.dir})")
        return f"rule {rule}{rname}: {action} {direction} on {link.ifname}: ", True
    if name == "sunatm":
        if not e:
            return "", True
        out = f"{'Tx' if link.transmitted else 'Rx'}: VPI:{link.vpi} VCI:{link.vci} "
        if link.llc is not None:
            out += _llc(link.llc, wirelen - 4)
        return out, True
    if name == "nflog":
        if not e:
            return "", True
        fam = _NFLOG_FAMILIES.get(link.family, "Unknown")
        return (
            f"version {link.version}, resource ID {link.resource_id}, family {fam} "
            f"({link.family}), length {wirelen}: ",
            True,
        )
    return "", True


def _llc(llc: Any, length: int) -> str:
    if llc.pid is None:
        return f"LLC, dsap 0x{llc.dsap:02x}, ssap 0x{llc.ssap:02x}, length {length}: "
    return (
        "LLC, dsap SNAP (0xaa) Individual, ssap SNAP (0xaa) Command, ctrl 0x03: "
        f"oui Ethernet (0x{llc.oui:06x}), ethertype {ethertype_text(llc.pid)}, "
        f"length {length - 8}: "
    )


def _radiotap(rt: Any) -> str:
    out = []
    if rt.tsft is not None:
        out.append(f"{rt.tsft}us tsft")
    if rt.flags is not None:
        out.extend(word for bit, word in _RT_FLAGS if rt.flags & bit)
    if rt.rate is not None:
        out.append(f"{rt.rate * 0.5:.1f} Mb/s")
    if rt.freq is not None:
        out.append(f"{rt.freq} MHz" + _chan_mode(rt.chan_flags))
    if rt.dbm_signal is not None:
        out.append(f"{rt.dbm_signal}dBm signal")
    if rt.dbm_noise is not None:
        out.append(f"{rt.dbm_noise}dBm noise")
    if rt.lock_quality is not None:
        out.append(f"{rt.lock_quality} sq")
    if rt.dbm_tx_power is not None:
        out.append(f"{rt.dbm_tx_power}dBm tx power")
    if rt.antenna is not None:
        out.append(f"antenna {rt.antenna}")
    if rt.db_signal is not None:
        out.append(f"{rt.db_signal}dB signal")
    if rt.db_noise is not None:
        out.append(f"{rt.db_noise}dB noise")
    bit = _first_unprinted_bit(rt.present)
    if bit is not None:
        out.append(f"[bit {bit}]")
    return "".join(w + " " for w in out)


def _first_unprinted_bit(present: tuple[int, ...]) -> int | None:
    """tcpdump 4.99 prints the radiotap fields of bits 0-21 of the first present word;
    at the first other field bit (22-28, or any in a later radiotap-namespace word) it
    prints ``[bit N]`` and stops. Vendor namespaces are skipped."""
    vendor = False
    for i, word in enumerate(present):
        if not vendor:
            for bit in range(22 if i == 0 else 0, 29):
                if word >> bit & 1:
                    return 32 * i + bit
        if word >> 30 & 1:
            vendor = True
        elif word >> 29 & 1:
            vendor = False
    return None


def _chan_mode(f: int) -> str:
    """tcpdump's mode words for radiotap channel flags (net80211's IEEE80211_IS_CHAN_*)."""
    two, five, cck, ofdm, dyn, gfsk = 0x0080, 0x0100, 0x0020, 0x0040, 0x0400, 0x0800
    half, quarter = 0x4000, 0x8000
    width = "/10Mhz" if f & half else "/5Mhz" if f & quarter else ""
    out = ""
    if f & (two | gfsk) == two | gfsk:
        out += " FHSS"
    if f & (five | ofdm) == five | ofdm:
        out += " 11a" + width
    if f & (two | ofdm) == two | ofdm or f & (two | dyn) == two | dyn:
        out += " 11g" + width
    elif f & (two | cck) == two | cck:
        out += " 11b"
    if f & 0x0010:
        out += " Turbo"
    return out


def _rates(rates: bytes | None) -> str:
    if not rates:
        return ""
    words = "".join(f"{(r & 0x7F) * 0.5:.1f}{'*' if r & 0x80 else ''} " for r in rates)
    return f" [{words}Mbit]"


def _ssid(ssid: bytes | None) -> str:
    if ssid is None:
        return ""
    text = "".join(chr(c) if 32 <= c < 127 else f"\\{c:03o}" for c in ssid)
    return f" ({text})"


def _dot11(d: Any, wirelen: int, e: bool) -> tuple[str, bool]:
    t, sub = d.type, d.subtype
    roles = d.roles()
    addr = "".join(f"{k}:{v} " for k, v in roles)
    if t == 0:  # management
        name = d.type_name
        if sub in (8, 5):
            body = f"{name}{_ssid(d.ssid)}{_rates(d.rates)}"
            if sub == 8:
                body += " ESS" if (d.capabilities or 0) & 1 else " IBSS"
            if d.channel is not None:
                body += f" CH: {d.channel}"
            if (d.capabilities or 0) & 0x10:
                body += ", PRIVACY"
        elif sub == 4:
            body = f"{name}{_ssid(d.ssid)}{_rates(d.rates)}"
        elif sub == 11 and d.auth is not None:
            alg, seq, status = d.auth
            text = STATUSES.get(status, "n/a") if seq % 2 else ""
            body = f"{name} ({_AUTH_ALGS.get(alg, 'Reserved')})-{seq:x}: {text}"
        elif sub in (10, 12):
            reason = REASONS.get(d.reason, "Reserved") if d.reason is not None else ""
            sa = "" if e else f" ({d.addrs[1]})"
            body = f"{name}{sa}: {reason}"
        else:
            body = name
        return (addr if e else "") + body, False
    if t == 1:  # control
        name = d.type_name or f"Control subtype {sub}"
        if e:
            return addr + name, False
        if len(roles) == 1 or sub in (12, 13):
            return f"{name} RA:{d.addrs[0]} ", False
        if sub == 11:
            return f"{name} TA:{d.addrs[1]} ", False
        return f"{name} " + addr, False
    head = ""
    if e:
        head = ("CF +QoS " if sub & 0x08 else "") + addr
    if d.protected:
        b, at = d._buf, d.body_offset
        if len(b) - at < 4:
            return head + "Data", False
        iv = int.from_bytes(b[at : at + 4], "little")
        return (
            head + f"Data IV:{iv & 0xFFFFFF:3x} Pad {iv >> 24 & 0x3F:x} KeyID {iv >> 30:x}",
            False,
        )
    llc = d.llc
    if llc is None:
        return head, False
    if llc.ethertype in (0x0800, 0x86DD):
        return head + (_llc(llc, wirelen - llc.offset) if e else ""), True
    return head + _llc(llc, wirelen - llc.offset).rstrip(": "), False
