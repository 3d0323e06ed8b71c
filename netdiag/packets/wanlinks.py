"""The link layers of Wi-Fi, serial lines and firewall logs, for the dispatcher.

``decode_link(p, data, linktype)`` decodes the link-level headers of IEEE
802.11 (105), radiotap + 802.11 (127), PPP (9), PPP in HDLC framing (50), Cisco
HDLC (104), Frame Relay (107), OpenBSD pflog (117), SunATM (123) and Linux
NFLOG (239); it stores the outermost header in ``p.link`` (the inner ones hang
from it: ``Radiotap.ieee80211``, ``Dot11.llc``, ``SunATM.llc``) before decoding
the next, so a header cut short keeps those before it, and returns where the
network layer starts and its EtherType (0 when the frame carries no network
layer we decode: 802.11 management and control frames, protected data, SLARP,
LCP, ...). The Ethernet hot path never comes here.
"""

from __future__ import annotations

from netdiag.errors import DecodeError
from netdiag.packets.chdlc import CiscoHDLC
from netdiag.packets.framerelay import FrameRelay
from netdiag.packets.ieee80211 import Dot11
from netdiag.packets.nflog import NFLog
from netdiag.packets.pflog import PFLog
from netdiag.packets.ppp import PPP
from netdiag.packets.radiotap import Radiotap
from netdiag.packets.sunatm import SunATM

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from netdiag.packets.packet import Packet

__all__ = ["decode_link", "LINKTYPES", "LAYER_NAMES"]

LINKTYPES = frozenset((9, 50, 104, 105, 107, 117, 123, 127, 239))
#: names of the link-level layers decoded here (the renderers skip or show them as link)
LAYER_NAMES = frozenset(
    ("radiotap", "ieee80211", "llc", "ppp", "chdlc", "framerelay", "pflog", "sunatm", "nflog")
)


def _dot11(p: Packet, b: bytes, off: int, datapad: bool, end: int) -> tuple[int, int]:
    dot = Dot11.decode(b, off, datapad, end)
    if p.link is None or p.link.__class__ is not Radiotap:
        p.link = dot
    else:
        p.link.ieee80211 = dot
    llc = dot.llc
    if llc is None or llc.ethertype is None:
        return len(b), 0
    return llc.offset + llc.header_len, llc.ethertype


def decode_link(p: Packet, b: bytes, linktype: int) -> tuple[int, int]:
    """Decode the link headers of ``b`` into ``p``; return (network offset, EtherType)."""
    if linktype == 127:
        rt = p.link = Radiotap.decode(b)
        end = len(b) - 4 if rt.has_fcs else len(b)
        return _dot11(p, b, rt.length, rt.datapad, end)
    if linktype == 105:
        return _dot11(p, b, 0, False, -1)
    if linktype == 9 or linktype == 50:
        ppp = p.link = PPP.decode(b, 0, linktype == 50)
        return ppp.header_len, ppp.ethertype
    if linktype == 104:
        ch = p.link = CiscoHDLC.decode(b)
        return ch.header_len, ch.type
    if linktype == 107:
        fr = p.link = FrameRelay.decode(b)
        return fr.header_len, fr.ethertype
    if linktype == 117:
        pf = p.link = PFLog.decode(b)
        return pf.header_len, pf.ethertype
    if linktype == 123:
        atm = p.link = SunATM.decode(b)
        return atm.header_len, atm.ethertype
    if linktype == 239:
        nf = p.link = NFLog.decode(b)
        if nf.payload_offset is None:
            return len(b), 0
        return nf.payload_offset, nf.ethertype
    raise DecodeError("link", 0, f"unsupported link type {linktype}")
