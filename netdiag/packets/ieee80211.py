"""IEEE 802.11 MAC frames (LINKTYPE_IEEE802_11, 105; behind radiotap in 127).

Layout (IEEE 802.11-2020 §9.2): frame control (2: protocol version, type and
subtype in the first byte, flags in the second), duration/ID (2, little-endian),
address 1 (6), then by type: management frames and data frames have address 2,
address 3, sequence control (2, little-endian: fragment 4 bits, sequence 12
bits); data frames with To DS and From DS set add address 4; QoS data frames
(subtype bit 3) add QoS control (2); the Order flag on a QoS data or management
frame adds HT control (4). Control frames: ACK and CTS end after address 1,
RTS, PS-Poll, CF-End, BlockAckReq and BlockAck carry address 2.

Management bodies (§9.3.3): beacon and probe response start with a timestamp (8),
the beacon interval (2) and capabilities (2); then information elements (id,
length, value): SSID (0), supported rates (1) and DS parameter set (3: the
channel) are decoded, the first of each, as tcpdump prints them. Data
frames carry LLC/SNAP (``llc.py``) unless protected (the payload is then
encrypted: decoding stops there, with no error) or a null function subtype.
"""

from __future__ import annotations

import struct

from netdiag.errors import TruncatedError
from netdiag.packets.addr import mac_text
from netdiag.packets.llc import Llc

TYPE_CHECKING = False  # typing's flag, without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Dot11", "build", "TYPE_MGT", "TYPE_CTL", "TYPE_DATA", "SUBTYPE_NAMES"]

TYPE_MGT, TYPE_CTL, TYPE_DATA = 0, 1, 2
TO_DS, FROM_DS, MORE_FRAG, RETRY, PWR_MGT, MORE_DATA, PROTECTED, ORDER = (
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80,
)  # fmt: skip
_FC = struct.Struct("<BBH")
#: (type, subtype) -> name, as tcpdump prints it
SUBTYPE_NAMES: dict[tuple[int, int], str] = {
    (0, 0): "Assoc Request", (0, 1): "Assoc Response", (0, 2): "ReAssoc Request",
    (0, 3): "ReAssoc Response", (0, 4): "Probe Request", (0, 5): "Probe Response",
    (0, 8): "Beacon", (0, 9): "ATIM", (0, 10): "Disassociation", (0, 11): "Authentication",
    (0, 12): "DeAuthentication", (0, 13): "Action", (1, 8): "BAR", (1, 9): "BA",
    (1, 10): "Power Save-Poll", (1, 11): "Request-To-Send", (1, 12): "Clear-To-Send",
    (1, 13): "Acknowledgment", (1, 14): "CF-End", (1, 15): "CF-End+CF-Ack",
}  # fmt: skip
#: control subtypes that carry address 2
_CTL_ADDR2 = frozenset((8, 9, 10, 11, 14, 15))
#: management subtypes whose body starts with timestamp, interval, capabilities
_FIXED_BEACON = frozenset((5, 8))
#: bytes of fixed fields before the elements, per management subtype
_FIXED_LEN = {0: 4, 1: 6, 2: 10, 3: 6, 4: 0, 5: 12, 8: 12, 10: 2, 11: 6, 12: 2}


class Dot11:
    """One 802.11 frame header; ``llc`` is its LLC/SNAP header when it carries one."""

    __slots__ = (
        "_buf", "fc0", "flags", "duration", "addr_raw", "seq_ctl", "qos", "offset",
        "header_len", "ssid", "channel", "beacon_interval", "capabilities", "reason",
        "llc", "body_offset", "rates", "auth",
    )  # fmt: skip
    name = "ieee80211"

    _buf: bytes
    fc0: int
    flags: int
    duration: int
    addr_raw: tuple[bytes, ...]
    seq_ctl: int | None
    qos: int | None
    offset: int
    header_len: int
    ssid: bytes | None
    channel: int | None
    beacon_interval: int | None
    capabilities: int | None
    reason: int | None
    llc: Llc | None
    body_offset: int
    rates: bytes | None  # Supported Rates (element 1), in 500 kb/s units
    auth: tuple[int, int, int] | None  # Authentication: algorithm, transaction sequence, status

    @classmethod
    def decode(cls, buf: bytes, off: int = 0, datapad: bool = False, end: int = -1) -> Dot11:
        """Decode the frame at ``off``; ``end`` excludes a trailing FCS; ``datapad``: the
        body starts at a multiple of 4 bytes (radiotap's DATAPAD flag)."""
        n = len(buf) if end < 0 else end
        got = n - off
        if got < 10:
            raise TruncatedError("ieee80211", off, 10, max(got, 0))
        h = cls()
        h._buf = buf
        h.offset = off
        h.fc0, h.flags, h.duration = _FC.unpack_from(buf, off)
        h.seq_ctl = h.qos = h.ssid = h.channel = h.beacon_interval = None
        h.capabilities = h.reason = h.llc = h.rates = h.auth = None
        ftype, sub = h.type, h.subtype
        if ftype == TYPE_CTL:
            need = 16 if sub in _CTL_ADDR2 else 10
        elif ftype == TYPE_DATA:
            need = 24
            if h.flags & (TO_DS | FROM_DS) == TO_DS | FROM_DS:
                need += 6
            if sub & 0x08:
                need += 2
                if h.flags & ORDER:
                    need += 4
        else:
            need = 24 + (4 if ftype == TYPE_MGT and h.flags & ORDER else 0)
        if got < need:
            raise TruncatedError("ieee80211", off, need, got)
        addrs = [bytes(buf[off + 4 : off + 10])]
        if need >= 16:
            addrs.append(bytes(buf[off + 10 : off + 16]))
        if ftype != TYPE_CTL:
            addrs.append(bytes(buf[off + 16 : off + 22]))
            h.seq_ctl = struct.unpack_from("<H", buf, off + 22)[0]
            if ftype == TYPE_DATA and h.flags & (TO_DS | FROM_DS) == TO_DS | FROM_DS:
                addrs.append(bytes(buf[off + 24 : off + 30]))
            if ftype == TYPE_DATA and sub & 0x08:
                q = off + (30 if len(addrs) == 4 else 24)
                h.qos = struct.unpack_from("<H", buf, q)[0]
        h.addr_raw = tuple(addrs)
        h.header_len = need
        body = off + need
        if datapad and ftype == TYPE_DATA:
            body = off + (need + 3) // 4 * 4
        h.body_offset = body
        if ftype == TYPE_MGT:
            h._management(buf, body, n)
        elif ftype == TYPE_DATA and not h.flags & PROTECTED and not sub & 0x04 and body < n:
            h.llc = Llc.decode(buf[:n], body)
        return h

    def _management(self, b: bytes, pos: int, n: int) -> None:
        sub = self.subtype
        fixed = _FIXED_LEN.get(sub)
        if fixed is None:
            return
        if n - pos < fixed:
            raise TruncatedError("ieee80211", pos, fixed, n - pos)
        if sub in _FIXED_BEACON:
            self.beacon_interval, self.capabilities = struct.unpack_from("<HH", b, pos + 8)
        elif sub in (0, 1, 2, 3):
            self.capabilities = struct.unpack_from("<H", b, pos)[0]
        elif sub in (10, 12):
            self.reason = struct.unpack_from("<H", b, pos)[0]
        elif sub == 11:
            self.auth = struct.unpack_from("<HHH", b, pos)
        pos += fixed
        while pos + 2 <= n:
            eid, elen = b[pos], b[pos + 1]
            if pos + 2 + elen > n:
                raise TruncatedError("ieee80211", pos, 2 + elen, n - pos)
            if eid == 0 and self.ssid is None:
                self.ssid = bytes(b[pos + 2 : pos + 2 + elen])
            elif eid == 1 and self.rates is None:
                self.rates = bytes(b[pos + 2 : pos + 2 + elen])
            elif eid == 3 and elen >= 1 and self.channel is None:
                self.channel = b[pos + 2]
            pos += 2 + elen

    # -- frame control ---------------------------------------------------------------

    @property
    def type(self) -> int:
        return self.fc0 >> 2 & 0x03

    @property
    def subtype(self) -> int:
        return self.fc0 >> 4

    @property
    def protected(self) -> bool:
        return bool(self.flags & PROTECTED)

    @property
    def ds(self) -> int:
        """To DS | From DS: 0 nods, 1 tods, 2 fromds, 3 dstods."""
        return self.flags & 0x03

    @property
    def seq(self) -> int | None:
        return None if self.seq_ctl is None else self.seq_ctl >> 4

    @property
    def frag(self) -> int | None:
        return None if self.seq_ctl is None else self.seq_ctl & 0x0F

    @property
    def addrs(self) -> tuple[str, ...]:
        return tuple(mac_text(a) for a in self.addr_raw)

    @property
    def type_name(self) -> str:
        return SUBTYPE_NAMES.get((self.type, self.subtype), "")

    def roles(self) -> list[tuple[str, str]]:
        """The addresses by role, in the order tcpdump -e prints them."""
        a = self.addrs
        t = self.type
        if t == 3:  # reserved: no roles defined
            return []
        if t == TYPE_CTL:
            if len(a) == 2:
                names = ("RA", "TA")
                if self.subtype == 10:
                    names = ("BSSID", "TA")
                return list(zip(names, a, strict=True))
            return [("RA", a[0])]
        if t == TYPE_MGT:
            return [("BSSID", a[2]), ("DA", a[0]), ("SA", a[1])]
        ds = self.ds
        if ds == 0:
            return [("DA", a[0]), ("SA", a[1]), ("BSSID", a[2])]
        if ds == 1:
            return [("BSSID", a[0]), ("SA", a[1]), ("DA", a[2])]
        if ds == 2:
            return [("DA", a[0]), ("BSSID", a[1]), ("SA", a[2])]
        return [("RA", a[0]), ("TA", a[1]), ("DA", a[2]), ("SA", a[3])]

    def fields(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "type": self.type,
            "subtype": self.subtype,
            "flags": self.flags,
            "duration": self.duration,
        }
        for i, a in enumerate(self.addrs):
            d[f"addr{i + 1}"] = a
        if self.seq_ctl is not None:
            d["seq"] = self.seq
            d["frag"] = self.frag
        for k in ("qos", "beacon_interval", "capabilities", "channel", "reason"):
            v = getattr(self, k)
            if v is not None:
                d[k] = v
        if self.ssid is not None:
            d["ssid"] = self.ssid.decode("latin-1")
        if self.rates is not None:
            d["rates"] = list(self.rates)
        if self.auth is not None:
            d["auth_algorithm"], d["auth_seq"], d["status"] = self.auth
        if self.llc is not None:
            d["llc"] = self.llc.fields()
        return d


def build(
    ftype: int,
    subtype: int,
    addrs: tuple[bytes, ...],
    payload: bytes = b"",
    flags: int = 0,
    seq: int = 0,
    duration: int = 0,
    qos: int | None = None,
) -> bytes:
    """An 802.11 header with ``addrs`` (as many as the frame kind has) then ``payload``."""
    out = bytearray(_FC.pack(subtype << 4 | ftype << 2, flags, duration))
    out += addrs[0]
    if len(addrs) > 1:
        out += addrs[1]
    if ftype != TYPE_CTL:
        out += addrs[2]
        out += struct.pack("<H", seq << 4)
        if len(addrs) > 3:
            out += addrs[3]
        if qos is not None:
            out += struct.pack("<H", qos)
    return bytes(out) + payload
